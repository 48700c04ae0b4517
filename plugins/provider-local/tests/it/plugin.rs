//! The built cdylib, loaded through the plugin host as the runner would.

use std::time::Duration;

use llmbench_plugin_host::PluginProvider;
use llmbench_plugin_sdk::abi::PluginKind;
use llmbench_plugin_sdk::core::{PluginContext, Provider, StopReason};
use serde_json::json;

fn provider(options: serde_json::Value) -> Result<PluginProvider, String> {
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    assert_eq!(plugin.meta().kind, PluginKind::Provider);
    assert_eq!(plugin.meta().name, "provider-local");
    PluginProvider::new(&plugin, &options, &PluginContext::default()).map_err(|e| e.to_string())
}

#[tokio::test]
async fn the_plugin_answers_with_usage_and_time_to_first_token() {
    crate::model_path(); // fetched before the plugin looks for it in the cache
    let p = provider(json!({ "threads": 1 })).expect("plugin accepts its options");
    let mut r = crate::provider::request("What is the capital of France?", 16);
    r.system = Some("Answer in one word.".into());
    let c = p.complete(&r).await.unwrap();
    assert!(!c.text.trim().is_empty(), "{c:?}");
    assert!(matches!(
        c.stop_reason,
        StopReason::EndTurn | StopReason::MaxTokens
    ));
    let expected_input = crate::model()
        .prompt_tokens(r.system.as_deref(), &r.messages)
        .len() as u64;
    assert_eq!(c.usage.input_tokens, Some(expected_input));
    assert!((1..=16).contains(&c.usage.output_tokens.unwrap()), "{c:?}");
    let ttft = c
        .timings
        .time_to_first_token
        .expect("streamed: ttft measured");
    assert!(ttft > Duration::ZERO && ttft <= c.timings.latency, "{c:?}");

    // Cancelling through the host leaves the instance usable.
    let long = crate::provider::request(crate::LONG_ANSWER, 3000);
    let dropped = tokio::time::timeout(Duration::from_millis(500), p.complete(&long)).await;
    assert!(dropped.is_err(), "still decoding");
    let started = std::time::Instant::now();
    let again = p.complete(&r).await.unwrap();
    assert_eq!(again.text, c.text, "greedy: the same answer");
    // The cancelled request would decode for tens of seconds more; a short answer takes
    // about a second.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the cancelled request kept the worker busy for {:?}",
        started.elapsed()
    );
}

#[test]
fn the_plugin_refuses_unknown_options() {
    let e = provider(json!({ "thread": 1 })).unwrap_err();
    assert!(
        e.contains("unknown option `thread`") && e.contains("did you mean `threads`?"),
        "{e}"
    );
}
