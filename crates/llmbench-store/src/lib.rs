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
//!
//! # Or a shared PostgreSQL database
//!
//! [`Store::open_postgres`] opens a PostgreSQL database ([`PgTarget`]: a URL without a
//! password, the password given apart) behind the same API, for the shards of a sweep to
//! write into at once. Everything works on it as on a SQLite file: runs, samples, resume,
//! reports and exports, run aggregates (written when the last shard ends), retention,
//! browsing (`llmbench view`), and [`Store::merge_from`] of SQLite shard files into it;
//! [`Store::vacuum`] is a plain `VACUUM` there (space reusable, tables not shrunk). Only
//! [`Store::claim_run`] on its own returns [`StoreError::NotOnPostgres`]. See the `pg` module
//! for its schema, concurrency and liveness (session advisory locks per shard,
//! [`Store::set_claim_scope`]). TLS follows libpq's `sslmode` and `sslrootcert` in the URL
//! (rustls; `verify-full` checks the certificate and host name, `require` only encrypts, as
//! libpq); a failed handshake or refused certificate is [`StoreError::PgTls`], saying which.
//!
//! # Opening: checked, and created only by writers
//!
//! [`Store::open`] (`run`) creates a missing file; [`Store::open_existing`] (read
//! commands) refuses a missing one with [`StoreError::NotFound`] naming the path, and
//! creates nothing. [`Store::open_in_dir_unverified`] (`serve`) reads at once and runs the
//! check later ([`Store::verify`], which every write runs first), so that a daemon's
//! start-up does not grow with the file; [`Store::open_existing_unverified`] (`resume`) is
//! `open_existing` with the check left to the caller, which runs it
//! ([`Store::verify_integrity`]) while another core parses the run's stored inputs. All run
//! `PRAGMA quick_check` before anything is written and refuse
//! a damaged file with [`StoreError::Damaged`] (kind `damaged`), whose message says how to
//! save what is readable. Cost: linear in the file's size; on a 100,000-sample store
//! (197 MB, 1 KB answers) 0.27 s with an optimized build and 0.50 s unoptimized when the
//! file is in the page cache, about 5 s from a cold disk (reading the file once).
//!
//! # Status that matches reality
//!
//! A process running a run holds the run's lock ([`Store::claim_run`], an advisory `flock`
//! on `llmbench.sqlite.run-<id>.lock`); the kernel releases it however the process ends. A
//! run stored as `running` that nobody holds reads as `interrupted` (reason
//! [`DEAD_RUN_REASON`]) in [`Store::run`], [`Store::list_runs`] and [`Store::report`], and
//! the next [`Store::open`] records it so. A stop by the spend cap is stored as
//! `interrupted` with a reason starting `spend cap of`.
//!
//! # Disk space: the WAL is bounded
//!
//! A commit checkpoints once the WAL holds 256 pages (1 MiB with 4 KiB pages), and a WAL
//! reset by a checkpoint is truncated back to 1 MiB (`journal_size_limit`); [`Store::end_run`]
//! checkpoints with `TRUNCATE`, leaving it at 0 bytes. While a run writes, the store needs at
//! most its database size plus about 2 MiB (1 MiB of WAL plus the largest transaction: the
//! runner's group commit writes at most 32 samples in one) and the 32 KiB `-shm` file. A reader holding one read transaction open for a
//! long time (an idle `sqlite3` shell inside `BEGIN`) stops checkpoints from resetting the
//! WAL, which then grows until that reader ends.
//!
//! # Runs that remember what was sent
//!
//! From schema version 5 a run stores what it was given, so that reports, exports and
//! `resume` never rebuild it from files that may have changed since:
//!
//! - each sample's request as rendered and sent ([`llmbench_core::SampleRecord::request`]),
//!   in the sample's own transaction, deduplicated by the SHA-256 of its canonical JSON
//!   ([`request_hash`]; table `requests`, column `samples.request_hash`);
//! - every file the run read ([`RunFile`]: the config, prompt files, items files and
//!   datasets, with their roles, resolved paths and SHA-256), written with the run by
//!   [`Store::create_run_with_files`] and read back by [`Store::run_files`] (tables
//!   `run_files` and `file_contents`, the latter content-addressed so that a scheduled
//!   sweep reading the same files every hour stores them once).
//!
//! Runs and samples stored before version 5 read back with no request and no files
//! ([`Store::run_stored_files`] is false): callers say so rather than rebuild them.
//!
//! From schema version 7 a sample's completion, grades and attempts are keyed by the
//! sample's `samples.seq` (an integer in the order samples were written; `(run_id,
//! sample_id)` stays unique), not by its id: the id is a hash, and four indexes keyed by it
//! put each sample on four random pages, a WAL frame each (docs/performance.md, "eighth
//! round"). A merge numbers the samples it copies after the file's own. Opening a store
//! written before version 7 rebuilds the four tables once, in one transaction, after a
//! warning that says so (about a minute per million samples).
//!
//! # Aggregates and retention
//!
//! [`Store::end_run`] writes the run's aggregates (schema version 4: `run_aggregates`,
//! `run_aggregate_counts`, `run_aggregate_histograms`; version 6 adds what each grader spent,
//! `run_aggregate_grader_spend`), from which `serve` rebuilds its metrics exactly without
//! reading samples ([`Store::run_aggregates`], computed on demand for runs
//! without). A store keeps the aggregates of the runs it creates as it records their samples,
//! so a run that ends is not read again for them (a resumed run is). [`Store::apply_retention`] deletes older runs' samples, completions, grades and
//! attempts and keeps their runs and aggregates. Freed pages are reused by later samples, so
//! the file stops growing once retention deletes as much as runs add; it never shrinks by
//! itself (no auto-vacuum: a `VACUUM` rewrites the whole file, needs its size again in free
//! space and blocks writers). [`Store::vacuum`] shrinks it on request.

mod aggregates;
mod browse;
mod error;
mod export;
mod inputs;
mod liveness;
mod merge;
mod pg;
mod report_reads;
mod retention;
mod run;
mod samples;
mod schema;
mod store;
mod stream;
mod time;

pub use aggregates::{
    AggregateGroup, GradeTotals, Histogram, HistogramBuckets, RunAggregates, TokenTotals,
};
pub use browse::{
    RunListing, RunTotals, SampleDetail, SampleFacets, SampleFilter, SamplePage, SampleRow,
    StoredGrade, VerdictFilter,
};
pub use error::StoreError;
pub use export::{CSV_COLUMNS, ExportFormat};
pub use inputs::{FileRole, RunFile, request_hash, sha256_hex};
pub use liveness::RunClaim;
pub use merge::{MergeError, MergeOutcome, SampleProgress};
pub use pg::{PG_SCHEMA_VERSION, PgTarget, is_postgres_url};
pub use report_reads::{AnswerRow, GradeRow, SampleOutlineRow};
pub use retention::RetentionOutcome;
pub use run::{NewRun, RunStatus, RunSummaryRow, StoredRun};
pub use samples::AttemptRecord;
pub use schema::SCHEMA_VERSION;
pub use store::{DEAD_RUN_REASON, STORE_FILE_NAME, Store};
pub use time::{new_run_id, utc_now_rfc3339};
