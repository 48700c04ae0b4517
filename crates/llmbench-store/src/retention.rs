//! Retention: deleting older runs' samples while keeping the runs and their aggregates.
//!
//! Space: deleted rows' pages go to SQLite's free list and are reused by the next samples,
//! so the file stops growing once retention removes as much as new runs add; it does not
//! shrink. The store never runs `VACUUM` by itself (it rewrites the whole file, needs as
//! much free space again and blocks every writer meanwhile); [`Store::vacuum`] does it on
//! request.

use rusqlite::params;

use crate::{Store, StoreError};

/// What [`Store::apply_retention`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionOutcome {
    /// Runs whose samples were deleted, oldest first.
    pub runs: Vec<String>,
    /// Samples deleted (with their completions, grades and attempts).
    pub samples: u64,
}

impl Store {
    /// Deletes the samples, completions, grades and attempts of older runs (and the stored
    /// requests no remaining sample sent), keeping each
    /// run's row and its aggregates (computed first when missing, so histogram buckets must
    /// have been given, [`Store::set_histogram_buckets`]).
    ///
    /// Among the runs of `config_path` (as stored in `runs.config_path`; every run when
    /// `None`), newest first, a run is kept when it is one of the `keep_runs` newest or was
    /// created less than `keep_days` days ago; with both, either keeps it; with neither,
    /// nothing is deleted. Runs a process holds are never touched. A pruned run can no
    /// longer be resumed or exported sample by sample. Each run is pruned in its own
    /// transaction, and the WAL is checkpointed at the end.
    pub fn apply_retention(
        &mut self,
        keep_runs: Option<usize>,
        keep_days: Option<u32>,
        config_path: Option<&str>,
    ) -> Result<RetentionOutcome, StoreError> {
        let mut outcome = RetentionOutcome::default();
        if keep_runs.is_none() && keep_days.is_none() {
            return Ok(outcome);
        }
        self.verify()?;
        let sql_err = |source| self.sql_err("apply the retention policy", source);
        let runs = match self.pg() {
            Some(pg) => {
                crate::pg::blocking(&self.path, || self.pg_retention_runs(pg, config_path))?
            }
            None => self
                .conn()?
                .prepare(
                    "SELECT id, created_at, samples_deleted_at IS NOT NULL FROM runs
                     WHERE ?1 IS NULL OR config_path = ?1
                     ORDER BY created_at DESC, rowid DESC",
                )
                .and_then(|mut stmt| {
                    stmt.query_map([config_path], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, bool>(2)?,
                        ))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(sql_err)?,
        };
        let cutoff = keep_days.map(crate::time::utc_days_ago_rfc3339);
        let mut prune = Vec::new();
        for (newest, (id, created_at, deleted)) in runs.into_iter().enumerate() {
            let kept_by_count = keep_runs.is_some_and(|n| newest < n);
            let kept_by_age = cutoff.as_ref().is_some_and(|c| created_at >= *c);
            if deleted || kept_by_count || kept_by_age || self.run_is_held(&id) {
                continue;
            }
            prune.push(id);
        }
        prune.reverse();
        for id in prune {
            // Current aggregates first: they are all that will be left.
            self.run_aggregates(&id)?;
            let samples = if let Some(pg) = self.pg() {
                match crate::pg::blocking(&self.path, || self.pg_prune_run(pg, &id))? {
                    Some(samples) => samples,
                    None => {
                        tracing::info!(run = %id, "retention: left the run alone (a shard runs it, or it changed since its aggregates were computed)");
                        continue;
                    }
                }
            } else {
                let tx = self.conn()?.unchecked_transaction().map_err(sql_err)?;
                for table in ["attempts", "grades", "completions"] {
                    tx.execute(
                        &format!(
                            "DELETE FROM {table}
                              WHERE seq IN (SELECT seq FROM samples WHERE run_id = ?1)"
                        ),
                        [&id],
                    )
                    .map_err(sql_err)?;
                }
                let samples = tx
                    .execute("DELETE FROM samples WHERE run_id = ?1", [&id])
                    .map_err(sql_err)?;
                tx.execute(
                    "UPDATE runs SET samples_deleted_at = ?2 WHERE id = ?1",
                    params![id, crate::utc_now_rfc3339()],
                )
                .map_err(sql_err)?;
                tx.commit().map_err(sql_err)?;
                samples as u64
            };
            tracing::info!(run = %id, samples, "retention: deleted the run's samples, kept its aggregates");
            outcome.samples += samples;
            outcome.runs.push(id);
        }
        if !outcome.runs.is_empty() {
            // Requests no sample refers to any more (the runs' files are kept with the runs).
            if let Some(pg) = self.pg() {
                crate::pg::blocking(&self.path, || self.pg_delete_unused_requests(pg))?;
            } else {
                self.conn()?
                    .execute(
                        "DELETE FROM requests WHERE hash NOT IN
                             (SELECT request_hash FROM samples WHERE request_hash IS NOT NULL)",
                        [],
                    )
                    .map_err(sql_err)?;
            }
        }
        self.checkpoint();
        Ok(outcome)
    }

    /// Rewrites the file without its free pages (`VACUUM`), then truncates the WAL. Needs
    /// free disk space of about the file's size and blocks other writers while it runs.
    ///
    /// On PostgreSQL: a plain `VACUUM` of the store's tables, which makes deleted rows' space
    /// reusable at once but does not shrink them (see the `pg` module).
    pub fn vacuum(&self) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_vacuum(pg));
        }
        self.verify()?;
        self.conn()?
            .execute_batch("VACUUM")
            .map_err(|source| self.sql_err("vacuum the store", source))?;
        self.checkpoint();
        Ok(())
    }
}
