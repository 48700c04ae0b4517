//! Folding a Chat Completions chunk stream into a [`Completion`].
//!
//! `data: <chunk>` events without names, ending with `data: [DONE]`. With
//! `stream_options.include_usage`, one chunk with `choices: []` and `usage` comes before
//! `[DONE]`; if the stream breaks first it never arrives, and usage is then unknown (`None`),
//! never zero, while the text and stop reason already received are kept. A
//! `data: {"error": ...}` is classified by its type or code. A stream is complete once a
//! `finish_reason` has arrived.

use std::time::{Duration, Instant};

use llmbench_http::{ErrorBody, SseEvent, decode_error, stream_error};
use llmbench_plugin_sdk::core::{Completion, ProviderError, Timings, Usage};
use serde::Deserialize;

use crate::wire::{self, Chunk};

/// Whether the stream has more to say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    /// `[DONE]` arrived.
    Done,
}

/// What the chunks so far have said.
#[derive(Debug, Default)]
pub(crate) struct StreamState {
    text: String,
    finish_reason: Option<String>,
    usage: Option<Usage>,
    model: Option<String>,
    time_to_first_token: Option<Duration>,
}

impl StreamState {
    /// Take one event. `start` is when the request was sent (for time to first token).
    pub(crate) fn on_event(
        &mut self,
        event: &SseEvent,
        start: Instant,
        request_id: Option<&str>,
    ) -> Result<Flow, ProviderError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(Flow::Done);
        }
        // The common case, a well-formed content chunk, is read straight into its type: going
        // through a `serde_json::Value` first cost about a third of the harness's CPU per
        // sample (docs/performance.md). Anything else (an error event, a chunk that does not
        // fit) takes the general path, whose results and messages are those of before.
        let chunk = match serde_json::from_str::<Chunk>(data) {
            Ok(chunk) if !chunk.has_error && event.event.as_deref() != Some("error") => chunk,
            _ => Self::general(event, data, request_id)?,
        };
        if self.model.is_none() {
            self.model = chunk.model.map(|m| m.0.into_owned());
        }
        for choice in chunk.choices.iter().filter(|c| c.index == 0) {
            if let Some(text) = choice.delta.as_ref().and_then(|d| d.content.as_ref())
                && !text.as_str().is_empty()
            {
                if self.time_to_first_token.is_none() {
                    self.time_to_first_token = Some(start.elapsed());
                }
                self.text.push_str(text.as_str());
            }
            if let Some(reason) = &choice.finish_reason {
                self.finish_reason = Some(reason.as_str().to_owned());
            }
        }
        // The last usage seen wins (vLLM's `continuous_usage_stats` sends it in every chunk).
        if let Some(u) = &chunk.usage {
            self.usage = Some(u.to_usage());
        }
        Ok(Flow::Continue)
    }

    /// A chunk that is not a plain content chunk: read as JSON, then as an error event or a
    /// chunk.
    fn general(
        event: &SseEvent,
        data: &str,
        request_id: Option<&str>,
    ) -> Result<Chunk<'static>, ProviderError> {
        let value: serde_json::Value = serde_json::from_str(data).map_err(|e| {
            decode_error(format!("invalid JSON in a stream chunk: {e}"), request_id)
        })?;
        if value.get("error").is_some() || event.event.as_deref() == Some("error") {
            let body = ErrorBody::from_json(&value).unwrap_or_else(|| ErrorBody {
                message: Some(data.to_owned()),
                ..ErrorBody::default()
            });
            return Err(stream_error(&body, request_id));
        }
        Chunk::deserialize(&value)
            .map(Chunk::into_owned)
            .map_err(|e| decode_error(format!("unexpected stream chunk: {e}"), request_id))
    }

    /// Whether the answer is complete apart, perhaps, from its usage chunk.
    pub(crate) fn has_finished(&self) -> bool {
        self.finish_reason.is_some()
    }

    /// The completion: after `[DONE]`, or after the stream ended (or broke) once a
    /// `finish_reason` had arrived.
    pub(crate) fn finish(
        self,
        latency: Duration,
        request_id: Option<&str>,
    ) -> Result<Completion, ProviderError> {
        let Some(reason) = self.finish_reason else {
            return Err(decode_error(
                "stream ended before a finish_reason",
                request_id,
            ));
        };
        if self.usage.is_none() {
            tracing::debug!(
                request_id = request_id.unwrap_or(""),
                "the stream had no usage chunk: usage is unknown"
            );
        }
        Ok(Completion {
            text: self.text,
            stop_reason: wire::stop_reason(&reason),
            usage: self.usage.unwrap_or_default(),
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

    const FIXTURE: &str =
        include_str!("../../../crates/llmbench-http/fixtures/openai_stream_include_usage.sse");

    fn run(stream: &str) -> Result<Completion, ProviderError> {
        let mut parser = SseParser::new();
        parser.push(stream.as_bytes());
        parser.finish();
        let mut state = StreamState::default();
        let start = Instant::now();
        while let Some(event) = parser.next_event() {
            if state.on_event(&event, start, Some("req_1"))? == Flow::Done {
                break;
            }
        }
        state.finish(start.elapsed(), Some("req_1"))
    }

    #[test]
    fn the_include_usage_fixture() {
        let c = run(FIXTURE).unwrap();
        assert_eq!(c.text, "Hello");
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        assert_eq!(c.usage.input_tokens, Some(12));
        assert_eq!(c.usage.output_tokens, Some(2));
        assert_eq!(c.usage.cache_read_tokens, Some(0));
        assert_eq!(c.usage.reasoning_tokens, Some(0));
        assert_eq!(c.response_model.as_deref(), Some("gpt-x"));
        assert!(c.timings.time_to_first_token.is_some());
    }

    #[test]
    fn a_chunk_read_straight_into_its_type_still_sees_errors() {
        // Any `error` field, `null` included, or an `error` event makes the chunk an error,
        // as when every chunk was read as a JSON value first.
        let content = r#"{"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]"#;
        for stream in [
            format!("data: {content},\"error\":null}}\n\n"),
            format!("event: error\ndata: {content}}}\n\n"),
        ] {
            assert!(run(&stream).is_err(), "{stream}");
        }
        // A duplicate key, which a typed read refuses, is read as before (the last wins).
        let c = run(&format!(
            "data: {content},\"model\":\"m2\"}}\n\ndata: [DONE]\n\n"
        ))
        .unwrap();
        assert_eq!(c.text, "hi");
        assert_eq!(c.response_model.as_deref(), Some("m2"));
    }

    #[test]
    fn escaped_and_plain_strings_read_alike() {
        // Strings without escapes are borrowed from the event, others decoded: both read in full.
        let stream = concat!(
            "data: {\"model\":\"m\\u00e9\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\\n\\\"b\\\"\"}}]}\n\n",
            "data: {\"model\":\"other\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" c\"},\"finish_reason\":\"len\\u0067th\"}]}\n\n",
            "data: [DONE]\n\n",
        );
        let c = run(stream).unwrap();
        assert_eq!(c.text, "a\n\"b\" c");
        assert_eq!(c.response_model.as_deref(), Some("m\u{e9}"));
        assert_eq!(c.stop_reason, StopReason::MaxTokens);
        // A chunk only the general path reads (a duplicate key) keeps its strings too.
        let dup = "data: {\"model\":\"x\",\"model\":\"y\\u0021\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"z\\t\"},\"finish_reason\":\"stop\"}]}\n\n";
        let c = run(dup).unwrap();
        assert_eq!(c.text, "z\t");
        assert_eq!(c.response_model.as_deref(), Some("y!"));
    }

    #[test]
    fn a_missing_usage_chunk_is_unknown_usage_not_zero() {
        let without: String = FIXTURE
            .split("\n\n")
            .filter(|e| !e.contains("\"choices\":[]"))
            .map(|e| format!("{e}\n\n"))
            .collect();
        let c = run(&without).unwrap();
        assert_eq!(c.text, "Hello");
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        assert_eq!(c.usage, Usage::default());
        assert_eq!(c.usage.input_tokens, None);
    }

    #[test]
    fn done_terminates_even_if_more_follows() {
        let s = format!("{FIXTURE}data: {{not json\n\n");
        assert_eq!(run(&s).unwrap().text, "Hello");
    }

    #[test]
    fn a_stream_cut_before_finish_is_not_a_success() {
        let cut: String = FIXTURE
            .split("\n\n")
            .take(2)
            .map(|e| format!("{e}\n\n"))
            .collect();
        assert_eq!(run(&cut).unwrap_err().kind, ProviderErrorKind::Decode);
    }

    #[test]
    fn errors_in_the_stream_nested_and_flat() {
        let nested = "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n";
        let e = run(&format!(
            "{}{nested}",
            FIXTURE.split("\n\n").next().unwrap().to_owned() + "\n\n"
        ))
        .unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::Server);
        assert!(e.message.contains("server_error: boom"), "{}", e.message);
        let rate = "data: {\"error\":{\"message\":\"slow down\",\"type\":\"requests\",\"code\":\"rate_limit_exceeded\"}}\n\n";
        assert_eq!(run(rate).unwrap_err().kind, ProviderErrorKind::RateLimited);
        // llama.cpp once sent errors as a named event.
        let named = "event: error\ndata: {\"message\":\"context full\",\"code\":400}\n\n";
        assert_eq!(run(named).unwrap_err().kind, ProviderErrorKind::BadRequest);
    }

    #[test]
    fn malformed_chunks_are_decode_errors() {
        let bad = FIXTURE.replacen("{\"content\":\"Hello\"}", "{\"content\":", 1);
        assert_eq!(run(&bad).unwrap_err().kind, ProviderErrorKind::Decode);
    }

    #[test]
    fn empty_and_role_chunks_do_not_start_the_clock() {
        // Only the role chunk (empty content) and the finish chunk: no first token.
        let s: String = FIXTURE
            .split("\n\n")
            .filter(|e| !e.contains("\"Hello\""))
            .map(|e| format!("{e}\n\n"))
            .collect();
        let c = run(&s).unwrap();
        assert_eq!(c.text, "");
        assert_eq!(c.timings.time_to_first_token, None);
    }
}
