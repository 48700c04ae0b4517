//! Run aggregates on PostgreSQL: the same rows as in the SQLite file
//! ([`crate::aggregates::AggregateRows`]), read and written here.
//!
//! Shards end one after another, and one may join a run after another ended: aggregates are
//! stored only when, in the storing transaction (holding the run's row), no shard holds the
//! run and the run holds exactly the samples they were computed from. A shard joining or a
//! run resumed forgets them (in its own transaction on the run's row), so stored aggregates
//! are never those of part of a run that went on.

use std::collections::HashMap;

use postgres::GenericClient;

use super::{Pg, attempt_of, lock_keys, to_i64};
use crate::aggregates::{AggregateRows, CountRow, GroupRow, HistogramRow, SpendRow};
use crate::{AttemptRecord, RunAggregates, Store, StoreError, TokenTotals};

/// Whether any session holds a lock of the run (any shard): `$1` is the run's first key.
pub(super) const HELD_SQL: &str = "SELECT EXISTS (SELECT 1 FROM pg_locks
    WHERE locktype = 'advisory' AND objsubid = 2 AND granted AND classid = $1
      AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

/// The `classid` of run `run_id`'s locks in `pg_locks`.
pub(super) fn held_key(run_id: &str) -> u32 {
    lock_keys(run_id, "").0 as u32
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or_default()
}

fn known(n: Option<i64>) -> Option<u64> {
    n.map(count)
}

/// Deletes a run's aggregates and marks it as having none.
pub(crate) fn forget(client: &mut impl GenericClient, run_id: &str) -> Result<(), postgres::Error> {
    for table in [
        "run_aggregate_grader_spend",
        "run_aggregate_histograms",
        "run_aggregate_counts",
        "run_aggregates",
    ] {
        client.execute(
            &format!("DELETE FROM {table} WHERE run_id = $1"),
            &[&run_id],
        )?;
    }
    client.execute(
        "UPDATE runs SET aggregated_at = NULL, histogram_buckets_json = NULL WHERE id = $1",
        &[&run_id],
    )?;
    Ok(())
}

impl Store {
    /// Whether run `run_id` has stored aggregates, the buckets they were counted in, and
    /// whether its samples were deleted; `None` when there is no such run.
    pub(crate) fn pg_aggregate_state(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<Option<(bool, Option<String>, bool)>, StoreError> {
        let row = self
            .client(pg)?
            .query_opt(
                "SELECT aggregated_at IS NOT NULL, histogram_buckets_json,
                     samples_deleted_at IS NOT NULL
                 FROM runs WHERE id = $1",
                &[&run_id],
            )
            .map_err(self.pg_err("read run aggregates"))?;
        Ok(row.map(|row| (row.get(0), row.get(1), row.get(2))))
    }

    /// The stored rows of a run's aggregates.
    pub(crate) fn pg_aggregate_rows(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<AggregateRows, StoreError> {
        let err = self.pg_err("read run aggregates");
        let mut client = self.client(pg)?;
        let key = |row: &postgres::Row| (row.get(0), row.get(1), row.get(2));
        let groups = client
            .query(
                "SELECT provider, model, task, samples, errors, passes, fails, input_tokens,
                     output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
                     total_input_tokens, cost_usd, grader_cost_usd
                 FROM run_aggregates WHERE run_id = $1",
                &[&run_id],
            )
            .map_err(&err)?
            .iter()
            .map(|row| GroupRow {
                key: key(row),
                samples: count(row.get(3)),
                errors: count(row.get(4)),
                passes: count(row.get(5)),
                fails: count(row.get(6)),
                tokens: TokenTotals {
                    input: known(row.get(7)),
                    output: known(row.get(8)),
                    cache_read: known(row.get(9)),
                    cache_write: known(row.get(10)),
                    reasoning: known(row.get(11)),
                    total_input: known(row.get(12)),
                },
                cost_usd: row.get(13),
                grader_cost_usd: row.get(14),
            })
            .collect();
        let counts = client
            .query(
                "SELECT provider, model, task, name, label1, label2, value
                 FROM run_aggregate_counts WHERE run_id = $1",
                &[&run_id],
            )
            .map_err(&err)?
            .iter()
            .map(|row| CountRow {
                key: key(row),
                name: row.get(3),
                label1: row.get(4),
                label2: row.get(5),
                value: count(row.get(6)),
            })
            .collect();
        let spend = client
            .query(
                "SELECT provider, model, task, grader, input_tokens, output_tokens, cost_usd
                 FROM run_aggregate_grader_spend WHERE run_id = $1",
                &[&run_id],
            )
            .map_err(&err)?
            .iter()
            .map(|row| SpendRow {
                key: key(row),
                grader: row.get(3),
                input_tokens: known(row.get(4)),
                output_tokens: known(row.get(5)),
                cost_usd: row.get(6),
            })
            .collect();
        let histograms = client
            .query(
                "SELECT provider, model, task, name, label, count, sum, buckets_json
                 FROM run_aggregate_histograms WHERE run_id = $1",
                &[&run_id],
            )
            .map_err(&err)?
            .iter()
            .map(|row| HistogramRow {
                key: key(row),
                name: row.get(3),
                label: row.get(4),
                count: count(row.get(5)),
                sum: row.get(6),
                buckets_json: row.get(7),
            })
            .collect();
        Ok(AggregateRows {
            groups,
            counts,
            spend,
            histograms,
        })
    }

    /// Every attempt of a run, by sample id, each sample's in order.
    pub(crate) fn pg_run_attempts(
        &self,
        pg: &Pg,
        run_id: &str,
    ) -> Result<HashMap<String, Vec<AttemptRecord>>, StoreError> {
        let rows = self
            .client(pg)?
            .query(
                "SELECT outcome, http_status, wait_seconds, duration_seconds, sample_id
                 FROM attempts WHERE run_id = $1 ORDER BY sample_id, attempt",
                &[&run_id],
            )
            .map_err(self.pg_err("read attempts"))?;
        let mut all: HashMap<String, Vec<AttemptRecord>> = HashMap::new();
        for row in &rows {
            all.entry(row.get(4)).or_default().push(attempt_of(row));
        }
        Ok(all)
    }

    /// Stores `a` in place of the run's aggregates, in one transaction holding the run's row,
    /// when no shard holds the run and it holds exactly the samples `a` counts. False when
    /// it did not store them (the run is running, or changed since they were computed).
    pub(crate) fn pg_store_aggregates(
        &self,
        pg: &Pg,
        a: &RunAggregates,
    ) -> Result<bool, StoreError> {
        let err = self.pg_err("write run aggregates");
        let run_id = a.run_id.as_str();
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        let Some(row) = tx
            .query_opt(
                "SELECT samples_deleted_at IS NOT NULL,
                     (SELECT count(*) FROM samples s WHERE s.run_id = runs.id)
                 FROM runs WHERE id = $1 FOR UPDATE",
                &[&run_id],
            )
            .map_err(&err)?
        else {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: self.path.clone(),
            });
        };
        let (deleted, stored): (bool, i64) = (row.get(0), row.get(1));
        let counted: u64 = a.groups.iter().map(|g| g.samples).sum();
        let held: bool = tx
            .query_one(HELD_SQL, &[&held_key(run_id)])
            .map_err(&err)?
            .get(0);
        if deleted || held || count(stored) != counted {
            return Ok(false);
        }
        forget(&mut tx, run_id).map_err(&err)?;
        let rows = AggregateRows::of(a);
        for g in &rows.groups {
            let t = &g.tokens;
            let n = |v: Option<u64>| v.map(to_i64);
            tx.execute(
                "INSERT INTO run_aggregates (run_id, provider, model, task, samples, errors,
                     passes, fails, input_tokens, output_tokens, cache_read_tokens,
                     cache_write_tokens, reasoning_tokens, total_input_tokens, cost_usd,
                     grader_cost_usd)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
                &[
                    &run_id,
                    &g.key.0,
                    &g.key.1,
                    &g.key.2,
                    &to_i64(g.samples),
                    &to_i64(g.errors),
                    &to_i64(g.passes),
                    &to_i64(g.fails),
                    &n(t.input),
                    &n(t.output),
                    &n(t.cache_read),
                    &n(t.cache_write),
                    &n(t.reasoning),
                    &n(t.total_input),
                    &g.cost_usd,
                    &g.grader_cost_usd,
                ],
            )
            .map_err(&err)?;
        }
        for c in &rows.counts {
            tx.execute(
                "INSERT INTO run_aggregate_counts (run_id, provider, model, task, name, label1,
                     label2, value)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &run_id,
                    &c.key.0,
                    &c.key.1,
                    &c.key.2,
                    &c.name,
                    &c.label1,
                    &c.label2,
                    &to_i64(c.value),
                ],
            )
            .map_err(&err)?;
        }
        for s in &rows.spend {
            tx.execute(
                "INSERT INTO run_aggregate_grader_spend (run_id, provider, model, task, grader,
                     input_tokens, output_tokens, cost_usd)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &run_id,
                    &s.key.0,
                    &s.key.1,
                    &s.key.2,
                    &s.grader,
                    &s.input_tokens.map(to_i64),
                    &s.output_tokens.map(to_i64),
                    &s.cost_usd,
                ],
            )
            .map_err(&err)?;
        }
        for h in &rows.histograms {
            tx.execute(
                "INSERT INTO run_aggregate_histograms (run_id, provider, model, task, name,
                     label, count, sum, buckets_json)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &run_id,
                    &h.key.0,
                    &h.key.1,
                    &h.key.2,
                    &h.name,
                    &h.label,
                    &to_i64(h.count),
                    &h.sum,
                    &h.buckets_json,
                ],
            )
            .map_err(&err)?;
        }
        tx.execute(
            "UPDATE runs SET aggregated_at = $2, histogram_buckets_json = $3 WHERE id = $1",
            &[
                &run_id,
                &crate::utc_now_rfc3339(),
                &serde_json::to_string(&a.buckets).expect("numbers serialize"),
            ],
        )
        .map_err(&err)?;
        tx.commit().map_err(&err)?;
        Ok(true)
    }
}
