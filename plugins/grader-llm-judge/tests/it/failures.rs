//! A judge that fails to answer: an error grade with the classified reason, never a fail.

use llmbench_mockserver::{Answer, MockConfig, Protocol};
use llmbench_plugin_sdk::core::{GradeKind, GradeOutcome};
use serde_json::json;

use crate::{GOOD, grade, judge, server};

fn faulty(fault: &str) -> MockConfig {
    let mut config = MockConfig {
        answer: Answer::Fixed(GOOD.into()),
        ..MockConfig::new(Protocol::OpenAi)
    };
    config.set("fault", &format!("{fault}@1")).unwrap();
    config
}

#[test]
fn a_server_error_is_an_error_grade_with_its_kind_and_status() {
    let server = server(faulty("500"));
    let g = grade(&judge(&server, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert_eq!(g.kind, GradeKind::Judgement);
    assert!(
        g.evidence
            .starts_with("judge judge-model could not judge: request failed: server (HTTP 500)"),
        "{}",
        g.evidence
    );
    assert_eq!(g.usage, None);
    assert_eq!(server.log().len(), 1, "no re-ask, no retry");
}

#[test]
fn a_rate_limit_is_an_error_grade_too() {
    let server = server(faulty("429;retry-after=1"));
    let g = grade(&judge(&server, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert!(
        g.evidence.contains("rate_limited (HTTP 429)"),
        "{}",
        g.evidence
    );
}

#[test]
fn a_judge_that_does_not_answer_in_time_is_a_timeout() {
    let server = server(faulty("stall;ms=5000"));
    let started = std::time::Instant::now();
    let g = grade(
        &judge(&server, json!({ "timeout-seconds": 0.3 })),
        "an answer",
    );
    assert!(started.elapsed().as_secs_f64() < 4.0);
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert_eq!(
        g.evidence,
        "judge judge-model could not judge: request failed: timeout: no answer within 0.3 s"
    );
}
