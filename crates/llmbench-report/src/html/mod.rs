//! The HTML report: one self-contained file (inline CSS, inline SVG charts, one small inline
//! script; nothing fetched from anywhere, enforced by a Content-Security-Policy that allows
//! only that script by its hash).
//!
//! Sections: the results table; pass@k per model with bootstrap intervals over items (when the
//! run asked for k, or repeated items); charts (latency per model as box plots, time to first
//! token, cost against pass rate, pass rate per task with Wilson intervals); paired
//! comparisons; the winner by a stated rule; and the samples, browsable, with their prompt,
//! answer, grades and evidence: every sample of a small run, or for a large one the failing
//! samples first and a bounded number in all ([`crate::summary::SampleLimits`]), the page
//! saying so and where the rest are. Aggregates and charts always cover every sample
//! ([`crate::summary::Summary`]). All model text is escaped ([`escape`]).

mod escape;
mod svg;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use llmbench_core::{
    CompletionRequest, GradeOutcome, ReportError, Reporter, Role, RunReport, SampleRecord,
};

pub use escape::escape;

use crate::analysis::{ModelAnalysis, WinnerRule, kind_name, tasks};
use crate::format::{percent, thousands, usd};
use crate::pass_at_k;
use crate::stats::{Bootstrap, Estimate};
use crate::summary::Summary;
use svg::{BoxSeries, PALETTE, RateBar, ScatterPoint, box_plot, cost_scatter, rate_bars};

/// Renders a run as a self-contained HTML page.
#[derive(Debug, Clone, Default)]
pub struct HtmlReporter {
    pub winner_rule: WinnerRule,
    pub bootstrap: Bootstrap,
    /// The request each (task, item) was rendered into (before the provider's model and
    /// sampling were applied), when the caller could rebuild it from the run's config.
    pub prompts: BTreeMap<(String, String), CompletionRequest>,
    /// Shown in place of a missing prompt: why prompts are not available.
    pub prompts_note: Option<String>,
}

const STYLE: &str = r#"
:root { --fg: #1b1f24; --muted: #57606a; --line: #d0d7de; --bg-alt: #f6f8fa; --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; } h2 { font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin-top: 36px; }
code, pre { font: 13px/1.45 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
pre { background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px; overflow-x: auto; white-space: pre-wrap; word-break: break-word; max-height: 480px; }
.meta, .note, figcaption { color: var(--muted); }
nav a { margin-right: 14px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { border: 1px solid var(--line); padding: 5px 10px; vertical-align: top; }
th { background: var(--bg-alt); text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.ci { color: var(--muted); font-size: 12px; }
.pass { color: var(--pass); font-weight: 600; } .fail { color: var(--fail); font-weight: 600; } .error { color: var(--warn); font-weight: 600; }
td.kinds { white-space: nowrap; }
.kind { display: inline-block; font-size: 11px; border: 1px solid var(--line); border-radius: 10px; padding: 0 7px; color: var(--muted); }
figure { margin: 18px 0; } figcaption { font-size: 13px; margin-bottom: 4px; }
.chart-svg { max-width: 100%; height: auto; font-size: 12px; }
.chart-svg .grid { stroke: #eaeef2; } .chart-svg .axis { stroke: #8c959f; }
.chart-svg .tick, .chart-svg .n, .chart-svg .value { fill: var(--muted); font-size: 11px; }
.chart-svg .label, .chart-svg .point-label { fill: var(--fg); }
.chart-svg .axis-label { fill: var(--muted); font-size: 12px; }
.chart-svg .whisker { stroke: #444c56; stroke-width: 1.4; } .chart-svg .median { stroke-width: 2.5; }
.filters { margin: 8px 0 12px; display: flex; gap: 18px; align-items: center; flex-wrap: wrap; }
details.sample { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
details.sample > summary { cursor: pointer; }
details.sample[open] > summary { margin-bottom: 6px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.winner { font-size: 18px; }
"#;

/// Filters the sample list; marks the page as loaded (`data-ready`) for the browser test.
const SCRIPT: &str = r#"(function () {
  var model = document.getElementById("f-model");
  var failed = document.getElementById("f-failed");
  var count = document.getElementById("f-count");
  var all = document.querySelectorAll("details.sample");
  function apply() {
    var shown = 0;
    for (var i = 0; i < all.length; i++) {
      var d = all[i];
      var show = (!model.value || d.dataset.provider === model.value) && (!failed.checked || d.dataset.outcome !== "pass");
      d.hidden = !show;
      if (show) { shown++; }
    }
    count.textContent = shown + " of " + all.length + " samples";
  }
  model.addEventListener("change", apply);
  failed.addEventListener("change", apply);
  apply();
  document.body.dataset.ready = "1";
})();"#;

impl Reporter for HtmlReporter {
    fn render(&self, report: &RunReport) -> Result<String, ReportError> {
        let mut out = String::new();
        self.write(&mut out, report);
        Ok(out)
    }
}

impl HtmlReporter {
    fn write(&self, out: &mut String, report: &RunReport) {
        let run = &report.run;
        let colors: BTreeMap<&str, &str> = run
            .providers
            .iter()
            .enumerate()
            .map(|(i, (p, _, _))| (p.as_str(), PALETTE[i % PALETTE.len()]))
            .collect();
        let color = |p: &str| colors.get(p).copied().unwrap_or(PALETTE[0]);
        let summary = Summary::of(report, &self.bootstrap);
        let overall = &summary.overall;
        let task_names = tasks(report);
        let per_task = &summary.per_task;
        let repeated = overall.iter().any(|m| m.samples > 1);
        let ks = summary.ks.clone();

        let _ = write!(
            out,
            r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {}">
<title>llmbench report: run {}</title>
<style>{STYLE}</style>
</head>
<body>
"#,
            escape::csp_hash(SCRIPT),
            escape(&run.run_id)
        );
        let errors = summary.without_answer;
        let _ = write!(
            out,
            r##"<header><h1>llmbench report</h1><p class="meta">Run <code>{}</code> · config <code>{}</code> · started {} · {} · {} of {} planned samples recorded{}</p>
<nav><a href="#results">Results</a>{}<a href="#charts">Charts</a><a href="#comparisons">Comparisons</a><a href="#winner">Winner</a><a href="#samples">Samples</a></nav></header>
"##,
            escape(&run.run_id),
            escape(&run.config_path),
            escape(&run.started_at),
            escape(&run.status),
            summary.samples,
            run.planned_samples,
            if errors > 0 {
                format!(", {errors} without an answer")
            } else {
                String::new()
            },
            if ks.is_empty() {
                ""
            } else {
                r##"<a href="#pass-at-k">pass@k</a>"##
            }
        );

        // Results table.
        out.push_str(r#"<section id="results"><h2>Results</h2><table class="results"><thead><tr>"#);
        let multi_task = task_names.len() > 1;
        if multi_task {
            out.push_str("<th>Task</th>");
        }
        out.push_str("<th>Model</th><th>Latency (ms)</th><th>TTFT (ms)</th><th>Input tokens</th><th>Output tokens</th><th>Cost (USD)</th><th>Verdict</th><th>Grades by kind</th></tr></thead><tbody>");
        let rows: Vec<&ModelAnalysis> = if multi_task {
            per_task.iter().flat_map(|(_, ms)| ms.iter()).collect()
        } else {
            overall.iter().collect()
        };
        for m in rows {
            out.push_str("<tr>");
            if let Some(t) = &m.task {
                let _ = write!(out, "<td>{}</td>", escape(t));
            }
            let _ = write!(
                out,
                r#"<td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td>{}</td><td class="kinds">{}</td></tr>"#,
                escape(&m.label),
                estimate_html(m.latency_median.as_ref()),
                estimate_html(m.ttft_median.as_ref()),
                m.input_tokens_median.map_or("-".into(), thousands),
                m.output_tokens_median.map_or("-".into(), thousands),
                m.cost_usd_mean.map_or("n/a".into(), usd),
                verdict_html(m),
                m.grade_kinds
                    .iter()
                    .map(|k| format!(
                        r#"<span class="kind">{}</span> {}/{}"#,
                        kind_name(k.kind),
                        k.passed,
                        k.grades
                    ))
                    .collect::<Vec<_>>()
                    .join("<br>")
            );
        }
        out.push_str("</tbody></table>");
        let _ = writeln!(
            out,
            r#"<p class="note">{} Grey ranges are 95% intervals: Wilson score intervals for pass rates, bootstrap percentile intervals ({} resamples, fixed seed) for latency. Grades are counted per kind (check: a deterministic check of the text; execution: the answer's code was run; judgement: another model's opinion); a verdict combines the task's graders.{}</p></section>"#,
            if repeated {
                "Latency, TTFT and tokens are medians over answered samples; cost is the mean per sample."
            } else {
                "One sample per model: latency, tokens and cost are that sample's."
            },
            thousands(f64::from(self.bootstrap.resamples)),
            if errors > 0 {
                " Samples without an answer are excluded from pass rates."
            } else {
                ""
            }
        );

        if !ks.is_empty() {
            self.write_pass_at_k(out, report, &summary, &ks, &task_names);
        }

        // Charts.
        out.push_str(r#"<section id="charts"><h2>Charts</h2>"#);
        let latency: Vec<BoxSeries<'_>> = overall
            .iter()
            .map(|m| BoxSeries {
                label: &m.label,
                color: color(&m.provider),
                values: &m.latency_ms,
            })
            .collect();
        let _ = write!(
            out,
            r#"<figure class="chart" id="fig-latency"><figcaption>Latency per model, from request to last byte (box: quartiles; line: median; whiskers: 1.5 IQR; dots: beyond).</figcaption>{}</figure>"#,
            box_plot(
                "chart-latency",
                "Latency per model (ms)",
                "latency (ms)",
                &latency
            )
        );
        let ttft: Vec<BoxSeries<'_>> = overall
            .iter()
            .filter(|m| !m.ttft_ms.is_empty())
            .map(|m| BoxSeries {
                label: &m.label,
                color: color(&m.provider),
                values: &m.ttft_ms,
            })
            .collect();
        if ttft.is_empty() {
            out.push_str(r#"<figure class="chart" id="fig-ttft"><figcaption>Time to first token: no data (no answer was streamed).</figcaption></figure>"#);
        } else {
            let _ = write!(
                out,
                r#"<figure class="chart" id="fig-ttft"><figcaption>Time to first token per model (streamed answers only).</figcaption>{}</figure>"#,
                box_plot(
                    "chart-ttft",
                    "Time to first token per model (ms)",
                    "time to first token (ms)",
                    &ttft
                )
            );
        }
        let points: Vec<ScatterPoint<'_>> = overall
            .iter()
            .filter_map(|m| {
                let p = m.pass_rate?;
                Some(ScatterPoint {
                    label: &m.label,
                    color: color(&m.provider),
                    cost: m.cost_usd_mean?,
                    rate: p.rate(),
                    low: p.interval.low,
                    high: p.interval.high,
                })
            })
            .collect();
        let unplotted: Vec<String> = overall
            .iter()
            .filter(|m| m.pass_rate.is_none() || m.cost_usd_mean.is_none())
            .map(|m| escape(&m.label))
            .collect();
        if points.is_empty() {
            out.push_str(r#"<figure class="chart" id="fig-cost"><figcaption>Cost against pass rate: no model has both a known cost and a graded sample.</figcaption></figure>"#);
        } else {
            let _ = write!(
                out,
                r#"<figure class="chart" id="fig-cost"><figcaption>Mean cost per sample against pass rate (whiskers: 95% Wilson interval). Up and to the left is better.{}</figcaption>{}</figure>"#,
                if unplotted.is_empty() {
                    String::new()
                } else {
                    format!(
                        " Not shown (no known cost or no graded sample): {}.",
                        unplotted.join(", ")
                    )
                },
                cost_scatter("chart-cost", "Cost against pass rate", &points)
            );
        }
        let bars: Vec<RateBar<'_>> = per_task
            .iter()
            .flat_map(|(t, ms)| {
                ms.iter().filter_map(move |m| {
                    let p = m.pass_rate?;
                    Some(RateBar {
                        group: t,
                        label: &m.label,
                        color: color(&m.provider),
                        passed: p.passed,
                        trials: p.trials,
                        low: p.interval.low,
                        high: p.interval.high,
                    })
                })
            })
            .collect();
        if !bars.is_empty() {
            let _ = write!(
                out,
                r#"<figure class="chart" id="fig-pass"><figcaption>Pass rate per task and model, with 95% Wilson intervals.</figcaption>{}</figure>"#,
                rate_bars("chart-pass", "Pass rate per task", &bars)
            );
        }
        out.push_str("</section>\n");

        // Comparisons.
        out.push_str(r#"<section id="comparisons"><h2>Comparisons</h2>"#);
        let mut sentences = Vec::new();
        let mut unpaired = Vec::new();
        for c in &summary.comparisons {
            match &c.paired {
                Some(c) if c.mcnemar.pairs > 1 => sentences.extend(c.sentences()),
                Some(_) => {}
                None => unpaired.push(format!("{} and {}", escape(&c.a_label), escape(&c.b_label))),
            }
        }
        if sentences.is_empty() && unpaired.is_empty() {
            out.push_str(r#"<p class="note">Nothing to compare item by item (fewer than two graded items per pair of models).</p>"#);
        }
        if !sentences.is_empty() {
            out.push_str(
                "<p>Models graded on the same items, compared item by item (α = 0.05):</p><ul>",
            );
            for s in &sentences {
                let _ = write!(out, "<li>{}</li>", prose(s));
            }
            out.push_str("</ul>");
        }
        if !unpaired.is_empty() {
            let _ = write!(
                out,
                r#"<p class="note">Not graded on the same items, so not compared item by item: {}. Their Wilson intervals still apply.</p>"#,
                unpaired.join("; ")
            );
        }
        out.push_str("</section>\n");

        // Winner.
        let d = summary
            .winner(self.winner_rule)
            .cloned()
            .expect("a summary decides by every rule");
        out.push_str(r#"<section id="winner"><h2>Winner</h2>"#);
        match &d.winner {
            Some((_, label)) => {
                let _ = write!(
                    out,
                    r#"<p class="winner"><strong>{}</strong>, by rule <code>{}</code>.</p>"#,
                    escape(label),
                    d.rule
                );
            }
            None => {
                let _ = write!(
                    out,
                    r#"<p class="winner">No winner, by rule <code>{}</code>.</p>"#,
                    d.rule
                );
            }
        }
        out.push_str("<ol>");
        for line in &d.reasoning {
            let _ = write!(out, "<li>{}</li>", prose(line));
        }
        out.push_str("</ol></section>\n");

        // Samples.
        let _ = write!(
            out,
            r#"<section id="samples"><h2>Samples</h2><div class="filters"><label>Model <select id="f-model"><option value="">all</option>{}</select></label><label><input type="checkbox" id="f-failed"> failures and errors only</label><span id="f-count" class="note"></span></div>"#,
            run.providers
                .iter()
                .map(|(p, _, l)| format!(r#"<option value="{}">{}</option>"#, escape(p), escape(l)))
                .collect::<String>()
        );
        if self.prompts.is_empty() {
            let _ = write!(
                out,
                r#"<p class="note">Prompts are not shown: {}.</p>"#,
                escape(
                    self.prompts_note
                        .as_deref()
                        .unwrap_or("the report was rendered without the run's config")
                )
            );
        }
        let labels: BTreeMap<&str, &str> = run
            .providers
            .iter()
            .map(|(p, _, l)| (p.as_str(), l.as_str()))
            .collect();
        let shown = report.samples.len() as u64;
        if shown < summary.samples {
            let _ = write!(
                out,
                r#"<p class="note" id="samples-shown">{} of {} samples are shown in full: failing samples first ({} in all), then passing ones. The rest are one click away: <code>llmbench view {}</code>, or every sample with <code>llmbench export {}</code>.</p>"#,
                thousands(shown as f64),
                thousands(summary.samples as f64),
                thousands(summary.failures as f64),
                escape(&run.run_id),
                escape(&run.run_id)
            );
        }
        for s in &report.samples {
            self.write_sample(out, s, labels.get(s.key.provider.as_str()).copied());
        }
        out.push_str("</section>\n");
        let _ = write!(
            out,
            r#"<footer class="note"><p>Store: <code>{}</code>. Made by llmbench; this file needs no network.</p></footer>
<script>{SCRIPT}</script>
</body>
</html>
"#,
            escape(&run.store_path)
        );
    }

    /// One row per model (per task and model, then over all tasks, when there are several
    /// tasks), one column per k.
    fn write_pass_at_k(
        &self,
        out: &mut String,
        report: &RunReport,
        summary: &Summary,
        ks: &[u32],
        tasks: &[String],
    ) {
        let overall = &summary.pass_at_k;
        let multi_task = tasks.len() > 1;
        let per_task = &summary.pass_at_k_per_task;
        out.push_str(
            r#"<section id="pass-at-k"><h2>pass@k</h2><table class="pass-at-k"><thead><tr>"#,
        );
        if multi_task {
            out.push_str("<th>Task</th>");
        }
        out.push_str("<th>Model</th><th>Items</th>");
        for k in ks {
            let _ = write!(out, "<th>pass@{k}</th>");
        }
        out.push_str("</tr></thead><tbody>");
        for m in per_task.iter().chain(overall) {
            out.push_str("<tr>");
            if multi_task {
                let _ = write!(
                    out,
                    "<td>{}</td>",
                    m.task.as_deref().map_or_else(|| "all tasks".into(), escape)
                );
            }
            let _ = write!(
                out,
                r#"<td>{}</td><td class="num">{}</td>"#,
                escape(&m.label),
                m.items
            );
            for v in &m.values {
                let _ = write!(
                    out,
                    r#"<td class="num">{}</td>"#,
                    rate_html(v.estimate.as_ref())
                );
            }
            out.push_str("</tr>");
        }
        out.push_str("</tbody></table>");
        let notes: Vec<String> = pass_at_k::notes(report, overall, &self.bootstrap)
            .iter()
            .map(|n| prose(n))
            .collect();
        let _ = writeln!(out, r#"<p class="note">{}</p></section>"#, notes.join(" "));
    }

    fn write_sample(&self, out: &mut String, s: &SampleRecord, label: Option<&str>) {
        let outcome = match (&s.verdict, &s.error) {
            (Some(v), _) if v.pass => "pass",
            (Some(_), _) => "fail",
            _ => "error",
        };
        let latency = s
            .completion
            .as_ref()
            .map(|c| {
                format!(
                    " · {} ms",
                    thousands(c.timings.latency.as_secs_f64() * 1000.0)
                )
            })
            .unwrap_or_default();
        let _ = write!(
            out,
            r#"<details class="sample" data-provider="{}" data-outcome="{outcome}"><summary><span class="{outcome}">{}</span> · {} · <code>{}/{}</code> #{}{latency}</summary>"#,
            escape(&s.key.provider),
            outcome.to_uppercase(),
            escape(label.unwrap_or(&s.key.provider)),
            escape(&s.key.task),
            escape(&s.key.item),
            s.key.repeat
        );
        // Facts.
        let mut facts = vec![format!("model <code>{}</code>", escape(&s.model))];
        if let Some(c) = &s.completion {
            if let Some(m) = &c.response_model {
                facts.push(format!("answered by <code>{}</code>", escape(m)));
            }
            facts.push(format!("stop: {}", escape(&stop_reason(&c.stop_reason))));
            if let Some(t) = c.timings.time_to_first_token {
                facts.push(format!("TTFT {} ms", thousands(t.as_secs_f64() * 1000.0)));
            }
            let tok = |n: Option<u64>| n.map_or("?".into(), |n| thousands(n as f64));
            facts.push(format!(
                "tokens in {} / out {}",
                tok(c.usage.total_input()),
                tok(c.usage.output_tokens)
            ));
        }
        facts.push(match s.cost_usd {
            Some(c) => format!("cost {} USD", usd(c)),
            None => "cost unknown".into(),
        });
        facts.push(format!(
            "{} attempt{}",
            s.attempts,
            if s.attempts == 1 { "" } else { "s" }
        ));
        if let Some(v) = &s.verdict {
            facts.push(format!("score {:.2}", v.score));
        }
        let _ = write!(out, r#"<p class="note">{}</p>"#, facts.join(" · "));
        // Prompt.
        match self.prompts.get(&(s.key.task.clone(), s.key.item.clone())) {
            Some(request) => {
                if let Some(system) = &request.system {
                    let _ = write!(out, "<h4>System prompt</h4><pre>{}</pre>", escape(system));
                }
                for m in &request.messages {
                    let role = match m.role {
                        Role::User => "Prompt",
                        Role::Assistant => "Assistant turn (in the prompt)",
                    };
                    let _ = write!(out, "<h4>{role}</h4><pre>{}</pre>", escape(&m.content));
                }
            }
            None if !self.prompts.is_empty() => {
                out.push_str(r#"<p class="note">Prompt: not found in the run's config.</p>"#);
            }
            None => {}
        }
        if let Some(e) = &s.error {
            let _ = write!(
                out,
                r#"<h4>Error</h4><pre class="error">{}</pre>"#,
                escape(&e.to_string())
            );
        }
        if let Some(c) = &s.completion {
            let _ = write!(out, "<h4>Answer</h4><pre>{}</pre>", escape(&c.text));
        }
        if !s.grades.is_empty() {
            out.push_str("<h4>Grades</h4><table><thead><tr><th>Grader</th><th>Kind</th><th>Outcome</th><th>Score</th><th>Evidence</th></tr></thead><tbody>");
            for (name, g) in &s.grades {
                let class = match g.outcome {
                    GradeOutcome::Pass => "pass",
                    GradeOutcome::Fail => "fail",
                    GradeOutcome::Error => "error",
                };
                let _ = write!(
                    out,
                    r#"<tr><td><code>{}</code></td><td><span class="kind">{}</span></td><td class="{class}">{}</td><td class="num">{:.2}</td><td>{}</td></tr>"#,
                    escape(name),
                    kind_name(g.kind),
                    g.outcome.as_str(),
                    g.score,
                    escape(&g.evidence)
                );
            }
            out.push_str("</tbody></table>");
        }
        out.push_str("</details>\n");
    }
}

/// Our own sentences: escaped, with `backticked` spans as code.
fn prose(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{}</code>", escape(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

fn stop_reason(r: &llmbench_core::StopReason) -> String {
    use llmbench_core::StopReason;
    match r {
        StopReason::EndTurn => "end of turn".into(),
        StopReason::MaxTokens => "max tokens".into(),
        StopReason::StopSequence => "stop sequence".into(),
        StopReason::Other(s) => s.clone(),
    }
}

fn estimate_html(e: Option<&Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(e) => match e.interval {
            Some(ci) => format!(
                r#"{}<br><span class="ci">{}–{}</span>"#,
                thousands(e.value),
                thousands(ci.low),
                thousands(ci.high)
            ),
            None => thousands(e.value),
        },
    }
}

/// A rate with its interval below it, or `-` when there is none.
fn rate_html(e: Option<&Estimate>) -> String {
    match e {
        None => "-".into(),
        Some(e) => match e.interval {
            Some(ci) => format!(
                r#"{}<br><span class="ci">{}–{}</span>"#,
                percent(e.value),
                percent(ci.low),
                percent(ci.high)
            ),
            None => percent(e.value),
        },
    }
}

fn verdict_html(m: &ModelAnalysis) -> String {
    let mut v = match &m.pass_rate {
        Some(p) => format!(
            r#"{}/{} pass ({})<br><span class="ci">{}–{}</span>"#,
            p.passed,
            p.trials,
            percent(p.rate()),
            percent(p.interval.low),
            percent(p.interval.high)
        ),
        None => "not graded".into(),
    };
    if !m.failing_graders.is_empty() {
        let failed: Vec<String> = m
            .failing_graders
            .iter()
            .map(|(g, n)| format!("{} x{n}", escape(g)))
            .collect();
        let _ = write!(v, "<br>failed: {}", failed.join(", "));
    }
    if m.errors > 0 {
        let kinds: Vec<String> = m
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{} x{n}", escape(k)))
            .collect();
        let _ = write!(
            v,
            r#"<br><span class="error">no answer: {}</span>"#,
            kinds.join(", ")
        );
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::repeated_run;

    #[test]
    fn model_text_is_escaped_and_the_page_is_self_contained() {
        let html = HtmlReporter::default().render(&repeated_run()).unwrap();
        assert!(html.contains("&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt;"));
        assert_eq!(
            html.matches("<script").count(),
            1,
            "only the report's own script"
        );
        for external in ["http://", "https://", "src=", "@import", "url("] {
            assert!(!html.contains(external), "{external} in the page");
        }
        assert_eq!(html.matches(r#"<details class="sample""#).count(), 60);
        for id in ["chart-latency", "chart-ttft", "chart-cost", "chart-pass"] {
            assert!(html.contains(&format!(r#"id="{id}""#)), "{id}");
        }
        assert!(html.contains("Prompts are not shown"));
    }

    #[test]
    fn pass_at_k_is_shown_when_applicable() {
        let reporter = HtmlReporter::default();
        // Two repeats, no k asked for: pass@1 only, with the reason.
        let html = reporter.render(&repeated_run()).unwrap();
        assert!(html.contains(r##"<a href="#pass-at-k">pass@k</a>"##));
        assert!(html.contains(r#"<section id="pass-at-k"><h2>pass@k</h2>"#));
        assert!(html.contains("<th>pass@1</th>"));
        assert!(!html.contains("<th>pass@2</th>"));
        assert!(html.contains("asked for no k (<code>[run] pass-at-k</code>)"));
        // Sonnet passes 18 of 20, at least once on every item: pass@1 90%, pass@2 100%.
        let mut asked = repeated_run();
        asked.run.pass_at_k = vec![1, 2, 5];
        let html = reporter.render(&asked).unwrap();
        let row = html
            .split("<tr>")
            .find(|r| r.starts_with("<td>Claude Sonnet 4.6</td><td class=\"num\">10</td>"))
            .expect("a pass@k row for Sonnet");
        assert!(
            row.contains(r#"<td class="num">90%<br><span class="ci">"#),
            "{row}"
        );
        assert!(row.contains(r#"<td class="num">100%<br><span class="ci">100%–100%</span></td><td class="num">-</td>"#), "{row}");
        assert!(html.contains("pass@5 leaves out items with fewer than 5 graded samples: Claude Haiku 4.5 10 of 10 items"));
        assert!(!html.contains("asked for no k"));
        // One sample per model and no k asked for: no pass@k at all.
        let single = reporter.render(&crate::fixtures::article_run()).unwrap();
        assert!(
            !single.contains("pass@"),
            "pass@k shown for a run without repeats"
        );
    }

    #[test]
    fn prompts_are_shown_when_given() {
        let mut reporter = HtmlReporter::default();
        let report = repeated_run();
        for s in &report.samples {
            reporter.prompts.insert(
                (s.key.task.clone(), s.key.item.clone()),
                CompletionRequest {
                    model: String::new(),
                    system: Some("You review <code>".into()),
                    messages: vec![llmbench_core::Message::user(format!("Fix {}", s.key.item))],
                    max_tokens: 100,
                    sampling: Default::default(),
                    stream: true,
                    sample: None,
                },
            );
        }
        let html = reporter.render(&report).unwrap();
        assert!(html.contains("<h4>Prompt</h4><pre>Fix case-03</pre>"));
        assert!(html.contains("You review &lt;code&gt;"));
        assert!(!html.contains("Prompts are not shown"));
    }
}
