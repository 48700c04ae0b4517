//! Anthropic Messages wire format.

use std::time::{Duration, Instant};

use llmbench_mockserver::{Answer, MockConfig, Protocol, count_tokens, echo_answer};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn non_streaming_message() {
    let server = anthropic().await;
    let resp = anthropic_request(&server, &anthropic_body("What is two plus two?", false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let request_id = resp.headers()["request-id"].to_str().unwrap().to_owned();
    assert!(request_id.starts_with("req_"));
    for h in ["requests", "tokens", "input-tokens", "output-tokens"] {
        for part in ["limit", "remaining", "reset"] {
            assert!(
                resp.headers()
                    .contains_key(format!("anthropic-ratelimit-{h}-{part}")),
                "{h}-{part}"
            );
        }
    }
    let reset = resp.headers()["anthropic-ratelimit-requests-reset"]
        .to_str()
        .unwrap();
    assert!(
        reset.len() == 20 && reset.ends_with('Z') && reset.as_bytes()[10] == b'T',
        "{reset}"
    );
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["type"], "message");
    assert_eq!(body["role"], "assistant");
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert_eq!(body["stop_reason"], "end_turn");
    assert_eq!(body["stop_sequence"], Value::Null);
    assert!(body["id"].as_str().unwrap().starts_with("msg_"));
    let text = body["content"][0]["text"].as_str().unwrap();
    assert_eq!(body["content"][0]["type"], "text");
    assert_eq!(count_tokens(text), 16);
    let hash = server.log()[0].prompt_hash.unwrap();
    assert_eq!(text, echo_answer(hash, 16));
    assert_eq!(
        body["usage"],
        json!({"input_tokens": 5, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 16})
    );

    // Deterministic: the same request gives the same answer; another prompt another one.
    let again: Value = anthropic_request(&server, &anthropic_body("What is two plus two?", false))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(again["content"], body["content"]);
    let other: Value =
        anthropic_request(&server, &anthropic_body("What is three plus three?", false))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_ne!(other["content"], body["content"]);
}

#[tokio::test]
async fn streaming_event_order_and_cumulative_usage() {
    let server = start(MockConfig {
        answer_tokens: 20,
        cached_input_tokens: 2,
        cache_creation_input_tokens: 1,
        ping_every_tokens: 8,
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    let resp = anthropic_request(
        &server,
        &anthropic_body("one two three four five six", true),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    assert!(resp.headers().contains_key("request-id"));
    let (events, end) = read_sse(resp).await;
    end.unwrap();
    // Every event's `event:` name equals its data's `type`.
    for e in &events {
        assert_eq!(e.event.as_deref(), e.json()["type"].as_str(), "{e:?}");
    }
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.event.as_deref().unwrap())
        .filter(|n| *n != "ping")
        .collect();
    let mut expected = vec!["message_start", "content_block_start"];
    expected.extend(std::iter::repeat_n("content_block_delta", 20));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    let pings = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("ping"))
        .count();
    assert_eq!(
        pings,
        1 + 2,
        "one after content_block_start, one every 8 deltas"
    );
    assert_eq!(events[2].event.as_deref(), Some("ping"));

    let start = events[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["stop_reason"], Value::Null);
    assert_eq!(
        start["message"]["usage"],
        json!({"input_tokens": 3, "cache_creation_input_tokens": 1, "cache_read_input_tokens": 2, "output_tokens": 1})
    );
    let block_start = events[1].json();
    assert_eq!(
        block_start,
        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})
    );
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| {
            let d = e.json();
            assert_eq!(d["delta"]["type"], "text_delta");
            assert_eq!(d["index"], 0);
            d["delta"]["text"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(text, echo_answer(server.log()[0].prompt_hash.unwrap(), 20));
    let delta = events
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap()
        .json();
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(
        delta["usage"],
        json!({"input_tokens": 3, "cache_creation_input_tokens": 1, "cache_read_input_tokens": 2, "output_tokens": 20})
    );
}

/// The SDK's basic streaming capture ("Hello there!", input 11, output 6) can be reproduced
/// with a fixed answer and usage overrides.
#[tokio::test]
async fn replays_the_basic_capture() {
    let server = start(MockConfig {
        answer: Answer::Fixed("Hello there!".into()),
        input_tokens_override: Some(11),
        output_tokens_override: Some(6),
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    let (events, end) = read_sse(
        anthropic_request(&server, &anthropic_body("hi", true))
            .send()
            .await
            .unwrap(),
    )
    .await;
    end.unwrap();
    let text: String = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| e.json()["delta"]["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(text, "Hello there!");
    assert_eq!(events[0].json()["message"]["usage"]["input_tokens"], 11);
    assert_eq!(events[0].json()["message"]["usage"]["output_tokens"], 1);
    let delta = events
        .iter()
        .find(|e| e.event.as_deref() == Some("message_delta"))
        .unwrap()
        .json();
    assert_eq!(delta["usage"]["output_tokens"], 6);
    assert_eq!(delta["delta"]["stop_reason"], "end_turn");
}

#[tokio::test]
async fn max_tokens_truncates() {
    let server = anthropic().await;
    let mut body = anthropic_body("hi", false);
    body["max_tokens"] = json!(3);
    let v: Value = anthropic_request(&server, &body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 3);
    assert_eq!(count_tokens(v["content"][0]["text"].as_str().unwrap()), 3);
}

#[tokio::test]
async fn auth_and_version_are_required() {
    let server = start(MockConfig {
        api_key: llmbench_mockserver::ApiKeyCheck::Exact(KEY.into()),
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    let url = format!("{}/v1/messages", server.base_url());
    let body = anthropic_body("hi", false);

    let resp = client()
        .post(&url)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let id = resp.headers()["request-id"].to_str().unwrap().to_owned();
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");
    assert_eq!(v["request_id"], id);

    let resp = client()
        .post(&url)
        .header("x-api-key", "wrong")
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);

    let resp = client()
        .post(&url)
        .header("x-api-key", KEY)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("anthropic-version")
    );

    // Bearer auth is accepted too.
    let resp = client()
        .post(&url)
        .bearer_auth(KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let resp = anthropic_request(&server, &body).send().await.unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn bad_requests_and_unknown_paths() {
    let server = anthropic().await;
    let resp = anthropic_request(&server, &json!({"model": "m", "messages": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["message"], "max_tokens: field required");

    let resp = client()
        .post(format!("{}/v1/messages", server.base_url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = client()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["type"], "not_found_error");
}

#[tokio::test]
async fn count_tokens_endpoint() {
    let server = anthropic().await;
    let resp = client()
        .post(format!("{}/v1/messages/count_tokens", server.base_url()))
        .header("x-api-key", KEY)
        .header("anthropic-version", "2023-06-01")
        .json(&json!({"model": "claude-haiku-4-5", "system": "be brief", "messages": [{"role": "user", "content": [{"type": "text", "text": "a b c"}]}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({"input_tokens": 5})
    );
}

#[tokio::test]
async fn midstream_error_matches_fixture() {
    let server = anthropic().await;
    let resp = anthropic_request(&server, &anthropic_body("hi", true))
        .header("x-mock-fault", "error-event;after=0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let (events, end) = read_sse(resp).await;
    end.unwrap();
    let fixture = fixture_sse("anthropic_stream_midstream_error.sse");
    let ours: Vec<&str> = events
        .iter()
        .map(|e| e.event.as_deref().unwrap())
        .filter(|n| *n != "content_block_start")
        .collect();
    let theirs: Vec<&str> = fixture.iter().map(|(e, _)| e.as_deref().unwrap()).collect();
    assert_eq!(ours, theirs);
    assert_eq!(events.last().unwrap().json(), fixture.last().unwrap().1);
    assert_eq!(
        shape(&events[0].json()),
        shape(&fixture[0].1)
            .into_iter()
            .chain([
                "message.usage.cache_creation_input_tokens".into(),
                "message.usage.cache_read_input_tokens".into()
            ])
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn error_bodies_match_fixtures() {
    let server = anthropic().await;
    for (fault, file) in [
        ("429;retry-after=2", "anthropic_error_429.http"),
        ("529", "anthropic_error_529.http"),
    ] {
        let resp = anthropic_request(&server, &anthropic_body("hi", false))
            .header("x-mock-fault", fault)
            .send()
            .await
            .unwrap();
        let (status, headers, body) = fixture_http(file);
        assert_eq!(resp.status().as_u16(), status);
        for (name, value) in &headers {
            assert!(
                resp.headers().contains_key(name.as_str()),
                "{file}: missing {name}"
            );
            if name == "retry-after" || name == "content-type" {
                assert_eq!(resp.headers()[name.as_str()], value.as_str());
            }
        }
        let id = resp.headers()["request-id"].to_str().unwrap().to_owned();
        if status == 429 {
            assert_eq!(
                resp.headers()["anthropic-ratelimit-requests-remaining"],
                "0"
            );
        }
        let mut ours: Value = resp.json().await.unwrap();
        assert_eq!(ours["request_id"], id);
        ours["request_id"] = body["request_id"].clone();
        assert_eq!(ours, body, "{file}");
    }
}

#[tokio::test]
async fn the_stream_opens_before_the_first_token_is_due() {
    // The first token is due after 6 s: headers and `message_start` arriving within 5 s
    // show that the stream opened before it (a bound with a second to spare, not a race).
    let server = start(MockConfig {
        time_to_first_token: Duration::from_secs(6),
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    let sent = Instant::now();
    let mut resp = anthropic_request(&server, &anthropic_body("hi", true))
        .send()
        .await
        .unwrap();
    let first = resp.chunk().await.unwrap().expect("a first event");
    let opened = sent.elapsed();
    assert!(opened < Duration::from_secs(5), "opened at {opened:?}");
    let first = String::from_utf8_lossy(&first);
    assert!(first.starts_with("event: message_start"), "{first}");
    assert!(!first.contains("content_block_delta"), "{first}");
}

#[tokio::test]
async fn streaming_timing_follows_latency_config() {
    let server = start(MockConfig {
        time_to_first_token: Duration::from_millis(400),
        per_token_delay: Duration::from_millis(50),
        answer_tokens: 5,
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    let sent = Instant::now();
    let resp = anthropic_request(&server, &anthropic_body("hi", true))
        .send()
        .await
        .unwrap();
    let (events, end) = read_sse(resp).await;
    end.unwrap();
    // The stream opens with `message_start`, before any content (see
    // `the_stream_opens_before_the_first_token_is_due` for when).
    assert_eq!(events[0].event.as_deref(), Some("message_start"));
    let deltas: Vec<Instant> = events
        .iter()
        .filter(|e| e.event.as_deref() == Some("content_block_delta"))
        .map(|e| e.at)
        .collect();
    // Lower bounds only: a loaded machine makes everything later, never earlier.
    let ttft = deltas[0] - sent;
    assert!(ttft >= Duration::from_millis(400), "ttft {ttft:?}");
    let span = deltas[4] - deltas[0];
    assert!(span >= Duration::from_millis(4 * 50 - 5), "span {span:?}");

    let sent = Instant::now();
    anthropic_request(&server, &anthropic_body("hi", false))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let total = sent.elapsed();
    assert!(total >= Duration::from_millis(400 + 5 * 50), "{total:?}");
}
