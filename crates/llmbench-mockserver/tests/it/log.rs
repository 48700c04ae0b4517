//! The request log: fields, secrets, attempts, windows, capacity.

use std::time::Duration;

use llmbench_mockserver::{MockConfig, MockServer, Outcome, Protocol, max_in_window};

use crate::common::*;

#[tokio::test]
async fn records_what_tests_need_and_never_the_key() {
    let server = anthropic().await;
    let body = anthropic_body("hello", true);
    let (_, end) = read_sse(anthropic_request(&server, &body).send().await.unwrap()).await;
    end.unwrap();
    let resp = anthropic_request(&server, &body)
        .header("x-stainless-retry-count", "1")
        .header("x-mock-fault", "429;retry-after=0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    resp.bytes().await.unwrap();
    client()
        .post(format!("{}/v1/messages", server.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();

    let log = server.log();
    assert_eq!(log.len(), 3);
    let [first, second, third] = [&log[0], &log[1], &log[2]];
    assert_eq!((first.seq, second.seq, third.seq), (0, 1, 2));
    assert_eq!(first.protocol, Protocol::Anthropic);
    assert_eq!(first.path, "/v1/messages");
    assert_eq!(first.model.as_deref(), Some("claude-haiku-4-5"));
    assert!(first.stream);
    assert_eq!(first.attempt, 1);
    assert_eq!(second.attempt, 2);
    assert_eq!(first.prompt_hash, second.prompt_hash);
    assert_eq!(first.stainless_retry_count, None);
    assert_eq!(second.stainless_retry_count, Some(1));
    assert_eq!(first.anthropic_version.as_deref(), Some("2023-06-01"));
    assert!(first.api_key_present);
    assert_eq!(first.api_key_len, KEY.len());
    assert_eq!(first.status, Some(200));
    assert_eq!(first.outcome, Outcome::Completed);
    assert!(first.completed.unwrap() >= first.arrived);
    assert_eq!(
        second.fault.as_ref().unwrap().to_string(),
        "429;retry-after=0"
    );
    assert_eq!(second.status, Some(429));
    assert!(!third.api_key_present);
    assert_eq!(third.status, Some(401));
    assert!(second.arrived >= first.completed.unwrap());
    assert!(second.arrived_wall >= first.arrived_wall);

    let dump = format!("{log:?}");
    assert!(
        !dump.contains(KEY) && !dump.contains("SECRET"),
        "the key leaked into the log"
    );
    assert_eq!(server.request_count(), 3);
}

#[tokio::test]
async fn retry_timing_is_visible_from_the_server() {
    let server = openai().await;
    let body = openai_body("retry me", false, false);
    let resp = openai_request(&server, &body)
        .header("x-mock-fault", "429;retry-after=0.3")
        .send()
        .await
        .unwrap();
    let wait: f64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    resp.bytes().await.unwrap();
    tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    openai_request(&server, &body)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let log = server.log();
    let gap = log[1].arrived - log[0].completed.unwrap();
    assert!(gap >= Duration::from_millis(300), "{gap:?}");
    assert_eq!((log[0].attempt, log[1].attempt), (1, 2));
}

#[tokio::test]
async fn window_counters() {
    let server = start(MockConfig {
        rate_window: Duration::from_millis(300),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    for _ in 0..4 {
        openai_request(&server, &openai_body("x", false, false))
            .send()
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(350)).await;
    for _ in 0..2 {
        openai_request(&server, &openai_body("x", false, false))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(server.max_requests_in_window(), 4);
    let log = server.log();
    assert_eq!(max_in_window(&log, Duration::from_millis(300)), 4);
    assert_eq!(max_in_window(&log, Duration::from_secs(60)), 6);
    server.clear_log();
    assert!(server.log().is_empty());
}

#[tokio::test]
async fn capacity_caps_the_log() {
    let server = start(MockConfig {
        log_capacity: 2,
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    for _ in 0..5 {
        openai_request(&server, &openai_body("x", false, false))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(server.log().len(), 2);
    assert_eq!(server.log_dropped(), 3);
    assert_eq!(server.request_count(), 5);
    let off = start(MockConfig {
        log_capacity: 0,
        ..MockConfig::new(Protocol::OpenAi)
    })
    .await;
    assert_eq!(
        openai_request(&off, &openai_body("x", true, true))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(off.log().is_empty());
}

#[test]
fn background_server_from_sync_code() {
    let server = MockServer::start_background(MockConfig::new(Protocol::OpenAi)).unwrap();
    let addr = server.addr();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let status = rt.block_on(async {
        openai_request(&server, &openai_body("x", false, false))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(status, 200);
    drop(server);
    // The port is closed once the server is dropped.
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[tokio::test]
async fn shutdown_ends_streams_and_stalls() {
    let server = start(MockConfig {
        time_to_first_token: Duration::from_secs(30),
        ..MockConfig::new(Protocol::Anthropic)
    })
    .await;
    let addr = server.addr();
    let stream = anthropic_request(&server, &anthropic_body("a", true))
        .send()
        .await
        .unwrap();
    let stall = tokio::spawn(
        anthropic_request(&server, &anthropic_body("b", false))
            .header("x-mock-fault", "stall;ms=30000")
            .send(),
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    let log_before = server.log();
    assert_eq!(log_before.len(), 2);
    assert!(log_before.iter().all(|r| r.outcome == Outcome::InFlight));
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown is prompt");
    let (_, end) = tokio::time::timeout(Duration::from_secs(5), read_sse(stream))
        .await
        .unwrap();
    assert!(end.is_err());
    assert!(
        tokio::time::timeout(Duration::from_secs(5), stall)
            .await
            .unwrap()
            .unwrap()
            .is_err()
    );
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
