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
pub trait Reporter: Send + Sync {
    fn render(&self, report: &RunReport) -> Result<String, ReportError>;
}
