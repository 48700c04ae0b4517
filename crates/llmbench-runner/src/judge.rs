//! Graders that ask a model (a judge) go through the runner: the host hands each of their
//! requests to a [`GraderModels`], which sends it to the provider entry the grader's `judge`
//! names through the same path as samples ([`call_with_retries`]: the entry's retries, rate
//! limiter and timeout per attempt, under its concurrency limit), prices its usage with the
//! entry's price and adds it to the run's spend, and refuses new requests once the spend cap
//! is reached.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use llmbench_core::{CompletionRequest, ProviderError, ProviderErrorKind, Sampling, cost_usd};
use llmbench_plugin_host::{ModelAccess, ModelFuture};

use crate::execute::{Attempting, call_with_retries};
use crate::{ProviderSlot, RetryPolicy};

/// What a run has spent (USD, where costs are known) and may spend.
#[derive(Debug)]
pub(crate) struct Spend {
    spent: Mutex<f64>,
    cap: Option<f64>,
}

impl Spend {
    pub(crate) fn new(already_spent: f64, cap: Option<f64>) -> Self {
        Self {
            spent: Mutex::new(already_spent),
            cap,
        }
    }

    pub(crate) fn add(&self, usd: f64) {
        *self.spent.lock().expect("spend lock") += usd;
    }

    pub(crate) fn total(&self) -> f64 {
        *self.spent.lock().expect("spend lock")
    }

    /// Whether the cap is reached.
    pub(crate) fn over(&self) -> bool {
        self.cap.is_some_and(|cap| self.total() >= cap)
    }
}

/// How the current run sends requests: set by `execute` for the time it runs.
#[derive(Debug)]
pub(crate) struct RunContext {
    pub(crate) timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) spend: Arc<Spend>,
}

/// Every provider entry a grader may ask (the `judge-only` ones and the models under test,
/// sharing their limits with the samples), and the run in progress.
#[derive(Debug, Default)]
pub(crate) struct JudgeRouter {
    slots: Vec<ProviderSlot>,
    run: RwLock<Option<Arc<RunContext>>>,
}

impl JudgeRouter {
    pub(crate) fn new(slots: Vec<ProviderSlot>) -> Self {
        Self {
            slots,
            run: RwLock::default(),
        }
    }

    pub(crate) fn slot(&self, name: &str) -> Option<&ProviderSlot> {
        self.slots.iter().find(|s| s.name == name)
    }

    /// Serve model calls as part of `run` (until [`unbind`](Self::unbind)).
    pub(crate) fn bind(&self, run: Arc<RunContext>) {
        *self.run.write().expect("judge router lock") = Some(run);
    }

    pub(crate) fn unbind(&self) {
        *self.run.write().expect("judge router lock") = None;
    }

    /// One request of a grader to the entry `name`, as a sample's would go.
    async fn complete(
        &self,
        name: &str,
        mut request: CompletionRequest,
    ) -> Result<llmbench_core::Completion, ProviderError> {
        let run = self.run.read().expect("judge router lock").clone();
        let Some(run) = run else {
            return Err(ProviderError::new(
                ProviderErrorKind::Other,
                "no run in progress: a grader's model requests are served only while a run executes",
            ));
        };
        let Some(slot) = self.slot(name) else {
            return Err(ProviderError::new(
                ProviderErrorKind::Plugin,
                format!("there is no provider entry `{name}`"),
            ));
        };
        if run.spend.over() {
            return Err(ProviderError::new(
                ProviderErrorKind::SpendLimit,
                format!(
                    "the run's spend cap of {} USD is reached ({:.5} USD spent): no new judge requests",
                    run.spend.cap.unwrap_or_default(),
                    run.spend.total()
                ),
            ));
        }
        apply_entry(&slot.model, slot.max_tokens, &slot.sampling, &mut request);
        let _limit = match &slot.limit {
            Some(limit) => Some(limit.acquire().await.expect("semaphore never closed")),
            None => None,
        };
        let attempting = Attempting {
            retry: &run.retry,
            timeout: run.timeout,
            observer: None,
        };
        let (result, attempts) = call_with_retries(&attempting, slot, &request).await;
        if let Ok(completion) = &result
            && let Some(cost) = slot
                .price
                .as_ref()
                .and_then(|p| cost_usd(&completion.usage, &p.price))
        {
            run.spend.add(cost);
        }
        tracing::debug!(
            judge = %slot.name,
            attempts = attempts.len(),
            ok = result.is_ok(),
            "judge request"
        );
        result
    }
}

/// The entry's model id, and its reply limit and sampling where it sets them (a setting the
/// grader's request leaves unset takes the entry's).
fn apply_entry(
    model: &str,
    max_tokens: Option<u32>,
    entry: &Sampling,
    request: &mut CompletionRequest,
) {
    request.model = model.to_owned();
    if let Some(max) = max_tokens {
        request.max_tokens = max;
    }
    let mine = &mut request.sampling;
    mine.temperature = mine.temperature.or(entry.temperature);
    mine.top_p = mine.top_p.or(entry.top_p);
    mine.top_k = mine.top_k.or(entry.top_k);
    mine.seed = mine.seed.or(entry.seed);
    if mine.stop.is_empty() {
        mine.stop = entry.stop.clone();
    }
}

/// The model access the host gives one grader: its `judge` entry, and no other.
#[derive(Debug)]
pub(crate) struct GraderModels {
    pub(crate) judge: String,
    pub(crate) router: Arc<JudgeRouter>,
}

impl ModelAccess for GraderModels {
    fn complete(&self, provider: &str, request: CompletionRequest) -> ModelFuture {
        if provider != self.judge {
            let error = ProviderError::new(
                ProviderErrorKind::Plugin,
                format!(
                    "this grader may ask only `{}` (its `judge`), not `{provider}`",
                    self.judge
                ),
            );
            return Box::pin(std::future::ready(Err(error)));
        }
        let router = Arc::clone(&self.router);
        let name = provider.to_owned();
        Box::pin(async move { router.complete(&name, request).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spend_cap_is_reached_at_the_cap() {
        let spend = Spend::new(0.5, Some(1.0));
        assert!(!spend.over());
        spend.add(0.5);
        assert!(spend.over());
        assert!(!Spend::new(1e9, None).over());
    }

    #[test]
    fn the_entry_sets_the_model_and_fills_what_the_request_leaves_unset() {
        let entry = Sampling {
            temperature: Some(0.2),
            seed: Some(7),
            ..Sampling::default()
        };
        let mut request = CompletionRequest {
            model: "whatever".into(),
            system: None,
            messages: Vec::new(),
            max_tokens: 512,
            sampling: Sampling {
                temperature: Some(0.0),
                ..Sampling::default()
            },
            stream: false,
            sample: None,
        };
        apply_entry("gpt-judge", Some(64), &entry, &mut request);
        assert_eq!(request.model, "gpt-judge");
        assert_eq!(request.max_tokens, 64);
        assert_eq!(request.sampling.temperature, Some(0.0), "the grader's own");
        assert_eq!(request.sampling.seed, Some(7), "the entry's");
        assert!(!request.stream, "the grader's choice");
        apply_entry("gpt-judge", None, &entry, &mut request);
        assert_eq!(request.max_tokens, 64, "kept without an entry limit");
    }
}
