//! Load the plugin, create graders, and grade through the ABI with per-item options, as the
//! runner sends them.

use std::collections::BTreeMap;

use llmbench_plugin_host::{LoadError, PluginGrader};
use llmbench_plugin_sdk::abi::PluginKind;
use llmbench_plugin_sdk::core::{
    Completion, Grade, GradeOutcome, GradeRequest, Grader, PluginContext, StopReason, Timings,
    Usage,
};
use serde_json::{Value, json};

fn grader(options: Value) -> Result<PluginGrader, LoadError> {
    let plugin = llmbench_plugin_host::load(&crate::library()).expect("plugin loads");
    assert_eq!(plugin.meta().kind, PluginKind::Grader);
    assert_eq!(plugin.meta().name, "grader-match");
    PluginGrader::new(&plugin, &options, &PluginContext::default())
}

fn request(text: &str, vars: &[(&str, &str)], options: Option<Value>) -> GradeRequest {
    GradeRequest {
        task: "reference".into(),
        item: "item".into(),
        vars: vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<BTreeMap<_, _>>(),
        options,
        completion: Completion {
            text: text.into(),
            stop_reason: StopReason::EndTurn,
            usage: Usage::default(),
            timings: Timings::default(),
            response_model: None,
        },
    }
}

async fn grade(g: &PluginGrader, request: GradeRequest) -> Grade {
    g.grade(&request).await.expect("the grader runs")
}

/// `{ mode = "numeric", expected = "{{ expected }}" }`: each item's value is rendered.
#[tokio::test]
async fn numeric_with_per_item_expected() {
    let g = grader(json!({ "mode": "numeric", "expected": "{{ expected }}" })).unwrap();
    let rendered = |e: &str| Some(json!({ "mode": "numeric", "expected": e }));
    let pass = grade(
        &g,
        request("The total is $1,200.00.", &[], rendered("1200")),
    )
    .await;
    assert_eq!(pass.outcome, GradeOutcome::Pass);
    assert_eq!(pass.score, 1.0);
    assert_eq!(
        pass.evidence,
        r#"extracted "$1,200.00" (last number) = expected "1200""#
    );
    let fail = grade(&g, request("The total is $1,150.", &[], rendered("1200"))).await;
    assert_eq!(fail.outcome, GradeOutcome::Fail);
    assert_eq!(fail.score, 0.0);
    assert_eq!(
        fail.evidence,
        r#"extracted "$1,150" (last number) != expected "1200""#
    );
    // An item whose value is no number: an error grade, not a verdict on the answer.
    let error = grade(&g, request("12", &[], rendered("twelve"))).await;
    assert_eq!(error.outcome, GradeOutcome::Error);
    assert_eq!(
        error.evidence,
        r#"this item's options are invalid: option `expected`: "twelve" is not a number"#
    );
}

/// `{ mode = "choice" }` with no `expected`: the item's `expected` variable is used.
#[tokio::test]
async fn choice_from_the_item_variable() {
    let g = grader(json!({ "mode": "choice" })).unwrap();
    let pass = grade(
        &g,
        request("The answer is (b).", &[("expected", "B")], None),
    )
    .await;
    assert_eq!(pass.outcome, GradeOutcome::Pass, "{}", pass.evidence);
    let ambiguous = grade(&g, request("A or C", &[("expected", "A")], None)).await;
    assert_eq!(ambiguous.outcome, GradeOutcome::Fail);
    assert_eq!(
        ambiguous.evidence,
        r#"ambiguous: the answer names A and C ("A or C")"#
    );
    let missing = grade(&g, request("B", &[], None)).await;
    assert_eq!(missing.outcome, GradeOutcome::Error);
    assert_eq!(
        missing.evidence,
        "nothing to compare with: no `expected` option and the item has no `expected` variable"
    );
}

/// `{ mode = "json", schema = "{{schema}}" }`: the schema per item, the reference from the
/// item's `expected` (the config passes object values as compact JSON text).
#[tokio::test]
async fn json_with_per_item_schema_and_expected() {
    let g = grader(json!({ "mode": "json", "schema": "{{schema}}" })).unwrap();
    let schema = r#"{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}"#;
    let expected = r#"{"name":"Alice Martin","age":34}"#;
    let vars = [("expected", expected), ("schema", schema)];
    let options = Some(json!({ "mode": "json", "schema": schema }));
    let fenced = "Here is the JSON:\n```json\n{\"age\": 34, \"name\": \"Alice Martin\"}\n```\n";
    let pass = grade(&g, request(fenced, &vars, options.clone())).await;
    assert_eq!(pass.outcome, GradeOutcome::Pass, "{}", pass.evidence);
    assert_eq!(
        pass.evidence,
        "JSON (last json block) valid against the schema and equal to expected"
    );
    let wrong_type = r#"{"name": "Alice Martin", "age": "34"}"#;
    let fail = grade(&g, request(wrong_type, &vars, options.clone())).await;
    assert_eq!(fail.outcome, GradeOutcome::Fail);
    assert_eq!(
        fail.evidence,
        "JSON (whole answer) does not match the schema: at '/age': want integer, but got string"
    );
    let differs = r#"{"name": "Alice", "age": 34}"#;
    let fail = grade(&g, request(differs, &vars, options)).await;
    assert_eq!(
        fail.evidence,
        r#"JSON (whole answer) differs from expected: at /name: "Alice" != "Alice Martin""#
    );
}

/// `f1`: the score crosses the boundary, not only the outcome.
#[tokio::test]
async fn f1_score_crosses_the_boundary() {
    let g = grader(json!({ "mode": "f1", "expected": "the cat sat" })).unwrap();
    let g1 = grade(&g, request("a cat sat down", &[], None)).await;
    assert_eq!(g1.outcome, GradeOutcome::Pass);
    assert!((g1.score - 0.8).abs() < 1e-12, "{}", g1.score);
}

#[test]
fn bad_options_are_refused_at_create_with_the_option_named() {
    let message = grader(json!({ "mode": "numeric", "expected": "abc" }))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(r#"option `expected`: "abc" is not a number"#),
        "{message}"
    );
    let message = grader(json!({ "mode": "equls" })).unwrap_err().to_string();
    assert!(message.contains("did you mean `equals`?"), "{message}");
}
