//! The Anthropic Messages API wire format: message JSON, the SSE event sequence, error bodies
//! and the status → error type table.

use std::time::Duration;

use crate::body::Plan;
use crate::json::Obj;
use crate::render::{ErrorSpec, Generation, StreamShape, UsageNumbers};
use crate::text::deltas;

/// `error.type` for an HTTP status (SDK `_make_status_error` table, plus the docs' 413).
pub(crate) fn error_type(status: u16) -> &'static str {
    match status {
        400 | 409 | 422 => "invalid_request_error",
        401 => "authentication_error",
        402 => "billing_error",
        403 => "permission_error",
        404 => "not_found_error",
        408 | 504 => "timeout_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        529 => "overloaded_error",
        _ => "api_error",
    }
}

/// The message an error of this type carries.
pub(crate) fn error_message(error_type: &str) -> &'static str {
    match error_type {
        "overloaded_error" => "Overloaded",
        "rate_limit_error" => "Number of request tokens has exceeded your per-minute rate limit",
        "authentication_error" => "invalid x-api-key",
        "permission_error" => {
            "Your API key does not have permission to use the specified resource."
        }
        "not_found_error" => "Not found",
        "request_too_large" => "Request exceeds the maximum allowed number of bytes.",
        "timeout_error" => "Request timed out",
        "billing_error" => "Your credit balance is too low to access the Anthropic API.",
        "invalid_request_error" => "Invalid request",
        _ => "Internal server error",
    }
}

pub(crate) fn error_body(e: &ErrorSpec, request_id: &str) -> Vec<u8> {
    let mut error = Obj::new()
        .str("type", &e.error_type)
        .str("message", &e.message);
    if e.spend_limit {
        error = error.obj(
            "details",
            Obj::new().str("error_code", "enforced_spend_limit_reached"),
        );
    }
    Obj::new()
        .str("type", "error")
        .obj("error", error)
        .str("request_id", request_id)
        .finish()
}

fn usage(u: &UsageNumbers, output_tokens: u64) -> Obj {
    Obj::new()
        .num("input_tokens", u.uncached_input())
        .num("cache_creation_input_tokens", u.cache_creation)
        .num("cache_read_input_tokens", u.cache_read)
        .num("output_tokens", output_tokens)
}

fn stop_reason(g: &Generation) -> &'static str {
    if g.truncated {
        "max_tokens"
    } else {
        "end_turn"
    }
}

fn message(g: &Generation, streaming_start: bool) -> Obj {
    let m = Obj::new()
        .str("id", &g.id)
        .str("type", "message")
        .str("role", "assistant")
        .str("model", &g.model);
    if streaming_start {
        // `input_tokens` is final at message_start; `output_tokens` is a placeholder.
        m.raw("content", b"[]")
            .null("stop_reason")
            .null("stop_sequence")
            .obj("usage", usage(&g.usage, 1))
    } else {
        m.arr(
            "content",
            [Obj::new().str("type", "text").str("text", &g.text)],
        )
        .str("stop_reason", stop_reason(g))
        .null("stop_sequence")
        .obj("usage", usage(&g.usage, g.usage.output))
    }
}

pub(crate) fn message_json(g: &Generation) -> Vec<u8> {
    message(g, false).finish()
}

pub(crate) fn count_tokens_json(input_tokens: u64) -> Vec<u8> {
    Obj::new().num("input_tokens", input_tokens).finish()
}

fn event(plan: &mut Plan, delay: Duration, name: &str, data: Obj) {
    let data = data.finish();
    let mut buf = Vec::with_capacity(data.len() + name.len() + 16);
    buf.extend_from_slice(b"event: ");
    buf.extend_from_slice(name.as_bytes());
    buf.extend_from_slice(b"\ndata: ");
    buf.extend_from_slice(&data);
    buf.extend_from_slice(b"\n\n");
    plan.push(delay, &buf);
}

const PING: &[u8] = b"event: ping\ndata: {\"type\": \"ping\"}\n\n";
const MALFORMED_DELTA: &[u8] = b"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\n\n";

/// The full event sequence of a streamed answer, shaped by `shape`.
pub(crate) fn stream_plan(g: &Generation, shape: &StreamShape) -> Plan {
    let mut plan = Plan::default();
    let start = Obj::new()
        .str("type", "message_start")
        .obj("message", message(g, true));
    event(&mut plan, Duration::ZERO, "message_start", start);
    event(
        &mut plan,
        Duration::ZERO,
        "content_block_start",
        Obj::new()
            .str("type", "content_block_start")
            .num("index", 0)
            .obj(
                "content_block",
                Obj::new().str("type", "text").str("text", ""),
            ),
    );
    plan.push(Duration::ZERO, PING);
    let parts = deltas(&g.text);
    let n = parts.len();
    for i in 0..=n {
        if shape.cut_after.is_some_and(|c| c == i || (i == n && c > n)) {
            plan.cut();
            return plan;
        }
        if let Some((after, ty)) = &shape.error_after
            && (*after == i || (i == n && *after > n))
        {
            let ty = ty.as_deref().unwrap_or("overloaded_error");
            event(
                &mut plan,
                Duration::ZERO,
                "error",
                Obj::new().str("type", "error").obj(
                    "error",
                    Obj::new().str("type", ty).str("message", error_message(ty)),
                ),
            );
            return plan;
        }
        let Some(part) = parts.get(i) else {
            break;
        };
        let delay = if i == 0 {
            shape.first_delay
        } else {
            shape.per_token
        };
        if i == 0 && shape.malformed {
            plan.push(delay, MALFORMED_DELTA);
        } else {
            event(
                &mut plan,
                delay,
                "content_block_delta",
                Obj::new()
                    .str("type", "content_block_delta")
                    .num("index", 0)
                    .obj(
                        "delta",
                        Obj::new().str("type", "text_delta").str("text", part),
                    ),
            );
        }
        if shape.ping_every > 0 && (i + 1) % shape.ping_every == 0 && i + 1 < n {
            plan.push(Duration::ZERO, PING);
        }
    }
    event(
        &mut plan,
        Duration::ZERO,
        "content_block_stop",
        Obj::new().str("type", "content_block_stop").num("index", 0),
    );
    event(
        &mut plan,
        Duration::ZERO,
        "message_delta",
        Obj::new()
            .str("type", "message_delta")
            .obj(
                "delta",
                Obj::new()
                    .str("stop_reason", stop_reason(g))
                    .null("stop_sequence"),
            )
            .obj("usage", usage(&g.usage, g.usage.output)),
    );
    event(
        &mut plan,
        Duration::ZERO,
        "message_stop",
        Obj::new().str("type", "message_stop"),
    );
    plan
}
