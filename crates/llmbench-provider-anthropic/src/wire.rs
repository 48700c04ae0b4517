//! The Messages API's JSON, as far as a benchmark needs it (`types/message_create_params.py`,
//! `types/message.py`, `types/usage.py`, `types/raw_message_stream_event.py`).

use llmbench_plugin_sdk::core::{CompletionRequest, Role, StopReason, Usage};
use serde::{Deserialize, Serialize};

/// `POST /v1/messages` body. Sampling fields the request leaves `None` are omitted, so the
/// model's defaults apply (some models reject non-default values).
#[derive(Debug, Serialize)]
pub(crate) struct MessagesRequest<'a> {
    model: &'a str,
    max_tokens: u32,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_k: Option<u32>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    stop_sequences: &'a [String],
    stream: bool,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

impl<'a> MessagesRequest<'a> {
    /// The wire form of `request`. The Messages API has no `seed`; it is not sent.
    pub(crate) fn new(request: &'a CompletionRequest) -> Self {
        let s = &request.sampling;
        Self {
            model: &request.model,
            max_tokens: request.max_tokens,
            messages: request
                .messages
                .iter()
                .map(|m| WireMessage {
                    role: match m.role {
                        Role::User => "user",
                        Role::Assistant => "assistant",
                    },
                    content: &m.content,
                })
                .collect(),
            system: request.system.as_deref(),
            temperature: s.temperature,
            top_p: s.top_p,
            top_k: s.top_k,
            stop_sequences: &s.stop,
            stream: request.stream,
        }
    }
}

/// A whole (non-streamed) message, or the `message` of `message_start`.
#[derive(Debug, Deserialize)]
pub(crate) struct Message {
    #[serde(default)]
    pub(crate) model: Option<String>,
    #[serde(default)]
    pub(crate) content: Vec<ContentBlock>,
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
}

/// A content block; only text is kept (thinking and tool use are not the answer's text).
#[derive(Debug, Deserialize)]
pub(crate) struct ContentBlock {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) text: Option<String>,
}

impl Message {
    pub(crate) fn text(&self) -> String {
        self.content
            .iter()
            .filter(|b| b.kind == "text")
            .filter_map(|b| b.text.as_deref())
            .collect()
    }
}

/// `usage` in a message or `message_delta` (cumulative there). Absent or `null` fields are
/// unknown.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct WireUsage {
    #[serde(default)]
    pub(crate) input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) output_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    pub(crate) output_tokens_details: Option<OutputDetails>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OutputDetails {
    #[serde(default)]
    pub(crate) thinking_tokens: Option<u64>,
}

impl WireUsage {
    /// Overwrite `usage` with every count this one knows. Anthropic's `input_tokens`
    /// already excludes cache reads and writes, which is what [`Usage::input_tokens`] means.
    pub(crate) fn merge_into(&self, usage: &mut Usage) {
        let set = |slot: &mut Option<u64>, value: Option<u64>| {
            if value.is_some() {
                *slot = value;
            }
        };
        set(&mut usage.input_tokens, self.input_tokens);
        set(&mut usage.output_tokens, self.output_tokens);
        set(&mut usage.cache_read_tokens, self.cache_read_input_tokens);
        set(
            &mut usage.cache_write_tokens,
            self.cache_creation_input_tokens,
        );
        set(
            &mut usage.reasoning_tokens,
            self.output_tokens_details
                .as_ref()
                .and_then(|d| d.thinking_tokens),
        );
    }
}

/// `end_turn`, `max_tokens` and `stop_sequence` have their own variants; everything else
/// (`tool_use`, `pause_turn`, `refusal`, `model_context_window_exceeded`, ...) is kept
/// verbatim.
pub(crate) fn stop_reason(value: &str) -> StopReason {
    match value {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        other => StopReason::Other(other.to_owned()),
    }
}

/// `message_start`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageStart {
    pub(crate) message: Message,
}

/// `content_block_start`.
#[derive(Debug, Deserialize)]
pub(crate) struct BlockStart {
    pub(crate) content_block: ContentBlock,
}

/// `content_block_delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct BlockDelta {
    pub(crate) delta: Delta,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Delta {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    #[serde(default)]
    pub(crate) text: Option<String>,
}

/// `message_delta`.
#[derive(Debug, Deserialize)]
pub(crate) struct MessageDelta {
    pub(crate) delta: MessageDeltaBody,
    #[serde(default)]
    pub(crate) usage: Option<WireUsage>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct MessageDeltaBody {
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
}

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::core::{Message as CoreMessage, Sampling};
    use serde_json::json;

    use super::*;

    fn request(sampling: Sampling) -> CompletionRequest {
        CompletionRequest {
            model: "claude-haiku-4-5".into(),
            system: Some("be brief".into()),
            messages: vec![CoreMessage::user("hi")],
            max_tokens: 64,
            sampling,
            stream: true,
            sample: None,
        }
    }

    #[test]
    fn unset_sampling_is_omitted() {
        let r = request(Sampling::default());
        assert_eq!(
            serde_json::to_value(MessagesRequest::new(&r)).unwrap(),
            json!({
                "model": "claude-haiku-4-5",
                "max_tokens": 64,
                "messages": [{"role": "user", "content": "hi"}],
                "system": "be brief",
                "stream": true
            })
        );
    }

    #[test]
    fn set_sampling_is_sent_and_seed_is_not() {
        let r = request(Sampling {
            temperature: Some(0.0),
            top_p: Some(0.9),
            top_k: Some(5),
            seed: Some(7),
            stop: vec!["END".into()],
        });
        let v = serde_json::to_value(MessagesRequest::new(&r)).unwrap();
        assert_eq!(v["temperature"], json!(0.0));
        assert_eq!(v["top_p"], json!(0.9));
        assert_eq!(v["top_k"], json!(5));
        assert_eq!(v["stop_sequences"], json!(["END"]));
        assert!(v.get("seed").is_none());
    }

    #[test]
    fn usage_classes() {
        let u: WireUsage = serde_json::from_value(json!({
            "input_tokens": 10, "output_tokens": 20,
            "cache_read_input_tokens": 30, "cache_creation_input_tokens": 40,
            "output_tokens_details": {"thinking_tokens": 5}
        }))
        .unwrap();
        let mut usage = Usage::default();
        u.merge_into(&mut usage);
        assert_eq!(
            usage,
            Usage {
                input_tokens: Some(10),
                output_tokens: Some(20),
                cache_read_tokens: Some(30),
                cache_write_tokens: Some(40),
                reasoning_tokens: Some(5),
            }
        );
        // A later, partial usage only overwrites what it knows.
        let later: WireUsage =
            serde_json::from_value(json!({"output_tokens": 25, "cache_read_input_tokens": null}))
                .unwrap();
        later.merge_into(&mut usage);
        assert_eq!(usage.output_tokens, Some(25));
        assert_eq!(usage.cache_read_tokens, Some(30));
    }

    #[test]
    fn stop_reasons() {
        assert_eq!(stop_reason("end_turn"), StopReason::EndTurn);
        assert_eq!(stop_reason("max_tokens"), StopReason::MaxTokens);
        assert_eq!(stop_reason("stop_sequence"), StopReason::StopSequence);
        assert_eq!(stop_reason("refusal"), StopReason::Other("refusal".into()));
    }
}
