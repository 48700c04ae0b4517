//! `llmbench report --format markdown|html`, `compare`, `gate` and `plan` on real runs.

use std::path::Path;

use crate::{llmbench, plugin_dir, repo, text, write_config};

/// Run the replay example (the founding article) into `dir`.
fn article_run(dir: &Path) {
    let out = llmbench(&["run", "--config"])
        .arg(repo().join("configs/replay-example.toml"))
        .arg("--output-dir")
        .arg(dir)
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

fn markdown_plugin_dir() -> std::path::PathBuf {
    crate::plugin_dir_with(&["reporter-markdown"])
}

#[test]
fn markdown_comes_from_the_plugin() {
    let dir = tempfile::tempdir().unwrap();
    article_run(dir.path());
    let out = llmbench(&["report", "latest", "--format", "markdown", "--output-dir"])
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(markdown_plugin_dir())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "| Model | Latency (ms) | Input tokens | Output tokens | Cost (USD) | Verdict |"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("| Claude Haiku 4.5 | 4,422 | 121 | 451 | 0.00238 |"),
        "{stdout}"
    );
    assert!(stdout.contains("## Winner"), "{stdout}");
    // Without the plugin, the markdown report fails as a plugin failure (exit 3).
    let empty = tempfile::tempdir().unwrap();
    let out = llmbench(&["report", "--format", "markdown", "--output-dir"])
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out).1);
    assert!(
        text(&out).1.contains("reporter-markdown"),
        "{}",
        text(&out).1
    );
}

#[test]
fn html_is_written_with_prompts_from_the_stored_config() {
    let dir = tempfile::tempdir().unwrap();
    article_run(dir.path());
    let page = dir.path().join("report.html");
    let out = llmbench(&["report", "--format", "html", "-o"])
        .arg(&page)
        .arg("--output-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(r#"id="chart-latency""#));
    assert!(
        html.contains("intermittently returns stale data"),
        "the prompt is shown"
    );
    assert!(!html.contains("Prompts are not shown"));
    let bad = llmbench(&[
        "report",
        "--format",
        "html",
        "--winner-rule",
        "best",
        "--output-dir",
    ])
    .arg(dir.path())
    .output()
    .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        text(&bad).1.contains("cheapest-not-worse"),
        "{}",
        text(&bad).1
    );
}

/// A testkit sweep: 8 items x 3 repeats, answers after `latency_ms`.
fn testkit_run(dir: &Path, latency_ms: u64) -> String {
    let items: Vec<String> = (0..8)
        .map(|i| format!(r#"{{ id = "i{i}", text = "Bug: {i}. Fix: ok" }}"#))
        .collect();
    let config = write_config(
        dir,
        &format!(
            r#"repeats = 3
concurrency = 8

[providers.kit]
plugin = "provider-testkit"
model = "kit-1"
price = {{ input-per-mtok = 1.0, output-per-mtok = 5.0 }}
[providers.kit.options]
fixed-latency-ms = {latency_ms}

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]

[[tasks.t.graders]]
plugin = "grader-regex"
[tasks.t.graders.options]
pattern = "Fix"
"#,
            items.join(", ")
        ),
    );
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let first = stdout.lines().next().unwrap();
    first
        .strip_prefix("Run ")
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {first:?}"))
        .to_owned()
}

#[test]
fn gate_and_compare_catch_a_slower_run() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = testkit_run(dir.path(), 5);
    let slower = testkit_run(dir.path(), 120);
    let results = dir.path().join("results");

    let same = llmbench(&["gate", &baseline, "--baseline", &baseline, "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&same);
    assert_eq!(same.status.code(), Some(0), "{stdout}{stderr}");
    assert!(stdout.contains("gate: passed, 3 checks"), "{stdout}");

    let out = llmbench(&["gate", &slower, "--baseline", &baseline, "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(5), "{stdout}{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.starts_with("FAIL  kit-1  p95 latency"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(line.contains("[paired bootstrap"), "{line}");
    assert!(line.ends_with(": significant]"), "{line}");
    assert!(
        stdout.contains("PASS  kit-1  pass rate: 24/24 (100%) -> 24/24 (100%)"),
        "{stdout}"
    );

    let out = llmbench(&["compare", &baseline, &slower, "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("t · kit-1\n  pass rate    24/24 (100%) -> 24/24 (100%)"),
        "{stdout}"
    );
    let latency = stdout.lines().find(|l| l.contains("p95 latency")).unwrap();
    assert!(latency.ends_with(": significant"), "{latency}");
}

#[test]
fn plan_prints_the_samples_needed() {
    let out = llmbench(&[
        "plan",
        "--baseline-pass-rate",
        "0.6",
        "--difference",
        "0.15",
    ])
    .output()
    .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("152 samples per model"), "{stdout}");
    let bad = llmbench(&["plan", "--baseline-pass-rate", "1.5", "--difference", "0.1"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// `export --per-item`: one row per (task, item, provider) with n, c and pass@k, as JSON
/// Lines or CSV; the default export stays one row per sample; the Markdown report shows
/// pass@1 for a repeated run that asked for no k.
#[test]
fn per_item_export_has_pass_at_k() {
    let dir = tempfile::tempdir().unwrap();
    let out = llmbench(&["run", "--repeats", "3", "--config"])
        .arg(repo().join("configs/replay-example.toml"))
        .arg("--output-dir")
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let export = |args: &[&str]| {
        let out = llmbench(&[&["export"], args, &["--output-dir"]].concat())
            .arg(dir.path())
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        stdout
    };
    // One sample per line, as before: 3 models x 1 item x 3 repeats.
    assert_eq!(export(&[]).lines().count(), 9);
    let per_item = export(&["--per-item", "--pass-at-k", "2,1,5"]);
    let rows: Vec<serde_json::Value> = per_item
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{per_item}");
    assert_eq!(rows[0]["provider"], "haiku");
    assert_eq!(rows[0]["model"], "claude-haiku-4-5");
    assert_eq!((&rows[0]["samples"], &rows[0]["n"]), (&3.into(), &3.into()));
    let c = rows[0]["c"].as_u64().unwrap();
    let pass_at_1 = rows[0]["pass_at_k"]["1"].as_f64().unwrap();
    assert!((pass_at_1 - c as f64 / 3.0).abs() < 1e-12, "{per_item}");
    assert_eq!(rows[0]["pass_at_k"]["5"], serde_json::Value::Null);
    assert!(
        per_item
            .lines()
            .next()
            .unwrap()
            .contains(r#""pass_at_k":{"1":"#)
    );
    let csv = export(&["--per-item", "--format", "csv"]);
    assert_eq!(
        csv.lines().next().unwrap(),
        "run_id,task,item,provider,model,samples,n,c,pass@1"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // --pass-at-k without --per-item is a usage error.
    let out = llmbench(&["export", "--pass-at-k", "1", "--output-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);

    let out = llmbench(&["report", "--format", "markdown", "--output-dir"])
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(markdown_plugin_dir())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("## pass@k"), "{stdout}");
    assert!(stdout.contains("| Model | Items | pass@1 |"), "{stdout}");
}
