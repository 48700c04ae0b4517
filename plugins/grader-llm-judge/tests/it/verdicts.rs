//! Well-formed verdicts, a re-ask after a malformed reply, and two malformed replies.

use llmbench_mockserver::{Answer, MockConfig, Protocol};
use llmbench_plugin_sdk::core::{GradeKind, GradeOutcome};
use serde_json::json;

use crate::{GOOD, grade, judge, plugin, server, words};

#[test]
fn the_library_declares_itself_as_the_judge() {
    // The judge links the provider libraries, not the provider plugins: its entry point is
    // the only one in the library, and it is the judge's.
    let meta = plugin().meta();
    assert_eq!(meta.name, "grader-llm-judge");
    assert_eq!(meta.kind.as_str(), "grader");
}

#[test]
fn a_verdict_at_the_threshold_passes_and_records_the_judges_usage() {
    let server = server(MockConfig {
        answer: Answer::Fixed(GOOD.into()),
        ..MockConfig::new(Protocol::OpenAi)
    });
    let judge = judge(&server, json!({ "pass-threshold": 0.8 }));
    let g = grade(&judge, "## Fix\nStore the future before awaiting it.");
    assert_eq!(g.outcome, GradeOutcome::Pass, "{}", g.evidence);
    assert_eq!(g.kind, GradeKind::Judgement);
    assert_eq!(g.score, 0.8);
    assert_eq!(
        g.evidence,
        "judge judge-model: score 0.8 (pass): names the race and fixes it"
    );
    let usage = g.usage.expect("the judge's usage is recorded");
    assert_eq!(usage.output_tokens, Some(words(GOOD)));
    assert!(usage.input_tokens.unwrap() > 50, "{usage:?}");
    // Pricing is the runner's.
    assert_eq!(g.cost_usd, None);
    let log = server.log();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].model.as_deref(), Some("judge-model"));
    assert!(!log[0].stream);
}

#[test]
fn a_score_below_the_threshold_fails_and_says_when_the_judge_disagrees() {
    let server = server(MockConfig {
        answer: Answer::Fixed(GOOD.into()),
        ..MockConfig::new(Protocol::OpenAi)
    });
    let g = grade(
        &judge(&server, json!({ "pass-threshold": 0.9 })),
        "an answer",
    );
    assert_eq!(g.outcome, GradeOutcome::Fail);
    assert_eq!(g.kind, GradeKind::Judgement);
    assert_eq!(
        g.evidence,
        "judge judge-model: score 0.8 (fail, though the judge said pass): names the race and fixes it"
    );
}

#[test]
fn an_anthropic_judge_may_wrap_its_verdict_in_a_fence_and_text() {
    let reply = format!("Here is my verdict:\n```json\n{GOOD}\n```\nThanks.");
    let server = server(MockConfig {
        answer: Answer::Fixed(reply.clone()),
        ..MockConfig::new(Protocol::Anthropic)
    });
    let g = grade(&judge(&server, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Pass, "{}", g.evidence);
    assert_eq!(g.usage.unwrap().output_tokens, Some(words(&reply)));
    assert_eq!(server.log().len(), 1);
}

#[test]
fn a_malformed_reply_is_reasked_once_and_both_requests_are_counted() {
    let first = "I think the answer is fine.";
    let server = server(MockConfig {
        answer: Answer::PerUserTurn(vec![first.into(), GOOD.into()]),
        ..MockConfig::new(Protocol::OpenAi)
    });
    let g = grade(&judge(&server, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Pass, "{}", g.evidence);
    assert_eq!(g.score, 0.8);
    assert_eq!(
        g.usage.unwrap().output_tokens,
        Some(words(first) + words(GOOD))
    );
    let log = server.log();
    assert_eq!(log.len(), 2, "one re-ask");
    assert_ne!(log[0].prompt_hash, log[1].prompt_hash);
}

#[test]
fn two_malformed_replies_are_an_error_grade_not_a_fail() {
    let reply = r#"{"score": 0.9, "rationale": "good"}"#;
    let server = server(MockConfig {
        answer: Answer::Fixed(reply.into()),
        ..MockConfig::new(Protocol::OpenAi)
    });
    let g = grade(&judge(&server, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert_eq!(g.kind, GradeKind::Judgement);
    assert_eq!(g.score, 0.0);
    assert_eq!(
        g.evidence,
        "judge judge-model could not judge: no well-formed verdict after one re-ask: the JSON \
         object is not a verdict: missing field `pass`"
    );
    // Both requests were paid for.
    assert_eq!(g.usage.unwrap().output_tokens, Some(2 * words(reply)));
    assert_eq!(server.log().len(), 2);
}

#[test]
fn a_reply_cut_at_the_token_limit_says_so() {
    let server = server(MockConfig {
        answer: Answer::Fixed(GOOD.into()),
        ..MockConfig::new(Protocol::OpenAi)
    });
    let g = grade(&judge(&server, json!({ "max-tokens": 3 })), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert!(
        g.evidence
            .ends_with("(the reply stopped at the token limit, `max-tokens` = 3)"),
        "{}",
        g.evidence
    );
}
