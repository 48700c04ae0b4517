//! `grader-python-exec`: grades an answer by running its Python code in a bubblewrap
//! sandbox, against a task's harness or against the item's own test, and reports what was
//! observed.
//!
//! The harness protocol, the item tests, the options, the grade and the sandbox are
//! described in this crate's README.md; in short:
//!
//! ```toml
//! [[tasks.graders]]
//! plugin = "grader-python-exec"
//! options = { harness = "race-condition/harness.py", code-in-section = "Fix" }
//! ```
//!
//! The code (the first ```` ```python ```` block of `code-in-section` if set, else the last
//! of the answer) is written as
//! `solution.py` next to the harness in a fresh temporary directory, and
//! `python3 -E -S -B harness.py` runs there inside the sandbox: no network, a read-only
//! system, an empty environment, limits on wall time, CPU time, memory, processes and output,
//! and the whole process tree killed at the end. The harness is trusted: it never imports
//! the answer's code but runs it in a child process it drives (`configs/tasks/harnesslib.py`),
//! and it writes its verdict, `{"checks": [{"name", "pass", "required", "evidence"}, ...]}`,
//! on a pipe only it holds, after a one-time nonce it read on stdin. The answer passes when
//! every required check passes (every check with `strict`); an advisory failure lowers the
//! score and is shown. A timeout, crash, limit, syntax error or missing code block is a
//! failed grade naming the reason. When the sandbox cannot start, [`PythonExecGrader`]
//! refuses to be created: an answer is never run unsandboxed.
//!
//! Item tests (HumanEval, MBPP, in-house suites whose items carry their tests):
//!
//! ```toml
//! options = { test = "{{test}}", entry-point = "{{entry_point}}", prompt = "{{prompt}}" }
//! ```
//!
//! These are rendered per item, inside the plugin, from the item's variables
//! (`GradeRequest::options`). In the same sandbox, a
//! trusted runner (`src/runner.py`) executes the item's prompt and test itself and calls
//! `check(candidate)`, where `candidate` forwards each call to a separate process running
//! `prompt + "\n" + code` (the code: the last fenced block that defines `entry-point` at
//! the top level, else the last python block, else the last untagged block, else the whole
//! answer), arguments and results crossing as plain-data `repr` text. The
//! runner's verdict is the line it writes on a pipe only it holds, starting with a one-time
//! nonce; the answer's process has neither, so exiting early, printing a verdict, patching
//! its builtins or killing the runner is a failed grade, never a pass.

mod code;
mod item_test;
mod options;
mod report;
mod sandbox;

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};

pub use crate::options::OptionsError;
use crate::options::{ItemTest, RUNNER_FILE, Run, RunFile, SOLUTION_FILE, Settings};
pub use crate::sandbox::SandboxError;
use crate::sandbox::{Launch, Pool, Sandbox};

/// Why the grader could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error(transparent)]
    Options(#[from] OptionsError),
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
}

/// The grader.
#[derive(Debug)]
pub struct PythonExecGrader {
    settings: Settings,
    sandbox: Sandbox,
    /// Item-test mode's started sandboxes: the trusted runner (and the extra files), each
    /// waiting for one answer's payload.
    pool: Pool,
}

impl PythonExecGrader {
    /// Check the options, read the harness, and prove the sandbox starts. Blocking (it runs
    /// the interpreter twice, about a tenth of a second).
    pub fn from_options(
        options: serde_json::Value,
        context: &PluginContext,
    ) -> Result<Self, CreateError> {
        let settings = Settings::from_options(options, context)?;
        let sandbox = Sandbox::new(&settings.python, settings.limits.clone())?;
        let mut files = vec![item_test::runner_file()];
        files.extend(settings.extra_files.iter().cloned());
        let pool_size = if matches!(settings.mode, options::Mode::Test(_)) {
            settings.pool.size
        } else {
            0
        };
        let pool = Pool::new(
            sandbox.clone(),
            files,
            item_test::RUNNER_FLAGS,
            RUNNER_FILE,
            options::PoolSettings {
                size: pool_size,
                lifetime: settings.pool.lifetime,
            },
        );
        Ok(Self {
            settings,
            sandbox,
            pool,
        })
    }

    /// Grade an answer's text with the options the grader was created with.
    ///
    /// # Cancel safety
    /// Dropping the future kills the sandbox's whole process tree.
    pub async fn check(&self, text: &str) -> Result<Grade, GraderError> {
        self.check_with(text, None).await
    }

    /// Grade an answer's text with an item's rendered options (`None`: the options the
    /// grader was created with): extract its code, run it against the harness or the item's
    /// test, read the report.
    ///
    /// # Cancel safety
    /// Dropping the future kills the sandbox's whole process tree.
    pub async fn check_with(
        &self,
        text: &str,
        options: Option<&serde_json::Value>,
    ) -> Result<Grade, GraderError> {
        let run = self
            .settings
            .run_for(options)
            .map_err(|e| GraderError::new(e.to_string()))?;
        match run {
            Run::Harness(harness) => self.run_harness(harness, text).await,
            Run::Test(item) => self.run_item_test(&item, text).await,
        }
    }

    async fn run_harness(&self, harness: &RunFile, text: &str) -> Result<Grade, GraderError> {
        let code = match code::extract(text, self.settings.code_in_section.as_deref()) {
            Ok(code) => code,
            Err(reason) => return Ok(report::failed(reason)),
        };
        let solution = RunFile {
            name: SOLUTION_FILE.to_owned(),
            contents: code.into_bytes(),
        };
        let mut files = vec![harness, &solution];
        files.extend(&self.settings.extra_files);
        let nonce = item_test::nonce()?;
        let payload = item_test::harness_payload(&nonce, self.sandbox.limits());
        let outcome = self
            .sandbox
            .run(&files, Launch::harness(payload))
            .await
            .map_err(|e| GraderError::new(e.to_string()))?;
        report::harness_grade(
            &outcome,
            self.sandbox.limits(),
            &nonce,
            self.settings.strict,
        )
    }

    async fn run_item_test(&self, item: &ItemTest, text: &str) -> Result<Grade, GraderError> {
        let (code, whole_text) = match code::extract_for_test(
            text,
            self.settings.code_in_section.as_deref(),
            &item.entry_point,
        ) {
            Ok(found) => found,
            Err(reason) => return Ok(report::failed(reason)),
        };
        let nonce = item_test::nonce()?;
        let stdin = item_test::payload(&nonce, item, &code, self.sandbox.limits());
        let outcome = self
            .pool
            .run(stdin)
            .await
            .map_err(|e| GraderError::new(e.to_string()))?;
        let mut grade = report::item_grade(&outcome, self.sandbox.limits(), &nonce)?;
        if whole_text && grade.evidence.starts_with("syntax error") {
            grade
                .evidence
                .push_str(" (the answer has no code block: its whole text was run as code)");
        }
        Ok(grade)
    }
}

#[async_trait]
impl Grader for PythonExecGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        self.check_with(&request.completion.text, request.options.as_ref())
            .await
    }
}

impl llmbench_plugin_sdk::GraderPlugin for PythonExecGrader {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options, context).map_err(|e| e.to_string())
    }

    /// Checks the options without reading the files they name or starting the sandbox: an
    /// unknown (misspelt) key is named with a suggestion, a value out of range with its key,
    /// a `harness` or `extra-files` entry that is not a regular file with its key.
    fn check_options(
        options: &serde_json::Value,
        context: &PluginContext,
    ) -> Result<(), llmbench_plugin_sdk::OptionsError> {
        options::check_options(options, context)
    }

    /// Refuses an item whose rendered options cannot be used: an empty `test`, an
    /// `entry-point` that is not a Python identifier, or an option other than `test`,
    /// `entry-point` and `prompt` that differs from the one the grader was created with.
    fn check_item(&self, options: &serde_json::Value) -> Result<(), String> {
        self.settings
            .run_for(Some(options))
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

llmbench_plugin_sdk::export_grader!(PythonExecGrader);
