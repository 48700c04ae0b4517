//! The [`Provider`] trait: something that answers a [`CompletionRequest`].

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::{Completion, CompletionRequest};

/// A model behind some API (or in-process).
///
/// Implementations live in provider plugins (`plugins/provider-*`); the host sees every
/// plugin through this same trait.
///
/// # Contract
/// - One call, one attempt. A provider never retries: it classifies the failure
///   ([`ProviderErrorKind`], with `retry_after` and `should_retry` when the server said so)
///   and the runner decides whether and when to try again.
/// - The provider measures [`crate::Timings`] itself, as close to the wire as it can.
/// - Usage it does not know is `None`, never `0`.
/// - A provider is shared by many concurrent calls; it limits nothing itself unless the
///   model forces it (an in-process model may serve one request at a time).
///
/// # Cancel safety
/// Dropping the future cancels the request: the provider must stop work for it (close the
/// connection, stop decoding) and must not report it later.
///
/// # Example
/// A provider that answers with the last user message (a plugin also implements the SDK's
/// `ProviderPlugin` and calls `export_provider!`: see `llmbench-plugin-sdk`).
///
/// ```
/// use std::time::Instant;
///
/// use async_trait::async_trait;
/// use llmbench_core::{
///     Completion, CompletionRequest, Message, Provider, ProviderError, ProviderErrorKind,
///     StopReason, Timings, Usage,
/// };
///
/// struct Echo;
///
/// #[async_trait]
/// impl Provider for Echo {
///     async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
///         let start = Instant::now();
///         let Some(last) = request.messages.last() else {
///             // Classified, not retried: the runner never retries a bad request.
///             return Err(ProviderError::new(ProviderErrorKind::BadRequest, "no message"));
///         };
///         Ok(Completion {
///             text: last.content.clone(),
///             stop_reason: StopReason::EndTurn,
///             // Counts this provider does not know are `None`, never 0.
///             usage: Usage::default(),
///             // Not streamed: no time to first token.
///             timings: Timings { latency: start.elapsed(), time_to_first_token: None },
///             response_model: None,
///         })
///     }
/// }
///
/// let request = CompletionRequest {
///     model: "echo".into(),
///     system: None,
///     messages: vec![Message::user("hello")],
///     max_tokens: 16,
///     sampling: Default::default(),
///     stream: false,
///     sample: None,
/// };
/// // The future awaits nothing, so one poll finishes it (the host runs it on its runtime).
/// let mut future = std::pin::pin!(Echo.complete(&request));
/// let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
/// let std::task::Poll::Ready(Ok(completion)) = future.as_mut().poll(&mut cx) else {
///     panic!("echo answers at once");
/// };
/// assert_eq!(completion.text, "hello");
/// assert_eq!(completion.usage.output_tokens, None);
/// ```
#[async_trait]
pub trait Provider: Send + Sync {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError>;
}

/// Why a request failed, as far as a retry policy needs to know. Bounded: used as a metric
/// label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProviderErrorKind {
    /// HTTP 429 that will clear with time.
    RateLimited,
    /// A 429 that will not clear: quota or spend limit reached. Never retried.
    SpendLimit,
    /// HTTP 529 / `overloaded_error`.
    Overloaded,
    /// HTTP 5xx, 408, 409 or an `api_error`.
    Server,
    /// No answer in time.
    Timeout,
    /// The connection failed or broke.
    Connection,
    /// 400, 404, 413, 422: the request itself is wrong. Never retried.
    BadRequest,
    /// 401, 403. Never retried.
    Auth,
    /// The answer could not be understood (malformed JSON, a stream cut mid-way).
    Decode,
    /// A bug or panic inside the provider plugin.
    Plugin,
    /// Anything else.
    Other,
}

impl ProviderErrorKind {
    pub const ALL: [ProviderErrorKind; 11] = [
        Self::RateLimited,
        Self::SpendLimit,
        Self::Overloaded,
        Self::Server,
        Self::Timeout,
        Self::Connection,
        Self::BadRequest,
        Self::Auth,
        Self::Decode,
        Self::Plugin,
        Self::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RateLimited => "rate_limited",
            Self::SpendLimit => "spend_limit",
            Self::Overloaded => "overloaded",
            Self::Server => "server",
            Self::Timeout => "timeout",
            Self::Connection => "connection",
            Self::BadRequest => "bad_request",
            Self::Auth => "auth",
            Self::Decode => "decode",
            Self::Plugin => "plugin",
            Self::Other => "other",
        }
    }

    /// Whether the official SDKs would retry this kind when the server gives no
    /// `x-should-retry` header.
    pub fn retryable_by_default(self) -> bool {
        matches!(
            self,
            Self::RateLimited | Self::Overloaded | Self::Server | Self::Timeout | Self::Connection
        )
    }
}

/// A classified provider failure. The message must never contain a secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
#[error("{}{}: {message}", kind.as_str(), http_status.map(|s| format!(" (HTTP {s})")).unwrap_or_default())]
pub struct ProviderError {
    pub kind: ProviderErrorKind,
    pub message: String,
    pub http_status: Option<u16>,
    /// The provider's own error code (`rate_limit_error`, `insufficient_quota`, ...).
    pub provider_code: Option<String>,
    /// How long the server asked us to wait (`retry-after`, `retry-after-ms`).
    pub retry_after: Option<Duration>,
    /// The server's `x-should-retry`, which overrides the default policy.
    pub should_retry: Option<bool>,
}

impl ProviderError {
    pub fn new(kind: ProviderErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            http_status: None,
            provider_code: None,
            retry_after: None,
            should_retry: None,
        }
    }

    /// Whether the runner may try again, before counting attempts.
    pub fn is_retryable(&self) -> bool {
        self.should_retry
            .unwrap_or_else(|| self.kind.retryable_by_default())
    }
}
