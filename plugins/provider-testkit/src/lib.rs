//! `provider-testkit`: a provider for testing the runner and the plugin host. **Test-only**:
//! it never talks to a model, and its answers say nothing about any model.
//!
//! It answers deterministically from directives written in the last user message:
//! - `PANIC` anywhere: the call panics inside its future (`testkit panic requested`), to
//!   test that a plugin panic becomes a `plugin` error and the instance keeps working.
//! - `SLEEP_MS=<n>`: sleep `n` milliseconds before answering (timeouts, cancellation,
//!   concurrency).
//! - `FAIL=<kind>`: fail with a provider error of that kind, named as in metrics
//!   (`rate_limited`, `spend_limit`, `overloaded`, `server`, `timeout`, `connection`,
//!   `bad_request`, `auth`, `decode`, `plugin`, `other`), with a plausible HTTP status
//!   (429, 429, 529, 500, none, none, 400, 401, none, none, none) and provider code.
//!   `RETRY_AFTER_MS=<n>` sets the error's `retry_after`.
//! - otherwise: the answer `echo: <the last user message>`, stop reason `end_turn`.
//!   Usage counts whitespace-separated words: input = the system prompt and every message,
//!   output = the answer; cache and reasoning counts are unknown (`None`). The latency is
//!   the measured wall time of the call and the time to first token is measured when the
//!   answer starts being built, after the sleeps.
//!
//! A directive is recognised at the start of a word (`XSLEEP_MS=5` is not one). A call
//! runs, in order: count, `fixed-latency-ms` sleep, `SLEEP_MS` sleep, `PANIC`, `FAIL`,
//! echo. A malformed value (`SLEEP_MS=soon`, `FAIL=teapot`) fails with `bad_request`.
//!
//! Options:
//! - `fixed-latency-ms` (integer, optional): sleep this long before every answer.
//! - `counter-file` (path, optional, relative to the config file's directory): for every
//!   call started, append the line `<task>\t<item>\t<repeat>\n` (`-` for each field when
//!   the request names no sample). Written with `O_APPEND` in one write, unbuffered, so a
//!   test can count how often each sample was requested, even across processes that were
//!   killed. The file is created when the provider is.

use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, PluginContext, Provider, ProviderError, ProviderErrorKind, Role,
    StopReason, Timings, Usage,
};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Options {
    #[serde(default)]
    fixed_latency_ms: Option<u64>,
    #[serde(default)]
    counter_file: Option<PathBuf>,
}

/// The counter file, open for appending.
#[derive(Debug)]
struct Counter {
    path: PathBuf,
    file: File,
}

/// The provider.
#[derive(Debug)]
pub struct TestkitProvider {
    fixed_latency: Option<Duration>,
    counter: Option<Counter>,
}

impl TestkitProvider {
    /// Build the provider from its JSON options, creating the counter file if one is named.
    pub fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, String> {
        let o: Options = serde_json::from_value(options).map_err(|e| e.to_string())?;
        let counter = match o.counter_file {
            None => None,
            Some(path) => {
                let path = context.resolve(path);
                let file = File::options()
                    .append(true)
                    .create(true)
                    .open(&path)
                    .map_err(|e| {
                        format!("{}: cannot open the counter file: {e}", path.display())
                    })?;
                Some(Counter { path, file })
            }
        };
        Ok(Self {
            fixed_latency: o.fixed_latency_ms.map(Duration::from_millis),
            counter,
        })
    }

    fn count(&self, request: &CompletionRequest) -> Result<(), ProviderError> {
        let Some(counter) = &self.counter else {
            return Ok(());
        };
        let line = match &request.sample {
            Some(s) => format!("{}\t{}\t{}\n", s.task, s.item, s.repeat),
            None => "-\t-\t-\n".to_owned(),
        };
        // One write of the whole line on an O_APPEND file: lines from concurrent calls and
        // processes never interleave, and nothing stays buffered in this process.
        (&counter.file).write_all(line.as_bytes()).map_err(|e| {
            ProviderError::new(
                ProviderErrorKind::Other,
                format!(
                    "{}: cannot write the counter file: {e}",
                    counter.path.display()
                ),
            )
        })
    }
}

/// The value of the directive `NAME=value` found at the start of a word, up to the first
/// character that is not alphanumeric or `_`.
fn directive<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let pattern = format!("{name}=");
    let mut from = 0;
    while let Some(i) = text[from..].find(&pattern) {
        let at = from + i;
        let starts_word = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let value = &text[at + pattern.len()..];
        if starts_word {
            let end = value
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(value.len());
            return Some(&value[..end]);
        }
        from = at + pattern.len();
    }
    None
}

fn millis(prompt: &str, name: &str) -> Result<Option<Duration>, ProviderError> {
    directive(prompt, name)
        .map(|v| {
            v.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                ProviderError::new(
                    ProviderErrorKind::BadRequest,
                    format!("testkit: `{name}=` needs a whole number of milliseconds, not `{v}`"),
                )
            })
        })
        .transpose()
}

/// The error a `FAIL=<kind>` directive asks for.
fn requested_failure(kind: &str, retry_after: Option<Duration>) -> ProviderError {
    let Some(kind) = ProviderErrorKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
    else {
        let kinds: Vec<&str> = ProviderErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        return ProviderError::new(
            ProviderErrorKind::BadRequest,
            format!(
                "testkit: unknown `FAIL=` kind `{kind}`; expected one of {}",
                kinds.join(", ")
            ),
        );
    };
    let (http_status, provider_code) = match kind {
        ProviderErrorKind::RateLimited => (Some(429), Some("rate_limit_error")),
        ProviderErrorKind::SpendLimit => (Some(429), Some("insufficient_quota")),
        ProviderErrorKind::Overloaded => (Some(529), Some("overloaded_error")),
        ProviderErrorKind::Server => (Some(500), Some("api_error")),
        ProviderErrorKind::BadRequest => (Some(400), Some("invalid_request_error")),
        ProviderErrorKind::Auth => (Some(401), Some("authentication_error")),
        ProviderErrorKind::Timeout
        | ProviderErrorKind::Connection
        | ProviderErrorKind::Decode
        | ProviderErrorKind::Plugin
        | ProviderErrorKind::Other => (None, None),
    };
    ProviderError {
        http_status,
        provider_code: provider_code.map(str::to_owned),
        retry_after,
        ..ProviderError::new(
            kind,
            format!("testkit failure requested: {}", kind.as_str()),
        )
    }
}

fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

#[async_trait]
impl Provider for TestkitProvider {
    async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let start = Instant::now();
        self.count(request)?;
        let prompt = request
            .messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map_or("", |m| m.content.as_str());

        if let Some(latency) = self.fixed_latency {
            tokio::time::sleep(latency).await;
        }
        if let Some(sleep) = millis(prompt, "SLEEP_MS")? {
            tokio::time::sleep(sleep).await;
        }
        if prompt.contains("PANIC") {
            panic!("testkit panic requested");
        }
        if let Some(kind) = directive(prompt, "FAIL") {
            return Err(requested_failure(kind, millis(prompt, "RETRY_AFTER_MS")?));
        }

        let time_to_first_token = start.elapsed();
        let text = format!("echo: {prompt}");
        let input = request.system.as_deref().map_or(0, words)
            + request
                .messages
                .iter()
                .map(|m| words(&m.content))
                .sum::<u64>();
        Ok(Completion {
            usage: Usage {
                input_tokens: Some(input),
                output_tokens: Some(words(&text)),
                ..Usage::default()
            },
            text,
            stop_reason: StopReason::EndTurn,
            timings: Timings {
                latency: start.elapsed(),
                time_to_first_token: Some(time_to_first_token),
            },
            response_model: Some(request.model.clone()),
        })
    }
}

impl llmbench_plugin_sdk::ProviderPlugin for TestkitProvider {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options, context)
    }
}

llmbench_plugin_sdk::export_provider!(TestkitProvider);

#[cfg(test)]
mod tests {
    use llmbench_plugin_sdk::core::{Message, SampleKey};
    use serde_json::json;

    use super::*;

    fn request(prompt: &str) -> CompletionRequest {
        CompletionRequest {
            model: "test-model".into(),
            system: None,
            messages: vec![Message::user(prompt)],
            max_tokens: 100,
            sampling: Default::default(),
            stream: true,
            sample: Some(SampleKey {
                task: "t".into(),
                item: "i".into(),
                provider: "p".into(),
                repeat: 2,
            }),
        }
    }

    fn provider(options: serde_json::Value) -> TestkitProvider {
        TestkitProvider::from_options(options, &PluginContext::default()).unwrap()
    }

    #[test]
    fn directives_start_words() {
        assert_eq!(directive("SLEEP_MS=50", "SLEEP_MS"), Some("50"));
        assert_eq!(
            directive("please SLEEP_MS=50, then", "SLEEP_MS"),
            Some("50")
        );
        assert_eq!(directive("XSLEEP_MS=5 SLEEP_MS=7", "SLEEP_MS"), Some("7"));
        assert_eq!(directive("XSLEEP_MS=5", "SLEEP_MS"), None);
        assert_eq!(
            directive("FAIL=rate_limited.", "FAIL"),
            Some("rate_limited")
        );
        assert_eq!(directive("FAIL=", "FAIL"), Some(""));
        assert_eq!(directive("no directives", "FAIL"), None);
    }

    #[tokio::test]
    async fn echoes_with_word_counts() {
        let mut r = request("hello there  world");
        r.system = Some("be brief".into());
        r.messages.insert(0, Message::user("earlier turn"));
        let c = provider(json!({})).complete(&r).await.unwrap();
        assert_eq!(c.text, "echo: hello there  world");
        assert_eq!(c.usage.input_tokens, Some(2 + 2 + 3));
        assert_eq!(c.usage.output_tokens, Some(4));
        assert_eq!(c.usage.cache_read_tokens, None);
        assert_eq!(c.stop_reason, StopReason::EndTurn);
        assert_eq!(c.response_model.as_deref(), Some("test-model"));
        assert!(c.timings.time_to_first_token.unwrap() <= c.timings.latency);
    }

    #[tokio::test]
    async fn sleeps_are_measured() {
        let c = provider(json!({ "fixed-latency-ms": 20 }))
            .complete(&request("SLEEP_MS=30"))
            .await
            .unwrap();
        assert!(c.timings.latency >= Duration::from_millis(50), "{c:?}");
        assert!(c.timings.time_to_first_token.unwrap() >= Duration::from_millis(50));
    }

    #[tokio::test]
    async fn fails_with_every_kind_on_request() {
        let p = provider(json!({}));
        for kind in ProviderErrorKind::ALL {
            let e = p
                .complete(&request(&format!("FAIL={}", kind.as_str())))
                .await
                .unwrap_err();
            assert_eq!(e.kind, kind);
            assert_eq!(
                e.message,
                format!("testkit failure requested: {}", kind.as_str())
            );
            assert_eq!(e.retry_after, None);
        }
        let e = p
            .complete(&request("FAIL=rate_limited RETRY_AFTER_MS=1500"))
            .await
            .unwrap_err();
        assert_eq!(e.http_status, Some(429));
        assert_eq!(e.retry_after, Some(Duration::from_millis(1500)));
        assert!(e.is_retryable());
        let e = p.complete(&request("FAIL=auth")).await.unwrap_err();
        assert_eq!(e.http_status, Some(401));
        assert!(!e.is_retryable());
        let e = p.complete(&request("FAIL=overloaded")).await.unwrap_err();
        assert_eq!(e.http_status, Some(529));
    }

    #[tokio::test]
    async fn malformed_directives_are_bad_requests() {
        let p = provider(json!({}));
        let e = p.complete(&request("FAIL=teapot")).await.unwrap_err();
        assert_eq!(e.kind, ProviderErrorKind::BadRequest);
        assert!(
            e.message.starts_with(
                "testkit: unknown `FAIL=` kind `teapot`; expected one of rate_limited, spend_limit,"
            ),
            "{}",
            e.message
        );
        let e = p.complete(&request("SLEEP_MS=soon")).await.unwrap_err();
        assert_eq!(
            e.message,
            "testkit: `SLEEP_MS=` needs a whole number of milliseconds, not `soon`"
        );
    }

    #[tokio::test]
    async fn panics_inside_the_future() {
        use std::panic::{AssertUnwindSafe, catch_unwind};
        use std::task::Poll;

        let p = provider(json!({}));
        let r = request("please PANIC now");
        let mut future = catch_unwind(AssertUnwindSafe(|| p.complete(&r)))
            .expect("building the future does not panic");
        let payload = std::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(outcome)) => panic!("no panic: {outcome:?}"),
                Err(payload) => Poll::Ready(payload),
            }
        })
        .await;
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"testkit panic requested")
        );
    }

    #[tokio::test]
    async fn counts_every_started_call() {
        let dir = tempfile::tempdir().unwrap();
        let context = PluginContext {
            config_dir: dir.path().to_owned(),
            ..PluginContext::default()
        };
        let p = TestkitProvider::from_options(json!({ "counter-file": "calls.tsv" }), &context)
            .unwrap();
        let path = dir.path().join("calls.tsv");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "");
        p.complete(&request("hi")).await.unwrap();
        p.complete(&request("FAIL=server")).await.unwrap_err();
        let mut no_sample = request("hi");
        no_sample.sample = None;
        p.complete(&no_sample).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "t\ti\t2\nt\ti\t2\n-\t-\t-\n"
        );
    }

    #[test]
    fn options_are_checked() {
        let e =
            TestkitProvider::from_options(json!({ "fixed-latency": 5 }), &PluginContext::default())
                .unwrap_err();
        assert!(e.starts_with("unknown field `fixed-latency`"), "{e}");
        let e = TestkitProvider::from_options(
            json!({ "counter-file": "/nonexistent/dir/calls.tsv" }),
            &PluginContext::default(),
        )
        .unwrap_err();
        assert!(
            e.starts_with("/nonexistent/dir/calls.tsv: cannot open the counter file: "),
            "{e}"
        );
    }
}
