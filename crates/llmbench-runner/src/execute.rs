//! Running a plan: bounded concurrency, timeouts, retries, cancellation, and a writer thread
//! that stores each finished sample in one transaction.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmbench_core::{
    Completion, CompletionRequest, Grade, GradeOutcome, GradeRequest, ProviderError,
    ProviderErrorKind, SampleId, SampleRecord, SampleStatus, Task, cost_usd,
};
use llmbench_store::{AttemptRecord, Store, StoreError};
use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinSet;

use crate::retry::Jitter;
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
    /// The run was cancelled before every sample finished.
    pub interrupted: bool,
    /// The run stopped early because it reached `max_cost_usd`.
    pub budget_exhausted: bool,
    /// What this run has cost so far (all invocations), in USD, where costs are known.
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
    let slot = &components.tasks[sample.task];
    let provider = &components.providers[sample.provider];
    let item = &slot.task.items()[sample.item];
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
/// Stops early when `cancel` becomes `true`: no new sample starts, samples in flight are
/// cancelled (their plugin calls too), and everything already finished is written before
/// this returns. The store is handed back for the caller to mark the run's status.
pub async fn execute(
    components: Arc<Components>,
    plan: &Plan,
    store: Store,
    options: RunOptions,
    observer: Arc<dyn Observer>,
    mut cancel: watch::Receiver<bool>,
) -> (Result<RunOutcome, RunError>, Store) {
    let (tx, rx) = mpsc::channel::<Finished>(256);
    let run_id = options.run_id.clone();
    let writer = std::thread::Builder::new()
        .name("llmbench-store".into())
        .spawn(move || write_loop(store, &run_id, rx))
        .expect("spawn store writer");

    let global = Arc::new(Semaphore::new(options.concurrency.max(1)));
    let spent = Mutex::new(options.already_spent_usd);
    let shared = Arc::new(Shared {
        options,
        observer,
        components,
        spent,
    });
    let mut outcome = RunOutcome {
        finished: 0,
        errors: 0,
        skipped: 0,
        interrupted: false,
        budget_exhausted: false,
        spent_usd: 0.0,
    };
    let mut in_flight = JoinSet::new();
    let mut write_failed = false;

    'plan: for sample in plan.iter() {
        if shared.options.done.contains(&sample.id(&shared.components)) {
            outcome.skipped += 1;
            shared.observer.sample_skipped();
            continue;
        }
        let permit = tokio::select! {
            biased;
            _ = cancelled(&mut cancel) => { outcome.interrupted = true; break 'plan; }
            permit = Arc::clone(&global).acquire_owned() => permit.expect("semaphore never closed"),
        };
        if shared.over_budget() {
            outcome.budget_exhausted = true;
            break 'plan;
        }
        // Reap what finished, so the set stays as small as the concurrency limit.
        while let Some(done) = in_flight.try_join_next() {
            if !forward(done, &tx, &mut outcome).await {
                write_failed = true;
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

    loop {
        if write_failed {
            break;
        }
        let next = tokio::select! {
            biased;
            _ = cancelled(&mut cancel), if !outcome.interrupted => {
                outcome.interrupted = true;
                in_flight.abort_all();
                continue;
            }
            next = in_flight.join_next() => next,
        };
        match next {
            None => break,
            Some(done) => {
                if !forward(done, &tx, &mut outcome).await {
                    write_failed = true;
                }
            }
        }
    }
    in_flight.abort_all();
    drop(tx);
    outcome.spent_usd = *shared.spent.lock().expect("spend lock");
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

async fn cancelled(cancel: &mut watch::Receiver<bool>) {
    if cancel.wait_for(|&c| c).await.is_err() {
        // The sender is gone: nobody can cancel any more.
        std::future::pending::<()>().await;
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

fn write_loop(
    mut store: Store,
    run_id: &str,
    mut rx: mpsc::Receiver<Finished>,
) -> (Store, Option<StoreError>) {
    while let Some((record, attempts)) = rx.blocking_recv() {
        if let Err(e) = store.record_sample(run_id, &record, &attempts) {
            tracing::error!(error = %e, sample = %record.key.id(), "failed to record a sample");
            return (store, Some(e));
        }
    }
    (store, None)
}
struct Shared {
    options: RunOptions,
    observer: Arc<dyn Observer>,
    components: Arc<Components>,
    /// Known spend of the run so far, in USD.
    spent: Mutex<f64>,
}

impl Shared {
    fn over_budget(&self) -> bool {
        self.options
            .max_cost_usd
            .is_some_and(|cap| *self.spent.lock().expect("spend lock") >= cap)
    }
}

async fn run_sample(shared: &Shared, sample: PlannedSample) -> Finished {
    let components = &shared.components;
    let provider = &components.providers[sample.provider];
    let request = sample_request(components, &sample);
    let key = request.sample.clone().expect("set by sample_request");
    let _limit = match &provider.limit {
        Some(limit) => Some(limit.acquire().await.expect("semaphore never closed")),
        None => None,
    };
    let (result, attempts) = call_with_retries(shared, provider, &request).await;
    let (completion, error) = match result {
        Ok(c) => (Some(c), None),
        Err(e) => (None, Some(e)),
    };
    let slot = &components.tasks[sample.task];
    let mut grades = Vec::with_capacity(slot.graders.len());
    let mut verdict = None;
    if let Some(completion) = &completion {
        let grade_request = GradeRequest {
            task: key.task.clone(),
            item: key.item.clone(),
            vars: slot.task.items()[sample.item].vars.clone(),
            completion: completion.clone(),
        };
        for (i, (name, grader)) in slot.graders.iter().enumerate() {
            let mut grade = grader
                .grade(&grade_request)
                .await
                .unwrap_or_else(|e| Grade {
                    outcome: GradeOutcome::Error,
                    ..Grade::fail(format!("grader error: {e}"))
                });
            // What grading spent (a judge model's tokens) is priced with the grader's own
            // price and kept on the grade, apart from the sample's cost; it counts against
            // the spend cap all the same.
            let price = slot.task.graders.get(i).and_then(|g| g.price.as_ref());
            grade.cost_usd = grade
                .usage
                .as_ref()
                .zip(price)
                .and_then(|(usage, p)| cost_usd(usage, &p.price));
            if let Some(cost) = grade.cost_usd {
                *shared.spent.lock().expect("spend lock") += cost;
            }
            grades.push((name.clone(), grade));
        }
        let only: Vec<Grade> = grades.iter().map(|(_, g)| g.clone()).collect();
        verdict = Some(slot.task.verdict_rule().decide(&only));
    }
    let cost = completion.as_ref().and_then(|c| {
        provider
            .price
            .as_ref()
            .and_then(|p| cost_usd(&c.usage, &p.price))
    });
    if let Some(cost) = cost {
        *shared.spent.lock().expect("spend lock") += cost;
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
    };
    shared.observer.sample_finished(&record, &attempts);
    (record, attempts)
}

/// One sample's attempts under the retry policy and the provider's rate limits. The latency
/// of the result is its own successful attempt; the time lost to failed attempts and waits is
/// in the attempt records.
async fn call_with_retries(
    shared: &Shared,
    slot: &ProviderSlot,
    request: &CompletionRequest,
) -> (Result<Completion, ProviderError>, Vec<AttemptRecord>) {
    let policy = RetryPolicy {
        max_retries: slot.max_retries,
        ..shared.options.retry.clone()
    };
    let mut attempts = Vec::new();
    let mut jitter = Jitter::seeded(request.sample.as_ref().map_or(1, |k| k.id().as_u64()));
    let mut wait = Duration::ZERO;
    loop {
        let charged = match &slot.limiter {
            Some(limiter) => limiter.acquire(request).await,
            None => 0,
        };
        let started = Instant::now();
        let result =
            match tokio::time::timeout(shared.options.timeout, slot.provider.complete(request))
                .await
            {
                Ok(result) => result,
                Err(_) => Err(ProviderError::new(
                    ProviderErrorKind::Timeout,
                    format!(
                        "no answer within {:.1} s",
                        shared.options.timeout.as_secs_f64()
                    ),
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
        shared.observer.attempt_failed(&slot.name, &error);
        let retries_taken = attempts.len() as u32 - 1;
        match policy.next_delay(&error, retries_taken, jitter.next()) {
            None => return (Err(error), attempts),
            Some(delay) => {
                tracing::debug!(provider = %slot.name, error = %error, delay_s = delay.as_secs_f64(), "retrying");
                tokio::time::sleep(delay).await;
                wait = delay;
            }
        }
    }
}
