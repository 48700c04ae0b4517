//! `LocalProvider` used directly (as the rlib): request mapping and cancellation.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use llmbench_plugin_sdk::core::{
    CompletionRequest, Message, Provider, ProviderErrorKind, Sampling, StopReason,
};
use provider_local::LocalProvider;
use provider_local::engine::EngineOptions;

pub(crate) fn request(prompt: &str, max_tokens: u32) -> CompletionRequest {
    CompletionRequest {
        model: "smollm2".into(),
        system: None,
        messages: vec![Message::user(prompt)],
        max_tokens,
        sampling: Sampling::default(),
        stream: true,
        sample: None,
    }
}

fn provider(engine: EngineOptions) -> LocalProvider {
    LocalProvider::start(crate::model_path(), engine).expect("the provider starts")
}

#[tokio::test]
async fn dropping_a_request_stops_decoding() {
    let p = provider(EngineOptions::default());
    let long = request(crate::LONG_ANSWER, 3000);
    let outcome = tokio::time::timeout(Duration::from_millis(800), p.complete(&long)).await;
    assert!(outcome.is_err(), "the request should still be decoding");
    // Decoding ends either cancelled or completed (the whole answer takes tens of seconds):
    // wait for whichever comes first, then check it was the cancellation. The deadline only
    // keeps a broken build from hanging.
    let dropped_at = Instant::now();
    let stats = p.stats();
    while stats.cancelled.load(Ordering::Relaxed) == 0
        && stats.completed.load(Ordering::Relaxed) == 0
    {
        assert!(
            dropped_at.elapsed() < Duration::from_secs(120),
            "decoding neither stopped nor finished"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        stats.cancelled.load(Ordering::Relaxed),
        1,
        "decoding did not stop after the request was dropped"
    );
    // Under load the request may still have been reading its prompt: then no token at all.
    let tokens = p.stats().output_tokens.load(Ordering::Relaxed);
    assert!(tokens < 3000, "{tokens}");
    assert_eq!(p.stats().completed.load(Ordering::Relaxed), 0);

    // The worker is free for the next request.
    let c = p.complete(&request("Say hi.", 4)).await.unwrap();
    assert_eq!(c.usage.output_tokens, Some(4));
    assert_eq!(c.stop_reason, StopReason::MaxTokens);
}

#[tokio::test]
async fn a_request_maps_to_a_completion() {
    let p = provider(EngineOptions::default());
    let mut r = request("What is the capital of France?", 16);
    r.system = Some("Answer in one word.".into());
    let c = p.complete(&r).await.unwrap();
    assert!(!c.text.trim().is_empty());
    let model = crate::model();
    let expected_input = model.prompt_tokens(r.system.as_deref(), &r.messages).len() as u64;
    assert_eq!(c.usage.input_tokens, Some(expected_input));
    let output = c.usage.output_tokens.unwrap();
    assert!((1..=16).contains(&output), "{output}");
    assert_eq!(c.usage.cache_read_tokens, None);
    let ttft = c.timings.time_to_first_token.unwrap();
    assert!(ttft <= c.timings.latency);
    assert_eq!(
        c.response_model.as_deref(),
        Some("b179c9523d0e6a0f-SmolLM2-135M-Instruct.Q4_1.gguf")
    );

    // Not streamed: no time to first token is claimed.
    r.stream = false;
    let c = p.complete(&r).await.unwrap();
    assert_eq!(c.timings.time_to_first_token, None);
}

#[tokio::test]
async fn a_prompt_longer_than_the_context_is_a_bad_request() {
    let p = provider(EngineOptions {
        context_tokens: 32,
        ..EngineOptions::default()
    });
    let e = p
        .complete(&request(&"word ".repeat(100), 4))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::BadRequest);
    assert!(e.message.contains("context holds 32"), "{}", e.message);
}
