//! The PostgreSQL backend: one database that the shards of a sweep write to at once
//! (`llmbench run --shard I/N --store postgres://...`), behind the same [`Store`] API as the
//! SQLite file.
//!
//! # Address and password
//!
//! A store is a `postgres://` or `postgresql://` URL ([`PgTarget::parse`]). A URL that holds
//! a password is refused ([`StoreError::PgPasswordInUrl`], which shows the URL with the
//! password masked): passwords come only from the environment, given with
//! [`PgTarget::with_password`]. Messages name the store by its URL without any password
//! (`postgres://user@host:port/db`); nothing the store writes or logs holds the password.
//!
//! # TLS
//!
//! The URL's `sslmode` (`disable`, `prefer` (the default), `require`, `verify-ca`,
//! `verify-full`) and `sslrootcert=FILE` mean what they mean to libpq (`tls` submodule);
//! `require` encrypts without checking whom to, as libpq: use `verify-full` with a managed
//! database. A failed handshake or refused certificate is [`StoreError::PgTls`], saying which.
//!
//! # Schema
//!
//! The tables of the SQLite schema (`runs`, `samples`, `completions`, `grades`, `attempts`,
//! `requests`, `file_contents`, `run_files`, and from version 2 the aggregate tables
//! `run_aggregates`, `run_aggregate_counts`, `run_aggregate_histograms`,
//! `run_aggregate_grader_spend`), with the same columns and PostgreSQL types; the version is
//! the one row of `llmbench_schema`. A writer creates it if missing, and any process migrates
//! an older one, in one transaction under a session advisory lock, so that shards starting
//! together create or migrate it once.
//!
//! Aggregates (`aggregates` submodule) are stored only once no shard runs the run; retention
//! (`retention` submodule) never deletes the samples of a run a shard holds, nor a request a
//! shard is about to refer to; `merge` imports SQLite shard files; `browse` serves
//! `llmbench view`. [`Store::claim_run`] on its own is the one operation that returns
//! [`StoreError::NotOnPostgres`].
//!
//! # Shards writing at once
//!
//! A sample is inserted with `ON CONFLICT (run_id, sample_id) DO NOTHING`; when it was
//! already there, the stored sample (with its attempts) must equal the new one, else the
//! write is refused ([`StoreError::DuplicateSample`]): the same sample stored twice
//! identically is harmless, differently is an error, as in `llmbench merge`. The first shard
//! creates the run; the others attach to it ([`Store::set_claim_scope`] says which shard a
//! store runs), once its planned samples and config match.
//!
//! # Liveness
//!
//! A process running a run (or one shard of it) holds the session advisory lock
//! `pg_try_advisory_lock(K1, K2)`, K1 from the run id and K2 from the shard, on its
//! connection. The server releases it when the connection ends, however the process ends
//! (kill -9 included). A run is live while any of its shards' locks is held (`pg_locks`,
//! `classid = K1`): a stored `running` with no holder reads as `interrupted`, and a stored end
//! while another shard still holds its lock reads as `running`. Keys are 32-bit hashes: two run
//! ids whose K1 collide (about one pair in 4 billion) see each other's liveness. Session
//! locks need a session: a pooler in transaction mode (PgBouncer's `pool_mode=transaction`)
//! in front of the server breaks them; connect to the server or a session-mode pool.
//!
//! A run ends as `finished` only once the database holds all its planned samples: a shard that
//! finishes its part while another shard's samples are missing records `interrupted`, with a
//! reason saying how many are there; the last shard to finish records `finished`.

mod aggregates;
mod browse;
mod merge;
mod retention;
mod tls;

use std::cell::{RefCell, RefMut};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::time::{Duration, Instant};

use llmbench_core::{Completion, SampleId, SampleRecord, StopReason};
use postgres::fallible_iterator::FallibleIterator as _;
use postgres::types::ToSql;
use postgres::{Client, Row};

use crate::samples::{
    RawCompletion, RawGrade, RawSample, StoredSample, grade_kind_str, sample_status_str,
    stop_reason_str,
};
use crate::{
    AttemptRecord, DEAD_RUN_REASON, NewRun, RunFile, RunStatus, RunSummaryRow, SampleProgress,
    Store, StoreError, StoredRun,
};

/// The schema version this build writes into `llmbench_schema`: the number of migrations.
pub const PG_SCHEMA_VERSION: i32 = PG_MIGRATIONS.len() as i32;

/// Version N of the schema is the first N of these, applied in order.
const PG_MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2];

/// The transaction advisory lock key that serializes schema creation (`"llmbench"` in ASCII).
const SCHEMA_LOCK: i64 = 0x6c6c_6d62_656e_6368;

/// How long a claim retries while its lock is held: a shard killed and started again at once
/// may find its old session's lock until the server sees the connection close.
const CLAIM_PATIENCE: Duration = Duration::from_secs(3);

/// How long connecting may take when the URL does not say (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA_V1: &str = r#"
CREATE TABLE runs (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    id              TEXT PRIMARY KEY NOT NULL,
    created_at      TEXT NOT NULL,
    config_path     TEXT NOT NULL,
    config_toml     TEXT NOT NULL,
    prices_json     TEXT NOT NULL,
    planned_samples BIGINT NOT NULL CHECK (planned_samples >= 0),
    providers_json  TEXT NOT NULL,
    graders_json    TEXT NOT NULL,
    pass_at_k_json  TEXT NOT NULL DEFAULT '[]',
    status          TEXT NOT NULL
                    CHECK (status IN ('running', 'finished', 'interrupted', 'failed')),
    finished_at     TEXT,
    status_reason   TEXT,
    samples_deleted_at TEXT
);

CREATE TABLE requests (
    hash         TEXT PRIMARY KEY NOT NULL CHECK (length(hash) = 64),
    request_json TEXT NOT NULL
);

CREATE TABLE samples (
    run_id                    TEXT NOT NULL REFERENCES runs (id),
    sample_id                 TEXT NOT NULL CHECK (length(sample_id) = 32),
    task                      TEXT NOT NULL,
    item                      TEXT NOT NULL,
    provider                  TEXT NOT NULL,
    model                     TEXT NOT NULL,
    repeat                    BIGINT NOT NULL CHECK (repeat >= 0),
    status                    TEXT NOT NULL CHECK (status IN ('done', 'error')),
    error_kind                TEXT,
    error_message             TEXT,
    http_status               INTEGER,
    error_provider_code       TEXT,
    error_retry_after_seconds DOUBLE PRECISION,
    error_should_retry        BOOLEAN,
    attempts                  BIGINT NOT NULL CHECK (attempts >= 0),
    cost_usd                  DOUBLE PRECISION,
    verdict_pass              BOOLEAN,
    verdict_score             DOUBLE PRECISION,
    first_failure             BIGINT CHECK (first_failure >= 0),
    finished_at               TEXT NOT NULL,
    request_hash              TEXT REFERENCES requests (hash),
    PRIMARY KEY (run_id, sample_id)
);

CREATE TABLE completions (
    run_id             TEXT NOT NULL,
    sample_id          TEXT NOT NULL,
    text               TEXT NOT NULL,
    stop_reason        TEXT NOT NULL,
    response_model     TEXT,
    input_tokens       BIGINT CHECK (input_tokens >= 0),
    output_tokens      BIGINT CHECK (output_tokens >= 0),
    cache_read_tokens  BIGINT CHECK (cache_read_tokens >= 0),
    cache_write_tokens BIGINT CHECK (cache_write_tokens >= 0),
    reasoning_tokens   BIGINT CHECK (reasoning_tokens >= 0),
    latency_seconds    DOUBLE PRECISION NOT NULL,
    ttft_seconds       DOUBLE PRECISION,
    PRIMARY KEY (run_id, sample_id),
    FOREIGN KEY (run_id, sample_id) REFERENCES samples (run_id, sample_id)
);

CREATE TABLE grades (
    run_id        TEXT NOT NULL,
    sample_id     TEXT NOT NULL,
    position      BIGINT NOT NULL CHECK (position >= 0),
    grader        TEXT NOT NULL,
    outcome       TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'error')),
    score         DOUBLE PRECISION NOT NULL,
    evidence      TEXT NOT NULL,
    kind          TEXT NOT NULL CHECK (kind IN ('check', 'execution', 'judgement')),
    input_tokens  BIGINT CHECK (input_tokens >= 0),
    output_tokens BIGINT CHECK (output_tokens >= 0),
    cost_usd      DOUBLE PRECISION,
    PRIMARY KEY (run_id, sample_id, position),
    FOREIGN KEY (run_id, sample_id) REFERENCES samples (run_id, sample_id)
);

CREATE TABLE attempts (
    run_id           TEXT NOT NULL,
    sample_id        TEXT NOT NULL,
    attempt          BIGINT NOT NULL CHECK (attempt >= 1),
    outcome          TEXT NOT NULL,
    http_status      INTEGER,
    wait_seconds     DOUBLE PRECISION NOT NULL,
    duration_seconds DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (run_id, sample_id, attempt),
    FOREIGN KEY (run_id, sample_id) REFERENCES samples (run_id, sample_id)
);

CREATE TABLE file_contents (
    sha256 TEXT PRIMARY KEY NOT NULL CHECK (length(sha256) = 64),
    bytes  BYTEA NOT NULL
);

CREATE TABLE run_files (
    run_id   TEXT NOT NULL REFERENCES runs (id),
    position BIGINT NOT NULL CHECK (position >= 0),
    role     TEXT NOT NULL CHECK (role IN ('config', 'prompt', 'items', 'plugin-file')),
    path     TEXT NOT NULL,
    sha256   TEXT NOT NULL REFERENCES file_contents (sha256),
    size     BIGINT NOT NULL CHECK (size >= 0),
    PRIMARY KEY (run_id, position)
);
"#;

/// Version 2: per-run aggregates, as in the SQLite schema (its versions 4 and 6): the
/// columns `runs.aggregated_at` and `runs.histogram_buckets_json`, and the tables
/// `run_aggregates`, `run_aggregate_counts`, `run_aggregate_histograms` and
/// `run_aggregate_grader_spend`, with the same columns and meanings.
const SCHEMA_V2: &str = r#"
ALTER TABLE runs ADD COLUMN aggregated_at TEXT;
ALTER TABLE runs ADD COLUMN histogram_buckets_json TEXT
    CHECK (histogram_buckets_json IS NULL OR histogram_buckets_json::jsonb IS NOT NULL);

CREATE TABLE run_aggregates (
    run_id             TEXT NOT NULL REFERENCES runs (id),
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    task               TEXT NOT NULL,
    samples            BIGINT NOT NULL CHECK (samples >= 0),
    errors             BIGINT NOT NULL CHECK (errors >= 0),
    passes             BIGINT NOT NULL CHECK (passes >= 0),
    fails              BIGINT NOT NULL CHECK (fails >= 0),
    input_tokens       BIGINT CHECK (input_tokens >= 0),
    output_tokens      BIGINT CHECK (output_tokens >= 0),
    cache_read_tokens  BIGINT CHECK (cache_read_tokens >= 0),
    cache_write_tokens BIGINT CHECK (cache_write_tokens >= 0),
    reasoning_tokens   BIGINT CHECK (reasoning_tokens >= 0),
    total_input_tokens BIGINT CHECK (total_input_tokens >= 0),
    cost_usd           DOUBLE PRECISION,
    grader_cost_usd    DOUBLE PRECISION,
    PRIMARY KEY (run_id, provider, model, task)
);

CREATE TABLE run_aggregate_counts (
    run_id   TEXT NOT NULL,
    provider TEXT NOT NULL,
    model    TEXT NOT NULL,
    task     TEXT NOT NULL,
    name     TEXT NOT NULL
             CHECK (name IN ('sample_error', 'attempt_error', 'attempt_retry', 'grade')),
    label1   TEXT NOT NULL,
    label2   TEXT NOT NULL,
    value    BIGINT NOT NULL CHECK (value >= 0),
    PRIMARY KEY (run_id, provider, model, task, name, label1, label2),
    FOREIGN KEY (run_id, provider, model, task)
        REFERENCES run_aggregates (run_id, provider, model, task)
);

CREATE TABLE run_aggregate_histograms (
    run_id       TEXT NOT NULL,
    provider     TEXT NOT NULL,
    model        TEXT NOT NULL,
    task         TEXT NOT NULL,
    name         TEXT NOT NULL CHECK (name IN ('request_seconds', 'first_token_seconds',
                     'output_tokens_per_second', 'grade_score')),
    label        TEXT NOT NULL,
    count        BIGINT NOT NULL CHECK (count >= 0),
    sum          DOUBLE PRECISION NOT NULL,
    buckets_json TEXT NOT NULL CHECK (buckets_json::jsonb IS NOT NULL),
    PRIMARY KEY (run_id, provider, model, task, name, label),
    FOREIGN KEY (run_id, provider, model, task)
        REFERENCES run_aggregates (run_id, provider, model, task)
);

CREATE TABLE run_aggregate_grader_spend (
    run_id        TEXT NOT NULL,
    provider      TEXT NOT NULL,
    model         TEXT NOT NULL,
    task          TEXT NOT NULL,
    grader        TEXT NOT NULL,
    input_tokens  BIGINT CHECK (input_tokens >= 0),
    output_tokens BIGINT CHECK (output_tokens >= 0),
    cost_usd      DOUBLE PRECISION,
    PRIMARY KEY (run_id, provider, model, task, grader),
    FOREIGN KEY (run_id, provider, model, task)
        REFERENCES run_aggregates (run_id, provider, model, task)
);
"#;

/// Runs `f`, which calls the synchronous PostgreSQL client, from any thread. The client
/// drives its connection on a runtime of its own (`block_on`), which tokio forbids on a thread
/// running async tasks: on a worker of a multi-threaded runtime (the CLI's, where the runner
/// calls the store) the call is made with `block_in_place`; a single-threaded runtime cannot
/// lend its thread, so the call is refused there with [`StoreError::NotOnPostgres`].
pub(crate) fn blocking<R>(
    path: &std::path::Path,
    f: impl FnOnce() -> Result<R, StoreError>,
) -> Result<R, StoreError> {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Err(_) => f(),
        Ok(RuntimeFlavor::CurrentThread) => Err(StoreError::NotOnPostgres {
            path: path.to_owned(),
            operation: "use from a single-threaded async runtime",
        }),
        Ok(_) => tokio::task::block_in_place(f),
    }
}

/// Whether `text` names a PostgreSQL store (`postgres://` or `postgresql://`).
pub fn is_postgres_url(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// Where a PostgreSQL store is: its URL (never holding a password) and the password given
/// apart. `Debug` shows neither the password nor anything but the URL shown in messages.
#[derive(Clone)]
pub struct PgTarget {
    config: postgres::Config,
    tls: tls::Tls,
    /// The URL as given (it holds no password: one is refused).
    url: String,
    shown: String,
}

impl std::fmt::Debug for PgTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTarget")
            .field("url", &self.shown)
            .finish_non_exhaustive()
    }
}

impl PgTarget {
    /// Parses a `postgres://` / `postgresql://` URL. One that holds a password (in its user
    /// part or as `password=`) is refused without showing it.
    pub fn parse(url: &str) -> Result<Self, StoreError> {
        let url = url.trim();
        if !is_postgres_url(url) {
            return Err(StoreError::PgUrl {
                url: mask_password(url),
                detail: "expected postgres://USER@HOST:PORT/DATABASE".to_owned(),
            });
        }
        if has_password(url) {
            return Err(StoreError::PgPasswordInUrl {
                url: mask_password(url),
            });
        }
        let (rest, tls) = tls::split(url).map_err(|detail| StoreError::PgUrl {
            url: url.to_owned(),
            detail,
        })?;
        let mut config = postgres::Config::from_str(&rest).map_err(|e| StoreError::PgUrl {
            url: url.to_owned(),
            detail: e.to_string(),
        })?;
        config.ssl_mode(tls.client_mode());
        if config.get_password().is_some() {
            // Caught above; kept in case the parser finds one the text check did not.
            return Err(StoreError::PgPasswordInUrl {
                url: mask_password(url),
            });
        }
        if config.get_hosts().is_empty() {
            return Err(StoreError::PgUrl {
                url: url.to_owned(),
                detail: "no host".to_owned(),
            });
        }
        if config.get_user().is_none() {
            config.user("postgres");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("llmbench");
        }
        let shown = shown_url(&config);
        Ok(Self {
            config,
            tls,
            url: url.to_owned(),
            shown,
        })
    }

    /// The password, from the environment (`None`: connect without one).
    pub fn with_password(mut self, password: Option<String>) -> Self {
        if let Some(password) = password {
            self.config.password(password);
        }
        self
    }

    /// The URL as messages show it: `postgres://USER@HOST:PORT/DATABASE`.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// The URL as given, with its options (`sslmode`, `sslrootcert`, ...): what names the
    /// same store again (in a hint, or parsed again). It never holds a password.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Whether the URL's user part (`user:password@`) or its query (`password=`) holds a password.
fn has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    if let Some((user, _)) = authority.rsplit_once('@')
        && user.contains(':')
    {
        return true;
    }
    rest.split_once('?').is_some_and(|(_, query)| {
        query
            .split('&')
            .any(|pair| pair.trim().to_ascii_lowercase().starts_with("password="))
    })
}

/// `url` with any password replaced by `***`.
fn mask_password(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => match user.split_once(':') {
            Some((name, _)) => format!("{name}:***@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| {
                    if pair.trim().to_ascii_lowercase().starts_with("password=") {
                        "password=***".to_owned()
                    } else {
                        pair.to_owned()
                    }
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    if scheme.is_empty() {
        format!("{authority}{tail}")
    } else {
        format!("{scheme}://{authority}{tail}")
    }
}

fn shown_url(config: &postgres::Config) -> String {
    let user = config.get_user().unwrap_or("postgres");
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match host {
                postgres::config::Host::Tcp(name) => format!("{name}:{port}"),
                postgres::config::Host::Unix(dir) => format!("[{}]:{port}", dir.display()),
            }
        })
        .collect();
    let db = config.get_dbname().unwrap_or(user);
    format!("postgres://{user}@{}/{db}", hosts.join(","))
}

/// The PostgreSQL side of a [`Store`]: the connection, the shard it runs, the runs it holds.
pub(crate) struct Pg {
    /// Always `Some` but in `drop`, which closes it off any async runtime thread.
    client: RefCell<Option<Client>>,
    /// The shard this store runs (`2/4`), or empty for a whole sweep: part of its lock keys.
    scope: RefCell<String>,
    /// Whether a run already stored may be joined by [`Store::create_run_with_files`].
    attach: std::cell::Cell<bool>,
    /// The runs whose advisory lock this session holds.
    held: RefCell<HashSet<String>>,
    /// The per-sample statements, prepared once per connection: `execute` with SQL text
    /// parses and plans it on the server every time (one more round trip each), which was most
    /// of a stored sample's cost with several shards writing at once.
    statements: RefCell<std::collections::HashMap<&'static str, postgres::Statement>>,
}

impl Pg {
    /// `sql` prepared on this connection (once; the statement is reused until the
    /// connection closes). Named statements outlive the transaction that prepared them.
    fn statement(
        &self,
        tx: &mut postgres::Transaction<'_>,
        sql: &'static str,
    ) -> Result<postgres::Statement, postgres::Error> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = tx.prepare(sql)?;
        self.statements.borrow_mut().insert(sql, statement.clone());
        Ok(statement)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let Some(client) = self.client.get_mut().take() else {
            return;
        };
        // Closing the connection blocks on the client's runtime: not on an async thread.
        if tokio::runtime::Handle::try_current().is_ok() {
            let _ = std::thread::spawn(move || drop(client)).join();
        } else {
            drop(client);
        }
    }
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("scope", &self.scope)
            .field("held", &self.held)
            .finish_non_exhaustive()
    }
}

/// The two advisory lock keys of (run, shard).
fn lock_keys(run_id: &str, scope: &str) -> (i32, i32) {
    let key = |text: String| {
        let hash = crate::sha256_hex(text.as_bytes());
        u32::from_str_radix(&hash[..8], 16).expect("hex digits") as i32
    };
    (
        key(format!("llmbench run\0{run_id}")),
        key(format!("llmbench shard\0{scope}")),
    )
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One column of `rows`, to send as an array parameter (unnested on the server).
fn column<T, U>(rows: &[T], field: impl FnMut(&T) -> U) -> Vec<U> {
    rows.iter().map(field).collect()
}

impl Store {
    /// Opens the PostgreSQL store at `target` for writing runs: creates its schema if the
    /// database lacks it, and records as `interrupted` the runs stored as `running` that no
    /// process holds.
    pub fn open_postgres(target: &PgTarget) -> Result<Store, StoreError> {
        blocking(Path::new(&target.shown), || {
            let store = Self::connect_postgres(target, true)?;
            store.pg_record_dead_runs();
            Ok(store)
        })
    }

    /// Opens an existing PostgreSQL store, creating nothing: [`StoreError::PgNoSchema`] when
    /// the database holds no llmbench store. What read commands and `resume` use.
    pub fn open_existing_postgres(target: &PgTarget) -> Result<Store, StoreError> {
        blocking(Path::new(&target.shown), || {
            Self::connect_postgres(target, false)
        })
    }

    fn connect_postgres(target: &PgTarget, create: bool) -> Result<Store, StoreError> {
        let path = PathBuf::from(&target.shown);
        let connector = target.tls.connector(&path)?;
        let mut client = target.config.connect(connector).map_err(|source| {
            match tls::explain(&target.tls, &source) {
                Some(problem) => StoreError::PgTls {
                    path: path.clone(),
                    problem,
                    source,
                },
                None => StoreError::PgConnect {
                    path: path.clone(),
                    source,
                },
            }
        })?;
        prepare_schema(&mut client, &path, create)?;
        tracing::debug!(store = %target.shown, "opened PostgreSQL results store");
        Ok(Store {
            backend: crate::store::Backend::Postgres(Box::new(Pg {
                client: RefCell::new(Some(client)),
                scope: RefCell::default(),
                attach: std::cell::Cell::new(false),
                held: RefCell::default(),
                statements: RefCell::default(),
            })),
            path,
            buckets: None,
            claims: RefCell::default(),
            verified: std::cell::Cell::new(true),
            live: Default::default(),
        })
    }

    /// Which part of a sweep this store runs (a shard, `2/4`): on a PostgreSQL store, shards
    /// of one run hold their own locks (so they run at once), and a shard may join a run
    /// another shard created. No effect on a SQLite store, where each shard has its own file.
    pub fn set_claim_scope(&mut self, scope: &str) {
        if let Some(pg) = self.pg() {
            *pg.scope.borrow_mut() = scope.to_owned();
            pg.attach.set(true);
        }
    }

    pub(crate) fn pg_err(&self, action: &'static str) -> impl Fn(postgres::Error) -> StoreError {
        let path = self.path.clone();
        move |source| StoreError::Postgres {
            path: path.clone(),
            action,
            source,
        }
    }

    /// The client, for one call at a time (a callback that used the store while it streams
    /// rows gets an error, not a panic).
    fn client<'p>(&self, pg: &'p Pg) -> Result<RefMut<'p, Client>, StoreError> {
        pg.client
            .try_borrow_mut()
            .ok()
            .and_then(|c| RefMut::filter_map(c, Option::as_mut).ok())
            .ok_or_else(|| StoreError::Corrupt {
                path: self.path.clone(),
                table: "runs",
                detail: "the PostgreSQL connection is busy with another query of this process"
                    .to_owned(),
            })
    }

    /// Takes the session advisory lock of `llmbench serve`'s sweep `sweep` on a PostgreSQL
    /// store, held until the store is dropped (or its connection ends, kill -9 included):
    /// false when another session holds it, that is another `serve` of the sweep against the
    /// same database, on any machine. Always true on a SQLite store, whose `serve` locks a
    /// file beside it instead.
    pub fn try_lock_sweep(&self, sweep: &str) -> Result<bool, StoreError> {
        let Some(pg) = self.pg() else {
            return Ok(true);
        };
        let key = |text: String| {
            let hash = crate::sha256_hex(text.as_bytes());
            u32::from_str_radix(&hash[..8], 16).expect("hex digits") as i32
        };
        let (k1, k2) = (
            key(format!("llmbench serve\0{sweep}")),
            key(format!("llmbench sweep\0{sweep}")),
        );
        blocking(&self.path, || {
            Ok(self
                .client(pg)?
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&k1, &k2])
                .map_err(self.pg_err("lock the sweep"))?
                .get(0))
        })
    }

    /// Takes (run, this store's shard)'s advisory lock unless held: [`StoreError::RunBusy`]
    /// when another session holds it past [`CLAIM_PATIENCE`].
    pub(crate) fn pg_hold(&self, pg: &Pg, run_id: &str) -> Result<(), StoreError> {
        if pg.held.borrow().contains(run_id) {
            return Ok(());
        }
        let scope = pg.scope.borrow().clone();
        let (k1, k2) = lock_keys(run_id, &scope);
        let deadline = Instant::now() + CLAIM_PATIENCE;
        loop {
            let got: bool = self
                .client(pg)?
                .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&k1, &k2])
                .map_err(self.pg_err("lock a run"))?
                .get(0);
            if got {
                pg.held.borrow_mut().insert(run_id.to_owned());
                return Ok(());
            }
            if Instant::now() >= deadline {
                let shard = if scope.is_empty() {
                    "the whole sweep".to_owned()
                } else {
                    format!("shard {scope}")
                };
                return Err(StoreError::RunBusy {
                    path: self.path.clone(),
                    run_id: run_id.to_owned(),
                    lock: PathBuf::from(format!("pg_advisory_lock({k1}, {k2}) of {shard}")),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn pg_release(&self, pg: &Pg, run_id: &str) {
        if !pg.held.borrow_mut().remove(run_id) {
            return;
        }
        let (k1, k2) = lock_keys(run_id, &pg.scope.borrow());
        let unlocked = self.client(pg).and_then(|mut c| {
            c.execute("SELECT pg_advisory_unlock($1, $2)", &[&k1, &k2])
                .map_err(self.pg_err("unlock a run"))
        });
        if let Err(e) = unlocked {
            tracing::warn!(run = run_id, error = %e, "cannot release a run's lock; it is released when the connection closes");
        }
    }

    /// Whether any session holds a lock of run `run_id` (any shard).
    pub(crate) fn pg_is_held(&self, pg: &Pg, run_id: &str) -> Result<bool, StoreError> {
        let row = self
            .client(pg)?
            .query_one(aggregates::HELD_SQL, &[&aggregates::held_key(run_id)])
            .map_err(self.pg_err("check whether a run is alive"))?;
        Ok(row.get(0))
    }

    /// The status readers see: `running` while a shard holds the run, `interrupted` when it
    /// is stored `running` and nobody does.
    pub(crate) fn pg_live_status(
        &self,
        pg: &Pg,
        run_id: &str,
        stored: RunStatus,
        reason: Option<String>,
    ) -> Result<(RunStatus, Option<String>), StoreError> {
        let held = self.pg_is_held(pg, run_id)?;
        Ok(match (stored, held) {
            (RunStatus::Running, false) => {
                (RunStatus::Interrupted, Some(DEAD_RUN_REASON.to_owned()))
            }
            (_, true) => (RunStatus::Running, None),
            (stored, false) => (stored, reason),
        })
    }

    fn pg_record_dead_runs(&self) {
        let Some(pg) = self.pg() else { return };
        let running = self.client(pg).and_then(|mut c| {
            c.query("SELECT id FROM runs WHERE status = 'running'", &[])
                .map_err(self.pg_err("list running runs"))
        });
        let running = match running {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "cannot list running runs");
                return;
            }
        };
        for row in running {
            let id: String = row.get(0);
            match self.pg_is_held(pg, &id) {
                Ok(false) => {}
                Ok(true) => continue,
                Err(e) => {
                    tracing::warn!(run = %id, error = %e, "cannot check whether a run is alive");
                    continue;
                }
            }
            let fixed = self.client(pg).and_then(|mut c| {
                c.execute(
                    "UPDATE runs SET status = 'interrupted', status_reason = $2,
                         finished_at = coalesce((SELECT max(s.finished_at) FROM samples s
                                                 WHERE s.run_id = runs.id), runs.created_at)
                     WHERE id = $1 AND status = 'running'",
                    &[&id, &DEAD_RUN_REASON],
                )
                .map_err(self.pg_err("record a dead run as interrupted"))
            });
            match fixed {
                Ok(1) => {
                    tracing::warn!(run = %id, store = %self.path.display(), "run was left `running` by a process that ended; recorded it as interrupted")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(run = %id, error = %e, "cannot record a dead run as interrupted")
                }
            }
        }
    }

    pub(crate) fn pg_create_run(
        &self,
        pg: &Pg,
        run: &NewRun,
        files: &[RunFile],
    ) -> Result<(), StoreError> {
        self.pg_hold(pg, &run.id)?;
        let result = self.pg_insert_run(pg, run, files);
        if result.is_err() {
            self.pg_release(pg, &run.id);
        }
        result
    }

    fn pg_insert_run(&self, pg: &Pg, run: &NewRun, files: &[RunFile]) -> Result<(), StoreError> {
        let err = self.pg_err("create a run");
        let providers = serde_json::to_string(&run.providers).expect("strings serialize");
        let graders = serde_json::to_string(&run.graders).expect("strings serialize");
        let pass_at_k = serde_json::to_string(&run.pass_at_k).expect("integers serialize");
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        let inserted = tx
            .execute(
                "INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                     planned_samples, providers_json, graders_json, pass_at_k_json, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'running')
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &run.id,
                    &run.created_at,
                    &run.config_path,
                    &run.config_toml,
                    &run.prices_json.to_string(),
                    &to_i64(run.planned_samples),
                    &providers,
                    &graders,
                    &pass_at_k,
                ],
            )
            .map_err(&err)?;
        if inserted == 0 {
            if !pg.attach.get() {
                return Err(StoreError::RunExists {
                    run_id: run.id.clone(),
                    path: self.path.clone(),
                });
            }
            // Another shard created it: join it if it is the same sweep.
            let row = tx
                .query_one(
                    "SELECT planned_samples, config_toml FROM runs WHERE id = $1 FOR UPDATE",
                    &[&run.id],
                )
                .map_err(&err)?;
            let planned: i64 = row.get(0);
            let config: String = row.get(1);
            let what = if planned != to_i64(run.planned_samples) {
                Some("number of planned samples")
            } else if config != run.config_toml {
                Some("config")
            } else {
                None
            };
            if let Some(what) = what {
                return Err(StoreError::RunDiffers {
                    path: self.path.clone(),
                    run_id: run.id.clone(),
                    what,
                });
            }
            tx.execute(
                "UPDATE runs SET status = 'running', status_reason = NULL, finished_at = NULL
                 WHERE id = $1",
                &[&run.id],
            )
            .map_err(&err)?;
            // More samples are coming: the aggregates are computed again at the end.
            aggregates::forget(&mut tx, &run.id).map_err(&err)?;
        } else {
            for (position, file) in files.iter().enumerate() {
                let sha = file.sha256();
                let bytes = file.content.to_bytes().map_err(|e| StoreError::RunFile {
                    path: self.path.clone(),
                    detail: e.to_string(),
                })?;
                tx.execute(
                    "INSERT INTO file_contents (sha256, bytes) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&sha, &&bytes[..]],
                )
                .map_err(&err)?;
                tx.execute(
                    "INSERT INTO run_files (run_id, position, role, path, sha256, size)
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    &[
                        &run.id,
                        &(position as i64),
                        &file.role.as_str(),
                        &file.path,
                        &sha,
                        &(bytes.len() as i64),
                    ],
                )
                .map_err(&err)?;
            }
        }
        tx.commit().map_err(&err)
    }

    /// Sets the stored status. A run that leaves `running` as `finished` while the database
    /// lacks some of its planned samples (another shard's) is stored `interrupted`, saying
    /// how many it holds; the check and the write are serialized on the run's row, so the
    /// last shard to end sees every other shard's samples.
    pub(crate) fn pg_update_status(
        &self,
        pg: &Pg,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let err = self.pg_err("set a run's status");
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT planned_samples FROM runs WHERE id = $1 FOR UPDATE",
                &[&run_id],
            )
            .map_err(&err)?
        else {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: self.path.clone(),
            });
        };
        let planned: i64 = row.get(0);
        let mut status = status;
        let mut reason = reason.map(str::to_owned);
        if status == RunStatus::Finished {
            let stored: i64 = tx
                .query_one("SELECT count(*) FROM samples WHERE run_id = $1", &[&run_id])
                .map_err(&err)?
                .get(0);
            if stored < planned {
                status = RunStatus::Interrupted;
                reason = Some(format!(
                    "{stored} of {planned} planned samples are stored: another shard has not finished (run it again; `llmbench status` shows which)"
                ));
            }
        }
        let finished_at = (status != RunStatus::Running).then(crate::utc_now_rfc3339);
        tx.execute(
            "UPDATE runs SET status = $2, status_reason = $3, finished_at = $4 WHERE id = $1",
            &[&run_id, &status.as_str(), &reason, &finished_at],
        )
        .map_err(&err)?;
        if status == RunStatus::Running {
            // More samples are coming: the aggregates are computed again at the end.
            aggregates::forget(&mut tx, run_id).map_err(&err)?;
        }
        tx.commit().map_err(&err)
    }

    pub(crate) fn pg_run(&self, pg: &Pg, run_id: &str) -> Result<StoredRun, StoreError> {
        let row = self
            .client(pg)?
            .query_opt(
                "SELECT id, created_at, config_path, config_toml, prices_json, planned_samples,
                     providers_json, graders_json, status, finished_at, status_reason,
                     pass_at_k_json, samples_deleted_at
                 FROM runs WHERE id = $1",
                &[&run_id],
            )
            .map_err(self.pg_err("read a run"))?;
        let Some(row) = row else {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: self.path.clone(),
            });
        };
        let status = self.parse_run_status(run_id, row.get(8))?;
        let (status, status_reason) =
            self.pg_live_status(pg, run_id, status, row.get::<_, Option<String>>(10))?;
        let planned: i64 = row.get(5);
        self.stored_run(crate::store::RunColumns {
            id: row.get(0),
            created_at: row.get(1),
            config_path: row.get(2),
            config_toml: row.get(3),
            prices: row.get(4),
            planned_samples: u64::try_from(planned).unwrap_or_default(),
            providers: row.get(6),
            graders: row.get(7),
            status,
            finished_at: row.get(9),
            status_reason,
            pass_at_k: row.get(11),
            samples_deleted_at: row.get(12),
        })
    }

    pub(crate) fn pg_run_exists(&self, pg: &Pg, run_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .client(pg)?
            .query_opt("SELECT 1 FROM runs WHERE id = $1", &[&run_id])
            .map_err(self.pg_err("read a run"))?
            .is_some())
    }

    pub(crate) fn pg_latest_run_id(&self, pg: &Pg) -> Result<Option<String>, StoreError> {
        Ok(self
            .client(pg)?
            .query_opt(
                "SELECT id FROM runs ORDER BY created_at DESC, seq DESC LIMIT 1",
                &[],
            )
            .map_err(self.pg_err("find the latest run"))?
            .map(|row| row.get(0)))
    }

    pub(crate) fn pg_list_runs(&self, pg: &Pg) -> Result<Vec<RunSummaryRow>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT r.id, r.created_at, r.status, r.planned_samples,
                     CASE WHEN r.samples_deleted_at IS NULL AND r.aggregated_at IS NULL
                         THEN (SELECT count(*) FROM samples s
                               WHERE s.run_id = r.id AND s.status = 'done')
                         ELSE (SELECT coalesce(sum(a.samples - a.errors), 0)::bigint
                               FROM run_aggregates a WHERE a.run_id = r.id) END,
                     CASE WHEN r.samples_deleted_at IS NULL AND r.aggregated_at IS NULL
                         THEN (SELECT count(*) FROM samples s
                               WHERE s.run_id = r.id AND s.status = 'error')
                         ELSE (SELECT coalesce(sum(a.errors), 0)::bigint
                               FROM run_aggregates a WHERE a.run_id = r.id) END
                 FROM runs r ORDER BY r.created_at, r.seq",
                &[],
            )
            .map_err(self.pg_err("list runs"))?;
        rows.into_iter()
            .map(|row| {
                let id: String = row.get(0);
                let status: String = row.get(2);
                let status: RunStatus = status.parse().map_err(|e| self.corrupt("runs", e))?;
                let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or_default();
                Ok(RunSummaryRow {
                    status: self.pg_live_status(pg, &id, status, None)?.0,
                    created_at: row.get(1),
                    planned_samples: count(3),
                    done: count(4),
                    errors: count(5),
                    id,
                })
            })
            .collect()
    }

    pub(crate) fn pg_finished_sample_ids(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<HashSet<SampleId>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT sample_id FROM samples WHERE run_id = $1",
                &[&run_id],
            )
            .map_err(self.pg_err("read finished samples"))?;
        rows.into_iter()
            .map(|row| {
                row.get::<_, String>(0)
                    .parse()
                    .map_err(|e| self.corrupt("samples", e))
            })
            .collect()
    }

    pub(crate) fn pg_sample_progress(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<Vec<SampleProgress>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT sample_id, status = 'done', finished_at FROM samples
                 WHERE run_id = $1 ORDER BY sample_id",
                &[&run_id],
            )
            .map_err(self.pg_err("read a run's samples"))?;
        Ok(rows
            .into_iter()
            .map(|row| SampleProgress {
                sample_id: row.get(0),
                done: row.get(1),
                finished_at: row.get(2),
            })
            .collect())
    }

    pub(crate) fn pg_run_progress(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<(RunStatus, crate::RunTotals), StoreError> {
        let run = self.pg_run(pg, run_id)?;
        let aggregated: bool = self
            .client(pg)?
            .query_one(
                "SELECT aggregated_at IS NOT NULL FROM runs WHERE id = $1",
                &[&run_id],
            )
            .map_err(self.pg_err("read a run's progress"))?
            .get(0);
        let totals = self.pg_totals(
            pg,
            run_id,
            run.planned_samples,
            aggregated && run.status != RunStatus::Running,
        )?;
        Ok((run.status, totals))
    }

    /// A run's totals: from its stored aggregates when `aggregated`, else counted in its
    /// samples.
    pub(crate) fn pg_totals(
        &self,
        pg: &Pg,
        run_id: &str,
        planned: u64,
        aggregated: bool,
    ) -> Result<crate::RunTotals, StoreError> {
        let sql = if aggregated {
            "SELECT coalesce(sum(samples - errors), 0)::bigint, coalesce(sum(errors), 0)::bigint,
                 coalesce(sum(passes), 0)::bigint, coalesce(sum(passes + fails), 0)::bigint,
                 sum(cost_usd)
             FROM run_aggregates WHERE run_id = $1"
        } else {
            "SELECT count(*) FILTER (WHERE status = 'done'),
                 count(*) FILTER (WHERE status = 'error'),
                 count(*) FILTER (WHERE verdict_pass), count(verdict_pass), sum(cost_usd)
             FROM samples WHERE run_id = $1"
        };
        let row = self
            .client(pg)?
            .query_one(sql, &[&run_id])
            .map_err(self.pg_err("count a run's samples"))?;
        let count = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or_default();
        Ok(crate::RunTotals {
            planned,
            done: count(0),
            errors: count(1),
            passed: count(2),
            graded: count(3),
            cost_usd: row.get(4),
        })
    }

    /// Whether run `run_id` stored any file (without reading them).
    pub(crate) fn pg_has_run_files(&self, pg: &Pg, run_id: &str) -> Result<bool, StoreError> {
        self.client(pg)?
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM run_files WHERE run_id = $1)",
                &[&run_id],
            )
            .map(|row| row.get(0))
            .map_err(self.pg_err("read a run's files"))
    }

    /// [`Store::run_files`], of role `role` only when given.
    pub(crate) fn pg_run_files(
        &self,
        pg: &Pg,
        run_id: &str,
        role: Option<&str>,
    ) -> Result<Vec<RunFile>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT f.role, f.path, f.sha256, c.bytes FROM run_files f
                 JOIN file_contents c ON c.sha256 = f.sha256
                 WHERE f.run_id = $1 AND ($2::text IS NULL OR f.role = $2) ORDER BY f.position",
                &[&run_id, &role],
            )
            .map_err(self.pg_err("read a run's files"))?;
        rows.into_iter()
            .map(|row| {
                let role: String = row.get(0);
                let sha: String = row.get(2);
                let role = role
                    .parse()
                    .map_err(|e| self.corrupt("run_files", format!("run `{run_id}`: {e}")))?;
                let file = RunFile {
                    role,
                    path: row.get(1),
                    content: row.get::<_, Vec<u8>>(3).into(),
                };
                if file.sha256() != sha {
                    return Err(self.corrupt(
                        "file_contents",
                        format!(
                            "run `{run_id}`: the stored copy of {} does not match its SHA-256 {sha}",
                            file.path
                        ),
                    ));
                }
                Ok(file)
            })
            .collect()
    }

    pub(crate) fn pg_attempts(
        &self,
        pg: &Pg,
        run_id: &str,
        sample_id: SampleId,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT outcome, http_status, wait_seconds, duration_seconds FROM attempts
                 WHERE run_id = $1 AND sample_id = $2 ORDER BY attempt",
                &[&run_id, &sample_id.to_string()],
            )
            .map_err(self.pg_err("read attempts"))?;
        Ok(rows.iter().map(attempt_of).collect())
    }

    /// Every sample of a run in report order (the SQLite order: tasks and providers in the
    /// run's order, others after by name; then item and repeat, compared bytewise), streamed.
    pub(crate) fn pg_for_each_sample(
        &self,
        pg: &Pg,
        run_id: &str,
        mut each: impl FnMut(StoredSample) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let run = self.pg_run(pg, run_id)?;
        let tasks: Vec<String> = run.graders.iter().map(|(t, _)| t.clone()).collect();
        let providers: Vec<String> = run.providers.iter().map(|(p, _, _)| p.clone()).collect();
        let err = self.pg_err("read samples");
        let sql = format!(
            "{SAMPLE_SELECT} WHERE s.run_id = $1
             ORDER BY array_position($2::text[], s.task) NULLS LAST, s.task COLLATE \"C\",
                 array_position($3::text[], s.provider) NULLS LAST, s.provider COLLATE \"C\",
                 s.item COLLATE \"C\", s.repeat"
        );
        let mut client = self.client(pg)?;
        let params: [&(dyn ToSql + Sync); 3] = [&run_id, &tasks, &providers];
        let mut rows = client
            .query_raw(sql.as_str(), params.iter().copied())
            .map_err(&err)?;
        while let Some(row) = rows.next().map_err(&err)? {
            let sample = self.sample_of(&row)?;
            each(sample)?;
        }
        Ok(())
    }

    fn sample_of(&self, row: &Row) -> Result<StoredSample, StoreError> {
        let grades_json: Option<String> = row.get(31);
        type GradeRow = (
            String,
            String,
            f64,
            String,
            String,
            Option<i64>,
            Option<i64>,
            Option<f64>,
        );
        let grade_rows: Vec<GradeRow> = match grades_json {
            None => Vec::new(),
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| self.corrupt("grades", format!("unreadable grades: {e}")))?,
        };
        let grades = grade_rows
            .into_iter()
            .map(
                |(grader, outcome, score, evidence, kind, input, output, cost)| {
                    RawGrade {
                        grader,
                        outcome,
                        score,
                        evidence,
                        kind,
                        input_tokens: input.map(|n| n.max(0) as u64),
                        output_tokens: output.map(|n| n.max(0) as u64),
                        cost_usd: cost,
                    }
                    .into_grade()
                },
            )
            .collect::<Result<Vec<_>, _>>()
            .map_err(|detail| self.corrupt("grades", detail))?;
        let tokens = |i: usize| row.get::<_, Option<i64>>(i).map(|n| n.max(0) as u64);
        let has_completion: bool = row.get(19);
        let completion = has_completion.then(|| RawCompletion {
            text: row.get(20),
            stop_reason: row.get(21),
            response_model: row.get(22),
            usage: llmbench_core::Usage {
                input_tokens: tokens(23),
                output_tokens: tokens(24),
                cache_read_tokens: tokens(25),
                cache_write_tokens: tokens(26),
                reasoning_tokens: tokens(27),
            },
            latency_seconds: row.get(28),
            ttft_seconds: row.get(29),
        });
        let raw = RawSample {
            sample_id: row.get(0),
            task: row.get(1),
            item: row.get(2),
            provider: row.get(3),
            repeat: u32::try_from(row.get::<_, i64>(4)).unwrap_or(u32::MAX),
            model: row.get(5),
            status: row.get(6),
            error_kind: row.get(7),
            error_message: row.get(8),
            http_status: row
                .get::<_, Option<i32>>(9)
                .map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
            error_provider_code: row.get(10),
            error_retry_after_seconds: row.get(11),
            error_should_retry: row.get(12),
            attempts: u32::try_from(row.get::<_, i64>(13)).unwrap_or(u32::MAX),
            cost_usd: row.get(14),
            verdict_pass: row.get(15),
            verdict_score: row.get(16),
            first_failure: row.get::<_, Option<i64>>(17).map(|n| n.max(0) as u64),
            finished_at: row.get(18),
            completion,
            request_json: row.get(30),
        };
        raw.into_stored(grades)
            .map_err(|detail| self.corrupt("samples", detail))
    }

    /// Records samples in one transaction; a sample already stored must be stored identically
    /// (then it is left as it is).
    pub(crate) fn pg_record_samples<'a>(
        &self,
        pg: &Pg,
        run_id: &str,
        samples: impl IntoIterator<Item = (&'a SampleRecord, &'a [AttemptRecord])>,
    ) -> Result<(), StoreError> {
        let err = self.pg_err("record a sample");
        let finished_at = crate::utc_now_rfc3339();
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        if tx
            .query_opt("SELECT 1 FROM runs WHERE id = $1", &[&run_id])
            .map_err(&err)?
            .is_none()
        {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: self.path.clone(),
            });
        }
        let batch: Vec<_> = samples
            .into_iter()
            .map(|(record, attempts)| (record, attempts, finished_at.as_str()))
            .collect();
        let inserted = self.pg_insert_samples(&mut tx, run_id, &batch)?;
        for ((record, attempts, _), inserted) in batch.iter().zip(inserted) {
            if !inserted && !self.pg_stored_same(&mut tx, run_id, record, attempts, None)? {
                return Err(StoreError::DuplicateSample {
                    path: self.path.clone(),
                    run_id: run_id.to_owned(),
                    sample_id: record.key.id(),
                    key: Box::new(record.key.clone()),
                });
            }
        }
        tx.commit().map_err(&err)
    }

    /// Inserts a sample with its completion, grades, attempts and request, unless the run
    /// already holds a sample with its id: whether it was inserted.
    pub(crate) fn pg_insert_sample(
        &self,
        tx: &mut postgres::Transaction<'_>,
        run_id: &str,
        record: &SampleRecord,
        attempts: &[AttemptRecord],
        finished_at: &str,
    ) -> Result<bool, StoreError> {
        let inserted = self.pg_insert_samples(tx, run_id, &[(record, attempts, finished_at)])?;
        Ok(inserted[0])
    }

    /// Inserts samples (each with its attempts and when it finished) with their completions,
    /// grades, attempts and requests: per sample, in order, whether it was inserted (not when
    /// the run already holds a sample with its id, or an earlier one of `batch` has it).
    ///
    /// One statement per table for the whole batch, its columns sent as arrays and unnested
    /// on the server: five round trips for a group of samples, where a statement per row took
    /// five per sample, and round trips were most of a stored sample's cost with several
    /// shards writing at once (`cargo xtask perf store`).
    pub(crate) fn pg_insert_samples(
        &self,
        tx: &mut postgres::Transaction<'_>,
        run_id: &str,
        batch: &[(&SampleRecord, &[AttemptRecord], &str)],
    ) -> Result<Vec<bool>, StoreError> {
        let err = self.pg_err("record a sample");
        let pg = self
            .pg()
            .expect("pg_insert_samples runs on a PostgreSQL store");
        let mut ids = Vec::with_capacity(batch.len());
        for (record, attempts, _) in batch {
            let sample_id = record.key.id();
            if let Err(reason) = crate::samples::validate(record, attempts) {
                return Err(StoreError::InvalidRecord {
                    path: self.path.clone(),
                    run_id: run_id.to_owned(),
                    sample_id,
                    reason,
                });
            }
            ids.push(sample_id.to_string());
        }

        let mut request_hashes: Vec<Option<String>> = Vec::with_capacity(batch.len());
        let (mut hashes, mut jsons) = (Vec::new(), Vec::new());
        let mut sent = HashSet::new();
        for (record, _, _) in batch {
            request_hashes.push(record.request.as_ref().map(|request| {
                let (hash, json) = crate::request_hash(request);
                if sent.insert(hash.clone()) {
                    hashes.push(hash.clone());
                    jsons.push(json);
                }
                hash
            }));
        }
        if !hashes.is_empty() {
            let insert_requests = pg
                .statement(
                    tx,
                    "INSERT INTO requests (hash, request_json)
                     SELECT * FROM unnest($1::text[], $2::text[])
                     ON CONFLICT DO NOTHING",
                )
                .map_err(&err)?;
            tx.execute(&insert_requests, &[&hashes, &jsons])
                .map_err(&err)?;
        }

        let records: Vec<&SampleRecord> = batch.iter().map(|(record, _, _)| *record).collect();
        let insert_samples = pg
            .statement(
                tx,
                "INSERT INTO samples (run_id, sample_id, task, item, provider, model, repeat,
                     status, error_kind, error_message, http_status, error_provider_code,
                     error_retry_after_seconds, error_should_retry, attempts, cost_usd,
                     verdict_pass, verdict_score, first_failure, finished_at, request_hash)
                 SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                     $6::text[], $7::int8[], $8::text[], $9::text[], $10::text[], $11::int4[],
                     $12::text[], $13::float8[], $14::bool[], $15::int8[], $16::float8[],
                     $17::bool[], $18::float8[], $19::int8[], $20::text[], $21::text[])
                 ON CONFLICT (run_id, sample_id) DO NOTHING
                 RETURNING sample_id",
            )
            .map_err(&err)?;
        let rows = tx
            .query(
                &insert_samples,
                &[
                    &run_id,
                    &ids,
                    &column(&records, |r| r.key.task.as_str()),
                    &column(&records, |r| r.key.item.as_str()),
                    &column(&records, |r| r.key.provider.as_str()),
                    &column(&records, |r| r.model.as_str()),
                    &column(&records, |r| i64::from(r.key.repeat)),
                    &column(&records, |r| sample_status_str(r.status)),
                    &column(&records, |r| r.error.as_ref().map(|e| e.kind.as_str())),
                    &column(&records, |r| r.error.as_ref().map(|e| e.message.as_str())),
                    &column(&records, |r| {
                        r.error.as_ref().and_then(|e| e.http_status).map(i32::from)
                    }),
                    &column(&records, |r| {
                        r.error.as_ref().and_then(|e| e.provider_code.as_deref())
                    }),
                    &column(&records, |r| {
                        r.error
                            .as_ref()
                            .and_then(|e| e.retry_after)
                            .map(|d| d.as_secs_f64())
                    }),
                    &column(&records, |r| r.error.as_ref().and_then(|e| e.should_retry)),
                    &column(&records, |r| i64::from(r.attempts)),
                    &column(&records, |r| r.cost_usd),
                    &column(&records, |r| r.verdict.as_ref().map(|v| v.pass)),
                    &column(&records, |r| r.verdict.as_ref().map(|v| v.score)),
                    &column(&records, |r| {
                        r.verdict
                            .as_ref()
                            .and_then(|v| v.first_failure)
                            .map(|i| i64::try_from(i).unwrap_or(i64::MAX))
                    }),
                    &column(batch, |(_, _, at)| *at),
                    &request_hashes,
                ],
            )
            .map_err(&err)?;
        let mut new: HashSet<String> = rows.iter().map(|row| row.get(0)).collect();
        // The first of a batch's samples with an id is the one inserted; the others are not.
        let inserted: Vec<bool> = ids.iter().map(|id| new.remove(id)).collect();
        let added: Vec<(&SampleRecord, &[AttemptRecord], &str)> = batch
            .iter()
            .zip(&ids)
            .zip(&inserted)
            .filter(|(_, inserted)| **inserted)
            .map(|((sample, id), _)| (sample.0, sample.1, id.as_str()))
            .collect();

        let completions: Vec<(&str, &Completion)> = added
            .iter()
            .filter_map(|(r, _, id)| r.completion.as_ref().map(|c| (*id, c)))
            .collect();
        if !completions.is_empty() {
            let tokens =
                |f: fn(&Completion) -> Option<u64>| column(&completions, |(_, c)| f(c).map(to_i64));
            let insert_completions = pg
                .statement(
                    tx,
                    "INSERT INTO completions (run_id, sample_id, text, stop_reason, response_model,
                     input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
                     reasoning_tokens, latency_seconds, ttft_seconds)
                 SELECT $1::text, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[],
                     $6::int8[], $7::int8[], $8::int8[], $9::int8[], $10::int8[],
                     $11::float8[], $12::float8[])",
                )
                .map_err(&err)?;
            tx.execute(
                &insert_completions,
                &[
                    &run_id,
                    &column(&completions, |(id, _)| *id),
                    &column(&completions, |(_, c)| c.text.as_str()),
                    &column(&completions, |(_, c)| stop_reason_str(&c.stop_reason)),
                    &column(&completions, |(_, c)| c.response_model.as_deref()),
                    &tokens(|c| c.usage.input_tokens),
                    &tokens(|c| c.usage.output_tokens),
                    &tokens(|c| c.usage.cache_read_tokens),
                    &tokens(|c| c.usage.cache_write_tokens),
                    &tokens(|c| c.usage.reasoning_tokens),
                    &column(&completions, |(_, c)| c.timings.latency.as_secs_f64()),
                    &column(&completions, |(_, c)| {
                        c.timings.time_to_first_token.map(|d| d.as_secs_f64())
                    }),
                ],
            )
            .map_err(&err)?;
        }

        let grades: Vec<_> = added
            .iter()
            .flat_map(|(r, _, id)| {
                r.grades
                    .iter()
                    .enumerate()
                    .map(move |(position, (grader, grade))| (*id, position as i64, grader, grade))
            })
            .collect();
        if !grades.is_empty() {
            let insert_grades = pg
                .statement(
                    tx,
                    "INSERT INTO grades (run_id, sample_id, position, grader, outcome, score,
                     evidence, kind, input_tokens, output_tokens, cost_usd)
                 SELECT $1::text, * FROM unnest($2::text[], $3::int8[], $4::text[], $5::text[],
                     $6::float8[], $7::text[], $8::text[], $9::int8[], $10::int8[],
                     $11::float8[])",
                )
                .map_err(&err)?;
            tx.execute(
                &insert_grades,
                &[
                    &run_id,
                    &column(&grades, |g| g.0),
                    &column(&grades, |g| g.1),
                    &column(&grades, |g| g.2.as_str()),
                    &column(&grades, |g| g.3.outcome.as_str()),
                    &column(&grades, |g| g.3.score),
                    &column(&grades, |g| g.3.evidence.as_str()),
                    &column(&grades, |g| grade_kind_str(g.3.kind)),
                    &column(&grades, |g| {
                        g.3.usage.and_then(|u| u.input_tokens).map(to_i64)
                    }),
                    &column(&grades, |g| {
                        g.3.usage.and_then(|u| u.output_tokens).map(to_i64)
                    }),
                    &column(&grades, |g| g.3.cost_usd),
                ],
            )
            .map_err(&err)?;
        }

        let attempts: Vec<_> = added
            .iter()
            .flat_map(|(_, attempts, id)| {
                attempts
                    .iter()
                    .enumerate()
                    .map(move |(n, attempt)| (*id, n as i64 + 1, attempt))
            })
            .collect();
        if !attempts.is_empty() {
            let insert_attempts = pg
                .statement(
                    tx,
                    "INSERT INTO attempts (run_id, sample_id, attempt, outcome, http_status,
                     wait_seconds, duration_seconds)
                 SELECT $1::text, * FROM unnest($2::text[], $3::int8[], $4::text[], $5::int4[],
                     $6::float8[], $7::float8[])",
                )
                .map_err(&err)?;
            tx.execute(
                &insert_attempts,
                &[
                    &run_id,
                    &column(&attempts, |a| a.0),
                    &column(&attempts, |a| a.1),
                    &column(&attempts, |a| a.2.outcome.as_str()),
                    &column(&attempts, |a| a.2.http_status.map(i32::from)),
                    &column(&attempts, |a| a.2.wait_seconds),
                    &column(&attempts, |a| a.2.duration_seconds),
                ],
            )
            .map_err(&err)?;
        }
        Ok(inserted)
    }

    /// Whether the sample stored with `record`'s id equals it (record and attempts, and
    /// `finished_at` when given).
    pub(crate) fn pg_stored_same(
        &self,
        tx: &mut postgres::Transaction<'_>,
        run_id: &str,
        record: &SampleRecord,
        attempts: &[AttemptRecord],
        finished_at: Option<&str>,
    ) -> Result<bool, StoreError> {
        let err = self.pg_err("compare a sample stored twice");
        let id = record.key.id().to_string();
        let row = tx
            .query_one(
                &format!("{SAMPLE_SELECT} WHERE s.run_id = $1 AND s.sample_id = $2"),
                &[&run_id, &id],
            )
            .map_err(&err)?;
        let stored = self.sample_of(&row)?;
        let stored_attempts: Vec<AttemptRecord> = tx
            .query(
                "SELECT outcome, http_status, wait_seconds, duration_seconds FROM attempts
                 WHERE run_id = $1 AND sample_id = $2 ORDER BY attempt",
                &[&run_id, &id],
            )
            .map_err(&err)?
            .iter()
            .map(attempt_of)
            .collect();
        let same = stored.record == *record
            && stored_attempts == attempts
            && finished_at.is_none_or(|at| stored.finished_at == at);
        if same {
            tracing::debug!(run = run_id, sample = %id, "sample already stored identically");
        }
        Ok(same)
    }
}

fn attempt_of(row: &Row) -> AttemptRecord {
    AttemptRecord {
        outcome: row.get(0),
        http_status: row
            .get::<_, Option<i32>>(1)
            .map(|s| u16::try_from(s).unwrap_or(u16::MAX)),
        wait_seconds: row.get(2),
        duration_seconds: row.get(3),
    }
}

/// The columns of a sample as [`Store::sample_of`] reads them: the SQLite report query's, then
/// the sample's grades in order as one JSON array of arrays.
const SAMPLE_SELECT: &str = "
SELECT s.sample_id, s.task, s.item, s.provider, s.repeat, s.model, s.status,
       s.error_kind, s.error_message, s.http_status, s.error_provider_code,
       s.error_retry_after_seconds, s.error_should_retry, s.attempts, s.cost_usd,
       s.verdict_pass, s.verdict_score, s.first_failure, s.finished_at,
       c.sample_id IS NOT NULL, c.text, c.stop_reason, c.response_model,
       c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,
       c.reasoning_tokens, c.latency_seconds, c.ttft_seconds, q.request_json,
       (SELECT json_agg(json_build_array(g.grader, g.outcome, g.score, g.evidence, g.kind,
                                         g.input_tokens, g.output_tokens, g.cost_usd)
                        ORDER BY g.position)::text
        FROM grades g WHERE g.run_id = s.run_id AND g.sample_id = s.sample_id)
FROM samples s
LEFT JOIN completions c ON c.run_id = s.run_id AND c.sample_id = s.sample_id
LEFT JOIN requests q ON q.hash = s.request_hash";

/// Creates the schema (when `create`) or checks it is there, and migrates an older one to
/// [`PG_SCHEMA_VERSION`] (in one transaction: all the missing versions or none).
///
/// Processes starting together: each takes a session advisory lock, then looks again in a
/// new transaction (one that sees what the previous holder committed) before creating or
/// migrating anything, so the work is done once.
fn prepare_schema(
    client: &mut Client,
    path: &std::path::Path,
    create: bool,
) -> Result<(), StoreError> {
    let err = |source| StoreError::Postgres {
        path: path.to_owned(),
        action: "create or check the schema",
        source,
    };
    let too_new = |found: i32| StoreError::SchemaTooNew {
        path: path.to_owned(),
        found: i64::from(found),
        supported: i64::from(PG_SCHEMA_VERSION),
    };
    let version = |c: &mut Client| -> Result<Option<i32>, postgres::Error> {
        let exists: bool = c
            .query_one("SELECT to_regclass('llmbench_schema') IS NOT NULL", &[])?
            .get(0);
        if !exists {
            return Ok(None);
        }
        c.query_one("SELECT max(version) FROM llmbench_schema", &[])
            .map(|row| row.get::<_, Option<i32>>(0))
    };
    match version(client).map_err(err)? {
        Some(v) if v > PG_SCHEMA_VERSION => return Err(too_new(v)),
        Some(v) if v == PG_SCHEMA_VERSION => return Ok(()),
        // An older schema is migrated, by readers too (as a SQLite file is on open).
        Some(_) => {}
        None if !create => {
            return Err(StoreError::PgNoSchema {
                path: path.to_owned(),
            });
        }
        None => {}
    }
    client
        .execute("SELECT pg_advisory_lock($1)", &[&SCHEMA_LOCK])
        .map_err(err)?;
    let changed = (|| -> Result<Option<i32>, StoreError> {
        let from = match version(client).map_err(err)? {
            Some(v) if v > PG_SCHEMA_VERSION => return Err(too_new(v)),
            Some(v) if v == PG_SCHEMA_VERSION => return Ok(None),
            Some(v) => v,
            None => 0,
        };
        let mut tx = client.transaction().map_err(err)?;
        for migration in &PG_MIGRATIONS[usize::try_from(from).unwrap_or_default()..] {
            tx.batch_execute(migration).map_err(err)?;
        }
        if from == 0 {
            tx.batch_execute("CREATE TABLE llmbench_schema (version INTEGER NOT NULL)")
                .map_err(err)?;
            tx.execute(
                "INSERT INTO llmbench_schema (version) VALUES ($1)",
                &[&PG_SCHEMA_VERSION],
            )
            .map_err(err)?;
        } else {
            tx.execute(
                "UPDATE llmbench_schema SET version = $1",
                &[&PG_SCHEMA_VERSION],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(Some(from))
    })();
    // Released with the session anyway: a failure here only delays other writers' start.
    if let Err(e) = client.execute("SELECT pg_advisory_unlock($1)", &[&SCHEMA_LOCK]) {
        tracing::warn!(error = %e, "cannot release the schema lock");
    }
    match changed? {
        Some(0) => {
            tracing::info!(store = %path.display(), version = PG_SCHEMA_VERSION, "created the PostgreSQL results store's schema");
        }
        Some(from) => {
            tracing::info!(store = %path.display(), from, to = PG_SCHEMA_VERSION, "migrated the PostgreSQL results store's schema");
        }
        None => {}
    }
    Ok(())
}

/// `record` as [`Store::for_each_sample_outline`] gives it: without its texts.
pub(crate) fn outline(mut record: SampleRecord) -> SampleRecord {
    if let Some(c) = &mut record.completion {
        c.text = String::new();
        c.stop_reason = StopReason::EndTurn;
        c.response_model = None;
    }
    if let Some(e) = record.error.take() {
        record.error = Some(llmbench_core::ProviderError {
            http_status: e.http_status,
            ..llmbench_core::ProviderError::new(e.kind, "")
        });
    }
    for (_, grade) in &mut record.grades {
        grade.evidence = String::new();
    }
    record.request = None;
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_a_password_are_refused_without_showing_it() {
        for url in [
            "postgres://bob:s3cret-pw@db.example:5432/bench",
            "postgresql://bob:s3cret-pw@db.example/bench",
            "postgres://bob@db.example/bench?password=s3cret-pw",
            "postgres://:s3cret-pw@db.example/bench",
        ] {
            let e = PgTarget::parse(url).unwrap_err();
            assert_eq!(e.kind(), "bad_url", "{url}");
            let text = e.to_string();
            assert!(!text.contains("s3cret-pw"), "{text}");
            assert!(text.contains("***"), "{text}");
        }
    }

    #[test]
    fn urls_are_shown_without_a_password_and_with_defaults() {
        let t = PgTarget::parse("postgres://bob@db.example:6000/bench?sslmode=disable").unwrap();
        assert_eq!(t.shown(), "postgres://bob@db.example:6000/bench");
        let t = PgTarget::parse("postgresql://127.0.0.1/bench").unwrap();
        assert_eq!(t.shown(), "postgres://postgres@127.0.0.1:5432/bench");
        let t = t.with_password(Some("s3cret-pw".into()));
        assert!(!format!("{t:?}").contains("s3cret-pw"));
        assert_eq!(
            PgTarget::parse("mysql://x/y").unwrap_err().kind(),
            "bad_url"
        );
        assert_eq!(
            PgTarget::parse("postgres://bob@h/db?port=notanumber")
                .unwrap_err()
                .kind(),
            "bad_url"
        );
    }

    #[test]
    fn lock_keys_differ_by_run_and_shard_and_share_the_run_key() {
        let (a1, a2) = lock_keys("run-a", "0/4");
        let (b1, b2) = lock_keys("run-a", "1/4");
        let (c1, _) = lock_keys("run-b", "0/4");
        assert_eq!(a1, b1);
        assert_ne!(a2, b2);
        assert_ne!(a1, c1);
    }
}
