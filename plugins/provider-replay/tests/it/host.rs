//! Load the plugin and replay the shipped fixture through the ABI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbench_plugin_host::{LoadError, PluginProvider};
use llmbench_plugin_sdk::abi::PluginKind;
use llmbench_plugin_sdk::core::{
    CompletionRequest, Message, PluginContext, Provider, ProviderErrorKind, SampleKey,
};
use serde_json::json;

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

fn provider(options: serde_json::Value) -> Result<PluginProvider, LoadError> {
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    assert_eq!(plugin.meta().kind, PluginKind::Provider);
    assert_eq!(plugin.meta().name, "provider-replay");
    let context = PluginContext {
        config_dir: configs_dir(),
        instance_name: "replay".into(),
        api_key: None,
        ..Default::default()
    };
    PluginProvider::new(&plugin, &options, &context)
}

fn request(model: &str, repeat: u32) -> CompletionRequest {
    CompletionRequest {
        model: model.into(),
        system: None,
        messages: vec![Message::user("The following Python async function ...")],
        max_tokens: 2048,
        sampling: Default::default(),
        stream: true,
        sample: Some(SampleKey {
            task: "race-condition".into(),
            item: "stampede".into(),
            provider: model.into(),
            repeat,
        }),
    }
}

#[tokio::test]
async fn replays_the_article_table() {
    let p = provider(json!({ "answers": "replay/race-condition.jsonl" })).unwrap();
    for (model, input, output, latency_ms) in [
        ("claude-haiku-4-5", 121, 451, 4422),
        ("claude-sonnet-4-6", 121, 759, 15234),
        ("claude-opus-4-7", 159, 689, 12814),
    ] {
        // One answer per model: every repeat gets it.
        for repeat in [0, 1] {
            let c = p.complete(&request(model, repeat)).await.unwrap();
            assert_eq!(c.usage.input_tokens, Some(input));
            assert_eq!(c.usage.output_tokens, Some(output));
            assert_eq!(c.timings.latency, Duration::from_millis(latency_ms));
            assert_eq!(c.response_model.as_deref(), Some(model));
            assert!(c.text.starts_with("## Bug\n"), "{model}");
        }
    }
}

#[tokio::test]
async fn an_unknown_model_is_a_bad_request() {
    let p = provider(json!({ "answers": "replay/race-condition.jsonl" })).unwrap();
    let e = p.complete(&request("gpt-x", 0)).await.unwrap_err();
    assert_eq!(e.kind, ProviderErrorKind::BadRequest);
    assert!(
        e.message.starts_with(
            "no recorded answer for task `race-condition`, item `stampede`, model `gpt-x` in "
        ),
        "{}",
        e.message
    );
    assert!(e.message.contains("race-condition.jsonl"), "{}", e.message);
}

#[test]
fn a_broken_answers_file_is_refused_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.jsonl");
    std::fs::write(
        &path,
        "{\"task\": \"t\", \"item\": \"i\", \"model\": \"m\", \"text\": \"x\"}\n{\"task\": \"t\"}\n",
    )
    .unwrap();
    let e = provider(json!({ "answers": path })).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "plugin `provider-replay` rejected its options: {}:2:13: missing field `item`",
            path.display()
        )
    );
    let e = provider(json!({ "answer": "replay/race-condition.jsonl" })).unwrap_err();
    assert_eq!(e.kind(), "options");
    assert_eq!(
        e.to_string(),
        "plugin `provider-replay` rejected its options: option `answer`: unknown option `answer` (did you mean `answers`?)"
    );
}
