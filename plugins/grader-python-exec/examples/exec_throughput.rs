//! Benchmark: sandboxed gradings per second at concurrency 2 and 4. A program, not a timed
//! test.
//!
//! ```text
//! cargo run -p grader-python-exec --example exec_throughput [-- GRADINGS [HARNESS ANSWER...]]
//! ```
//!
//! By default it grades with this crate's cache-stampede fixture harness (200 concurrent
//! asyncio callers, six checks): half the answers a correct fix, half the original bug, and
//! it exits non-zero if a grade is not what the answer deserves. Given a harness and answer
//! files (Markdown, code in a "Fix" section), for example the founding task's
//! `configs/tasks/race-condition/harness.py` and its calibration answers, it grades those
//! in turn and reports how many passed. A `harnesslib.py` in the harness's directory or the
//! one above (where `configs/tasks/` keeps it), else `configs/tasks/harnesslib.py`, goes next
//! to the harness, as the configs' `extra-files` put it. Prints one line per concurrency level.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use grader_python_exec::PythonExecGrader;
use llmbench_plugin_sdk::core::{GradeOutcome, PluginContext};
use serde_json::json;

const DEFAULT_GRADINGS: usize = 40;

#[tokio::main]
#[expect(clippy::print_stdout, reason = "a benchmark program reports on stdout")]
async fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let gradings: usize = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|e| format!("GRADINGS must be a number, not {n:?}: {e}"))?,
        None => DEFAULT_GRADINGS,
    };
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
    };
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let (harness, answers): (PathBuf, Vec<(String, Option<GradeOutcome>)>) = match args.next() {
        None => (
            fixtures.join("harness.py"),
            vec![
                (
                    read(&fixtures.join("answers/correct.md"))?,
                    Some(GradeOutcome::Pass),
                ),
                (
                    read(&fixtures.join("answers/original.md"))?,
                    Some(GradeOutcome::Fail),
                ),
            ],
        ),
        Some(harness) => {
            let answers = args
                .map(|a| read(Path::new(&a)).map(|text| (text, None)))
                .collect::<Result<Vec<_>, _>>()?;
            if answers.is_empty() {
                return Err("give at least one answer file after the harness".into());
            }
            (
                std::path::absolute(&harness).map_err(|e| format!("{harness}: {e}"))?,
                answers,
            )
        }
    };
    // The suite's own library is the fallback (the fixture harness uses it too).
    let suite_lib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/tasks");
    let extra_files: Vec<PathBuf> = [
        harness.parent(),
        harness.parent().and_then(Path::parent),
        Some(suite_lib.as_path()),
    ]
    .into_iter()
    .flatten()
    .map(|dir| dir.join("harnesslib.py"))
    .filter(|lib| lib.is_file())
    .take(1)
    .collect();
    let grader = Arc::new(
        PythonExecGrader::from_options(
            json!({ "harness": harness, "extra-files": extra_files, "code-in-section": "Fix" }),
            &PluginContext::default(),
        )
        .map_err(|e| e.to_string())?,
    );
    let answers = Arc::new(answers);

    // Warm the page cache and the interpreter's files.
    for (text, _) in answers.iter() {
        grader.check(text).await.map_err(|e| e.to_string())?;
    }

    println!(
        "exec_throughput: {gradings} sandboxed gradings per level, harness {}, {} answer(s)",
        harness.display(),
        answers.len()
    );
    for concurrency in [2usize, 4] {
        let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let start = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..gradings {
            let (grader, answers, semaphore) = (grader.clone(), answers.clone(), semaphore.clone());
            tasks.spawn(async move {
                let _permit = semaphore.acquire().await.expect("semaphore stays open");
                let (text, expected) = &answers[i % answers.len()];
                let grade = grader.check(text).await.map_err(|e| e.to_string())?;
                if let Some(expected) = expected
                    && grade.outcome != *expected
                {
                    return Err(format!(
                        "answer {} graded {:?}, expected {expected:?}: {}",
                        i % answers.len(),
                        grade.outcome,
                        grade.evidence
                    ));
                }
                Ok::<bool, String>(grade.outcome == GradeOutcome::Pass)
            });
        }
        let mut passed = 0;
        while let Some(done) = tasks.join_next().await {
            passed += usize::from(done.map_err(|e| e.to_string())??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        println!(
            "concurrency {concurrency}: {gradings} gradings in {elapsed:.2} s = {:.1} gradings/s ({passed} passed)",
            gradings as f64 / elapsed
        );
    }
    Ok(())
}
