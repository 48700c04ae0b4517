//! One request: read it, check auth, pick the fault, record it, and build the response.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hyper::body::{Body, Incoming};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use crate::body::{Completion, MockBody};
use crate::config::{Answer, ApiKeyCheck, Protocol};
use crate::fault::{Fault, FaultKind, RetryAfter, pick_ratio};
use crate::log::{Outcome, RequestRecord, lock};
use crate::render::{ErrorSpec, Generation, StreamShape, UsageNumbers};
use crate::request::{ParsedRequest, parse, peek_model};
use crate::server::Shared;
use crate::text::{count_tokens, echo_answer, first_words, go_duration, rfc3339};
use crate::{anthropic, openai};

/// Returned by the service to make hyper close the connection without a response.
#[derive(Debug, thiserror::Error)]
#[error("mock connection reset")]
pub(crate) struct ResetConnection;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Messages,
    CountTokens,
    ChatCompletions,
}

fn route(protocol: Protocol, method: &Method, path: &str) -> Option<Endpoint> {
    if method != Method::POST {
        return None;
    }
    match (protocol, path.trim_end_matches('/')) {
        (Protocol::Anthropic, "/v1/messages") => Some(Endpoint::Messages),
        (Protocol::Anthropic, "/v1/messages/count_tokens") => Some(Endpoint::CountTokens),
        (Protocol::OpenAi, "/v1/chat/completions") => Some(Endpoint::ChatCompletions),
        _ => None,
    }
}

enum ReadError {
    TooLarge,
    Io,
}

async fn read_body(mut body: Incoming, limit: usize) -> Result<Vec<u8>, ReadError> {
    let mut buf = Vec::new();
    loop {
        match std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            None => return Ok(buf),
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    if buf.len() + data.len() > limit {
                        return Err(ReadError::TooLarge);
                    }
                    buf.extend_from_slice(&data);
                }
            }
            Some(Err(_)) => return Err(ReadError::Io),
        }
    }
}

/// The API key of a request: `x-api-key`, else `Authorization: Bearer`.
fn api_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(k) = headers.get("x-api-key").and_then(|v| v.to_str().ok()) {
        return Some(k);
    }
    headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn hv(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// Per-request context for building responses.
struct Ctx {
    shared: Arc<Shared>,
    seq: u64,
    request_id: String,
}

impl Ctx {
    fn protocol(&self) -> Protocol {
        self.shared.config.protocol
    }

    fn spec(&self, status: u16, error_type: Option<&str>, message: Option<String>) -> ErrorSpec {
        match self.protocol() {
            Protocol::Anthropic => {
                let ty = error_type.unwrap_or(anthropic::error_type(status));
                ErrorSpec {
                    status,
                    error_type: ty.to_owned(),
                    message: message.unwrap_or_else(|| anthropic::error_message(ty).to_owned()),
                    code: None,
                    spend_limit: false,
                }
            }
            Protocol::OpenAi => {
                let (ty, code) = openai::error_type(status);
                ErrorSpec {
                    status,
                    error_type: error_type.unwrap_or(ty).to_owned(),
                    message: message.unwrap_or_else(|| openai::error_message(status).to_owned()),
                    code,
                    spend_limit: false,
                }
            }
        }
    }

    fn spend_limit_spec(&self) -> ErrorSpec {
        match self.protocol() {
            Protocol::Anthropic => ErrorSpec {
                status: 429,
                error_type: "rate_limit_error".into(),
                message: "You have reached your specified workspace API usage limits.".into(),
                code: None,
                spend_limit: true,
            },
            Protocol::OpenAi => ErrorSpec {
                status: 429,
                error_type: "insufficient_quota".into(),
                message:
                    "You exceeded your current quota, please check your plan and billing details."
                        .into(),
                code: Some("insufficient_quota"),
                spend_limit: true,
            },
        }
    }

    fn base_headers(&self, headers: &mut HeaderMap, content_type: &'static str) {
        headers.insert(
            hyper::header::CONTENT_TYPE,
            HeaderValue::from_static(content_type),
        );
        let id_header = match self.protocol() {
            Protocol::Anthropic => "request-id",
            Protocol::OpenAi => "x-request-id",
        };
        headers.insert(HeaderName::from_static(id_header), hv(&self.request_id));
    }

    fn rate_headers(&self, headers: &mut HeaderMap, exhausted: bool) {
        let cfg = &self.shared.config;
        let snap = lock(&self.shared.rate).snapshot(Instant::now());
        let req_limit = u64::from(cfg.rpm_limit.unwrap_or(cfg.ratelimit_requests_limit));
        let tok_limit = cfg.ratelimit_tokens_limit;
        let (req_left, tok_left) = if exhausted {
            (0, 0)
        } else {
            (
                req_limit.saturating_sub(snap.requests),
                tok_limit.saturating_sub(snap.tokens),
            )
        };
        let mut put = |name: &'static str, value: String| {
            headers.insert(HeaderName::from_static(name), hv(&value));
        };
        match self.protocol() {
            Protocol::Anthropic => {
                let reset = rfc3339(SystemTime::now() + snap.reset_in);
                let rounded = (tok_left + 500) / 1000 * 1000;
                put("anthropic-ratelimit-requests-limit", req_limit.to_string());
                put(
                    "anthropic-ratelimit-requests-remaining",
                    req_left.to_string(),
                );
                put("anthropic-ratelimit-requests-reset", reset.clone());
                put("anthropic-ratelimit-tokens-limit", tok_limit.to_string());
                put(
                    "anthropic-ratelimit-tokens-remaining",
                    rounded.min(tok_limit).to_string(),
                );
                put("anthropic-ratelimit-tokens-reset", reset.clone());
                put(
                    "anthropic-ratelimit-input-tokens-limit",
                    tok_limit.to_string(),
                );
                put(
                    "anthropic-ratelimit-input-tokens-remaining",
                    tok_left.to_string(),
                );
                put("anthropic-ratelimit-input-tokens-reset", reset.clone());
                put(
                    "anthropic-ratelimit-output-tokens-limit",
                    tok_limit.to_string(),
                );
                put(
                    "anthropic-ratelimit-output-tokens-remaining",
                    tok_left.to_string(),
                );
                put("anthropic-ratelimit-output-tokens-reset", reset);
            }
            Protocol::OpenAi => {
                let reset = go_duration(snap.reset_in);
                put("x-ratelimit-limit-requests", req_limit.to_string());
                put("x-ratelimit-limit-tokens", tok_limit.to_string());
                put("x-ratelimit-remaining-requests", req_left.to_string());
                put("x-ratelimit-remaining-tokens", tok_left.to_string());
                put("x-ratelimit-reset-requests", reset.clone());
                put("x-ratelimit-reset-tokens", reset);
            }
        }
    }

    /// Records the request and sends an error response.
    fn error(
        &self,
        mut rec: RequestRecord,
        spec: ErrorSpec,
        fault: Option<&Fault>,
    ) -> Response<MockBody> {
        rec.status = Some(spec.status);
        let slot = self.shared.log.push(rec);
        let body = match self.protocol() {
            Protocol::Anthropic => anthropic::error_body(&spec, &self.request_id),
            Protocol::OpenAi => openai::error_body(&spec, self.shared.config.error_style),
        };
        let mut resp = Response::new(MockBody::full(
            body,
            Completion::new(self.shared.clone(), slot),
        ));
        *resp.status_mut() =
            StatusCode::from_u16(spec.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let headers = resp.headers_mut();
        self.base_headers(headers, "application/json");
        if spec.status == 429 {
            self.rate_headers(headers, true);
        }
        if let Some(f) = fault {
            if let Some(v) = f.retry_after_header() {
                headers.insert(hyper::header::RETRY_AFTER, hv(&v));
            }
            if let Some(ms) = f.retry_after_ms {
                headers.insert(
                    HeaderName::from_static("retry-after-ms"),
                    hv(&ms.to_string()),
                );
            }
            if let Some(b) = f.should_retry {
                headers.insert(
                    HeaderName::from_static("x-should-retry"),
                    HeaderValue::from_static(if b { "true" } else { "false" }),
                );
            }
        }
        resp
    }

    fn generate(&self, p: &ParsedRequest) -> Generation {
        let cfg = &self.shared.config;
        let full = match &cfg.answer {
            Answer::Echo => echo_answer(p.prompt_hash, cfg.answer_tokens),
            Answer::Fixed(t) => t.clone(),
            Answer::PerUserTurn(texts) => texts
                .get(p.user_turns.saturating_sub(1))
                .or(texts.last())
                .cloned()
                .unwrap_or_default(),
        };
        let words = count_tokens(&full);
        let (text, truncated) = match p.max_tokens {
            Some(max) if words > max => (first_words(&full, max as usize).to_owned(), true),
            _ => (full, false),
        };
        let prompt = cfg.input_tokens_override.unwrap_or(p.input_tokens);
        let cache_read = cfg.cached_input_tokens.min(prompt);
        let cache_creation = match cfg.protocol {
            Protocol::Anthropic => cfg.cache_creation_input_tokens.min(prompt - cache_read),
            Protocol::OpenAi => 0,
        };
        let output = cfg
            .output_tokens_override
            .unwrap_or_else(|| count_tokens(&text));
        let (id, reasoning) = match cfg.protocol {
            Protocol::Anthropic => (format!("msg_mock{:016x}", self.seq), 0),
            Protocol::OpenAi => (
                format!("chatcmpl-mock{:016x}", self.seq),
                cfg.reasoning_tokens,
            ),
        };
        Generation {
            id,
            model: p.model.clone(),
            created: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            text,
            truncated,
            usage: UsageNumbers {
                prompt,
                cache_read,
                cache_creation,
                output,
                reasoning,
            },
        }
    }
}

/// Serves one request.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    req: Request<Incoming>,
) -> Result<Response<MockBody>, ResetConnection> {
    let arrived = Instant::now();
    let arrived_wall = SystemTime::now();
    let seq = shared.seq.fetch_add(1, Ordering::Relaxed);
    lock(&shared.rate).arrive(arrived);
    let cfg = &shared.config;
    let protocol = cfg.protocol;
    let (parts, body) = req.into_parts();
    let headers = &parts.headers;
    let key = api_key(headers).filter(|k| !k.is_empty());
    let mut rec = RequestRecord {
        seq,
        arrived,
        arrived_wall,
        protocol,
        path: parts.uri.path().to_owned(),
        model: None,
        stream: false,
        prompt_hash: None,
        attempt: 0,
        stainless_retry_count: header_str(headers, "x-stainless-retry-count")
            .and_then(|v| v.trim().parse().ok()),
        anthropic_version: header_str(headers, "anthropic-version").map(str::to_owned),
        api_key_present: key.is_some(),
        api_key_len: key.map_or(0, str::len),
        fault: None,
        status: None,
        completed: None,
        outcome: Outcome::InFlight,
    };
    let ctx = Ctx {
        shared: shared.clone(),
        seq,
        request_id: format!("req_mock{seq:016x}"),
    };

    let endpoint = route(protocol, &parts.method, &rec.path);
    let bytes = match read_body(body, cfg.max_body_bytes).await {
        Ok(b) => b,
        Err(ReadError::TooLarge) => return Ok(ctx.error(rec, ctx.spec(413, None, None), None)),
        Err(ReadError::Io) => {
            rec.outcome = Outcome::Aborted;
            rec.completed = Some(Instant::now());
            shared.log.push(rec);
            return Err(ResetConnection);
        }
    };
    let Some(endpoint) = endpoint else {
        let msg = format!("{} {}: not found", parts.method, rec.path);
        return Ok(ctx.error(rec, ctx.spec(404, None, Some(msg)), None));
    };

    let key_ok = match &cfg.api_key {
        ApiKeyCheck::NotRequired => true,
        ApiKeyCheck::AnyNonEmpty => key.is_some(),
        ApiKeyCheck::Exact(expected) => key == Some(expected.as_str()),
    };
    if !key_ok {
        let msg = match protocol {
            Protocol::Anthropic => "invalid x-api-key",
            Protocol::OpenAi => "Incorrect API key provided.",
        };
        return Ok(ctx.error(rec, ctx.spec(401, None, Some(msg.into())), None));
    }
    if protocol == Protocol::Anthropic && rec.anthropic_version.is_none() {
        let msg = "anthropic-version: header is required".to_owned();
        return Ok(ctx.error(rec, ctx.spec(400, None, Some(msg)), None));
    }

    let json: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let msg = format!("request body is not valid JSON: {e}");
            return Ok(ctx.error(rec, ctx.spec(400, None, Some(msg)), None));
        }
    };
    rec.model = peek_model(&json);
    let parsed = match parse(protocol, &json, endpoint == Endpoint::CountTokens) {
        Ok(p) => p,
        Err(msg) => return Ok(ctx.error(rec, ctx.spec(400, None, Some(msg)), None)),
    };
    drop(json);
    rec.prompt_hash = Some(parsed.prompt_hash);
    rec.stream = parsed.stream && endpoint != Endpoint::CountTokens;

    // Fault selection: header, then directive, then ratio mode (completion endpoints only).
    let chosen = match header_str(headers, "x-mock-fault") {
        Some(spec) => match spec.parse::<Fault>() {
            Ok(f) => Some(f),
            Err(e) => {
                let msg = format!("invalid x-mock-fault header: {e}");
                return Ok(ctx.error(rec, ctx.spec(400, None, Some(msg)), None));
            }
        },
        None => match parsed.directive.as_deref() {
            Some(spec) => match spec.parse::<Fault>() {
                Ok(f) => Some(f),
                Err(e) => {
                    let msg = format!("invalid MOCK_FAULT directive: {e}");
                    return Ok(ctx.error(rec, ctx.spec(400, None, Some(msg)), None));
                }
            },
            None if endpoint != Endpoint::CountTokens => {
                pick_ratio(&cfg.faults, cfg.seed, seq).cloned()
            }
            None => None,
        },
    };

    // Server-side rate limit (completion endpoints only).
    let mut fault = None;
    if endpoint != Endpoint::CountTokens {
        let tokens = parsed.input_tokens + cfg.answer_tokens as u64;
        if let Err(wait) = lock(&shared.rate).admit(Instant::now(), tokens, cfg.rpm_limit) {
            let mut f = Fault::new(FaultKind::Status(429));
            f.retry_after = Some(RetryAfter::Seconds(wait.as_secs_f64().ceil().max(1.0)));
            fault = Some(f);
        }
    }
    {
        let mut prompts = lock(&shared.prompts);
        let state = prompts
            .entry((endpoint as u8, parsed.prompt_hash))
            .or_default();
        state.attempts += 1;
        rec.attempt = state.attempts;
        if fault.is_none()
            && let Some(f) = chosen
            && f.kind != FaultKind::None
        {
            let limit = f.times.or(cfg.max_faults_per_prompt);
            if limit.is_none_or(|n| state.faults < n) {
                state.faults += 1;
                fault = Some(f);
            }
        }
    }
    rec.fault = fault.clone();

    let streaming = rec.stream;
    let mut shape = StreamShape {
        first_delay: cfg.time_to_first_token,
        per_token: cfg.per_token_delay,
        ping_every: cfg.ping_every_tokens,
        ..StreamShape::default()
    };
    let mut stall = Duration::ZERO;
    let mut extra = Duration::ZERO;
    if let Some(f) = &fault {
        match f.kind {
            FaultKind::Status(s) => {
                let spec = ctx.spec(s, f.error_type.as_deref(), None);
                return Ok(ctx.error(rec, spec, Some(f)));
            }
            FaultKind::SpendLimit => return Ok(ctx.error(rec, ctx.spend_limit_spec(), Some(f))),
            FaultKind::ErrorEvent if !streaming => {
                let status = match protocol {
                    Protocol::Anthropic => 529,
                    Protocol::OpenAi => 500,
                };
                let spec = ctx.spec(status, f.error_type.as_deref(), None);
                return Ok(ctx.error(rec, spec, Some(f)));
            }
            FaultKind::Reset => {
                rec.outcome = Outcome::Reset;
                rec.completed = Some(Instant::now());
                shared.log.push(rec);
                return Err(ResetConnection);
            }
            FaultKind::Stall => stall = Duration::from_millis(f.ms.unwrap_or(30_000)),
            FaultKind::SlowFirstToken => extra = Duration::from_millis(f.ms.unwrap_or(2_000)),
            FaultKind::Cut => shape.cut_after = Some(f.after.unwrap_or(usize::MAX)),
            FaultKind::Malformed => shape.malformed = true,
            FaultKind::ErrorEvent => {
                shape.error_after = Some((f.after.unwrap_or(1), f.error_type.clone()))
            }
            FaultKind::None => {}
        }
    }

    rec.status = Some(200);
    let slot = shared.log.push(rec);
    let guard = Completion::new(shared.clone(), slot);
    // Every delay counts from the request's arrival (see `body.rs`): the stall, then the
    // first token or the whole answer.
    let start = arrived + stall;
    if !stall.is_zero() {
        crate::timer::sleep_until(start).await;
    }

    if endpoint == Endpoint::CountTokens {
        if !extra.is_zero() {
            crate::timer::sleep_until(start + extra).await;
        }
        let json =
            anthropic::count_tokens_json(cfg.input_tokens_override.unwrap_or(parsed.input_tokens));
        return Ok(ctx.json_response(json, &shape, guard));
    }

    let generation = ctx.generate(&parsed);
    if streaming {
        if shape.cut_after == Some(usize::MAX) {
            let n = crate::text::deltas(&generation.text).len();
            shape.cut_after = Some((n / 2).max(1));
        }
        shape.first_delay += extra;
        let plan = match protocol {
            Protocol::Anthropic => anthropic::stream_plan(&generation, &shape),
            Protocol::OpenAi => openai::stream_plan(&generation, &shape, parsed.include_usage),
        };
        let mut resp = Response::new(MockBody::new(plan, start, None, guard));
        let headers = resp.headers_mut();
        ctx.base_headers(headers, "text/event-stream; charset=utf-8");
        headers.insert(
            hyper::header::CACHE_CONTROL,
            HeaderValue::from_static("no-cache"),
        );
        ctx.rate_headers(headers, false);
        return Ok(resp);
    }

    let latency = cfg.latency.unwrap_or_else(|| {
        cfg.time_to_first_token
            + cfg.per_token_delay * u32::try_from(generation.usage.output).unwrap_or(u32::MAX)
    }) + extra;
    if !latency.is_zero() {
        crate::timer::sleep_until(start + latency).await;
    }
    let json = match protocol {
        Protocol::Anthropic => anthropic::message_json(&generation),
        Protocol::OpenAi => openai::completion_json(&generation),
    };
    Ok(ctx.json_response(json, &shape, guard))
}

impl Ctx {
    /// A 200 JSON response, possibly malformed or cut by the fault in `shape`.
    fn json_response(
        &self,
        json: Vec<u8>,
        shape: &StreamShape,
        guard: Completion,
    ) -> Response<MockBody> {
        let body = if shape.malformed {
            let mut bad = json;
            bad.truncate(bad.len() / 2);
            bad.extend_from_slice(b",,}");
            MockBody::full(bad, guard)
        } else if shape.cut_after.is_some() {
            let len = json.len() as u64;
            let mut plan = crate::body::Plan::default();
            plan.push(Duration::ZERO, &json[..json.len() / 2]);
            plan.cut();
            MockBody::new(plan, Instant::now(), Some(len), guard)
        } else {
            MockBody::full(json, guard)
        };
        let mut resp = Response::new(body);
        let headers = resp.headers_mut();
        self.base_headers(headers, "application/json");
        self.rate_headers(headers, false);
        resp
    }
}
