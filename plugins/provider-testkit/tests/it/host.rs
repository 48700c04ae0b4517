//! Load the plugin and exercise what the host must survive: panics, cancellation,
//! concurrency, requested failures.

use std::time::{Duration, Instant};

use llmbench_plugin_host::PluginProvider;
use llmbench_plugin_sdk::abi::PluginKind;
use llmbench_plugin_sdk::core::{
    CompletionRequest, Message, PluginContext, Provider, ProviderErrorKind, SampleKey,
};
use serde_json::json;

fn provider(options: serde_json::Value, context: &PluginContext) -> PluginProvider {
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    assert_eq!(plugin.meta().kind, PluginKind::Provider);
    assert_eq!(plugin.meta().name, "provider-testkit");
    PluginProvider::new(&plugin, &options, context).expect("plugin accepts its options")
}

fn request(prompt: &str, repeat: u32) -> CompletionRequest {
    CompletionRequest {
        model: "testkit".into(),
        system: None,
        messages: vec![Message::user(prompt)],
        max_tokens: 100,
        sampling: Default::default(),
        stream: true,
        sample: Some(SampleKey {
            task: "t".into(),
            item: "i".into(),
            provider: "p".into(),
            repeat,
        }),
    }
}

#[tokio::test]
async fn a_panic_is_a_plugin_error_and_the_instance_survives() {
    let p = provider(json!({}), &PluginContext::default());
    let e = p.complete(&request("PANIC", 0)).await.unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::Plugin);
    assert!(
        e.message.contains("testkit panic requested"),
        "{}",
        e.message
    );
    let c = p.complete(&request("still there?", 0)).await.unwrap();
    assert_eq!(c.text, "echo: still there?");
}

#[tokio::test]
async fn dropping_a_call_cancels_it_promptly() {
    // The call would sleep a minute; the bounds below (10 s) are far above what dropping
    // takes and far below that minute.
    let p = provider(json!({}), &PluginContext::default());
    let start = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_millis(100),
        p.complete(&request("SLEEP_MS=60000", 0)),
    )
    .await;
    assert!(outcome.is_err(), "the call should still be sleeping");
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    // The instance is still usable, and destroying it does not wait for the dropped call.
    p.complete(&request("after", 0)).await.unwrap();
    let start = Instant::now();
    drop(p);
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
}

#[tokio::test]
async fn concurrent_calls_overlap() {
    // Three calls answer while a fourth, sleeping a minute, is still in flight: decided by
    // which finishes first, not by a time bound (one call at a time would finish the
    // sleeping one first, or never start the others).
    let p = provider(json!({}), &PluginContext::default());
    let sleeping = request("SLEEP_MS=60000", 0);
    let (r1, r2, r3) = (
        request("SLEEP_MS=500", 1),
        request("SLEEP_MS=500", 2),
        request("SLEEP_MS=500", 3),
    );
    let start = Instant::now();
    tokio::select! {
        biased;
        c = p.complete(&sleeping) => panic!("the sleeping call ended first: {c:?}"),
        results = async { tokio::join!(p.complete(&r1), p.complete(&r2), p.complete(&r3)) } => {
            for result in [results.0, results.1, results.2] {
                result.unwrap();
            }
        }
    }
    assert!(start.elapsed() >= Duration::from_millis(500));
}

#[tokio::test]
async fn requested_failures_and_counts_cross_the_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let context = PluginContext {
        config_dir: dir.path().to_owned(),
        ..PluginContext::default()
    };
    let p = provider(
        json!({ "counter-file": "calls.tsv", "fixed-latency-ms": 10 }),
        &context,
    );
    let e = p
        .complete(&request("FAIL=rate_limited RETRY_AFTER_MS=250", 0))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::RateLimited);
    assert_eq!(e.http_status, Some(429));
    assert_eq!(e.retry_after, Some(Duration::from_millis(250)));
    let c = p.complete(&request("one two", 1)).await.unwrap();
    assert_eq!(c.usage.input_tokens, Some(2));
    assert_eq!(c.usage.output_tokens, Some(3));
    assert!(c.timings.latency >= Duration::from_millis(10));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("calls.tsv")).unwrap(),
        "t\ti\t0\nt\ti\t1\n"
    );
}
