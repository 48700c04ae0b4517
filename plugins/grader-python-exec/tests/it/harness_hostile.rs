//! Hostile answers against every task's harness in `configs/tasks/` (graded with the options
//! `configs/concurrency-suite.toml` gives the task, in the sandbox): each tries to
//! counterfeit its verdict and each gets a failed grade whose evidence says what was seen.
//!
//! - (a) it prints a well-formed all-pass report (the old stdout protocol's, and lines that
//!   look like nonce-prefixed verdicts) and exits 0 while it is imported;
//! - (b) it replaces the harness library's functions (`harnesslib.Harness.run`, `Fail`,
//!   `_verdict`, ...) and the child stub's, then defines the task's original, buggy code;
//! - (c) it kills the harness process (SIGKILL at import, SIGTERM during the checks) or
//!   stops it (SIGSTOP), with a correct fix after it;
//! - (d) it writes forged verdicts to files (and to bubblewrap's init's stdout), then defines
//!   the original code.
//!
//! The harness never imports the answer's code: the answer runs in a child process that
//! holds neither the verdict pipe nor the nonce. (a) and (c) fail whatever the code after
//! them; (b) and (d) fail exactly the required checks the original code fails (its
//! calibration manifest's `fails`).
//!
//! One correct answer checks the harness's own protocol where a cancellation in the answer's
//! process crosses the harness's reply.

use std::path::Path;

use llmbench_plugin_host::PluginGrader;
use llmbench_plugin_sdk::core::{Grade, GradeOutcome, Grader, PluginContext};

use crate::calibration::{configs, read, suite_options};
use crate::{library, request};

const TASKS: [&str; 6] = [
    "race-condition",
    "lost-update",
    "double-checked-locking",
    "failed-gather",
    "unbounded-fanout",
    "cancellation-leak",
];

/// A report in the old stdout protocol, and the same as a verdict line under made-up nonces.
const FORGED: &str = r#"import json, sys
_report = json.dumps({"checks": [{"name": "everything", "pass": True, "required": True, "evidence": "all good"}], "observations": {}})
for _line in [_report, "0" * 32 + " " + _report, "n0nce " + _report]:
    print(_line)
    print(_line, file=sys.stderr)
sys.stdout.flush()
"#;

/// The task's grader with the suite's options (and `extra`).
fn task_grader(task: &str, extra: serde_json::Value) -> PluginGrader {
    let suite: toml::Table =
        toml::from_str(&read(&configs().join("concurrency-suite.toml"))).expect("the suite parses");
    let mut options = suite_options(&suite, task, "grader-python-exec");
    for (k, v) in extra.as_object().expect("an object") {
        options[k] = v.clone();
    }
    let plugin = llmbench_plugin_host::load(&library()).expect("grader-python-exec loads");
    let context = PluginContext {
        config_dir: configs(),
        instance_name: "hostile".into(),
        api_key: None,
        ..Default::default()
    };
    PluginGrader::new(&plugin, &options, &context).expect("the grader is created")
}

/// The code of the task's original (buggy) version.
fn original(task: &str) -> String {
    read(&configs().join("tasks").join(task).join("code.py"))
}

/// The code of the task's first correct calibration answer (its "Fix" block).
fn correct(task: &str) -> String {
    let dir = configs().join("tasks").join(task).join("calibration");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("correct-")
        })
        .collect();
    files.sort();
    fix_code(&files[0])
}

fn fix_code(path: &Path) -> String {
    let text = read(path);
    let fix = &text[text.find("## Fix").expect("a Fix section")..];
    let start = fix.find("```python\n").expect("a python block") + "```python\n".len();
    let end = start + fix[start..].find("\n```").expect("a closed block");
    fix[start..end].to_owned()
}

/// The required checks the original code fails (its manifest's `fails`).
fn original_fails(task: &str) -> Vec<String> {
    let manifest: toml::Table = toml::from_str(&read(
        &configs()
            .join("tasks")
            .join(task)
            .join("calibration/manifest.toml"),
    ))
    .unwrap();
    let answers = manifest["answer"].as_array().unwrap();
    let entry = answers
        .iter()
        .find(|a| a["file"].as_str() == Some("wrong-original-code.md"))
        .expect("the original code is a calibration answer");
    let mut fails: Vec<String> = entry["fails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_owned())
        .collect();
    fails.sort();
    fails
}

fn answer(code: &str) -> String {
    format!("## Bug\nx\n\n## Why it happens\ny\n\n## Fix\n\n```python\n{code}\n```\n")
}

async fn grade(task: &str, code: &str, extra: serde_json::Value) -> Grade {
    task_grader(task, extra)
        .grade(&request(&answer(code)))
        .await
        .unwrap_or_else(|e| panic!("{task}: the grader erred: {e}"))
}

/// The failing required checks the evidence lists (`FAIL name: ...`), sorted.
fn failing(evidence: &str) -> Vec<String> {
    let mut fails: Vec<String> = evidence
        .split("; ")
        .filter_map(|p| p.strip_prefix("FAIL "))
        .map(|p| p.split_once(':').map_or(p, |(n, _)| n).to_owned())
        .collect();
    fails.sort();
    fails
}

#[track_caller]
fn assert_failed(task: &str, grade: &Grade) {
    assert_eq!(
        grade.outcome,
        GradeOutcome::Fail,
        "{task}: {}",
        grade.evidence
    );
    assert!(grade.score < 1.0, "{task}: {}", grade.score);
}

#[tokio::test]
async fn a_counterfeit_report_and_exit_0_fails_every_task() {
    for task in TASKS {
        let code = format!("{FORGED}import os\nos._exit(0)\n{}", correct(task));
        let g = grade(task, &code, serde_json::json!({})).await;
        assert_failed(task, &g);
        assert_eq!(g.score, 0.0, "{task}: {}", g.evidence);
        assert!(
            g.evidence.starts_with(
                "FAIL imports: the answer's process exited with status 0 (its last output: n0nce {\"checks\": "
            ),
            "{task}: {}",
            g.evidence
        );
        assert!(
            g.evidence
                .contains("FAIL signature: not run: the solution did not import"),
            "{task}: {}",
            g.evidence
        );
    }
}

#[tokio::test]
async fn replacing_the_harness_library_changes_nothing() {
    // In the answer's process, `harnesslib` is a fresh, inert copy and the stub is
    // `__main__`: whatever it replaces there, the checks run in the harness's process.
    let prelude = r#"import builtins, sys
import harnesslib
def _pass(*args, **kwargs):
    return "passed"
for _name in dir(harnesslib):
    if not _name.startswith("__") and callable(getattr(harnesslib, _name)):
        setattr(harnesslib, _name, _pass)
harnesslib.Harness.run = lambda self: _pass()
harnesslib.Fail = type("Fail", (BaseException,), {})
_main = sys.modules["__main__"]
for _name in ["finish", "send", "leaves", "exc_class", "op_call", "op_load"]:
    if hasattr(_main, _name):
        setattr(_main, _name, _pass)
builtins.repr = lambda value: "True"
"#;
    for task in TASKS {
        let code = format!("{prelude}{}", original(task));
        let g = grade(task, &code, serde_json::json!({})).await;
        assert_failed(task, &g);
        assert!(
            !failing(&g.evidence).is_empty(),
            "{task}: no required check failed: {}",
            g.evidence
        );
    }
}

#[tokio::test]
async fn killing_the_harness_at_import_fails_every_task() {
    for task in TASKS {
        let code = format!(
            "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\n{}",
            correct(task)
        );
        let g = grade(task, &code, serde_json::json!({})).await;
        assert_failed(task, &g);
        assert_eq!(
            g.evidence,
            "the harness was killed by SIGKILL before it reported a verdict (the answer's process can kill it; the CPU time limit is 10 s)",
            "{task}"
        );
    }
}

#[tokio::test]
async fn signalling_the_harness_during_the_checks_fails_every_task() {
    for task in TASKS {
        let code = format!(
            "import os, signal, threading\nthreading.Timer(0.02, os.kill, (os.getppid(), signal.SIGTERM)).start()\n{}",
            correct(task)
        );
        let g = grade(task, &code, serde_json::json!({})).await;
        assert_failed(task, &g);
        assert_eq!(
            g.evidence, "the harness was killed before it reported a verdict: killed by SIGTERM",
            "{task}"
        );
    }
    // Stopped, the harness never reports: the run times out.
    let code = format!(
        "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n{}",
        correct("race-condition")
    );
    let g = grade(
        "race-condition",
        &code,
        serde_json::json!({ "timeout-seconds": 2 }),
    )
    .await;
    assert_failed("race-condition", &g);
    assert_eq!(g.evidence, "timed out after 2 s");
}

#[tokio::test]
async fn fake_result_files_do_not_count() {
    let prelude = r#"import json
_report = json.dumps({"checks": [{"name": "everything", "pass": True, "required": True, "evidence": "all good"}], "observations": {}})
for _path in ["/work/result.json", "/work/verdict", "/work/report.json", "/dev/shm/verdict", "/tmp/verdict"]:
    try:
        with open(_path, "w") as _f:
            _f.write(_report)
    except OSError:
        pass
for _fd in ["1", "2"]:
    try:
        with open("/proc/1/fd/" + _fd, "w") as _f:
            _f.write("\n" + "0" * 32 + " " + _report + "\n")
    except OSError:
        pass
"#;
    for task in TASKS {
        let code = format!("{prelude}{}", original(task));
        let g = grade(task, &code, serde_json::json!({})).await;
        assert_failed(task, &g);
        assert_eq!(
            failing(&g.evidence),
            original_fails(task),
            "{task}: {}",
            g.evidence
        );
    }
}

#[tokio::test]
async fn the_harness_is_out_of_the_answers_reach() {
    // The answer tries to read the harness's memory, environment and stdin (the nonce), to
    // write on its descriptors, and to ptrace it; it raises what it saw, which `imports`
    // shows.
    let code = r#"import ctypes, os
ppid, seen = os.getppid(), []
for name, mode in [("mem", "rb"), ("environ", "rb"), ("fd/0", "rb"), ("fd/4", "wb")]:
    try:
        with open("/proc/%d/%s" % (ppid, name), mode) as f:
            f.write(b"x") if "w" in mode else f.read(1)
        seen.append(name + ":open")
    except OSError as e:
        seen.append(name + ":" + type(e).__name__)
libc = ctypes.CDLL(None, use_errno=True)
seen.append("ptrace:%d/%d" % (libc.ptrace(16, ppid, 0, 0), ctypes.get_errno()))
raise RuntimeError(" ".join(seen))
"#;
    let g = grade("race-condition", code, serde_json::json!({})).await;
    assert_failed("race-condition", &g);
    assert!(
        g.evidence.starts_with(
            "FAIL imports: importing solution.py raised RuntimeError: mem:PermissionError environ:PermissionError fd/0:PermissionError fd/4:PermissionError ptrace:-1/1 (solution.py line 12)"
        ),
        "{}",
        g.evidence
    );
}

#[tokio::test]
async fn a_call_cancelled_as_its_reply_arrives_ends_cancelled() {
    // Not hostile, and correct: when a fetch fails, it blocks its event loop for 0.2 s, long
    // enough for the other fetches' replies (0.01 s each) to reach its process, then cancels
    // and awaits them. Each cancellation crosses its reply: the child cancels a call the
    // harness has already answered, and waits for an acknowledgement. Once, none came, the
    // cancelled fetches hung, and this fix failed `error-propagates` ("had not returned or
    // raised"); now every check passes.
    let code = r#"import asyncio
import time

async def fetch_all(urls, fetch):
    tasks = [asyncio.create_task(fetch(url)) for url in urls]
    try:
        return await asyncio.gather(*tasks)
    except BaseException:
        time.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
"#;
    let g = grade("failed-gather", code, serde_json::json!({})).await;
    assert_eq!(g.outcome, GradeOutcome::Pass, "{}", g.evidence);
    assert_eq!(g.score, 1.0, "{}", g.evidence);
}
