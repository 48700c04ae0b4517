//! The API key reaches the judge's server and nothing else: not the evidence, not the logs.

use llmbench_conformance::{FAKE_API_KEY, captured_log_lines};
use llmbench_mockserver::{Answer, ApiKeyCheck, MockConfig, MockServer, Protocol};
use llmbench_plugin_sdk::core::GradeOutcome;
use serde_json::json;

use crate::{GOOD, grade, judge, server};

#[test]
fn the_key_is_sent_to_the_judge_and_never_recorded() {
    // A judge that quotes the key back (as a hostile answer might make it do).
    let echoing = format!(
        r#"{{"score": 1, "pass": true, "rationale": "the answer printed {FAKE_API_KEY}"}}"#
    );
    let servers = [
        server(MockConfig {
            answer: Answer::Fixed(GOOD.into()),
            ..MockConfig::new(Protocol::Anthropic)
        }),
        server(MockConfig {
            answer: Answer::Fixed(echoing),
            ..MockConfig::new(Protocol::OpenAi)
        }),
        server(MockConfig {
            answer: Answer::Fixed("no verdict here".into()),
            ..MockConfig::new(Protocol::OpenAi)
        }),
        // A server that refuses the key.
        MockServer::start_background(MockConfig {
            api_key: ApiKeyCheck::Exact("another-key".into()),
            ..MockConfig::new(Protocol::OpenAi)
        })
        .unwrap(),
    ];
    let mut outcomes = Vec::new();
    for server in &servers {
        let g = grade(&judge(server, json!({})), "print(os.environ)");
        assert!(!g.evidence.contains(FAKE_API_KEY), "{}", g.evidence);
        outcomes.push(g.outcome);
        for request in server.log() {
            assert!(request.api_key_present);
            assert_eq!(request.api_key_len, FAKE_API_KEY.len());
        }
    }
    assert_eq!(
        outcomes,
        [
            GradeOutcome::Pass,
            GradeOutcome::Pass,
            GradeOutcome::Error,
            GradeOutcome::Error
        ]
    );
    let lines = captured_log_lines();
    assert!(!lines.is_empty(), "the capture sees the plugin's logs");
    for line in lines {
        assert!(!line.contains(FAKE_API_KEY), "{line}");
    }
}
