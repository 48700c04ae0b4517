//! Folding a Messages API event stream into a [`Completion`].
//!
//! Order (`_streaming.py`, the SDK's `basic_response.txt` fixture): `message_start`, then per
//! block `content_block_start`, `content_block_delta`..., `content_block_stop`, then
//! `message_delta` (stop reason, cumulative usage) and `message_stop`. `ping` may come
//! anywhere and is ignored; `error` may come after HTTP 200 and is classified by its type.
//! A stream is complete only at `message_stop`.

use std::time::{Duration, Instant};

use llmbench_http::{ErrorBody, SseEvent, decode_error, stream_error};
use llmbench_plugin_sdk::core::{Completion, ProviderError, Timings, Usage};
use serde::de::DeserializeOwned;

use crate::wire::{self, BlockDelta, BlockStart, MessageDelta, MessageStart};

/// Whether the stream has more to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// `message_stop` arrived.
    Done,
}

/// What the events so far have said.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    text: String,
    usage: Usage,
    stop_reason: Option<String>,
    model: Option<String>,
    time_to_first_token: Option<Duration>,
    started: bool,
}

fn parse<T: DeserializeOwned>(
    event: &SseEvent,
    name: &str,
    request_id: Option<&str>,
) -> Result<T, ProviderError> {
    serde_json::from_str(&event.data).map_err(|e| {
        decode_error(
            format!("invalid `{name}` event in the stream: {e}"),
            request_id,
        )
    })
}

impl StreamState {
    /// Take one event. `start` is when the request was sent (for time to first token).
    pub(crate) fn on_event(
        &mut self,
        event: &SseEvent,
        start: Instant,
        request_id: Option<&str>,
    ) -> Result<Flow, ProviderError> {
        // The SDK dispatches on the SSE event name; fall back to the data's `type`.
        let name = match &event.event {
            Some(name) => name.clone(),
            None => serde_json::from_str::<serde_json::Value>(&event.data)
                .ok()
                .and_then(|v| v.get("type")?.as_str().map(str::to_owned))
                .unwrap_or_default(),
        };
        match name.as_str() {
            "ping" => {}
            "message_start" => {
                let start: MessageStart = parse(event, &name, request_id)?;
                self.started = true;
                self.model = start.message.model;
                if let Some(u) = &start.message.usage {
                    u.merge_into(&mut self.usage);
                }
                // `output_tokens` here is a placeholder; only `message_delta` counts.
                self.usage.output_tokens = None;
            }
            "content_block_start" => {
                let block: BlockStart = parse(event, &name, request_id)?;
                if block.content_block.kind == "text"
                    && let Some(text) = block.content_block.text
                {
                    self.push_text(&text, start);
                }
            }
            "content_block_delta" => {
                let delta: BlockDelta = parse(event, &name, request_id)?;
                if delta.delta.kind == "text_delta"
                    && let Some(text) = delta.delta.text
                {
                    self.push_text(&text, start);
                }
            }
            "content_block_stop" => {}
            "message_delta" => {
                let delta: MessageDelta = parse(event, &name, request_id)?;
                if let Some(reason) = delta.delta.stop_reason {
                    self.stop_reason = Some(reason);
                }
                if let Some(u) = &delta.usage {
                    u.merge_into(&mut self.usage);
                }
            }
            "message_stop" => return Ok(Flow::Done),
            "error" => {
                let value: serde_json::Value = parse(event, &name, request_id)?;
                let body = ErrorBody::from_json(&value).ok_or_else(|| {
                    decode_error("an `error` event without an error in it", request_id)
                })?;
                return Err(stream_error(&body, request_id));
            }
            other => {
                tracing::debug!(event = other, "ignoring an unknown stream event");
            }
        }
        Ok(Flow::Continue)
    }

    fn push_text(&mut self, text: &str, start: Instant) {
        if !text.is_empty() && self.time_to_first_token.is_none() {
            self.time_to_first_token = Some(start.elapsed());
        }
        self.text.push_str(text);
    }

    /// The completion, once `message_stop` has arrived.
    pub(crate) fn finish(
        self,
        latency: Duration,
        request_id: Option<&str>,
    ) -> Result<Completion, ProviderError> {
        if !self.started {
            return Err(decode_error(
                "the stream had no `message_start`",
                request_id,
            ));
        }
        let Some(reason) = self.stop_reason else {
            return Err(decode_error(
                "the stream ended without a stop reason",
                request_id,
            ));
        };
        Ok(Completion {
            text: self.text,
            stop_reason: wire::stop_reason(&reason),
            usage: self.usage,
            timings: Timings {
                latency,
                time_to_first_token: self.time_to_first_token,
            },
            response_model: self.model,
        })
    }
}

#[cfg(test)]
mod tests {
    use llmbench_http::SseParser;
    use llmbench_plugin_sdk::core::{ProviderErrorKind, StopReason};

    use super::*;

    /// The SDK's `basic_response.txt` event sequence (text "Hello there!", input 11,
    /// output 6 from `message_delta`), with a ping in the middle.
    const BASIC: &str = concat!(
        "event: message_start\n",
        "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-haiku-4-5-20251001\",\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\n\n",
        "event: content_block_start\n",
        "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
        "event: ping\ndata: {\"type\": \"ping\"}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n",
        "event: content_block_delta\n",
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" there!\"}}\n\n",
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n",
        "event: message_delta\n",
        "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":6}}\n\n",
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    );

    fn run(stream: &str) -> Result<Completion, ProviderError> {
        let mut parser = SseParser::new();
        parser.push(stream.as_bytes());
        parser.finish();
        let mut state = StreamState::default();
        let start = Instant::now();
        while let Some(event) = parser.next_event() {
            if state.on_event(&event, start, Some("req_1"))? == Flow::Done {
                return state.finish(start.elapsed(), Some("req_1"));
            }
        }
        Err(decode_error(
            "stream ended before message_stop",
            Some("req_1"),
        ))
    }

    #[test]
    fn the_basic_response() {
        let c = run(BASIC).unwrap();
        assert_eq!(c.text, "Hello there!");
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        assert_eq!(c.usage.input_tokens, Some(11));
        assert_eq!(c.usage.output_tokens, Some(6));
        assert_eq!(
            c.response_model.as_deref(),
            Some("claude-haiku-4-5-20251001")
        );
        assert!(c.timings.time_to_first_token.is_some());
    }

    #[test]
    fn the_midstream_error_fixture_is_overloaded() {
        let e = run(include_str!(
            "../../../crates/llmbench-http/fixtures/anthropic_stream_midstream_error.sse"
        ))
        .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::Overloaded);
        assert_eq!(e.provider_code.as_deref(), Some("overloaded_error"));
        assert!(e.message.contains("req_1"), "{}", e.message);
    }

    #[test]
    fn a_stream_without_message_stop_is_not_a_success() {
        let cut = BASIC.split("event: message_stop").next().unwrap();
        assert_eq!(run(cut).unwrap_err().kind, ProviderErrorKind::Decode);
    }

    #[test]
    fn malformed_json_is_a_decode_error() {
        let bad = BASIC.replacen("{\"type\":\"text_delta\",\"text\":\"Hello\"}", "{oops", 1);
        let e = run(&bad).unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::Decode);
        assert!(e.message.contains("content_block_delta"), "{}", e.message);
    }

    #[test]
    fn cumulative_usage_with_cache_classes() {
        let s = BASIC.replace(
            "\"usage\":{\"output_tokens\":6}",
            "\"usage\":{\"output_tokens\":6,\"input_tokens\":11,\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":20}",
        );
        let c = run(&s).unwrap();
        assert_eq!(c.usage.cache_read_tokens, Some(100));
        assert_eq!(c.usage.cache_write_tokens, Some(20));
        assert_eq!(c.usage.total_input(), Some(131));
    }

    #[test]
    fn thinking_is_not_text_and_does_not_start_the_clock() {
        let s = BASIC.replacen(
            "event: ping",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}\n\nevent: ping",
            1,
        );
        assert_eq!(run(&s).unwrap().text, "Hello there!");
    }
}
