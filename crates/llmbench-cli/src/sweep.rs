//! `llmbench run` and `llmbench resume`: one sweep from config to stored results and table.

use std::sync::Arc;
use std::time::Duration;

use llmbench_config::Config;
use llmbench_core::Reporter as _;
use llmbench_runner::{CostEstimate, StopEvent, StopSignal, SweepError, SweepStart};
use llmbench_store::{Store, StoreError};

use crate::args::Dirs;
use crate::common::{
    EXIT_BUDGET, EXIT_BUSY, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_NO_ANSWERS, EXIT_PLUGIN,
    EXIT_STORE, Failure, default_plugin_dir, print,
};
use crate::stores::Location;

/// `--grace-seconds`, for the commands that run sweeps (`run`, `resume`, `serve`).
#[derive(Debug, Clone, Copy, clap::Args)]
pub(crate) struct GraceArg {
    /// On the first Ctrl-C or SIGTERM, how long the requests in flight may take to finish
    /// (answers that arrive are stored) before they are cancelled (and sent again when the
    /// run is resumed), in seconds. A second Ctrl-C cancels them at once. Default: the
    /// config's `grace-seconds`, else 5.
    #[arg(long, value_name = "SECONDS", value_parser = parse_grace)]
    grace_seconds: Option<Duration>,
}

impl GraceArg {
    /// Overrides the config's `[run] grace-seconds`.
    pub(crate) fn apply(self, config: &mut Config) {
        if let Some(grace) = self.grace_seconds {
            config.run.grace = grace;
        }
    }
}

fn parse_grace(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || secs < 0.0 {
        return Err(format!("must be 0 or more, not {text}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is too large"))
}

/// Start a new run of `config`.
pub(crate) async fn run_new(
    config: Config,
    dirs: Dirs,
    push_gateway: Option<String>,
) -> Result<u8, Failure> {
    let location = Location::resolve(&dirs.store, dirs.output_dir.as_deref(), Some(&config.run))?;
    let run_id = llmbench_store::new_run_id();
    sweep(
        config,
        dirs,
        location,
        SweepStart::New { run_id },
        push_gateway,
        None,
        None,
    )
    .await
}

/// Continue run `run_id` with the inputs it stored: its config and the stored copies of the
/// prompt and items files it read, never the files on disk now
/// ([`llmbench_runner::resume_config`]). A run stored before runs stored their files reads
/// them from disk, and is refused when they no longer give the samples it planned.
pub(crate) async fn resume(run_id: String, dirs: Dirs) -> Result<u8, Failure> {
    let location = Location::resolve(&dirs.store, dirs.output_dir.as_deref(), None)?;
    // The integrity check reads the whole file (about 0.4 s per 250 MB) and parsing the
    // stored items takes about a second per million: done side by side, each on one core,
    // before anything is written. A failure to read the run or its stored files that may
    // come from damage (not an unknown run) runs the check first, so that a damaged file is
    // reported as damaged.
    let store = location.open_existing_unverified()?;
    let store_failure = |e: StoreError| {
        let e = match e.kind() {
            "damaged" | "sqlite" | "corrupt" | "run_file" => {
                store.verify_integrity().err().unwrap_or(e)
            }
            _ => e,
        };
        Failure::new(EXIT_STORE, e)
    };
    let inputs = llmbench_runner::stored_inputs(&store, &run_id).map_err(|e| match e {
        llmbench_runner::InputsError::Store(e) => store_failure(e),
        e => Failure::new(EXIT_CONFIG, e),
    })?;
    let (parsed, checked) = std::thread::scope(|scope| {
        // Made once: it reads every item (a second pass cost a million-item resume a second).
        let parse = scope.spawn(|| {
            inputs.config().map(|(config, source)| {
                let estimate = llmbench_runner::estimate_cost(&config);
                (config, source, estimate)
            })
        });
        let checked = store.verify_integrity();
        (
            parse
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            checked,
        )
    });
    checked.map_err(|e| Failure::new(EXIT_STORE, e))?;
    let (config, source, estimate) = parsed.map_err(|e| Failure::new(EXIT_CONFIG, e))?;
    let location = location.with_stored_password_env(config.run.store_password_env.as_deref())?;
    // A results directory is written with the store the run was read from (checked once);
    // PostgreSQL is connected again, with the password variable the run stored.
    let opened = match location {
        Location::Dir(_) => Some(store),
        Location::Postgres(..) => None,
    };
    let stored = inputs.run();
    let planned = estimate.samples;
    if planned != stored.planned_samples {
        let why = match source {
            llmbench_runner::InputsSource::Disk => {
                "its prompt or items files changed on disk since it ran, and it was stored before runs stored copies of them"
            }
            llmbench_runner::InputsSource::Stored => "its stored inputs do not match it",
        };
        return Err(Failure::new(
            EXIT_CONFIG,
            anyhow::anyhow!(
                "cannot resume run {run_id}: it planned {} samples, and its config now gives {planned} ({why}); start a new run instead",
                stored.planned_samples
            ),
        ));
    }
    sweep(
        config,
        dirs,
        location,
        SweepStart::Resume { run_id },
        None,
        None,
        Some((estimate, opened)),
    )
    .await
}

/// One sweep, or one shard of it (`llmbench run --shard`, [`crate::shard`]); `prepared` is
/// the config's cost estimate when the caller made it already, and the store when it opened
/// it already ([`Store::open_existing`]).
pub(crate) async fn sweep(
    mut config: Config,
    dirs: Dirs,
    location: Location,
    start: SweepStart,
    push_gateway: Option<String>,
    shard: Option<llmbench_runner::Shard>,
    prepared: Option<(CostEstimate, Option<Store>)>,
) -> Result<u8, Failure> {
    let (estimate, opened) = match prepared {
        Some((estimate, opened)) => (estimate, opened),
        None => (llmbench_runner::estimate_cost(&config), None),
    };
    check_budget(&config, &estimate, dirs.allow_over_budget)?;
    let mut store = match opened {
        Some(mut store) => {
            store.ready_for_resuming(start.run_id());
            store.set_histogram_buckets(llmbench_serve::histogram_buckets());
            store
        }
        None => location.open_for_writing()?,
    };
    if let Some(shard) = shard {
        // On PostgreSQL, shards of one run hold their own locks and join the run.
        store.set_claim_scope(&shard.to_string());
    }
    let plugin_dir = dirs
        .plugin_dir
        .or_else(|| config.run.plugin_dir.clone())
        .unwrap_or_else(default_plugin_dir);
    dirs.grace.apply(&mut config);
    let resume = resume_command(start.run_id(), &location);
    // The store as the table's hint names it: `status` (a shard's hint) takes `--store DIR`.
    let store_flags = match shard {
        Some(_) => location.store_flag(),
        None => location.flag().trim_start().to_owned(),
    };
    let stop = StopSignal {
        requests: llmbench_runner::stop_on_signals()
            .map_err(|e| anyhow::anyhow!("cannot listen for Ctrl-C and SIGTERM: {e}"))?,
        on_event: Box::new(move |event| tell(&resume, event)),
    };
    let progress = Arc::new(crate::progress::Progress::new(estimate.samples));
    let metrics = Arc::new(llmbench_metrics::Metrics::new());
    let observer: Arc<dyn llmbench_runner::Observer> = match push_gateway {
        None => progress.clone(),
        Some(_) => Arc::new(llmbench_runner::Both(
            progress.clone(),
            Arc::new(llmbench_serve::MetricsObserver::new(
                metrics.clone(),
                llmbench_serve::provider_labels(&config),
            )),
        )),
    };
    let (store, result) = llmbench_runner::run_sweep_sharded(
        &config,
        &plugin_dir,
        store,
        start,
        observer,
        stop,
        shard,
    )
    .await;
    progress.finish();
    let result = result.map_err(|e| match e {
        // Dataset values a grader cannot use are the config's fault, not a plugin's.
        SweepError::Build(e @ llmbench_runner::BuildError::ItemOptions { .. }) => {
            Failure::new(EXIT_CONFIG, e)
        }
        SweepError::Build(e) => Failure::new(EXIT_PLUGIN, e),
        // Another process holds this run (a second `resume`, or a shard started twice).
        SweepError::Store(e) if e.kind() == "run_busy" => Failure::new(EXIT_BUSY, e),
        e => Failure::new(EXIT_STORE, e),
    })?;
    // The items are not read past the run: released before the report is built (the
    // table's per-sample arrays are the peak of a large sweep's memory).
    for task in &mut config.tasks {
        task.items = llmbench_config::Items::empty();
    }
    // The table from one streaming pass over the samples: memory does not grow with the run.
    let report = crate::report::read_bounded(
        &store,
        &result.run_id,
        llmbench_report::summary::SampleLimits {
            full: 30,
            failing_per_provider: 0,
        },
        &llmbench_report::stats::Bootstrap {
            resamples: 0,
            ..llmbench_report::stats::Bootstrap::default()
        },
    )
    .map_err(|e| Failure::new(EXIT_STORE, e))?;
    let console = llmbench_report::ConsoleReporter {
        store_flags: Some(store_flags).filter(|flags| !flags.is_empty()),
        shard: shard.map(|s| llmbench_report::ShardNote {
            index: s.index,
            count: s.count,
            complete: !result.outcome.interrupted && !result.outcome.budget_exhausted,
        }),
    };
    print(&console.render(&report)?);
    if let Some(gateway) = &push_gateway {
        let outcome = llmbench_serve::push::push_sweep(
            gateway,
            &config,
            &store,
            &result.run_id,
            &metrics,
            shard,
        )
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
    if result.outcome.interrupted {
        return Ok(EXIT_INTERRUPTED);
    }
    // A sweep in which some model answered nothing measured nothing for it: say so, exit 7.
    if let Some(why) = crate::outcome::unanswered(&report) {
        return Err(Failure::new(EXIT_NO_ANSWERS, anyhow::anyhow!(why)));
    }
    Ok(crate::common::EXIT_DONE)
}

/// The command that resumes `run_id` from the store at `location`.
fn resume_command(run_id: &str, location: &Location) -> String {
    format!("llmbench resume {run_id}{}", location.flag())
}

/// Says what a stopping sweep does.
fn tell(resume: &str, event: StopEvent) {
    let requests = |n: usize| format!("{n} request{}", if n == 1 { "" } else { "s" });
    match event {
        StopEvent::Draining { in_flight: 0, .. } => {
            tracing::warn!("stopping: no new samples; none in flight");
        }
        StopEvent::Draining { in_flight, grace } => tracing::warn!(
            "stopping: no new samples; waiting up to {} s for {in_flight} in-flight request{} (Ctrl-C again to stop now)",
            grace.as_secs_f64(),
            if in_flight == 1 { "" } else { "s" }
        ),
        StopEvent::Cancelled { cancelled: 0, .. } => {
            tracing::warn!("stopping now: nothing was in flight");
        }
        StopEvent::Cancelled { cancelled, .. } => tracing::warn!(
            "stopping now: {} cancelled; {} will be redone by `{resume}`",
            requests(cancelled),
            if cancelled == 1 { "it" } else { "they" }
        ),
    }
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
    let judges = match (estimate.judgements, estimate.unpriced_judgements) {
        (0, _) => String::new(),
        (n, 0) => format!(
            " (models {:.5} USD; judges {:.5} USD for {n} gradings)",
            estimate.model_usd(),
            estimate.judge_usd
        ),
        (n, unpriced) => format!(
            " (models {:.5} USD; judges {:.5} USD for {n} gradings, {unpriced} of them without a price)",
            estimate.model_usd(),
            estimate.judge_usd
        ),
    };
    let line = format!(
        "estimated cost: {:.5} USD for {} samples{unpriced}{judges}",
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
