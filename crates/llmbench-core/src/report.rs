//! The data a [`crate::Reporter`] renders: one finished run, read back from the store.

use serde::{Deserialize, Serialize};

use crate::{Completion, CompletionRequest, Grade, ProviderError, SampleKey, Verdict};

/// The run as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    pub run_id: String,
    pub config_path: String,
    pub store_path: String,
    /// `running`, `finished`, `interrupted`.
    pub status: String,
    pub started_at: String,
    pub planned_samples: u64,
    /// Providers in config order: (name, model, display label).
    pub providers: Vec<(String, String, String)>,
    /// Grader names per task, in config order.
    pub graders: Vec<(String, Vec<String>)>,
    /// The k of pass@k the run asked for (`[run] pass-at-k`), as stored; empty when it asked
    /// for none (and for runs stored before the setting existed).
    #[serde(default)]
    pub pass_at_k: Vec<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SampleStatus {
    /// A completion was obtained and graded.
    Done,
    /// The provider failed for good (after the runner's retries).
    Error,
}

/// One finished sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleRecord {
    pub key: SampleKey,
    pub model: String,
    pub status: SampleStatus,
    pub completion: Option<Completion>,
    pub error: Option<ProviderError>,
    /// Grades in the task's grader order, with each grader's name.
    pub grades: Vec<(String, Grade)>,
    pub verdict: Option<Verdict>,
    pub cost_usd: Option<f64>,
    pub attempts: u32,
    /// The request as rendered and sent to the provider (system, messages, model, limits,
    /// sampling; its `sample` is `None`: the key is [`SampleRecord::key`]), as the store
    /// recorded it. `None` for samples stored before requests were recorded (store schema
    /// version 5): a report must not rebuild it from files that may have changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<CompletionRequest>,
}

/// Everything a reporter needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    pub run: RunInfo,
    /// Every sample of the run; or, when [`RunReport::summary`] is set, a bounded selection
    /// of them (failing samples first), the summary standing for all of them.
    pub samples: Vec<SampleRecord>,
    /// What `llmbench-report` computed from every sample of the run in one streaming pass
    /// (`llmbench_report::summary::Summary` as JSON: counts, aggregates and statistics, no
    /// texts), so that a report of a run of any size is rendered from bounded data. `None`
    /// when `samples` is every sample and reporters compute from them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<serde_json::Value>,
}
