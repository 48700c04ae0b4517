//! Connection settings and the schema, versioned with `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] takes the schema from version `i` to `i + 1`; a new store runs
//! them all. Migrations are append-only: never edit one that has shipped, add the next.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::StoreError;

/// How long a statement waits for another connection's lock before failing with `busy`.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Version 1: runs, samples and what each sample owns. Columns are typed (`STRICT`); JSON is
/// kept only for open-ended structures (the price table, provider and grader lists).
const V1: &str = r#"
CREATE TABLE runs (
    id              TEXT PRIMARY KEY NOT NULL,
    created_at      TEXT NOT NULL,
    config_path     TEXT NOT NULL,
    config_toml     TEXT NOT NULL,
    prices_json     TEXT NOT NULL CHECK (json_valid(prices_json)),
    planned_samples INTEGER NOT NULL CHECK (planned_samples >= 0),
    providers_json  TEXT NOT NULL CHECK (json_valid(providers_json)),
    graders_json    TEXT NOT NULL CHECK (json_valid(graders_json)),
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
    finished_at     TEXT,
    status_reason   TEXT
) STRICT;

CREATE TABLE samples (
    run_id                    TEXT NOT NULL REFERENCES runs (id),
    sample_id                 TEXT NOT NULL CHECK (length(sample_id) = 32),
    task                      TEXT NOT NULL,
    item                      TEXT NOT NULL,
    provider                  TEXT NOT NULL,
    model                     TEXT NOT NULL,
    repeat                    INTEGER NOT NULL CHECK (repeat >= 0),
    status                    TEXT NOT NULL CHECK (status IN ('done', 'error')),
    error_kind                TEXT,
    error_message             TEXT,
    http_status               INTEGER,
    error_provider_code       TEXT,
    error_retry_after_seconds REAL,
    error_should_retry        INTEGER CHECK (error_should_retry IN (0, 1)),
    attempts                  INTEGER NOT NULL CHECK (attempts >= 0),
    cost_usd                  REAL,
    verdict_pass              INTEGER CHECK (verdict_pass IN (0, 1)),
    verdict_score             REAL,
    first_failure             INTEGER CHECK (first_failure >= 0),
    finished_at               TEXT NOT NULL,
    PRIMARY KEY (run_id, sample_id)
) STRICT;

CREATE TABLE completions (
    run_id             TEXT NOT NULL,
    sample_id          TEXT NOT NULL,
    text               TEXT NOT NULL,
    stop_reason        TEXT NOT NULL,
    response_model     TEXT,
    input_tokens       INTEGER CHECK (input_tokens >= 0),
    output_tokens      INTEGER CHECK (output_tokens >= 0),
    cache_read_tokens  INTEGER CHECK (cache_read_tokens >= 0),
    cache_write_tokens INTEGER CHECK (cache_write_tokens >= 0),
    reasoning_tokens   INTEGER CHECK (reasoning_tokens >= 0),
    latency_seconds    REAL NOT NULL,
    ttft_seconds       REAL,
    PRIMARY KEY (run_id, sample_id),
    FOREIGN KEY (run_id, sample_id) REFERENCES samples (run_id, sample_id)
) STRICT;

CREATE TABLE grades (
    run_id    TEXT NOT NULL,
    sample_id TEXT NOT NULL,
    position  INTEGER NOT NULL CHECK (position >= 0),
    grader    TEXT NOT NULL,
    outcome   TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'error')),
    score     REAL NOT NULL,
    evidence  TEXT NOT NULL,
    kind      TEXT NOT NULL CHECK (kind IN ('check', 'execution', 'judgement')),
    PRIMARY KEY (run_id, sample_id, position),
    FOREIGN KEY (run_id, sample_id) REFERENCES samples (run_id, sample_id)
) STRICT;

CREATE TABLE attempts (
    run_id           TEXT NOT NULL,
    sample_id        TEXT NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    outcome          TEXT NOT NULL,
    http_status      INTEGER,
    wait_seconds     REAL NOT NULL,
    duration_seconds REAL NOT NULL,
    PRIMARY KEY (run_id, sample_id, attempt),
    FOREIGN KEY (run_id, sample_id) REFERENCES samples (run_id, sample_id)
) STRICT;
"#;

/// Version 2: what a grader spent (a judge model's tokens and their cost), per grade, kept
/// apart from the sample's own usage and cost.
const V2: &str = r#"
ALTER TABLE grades ADD COLUMN input_tokens INTEGER CHECK (input_tokens >= 0);
ALTER TABLE grades ADD COLUMN output_tokens INTEGER CHECK (output_tokens >= 0);
ALTER TABLE grades ADD COLUMN cost_usd REAL;
"#;

const MIGRATIONS: &[&str] = &[V1, V2];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets the connection up (WAL, `synchronous=NORMAL`, busy timeout, foreign keys) and brings
/// the schema to [`SCHEMA_VERSION`].
///
/// WAL with `synchronous=NORMAL` keeps every committed transaction across a crash of the
/// process (the operating system still holds the written pages); a power loss may drop the
/// last few commits but never leaves the file inconsistent.
pub(crate) fn prepare(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let open_err = |source| StoreError::Open {
        path: path.to_owned(),
        source,
    };
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
        .map_err(open_err)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), journal_mode = %mode, "results store is not in WAL mode");
    }
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(open_err)?;
    conn.pragma_update(None, "foreign_keys", true)
        .map_err(open_err)?;
    migrate(conn, path)
}

fn user_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |row| row.get(0))
}

fn migrate(conn: &mut Connection, path: &Path) -> Result<(), StoreError> {
    let sql_err = |source| StoreError::Sqlite {
        path: path.to_owned(),
        action: "create or migrate the schema",
        source,
    };
    let too_new = |found| StoreError::SchemaTooNew {
        path: path.to_owned(),
        found,
        supported: SCHEMA_VERSION,
    };
    let found = user_version(conn).map_err(|source| StoreError::Open {
        path: path.to_owned(),
        source,
    })?;
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    // Read the version again under the write lock: another process may have migrated.
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err)?;
    let found = user_version(&tx).map_err(sql_err)?;
    if found > SCHEMA_VERSION {
        return Err(too_new(found));
    }
    for (done, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql).map_err(sql_err)?;
        tx.pragma_update(None, "user_version", done as i64 + 1)
            .map_err(sql_err)?;
    }
    tx.commit().map_err(sql_err)?;
    tracing::debug!(path = %path.display(), from = found, to = SCHEMA_VERSION, "migrated results store schema");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Store;

    /// A store written by a version-1 build opens, migrates, and reads back its grades with
    /// no grader spend.
    #[test]
    fn a_version_1_store_is_migrated_and_stays_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmbench.sqlite");
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            let id = llmbench_core::SampleKey {
                task: "t".into(),
                item: "i".into(),
                provider: "p".into(),
                repeat: 0,
            }
            .id()
            .to_string();
            conn.execute_batch(
                r#"INSERT INTO runs VALUES ('r1', '2026-01-01T00:00:00Z', 'c.toml', '', '{}', 1,
                    '[["p", "m", "P"]]', '[["t", ["g"]]]', 'finished', NULL, NULL)"#,
            )
            .unwrap();
            conn.execute(
                "INSERT INTO samples (run_id, sample_id, task, item, provider, model, repeat,
                     status, attempts, verdict_pass, verdict_score, finished_at)
                 VALUES ('r1', ?1, 't', 'i', 'p', 'm', 0, 'done', 1, 1, 1.0,
                     '2026-01-01T00:00:01Z')",
                [&id],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO grades VALUES ('r1', ?1, 0, 'g', 'pass', 1.0, 'matched', 'check')",
                [&id],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let version: i64 = user_version(&store.conn).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let report = store.report("r1").unwrap();
        let (name, grade) = &report.samples[0].grades[0];
        assert_eq!((name.as_str(), grade.evidence.as_str()), ("g", "matched"));
        assert_eq!((grade.usage, grade.cost_usd), (None, None));
    }
}
