//! `provider-replay`: answers from a file of recorded responses instead of a model. Use it
//! to re-grade saved answers without paying for them again, and to run a benchmark end to
//! end without a model.
//!
//! Options:
//! - `answers` (path, required): a JSONL file of recorded responses, relative to the
//!   config file's directory. The whole file is read and checked when the provider is
//!   created; an error names the file and the line.
//! - `simulate-latency` (bool, default `false`): before answering, sleep for the recorded
//!   latency, so that a replayed run takes as long as the recorded one.
//!
//! ```toml
//! [providers.haiku]
//! plugin = "provider-replay"
//! model = "claude-haiku-4-5"
//! options = { answers = "replay/race-condition.jsonl" }
//! ```
//!
//! # The answers file
//! One JSON object per line (blank lines are skipped):
//!
//! ```json
//! {"task": "race-condition", "item": "stampede", "model": "claude-haiku-4-5", "text": "## Bug\n...", "stop-reason": "end_turn", "input-tokens": 121, "output-tokens": 451, "cache-read-tokens": null, "cache-write-tokens": null, "latency-ms": 4422.0, "ttft-ms": 610.0}
//! ```
//!
//! - `task`, `item`, `model`, `text` (strings, required).
//! - `stop-reason` (string, default `end_turn`): `end_turn`, `max_tokens`, `stop_sequence`,
//!   or anything else, kept verbatim.
//! - `input-tokens`, `output-tokens`, `cache-read-tokens`, `cache-write-tokens`,
//!   `reasoning-tokens` (integers or `null`): absent or `null` means unknown, never zero.
//! - `latency-ms`, `ttft-ms` (milliseconds or `null`): reported as the completion's
//!   timings, so a replayed run reproduces the recorded latencies. Without `latency-ms`
//!   the replay's own (near zero) time is reported.
//! - `note` (string): for people, such as where the answers came from; ignored.
//!
//! Unknown fields are errors.
//!
//! # Lookup
//! A request is answered by the lines whose `task` and `item` are those of its sample and
//! whose `model` is the request's model. With `n` such lines, repeat `r` gets line
//! `r % n` (in file order). A request with no matching line fails with a `bad_request`
//! error naming the task, item, model and file.

mod answers;

use std::time::Instant;

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, PluginContext, Provider, ProviderError, ProviderErrorKind,
};
use llmbench_plugin_sdk::{OptionsError, check_option_file, parse_options};
use serde::Deserialize;

pub use crate::answers::{Answers, AnswersError, Recorded};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    /// A JSONL file of recorded responses, relative to the config file's directory (its
    /// format is in the crate documentation). Read and checked whole when the provider is
    /// created; an error names the file and the line.
    answers: std::path::PathBuf,
    /// Before answering, sleep for the recorded latency, so that a replayed run takes as
    /// long as the recorded one. Default `false`.
    #[serde(default)]
    simulate_latency: bool,
}

/// The provider.
#[derive(Debug, Clone)]
pub struct ReplayProvider {
    answers: Answers,
    simulate_latency: bool,
}

impl ReplayProvider {
    pub fn new(answers: Answers, simulate_latency: bool) -> Self {
        Self {
            answers,
            simulate_latency,
        }
    }

    /// Build the provider from its JSON options, loading the answers file.
    pub fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, String> {
        let o: Options = parse_options(&options)?;
        let answers = Answers::load(&context.resolve(&o.answers)).map_err(|e| chain(&e))?;
        Ok(Self::new(answers, o.simulate_latency))
    }
}

/// An error and its sources, `: `-separated.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[async_trait]
impl Provider for ReplayProvider {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let start = Instant::now();
        let Some(sample) = &request.sample else {
            return Err(ProviderError::new(
                ProviderErrorKind::BadRequest,
                "the request names no sample; provider-replay finds answers by task and item",
            ));
        };
        let Some(recorded) =
            self.answers
                .find(&sample.task, &sample.item, &request.model, sample.repeat)
        else {
            let models = self.answers.models_for(&sample.task, &sample.item);
            let recorded = if models.is_empty() {
                "no model has answers for this task and item".to_owned()
            } else {
                format!("answers exist for: {}", models.join(", "))
            };
            return Err(ProviderError::new(
                ProviderErrorKind::BadRequest,
                format!(
                    "no recorded answer for task `{}`, item `{}`, model `{}` in {} ({recorded})",
                    sample.task,
                    sample.item,
                    request.model,
                    self.answers.path().display(),
                ),
            ));
        };
        if self.simulate_latency
            && let Some(latency) = recorded.latency
        {
            tokio::time::sleep(latency).await;
        }
        Ok(recorded.completion(start.elapsed()))
    }
}

impl llmbench_plugin_sdk::ProviderPlugin for ReplayProvider {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options, context)
    }

    /// The options' shape, and that the answers file is there (its metadata only: the file
    /// is read and checked at create).
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), OptionsError> {
        let o: Options = parse_options(options)?;
        check_option_file(["answers"], &context.resolve(&o.answers))
    }
}

llmbench_plugin_sdk::export_provider!(ReplayProvider);

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use llmbench_plugin_sdk::core::{Message, SampleKey, StopReason};
    use serde_json::json;

    use super::*;

    const ANSWERS: &str = r#"{"task": "t", "item": "i", "model": "m", "text": "one", "latency-ms": 300, "ttft-ms": 100}
{"task": "t", "item": "i", "model": "m", "text": "two"}
"#;

    fn request(model: &str, repeat: u32) -> CompletionRequest {
        CompletionRequest {
            model: model.into(),
            system: None,
            messages: vec![Message::user("prompt")],
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

    fn provider(simulate_latency: bool) -> ReplayProvider {
        let answers = Answers::parse(Path::new("a.jsonl"), ANSWERS).unwrap();
        ReplayProvider::new(answers, simulate_latency)
    }

    fn configs_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
    }

    #[tokio::test]
    async fn replays_recorded_answers_by_repeat() {
        let p = provider(false);
        let first = p.complete(&request("m", 0)).await.unwrap();
        assert_eq!(first.text, "one");
        assert_eq!(first.timings.latency, Duration::from_millis(300));
        assert_eq!(
            first.timings.time_to_first_token,
            Some(Duration::from_millis(100))
        );
        assert_eq!(p.complete(&request("m", 1)).await.unwrap().text, "two");
        assert_eq!(p.complete(&request("m", 2)).await.unwrap().text, "one");
    }

    #[tokio::test(start_paused = true)]
    async fn simulated_latency_sleeps_for_the_recorded_time() {
        let start = tokio::time::Instant::now();
        let c = provider(true).complete(&request("m", 0)).await.unwrap();
        let slept = start.elapsed();
        assert!(
            (Duration::from_millis(300)..Duration::from_millis(310)).contains(&slept),
            "{slept:?}"
        );
        assert_eq!(c.timings.latency, Duration::from_millis(300));

        let start = tokio::time::Instant::now();
        provider(false).complete(&request("m", 0)).await.unwrap();
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test]
    async fn an_unknown_model_is_a_bad_request_naming_the_key_and_file() {
        let e = provider(false)
            .complete(&request("x", 0))
            .await
            .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::BadRequest);
        assert_eq!(
            e.message,
            "no recorded answer for task `t`, item `i`, model `x` in a.jsonl (answers exist for: m)"
        );
        let mut no_sample = request("m", 0);
        no_sample.sample = None;
        let e = provider(false).complete(&no_sample).await.unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::BadRequest);
    }

    #[test]
    fn options_resolve_the_path_and_refuse_typos() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.jsonl"), ANSWERS).unwrap();
        let context = PluginContext {
            config_dir: dir.path().to_owned(),
            ..PluginContext::default()
        };
        let p = ReplayProvider::from_options(json!({ "answers": "a.jsonl" }), &context).unwrap();
        assert!(!p.simulate_latency);
        assert_eq!(p.answers.path(), dir.path().join("a.jsonl"));

        let e = ReplayProvider::from_options(
            json!({ "answers": "a.jsonl", "simulate-latency-ms": true }),
            &context,
        )
        .unwrap_err();
        assert_eq!(
            e,
            "option `simulate-latency-ms`: unknown option `simulate-latency-ms` (did you mean `simulate-latency`?)"
        );
        let e = ReplayProvider::from_options(json!({ "answers": "missing.jsonl" }), &context)
            .unwrap_err();
        let missing = dir.path().join("missing.jsonl");
        assert!(
            e.starts_with(&format!(
                "answers file: cannot read {}: No such file",
                missing.display()
            )),
            "{e}"
        );
    }

    /// The shipped fixture reproduces the founding article's table.
    #[tokio::test]
    async fn the_race_condition_fixture_reproduces_the_article() {
        let context = PluginContext {
            config_dir: configs_dir(),
            ..PluginContext::default()
        };
        let p = ReplayProvider::from_options(
            json!({ "answers": "replay/race-condition.jsonl" }),
            &context,
        )
        .unwrap();
        for (model, input, output, latency_ms) in [
            ("claude-haiku-4-5", 121, 451, 4422),
            ("claude-sonnet-4-6", 121, 759, 15234),
            ("claude-opus-4-7", 159, 689, 12814),
        ] {
            let mut r = request(model, 0);
            r.sample = Some(SampleKey {
                task: "race-condition".into(),
                item: "stampede".into(),
                provider: model.into(),
                repeat: 0,
            });
            let c = p.complete(&r).await.unwrap();
            assert_eq!(c.usage.input_tokens, Some(input), "{model}");
            assert_eq!(c.usage.output_tokens, Some(output), "{model}");
            assert_eq!(c.usage.cache_read_tokens, None, "{model}");
            assert_eq!(
                c.timings.latency,
                Duration::from_millis(latency_ms),
                "{model}"
            );
            assert!(c.timings.time_to_first_token.is_some(), "{model}");
            assert_eq!(c.stop_reason, StopReason::EndTurn, "{model}");
            for section in ["## Bug", "## Why it happens", "## Fix", "```python"] {
                assert!(c.text.contains(section), "{model}: no {section}");
            }
        }
    }
}
