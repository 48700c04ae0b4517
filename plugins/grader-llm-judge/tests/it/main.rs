//! Integration tests: the built `grader-llm-judge` cdylib, loaded through the plugin host,
//! judging with a scripted model that the host serves (as the runner does) through the
//! plugin's `ModelHandle`.

mod failures;
mod options;
mod verdicts;

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, LazyLock, Mutex};

use llmbench_plugin_host::{JudgeModel, LoadError, ModelAccess, ModelFuture, Plugin, PluginGrader};
use llmbench_plugin_sdk::core::{
    Completion, CompletionRequest, Grade, GradeRequest, Grader, PluginContext, ProviderError,
    StopReason, Usage,
};
use serde_json::{Value, json};

/// The judge's provider entry and model id in every test.
pub const PROVIDER: &str = "judge";
pub const MODEL: &str = "judge-model";

/// A verdict the judge is made to give.
pub const GOOD: &str =
    r#"{"score": 0.8, "pass": true, "rationale": "names the race and fixes it"}"#;

/// The host's runtime, on which the scripted model's calls run.
pub static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime")
});

/// The plugin library, built by `cargo test -p grader-llm-judge` (refused if stale: see
/// `llmbench_testsupport::built_plugin`).
pub fn plugin() -> Plugin {
    let path = llmbench_testsupport::built_plugin(env!("CARGO_PKG_NAME"));
    llmbench_plugin_host::load(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (is the cdylib built? `cargo test -p grader-llm-judge` builds it)",
            path.display()
        )
    })
}

/// Words in `text`: the scripted model's token count (as the mock servers count).
pub fn words(text: &str) -> u64 {
    text.split_whitespace().count() as u64
}

/// One scripted answer: a reply text, or an error.
pub type Reply = Result<String, ProviderError>;

/// A model the host serves: answers from a script (the last one repeats), every request
/// logged with the provider name it was sent to.
#[derive(Debug, Default)]
pub struct Scripted {
    replies: Mutex<VecDeque<Reply>>,
    pub log: Mutex<Vec<(String, CompletionRequest)>>,
}

impl Scripted {
    pub fn new(replies: impl IntoIterator<Item = Reply>) -> Arc<Self> {
        Arc::new(Self {
            replies: Mutex::new(replies.into_iter().collect()),
            log: Mutex::default(),
        })
    }

    pub fn always(reply: &str) -> Arc<Self> {
        Self::new([Ok(reply.to_owned())])
    }

    pub fn requests(&self) -> Vec<(String, CompletionRequest)> {
        self.log.lock().unwrap().clone()
    }
}

impl ModelAccess for Scripted {
    fn complete(&self, provider: &str, request: CompletionRequest) -> ModelFuture {
        let reply = {
            let mut replies = self.replies.lock().unwrap();
            if replies.len() > 1 {
                replies.pop_front()
            } else {
                replies.front().cloned()
            }
        }
        .expect("a scripted reply");
        let input: u64 = request
            .messages
            .iter()
            .map(|m| words(&m.content))
            .sum::<u64>()
            + request.system.as_deref().map_or(0, words);
        let max = request.max_tokens as usize;
        self.log
            .lock()
            .unwrap()
            .push((provider.to_owned(), request));
        Box::pin(async move {
            let text = reply?;
            // Cut at the token limit, as a model would.
            let all: Vec<&str> = text.split_whitespace().collect();
            let (text, stop_reason) = if all.len() > max {
                (all[..max].join(" "), StopReason::MaxTokens)
            } else {
                (text.clone(), StopReason::EndTurn)
            };
            Ok(Completion {
                usage: Usage {
                    input_tokens: Some(input),
                    output_tokens: Some(words(&text)),
                    ..Usage::default()
                },
                text,
                stop_reason,
                timings: Default::default(),
                response_model: None,
            })
        })
    }
}

/// The options of every test (a rubric), plus `extra`.
pub fn options(extra: Value) -> Value {
    let mut options = json!({ "rubric": "The answer names the race condition and fixes it." });
    if let (Value::Object(o), Value::Object(extra)) = (&mut options, extra) {
        o.extend(extra);
    }
    options
}

/// A judge instance with `options`, `dir` as its config directory, served by `access`.
pub fn create(
    options: &Value,
    dir: &Path,
    access: Arc<dyn ModelAccess>,
) -> Result<PluginGrader, LoadError> {
    let context = PluginContext {
        config_dir: dir.to_owned(),
        instance_name: "judge".into(),
        api_key: None,
        ..Default::default()
    };
    let judge = JudgeModel {
        provider: PROVIDER.into(),
        model: MODEL.into(),
        access,
        runtime: RUNTIME.handle().clone(),
    };
    PluginGrader::with_judge(&plugin(), options, &context, judge)
}

/// A judge served by `access`, with `extra` options.
pub fn judge(access: &Arc<Scripted>, extra: Value) -> PluginGrader {
    let options = options(extra);
    create(&options, Path::new("."), access.clone())
        .unwrap_or_else(|e| panic!("the judge refuses {options}: {e}"))
}

/// The request to grade `answer` (to task `race`, item `cache`, with one variable).
pub fn request(answer: &str) -> GradeRequest {
    GradeRequest {
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
    }
}

/// Grade `answer`.
pub fn grade(judge: &PluginGrader, answer: &str) -> Grade {
    RUNTIME
        .block_on(judge.grade(&request(answer)))
        .expect("the judge grades (an error grade at worst)")
}
