//! `grader-python-exec`: grades an answer by running its Python code against a task's
//! harness in a bubblewrap sandbox, and reports what the harness observed.
//!
//! The harness protocol, the options, the grade and the sandbox are described in this
//! crate's README.md; in short:
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
//! and the whole process tree killed at the end. The harness prints one JSON object on the
//! last line of stdout, `{"checks": [{"name", "pass", "evidence"}, ...]}`; the answer passes
//! when every check passes. A timeout, crash, limit, syntax error or missing code block is a
//! failed grade naming the reason. When the sandbox cannot start, [`PythonExecGrader`]
//! refuses to be created: an answer is never run unsandboxed.

mod code;
mod options;
mod report;
mod sandbox;

use async_trait::async_trait;
use llmbench_plugin_sdk::core::{Grade, GradeRequest, Grader, GraderError, PluginContext};

pub use crate::options::OptionsError;
use crate::options::{RunFile, SOLUTION_FILE, Settings};
use crate::sandbox::Sandbox;
pub use crate::sandbox::SandboxError;

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
        Ok(Self { settings, sandbox })
    }

    /// Grade an answer's text: extract its code, run the harness on it, read the report.
    ///
    /// # Cancel safety
    /// Dropping the future kills the sandbox's whole process tree.
    pub async fn check(&self, text: &str) -> Result<Grade, GraderError> {
        let code = match code::extract(text, self.settings.code_in_section.as_deref()) {
            Ok(code) => code,
            Err(reason) => return Ok(report::failed(reason)),
        };
        let solution = RunFile {
            name: SOLUTION_FILE.to_owned(),
            contents: code.into_bytes(),
        };
        let mut files = vec![&self.settings.harness, &solution];
        files.extend(&self.settings.extra_files);
        let outcome = self
            .sandbox
            .run(&files)
            .await
            .map_err(|e| GraderError::new(e.to_string()))?;
        Ok(report::grade(&outcome, self.sandbox.limits()))
    }
}

#[async_trait]
impl Grader for PythonExecGrader {
    async fn grade(&self, request: &GradeRequest) -> Result<Grade, GraderError> {
        self.check(&request.completion.text).await
    }
}

impl llmbench_plugin_sdk::GraderPlugin for PythonExecGrader {
    fn create(options: serde_json::Value, context: &PluginContext) -> Result<Self, String> {
        Self::from_options(options, context).map_err(|e| e.to_string())
    }
}

llmbench_plugin_sdk::export_grader!(PythonExecGrader);
