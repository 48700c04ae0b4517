//! Building the client, sending a request, and reading the answer: whole, or as server-sent
//! events.

use std::time::{Duration, SystemTime};

use llmbench_core::{ProviderError, Secret};
use reqwest::header::{HeaderMap, HeaderValue};

use crate::classify::{Redactor, decode_error, status_error, transport_error};
use crate::headers::{RateLimits, request_id};
use crate::sse::{SseEvent, SseParser};

/// How long to wait for a TCP (and TLS) connection, as the official SDKs do. The overall
/// time of an attempt is the runner's: it drops the future when its timeout passes.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most bytes of an error body read before classifying it.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Why a client or a header could not be built. The messages never contain a secret.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("failed to build the HTTP client")]
    Build(#[source] reqwest::Error),
    /// The API key has characters an HTTP header cannot carry (a newline, say). The key
    /// itself is not shown.
    #[error("the API key is not a valid HTTP header value (is there a stray newline?)")]
    InvalidKey,
    #[error("invalid base URL `{url}`: it must start with http:// or https://")]
    InvalidBaseUrl { url: String },
}

/// A client for one provider instance: rustls, a 5 s connect timeout, no overall timeout
/// (the runner owns it), `TCP_NODELAY`, and `default_headers` on every request.
///
/// Build it inside the plugin's runtime (`ProviderPlugin::create` runs there).
pub fn build_client(
    user_agent: &str,
    default_headers: HeaderMap,
) -> Result<reqwest::Client, ClientError> {
    reqwest::Client::builder()
        .user_agent(user_agent)
        .default_headers(default_headers)
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(ClientError::Build)
}

/// A client for a JSON API: [`build_client`] with `content-type: application/json` and, when
/// there is a key, `auth` = (header, prefix) carrying it, marked sensitive.
pub fn json_api_client(
    user_agent: &str,
    mut headers: HeaderMap,
    auth: (reqwest::header::HeaderName, &str),
    key: Option<&Secret>,
) -> Result<reqwest::Client, ClientError> {
    headers.insert(
        reqwest::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    if let Some(key) = key {
        headers.insert(auth.0, secret_header(auth.1, key)?);
    }
    build_client(user_agent, headers)
}

/// The API key a provider instance sends: the one in its context, if not empty. The vendor's
/// public endpoint needs one, so its absence is refused there (naming the instance and what
/// to set); other servers (vLLM, llama.cpp, Ollama, the mock server) may need none.
pub fn provider_key<'a>(
    context: &'a llmbench_core::PluginContext,
    base_url: &str,
    public_base_url: &str,
) -> Result<Option<&'a Secret>, String> {
    let key = context.api_key.as_ref().filter(|k| !k.expose().is_empty());
    if key.is_none() && base_url.trim_end_matches('/') == public_base_url {
        return Err(format!(
            "provider `{}` needs an API key for {public_base_url}: set `api-key-env` to the \
             environment variable that holds it",
            context.instance_name
        ));
    }
    Ok(key)
}

/// A header value holding a secret (`x-api-key: <key>`, `authorization: Bearer <key>`),
/// marked sensitive so that no `Debug` of the client or request shows it.
pub fn secret_header(prefix: &str, secret: &Secret) -> Result<HeaderValue, ClientError> {
    let mut value = HeaderValue::from_str(&format!("{prefix}{}", secret.expose()))
        .map_err(|_| ClientError::InvalidKey)?;
    value.set_sensitive(true);
    Ok(value)
}

/// `base` and `path` joined with exactly one `/`, after checking the scheme.
pub fn endpoint(base: &str, path: &str) -> Result<String, ClientError> {
    if !(base.starts_with("http://") || base.starts_with("https://")) {
        return Err(ClientError::InvalidBaseUrl {
            url: base.to_owned(),
        });
    }
    Ok(format!(
        "{}/{}",
        base.trim_end_matches('/'),
        path.trim_start_matches('/')
    ))
}

/// A successful (2xx) response and what its headers said.
#[derive(Debug)]
pub struct Answer {
    pub response: reqwest::Response,
    pub request_id: Option<String>,
    pub rate_limits: RateLimits,
}

/// Send the request. A non-success status is read (up to 64 KiB) and classified; a
/// transport failure is classified too. Logs the outcome at `debug` (status, request id,
/// rate limits; never headers or bodies).
///
/// # Cancel safety
/// Dropping the future drops the connection.
pub async fn send(
    request: reqwest::RequestBuilder,
    redactor: &Redactor,
) -> Result<Answer, ProviderError> {
    let response = request
        .send()
        .await
        .map_err(|e| redactor.error(transport_error(&e)))?;
    let status = response.status().as_u16();
    let headers = response.headers();
    let id = request_id(headers);
    let rate_limits = RateLimits::from_headers(headers);
    tracing::debug!(
        status,
        request_id = id.as_deref().unwrap_or(""),
        rate_limits = ?rate_limits,
        "response headers received"
    );
    if response.status().is_success() {
        return Ok(Answer {
            response,
            request_id: id,
            rate_limits,
        });
    }
    let headers = headers.clone();
    let body = read_limited(response, MAX_ERROR_BODY).await;
    let error = redactor.error(status_error(status, &headers, &body, SystemTime::now()));
    tracing::debug!(error = %error, "request failed");
    Err(error)
}

/// Read up to `limit` bytes of a body; a body that breaks off is kept as far as it came.
async fn read_limited(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    body.truncate(limit);
    body
}

impl Answer {
    /// The whole body.
    pub async fn body(self, redactor: &Redactor) -> Result<Vec<u8>, ProviderError> {
        let id = self.request_id;
        self.response
            .bytes()
            .await
            .map(|b| b.to_vec())
            .map_err(|e| redactor.error(with_id(transport_error(&e), id.as_deref())))
    }

    /// The body as a stream of server-sent events.
    pub fn events(self) -> SseStream {
        SseStream {
            response: self.response,
            parser: SseParser::new(),
            request_id: self.request_id,
            ended: false,
            truncated: false,
        }
    }
}

fn with_id(mut error: ProviderError, request_id: Option<&str>) -> ProviderError {
    if let Some(id) = request_id {
        error.message.push_str(&format!(" (request id {id})"));
    }
    error
}

/// Server-sent events read from a response body as they arrive.
#[derive(Debug)]
pub struct SseStream {
    response: reqwest::Response,
    parser: SseParser,
    request_id: Option<String>,
    ended: bool,
    truncated: bool,
}

impl SseStream {
    /// The next event; `Ok(None)` once the body has ended and every event was returned. A
    /// body that breaks off is a transport error (usually `Connection`).
    ///
    /// # Cancel safety
    /// Cancel safe: an event is never lost by dropping this future, but dropping the
    /// stream drops the connection.
    pub async fn next(&mut self) -> Result<Option<SseEvent>, ProviderError> {
        loop {
            if let Some(event) = self.parser.next_event() {
                return Ok(Some(event));
            }
            if self.ended {
                return Ok(None);
            }
            match self.response.chunk().await {
                Ok(Some(chunk)) => self.parser.push(&chunk),
                Ok(None) => {
                    self.ended = true;
                    self.truncated = self.parser.finish();
                }
                Err(e) => {
                    return Err(with_id(transport_error(&e), self.request_id.as_deref()));
                }
            }
        }
    }

    /// The request id from the response headers.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.as_deref()
    }

    /// Whether the body ended in the middle of a line (a cut stream).
    pub fn ended_mid_line(&self) -> bool {
        self.truncated
    }

    /// A `Decode` error for this stream, with its request id.
    pub fn decode_error(&self, message: impl Into<String>) -> ProviderError {
        decode_error(message, self.request_id.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_join_with_one_slash() {
        assert_eq!(
            endpoint("https://api.anthropic.com", "/v1/messages").unwrap(),
            "https://api.anthropic.com/v1/messages"
        );
        assert_eq!(
            endpoint("http://127.0.0.1:8000/v1/", "chat/completions").unwrap(),
            "http://127.0.0.1:8000/v1/chat/completions"
        );
        assert_eq!(
            endpoint("api.openai.com", "x").unwrap_err().to_string(),
            "invalid base URL `api.openai.com`: it must start with http:// or https://"
        );
    }

    #[test]
    fn secret_headers_are_sensitive_and_never_shown() {
        let secret = Secret::new("sk-test-key");
        let v = secret_header("Bearer ", &secret).unwrap();
        assert!(v.is_sensitive());
        assert!(!format!("{v:?}").contains("sk-test-key"));
        let err = secret_header("", &Secret::new("sk-bad\nkey")).unwrap_err();
        assert!(!err.to_string().contains("sk-bad"));
    }

    #[tokio::test]
    async fn a_client_builds() {
        build_client("llmbench-test", HeaderMap::new()).unwrap();
    }
}
