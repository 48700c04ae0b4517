//! Merging stores: `llmbench merge SHARD.sqlite... --into STORE` imports the runs of shard
//! files (one per process of a sharded sweep) into one store.
//!
//! For every run of a source: the run row (created if missing; a run already there must have
//! the same config and planned samples), its files, and every sample not yet in the store with
//! all its rows (completion, grades, attempts, its request, and any other per-sample table the
//! schema has). A sample already there must be the same row: merging a file twice changes
//! nothing, and a sample with the same id but another content (the same sample run twice, by
//! overlapping shards) is refused, naming both of its sources. Each source is merged in one
//! transaction: a refused source leaves nothing behind (sources merged before it stay).
//! Aggregates are not copied: the merged run's are computed again from its samples when next
//! asked for. The merged run is `finished` once it holds all its planned samples, else
//! `interrupted`, with a reason saying how many it holds.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension as _};

use crate::{SCHEMA_VERSION, Store, StoreError};

/// Why a merge was refused.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot merge {}: {action}", path.display())]
    Sql {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: rusqlite::Error,
    },
    #[error(
        "cannot merge {}: run {run} there has another {what} than the run {run} {other}",
        source_path.display()
    )]
    RunConflict {
        source_path: PathBuf,
        run: String,
        what: &'static str,
        other: String,
    },
    #[error(
        "cannot merge {}: sample {sample} of run {run} differs from the same sample {other} (was it run by two overlapping shards?); nothing of {} was merged",
        source_path.display(), source_path.display()
    )]
    SampleConflict {
        source_path: PathBuf,
        run: String,
        sample: String,
        other: String,
    },
    #[error("cannot merge {} into itself", path.display())]
    Itself { path: PathBuf },
}

/// What a merge did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MergeOutcome {
    /// The runs the sources held, in the order first met.
    pub runs: Vec<String>,
    /// Samples copied.
    pub added: u64,
    /// Samples of the sources that were already in the store (identical).
    pub already_present: u64,
}

/// One stored sample, for per-shard progress: its id, whether it finished without error, and
/// when it finished (RFC 3339).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleProgress {
    pub sample_id: String,
    pub done: bool,
    pub finished_at: String,
}

/// Tables copied per sample besides `samples`: every table with `run_id` and `sample_id`
/// columns (completions, grades, attempts, and any added later).
fn per_sample_tables(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT name FROM main.sqlite_master WHERE type = 'table' AND name != 'samples'
           AND name IN (SELECT m.name FROM main.sqlite_master m, pragma_table_info(m.name) c
                         WHERE c.name = 'sample_id')
           AND name IN (SELECT m.name FROM main.sqlite_master m, pragma_table_info(m.name) c
                         WHERE c.name = 'run_id')
         ORDER BY name",
    )?;
    stmt.query_map([], |r| r.get(0))?.collect()
}

/// The columns `table` has in both databases, quoted and comma-separated.
fn common_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(
        "SELECT m.name FROM pragma_table_info(?1, 'main') m
          WHERE m.name IN (SELECT name FROM pragma_table_info(?1, 'src'))
          ORDER BY m.cid",
    )?;
    stmt.query_map([table], |r| r.get::<_, String>(0))?
        .map(|c| c.map(|c| format!("\"{c}\"")))
        .collect()
}

/// The columns of `table` a merge copies: those both files have, but `seq` (each file's own
/// numbering of its samples).
fn copied_columns(conn: &Connection, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut columns = common_columns(conn, table)?;
    columns.retain(|c| c != "\"seq\"");
    Ok(columns)
}

impl Store {
    /// Merges the runs of the store files `sources` into this store (see the module docs).
    pub fn merge_from(&mut self, sources: &[PathBuf]) -> Result<MergeOutcome, MergeError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || Ok(self.pg_merge_from(pg, sources)))?;
        }
        let mut outcome = MergeOutcome::default();
        // Which source of this merge gave each sample it added: a conflict names it.
        let mut given_by: HashMap<(String, String), usize> = HashMap::new();
        for (index, source) in sources.iter().enumerate() {
            let same = std::fs::canonicalize(source).ok() == std::fs::canonicalize(&self.path).ok();
            if same {
                return Err(MergeError::Itself {
                    path: source.clone(),
                });
            }
            // Checked (quick_check) and brought to this schema version like any store.
            drop(Store::open_existing(source)?);
            let sql = |action| {
                let path = source.clone();
                move |source| MergeError::Sql {
                    path,
                    action,
                    source,
                }
            };
            self.conn()?
                .execute(
                    "ATTACH DATABASE ?1 AS src",
                    [source.to_string_lossy().as_ref()],
                )
                .map_err(sql("attach it"))?;
            let result = self.merge_attached(source, sources, index, &mut given_by, &mut outcome);
            let detached = self
                .conn()?
                .execute("DETACH DATABASE src", [])
                .map_err(sql("detach it"));
            result?;
            detached?;
        }
        Ok(outcome)
    }

    fn merge_attached(
        &mut self,
        source: &Path,
        sources: &[PathBuf],
        index: usize,
        given_by: &mut HashMap<(String, String), usize>,
        outcome: &mut MergeOutcome,
    ) -> Result<(), MergeError> {
        let sql = |action| {
            let path = source.to_owned();
            move |source| MergeError::Sql {
                path,
                action,
                source,
            }
        };
        let version: i64 = self
            .conn()?
            .query_row("PRAGMA src.user_version", [], |r| r.get(0))
            .map_err(sql("read its schema version"))?;
        debug_assert_eq!(version, SCHEMA_VERSION);
        let dest = self.path.clone();
        let tx = self
            .conn_mut()?
            .transaction()
            .map_err(sql("start a transaction"))?;
        let runs: Vec<String> = {
            let mut stmt = tx
                .prepare("SELECT id FROM src.runs ORDER BY created_at, id")
                .map_err(sql("list its runs"))?;
            stmt.query_map([], |r| r.get(0))
                .and_then(|rows| rows.collect())
                .map_err(sql("list its runs"))?
        };
        let run_columns = common_columns(&tx, "runs").map_err(sql("read its columns"))?;
        let sample_columns = copied_columns(&tx, "samples").map_err(sql("read its columns"))?;
        let tables = per_sample_tables(&tx).map_err(sql("read its tables"))?;
        tx.execute(
            "CREATE TEMP TABLE IF NOT EXISTS merge_new (sample_id TEXT PRIMARY KEY) STRICT",
            [],
        )
        .map_err(sql("prepare the merge"))?;
        for run in &runs {
            let existing: Option<(String, i64)> = tx
                .query_row(
                    "SELECT config_toml, planned_samples FROM main.runs WHERE id = ?1",
                    [run],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(sql("read the run"))?;
            let (config, planned): (String, i64) = tx
                .query_row(
                    "SELECT config_toml, planned_samples FROM src.runs WHERE id = ?1",
                    [run],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .map_err(sql("read the run"))?;
            match existing {
                None => {
                    let cols = run_columns.join(", ");
                    tx.execute(
                        &format!(
                            "INSERT INTO main.runs ({cols}) SELECT {cols} FROM src.runs WHERE id = ?1"
                        ),
                        [run],
                    )
                    .map_err(sql("copy the run"))?;
                }
                Some((c, p)) => {
                    let what = if c != config {
                        Some("config")
                    } else if p != planned {
                        Some("number of planned samples")
                    } else {
                        None
                    };
                    if let Some(what) = what {
                        return Err(MergeError::RunConflict {
                            source_path: source.to_owned(),
                            run: run.clone(),
                            what,
                            other: format!("in {}", dest.display()),
                        });
                    }
                }
            }
            if !outcome.runs.contains(run) {
                outcome.runs.push(run.clone());
            }
            for statement in [
                "INSERT OR IGNORE INTO main.file_contents (sha256, bytes)
                   SELECT sha256, bytes FROM src.file_contents
                    WHERE sha256 IN (SELECT sha256 FROM src.run_files WHERE run_id = ?1)",
                "INSERT OR IGNORE INTO main.run_files (run_id, position, role, path, sha256, size)
                   SELECT run_id, position, role, path, sha256, size FROM src.run_files
                    WHERE run_id = ?1",
                "INSERT OR IGNORE INTO main.requests (hash, request_json)
                   SELECT hash, request_json FROM src.requests
                    WHERE hash IN (SELECT request_hash FROM src.samples WHERE run_id = ?1)",
            ] {
                tx.execute(statement, [run])
                    .map_err(sql("copy the run's files"))?;
            }
            // A sample both have must be the same row.
            let differs = sample_columns
                .iter()
                .map(|c| format!("s.{c} IS NOT m.{c}"))
                .collect::<Vec<_>>()
                .join(" OR ");
            let conflict: Option<String> = tx
                .query_row(
                    &format!(
                        "SELECT s.sample_id FROM src.samples s
                           JOIN main.samples m ON m.run_id = s.run_id AND m.sample_id = s.sample_id
                          WHERE s.run_id = ?1 AND ({differs})
                          UNION ALL
                         SELECT s.sample_id FROM src.samples s
                           JOIN main.samples m ON m.run_id = s.run_id AND m.sample_id = s.sample_id
                           JOIN src.completions sc ON sc.seq = s.seq
                           JOIN main.completions mc ON mc.seq = m.seq
                          WHERE s.run_id = ?1 AND (sc.text IS NOT mc.text)
                          LIMIT 1"
                    ),
                    [run],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql("compare its samples"))?;
            if let Some(sample) = conflict {
                let other = match given_by.get(&(run.clone(), sample.clone())) {
                    Some(&i) => format!("in {}", sources[i].display()),
                    None => format!("already in {}", dest.display()),
                };
                return Err(MergeError::SampleConflict {
                    source_path: source.to_owned(),
                    run: run.clone(),
                    sample,
                    other,
                });
            }
            tx.execute("DELETE FROM temp.merge_new", [])
                .map_err(sql("prepare the merge"))?;
            let added = tx
                .execute(
                    "INSERT INTO temp.merge_new (sample_id)
                       SELECT sample_id FROM src.samples s WHERE run_id = ?1 AND NOT EXISTS
                         (SELECT 1 FROM main.samples m WHERE m.run_id = ?1 AND m.sample_id = s.sample_id)",
                    [run],
                )
                .map_err(sql("list its new samples"))?;
            let total: i64 = tx
                .query_row(
                    "SELECT count(*) FROM src.samples WHERE run_id = ?1",
                    [run],
                    |r| r.get(0),
                )
                .map_err(sql("count its samples"))?;
            outcome.added += added as u64;
            outcome.already_present += total as u64 - added as u64;
            // A copied sample gets the next `seq` of this file (each file numbers its own), in
            // the order the source wrote them; its rows in the other tables follow it.
            let cols = sample_columns.join(", ");
            tx.execute(
                &format!(
                    "INSERT INTO main.samples ({cols}) SELECT {cols} FROM src.samples
                      WHERE run_id = ?1 AND sample_id IN (SELECT sample_id FROM temp.merge_new)
                      ORDER BY seq"
                ),
                [run],
            )
            .map_err(sql("copy its samples"))?;
            for table in &tables {
                let cols = copied_columns(&tx, table).map_err(sql("read its columns"))?;
                if cols.is_empty() {
                    continue;
                }
                let from = cols
                    .iter()
                    .map(|c| format!("t.{c}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let cols = cols.join(", ");
                tx.execute(
                    &format!(
                        "INSERT INTO main.\"{table}\" (seq, {cols})
                         SELECT m.seq, {from} FROM src.samples s
                           JOIN src.\"{table}\" t ON t.seq = s.seq
                           JOIN main.samples m ON m.run_id = s.run_id AND m.sample_id = s.sample_id
                          WHERE s.run_id = ?1
                            AND s.sample_id IN (SELECT sample_id FROM temp.merge_new)
                          ORDER BY t.rowid"
                    ),
                    [run],
                )
                .map_err(sql("copy its samples"))?;
            }
            {
                let mut stmt = tx
                    .prepare("SELECT sample_id FROM temp.merge_new")
                    .map_err(sql("list its new samples"))?;
                let ids = stmt
                    .query_map([], |r| r.get::<_, String>(0))
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(sql("list its new samples"))?;
                for id in ids {
                    given_by.insert((run.clone(), id), index);
                }
            }
            if added > 0 {
                merged_status(&tx, run).map_err(sql("set the merged run's status"))?;
                crate::aggregates::forget(&tx, run).map_err(sql("reset the run's aggregates"))?;
            }
        }
        tx.commit().map_err(sql("commit"))?;
        Ok(())
    }

    /// Every stored sample of `run_id`: its id, whether it is done (not an error) and when it
    /// finished. For per-shard progress (`llmbench status`).
    pub fn sample_progress(&self, run_id: &str) -> Result<Vec<SampleProgress>, StoreError> {
        if let Some(pg) = self.pg() {
            self.require_run(run_id)?;
            return crate::pg::blocking(&self.path, || self.pg_sample_progress(pg, run_id));
        }
        self.require_run(run_id)?;
        let conn = self.conn()?;
        let read = || -> rusqlite::Result<Vec<SampleProgress>> {
            let mut stmt = conn.prepare(
                "SELECT sample_id, status = 'done', finished_at FROM samples WHERE run_id = ?1",
            )?;
            stmt.query_map([run_id], |r| {
                Ok(SampleProgress {
                    sample_id: r.get(0)?,
                    done: r.get(1)?,
                    finished_at: r.get(2)?,
                })
            })?
            .collect()
        };
        read().map_err(|e| self.sql_err("read the run's samples", e))
    }
}

/// A merged run is finished once it holds every planned sample, else interrupted.
fn merged_status(conn: &Connection, run: &str) -> rusqlite::Result<()> {
    let (held, planned): (i64, i64) = conn.query_row(
        "SELECT (SELECT count(*) FROM main.samples WHERE run_id = ?1), planned_samples
           FROM main.runs WHERE id = ?1",
        [run],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    if held >= planned {
        conn.execute(
            "UPDATE main.runs SET status = 'finished', status_reason = NULL,
                    finished_at = coalesce(
                        (SELECT max(finished_at) FROM main.samples WHERE run_id = ?1), finished_at)
              WHERE id = ?1",
            [run],
        )?;
    } else {
        conn.execute(
            "UPDATE main.runs SET status = 'interrupted', status_reason = ?2 WHERE id = ?1",
            rusqlite::params![
                run,
                format!("merged from shards: {held} of {planned} planned samples")
            ],
        )?;
    }
    Ok(())
}
