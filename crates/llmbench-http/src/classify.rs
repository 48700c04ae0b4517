//! Turning an HTTP failure into a [`ProviderError`] the runner's retry policy understands.
//!
//! The status table follows the official Anthropic and OpenAI SDKs
//! (`_client.py::_make_status_error`, `_base_client.py::_should_retry`):
//!
//! | status | kind |
//! |---|---|
//! | 429 | `RateLimited`, or `SpendLimit` when the body says quota or spend limit |
//! | 529 | `Overloaded` |
//! | 408, 409, other 5xx | `Server` (`Overloaded` when the body's type is `overloaded_error`) |
//! | 400, 404, 413, 422 | `BadRequest` |
//! | 401, 403 | `Auth` |
//! | 402 | `SpendLimit` (billing) |
//! | any other | `Other` |
//!
//! Error bodies are read in every shape seen in the wild: Anthropic's
//! `{"type":"error","error":{"type","message"},"request_id"}`, OpenAI's
//! `{"error":{"message","type","param","code"}}`, and vLLM's flat
//! `{"object":"error","message","type","param","code":<int>}`.
//!
//! Messages carry the provider's error type and message and the request id; the HTTP status
//! is in [`ProviderError::http_status`] (and in its `Display`). They never carry request
//! headers; [`Redactor`] removes the API key should a server echo it.

use std::time::SystemTime;

use llmbench_core::{ProviderError, ProviderErrorKind, Secret};
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::headers;

/// The longest provider message kept in an error, in characters.
const MAX_MESSAGE_CHARS: usize = 500;

/// An error body, whatever its shape.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorBody {
    /// `error.type` (`rate_limit_error`, `invalid_request_error`, vLLM's `BadRequestError`).
    pub error_type: Option<String>,
    pub message: Option<String>,
    /// `error.code` as text (`rate_limit_exceeded`, `insufficient_quota`, vLLM's `400`).
    pub code: Option<String>,
    /// `error.details.error_code` (`enforced_spend_limit_reached`).
    pub detail_code: Option<String>,
    /// A request id given in the body (Anthropic's `request_id`).
    pub request_id: Option<String>,
}

fn string(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl ErrorBody {
    /// Parse an error body; `None` when it is not JSON or has no error in it.
    pub fn parse(body: &[u8]) -> Option<Self> {
        Self::from_json(&serde_json::from_slice(body).ok()?)
    }

    /// Read an error out of a JSON value: nested under `error` (an object or a bare string)
    /// or flat (`message`/`type`/`code` at the top, as vLLM sends).
    pub fn from_json(value: &Value) -> Option<Self> {
        let top = value.as_object()?;
        let request_id = string(top.get("request_id"));
        let parsed = match top.get("error") {
            Some(Value::Object(e)) => Self {
                error_type: string(e.get("type")),
                message: string(e.get("message")),
                code: string(e.get("code")),
                detail_code: string(e.get("details").and_then(|d| d.get("error_code"))),
                request_id,
            },
            Some(Value::String(message)) => Self {
                message: Some(message.clone()),
                request_id,
                ..Self::default()
            },
            _ if top.contains_key("message") || top.get("object") == Some(&"error".into()) => {
                Self {
                    error_type: string(top.get("type")),
                    message: string(top.get("message")),
                    code: string(top.get("code")),
                    detail_code: None,
                    request_id,
                }
            }
            _ => return None,
        };
        Some(parsed)
    }

    /// Whether this error says a quota or spend limit was reached: retrying cannot help.
    pub fn says_spend_limit(&self) -> bool {
        let structured = [&self.error_type, &self.code, &self.detail_code]
            .into_iter()
            .flatten()
            .any(|c| {
                matches!(
                    c.as_str(),
                    "insufficient_quota" | "billing_error" | "enforced_spend_limit_reached"
                )
            });
        let said = self.message.as_deref().is_some_and(|m| {
            let m = m.to_ascii_lowercase();
            ["spend limit", "spending limit", "insufficient_quota"]
                .iter()
                .any(|p| m.contains(p))
        });
        structured || said
    }

    /// The provider's own code for this error, for [`ProviderError::provider_code`]: the
    /// detail code, else a textual `code`, else `type`.
    pub fn provider_code(&self) -> Option<String> {
        let textual = |c: &&String| c.parse::<u16>().is_err();
        self.detail_code
            .clone()
            .or_else(|| self.code.as_ref().filter(textual).cloned())
            .or_else(|| self.error_type.clone())
    }

    /// `type: message`, or whichever of the two is known.
    fn describe(&self) -> String {
        match (&self.error_type, &self.message) {
            (Some(t), Some(m)) => format!("{t}: {}", clip(m)),
            (Some(t), None) => t.clone(),
            (None, Some(m)) => clip(m),
            (None, None) => "error without a message".to_owned(),
        }
    }

    /// The kind its type or code names, if it names one.
    fn kind(&self) -> Option<ProviderErrorKind> {
        if self.says_spend_limit() {
            return Some(ProviderErrorKind::SpendLimit);
        }
        [&self.error_type, &self.code]
            .into_iter()
            .flatten()
            .find_map(|c| kind_for_error_code(c))
    }
}

/// The kind an HTTP status means (the SDK table), before looking at the body.
pub fn kind_for_status(status: u16) -> ProviderErrorKind {
    use ProviderErrorKind as K;
    match status {
        429 => K::RateLimited,
        529 => K::Overloaded,
        408 | 409 | 500..=599 => K::Server,
        400 | 404 | 413 | 422 => K::BadRequest,
        401 | 403 => K::Auth,
        402 => K::SpendLimit,
        _ => K::Other,
    }
}

/// The kind a provider error type or code means, in either vendor's vocabulary (and vLLM's
/// exception names, and a numeric code read as an HTTP status). `None` when unknown.
pub fn kind_for_error_code(code: &str) -> Option<ProviderErrorKind> {
    use ProviderErrorKind as K;
    if let Ok(status) = code.parse::<u16>() {
        return Some(kind_for_status(status)).filter(|k| *k != K::Other);
    }
    Some(match code {
        "rate_limit_error" | "rate_limit_exceeded" | "RateLimitError" => K::RateLimited,
        "insufficient_quota" | "billing_error" | "enforced_spend_limit_reached" => K::SpendLimit,
        "overloaded_error" | "overloaded" => K::Overloaded,
        "api_error"
        | "server_error"
        | "internal_server_error"
        | "timeout_error"
        | "InternalServerError"
        | "ServiceUnavailableError" => K::Server,
        "invalid_request_error"
        | "not_found_error"
        | "request_too_large"
        | "BadRequestError"
        | "NotFoundError"
        | "model_not_found"
        | "context_length_exceeded" => K::BadRequest,
        "authentication_error"
        | "permission_error"
        | "invalid_api_key"
        | "AuthenticationError"
        | "PermissionDeniedError" => K::Auth,
        _ => return None,
    })
}

/// Shorten a provider message to a bounded, single-line form.
fn clip(message: &str) -> String {
    let one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= MAX_MESSAGE_CHARS {
        one_line
    } else {
        let mut s: String = one_line.chars().take(MAX_MESSAGE_CHARS).collect();
        s.push_str("...");
        s
    }
}

fn with_request_id(mut message: String, request_id: Option<&str>) -> String {
    if let Some(id) = request_id {
        message.push_str(&format!(" (request id {id})"));
    }
    message
}

/// Classify a response with a non-success status from its status, headers and body.
///
/// `now` is the clock against which an HTTP-date `retry-after` is measured.
pub fn status_error(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> ProviderError {
    let parsed = ErrorBody::parse(body);
    let mut kind = kind_for_status(status);
    if let Some(b) = &parsed {
        if kind == ProviderErrorKind::RateLimited && b.says_spend_limit() {
            kind = ProviderErrorKind::SpendLimit;
        }
        if kind == ProviderErrorKind::Server && b.kind() == Some(ProviderErrorKind::Overloaded) {
            kind = ProviderErrorKind::Overloaded;
        }
    }
    let request_id = headers::request_id(headers).or_else(|| parsed.as_ref()?.request_id.clone());
    let description = match &parsed {
        Some(b) => b.describe(),
        None if body.iter().all(u8::is_ascii_whitespace) => "empty error body".to_owned(),
        None => format!(
            "unexpected error body: {}",
            clip(&String::from_utf8_lossy(body))
        ),
    };
    ProviderError {
        kind,
        message: with_request_id(description, request_id.as_deref()),
        http_status: Some(status),
        provider_code: parsed.as_ref().and_then(ErrorBody::provider_code),
        retry_after: headers::retry_after(headers, now),
        should_retry: headers::should_retry(headers),
    }
}

/// Classify an error the server sent inside a successful (HTTP 200) stream: Anthropic's
/// `event: error`, OpenAI's `data: {"error":...}`. Its kind comes from its type or code; an
/// unknown one is a server error (the request itself was accepted).
pub fn stream_error(body: &ErrorBody, request_id: Option<&str>) -> ProviderError {
    let kind = body.kind().unwrap_or(ProviderErrorKind::Server);
    let request_id = request_id.or(body.request_id.as_deref());
    ProviderError {
        kind,
        message: with_request_id(
            format!("error event after HTTP 200: {}", body.describe()),
            request_id,
        ),
        http_status: None,
        provider_code: body.provider_code(),
        retry_after: None,
        should_retry: None,
    }
}

/// Classify a failure of the transport (connecting, sending) or of reading the body.
///
/// A failure before any response is `Connection` (retried by default). A body that breaks
/// off after the status arrived because the connection failed (a stream cut mid-way, a
/// connection closed before the end of a chunked body) is also `Connection`: reqwest calls it
/// a decode error, but nothing was wrong with what arrived. A body that arrived whole but
/// cannot be decoded is `Decode` (not retried).
pub fn transport_error(error: &reqwest::Error) -> ProviderError {
    use ProviderErrorKind as K;
    let kind = if error.is_timeout() {
        K::Timeout
    } else if error.is_connect() || error.is_request() || error.is_body() {
        K::Connection
    } else if error.is_decode() && broke_off(error) {
        // The connection failed while the body was being read (a stream cut mid-way): a
        // transport failure, retried like any other.
        K::Connection
    } else if error.is_decode() {
        K::Decode
    } else if error.is_builder() {
        K::BadRequest
    } else {
        K::Other
    };
    ProviderError::new(kind, llmbench_core::error_chain(error))
}

/// Whether an error's causes include an I/O failure (the peer closed or reset mid-body).
fn broke_off(error: &reqwest::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(e) = source {
        if e.is::<std::io::Error>() || e.to_string().contains("connection") {
            return true;
        }
        source = e.source();
    }
    false
}

/// A response that broke the protocol (malformed JSON, a stream cut short).
pub fn decode_error(message: impl Into<String>, request_id: Option<&str>) -> ProviderError {
    ProviderError::new(
        ProviderErrorKind::Decode,
        with_request_id(message.into(), request_id),
    )
}

/// Removes a secret from error text: if a server echoes the API key in an error body, it
/// must not reach the store, the logs or a report.
///
/// Keys shorter than [`Redactor::MIN_SECRET_CHARS`] are not searched for: `OPENAI_API_KEY=x`,
/// common for local servers, would otherwise turn every `x` of an error into `<redacted>`
/// (`e<redacted>pected`). Such a key protects nothing worth hiding, and the key itself is only
/// ever sent in a request header, which is never logged.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secret: Option<Secret>,
}

impl Redactor {
    /// The shortest key that is redacted from text.
    pub const MIN_SECRET_CHARS: usize = 8;

    pub fn new(secret: Option<Secret>) -> Self {
        Self {
            secret: secret.filter(|s| s.expose().chars().count() >= Self::MIN_SECRET_CHARS),
        }
    }

    /// `text` with every occurrence of the secret replaced by `<redacted>`.
    pub fn text(&self, text: &str) -> String {
        match &self.secret {
            Some(s) if text.contains(s.expose()) => text.replace(s.expose(), "<redacted>"),
            _ => text.to_owned(),
        }
    }

    /// The error with the secret removed from every text field.
    pub fn error(&self, mut error: ProviderError) -> ProviderError {
        if self.secret.is_some() {
            error.message = self.text(&error.message);
            error.provider_code = error.provider_code.map(|c| self.text(&c));
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::headers::parse_http_fixture;

    fn classify(status: u16, body: &str) -> ProviderError {
        status_error(
            status,
            &HeaderMap::new(),
            body.as_bytes(),
            SystemTime::now(),
        )
    }

    #[test]
    fn anthropic_429_fixture() {
        let (status, h, body) =
            parse_http_fixture(include_str!("../fixtures/anthropic_error_429.http"));
        let e = status_error(status, &h, body.as_bytes(), SystemTime::now());
        assert_eq!(e.kind, ProviderErrorKind::RateLimited);
        assert_eq!(e.http_status, Some(429));
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
        assert_eq!(e.provider_code.as_deref(), Some("rate_limit_error"));
        assert_eq!(
            e.to_string(),
            "rate_limited (HTTP 429): rate_limit_error: Number of request tokens has exceeded \
             your per-minute rate limit (request id req_test_429)"
        );
    }

    #[test]
    fn anthropic_529_fixture() {
        let (status, h, body) =
            parse_http_fixture(include_str!("../fixtures/anthropic_error_529.http"));
        let e = status_error(status, &h, body.as_bytes(), SystemTime::now());
        assert_eq!(e.kind, ProviderErrorKind::Overloaded);
        assert_eq!(
            e.message,
            "overloaded_error: Overloaded (request id req_test_529)"
        );
        assert!(e.is_retryable());
    }

    #[test]
    fn openai_429_fixture() {
        let (status, h, body) =
            parse_http_fixture(include_str!("../fixtures/openai_error_429.http"));
        let e = status_error(status, &h, body.as_bytes(), SystemTime::now());
        assert_eq!(e.kind, ProviderErrorKind::RateLimited);
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
        assert_eq!(e.provider_code.as_deref(), Some("rate_limit_exceeded"));
        assert_eq!(
            e.message,
            "requests: Rate limit reached for requests (request id req_test)"
        );
    }

    #[test]
    fn the_status_table() {
        use ProviderErrorKind as K;
        for (status, kind) in [
            (400, K::BadRequest),
            (401, K::Auth),
            (402, K::SpendLimit),
            (403, K::Auth),
            (404, K::BadRequest),
            (408, K::Server),
            (409, K::Server),
            (413, K::BadRequest),
            (422, K::BadRequest),
            (429, K::RateLimited),
            (500, K::Server),
            (502, K::Server),
            (503, K::Server),
            (504, K::Server),
            (529, K::Overloaded),
            (418, K::Other),
        ] {
            let e = classify(status, "");
            assert_eq!(e.kind, kind, "HTTP {status}");
            assert_eq!(e.http_status, Some(status));
        }
    }

    #[test]
    fn spend_limits_are_not_rate_limits() {
        for body in [
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","code":"insufficient_quota"}}"#,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"x","details":{"error_code":"enforced_spend_limit_reached"}}}"#,
            r#"{"type":"error","error":{"type":"rate_limit_error","message":"Your workspace reached its spend limit"}}"#,
        ] {
            let e = classify(429, body);
            assert_eq!(e.kind, ProviderErrorKind::SpendLimit, "{body}");
            assert!(!e.is_retryable());
        }
        // A rate-limit message that merely mentions billing stays a rate limit.
        let e = classify(
            429,
            r#"{"error":{"message":"Rate limit reached. Add a payment method at https://example/account/billing","type":"requests","code":"rate_limit_exceeded"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::RateLimited);
    }

    #[test]
    fn vllm_flat_and_nested_bodies() {
        let flat = classify(
            400,
            r#"{"object":"error","message":"max_tokens is too large","type":"BadRequestError","param":null,"code":400}"#,
        );
        assert_eq!(flat.kind, ProviderErrorKind::BadRequest);
        assert_eq!(flat.message, "BadRequestError: max_tokens is too large");
        assert_eq!(flat.provider_code.as_deref(), Some("BadRequestError"));
        let nested = classify(
            404,
            r#"{"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":null,"code":404}}"#,
        );
        assert_eq!(nested.kind, ProviderErrorKind::BadRequest);
        assert_eq!(
            nested.message,
            "NotFoundError: The model `x` does not exist."
        );
    }

    #[test]
    fn bodies_that_are_not_json() {
        assert_eq!(classify(502, "").message, "empty error body");
        let e = classify(502, "<html>\n  <h1>Bad   gateway</h1></html>");
        assert_eq!(
            e.message,
            "unexpected error body: <html> <h1>Bad gateway</h1></html>"
        );
        let long = "x".repeat(2000);
        assert!(classify(500, &long).message.len() < 600);
    }

    #[test]
    fn server_headers_are_kept() {
        let mut h = HeaderMap::new();
        h.insert("x-should-retry", "false".parse().unwrap());
        h.insert("retry-after-ms", "1500".parse().unwrap());
        let e = status_error(500, &h, b"{}", SystemTime::now());
        assert_eq!(e.should_retry, Some(false));
        assert_eq!(e.retry_after, Some(Duration::from_millis(1500)));
        assert!(!e.is_retryable());
    }

    #[test]
    fn overloaded_behind_a_503() {
        let e = classify(
            503,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        );
        assert_eq!(e.kind, ProviderErrorKind::Overloaded);
    }

    #[test]
    fn errors_inside_a_stream() {
        let sse = include_str!("../fixtures/anthropic_stream_midstream_error.sse");
        let data = sse
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .next_back()
            .unwrap();
        let body = ErrorBody::parse(data.as_bytes()).unwrap();
        let e = stream_error(&body, Some("req_1"));
        assert_eq!(e.kind, ProviderErrorKind::Overloaded);
        assert_eq!(e.http_status, None);
        assert_eq!(
            e.message,
            "error event after HTTP 200: overloaded_error: Overloaded (request id req_1)"
        );
        use ProviderErrorKind as K;
        for (json, kind) in [
            (r#"{"error":{"type":"api_error","message":"x"}}"#, K::Server),
            (r#"{"error":{"type":"rate_limit_error"}}"#, K::RateLimited),
            (
                r#"{"error":{"type":"invalid_request_error"}}"#,
                K::BadRequest,
            ),
            (r#"{"error":{"type":"billing_error"}}"#, K::SpendLimit),
            (r#"{"error":{"message":"boom","code":503}}"#, K::Server),
            (r#"{"error":{"type":"something_new"}}"#, K::Server),
            (r#"{"error":"a bare string"}"#, K::Server),
        ] {
            let body = ErrorBody::parse(json.as_bytes()).unwrap();
            assert_eq!(stream_error(&body, None).kind, kind, "{json}");
        }
    }

    #[test]
    fn not_an_error_body() {
        assert_eq!(ErrorBody::parse(b"[1,2]"), None);
        assert_eq!(ErrorBody::parse(br#"{"choices":[]}"#), None);
        assert_eq!(ErrorBody::parse(b"not json"), None);
    }

    #[test]
    fn the_redactor_removes_an_echoed_key() {
        let r = Redactor::new(Some(Secret::new("sk-test-123456")));
        let e = classify(
            401,
            r#"{"error":{"message":"Incorrect API key provided: sk-test-123456","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        );
        let e = r.error(e);
        assert!(!e.to_string().contains("sk-test-123456"), "{e}");
        assert!(e.message.contains("<redacted>"));
        assert_eq!(Redactor::new(None).text("abc"), "abc");
        assert_eq!(Redactor::new(Some(Secret::new(""))).text("abc"), "abc");
    }

    #[test]
    fn a_short_key_leaves_errors_readable() {
        // A placeholder key for a local server: redacting it would corrupt every message.
        let r = Redactor::new(Some(Secret::new("x")));
        let e = r.error(classify(
            400,
            r#"{"error":{"message":"expected seconds, got x","type":"invalid_request_error"}}"#,
        ));
        assert!(e.message.contains("expected seconds, got x"), "{e}");
        assert!(!e.message.contains("<redacted>"), "{e}");
        // Seven characters is still too short; eight is redacted.
        assert_eq!(
            Redactor::new(Some(Secret::new("abcdefg"))).text("abcdefg"),
            "abcdefg"
        );
        assert_eq!(
            Redactor::new(Some(Secret::new("abcdefgh"))).text("key abcdefgh!"),
            "key <redacted>!"
        );
    }
}
