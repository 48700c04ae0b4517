//! llmbench's Prometheus metrics.
//!
//! - [`table`]: the one table of metric names, types, help texts, labels and buckets
//!   ([`METRICS`]); everything else is derived from it, including `docs/metrics.md`
//!   ([`docs::markdown`]) and the check that dashboards and alert rules name only metrics
//!   that exist.
//! - [`Metrics`]: the registry with every metric of the table, and its text exposition.
//! - [`ModelLabels`]: the labels that name a model under test; sweep-level metrics
//!   ([`SweepOutcome`], [`SweepTotals`]).
//!
//! This crate depends on `llmbench-core` and `prometheus` only (a tidy test checks it). What
//! fills the metrics from the runner's samples, rebuilds them from the results store, serves
//! them over HTTP or pushes them to a Pushgateway lives in `llmbench-serve`.

pub mod docs;
mod labels;
mod registry;
mod sweep;
pub mod table;

pub use labels::{ModelLabels, provider_family, sample_result};
pub use registry::{CONTENT_TYPE, Metrics};
pub use sweep::{EndedRun, SweepOutcome, SweepTotals};
pub use table::{LABELS, METRICS, MetricDef, MetricId, MetricKind, Source};
