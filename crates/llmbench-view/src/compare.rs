//! The comparison page: what `llmbench compare` prints, as a table (the same changes and
//! tests, from `llmbench_report::compare`), and the samples whose verdict changed.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use llmbench_core::RunReport;
use llmbench_report::analysis::tasks;
use llmbench_report::compare::{change, providers};
use llmbench_report::format::{percent, points, relative_change, signed_thousands, thousands};
use llmbench_report::stats::Bootstrap;

use crate::layout::{a, esc, page, verdict_of};
use crate::pages::{select, store_error};
use crate::query::{Query, link, segment};
use crate::{App, Page};

impl App {
    pub(crate) fn compare_page(&self, q: &Query) -> Result<Page, Page> {
        let store = self.store();
        let runs = store.browse_runs().map_err(store_error)?;
        let ids: Vec<&str> = runs.iter().map(|r| r.id.as_str()).collect();
        let (run_a, run_b) = (q.get("a"), q.get("b"));
        let mut body = String::from("<h1>Compare two runs</h1>");
        let _ = write!(
            body,
            r#"<form class="filters" method="get" action="/compare"><label>Run A (from) {}</label><label>Run B (to) {}</label><button type="submit">Compare</button></form>"#,
            select("a", &ids, run_a),
            select("b", &ids, run_b)
        );
        let (Some(run_a), Some(run_b)) = (run_a, run_b) else {
            drop(store);
            body.push_str(r#"<p class="note">Pick two runs.</p>"#);
            return Ok(Page::html(page("Compare", &["compare".to_owned()], &body)));
        };
        let old = store.report(run_a).map_err(store_error)?;
        let new = store.report(run_b).map_err(store_error)?;
        drop(store);
        write_changes(&mut body, &old, &new);
        write_changed_verdicts(&mut body, &old, &new);
        Ok(Page::html(page(
            &format!("Compare {run_a} with {run_b}"),
            &["compare".to_owned()],
            &body,
        )))
    }
}

fn run_link(run: &str) -> String {
    format!(
        r#"<a href="/runs/{}"><code>{}</code></a>"#,
        esc(&segment(run)),
        esc(run)
    )
}

fn significance(significant: bool) -> &'static str {
    if significant {
        r#"<span class="significant">significant</span>"#
    } else {
        "not significant"
    }
}

fn write_changes(body: &mut String, old: &RunReport, new: &RunReport) {
    let bootstrap = Bootstrap::default();
    let _ = write!(
        body,
        r#"<p>Run B {} compared with run A {}: changes are B − A, significant at α = 0.05 (the tests of <code>llmbench compare</code>).</p>"#,
        run_link(&new.run.run_id),
        run_link(&old.run.run_id)
    );
    let mut task_names = tasks(old);
    for t in tasks(new) {
        if !task_names.contains(&t) {
            task_names.push(t);
        }
    }
    let mut scopes: Vec<Option<&str>> = task_names.iter().map(|t| Some(t.as_str())).collect();
    if task_names.len() > 1 {
        scopes.push(None);
    }
    body.push_str(r#"<table class="changes"><thead><tr><th>Task</th><th>Model</th><th>Pass rate A → B</th><th>Change</th><th>Test</th><th>p95 latency A → B (ms)</th><th>Test</th><th>Cost per sample A → B (USD)</th><th>Test</th></tr></thead><tbody>"#);
    let usd5 = |x: f64| format!("{x:.5}");
    let signed_usd = |x: f64| format!("{}{x:.5}", if x > 0.0 { "+" } else { "" });
    for task in scopes {
        for provider in providers(old, new) {
            let c = change(old, new, &provider, task, &bootstrap);
            let _ = write!(
                body,
                "<tr><td>{}</td><td>{}{}</td>",
                esc(task.unwrap_or("all tasks")),
                esc(&c.label),
                c.model_changed
                    .as_ref()
                    .map(|(o, n)| format!(
                        r#"<br><span class="note">model {} → {}</span>"#,
                        esc(o),
                        esc(n)
                    ))
                    .unwrap_or_default()
            );
            if !c.in_old || !c.in_new {
                let _ = write!(
                    body,
                    r#"<td colspan="7" class="note">only in run {}</td></tr>"#,
                    if c.in_old { "A" } else { "B" }
                );
                continue;
            }
            match &c.pass {
                Some(p) => {
                    let _ = write!(
                        body,
                        r#"<td class="num">{}/{} ({}) → {}/{} ({})</td><td class="num">{}</td><td>{}: {}</td>"#,
                        p.old.0,
                        p.old.1,
                        percent(p.old_rate()),
                        p.new.0,
                        p.new.1,
                        percent(p.new_rate()),
                        esc(&points(p.new_rate() - p.old_rate())),
                        esc(&p.test),
                        significance(p.significant)
                    );
                }
                None => body
                    .push_str(r#"<td colspan="3" class="note">no graded sample on one side</td>"#),
            }
            match &c.p95_latency_ms {
                Some(m) => {
                    let _ = write!(
                        body,
                        r#"<td class="num">{} → {} ({})</td><td>{}</td>"#,
                        thousands(m.old),
                        thousands(m.new),
                        esc(&relative_change(m.new, m.old).unwrap_or_else(|| "n/a".into())),
                        esc(&m.test_text(" ms", &signed_thousands))
                    );
                }
                None => body.push_str(r#"<td colspan="2" class="note">no answer on one side</td>"#),
            }
            match &c.cost_usd {
                Some(m) => {
                    let _ = write!(
                        body,
                        r#"<td class="num">{} → {} ({})</td><td>{}</td>"#,
                        usd5(m.old),
                        usd5(m.new),
                        esc(&relative_change(m.new, m.old).unwrap_or_else(|| "n/a".into())),
                        esc(&m.test_text(" USD", &signed_usd))
                    );
                }
                None => body.push_str(
                    r#"<td colspan="2" class="note">unknown on one side (no price, or unknown usage)</td>"#,
                ),
            }
            body.push_str("</tr>");
        }
    }
    body.push_str("</tbody></table>");
}

/// A sample's task, item, provider, repeat and verdict.
type Changed = (String, String, String, u32, &'static str);

/// Samples graded in both runs (the same task, item, provider and repeat: the same sample
/// id) whose verdict differs, each linked to both samples.
fn write_changed_verdicts(body: &mut String, old: &RunReport, new: &RunReport) {
    let index = |r: &RunReport| -> BTreeMap<String, Changed> {
        r.samples
            .iter()
            .map(|s| {
                (
                    s.key.id().to_string(),
                    (
                        s.key.task.clone(),
                        s.key.item.clone(),
                        s.key.provider.clone(),
                        s.key.repeat,
                        verdict_of(s.verdict.as_ref().map(|v| v.pass), s.error.is_some()),
                    ),
                )
            })
            .collect()
    };
    let (in_a, in_b) = (index(old), index(new));
    let changed: Vec<(&String, &Changed, &str)> = in_a
        .iter()
        .filter_map(|(id, va)| {
            let vb = in_b.get(id)?;
            (va.4 != vb.4).then_some((id, va, vb.4))
        })
        .collect();
    let _ = write!(
        body,
        r#"<h2 id="changed">Samples whose verdict changed</h2><p class="meta" id="changed-count">{} sample{} graded differently.</p>"#,
        changed.len(),
        if changed.len() == 1 { "" } else { "s" }
    );
    if changed.is_empty() {
        return;
    }
    let labels: BTreeMap<&str, &str> = old
        .run
        .providers
        .iter()
        .chain(&new.run.providers)
        .map(|(p, _, l)| (p.as_str(), l.as_str()))
        .collect();
    body.push_str(r#"<table class="changed"><thead><tr><th>Task</th><th>Item</th><th>Model</th><th>Repeat</th><th>Run A</th><th>Run B</th></tr></thead><tbody>"#);
    let (seg_a, seg_b) = (segment(&old.run.run_id), segment(&new.run.run_id));
    for (id, (task, item, provider, repeat, verdict_a), verdict_b) in changed {
        let _ = write!(
            body,
            r#"<tr><td>{}</td><td>{}</td><td>{}</td><td class="num">{repeat}</td><td><a class="{verdict_a}" href="/runs/{}/samples/{}">{verdict_a}</a></td><td><a class="{verdict_b}" href="/runs/{}/samples/{}">{verdict_b}</a></td></tr>"#,
            esc(task),
            a(
                &link(
                    &format!("/runs/{seg_a}/item"),
                    &[("task", task), ("item", item)]
                ),
                item
            ),
            esc(labels.get(provider.as_str()).copied().unwrap_or(provider)),
            esc(&seg_a),
            esc(id),
            esc(&seg_b),
            esc(id),
        );
    }
    body.push_str("</tbody></table>");
}
