//! The checks. Each takes the [`Target`] and panics with a message naming what the plugin
//! got wrong; [`crate::conformance_tests!`] turns each into a `#[test]`.

use std::time::{Duration, Instant};

use futures_util::future::{Either, select};
use llmbench_core::{
    Completion, CompletionRequest, Provider, ProviderError, ProviderErrorKind, StopReason, Usage,
};
use llmbench_mockserver::{ApiKeyCheck, ErrorStyle, Outcome, Protocol, count_tokens, echo_answer};
use serde_json::json;

use crate::capture;
use crate::target::{FAKE_API_KEY, Harness, MODEL, Setup, Target, block_on, faulty, request};

use ProviderErrorKind as K;

const ANSWER_TOKENS: usize = 16;

async fn complete(h: &Harness, r: &CompletionRequest) -> Result<Completion, ProviderError> {
    h.provider.complete(r).await
}

async fn ok(h: &Harness, r: &CompletionRequest) -> Completion {
    complete(h, r)
        .await
        .unwrap_or_else(|e| panic!("expected an answer (stream: {}), got: {e}", r.stream))
}

async fn err(h: &Harness, r: &CompletionRequest) -> ProviderError {
    match complete(h, r).await {
        Ok(c) => panic!(
            "expected an error for {:?} (stream: {}), got an answer: {c:?}",
            r.messages[0].content, r.stream
        ),
        Err(e) => e,
    }
}

fn prompt_tokens(r: &CompletionRequest) -> u64 {
    r.system.as_deref().map_or(0, count_tokens)
        + r.messages
            .iter()
            .map(|m| count_tokens(&m.content))
            .sum::<u64>()
}

/// The checks common to plain and streamed answers.
async fn check_answer(h: &Harness, stream: bool) {
    let r = request("What is the answer?", stream);
    let c = ok(h, &r).await;
    let log = h.settled_log().await;
    let record = log.last().expect("the server saw the request");
    assert_eq!(record.stream, stream, "the server saw the wrong `stream`");
    assert_eq!(record.model.as_deref(), Some(MODEL));
    let hash = record.prompt_hash.expect("the server parsed the request");
    assert_eq!(c.text, echo_answer(hash, ANSWER_TOKENS), "text");
    assert_eq!(c.stop_reason, StopReason::EndTurn);
    assert_eq!(
        c.usage.input_tokens,
        Some(prompt_tokens(&r)),
        "input tokens"
    );
    assert_eq!(
        c.usage.output_tokens,
        Some(ANSWER_TOKENS as u64),
        "output tokens"
    );
    assert_eq!(c.response_model.as_deref(), Some(MODEL));
    assert!(c.timings.latency > Duration::ZERO);
    assert!(
        record.api_key_present && record.api_key_len == FAKE_API_KEY.len(),
        "the API key was not sent"
    );
    match (stream, c.timings.time_to_first_token) {
        (false, None) => {}
        (false, Some(t)) => panic!("a plain answer has no time to first token, got {t:?}"),
        (true, None) => panic!("a streamed answer must have a time to first token"),
        (true, Some(t)) => assert!(t <= c.timings.latency, "ttft {t:?} > latency"),
    }
}

/// A plain (non-streamed) answer: text, stop reason, usage, no time to first token.
pub fn plain_answer(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        check_answer(&h, false).await;
    });
}

/// A streamed answer: the same text and usage as a plain one, and a time to first token.
pub fn streamed_answer(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        check_answer(&h, true).await;
    });
}

/// Hitting `max_tokens` is `MaxTokens`, with the truncated count.
pub fn max_tokens_stop_reason(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for stream in [false, true] {
            let mut r = request("Tell me everything.", stream);
            r.max_tokens = 3;
            let c = ok(&h, &r).await;
            assert_eq!(c.stop_reason, StopReason::MaxTokens, "stream: {stream}");
            assert_eq!(c.usage.output_tokens, Some(3), "stream: {stream}");
            assert_eq!(c.text.split_whitespace().count(), 3, "stream: {stream}");
        }
    });
}

/// Each token class lands in its own field; cached tokens are not in `input_tokens`.
pub fn usage_per_class(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.config.input_tokens_override = Some(100);
        setup.config.cached_input_tokens = 5;
        setup.config.cache_creation_input_tokens = 3;
        setup.config.reasoning_tokens = 4;
        let h = setup.start(target).await;
        let expected = match target.protocol {
            // input_tokens excludes cache reads and writes.
            Protocol::Anthropic => Usage {
                input_tokens: Some(92),
                output_tokens: Some(16),
                cache_read_tokens: Some(5),
                cache_write_tokens: Some(3),
                reasoning_tokens: None,
            },
            // prompt_tokens (100) includes cached_tokens (5); completion_tokens includes
            // reasoning_tokens.
            Protocol::OpenAi => Usage {
                input_tokens: Some(95),
                output_tokens: Some(20),
                cache_read_tokens: Some(5),
                cache_write_tokens: None,
                reasoning_tokens: Some(4),
            },
        };
        for stream in [false, true] {
            let c = ok(&h, &request("usage please", stream)).await;
            assert_eq!(c.usage, expected, "stream: {stream}");
            assert_eq!(c.usage.total_input(), Some(100), "stream: {stream}");
        }
    });
}

/// A slow first token shows in the time to first token, and only there.
pub fn slow_first_token_is_reflected_in_ttft(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        let c = ok(&h, &faulty("slow-first-token;ms=300", true)).await;
        let ttft = c.timings.time_to_first_token.expect("streamed: a ttft");
        assert!(ttft >= Duration::from_millis(300), "ttft {ttft:?}");
        assert!(c.timings.latency >= ttft);
        let c = ok(&h, &faulty("slow-first-token;ms=300", false)).await;
        assert_eq!(c.timings.time_to_first_token, None, "plain: no ttft");
        assert!(c.timings.latency >= Duration::from_millis(300));
    });
}

/// Calls on one instance run concurrently (no lock, no single connection): eight calls
/// answer while a ninth, stalled for a minute, is still in flight. Decided by the order of
/// events, not by a time bound: serialized calls would wait for the stalled one.
pub fn concurrent_calls_overlap(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.config.time_to_first_token = Duration::from_millis(300);
        let h = setup.start(target).await;
        let stalled = faulty("stall;ms=60000", false);
        let requests: Vec<_> = (0..8)
            .map(|i| request(&format!("question {i}"), i % 2 == 0))
            .collect();
        let mut stalled_call = std::pin::pin!(complete(&h, &stalled));
        // The stalled request reaches the server first (polled alongside, so it starts).
        let arrived = std::pin::pin!(async {
            while !h.server.log().iter().any(|r| r.fault.is_some()) {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        });
        if let Either::Left((result, _)) = select(stalled_call.as_mut(), arrived).await {
            panic!("the stalled call ended at once: {result:?}");
        }
        let start = Instant::now();
        let mut calls = Vec::new();
        for r in &requests {
            calls.push(complete(&h, r));
        }
        let answers = std::pin::pin!(join_all(calls));
        match select(stalled_call, answers).await {
            Either::Left((result, _)) => {
                panic!("the stalled call ended before the others answered: {result:?}")
            }
            Either::Right((results, _)) => {
                for result in results {
                    result.expect("every concurrent call answers");
                }
            }
        }
        // Each waited for its first token, and they did so side by side.
        assert!(start.elapsed() >= Duration::from_millis(300));
        let log = h.server.log();
        assert_eq!(log.len(), 9, "{log:?}");
    });
}

/// Await futures concurrently on the current task (no extra dependency).
async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    use std::pin::Pin;
    use std::task::Poll;
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (f, slot) in futures.iter_mut().zip(out.iter_mut()) {
            if slot.is_none() {
                match f.as_mut().poll(cx) {
                    Poll::Ready(v) => *slot = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    out.into_iter()
        .map(|o| o.expect("polled to completion"))
        .collect()
}

/// What an error must say besides its kind.
fn assert_classified(e: &ProviderError, kind: ProviderErrorKind, status: Option<u16>, what: &str) {
    assert_eq!(e.kind, kind, "{what}: {e}");
    assert_eq!(e.http_status, status, "{what}: {e}");
    if status.is_some() {
        assert!(
            e.provider_code.is_some(),
            "{what}: the provider's error code is missing: {e:?}"
        );
        assert!(
            e.message.contains("request id "),
            "{what}: the request id is missing: {e}"
        );
    }
}

async fn check_status(h: &Harness, fault: &str, kind: ProviderErrorKind, status: u16) {
    for stream in [false, true] {
        let e = err(h, &faulty(fault, stream)).await;
        assert_classified(
            &e,
            kind,
            Some(status),
            &format!("{fault} (stream: {stream})"),
        );
    }
}

/// 429 with `retry-after` (seconds) or `retry-after-ms`: rate limited, with the wait.
pub fn rate_limited_with_retry_after(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for stream in [false, true] {
            let e = err(&h, &faulty("429;retry-after=2", stream)).await;
            assert_classified(&e, K::RateLimited, Some(429), "429");
            assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
            assert!(e.is_retryable());
            let e = err(&h, &faulty("429;retry-after-ms=1500", stream)).await;
            assert_eq!(e.retry_after, Some(Duration::from_millis(1500)), "{e:?}");
        }
    });
}

/// A 429 for an exhausted quota or spend limit is `SpendLimit`, never retried.
pub fn spend_limit(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        check_status(&h, "429-spend-limit", K::SpendLimit, 429).await;
        assert!(
            !err(&h, &faulty("429-spend-limit", true))
                .await
                .is_retryable()
        );
    });
}

/// 529 is `Overloaded`.
pub fn overloaded_529(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        check_status(&h, "529", K::Overloaded, 529).await;
    });
}

/// 500, 502, 503, 504, 408 and 409 are `Server`, retryable.
pub fn server_errors(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for status in [500, 502, 503, 504, 408, 409] {
            check_status(&h, &status.to_string(), K::Server, status).await;
        }
        assert!(err(&h, &faulty("500", false)).await.is_retryable());
    });
}

/// 400, 404, 413 and 422 are `BadRequest`, never retried.
pub fn bad_requests(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for status in [400, 404, 413, 422] {
            check_status(&h, &status.to_string(), K::BadRequest, status).await;
        }
        assert!(!err(&h, &faulty("400", false)).await.is_retryable());
    });
}

/// 401 and 403 are `Auth`; so is a key the server refuses.
pub fn auth_errors(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        check_status(&h, "401", K::Auth, 401).await;
        check_status(&h, "403", K::Auth, 403).await;
        let mut setup = Setup::new(target);
        setup.config.api_key = ApiKeyCheck::Exact("sk-the-right-key".into());
        let h = setup.start(target).await;
        let e = err(&h, &request("hello", true)).await;
        assert_classified(&e, K::Auth, Some(401), "a refused key");
        assert!(!e.is_retryable());
    });
}

/// `x-should-retry` is reported as the server said it.
pub fn should_retry_header(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        let e = err(&h, &faulty("500;should-retry=false", false)).await;
        assert_eq!(e.should_retry, Some(false), "{e:?}");
        assert!(!e.is_retryable(), "x-should-retry: false wins");
        let e = err(&h, &faulty("400;should-retry=true", true)).await;
        assert_eq!(e.should_retry, Some(true), "{e:?}");
        assert!(e.is_retryable(), "x-should-retry: true wins");
        let e = err(&h, &faulty("500", false)).await;
        assert_eq!(e.should_retry, None, "no header, no opinion");
    });
}

/// A connection closed without an answer is `Connection`.
pub fn connection_reset(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for stream in [false, true] {
            let e = err(&h, &faulty("reset", stream)).await;
            assert_classified(&e, K::Connection, None, "reset");
            assert!(e.is_retryable());
        }
    });
}

/// A stalled server: the caller's timeout drops the call promptly, the connection is
/// closed, and the instance keeps working.
pub fn stall_is_cancelled_by_dropping_the_call(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for stream in [false, true] {
            h.server.clear_log();
            let start = Instant::now();
            let outcome = tokio::time::timeout(
                Duration::from_millis(300),
                complete(&h, &faulty("stall;ms=20000", stream)),
            )
            .await;
            assert!(outcome.is_err(), "the call should still be stalled");
            // A bound far above the 300 ms timeout and far below the 20 s stall.
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dropping the call took {:?}",
                start.elapsed()
            );
            // The plugin closed the connection: the server saw the client go away.
            let log = h.settled_log().await;
            assert_eq!(
                log.last().map(|r| r.outcome),
                Some(Outcome::Aborted),
                "the stalled request was not abandoned (stream: {stream})"
            );
            // The instance still answers.
            ok(&h, &request("after the stall", stream)).await;
        }
    });
}

/// A stream (or body) cut mid-way (the connection closed before the body ended) is a
/// `Connection` error (a transport failure, retried like one), never a partial success.
pub fn cut_stream(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for stream in [false, true] {
            let e = err(&h, &faulty("cut;after=3", stream)).await;
            assert_classified(&e, K::Connection, None, &format!("cut (stream: {stream})"));
        }
    });
}

/// Malformed JSON is `Decode`.
pub fn malformed_json(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        for stream in [false, true] {
            let e = err(&h, &faulty("malformed", stream)).await;
            assert_classified(
                &e,
                K::Decode,
                None,
                &format!("malformed (stream: {stream})"),
            );
        }
    });
}

/// An error event after HTTP 200 is classified by its type (Anthropic `overloaded_error`,
/// OpenAI `server_error`); asked without streaming, the server answers with a status.
pub fn error_event_after_200(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        let (kind, code, status) = match target.protocol {
            Protocol::Anthropic => (K::Overloaded, "overloaded_error", 529),
            Protocol::OpenAi => (K::Server, "server_error", 500),
        };
        let e = err(&h, &faulty("error-event;after=2", true)).await;
        assert_classified(&e, kind, None, "error event");
        assert_eq!(e.provider_code.as_deref(), Some(code), "{e:?}");
        assert!(
            e.message.contains("request id "),
            "the request id is missing: {e}"
        );
        let e = err(&h, &faulty("error-event;type=rate_limit_error", true)).await;
        assert_eq!(e.kind, K::RateLimited, "{e}");
        let e = err(&h, &faulty("error-event", false)).await;
        assert_classified(&e, kind, Some(status), "error event, not streamed");
    });
}

/// The API key never appears in an error or in any log line, whatever happens.
pub fn no_secret_in_errors_or_logs(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.config.api_key = ApiKeyCheck::Exact(FAKE_API_KEY.into());
        let h = setup.start(target).await;
        let mut texts = Vec::new();
        ok(&h, &request("hello", true)).await;
        ok(&h, &request("hello", false)).await;
        for fault in [
            "429;retry-after=1",
            "429-spend-limit",
            "529",
            "500",
            "400",
            "401",
            "403",
            "404",
            "413",
            "reset",
            "cut",
            "malformed",
            "error-event",
        ] {
            for stream in [false, true] {
                let e = err(&h, &faulty(fault, stream)).await;
                texts.push(format!("{e} {e:?}"));
            }
        }
        let wrong = "sk-llmbench-conformance-WRONG-0d4c8b";
        let mut setup = Setup::new(target);
        setup.config.api_key = ApiKeyCheck::Exact(FAKE_API_KEY.into());
        setup.api_key = Some(wrong.into());
        let refused = setup.start(target).await;
        let e = err(&refused, &request("hello", false)).await;
        texts.push(format!("{e} {e:?}"));
        texts.push(format!("{:?}", h.provider));
        let lines = capture::lines();
        assert!(
            lines.iter().any(|l| l.contains("llmbench::plugin")),
            "no plugin log line was captured: the check would prove nothing"
        );
        for text in texts.iter().chain(&lines) {
            for key in [FAKE_API_KEY, wrong] {
                assert!(!text.contains(key), "the API key leaked: {text}");
            }
        }
    });
}

/// Anthropic: the `anthropic-version` header is sent (default `2023-06-01`, or the option).
pub fn anthropic_version_header(target: &Target) {
    block_on(async {
        let h = Setup::new(target).start(target).await;
        ok(&h, &request("hi", false)).await;
        let log = h.settled_log().await;
        assert_eq!(log[0].anthropic_version.as_deref(), Some("2023-06-01"));
        let mut setup = Setup::new(target);
        setup.options = json!({ "anthropic-version": "2099-01-01" });
        let h = setup.start(target).await;
        ok(&h, &request("hi", false)).await;
        let log = h.settled_log().await;
        assert_eq!(log[0].anthropic_version.as_deref(), Some("2099-01-01"));
    });
}

/// Anthropic: `ping` events anywhere in the stream change nothing.
pub fn pings_are_ignored(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.config.ping_every_tokens = 1;
        let h = setup.start(target).await;
        let streamed = ok(&h, &request("ping me", true)).await;
        let plain = ok(&h, &request("ping me", false)).await;
        assert_eq!(streamed.text, plain.text);
        assert_eq!(streamed.usage, plain.usage);
    });
}

/// OpenAI-compatible: vLLM's flat error bodies are read like nested ones.
pub fn flat_error_bodies(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.config.error_style = ErrorStyle::Flat;
        let h = setup.start(target).await;
        check_status(&h, "400", K::BadRequest, 400).await;
        check_status(&h, "429;retry-after=1", K::RateLimited, 429).await;
        check_status(&h, "503", K::Server, 503).await;
    });
}

/// OpenAI-compatible: `max-tokens-field = "max_tokens"` sends the limit in `max_tokens`.
pub fn max_tokens_field_option(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.options = json!({ "max-tokens-field": "max_tokens" });
        let h = setup.start(target).await;
        let mut r = request("Tell me everything.", true);
        r.max_tokens = 2;
        let c = ok(&h, &r).await;
        assert_eq!(c.stop_reason, StopReason::MaxTokens);
        assert_eq!(c.usage.output_tokens, Some(2));
    });
}

/// OpenAI-compatible: local servers need no key, and none is sent.
pub fn works_without_an_api_key(target: &Target) {
    block_on(async {
        let mut setup = Setup::new(target);
        setup.api_key = None;
        let h = setup.start(target).await;
        ok(&h, &request("no key", true)).await;
        let log = h.settled_log().await;
        assert!(!log[0].api_key_present, "a key was sent");
        assert_eq!(log[0].outcome, Outcome::Completed);
    });
}
