//! The Anthropic Messages API provider as a library: [`AnthropicProvider`] sends
//! `POST {base-url}/v1/messages`, streamed (server-sent events) or not, to the public endpoint
//! or any server that speaks the protocol (Ollama, the in-repo mock server).
//!
//! The `provider-anthropic` plugin exports it; its crate documents the options and what a
//! completion holds. `grader-llm-judge` calls it in-process to ask its judge model. This crate
//! defines no plugin entry point, so any number of plugins may link it: a plugin never depends
//! on another plugin (each exports the same entry symbol).

mod stream;
mod wire;

use std::time::Instant;

use async_trait::async_trait;
use llmbench_http::{Redactor, decode_error, endpoint, json_api_client, provider_key, send};
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, PluginContext, Provider, ProviderError, Timings, Usage,
};
use llmbench_plugin_sdk::{OptionsError, parse_options};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::stream::{Flow, StreamState};

/// The public endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.anthropic.com";
/// The API version header the SDKs send.
pub const DEFAULT_VERSION: &str = "2023-06-01";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    /// The server's base URL; `/v1/messages` is appended. Default
    /// `https://api.anthropic.com`, which needs a key (`api-key-env`); a custom base URL may
    /// go without.
    #[serde(default = "default_base_url")]
    base_url: String,
    /// The `anthropic-version` header sent with every request. Default `2023-06-01`.
    #[serde(default = "default_version")]
    anthropic_version: String,
}

impl Options {
    /// Parse and check the options (no I/O: what `llmbench validate` runs).
    fn parse(options: &serde_json::Value) -> Result<Self, OptionsError> {
        let o: Self = parse_options(options)?;
        endpoint(&o.base_url, "/v1/messages")
            .map_err(|e| OptionsError::at("base-url", e.to_string()))?;
        HeaderValue::from_str(&o.anthropic_version)
            .map_err(|_| OptionsError::at("anthropic-version", "not a valid header value"))?;
        Ok(o)
    }
}

fn default_base_url() -> String {
    DEFAULT_BASE_URL.to_owned()
}

fn default_version() -> String {
    DEFAULT_VERSION.to_owned()
}

/// The provider; its options are the `provider-anthropic` plugin's.
#[derive(Debug)]
pub struct AnthropicProvider {
    client: reqwest::Client,
    url: String,
    redactor: Redactor,
}

impl AnthropicProvider {
    /// Build the provider from its JSON options and context. Must run inside a tokio
    /// runtime (the plugin's own, when loaded by the host).
    pub fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, String> {
        let o = Options::parse(&options)?;
        let url = endpoint(&o.base_url, "/v1/messages").map_err(|e| e.to_string())?;
        let key = provider_key(context, &o.base_url, DEFAULT_BASE_URL)?;
        let mut headers = HeaderMap::new();
        headers.insert(
            "anthropic-version",
            HeaderValue::from_str(&o.anthropic_version)
                .map_err(|_| "invalid `anthropic-version`: not a valid header value")?,
        );
        let user_agent = concat!("llmbench-provider-anthropic/", env!("CARGO_PKG_VERSION"));
        let auth = (HeaderName::from_static("x-api-key"), "");
        let client = json_api_client(user_agent, headers, auth, key).map_err(|e| e.to_string())?;
        Ok(Self {
            client,
            url,
            redactor: Redactor::new(key.cloned()),
        })
    }

    async fn attempt(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let body =
            serde_json::to_vec(&wire::MessagesRequest::new(request)).expect("a request serializes");
        tracing::debug!(
            url = %self.url,
            model = %request.model,
            stream = request.stream,
            "sending a Messages request"
        );
        let start = Instant::now();
        let answer = send(self.client.post(&self.url).body(body), &self.redactor).await?;
        if request.stream {
            let mut events = answer.events();
            let mut state = StreamState::default();
            while let Some(event) = events.next().await? {
                if state.on_event(&event, start, events.request_id())? == Flow::Done {
                    return state.finish(start.elapsed(), events.request_id());
                }
            }
            Err(events.decode_error("stream ended before message_stop"))
        } else {
            let request_id = answer.request_id.clone();
            let bytes = answer.body(&self.redactor).await?;
            let latency = start.elapsed();
            let message: wire::Message = serde_json::from_slice(&bytes).map_err(|e| {
                decode_error(
                    format!("invalid JSON in the response: {e}"),
                    request_id.as_deref(),
                )
            })?;
            let reason = message.stop_reason.as_deref().ok_or_else(|| {
                decode_error("the response has no stop_reason", request_id.as_deref())
            })?;
            let mut usage = Usage::default();
            if let Some(u) = &message.usage {
                u.merge_into(&mut usage);
            }
            Ok(Completion {
                text: message.text(),
                stop_reason: wire::stop_reason(reason),
                usage,
                timings: Timings {
                    latency,
                    time_to_first_token: None,
                },
                response_model: message.model,
            })
        }
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        self.attempt(request)
            .await
            .map_err(|e| self.redactor.error(e))
    }
}

/// What the `provider-anthropic` plugin exports (the export itself is the plugin's, so that this
/// library defines no entry point).
impl llmbench_plugin_sdk::ProviderPlugin for AnthropicProvider {
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
            instance_name: "haiku".into(),
            api_key: key.map(Secret::new),
            ..PluginContext::default()
        }
    }

    #[tokio::test]
    async fn options_and_defaults() {
        let p = AnthropicProvider::from_options(json!({}), &context(Some("k"))).unwrap();
        assert_eq!(p.url, "https://api.anthropic.com/v1/messages");
        let p = AnthropicProvider::from_options(
            json!({"base-url": "http://127.0.0.1:9/", "anthropic-version": "2024-01-01"}),
            &context(None),
        )
        .unwrap();
        assert_eq!(p.url, "http://127.0.0.1:9/v1/messages");
    }

    #[tokio::test]
    async fn bad_options_are_refused() {
        let e = AnthropicProvider::from_options(json!({"max-retries": 3}), &context(Some("k")))
            .unwrap_err();
        assert!(e.contains("unknown option `max-retries`"), "{e}");
        let e = AnthropicProvider::from_options(json!({}), &context(None)).unwrap_err();
        assert!(e.contains("needs an API key"), "{e}");
        let e = AnthropicProvider::from_options(
            json!({"base-url": "http://x"}),
            &context(Some("sk-secret\n")),
        )
        .unwrap_err();
        assert!(!e.contains("sk-secret"), "{e}");
    }

    #[tokio::test]
    async fn the_key_is_not_in_debug_output() {
        let p =
            AnthropicProvider::from_options(json!({}), &context(Some("sk-ant-secret"))).unwrap();
        assert!(!format!("{p:?}").contains("sk-ant-secret"));
    }
}
