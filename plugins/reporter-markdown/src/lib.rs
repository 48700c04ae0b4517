//! `reporter-markdown`: a run as the founding article's report, in Markdown.
//!
//! Sections: the results table (model, latency ms, input tokens, output tokens, cost USD,
//! verdict); pass@k per model with bootstrap intervals over items, for the k the run asked for
//! (pass@1 when it asked for none but repeated items); with repeats, latency percentiles with
//! bootstrap intervals; per model, its grades by kind (check / execution / judgement), the
//! evidence of every grader that did not pass, and an excerpt of one answer; paired
//! comparisons between models graded on the same items (McNemar's test, paired bootstraps) as
//! plain sentences; and the winner by a stated rule, with the reasoning line by line.
//!
//! Options:
//! - `winner-rule` (string, default `cheapest-not-worse`): `cheapest-not-worse`,
//!   `fastest-not-worse` or `highest-pass-rate`.
//! - `excerpt-chars` (integer, default 600): the most characters of an answer to quote.
//! - `max-failures` (integer, default 10): failing samples listed per model.
//!
//! Model text is never interpreted: answers are quoted in code fences longer than any fence
//! inside them, and inline text (labels, evidence) has Markdown and HTML characters escaped.

use std::fmt::Write as _;

use llmbench_plugin_sdk::core::{
    GradeOutcome, PluginContext, ReportError, Reporter, RunReport, SampleRecord,
};
use llmbench_report::analysis::{ModelAnalysis, WinnerRule, kind_name, samples_of, tasks};
use llmbench_report::format::{percent, thousands, usd};
use llmbench_report::pass_at_k::{self, ModelPassAtK};
use llmbench_report::stats::{Bootstrap, Estimate};
use llmbench_report::summary::Summary;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    #[serde(default)]
    winner_rule: Option<String>,
    #[serde(default = "default_excerpt_chars")]
    excerpt_chars: usize,
    #[serde(default = "default_max_failures")]
    max_failures: usize,
}

fn default_excerpt_chars() -> usize {
    600
}

fn default_max_failures() -> usize {
    10
}

/// The reporter.
#[derive(Debug, Clone)]
pub struct MarkdownReporter {
    pub winner_rule: WinnerRule,
    pub excerpt_chars: usize,
    pub max_failures: usize,
    pub bootstrap: Bootstrap,
}

impl Default for MarkdownReporter {
    fn default() -> Self {
        Self {
            winner_rule: WinnerRule::default(),
            excerpt_chars: default_excerpt_chars(),
            max_failures: default_max_failures(),
            bootstrap: Bootstrap::default(),
        }
    }
}

impl MarkdownReporter {
    /// Build from the plugin options (`null` or `{}` for the defaults).
    pub fn from_options(options: serde_json::Value) -> Result<Self, String> {
        let options = if options.is_null() {
            serde_json::json!({})
        } else {
            options
        };
        let o: Options = serde_json::from_value(options).map_err(|e| e.to_string())?;
        let winner_rule = match o.winner_rule {
            Some(r) => r
                .parse()
                .map_err(|e| format!("invalid `winner-rule`: {e}"))?,
            None => WinnerRule::default(),
        };
        Ok(Self {
            winner_rule,
            excerpt_chars: o.excerpt_chars,
            max_failures: o.max_failures,
            bootstrap: Bootstrap::default(),
        })
    }
}

impl llmbench_plugin_sdk::ReporterPlugin for MarkdownReporter {
    fn create(options: serde_json::Value, _context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options)
    }
}

llmbench_plugin_sdk::export_reporter!(MarkdownReporter);

impl Reporter for MarkdownReporter {
    fn render(&self, report: &RunReport) -> Result<String, ReportError> {
        let mut out = String::new();
        self.write(&mut out, report);
        Ok(out)
    }
}

impl MarkdownReporter {
    fn write(&self, out: &mut String, report: &RunReport) {
        let run = &report.run;
        let summary = Summary::of(report, &self.bootstrap);
        let errors = summary.without_answer;
        let _ = writeln!(out, "# llmbench report: run `{}`", code(&run.run_id));
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Config `{}` · started {} · {} · {} of {} planned samples recorded{}.",
            code(&run.config_path),
            inline(&run.started_at),
            inline(&run.status),
            summary.samples,
            run.planned_samples,
            if errors > 0 {
                format!(", {errors} without an answer (provider errors)")
            } else {
                String::new()
            }
        );
        let task_names = tasks(report);
        let multi_task = task_names.len() > 1;
        let overall = &summary.overall;
        let repeated = overall.iter().any(|m| m.samples > 1 || m.answers > 1);

        let _ = writeln!(out);
        let _ = writeln!(out, "## Results");
        let _ = writeln!(out);
        let mut groups: Vec<ModelAnalysis> = Vec::new();
        if multi_task {
            for (_, ms) in &summary.per_task {
                groups.extend(ms.iter().cloned());
            }
        } else {
            groups.extend(overall.iter().cloned());
        }
        self.write_table(out, &groups, multi_task, repeated);
        let kinds: Vec<&str> = {
            let mut k: Vec<_> = overall
                .iter()
                .flat_map(|m| m.grade_kinds.iter().map(|c| c.kind))
                .collect();
            k.sort_by_key(|kind| *kind as u8);
            k.dedup();
            k.into_iter().map(kind_name).collect()
        };
        let _ = writeln!(out);
        let mut notes = vec![if repeated {
            "Latency and tokens are medians over answered samples; cost is the mean per sample."
                .to_owned()
        } else {
            "One sample per model: latency, tokens and cost are that sample's.".to_owned()
        }];
        if repeated {
            notes.push(format!(
                "Intervals are 95%: Wilson score intervals for pass rates, bootstrap percentile intervals ({} resamples, fixed seed) for latency.",
                thousands(f64::from(self.bootstrap.resamples))
            ));
        }
        if kinds.len() == 1 {
            notes.push(format!(
                "Verdicts rest on grades of one kind: {} ({}).",
                kinds[0],
                kind_phrase(kinds[0])
            ));
        } else if kinds.len() > 1 {
            let each: Vec<String> = kinds
                .iter()
                .map(|k| format!("{k} ({})", kind_phrase(k)))
                .collect();
            notes.push(format!(
                "Verdicts combine grades of {} kinds: {}; the per-model sections count each kind apart.",
                kinds.len(),
                each.join(", ")
            ));
        }
        if errors > 0 {
            notes.push(
                "Samples without an answer are excluded from pass rates and counted in the verdict column."
                    .into(),
            );
        }
        let _ = writeln!(out, "{}", notes.join(" "));

        if !summary.ks.is_empty() {
            self.write_pass_at_k(out, report, &summary, &task_names);
        }
        if repeated {
            self.write_latency(out, overall);
        }
        self.write_models(out, report, &summary);
        self.write_comparisons(out, &summary);
        self.write_winner(out, &summary);
    }

    fn write_table(
        &self,
        out: &mut String,
        groups: &[ModelAnalysis],
        multi_task: bool,
        repeated: bool,
    ) {
        let mut header = vec![
            "Model",
            "Latency (ms)",
            "Input tokens",
            "Output tokens",
            "Cost (USD)",
            "Verdict",
        ];
        let mut align = vec!["---", "--:", "--:", "--:", "--:", "---"];
        if multi_task {
            header.insert(0, "Task");
            align.insert(0, "---");
        }
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}|", align.join("|"));
        for m in groups {
            let mut cells = Vec::new();
            if let Some(t) = &m.task {
                cells.push(cell(t));
            }
            cells.push(cell(&m.label));
            cells.push(match (&m.latency_median, repeated) {
                (Some(e), true) => estimate_ms(e),
                (Some(e), false) => thousands(e.value),
                (None, _) => "-".into(),
            });
            cells.push(m.input_tokens_median.map_or("-".into(), thousands));
            cells.push(m.output_tokens_median.map_or("-".into(), thousands));
            cells.push(m.cost_usd_mean.map_or("n/a".into(), usd));
            cells.push(verdict(m, repeated));
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
    }

    /// One row per model (per task and model, then over all tasks, when there are several
    /// tasks), one column per k.
    fn write_pass_at_k(
        &self,
        out: &mut String,
        report: &RunReport,
        summary: &Summary,
        tasks: &[String],
    ) {
        let ks = &summary.ks;
        let overall = &summary.pass_at_k;
        let multi_task = tasks.len() > 1;
        let mut rows: Vec<(String, &ModelPassAtK)> = Vec::new();
        for m in &summary.pass_at_k_per_task {
            rows.push((cell(m.task.as_deref().unwrap_or_default()), m));
        }
        for m in overall {
            rows.push(("all tasks".into(), m));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "## pass@k");
        let _ = writeln!(out);
        let mut header = vec!["Model".to_owned(), "Items".to_owned()];
        let mut align = vec!["---", "--:"];
        for k in ks {
            header.push(format!("pass@{k}"));
            align.push("--:");
        }
        if multi_task {
            header.insert(0, "Task".into());
            align.insert(0, "---");
        }
        let _ = writeln!(out, "| {} |", header.join(" | "));
        let _ = writeln!(out, "|{}|", align.join("|"));
        for (task, m) in rows {
            let mut cells = Vec::new();
            if multi_task {
                cells.push(task);
            }
            cells.push(cell(&m.label));
            cells.push(m.items.to_string());
            for v in &m.values {
                cells.push(v.estimate.as_ref().map_or("-".into(), estimate_rate));
            }
            let _ = writeln!(out, "| {} |", cells.join(" | "));
        }
        let _ = writeln!(out);
        let notes = pass_at_k::notes(report, overall, &self.bootstrap);
        let notes: Vec<String> = notes.iter().map(|n| prose(n)).collect();
        let _ = writeln!(out, "{}", notes.join(" "));
    }

    fn write_latency(&self, out: &mut String, models: &[ModelAnalysis]) {
        let _ = writeln!(out);
        let _ = writeln!(out, "## Latency");
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "| Model | Answers | Median (ms) | p90 (ms) | p95 (ms) | TTFT median (ms) |"
        );
        let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|");
        for m in models {
            let e = |x: &Option<Estimate>| x.as_ref().map_or("-".into(), estimate_ms);
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                cell(&m.label),
                m.answers,
                e(&m.latency_median),
                e(&m.latency_p90),
                e(&m.latency_p95),
                e(&m.ttft_median)
            );
        }
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "Brackets: 95% bootstrap percentile intervals. A p95 from fewer than 20 answers is little more than the maximum."
        );
    }

    fn write_models(&self, out: &mut String, report: &RunReport, summary: &Summary) {
        let models = &summary.overall;
        let _ = writeln!(out);
        let _ = writeln!(out, "## Models");
        for m in models {
            let _ = writeln!(out);
            let _ = writeln!(out, "### {}", inline(&m.label));
            let _ = writeln!(out);
            let mut facts = Vec::new();
            facts.push(format!("Model `{}`", code(&m.model)));
            if let Some(p) = &m.pass_rate {
                facts.push(format!(
                    "pass rate {}/{} ({}, 95% Wilson CI {}–{})",
                    p.passed,
                    p.trials,
                    percent(p.rate()),
                    percent(p.interval.low),
                    percent(p.interval.high)
                ));
            }
            if !m.grade_kinds.is_empty() {
                let kinds: Vec<String> = m
                    .grade_kinds
                    .iter()
                    .map(|k| format!("{} {}/{} pass", kind_name(k.kind), k.passed, k.grades))
                    .collect();
                facts.push(format!("grades by kind: {}", kinds.join(", ")));
            }
            if m.errors > 0 {
                let kinds: Vec<String> = m
                    .error_kinds
                    .iter()
                    .map(|(k, n)| format!("{} x{n}", inline(k)))
                    .collect();
                facts.push(format!(
                    "{} sample{} without an answer ({})",
                    m.errors,
                    if m.errors == 1 { "" } else { "s" },
                    kinds.join(", ")
                ));
            }
            if m.cost_usd_total > 0.0 {
                facts.push(format!("total cost {} USD", usd(m.cost_usd_total)));
            }
            let _ = writeln!(out, "{}.", facts.join("; "));
            // The report's samples may be a selection (failing ones first); the summary
            // counts them all.
            let samples: Vec<&SampleRecord> = samples_of(report, &m.provider, None).collect();
            let failed: Vec<&&SampleRecord> = samples
                .iter()
                .filter(|s| s.error.is_some() || s.verdict.as_ref().is_some_and(|v| !v.pass))
                .collect();
            let failed_total = (summary.failed(&m.provider) as usize).max(failed.len());
            if failed_total > 0 {
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "Failures ({} sample{}; every grade that did not pass, with its kind):",
                    failed_total,
                    if failed_total == 1 { "" } else { "s" }
                );
                let _ = writeln!(out);
                let shown = failed.len().min(self.max_failures);
                for s in failed.iter().take(shown) {
                    let _ = writeln!(out, "- {}", failure_line(s));
                }
                if failed_total > shown {
                    let _ = writeln!(
                        out,
                        "- … and {} more (`llmbench export` has them all)",
                        failed_total - shown
                    );
                }
            }
            let shown = failed
                .iter()
                .find(|s| s.completion.is_some())
                .map(|s| (**s, "the first failing answer"))
                .or_else(|| {
                    samples
                        .iter()
                        .find(|s| s.completion.is_some())
                        .map(|s| (*s, "the first answer"))
                });
            if let Some((s, which)) = shown
                && let Some(c) = &s.completion
            {
                let total = c.text.chars().count();
                let (text, cut) = excerpt(&c.text, self.excerpt_chars);
                let _ = writeln!(out);
                let _ = writeln!(
                    out,
                    "Answer excerpt ({which}, {}{}):",
                    sample_name(s),
                    if cut {
                        format!(
                            ", first {} of {} characters",
                            thousands(self.excerpt_chars as f64),
                            thousands(total as f64)
                        )
                    } else {
                        String::new()
                    }
                );
                let _ = writeln!(out);
                let fence = fence_for(&text);
                let _ = writeln!(out, "{fence}text");
                let _ = writeln!(out, "{}", text.trim_end());
                let _ = writeln!(out, "{fence}");
            }
        }
    }

    fn write_comparisons(&self, out: &mut String, summary: &Summary) {
        if summary.overall.len() < 2 {
            return;
        }
        let mut lines = Vec::new();
        let mut unpaired = Vec::new();
        for c in &summary.comparisons {
            match &c.paired {
                Some(p) if p.mcnemar.pairs > 1 => {
                    lines.extend(p.sentences().into_iter().map(|s| prose(&s)));
                }
                Some(_) => {}
                None => unpaired.push(format!("{} and {}", inline(&c.a_label), inline(&c.b_label))),
            }
        }
        if lines.is_empty() && unpaired.is_empty() {
            return;
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "## Comparisons");
        let _ = writeln!(out);
        if !lines.is_empty() {
            let _ = writeln!(
                out,
                "Models graded on the same items, compared item by item (α = 0.05):"
            );
            let _ = writeln!(out);
            for l in lines {
                let _ = writeln!(out, "- {l}");
            }
        }
        if !unpaired.is_empty() {
            if !out.ends_with("\n\n") {
                let _ = writeln!(out);
            }
            let _ = writeln!(
                out,
                "Not graded on the same items (an error or a missing sample), so not compared item by item: {}. Their Wilson intervals above still apply.",
                unpaired.join("; ")
            );
        }
    }

    fn write_winner(&self, out: &mut String, summary: &Summary) {
        let Some(d) = summary.winner(self.winner_rule) else {
            return;
        };
        let _ = writeln!(out);
        let _ = writeln!(out, "## Winner");
        let _ = writeln!(out);
        match &d.winner {
            Some((_, label)) => {
                let _ = writeln!(out, "**{}**, by rule `{}`.", inline(label), d.rule);
            }
            None => {
                let _ = writeln!(out, "No winner, by rule `{}`.", d.rule);
            }
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "Why:");
        let _ = writeln!(out);
        for (i, line) in d.reasoning.iter().enumerate() {
            let _ = writeln!(out, "{}. {}", i + 1, prose(line));
        }
    }
}

fn kind_phrase(kind: &str) -> &'static str {
    match kind {
        "check" => "a deterministic check of the text",
        "execution" => "the answer's code was run",
        _ => "another model's opinion",
    }
}

fn estimate_ms(e: &Estimate) -> String {
    match e.interval {
        Some(ci) => format!(
            "{} ({}–{})",
            thousands(e.value),
            thousands(ci.low),
            thousands(ci.high)
        ),
        None => thousands(e.value),
    }
}

/// A rate with its interval: `55% (40%–70%)`.
fn estimate_rate(e: &Estimate) -> String {
    match e.interval {
        Some(ci) => format!(
            "{} ({}–{})",
            percent(e.value),
            percent(ci.low),
            percent(ci.high)
        ),
        None => percent(e.value),
    }
}

fn verdict(m: &ModelAnalysis, repeated: bool) -> String {
    let mut v = match &m.pass_rate {
        Some(p) if repeated => format!(
            "{}/{} pass ({}, {}–{})",
            p.passed,
            p.trials,
            percent(p.rate()),
            percent(p.interval.low),
            percent(p.interval.high)
        ),
        Some(p) => format!("{}/{} pass", p.passed, p.trials),
        None => "not graded".into(),
    };
    if !m.failing_graders.is_empty() {
        let failed: Vec<String> = m
            .failing_graders
            .iter()
            .map(|(g, n)| format!("{} x{n}", cell(g)))
            .collect();
        let _ = write!(v, "; failed: {}", failed.join(", "));
    }
    if m.errors > 0 {
        let kinds: Vec<String> = m
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{} x{n}", cell(k)))
            .collect();
        let _ = write!(v, "; no answer: {}", kinds.join(", "));
    }
    v
}

fn sample_name(s: &SampleRecord) -> String {
    format!(
        "`{}/{}` #{}",
        code(&s.key.task),
        code(&s.key.item),
        s.key.repeat
    )
}

fn failure_line(s: &SampleRecord) -> String {
    let at = sample_name(s);
    if let Some(e) = &s.error {
        return format!(
            "{at}: no answer, provider error: {}",
            inline(&e.to_string())
        );
    }
    let bad: Vec<String> = s
        .grades
        .iter()
        .filter(|(_, g)| g.outcome != GradeOutcome::Pass)
        .map(|(name, g)| {
            format!(
                "{} `{}` ({}): {}",
                kind_name(g.kind),
                code(name),
                g.outcome.as_str(),
                inline(&g.evidence)
            )
        })
        .collect();
    if bad.is_empty() {
        let score = s.verdict.as_ref().map_or(0.0, |v| v.score);
        format!(
            "{at}: every grader passed but the weighted score {score:.2} is below the threshold"
        )
    } else {
        format!("{at}: {}", bad.join("; "))
    }
}

/// The first `max` characters of `text`, and whether it was cut.
fn excerpt(text: &str, max: usize) -> (String, bool) {
    match text.char_indices().nth(max) {
        Some((i, _)) => (format!("{}…", &text[..i]), true),
        None => (text.to_owned(), false),
    }
}

/// A backtick fence longer than any run of backticks in `text`, so the text cannot close it.
fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}

/// Inline Markdown text: one line, Markdown and HTML syntax characters escaped.
fn inline(text: &str) -> String {
    escape(&text.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// Our own sentences (which may quote labels): like [`inline`], but code spans stay code.
fn prose(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("`{}`", code(part))
            } else {
                escape(part)
            }
        })
        .collect()
}

/// Text for a table cell.
fn cell(text: &str) -> String {
    inline(text)
}

/// Text inside an inline code span: a code span cannot escape, so backticks and newlines are
/// replaced.
fn code(text: &str) -> String {
    text.replace('`', "'").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_outlast_the_text() {
        assert_eq!(fence_for("no ticks"), "```");
        assert_eq!(fence_for("```python\n```"), "````");
        assert_eq!(fence_for("`````"), "``````");
    }

    #[test]
    fn inline_text_is_escaped() {
        assert_eq!(
            inline("<script>a|b</script> *x*\nnext"),
            "&lt;script&gt;a\\|b&lt;/script&gt; \\*x\\* next"
        );
    }

    #[test]
    fn prose_keeps_code_spans() {
        assert_eq!(
            prose("Rule `a_b`: <x> *y*"),
            "Rule `a_b`: &lt;x&gt; \\*y\\*"
        );
    }

    #[test]
    fn options() {
        let r = MarkdownReporter::from_options(serde_json::json!({
            "winner-rule": "highest-pass-rate", "excerpt-chars": 80
        }))
        .unwrap();
        assert_eq!(
            (r.winner_rule, r.excerpt_chars),
            (WinnerRule::HighestPassRate, 80)
        );
        let e =
            MarkdownReporter::from_options(serde_json::json!({"winner-rule": "best"})).unwrap_err();
        assert!(e.contains("cheapest-not-worse"), "{e}");
        let e = MarkdownReporter::from_options(serde_json::json!({"excerpt": 3})).unwrap_err();
        assert!(e.contains("unknown field"), "{e}");
        assert!(MarkdownReporter::from_options(serde_json::Value::Null).is_ok());
    }
}
