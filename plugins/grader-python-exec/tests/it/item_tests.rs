//! Item-test mode with ordinary answers: the item's `test`, `entry-point` and `prompt` come
//! per request (rendered in the plugin from the item's variables); a right answer passes with the count of calls, a
//! wrong one fails naming the test line, the value returned or the exception raised.

use llmbench_plugin_sdk::core::{Grade, GradeKind, GradeOutcome, Grader};
use serde_json::json;
use std::collections::BTreeMap;

use crate::{item_grader, item_request};

/// The wall-clock limit of these graders: generous, so that a loaded machine (these tests
/// run in parallel, each with its sandbox) does not turn a verdict into a timeout; the tests
/// of timeouts create their own grader with a short limit.
const TIMEOUT_SECONDS: u64 = 30;

/// The options as a config gives them: templates rendered per item.
pub(crate) fn templates() -> serde_json::Value {
    json!({
        "test": "{{test}}",
        "entry-point": "{{entry_point}}",
        "prompt": "{{prompt}}",
        "timeout-seconds": TIMEOUT_SECONDS,
    })
}

/// An item's variables, which the plugin renders `templates()` from for each request.
pub(crate) fn item_vars(test: &str, entry: &str, prompt: &str) -> BTreeMap<String, String> {
    [("test", test), ("entry_point", entry), ("prompt", prompt)]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// One item's rendered options (what the runner checks before the run).
pub(crate) fn rendered(test: &str, entry: &str, prompt: &str) -> serde_json::Value {
    json!({ "test": test, "entry-point": entry, "prompt": prompt, "timeout-seconds": TIMEOUT_SECONDS })
}

/// A HumanEval-shaped item: a prompt that ends after the docstring, a test with `check`.
pub(crate) const PROMPT: &str = "import math\n\n\ndef add(x: int, y: int):\n    \"\"\"Add two numbers.\n    >>> add(2, 3)\n    5\n    \"\"\"\n";
pub(crate) const TEST: &str = "\n\nMETADATA = {}\n\n\ndef check(candidate):\n    assert candidate(0, 1) == 1\n    assert candidate(2, 3) == 5\n    assert candidate(7, -7) == 0, \"opposites cancel\"\n";

pub(crate) async fn grade_item(text: &str) -> Grade {
    let g = item_grader(templates());
    g.grade(&item_request(text, item_vars(TEST, "add", PROMPT)))
        .await
        .unwrap()
}

#[track_caller]
pub(crate) fn assert_fail(grade: &Grade, evidence: &str) {
    assert_eq!(grade.outcome, GradeOutcome::Fail, "{}", grade.evidence);
    assert_eq!(grade.score, 0.0);
    assert_eq!(grade.kind, GradeKind::Execution);
    assert_eq!(grade.evidence, evidence);
}

#[track_caller]
fn assert_pass(grade: &Grade, calls: usize) {
    assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    assert_eq!(grade.score, 1.0);
    assert_eq!(grade.kind, GradeKind::Execution);
    assert_eq!(
        grade.evidence,
        format!("all assertions of check(add) passed ({calls} calls)")
    );
}

#[tokio::test]
async fn a_whole_function_a_body_and_a_prompt_plus_body_pass() {
    // A chat model's answer: the whole function in a python block.
    let whole = "Sure:\n```python\ndef add(x, y):\n    return x + y\n```\nDone.";
    assert_pass(&grade_item(whole).await, 3);
    // A base model's completion of the prompt: the body alone, no fence.
    assert_pass(&grade_item("    return x + y\n").await, 3);
    // The prompt repeated with the body, fenced, untagged.
    let repeated = format!("```\n{PROMPT}    return x + y\n```");
    assert_pass(&grade_item(&repeated).await, 3);
}

#[tokio::test]
async fn the_block_defining_the_entry_point_runs_not_a_later_example() {
    // A chat model's answer: the function, then a usage example (which, run alone after the
    // prompt, would leave `add` a docstring that returns None).
    let answer = "Here is the function:\n```python\ndef add(x, y):\n    return x + y\n```\nExample:\n```python\nprint(add(2, 3))  # 5\n```\n";
    assert_pass(&grade_item(answer).await, 3);
    // Without a prompt, the example alone would define no `add` at all.
    let g = item_grader(templates());
    let grade = g
        .grade(&item_request(answer, item_vars(TEST, "add", "")))
        .await
        .unwrap();
    assert_pass(&grade, 3);
}

#[tokio::test]
async fn a_wrong_answer_fails_naming_the_test_line_and_the_value() {
    let g = grade_item("```python\ndef add(x, y):\n    return x * y\n```").await;
    assert_fail(
        &g,
        "assertion failed at test line 7: assert candidate(0, 1) == 1; the last call add(0, 1) returned 0",
    );
    let g = grade_item("```python\ndef add(x, y):\n    return x + y if x != 7 else 1\n```").await;
    assert_fail(
        &g,
        "assertion failed at test line 9: assert candidate(7, -7) == 0, \"opposites cancel\" (opposites cancel); the last call add(7, -7) returned 1",
    );
}

#[tokio::test]
async fn exceptions_and_unrunnable_code_name_the_reason() {
    let g = grade_item("```python\ndef add(x, y):\n    return x / 0\n```").await;
    assert_fail(
        &g,
        "add(0, 1) raised ZeroDivisionError: division by zero (line 2 of the answer's code) at test line 7: assert candidate(0, 1) == 1",
    );
    // A message that is not Unicode (a lone surrogate) is escaped, not an error.
    let g = grade_item("```python\ndef add(x, y):\n    raise ValueError('\\udc80 bad')\n```").await;
    assert_fail(
        &g,
        "add(0, 1) raised ValueError: \\udc80 bad (line 2 of the answer's code) at test line 7: assert candidate(0, 1) == 1",
    );
    let g = grade_item("```python\ndef add(x, y):\n    return x +\n```").await;
    assert_fail(
        &g,
        "syntax error in the answer's code line 2: invalid syntax",
    );
    let g = grade_item("I think the answer is to add them.").await;
    assert_fail(
        &g,
        "syntax error in the answer's code line 1: invalid syntax (the answer has no code block: its whole text was run as code)",
    );
    let g = grade_item("```python\nimport numpy\ndef add(x, y):\n    return x + y\n```").await;
    assert_fail(
        &g,
        "loading the answer's code raised ModuleNotFoundError: No module named 'numpy' (line 1 of the answer's code)",
    );
    let g = grade_item("```python\ndef add(x, y):\n    return (i for i in [x + y])\n```").await;
    assert!(
        g.evidence.starts_with(
            "add(0, 1) returned a value that is not plain data (numbers, strings, bytes, lists, tuples, dicts, sets, booleans, None): <generator object add.<locals>.<genexpr> at 0x"
        ) && g.evidence.ends_with(" at test line 7: assert candidate(0, 1) == 1"),
        "{}",
        g.evidence
    );
    assert_eq!(g.outcome, GradeOutcome::Fail);
    let g = grade_item("```js\nfunction add(x, y) { return x + y }\n```").await;
    assert_fail(
        &g,
        "no python code block in the answer (found: js block at line 1)",
    );
}

#[tokio::test]
async fn an_endless_answer_times_out() {
    let g = item_grader(json!({ "test": TEST, "entry-point": "add", "timeout-seconds": 2 }));
    let grade = g
        .grade(&crate::request(
            "```python\ndef add(x, y):\n    while True:\n        pass\n```",
        ))
        .await
        .unwrap();
    assert_fail(&grade, "timed out after 2 s");
}

#[tokio::test]
async fn the_test_may_use_the_prompts_helpers_and_literal_options_need_no_rendering() {
    // As HumanEval/38: the test encodes with the prompt's helper, the answer decodes.
    let prompt = "def encode(s: str):\n    return s[::-1].upper()\n\n\ndef decode(s: str):\n    \"\"\"Undo encode.\"\"\"\n";
    let test = "import random\n\ndef check(candidate):\n    for _ in range(20):\n        s = ''.join(random.choice('abc') for _ in range(8))\n        assert candidate(encode(s)) == s\n";
    let g = item_grader(json!({ "test": test, "entry-point": "decode", "prompt": prompt }));
    let grade = g
        .grade(&crate::request("    return s[::-1].lower()\n"))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    assert_eq!(
        grade.evidence,
        "all assertions of check(decode) passed (20 calls)"
    );
    let grade = g
        .grade(&crate::request("    return s.lower()\n"))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert!(
        grade
            .evidence
            .starts_with("assertion failed at test line 6: assert candidate(encode(s)) == s; the last call decode('"),
        "{}",
        grade.evidence
    );
}

#[tokio::test]
async fn exceptions_the_test_expects_are_relayed_by_type() {
    let test = "def check(candidate):\n    try:\n        candidate(-1)\n    except ValueError:\n        pass\n    else:\n        raise AssertionError('no ValueError for -1')\n    assert candidate(4) == 2.0\n";
    let g = item_grader(json!({ "test": test, "entry-point": "root" }));
    let right = "```python\ndef root(x):\n    if x < 0:\n        raise ValueError('negative')\n    return x ** 0.5\n```";
    let grade = g.grade(&crate::request(right)).await.unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    let wrong = "```python\ndef root(x):\n    return abs(x) ** 0.5\n```";
    let grade = g.grade(&crate::request(wrong)).await.unwrap();
    assert_fail(
        &grade,
        "assertion failed at test line 7: raise AssertionError('no ValueError for -1') (no ValueError for -1); the last call root(-1) returned 1.0",
    );
}

#[tokio::test]
async fn items_that_cannot_be_checked_are_refused_or_errors() {
    let g = item_grader(templates());
    assert_eq!(g.check_item(&rendered(TEST, "add", PROMPT)).await, Ok(()));
    assert_eq!(
        g.check_item(&rendered("", "add", PROMPT)).await,
        Err("`test` is empty: the item has no test program".to_owned())
    );
    assert_eq!(
        g.check_item(&rendered(TEST, "add(x)", PROMPT)).await,
        Err("`entry-point` must be a Python identifier (the name of the function under test), not \"add(x)\"".to_owned())
    );
    // As created, the options are templates: without the item's variables they stay as
    // written, and there is no item.
    let e = g.grade(&crate::request("x")).await.unwrap_err();
    assert_eq!(
        e.message,
        "`entry-point` must be a Python identifier (the name of the function under test), not \"{{entry_point}}\""
    );
    // A test without `check`, or one that never calls the candidate: the item's fault.
    let answer = "```python\ndef add(x, y):\n    return x + y\n```";
    let e = g
        .grade(&item_request(answer, item_vars("x = 1\n", "add", PROMPT)))
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "the item cannot be checked: the item's test defines no `check(candidate)` function"
    );
    let e = g
        .grade(&item_request(
            answer,
            item_vars("def check(candidate):\n    pass\n", "add", PROMPT),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        e.message,
        "the item cannot be checked: check(add) never called the candidate: the item's test checks nothing"
    );
}

#[tokio::test]
async fn non_finite_floats_and_containers_cross_both_ways() {
    let test = "import math\n\ndef check(candidate):\n    assert candidate(float('inf')) == [float('inf')]\n    assert candidate(-math.inf) == [-math.inf]\n    assert math.isnan(candidate(math.nan)[0])\n    assert candidate({'a': (1, {2}), b'k': None}) == [{'a': (1, {2}), b'k': None}]\n    assert candidate(x=1.5) == [1.5]\n";
    let g = item_grader(json!({ "test": test, "entry-point": "wrap" }));
    let grade = g
        .grade(&crate::request(
            "```python\ndef wrap(x):\n    return [x]\n```",
        ))
        .await
        .unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    assert_eq!(
        grade.evidence,
        "all assertions of check(wrap) passed (5 calls)"
    );
}
