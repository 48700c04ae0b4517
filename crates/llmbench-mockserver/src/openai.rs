//! The OpenAI Chat Completions wire format: completion JSON, `data:` chunks ending in
//! `[DONE]`, nested and flat (vLLM) error bodies.

use std::time::Duration;

use crate::body::Plan;
use crate::config::ErrorStyle;
use crate::json::Obj;
use crate::render::{ErrorSpec, Generation, StreamShape, UsageNumbers};
use crate::text::deltas;

/// `(type, code)` for an HTTP status.
pub(crate) fn error_type(status: u16) -> (&'static str, Option<&'static str>) {
    match status {
        401 => ("invalid_request_error", Some("invalid_api_key")),
        403 => ("permission_error", None),
        404 => ("invalid_request_error", Some("model_not_found")),
        408 => ("timeout", None),
        409 => ("invalid_request_error", Some("conflict")),
        413 => ("invalid_request_error", Some("request_too_large")),
        429 => ("requests", Some("rate_limit_exceeded")),
        400..=499 => ("invalid_request_error", None),
        _ => ("server_error", None),
    }
}

pub(crate) fn error_message(status: u16) -> &'static str {
    match status {
        401 => "Incorrect API key provided.",
        403 => "You are not allowed to access this resource.",
        404 => "The model does not exist or you do not have access to it.",
        408 => "Request timed out.",
        413 => "Request too large.",
        429 => "Rate limit reached for requests",
        400..=499 => "Invalid request.",
        _ => "The server had an error while processing your request.",
    }
}

pub(crate) fn error_body(e: &ErrorSpec, style: ErrorStyle) -> Vec<u8> {
    match style {
        ErrorStyle::Nested => Obj::new()
            .obj(
                "error",
                Obj::new()
                    .str("message", &e.message)
                    .str("type", &e.error_type)
                    .null("param")
                    .opt_str("code", e.code),
            )
            .finish(),
        ErrorStyle::Flat => Obj::new()
            .str("object", "error")
            .str("message", &e.message)
            .str("type", &e.error_type)
            .null("param")
            .num("code", u64::from(e.status))
            .finish(),
    }
}

fn usage(u: &UsageNumbers) -> Obj {
    let completion = u.output + u.reasoning;
    Obj::new()
        .num("prompt_tokens", u.prompt)
        .num("completion_tokens", completion)
        .num("total_tokens", u.prompt + completion)
        .obj(
            "prompt_tokens_details",
            Obj::new().num("cached_tokens", u.cache_read),
        )
        .obj(
            "completion_tokens_details",
            Obj::new().num("reasoning_tokens", u.reasoning),
        )
}

fn finish_reason(g: &Generation) -> &'static str {
    if g.truncated { "length" } else { "stop" }
}

pub(crate) fn completion_json(g: &Generation) -> Vec<u8> {
    Obj::new()
        .str("id", &g.id)
        .str("object", "chat.completion")
        .num("created", g.created)
        .str("model", &g.model)
        .arr(
            "choices",
            [Obj::new()
                .num("index", 0)
                .obj(
                    "message",
                    Obj::new()
                        .str("role", "assistant")
                        .str("content", &g.text)
                        .null("refusal"),
                )
                .null("logprobs")
                .str("finish_reason", finish_reason(g))],
        )
        .obj("usage", usage(&g.usage))
        .str("system_fingerprint", "fp_mock")
        .finish()
}

fn data(plan: &mut Plan, delay: Duration, value: Obj) {
    let value = value.finish();
    let mut buf = Vec::with_capacity(value.len() + 8);
    buf.extend_from_slice(b"data: ");
    buf.extend_from_slice(&value);
    buf.extend_from_slice(b"\n\n");
    plan.push(delay, &buf);
}

const MALFORMED_CHUNK: &[u8] =
    b"data: {\"id\":\"chatcmpl-broken\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"delta\":\n\n";

/// The chunk sequence of a streamed answer, shaped by `shape`; `include_usage` adds the usage
/// chunk and `usage: null` on the others.
pub(crate) fn stream_plan(g: &Generation, shape: &StreamShape, include_usage: bool) -> Plan {
    let chunk = |choice: Option<Obj>, usage_obj: Option<Obj>| {
        let c = Obj::new()
            .str("id", &g.id)
            .str("object", "chat.completion.chunk")
            .num("created", g.created)
            .str("model", &g.model)
            .arr("choices", choice);
        match (include_usage, usage_obj) {
            (_, Some(u)) => c.obj("usage", u),
            (true, None) => c.null("usage"),
            (false, None) => c,
        }
    };
    let mut plan = Plan::default();
    data(
        &mut plan,
        Duration::ZERO,
        chunk(
            Some(
                Obj::new()
                    .num("index", 0)
                    .obj(
                        "delta",
                        Obj::new().str("role", "assistant").str("content", ""),
                    )
                    .null("finish_reason"),
            ),
            None,
        ),
    );
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
            let ty = ty.as_deref().unwrap_or("server_error");
            data(
                &mut plan,
                Duration::ZERO,
                Obj::new().obj(
                    "error",
                    Obj::new()
                        .str("message", error_message(500))
                        .str("type", ty)
                        .null("param")
                        .null("code"),
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
            plan.push(delay, MALFORMED_CHUNK);
        } else {
            data(
                &mut plan,
                delay,
                chunk(
                    Some(
                        Obj::new()
                            .num("index", 0)
                            .obj("delta", Obj::new().str("content", part))
                            .null("finish_reason"),
                    ),
                    None,
                ),
            );
        }
    }
    data(
        &mut plan,
        Duration::ZERO,
        chunk(
            Some(
                Obj::new()
                    .num("index", 0)
                    .raw("delta", b"{}")
                    .str("finish_reason", finish_reason(g)),
            ),
            None,
        ),
    );
    if include_usage {
        data(
            &mut plan,
            Duration::ZERO,
            chunk(None, Some(usage(&g.usage))),
        );
    }
    plan.push(Duration::ZERO, b"data: [DONE]\n\n");
    plan
}
