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
            "ok imports: solution.py imports and defines `get_or_fetch`; ok signature: `get_or_fetch` keeps the signature `async def get_or_fetch(key, fetcher)`; ok single_fetch: 200 concurrent callers caused 1 fetch; ok same_value: callers saw 1 distinct value(s); ok cached: a later call was served from cache; ok not_serialized: 10 distinct keys took 0."
        ),
        "{}",
        grade.evidence
    );
    assert!(
        grade.evidence.ends_with(
            "ok failure_not_cached: 5 of 5 waiters saw the error; a later call returned a fresh value; ok failure_shared: 5 of 5 waiters saw the failed fetch's error"
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
    // 7 required checks (weight 1), 1 advisory (weight 0.5): 5 of 7.5 earned.
    assert!((grade.score - 5.0 / 7.5).abs() < 1e-9, "{}", grade.score);
    assert!(
        grade.evidence.starts_with(
            "FAIL single_fetch: 200 concurrent callers caused 200 fetches; FAIL same_value: callers saw 200 distinct value(s), 0 raised, 0 pending; advisory failure_shared: 1 of 5 waiters saw the failed fetch's error; ok imports: "
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
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised ModuleNotFoundError: No module named 'aiohttp_not_installed' (solution.py line 1); FAIL signature: not run: the solution did not import; "
        ),
        "{}",
        grade.evidence
    );
    assert_eq!(grade.score, 0.0);
    let grade = g
        .grade(&request(&answer("print('hello')\n1 / 0")))
        .await
        .unwrap();
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised ZeroDivisionError: division by zero (solution.py line 2); "
        ),
        "{}",
        grade.evidence
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
        grade.evidence.starts_with(
            "FAIL imports: the answer's process exited with status 0 (its last output: looks fine) while importing solution.py; "
        ),
        "{}",
        grade.evidence
    );
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    // A misspelt key is an option error (`check_options`), named with a suggestion.
    let e = try_grader(json!({ "timeout": 3 })).unwrap_err();
    assert_eq!(e.kind(), "options");
    assert_eq!(
        e.to_string(),
        "plugin `grader-python-exec` rejected its options: option `timeout`: unknown option `timeout` (did you mean `timeout-seconds`?)"
    );
    // A file the options name is looked up by `check_options` too, and named at its option.
    let e = try_grader(json!({ "harness": "no-such-harness.py" })).unwrap_err();
    assert_eq!(e.kind(), "options");
    let message = e.to_string();
    assert!(
        message.contains("option `harness`: no file at ")
            && message.ends_with("tests/fixtures/no-such-harness.py"),
        "{message}"
    );
    // A device is refused before anything is read from it.
    let e = try_grader(json!({ "harness": "/dev/zero" })).unwrap_err();
    assert_eq!(e.kind(), "options");
    assert_eq!(
        e.to_string(),
        "plugin `grader-python-exec` rejected its options: option `harness`: /dev/zero is not a regular file (a device, pipe or socket)"
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
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised SystemExit: files: correct.md, harness.py, harnesslib.py, solution.py in /work (solution.py line 2); "
        ),
        "{}",
        grade.evidence
    );
}

/// A per-key lock with a re-check: right for every required check of the fixture harness,
/// but the waiters of a failed fetch fetch again (the advisory `failure_shared`).
const PER_KEY_LOCK: &str = "import asyncio\nfrom collections import defaultdict\n\ncache = {}\n_locks = defaultdict(asyncio.Lock)\n\nasync def get_or_fetch(key, fetcher):\n    if key in cache:\n        return cache[key]\n    async with _locks[key]:\n        if key in cache:\n            return cache[key]\n        value = await fetcher(key)\n        cache[key] = value\n        return value";

#[tokio::test]
async fn an_advisory_failure_passes_with_a_lower_score_unless_strict() {
    let g = grader(json!({}));
    let grade = g.grade(&request(&answer(PER_KEY_LOCK))).await.unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    assert!((grade.score - 7.0 / 7.5).abs() < 1e-9, "{}", grade.score);
    assert!(
        grade
            .evidence
            .starts_with("passed; advisory failure_shared: 1 of 5 waiters saw the failed fetch's error; ok imports: "),
        "{}",
        grade.evidence
    );

    let strict = grader(json!({ "strict": true }));
    let grade = strict.grade(&request(&answer(PER_KEY_LOCK))).await.unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail, "{}", grade.evidence);
    assert!((grade.score - 7.0 / 8.0).abs() < 1e-9, "{}", grade.score);
    assert!(
        grade.evidence.starts_with(
            "FAIL failure_shared: 1 of 5 waiters saw the failed fetch's error; ok imports: "
        ),
        "{}",
        grade.evidence
    );
}
