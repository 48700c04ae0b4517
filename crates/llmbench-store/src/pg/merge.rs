//! `llmbench merge SHARD.sqlite... --into postgres://...`: the shard files of a sweep imported
//! into a PostgreSQL store, with the rules of a merge into a SQLite file (see the `merge`
//! module): a run already there must have the same config and planned samples; a sample
//! already there must be the same (record, attempts and finish time), so merging a file twice
//! changes nothing and a sample stored differently is refused naming both of its sources;
//! each source is merged in one transaction; a run that gained samples is `finished` once it
//! holds all its planned samples, else `interrupted`, and its aggregates are forgotten.

use std::collections::HashMap;
use std::path::PathBuf;

use super::{Pg, to_i64};
use crate::merge::{MergeError, MergeOutcome};
use crate::{Store, StoreError, StoredRun};

impl Store {
    /// Merges the SQLite store files `sources` into this PostgreSQL store.
    pub(crate) fn pg_merge_from(
        &self,
        pg: &Pg,
        sources: &[PathBuf],
    ) -> Result<MergeOutcome, MergeError> {
        let mut outcome = MergeOutcome::default();
        // Which source of this merge gave each sample it added: a conflict names it.
        let mut given_by: HashMap<(String, String), usize> = HashMap::new();
        for (index, source) in sources.iter().enumerate() {
            // Checked (quick_check) and brought to the current schema like any store.
            let src = Store::open_existing(source)?;
            self.pg_merge_one(pg, &src, sources, index, &mut given_by, &mut outcome)?;
        }
        Ok(outcome)
    }

    fn pg_merge_one(
        &self,
        pg: &Pg,
        src: &Store,
        sources: &[PathBuf],
        index: usize,
        given_by: &mut HashMap<(String, String), usize>,
        outcome: &mut MergeOutcome,
    ) -> Result<(), MergeError> {
        let source = &sources[index];
        let err = self.pg_err("merge a shard store into it");
        let mut client = self.client(pg)?;
        let mut tx = client.transaction().map_err(&err)?;
        for listed in src.list_runs()? {
            let run = src.run(&listed.id)?;
            let existing = tx
                .query_opt(
                    "SELECT config_toml, planned_samples FROM runs WHERE id = $1 FOR UPDATE",
                    &[&run.id],
                )
                .map_err(&err)?;
            match existing {
                None => self.pg_copy_run(&mut tx, &run)?,
                Some(row) => {
                    let (config, planned): (String, i64) = (row.get(0), row.get(1));
                    let what = if config != run.config_toml {
                        Some("config")
                    } else if planned != to_i64(run.planned_samples) {
                        Some("number of planned samples")
                    } else {
                        None
                    };
                    if let Some(what) = what {
                        return Err(MergeError::RunConflict {
                            source_path: source.clone(),
                            run: run.id.clone(),
                            what,
                            other: format!("in {}", self.path.display()),
                        });
                    }
                }
            }
            if !outcome.runs.contains(&run.id) {
                outcome.runs.push(run.id.clone());
            }
            for (position, file) in src.run_files(&run.id)?.iter().enumerate() {
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
                     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
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
            let (mut added, mut present) = (0u64, 0u64);
            let mut conflict: Option<String> = None;
            let streamed = src.for_each_sample(&run.id, |sample| {
                let attempts = src.attempts(&run.id, sample.record.key.id())?;
                let record = &sample.record;
                if self.pg_insert_sample(
                    &mut tx,
                    &run.id,
                    record,
                    &attempts,
                    &sample.finished_at,
                )? {
                    added += 1;
                    given_by.insert((run.id.clone(), record.key.id().to_string()), index);
                } else if self.pg_stored_same(
                    &mut tx,
                    &run.id,
                    record,
                    &attempts,
                    Some(&sample.finished_at),
                )? {
                    present += 1;
                } else {
                    conflict = Some(record.key.id().to_string());
                    // Stops the stream; the conflict is reported below.
                    return Err(self.corrupt("samples", "merge conflict".to_owned()));
                }
                Ok(())
            });
            if let Some(sample) = conflict {
                let other = match given_by.get(&(run.id.clone(), sample.clone())) {
                    Some(&i) => format!("in {}", sources[i].display()),
                    None => format!("already in {}", self.path.display()),
                };
                return Err(MergeError::SampleConflict {
                    source_path: source.clone(),
                    run: run.id.clone(),
                    sample,
                    other,
                });
            }
            streamed?;
            outcome.added += added;
            outcome.already_present += present;
            if added > 0 {
                merged_status(&mut tx, &run.id)
                    .map_err(self.pg_err("set the merged run's status"))?;
                super::aggregates::forget(&mut tx, &run.id)
                    .map_err(self.pg_err("reset the run's aggregates"))?;
            }
        }
        tx.commit().map_err(&err)?;
        Ok(())
    }

    /// Inserts a run as its source stores it (its status as readers see it there).
    fn pg_copy_run(
        &self,
        tx: &mut postgres::Transaction<'_>,
        run: &StoredRun,
    ) -> Result<(), StoreError> {
        let providers = serde_json::to_string(&run.providers).expect("strings serialize");
        let graders = serde_json::to_string(&run.graders).expect("strings serialize");
        let pass_at_k = serde_json::to_string(&run.pass_at_k).expect("integers serialize");
        tx.execute(
            "INSERT INTO runs (id, created_at, config_path, config_toml, prices_json,
                 planned_samples, providers_json, graders_json, pass_at_k_json, status,
                 finished_at, status_reason, samples_deleted_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
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
                &run.status.as_str(),
                &run.finished_at,
                &run.status_reason,
                &run.samples_deleted_at,
            ],
        )
        .map_err(self.pg_err("copy a run"))?;
        Ok(())
    }
}

/// A merged run is finished once it holds every planned sample, else interrupted.
fn merged_status(tx: &mut postgres::Transaction<'_>, run: &str) -> Result<(), postgres::Error> {
    let row = tx.query_one(
        "SELECT (SELECT count(*) FROM samples WHERE run_id = $1), planned_samples
         FROM runs WHERE id = $1",
        &[&run],
    )?;
    let (held, planned): (i64, i64) = (row.get(0), row.get(1));
    if held >= planned {
        tx.execute(
            "UPDATE runs SET status = 'finished', status_reason = NULL,
                 finished_at = coalesce(
                     (SELECT max(finished_at COLLATE \"C\") FROM samples WHERE run_id = $1), finished_at)
             WHERE id = $1",
            &[&run],
        )?;
    } else {
        tx.execute(
            "UPDATE runs SET status = 'interrupted', status_reason = $2 WHERE id = $1",
            &[
                &run,
                &format!("merged from shards: {held} of {planned} planned samples"),
            ],
        )?;
    }
    Ok(())
}
