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

/// WAL pages after which a commit checkpoints (SQLite's default is 1000, 4 MiB).
pub(crate) const WAL_AUTOCHECKPOINT_PAGES: i64 = 256;

/// The size, in bytes, the WAL file is truncated back to after a checkpoint resets it
/// (SQLite's default is no limit: the file keeps its largest size).
pub(crate) const JOURNAL_SIZE_LIMIT_BYTES: i64 = 1 << 20;

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

/// Version 3: the k of pass@k a run asked for (`[run] pass-at-k`), a JSON array of integers;
/// runs stored before it asked for none.
const V3: &str = r#"
ALTER TABLE runs ADD COLUMN pass_at_k_json TEXT NOT NULL DEFAULT '[]'
    CHECK (json_valid(pass_at_k_json));
"#;

/// Version 4: per-run aggregates, written when a run ends, so that `serve` rebuilds its
/// metrics without reading samples; and the retention marks.
///
/// - `runs.aggregated_at`: when the aggregates of the run were written; NULL when there are
///   none (a run stored before version 4, or one running again since).
/// - `runs.histogram_buckets_json`: the upper bounds the histograms were counted in (the
///   metrics crate's buckets), `{"request_seconds": [...], ...}`.
/// - `runs.samples_deleted_at`: when the retention policy deleted the run's samples,
///   completions, grades and attempts (the run and its aggregates are kept).
/// - `run_aggregates`: one row per run x provider x model x task: sample counts, token sums
///   (NULL when no sample knew the count), cost sums (NULL when no cost was known).
/// - `run_aggregate_counts`: counts with open-ended labels: `sample_error` (error kind),
///   `attempt_error` (outcome, HTTP status or ''), `attempt_retry` (outcome),
///   `grade` (grader, outcome).
/// - `run_aggregate_histograms`: per-bucket (not cumulative) counts as a JSON array of
///   integers, one per bound then `+Inf`, with the exact count and sum; `label` is `success`
///   or `error` for `request_seconds`, the grader for `grade_score`, else ''.
const V4: &str = r#"
ALTER TABLE runs ADD COLUMN aggregated_at TEXT;
ALTER TABLE runs ADD COLUMN histogram_buckets_json TEXT
    CHECK (histogram_buckets_json IS NULL OR json_valid(histogram_buckets_json));
ALTER TABLE runs ADD COLUMN samples_deleted_at TEXT;

CREATE TABLE run_aggregates (
    run_id             TEXT NOT NULL REFERENCES runs (id),
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    task               TEXT NOT NULL,
    samples            INTEGER NOT NULL CHECK (samples >= 0),
    errors             INTEGER NOT NULL CHECK (errors >= 0),
    passes             INTEGER NOT NULL CHECK (passes >= 0),
    fails              INTEGER NOT NULL CHECK (fails >= 0),
    input_tokens       INTEGER CHECK (input_tokens >= 0),
    output_tokens      INTEGER CHECK (output_tokens >= 0),
    cache_read_tokens  INTEGER CHECK (cache_read_tokens >= 0),
    cache_write_tokens INTEGER CHECK (cache_write_tokens >= 0),
    reasoning_tokens   INTEGER CHECK (reasoning_tokens >= 0),
    total_input_tokens INTEGER CHECK (total_input_tokens >= 0),
    cost_usd           REAL,
    grader_cost_usd    REAL,
    PRIMARY KEY (run_id, provider, model, task)
) STRICT;

CREATE TABLE run_aggregate_counts (
    run_id   TEXT NOT NULL,
    provider TEXT NOT NULL,
    model    TEXT NOT NULL,
    task     TEXT NOT NULL,
    name     TEXT NOT NULL
             CHECK (name IN ('sample_error', 'attempt_error', 'attempt_retry', 'grade')),
    label1   TEXT NOT NULL,
    label2   TEXT NOT NULL,
    value    INTEGER NOT NULL CHECK (value >= 0),
    PRIMARY KEY (run_id, provider, model, task, name, label1, label2),
    FOREIGN KEY (run_id, provider, model, task)
        REFERENCES run_aggregates (run_id, provider, model, task)
) STRICT;

CREATE TABLE run_aggregate_histograms (
    run_id       TEXT NOT NULL,
    provider     TEXT NOT NULL,
    model        TEXT NOT NULL,
    task         TEXT NOT NULL,
    name         TEXT NOT NULL CHECK (name IN ('request_seconds', 'first_token_seconds',
                     'output_tokens_per_second', 'grade_score')),
    label        TEXT NOT NULL,
    count        INTEGER NOT NULL CHECK (count >= 0),
    sum          REAL NOT NULL,
    buckets_json TEXT NOT NULL CHECK (json_valid(buckets_json)),
    PRIMARY KEY (run_id, provider, model, task, name, label),
    FOREIGN KEY (run_id, provider, model, task)
        REFERENCES run_aggregates (run_id, provider, model, task)
) STRICT;
"#;

/// Version 5: runs that remember what was sent.
///
/// - `requests`: each distinct request as rendered and sent to a provider, keyed by the
///   SHA-256 (hex) of its canonical JSON ([`crate::request_hash`]: the `CompletionRequest`
///   without its per-sample `sample` key, object keys sorted), so that the repeats of an item
///   with the same sampling share one row.
/// - `samples.request_hash`: the request a sample sent, written in the sample's transaction;
///   NULL for samples stored before version 5.
/// - `file_contents`: the bytes of every file a run read, by SHA-256 (hex), stored once
///   however many runs read them.
/// - `run_files`: the files a run read, in the order read, written with the run: the config
///   (`config`), prompt files (`prompt`), items files and datasets (`items`), and files
///   plugins named (`plugin-file`); `path` is the path as resolved when read, `size` its
///   length in bytes. A run stored before version 5 has none.
const V5: &str = r#"
CREATE TABLE requests (
    hash         TEXT PRIMARY KEY NOT NULL CHECK (length(hash) = 64),
    request_json TEXT NOT NULL CHECK (json_valid(request_json))
) STRICT;

ALTER TABLE samples ADD COLUMN request_hash TEXT REFERENCES requests (hash);

CREATE TABLE file_contents (
    sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    bytes  BLOB NOT NULL
) STRICT;

CREATE TABLE run_files (
    run_id   TEXT NOT NULL REFERENCES runs (id),
    position INTEGER NOT NULL CHECK (position >= 0),
    role     TEXT NOT NULL CHECK (role IN ('config', 'prompt', 'items', 'plugin-file')),
    path     TEXT NOT NULL,
    sha256   TEXT NOT NULL REFERENCES file_contents (sha256),
    size     INTEGER NOT NULL CHECK (size >= 0),
    PRIMARY KEY (run_id, position)
) STRICT;
"#;

/// Version 6: what each grader spent, per run x provider x model x task, so that `serve`
/// rebuilds `llmbench_grader_tokens_total` and `llmbench_grader_cost_usd_total` from the
/// aggregates exactly.
///
/// - `run_aggregate_grader_spend`: one row per group and grader that spent anything known:
///   `input_tokens` (`Usage::total_input` summed), `output_tokens` and `cost_usd`, each NULL
///   when no grade of the grader knew it.
/// - Aggregates written before this version lack it: they are marked as absent
///   (`aggregated_at` NULL) and computed again from the samples when next asked for. Runs
///   whose samples retention already deleted keep what they have (no spend per grader; the
///   group's `grader_cost_usd` total is still there).
const V6: &str = r#"
CREATE TABLE run_aggregate_grader_spend (
    run_id        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    task          TEXT NOT NULL,
    grader        TEXT NOT NULL,
    input_tokens  INTEGER CHECK (input_tokens >= 0),
    output_tokens INTEGER CHECK (output_tokens >= 0),
    cost_usd      REAL,
    PRIMARY KEY (run_id, provider, model, task, grader),
    FOREIGN KEY (run_id, provider, model, task)
        REFERENCES run_aggregates (run_id, provider, model, task)
) STRICT;

UPDATE runs SET aggregated_at = NULL
    WHERE aggregated_at IS NOT NULL AND samples_deleted_at IS NULL;
"#;

/// Version 7: a sample's rows are keyed by an integer given in the order samples are written.
///
/// - `samples.seq`: the sample's `INTEGER PRIMARY KEY` (its rowid, kept as it was by the
///   migration, so the order samples were written in stands), with `(run_id, sample_id)`
///   `UNIQUE` as before.
/// - `completions`, `grades` and `attempts` are keyed by `seq` (`completions.seq` is its
///   rowid; `(seq, position)` and `(seq, attempt)` for the others) and reference
///   `samples (seq)`. They keep `run_id` and `sample_id`, copies of their sample's, for
///   scans of a run (`report_reads`) and for whoever reads the file with `sqlite3`.
///
/// Why: the sample id is a hash, so an index keyed by it takes each new sample on a random
/// page. Before this version each sample landed on four such pages (the primary keys of
/// `samples`, `completions`, `grades` and `attempts`), each a WAL frame of its own written
/// and copied back at the next checkpoint; the store's writer was about half of the harness's
/// CPU. Keyed by `seq`, the three child tables are appended to, and a group commit shares
/// their last pages (docs/performance.md, "eighth round").
///
/// The rebuilt tables' value checks are written as `=` comparisons joined by `OR`: a
/// `CHECK (x IN (...))` makes SQLite build a temporary b-tree of the list for every statement
/// that inserts into the table (three for each sample's row, two for each grades statement).
const V7: &str = r#"
CREATE TABLE samples_v7 (
    seq                       INTEGER PRIMARY KEY,
    run_id                    TEXT NOT NULL REFERENCES runs (id),
    sample_id                 TEXT NOT NULL CHECK (length(sample_id) = 32),
    task                      TEXT NOT NULL,
    item                      TEXT NOT NULL,
    provider                  TEXT NOT NULL,
    model                     TEXT NOT NULL,
    repeat                    INTEGER NOT NULL CHECK (repeat >= 0),
    status                    TEXT NOT NULL CHECK (status = 'done' OR status = 'error'),
    error_kind                TEXT,
    error_message             TEXT,
    http_status               INTEGER,
    error_provider_code       TEXT,
    error_retry_after_seconds REAL,
    error_should_retry        INTEGER
                              CHECK (error_should_retry = 0 OR error_should_retry = 1),
    attempts                  INTEGER NOT NULL CHECK (attempts >= 0),
    cost_usd                  REAL,
    verdict_pass              INTEGER CHECK (verdict_pass = 0 OR verdict_pass = 1),
    verdict_score             REAL,
    first_failure             INTEGER CHECK (first_failure >= 0),
    finished_at               TEXT NOT NULL,
    request_hash              TEXT REFERENCES requests (hash),
    UNIQUE (run_id, sample_id)
) STRICT;

INSERT INTO samples_v7 (seq, run_id, sample_id, task, item, provider, model, repeat, status,
    error_kind, error_message, http_status, error_provider_code, error_retry_after_seconds,
    error_should_retry, attempts, cost_usd, verdict_pass, verdict_score, first_failure,
    finished_at, request_hash)
SELECT rowid, run_id, sample_id, task, item, provider, model, repeat, status,
    error_kind, error_message, http_status, error_provider_code, error_retry_after_seconds,
    error_should_retry, attempts, cost_usd, verdict_pass, verdict_score, first_failure,
    finished_at, request_hash
FROM samples ORDER BY rowid;

CREATE TABLE completions_v7 (
    seq                INTEGER PRIMARY KEY REFERENCES samples_v7 (seq),
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
    ttft_seconds       REAL
) STRICT;

INSERT INTO completions_v7 (seq, run_id, sample_id, text, stop_reason, response_model,
    input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
    latency_seconds, ttft_seconds)
SELECT s.seq, c.run_id, c.sample_id, c.text, c.stop_reason, c.response_model,
    c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,
    c.reasoning_tokens, c.latency_seconds, c.ttft_seconds
FROM completions c JOIN samples_v7 s ON s.run_id = c.run_id AND s.sample_id = c.sample_id
ORDER BY s.seq;

CREATE TABLE grades_v7 (
    seq           INTEGER NOT NULL REFERENCES samples_v7 (seq),
    run_id        TEXT NOT NULL,
    sample_id     TEXT NOT NULL,
    position      INTEGER NOT NULL CHECK (position >= 0),
    grader        TEXT NOT NULL,
    outcome       TEXT NOT NULL
                  CHECK (outcome = 'pass' OR outcome = 'fail' OR outcome = 'error'),
    score         REAL NOT NULL,
    evidence      TEXT NOT NULL,
    kind          TEXT NOT NULL
                  CHECK (kind = 'check' OR kind = 'execution' OR kind = 'judgement'),
    input_tokens  INTEGER CHECK (input_tokens >= 0),
    output_tokens INTEGER CHECK (output_tokens >= 0),
    cost_usd      REAL,
    PRIMARY KEY (seq, position)
) STRICT;

INSERT INTO grades_v7 (seq, run_id, sample_id, position, grader, outcome, score, evidence, kind,
    input_tokens, output_tokens, cost_usd)
SELECT s.seq, g.run_id, g.sample_id, g.position, g.grader, g.outcome, g.score, g.evidence,
    g.kind, g.input_tokens, g.output_tokens, g.cost_usd
FROM grades g JOIN samples_v7 s ON s.run_id = g.run_id AND s.sample_id = g.sample_id
ORDER BY s.seq, g.position;

CREATE TABLE attempts_v7 (
    seq              INTEGER NOT NULL REFERENCES samples_v7 (seq),
    run_id           TEXT NOT NULL,
    sample_id        TEXT NOT NULL,
    attempt          INTEGER NOT NULL CHECK (attempt >= 1),
    outcome          TEXT NOT NULL,
    http_status      INTEGER,
    wait_seconds     REAL NOT NULL,
    duration_seconds REAL NOT NULL,
    PRIMARY KEY (seq, attempt)
) STRICT;

INSERT INTO attempts_v7 (seq, run_id, sample_id, attempt, outcome, http_status, wait_seconds,
    duration_seconds)
SELECT s.seq, a.run_id, a.sample_id, a.attempt, a.outcome, a.http_status, a.wait_seconds,
    a.duration_seconds
FROM attempts a JOIN samples_v7 s ON s.run_id = a.run_id AND s.sample_id = a.sample_id
ORDER BY s.seq, a.attempt;

DROP TABLE attempts;
DROP TABLE grades;
DROP TABLE completions;
DROP TABLE samples;
ALTER TABLE samples_v7 RENAME TO samples;
ALTER TABLE completions_v7 RENAME TO completions;
ALTER TABLE grades_v7 RENAME TO grades;
ALTER TABLE attempts_v7 RENAME TO attempts;
"#;

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The version whose migration rebuilds the sample tables ([`V7`]).
const RESAMPLE_VERSION: i64 = 7;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Sets the connection up (WAL, `synchronous=NORMAL`, busy timeout, foreign keys) and brings
/// the schema to [`SCHEMA_VERSION`].
///
/// WAL with `synchronous=NORMAL` keeps every committed transaction across a crash of the
/// process (the operating system still holds the written pages); a power loss may drop the
/// last few commits but never leaves the file inconsistent.
///
/// Before anything is written (the journal mode, a migration), the file is checked with
/// `PRAGMA quick_check`; a damaged file is refused with [`StoreError::Damaged`].
///
/// With `defer_check`, the check is skipped when opening writes nothing (the file is in WAL
/// mode with the current schema): the caller checks later ([`crate::Store::verify`]).
/// Returns whether the file was checked.
pub(crate) fn prepare(
    conn: &mut Connection,
    path: &Path,
    defer_check: bool,
) -> Result<bool, StoreError> {
    let open_err = |source| open_or_damaged(path, source);
    conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
    let writes_nothing = || -> rusqlite::Result<bool> {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |row| row.get(0))?;
        Ok(mode.eq_ignore_ascii_case("wal") && user_version(conn)? == SCHEMA_VERSION)
    };
    let checked = !(defer_check && writes_nothing().map_err(open_err)?);
    if checked {
        check(conn, path)?;
    }
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
    conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)
        .map_err(open_err)?;
    conn.pragma_update(None, "journal_size_limit", JOURNAL_SIZE_LIMIT_BYTES)
        .map_err(open_err)?;
    migrate(conn, path)?;
    Ok(checked)
}

/// An error while opening: a damaged file is [`StoreError::Damaged`], anything else
/// [`StoreError::Open`].
pub(crate) fn open_or_damaged(path: &Path, source: rusqlite::Error) -> StoreError {
    match source.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) => {
            StoreError::Damaged {
                path: path.to_owned(),
                detail: source.to_string(),
            }
        }
        _ => StoreError::Open {
            path: path.to_owned(),
            source,
        },
    }
}

/// `PRAGMA quick_check`: every page's b-tree structure, cell and overflow pointers and the
/// free list, without the index-versus-table cross-check of `integrity_check` (linear in the
/// file's size; see the crate docs for figures). At most 5 problems are reported.
pub(crate) fn check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let problems = conn
        .prepare("PRAGMA quick_check(5)")
        .and_then(|mut stmt| {
            stmt.query_map([], |row| row.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })
        .map_err(|source| open_or_damaged(path, source))?;
    if problems.len() == 1 && problems[0] == "ok" {
        return Ok(());
    }
    Err(StoreError::Damaged {
        path: path.to_owned(),
        detail: format!("quick_check: {}", problems.join("; ")),
    })
}

/// Copies the WAL into the database and truncates it to 0 bytes: what a run's end does. A
/// reader in the middle of a transaction makes this a partial checkpoint (reported in the
/// log, not as an error): the WAL is then truncated by a later checkpoint.
pub(crate) fn checkpoint(conn: &Connection, path: &Path) {
    let result = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        Ok((
            row.get::<_, i64>(0)?,
            row.get::<_, i64>(1)?,
            row.get::<_, i64>(2)?,
        ))
    });
    match result {
        Ok((0, _, _)) => {}
        Ok((busy, log, done)) => {
            tracing::debug!(path = %path.display(), busy, log, done, "partial WAL checkpoint: a reader holds the WAL");
        }
        Err(e) => tracing::warn!(path = %path.display(), error = %e, "WAL checkpoint failed"),
    }
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
    // Version 7 copies every sample's rows: said (at the level shown by default) before it
    // starts, so that a large store's first open (about a minute per million samples) is not
    // taken for a hang. A store without samples is rebuilt at once, silently.
    let samples: i64 = match (1..RESAMPLE_VERSION).contains(&found) {
        true => tx
            .query_row("SELECT count(*) FROM samples", [], |row| row.get(0))
            .map_err(sql_err)?,
        false => 0,
    };
    if samples > 0 {
        tracing::warn!(path = %path.display(), samples, "upgrading the results store to schema version {RESAMPLE_VERSION}: its sample tables are rebuilt once (about a minute per million samples)");
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
    use rusqlite::params;

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
        let version: i64 = user_version(store.conn().unwrap()).unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let report = store.report("r1").unwrap();
        let (name, grade) = &report.samples[0].grades[0];
        assert_eq!((name.as_str(), grade.evidence.as_str()), ("g", "matched"));
        assert_eq!((grade.usage, grade.cost_usd), (None, None));
        assert!(report.run.pass_at_k.is_empty());
    }

    /// A store written by a version-2 build opens, migrates to version 3, and its runs read
    /// back as having asked for no pass@k; a new run in the same file keeps its own.
    #[test]
    fn a_version_2_store_is_migrated_and_its_runs_ask_for_no_pass_at_k() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmbench.sqlite");
        let id = llmbench_core::SampleKey {
            task: "t".into(),
            item: "i".into(),
            provider: "p".into(),
            repeat: 0,
        }
        .id()
        .to_string();
        {
            let conn = Connection::open(&path).unwrap();
            conn.execute_batch(V1).unwrap();
            conn.execute_batch(V2).unwrap();
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute_batch(
                r#"INSERT INTO runs VALUES ('old', '2026-01-01T00:00:00Z', 'c.toml', '', '{}', 1,
                    '[["p", "m", "P"]]', '[["t", ["g"]]]', 'finished', NULL, NULL)"#,
            )
            .unwrap();
            conn.execute(
                "INSERT INTO samples (run_id, sample_id, task, item, provider, model, repeat,
                     status, attempts, verdict_pass, verdict_score, finished_at)
                 VALUES ('old', ?1, 't', 'i', 'p', 'm', 0, 'done', 1, 0, 0.0,
                     '2026-01-01T00:00:01Z')",
                [&id],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO grades VALUES ('old', ?1, 0, 'g', 'fail', 0.0, 'no match', 'check',
                     NULL, NULL, NULL)",
                [&id],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(user_version(store.conn().unwrap()).unwrap(), SCHEMA_VERSION);
        assert_eq!(SCHEMA_VERSION, 7);
        let old = store.run("old").unwrap();
        assert!(old.pass_at_k.is_empty());
        let report = store.report("old").unwrap();
        assert!(report.run.pass_at_k.is_empty());
        assert_eq!(report.samples.len(), 1);
        assert_eq!(report.samples[0].grades[0].1.evidence, "no match");
        assert!(!report.samples[0].verdict.as_ref().unwrap().pass);

        store
            .create_run(&crate::NewRun {
                id: "new".into(),
                created_at: "2026-02-01T00:00:00Z".into(),
                config_path: "c.toml".into(),
                config_toml: String::new(),
                prices_json: serde_json::json!({}),
                planned_samples: 10,
                providers: vec![("p".into(), "m".into(), "P".into())],
                graders: vec![("t".into(), vec!["g".into()])],
                pass_at_k: vec![1, 10],
            })
            .unwrap();
        assert_eq!(store.report("new").unwrap().run.pass_at_k, vec![1, 10]);
        assert!(store.run("old").unwrap().pass_at_k.is_empty());
    }

    /// A store written by a version-4 build opens and migrates to version 5: its samples
    /// read back with no request (never one rebuilt), its runs with no files, and new
    /// samples in the same run store theirs.
    #[test]
    fn a_version_4_store_is_migrated_and_its_old_samples_have_no_request() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmbench.sqlite");
        let key = |item: &str| llmbench_core::SampleKey {
            task: "t".into(),
            item: item.into(),
            provider: "p".into(),
            repeat: 0,
        };
        {
            let conn = Connection::open(&path).unwrap();
            for sql in [V1, V2, V3, V4] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute_batch(
                r#"INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                       planned_samples, providers_json, graders_json, status)
                   VALUES ('old', '2026-01-01T00:00:00Z', 'c.toml', '', '{}', 2,
                    '[["p", "m", "P"]]', '[["t", ["g"]]]', 'interrupted')"#,
            )
            .unwrap();
            conn.execute(
                "INSERT INTO samples (run_id, sample_id, task, item, provider, model, repeat,
                     status, attempts, verdict_pass, verdict_score, finished_at)
                 VALUES ('old', ?1, 't', 'a', 'p', 'm', 0, 'done', 1, 1, 1.0,
                     '2026-01-01T00:00:01Z')",
                [key("a").id().to_string()],
            )
            .unwrap();
        }
        let mut store = Store::open(&path).unwrap();
        assert_eq!(user_version(store.conn().unwrap()).unwrap(), SCHEMA_VERSION);
        assert!(!store.run_stored_files("old").unwrap());
        assert!(store.run_files("old").unwrap().is_empty());
        let report = store.report("old").unwrap();
        assert_eq!(report.samples.len(), 1);
        assert_eq!(report.samples[0].request, None);

        // Resumed by a version-5 build: the new sample stores its request.
        let request = llmbench_core::CompletionRequest {
            model: "m".into(),
            system: None,
            messages: vec![llmbench_core::Message::user("hi")],
            max_tokens: 10,
            sampling: llmbench_core::Sampling::default(),
            stream: false,
            sample: None,
        };
        let record = llmbench_core::SampleRecord {
            key: key("b"),
            model: "m".into(),
            status: llmbench_core::SampleStatus::Error,
            completion: None,
            error: Some(llmbench_core::ProviderError {
                kind: llmbench_core::ProviderErrorKind::Timeout,
                message: "slow".into(),
                http_status: None,
                provider_code: None,
                retry_after: None,
                should_retry: None,
            }),
            grades: Vec::new(),
            verdict: None,
            cost_usd: None,
            attempts: 1,
            request: Some(request.clone()),
        };
        store.record_sample("old", &record, &[]).unwrap();
        let report = store.report("old").unwrap();
        assert_eq!(report.samples[0].request, None);
        assert_eq!(report.samples[1].request.as_ref(), Some(&request));
    }

    /// A store written by a version-6 build opens and migrates to version 7: every sample
    /// keeps its rows (completion, grades in order, attempts), numbered in the order they
    /// were written; the file passes its integrity and foreign-key checks; new samples follow
    /// and a sample stored again is still refused.
    #[test]
    fn a_version_6_store_is_migrated_with_its_samples_keyed_in_written_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmbench.sqlite");
        let key = |item: &str| llmbench_core::SampleKey {
            task: "t".into(),
            item: item.into(),
            provider: "p".into(),
            repeat: 0,
        };
        // Written in the order c, a, b: not the order of their ids or items.
        let items = ["c", "a", "b"];
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            conn.execute_batch(
                r#"INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                       planned_samples, providers_json, graders_json, status)
                   VALUES ('old', '2026-01-01T00:00:00Z', 'c.toml', '', '{}', 4,
                    '[["p", "m", "P"]]', '[["t", ["g1", "g2"]]]', 'interrupted')"#,
            )
            .unwrap();
            for (n, item) in items.iter().enumerate() {
                let id = key(item).id().to_string();
                conn.execute(
                    "INSERT INTO samples (run_id, sample_id, task, item, provider, model,
                         repeat, status, attempts, verdict_pass, verdict_score, finished_at)
                     VALUES ('old', ?1, 't', ?2, 'p', 'm', 0, 'done', 2, 1, 1.0,
                         '2026-01-01T00:00:01Z')",
                    params![id, item],
                )
                .unwrap();
                conn.execute(
                    "INSERT INTO completions (run_id, sample_id, text, stop_reason,
                         output_tokens, latency_seconds)
                     VALUES ('old', ?1, ?2, 'end_turn', ?3, 0.5)",
                    params![id, format!("answer {item}"), n as i64],
                )
                .unwrap();
                for (position, grader) in ["g1", "g2"].iter().enumerate() {
                    conn.execute(
                        "INSERT INTO grades (run_id, sample_id, position, grader, outcome,
                             score, evidence, kind)
                         VALUES ('old', ?1, ?2, ?3, 'pass', 1.0, ?4, 'check')",
                        params![id, position as i64, grader, format!("{grader} of {item}")],
                    )
                    .unwrap();
                }
                for attempt in 1..=2 {
                    conn.execute(
                        "INSERT INTO attempts (run_id, sample_id, attempt, outcome,
                             wait_seconds, duration_seconds)
                         VALUES ('old', ?1, ?2, ?3, 0.0, 0.25)",
                        params![id, attempt, if attempt == 1 { "server" } else { "ok" }],
                    )
                    .unwrap();
                }
            }
        }
        let mut store = Store::open(&path).unwrap();
        let conn = store.conn().unwrap();
        assert_eq!(user_version(conn).unwrap(), SCHEMA_VERSION);
        let written: Vec<String> = conn
            .prepare("SELECT item FROM samples ORDER BY seq")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(written, items);
        let fk_problems: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_problems, 0);
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
        let report = store.report("old").unwrap();
        assert_eq!(report.samples.len(), 3);
        for sample in &report.samples {
            let item = &sample.key.item;
            let completion = sample.completion.as_ref().unwrap();
            assert_eq!(completion.text, format!("answer {item}"));
            let evidence: Vec<&str> = sample
                .grades
                .iter()
                .map(|(_, g)| g.evidence.as_str())
                .collect();
            assert_eq!(evidence, [format!("g1 of {item}"), format!("g2 of {item}")]);
            let attempts = store.attempts("old", sample.key.id()).unwrap();
            let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
            assert_eq!(outcomes, ["server", "ok"]);
        }

        // A new sample follows the old ones; one stored again is refused.
        let mut record = report.samples[0].clone();
        let again = store.record_sample("old", &record, &[]).unwrap_err();
        assert!(
            matches!(again, StoreError::DuplicateSample { .. }),
            "{again:?}"
        );
        record.key = key("d");
        store.record_sample("old", &record, &[]).unwrap();
        let last: String = store
            .conn()
            .unwrap()
            .query_row(
                "SELECT item FROM samples ORDER BY seq DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(last, "d");
        let report = store.report("old").unwrap();
        assert_eq!(report.samples.len(), 4);
        assert_eq!(report.samples[3].grades.len(), 2);
    }

    /// The value checks of the rebuilt tables (`=` joined by `OR`, not `IN`) still refuse a
    /// value outside their lists and let NULL through where the column allows it.
    #[test]
    fn the_sample_and_grade_value_checks_refuse_unknown_values() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("llmbench.sqlite")).unwrap();
        let conn = store.conn().unwrap();
        conn.execute_batch(
            r#"INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                   planned_samples, providers_json, graders_json, status)
               VALUES ('r', '2026-01-01T00:00:00Z', 'c.toml', '', '{}', 1, '[]', '[]',
                   'finished')"#,
        )
        .unwrap();
        let sample = |status: &str, retry: Option<i64>, pass: Option<i64>| {
            conn.execute(
                "INSERT INTO samples (run_id, sample_id, task, item, provider, model, repeat,
                     status, attempts, error_should_retry, verdict_pass, finished_at)
                 VALUES ('r', printf('%032d', (SELECT count(*) FROM samples)), 't', 'i', 'p',
                     'm', 0, ?1, 1, ?2, ?3, '2026-01-01T00:00:01Z')",
                params![status, retry, pass],
            )
        };
        sample("done", None, None).unwrap();
        sample("error", Some(1), Some(0)).unwrap();
        for (status, retry, pass) in [
            ("finished", None, None),
            ("done", Some(2), None),
            ("done", None, Some(-1)),
        ] {
            let err = sample(status, retry, pass).unwrap_err();
            assert!(err.to_string().contains("CHECK"), "{err}");
        }
        let grade = |outcome: &str, kind: &str| {
            conn.execute(
                "INSERT INTO grades (seq, run_id, sample_id, position, grader, outcome, score,
                     evidence, kind)
                 SELECT seq, run_id, sample_id,
                     (SELECT count(*) FROM grades), 'g', ?1, 1.0, '', ?2
                 FROM samples ORDER BY seq LIMIT 1",
                params![outcome, kind],
            )
        };
        grade("pass", "check").unwrap();
        grade("error", "judgement").unwrap();
        for (outcome, kind) in [("maybe", "check"), ("fail", "vibe")] {
            let err = grade(outcome, kind).unwrap_err();
            assert!(err.to_string().contains("CHECK"), "{err}");
        }
    }

    /// The column only holds JSON: a hand-written bad value is refused by SQLite.
    #[test]
    fn the_pass_at_k_column_holds_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("llmbench.sqlite");
        let store = Store::open(&path).unwrap();
        let err = store
            .conn()
            .unwrap()
            .execute_batch(
                r#"INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                       planned_samples, providers_json, graders_json, status, pass_at_k_json)
                   VALUES ('r', '2026-01-01T00:00:00Z', 'c.toml', '', '{}', 1,
                    '[]', '[]', 'finished', '[1, 10')"#,
            )
            .unwrap_err();
        assert!(err.to_string().contains("CHECK"), "{err}");
    }
}
