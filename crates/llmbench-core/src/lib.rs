//! llmbench's domain: what a benchmark asks a model, what comes back, how it is judged.
//!
//! This crate defines the four extension traits ([`Provider`], [`Task`], [`Grader`],
//! [`Reporter`]) and the plain data they exchange. It does no I/O and starts no runtime:
//! everything here is a value or a pure function, so plugins, the runner and the reports all
//! agree on one vocabulary and on one cost formula.
//!
//! # What a provider sees
//! A [`Provider`] gets a [`CompletionRequest`] and returns a [`Completion`] or a
//! [`ProviderError`]:
//!
//! - [`CompletionRequest`]: `model` (the id as the provider knows it), `system`, `messages`
//!   ([`Message`]: a [`Role`] and its `content`), `max_tokens`, `sampling` ([`Sampling`]:
//!   `temperature`, `top_p`, `top_k`, `seed`, `stop`; `None` means "do not send it", so the
//!   model's default applies), `stream` (stream the answer so time to first token can be
//!   measured) and `sample` (which sample this is: for logs and replay, never sent to a
//!   model).
//! - [`Completion`]: `text`, `stop_reason` ([`StopReason`]: `EndTurn`, `MaxTokens`,
//!   `StopSequence`, or `Other` verbatim), `usage` ([`Usage`]: every count `None` when
//!   unknown, never `0`, so an unknown count is not priced as free; reasoning tokens are
//!   part of `output_tokens`), `timings` ([`Timings`]: `latency` to the last byte, measured
//!   by the provider; `time_to_first_token` only for a streamed answer, else `None`) and
//!   `response_model` (the model that answered, when the API says).
//! - [`ProviderError`]: a [`ProviderErrorKind`] (rate limited, spend limit, overloaded,
//!   server, timeout, connection, bad request, auth, decode, plugin, other), a `message`
//!   that never holds a secret, and what the server said (`http_status`, `provider_code`,
//!   `retry_after`, `should_retry`).
//!
//! The rules: one call is one attempt. A provider never retries; it classifies the failure
//! and the runner decides whether to try again ([`ProviderError::is_retryable`]), with its
//! own limits and spend cap. Dropping the future cancels the request: the provider stops
//! work for it and never reports it later. Each trait's page has a compiled example:
//! [`Provider`], [`Task`], [`Grader`], [`Reporter`].

mod completion;
mod context;
mod cost;
mod file_content;
mod grade;
mod provider;
mod report;
mod reporter;
mod request;
mod sample;
mod stats;
mod task;
pub mod template;

pub use completion::{Completion, StopReason, Timings, Usage};
pub use context::{FileBytes, PluginContext, Secret};
pub use cost::{Price, cost_usd};
pub use file_content::{ContentReader, FileContent};
pub use grade::{
    Grade, GradeKind, GradeOutcome, GradeRequest, Grader, GraderError, Verdict, VerdictRule,
};
pub use provider::{Provider, ProviderError, ProviderErrorKind};
pub use report::{RunInfo, RunReport, SampleRecord, SampleStatus};
pub use reporter::{ReportError, Reporter};
pub use request::{CompletionRequest, Message, Role, Sampling};
pub use sample::{SampleId, SampleKey};
pub use stats::{median, quantile};
pub use task::{Item, Task};

/// An error and its sources, `: `-separated, skipping a source whose text its parent
/// already includes: what a log line or a page shows of an error whose message leaves its
/// cause to `source()` (as every error in this workspace does).
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = e.source();
    }
    text
}

#[cfg(test)]
mod error_chain_tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn the_chain_names_each_cause_once() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(super::error_chain(&e), "cannot open the store: disk full");
        let io = std::io::Error::other("disk full");
        assert_eq!(super::error_chain(&io), "disk full");
    }
}
