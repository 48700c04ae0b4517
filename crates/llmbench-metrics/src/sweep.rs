//! Sweep-level metrics: how a sweep ended, when, and the per-sweep totals of the last
//! sweep that ran every sample.

use std::collections::{BTreeMap, HashMap};

use llmbench_core::{RunReport, SampleStatus};

use crate::Metrics;
use crate::labels::{ModelLabels, sample_result};
use crate::table::{MetricId, SWEEP};

/// How a sweep ended, for `llmbench_sweeps_total{result}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepOutcome {
    /// Every sample ran, and few enough ended in a provider error.
    Success,
    /// Stopped on purpose (a signal); it can be resumed.
    Interrupted,
    /// Could not start, stopped by an error, or too many samples failed.
    Failure,
}

impl SweepOutcome {
    pub const ALL: [SweepOutcome; 3] = [Self::Success, Self::Interrupted, Self::Failure];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Interrupted => "interrupted",
            Self::Failure => "failure",
        }
    }
}

/// A run that ended, as the sweep timestamps need it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EndedRun {
    pub outcome: SweepOutcome,
    /// Unix seconds.
    pub created: f64,
    /// Unix seconds.
    pub ended: f64,
}

/// The totals of one run, per model and per task.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SweepTotals {
    pub cost_usd: BTreeMap<ModelLabels, f64>,
    /// Per model and `input` / `output`.
    pub tokens: BTreeMap<(ModelLabels, &'static str), f64>,
    /// Per model and task: (passed, samples).
    pub passed: BTreeMap<(ModelLabels, String), (u64, u64)>,
    pub samples: u64,
    pub errors: u64,
}

impl SweepTotals {
    /// Sums a run's stored samples. `providers` maps provider entry names to labels; names
    /// it lacks get [`ModelLabels::unknown`].
    pub fn of_report(report: &RunReport, providers: &HashMap<String, ModelLabels>) -> Self {
        let mut totals = Self::default();
        for sample in &report.samples {
            let labels = providers
                .get(&sample.key.provider)
                .cloned()
                .unwrap_or_else(|| ModelLabels::unknown(&sample.key.provider, &sample.model));
            totals.samples += 1;
            totals.errors += u64::from(sample.status == SampleStatus::Error);
            if let Some(cost) = sample.cost_usd {
                *totals.cost_usd.entry(labels.clone()).or_default() += cost;
            }
            if let Some(c) = &sample.completion {
                if let Some(input) = c.usage.total_input() {
                    *totals.tokens.entry((labels.clone(), "input")).or_default() += input as f64;
                }
                if let Some(output) = c.usage.output_tokens {
                    *totals.tokens.entry((labels.clone(), "output")).or_default() += output as f64;
                }
            }
            let pass = sample_result(sample) == "pass";
            let entry = totals
                .passed
                .entry((labels, sample.key.task.clone()))
                .or_default();
            entry.0 += u64::from(pass);
            entry.1 += 1;
        }
        totals
    }
}

impl Metrics {
    /// Counts a sweep that ended (`llmbench_sweeps_total`).
    pub fn count_sweep(&self, sweep: &str, outcome: SweepOutcome) {
        self.add(MetricId::Sweeps, &[sweep, outcome.as_str()], 1.0);
    }

    /// Creates a sweep's process counters at 0 and sets its interval, so that they exist
    /// before the first sweep ends.
    pub fn init_sweep(&self, sweep: &str, interval_seconds: Option<f64>) {
        for outcome in SweepOutcome::ALL {
            self.touch(MetricId::Sweeps, &[sweep, outcome.as_str()]);
        }
        self.touch(MetricId::SweepsSkipped, &[sweep]);
        self.set(MetricId::SweepInProgress, &[sweep], 0.0);
        if let Some(interval) = interval_seconds {
            self.set(MetricId::SweepInterval, &[sweep], interval);
        }
    }

    /// Records when a run ended: the last completion time and duration for a sweep that
    /// succeeded or failed, and the last success time for one that succeeded. Interrupted
    /// runs change nothing (they are resumed later).
    pub fn set_ended_run(&self, sweep: &str, run: &EndedRun) {
        if run.outcome == SweepOutcome::Interrupted {
            return;
        }
        self.set(MetricId::LastCompletion, &[sweep], run.ended);
        self.set(
            MetricId::SweepDuration,
            &[sweep],
            (run.ended - run.created).max(0.0),
        );
        if run.outcome == SweepOutcome::Success {
            self.set(MetricId::LastSuccess, &[sweep], run.ended);
        }
    }

    /// Replaces the per-sweep totals of `sweep` with those of its latest complete run.
    pub fn set_sweep_totals(&self, sweep: &str, totals: &SweepTotals) {
        for id in [
            MetricId::SweepCost,
            MetricId::SweepTokens,
            MetricId::SweepPassRatio,
        ] {
            self.remove_where(id, SWEEP, sweep);
        }
        for (l, cost) in &totals.cost_usd {
            self.set(
                MetricId::SweepCost,
                &[sweep, &l.family, &l.provider, &l.model],
                *cost,
            );
        }
        for ((l, kind), n) in &totals.tokens {
            self.set(
                MetricId::SweepTokens,
                &[sweep, &l.family, &l.provider, &l.model, kind],
                *n,
            );
        }
        for ((l, task), (passed, samples)) in &totals.passed {
            self.set(
                MetricId::SweepPassRatio,
                &[sweep, &l.family, &l.provider, &l.model, task],
                *passed as f64 / (*samples).max(1) as f64,
            );
        }
    }

    /// Sets `llmbench_build_info`: this version, and `price_table_date`, the oldest date of
    /// the config's prices (`YYYY-MM-DD`, or `unknown`).
    pub fn set_build_info(&self, price_table_date: &str) {
        self.set(
            MetricId::BuildInfo,
            &[env!("CARGO_PKG_VERSION"), price_table_date],
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_outcomes() {
        let m = Metrics::new();
        let run = |outcome, created, ended| EndedRun {
            outcome,
            created,
            ended,
        };
        m.set_ended_run("s", &run(SweepOutcome::Success, 100.0, 130.0));
        m.set_ended_run("s", &run(SweepOutcome::Failure, 200.0, 210.0));
        m.set_ended_run("s", &run(SweepOutcome::Interrupted, 300.0, 310.0));
        assert_eq!(m.value(MetricId::LastSuccess, &["s"]), 130.0);
        assert_eq!(m.value(MetricId::LastCompletion, &["s"]), 210.0);
        assert_eq!(m.value(MetricId::SweepDuration, &["s"]), 10.0);
    }
}
