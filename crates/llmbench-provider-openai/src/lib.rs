//! The OpenAI Chat Completions provider as a library: [`OpenAiProvider`] sends
//! `POST {base-url}/chat/completions`, streamed or not, to OpenAI or any OpenAI-compatible
//! server (vLLM, llama.cpp's `llama-server`, Ollama, gateways, the in-repo mock server).
//!
//! The `provider-openai` plugin exports it; its crate documents the options and what a
//! completion holds. `grader-llm-judge` calls it in-process to ask its judge model. This crate
//! defines no plugin entry point, so any number of plugins may link it: a plugin never depends
//! on another plugin (each exports the same entry symbol).

mod stream;
mod wire;

use std::time::Instant;

use async_trait::async_trait;
use llmbench_http::{Redactor, decode_error, endpoint, json_api_client, provider_key, send};
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, PluginContext, Provider, ProviderError, Timings,
};
use llmbench_plugin_sdk::{OptionsError, parse_options};
use reqwest::header::{AUTHORIZATION, HeaderMap};
use serde::Deserialize;

use crate::stream::{Flow, StreamState};
use crate::wire::{ChatCompletion, ChatRequest, MaxTokensField};

/// The public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    /// The server's base URL; `/chat/completions` is appended, so a compatible server's
    /// base usually ends in `/v1` (Ollama: `http://localhost:11434/v1`). Default
    /// `https://api.openai.com/v1`, which needs a key (`api-key-env`); a custom base URL may
    /// go without.
    #[serde(default = "default_base_url")]
    base_url: String,
    /// The request field that carries the output limit; older compatible servers know only
    /// `max_tokens`. Default `max_completion_tokens`.
    #[serde(default = "default_max_tokens_field")]
    max_tokens_field: MaxTokensField,
}

impl Options {
    /// Parse and check the options (no I/O: what `llmbench validate` runs).
    fn parse(options: &serde_json::Value) -> Result<Self, OptionsError> {
        let o: Self = parse_options(options)?;
        endpoint(&o.base_url, "/chat/completions")
            .map_err(|e| OptionsError::at("base-url", e.to_string()))?;
        Ok(o)
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_max_tokens_field() -> MaxTokensField {
    MaxTokensField::MaxCompletionTokens
}

/// The provider; its options are the `provider-openai` plugin's.
#[derive(Debug)]
pub struct OpenAiProvider {
    client: reqwest::Client,
    url: String,
    /// `url` parsed once (`post(&str)` parses it for every request); `None` when it does not
    /// parse, and each request then fails as it always did.
    parsed_url: Option<reqwest::Url>,
    max_tokens_field: MaxTokensField,
    redactor: Redactor,
}

impl OpenAiProvider {
    /// Build the provider from its JSON options and context. Must run inside a tokio
    /// runtime (the plugin's own, when loaded by the host).
    pub fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, String> {
        let o = Options::parse(&options)?;
        let url = endpoint(&o.base_url, "/chat/completions").map_err(|e| e.to_string())?;
        let key = provider_key(context, &o.base_url, DEFAULT_BASE_URL)?;
        let user_agent = concat!("llmbench-provider-openai/", env!("CARGO_PKG_VERSION"));
        let client = json_api_client(
            user_agent,
            HeaderMap::new(),
            (AUTHORIZATION, "Bearer "),
            key,
        )
        .map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            parsed_url: reqwest::Url::parse(&url).ok(),
            url,
            max_tokens_field: o.max_tokens_field,
            redactor: Redactor::new(key.cloned()),
        })
    }

    async fn attempt(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body = serde_json::to_vec(&ChatRequest {
            request,
            max_tokens_field: self.max_tokens_field,
        })
        .expect("a request serializes");
        tracing::debug!(
            url = %self.url,
            model = %request.model,
            stream = request.stream,
            "sending a chat completion request"
        );
        let start = Instant::now();
        let answer = send(
            match &self.parsed_url {
                Some(url) => self.client.post(url.clone()),
                None => self.client.post(&self.url),
            }
            .body(body),
            &self.redactor,
        )
        .await?;
        if request.stream {
            let mut events = answer.events();
            let mut state = StreamState::default();
            loop {
                match events.next().await {
                    Ok(Some(event)) => {
                        if state.on_event(&event, start, events.request_id())? == Flow::Done {
                            break;
                        }
                    }
                    Ok(None) => break,
                    // The answer was complete; only the usage chunk or `[DONE]` was lost.
                    Err(e) if state.has_finished() => {
                        tracing::debug!(error = %e, "the stream broke after its finish_reason");
                        break;
                    }
                    Err(e) => return Err(e),
                }
            }
            state.finish(start.elapsed(), events.request_id())
        } else {
            let request_id = answer.request_id.clone();
            let bytes = answer.body(&self.redactor).await?;
            let latency = start.elapsed();
            let decode = |m: String| decode_error(m, request_id.as_deref());
            let completion: ChatCompletion = serde_json::from_slice(&bytes)
                .map_err(|e| decode(format!("invalid JSON in the response: {e}")))?;
            let choice = completion
                .choices
                .first()
                .ok_or_else(|| decode("the response has no choices".into()))?;
            let reason = choice
                .finish_reason
                .as_deref()
                .ok_or_else(|| decode("the response has no finish_reason".into()))?;
            Ok(Completion {
                text: choice
                    .message
                    .as_ref()
                    .and_then(|m| m.content.clone())
                    .unwrap_or_default(),
                stop_reason: wire::stop_reason(reason),
                usage: completion
                    .usage
                    .as_ref()
                    .map(wire::WireUsage::to_usage)
                    .unwrap_or_default(),
                timings: Timings {
                    latency,
                    time_to_first_token: None,
                },
                response_model: completion.model,
            })
        }
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        self.attempt(request)
            .await
            .map_err(|e| self.redactor.error(e))
    }
}

/// What the `provider-openai` plugin exports (the export itself is the plugin's, so that this
/// library defines no entry point).
impl llmbench_plugin_sdk::ProviderPlugin for OpenAiProvider {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options, context)
    }

    fn check_options(
        options: &serde_json::Value,
        _context: &PluginContext,
    ) -> Result<(), OptionsError> {
        Options::parse(options).map(drop)
    }
}

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::core::Secret;
    use serde_json::json;

    use super::*;

    fn context(key: Option<&str>) -> PluginContext {
        PluginContext {
            instance_name: "gpt".into(),
            api_key: key.map(Secret::new),
            ..PluginContext::default()
        }
    }

    #[tokio::test]
    async fn options_and_defaults() {
        let p = OpenAiProvider::from_options(json!({}), &context(Some("k"))).unwrap();
        assert_eq!(p.url, "https://api.openai.com/v1/chat/completions");
        assert_eq!(
            p.parsed_url.as_ref().map(reqwest::Url::as_str),
            Some(p.url.as_str())
        );
        assert_eq!(p.max_tokens_field, MaxTokensField::MaxCompletionTokens);
        let p = OpenAiProvider::from_options(
            json!({"base-url": "http://127.0.0.1:8000/v1/", "max-tokens-field": "max_tokens"}),
            &context(None),
        )
        .unwrap();
        assert_eq!(p.url, "http://127.0.0.1:8000/v1/chat/completions");
        assert_eq!(p.max_tokens_field, MaxTokensField::MaxTokens);
    }

    #[tokio::test]
    async fn bad_options_are_refused() {
        let e = OpenAiProvider::from_options(json!({"max-tokens-field": "tokens"}), &context(None))
            .unwrap_err();
        assert!(
            e.starts_with("option `max-tokens-field`: unknown value `tokens`"),
            "{e}"
        );
        let e = OpenAiProvider::from_options(json!({}), &context(None)).unwrap_err();
        assert!(e.contains("needs an API key"), "{e}");
        let e = OpenAiProvider::from_options(json!({"base-url": "localhost:8000"}), &context(None))
            .unwrap_err();
        assert!(e.contains("http://"), "{e}");
    }
}
