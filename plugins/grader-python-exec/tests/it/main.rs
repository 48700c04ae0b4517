//! Integration tests: the built `grader-python-exec` cdylib, loaded through the plugin host,
//! grading ordinary and hostile answers with the fixture harness in `tests/fixtures/`,
//! hostile answers that try to counterfeit their verdict against every task's harness,
//! (with `grader-sections`) every task's calibration answers in `configs/tasks/`, and, in
//! item-test mode, ordinary and hostile answers to per-item tests, the isolation of
//! successive and concurrent answers, and HumanEval's 164 problems.

mod basics;
mod calibration;
mod harness_hostile;
mod hostile;
mod humaneval;
mod item_hostile;
mod item_isolation;
mod item_tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::{Duration, Instant};

use llmbench_plugin_host::{LoadError, PluginGrader};
use llmbench_plugin_sdk::abi::PluginKind;
use llmbench_plugin_sdk::core::{
    Completion, GradeRequest, PluginContext, Secret, StopReason, Timings, Usage,
};

/// A fake API key, put in this process's environment (and the plugin's context) before any
/// plugin is loaded: no grade may ever show it.
const FAKE_KEY: &str = "sk-ant-fake-1234";
const FAKE_KEY_VAR: &str = "LLMBENCH_TEST_FAKE_KEY";

/// The cdylib cargo built for this package (the newer of `target/<profile>/` and `deps/`,
/// refused when older than its sources: see `llmbench-testsupport`).
fn library() -> PathBuf {
    llmbench_testsupport::built_plugin(env!("CARGO_PKG_NAME"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Set the fake key once, before any plugin exists (every test creates its grader here, so
/// no plugin thread reads the environment while it changes).
fn set_fake_key() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: runs before any plugin is loaded; the test harness's own threads only
        // touch the environment through std, which locks it.
        unsafe { std::env::set_var(FAKE_KEY_VAR, FAKE_KEY) };
    });
}

/// The suite's harness library, relative to `tests/fixtures/` (the fixture harness uses it).
const HARNESSLIB: &str = "../../../../configs/tasks/harnesslib.py";

/// The grader, with `options` merged over
/// `{"harness": "harness.py", "extra-files": [HARNESSLIB]}` (a given `extra-files` is added to).
fn try_grader(options: serde_json::Value) -> Result<PluginGrader, LoadError> {
    set_fake_key();
    let plugin = llmbench_plugin_host::load(&library()).expect("plugin loads");
    assert_eq!(plugin.meta().kind, PluginKind::Grader);
    assert_eq!(plugin.meta().name, "grader-python-exec");
    let mut all = serde_json::json!({ "harness": "harness.py", "extra-files": [HARNESSLIB] });
    for (k, v) in options.as_object().expect("options are an object") {
        if k == "extra-files" {
            let files = all[k].as_array_mut().expect("a list");
            files.extend(v.as_array().expect("extra-files is a list").iter().cloned());
        } else {
            all[k] = v.clone();
        }
    }
    let context = PluginContext {
        config_dir: fixtures(),
        instance_name: "exec".into(),
        api_key: Some(Secret::new(FAKE_KEY)),
        ..Default::default()
    };
    PluginGrader::new(&plugin, &all, &context)
}

fn grader(options: serde_json::Value) -> PluginGrader {
    try_grader(options).expect("the grader is created")
}

/// An item-test grader created with `options` as given (no harness).
fn item_grader(options: serde_json::Value) -> PluginGrader {
    set_fake_key();
    let plugin = llmbench_plugin_host::load(&library()).expect("plugin loads");
    let context = PluginContext {
        config_dir: fixtures(),
        instance_name: "exec".into(),
        api_key: Some(Secret::new(FAKE_KEY)),
        ..Default::default()
    };
    PluginGrader::new(&plugin, &options, &context).expect("the grader is created")
}

/// A request for `text` for an item with variables `vars`.
fn item_request(text: &str, vars: BTreeMap<String, String>) -> GradeRequest {
    GradeRequest {
        vars,
        ..request(text)
    }
}

fn request(text: &str) -> GradeRequest {
    GradeRequest {
        task: "stampede".into(),
        item: "cache".into(),
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

/// An answer in the fixture's format whose Fix is `code`.
fn answer(code: &str) -> String {
    format!("## Bug\nrace\n\n## Why it happens\nawait\n\n## Fix\n\n```python\n{code}\n```\n")
}

/// A process name (`comm`, 15 characters at most) unique to one test run; hostile code sets
/// it on itself so that its processes can be found on the host afterwards.
fn marker(tag: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("lb{tag}{:07}", nanos % 10_000_000)
}

/// Python that renames its process (and so its future children) to `marker`.
fn set_comm(marker: &str) -> String {
    format!("with open('/proc/self/comm', 'w') as f:\n    f.write('{marker}')\n")
}

/// Host processes whose name is `marker`.
fn processes_named(marker: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        if let Ok(comm) = std::fs::read_to_string(entry.path().join("comm"))
            && comm.trim() == marker
        {
            found.push(pid);
        }
    }
    found
}

/// Wait until some process is named `marker` (the sandbox is running), at most `limit`.
async fn wait_for_process(marker: &str, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if !processes_named(marker).is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}
