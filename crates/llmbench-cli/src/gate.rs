//! `llmbench gate <run> --baseline <run>`: fail CI when a run is worse than its baseline by
//! more than a tolerance, per provider over all tasks.
//!
//! Three checks per provider of the baseline:
//! - pass rate: the drop `baseline - run` (in rate units: 0.05 = 5 points) must not exceed
//!   `--max-pass-rate-drop`;
//! - p95 latency: the relative increase `run / baseline - 1` must not exceed
//!   `--max-p95-latency-increase`;
//! - cost: the relative increase of the mean cost per sample must not exceed
//!   `--max-cost-increase`.
//!
//! Every check prints its numbers, the tolerance, and whether the change is statistically
//! significant (the tests of `llmbench compare`). By default a change beyond the tolerance
//! fails the gate whatever its significance; with `--significant-only` it must also be
//! significant, which keeps small noisy runs from failing CI by chance.
//!
//! A provider missing from the run, or without a graded sample or an answer, fails; a run
//! that did not finish fails; a metric the baseline lacks (no price, say) is skipped and said.

use std::path::PathBuf;

use llmbench_report::format::{percent, points, relative_change, thousands};
use llmbench_report::stats::Bootstrap;

use crate::compare::{change, load_run};
use crate::{EXIT_CONFIG, Failure, print};

/// The gate ran and at least one check failed.
pub(crate) const EXIT_GATE_FAILED: u8 = 5;

#[derive(Debug, clap::Args)]
pub(crate) struct GateArgs {
    /// The run to check (`latest` for the newest).
    run: String,
    /// The run it must not be worse than.
    #[arg(long)]
    baseline: String,
    /// The largest allowed drop in pass rate, as a rate (0.05 = 5 percentage points).
    #[arg(long, default_value_t = 0.05)]
    max_pass_rate_drop: f64,
    /// The largest allowed relative increase of p95 latency (0.2 = 20%).
    #[arg(long, default_value_t = 0.2)]
    max_p95_latency_increase: f64,
    /// The largest allowed relative increase of the mean cost per sample (0.1 = 10%).
    #[arg(long, default_value_t = 0.1)]
    max_cost_increase: f64,
    /// Fail a check only when its change is also statistically significant (alpha 0.05).
    #[arg(long)]
    significant_only: bool,
    /// The results store holding the run (and the baseline, unless `--baseline-output-dir`).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// The results store holding the baseline, when it is not the run's.
    #[arg(long)]
    baseline_output_dir: Option<PathBuf>,
}

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Check {
    pub provider: String,
    pub what: &'static str,
    /// `None`: skipped (the baseline has nothing to compare with).
    pub passed: Option<bool>,
    pub detail: String,
}

/// Tolerances, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Tolerances {
    pub max_pass_rate_drop: f64,
    pub max_p95_latency_increase: f64,
    pub max_cost_increase: f64,
    pub significant_only: bool,
}

pub(crate) fn run(args: GateArgs) -> Result<u8, Failure> {
    let tolerances = Tolerances {
        max_pass_rate_drop: args.max_pass_rate_drop,
        max_p95_latency_increase: args.max_p95_latency_increase,
        max_cost_increase: args.max_cost_increase,
        significant_only: args.significant_only,
    };
    for (name, value) in [
        ("--max-pass-rate-drop", tolerances.max_pass_rate_drop),
        (
            "--max-p95-latency-increase",
            tolerances.max_p95_latency_increase,
        ),
        ("--max-cost-increase", tolerances.max_cost_increase),
    ] {
        if !(value.is_finite() && value >= 0.0) {
            return Err(Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!("{name} must be a number of 0 or more, got {value}"),
            ));
        }
    }
    let baseline_dir = args.baseline_output_dir.or_else(|| args.output_dir.clone());
    let run = load_run(args.output_dir, &args.run)?;
    let baseline = load_run(baseline_dir, &args.baseline)?;
    let (text, failed) = evaluate(&baseline, &run, &tolerances, &Bootstrap::default());
    print(&text);
    Ok(if failed { EXIT_GATE_FAILED } else { 0 })
}

/// All checks, as printed, and whether the gate failed.
pub(crate) fn evaluate(
    baseline: &llmbench_core::RunReport,
    run: &llmbench_core::RunReport,
    t: &Tolerances,
    bootstrap: &Bootstrap,
) -> (String, bool) {
    let mut checks: Vec<Check> = Vec::new();
    let fail_if =
        |beyond: bool, significant: bool| !(beyond && (significant || !t.significant_only));
    if run.run.status != "finished" {
        checks.push(Check {
            provider: "run".into(),
            what: "status",
            passed: Some(false),
            detail: format!(
                "the run is {}, not finished: its numbers would be partial",
                run.run.status
            ),
        });
    }
    for (provider, _, _) in &baseline.run.providers {
        let c = change(baseline, run, provider, None, bootstrap);
        if !c.in_new {
            checks.push(Check {
                provider: provider.clone(),
                what: "present",
                passed: Some(false),
                detail: "in the baseline but not in the run".into(),
            });
            continue;
        }
        let mut push = |what: &'static str, passed: Option<bool>, detail: String| {
            checks.push(Check {
                provider: provider.clone(),
                what,
                passed,
                detail,
            });
        };
        match &c.pass {
            Some(p) => {
                let drop = p.old_rate() - p.new_rate();
                let beyond = drop > t.max_pass_rate_drop + 1e-9;
                push(
                    "pass rate",
                    Some(fail_if(beyond, p.significant)),
                    format!(
                        "{}/{} ({}) -> {}/{} ({}): {}, {} a drop of {} allowed [{}: {}]",
                        p.old.0,
                        p.old.1,
                        percent(p.old_rate()),
                        p.new.0,
                        p.new.1,
                        percent(p.new_rate()),
                        points(-drop),
                        if beyond { "beyond" } else { "within" },
                        points(t.max_pass_rate_drop).trim_start_matches('+'),
                        p.test,
                        if p.significant {
                            "significant"
                        } else {
                            "not significant"
                        }
                    ),
                );
            }
            None if samples_graded(baseline, provider) => push(
                "pass rate",
                Some(false),
                "no graded sample in the run".into(),
            ),
            None => push(
                "pass rate",
                None,
                "skipped: no graded sample in the baseline".into(),
            ),
        }
        for (what, metric, max, unit) in [
            (
                "p95 latency",
                &c.p95_latency_ms,
                t.max_p95_latency_increase,
                "ms",
            ),
            ("cost", &c.cost_usd, t.max_cost_increase, "USD per sample"),
        ] {
            let fmt = |x: f64| {
                if unit == "ms" {
                    thousands(x)
                } else {
                    format!("{x:.5}")
                }
            };
            match metric {
                Some(m) if m.old > 0.0 => {
                    let increase = m.new / m.old - 1.0;
                    let beyond = increase > max + 1e-9;
                    let sig = m.significant();
                    push(
                        what,
                        Some(fail_if(beyond, sig)),
                        format!(
                            "{} -> {} {unit}: {}, {} +{:.1}% allowed [{}]",
                            fmt(m.old),
                            fmt(m.new),
                            relative_change(m.new, m.old).unwrap_or_default(),
                            if beyond { "beyond" } else { "within" },
                            max * 100.0,
                            m.test_text("", &|x| fmt(x))
                        ),
                    );
                }
                Some(_) => push(what, None, "skipped: the baseline's value is 0".into()),
                None => {
                    let baseline_has = metric_in(baseline, provider, what);
                    if baseline_has {
                        push(
                            what,
                            Some(false),
                            format!(
                                "unknown in the run but known in the baseline ({})",
                                if what == "cost" {
                                    "no price, or unknown usage"
                                } else {
                                    "no answer"
                                }
                            ),
                        );
                    } else {
                        push(
                            what,
                            None,
                            format!(
                                "skipped: unknown in the baseline ({})",
                                if what == "cost" {
                                    "no price, or unknown usage"
                                } else {
                                    "no answer"
                                }
                            ),
                        );
                    }
                }
            }
        }
    }
    let failed = checks.iter().filter(|c| c.passed == Some(false)).count();
    let ran = checks.iter().filter(|c| c.passed.is_some()).count();
    let mut out = format!(
        "gate: run {} against baseline {}; tolerances: pass rate drop {}, p95 latency +{:.1}%, cost +{:.1}%{}\n",
        run.run.run_id,
        baseline.run.run_id,
        points(t.max_pass_rate_drop).trim_start_matches('+'),
        t.max_p95_latency_increase * 100.0,
        t.max_cost_increase * 100.0,
        if t.significant_only {
            "; a change fails only when significant"
        } else {
            ""
        }
    );
    for c in &checks {
        let status = match c.passed {
            Some(true) => "PASS",
            Some(false) => "FAIL",
            None => "SKIP",
        };
        out.push_str(&format!(
            "{status}  {}  {}: {}\n",
            c.provider, c.what, c.detail
        ));
    }
    if failed > 0 {
        out.push_str(&format!("gate: FAILED, {failed} of {ran} checks\n"));
    } else {
        out.push_str(&format!("gate: passed, {ran} checks\n"));
    }
    (out, failed > 0)
}

fn samples_graded(r: &llmbench_core::RunReport, provider: &str) -> bool {
    r.samples
        .iter()
        .any(|s| s.key.provider == provider && s.verdict.is_some())
}

fn metric_in(r: &llmbench_core::RunReport, provider: &str, what: &str) -> bool {
    r.samples
        .iter()
        .filter(|s| s.key.provider == provider)
        .any(|s| {
            if what == "cost" {
                s.cost_usd.is_some()
            } else {
                s.completion.is_some()
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmbench_report::fixtures::repeated_run;

    fn defaults() -> Tolerances {
        Tolerances {
            max_pass_rate_drop: 0.05,
            max_p95_latency_increase: 0.2,
            max_cost_increase: 0.1,
            significant_only: false,
        }
    }

    #[test]
    fn identical_runs_pass() {
        let r = repeated_run();
        let (text, failed) = evaluate(&r, &r, &defaults(), &Bootstrap::default());
        assert!(!failed, "{text}");
        assert!(text.ends_with("gate: passed, 9 checks\n"), "{text}");
    }

    #[test]
    fn a_slower_model_fails_and_says_why() {
        let baseline = repeated_run();
        let mut run = repeated_run();
        for s in run.samples.iter_mut().filter(|s| s.key.provider == "haiku") {
            if let Some(c) = &mut s.completion {
                c.timings.latency = c.timings.latency * 3 / 2;
            }
        }
        let (text, failed) = evaluate(&baseline, &run, &defaults(), &Bootstrap::default());
        assert!(failed);
        let line = text
            .lines()
            .find(|l| l.starts_with("FAIL  haiku  p95 latency"))
            .unwrap();
        assert!(
            line.contains("+50.0%, beyond +20.0% allowed [paired bootstrap"),
            "{line}"
        );
        assert!(line.ends_with(": significant]"), "{line}");
        assert!(text.ends_with("gate: FAILED, 1 of 9 checks\n"), "{text}");
    }

    #[test]
    fn significant_only_forgives_noise() {
        let baseline = repeated_run();
        let mut run = repeated_run();
        // Sonnet loses one pass: 18/20 -> 17/20, beyond a 0-point tolerance but not significant.
        if let Some(v) = run
            .samples
            .iter_mut()
            .find(|s| s.key.provider == "sonnet" && s.verdict.as_ref().is_some_and(|v| v.pass))
            .and_then(|s| s.verdict.as_mut())
        {
            v.pass = false;
        }
        let strict = Tolerances {
            max_pass_rate_drop: 0.0,
            ..defaults()
        };
        assert!(evaluate(&baseline, &run, &strict, &Bootstrap::default()).1);
        let lenient = Tolerances {
            significant_only: true,
            ..strict
        };
        let (text, failed) = evaluate(&baseline, &run, &lenient, &Bootstrap::default());
        assert!(!failed, "{text}");
        assert!(text.contains("PASS  sonnet  pass rate: 18/20 (90%) -> 17/20 (85%): -5 points, beyond a drop of 0 points allowed"), "{text}");
    }

    #[test]
    fn a_missing_model_or_an_unfinished_run_fails() {
        let baseline = repeated_run();
        let mut run = repeated_run();
        run.run.providers.retain(|(p, _, _)| p != "opus");
        run.samples.retain(|s| s.key.provider != "opus");
        run.run.status = "interrupted".into();
        let (text, failed) = evaluate(&baseline, &run, &defaults(), &Bootstrap::default());
        assert!(failed);
        assert!(
            text.contains("FAIL  opus  present: in the baseline but not in the run"),
            "{text}"
        );
        assert!(
            text.contains("FAIL  run  status: the run is interrupted"),
            "{text}"
        );
    }
}
