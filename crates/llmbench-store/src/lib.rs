//! The results store: one SQLite file per output directory (`<dir>/llmbench.sqlite`)
//! holding many runs.
//!
//! Every finished sample is written as it completes, in one transaction with its completion,
//! grades and attempts: a run killed at any moment loses at most the samples in flight and
//! never leaves half a sample. The file is in WAL mode, so reports and `sqlite3` can read it
//! while a run writes. The schema is versioned with `PRAGMA user_version` and created or
//! migrated on open. Columns are typed so the data can be queried with plain SQL; JSON is kept
//! only for open-ended structures (the price table, provider and grader lists).
//!
//! The store never receives a secret and has no column for one.

mod error;
mod export;
mod run;
mod samples;
mod schema;
mod store;
mod time;

pub use error::StoreError;
pub use export::{CSV_COLUMNS, ExportFormat};
pub use run::{NewRun, RunStatus, RunSummaryRow, StoredRun};
pub use samples::AttemptRecord;
pub use schema::SCHEMA_VERSION;
pub use store::{STORE_FILE_NAME, Store};
pub use time::{new_run_id, utc_now_rfc3339};
