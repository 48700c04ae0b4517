//! llmbench's Prometheus metrics.
//!
//! - [`table`]: the one table of metric names, types, help texts, labels and buckets
//!   ([`METRICS`]); everything else is derived from it, including `docs/metrics.md`
//!   ([`docs::markdown`]) and the check that dashboards and alert rules name only metrics
//!   that exist.
//! - [`Metrics`]: the registry with every metric of the table, and its text exposition.
//! - [`MetricsObserver`]: the runner's observer that records each finished sample;
//!   [`record_sample`] does the same for samples read back from the store.
//! - Sweep-level metrics ([`SweepOutcome`], [`SweepTotals`]) and the Pushgateway push for
//!   one-shot runs ([`push::push`]).
//!
//! Nothing here serves HTTP or schedules anything: `llmbench-serve` does.

pub mod docs;
mod observer;
pub mod push;
mod registry;
mod sweep;
pub mod table;

pub use observer::{
    Both, MetricsObserver, ModelLabels, provider_family, provider_labels, record_sample,
    touch_samples,
};
pub use registry::{CONTENT_TYPE, Metrics};
pub use sweep::{
    EndedRun, SweepOutcome, SweepTotals, account_run, now_unix, price_table_date, unix_seconds,
};
pub use table::{LABELS, METRICS, MetricDef, MetricId, MetricKind, Source};
