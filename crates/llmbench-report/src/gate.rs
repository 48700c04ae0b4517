//! The checks of `llmbench gate`: is a run worse than its baseline by more than a tolerance,
//! per provider over all tasks.
//!
//! Three checks per provider of the baseline:
//! - pass rate: the drop `baseline - run` (in rate units: 0.05 = 5 points) must not exceed
//!   [`Tolerances::max_pass_rate_drop`];
//! - p95 latency: the relative increase `run / baseline - 1` must not exceed
//!   [`Tolerances::max_p95_latency_increase`];
//! - cost: the relative increase of the mean cost per sample must not exceed
//!   [`Tolerances::max_cost_increase`].
//!
//! Every check states its numbers, the tolerance, and whether the change is statistically
//! significant (the tests of [`crate::compare`]). By default a change beyond the tolerance
//! fails the gate whatever its significance; with [`Tolerances::significant_only`] it must
//! also be significant, which keeps small noisy runs from failing CI by chance.
//!
//! A provider missing from the run, or without a graded sample or an answer, fails; a run
//! that did not finish fails; a metric the baseline lacks (no price, say) is skipped and said.

use llmbench_core::RunReport;

use crate::compare::change;
use crate::format::{percent, points, relative_change, thousands};
use crate::stats::Bootstrap;

/// One check's result.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub provider: String,
    pub what: &'static str,
    /// `None`: skipped (the baseline has nothing to compare with).
    pub passed: Option<bool>,
    pub detail: String,
}

/// How much worse a run may be than its baseline (check with [`Tolerances::validate`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Tolerances {
    pub max_pass_rate_drop: f64,
    pub max_p95_latency_increase: f64,
    pub max_cost_increase: f64,
    pub significant_only: bool,
}

/// A tolerance that is not a number of 0 or more.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("tolerance `{name}` must be a number of 0 or more, got {value}")]
pub struct ToleranceError {
    /// The tolerance's name in kebab case (`max-pass-rate-drop`), as its command-line flag.
    pub name: &'static str,
    pub value: f64,
}

impl Tolerances {
    /// Fail on the first tolerance that is negative, infinite or NaN.
    pub fn validate(&self) -> Result<(), ToleranceError> {
        for (name, value) in [
            ("max-pass-rate-drop", self.max_pass_rate_drop),
            ("max-p95-latency-increase", self.max_p95_latency_increase),
            ("max-cost-increase", self.max_cost_increase),
        ] {
            if !(value.is_finite() && value >= 0.0) {
                return Err(ToleranceError { name, value });
            }
        }
        Ok(())
    }
}

/// All checks, as printed, and whether the gate failed.
pub fn evaluate(
    baseline: &RunReport,
    run: &RunReport,
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
        // Named by label, as `llmbench compare` and the reports name models.
        let name = c.label.clone();
        if !c.in_new {
            checks.push(Check {
                provider: name,
                what: "present",
                passed: Some(false),
                detail: "in the baseline but not in the run".into(),
            });
            continue;
        }
        let mut push = |what: &'static str, passed: Option<bool>, detail: String| {
            checks.push(Check {
                provider: name.clone(),
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

fn samples_graded(r: &RunReport, provider: &str) -> bool {
    r.samples
        .iter()
        .any(|s| s.key.provider == provider && s.verdict.is_some())
}

fn metric_in(r: &RunReport, provider: &str, what: &str) -> bool {
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
    use crate::fixtures::repeated_run;

    fn defaults() -> Tolerances {
        Tolerances {
            max_pass_rate_drop: 0.05,
            max_p95_latency_increase: 0.2,
            max_cost_increase: 0.1,
            significant_only: false,
        }
    }

    #[test]
    fn tolerances_must_be_numbers_of_0_or_more() {
        assert_eq!(defaults().validate(), Ok(()));
        let zero = Tolerances {
            max_pass_rate_drop: 0.0,
            max_p95_latency_increase: 0.0,
            max_cost_increase: 0.0,
            significant_only: true,
        };
        assert_eq!(zero.validate(), Ok(()));
        let negative = Tolerances {
            max_p95_latency_increase: -0.1,
            ..defaults()
        };
        let e = negative.validate().unwrap_err();
        assert_eq!(e.name, "max-p95-latency-increase");
        assert_eq!(
            e.to_string(),
            "tolerance `max-p95-latency-increase` must be a number of 0 or more, got -0.1"
        );
        let nan = Tolerances {
            max_cost_increase: f64::NAN,
            ..defaults()
        };
        assert_eq!(nan.validate().unwrap_err().name, "max-cost-increase");
        let infinite = Tolerances {
            max_pass_rate_drop: f64::INFINITY,
            ..defaults()
        };
        assert_eq!(infinite.validate().unwrap_err().name, "max-pass-rate-drop");
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
            .find(|l| l.starts_with("FAIL  Claude Haiku 4.5  p95 latency"))
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
        assert!(text.contains("PASS  Claude Sonnet 4.6  pass rate: 18/20 (90%) -> 17/20 (85%): -5 points, beyond a drop of 0 points allowed"), "{text}");
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
            text.contains("FAIL  Claude Opus 4.7  present: in the baseline but not in the run"),
            "{text}"
        );
        assert!(
            text.contains("FAIL  run  status: the run is interrupted"),
            "{text}"
        );
    }
}
