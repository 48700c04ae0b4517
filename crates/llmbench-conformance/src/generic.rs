//! The part of the provider contract that applies to every provider, whatever serves it (an
//! HTTP API, a model in-process): these checks take any [`Provider`] and need no server.
//! The HTTP checks in [`crate::checks`] add the wire-level ones (errors, faults, headers).

use std::time::{Duration, Instant};

use llmbench_core::{Completion, CompletionRequest, Message, Provider, StopReason};

/// A request for `prompt`, as the runner would send it.
pub fn generic_request(prompt: &str, max_tokens: u32, stream: bool) -> CompletionRequest {
    CompletionRequest {
        model: "conformance".into(),
        system: None,
        messages: vec![Message::user(prompt)],
        max_tokens,
        sampling: Default::default(),
        stream,
        sample: None,
    }
}

fn check_answer(c: &Completion, r: &CompletionRequest) {
    let stream = r.stream;
    assert!(!c.text.is_empty(), "an answer has text (stream: {stream})");
    assert!(
        matches!(
            c.stop_reason,
            StopReason::EndTurn | StopReason::MaxTokens | StopReason::StopSequence
        ),
        "stop reason {:?} (stream: {stream})",
        c.stop_reason
    );
    let input = c.usage.input_tokens.expect("input tokens are known");
    let output = c.usage.output_tokens.expect("output tokens are known");
    assert!(input > 0, "input tokens counted");
    assert!(
        (1..=u64::from(r.max_tokens)).contains(&output),
        "output tokens {output} within max_tokens {}",
        r.max_tokens
    );
    assert!(c.timings.latency > Duration::ZERO, "latency measured");
    match (stream, c.timings.time_to_first_token) {
        (false, None) => {}
        (false, Some(t)) => panic!("a plain answer has no time to first token, got {t:?}"),
        (true, None) => panic!("a streamed answer must have a time to first token"),
        (true, Some(t)) => assert!(
            t <= c.timings.latency,
            "ttft {t:?} > latency {:?}",
            c.timings.latency
        ),
    }
}

/// Plain and streamed answers: text, stop reason, known usage within `max_tokens`, latency,
/// and a time to first token exactly when streamed.
pub async fn answers(provider: &dyn Provider, prompt: &str) {
    for stream in [false, true] {
        let r = generic_request(prompt, 24, stream);
        let c = provider
            .complete(&r)
            .await
            .unwrap_or_else(|e| panic!("stream {stream}: {e}"));
        check_answer(&c, &r);
    }
}

/// Hitting `max_tokens` stops with `MaxTokens` and counts no more than that.
pub async fn max_tokens(provider: &dyn Provider, long_prompt: &str) {
    for stream in [false, true] {
        let r = generic_request(long_prompt, 2, stream);
        let c = provider
            .complete(&r)
            .await
            .unwrap_or_else(|e| panic!("stream {stream}: {e}"));
        assert_eq!(c.stop_reason, StopReason::MaxTokens, "stream: {stream}");
        assert!(
            c.usage.output_tokens.is_some_and(|n| n <= 2),
            "{:?}",
            c.usage
        );
    }
}

/// Dropping a call cancels it: the provider is free again promptly and still answers.
pub async fn cancel_on_drop(provider: &dyn Provider, long_prompt: &str, short_prompt: &str) {
    let long = generic_request(long_prompt, 4000, true);
    let dropped = tokio::time::timeout(Duration::from_millis(300), provider.complete(&long)).await;
    assert!(
        dropped.is_err(),
        "the long request was still running when dropped"
    );
    let started = Instant::now();
    let r = generic_request(short_prompt, 8, true);
    let c = provider
        .complete(&r)
        .await
        .expect("answers after a cancelled call");
    check_answer(&c, &r);
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the cancelled call kept the provider busy: {:?}",
        started.elapsed()
    );
}

/// Several calls at once all answer (a provider may serve them one at a time).
pub async fn concurrent_calls(provider: &dyn Provider, prompt: &str) {
    let r = generic_request(prompt, 8, true);
    let calls = (0..3).map(|_| provider.complete(&r));
    for result in futures_util::future::join_all(calls).await {
        check_answer(&result.expect("each concurrent call answers"), &r);
    }
}
