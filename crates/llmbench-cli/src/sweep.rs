//! `llmbench run` and `llmbench resume`: one sweep from config to stored results and table.

use std::path::PathBuf;
use std::sync::Arc;

use llmbench_config::Config;
use llmbench_core::Reporter as _;
use llmbench_runner::{CostEstimate, SweepError, SweepStart};

use crate::{
    Dirs, EXIT_BUDGET, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_PLUGIN, EXIT_STORE, Failure,
    default_output_dir, default_plugin_dir, open_store, print,
};

/// Start a new run of `config`.
pub(crate) async fn run_new(
    config: Config,
    dirs: Dirs,
    push_gateway: Option<String>,
) -> Result<u8, Failure> {
    let output_dir = dirs
        .output_dir
        .clone()
        .or_else(|| config.run.output_dir.clone())
        .unwrap_or_else(default_output_dir);
    let run_id = llmbench_store::new_run_id();
    sweep(
        config,
        dirs,
        output_dir,
        SweepStart::New { run_id },
        push_gateway,
    )
    .await
}

/// Continue run `run_id` from its stored config snapshot.
pub(crate) async fn resume(run_id: String, dirs: Dirs) -> Result<u8, Failure> {
    let output_dir = dirs.output_dir.clone().unwrap_or_else(default_output_dir);
    let stored = open_store(&output_dir)?
        .run(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    let config = llmbench_config::parse(&stored.config_toml, &PathBuf::from(&stored.config_path))
        .map_err(|errors| {
        Failure::new(
            EXIT_CONFIG,
            anyhow::anyhow!("the stored config of run {run_id} no longer validates\n{errors}"),
        )
    })?;
    sweep(
        config,
        dirs,
        output_dir,
        SweepStart::Resume { run_id },
        None,
    )
    .await
}

async fn sweep(
    config: Config,
    dirs: Dirs,
    output_dir: PathBuf,
    start: SweepStart,
    push_gateway: Option<String>,
) -> Result<u8, Failure> {
    let estimate = llmbench_runner::estimate_cost(&config);
    check_budget(&config, &estimate, dirs.allow_over_budget)?;
    let store = open_store(&output_dir)?;
    let plugin_dir = dirs
        .plugin_dir
        .or_else(|| config.run.plugin_dir.clone())
        .unwrap_or_else(default_plugin_dir);
    let (cancel_tx, cancel_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::warn!("interrupted: finishing what is being written, then stopping");
            let _ = cancel_tx.send(true);
        }
    });
    let progress = Arc::new(crate::progress::Progress::new(estimate.samples));
    let metrics = Arc::new(llmbench_metrics::Metrics::new());
    let observer: Arc<dyn llmbench_runner::Observer> = match push_gateway {
        None => progress.clone(),
        Some(_) => Arc::new(llmbench_metrics::Both(
            progress.clone(),
            Arc::new(llmbench_metrics::MetricsObserver::new(
                metrics.clone(),
                llmbench_metrics::provider_labels(&config),
            )),
        )),
    };
    let (store, result) =
        llmbench_runner::run_sweep(&config, &plugin_dir, store, start, observer, cancel_rx).await;
    progress.finish();
    let result = result.map_err(|e| match e {
        SweepError::Build(e) => Failure::new(EXIT_PLUGIN, e),
        e => Failure::new(EXIT_STORE, e),
    })?;
    let report = store
        .report(&result.run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))?;
    print(&llmbench_report::ConsoleReporter.render(&report)?);
    if let Some(gateway) = &push_gateway {
        let outcome =
            llmbench_metrics::push::push_sweep(gateway, &config, &store, &result.run_id, &metrics)
                .await?;
        tracing::info!(
            gateway,
            outcome = outcome.as_str(),
            "pushed the sweep's metrics"
        );
    }
    if result.outcome.budget_exhausted {
        print(&format!(
            "Stopped: spend cap of {:.5} USD reached ({:.5} USD spent); samples in flight were finished and stored.\n",
            config.run.max_cost_usd.unwrap_or_default(),
            result.outcome.spent_usd
        ));
        return Ok(EXIT_BUDGET);
    }
    Ok(if result.outcome.interrupted {
        EXIT_INTERRUPTED
    } else {
        0
    })
}

/// Say what the sweep should cost, and refuse to start over the cap unless allowed.
fn check_budget(config: &Config, estimate: &CostEstimate, allow_over: bool) -> Result<(), Failure> {
    let unpriced = if estimate.unpriced_samples > 0 {
        format!(
            ", plus {} samples without a price",
            estimate.unpriced_samples
        )
    } else {
        String::new()
    };
    let line = format!(
        "estimated cost: {:.5} USD for {} samples{unpriced}",
        estimate.usd, estimate.samples
    );
    match config.run.max_cost_usd {
        Some(cap) if estimate.usd > cap && !allow_over => Err(Failure::new(
            EXIT_BUDGET,
            anyhow::anyhow!(
                "{line}, over `max-cost-usd` = {cap} USD; lower the sweep or pass --allow-over-budget (the cap still stops the run when reached)"
            ),
        )),
        Some(cap) => {
            tracing::warn!("{line} (cap {cap} USD)");
            Ok(())
        }
        None => {
            tracing::info!("{line}");
            Ok(())
        }
    }
}
