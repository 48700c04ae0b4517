//! Retention on PostgreSQL: the same policy as on a SQLite file (`Store::apply_retention`),
//! with the checks shards writing at once need.
//!
//! A run's samples are deleted in one transaction holding the run's row, and only when, there,
//! no shard holds the run and its aggregates are stored (what is left of it). Requests no
//! sample refers to are deleted under an `EXCLUSIVE` lock on `requests`: it waits for the
//! transactions that are writing samples (which insert into or refer to `requests`) and holds
//! new ones back until it commits, so that a request a shard is about to refer to is never
//! deleted under it. Freed space is reused by later rows once `VACUUM` (autovacuum, or
//! [`Store::vacuum`]) has seen it.

use super::Pg;
use super::aggregates::{HELD_SQL, held_key};
use crate::{Store, StoreError};

/// The tables [`Store::vacuum`] vacuums on PostgreSQL.
const TABLES: &str = "runs, samples, completions, grades, attempts, requests, file_contents,
    run_files, run_aggregates, run_aggregate_counts, run_aggregate_histograms,
    run_aggregate_grader_spend";

impl Store {
    /// The runs of `config_path` (every run when `None`), newest first: id, creation time,
    /// whether their samples were deleted.
    pub(crate) fn pg_retention_runs(
        &self,
        pg: &Pg,
        config_path: Option<&str>,
    ) -> Result<Vec<(String, String, bool)>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT id, created_at, samples_deleted_at IS NOT NULL FROM runs
                 WHERE $1::text IS NULL OR config_path = $1
                 ORDER BY created_at DESC, seq DESC",
                &[&config_path],
            )
            .map_err(self.pg_err("apply the retention policy"))?;
        Ok(rows
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect())
    }

    /// Deletes run `run_id`'s samples, completions, grades and attempts and marks it so:
    /// how many samples, or `None` when it was left alone (a shard holds it, or its
    /// aggregates are not stored, or its samples are already gone).
    pub(crate) fn pg_prune_run(&self, pg: &Pg, run_id: &str) -> Result<Option<u64>, StoreError> {
        let err = self.pg_err("apply the retention policy");
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT aggregated_at IS NOT NULL, samples_deleted_at IS NOT NULL
                 FROM runs WHERE id = $1 FOR UPDATE",
                &[&run_id],
            )
            .map_err(&err)?
        else {
            return Ok(None);
        };
        let (aggregated, deleted): (bool, bool) = (row.get(0), row.get(1));
        let held: bool = tx
            .query_one(HELD_SQL, &[&held_key(run_id)])
            .map_err(&err)?
            .get(0);
        if !aggregated || deleted || held {
            return Ok(None);
        }
        for table in ["attempts", "grades", "completions"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE run_id = $1"),
                &[&run_id],
            )
            .map_err(&err)?;
        }
        let samples = tx
            .execute("DELETE FROM samples WHERE run_id = $1", &[&run_id])
            .map_err(&err)?;
        tx.execute(
            "UPDATE runs SET samples_deleted_at = $2 WHERE id = $1",
            &[&run_id, &crate::utc_now_rfc3339()],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(Some(samples))
    }

    /// Deletes the requests no sample refers to (see the module docs for the lock).
    pub(crate) fn pg_delete_unused_requests(&self, pg: &Pg) -> Result<u64, StoreError> {
        let err = self.pg_err("delete requests no sample sent");
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        tx.batch_execute("LOCK TABLE requests IN EXCLUSIVE MODE")
            .map_err(&err)?;
        let deleted = tx
            .execute(
                "DELETE FROM requests r WHERE NOT EXISTS
                     (SELECT 1 FROM samples s WHERE s.request_hash = r.hash)",
                &[],
            )
            .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(deleted)
    }

    /// `VACUUM` of the store's tables: makes the space of deleted rows reusable at once
    /// (autovacuum does it later by itself). It does not shrink the tables (that is
    /// `VACUUM FULL`, which locks them against readers and writers: left to the database's
    /// administrator).
    pub(crate) fn pg_vacuum(&self, pg: &Pg) -> Result<(), StoreError> {
        self.client(pg)?
            .batch_execute(&format!("VACUUM {TABLES}"))
            .map_err(self.pg_err("vacuum the store"))
    }

    /// How many distinct requests the store holds.
    pub(crate) fn pg_request_count(&self, pg: &Pg) -> Result<u64, StoreError> {
        let n: i64 = self
            .client(pg)?
            .query_one("SELECT count(*) FROM requests", &[])
            .map_err(self.pg_err("count stored requests"))?
            .get(0);
        Ok(u64::try_from(n).unwrap_or_default())
    }
}
