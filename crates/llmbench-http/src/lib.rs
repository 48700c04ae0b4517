//! The protocol-independent HTTP pieces shared by the hosted-model provider plugins
//! (`provider-anthropic`, `provider-openai`), so that no protocol code is written twice:
//!
//! - [`build_client`]: a reqwest client (rustls, 5 s connect timeout, no overall timeout:
//!   the runner owns it and cancels by dropping the future);
//! - [`send`]: one attempt, with any non-success status classified into a
//!   [`llmbench_core::ProviderError`] ([`status_error`]: the official SDKs' status table,
//!   spend limits, `retry-after`/`retry-after-ms`, `x-should-retry`);
//! - [`SseParser`] / [`SseStream`]: server-sent events, parsed incrementally;
//! - [`RateLimits`]: both vendors' rate-limit headers in one struct;
//! - [`ErrorBody`]: error bodies in every shape (Anthropic, OpenAI, vLLM flat);
//! - [`Redactor`]: keeps an echoed API key out of error text.
//!
//! Nothing here retries: plugins classify, the runner decides.

mod classify;
mod exchange;
mod headers;
mod sse;

pub use classify::{
    ErrorBody, Redactor, decode_error, kind_for_error_code, kind_for_status, status_error,
    stream_error, transport_error,
};
pub use exchange::{
    Answer, CONNECT_TIMEOUT, ClientError, SseStream, build_client, endpoint, json_api_client,
    provider_key, secret_header, send,
};
pub use headers::{Limit, RateLimits, request_id, retry_after, should_retry};
pub use sse::{SseEvent, SseParser};
