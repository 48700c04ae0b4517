//! `llmbench run` and `llmbench resume`: one sweep from config to stored results and table.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use llmbench_config::Config;
use llmbench_core::{Reporter as _, SampleId};
use llmbench_runner::{Plan, RetryPolicy, RunOptions};
use llmbench_store::{NewRun, RunStatus, Store};

use crate::{
    Dirs, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_PLUGIN, EXIT_STORE, Failure, default_output_dir,
    default_plugin_dir, open_store, print,
};

/// Start a new run of `config`.
pub(crate) async fn run_new(config: Config, dirs: Dirs) -> Result<u8, Failure> {
    let output_dir = dirs
        .output_dir
        .clone()
        .or_else(|| config.run.output_dir.clone())
        .unwrap_or_else(default_output_dir);
    let store = open_store(&output_dir)?;
    let run_id = llmbench_store::new_run_id();
    sweep(config, dirs, store, run_id, HashSet::new(), true).await
}

/// Continue run `run_id` from its stored config snapshot.
pub(crate) async fn resume(run_id: String, dirs: Dirs) -> Result<u8, Failure> {
    let output_dir = dirs.output_dir.clone().unwrap_or_else(default_output_dir);
    let store = open_store(&output_dir)?;
    let stored = store
        .run(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    let config = llmbench_config::parse(&stored.config_toml, &PathBuf::from(&stored.config_path))
        .map_err(|errors| {
        Failure::new(
            EXIT_CONFIG,
            anyhow::anyhow!("the stored config of run {run_id} no longer validates\n{errors}"),
        )
    })?;
    let done = store
        .finished_sample_ids(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    tracing::info!(run = %run_id, finished = done.len(), "resuming");
    sweep(config, dirs, store, run_id, done, false).await
}

async fn sweep(
    config: Config,
    dirs: Dirs,
    store: Store,
    run_id: String,
    done: HashSet<SampleId>,
    new_run: bool,
) -> Result<u8, Failure> {
    let plugin_dir = dirs
        .plugin_dir
        .or_else(|| config.run.plugin_dir.clone())
        .unwrap_or_else(default_plugin_dir);
    let components = llmbench_runner::build(&config, &plugin_dir)
        .await
        .map_err(|e| Failure::new(EXIT_PLUGIN, e))?;
    let plan = Plan::new(&components, config.run.repeats);
    if new_run {
        let prices: serde_json::Map<String, serde_json::Value> = config
            .providers
            .iter()
            .map(|p| {
                let price = p.price.as_ref().map(|pc| {
                    serde_json::json!({
                        "input-per-mtok": pc.price.input_per_mtok,
                        "output-per-mtok": pc.price.output_per_mtok,
                        "cache-read-per-mtok": pc.price.cache_read_per_mtok,
                        "cache-write-per-mtok": pc.price.cache_write_per_mtok,
                        "as-of": pc.as_of,
                    })
                });
                (p.name.clone(), price.unwrap_or(serde_json::Value::Null))
            })
            .collect();
        store
            .create_run(&NewRun {
                id: run_id.clone(),
                created_at: llmbench_store::utc_now_rfc3339(),
                config_path: config.path.display().to_string(),
                config_toml: config.source.clone(),
                prices_json: serde_json::Value::Object(prices),
                planned_samples: plan.len(),
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
            })
            .map_err(|e| Failure::new(EXIT_STORE, e))?;
    } else {
        store
            .set_run_status(&run_id, RunStatus::Running, None)
            .map_err(|e| Failure::new(EXIT_STORE, e))?;
    }
    tracing::info!(run = %run_id, samples = plan.len(), store = %store.path().display(), "starting sweep");

    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: finishing what is being written, then stopping");
            let _ = cancel_tx.send(true);
        }
    });
    let progress = Arc::new(crate::progress::Progress::new(plan.len()));
    let options = RunOptions {
        run_id: run_id.clone(),
        concurrency: config.run.concurrency,
        timeout: config.run.timeout,
        retry: RetryPolicy::default(),
        done,
    };
    let (result, store) = llmbench_runner::execute(
        Arc::new(components),
        &plan,
        store,
        options,
        progress.clone(),
        cancel_rx,
    )
    .await;
    progress.finish();
    let outcome = match result {
        Ok(outcome) => outcome,
        Err(e) => {
            let _ = store.set_run_status(&run_id, RunStatus::Failed, Some(&e.to_string()));
            return Err(Failure::new(EXIT_STORE, e));
        }
    };
    let status = if outcome.interrupted {
        RunStatus::Interrupted
    } else {
        RunStatus::Finished
    };
    let reason = outcome.interrupted.then_some("interrupted by signal");
    store
        .set_run_status(&run_id, status, reason)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    let report = store
        .report(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    print(&llmbench_report::ConsoleReporter.render(&report)?);
    Ok(if outcome.interrupted {
        EXIT_INTERRUPTED
    } else {
        0
    })
}
