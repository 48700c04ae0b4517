//! The [`Store`]: opening the file, and runs as a whole.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use llmbench_core::{RunInfo, RunReport, SampleId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::liveness::{self, RunClaim};
use crate::{
    HistogramBuckets, NewRun, RunFile, RunStatus, RunSummaryRow, StoreError, StoredRun, schema,
};

/// The reason recorded for a run stored as `running` that no process holds any more (killed,
/// crashed, or its last writes failed). The same word as a Ctrl-C stop: such a run is
/// resumed like one.
pub const DEAD_RUN_REASON: &str = "interrupted";

/// The store's file name inside an output directory.
pub const STORE_FILE_NAME: &str = "llmbench.sqlite";

/// The results of many runs in one SQLite file.
///
/// Synchronous and single-connection: the runner owns one `Store` on a dedicated writer
/// thread. Other processes (a report, `sqlite3`) may read the file while it is written.
#[derive(Debug)]
pub struct Store {
    /// The SQLite connection, or the PostgreSQL client ([`crate::pg`]).
    pub(crate) backend: Backend,
    /// The SQLite file; for a PostgreSQL store, its URL without a password
    /// (`postgres://user@host:port/db`), which every message names.
    pub(crate) path: PathBuf,
    /// The histogram bounds aggregates are counted in; see [`Store::set_histogram_buckets`].
    pub(crate) buckets: Option<HistogramBuckets>,
    /// The runs this store is running: claimed by [`Store::create_run`] and by a return to
    /// `running`, released by any other status (or when the store is dropped).
    pub(crate) claims: RefCell<HashMap<String, RunClaim>>,
    /// The file passed `PRAGMA quick_check` (at open, or by [`Store::verify`]). Nothing is
    /// written before.
    pub(crate) verified: Cell<bool>,
    /// The aggregates of the runs this store created, kept as their samples are recorded.
    pub(crate) live: crate::aggregates::LiveAggregates,
}

/// Where a store's rows live.
#[derive(Debug)]
pub(crate) enum Backend {
    Sqlite(Connection),
    Postgres(Box<crate::pg::Pg>),
}

impl Store {
    /// The SQLite connection; [`StoreError::NotOnPostgres`] on a PostgreSQL store, for the
    /// operations not ported to it (each names itself first with [`Store::sqlite_only`]).
    pub(crate) fn conn(&self) -> Result<&Connection, StoreError> {
        match &self.backend {
            Backend::Sqlite(conn) => Ok(conn),
            Backend::Postgres(_) => Err(self.not_on_postgres("this operation")),
        }
    }

    /// [`Store::conn`], for a transaction.
    pub(crate) fn conn_mut(&mut self) -> Result<&mut Connection, StoreError> {
        match &mut self.backend {
            Backend::Sqlite(conn) => Ok(conn),
            Backend::Postgres(_) => Err(StoreError::NotOnPostgres {
                path: self.path.clone(),
                operation: "this operation",
            }),
        }
    }

    /// Refuses `operation` on a PostgreSQL store with [`StoreError::NotOnPostgres`].
    pub(crate) fn sqlite_only(&self, operation: &'static str) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(_) => Err(self.not_on_postgres(operation)),
        }
    }

    pub(crate) fn not_on_postgres(&self, operation: &'static str) -> StoreError {
        StoreError::NotOnPostgres {
            path: self.path.clone(),
            operation,
        }
    }

    /// The PostgreSQL backend, when this store is one.
    pub(crate) fn pg(&self) -> Option<&crate::pg::Pg> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg),
        }
    }

    /// Whether the store is a PostgreSQL database (else a SQLite file).
    pub fn is_postgres(&self) -> bool {
        self.pg().is_some()
    }

    /// Opens the store at `path` for writing runs, creating the file and its schema if
    /// needed (the parent directory must exist). What `run` and `serve` use.
    ///
    /// An existing file is checked first (`PRAGMA quick_check`): a damaged one is refused
    /// with [`StoreError::Damaged`] and nothing is written to it. Runs stored as `running`
    /// that no process holds (see [`Store::claim_run`]) are recorded as `interrupted`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StoreError::MissingDir {
                path: path.to_owned(),
            });
        }
        let store = Store::connect(path, OpenFlags::SQLITE_OPEN_CREATE, false)?;
        store.record_dead_runs();
        crate::liveness::remove_stale_locks(path);
        Ok(store)
    }

    /// [`Store::open_in_dir`] without waiting for the integrity check when opening writes
    /// nothing (an existing file in WAL mode with the current schema): what `serve` uses, so
    /// that its start-up does not grow with the file (the check reads all of it: about a
    /// second per GB). The store reads at once; [`Store::verify`] runs the check, and every
    /// write (a run created or resumed or ended, retention, a vacuum, aggregates stored) runs
    /// it first if it has not run, so nothing is ever written to a damaged file.
    /// Aggregates computed before are returned but not stored. A new or older file is checked
    /// at once, as by [`Store::open`].
    pub fn open_in_dir_unverified(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE_NAME);
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: path.clone(),
            source,
        })?;
        let store = Store::connect(&path, OpenFlags::SQLITE_OPEN_CREATE, true)?;
        if store.verified.get() {
            store.record_dead_runs();
        }
        crate::liveness::remove_stale_locks(&path);
        Ok(store)
    }

    /// Runs the integrity check ([`StoreError::Damaged`] when it fails) unless it has run,
    /// then records runs left `running` by a process that ended as `interrupted` (see
    /// [`Store::open`]). Cost: linear in the file's size (see the crate docs).
    pub fn verify(&self) -> Result<(), StoreError> {
        if self.verified.get() {
            return Ok(());
        }
        self.verify_integrity()?;
        self.record_dead_runs();
        Ok(())
    }

    /// [`Store::verify`]'s integrity check alone, unless it has run: runs left `running` are
    /// not recorded (`resume` records them with [`Store::ready_for_resuming`]).
    pub fn verify_integrity(&self) -> Result<(), StoreError> {
        if self.verified.get() {
            return Ok(());
        }
        let started = std::time::Instant::now();
        schema::check(self.conn()?, &self.path)?;
        self.verified.set(true);
        tracing::debug!(path = %self.path.display(), seconds = started.elapsed().as_secs_f64(), "checked the results store");
        Ok(())
    }

    /// Whether the file has passed its integrity check (see [`Store::verify`]).
    pub(crate) fn is_verified(&self) -> bool {
        self.verified.get()
    }

    /// Creates `dir` (and its parents) if needed, then opens `dir/llmbench.sqlite` with
    /// [`Store::open`].
    pub fn open_in_dir(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE_NAME);
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: path.clone(),
            source,
        })?;
        Store::open(&path)
    }

    /// Opens an existing store, creating nothing: [`StoreError::NotFound`] names the path
    /// when there is no file. What read commands and `resume` use. The file is checked as by
    /// [`Store::open`] and an older schema is migrated; runs are left as stored (readers see
    /// a `running` run that no process holds as `interrupted`).
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        Store::connect_existing(path, false)
    }

    fn connect_existing(path: &Path, defer_check: bool) -> Result<Store, StoreError> {
        if !path.is_file() {
            return Err(StoreError::NotFound {
                path: path.to_owned(),
            });
        }
        Store::connect(path, OpenFlags::empty(), defer_check)
    }

    /// [`Store::open_existing`] without waiting for the integrity check when opening writes
    /// nothing (as [`Store::open_in_dir_unverified`]): what `resume` uses, which runs the
    /// check ([`Store::verify_integrity`]) while it parses the run's stored inputs, each on
    /// one core. Every write runs the check first if it has not run.
    pub fn open_existing_unverified(path: &Path) -> Result<Store, StoreError> {
        Store::connect_existing(path, true)
    }

    /// Makes a store opened with [`Store::open_existing`] ready for resuming run `run_id`,
    /// as [`Store::open`] would have: runs left `running` by a process that ended recorded as
    /// `interrupted` (all but `run_id`, on its way back to `running`: that record reads all
    /// its samples for their latest time, 0.2 s at 100,000 samples before a resume could send
    /// anything), stale lock files removed. `resume` reads the run with the store it then
    /// writes with, so the file is checked once (the check reads all of it: about a second
    /// per GB).
    pub fn ready_for_resuming(&self, run_id: &str) {
        if self.pg().is_none() {
            self.record_dead_runs_except(Some(run_id));
            crate::liveness::remove_stale_locks(&self.path);
        }
    }

    /// [`Store::open_existing`] on `dir/llmbench.sqlite`.
    pub fn open_existing_in_dir(dir: &Path) -> Result<Store, StoreError> {
        Store::open_existing(&dir.join(STORE_FILE_NAME))
    }

    fn connect(path: &Path, create: OpenFlags, defer_check: bool) -> Result<Store, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | create;
        let mut conn = Connection::open_with_flags(path, flags)
            .map_err(|source| schema::open_or_damaged(path, source))?;
        let verified = schema::prepare(&mut conn, path, defer_check)?;
        // Room for the grade inserts of every group size (`samples::GRADE_BATCH_MAX`) next
        // to the other statements, so that none is prepared again while a run writes.
        conn.set_prepared_statement_cache_capacity(64);
        tracing::debug!(path = %path.display(), verified, "opened results store");
        Ok(Store {
            backend: Backend::Sqlite(conn),
            path: path.to_owned(),
            buckets: None,
            claims: RefCell::default(),
            verified: Cell::new(verified),
            live: Default::default(),
        })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a new run with status `running`, and claims it for this store (see
    /// [`Store::claim_run`]) until its status changes or the store is dropped. The run
    /// stores no files: see [`Store::create_run_with_files`].
    pub fn create_run(&self, run: &NewRun) -> Result<(), StoreError> {
        self.create_run_with_files(run, &[])
    }

    /// [`Store::create_run`], storing in the same transaction the files the run read (its
    /// config, prompt and items files), from which `resume` and reports read them again
    /// instead of the files on disk now ([`Store::run_files`]). Each distinct content is
    /// stored once in the file, however many runs read it.
    pub fn create_run_with_files(&self, run: &NewRun, files: &[RunFile]) -> Result<(), StoreError> {
        self.verify()?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_create_run(pg, run, files));
        }
        let sql_err = |source| self.sql_err("create a run", source);
        // Claimed before it exists: nobody ever sees it `running` and unheld.
        self.hold(&run.id)?;
        if crate::samples::run_exists(self.conn()?, &run.id).map_err(sql_err)? {
            return Err(StoreError::RunExists {
                run_id: run.id.clone(),
                path: self.path.clone(),
            });
        }
        let providers = serde_json::to_string(&run.providers).expect("strings serialize");
        let graders = serde_json::to_string(&run.graders).expect("strings serialize");
        let pass_at_k = serde_json::to_string(&run.pass_at_k).expect("integers serialize");
        let conn = self.conn()?;
        let insert = || -> Result<(), crate::inputs::InsertFilesError> {
            let tx = conn.unchecked_transaction()?;
            tx.execute(
                "INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                     planned_samples, providers_json, graders_json, pass_at_k_json, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'running')",
                params![
                    run.id,
                    run.created_at,
                    run.config_path,
                    run.config_toml,
                    run.prices_json.to_string(),
                    run.planned_samples,
                    providers,
                    graders,
                    pass_at_k,
                ],
            )?;
            crate::inputs::insert_run_files(&tx, &run.id, files)?;
            Ok(tx.commit()?)
        };
        insert().map_err(|e| {
            self.release(&run.id);
            match e {
                crate::inputs::InsertFilesError::Sql(source) => sql_err(source),
                crate::inputs::InsertFilesError::Read(e) => StoreError::RunFile {
                    path: self.path.clone(),
                    detail: e.to_string(),
                },
            }
        })?;
        if let Some(b) = &self.buckets {
            self.live.start(&run.id, b.clone());
        }
        Ok(())
    }

    /// Sets a run's status. Leaving `running` stamps `finished_at`; returning to `running`
    /// (a resume) clears it and the reason.
    ///
    /// Returning to `running` claims the run for this store first
    /// ([`StoreError::RunBusy`] when another process runs it). Any other status releases the
    /// claim, even when the update fails (a full disk): the run is no longer being run, and
    /// readers then see it as `interrupted` until a writer records it.
    pub fn set_run_status(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        self.verify()?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || {
                if status == RunStatus::Running {
                    self.pg_hold(pg, run_id)?;
                }
                let result = self.pg_update_status(pg, run_id, status, reason);
                if status != RunStatus::Running || result.is_err() {
                    self.pg_release(pg, run_id);
                }
                result
            });
        }
        if status == RunStatus::Running {
            self.hold(run_id)?;
        } else {
            // Ended: the aggregates kept so far are written by `end_run` (which took them
            // first) or computed when asked for.
            self.live.take(run_id);
        }
        let result = self.update_status(run_id, status, reason);
        if status != RunStatus::Running || result.is_err() {
            self.release(run_id);
        }
        result
    }

    /// Claims `run_id` for this store unless it already holds it.
    fn hold(&self, run_id: &str) -> Result<(), StoreError> {
        if self.claims.borrow().contains_key(run_id) {
            return Ok(());
        }
        let claim = self.claim_run(run_id)?;
        self.claims.borrow_mut().insert(run_id.to_owned(), claim);
        Ok(())
    }

    fn release(&self, run_id: &str) {
        self.claims.borrow_mut().remove(run_id);
    }

    fn update_status(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished_at = (status != RunStatus::Running).then(crate::utc_now_rfc3339);
        let changed = self
            .conn()?
            .execute(
                "UPDATE runs SET status = ?2, status_reason = ?3, finished_at = ?4 WHERE id = ?1",
                params![run_id, status.as_str(), reason, finished_at],
            )
            .map_err(|source| self.sql_err("set a run's status", source))?;
        if changed == 0 {
            return Err(self.run_not_found(run_id));
        }
        if status == RunStatus::Running {
            // More samples are coming: the aggregates are recomputed at the end.
            crate::aggregates::forget(self.conn()?, run_id)
                .map_err(|source| self.sql_err("set a run's status", source))?;
        }
        Ok(())
    }

    /// Claims run `run_id`: holds the run's lock (the sidecar file
    /// `llmbench.sqlite.run-<id>.lock`) until the claim is dropped or the process ends.
    /// While held, readers trust a stored `running`; once nobody holds it, a `running` run
    /// reads as `interrupted` and the next [`Store::open`] records it so. Fails with
    /// [`StoreError::RunBusy`] when it is held elsewhere (another process, another store).
    ///
    /// [`Store::create_run`] and [`Store::set_run_status`] to `running` claim the run for the
    /// store themselves, and any other status releases it: callers of those need not call
    /// this. It is for holding a run without a store doing so.
    pub fn claim_run(&self, run_id: &str) -> Result<RunClaim, StoreError> {
        self.sqlite_only("claiming a run apart from running it")?;
        liveness::claim(&self.path, run_id)?.ok_or_else(|| StoreError::RunBusy {
            path: self.path.clone(),
            run_id: run_id.to_owned(),
            lock: liveness::lock_path(&self.path, run_id),
        })
    }

    /// Whether a process (this one included) holds run `run_id` (see [`Store::claim_run`]).
    pub fn run_is_held(&self, run_id: &str) -> bool {
        if let Some(pg) = self.pg() {
            // When the server cannot say, trust the stored status (as with a file system
            // without locks).
            return crate::pg::blocking(&self.path, || self.pg_is_held(pg, run_id)).unwrap_or(true);
        }
        liveness::is_held(&self.path, run_id)
    }

    /// Ends a run: records its final status, writes its aggregates (when histogram buckets
    /// were given, [`Store::set_histogram_buckets`]; otherwise they are computed when first
    /// asked for; on PostgreSQL, by the last shard to end) and checkpoints the WAL back to 0
    /// bytes. Only the status is required to
    /// succeed: an aggregate or checkpoint failure is logged.
    pub fn end_run(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let live = self.live.take(run_id);
        self.set_run_status(run_id, status, reason)?;
        // On PostgreSQL, while another shard runs the run its aggregates would not be stored
        // (see `pg::aggregates`): the last shard to end computes them.
        if status != RunStatus::Running
            && let Some(buckets) = &self.buckets
            && !(self.is_postgres() && self.run_is_held(run_id))
            && let Err(e) = self.end_run_aggregates(run_id, buckets, live)
        {
            tracing::warn!(run = run_id, error = %e, "cannot write the run's aggregates; they are computed when next asked for");
        }
        self.checkpoint();
        Ok(())
    }

    /// Writes the aggregates of a run that ended: those kept as its samples were recorded
    /// when they are the whole run's (this store created the run, recorded every one of its
    /// samples, and counted in the store's buckets), else computed from the stored samples.
    fn end_run_aggregates(
        &self,
        run_id: &str,
        buckets: &HistogramBuckets,
        live: Option<crate::aggregates::Sums>,
    ) -> Result<(), StoreError> {
        if let Some(sums) = live
            && sums.b == *buckets
            && self.count_samples(run_id)? == sums.samples()
        {
            self.store_aggregates(sums.finish(run_id))?;
        } else {
            self.write_aggregates(run_id)?;
        }
        Ok(())
    }

    /// How many samples run `run_id` has stored (SQLite).
    fn count_samples(&self, run_id: &str) -> Result<u64, StoreError> {
        self.conn()?
            .query_row(
                "SELECT count(*) FROM samples WHERE run_id = ?1",
                [run_id],
                |row| row.get(0),
            )
            .map_err(|source| self.sql_err("count a run's samples", source))
    }

    /// Copies the WAL into the database file and truncates it (`wal_checkpoint(TRUNCATE)`).
    pub fn checkpoint(&self) {
        if let Ok(conn) = self.conn() {
            schema::checkpoint(conn, &self.path);
        }
    }

    /// Records as `interrupted` every run stored as `running` that no process holds. Its
    /// `finished_at` is when its last sample was stored (else when it was created). Failures
    /// are logged: readers see the same status through the liveness check.
    fn record_dead_runs(&self) {
        self.record_dead_runs_except(None);
    }

    /// [`Store::record_dead_runs`], leaving run `except` as it is.
    fn record_dead_runs_except(&self, except: Option<&str>) {
        let Ok(conn) = self.conn() else { return };
        let running = conn
            .prepare("SELECT id FROM runs WHERE status = 'running'")
            .and_then(|mut stmt| {
                stmt.query_map([], |row| row.get::<_, String>(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            });
        let running = match running {
            Ok(ids) => ids,
            Err(e) => {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot list running runs");
                return;
            }
        };
        for id in running {
            if except == Some(id.as_str()) {
                continue;
            }
            let claim = match liveness::try_claim(&self.path, &id, std::time::Duration::ZERO) {
                Ok(Some(claim)) => claim,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(run = %id, error = %e, "cannot check whether a run is alive");
                    continue;
                }
            };
            let fixed = conn.execute(
                "UPDATE runs SET status = 'interrupted', status_reason = ?2,
                     finished_at = ifnull((SELECT max(s.finished_at) FROM samples s
                                           WHERE s.run_id = runs.id), runs.created_at)
                 WHERE id = ?1 AND status = 'running'",
                params![id, DEAD_RUN_REASON],
            );
            match fixed {
                Ok(1) => {
                    tracing::warn!(run = %id, path = %self.path.display(), "run was left `running` by a process that ended; recorded it as interrupted (resume it with `llmbench resume`)")
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(run = %id, error = %e, "cannot record a dead run as interrupted")
                }
            }
            drop(claim);
        }
    }

    /// The ids of every sample recorded in a run, `done` or `error`: what a resumed run
    /// skips.
    pub fn finished_sample_ids(&self, run_id: &str) -> Result<HashSet<SampleId>, StoreError> {
        let sql_err = |source| self.sql_err("read finished samples", source);
        let run = self.run(run_id)?;
        if let Some(at) = run.samples_deleted_at {
            return Err(StoreError::RunPruned {
                path: self.path.clone(),
                run_id: run_id.to_owned(),
                at,
            });
        }
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_finished_sample_ids(pg, run_id));
        }
        let mut stmt = self
            .conn()?
            .prepare("SELECT sample_id FROM samples WHERE run_id = ?1")
            .map_err(sql_err)?;
        let ids = stmt
            .query_map([run_id], |row| row.get::<_, String>(0))
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql_err)?;
        ids.into_iter()
            .map(|id| id.parse().map_err(|e| self.corrupt("samples", e)))
            .collect()
    }

    /// A run's metadata.
    pub fn run(&self, run_id: &str) -> Result<StoredRun, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_run(pg, run_id));
        }
        let row = self
            .conn()?
            .query_row(
                "SELECT id, created_at, config_path, config_toml, prices_json, planned_samples,
                     providers_json, graders_json, status, finished_at, status_reason,
                     pass_at_k_json, samples_deleted_at
                 FROM runs WHERE id = ?1",
                [run_id],
                |row| {
                    Ok((
                        (
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, String>(2)?,
                            row.get::<_, String>(3)?,
                        ),
                        (
                            row.get::<_, String>(4)?,
                            row.get::<_, u64>(5)?,
                            row.get::<_, String>(6)?,
                            row.get::<_, String>(7)?,
                        ),
                        (
                            row.get::<_, String>(8)?,
                            row.get::<_, Option<String>>(9)?,
                            row.get::<_, Option<String>>(10)?,
                            row.get::<_, String>(11)?,
                        ),
                        row.get::<_, Option<String>>(12)?,
                    ))
                },
            )
            .optional()
            .map_err(|source| self.sql_err("read a run", source))?;
        let Some((
            (id, created_at, config_path, config_toml),
            (prices, planned_samples, providers, graders),
            (status, finished_at, status_reason, pass_at_k),
            samples_deleted_at,
        )) = row
        else {
            return Err(self.run_not_found(run_id));
        };
        let status = self.parse_run_status(run_id, &status)?;
        let (status, status_reason) = self.live_status(&id, status, status_reason);
        self.stored_run(RunColumns {
            id,
            created_at,
            config_path,
            config_toml,
            prices,
            planned_samples,
            providers,
            graders,
            status,
            finished_at,
            status_reason,
            pass_at_k,
            samples_deleted_at,
        })
    }

    /// A `runs` row's status column, or the store's corruption error naming the run.
    pub(crate) fn parse_run_status(
        &self,
        run_id: &str,
        text: &str,
    ) -> Result<RunStatus, StoreError> {
        text.parse()
            .map_err(|e: String| self.corrupt_run_column(run_id, "status", &e))
    }

    fn corrupt_run_column(&self, run_id: &str, column: &str, text: &str) -> StoreError {
        self.corrupt("runs", format!("run `{run_id}`: column {column}: {text}"))
    }

    /// A run from its row as either backend reads it (the status already the one readers
    /// see): the JSON columns parsed, a corrupt one named.
    pub(crate) fn stored_run(&self, c: RunColumns) -> Result<StoredRun, StoreError> {
        let json = |column: &str, e: serde_json::Error| {
            self.corrupt_run_column(&c.id, column, &e.to_string())
        };
        Ok(StoredRun {
            prices_json: serde_json::from_str(&c.prices).map_err(|e| json("prices_json", e))?,
            providers: serde_json::from_str(&c.providers).map_err(|e| json("providers_json", e))?,
            graders: serde_json::from_str(&c.graders).map_err(|e| json("graders_json", e))?,
            pass_at_k: serde_json::from_str(&c.pass_at_k).map_err(|e| json("pass_at_k_json", e))?,
            status: c.status,
            id: c.id,
            created_at: c.created_at,
            config_path: c.config_path,
            config_toml: c.config_toml,
            planned_samples: c.planned_samples,
            finished_at: c.finished_at,
            status_reason: c.status_reason,
            samples_deleted_at: c.samples_deleted_at,
        })
    }

    /// The status readers see: a stored `running` that no process holds is `interrupted`.
    fn live_status(
        &self,
        run_id: &str,
        stored: RunStatus,
        reason: Option<String>,
    ) -> (RunStatus, Option<String>) {
        if stored == RunStatus::Running && !liveness::is_held(&self.path, run_id) {
            (RunStatus::Interrupted, Some(DEAD_RUN_REASON.to_owned()))
        } else {
            (stored, reason)
        }
    }

    /// The most recently created run, if any.
    pub fn latest_run_id(&self) -> Result<Option<String>, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_latest_run_id(pg));
        }
        self.conn()?
            .query_row(
                "SELECT id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.sql_err("find the latest run", source))
    }

    /// Every run, oldest first, with its sample counts: from its aggregates when it has
    /// them (a run that ended, or whose samples retention deleted: one row per group read),
    /// else counted in its samples.
    pub fn list_runs(&self) -> Result<Vec<RunSummaryRow>, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_list_runs(pg));
        }
        let sql_err = |source| self.sql_err("list runs", source);
        let mut stmt = self
            .conn()?
            .prepare(
                "SELECT r.id, r.created_at, r.status, r.planned_samples,
                     CASE WHEN r.samples_deleted_at IS NULL AND r.aggregated_at IS NULL
                         THEN (SELECT count(*) FROM samples s
                               WHERE s.run_id = r.id AND s.status = 'done')
                         ELSE (SELECT ifnull(sum(a.samples - a.errors), 0) FROM run_aggregates a
                               WHERE a.run_id = r.id) END,
                     CASE WHEN r.samples_deleted_at IS NULL AND r.aggregated_at IS NULL
                         THEN (SELECT count(*) FROM samples s
                               WHERE s.run_id = r.id AND s.status = 'error')
                         ELSE (SELECT ifnull(sum(a.errors), 0) FROM run_aggregates a
                               WHERE a.run_id = r.id) END
                 FROM runs r ORDER BY r.created_at, r.rowid",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, u64>(3)?,
                    row.get::<_, u64>(4)?,
                    row.get::<_, u64>(5)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql_err)?;
        rows.into_iter()
            .map(|(id, created_at, status, planned_samples, done, errors)| {
                let status = status.parse().map_err(|e| self.corrupt("runs", e))?;
                Ok(RunSummaryRow {
                    status: self.live_status(&id, status, None).0,
                    id,
                    created_at,
                    planned_samples,
                    done,
                    errors,
                })
            })
            .collect()
    }

    /// The run and all its samples, in report order (tasks and providers in config order,
    /// then item name, then repeat).
    pub fn report(&self, run_id: &str) -> Result<RunReport, StoreError> {
        let run = self.run(run_id)?;
        let mut samples = Vec::new();
        self.for_each_sample(run_id, |sample| {
            samples.push(sample.record);
            Ok(())
        })?;
        Ok(RunReport {
            run: RunInfo {
                run_id: run.id,
                config_path: run.config_path,
                store_path: self.path.display().to_string(),
                status: run.status.as_str().to_owned(),
                started_at: run.created_at,
                planned_samples: run.planned_samples,
                providers: run.providers,
                graders: run.graders,
                pass_at_k: run.pass_at_k,
            },
            samples,
            summary: None,
        })
    }

    pub(crate) fn require_run(&self, run_id: &str) -> Result<(), StoreError> {
        let exists = if let Some(pg) = self.pg() {
            crate::pg::blocking(&self.path, || self.pg_run_exists(pg, run_id))?
        } else {
            crate::samples::run_exists(self.conn()?, run_id)
                .map_err(|source| self.sql_err("read a run", source))?
        };
        if exists {
            Ok(())
        } else {
            Err(self.run_not_found(run_id))
        }
    }

    fn run_not_found(&self, run_id: &str) -> StoreError {
        StoreError::RunNotFound {
            run_id: run_id.to_owned(),
            path: self.path.clone(),
        }
    }
}

/// The columns of a `runs` row, as text, that [`Store::stored_run`] turns into a
/// [`StoredRun`]; the same for the SQLite and the PostgreSQL backend.
pub(crate) struct RunColumns {
    pub(crate) id: String,
    pub(crate) created_at: String,
    pub(crate) config_path: String,
    pub(crate) config_toml: String,
    pub(crate) prices: String,
    pub(crate) planned_samples: u64,
    pub(crate) providers: String,
    pub(crate) graders: String,
    pub(crate) status: RunStatus,
    pub(crate) finished_at: Option<String>,
    pub(crate) status_reason: Option<String>,
    pub(crate) pass_at_k: String,
    pub(crate) samples_deleted_at: Option<String>,
}
