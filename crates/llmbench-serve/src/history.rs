//! What the results store already holds about a config's sweep: the metrics of its stored
//! samples, when its runs ended, and the run to resume.
//!
//! Store-derived metrics are rebuilt from here when `serve` starts: every stored sample of
//! every run of the config is recorded once, exactly as it was when it finished. A resumed
//! run then skips those samples, so each stored sample is counted once, however often the
//! process was killed.

use std::collections::HashMap;

use jiff::Timestamp;
use llmbench_config::Config;
use llmbench_metrics::{EndedRun, Metrics, ModelLabels, SweepTotals, provider_family};
use llmbench_store::{RunStatus, Store, StoreError, StoredRun};

use crate::{labels_of, provider_labels, record_sample, sweep_outcome, unix_seconds};

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
        let report = store.report(&run.id)?;
        for sample in &report.samples {
            let attempts = store.attempts(&run.id, sample.key.id())?;
            let labels = labels_of(&providers, sample);
            record_sample(metrics, &labels, sample, &attempts);
            history.samples += 1;
        }
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
                history.resume =
                    (run.config_toml == config.source && by_signal).then(|| run.id.clone());
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
                    last_complete = Some(SweepTotals::of_report(&report, &providers));
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
        let store = Store::open_in_dir(&dir.path().join("results")).unwrap();
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
