//! The [`Reporter`] trait: turns a finished run into something people read.

use crate::RunReport;

/// A reporter failed to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ReportError {
    pub message: String,
}

/// Renders a [`RunReport`] into a document (a table, Markdown, HTML).
///
/// # Contract
/// Pure: rendering does no I/O; the caller decides where the document goes. The same report
/// renders to the same bytes.
///
/// # Example
/// A reporter that lists the run's models (a plugin also implements the SDK's
/// `ReporterPlugin` and calls `export_reporter!`).
///
/// ```
/// use llmbench_core::{ReportError, Reporter, RunReport};
///
/// struct Models;
///
/// impl Reporter for Models {
///     fn render(&self, report: &RunReport) -> Result<String, ReportError> {
///         if report.run.providers.is_empty() {
///             return Err(ReportError { message: "the run has no provider".into() });
///         }
///         let lines: Vec<String> = report
///             .run
///             .providers
///             .iter()
///             .map(|(_name, model, label)| format!("{label} ({model})"))
///             .collect();
///         Ok(lines.join("\n"))
///     }
/// }
/// # let _ = Models;
/// ```
pub trait Reporter: Send + Sync {
    fn render(&self, report: &RunReport) -> Result<String, ReportError>;
}
