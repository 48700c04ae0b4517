//! The provider conformance suite, where it applies to a model in-process: the checks of
//! `llmbench_conformance::generic` (answers, usage, time to first token, max tokens,
//! cancellation, concurrent calls) run against the cdylib loaded through the plugin host.
//! The HTTP checks (status codes, faults, headers, keys) have no counterpart here.

use llmbench_conformance::generic;
use llmbench_plugin_host::PluginProvider;
use llmbench_plugin_sdk::core::PluginContext;
use serde_json::json;

fn provider() -> PluginProvider {
    crate::model_path();
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    PluginProvider::new(&plugin, &json!({ "threads": 1 }), &PluginContext::default())
        .expect("plugin starts")
}

#[tokio::test]
async fn conformance_answers() {
    generic::answers(
        &provider(),
        "What is the capital of France? Answer in one word.",
    )
    .await;
}

#[tokio::test]
async fn conformance_max_tokens() {
    generic::max_tokens(&provider(), crate::LONG_ANSWER).await;
}

#[tokio::test]
async fn conformance_cancel_on_drop() {
    generic::cancel_on_drop(&provider(), crate::LONG_ANSWER, "Say hello.").await;
}

#[tokio::test]
async fn conformance_concurrent_calls() {
    generic::concurrent_calls(&provider(), "Name a colour.").await;
}
