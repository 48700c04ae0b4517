//! Every fault, selected by header, by message directive and by ratio.

use std::time::{Duration, Instant};

use llmbench_mockserver::{Fault, FaultKind, MockConfig, MockServer, Outcome, Protocol};
use serde_json::Value;

use crate::common::*;

fn request(server: &MockServer, prompt: &str, stream: bool) -> reqwest::RequestBuilder {
    match server.config().protocol {
        Protocol::Anthropic => anthropic_request(server, &anthropic_body(prompt, stream)),
        Protocol::OpenAi => openai_request(server, &openai_body(prompt, stream, true)),
    }
}

async fn both() -> [MockServer; 2] {
    [anthropic().await, openai().await]
}

#[tokio::test]
async fn status_faults_have_protocol_error_bodies() {
    let cases: [(&str, u16, &str, &str); 9] = [
        ("400", 400, "invalid_request_error", "invalid_request_error"),
        ("401", 401, "authentication_error", "invalid_request_error"),
        ("403", 403, "permission_error", "permission_error"),
        ("404", 404, "not_found_error", "invalid_request_error"),
        ("413", 413, "request_too_large", "invalid_request_error"),
        ("429", 429, "rate_limit_error", "requests"),
        ("500", 500, "api_error", "server_error"),
        ("529", 529, "overloaded_error", "server_error"),
        ("503;type=custom_error", 503, "custom_error", "custom_error"),
    ];
    for server in both().await {
        for (fault, status, anthropic_type, openai_type) in cases {
            for stream in [false, true] {
                let resp = request(&server, "hi", stream)
                    .header("x-mock-fault", fault)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status().as_u16(), status, "{fault}");
                assert_eq!(resp.headers()["content-type"], "application/json");
                assert!(resp.headers().get("x-should-retry").is_none());
                let v: Value = resp.json().await.unwrap();
                match server.config().protocol {
                    Protocol::Anthropic => {
                        assert_eq!(v["type"], "error");
                        assert_eq!(v["error"]["type"], anthropic_type, "{fault}");
                    }
                    Protocol::OpenAi => assert_eq!(v["error"]["type"], openai_type, "{fault}"),
                }
            }
        }
        let log = server.log();
        assert_eq!(log.len(), cases.len() * 2);
        assert!(
            log.iter()
                .all(|r| r.fault.is_some() && r.outcome == Outcome::Completed)
        );
    }
}

#[tokio::test]
async fn rate_limit_headers_and_should_retry() {
    for server in both().await {
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "429;retry-after=2;retry-after-ms=2500")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 429);
        assert_eq!(resp.headers()["retry-after"], "2");
        assert_eq!(resp.headers()["retry-after-ms"], "2500");
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "429;retry-after-ms=700")
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("retry-after").is_none());
        assert_eq!(resp.headers()["retry-after-ms"], "700");
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "429;retry-after=none")
            .send()
            .await
            .unwrap();
        assert!(resp.headers().get("retry-after").is_none());
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "500;should-retry=false")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 500);
        assert_eq!(resp.headers()["x-should-retry"], "false");
    }
}

#[tokio::test]
async fn spend_limit() {
    let [a, o] = both().await;
    let v: Value = request(&a, "hi", false)
        .header("x-mock-fault", "429-spend-limit")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["error"]["type"], "rate_limit_error");
    assert_eq!(
        v["error"]["details"]["error_code"],
        "enforced_spend_limit_reached"
    );
    let resp = request(&o, "hi", false)
        .header("x-mock-fault", "429-spend-limit")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "insufficient_quota");
    assert_eq!(v["error"]["code"], "insufficient_quota");
}

#[tokio::test]
async fn reset_closes_without_response() {
    for server in both().await {
        let err = request(&server, "hi", false)
            .header("x-mock-fault", "reset")
            .send()
            .await
            .unwrap_err();
        assert!(err.status().is_none() && err.is_request(), "{err:?}");
        // The server keeps serving.
        assert_eq!(
            request(&server, "hi", false).send().await.unwrap().status(),
            200
        );
        let log = server.log();
        assert_eq!(log[0].outcome, Outcome::Reset);
        assert_eq!(log[0].status, None);
    }
}

#[tokio::test]
async fn stall_outlasts_the_client_timeout() {
    for server in both().await {
        // The stall (60 s) outlasts any bound here: the client's 300 ms timeout ended the
        // request, not the stall.
        let started = Instant::now();
        let err = request(&server, "hi", false)
            .header("x-mock-fault", "stall;ms=60000")
            .timeout(Duration::from_millis(300))
            .send()
            .await
            .unwrap_err();
        assert!(err.is_timeout(), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(30));
        // Without a timeout the answer comes after the stall.
        let started = Instant::now();
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "stall;ms=300")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}

#[tokio::test]
async fn cut_breaks_the_stream_midway() {
    for server in both().await {
        let resp = request(&server, "hi", true)
            .header("x-mock-fault", "cut;after=3")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let (events, end) = read_sse(resp).await;
        assert!(end.is_err(), "the body must end in an error");
        match server.config().protocol {
            Protocol::Anthropic => {
                let deltas = events
                    .iter()
                    .filter(|e| e.event.as_deref() == Some("content_block_delta"))
                    .count();
                assert_eq!(deltas, 3);
                assert!(events.iter().all(|e| !matches!(
                    e.event.as_deref(),
                    Some("message_stop" | "message_delta" | "content_block_stop")
                )));
            }
            Protocol::OpenAi => {
                assert_eq!(events.len(), 1 + 3, "role chunk + 3 deltas");
                assert!(
                    events
                        .iter()
                        .all(|e| e.data != "[DONE]" && e.json().get("usage") == Some(&Value::Null))
                );
            }
        }
        // Default: half of the deltas. Non-streaming: the JSON body is cut.
        let (events, end) = read_sse(
            request(&server, "hi", true)
                .header("x-mock-fault", "cut")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert!(end.is_err());
        let deltas = events
            .iter()
            .filter(|e| {
                let v = e.json();
                v["delta"]["text"].is_string()
                    || v["choices"][0]["delta"]["content"]
                        .as_str()
                        .is_some_and(|s| !s.is_empty())
            })
            .count();
        assert_eq!(deltas, 8, "half of the 16 answer tokens");
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "cut")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert!(resp.bytes().await.is_err());
        let log = server.log();
        assert!(log.iter().all(|r| r.outcome == Outcome::Aborted), "{log:?}");
    }
}

#[tokio::test]
async fn malformed_bodies_and_lines() {
    for server in both().await {
        let resp = request(&server, "hi", false)
            .header("x-mock-fault", "malformed")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let text = resp.text().await.unwrap();
        assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

        let (events, end) = read_sse(
            request(&server, "hi", true)
                .header("x-mock-fault", "malformed")
                .send()
                .await
                .unwrap(),
        )
        .await;
        end.unwrap();
        let bad = events
            .iter()
            .filter(|e| e.data != "[DONE]" && serde_json::from_str::<Value>(&e.data).is_err())
            .count();
        assert_eq!(bad, 1);
    }
}

#[tokio::test]
async fn error_event_after_200() {
    let [a, o] = both().await;
    let (events, end) = read_sse(
        request(&a, "hi", true)
            .header("x-mock-fault", "error-event;after=2")
            .send()
            .await
            .unwrap(),
    )
    .await;
    end.unwrap();
    let names: Vec<&str> = events.iter().map(|e| e.event.as_deref().unwrap()).collect();
    assert_eq!(
        names,
        [
            "message_start",
            "content_block_start",
            "ping",
            "content_block_delta",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(events[5].json()["error"]["type"], "overloaded_error");

    let (events, end) = read_sse(
        request(&o, "hi", true)
            .header("x-mock-fault", "error-event")
            .send()
            .await
            .unwrap(),
    )
    .await;
    end.unwrap();
    assert_eq!(events.len(), 3, "role, one delta, error");
    assert_eq!(events[2].json()["error"]["type"], "server_error");
    assert!(events.iter().all(|e| e.data != "[DONE]"));

    // Non-streaming requests get the matching status instead.
    assert_eq!(
        request(&a, "hi", false)
            .header("x-mock-fault", "error-event")
            .send()
            .await
            .unwrap()
            .status(),
        529
    );
    assert_eq!(
        request(&o, "hi", false)
            .header("x-mock-fault", "error-event")
            .send()
            .await
            .unwrap()
            .status(),
        500
    );
}

/// Whether an SSE data line carries answer text (Anthropic or OpenAI).
fn is_content(data: &str) -> bool {
    let v: Value = serde_json::from_str(data).unwrap_or(Value::Null);
    v["delta"]["text"].is_string()
        || v["choices"][0]["delta"]["content"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
}

#[tokio::test]
async fn slow_first_token() {
    for server in both().await {
        let sent = Instant::now();
        let resp = request(&server, "hi", true)
            .header("x-mock-fault", "slow-first-token;ms=600")
            .send()
            .await
            .unwrap();
        let (events, end) = read_sse(resp).await;
        end.unwrap();
        let first_content = events.iter().position(|e| is_content(&e.data)).unwrap();
        assert!(events[first_content].at - sent >= Duration::from_millis(600));
        assert!(first_content > 0, "the stream opens before the first token");

        // With the first token due after 6 s, the stream's first bytes arriving within 5 s
        // show that it opened at once (a bound with a second to spare, not a race).
        let sent = Instant::now();
        let mut resp = request(&server, "hi", true)
            .header("x-mock-fault", "slow-first-token;ms=6000")
            .send()
            .await
            .unwrap();
        let first = resp.chunk().await.unwrap().expect("a first chunk");
        let opened = sent.elapsed();
        assert!(opened < Duration::from_secs(5), "opened at {opened:?}");
        let first = String::from_utf8_lossy(&first);
        assert!(
            !first
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .any(is_content),
            "{first}"
        );
    }
}

#[tokio::test]
async fn directive_in_the_last_user_message() {
    let server = anthropic().await;
    let body = serde_json::json!({
        "model": "m", "max_tokens": 10,
        "messages": [
            {"role": "user", "content": "MOCK_FAULT=500"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "Question 7. MOCK_FAULT=529;times=2"}]},
        ],
    });
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                anthropic_request(&server, &body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        v
    };
    assert_eq!(statuses, [529, 529, 200, 200]);
    let log = server.log();
    assert_eq!(
        log.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(log[0].fault.as_ref().unwrap().kind, FaultKind::Status(529));
    assert!(log[2].fault.is_none());

    // A bad directive is a 400 that names the problem.
    let resp = anthropic_request(&server, &anthropic_body("MOCK_FAULT=explode", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("unknown fault `explode`")
    );
    // The header wins over the directive.
    let resp = anthropic_request(&server, &anthropic_body("MOCK_FAULT=500", false))
        .header("x-mock-fault", "none")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn ratio_mode_is_deterministic_with_a_seed() {
    let faults: Vec<(Fault, f64)> = vec![
        ("500".parse().unwrap(), 0.2),
        ("429;retry-after=1".parse().unwrap(), 0.1),
    ];
    async fn sequence(faults: &[(Fault, f64)], seed: u64) -> Vec<u16> {
        let server = start(MockConfig {
            faults: faults.to_vec(),
            seed,
            ..MockConfig::new(Protocol::OpenAi)
        })
        .await;
        let mut out = Vec::new();
        for i in 0..60 {
            out.push(
                openai_request(&server, &openai_body(&format!("item {i}"), false, false))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16(),
            );
        }
        let from_log: Vec<u16> = server.log().iter().map(|r| r.status.unwrap()).collect();
        assert_eq!(from_log, out);
        out
    }
    let a = sequence(&faults, 11).await;
    assert_eq!(a, sequence(&faults, 11).await);
    assert_ne!(a, sequence(&faults, 12).await);
    let n500 = a.iter().filter(|&&s| s == 500).count();
    let n429 = a.iter().filter(|&&s| s == 429).count();
    assert!(
        (4..=22).contains(&n500) && (1..=14).contains(&n429),
        "{n500} {n429}"
    );
}

#[tokio::test]
async fn max_faults_per_prompt_lets_retries_succeed() {
    let server = start(MockConfig {
        faults: vec![("529".parse().unwrap(), 1.0)],
        max_faults_per_prompt: Some(1),
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    for item in ["a", "b"] {
        let first = request(&server, item, false).send().await.unwrap().status();
        let retry = request(&server, item, false).send().await.unwrap().status();
        assert_eq!((first.as_u16(), retry.as_u16()), (529, 200), "{item}");
    }
}

#[tokio::test]
async fn server_side_rpm_limit() {
    let server = start(MockConfig {
        rpm_limit: Some(3),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    let mut statuses = Vec::new();
    for i in 0..5 {
        let resp = request(&server, &format!("q{i}"), false)
            .send()
            .await
            .unwrap();
        if resp.status() == 429 {
            let secs: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((55..=60).contains(&secs), "{secs}");
        }
        statuses.push(resp.status().as_u16());
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    assert_eq!(
        server.max_requests_in_window(),
        5,
        "the server saw all five"
    );
}
