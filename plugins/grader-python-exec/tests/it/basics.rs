//! Ordinary answers and options: a correct fix passes with the harness's evidence, wrong or
//! unrunnable answers fail with the reason, bad options are refused.

use llmbench_plugin_sdk::core::{GradeKind, GradeOutcome, Grader};
use serde_json::json;

use crate::{answer, fixtures, grader, request, try_grader};

fn fixture_answer(name: &str) -> String {
    std::fs::read_to_string(fixtures().join("answers").join(name)).unwrap()
}

#[tokio::test]
async fn a_correct_fix_passes_with_the_observations() {
    let g = grader(json!({ "code-in-section": "Fix" }));
    let grade = g
        .grade(&request(&fixture_answer("correct.md")))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    assert_eq!(grade.score, 1.0);
    assert_eq!(grade.kind, GradeKind::Execution);
    assert!(
        grade.evidence.starts_with(
            "ok signature: parameters: key, fetcher; ok single_fetch: 200 concurrent callers caused 1 fetch; ok same_value: callers saw 1 distinct value(s); ok cached: a later call was served from cache; ok not_serialized: 10 distinct keys took 0."
        ),
        "{}",
        grade.evidence
    );
    assert!(
        grade.evidence.ends_with(
            "ok failure_not_cached: 5 of 5 waiters saw the error; a later call returned 'fresh'"
        ),
        "{}",
        grade.evidence
    );
}

#[tokio::test]
async fn the_original_bug_fails_with_failing_checks_first() {
    let g = grader(json!({}));
    let grade = g
        .grade(&request(&fixture_answer("original.md")))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert!((grade.score - 2.0 / 6.0).abs() < 1e-9, "{}", grade.score);
    assert!(
        grade.evidence.starts_with(
            "FAIL single_fetch: 200 concurrent callers caused 200 fetches; FAIL same_value: callers saw 200 distinct value(s); FAIL cached: "
        ),
        "{}",
        grade.evidence
    );
    assert!(
        grade.evidence.contains(
            "FAIL failure_not_cached: 1 of 5 waiters saw the error; a later call returned 'fresh'; ok signature: parameters: key, fetcher; ok not_serialized: "
        ),
        "{}",
        grade.evidence
    );
}

#[tokio::test]
async fn a_missing_code_block_fails_with_the_reason() {
    let g = grader(json!({ "code-in-section": "Fix" }));
    let grade = g
        .grade(&request(
            "## Bug\nrace\n## Why it happens\nawait\n## Fix\nWrap the fetch in a lock.\n",
        ))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert_eq!(grade.score, 0.0);
    assert_eq!(grade.kind, GradeKind::Execution);
    assert_eq!(grade.evidence, "no python code block in section \"Fix\"");

    let g = grader(json!({}));
    let grade = g.grade(&request("Use a lock.")).await.unwrap();
    assert_eq!(grade.evidence, "no python code block in the answer");
}

#[tokio::test]
async fn a_syntax_error_fails_with_its_line() {
    let g = grader(json!({}));
    let grade = g
        .grade(&request(&answer(
            "import asyncio\n\nasync def get_or_fetch(key, fetcher:\n    return await fetcher(key)",
        )))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert_eq!(grade.score, 0.0);
    assert!(
        grade
            .evidence
            .starts_with("syntax error in solution.py line 3: "),
        "{}",
        grade.evidence
    );
}

#[tokio::test]
async fn import_errors_and_crashes_fail_with_the_exception() {
    let g = grader(json!({}));
    let grade = g
        .grade(&request(&answer("import aiohttp_not_installed")))
        .await
        .unwrap();
    assert_eq!(
        grade.evidence,
        "import error (exit code 1): ModuleNotFoundError: No module named 'aiohttp_not_installed'"
    );
    let grade = g
        .grade(&request(&answer("print('hello')\n1 / 0")))
        .await
        .unwrap();
    assert_eq!(
        grade.evidence,
        "crashed (exit code 1): ZeroDivisionError: division by zero"
    );
    assert_eq!(grade.outcome, GradeOutcome::Fail);
}

#[tokio::test]
async fn a_forged_exit_without_a_report_fails() {
    let g = grader(json!({}));
    let grade = g
        .grade(&request(&answer(
            "import os\nprint('looks fine', flush=True)\nos._exit(0)",
        )))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert!(
        grade
            .evidence
            .starts_with("no JSON report on the last line of stdout ("),
        "{}",
        grade.evidence
    );
    assert!(
        grade.evidence.ends_with("last line: \"looks fine\")"),
        "{}",
        grade.evidence
    );
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let e = try_grader(json!({ "timeout": 3 })).unwrap_err();
    assert_eq!(e.kind(), "create");
    let message = e.to_string();
    assert!(
        message.starts_with(
            "plugin `grader-python-exec` rejected its options: unknown field `timeout`, expected one of"
        ),
        "{message}"
    );
    let message = try_grader(json!({ "harness": "no-such-harness.py" }))
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("cannot read the harness ")
            && message.contains("tests/fixtures/no-such-harness.py: No such file or directory"),
        "{message}"
    );
}

#[test]
fn a_missing_interpreter_is_refused() {
    let message = try_grader(json!({ "python": "/nonexistent/python3" }))
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "plugin `grader-python-exec` rejected its options: cannot run the python interpreter `/nonexistent/python3`: No such file or directory (os error 2)"
    );
}

#[tokio::test]
async fn extra_files_sit_next_to_the_harness() {
    let g = grader(json!({ "extra-files": ["answers/correct.md"] }));
    let grade = g
        .grade(&request(&answer(
            "import os\nraise SystemExit('files: ' + ', '.join(sorted(os.listdir('.'))) + ' in ' + os.getcwd())",
        )))
        .await
        .unwrap();
    assert_eq!(
        grade.evidence,
        "crashed (exit code 1): files: correct.md, harness.py, solution.py in /work"
    );
}
