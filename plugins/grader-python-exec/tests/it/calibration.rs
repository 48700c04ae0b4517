//! Calibration through the real graders: every reference answer of every task under
//! `configs/tasks/`, graded by `grader-sections` and `grader-python-exec` (both cdylibs,
//! loaded through the plugin host; the harness runs in the sandbox) with the options that
//! `configs/concurrency-suite.toml` gives the task. Each answer must get its manifest's
//! verdict under the all-pass rule, for its manifest's reason: the first failing required
//! check (the first `FAIL` of the execution evidence), every failing required check when
//! `fails` lists them, exactly the failing advisory checks its `advisory` lists (a pass may
//! have some: `passed; advisory name: ...`), or the grader-level reason (`no-code-block`,
//! `syntax-error`). The test prints, per task and answer, the failing required and advisory
//! checks separately.
//!
//! `configs/tasks/calibrate.py` checks the same manifests without the sandbox; this test is
//! the proof that the graders as shipped agree.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use llmbench_plugin_host::{Plugin, PluginGrader};
use llmbench_plugin_sdk::core::{Grade, GradeOutcome, Grader, PluginContext};
use serde::Deserialize;

use crate::{library, request};

/// The suite whose grader options the answers are graded with (relative to `configs/`).
const SUITE: &str = "concurrency-suite.toml";
/// The library every harness imports, as the configs list it in `extra-files`.
const HARNESSLIB: &str = "tasks/harnesslib.py";
/// Gradings in flight at once.
const CONCURRENCY: usize = 4;

/// A task's `calibration/manifest.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    answer: Vec<Answer>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    file: String,
    expect: Expect,
    reason: Option<String>,
    fails: Option<Vec<String>>,
    /// The advisory checks that fail (none when absent).
    advisory: Option<Vec<String>>,
    #[expect(
        dead_code,
        reason = "for people; read only to keep deny_unknown_fields"
    )]
    why: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Expect {
    Pass,
    Fail,
}

/// One task's graders, created with the suite's options.
#[derive(Debug)]
struct TaskGraders {
    sections: PluginGrader,
    exec: PluginGrader,
}

/// One answer to grade.
#[derive(Debug)]
struct Job {
    task: String,
    answer: Answer,
    text: String,
    graders: Arc<TaskGraders>,
}

pub(crate) fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// `grader-sections`' cdylib (found as [`library`] is); this crate's dev-dependency on it
/// makes `cargo test` build it.
fn sections_plugin() -> Plugin {
    let path = llmbench_testsupport::built_plugin("grader-sections");
    let plugin = llmbench_plugin_host::load(&path)
        .unwrap_or_else(|e| panic!("cannot load {}: {e}", path.display()));
    assert_eq!(plugin.meta().name, "grader-sections");
    plugin
}

/// The options of the task's grader `plugin` in the suite, as JSON.
pub(crate) fn suite_options(suite: &toml::Table, task: &str, plugin: &str) -> serde_json::Value {
    let graders = suite
        .get("tasks")
        .and_then(|t| t.get(task))
        .and_then(|t| t.get("graders"))
        .and_then(toml::Value::as_array)
        .unwrap_or_else(|| panic!("{SUITE} has no graders for task `{task}`"));
    let rule = suite["tasks"][task]
        .get("verdict")
        .and_then(|v| v.get("rule"))
        .and_then(toml::Value::as_str);
    assert_eq!(
        rule,
        Some("all-pass"),
        "{SUITE}: task `{task}`'s verdict rule"
    );
    let mut found = graders
        .iter()
        .filter(|g| g.get("plugin").and_then(toml::Value::as_str) == Some(plugin));
    let grader = found
        .next()
        .unwrap_or_else(|| panic!("{SUITE}: task `{task}` has no `{plugin}` grader"));
    assert!(
        found.next().is_none(),
        "{SUITE}: task `{task}` has two `{plugin}` graders"
    );
    serde_json::to_value(
        grader
            .get("options")
            .cloned()
            .unwrap_or(toml::Value::Table(toml::Table::new())),
    )
    .expect("toml options convert to JSON")
}

/// Every task with a calibration manifest: its name, its graders and its answers.
fn load_jobs() -> Vec<Job> {
    let configs = configs();
    let suite: toml::Table =
        toml::from_str(&read(&configs.join(SUITE))).unwrap_or_else(|e| panic!("{SUITE}: {e}"));
    let sections = sections_plugin();
    let exec = llmbench_plugin_host::load(&library()).expect("grader-python-exec loads");
    let context = PluginContext {
        config_dir: configs.clone(),
        instance_name: "calibration".into(),
        api_key: None,
        ..Default::default()
    };

    let mut tasks: Vec<PathBuf> = std::fs::read_dir(configs.join("tasks"))
        .expect("configs/tasks is a directory")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.join("calibration/manifest.toml").is_file())
        .collect();
    tasks.sort();
    assert!(
        tasks.len() >= 6,
        "only {} tasks with calibration answers",
        tasks.len()
    );

    let mut jobs = Vec::new();
    for dir in tasks {
        let task = dir.file_name().unwrap().to_string_lossy().into_owned();
        let exec_options = suite_options(&suite, &task, "grader-python-exec");
        assert_eq!(
            exec_options["code-in-section"], "Fix",
            "{SUITE}: task `{task}`"
        );
        assert_eq!(
            exec_options["harness"],
            format!("tasks/{task}/harness.py"),
            "{SUITE}: task `{task}`"
        );
        assert!(
            exec_options["extra-files"]
                .as_array()
                .is_some_and(|files| files.iter().any(|f| f == HARNESSLIB)),
            "{SUITE}: task `{task}`'s grader-python-exec does not list {HARNESSLIB} in extra-files"
        );
        let graders = Arc::new(TaskGraders {
            sections: PluginGrader::new(
                &sections,
                &suite_options(&suite, &task, "grader-sections"),
                &context,
            )
            .unwrap_or_else(|e| panic!("task `{task}`: grader-sections: {e}")),
            exec: PluginGrader::new(&exec, &exec_options, &context)
                .unwrap_or_else(|e| panic!("task `{task}`: grader-python-exec: {e}")),
        });
        let manifest_path = dir.join("calibration/manifest.toml");
        let manifest: Manifest = toml::from_str(&read(&manifest_path))
            .unwrap_or_else(|e| panic!("{}: {e}", manifest_path.display()));
        assert!(
            manifest.answer.iter().any(|a| a.expect == Expect::Pass)
                && manifest.answer.iter().any(|a| a.expect == Expect::Fail),
            "{}: needs a correct and a wrong answer",
            manifest_path.display()
        );
        for answer in manifest.answer {
            let text = read(&dir.join("calibration").join(&answer.file));
            jobs.push(Job {
                task: task.clone(),
                answer,
                text,
                graders: graders.clone(),
            });
        }
    }
    jobs
}

/// What an execution grade's evidence lists: the failing required checks (`FAIL name: ...`),
/// the failing advisory ones (`advisory name: ...`) and the count of passing ones
/// (`ok name: ...`), `; `-separated.
#[derive(Debug, Default)]
struct Listed<'a> {
    fails: Vec<&'a str>,
    advisory: Vec<&'a str>,
    oks: usize,
}

fn listed(evidence: &str) -> Listed<'_> {
    fn name<'a>(mark: &str, part: &'a str) -> Option<&'a str> {
        part.strip_prefix(mark)
            .map(|rest| rest.split_once(':').map_or(rest, |(name, _)| name))
    }
    let mut out = Listed::default();
    for part in evidence.split("; ") {
        if let Some(n) = name("FAIL ", part) {
            out.fails.push(n);
        } else if let Some(n) = name("advisory ", part) {
            out.advisory.push(n);
        } else if part.starts_with("ok ") {
            out.oks += 1;
        }
    }
    out
}

fn sorted<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = names.into_iter().collect();
    v.sort_unstable();
    v
}

/// What is wrong with the grades of `job`, as lines; empty when they are as expected.
fn judge(job: &Job, sections: &Grade, exec: &Grade) -> Vec<String> {
    let mut wrong = Vec::new();
    let verdict = if sections.outcome == GradeOutcome::Pass && exec.outcome == GradeOutcome::Pass {
        Expect::Pass
    } else {
        Expect::Fail
    };
    if verdict != job.answer.expect {
        wrong.push(format!(
            "verdict {verdict:?}, expected {:?}",
            job.answer.expect
        ));
    }
    let reason = job.answer.reason.as_deref();
    let sections_should_pass = reason != Some("no-code-block");
    if (sections.outcome == GradeOutcome::Pass) != sections_should_pass {
        wrong.push(format!(
            "grader-sections: {:?}, expected {}",
            sections.outcome,
            if sections_should_pass {
                "a pass"
            } else {
                "a fail"
            }
        ));
    }
    let shown = listed(&exec.evidence);
    let want_advisory = sorted(job.answer.advisory.iter().flatten().map(String::as_str));
    match (job.answer.expect, reason) {
        (Expect::Pass, _) => {
            if sorted(shown.advisory.iter().copied()) != want_advisory {
                wrong.push(format!(
                    "failing advisory checks {:?}, expected {want_advisory:?}",
                    shown.advisory
                ));
            }
            if want_advisory.is_empty() && exec.score != 1.0 {
                wrong.push(format!(
                    "grader-python-exec score {}, expected 1",
                    exec.score
                ));
            }
            let shows_advisory = exec.score < 1.0 && exec.evidence.starts_with("passed; advisory ");
            if !want_advisory.is_empty() && !shows_advisory {
                wrong.push(format!(
                    "a pass with advisory failures: score {} (expected under 1), evidence not `passed; advisory ...`",
                    exec.score
                ));
            }
        }
        (Expect::Fail, None) => wrong.push("the manifest gives no reason for a fail".into()),
        (Expect::Fail, Some("no-code-block")) => {
            if !sections.evidence.contains("code block in \"Fix\"") {
                wrong.push("grader-sections' evidence does not name the missing block".into());
            }
            if !exec
                .evidence
                .starts_with("no python code block in section \"Fix\"")
            {
                wrong.push("grader-python-exec did not report no-code-block".into());
            }
        }
        (Expect::Fail, Some("syntax-error")) => {
            if !exec
                .evidence
                .starts_with("syntax error in solution.py line ")
            {
                wrong.push("grader-python-exec did not report syntax-error".into());
            }
        }
        (Expect::Fail, Some(check)) => {
            if shown.fails.first() != Some(&check) {
                wrong.push(format!(
                    "first failing required check {:?}, expected {check:?}",
                    shown.fails.first()
                ));
            }
            if let Some(expected) = &job.answer.fails {
                let got = sorted(shown.fails.iter().copied());
                let expected = sorted(expected.iter().map(String::as_str));
                if got != expected {
                    wrong.push(format!(
                        "failing required checks {got:?}, expected {expected:?}"
                    ));
                }
            }
            if sorted(shown.advisory.iter().copied()) != want_advisory {
                wrong.push(format!(
                    "failing advisory checks {:?}, expected {want_advisory:?}",
                    shown.advisory
                ));
            }
            // Required checks weigh 1, advisory ones 0.5: a passing check earns something,
            // a failing required one keeps the score under 1.
            if exec.score >= 1.0 || (shown.oks > 0) != (exec.score > 0.0) {
                wrong.push(format!(
                    "score {} does not fit the evidence's {} passing checks",
                    exec.score, shown.oks
                ));
            }
        }
    }
    wrong
}

/// One line per answer: its verdict, then its failing required and advisory checks.
fn summary_line(job: &Job, sections: &Grade, exec: &Grade) -> String {
    let shown = listed(&exec.evidence);
    let verdict = if sections.outcome == GradeOutcome::Pass && exec.outcome == GradeOutcome::Pass {
        "pass"
    } else {
        "fail"
    };
    let list = |v: &[&str]| {
        if v.is_empty() {
            "none".to_owned()
        } else {
            v.join(", ")
        }
    };
    format!(
        "{:<24} {:<46} {verdict} (score {:.2}); required failing: {}; advisory failing: {}",
        job.task,
        job.answer.file,
        exec.score,
        list(&shown.fails),
        list(&shown.advisory)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_calibration_answer_gets_its_verdict_for_its_reason() {
    let jobs = load_jobs();
    let count = jobs.len();
    let semaphore = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let mut running = tokio::task::JoinSet::new();
    for (index, job) in jobs.into_iter().enumerate() {
        let semaphore = semaphore.clone();
        running.spawn(async move {
            let _permit = semaphore.acquire().await.expect("the semaphore stays open");
            let req = request(&job.text);
            let sections = job.graders.sections.grade(&req).await;
            let exec = job.graders.exec.grade(&req).await;
            (index, job, sections, exec)
        });
    }
    let mut results = Vec::with_capacity(count);
    while let Some(done) = running.join_next().await {
        results.push(done.expect("a grading task panicked"));
    }
    results.sort_by_key(|r| r.0);

    let mut report = String::new();
    let mut summary = String::new();
    let mut mismatches = 0;
    for (_, job, sections, exec) in &results {
        let (sections, exec) = match (sections, exec) {
            (Ok(s), Ok(e)) => (s, e),
            (s, e) => {
                mismatches += 1;
                let _ = writeln!(
                    report,
                    "{}/{}: a grader erred: sections {:?}; exec {:?}",
                    job.task,
                    job.answer.file,
                    s.as_ref().err(),
                    e.as_ref().err()
                );
                continue;
            }
        };
        let _ = writeln!(summary, "{}", summary_line(job, sections, exec));
        let wrong = judge(job, sections, exec);
        if !wrong.is_empty() {
            mismatches += 1;
            let _ = writeln!(
                report,
                "{}/{}: {}\n    sections: {}\n    exec: {}",
                job.task,
                job.answer.file,
                wrong.join("; "),
                sections.evidence,
                exec.evidence
            );
        }
    }
    show(&summary);
    assert!(count >= 40, "only {count} calibration answers");
    assert_eq!(
        mismatches, 0,
        "{mismatches} of {count} calibration answers graded wrongly:\n{report}"
    );
}

/// The per-answer summary, on stderr (shown with `cargo test -- --nocapture`, and kept in the
/// test's output when it fails).
#[expect(
    clippy::print_stderr,
    reason = "the calibration table is the test's report"
)]
fn show(summary: &str) {
    eprintln!("calibration (required and advisory checks):\n{summary}");
}
