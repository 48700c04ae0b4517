//! Integration tests for llmbench-metrics: the generated reference page, the dashboards and
//! alert rules against the metrics table (and grafana/dashboard-linter's rules), and
//! `promtool` on the exposition and the rules.

mod alerts;
mod dashboards;
mod docs;
mod promql;
mod promtool;

use std::path::{Path, PathBuf};

/// The workspace root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the workspace root exists")
}

pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}
