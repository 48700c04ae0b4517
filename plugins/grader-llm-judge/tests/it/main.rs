//! Integration tests: the built `grader-llm-judge` cdylib, loaded through the plugin host,
//! judging with the in-repo protocol servers as the judge model.

mod failures;
mod options;
mod secrets;
mod verdicts;

use std::collections::BTreeMap;
use std::path::Path;

use llmbench_conformance::{FAKE_API_KEY, block_on, cdylib_path, install_log_capture};
use llmbench_mockserver::{ApiKeyCheck, MockConfig, MockServer, Protocol};
use llmbench_plugin_host::{LoadError, Plugin, PluginGrader};
use llmbench_plugin_sdk::core::{
    Completion, Grade, GradeRequest, Grader, PluginContext, Secret, StopReason,
};
use serde_json::{Value, json};

/// The judge model's id in every test.
pub const MODEL: &str = "judge-model";

/// A verdict the judge is made to give.
pub const GOOD: &str =
    r#"{"score": 0.8, "pass": true, "rationale": "names the race and fixes it"}"#;

/// The plugin library, built by `cargo test -p grader-llm-judge`.
pub fn plugin() -> Plugin {
    let path = cdylib_path(env!("CARGO_PKG_NAME"));
    llmbench_plugin_host::load(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is the cdylib built? `cargo test -p grader-llm-judge` builds it)",
            path.display()
        )
    })
}

/// A judge server that accepts only [`FAKE_API_KEY`].
pub fn server(config: MockConfig) -> MockServer {
    MockServer::start_background(MockConfig {
        api_key: ApiKeyCheck::Exact(FAKE_API_KEY.into()),
        ..config
    })
    .expect("mock server starts")
}

/// The options pointing a judge of `protocol` at `server`, plus `extra`.
pub fn options(server: &MockServer, extra: Value) -> Value {
    let protocol = server_protocol(server);
    let base = match protocol {
        Protocol::OpenAi => format!("{}/v1", server.base_url()),
        Protocol::Anthropic => server.base_url(),
    };
    let mut options = json!({
        "protocol": protocol.to_string(),
        "model": MODEL,
        "base-url": base,
        "rubric": "The answer names the race condition and fixes it.",
    });
    if let (Value::Object(o), Value::Object(extra)) = (&mut options, extra) {
        o.extend(extra);
    }
    options
}

fn server_protocol(server: &MockServer) -> Protocol {
    server.config().protocol
}

/// A judge instance with `options`, the fake key, and `dir` as its config directory.
pub fn create(options: &Value, dir: &Path) -> Result<PluginGrader, LoadError> {
    install_log_capture();
    let context = PluginContext {
        config_dir: dir.to_owned(),
        instance_name: "judge".into(),
        api_key: Some(Secret::new(FAKE_API_KEY)),
    };
    PluginGrader::new(&plugin(), options, &context)
}

/// A judge of `server` with `extra` options.
pub fn judge(server: &MockServer, extra: Value) -> PluginGrader {
    let options = options(server, extra);
    create(&options, Path::new(".")).unwrap_or_else(|e| panic!("the judge refuses {options}: {e}"))
}

/// Grade `answer` (to task `race`, item `cache`, with one variable).
pub fn grade(judge: &PluginGrader, answer: &str) -> Grade {
    let request = GradeRequest {
        task: "race".into(),
        item: "cache".into(),
        vars: BTreeMap::from([("code".to_owned(), "cache = {}".to_owned())]),
        options: None,
        completion: Completion {
            text: answer.to_owned(),
            stop_reason: StopReason::EndTurn,
            usage: Default::default(),
            timings: Default::default(),
            response_model: None,
        },
    };
    block_on(judge.grade(&request)).expect("the judge grades (an error grade at worst)")
}

/// Words in `text`: the mock server's token count.
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}
