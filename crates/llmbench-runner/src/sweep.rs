//! One whole sweep, from a validated config to a finished (or interrupted) run in the store:
//! what `llmbench run`, `llmbench resume` and the scheduler of `llmbench serve` share.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use llmbench_config::Config;
use llmbench_core::SampleId;
use llmbench_store::{NewRun, RunFile, RunStatus, Store, StoreError};
use tokio::sync::watch;

use crate::{
    BuildError, Observer, Plan, RetryPolicy, RunError, RunOptions, RunOutcome, Stop, StopSignal,
};

/// Start a new run, or continue a stored one.
#[derive(Debug, Clone)]
pub enum SweepStart {
    New { run_id: String },
    Resume { run_id: String },
}

impl SweepStart {
    pub fn run_id(&self) -> &str {
        match self {
            Self::New { run_id } | Self::Resume { run_id } => run_id,
        }
    }
}

/// Why a sweep could not run or finish.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Run(#[from] RunError),
}

/// How a sweep ended.
#[derive(Debug)]
pub struct SweepResult {
    pub run_id: String,
    pub planned: u64,
    pub outcome: RunOutcome,
}

/// The price table snapshot stored with a run: provider name -> prices and their date, for
/// the models under test and the `judge-only` entries.
pub fn price_snapshot(config: &Config) -> serde_json::Value {
    let prices: serde_json::Map<String, serde_json::Value> = config
        .providers
        .iter()
        .chain(&config.judges)
        .map(|p| {
            let price = p.price.as_ref().map(|pc| {
                serde_json::json!({
                    "model": p.model,
                    "input-per-mtok": pc.price.input_per_mtok,
                    "output-per-mtok": pc.price.output_per_mtok,
                    "cache-read-per-mtok": pc.price.cache_read_per_mtok,
                    "cache-write-per-mtok": pc.price.cache_write_per_mtok,
                    "as-of": pc.as_of,
                    "source": if pc.from_catalog { "catalog" } else { "config" },
                })
            });
            (p.name.clone(), price.unwrap_or(serde_json::Value::Null))
        })
        .collect();
    serde_json::Value::Object(prices)
}

/// Stop requests from SIGINT (Ctrl-C) and SIGTERM: the first asks for [`Stop::Drain`], the
/// next for [`Stop::Now`]. Must be called inside a tokio runtime. From then on these signals
/// no longer end the process by themselves: whoever holds the receiver must act on it.
pub fn stop_on_signals() -> std::io::Result<watch::Receiver<Stop>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let (tx, rx) = watch::channel(Stop::Run);
    tokio::spawn(async move {
        for request in [Stop::Drain, Stop::Now] {
            let name = tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            };
            tracing::debug!(signal = name, ?request, "stop requested");
            // Kept even with no receiver left: a sweep started later sees it.
            tx.send_replace(request);
        }
    });
    Ok(rx)
}

/// Build the config's plugins, record the run (new) or mark it running again (resume), run
/// every sample not yet finished, and set the run's final status. The store is handed back
/// whatever happens.
pub async fn run_sweep(
    config: &Config,
    plugin_dir: &Path,
    store: Store,
    start: SweepStart,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> (Store, Result<SweepResult, SweepError>) {
    run_sweep_sharded(config, plugin_dir, store, start, observer, stop, None).await
}

/// [`run_sweep`] of one shard's samples only (all of them with `None`). The run records the
/// whole sweep's planned samples, so that every shard's copy of the run is the same run.
pub async fn run_sweep_sharded(
    config: &Config,
    plugin_dir: &Path,
    store: Store,
    start: SweepStart,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
    shard: Option<crate::Shard>,
) -> (Store, Result<SweepResult, SweepError>) {
    // A resumed run's plugins read the copies it stored of the files they read.
    let built = match &start {
        SweepStart::New { .. } => crate::build(config, plugin_dir).await,
        SweepStart::Resume { run_id } => match crate::stored_plugin_files(&store, run_id) {
            Ok(stored) => crate::build_resumed(config, plugin_dir, &stored).await,
            Err(e) => return (store, Err(e.into())),
        },
    };
    let mut components = match built {
        Ok(c) => c,
        Err(e) => return (store, Err(e.into())),
    };
    let plugin_files = std::mem::take(&mut components.plugin_files);
    let mut plan = Plan::new(&components, config.run.repeats);
    if let Some(shard) = shard {
        plan = plan.sharded(&components, shard);
    }
    let run_id = start.run_id().to_owned();
    let prepared = prepare(config, &store, &start, plan.sweep_len(), plugin_files);
    let (done, already_spent_usd) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return (store, Err(e.into())),
    };
    tracing::info!(run = %run_id, samples = plan.len(), already_done = done.len(), store = %store.path().display(), "starting sweep");
    let options = RunOptions {
        run_id: run_id.clone(),
        concurrency: config.run.concurrency,
        timeout: config.run.timeout,
        retry: RetryPolicy::default(),
        done,
        max_cost_usd: config.run.max_cost_usd,
        already_spent_usd,
        grace: config.run.grace,
    };
    let (result, store) =
        crate::execute(Arc::new(components), &plan, store, options, observer, stop).await;
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            let _ = store.end_run(&run_id, RunStatus::Failed, Some(&e.to_string()));
            return (store, Err(e.into()));
        }
    };
    let cap_reason;
    let (status, reason) = if outcome.budget_exhausted {
        cap_reason = format!(
            "spend cap of {} USD reached ({:.5} USD spent)",
            config.run.max_cost_usd.unwrap_or_default(),
            outcome.spent_usd
        );
        (RunStatus::Interrupted, Some(cap_reason.as_str()))
    } else if outcome.interrupted {
        (RunStatus::Interrupted, Some("interrupted"))
    } else {
        (RunStatus::Finished, None)
    };
    if let Err(e) = store.end_run(&run_id, status, reason) {
        return (store, Err(e.into()));
    }
    (
        store,
        Ok(SweepResult {
            run_id,
            planned: plan.len(),
            outcome,
        }),
    )
}

/// What run `run_id`'s stored samples cost, models and graders (a judge's), as the spend cap
/// counts them. Read one sample outline at a time (no texts): a full report of a large run
/// would hold every sample's texts in memory and delay the first request by seconds.
/// Graders cost something only through a judge or a price of their own; without either (the
/// common case) the samples' costs are one SQL sum.
fn earlier_spend(config: &Config, store: &Store, run_id: &str) -> Result<f64, StoreError> {
    let graders_cost = config
        .tasks
        .iter()
        .flat_map(|t| &t.graders)
        .any(|g| g.judge.is_some() || g.price.is_some());
    if !graders_cost {
        return Ok(store.run_progress(run_id)?.1.cost_usd.unwrap_or(0.0));
    }
    let mut spent = 0.0;
    store.for_each_sample_outline(run_id, |s| {
        let costs = s.cost_usd.into_iter();
        for cost in costs.chain(s.grades.iter().filter_map(|(_, g)| g.cost_usd)) {
            spent += cost;
        }
        Ok(())
    })?;
    Ok(spent)
}

/// Record a new run, or mark a resumed one running; returns the samples already finished and,
/// when the config caps the spend, what they cost (else 0).
fn prepare(
    config: &Config,
    store: &Store,
    start: &SweepStart,
    planned: u64,
    plugin_files: Vec<RunFile>,
) -> Result<(HashSet<SampleId>, f64), StoreError> {
    match start {
        SweepStart::New { run_id } => {
            store.create_run_with_files(
                &NewRun {
                    id: run_id.clone(),
                    created_at: llmbench_store::utc_now_rfc3339(),
                    config_path: config.path.display().to_string(),
                    config_toml: config.source.clone(),
                    prices_json: price_snapshot(config),
                    planned_samples: planned,
                    providers: config
                        .providers
                        .iter()
                        .map(|p| (p.name.clone(), p.model.clone(), p.label.clone()))
                        .collect(),
                    graders: config
                        .tasks
                        .iter()
                        .map(|t| {
                            (
                                t.name.clone(),
                                t.graders.iter().map(|g| g.name.clone()).collect(),
                            )
                        })
                        .collect(),
                    pass_at_k: config.run.pass_at_k.clone(),
                },
                // The config's files, then those its plugins read (moved, not copied: an
                // items file can be large).
                &{
                    let mut files = crate::run_files(config);
                    files.extend(plugin_files);
                    files
                },
            )?;
            Ok((HashSet::new(), 0.0))
        }
        SweepStart::Resume { run_id } => {
            let done = store.finished_sample_ids(run_id)?;
            // What earlier invocations spent counts only against a spend cap: without one it
            // is not read (the sum reads every stored sample's row, 0.3 s at 100,000).
            let spent = match config.run.max_cost_usd {
                Some(_) => earlier_spend(config, store, run_id)?,
                None => 0.0,
            };
            store.set_run_status(run_id, RunStatus::Running, None)?;
            Ok((done, spent))
        }
    }
}
