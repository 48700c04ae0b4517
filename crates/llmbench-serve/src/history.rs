//! What the results store already holds about a config's sweep: the metrics of its stored
//! samples, when its runs ended, and the run to resume.
//!
//! Store-derived metrics are rebuilt from here when `serve` starts, from each run's
//! aggregates (one row per run x provider x model x task, [`Store::run_aggregates`]; computed
//! from the samples, once, for a run that lacks them): every stored sample of every run of
//! the config counts once, exactly as replaying it would (histograms included, see
//! [`crate::record_aggregates`]), but start-up reads a few rows per run, not every sample,
//! so it does not grow with the number of stored samples. A resumed run then skips the
//! samples it has, so each stored sample is counted once, however often the process was
//! killed.

use std::collections::HashMap;

use jiff::Timestamp;
use llmbench_config::Config;
use llmbench_metrics::{EndedRun, Metrics, ModelLabels, SweepTotals, provider_family};
use llmbench_store::{RunStatus, Store, StoreError, StoredRun};

use crate::{
    provider_labels, record_aggregates, sweep_outcome, totals_of_aggregates, unix_seconds,
};

/// What [`restore`] found.
#[derive(Debug, Default)]
pub(crate) struct History {
    /// The config's latest run, when it did not finish (a crash or a signal stopped it) and
    /// the config text is unchanged: it is resumed before anything else.
    pub resume: Option<String>,
    /// When the latest run of the config was created.
    pub last_created: Option<Timestamp>,
    pub runs: usize,
    pub samples: u64,
}

/// Whether a stored run is a run of `config`: the same config file.
pub(crate) fn is_run_of(run: &StoredRun, config: &Config) -> bool {
    run.config_path == config.path.display().to_string()
}

/// Rebuilds the store-derived metrics of `config`'s sweep from `store`.
pub(crate) fn restore(
    store: &Store,
    config: &Config,
    sweep: &str,
    max_error_ratio: f64,
    metrics: &Metrics,
) -> Result<History, StoreError> {
    let mut history = History::default();
    let current = provider_labels(config);
    let mut last_complete: Option<SweepTotals> = None;
    for row in store.list_runs()? {
        let run = store.run(&row.id)?;
        if !is_run_of(&run, config) {
            continue;
        }
        history.runs += 1;
        let providers = if run.config_toml == config.source {
            current.clone()
        } else {
            stored_provider_labels(&run)
        };
        let aggregates = store.run_aggregates(&run.id)?;
        history.samples += record_aggregates(metrics, &providers, &aggregates);
        if let Ok(created) = run.created_at.parse::<Timestamp>() {
            history.last_created = history.last_created.max(Some(created));
        }
        match run.status {
            RunStatus::Running | RunStatus::Interrupted => {
                // Resume what a crash or a signal stopped, not what the spend cap stopped.
                let by_signal = run.status == RunStatus::Running
                    || run
                        .status_reason
                        .as_deref()
                        .is_none_or(|r| r == "interrupted");
                // A run whose samples retention deleted cannot be resumed.
                history.resume = (run.config_toml == config.source
                    && by_signal
                    && run.samples_deleted_at.is_none())
                .then(|| run.id.clone());
            }
            RunStatus::Finished | RunStatus::Failed => {
                history.resume = None;
                let outcome = sweep_outcome(
                    run.status,
                    row.planned_samples,
                    row.done + row.errors,
                    row.errors,
                    max_error_ratio,
                );
                let times = (
                    unix_seconds(&run.created_at),
                    run.finished_at.as_deref().and_then(unix_seconds),
                );
                if let (Some(created), Some(ended)) = times {
                    metrics.set_ended_run(
                        sweep,
                        &EndedRun {
                            outcome,
                            created,
                            ended,
                        },
                    );
                }
                if run.status == RunStatus::Finished {
                    last_complete = Some(totals_of_aggregates(&aggregates, &providers));
                }
            }
        }
    }
    if let Some(totals) = &last_complete {
        metrics.set_sweep_totals(sweep, totals);
    }
    Ok(history)
}

/// Provider labels from a stored run's own config text (the config file has changed
/// since): `providers.NAME.plugin` and `.model`, read without validating the rest.
fn stored_provider_labels(run: &StoredRun) -> HashMap<String, ModelLabels> {
    let table: toml::Table = toml::from_str(&run.config_toml).unwrap_or_default();
    let plugins = table.get("providers").and_then(|p| p.as_table());
    run.providers
        .iter()
        .map(|(name, model, _label)| {
            let plugin = plugins
                .and_then(|p| p.get(name))
                .and_then(|p| p.get("plugin"))
                .and_then(|p| p.as_str())
                .unwrap_or("");
            (
                name.clone(),
                ModelLabels {
                    family: provider_family(plugin),
                    provider: name.clone(),
                    model: model.clone(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use llmbench_core::{
        Completion, Grade, GradeKind, ProviderError, ProviderErrorKind, SampleKey, SampleRecord,
        SampleStatus, StopReason, Timings, Usage, Verdict,
    };
    use llmbench_metrics::MetricId;
    use llmbench_store::{AttemptRecord, NewRun};

    use super::*;

    const CONFIG: &str = r#"
[providers.p]
plugin = "provider-openai"
model = "m"

[tasks.t]
prompt = "hi"
items = [{ id = "a" }, { id = "b" }]
"#;

    fn sample(item: &str, ok: bool) -> SampleRecord {
        SampleRecord {
            key: SampleKey {
                task: "t".into(),
                item: item.into(),
                provider: "p".into(),
                repeat: 0,
            },
            model: "m".into(),
            status: if ok {
                SampleStatus::Done
            } else {
                SampleStatus::Error
            },
            completion: ok.then(|| Completion {
                text: "x".into(),
                stop_reason: StopReason::EndTurn,
                usage: Usage {
                    input_tokens: Some(10),
                    output_tokens: Some(5),
                    ..Usage::default()
                },
                timings: Timings::default(),
                response_model: None,
            }),
            error: (!ok).then(|| ProviderError::new(ProviderErrorKind::Server, "boom")),
            grades: Vec::new(),
            verdict: ok.then_some(Verdict {
                pass: true,
                score: 1.0,
                first_failure: None,
            }),
            cost_usd: ok.then_some(0.5),
            attempts: 1,
            request: None,
        }
    }

    fn attempt(ok: bool) -> AttemptRecord {
        AttemptRecord {
            outcome: if ok { "ok" } else { "server" }.into(),
            http_status: (!ok).then_some(500),
            wait_seconds: 0.0,
            duration_seconds: 0.1,
        }
    }

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        config: Config,
    }

    fn fixture() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.toml");
        std::fs::write(&path, CONFIG).unwrap();
        let config = llmbench_config::load(&path).unwrap();
        let mut store = Store::open_in_dir(&dir.path().join("results")).unwrap();
        store.set_histogram_buckets(crate::histogram_buckets());
        Fixture {
            _dir: dir,
            store,
            config,
        }
    }

    fn add_run(f: &mut Fixture, id: &str, samples: &[(&str, bool)], status: RunStatus) {
        f.store
            .create_run(&NewRun {
                id: id.into(),
                created_at: llmbench_store::utc_now_rfc3339(),
                config_path: f.config.path.display().to_string(),
                config_toml: f.config.source.clone(),
                prices_json: serde_json::Value::Null,
                planned_samples: 2,
                providers: vec![("p".into(), "m".into(), "m".into())],
                graders: vec![("t".into(), vec![])],
                pass_at_k: Vec::new(),
            })
            .unwrap();
        for (item, ok) in samples {
            f.store
                .record_sample(id, &sample(item, *ok), &[attempt(*ok)])
                .unwrap();
        }
        if status != RunStatus::Running {
            let reason = (status == RunStatus::Interrupted).then_some("interrupted");
            f.store.set_run_status(id, status, reason).unwrap();
        }
    }

    /// A finished run of two answered samples, each changed by `edit` before it is stored.
    fn add_run_with(f: &mut Fixture, id: &str, edit: impl Fn(&mut SampleRecord)) {
        f.store
            .create_run(&NewRun {
                id: id.into(),
                created_at: llmbench_store::utc_now_rfc3339(),
                config_path: f.config.path.display().to_string(),
                config_toml: f.config.source.clone(),
                prices_json: serde_json::Value::Null,
                planned_samples: 2,
                providers: vec![("p".into(), "m".into(), "m".into())],
                graders: vec![("t".into(), vec!["judge".into()])],
                pass_at_k: Vec::new(),
            })
            .unwrap();
        for item in ["a", "b"] {
            let mut record = sample(item, true);
            edit(&mut record);
            f.store
                .record_sample(id, &record, &[attempt(true)])
                .unwrap();
        }
        f.store
            .set_run_status(id, RunStatus::Finished, None)
            .unwrap();
    }

    fn restore_into(f: &Fixture) -> (History, Metrics) {
        let metrics = Metrics::new();
        let history = restore(&f.store, &f.config, "s", 0.1, &metrics).unwrap();
        (history, metrics)
    }

    #[test]
    fn every_stored_sample_counts_once_and_the_killed_run_is_resumed() {
        let mut f = fixture();
        add_run(
            &mut f,
            "r1",
            &[("a", true), ("b", true)],
            RunStatus::Finished,
        );
        add_run(&mut f, "r2", &[("a", true)], RunStatus::Running);
        let (history, m) = restore_into(&f);
        assert_eq!(history.resume.as_deref(), Some("r2"));
        assert_eq!((history.runs, history.samples), (2, 3));
        assert_eq!(m.sum(MetricId::Samples), 3.0);
        assert_eq!(m.sum(MetricId::Cost), 1.5);
        assert_eq!(m.sum(MetricId::Tokens), 45.0);
        // The per-sweep gauges come from the last complete run.
        assert_eq!(
            m.value(MetricId::SweepCost, &["s", "openai", "p", "m"]),
            1.0
        );
        assert_eq!(
            m.value(MetricId::SweepPassRatio, &["s", "openai", "p", "m", "t"]),
            1.0
        );
        assert!(m.value(MetricId::LastSuccess, &["s"]) > 1.7e9);
        // Restoring again (a second restart) gives the same totals, not twice them.
        let (_, again) = restore_into(&f);
        assert_eq!(again.sum(MetricId::Samples), 3.0);
    }

    /// What a judge spent is rebuilt from the stored grades, apart from the model's spend.
    #[test]
    fn grading_spend_is_rebuilt_from_the_store() {
        let mut f = fixture();
        add_run_with(&mut f, "r1", |record| {
            record.grades.push((
                "judge".into(),
                Grade {
                    kind: GradeKind::Judgement,
                    usage: Some(Usage {
                        input_tokens: Some(200),
                        output_tokens: Some(30),
                        ..Usage::default()
                    }),
                    cost_usd: Some(0.125),
                    ..Grade::pass("judged")
                },
            ));
        });
        let (_, m) = restore_into(&f);
        let judge = ["openai", "p", "m", "t", "judge"];
        let tokens = |kind| {
            let labels: Vec<&str> = judge.iter().copied().chain([kind]).collect();
            m.value(MetricId::GraderTokens, &labels)
        };
        assert_eq!(tokens("input"), 400.0);
        assert_eq!(tokens("output"), 60.0);
        assert_eq!(m.value(MetricId::GraderCost, &judge), 0.25);
        assert_eq!(m.sum(MetricId::Cost), 1.0, "the models' cost alone");
    }

    /// The old start-up: every stored sample of every run of the config replayed through
    /// `record_sample`, and the per-sweep totals summed from the last complete run's samples.
    fn restore_from_samples(store: &Store, config: &Config, sweep: &str, metrics: &Metrics) {
        let current = provider_labels(config);
        let mut last_complete = None;
        for row in store.list_runs().unwrap() {
            let run = store.run(&row.id).unwrap();
            if !is_run_of(&run, config) {
                continue;
            }
            let providers = if run.config_toml == config.source {
                current.clone()
            } else {
                stored_provider_labels(&run)
            };
            let report = store.report(&run.id).unwrap();
            for sample in &report.samples {
                let attempts = store.attempts(&run.id, sample.key.id()).unwrap();
                let labels = crate::labels_of(&providers, sample);
                crate::record_sample(metrics, &labels, sample, &attempts);
            }
            if let (RunStatus::Finished | RunStatus::Failed, Some(created), Some(ended)) = (
                run.status,
                unix_seconds(&run.created_at),
                run.finished_at.as_deref().and_then(unix_seconds),
            ) {
                let outcome = sweep_outcome(
                    run.status,
                    row.planned_samples,
                    row.done + row.errors,
                    row.errors,
                    0.1,
                );
                metrics.set_ended_run(
                    sweep,
                    &EndedRun {
                        outcome,
                        created,
                        ended,
                    },
                );
            }
            if run.status == RunStatus::Finished {
                last_complete = Some(SweepTotals::of_report(&report, &providers));
            }
        }
        if let Some(totals) = &last_complete {
            metrics.set_sweep_totals(sweep, totals);
        }
    }

    /// A sample whose every number is a dyadic fraction, so that sums are exact in any
    /// order: `n` picks its shape (answered and passed, answered and failed after a retry,
    /// or an error after two attempts) and its values.
    fn varied(item: &str, provider: &str, n: u32) -> (SampleRecord, Vec<AttemptRecord>) {
        let mut record = sample(item, n % 3 != 2);
        record.key.provider = provider.into();
        let quarter = f64::from(n % 7) * 0.25;
        let attempt = |outcome: &str, status: Option<u16>, seconds: f64| AttemptRecord {
            outcome: outcome.into(),
            http_status: status,
            wait_seconds: 0.0,
            duration_seconds: seconds,
        };
        if let Some(c) = record.completion.as_mut() {
            c.timings = Timings {
                // Decoding takes 0.5, 1 or 2 s: output rates are dyadic too.
                latency: std::time::Duration::from_millis(250 + [500, 1000, 2000][n as usize % 3]),
                time_to_first_token: Some(std::time::Duration::from_millis(250)),
            };
            c.usage.output_tokens = Some(9 + u64::from(n % 4) * 8);
            c.usage.cache_read_tokens = n.is_multiple_of(2).then_some(64);
            record.cost_usd = Some(0.125 + quarter);
            record.grades = vec![
                (
                    "match".into(),
                    if n.is_multiple_of(3) {
                        Grade::pass("matched")
                    } else {
                        Grade::fail("no")
                    },
                ),
                (
                    "judge".into(),
                    Grade {
                        kind: GradeKind::Judgement,
                        score: 0.5 + quarter / 4.0,
                        usage: Some(Usage {
                            input_tokens: Some(100 + u64::from(n)),
                            output_tokens: (n % 2 == 1).then_some(20),
                            ..Usage::default()
                        }),
                        cost_usd: (n % 4 != 3).then_some(0.0625 * f64::from(n % 3)),
                        ..Grade::pass("judged")
                    },
                ),
            ];
            let pass = n.is_multiple_of(3);
            record.verdict = Some(Verdict {
                pass,
                score: f64::from(u8::from(pass)),
                first_failure: None,
            });
        }
        let attempts = match n % 3 {
            0 => vec![attempt("ok", None, 1.5)],
            1 => vec![
                attempt("rate_limited", Some(429), 0.125),
                attempt("ok", None, 2.0),
            ],
            _ => vec![
                attempt("server", Some(500), 0.5 + quarter),
                attempt("timeout", None, 30.0),
            ],
        };
        record.attempts = attempts.len() as u32;
        (record, attempts)
    }

    /// Run `id` of `config` with `items` varied samples over two provider entries (one the
    /// config does not name), ended with `status`; its aggregates are written at the end.
    fn add_varied_run(f: &mut Fixture, id: &str, items: u32, status: RunStatus) {
        f.store
            .create_run(&NewRun {
                id: id.into(),
                created_at: llmbench_store::utc_now_rfc3339(),
                config_path: f.config.path.display().to_string(),
                config_toml: f.config.source.clone(),
                prices_json: serde_json::Value::Null,
                planned_samples: u64::from(items),
                providers: vec![("p".into(), "m".into(), "m".into())],
                graders: vec![("t".into(), vec!["match".into(), "judge".into()])],
                pass_at_k: Vec::new(),
            })
            .unwrap();
        for n in 0..items {
            let provider = if n % 5 == 4 { "gone" } else { "p" };
            let (record, attempts) =
                varied(&format!("{id}-{n}"), provider, n * 7 + id.len() as u32);
            f.store.record_sample(id, &record, &attempts).unwrap();
        }
        if status != RunStatus::Running {
            f.store.end_run(id, status, None).unwrap();
        }
    }

    /// Rebuilding from the runs' aggregates gives exactly the exposition that replaying
    /// every stored sample gives: every bucket, `_sum` and `_count`, the judge's tokens and
    /// cost per grader, the per-sweep gauges.
    #[test]
    fn aggregates_rebuild_exactly_what_replaying_the_samples_does() {
        let mut f = fixture();
        add_varied_run(&mut f, "r1", 30, RunStatus::Finished);
        add_varied_run(&mut f, "r2", 17, RunStatus::Failed);
        add_varied_run(&mut f, "r3", 23, RunStatus::Finished);
        // One without aggregates (its process died): computed on demand.
        add_varied_run(&mut f, "r4", 11, RunStatus::Running);
        let from_samples = Metrics::new();
        restore_from_samples(&f.store, &f.config, "s", &from_samples);
        let (history, from_aggregates) = restore_into(&f);
        assert_eq!((history.runs, history.samples), (4, 30 + 17 + 23 + 11));
        let expected = from_samples.render();
        for needle in [
            "llmbench_request_duration_seconds_bucket",
            "llmbench_grade_score_sum",
            "llmbench_grader_tokens_total",
            "llmbench_grader_cost_usd_total",
            "llmbench_request_retries_total",
            "llmbench_time_to_first_token_seconds_count",
            "llmbench_output_tokens_per_second_bucket",
            "provider=\"gone\"",
            "llmbench_sweep_cost_usd",
        ] {
            assert!(expected.contains(needle), "{needle} in\n{expected}");
        }
        same_lines(&from_aggregates.render(), &expected);
        // Again with the retention having deleted every run's samples but the newest.
        retain_runs(&mut f, 1);
        let (_, pruned) = restore_into(&f);
        same_lines(&pruned.render(), &expected);
    }

    /// Two expositions are equal, or the first lines that differ are shown.
    fn same_lines(got: &str, expected: &str) {
        if got == expected {
            return;
        }
        let got: std::collections::BTreeSet<&str> = got.lines().collect();
        let expected: std::collections::BTreeSet<&str> = expected.lines().collect();
        let missing: Vec<&&str> = expected.difference(&got).take(10).collect();
        let extra: Vec<&&str> = got.difference(&expected).take(10).collect();
        panic!("expositions differ\nmissing: {missing:#?}\nextra: {extra:#?}");
    }

    fn retain_runs(f: &mut Fixture, keep_runs: usize) {
        f.config.schedule = Some(llmbench_config::ScheduleConfig {
            keep_runs: Some(keep_runs),
            ..schedule()
        });
        crate::retain(&mut f.store, &f.config, "s");
    }

    /// A valid `[schedule]` with defaults.
    fn schedule() -> llmbench_config::ScheduleConfig {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.toml");
        std::fs::write(
            &path,
            format!("{CONFIG}\n[schedule]\ninterval-seconds = 60\n"),
        )
        .unwrap();
        llmbench_config::load(&path).unwrap().schedule.unwrap()
    }

    fn stored_samples(store: &Store) -> usize {
        store
            .list_runs()
            .unwrap()
            .iter()
            .map(|r| store.report(&r.id).unwrap().samples.len())
            .sum()
    }

    /// A soak: many small sweeps, `keep-runs = 3` applied after each as `serve` does. The
    /// store never holds more than three runs' samples, and the metrics rebuilt from it are
    /// always what a process that had watched every sample live would show.
    #[test]
    fn retention_keeps_a_soak_bounded_and_its_metrics_whole() {
        let mut f = fixture();
        let live = Metrics::new();
        let providers = provider_labels(&f.config);
        let mut most = 0;
        for sweep in 0..40u32 {
            let id = format!("run{sweep:03}");
            add_varied_run(&mut f, &id, 6, RunStatus::Finished);
            for s in f.store.report(&id).unwrap().samples {
                let attempts = f.store.attempts(&id, s.key.id()).unwrap();
                crate::record_sample(&live, &crate::labels_of(&providers, &s), &s, &attempts);
            }
            retain_runs(&mut f, 3);
            let stored = stored_samples(&f.store);
            most = most.max(stored);
            assert!(stored <= 3 * 6, "sweep {sweep}: {stored} samples stored");
        }
        assert_eq!(most, 3 * 6);
        assert_eq!(f.store.list_runs().unwrap().len(), 40, "every run is kept");
        let (history, rebuilt) = restore_into(&f);
        assert_eq!(history.samples, 40 * 6);
        // The live process never ended a sweep: compare the store-derived series only.
        let per_sample = |m: &Metrics| -> String {
            m.render()
                .lines()
                .filter(|l| !l.contains("llmbench_sweep") && !l.contains("llmbench_last"))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        same_lines(&per_sample(&rebuilt), &per_sample(&live));
        assert_eq!(rebuilt.sum(MetricId::Samples), 240.0);
    }

    #[test]
    fn only_the_latest_run_is_resumed_and_failures_are_not_successes() {
        let mut f = fixture();
        add_run(&mut f, "r1", &[("a", true)], RunStatus::Interrupted);
        add_run(
            &mut f,
            "r2",
            &[("a", false), ("b", false)],
            RunStatus::Finished,
        );
        let (history, m) = restore_into(&f);
        assert_eq!(history.resume, None, "a later run ended: r1 is abandoned");
        assert_eq!(m.value(MetricId::LastSuccess, &["s"]), 0.0, "r2 failed");
        assert!(m.value(MetricId::LastCompletion, &["s"]) > 1.7e9);
        assert_eq!(
            m.value(
                MetricId::RequestErrors,
                &["openai", "p", "m", "server", "500"]
            ),
            2.0
        );
    }

    #[test]
    fn a_run_stopped_by_the_spend_cap_or_another_config_is_not_resumed() {
        let mut f = fixture();
        add_run(&mut f, "r1", &[("a", true)], RunStatus::Running);
        f.store
            .set_run_status(
                "r1",
                RunStatus::Interrupted,
                Some("spend cap of 1 USD reached"),
            )
            .unwrap();
        assert_eq!(restore_into(&f).0.resume, None);
        f.config.source.push_str("\n# changed\n");
        add_run(&mut f, "r2", &[], RunStatus::Running);
        f.config.source.push_str("# changed again\n");
        let (history, _) = restore_into(&f);
        assert_eq!(history.resume, None, "the config text changed since r2");
        assert_eq!(history.runs, 2);
    }
}
