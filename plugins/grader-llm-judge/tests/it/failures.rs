//! A judge whose model fails: an error grade with the classified reason, never a fail; the
//! plugin neither retries nor re-asks (retries are the runner's), and a dropped grading
//! releases the model call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use llmbench_plugin_host::{ModelAccess, ModelFuture};
use llmbench_plugin_sdk::core::{
    CompletionRequest, GradeKind, GradeOutcome, Grader, ProviderError, ProviderErrorKind,
};
use serde_json::json;

use crate::{RUNTIME, Scripted, create, grade, judge, options, request};

fn failing(kind: ProviderErrorKind, status: Option<u16>, message: &str) -> Arc<Scripted> {
    let mut error = ProviderError::new(kind, message);
    error.http_status = status;
    Scripted::new([Err(error)])
}

#[test]
fn a_failed_request_is_an_error_grade_with_its_kind_and_status() {
    let model = failing(ProviderErrorKind::Server, Some(500), "internal error");
    let g = grade(&judge(&model, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert_eq!(g.kind, GradeKind::Judgement);
    assert_eq!(
        g.evidence,
        "judge judge-model could not judge: request failed: server (HTTP 500): internal error"
    );
    assert_eq!(g.usage, None);
    assert_eq!(model.requests().len(), 1, "no re-ask, no retry");
}

#[test]
fn a_call_the_spend_cap_refused_says_so() {
    let model = failing(
        ProviderErrorKind::SpendLimit,
        None,
        "the run's spend cap of 1 USD is reached",
    );
    let g = grade(&judge(&model, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert!(
        g.evidence
            .ends_with("request failed: spend_limit: the run's spend cap of 1 USD is reached"),
        "{}",
        g.evidence
    );
}

/// A model that never answers, and says when its call is dropped.
#[derive(Debug)]
struct Silent(Arc<AtomicBool>);

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl ModelAccess for Silent {
    fn complete(&self, _: &str, _: CompletionRequest) -> ModelFuture {
        let guard = SetOnDrop(self.0.clone());
        Box::pin(async move {
            let _guard = guard;
            std::future::pending().await
        })
    }
}

#[test]
fn dropping_a_grading_cancels_the_model_call_on_the_host() {
    let dropped = Arc::new(AtomicBool::new(false));
    let judge = create(
        &options(json!({})),
        std::path::Path::new("."),
        Arc::new(Silent(dropped.clone())),
    )
    .unwrap();
    RUNTIME.block_on(async {
        let request = request("an answer");
        let grading = judge.grade(&request);
        // The grading waits on the silent model; give up on it.
        let result = tokio::time::timeout(Duration::from_millis(300), grading).await;
        assert!(result.is_err(), "the silent model answered");
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "the host's call was not cancelled"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
