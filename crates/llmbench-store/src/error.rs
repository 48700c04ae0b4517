//! Errors from opening, writing and reading the results store.

use std::io;
use std::path::PathBuf;

use llmbench_core::{SampleId, SampleKey};

/// Why the store could not do what was asked. Every variant names the SQLite file, or the
/// PostgreSQL store's URL without its password.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot create the output directory: {source}")]
    CreateDir {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: cannot open the results store: its directory does not exist")]
    MissingDir { path: PathBuf },
    #[error(
        "{path}: no results store here (looked for this file; nothing was created): run `llmbench run` first, or pass the --output-dir that holds it"
    )]
    NotFound { path: PathBuf },
    #[error(
        "{path}: the results store is damaged ({detail}); nothing was written to it. Save what is readable with `llmbench export` (run by run), or `sqlite3 {file} .recover > dump.sql`, then move the damaged file away",
        file = path.file_name().map(|f| f.to_string_lossy()).unwrap_or_default()
    )]
    Damaged { path: PathBuf, detail: String },
    #[error("{path}: cannot open the results store: {source}")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "{path}: the results store has schema version {found}, newer than version {supported} that this llmbench understands; use a newer llmbench"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("{path}: cannot {action}: {source}")]
    Sqlite {
        path: PathBuf,
        /// What the store was doing, as a fragment after "cannot".
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}: no run `{run_id}` in this results store")]
    RunNotFound { run_id: String, path: PathBuf },
    #[error(
        "{path}: run `{run_id}` is being run by another process (its lock {lock} is held); wait for it, or stop that process"
    )]
    RunBusy {
        path: PathBuf,
        run_id: String,
        lock: PathBuf,
    },
    #[error("{lock}: cannot lock run `{run_id}`: {source}")]
    Lock {
        lock: PathBuf,
        run_id: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "{path}: run `{run_id}` cannot be resumed: its samples were deleted by the retention policy on {at} (its aggregates are kept)"
    )]
    RunPruned {
        path: PathBuf,
        run_id: String,
        at: String,
    },
    #[error(
        "{path}: cannot compute run aggregates: no histogram buckets were given to the store (Store::set_histogram_buckets)"
    )]
    NoHistogramBuckets { path: PathBuf },
    #[error("{path}: run `{run_id}` already exists")]
    RunExists { run_id: String, path: PathBuf },
    #[error(
        "{path}: sample {sample_id} ({}/{}/{}#{}) is already recorded in run `{run_id}`",
        key.task, key.item, key.provider, key.repeat
    )]
    DuplicateSample {
        path: PathBuf,
        run_id: String,
        sample_id: SampleId,
        key: Box<SampleKey>,
    },
    #[error("{path}: sample {sample_id} of run `{run_id}` cannot be stored: {reason}")]
    InvalidRecord {
        path: PathBuf,
        run_id: String,
        sample_id: SampleId,
        reason: String,
    },
    #[error("{path}: unreadable row in table `{table}`: {detail}")]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        detail: String,
    },
    #[error("`{url}` is not a PostgreSQL store URL: {detail}")]
    PgUrl { url: String, detail: String },
    #[error(
        "`{url}`: the store URL holds a password, which would show in process lists, logs and shell history; remove it and give it in the environment (PGPASSWORD, or the variable `[run] store-password-env` names)"
    )]
    PgPasswordInUrl {
        /// The URL with its password replaced by `***`.
        url: String,
    },
    #[error("{path}: cannot connect to the PostgreSQL store: {source}")]
    PgConnect {
        path: PathBuf,
        #[source]
        source: postgres::Error,
    },
    #[error("{path}: cannot {action}: {source}")]
    Postgres {
        path: PathBuf,
        /// What the store was doing, as a fragment after "cannot".
        action: &'static str,
        #[source]
        source: postgres::Error,
    },
    #[error(
        "{path}: no llmbench results store in this database (it has no table llmbench_schema; nothing was created): run `llmbench run --store URL` first"
    )]
    PgNoSchema { path: PathBuf },
    #[error(
        "{path}: {operation} is not available on a PostgreSQL store yet; use a SQLite store (--output-dir) for it"
    )]
    NotOnPostgres {
        path: PathBuf,
        operation: &'static str,
    },
    #[error(
        "{path}: run `{run_id}` exists with another {what}: it is another sweep; pass another --run-id"
    )]
    RunDiffers {
        path: PathBuf,
        run_id: String,
        what: &'static str,
    },
    #[error("{path}: cannot write the export of run `{run_id}`: {source}")]
    Export {
        path: PathBuf,
        run_id: String,
        #[source]
        source: io::Error,
    },
}

impl StoreError {
    /// A bounded label for metrics and exit codes.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateDir { .. } | Self::MissingDir { .. } | Self::Open { .. } => "open",
            Self::NotFound { .. } => "not_found",
            Self::Damaged { .. } => "damaged",
            Self::RunBusy { .. } => "run_busy",
            Self::Lock { .. } => "lock",
            Self::RunPruned { .. } => "run_pruned",
            Self::NoHistogramBuckets { .. } => "no_histogram_buckets",
            Self::SchemaTooNew { .. } => "schema_too_new",
            Self::Sqlite { source, .. } => match source.sqlite_error_code() {
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
                    "busy"
                }
                Some(rusqlite::ErrorCode::DiskFull) => "disk_full",
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
                    "damaged"
                }
                _ => "sqlite",
            },
            Self::RunNotFound { .. } => "run_not_found",
            Self::RunExists { .. } => "run_exists",
            Self::DuplicateSample { .. } => "duplicate_sample",
            Self::InvalidRecord { .. } => "invalid_record",
            Self::Corrupt { .. } => "corrupt",
            Self::Export { .. } => "export",
            Self::PgUrl { .. } | Self::PgPasswordInUrl { .. } => "bad_url",
            Self::PgConnect { .. } => "open",
            Self::Postgres { source, .. } => match source.code() {
                Some(code) if code.code().starts_with("40") || code.code().starts_with("55") => {
                    "busy"
                }
                Some(code) if code.code() == "53100" => "disk_full",
                _ => "postgres",
            },
            Self::PgNoSchema { .. } => "not_found",
            Self::NotOnPostgres { .. } => "not_on_postgres",
            Self::RunDiffers { .. } => "run_exists",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_file_and_kinds_are_bounded() {
        let e = StoreError::RunNotFound {
            run_id: "r1".into(),
            path: PathBuf::from("/out/llmbench.sqlite"),
        };
        assert_eq!(
            e.to_string(),
            "/out/llmbench.sqlite: no run `r1` in this results store"
        );
        assert_eq!(e.kind(), "run_not_found");
        let busy = StoreError::Sqlite {
            path: PathBuf::from("x.sqlite"),
            action: "record a sample",
            source: rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
                None,
            ),
        };
        assert_eq!(busy.kind(), "busy");
        assert!(
            busy.to_string()
                .starts_with("x.sqlite: cannot record a sample: ")
        );
    }
}
