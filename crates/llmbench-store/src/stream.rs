//! Reading a run for reports that scale with it: every sample once, in report order, without
//! its texts ([`Store::for_each_sample_outline`]), and the few samples a report shows in full
//! ([`Store::samples_by_key`]).
//!
//! A report of a 1,000,000-sample run reads the outline of every sample in one ordered query
//! (SQLite sorts it in bounded memory, spilling to temporary files) and holds one sample at a
//! time; texts (answers, evidence, error messages, requests) are read only for the samples it
//! shows.

use llmbench_core::{
    Completion, Grade, ProviderError, RunInfo, SampleKey, SampleRecord, StopReason, Timings, Usage,
    Verdict,
};
use rusqlite::{Row, params_from_iter};

use crate::samples::{
    GRADES_OF_SAMPLE, RawGrade, RawSample, SAMPLES_IN_ORDER, SEQ_COLUMN, parse_error_kind,
    parse_grade_kind, parse_grade_outcome, parse_sample_status, seconds_to_duration,
};
use crate::{Store, StoreError};

/// Outline columns: the sample, its completion's numbers and each grade's outcome (one row
/// per grade, a sample without grades has one row with NULL grade columns).
const OUTLINE: &str = "
SELECT s.sample_id, s.task, s.item, s.provider, s.repeat, s.model, s.status,
       s.error_kind, s.http_status, s.attempts, s.cost_usd,
       s.verdict_pass, s.verdict_score, s.first_failure,
       c.sample_id IS NOT NULL, c.input_tokens, c.output_tokens, c.cache_read_tokens,
       c.cache_write_tokens, c.reasoning_tokens, c.latency_seconds, c.ttft_seconds,
       g.position, g.grader, g.outcome, g.score, g.kind, g.input_tokens, g.output_tokens,
       g.cost_usd
FROM samples s
LEFT JOIN completions c ON c.seq = s.seq
LEFT JOIN grades g ON g.seq = s.seq
WHERE s.run_id = ?1
ORDER BY ";

impl Store {
    /// The run as a report names it: what [`Store::report`] returns without its samples.
    pub fn run_info(&self, run_id: &str) -> Result<RunInfo, StoreError> {
        let run = self.run(run_id)?;
        Ok(RunInfo {
            run_id: run.id,
            config_path: run.config_path,
            store_path: self.path.display().to_string(),
            status: run.status.as_str().to_owned(),
            started_at: run.created_at,
            planned_samples: run.planned_samples,
            providers: run.providers,
            graders: run.graders,
            pass_at_k: run.pass_at_k,
        })
    }

    /// Calls `each` with every sample of a run in report order (tasks and providers in config
    /// order, names not in the config after, by name; then item, then repeat), without its
    /// texts: the completion's `text` is empty (its usage, timings and stop reason `end_turn`
    /// stand), grades keep their grader, outcome, score, kind, usage and cost but not their
    /// evidence, an error keeps its kind and HTTP status but not its message, and `request`
    /// is `None`. One sample is in memory at a time.
    pub fn for_each_sample_outline(
        &self,
        run_id: &str,
        mut each: impl FnMut(SampleRecord) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || {
                self.pg_for_each_sample(pg, run_id, |s| each(crate::pg::outline(s.record)))
            });
        }
        let run = self.run(run_id)?;
        let sql_err = |source| self.sql_err("read samples", source);
        // Ranks by CASE over the run's own names: cheaper per row than looking the names up
        // in the run's JSON lists.
        let mut params: Vec<String> = vec![run_id.to_owned()];
        let mut rank = |column: &str, names: Vec<&str>| {
            let mut sql = format!("CASE {column}");
            for (i, name) in names.into_iter().enumerate() {
                params.push(name.to_owned());
                sql.push_str(&format!(" WHEN ?{} THEN {i}", params.len()));
            }
            sql.push_str(" ELSE 9223372036854775807 END");
            sql
        };
        let tasks = rank(
            "s.task",
            run.graders.iter().map(|(t, _)| t.as_str()).collect(),
        );
        let providers = rank(
            "s.provider",
            run.providers.iter().map(|(p, _, _)| p.as_str()).collect(),
        );
        let sql = format!(
            "{OUTLINE}{tasks}, s.task, {providers}, s.provider, s.item, s.repeat, g.position"
        );
        let mut stmt = self.conn()?.prepare(&sql).map_err(sql_err)?;
        let mut rows = stmt
            .query(params_from_iter(params.iter()))
            .map_err(sql_err)?;
        let mut current: Option<(String, SampleRecord)> = None;
        while let Some(row) = rows.next().map_err(sql_err)? {
            let id: String = row.get(0).map_err(sql_err)?;
            if current.as_ref().is_none_or(|(cur, _)| *cur != id) {
                if let Some((_, done)) = current.take() {
                    each(done)?;
                }
                let record = outline_sample(row)
                    .map_err(sql_err)?
                    .map_err(|detail| self.corrupt("samples", format!("sample {id}: {detail}")))?;
                current = Some((id, record));
            }
            let grade = outline_grade(row)
                .map_err(sql_err)?
                .transpose()
                .map_err(|detail| self.corrupt("grades", detail))?;
            if let (Some((_, record)), Some(grade)) = (current.as_mut(), grade) {
                record.grades.push(grade);
            }
        }
        if let Some((_, done)) = current.take() {
            each(done)?;
        }
        Ok(())
    }

    /// The samples of `keys` in full (texts, evidence, requests), in the order given; keys
    /// not stored in the run are left out.
    pub fn samples_by_key(
        &self,
        run_id: &str,
        keys: &[SampleKey],
    ) -> Result<Vec<SampleRecord>, StoreError> {
        self.require_run(run_id)?;
        if let Some(pg) = self.pg() {
            // One pass over the run, keeping the samples asked for.
            let wanted: std::collections::HashMap<String, usize> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (k.id().to_string(), i))
                .collect();
            let mut found: Vec<Option<SampleRecord>> = vec![None; keys.len()];
            crate::pg::blocking(&self.path, || {
                self.pg_for_each_sample(pg, run_id, |s| {
                    if let Some(&i) = wanted.get(&s.record.key.id().to_string()) {
                        found[i] = Some(s.record);
                    }
                    Ok(())
                })
            })?;
            return Ok(found.into_iter().flatten().collect());
        }
        let sql_err = |source| self.sql_err("read samples", source);
        // The report query's columns and joins, for one sample.
        let select = SAMPLES_IN_ORDER
            .split("ORDER BY")
            .next()
            .unwrap_or(SAMPLES_IN_ORDER);
        let mut one = self
            .conn()?
            .prepare(&format!("{select} AND s.sample_id = ?2"))
            .map_err(sql_err)?;
        let mut grades = self.conn()?.prepare(GRADES_OF_SAMPLE).map_err(sql_err)?;
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let id = key.id().to_string();
            let mut rows = one.query(rusqlite::params![run_id, id]).map_err(sql_err)?;
            let Some(row) = rows.next().map_err(sql_err)? else {
                continue;
            };
            let raw = RawSample::from_row(row).map_err(sql_err)?;
            let seq: i64 = row.get(SEQ_COLUMN).map_err(sql_err)?;
            let raw_grades = grades
                .query_map([seq], RawGrade::from_row)
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(sql_err)?;
            let grades = raw_grades
                .into_iter()
                .map(RawGrade::into_grade)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|detail| self.corrupt("grades", detail))?;
            let sample = raw
                .into_stored(grades)
                .map_err(|detail| self.corrupt("samples", detail))?;
            out.push(sample.record);
        }
        Ok(out)
    }
}

/// The sample columns of an outline row; the outer error is SQLite's, the inner a value the
/// store does not know.
fn outline_sample(row: &Row<'_>) -> rusqlite::Result<Result<SampleRecord, String>> {
    let key = SampleKey {
        task: row.get(1)?,
        item: row.get(2)?,
        provider: row.get(3)?,
        repeat: row.get(4)?,
    };
    let model: String = row.get(5)?;
    let status: String = row.get(6)?;
    let error_kind: Option<String> = row.get(7)?;
    let http_status: Option<u16> = row.get(8)?;
    let attempts: u32 = row.get(9)?;
    let cost_usd: Option<f64> = row.get(10)?;
    let verdict_pass: Option<bool> = row.get(11)?;
    let verdict_score: Option<f64> = row.get(12)?;
    let first_failure: Option<u64> = row.get(13)?;
    let has_completion: bool = row.get(14)?;
    let completion = if has_completion {
        Some((
            Usage {
                input_tokens: row.get(15)?,
                output_tokens: row.get(16)?,
                cache_read_tokens: row.get(17)?,
                cache_write_tokens: row.get(18)?,
                reasoning_tokens: row.get(19)?,
            },
            row.get::<_, f64>(20)?,
            row.get::<_, Option<f64>>(21)?,
        ))
    } else {
        None
    };
    Ok((|| {
        let status = parse_sample_status(&status)?;
        let error = error_kind
            .map(|kind| -> Result<ProviderError, String> {
                Ok(ProviderError {
                    http_status,
                    ..ProviderError::new(parse_error_kind(&kind)?, "")
                })
            })
            .transpose()?;
        let verdict = match (verdict_pass, verdict_score) {
            (Some(pass), Some(score)) => Some(Verdict {
                pass,
                score,
                first_failure: first_failure.map(|i| i as usize),
            }),
            (None, None) => None,
            _ => return Err("half a verdict".to_owned()),
        };
        let completion = completion
            .map(|(usage, latency, ttft)| -> Result<Completion, String> {
                Ok(Completion {
                    text: String::new(),
                    stop_reason: StopReason::EndTurn,
                    usage,
                    timings: Timings {
                        latency: seconds_to_duration(latency)?,
                        time_to_first_token: ttft.map(seconds_to_duration).transpose()?,
                    },
                    response_model: None,
                })
            })
            .transpose()?;
        Ok(SampleRecord {
            key,
            model,
            status,
            completion,
            error,
            grades: Vec::new(),
            verdict,
            cost_usd,
            attempts,
            request: None,
        })
    })())
}

/// The grade columns of an outline row, `None` for a sample without grades.
fn outline_grade(row: &Row<'_>) -> rusqlite::Result<Option<Result<(String, Grade), String>>> {
    let Some(_position) = row.get::<_, Option<i64>>(22)? else {
        return Ok(None);
    };
    let grader: String = row.get(23)?;
    let outcome: String = row.get(24)?;
    let score: f64 = row.get(25)?;
    let kind: String = row.get(26)?;
    let input_tokens: Option<u64> = row.get(27)?;
    let output_tokens: Option<u64> = row.get(28)?;
    let cost_usd: Option<f64> = row.get(29)?;
    Ok(Some((|| {
        let usage = (input_tokens.is_some() || output_tokens.is_some()).then(|| Usage {
            input_tokens,
            output_tokens,
            ..Usage::default()
        });
        Ok((
            grader,
            Grade {
                outcome: parse_grade_outcome(&outcome)?,
                score,
                evidence: String::new(),
                kind: parse_grade_kind(&kind)?,
                usage,
                cost_usd,
            },
        ))
    })()))
}
