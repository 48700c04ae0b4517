//! llmbench's domain: what a benchmark asks a model, what comes back, how it is judged.
//!
//! This crate defines the four extension traits ([`Provider`], [`Task`], [`Grader`],
//! [`Reporter`]) and the plain data they exchange. It does no I/O and starts no runtime:
//! everything here is a value or a pure function, so plugins, the runner and the reports all
//! agree on one vocabulary and on one cost formula.

mod completion;
mod context;
mod cost;
mod grade;
mod provider;
mod report;
mod reporter;
mod request;
mod sample;
mod stats;
mod task;

pub use completion::{Completion, StopReason, Timings, Usage};
pub use context::{PluginContext, Secret};
pub use cost::{Price, cost_usd};
pub use grade::{
    Grade, GradeKind, GradeOutcome, GradeRequest, Grader, GraderError, Verdict, VerdictRule,
};
pub use provider::{Provider, ProviderError, ProviderErrorKind};
pub use report::{RunInfo, RunReport, SampleRecord, SampleStatus};
pub use reporter::{ReportError, Reporter};
pub use request::{CompletionRequest, Message, Role, Sampling};
pub use sample::{SampleId, SampleKey};
pub use stats::{median, quantile};
pub use task::{Item, Task};
