//! The pages: routing, the runs list, a run (its report), its samples, one sample, one item.

use std::fmt::Write as _;

use hyper::StatusCode;
use llmbench_core::Reporter as _;
use llmbench_report::format::usd;
use llmbench_report::html::HtmlReporter;
use llmbench_store::{
    RunListing, SampleDetail, SampleFilter, SampleRow, StoreError, VerdictFilter,
};
use sha2::{Digest as _, Sha256};

use crate::assets::{SCRIPT, SCRIPT_PATH, STYLE, STYLE_PATH};
use crate::layout::{
    a, cost_text, esc, head_links, ms, page, pass_text, progress_json, samples_text, status_text,
    verdict_of,
};
use crate::query::{Query, link, segment, unsegment};
use crate::{App, Page};

/// Runs per page of the runs list.
pub(crate) const RUNS_PER_PAGE: usize = 50;
/// Samples per page of a sample list.
pub(crate) const SAMPLES_PER_PAGE: u64 = 50;

impl App {
    /// The page for `path` with query string `query` (URL-encoded, without `?`).
    pub fn respond(&self, path: &str, query: &str) -> Page {
        let q = Query::parse(query);
        let parts: Vec<String> = path
            .trim_start_matches('/')
            .split('/')
            .map(unsegment)
            .collect();
        let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
        let result = match parts.as_slice() {
            [""] => self.runs_page(&q),
            ["runs", run] => self.run_page(run),
            ["runs", run, ""] => self.run_page(run),
            ["runs", run, "samples"] => self.samples_page(run, &q),
            ["runs", run, "samples", sample] => self.sample_page(run, sample),
            ["runs", run, "item"] => self.item_page(run, &q),
            ["compare"] => self.compare_page(&q),
            ["api", "runs", run, "progress"] => self.progress(run),
            ["assets", "view.js"] if path == SCRIPT_PATH => Ok(Page {
                content_type: "text/javascript; charset=utf-8",
                ..Page::html(SCRIPT.to_owned())
            }),
            ["assets", "view.css"] if path == STYLE_PATH => Ok(Page {
                content_type: "text/css; charset=utf-8",
                ..Page::html(STYLE.to_owned())
            }),
            _ => Err(not_found("No such page.")),
        };
        result.unwrap_or_else(|page| page)
    }

    fn progress(&self, run: &str) -> Result<Page, Page> {
        let store = self.store();
        let (status, totals) = store.run_progress(run).map_err(store_error)?;
        let reason = store.run(run).ok().and_then(|r| r.status_reason);
        Ok(Page::json(progress_json(
            status,
            reason.as_deref(),
            &totals,
        )))
    }

    fn runs_page(&self, q: &Query) -> Result<Page, Page> {
        let store = self.store();
        let runs = store.browse_runs().map_err(store_error)?;
        let with_sweeps: Vec<(RunListing, String)> = runs
            .into_iter()
            .map(|r| {
                let sweep = self.sweep_of(&store, &r.id, &r.config_path);
                (r, sweep)
            })
            .collect();
        drop(store);
        let mut configs: Vec<&str> = with_sweeps
            .iter()
            .map(|(r, _)| r.config_path.as_str())
            .collect();
        configs.sort_unstable();
        configs.dedup();
        let mut sweeps: Vec<&str> = with_sweeps.iter().map(|(_, s)| s.as_str()).collect();
        sweeps.sort_unstable();
        sweeps.dedup();
        let (config, sweep, from, to) =
            (q.get("config"), q.get("sweep"), q.get("from"), q.get("to"));
        let shown: Vec<&(RunListing, String)> = with_sweeps
            .iter()
            .filter(|(r, s)| {
                let day = r.created_at.get(..10).unwrap_or(&r.created_at);
                config.is_none_or(|c| r.config_path == c)
                    && sweep.is_none_or(|w| s == w)
                    && from.is_none_or(|f| day >= f)
                    && to.is_none_or(|t| day <= t)
            })
            .collect();
        let pages = shown.len().div_ceil(RUNS_PER_PAGE).max(1) as u64;
        let page_no = q.page().min(pages);
        let start = (page_no as usize - 1) * RUNS_PER_PAGE;

        let mut body = String::from("<h1>Runs</h1>");
        let _ = write!(
            body,
            r#"<form class="filters" method="get" action="/"><label>Config {}</label><label>Sweep {}</label><label>From <input type="date" name="from" value="{}"></label><label>To <input type="date" name="to" value="{}"></label><button type="submit">Filter</button> {}</form>"#,
            select("config", &configs, config),
            select("sweep", &sweeps, sweep),
            esc(from.unwrap_or("")),
            esc(to.unwrap_or("")),
            a("/", "clear")
        );
        let _ = write!(
            body,
            r#"<p class="meta" id="runs-count">{} of {} runs</p>"#,
            shown.len(),
            with_sweeps.len()
        );
        body.push_str(r#"<form method="get" action="/compare"><table class="runs"><thead><tr><th title="run A (baseline)">A</th><th title="run B">B</th><th>Run</th><th>Config</th><th>Sweep</th><th>Started</th><th>Status</th><th>Models</th><th>Samples</th><th>Pass rate</th><th>Cost</th></tr></thead><tbody>"#);
        for (r, sweep) in shown.iter().skip(start).take(RUNS_PER_PAGE) {
            let (class, status) = status_text(r.status, r.status_reason.as_deref());
            let models = r
                .providers
                .iter()
                .map(|(_, _, label)| esc(label))
                .collect::<Vec<_>>()
                .join(", ");
            let _ = write!(
                body,
                r#"<tr data-run="{id}" data-progress="/api/runs/{seg}/progress" data-status="{st}"><td><input type="radio" name="a" value="{id}" aria-label="compare from {id}"></td><td><input type="radio" name="b" value="{id}" aria-label="compare to {id}"></td><td><a class="run-link" href="/runs/{seg}"><code>{id}</code></a></td><td><code>{config}</code></td><td>{sweep}</td><td>{started}</td><td class="{class}" data-field="status_text">{status}</td><td>{models}</td><td class="num" data-field="samples">{samples}</td><td class="num" data-field="pass">{pass}</td><td class="num" data-field="cost">{cost}</td></tr>"#,
                id = esc(&r.id),
                seg = esc(&segment(&r.id)),
                st = r.status.as_str(),
                config = esc(&r.config_path),
                sweep = esc(sweep),
                started = esc(&r.created_at),
                status = esc(&status),
                samples = esc(&samples_text(&r.totals)),
                pass = esc(&pass_text(&r.totals)),
                cost = esc(&cost_text(&r.totals)),
            );
        }
        body.push_str(r#"</tbody></table><button type="submit" id="compare-button">Compare A with B</button></form>"#);
        body.push_str(&pager(q, page_no, pages, "/"));
        Ok(Page::html(page("Runs", &[], &body)))
    }

    fn run_page(&self, run: &str) -> Result<Page, Page> {
        let store = self.store();
        let report = store.report(run).map_err(store_error)?;
        let stored = store.run(run).map_err(store_error)?;
        let (status, totals) = store.run_progress(run).map_err(store_error)?;
        drop(store);
        let html = HtmlReporter::default()
            .render(&report)
            .map_err(|e| server_error(&e.to_string()))?;
        let (mut html, style_hash) = adapt_report(&html, run);
        let seg = segment(run);
        let (class, status_shown) = status_text(status, stored.status_reason.as_deref());
        let progress = format!(
            r#"{bar}<div class="progress" id="progress" data-progress="/api/runs/{seg}/progress" data-status="{st}" data-recorded="{recorded}">Status <strong class="{class}" data-field="status_text">{status}</strong> · samples <strong data-field="samples">{samples}</strong> · pass rate <span data-field="pass">{pass}</span> · cost <span data-field="cost">{cost}</span> · {samples_link} · {compare_link}{live}</div>"#,
            bar = crate::layout::bar(&[format!("run <code>{}</code>", esc(run))]),
            seg = esc(&seg),
            st = status.as_str(),
            recorded = totals.recorded(),
            status = esc(&status_shown),
            samples = esc(&samples_text(&totals)),
            pass = esc(&pass_text(&totals)),
            cost = esc(&cost_text(&totals)),
            samples_link = a(&format!("/runs/{seg}/samples"), "browse samples"),
            compare_link = a(&link("/compare", &[("b", run)]), "compare with another run"),
            live = if status == llmbench_store::RunStatus::Running {
                r#" <span class="note">(live: updates every second; the report below is as of loading)</span>"#
            } else {
                ""
            },
        );
        if let Some(at) = html.find("<body>") {
            html.insert_str(at + "<body>".len(), &format!("\n{progress}\n"));
        }
        let mut page = Page::html(html);
        page.style_hashes.extend(style_hash);
        Ok(page)
    }

    fn samples_page(&self, run: &str, q: &Query) -> Result<Page, Page> {
        let verdict = q.get("verdict").and_then(VerdictFilter::parse);
        let page_no = q.page();
        let filter = SampleFilter {
            provider: q.owned("model"),
            task: q.owned("task"),
            item: q.owned("item"),
            verdict,
            grader: q.owned("grader"),
            grade_outcome: q.owned("outcome"),
            error_kind: q.owned("error"),
            text: q.owned("q"),
            offset: (page_no - 1) * SAMPLES_PER_PAGE,
            limit: SAMPLES_PER_PAGE,
        };
        let store = self.store();
        let stored = store.run(run).map_err(store_error)?;
        let facets = store.sample_facets(run).map_err(store_error)?;
        let found = store.browse_samples(run, &filter).map_err(store_error)?;
        drop(store);
        let seg = segment(run);
        let base = format!("/runs/{seg}/samples");
        let labels: Vec<&str> = facets.providers.iter().map(String::as_str).collect();
        let tasks: Vec<&str> = facets.tasks.iter().map(String::as_str).collect();
        let graders: Vec<&str> = facets.graders.iter().map(String::as_str).collect();
        let errors: Vec<&str> = facets.error_kinds.iter().map(String::as_str).collect();
        let verdicts: Vec<&str> = VerdictFilter::ALL.iter().map(|v| v.as_str()).collect();
        let mut body = format!("<h1>Samples of run <code>{}</code></h1>", esc(run));
        let _ = write!(
            body,
            r#"<form class="filters" method="get" action="{base}"><label>Model {}</label><label>Task {}</label><label>Item <input name="item" value="{}" size="12"></label><label>Verdict {}</label><label>Grader {}</label><label>Grader outcome {}</label><label>Error kind {}</label><label>Answer contains <input name="q" value="{}" size="16"></label><button type="submit">Filter</button> {} {}</form>"#,
            select("model", &labels, q.get("model")),
            select("task", &tasks, q.get("task")),
            esc(q.get("item").unwrap_or("")),
            select("verdict", &verdicts, q.get("verdict")),
            select("grader", &graders, q.get("grader")),
            select("outcome", &["pass", "fail", "error"], q.get("outcome")),
            select("error", &errors, q.get("error")),
            esc(q.get("q").unwrap_or("")),
            a(&base, "clear"),
            a(&link(&base, &[("verdict", "fail")]), "failed only"),
            base = esc(&base),
        );
        let pages = found.total.div_ceil(SAMPLES_PER_PAGE).max(1);
        let _ = write!(
            body,
            r#"<p class="meta" id="samples-count">{} matching samples{}</p>"#,
            found.total,
            if pages > 1 {
                format!(", page {page_no} of {pages}")
            } else {
                String::new()
            }
        );
        body.push_str(r#"<table class="samples"><thead><tr><th>Task</th><th>Item</th><th>Model</th><th>Repeat</th><th>Verdict</th><th>Latency (ms)</th><th>Cost (USD)</th><th>Answer</th><th></th></tr></thead><tbody>"#);
        for row in &found.rows {
            body.push_str(&sample_line(run, &stored.providers, row));
        }
        body.push_str("</tbody></table>");
        body.push_str(&pager(q, page_no, pages, &base));
        Ok(Page::html(page(
            &format!("Samples of {run}"),
            &[run_crumb(run), "samples".to_owned()],
            &body,
        )))
    }

    fn sample_page(&self, run: &str, sample: &str) -> Result<Page, Page> {
        let store = self.store();
        let stored = store.run(run).map_err(store_error)?;
        let detail = store
            .sample_detail(run, sample)
            .map_err(store_error)?
            .ok_or_else(|| not_found("This run holds no such sample."))?;
        drop(store);
        let r = &detail.row;
        let seg = segment(run);
        let label = label_of(&stored.providers, &r.provider);
        let verdict = verdict_of(r.verdict_pass, r.error_kind.is_some());
        let mut body = format!(
            r#"<h1>Sample <code>{}/{}</code> #{} · {}</h1>"#,
            esc(&r.task),
            esc(&r.item),
            r.repeat,
            esc(label)
        );
        let _ = write!(
            body,
            r#"<p class="meta">Verdict <span class="{verdict}" id="verdict">{verdict}</span>{} · model <code>{}</code>{} · finished {} · {} · {}</p>"#,
            r.verdict_score
                .map(|s| format!(" (score {s:.2})"))
                .unwrap_or_default(),
            esc(&r.model),
            detail
                .response_model
                .as_deref()
                .map(|m| format!(", answered by <code>{}</code>", esc(m)))
                .unwrap_or_default(),
            esc(&detail.finished_at),
            a(
                &link(
                    &format!("/runs/{seg}/item"),
                    &[("task", &r.task), ("item", &r.item)]
                ),
                "every model on this item"
            ),
            a(&format!("/runs/{seg}/samples"), "all samples"),
        );
        let tok = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
        let _ = write!(
            body,
            r#"<p class="meta">Latency {} ms · TTFT {} ms · tokens in {} / out {} · cost {} · stop: {} · {} attempt{}</p>"#,
            ms(r.latency_seconds),
            ms(detail.ttft_seconds),
            tok(detail.input_tokens),
            tok(detail.output_tokens),
            r.cost_usd
                .map_or_else(|| "unknown".to_owned(), |c| format!("{} USD", usd(c))),
            esc(detail.stop_reason.as_deref().unwrap_or("-")),
            detail.attempts_count,
            if detail.attempts_count == 1 { "" } else { "s" },
        );
        body.push_str(r#"<h2 id="request">Request as sent</h2>"#);
        match &detail.request {
            Some(request) => {
                let _ = write!(
                    body,
                    r#"<p class="meta">model <code>{}</code> · max tokens {} · {} · sampling <code>{}</code></p>"#,
                    esc(&request.model),
                    request.max_tokens,
                    if request.stream { "streamed" } else { "not streamed" },
                    esc(&serde_json::to_string(&request.sampling).unwrap_or_default()),
                );
                if let Some(system) = &request.system {
                    let _ = write!(body, "<h3>System</h3><pre>{}</pre>", esc(system));
                }
                for m in &request.messages {
                    let role = match m.role {
                        llmbench_core::Role::User => "User",
                        llmbench_core::Role::Assistant => "Assistant (in the prompt)",
                    };
                    let _ = write!(body, "<h3>{role}</h3><pre>{}</pre>", esc(&m.content));
                }
            }
            None => body.push_str(r#"<p class="note">Not stored: the sample was recorded before requests were (store schema before version 5).</p>"#),
        }
        body.push_str(r#"<h2 id="answer">Answer</h2>"#);
        match &detail.answer {
            Some(answer) => {
                let _ = write!(body, r#"<pre id="answer-text">{}</pre>"#, esc(answer));
            }
            None => body.push_str(r#"<p class="note">No answer.</p>"#),
        }
        if let Some(kind) = &r.error_kind {
            let _ = write!(
                body,
                r#"<h2 id="error">Error</h2><p><span class="error">{}</span>{}</p><pre>{}</pre>"#,
                esc(kind),
                detail
                    .http_status
                    .map(|s| format!(" · HTTP {s}"))
                    .unwrap_or_default(),
                esc(detail.error_message.as_deref().unwrap_or(""))
            );
        }
        body.push_str(r#"<h2 id="grades">Grades</h2>"#);
        if detail.grades.is_empty() {
            body.push_str(r#"<p class="note">Not graded.</p>"#);
        } else {
            body.push_str(r#"<table class="grades"><thead><tr><th>Grader</th><th>Kind</th><th>Outcome</th><th>Score</th><th>Evidence</th><th>Grader spend</th></tr></thead><tbody>"#);
            for g in &detail.grades {
                let spend = match (g.input_tokens, g.output_tokens, g.cost_usd) {
                    (None, None, None) => "-".to_owned(),
                    (i, o, c) => format!(
                        "tokens in {} / out {} · {}",
                        tok(i),
                        tok(o),
                        c.map_or_else(|| "cost unknown".to_owned(), |c| format!("{} USD", usd(c)))
                    ),
                };
                let _ = write!(
                    body,
                    r#"<tr><td><code>{}</code></td><td><span class="kind">{}</span></td><td class="{}">{}</td><td class="num">{:.2}</td><td><pre class="evidence">{}</pre></td><td>{}</td></tr>"#,
                    esc(&g.grader),
                    esc(&g.kind),
                    esc(&g.outcome),
                    esc(&g.outcome),
                    g.score,
                    esc(&g.evidence),
                    esc(&spend)
                );
            }
            body.push_str("</tbody></table>");
            body.push_str(r#"<p class="note">Kinds: check (a deterministic check of the text), execution (the answer's code was run), judgement (another model's opinion).</p>"#);
        }
        body.push_str(r#"<h2 id="attempts">Attempts</h2>"#);
        if detail.attempts.is_empty() {
            body.push_str(r#"<p class="note">No attempt recorded.</p>"#);
        } else {
            body.push_str(r#"<table class="attempts"><thead><tr><th>#</th><th>Outcome</th><th>HTTP status</th><th>Waited (ms)</th><th>Took (ms)</th></tr></thead><tbody>"#);
            for (n, at) in detail.attempts.iter().enumerate() {
                let _ = write!(
                    body,
                    r#"<tr><td class="num">{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                    n + 1,
                    esc(&at.outcome),
                    at.http_status
                        .map_or_else(|| "-".to_owned(), |s| s.to_string()),
                    ms(Some(at.wait_seconds)),
                    ms(Some(at.duration_seconds)),
                );
            }
            body.push_str("</tbody></table>");
        }
        Ok(Page::html(page(
            &format!("Sample {}/{} of {run}", r.task, r.item),
            &[
                run_crumb(run),
                a(&format!("/runs/{seg}/samples"), "samples"),
                format!("<code>{}</code>", esc(&r.sample_id)),
            ],
            &body,
        )))
    }

    fn item_page(&self, run: &str, q: &Query) -> Result<Page, Page> {
        let (Some(task), Some(item)) = (q.get("task"), q.get("item")) else {
            return Err(not_found("An item page needs `task` and `item`."));
        };
        let store = self.store();
        let stored = store.run(run).map_err(store_error)?;
        let details = store.item_details(run, task, item).map_err(store_error)?;
        drop(store);
        let seg = segment(run);
        let mut body = format!(
            "<h1>Item <code>{}/{}</code></h1><p class=\"meta\">{} samples in run <code>{}</code>, every model side by side.</p>",
            esc(task),
            esc(item),
            details.len(),
            esc(run)
        );
        if let Some(request) = details.iter().find_map(|d| d.request.as_ref()) {
            let prompt = request
                .messages
                .iter()
                .rev()
                .find(|m| m.role == llmbench_core::Role::User)
                .map_or("", |m| m.content.as_str());
            let _ = write!(body, "<h2>Prompt</h2><pre>{}</pre>", esc(prompt));
        }
        body.push_str(r#"<h2>Answers</h2><div class="side-by-side">"#);
        for d in &details {
            body.push_str(&item_cell(run, &stored.providers, d));
        }
        body.push_str("</div>");
        Ok(Page::html(page(
            &format!("Item {task}/{item} of {run}"),
            &[
                run_crumb(run),
                a(&format!("/runs/{seg}/samples"), "samples"),
                format!("item <code>{}</code>", esc(item)),
            ],
            &body,
        )))
    }
}

fn item_cell(run: &str, providers: &[(String, String, String)], d: &SampleDetail) -> String {
    let r = &d.row;
    let verdict = verdict_of(r.verdict_pass, r.error_kind.is_some());
    let evidence: String = d
        .grades
        .iter()
        .map(|g| {
            format!(
                r#"<li><code>{}</code> <span class="kind">{}</span> <span class="{}">{}</span>: {}</li>"#,
                esc(&g.grader),
                esc(&g.kind),
                esc(&g.outcome),
                esc(&g.outcome),
                esc(&g.evidence)
            )
        })
        .collect();
    format!(
        r#"<div class="item-answer"><h3>{} #{} · <span class="{verdict}">{verdict}</span></h3><p class="meta">{} ms · {}</p><pre>{}</pre><ul>{evidence}</ul></div>"#,
        esc(label_of(providers, &r.provider)),
        r.repeat,
        ms(r.latency_seconds),
        a(
            &format!("/runs/{}/samples/{}", segment(run), segment(&r.sample_id)),
            "open sample"
        ),
        esc(d
            .answer
            .as_deref()
            .or(d.error_message.as_deref())
            .unwrap_or("")),
    )
}

fn sample_line(run: &str, providers: &[(String, String, String)], r: &SampleRow) -> String {
    let seg = segment(run);
    let verdict = verdict_of(r.verdict_pass, r.error_kind.is_some());
    let verdict_cell = match &r.error_kind {
        Some(kind) => format!(r#"<span class="error">error: {}</span>"#, esc(kind)),
        None => format!(r#"<span class="{verdict}">{verdict}</span>"#),
    };
    let open = format!(
        r#"<a class="sample-link" href="/runs/{}/samples/{}">open</a>"#,
        esc(&seg),
        esc(&segment(&r.sample_id))
    );
    format!(
        r#"<tr class="sample-row" data-verdict="{verdict}"><td>{}</td><td>{}</td><td>{}</td><td class="num">{}</td><td>{verdict_cell}</td><td class="num">{}</td><td class="num">{}</td><td class="answer">{}</td><td>{}</td></tr>"#,
        esc(&r.task),
        a(
            &link(
                &format!("/runs/{seg}/item"),
                &[("task", &r.task), ("item", &r.item)]
            ),
            &r.item
        ),
        esc(label_of(providers, &r.provider)),
        r.repeat,
        ms(r.latency_seconds),
        r.cost_usd.map_or_else(|| "-".to_owned(), usd),
        esc(r.answer_start.as_deref().unwrap_or("")),
        open,
    )
}

pub(crate) fn label_of<'a>(
    providers: &'a [(String, String, String)],
    provider: &'a str,
) -> &'a str {
    providers
        .iter()
        .find(|(p, _, _)| p == provider)
        .map_or(provider, |(_, _, label)| label.as_str())
}

pub(crate) fn run_crumb(run: &str) -> String {
    format!(
        r#"run <a href="/runs/{}"><code>{}</code></a>"#,
        esc(&segment(run)),
        esc(run)
    )
}

/// A `<select>` named `name` with "all" and `options`, `current` selected.
pub(crate) fn select(name: &str, options: &[&str], current: Option<&str>) -> String {
    let mut out = format!(
        r#"<select name="{}"><option value="">all</option>"#,
        esc(name)
    );
    for o in options {
        let _ = write!(
            out,
            r#"<option value="{}"{}>{}</option>"#,
            esc(o),
            if current == Some(*o) { " selected" } else { "" },
            esc(o)
        );
    }
    out.push_str("</select>");
    out
}

/// Previous and next links keeping the rest of the query.
fn pager(q: &Query, page_no: u64, pages: u64, base: &str) -> String {
    if pages <= 1 {
        return String::new();
    }
    let to = |n: u64| format!("{base}{}", q.with("page", Some(&n.to_string())).to_suffix());
    let mut out = r#"<p class="pager">"#.to_owned();
    if page_no > 1 {
        out.push_str(&format!(
            r#"<a rel="prev" href="{}">previous</a>"#,
            esc(&to(page_no - 1))
        ));
    }
    let _ = write!(out, "<span>page {page_no} of {pages}</span>");
    if page_no < pages {
        out.push_str(&format!(
            r#"<a rel="next" href="{}">next</a>"#,
            esc(&to(page_no + 1))
        ));
    }
    out.push_str("</p>");
    out
}

/// The report's page made a page of this app: its meta CSP and its own script go (the
/// response's header carries the policy, and the samples it filters are on the samples
/// page); its sample section becomes a link there; this app's style sheet, script and bar
/// come in. Returns the page and the CSP hash of the report's inline style block.
pub(crate) fn adapt_report(html: &str, run: &str) -> (String, Option<String>) {
    let mut html = html.to_owned();
    // The report's own CSP (a meta tag) would forbid this app's script: the header replaces it.
    if let Some(start) = html.find(r#"<meta http-equiv="Content-Security-Policy""#)
        && let Some(len) = html[start..].find('>')
    {
        html.replace_range(start..start + len + 1, "");
    }
    // Its samples section (and the script that filters it): the samples page does this.
    let samples_page = format!("/runs/{}/samples", segment(run));
    if let Some(start) = html.find(r#"<section id="samples">"#)
        && let Some(len) = html[start..].find("</section>")
    {
        html.replace_range(
            start..start + len + "</section>".len(),
            &format!(
                r#"<section id="samples"><h2>Samples</h2><p>{}: filter by model, task, item, verdict, grader outcome and error kind, and search the answers.</p></section>"#,
                a(&samples_page, "Browse the samples")
            ),
        );
    }
    if let Some(start) = html.rfind("<script>")
        && let Some(len) = html[start..].find("</script>")
    {
        html.replace_range(start..start + len + "</script>".len(), "");
    }
    html = html.replacen(
        r##"<a href="#samples">Samples</a>"##,
        &format!(r#"<a href="{}">Samples</a>"#, esc(&samples_page)),
        1,
    );
    if let Some(at) = html.find("</head>") {
        html.insert_str(at, &format!("{}\n", head_links()));
    }
    let style_hash = html.find("<style>").and_then(|start| {
        let body_start = start + "<style>".len();
        let len = html[body_start..].find("</style>")?;
        Some(csp_hash(&html[body_start..body_start + len]))
    });
    (html, style_hash)
}

/// `'sha256-<base64>'` of `source`, for a CSP source list.
pub(crate) fn csp_hash(source: &str) -> String {
    use base64::Engine as _;
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(source.as_bytes()))
    )
}

pub(crate) fn not_found(message: &str) -> Page {
    Page::html(page(
        "Not found",
        &[],
        &format!(
            "<h1>Not found</h1><p>{}</p><p>{}</p>",
            esc(message),
            a("/", "All runs")
        ),
    ))
    .status(StatusCode::NOT_FOUND)
}

fn server_error(message: &str) -> Page {
    Page::html(page(
        "Error",
        &[],
        &format!("<h1>Error</h1><pre>{}</pre>", esc(message)),
    ))
    .status(StatusCode::INTERNAL_SERVER_ERROR)
}

pub(crate) fn store_error(e: StoreError) -> Page {
    if e.kind() == "run_not_found" {
        not_found("This store holds no such run.")
    } else {
        let text = llmbench_core::error_chain(&e);
        tracing::warn!(error = %text, "cannot read the store");
        server_error(&text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_report_is_adapted_and_keeps_no_script_of_its_own() {
        let report = llmbench_report::fixtures::repeated_run();
        let html = HtmlReporter::default().render(&report).unwrap();
        let (page, hash) = adapt_report(&html, &report.run.run_id);
        assert!(!page.contains("http-equiv"), "the meta CSP stays");
        assert!(!page.contains("<script>"), "an inline script stays");
        assert_eq!(page.matches("<script").count(), 1, "only this app's script");
        assert!(page.contains(r#"<script src="/assets/view.js" defer></script>"#));
        assert!(!page.contains(r#"<details class="sample""#));
        assert!(page.contains(r#"id="chart-latency""#) && page.contains(r#"id="winner""#));
        assert!(hash.unwrap().starts_with("'sha256-"));
    }
}
