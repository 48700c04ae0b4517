//! Errors from opening, writing and reading the results store.

use std::io;
use std::path::PathBuf;

use llmbench_core::{SampleId, SampleKey};

/// Why the store could not do what was asked. Every variant names the SQLite file, or the
/// PostgreSQL store's URL without its password.
///
/// A variant with a cause keeps it as its [`std::error::Error::source`] and does not repeat
/// it in its message: callers print the chain (the CLI does), so each cause shows once.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: cannot create the output directory")]
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
    #[error("{path}: cannot open the results store")]
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
    #[error("{path}: cannot {action}")]
    Sqlite {
        path: PathBuf,
        /// What the store was doing, as a fragment after "cannot".
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    /// A file the run read could not be stored with it: read again from disk, it failed or
    /// was no longer what the config read.
    #[error("{path}: cannot store the run's copy of a file it read: {detail}")]
    RunFile { path: PathBuf, detail: String },
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
    #[error("{lock}: cannot lock run `{run_id}`")]
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
    #[error("{path}: cannot connect to the PostgreSQL store")]
    PgConnect {
        path: PathBuf,
        #[source]
        source: postgres::Error,
    },
    #[error("{path}: cannot connect to the PostgreSQL store: {problem}")]
    PgTls {
        path: PathBuf,
        /// What TLS did wrong (the certificate, the handshake), with the URL's `sslmode`.
        problem: String,
        #[source]
        source: postgres::Error,
    },
    #[error("{path}: cannot use the CA certificates of sslrootcert={}", file.display())]
    PgRootCert {
        path: PathBuf,
        file: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: cannot {action}")]
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
    #[error("{path}: cannot write the export of run `{run_id}`")]
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
            Self::RunFile { .. } => "run_file",
            Self::RunNotFound { .. } => "run_not_found",
            Self::RunExists { .. } => "run_exists",
            Self::DuplicateSample { .. } => "duplicate_sample",
            Self::InvalidRecord { .. } => "invalid_record",
            Self::Corrupt { .. } => "corrupt",
            Self::Export { .. } => "export",
            Self::PgUrl { .. } | Self::PgPasswordInUrl { .. } => "bad_url",
            Self::PgConnect { .. } | Self::PgTls { .. } | Self::PgRootCert { .. } => "open",
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
        assert_eq!(busy.to_string(), "x.sqlite: cannot record a sample");
    }

    /// Issue 12: the cause is the error's source, printed once by whoever prints the chain,
    /// so the message must not hold it too.
    #[test]
    fn messages_do_not_repeat_their_source() {
        use std::error::Error as _;
        let path = || PathBuf::from("/out/llmbench.sqlite");
        let io = || io::Error::other("disk on fire: no space left");
        let sqlite = || {
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some("database or disk is full".into()),
            )
        };
        let pg = || {
            // A real postgres::Error without a server: connecting to a port nothing listens
            // on (loopback; refused at once).
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .unwrap()
                .port();
            postgres::Config::new()
                .host("127.0.0.1")
                .port(port)
                .user("nobody")
                .connect_timeout(std::time::Duration::from_secs(5))
                .connect(postgres::NoTls)
                .err()
                .expect("nothing listens there")
        };
        let errors = [
            StoreError::CreateDir {
                path: path(),
                source: io(),
            },
            StoreError::Open {
                path: path(),
                source: sqlite(),
            },
            StoreError::Sqlite {
                path: path(),
                action: "record a sample",
                source: sqlite(),
            },
            StoreError::Lock {
                lock: path(),
                run_id: "r1".into(),
                source: io(),
            },
            StoreError::Export {
                path: path(),
                run_id: "r1".into(),
                source: io(),
            },
            StoreError::PgConnect {
                path: path(),
                source: pg(),
            },
            StoreError::Postgres {
                path: path(),
                action: "record a sample",
                source: pg(),
            },
        ];
        for e in errors {
            let text = e.to_string();
            let source = e.source().expect("a cause").to_string();
            assert!(!source.is_empty());
            assert!(!text.contains(&source), "{text} repeats {source}");
            assert!(text.starts_with("/out/llmbench.sqlite: cannot "), "{text}");
        }
        let merge = crate::MergeError::Sql {
            path: path(),
            action: "copy its samples",
            source: sqlite(),
        };
        let source = merge.source().expect("a cause").to_string();
        assert!(!merge.to_string().contains(&source), "{merge}");
    }
}
