//! The provider conformance suite: one set of checks run against every hosted-model
//! provider plugin (ripgrep runs each test once per regex engine), through the real plugin
//! host and against the in-repo protocol servers (`llmbench-mockserver`).
//!
//! A plugin's integration tests run it with one line:
//!
//! ```text
//! llmbench_conformance::conformance_tests!(
//!     anthropic,
//!     llmbench_conformance::Target::new("provider-anthropic", llmbench_conformance::Protocol::Anthropic)
//! );
//! ```
//!
//! Each check becomes a `#[test]`: plain and streamed answers, stop reasons, usage per token
//! class, time to first token (present only when streamed, and reflecting a slow first
//! token), concurrency, every error class (429 with `retry-after`/`retry-after-ms`, spend
//! limit, 529, 5xx, 408/409, 400/404/413/422, 401/403 and a refused key, `x-should-retry`),
//! every fault (reset, stall cancelled by the caller's timeout, cut stream, malformed JSON,
//! error event after 200), and a check that greps every error and every log line (plugin
//! logs included, captured from the host's `tracing`) for the API key.
//!
//! The suite owns the test process's global `tracing` subscriber; do not install another
//! one in the same test binary.

mod capture;
pub mod checks;
pub mod generic;
mod target;

pub use capture::{install as install_log_capture, lines as captured_log_lines};
pub use llmbench_mockserver::Protocol;
pub use target::{FAKE_API_KEY, Harness, MODEL, Setup, Target, block_on, faulty, request};

/// Generate one `#[test]` per conformance check for a plugin: `conformance_tests!(anthropic,
/// <Target expr>)` or `conformance_tests!(openai, <Target expr>)`. The target expression is
/// evaluated in each test.
#[macro_export]
macro_rules! conformance_tests {
    (anthropic, $target:expr) => {
        $crate::conformance_tests!(@tests $target;
            anthropic_version_header, pings_are_ignored);
        $crate::conformance_tests!(@common $target);
    };
    (openai, $target:expr) => {
        $crate::conformance_tests!(@tests $target;
            flat_error_bodies, max_tokens_field_option, works_without_an_api_key);
        $crate::conformance_tests!(@common $target);
    };
    (@common $target:expr) => {
        $crate::conformance_tests!(@tests $target;
            plain_answer,
            streamed_answer,
            max_tokens_stop_reason,
            usage_per_class,
            slow_first_token_is_reflected_in_ttft,
            concurrent_calls_overlap,
            rate_limited_with_retry_after,
            spend_limit,
            overloaded_529,
            server_errors,
            bad_requests,
            auth_errors,
            should_retry_header,
            connection_reset,
            stall_is_cancelled_by_dropping_the_call,
            cut_stream,
            malformed_json,
            error_event_after_200,
            no_secret_in_errors_or_logs);
    };
    (@tests $target:expr; $($check:ident),* $(,)?) => {
        $(
            #[test]
            fn $check() {
                $crate::checks::$check(&$target);
            }
        )*
    };
}
