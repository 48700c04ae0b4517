//! The [`Store`]: opening the file, and runs as a whole.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use llmbench_core::{RunInfo, RunReport, SampleId};
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

use crate::{NewRun, RunStatus, RunSummaryRow, StoreError, StoredRun, schema};

/// The store's file name inside an output directory.
pub const STORE_FILE_NAME: &str = "llmbench.sqlite";

/// The results of many runs in one SQLite file.
///
/// Synchronous and single-connection: the runner owns one `Store` on a dedicated writer
/// thread. Other processes (a report, `sqlite3`) may read the file while it is written.
#[derive(Debug)]
pub struct Store {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
}

impl Store {
    /// Opens the store at `path`, creating the file and its schema if needed. The parent
    /// directory must exist.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.is_dir()
        {
            return Err(StoreError::MissingDir {
                path: path.to_owned(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(|source| StoreError::Open {
                path: path.to_owned(),
                source,
            })?;
        schema::prepare(&mut conn, path)?;
        tracing::debug!(path = %path.display(), "opened results store");
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// Creates `dir` (and its parents) if needed, then opens `dir/llmbench.sqlite`.
    pub fn open_in_dir(dir: &Path) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE_NAME);
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: path.clone(),
            source,
        })?;
        Store::open(&path)
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records a new run with status `running`.
    pub fn create_run(&self, run: &NewRun) -> Result<(), StoreError> {
        let sql_err = |source| self.sql_err("create a run", source);
        if crate::samples::run_exists(&self.conn, &run.id).map_err(sql_err)? {
            return Err(StoreError::RunExists {
                run_id: run.id.clone(),
                path: self.path.clone(),
            });
        }
        let providers = serde_json::to_string(&run.providers).expect("strings serialize");
        let graders = serde_json::to_string(&run.graders).expect("strings serialize");
        self.conn
            .execute(
                "INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                     planned_samples, providers_json, graders_json, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'running')",
                params![
                    run.id,
                    run.created_at,
                    run.config_path,
                    run.config_toml,
                    run.prices_json.to_string(),
                    run.planned_samples,
                    providers,
                    graders,
                ],
            )
            .map_err(sql_err)?;
        Ok(())
    }

    /// Sets a run's status. Leaving `running` stamps `finished_at`; returning to `running`
    /// (a resume) clears it and the reason.
    pub fn set_run_status(
        &self,
        run_id: &str,
        status: RunStatus,
        reason: Option<&str>,
    ) -> Result<(), StoreError> {
        let finished_at = (status != RunStatus::Running).then(crate::utc_now_rfc3339);
        let changed = self
            .conn
            .execute(
                "UPDATE runs SET status = ?2, status_reason = ?3, finished_at = ?4 WHERE id = ?1",
                params![run_id, status.as_str(), reason, finished_at],
            )
            .map_err(|source| self.sql_err("set a run's status", source))?;
        if changed == 0 {
            return Err(self.run_not_found(run_id));
        }
        Ok(())
    }

    /// The ids of every sample recorded in a run, `done` or `error`: what a resumed run
    /// skips.
    pub fn finished_sample_ids(&self, run_id: &str) -> Result<HashSet<SampleId>, StoreError> {
        let sql_err = |source| self.sql_err("read finished samples", source);
        self.require_run(run_id)?;
        let mut stmt = self
            .conn
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
        let row = self
            .conn
            .query_row(
                "SELECT id, created_at, config_path, config_toml, prices_json, planned_samples,
                     providers_json, graders_json, status, finished_at, status_reason
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
                        ),
                    ))
                },
            )
            .optional()
            .map_err(|source| self.sql_err("read a run", source))?;
        let Some((
            (id, created_at, config_path, config_toml),
            (prices, planned_samples, providers, graders),
            (status, finished_at, status_reason),
        )) = row
        else {
            return Err(self.run_not_found(run_id));
        };
        let json = |column: &str, text: &str| {
            self.corrupt("runs", format!("run `{run_id}`: column {column}: {text}"))
        };
        Ok(StoredRun {
            prices_json: serde_json::from_str(&prices)
                .map_err(|e| json("prices_json", &e.to_string()))?,
            providers: serde_json::from_str(&providers)
                .map_err(|e| json("providers_json", &e.to_string()))?,
            graders: serde_json::from_str(&graders)
                .map_err(|e| json("graders_json", &e.to_string()))?,
            status: status.parse().map_err(|e: String| json("status", &e))?,
            id,
            created_at,
            config_path,
            config_toml,
            planned_samples,
            finished_at,
            status_reason,
        })
    }

    /// The most recently created run, if any.
    pub fn latest_run_id(&self) -> Result<Option<String>, StoreError> {
        self.conn
            .query_row(
                "SELECT id FROM runs ORDER BY created_at DESC, rowid DESC LIMIT 1",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.sql_err("find the latest run", source))
    }

    /// Every run, oldest first, with its sample counts.
    pub fn list_runs(&self) -> Result<Vec<RunSummaryRow>, StoreError> {
        let sql_err = |source| self.sql_err("list runs", source);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT r.id, r.created_at, r.status, r.planned_samples,
                     (SELECT count(*) FROM samples s WHERE s.run_id = r.id AND s.status = 'done'),
                     (SELECT count(*) FROM samples s WHERE s.run_id = r.id AND s.status = 'error')
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
                Ok(RunSummaryRow {
                    status: status.parse().map_err(|e| self.corrupt("runs", e))?,
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
            },
            samples,
        })
    }

    pub(crate) fn require_run(&self, run_id: &str) -> Result<(), StoreError> {
        let exists = crate::samples::run_exists(&self.conn, run_id)
            .map_err(|source| self.sql_err("read a run", source))?;
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
