//! OpenAI Chat Completions wire format.

use llmbench_mockserver::{
    Answer, ApiKeyCheck, ErrorStyle, MockConfig, Protocol, count_tokens, echo_answer,
};
use serde_json::{Value, json};

use crate::common::*;

#[tokio::test]
async fn non_streaming_completion_with_cached_and_reasoning_usage() {
    let server = start(MockConfig {
        cached_input_tokens: 2,
        reasoning_tokens: 7,
        answer_tokens: 10,
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    let resp = openai_request(&server, &openai_body("a b c d", false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    for h in [
        "x-request-id",
        "x-ratelimit-limit-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-requests",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-requests",
        "x-ratelimit-reset-tokens",
    ] {
        assert!(resp.headers().contains_key(h), "{h}");
    }
    let reset = resp.headers()["x-ratelimit-reset-requests"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(reset.ends_with('s'), "{reset}");
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-x");
    assert!(v["id"].as_str().unwrap().starts_with("chatcmpl-"));
    assert!(v["created"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(v["choices"][0]["index"], 0);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(text, echo_answer(server.log()[0].prompt_hash.unwrap(), 10));
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 4, "completion_tokens": 17, "total_tokens": 21,
               "prompt_tokens_details": {"cached_tokens": 2}, "completion_tokens_details": {"reasoning_tokens": 7}})
    );
}

/// With a fixed answer and overrides the stream equals the contract fixture, chunk for chunk,
/// except for the id and timestamp.
#[tokio::test]
async fn stream_with_include_usage_matches_fixture() {
    let server = start(MockConfig {
        answer: Answer::Fixed("Hello".into()),
        input_tokens_override: Some(12),
        output_tokens_override: Some(2),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    let resp = openai_request(&server, &openai_body("hi", true, true))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "text/event-stream; charset=utf-8"
    );
    let (events, end) = read_sse(resp).await;
    end.unwrap();
    let fixture = fixture_sse("openai_stream_include_usage.sse");
    assert_eq!(events.len(), fixture.len());
    for (ours, (name, theirs)) in events.iter().zip(&fixture) {
        assert_eq!(ours.event, *name, "OpenAI streams have no event names");
        if ours.data == "[DONE]" {
            assert_eq!(theirs, "[DONE]");
            continue;
        }
        let mut ours = ours.json();
        ours["id"] = theirs["id"].clone();
        ours["created"] = theirs["created"].clone();
        assert_eq!(&ours, theirs);
    }
    // Key order follows the API too.
    assert!(
        events[0].data.starts_with(r#"{"id":"chatcmpl-"#),
        "{}",
        events[0].data
    );
}

#[tokio::test]
async fn stream_without_include_usage_has_no_usage() {
    let server = openai().await;
    let (events, end) = read_sse(
        openai_request(&server, &openai_body("hi there", true, false))
            .send()
            .await
            .unwrap(),
    )
    .await;
    end.unwrap();
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1]
        .iter()
        .map(|e| e.json())
        .collect();
    assert!(
        chunks
            .iter()
            .all(|c| c.get("usage").is_none() && c["object"] == "chat.completion.chunk")
    );
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert_eq!(
        chunks.last().unwrap()["choices"][0]["finish_reason"],
        "stop"
    );
    assert_eq!(chunks.last().unwrap()["choices"][0]["delta"], json!({}));
    let text: String = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| {
            c["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(count_tokens(&text), 16);
}

#[tokio::test]
async fn max_completion_tokens_gives_length() {
    let server = openai().await;
    let mut body = openai_body("hi", true, true);
    body["max_completion_tokens"] = json!(4);
    let (events, _) = read_sse(openai_request(&server, &body).send().await.unwrap()).await;
    let usage = events[events.len() - 2].json();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"]["completion_tokens"], 4);
    assert_eq!(
        events[events.len() - 3].json()["choices"][0]["finish_reason"],
        "length"
    );
    let mut body = openai_body("hi", false, false);
    body["max_tokens"] = json!(2);
    let v: Value = openai_request(&server, &body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["choices"][0]["finish_reason"], "length");
}

#[tokio::test]
async fn key_is_optional_unless_configured() {
    let server = openai().await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .json(&openai_body("hi", false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(!server.log()[0].api_key_present);

    let server = start(MockConfig {
        api_key: ApiKeyCheck::Exact(KEY.into()),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    let resp = client()
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .bearer_auth("nope")
        .json(&openai_body("hi", false, false))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["error"]["code"], "invalid_api_key");
    assert_eq!(
        openai_request(&server, &openai_body("hi", false, false))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn error_bodies_nested_and_flat() {
    let server = openai().await;
    let resp = openai_request(&server, &openai_body("hi", false, false))
        .header("x-mock-fault", "429")
        .send()
        .await
        .unwrap();
    let (status, headers, body) = fixture_http("openai_error_429.http");
    assert_eq!(resp.status().as_u16(), status);
    for (name, _) in &headers {
        assert!(resp.headers().contains_key(name.as_str()), "missing {name}");
    }
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(resp.headers()["x-ratelimit-remaining-requests"], "0");
    let ours: Value = resp.json().await.unwrap();
    assert_eq!(ours, body);

    let server = start(MockConfig {
        error_style: ErrorStyle::Flat,
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    let resp = openai_request(&server, &openai_body("hi", false, false))
        .header("x-mock-fault", "400")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(
        v,
        json!({"object": "error", "message": "Invalid request.", "type": "invalid_request_error", "param": null, "code": 400})
    );

    let resp = client()
        .post(format!("{}/v1/messages", server.base_url()))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

/// `Answer::PerUserTurn`: the answer follows the number of user messages, so a re-ask in the
/// same conversation gets the next text, and a third turn gets the last one again.
#[tokio::test]
async fn per_user_turn_answers_follow_the_conversation() {
    let server = start(MockConfig {
        answer: Answer::PerUserTurn(vec!["first answer".into(), "second answer".into()]),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    let mut body = openai_body("question", false, false);
    let mut answers = Vec::new();
    for _ in 0..3 {
        let v: Value = openai_request(&server, &body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let text = v["choices"][0]["message"]["content"].as_str().unwrap();
        answers.push(text.to_owned());
        let messages = body["messages"].as_array_mut().unwrap();
        messages.push(json!({"role": "assistant", "content": text}));
        messages.push(json!({"role": "user", "content": "again"}));
    }
    assert_eq!(answers, ["first answer", "second answer", "second answer"]);
}
