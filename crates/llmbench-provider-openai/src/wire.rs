//! Chat Completions JSON, as far as a benchmark needs it
//! (`types/chat/completion_create_params.py`, `chat_completion.py`,
//! `chat_completion_chunk.py`, `completion_usage.py`).

use std::borrow::Cow;

use llmbench_plugin_sdk::core::{CompletionRequest, Role, StopReason, Usage};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};

/// Which request field carries the output limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(crate) enum MaxTokensField {
    /// `max_completion_tokens`: current OpenAI.
    #[serde(rename = "max_completion_tokens")]
    MaxCompletionTokens,
    /// `max_tokens`: deprecated by OpenAI, what older compatible servers understand.
    #[serde(rename = "max_tokens")]
    MaxTokens,
}

impl MaxTokensField {
    fn name(self) -> &'static str {
        match self {
            Self::MaxCompletionTokens => "max_completion_tokens",
            Self::MaxTokens => "max_tokens",
        }
    }
}

/// `POST /chat/completions` body. Sampling fields the request leaves `None` are omitted.
#[derive(Debug)]
pub(crate) struct ChatRequest<'a> {
    pub(crate) request: &'a CompletionRequest,
    pub(crate) max_tokens_field: MaxTokensField,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct StreamOptions {
    include_usage: bool,
}

impl Serialize for ChatRequest<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let r = self.request;
        let s = &r.sampling;
        let system = r.system.as_deref().map(|content| WireMessage {
            role: "system",
            content,
        });
        let messages: Vec<WireMessage<'_>> = system
            .into_iter()
            .chain(r.messages.iter().map(|m| WireMessage {
                role: match m.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                content: &m.content,
            }))
            .collect();
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("model", &r.model)?;
        map.serialize_entry("messages", &messages)?;
        map.serialize_entry(self.max_tokens_field.name(), &r.max_tokens)?;
        if let Some(t) = s.temperature {
            map.serialize_entry("temperature", &t)?;
        }
        if let Some(p) = s.top_p {
            map.serialize_entry("top_p", &p)?;
        }
        // Not an OpenAI parameter; vLLM, llama.cpp and Ollama accept it. Sent only when set.
        if let Some(k) = s.top_k {
            map.serialize_entry("top_k", &k)?;
        }
        if let Some(seed) = s.seed {
            map.serialize_entry("seed", &seed)?;
        }
        if !s.stop.is_empty() {
            map.serialize_entry("stop", &s.stop)?;
        }
        map.serialize_entry("stream", &r.stream)?;
        if r.stream {
            map.serialize_entry(
                "stream_options",
                &StreamOptions {
                    include_usage: true,
                },
            )?;
        }
        map.end()
    }
}

/// A whole completion.
#[derive(Debug, Deserialize)]
pub(crate) struct ChatCompletion {
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) choices: Vec<Choice>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Choice {
    #[serde(default)]
    pub(crate) message: Option<ChoiceMessage>,
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChoiceMessage {
    #[serde(default)]
    pub(crate) content: Option<String>,
}

/// One streamed chunk. Its strings borrow from the event's text when they have no escapes
/// (a `String` per chunk for the model and one for the content were a tenth of reading a
/// chunk; docs/performance.md).
#[derive(Debug, Deserialize)]
pub(crate) struct Chunk<'a> {
    /// The chunk has an `error` field (whatever its value, `null` included): it is an error
    /// event, read again as a whole for its message.
    #[serde(default, rename = "error", deserialize_with = "present")]
    pub(crate) has_error: bool,
    #[serde(default, borrow)]
    pub(crate) model: Option<Text<'a>>,
    #[serde(default, borrow)]
    pub(crate) choices: Vec<ChunkChoice<'a>>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
}

impl Chunk<'_> {
    /// The chunk with its strings owned.
    pub(crate) fn into_owned(self) -> Chunk<'static> {
        Chunk {
            has_error: self.has_error,
            model: self.model.map(Text::into_owned),
            choices: self
                .choices
                .into_iter()
                .map(|c| ChunkChoice {
                    index: c.index,
                    delta: c.delta.map(|d| ChunkDelta {
                        content: d.content.map(Text::into_owned),
                    }),
                    finish_reason: c.finish_reason.map(Text::into_owned),
                })
                .collect(),
            usage: self.usage,
        }
    }
}

/// A JSON string, borrowed from the input when it has no escapes, else owned. (`Cow<str>`
/// inside an `Option` is always copied by serde's derive: its borrowing is for bare fields.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Text<'a>(pub(crate) Cow<'a, str>);

impl Text<'_> {
    fn into_owned(self) -> Text<'static> {
        Text(Cow::Owned(self.0.into_owned()))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(
                self,
                v: &'de str,
            ) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(Visitor)
    }
}

/// True for a field that is there, whatever it holds.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    serde::de::IgnoredAny::deserialize(d).map(|_| true)
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkChoice<'a> {
    #[serde(default)]
    pub(crate) index: u32,
    #[serde(default, borrow)]
    pub(crate) delta: Option<ChunkDelta<'a>>,
    #[serde(default, borrow)]
    pub(crate) finish_reason: Option<Text<'a>>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct ChunkDelta<'a> {
    #[serde(default, borrow)]
    pub(crate) content: Option<Text<'a>>,
}

/// `usage`. `cached_tokens` is a subset of `prompt_tokens`; `reasoning_tokens` is included
/// in `completion_tokens`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) prompt_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) completion_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) prompt_tokens_details: Option<PromptDetails>,
    #[serde(default)]
    pub(crate) completion_tokens_details: Option<CompletionDetails>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PromptDetails {
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct CompletionDetails {
    #[serde(default)]
    pub(crate) reasoning_tokens: Option<u64>,
}

impl WireUsage {
    /// In llmbench's classes: `input_tokens` is the uncached part of the prompt
    /// (`prompt_tokens - cached_tokens`), so that cached tokens are priced separately.
    pub(crate) fn to_usage(&self) -> Usage {
        let cached = self
            .prompt_tokens_details
            .as_ref()
            .and_then(|d| d.cached_tokens);
        Usage {
            input_tokens: self
                .prompt_tokens
                .map(|p| p.saturating_sub(cached.unwrap_or(0))),
            output_tokens: self.completion_tokens,
            cache_read_tokens: cached,
            cache_write_tokens: None,
            reasoning_tokens: self
                .completion_tokens_details
                .as_ref()
                .and_then(|d| d.reasoning_tokens),
        }
    }
}

/// `stop` is the end of the turn (a stop sequence included: the API does not tell them
/// apart), `length` the output limit; anything else (`content_filter`, `tool_calls`, ...) is
/// kept verbatim.
pub(crate) fn stop_reason(value: &str) -> StopReason {
    match value {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        other => StopReason::Other(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::core::{Message, Sampling};
    use serde_json::json;

    use super::*;

    fn request(sampling: Sampling, stream: bool) -> CompletionRequest {
        CompletionRequest {
            model: "gpt-x".into(),
            system: Some("be brief".into()),
            messages: vec![Message::user("hi")],
            max_tokens: 64,
            sampling,
            stream,
            sample: None,
        }
    }

    fn wire(r: &CompletionRequest, field: MaxTokensField) -> serde_json::Value {
        serde_json::to_value(ChatRequest {
            request: r,
            max_tokens_field: field,
        })
        .unwrap()
    }

    #[test]
    fn a_plain_request_omits_unset_sampling() {
        let r = request(Sampling::default(), false);
        assert_eq!(
            wire(&r, MaxTokensField::MaxCompletionTokens),
            json!({
                "model": "gpt-x",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"}
                ],
                "max_completion_tokens": 64,
                "stream": false
            })
        );
    }

    #[test]
    fn a_streamed_request_asks_for_usage_and_sends_sampling() {
        let r = request(
            Sampling {
                temperature: Some(0.0),
                top_p: Some(1.0),
                top_k: None,
                seed: Some(42),
                stop: vec!["END".into()],
            },
            true,
        );
        let v = wire(&r, MaxTokensField::MaxTokens);
        assert_eq!(v["max_tokens"], json!(64));
        assert!(v.get("max_completion_tokens").is_none());
        assert_eq!(v["seed"], json!(42));
        assert_eq!(v["stop"], json!(["END"]));
        assert_eq!(v["temperature"], json!(0.0));
        assert!(v.get("top_k").is_none());
        assert_eq!(v["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn cached_tokens_are_taken_out_of_input() {
        let u: WireUsage = serde_json::from_value(json!({
            "prompt_tokens": 1500, "completion_tokens": 200, "total_tokens": 1700,
            "prompt_tokens_details": {"cached_tokens": 500},
            "completion_tokens_details": {"reasoning_tokens": 50}
        }))
        .unwrap();
        assert_eq!(
            u.to_usage(),
            Usage {
                input_tokens: Some(1000),
                output_tokens: Some(200),
                cache_read_tokens: Some(500),
                cache_write_tokens: None,
                reasoning_tokens: Some(50),
            }
        );
        // Servers without details (Ollama): cache unknown, input is the whole prompt.
        let u: WireUsage =
            serde_json::from_value(json!({"prompt_tokens": 12, "completion_tokens": 2})).unwrap();
        assert_eq!(u.to_usage().input_tokens, Some(12));
        assert_eq!(u.to_usage().cache_read_tokens, None);
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason("stop"), StopReason::EndTurn);
        assert_eq!(stop_reason("length"), StopReason::MaxTokens);
        assert_eq!(
            stop_reason("content_filter"),
            StopReason::Other("content_filter".into())
        );
    }
}
