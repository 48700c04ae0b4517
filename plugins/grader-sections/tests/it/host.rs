//! Load the plugin, create graders with good and bad options, and grade through the ABI.

use std::collections::BTreeMap;
use std::path::Path;

use llmbench_plugin_host::{LoadError, PluginGrader};
use llmbench_plugin_sdk::abi::PluginKind;
use llmbench_plugin_sdk::core::{
    Completion, GradeOutcome, GradeRequest, Grader, PluginContext, StopReason, Timings, Usage,
};
use serde_json::json;

fn grader(options: serde_json::Value) -> Result<PluginGrader, LoadError> {
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    assert_eq!(plugin.meta().kind, PluginKind::Grader);
    assert_eq!(plugin.meta().name, "grader-sections");
    PluginGrader::new(&plugin, &options, &PluginContext::default())
}

fn article_options() -> serde_json::Value {
    json!({
        "sections": ["Bug", "Why it happens", "Fix"],
        "code-block-in": "Fix",
        "code-language": "python",
    })
}

fn request(text: &str) -> GradeRequest {
    GradeRequest {
        task: "race-condition".into(),
        item: "stampede".into(),
        vars: BTreeMap::new(),
        options: None,
        completion: Completion {
            text: text.into(),
            stop_reason: StopReason::EndTurn,
            usage: Usage::default(),
            timings: Timings::default(),
            response_model: None,
        },
    }
}

/// The replay fixture's three answers are in the article's format.
#[tokio::test]
async fn the_replayed_article_answers_pass() {
    let grader = grader(article_options()).unwrap();
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/replay/race-condition.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut graded = 0;
    for line in text.lines() {
        let answer: serde_json::Value = serde_json::from_str(line).unwrap();
        let grade = grader
            .grade(&request(answer["text"].as_str().unwrap()))
            .await
            .unwrap();
        assert_eq!(
            grade.evidence, r#"found: Bug, Why it happens, Fix; python code block in "Fix""#,
            "{}",
            answer["model"]
        );
        assert_eq!(grade.outcome, GradeOutcome::Pass);
        assert_eq!(grade.score, 1.0);
        graded += 1;
    }
    assert_eq!(graded, 3);
}

#[tokio::test]
async fn a_failing_grade_crosses_the_boundary_with_its_evidence() {
    let grader = grader(article_options()).unwrap();
    let grade = grader
        .grade(&request("## Bug\nrace\n## Fix\nuse a lock"))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert_eq!(grade.score, 3.0 / 5.0);
    assert_eq!(
        grade.evidence,
        r#"found: Bug, Fix; missing sections: Why it happens; missing python code block in "Fix""#
    );
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let e = grader(json!({ "sections": ["Bug"], "in_order": false })).unwrap_err();
    assert_eq!(e.kind(), "options");
    assert_eq!(
        e.to_string(),
        "plugin `grader-sections` rejected its options: option `in_order`: unknown option `in_order` (did you mean `in-order`?)"
    );
    let e = grader(json!({ "sections": ["Bug"], "code-block-in": "Fix" })).unwrap_err();
    assert_eq!(
        e.to_string(),
        "plugin `grader-sections` rejected its options: option `code-block-in`: \"Fix\" is not one of `sections`: Bug"
    );
}
