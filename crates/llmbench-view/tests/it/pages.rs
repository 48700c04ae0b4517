//! Every page over HTTP: content, filters, escaping, headers.

use std::collections::BTreeSet;

use super::{get, request, served};

/// The `href`s of `<a>` elements in `html` (already escaped: `&amp;` back to `&`).
fn links(html: &str) -> Vec<String> {
    html.split("<a ")
        .skip(1)
        .filter_map(|a| {
            let start = a.find("href=\"")? + 6;
            let len = a[start..].find('"')?;
            Some(a[start..start + len].replace("&amp;", "&"))
        })
        .collect()
}

fn assert_safe(path: &str, body: &str) {
    assert!(
        !body.contains("<script>alert"),
        "{path}: raw script from an answer"
    );
    assert!(
        !body.contains("<img src=x"),
        "{path}: raw img from an answer"
    );
    assert_eq!(
        body.matches("<script").count(),
        usize::from(body.contains("<html")),
        "{path}: a script other than the app's"
    );
}

#[test]
fn the_runs_list_shows_every_run_with_its_numbers() {
    let s = served();
    let r = get(s.address, "/");
    assert_eq!(r.status, 200);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.starts_with("default-src 'none'; script-src 'self';"),
        "{csp}"
    );
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    for id in &s.runs {
        assert!(r.body.contains(&format!("<code>{id}</code>")), "{id}");
    }
    // Run 1: 16 samples, 2 timeouts, 14 graded, all pass; run 2: 4 of alpha's fail.
    assert!(
        r.body.contains(r#"data-field="samples">16/16, 2 errors<"#),
        "{}",
        r.body
    );
    assert!(r.body.contains(r#"data-field="pass">100% (14/14)<"#));
    assert!(r.body.contains(r#"data-field="pass">71.4% (10/14)<"#));
    assert!(r.body.contains(r#"data-field="samples">2/16<"#));
    assert!(r.body.contains(r#"data-status="running""#));
    assert!(r.body.contains(r#"data-field="status_text">running<"#));
    assert!(
        r.body.contains("<td>nightly</td>"),
        "the sweep, from the config file name"
    );
    assert!(r.body.contains("Alpha &lt;1&gt;, Beta"), "labels escaped");
    assert!(r.body.contains("0.014000 USD") || r.body.contains("USD"));

    let day = get(s.address, "/?from=2026-01-02&to=2026-01-02");
    assert!(day.body.contains("1 of 3 runs"), "{}", day.body);
    assert!(
        day.body.contains(&s.runs[1]) && !day.body.contains(&format!("<code>{}</code>", s.runs[0]))
    );
    let none = get(s.address, "/?sweep=other");
    assert!(none.body.contains("0 of 3 runs"));
    let config = get(s.address, "/?config=configs%2Fnightly.toml");
    assert!(config.body.contains("3 of 3 runs"));
}

#[test]
fn a_run_page_is_its_report_with_live_progress() {
    let s = served();
    let r = get(s.address, &format!("/runs/{}", s.runs[1]));
    assert_eq!(r.status, 200);
    for section in ["results", "charts", "comparisons", "winner"] {
        assert!(
            r.body.contains(&format!(r#"<section id="{section}">"#)),
            "{section}"
        );
    }
    assert!(r.body.contains("Wilson"), "intervals are explained");
    assert!(r.body.contains(r#"id="chart-latency""#));
    assert!(r.body.contains(&format!(
        r#"href="/runs/{}/samples">Samples</a>"#,
        s.runs[1]
    )));
    assert_safe("run", &r.body);
    let csp = r.header("content-security-policy").unwrap();
    assert!(
        csp.contains("style-src 'self' 'sha256-"),
        "the report's style by hash: {csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");

    let running = get(s.address, &format!("/runs/{}", s.runs[2]));
    assert!(running.body.contains(r#"id="progress""#));
    assert!(running.body.contains(r#"data-status="running""#));
    let progress = get(s.address, &format!("/api/runs/{}/progress", s.runs[2]));
    assert_eq!(progress.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_str(&progress.body).unwrap();
    assert_eq!(json["status"], "running");
    assert_eq!(json["recorded"], 2);
    assert_eq!(json["samples"], "2/16");

    assert_eq!(get(s.address, "/runs/nope").status, 404);
}

#[test]
fn samples_are_filtered_searched_and_paginated() {
    let s = served();
    let base = format!("/runs/{}/samples", s.runs[1]);
    let all = get(s.address, &base);
    assert!(all.body.contains("16 matching samples"), "{}", all.body);
    assert_safe("samples", &all.body);
    assert!(
        all.body
            .contains("Fix: &lt;script&gt;alert(7731)&lt;/script&gt;")
    );

    let count = |q: &str| {
        let r = get(s.address, &format!("{base}?{q}"));
        assert_eq!(r.status, 200, "{q}");
        let rows = r.body.matches(r#"<tr class="sample-row""#).count();
        let total: usize = r
            .body
            .split(r#"id="samples-count">"#)
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        (total, rows)
    };
    assert_eq!(count("verdict=fail"), (4, 4));
    assert_eq!(count("verdict=pass"), (10, 10));
    assert_eq!(count("verdict=error"), (2, 2));
    assert_eq!(count("model=alpha&verdict=fail&item=x0"), (2, 2));
    assert_eq!(count("grader=regex&outcome=fail"), (4, 4));
    assert_eq!(count("error=timeout"), (2, 2));
    assert_eq!(count("task=fix&model=beta"), (8, 8));
    assert_eq!(count("q=ALERT(7731)"), (4, 4), "search is case-insensitive");
    assert_eq!(
        count("q=%25"),
        (0, 0),
        "a % is searched for, not a wildcard"
    );
    let failed = get(s.address, &format!("{base}?verdict=fail"));
    assert!(failed.body.contains(r#"<option value="fail" selected>"#));
    assert!(!failed.body.contains(r#"data-verdict="pass""#));
}

#[test]
fn pages_of_samples_link_to_each_other() {
    let s = served();
    // 16 samples, 50 a page: one page; a page past the end is empty, not an error.
    let r = get(s.address, &format!("/runs/{}/samples?page=9", s.runs[0]));
    assert_eq!(r.status, 200);
    assert!(!r.body.contains("sample-row"));
}

#[test]
fn a_sample_shows_request_answer_evidence_and_attempts() {
    let s = served();
    let list = get(
        s.address,
        &format!("/runs/{}/samples?item=x1&model=alpha", s.runs[0]),
    );
    let sample = links(&list.body)
        .into_iter()
        .find(|l| l.contains("/samples/"))
        .unwrap();
    let r = get(s.address, &sample);
    assert_eq!(r.status, 200);
    assert_safe("sample", &r.body);
    assert!(
        r.body
            .contains("<h3>System</h3><pre>You fix &lt;bugs&gt;.</pre>"),
        "{}",
        r.body
    );
    assert!(r.body.contains("<pre>Fix item x1 &amp; tell me</pre>"));
    assert!(r.body.contains(r#"<pre id="answer-text">Fix: &lt;script&gt;alert(7731)&lt;/script&gt;&lt;img src=x onerror=alert(7732)&gt;</pre>"#));
    assert!(
        r.body
            .contains(r#"<pre class="evidence">looked for `Fix` in Fix: &lt;script&gt;"#)
    );
    assert!(r.body.contains(r#"<span class="kind">check</span>"#));
    assert!(r.body.contains(r#"<table class="attempts">"#));
    assert!(
        r.body
            .contains(r#"<span class="pass" id="verdict">pass</span>"#)
    );

    let timeout = get(
        s.address,
        &format!("/runs/{}/samples?error=timeout", s.runs[0]),
    );
    let sample = links(&timeout.body)
        .into_iter()
        .find(|l| l.contains("/samples/"))
        .unwrap();
    let r = get(s.address, &sample);
    assert!(
        r.body
            .contains(r#"<h2 id="error">Error</h2><p><span class="error">timeout</span>"#)
    );
    assert!(r.body.contains("took too long &lt;b&gt;"));
    assert_eq!(
        r.body.matches("<td>timeout</td>").count(),
        2,
        "two attempts"
    );
    assert_eq!(
        get(
            s.address,
            &format!("/runs/{}/samples/{}", s.runs[0], "0".repeat(32))
        )
        .status,
        404
    );
}

#[test]
fn an_item_shows_every_model_side_by_side() {
    let s = served();
    let r = get(
        s.address,
        &format!("/runs/{}/item?task=fix&item=x1", s.runs[1]),
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.body.matches(r#"<div class="item-answer">"#).count(), 4);
    assert!(r.body.contains("Alpha &lt;1&gt; #0") && r.body.contains("Beta #1"));
    assert_safe("item", &r.body);
}

#[test]
fn two_runs_compare_with_the_tests_of_llmbench_compare() {
    let s = served();
    let r = get(
        s.address,
        &format!("/compare?a={}&b={}", s.runs[0], s.runs[1]),
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("8/8 (100%) → 4/8 (50%)"), "{}", r.body);
    assert!(
        r.body
            .contains("McNemar exact test on 8 paired samples, 4 discordant")
    );
    assert!(r.body.contains("4 samples graded differently."));
    let to_samples: BTreeSet<String> = links(&r.body)
        .into_iter()
        .filter(|l| l.contains("/samples/"))
        .collect();
    assert_eq!(
        to_samples.len(),
        8,
        "both sides of 4 changes: {to_samples:?}"
    );
    for l in &to_samples {
        assert_eq!(get(s.address, l).status, 200, "{l}");
    }
    let pick = get(s.address, "/compare");
    assert!(pick.body.contains("Pick two runs."));
}

#[test]
fn nothing_from_an_answer_runs_four_links_deep() {
    let s = served();
    let mut seen = BTreeSet::new();
    let mut frontier = vec!["/".to_owned()];
    // Runs list, run, samples, sample, item: four links from the runs list.
    for _depth in 0..=4 {
        let mut next = Vec::new();
        for path in frontier {
            if !seen.insert(path.clone()) {
                continue;
            }
            let r = get(s.address, &path);
            assert!(r.header("content-security-policy").is_some(), "{path}");
            assert_safe(&path, &r.body);
            next.extend(links(&r.body).into_iter().filter(|l| l.starts_with('/')));
        }
        frontier = next;
    }
    assert!(seen.len() > 40, "crawled {} pages", seen.len());
    assert!(
        seen.iter().any(|p| p.contains("/item?")),
        "no item page reached"
    );
}

#[test]
fn the_server_refuses_other_hosts_and_writes() {
    let s = served();
    let evil = request(s.address, "GET", "/", "evil.example:80");
    assert_eq!(evil.status, 421);
    let local = request(
        s.address,
        "GET",
        "/",
        &format!("localhost:{}", s.address.port()),
    );
    assert_eq!(local.status, 200);
    let post = request(s.address, "POST", "/", &s.address.to_string());
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    let js = get(s.address, "/assets/view.js");
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert!(js.body.contains("data-progress"));
    assert_eq!(get(s.address, "/nothing/here").status, 404);
}
