//! Running a plan: bounded concurrency, timeouts, retries, cancellation, and a writer thread
//! that stores each finished sample in one transaction.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmbench_core::{
    Completion, CompletionRequest, Grade, GradeOutcome, GradeRequest, ProviderError,
    ProviderErrorKind, SampleId, SampleRecord, SampleStatus, Task, cost_usd,
};
use llmbench_store::{AttemptRecord, Store, StoreError};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::judge::{RunContext, Spend};
use crate::{Components, Plan, PlannedSample, ProviderSlot, RetryPolicy};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub run_id: String,
    /// Samples in flight at once, over all providers.
    pub concurrency: usize,
    /// Per attempt.
    pub timeout: Duration,
    pub retry: RetryPolicy,
    /// Samples already finished (when resuming): skipped.
    pub done: HashSet<SampleId>,
    /// Stop starting samples once this much has been spent (USD). Samples in flight finish
    /// (their requests are already paid for), so a run may pass the cap by at most the cost
    /// of `concurrency` samples.
    pub max_cost_usd: Option<f64>,
    /// Spent by earlier invocations of this run (when resuming), counted against the cap.
    pub already_spent_usd: f64,
    /// After [`Stop::Drain`], how long the samples in flight may take to finish before they
    /// are cancelled.
    pub grace: Duration,
}

/// What a run is asked to do, through the `watch` channel of its [`StopSignal`]. Requests
/// only escalate: `Run`, then `Drain`, then `Now`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stop {
    /// Keep going.
    #[default]
    Run,
    /// Start no new sample; give the samples in flight [`RunOptions::grace`] to finish, then
    /// cancel the rest.
    Drain,
    /// Cancel the samples in flight at once.
    Now,
}

/// What a run did about a stop request, for its caller to tell the user. Cancelled samples
/// are not stored: resuming the run sends them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopEvent {
    /// No new sample starts; the `in_flight` samples have `grace` to finish.
    Draining { in_flight: usize, grace: Duration },
    /// The samples still in flight were cancelled: the grace period ran out
    /// (`grace_over`), or the caller asked for [`Stop::Now`].
    Cancelled { cancelled: usize, grace_over: bool },
}

/// How a run is told to stop, and how it says what it does about it.
pub struct StopSignal {
    pub requests: watch::Receiver<Stop>,
    /// Called (on the runner's task; keep it cheap) when the run starts draining and when it
    /// cancels what is in flight.
    pub on_event: Box<dyn Fn(StopEvent) + Send + Sync>,
}

impl StopSignal {
    /// `requests`, with events logged as warnings.
    pub fn new(requests: watch::Receiver<Stop>) -> Self {
        Self {
            requests,
            on_event: Box::new(|event| tracing::warn!(?event, "stopping")),
        }
    }

    /// A signal that never asks to stop.
    pub fn never() -> Self {
        let (tx, rx) = watch::channel(Stop::Run);
        drop(tx);
        Self::new(rx)
    }
}

impl std::fmt::Debug for StopSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StopSignal")
            .field("requests", &*self.requests.borrow())
            .finish_non_exhaustive()
    }
}

/// Told about progress; must be cheap (it runs on the runner's tasks).
pub trait Observer: Send + Sync {
    fn sample_skipped(&self) {}
    fn sample_finished(&self, _record: &SampleRecord, _attempts: &[AttemptRecord]) {}
    fn attempt_failed(&self, _provider: &str, _error: &ProviderError) {}
}

impl Observer for () {}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunOutcome {
    /// Samples finished in this invocation (with a completion or a final error).
    pub finished: u64,
    /// Of those, samples that ended in a provider error.
    pub errors: u64,
    /// Samples skipped because an earlier invocation finished them.
    pub skipped: u64,
    /// The run was stopped before every sample finished.
    pub interrupted: bool,
    /// Samples cancelled in flight when the run was stopped (not stored).
    pub cancelled: u64,
    /// The run stopped early because it reached `max_cost_usd`.
    pub budget_exhausted: bool,
    /// What this run has cost so far, in USD, where costs are known: over all its
    /// invocations when a spend cap is set (`max_cost_usd`), else this invocation's only (a
    /// resumed run reads what earlier invocations spent only to count it against the cap).
    pub spent_usd: f64,
}

/// The run could not go on.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("failed to record a result; the run stopped (results stored so far are kept)")]
    Store(#[source] StoreError),
}

/// The request a planned sample sends: the task's rendering with the provider's model,
/// sampling and limits applied. A configured seed is offset by the repeat index.
pub fn sample_request(components: &Components, sample: &PlannedSample) -> CompletionRequest {
    let item = components.tasks[sample.task].task.items.get(sample.item);
    request_for(components, sample, &item)
}

/// [`sample_request`] with the sample's item already decoded.
fn request_for(
    components: &Components,
    sample: &PlannedSample,
    item: &llmbench_core::Item,
) -> CompletionRequest {
    let slot = &components.tasks[sample.task];
    let provider = &components.providers[sample.provider];
    let mut request = slot.task.render(item);
    request.model = provider.model.clone();
    if let Some(max) = provider.max_tokens {
        request.max_tokens = max;
    }
    request.sampling = provider.sampling.clone();
    // A configured seed is offset by the repeat index: repeats differ, and each stays
    // reproducible.
    if let Some(seed) = request.sampling.seed.as_mut() {
        *seed = seed.wrapping_add(u64::from(sample.repeat));
    }
    request.stream = provider.stream;
    request.sample = Some(sample.key(components));
    request
}

type Finished = (SampleRecord, Vec<AttemptRecord>);

/// Run every sample of `plan` not in `options.done`, storing each as it finishes.
///
/// Stops early when asked through `stop`: on [`Stop::Drain`] no new sample starts and the
/// samples in flight get [`RunOptions::grace`] to finish (those that do are stored); then, or
/// at once on [`Stop::Now`], the rest are cancelled (their futures dropped, which releases
/// their plugin calls with cancel) and not stored. Everything finished is written before this
/// returns. The store is handed back for the caller to mark the run's status.
pub async fn execute(
    components: Arc<Components>,
    plan: &Plan,
    store: Store,
    options: RunOptions,
    observer: Arc<dyn Observer>,
    stop: StopSignal,
) -> (Result<RunOutcome, RunError>, Store) {
    let (tx, rx) = mpsc::channel::<Finished>(256);
    let run_id = options.run_id.clone();
    let writer = std::thread::Builder::new()
        .name("llmbench-store".into())
        .spawn(move || write_loop(store, &run_id, rx))
        .expect("spawn store writer");

    let global = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let spend = Arc::new(Spend::new(options.already_spent_usd, options.max_cost_usd));
    // Graders' model requests (a judge's) go through this run, until it ends.
    components.judges.bind(Arc::new(RunContext {
        timeout: options.timeout,
        retry: options.retry.clone(),
        spend: Arc::clone(&spend),
    }));
    let shared = Arc::new(Shared {
        options,
        observer,
        components,
        spend,
    });
    let mut outcome = RunOutcome {
        finished: 0,
        errors: 0,
        skipped: 0,
        interrupted: false,
        cancelled: 0,
        budget_exhausted: false,
        spent_usd: 0.0,
    };
    let StopSignal {
        requests: mut stop,
        on_event,
    } = stop;
    let mut in_flight = JoinSet::new();
    let mut write_failed = false;
    // Whether every sample of the plan was started (or skipped as done).
    let mut all_started = true;

    // A new run has nothing done: no key to build and hash per sample.
    let resuming = !shared.options.done.is_empty();
    'plan: for sample in plan.iter() {
        if resuming && shared.options.done.contains(&sample.id(&shared.components)) {
            outcome.skipped += 1;
            shared.observer.sample_skipped();
            continue;
        }
        let permit = tokio::select! {
            biased;
            _ = stop_requested(&mut stop) => { all_started = false; break 'plan; }
            permit = Arc::clone(&global).acquire_owned() => permit.expect("semaphore never closed"),
        };
        if shared.over_budget() {
            outcome.budget_exhausted = true;
            all_started = false;
            break 'plan;
        }
        // Reap what finished, so the set stays as small as the concurrency limit.
        while let Some(done) = in_flight.try_join_next() {
            if !forward(done, &tx, &mut outcome).await {
                write_failed = true;
                all_started = false;
                break 'plan;
            }
        }
        let shared = Arc::clone(&shared);
        in_flight.spawn(async move {
            let result = run_sample(&shared, sample).await;
            drop(permit);
            result
        });
    }

    // Wait for what is in flight, watching for stop requests: the first gives the samples
    // in flight the grace period, the grace period running out or `Stop::Now` cancels them.
    let mut seen = Stop::Run;
    let mut grace_ends: Option<tokio::time::Instant> = None;
    let mut can_change = true;
    let mut cancel: Option<bool> = None; // Some(grace_over) once the samples are to be cancelled
    while !write_failed && cancel.is_none() {
        let request = *stop.borrow_and_update();
        if request > seen {
            if seen == Stop::Run {
                // Count only what is really still running.
                while let Some(done) = in_flight.try_join_next() {
                    if !forward(done, &tx, &mut outcome).await {
                        write_failed = true;
                    }
                }
            }
            seen = request;
            match request {
                Stop::Run => {}
                Stop::Drain => {
                    let grace = shared.options.grace;
                    on_event(StopEvent::Draining {
                        in_flight: in_flight.len(),
                        grace,
                    });
                    grace_ends = Some(tokio::time::Instant::now() + grace);
                }
                Stop::Now => cancel = Some(false),
            }
            continue;
        }
        tokio::select! {
            biased;
            changed = stop.changed(), if can_change => {
                // The sender is gone: nobody can ask to stop any more.
                can_change = changed.is_ok();
            }
            () = sleep_until(grace_ends) => cancel = Some(true),
            next = in_flight.join_next() => match next {
                None => break,
                Some(done) => {
                    if !forward(done, &tx, &mut outcome).await {
                        write_failed = true;
                    }
                }
            },
        }
    }
    if let Some(grace_over) = cancel.filter(|_| !write_failed) {
        // Dropping the futures cancels their requests and plugin calls. A sample that
        // finished before its task saw the abort is complete, and stored as usual.
        in_flight.abort_all();
        while let Some(done) = in_flight.join_next().await {
            match done {
                Err(e) if e.is_cancelled() => outcome.cancelled += 1,
                // A failed write is reported by the writer, below.
                done => _ = forward(done, &tx, &mut outcome).await,
            }
        }
        on_event(StopEvent::Cancelled {
            cancelled: outcome.cancelled as usize,
            grace_over,
        });
    }
    // Stopped before every sample was started, or with samples cancelled: the run is not
    // complete. (A stop that comes after the last sample started, whose samples all finish
    // within the grace period, leaves a complete run.)
    outcome.interrupted = seen != Stop::Run && (!all_started || outcome.cancelled > 0);
    in_flight.abort_all();
    drop(tx);
    shared.components.judges.unbind();
    outcome.spent_usd = shared.spend.total();
    if outcome.budget_exhausted {
        tracing::warn!(
            spent_usd = outcome.spent_usd,
            cap_usd = shared.options.max_cost_usd,
            "spend cap reached: no new samples started"
        );
    }
    let (store, write_error) = writer.join().expect("store writer does not panic");
    if let Some(e) = write_error {
        return (Err(RunError::Store(e)), store);
    }
    (Ok(outcome), store)
}

/// Resolves once a stop is requested (never, once nobody can request one).
async fn stop_requested(stop: &mut watch::Receiver<Stop>) {
    if stop.wait_for(|&s| s != Stop::Run).await.is_err() {
        // The sender is gone: nobody can stop us any more.
        std::future::pending::<()>().await;
    }
}

/// Sleeps until `at`; forever when there is no `at`.
async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Send a finished sample to the writer. False when the writer has stopped (a store error).
async fn forward(
    done: Result<Finished, tokio::task::JoinError>,
    tx: &mpsc::Sender<Finished>,
    outcome: &mut RunOutcome,
) -> bool {
    let finished = match done {
        Ok(finished) => finished,
        // Aborted by cancellation: that sample is simply not finished.
        Err(e) if e.is_cancelled() => return true,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    };
    outcome.finished += 1;
    if finished.0.status == SampleStatus::Error {
        outcome.errors += 1;
    }
    tx.send(finished).await.is_ok()
}

/// Most finished samples the store writer puts in one transaction.
const GROUP_COMMIT_MAX: usize = 32;

/// The store writer. Group commit: a sample is written as soon as the writer is free, together
/// with whatever else finished meanwhile (at most [`GROUP_COMMIT_MAX`]), in one transaction:
/// one commit (one fsync on PostgreSQL) for all of them. It never waits to fill a group, and
/// it changes nothing in what a kill can lose: the samples of a group were already waiting in
/// the queue. A group the store refuses is written again one sample at a time, so one bad
/// sample does not cost the others; the writer stops at the first sample that fails alone.
fn write_loop(
    mut store: Store,
    run_id: &str,
    mut rx: mpsc::Receiver<Finished>,
) -> (Store, Option<StoreError>) {
    let mut group: Vec<Finished> = Vec::with_capacity(GROUP_COMMIT_MAX);
    while let Some(first) = rx.blocking_recv() {
        group.clear();
        group.push(first);
        while group.len() < GROUP_COMMIT_MAX {
            match rx.try_recv() {
                Ok(finished) => group.push(finished),
                Err(_) => break,
            }
        }
        let written = store.record_samples(
            run_id,
            group
                .iter()
                .map(|(record, attempts)| (record, attempts.as_slice())),
        );
        if written.is_ok() {
            continue;
        }
        for (record, attempts) in &group {
            if let Err(e) = store.record_sample(run_id, record, attempts) {
                tracing::error!(error = %llmbench_core::error_chain(&e), sample = %record.key.id(), "failed to record a sample");
                return (store, Some(e));
            }
        }
    }
    (store, None)
}
struct Shared {
    options: RunOptions,
    observer: Arc<dyn Observer>,
    components: Arc<Components>,
    /// Known spend of the run so far (models under test and graders), and the cap.
    spend: Arc<Spend>,
}

impl Shared {
    fn over_budget(&self) -> bool {
        self.spend.over()
    }

    fn attempting(&self) -> Attempting<'_> {
        Attempting {
            retry: &self.options.retry,
            timeout: self.options.timeout,
            observer: Some(&*self.observer),
        }
    }
}

async fn run_sample(shared: &Shared, sample: PlannedSample) -> Finished {
    let components = &shared.components;
    let provider = &components.providers[sample.provider];
    // Decoded from the task's compact items for this sample only, dropped with it.
    let item = components.tasks[sample.task].task.items.get(sample.item);
    let request = request_for(components, &sample, &item);
    let key = request.sample.clone().expect("set by sample_request");
    let limit = match &provider.limit {
        Some(limit) => Some(limit.acquire().await.expect("semaphore never closed")),
        None => None,
    };
    let (result, attempts) = call_with_retries(&shared.attempting(), provider, &request).await;
    // The provider's `concurrency` counts its requests in flight: its slot is free for the
    // next request while this answer is graded (a sandboxed grading can take seconds).
    drop(limit);
    let (completion, error) = match result {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    };
    let slot = &components.tasks[sample.task];
    let mut grades = Vec::with_capacity(slot.graders.len());
    let mut verdict = None;
    let mut completion = completion;
    if let Some(answer) = completion.take() {
        // The completion moves into the request and back out after grading: no copy of
        // its text per sample; the item, decoded for this sample, gives its variables.
        let grade_request = GradeRequest {
            task: key.task.clone(),
            item: key.item.clone(),
            vars: item.vars,
            options: None,
            completion: answer,
        };
        let mut graded = Vec::with_capacity(slot.graders.len());
        for (i, (_, grader)) in slot.graders.iter().enumerate() {
            // Options that use item variables are rendered inside the plugin, from the
            // request's item and variables (`GradeRequest::options`): nothing per grader
            // crosses the boundary but the request itself.
            let mut grade = grader
                .grade(&grade_request)
                .await
                .unwrap_or_else(|e| Grade {
                    outcome: GradeOutcome::Error,
                    ..Grade::fail(format!("grader error: {e}"))
                });
            // What grading spent (a judge model's tokens) is kept on the grade, apart from
            // the sample's cost, priced with the judge entry's price (its requests were
            // already counted against the spend cap as they were answered) or, for a grader
            // that calls a model by itself, with the grader's own price (counted now).
            let config = slot.task.graders.get(i);
            match config.and_then(|g| g.judge.as_deref()) {
                Some(judge) => {
                    let price = components.judges.slot(judge).and_then(|s| s.price.as_ref());
                    grade.cost_usd = grade
                        .usage
                        .as_ref()
                        .zip(price)
                        .and_then(|(usage, p)| cost_usd(usage, &p.price));
                }
                None => {
                    let price = config.and_then(|g| g.price.as_ref());
                    grade.cost_usd = grade
                        .usage
                        .as_ref()
                        .zip(price)
                        .and_then(|(usage, p)| cost_usd(usage, &p.price));
                    if let Some(cost) = grade.cost_usd {
                        shared.spend.add(cost);
                    }
                }
            }
            // An advisory grader's failure is reported as such; it never fails the sample.
            if config.is_some_and(|g| g.advisory) && grade.outcome != GradeOutcome::Pass {
                grade.evidence = format!("advisory: {}", grade.evidence);
            }
            graded.push(grade);
        }
        let advisory: Vec<bool> = slot.task.graders.iter().map(|g| g.advisory).collect();
        verdict = Some(slot.task.verdict_rule().decide_with(&graded, &advisory));
        // Grades decided on, then named: moved, not cloned.
        grades.extend(
            slot.graders
                .iter()
                .map(|(name, _)| name.clone())
                .zip(graded),
        );
        completion = Some(grade_request.completion);
    }
    let cost = completion.as_ref().and_then(|c| {
        provider
            .price
            .as_ref()
            .and_then(|p| cost_usd(&c.usage, &p.price))
    });
    if let Some(cost) = cost {
        shared.spend.add(cost);
    }
    let record = SampleRecord {
        key,
        model: provider.model.clone(),
        status: if completion.is_some() {
            SampleStatus::Done
        } else {
            SampleStatus::Error
        },
        completion,
        error,
        grades,
        verdict,
        cost_usd: cost,
        attempts: attempts.len() as u32,
        request: Some(request),
    };
    shared.observer.sample_finished(&record, &attempts);
    (record, attempts)
}

/// How requests are attempted: the run's retry policy and timeout per attempt, and who is
/// told about failed attempts (nobody, for a grader's requests).
pub(crate) struct Attempting<'a> {
    pub(crate) retry: &'a RetryPolicy,
    pub(crate) timeout: Duration,
    pub(crate) observer: Option<&'a dyn Observer>,
}

/// One request's attempts (a sample's, or a judge's) under the retry policy and the
/// provider's rate limits. The latency of the result is its own successful attempt; the time
/// lost to failed attempts and waits is in the attempt records.
pub(crate) async fn call_with_retries(
    how: &Attempting<'_>,
    slot: &ProviderSlot,
    request: &CompletionRequest,
) -> (Result<Completion, ProviderError>, Vec<AttemptRecord>) {
    let policy = RetryPolicy {
        max_retries: slot.max_retries,
        ..how.retry.clone()
    };
    let mut attempts = Vec::new();
    let mut wait = Duration::ZERO;
    loop {
        let charged = match &slot.limiter {
            Some(limiter) => limiter.acquire(request).await,
            None => 0,
        };
        let started = Instant::now();
        let result = match tokio::time::timeout(how.timeout, slot.provider.complete(request)).await
        {
            Ok(result) => result,
            Err(_) => Err(ProviderError::new(
                ProviderErrorKind::Timeout,
                format!("no answer within {:.1} s", how.timeout.as_secs_f64()),
            )),
        };
        let duration = started.elapsed().as_secs_f64();
        if let Some(limiter) = &slot.limiter {
            limiter
                .record(charged, result.as_ref().map(|c| &c.usage))
                .await;
        }
        let outcome = match &result {
            Ok(_) => "ok".to_owned(),
            Err(error) => error.kind.as_str().to_owned(),
        };
        attempts.push(AttemptRecord {
            outcome,
            http_status: result.as_ref().err().and_then(|e| e.http_status),
            wait_seconds: wait.as_secs_f64(),
            duration_seconds: duration,
        });
        let error = match result {
            Ok(completion) => return (Ok(completion), attempts),
            Err(error) => error,
        };
        if let Some(observer) = how.observer {
            observer.attempt_failed(&slot.name, &error);
        }
        let retries_taken = attempts.len() as u32 - 1;
        match policy.next_delay(&error, retries_taken, fastrand::f64()) {
            None => return (Err(error), attempts),
            Some(delay) => {
                tracing::debug!(provider = %slot.name, error = %error, delay_s = delay.as_secs_f64(), "retrying");
                tokio::time::sleep(delay).await;
                wait = delay;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Stopping a run through real plugins (`provider-testkit`, whose `SLEEP_MS=<n>` in a
    //! prompt holds that request back), loaded from the build directory.

    use std::path::{Path, PathBuf};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use llmbench_store::Store;
    use tokio::sync::watch;

    use super::{Stop, StopEvent, StopSignal};
    use crate::{RunOutcome, SweepStart, run_sweep};

    /// `target/<profile>`, where cargo built the plugin cdylibs of the dev-dependencies.
    fn plugin_dir() -> PathBuf {
        llmbench_testsupport::plugin_dir(&["provider-testkit"])
    }

    /// A config whose items sleep the given milliseconds each, counting calls in
    /// `dir/calls.tsv`.
    fn config(
        dir: &Path,
        sleeps_ms: &[u64],
        concurrency: usize,
        grace: f64,
    ) -> llmbench_config::Config {
        let items: Vec<String> = sleeps_ms
            .iter()
            .enumerate()
            .map(|(i, ms)| format!("{{ id = \"i{i}\", text = \"SLEEP_MS={ms}\" }}"))
            .collect();
        let source = format!(
            r#"[run]
concurrency = {concurrency}
timeout-seconds = 120
grace-seconds = {grace}

[providers.kit]
plugin = "provider-testkit"
model = "echo"
options = {{ counter-file = "calls.tsv" }}

[tasks.t]
prompt = "{{{{ text }}}}"
items = [{}]
"#,
            items.join(", ")
        );
        llmbench_config::parse(&source, &dir.join("bench.toml")).expect("a valid config")
    }

    fn calls(dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("calls.tsv"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    struct Stopped {
        outcome: RunOutcome,
        events: Vec<StopEvent>,
        /// Items stored, sorted.
        stored: Vec<String>,
        /// From the first stop request to the end of the sweep.
        stop_took: Duration,
    }

    /// Runs `config` in `dir`; once `started` requests were sent, asks for each of
    /// `requests` in turn, 300 ms apart.
    async fn run_and_stop(
        dir: &Path,
        config: &llmbench_config::Config,
        started: usize,
        requests: &[Stop],
    ) -> Stopped {
        let store = Store::open_in_dir(&dir.join("results")).unwrap();
        let (tx, rx) = watch::channel(Stop::Run);
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&events);
        let stop = StopSignal {
            requests: rx,
            on_event: Box::new(move |e| log.lock().unwrap().push(e)),
        };
        let first_request = Arc::new(Mutex::new(None));
        let asked = Arc::clone(&first_request);
        let (dir_owned, requests) = (dir.to_owned(), requests.to_vec());
        let asker = tokio::spawn(async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            while calls(&dir_owned) < started {
                assert!(Instant::now() < deadline, "the requests were not sent");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Let the plugin get into its sleep.
            tokio::time::sleep(Duration::from_millis(100)).await;
            for (i, request) in requests.into_iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                asked.lock().unwrap().get_or_insert_with(Instant::now);
                tx.send_replace(request);
            }
            tx
        });
        let (store, result) = run_sweep(
            config,
            &plugin_dir(),
            store,
            SweepStart::New {
                run_id: "r1".into(),
            },
            Arc::new(()),
            stop,
        )
        .await;
        let ended = Instant::now();
        let result = result.unwrap();
        let _tx = asker.await.unwrap();
        let stop_took =
            ended.duration_since(first_request.lock().unwrap().expect("a stop was asked"));
        let mut stored: Vec<String> = store
            .report("r1")
            .unwrap()
            .samples
            .iter()
            .map(|s| s.key.item.clone())
            .collect();
        stored.sort();
        let events = events.lock().unwrap().clone();
        Stopped {
            outcome: result.outcome,
            events,
            stored,
            stop_took,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn drain_stores_what_finishes_in_the_grace_period_and_cancels_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        // Four in flight (two that answer within the grace period, two stalled), two never
        // started.
        let config = config(dir.path(), &[1500, 60_000, 1500, 60_000, 10, 10], 4, 3.0);
        let s = run_and_stop(dir.path(), &config, 4, &[Stop::Drain]).await;
        assert_eq!(
            s.events,
            [
                StopEvent::Draining {
                    in_flight: 4,
                    grace: Duration::from_secs(3)
                },
                StopEvent::Cancelled {
                    cancelled: 2,
                    grace_over: true
                }
            ]
        );
        assert_eq!(s.stored, ["i0", "i2"], "the quick ones, stored once");
        assert!(s.outcome.interrupted);
        assert_eq!((s.outcome.finished, s.outcome.cancelled), (2, 2));
        assert_eq!(calls(dir.path()), 4, "no sample started after the stop");
        assert!(s.stop_took >= Duration::from_secs(3), "{:?}", s.stop_took);
        assert!(s.stop_took < Duration::from_secs(15), "{:?}", s.stop_took);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stop_now_cancels_without_waiting_for_the_grace_period() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &[60_000, 60_000, 10], 2, 60.0);
        let s = run_and_stop(dir.path(), &config, 2, &[Stop::Drain, Stop::Now]).await;
        assert_eq!(
            s.events,
            [
                StopEvent::Draining {
                    in_flight: 2,
                    grace: Duration::from_secs(60)
                },
                StopEvent::Cancelled {
                    cancelled: 2,
                    grace_over: false
                }
            ]
        );
        assert!(s.stored.is_empty(), "{:?}", s.stored);
        assert!(s.outcome.interrupted);
        assert!(s.stop_took < Duration::from_secs(15), "{:?}", s.stop_took);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stop_after_the_last_start_whose_samples_all_finish_leaves_a_complete_run() {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), &[2000, 2000], 2, 30.0);
        let s = run_and_stop(dir.path(), &config, 2, &[Stop::Drain]).await;
        assert_eq!(
            s.events,
            [StopEvent::Draining {
                in_flight: 2,
                grace: Duration::from_secs(30)
            }]
        );
        assert_eq!(s.stored, ["i0", "i1"]);
        assert!(!s.outcome.interrupted);
        assert_eq!(s.outcome.cancelled, 0);
    }
}
