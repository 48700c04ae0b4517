//! The console table: the founding article's results table, computed from a run.

use std::fmt::Write as _;

use llmbench_core::{GradeKind, ReportError, Reporter, RunReport};

use crate::analysis::ModelAnalysis;
use crate::stats::Bootstrap;
use crate::summary::Summary;

/// Renders the results table as an aligned Markdown table with a header line naming the run
/// and its store, and, for a run that did not finish, how to finish it.
#[derive(Debug, Default, Clone)]
pub struct ConsoleReporter {
    /// The flags that name the run's store to another command (`--store URL
    /// --store-password-env NAME`, `--output-dir DIR`). Default: from the report's store
    /// (`--store URL` for a PostgreSQL store, whose shown URL holds no password).
    pub store_flags: Option<String>,
    /// The report is what one shard of a sharded run printed at its end.
    pub shard: Option<ShardNote>,
}

/// One shard of a sharded run, for the hint under its table: its samples are its own, the
/// run is the whole sweep's, and the other shards may still be running.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardNote {
    pub index: u32,
    pub count: u32,
    /// Whether this shard's part of the sweep is stored (it was not stopped early).
    pub complete: bool,
}

impl Reporter for ConsoleReporter {
    fn render(&self, report: &RunReport) -> Result<String, ReportError> {
        // The table needs point values only: no bootstrap intervals (0 resamples).
        let point_values = Bootstrap {
            resamples: 0,
            ..Bootstrap::default()
        };
        let summary = Summary::of(report, &point_values);
        let rows: Vec<ModelAnalysis> = if summary.per_task.len() > 1 {
            summary
                .per_task
                .iter()
                .flat_map(|(_, ms)| ms.iter().cloned())
                .collect()
        } else {
            summary.overall.clone()
        };
        let run = &report.run;
        let mut out = String::new();
        let done = summary.samples;
        let _ = writeln!(
            out,
            "Run {} ({}): {done}/{} samples",
            run.run_id, run.status, run.planned_samples
        );
        let _ = writeln!(out);
        let multi_task = rows.iter().any(|r| r.task.is_some());
        let mut header = vec!["Model"];
        if multi_task {
            header.insert(0, "Task");
        }
        header.extend([
            "Latency (ms)",
            "TTFT (ms)",
            "Input tokens",
            "Output tokens",
            "Cost (USD)",
            "Verdict",
        ]);
        let mut table: Vec<Vec<String>> = vec![header.iter().map(|s| (*s).to_owned()).collect()];
        for row in &rows {
            let mut cells = Vec::new();
            if multi_task {
                cells.push(row.task.clone().unwrap_or_default());
            }
            cells.push(row.label.clone());
            cells.push(latency(row));
            cells.push(row.ttft_median.map_or("-".into(), |e| thousands(e.value)));
            cells.push(row.input_tokens_median.map_or("-".into(), thousands));
            cells.push(row.output_tokens_median.map_or("-".into(), thousands));
            cells.push(
                row.cost_usd_mean
                    .map_or("n/a".into(), |c| format!("{c:.5}")),
            );
            cells.push(verdict(row));
            table.push(cells);
        }
        write_table(&mut out, &table);
        write_failures(&mut out, report, summary.failures);
        // `+ 0.0` turns the empty sum (-0.0) into 0.0, so no "-0.00000" is printed.
        let total: f64 = rows.iter().map(|r| r.cost_usd_total).sum::<f64>() + 0.0;
        let unknown: u64 = rows.iter().map(|r| r.cost_unknown).sum();
        let _ = writeln!(out);
        let _ = write!(out, "Total cost: {total:.5} USD");
        if unknown > 0 {
            let _ = write!(
                out,
                " ({unknown} samples without a known cost: no price or unknown usage)"
            );
        }
        let _ = writeln!(out);
        write_grader_cost(&mut out, summary.grader_cost);
        if rows.iter().any(|r| r.samples > 1) {
            let _ = writeln!(
                out,
                "Latency, TTFT and tokens are medians over samples (p90 in brackets); cost is the mean per sample."
            );
        }
        let _ = writeln!(out, "Store: {}", run.store_path);
        // A shard's run is the whole sweep's: whatever it reads, other shards may be running.
        if run.status != "finished" || self.shard.is_some() {
            out.push_str(&self.unfinished_hint(run));
        }
        Ok(out)
    }
}

impl ConsoleReporter {
    /// What to do about a run that is not finished: resume it; or, for a shard (finished or
    /// not), run the shard again if it stopped early; the other shards may still be running.
    fn unfinished_hint(&self, run: &llmbench_core::RunInfo) -> String {
        let flags = match &self.store_flags {
            Some(flags) => flags.clone(),
            None if is_postgres_url(&run.store_path) => format!("--store {}", run.store_path),
            None => "--output-dir <dir of the store>".to_owned(),
        };
        let id = &run.run_id;
        match self.shard {
            None => format!("Resume with: llmbench resume {id} {flags}\n"),
            Some(ShardNote {
                index,
                count,
                complete,
            }) => {
                let mine = if complete {
                    format!("Shard {index}/{count} stored all its samples")
                } else {
                    format!(
                        "Shard {index}/{count} stopped before storing all its samples: run the same command again to finish it (it runs only what it lacks)"
                    )
                };
                // Shards on SQLite each have their own store; on PostgreSQL they share one.
                let others = if is_postgres_url(&run.store_path) {
                    ""
                } else {
                    " <the other shards' stores>"
                };
                format!(
                    "{mine}; the run is the whole sweep's, and other shards may still be running. Each shard's progress: llmbench status {id} --shard-count {count} {flags}{others}\n"
                )
            }
        }
    }
}

/// Whether a store's shown path is a PostgreSQL URL.
fn is_postgres_url(path: &str) -> bool {
    path.starts_with("postgres://") || path.starts_with("postgresql://")
}

/// At most this many failing samples are listed under the table.
const MAX_FAILURES: usize = 30;

/// For each sample that failed, the first failing grader's evidence (or the provider error).
/// `failures` counts them all; `report.samples` may hold only some (the first ones in report
/// order among them).
fn write_failures(out: &mut String, report: &RunReport, failures: u64) {
    let mut lines = Vec::new();
    for s in &report.samples {
        let at = format!(
            "{} · {}/{} #{}",
            s.key.provider, s.key.task, s.key.item, s.key.repeat
        );
        if let Some(e) = &s.error {
            lines.push(format!("{at} · error: {}", one_line(&e.to_string())));
        } else if let Some(v) = s.verdict.as_ref().filter(|v| !v.pass) {
            let failing = v.first_failure.and_then(|i| s.grades.get(i));
            match failing {
                // A judge's opinion is never shown as if it were observed evidence.
                Some((grader, grade)) if grade.kind == GradeKind::Judgement => lines.push(format!(
                    "{at} · {grader} (judgement, {}): {}",
                    grade.outcome.as_str(),
                    one_line(&grade.evidence)
                )),
                Some((grader, grade)) => lines.push(format!(
                    "{at} · {grader} ({}): {}",
                    grade.outcome.as_str(),
                    one_line(&grade.evidence)
                )),
                None => lines.push(format!("{at} · score {:.2} below the threshold", v.score)),
            }
        }
    }
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "Failures (first failing grader's evidence):");
    let shown = lines.len().min(MAX_FAILURES);
    for line in lines.iter().take(shown) {
        let _ = writeln!(out, "  {line}");
    }
    let total = failures.max(lines.len() as u64);
    if total > shown as u64 {
        let _ = writeln!(
            out,
            "  ... and {} more (see `llmbench export`)",
            total - shown as u64
        );
    }
}

/// What the graders spent (a judge model), apart from the models' cost above; only when a
/// grade has a cost.
fn write_grader_cost(out: &mut String, grader_cost: Option<(f64, u64)>) {
    let Some((total, n)) = grader_cost else {
        return;
    };
    let gradings = if n == 1 { "grading" } else { "gradings" };
    let _ = writeln!(
        out,
        "Judge cost: {total:.5} USD ({n} {gradings}, not in the table's cost; judgement grades are labelled as such)"
    );
}

/// The text on one line, cut to a readable length.
fn one_line(text: &str) -> String {
    const MAX: usize = 200;
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

fn latency(row: &ModelAnalysis) -> String {
    match (
        row.latency_median.map(|e| e.value),
        row.latency_p90.map(|e| e.value),
    ) {
        (None, _) => "-".into(),
        (Some(m), Some(p90)) if row.samples - row.errors > 1 => {
            format!("{} (p90 {})", thousands(m), thousands(p90))
        }
        (Some(m), _) => thousands(m),
    }
}

fn verdict(row: &ModelAnalysis) -> String {
    let passed = row.pass_rate.map_or(0, |p| p.passed);
    let mut v = format!("{passed}/{} pass", row.samples);
    if !row.failing_graders.is_empty() {
        let failed: Vec<String> = row
            .failing_graders
            .iter()
            .map(|(g, n)| format!("{g} x{n}"))
            .collect();
        let _ = write!(v, "; failed: {}", failed.join(", "));
    }
    if row.errors > 0 {
        let kinds: Vec<String> = row
            .error_kinds
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect();
        let _ = write!(v, "; errors: {}", kinds.join(", "));
    }
    v
}

/// `4422.4` -> `4,422`.
fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let digits = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

fn write_table(out: &mut String, table: &[Vec<String>]) {
    let widths: Vec<usize> = (0..table[0].len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, row) in table.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(c, (cell, &w))| {
                // Numbers right-aligned, text left-aligned.
                let numeric = c > 0
                    && cell.chars().next().is_some_and(|ch| ch.is_ascii_digit())
                    && !cell.contains('/');
                if numeric {
                    format!("{cell:>w$}")
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            let _ = writeln!(out, "|-{}-|", rule.join("-|-"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use llmbench_core::{
        Completion, Grade, GradeOutcome, RunInfo, SampleKey, SampleRecord, SampleStatus,
        StopReason, Usage, Verdict,
    };

    /// One sample failed by a judge (which cost something) after a passing check.
    fn judged_report() -> RunReport {
        let judge = Grade {
            outcome: GradeOutcome::Fail,
            score: 0.2,
            evidence: "judge gpt-j: score 0.2 (fail): misses the race".into(),
            kind: GradeKind::Judgement,
            usage: Some(Usage {
                input_tokens: Some(900),
                output_tokens: Some(40),
                ..Usage::default()
            }),
            cost_usd: Some(0.00125),
        };
        RunReport {
            run: RunInfo {
                run_id: "r1".into(),
                config_path: "c.toml".into(),
                store_path: "s.sqlite".into(),
                status: "finished".into(),
                started_at: "2026-01-01T00:00:00Z".into(),
                planned_samples: 1,
                providers: vec![("p".into(), "m".into(), "M".into())],
                graders: vec![("t".into(), vec!["regex".into(), "judge".into()])],
                pass_at_k: Vec::new(),
            },
            summary: None,
            samples: vec![SampleRecord {
                key: SampleKey {
                    task: "t".into(),
                    item: "i".into(),
                    provider: "p".into(),
                    repeat: 0,
                },
                model: "m".into(),
                status: SampleStatus::Done,
                completion: Some(Completion {
                    text: "answer".into(),
                    stop_reason: StopReason::EndTurn,
                    usage: Usage::default(),
                    timings: Default::default(),
                    response_model: None,
                }),
                error: None,
                grades: vec![
                    ("regex".into(), Grade::pass("matched")),
                    ("judge".into(), judge),
                ],
                verdict: Some(Verdict {
                    pass: false,
                    score: 0.6,
                    first_failure: Some(1),
                }),
                cost_usd: Some(0.002),
                attempts: 1,
                request: None,
            }],
        }
    }

    #[test]
    fn judgement_is_labelled_and_its_cost_is_shown_apart() {
        let out = ConsoleReporter::default().render(&judged_report()).unwrap();
        assert!(
            out.contains(
                "p · t/i #0 · judge (judgement, fail): judge gpt-j: score 0.2 (fail): misses the race"
            ),
            "{out}"
        );
        assert!(out.contains("Total cost: 0.00200 USD"), "{out}");
        assert!(
            out.contains(
                "Judge cost: 0.00125 USD (1 grading, not in the table's cost; judgement grades are labelled as such)"
            ),
            "{out}"
        );
    }

    #[test]
    fn no_judge_cost_line_without_a_cost() {
        let mut report = judged_report();
        report.samples[0].grades[1].1.cost_usd = None;
        let out = ConsoleReporter::default().render(&report).unwrap();
        assert!(!out.contains("Judge cost"), "{out}");
    }

    #[test]
    fn an_unfinished_run_says_how_to_finish_it_naming_its_store() {
        let mut report = judged_report();
        report.run.status = "interrupted".into();
        report.run.store_path = "results/llmbench.sqlite".into();
        let out = ConsoleReporter::default().render(&report).unwrap();
        assert!(
            out.ends_with("Resume with: llmbench resume r1 --output-dir <dir of the store>\n"),
            "{out}"
        );
        report.run.store_path = "postgres://bench@db:5432/results".into();
        let out = ConsoleReporter::default().render(&report).unwrap();
        assert!(
            out.ends_with(
                "Resume with: llmbench resume r1 --store postgres://bench@db:5432/results\n"
            ),
            "{out}"
        );
        let flags = Some("--store postgres://bench@db:5432/results --store-password-env PW".into());
        let out = ConsoleReporter {
            store_flags: flags.clone(),
            shard: None,
        }
        .render(&report)
        .unwrap();
        assert!(
            out.ends_with("llmbench resume r1 --store postgres://bench@db:5432/results --store-password-env PW\n"),
            "{out}"
        );
        // A shard is not resumed: it is run again, and the others may still be running.
        for complete in [true, false] {
            let out = ConsoleReporter {
                store_flags: flags.clone(),
                shard: Some(ShardNote {
                    index: 2,
                    count: 4,
                    complete,
                }),
            }
            .render(&report)
            .unwrap();
            assert!(!out.contains("Resume with"), "{out}");
            assert!(out.contains("other shards may still be running"), "{out}");
            assert!(
                out.contains("llmbench status r1 --shard-count 4 --store postgres://bench@db:5432/results --store-password-env PW\n"),
                "{out}"
            );
            assert_eq!(
                out.contains(
                    "Shard 2/4 stopped before storing all its samples: run the same command again"
                ),
                !complete,
                "{out}"
            );
        }
        report.run.status = "finished".into();
        let out = ConsoleReporter::default().render(&report).unwrap();
        assert!(
            out.ends_with("Store: postgres://bench@db:5432/results\n"),
            "{out}"
        );
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(4422.4), "4,422");
        assert_eq!(thousands(15234.0), "15,234");
        assert_eq!(thousands(121.0), "121");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
    }
}
