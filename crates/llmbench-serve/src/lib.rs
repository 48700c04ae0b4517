//! `llmbench serve`: keeps a benchmark running.
//!
//! [`serve`] runs a config's sweep on its `[schedule]` (a fixed interval, or a cron
//! expression in a time zone), plus jitter; it never runs two sweeps of one config at once
//! (a start that comes due while a sweep runs is skipped and counted in
//! `llmbench_sweeps_skipped_total`, and a lock file keeps a second `serve` of the same sweep
//! and store from starting; on a PostgreSQL store, the database's advisory lock). Each sweep is an ordinary run in the results store. When told
//! to stop (SIGTERM or Ctrl-C) it starts no new sample, gives the requests in flight the
//! config's grace period (`[run] grace-seconds`) to finish, cancels the rest (at once on a
//! second signal), stores every finished sample and marks the run interrupted; the next
//! `serve` of the config resumes that run (or one left `running` by a crash) before anything
//! else, and sends the cancelled requests again.
//!
//! Meanwhile it serves `/metrics` and `/healthz` over HTTP. Store-derived metrics are
//! rebuilt from the store on start (see `history`), so they never count a stored sample
//! twice; they are rebuilt from each run's aggregates, so start-up reads a few rows per run,
//! not every sample, and the store's integrity check (which reads the whole file) runs once
//! `/metrics` is served, before the first sweep writes: start-up time does not grow with the
//! number of stored samples (a damaged store still stops `serve`, exit 4). After each sweep the config's retention (`[schedule] keep-runs` /
//! `keep-days`) deletes older runs' samples and keeps their aggregates, so a daemon running
//! for a year keeps a bounded store and exact metrics.
//!
//! This crate is also where the metrics meet the runner, the config and the store (the
//! metrics crate itself knows none of them): [`MetricsObserver`] fills the metrics from the
//! runner's samples ([`record_sample`], which also replays stored ones), [`account_run`]
//! accounts for a sweep that ended, and [`push`] pushes a one-shot run's metrics to a
//! Pushgateway (`llmbench run --push-gateway`).

mod account;
mod history;
mod http;
mod observe;
pub mod push;
mod schedule;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::Timestamp;
use llmbench_config::Config;
use llmbench_metrics::{EndedRun, MetricId, Metrics, ModelLabels, SweepOutcome};
use llmbench_runner::{Stop, StopEvent, StopSignal, SweepError, SweepStart};
use llmbench_store::{Store, StoreError};
use tokio::sync::watch;

pub use crate::account::{
    account_run, now_unix, price_table_date, set_build_info, sweep_outcome, totals_of_aggregates,
    unix_seconds,
};
pub use crate::observe::{
    MetricsObserver, histogram_buckets, labels_of, provider_labels, record_aggregates,
    record_sample, touch_samples,
};
use crate::schedule::{Schedule, jitter, unsigned};

/// Where `serve` keeps its results, finds its plugins and listens.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub plugin_dir: PathBuf,
    /// The results store's directory (created if needed), unless [`ServeOptions::postgres`].
    pub output_dir: PathBuf,
    /// A PostgreSQL store (the config's `[run] store`) instead of the SQLite one in
    /// `output_dir`; a session advisory lock there, not a lock file, keeps a second `serve`
    /// of the sweep from starting against the same database.
    pub postgres: Option<llmbench_store::PgTarget>,
    /// Overrides the config's `schedule.metrics-address`.
    pub metrics_address: Option<SocketAddr>,
}

/// Why `serve` could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "{path}: no `[schedule]` section; `llmbench serve` needs one (for example `[schedule]` with `interval-seconds = 21600`)"
    )]
    NoSchedule { path: PathBuf },
    #[error("another `llmbench serve` is running sweep `{sweep}` with the store {store} ({lock})")]
    Locked {
        sweep: String,
        /// The store's directory, or its PostgreSQL URL without the password.
        store: String,
        /// What is held: `lock file PATH`, or the database's advisory lock.
        lock: String,
    },
    #[error("cannot create the lock file {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot serve metrics on {address}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl ServeError {
    /// A bounded label for the kind of failure.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::NoSchedule { .. } => "no_schedule",
            Self::Locked { .. } => "locked",
            Self::Lock { .. } => "lock",
            Self::Store(e) => e.kind(),
            Self::Bind { .. } => "bind",
        }
    }
}

/// Serves `/metrics` and `/healthz` for `metrics` on `listener` until the future is dropped
/// (what [`serve`] runs in the background).
pub async fn serve_metrics(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    http::serve(listener, metrics).await;
}

/// Stop requests from SIGTERM and SIGINT (Ctrl-C): the first drains the running sweep, the
/// second cancels what it has in flight at once ([`llmbench_runner::stop_on_signals`]). Must
/// be called inside a tokio runtime.
pub fn stop_on_signals() -> std::io::Result<watch::Receiver<Stop>> {
    llmbench_runner::stop_on_signals()
}

/// Runs `config`'s sweep on its schedule until a stop is requested, then returns after the
/// running sweep (if any) has stored what finished within its grace period, cancelled the
/// rest and been marked interrupted.
///
/// `on_listening` is called once with the metrics address actually bound (useful with port
/// 0).
pub async fn serve(
    config: Config,
    options: ServeOptions,
    mut stop: watch::Receiver<Stop>,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let Some(schedule_config) = config.schedule.clone() else {
        return Err(ServeError::NoSchedule {
            path: config.path.clone(),
        });
    };
    let sweep = config.sweep_name();
    // The sweep's lock first: a second `serve` of it stops before touching the store.
    let (mut store, _lock) = match &options.postgres {
        Some(target) => {
            let store = Store::open_postgres(target)?;
            if !store.try_lock_sweep(&sweep)? {
                return Err(ServeError::Locked {
                    sweep,
                    store: store.path().display().to_string(),
                    lock: "the database's advisory lock of the sweep is held".to_owned(),
                });
            }
            (store, None)
        }
        None => {
            std::fs::create_dir_all(&options.output_dir).map_err(|source| ServeError::Lock {
                path: options.output_dir.clone(),
                source,
            })?;
            let lock = lock(&options.output_dir, &sweep)?;
            // The integrity check reads the whole file: it runs once metrics are served
            // (below).
            let store = Store::open_in_dir_unverified(&options.output_dir)?;
            (store, Some(lock))
        }
    };
    store.set_histogram_buckets(histogram_buckets());
    let schedule = Schedule::new(schedule_config.trigger.clone());

    let metrics = Arc::new(Metrics::new());
    set_build_info(&metrics, &config);
    metrics.init_sweep(
        &sweep,
        Some(schedule.interval(Timestamp::now()).as_secs_f64()),
    );
    touch_samples(&metrics, &config);
    let started = std::time::Instant::now();
    let history = history::restore(
        &store,
        &config,
        &sweep,
        schedule_config.max_error_ratio,
        &metrics,
    )?;
    tracing::info!(
        sweep,
        runs = history.runs,
        samples = history.samples,
        resume = history.resume.as_deref().unwrap_or("-"),
        seconds = started.elapsed().as_secs_f64(),
        "rebuilt metrics from the store"
    );
    if metrics.value(MetricId::LastSuccess, &[&sweep]) == 0.0 {
        // Never succeeded: count the staleness from now, so that it is alerted on too.
        metrics.set(MetricId::LastSuccess, &[&sweep], now_unix());
    }

    let address = options
        .metrics_address
        .unwrap_or(schedule_config.metrics_address);
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| ServeError::Bind { address, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServeError::Bind { address, source })?;
    let http = tokio::spawn(http::serve(listener, Arc::clone(&metrics)));
    tracing::info!(%bound, sweep, "serving /metrics and /healthz");
    on_listening(bound);
    // Before anything is written (the first sweep), the file is checked.
    let checked = std::time::Instant::now();
    let store = match tokio::task::spawn_blocking(move || store.verify().map(|()| store)).await {
        Ok(Ok(store)) => store,
        Ok(Err(e)) => {
            http.abort();
            return Err(e.into());
        }
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    tracing::debug!(
        sweep,
        seconds = checked.elapsed().as_secs_f64(),
        "checked the results store"
    );

    let mut worker = Worker {
        config: &config,
        options: &options,
        sweep: &sweep,
        max_error_ratio: schedule_config.max_error_ratio,
        metrics: &metrics,
        providers: provider_labels(&config),
        observer: Arc::new(MetricsObserver::new(
            Arc::clone(&metrics),
            provider_labels(&config),
        )),
        store: Some(store),
    };
    let mut resume = history.resume;
    let mut tick = schedule.first_start(Timestamp::now(), history.last_created);
    loop {
        let start = match resume.take() {
            // An unfinished run is overdue: resume it at once.
            Some(run_id) => {
                tick = Timestamp::now();
                SweepStart::Resume { run_id }
            }
            None => {
                let at = tick
                    + jiff::SignedDuration::try_from(jitter(schedule_config.jitter))
                        .unwrap_or_default();
                tracing::info!(sweep, at = %at, "next sweep");
                if !sleep_until(at, &mut stop).await {
                    tracing::warn!(sweep, "stopping: no sweep is running");
                    break;
                }
                SweepStart::New {
                    run_id: llmbench_store::new_run_id(),
                }
            }
        };
        let run_id = start.run_id().to_owned();
        let outcome = worker.run(start, stop.clone()).await;
        worker.retain();
        if *stop.borrow() != Stop::Run {
            if outcome == SweepOutcome::Interrupted {
                tracing::warn!(
                    sweep,
                    run = run_id,
                    "stopped: run {run_id} is interrupted; the next `llmbench serve` resumes it"
                );
            } else {
                tracing::warn!(
                    sweep,
                    run = run_id,
                    "stopping: run {run_id} has ended; no sweep is running"
                );
            }
            break;
        }
        let (next, skipped) = schedule.after_sweep(tick, Timestamp::now());
        if skipped > 0 {
            tracing::warn!(
                sweep,
                skipped,
                "the sweep outlasted its interval: skipped the starts that came due"
            );
            metrics.add(MetricId::SweepsSkipped, &[&sweep], skipped as f64);
        }
        tick = next;
    }
    http.abort();
    Ok(())
}

/// Runs sweeps and accounts for them.
struct Worker<'a> {
    config: &'a Config,
    options: &'a ServeOptions,
    sweep: &'a str,
    max_error_ratio: f64,
    metrics: &'a Metrics,
    providers: HashMap<String, ModelLabels>,
    observer: Arc<MetricsObserver>,
    /// Handed to each sweep and back.
    store: Option<Store>,
}

impl Worker<'_> {
    fn retain(&mut self) {
        if let Some(store) = self.store.as_mut() {
            retain(store, self.config, self.sweep);
        }
    }

    async fn run(&mut self, start: SweepStart, stop: watch::Receiver<Stop>) -> SweepOutcome {
        let store = self
            .store
            .take()
            .expect("the store is back after each sweep");
        let sweep = self.sweep;
        let started = now_unix();
        tracing::info!(sweep, run = start.run_id(), "sweep starting");
        self.metrics.set(MetricId::SweepInProgress, &[sweep], 1.0);
        let run_id = start.run_id().to_owned();
        let stop = StopSignal {
            requests: stop,
            on_event: Box::new(move |event| tell(&run_id, event)),
        };
        // A resumed run continues with the inputs it stored, not the files on disk now.
        let stored = match &start {
            SweepStart::Resume { run_id } => match llmbench_runner::resume_config(&store, run_id) {
                Ok((mut config, _)) => {
                    config.run.grace = self.config.run.grace;
                    Some(config)
                }
                Err(e) => {
                    tracing::warn!(sweep, run = %run_id, error = %llmbench_core::error_chain(&e), "cannot rebuild the run's stored inputs; resuming with the config as loaded");
                    None
                }
            },
            SweepStart::New { .. } => None,
        };
        let (store, result) = llmbench_runner::run_sweep(
            stored.as_ref().unwrap_or(self.config),
            &self.options.plugin_dir,
            store,
            start.clone(),
            self.observer.clone(),
            stop,
        )
        .await;
        self.metrics.set(MetricId::SweepInProgress, &[sweep], 0.0);
        let outcome = match &result {
            Err(SweepError::Build(e)) => {
                // Nothing was stored: the run was never created.
                tracing::error!(sweep, error = %llmbench_core::error_chain(&e), "the sweep could not start");
                self.metrics.set_ended_run(
                    sweep,
                    &EndedRun {
                        outcome: SweepOutcome::Failure,
                        created: started,
                        ended: now_unix(),
                    },
                );
                SweepOutcome::Failure
            }
            _ => {
                if let Err(e) = &result {
                    tracing::error!(sweep, error = %llmbench_core::error_chain(&e), "the sweep failed");
                }
                let accounted = account_run(
                    self.metrics,
                    &store,
                    start.run_id(),
                    sweep,
                    &self.providers,
                    self.max_error_ratio,
                    None,
                );
                match (accounted, &result) {
                    (Err(e), _) => {
                        tracing::error!(sweep, error = %llmbench_core::error_chain(&e), "cannot read the sweep's results back");
                        SweepOutcome::Failure
                    }
                    // Stopped by the spend cap, not by us: it did not succeed, and it is not
                    // resumed (the next start is a new run).
                    (Ok(_), Ok(r)) if r.outcome.budget_exhausted => SweepOutcome::Failure,
                    (Ok(outcome), _) => outcome,
                }
            }
        };
        self.metrics.count_sweep(sweep, outcome);
        tracing::info!(
            sweep,
            run = start.run_id(),
            outcome = outcome.as_str(),
            "sweep ended"
        );
        self.store = Some(store);
        outcome
    }
}

/// Applies `config`'s retention (`[schedule] keep-runs` / `keep-days`) to the config's own
/// runs (the runs stored with its path): older runs' samples are deleted, their runs and
/// aggregates kept, so the store stops growing while the metrics keep counting them. What
/// `serve` does after each sweep. Failures are logged: the samples are deleted after the next
/// sweep instead.
pub(crate) fn retain(store: &mut Store, config: &Config, sweep: &str) {
    let Some(schedule) = &config.schedule else {
        return;
    };
    if schedule.keep_runs.is_none() && schedule.keep_days.is_none() {
        return;
    }
    let config_path = config.path.display().to_string();
    match store.apply_retention(schedule.keep_runs, schedule.keep_days, Some(&config_path)) {
        Ok(outcome) if outcome.runs.is_empty() => {}
        Ok(outcome) => tracing::info!(
            sweep,
            runs = outcome.runs.len(),
            samples = outcome.samples,
            keep_runs = schedule.keep_runs,
            keep_days = schedule.keep_days,
            "retention: deleted the samples of older runs, kept their aggregates"
        ),
        Err(e) => tracing::warn!(
            sweep,
            error = %llmbench_core::error_chain(&e),
            "retention failed; it is tried again after the next sweep"
        ),
    }
}

/// Says what a stopping sweep does.
fn tell(run_id: &str, event: StopEvent) {
    match event {
        StopEvent::Draining { in_flight: 0, .. } => {
            tracing::warn!(run = run_id, "stopping: no new samples; none in flight");
        }
        StopEvent::Draining { in_flight, grace } => tracing::warn!(
            run = run_id,
            "stopping: no new samples; waiting up to {} s for {in_flight} in-flight request{} \
             (SIGTERM or Ctrl-C again to stop now)",
            grace.as_secs_f64(),
            if in_flight == 1 { "" } else { "s" },
        ),
        StopEvent::Cancelled { cancelled: 0, .. } => {
            tracing::warn!(run = run_id, "stopping now: nothing was in flight");
        }
        StopEvent::Cancelled { cancelled, .. } => tracing::warn!(
            run = run_id,
            "stopping now: {cancelled} request{} cancelled; the next `llmbench serve` sends {} \
             again when it resumes run {run_id}",
            if cancelled == 1 { "" } else { "s" },
            if cancelled == 1 { "it" } else { "them" },
        ),
    }
}

/// Sleeps until `at`; false when told to stop first.
async fn sleep_until(at: Timestamp, stop: &mut watch::Receiver<Stop>) -> bool {
    if *stop.borrow() != Stop::Run {
        return false;
    }
    let wait = unsigned(at.duration_since(Timestamp::now()));
    let stopped = async {
        if stop.wait_for(|&s| s != Stop::Run).await.is_err() {
            // Nobody can stop us any more.
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::time::sleep(wait) => true,
        _ = stopped => false,
    }
}

/// Holds `<output-dir>/.serve-<sweep>.lock` locked for as long as the file is open.
fn lock(dir: &Path, sweep: &str) -> Result<std::fs::File, ServeError> {
    let path = dir.join(format!(".serve-{sweep}.lock"));
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServeError::Lock {
            path: path.clone(),
            source,
        })?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ServeError::Locked {
            sweep: sweep.to_owned(),
            store: format!("in {}", dir.display()),
            lock: format!("lock file {}", path.display()),
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(ServeError::Lock { path, source }),
    }
}
