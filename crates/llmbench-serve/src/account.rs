//! Accounting for a sweep that ended, from what the store holds: how it ended
//! ([`sweep_outcome`]), its end and duration, and the per-sweep totals of a run that ran every
//! sample ([`account_run`]). Used by `serve` after each sweep and by the Pushgateway push of a
//! one-shot run.

use std::collections::HashMap;

use llmbench_config::Config;
use llmbench_metrics::{EndedRun, Metrics, ModelLabels, SweepOutcome, SweepTotals};
use llmbench_runner::Shard;
use llmbench_store::{RunAggregates, RunStatus, Store, StoreError};

/// Classifies a run that is no longer running: a finished run succeeded when every planned
/// sample is stored and at most `max_error_ratio` of them ended in an error.
pub fn sweep_outcome(
    status: RunStatus,
    planned: u64,
    stored: u64,
    errors: u64,
    max_error_ratio: f64,
) -> SweepOutcome {
    match status {
        RunStatus::Interrupted | RunStatus::Running => SweepOutcome::Interrupted,
        RunStatus::Failed => SweepOutcome::Failure,
        RunStatus::Finished => {
            let too_many = errors as f64 > max_error_ratio * planned.max(1) as f64;
            if stored >= planned && !too_many {
                SweepOutcome::Success
            } else {
                SweepOutcome::Failure
            }
        }
    }
}

/// Sets the sweep metrics of `sweep` from run `run_id` as stored (all its samples, those
/// stored before a resume included): its end and duration, and for a run that ran every
/// sample, the per-sweep totals. Returns how the run ended; the caller counts it.
///
/// For one shard of a sharded run (`llmbench run --shard I/N --push-gateway`), `part` is the
/// shard and its planned samples: only the shard's samples count, and its part succeeded
/// when all of them are stored (the run as a whole stays `interrupted` until every shard's
/// are).
pub fn account_run(
    metrics: &Metrics,
    store: &Store,
    run_id: &str,
    sweep: &str,
    providers: &HashMap<String, ModelLabels>,
    max_error_ratio: f64,
    part: Option<(Shard, u64)>,
) -> Result<SweepOutcome, StoreError> {
    let run = store.run(run_id)?;
    let mut report = store.report(run_id)?;
    let (status, planned) = match part {
        None => (run.status, run.planned_samples),
        Some((shard, planned)) => {
            report.samples.retain(|s| shard.contains(&s.key.id()));
            // The run's status is the whole sweep's; the shard's part is finished when
            // every one of its samples is stored.
            let status = match run.status {
                RunStatus::Failed => RunStatus::Failed,
                _ if report.samples.len() as u64 >= planned => RunStatus::Finished,
                _ => RunStatus::Interrupted,
            };
            (status, planned)
        }
    };
    let totals = SweepTotals::of_report(&report, providers);
    let outcome = sweep_outcome(
        status,
        planned,
        totals.samples,
        totals.errors,
        max_error_ratio,
    );
    let now = now_unix();
    let ended = match part {
        // A shard's part ends when it does, not when the last shard ends the run.
        Some(_) => now,
        None => run
            .finished_at
            .as_deref()
            .and_then(unix_seconds)
            .unwrap_or(now),
    };
    metrics.set_ended_run(
        sweep,
        &EndedRun {
            outcome,
            created: unix_seconds(&run.created_at).unwrap_or(now),
            ended,
        },
    );
    if status == RunStatus::Finished {
        metrics.set_sweep_totals(sweep, &totals);
    }
    Ok(outcome)
}

/// The per-sweep totals of a run from its aggregates: what [`SweepTotals::of_report`] sums
/// from its samples (costs and token counts per model, passes per model and task), read
/// from one row per group. `providers` maps provider entry names to labels; names it lacks
/// get [`ModelLabels::unknown`].
pub fn totals_of_aggregates(
    aggregates: &RunAggregates,
    providers: &HashMap<String, ModelLabels>,
) -> SweepTotals {
    let mut totals = SweepTotals::default();
    for g in &aggregates.groups {
        let labels = providers
            .get(&g.provider)
            .cloned()
            .unwrap_or_else(|| ModelLabels::unknown(&g.provider, &g.model));
        totals.samples += g.samples;
        totals.errors += g.errors;
        if let Some(cost) = g.cost_usd {
            *totals.cost_usd.entry(labels.clone()).or_default() += cost;
        }
        if let Some(input) = g.tokens.total_input {
            *totals.tokens.entry((labels.clone(), "input")).or_default() += input as f64;
        }
        if let Some(output) = g.tokens.output {
            *totals.tokens.entry((labels.clone(), "output")).or_default() += output as f64;
        }
        let entry = totals.passed.entry((labels, g.task.clone())).or_default();
        entry.0 += g.passes;
        entry.1 += g.samples;
    }
    totals
}

/// Sets `llmbench_build_info` for `config`: this version and the date of its prices.
pub fn set_build_info(metrics: &Metrics, config: &Config) {
    metrics.set_build_info(&price_table_date(config));
}

/// The current Unix time in seconds.
pub fn now_unix() -> f64 {
    jiff::Timestamp::now().as_millisecond() as f64 / 1000.0
}

/// The oldest `as-of` date of a config's prices, or `unknown`.
pub fn price_table_date(config: &Config) -> String {
    config
        .providers
        .iter()
        .filter_map(|p| p.price.as_ref()?.as_of.clone())
        .min()
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Parses the store's RFC 3339 UTC times into Unix seconds.
pub fn unix_seconds(rfc3339: &str) -> Option<f64> {
    let t: jiff::Timestamp = rfc3339.parse().ok()?;
    Some(t.as_millisecond() as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes() {
        use RunStatus::*;
        assert_eq!(
            sweep_outcome(Finished, 10, 10, 1, 0.1),
            SweepOutcome::Success
        );
        assert_eq!(
            sweep_outcome(Finished, 10, 10, 2, 0.1),
            SweepOutcome::Failure
        );
        assert_eq!(
            sweep_outcome(Finished, 10, 9, 0, 0.1),
            SweepOutcome::Failure
        );
        assert_eq!(
            sweep_outcome(Interrupted, 10, 3, 0, 0.1),
            SweepOutcome::Interrupted
        );
        assert_eq!(sweep_outcome(Failed, 10, 3, 0, 0.1), SweepOutcome::Failure);
    }

    #[test]
    fn parses_store_times() {
        assert_eq!(unix_seconds("1970-01-01T00:00:01.500Z"), Some(1.5));
        assert_eq!(unix_seconds("yesterday"), None);
    }
}
