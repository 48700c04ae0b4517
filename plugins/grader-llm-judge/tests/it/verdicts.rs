//! Well-formed verdicts, a re-ask after a malformed reply, and two malformed replies.

use llmbench_plugin_sdk::core::{GradeKind, GradeOutcome};
use serde_json::json;

use crate::{GOOD, MODEL, PROVIDER, Scripted, grade, judge, plugin, words};

#[test]
fn the_library_declares_itself_as_the_judge() {
    let meta = plugin().meta();
    assert_eq!(meta.name, "grader-llm-judge");
    assert_eq!(meta.kind.as_str(), "grader");
}

#[test]
fn a_verdict_at_the_threshold_passes_and_records_the_judges_usage() {
    let model = Scripted::always(GOOD);
    let judge = judge(&model, json!({ "pass-threshold": 0.8, "temperature": 0.0 }));
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
    // One request, through the host, to the provider entry the config named.
    let log = model.requests();
    assert_eq!(log.len(), 1);
    let (provider, request) = &log[0];
    assert_eq!(provider, PROVIDER);
    assert_eq!(request.model, MODEL);
    assert_eq!(request.max_tokens, 512);
    assert_eq!(request.sampling.temperature, Some(0.0));
    assert!(!request.stream);
    assert!(request.messages[0].content.contains("Store the future"));
}

#[test]
fn a_score_below_the_threshold_fails_and_says_when_the_judge_disagrees() {
    let model = Scripted::always(GOOD);
    let g = grade(
        &judge(&model, json!({ "pass-threshold": 0.9 })),
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
fn a_verdict_may_come_in_a_fence_and_text() {
    let reply = format!("Here is my verdict:\n```json\n{GOOD}\n```\nThanks.");
    let model = Scripted::always(&reply);
    let g = grade(&judge(&model, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Pass, "{}", g.evidence);
    assert_eq!(g.usage.unwrap().output_tokens, Some(words(&reply)));
    assert_eq!(model.requests().len(), 1);
}

#[test]
fn a_malformed_reply_is_reasked_once_and_both_requests_are_counted() {
    let first = "I think the answer is fine.";
    let model = Scripted::new([Ok(first.to_owned()), Ok(GOOD.to_owned())]);
    let g = grade(&judge(&model, json!({})), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Pass, "{}", g.evidence);
    assert_eq!(g.score, 0.8);
    assert_eq!(
        g.usage.unwrap().output_tokens,
        Some(words(first) + words(GOOD))
    );
    let log = model.requests();
    assert_eq!(log.len(), 2, "one re-ask");
    // The re-ask continues the conversation.
    assert_eq!(log[1].1.messages.len(), 3);
    assert_eq!(log[1].1.messages[1].content, first);
}

#[test]
fn two_malformed_replies_are_an_error_grade_not_a_fail() {
    let reply = r#"{"score": 0.9, "rationale": "good"}"#;
    let model = Scripted::always(reply);
    let g = grade(&judge(&model, json!({})), "an answer");
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
    assert_eq!(model.requests().len(), 2);
}

#[test]
fn a_reply_cut_at_the_token_limit_says_so() {
    let model = Scripted::always(GOOD);
    let g = grade(&judge(&model, json!({ "max-tokens": 3 })), "an answer");
    assert_eq!(g.outcome, GradeOutcome::Error);
    assert!(
        g.evidence
            .ends_with("(the reply stopped at the token limit, `max-tokens` = 3)"),
        "{}",
        g.evidence
    );
}
