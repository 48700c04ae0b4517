//! Hundreds of simultaneous connections.

use std::time::{Duration, Instant};

use llmbench_mockserver::{MockConfig, Outcome, Protocol};

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simultaneous_requests() {
    for protocol in [Protocol::Anthropic, Protocol::OpenAi] {
        let server = start(MockConfig {
            time_to_first_token: Duration::from_millis(200),
            ..MockConfig::new(protocol)
        })
        .await;
        // One client per request: 200 separate connections, all open at once.
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let stream = i % 2 == 0;
            let req = match protocol {
                Protocol::Anthropic => {
                    anthropic_request(&server, &anthropic_body(&format!("item {i}"), stream))
                }
                Protocol::OpenAi => {
                    openai_request(&server, &openai_body(&format!("item {i}"), stream, true))
                }
            };
            tasks.push(tokio::spawn(async move {
                let resp = req.send().await.unwrap();
                assert_eq!(resp.status(), 200);
                resp.bytes().await.unwrap().len()
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap() > 0);
        }
        let elapsed = started.elapsed();
        // Served concurrently: far less than 200 × 200 ms.
        assert!(elapsed < Duration::from_secs(10), "{elapsed:?}");
        let log = server.log();
        assert_eq!(log.len(), 200);
        assert!(
            log.iter()
                .all(|r| r.outcome == Outcome::Completed && r.status == Some(200))
        );
        assert!(server.max_requests_in_window() == 200);
        server.shutdown().await;
    }
}
