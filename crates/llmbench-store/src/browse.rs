//! Read-only queries for browsing a store (`llmbench view`): runs with their progress, pass
//! rate and cost; a page of a run's samples under filters; one sample with everything stored
//! about it; the distinct values a run's samples can be filtered by.
//!
//! Nothing here writes. Queries are bounded by a run (the `samples` primary key starts with
//! `run_id`) and pages are `LIMIT`ed, so a page costs what one run's samples cost to scan,
//! however many runs the store holds. Finished runs' totals come from their stored aggregates
//! (`run_aggregates`) when there are some, so listing runs reads no sample of those.

use rusqlite::{OptionalExtension, Row, params_from_iter, types::Value};

use crate::{AttemptRecord, DEAD_RUN_REASON, RunStatus, Store, StoreError};

/// A run as the runs list shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunListing {
    pub id: String,
    pub created_at: String,
    pub config_path: String,
    /// As readers see it: a stored `running` that no process holds is `interrupted`.
    pub status: RunStatus,
    pub status_reason: Option<String>,
    pub finished_at: Option<String>,
    /// Provider names in config order, with the model each asks for and its label.
    pub providers: Vec<(String, String, String)>,
    pub totals: RunTotals,
    /// The run's samples were deleted by the retention policy (its totals are kept).
    pub samples_deleted: bool,
}

/// What a run holds so far.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunTotals {
    pub planned: u64,
    /// Samples recorded as `done` (answered).
    pub done: u64,
    /// Samples recorded as `error` (no answer).
    pub errors: u64,
    /// Samples with a passing verdict.
    pub passed: u64,
    /// Samples with a verdict.
    pub graded: u64,
    /// The sum of the known sample costs; `None` when no sample's cost is known.
    pub cost_usd: Option<f64>,
}

impl RunTotals {
    /// Samples recorded, answered or not.
    pub fn recorded(&self) -> u64 {
        self.done + self.errors
    }

    /// `passed / graded`, when something was graded.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.graded > 0).then(|| self.passed as f64 / self.graded as f64)
    }
}

/// Which verdict a sample has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictFilter {
    Pass,
    Fail,
    /// No answer (an error sample).
    Error,
    /// Answered but not graded.
    Ungraded,
}

impl VerdictFilter {
    pub const ALL: [VerdictFilter; 4] = [Self::Pass, Self::Fail, Self::Error, Self::Ungraded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Fail => "fail",
            Self::Error => "error",
            Self::Ungraded => "ungraded",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == text)
    }
}

/// Which samples of a run a page shows. Empty fields filter nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleFilter {
    pub provider: Option<String>,
    pub task: Option<String>,
    pub item: Option<String>,
    pub verdict: Option<VerdictFilter>,
    /// Samples with a grade by this grader (with `grade_outcome`, that outcome from it).
    pub grader: Option<String>,
    /// Samples with a grade of this outcome (`pass`, `fail`, `error`).
    pub grade_outcome: Option<String>,
    /// Samples whose error is of this kind (`timeout`, `rate_limited`, ...).
    pub error_kind: Option<String>,
    /// Samples whose answer contains this text (ASCII letters in any case).
    pub text: Option<String>,
    /// Rows to skip, and at most how many to return.
    pub offset: u64,
    pub limit: u64,
}

/// One line of a sample list.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleRow {
    /// The sample's id (32 hex digits), the same in every run.
    pub sample_id: String,
    pub task: String,
    pub item: String,
    pub provider: String,
    pub model: String,
    pub repeat: u32,
    pub error_kind: Option<String>,
    pub verdict_pass: Option<bool>,
    pub verdict_score: Option<f64>,
    pub cost_usd: Option<f64>,
    pub latency_seconds: Option<f64>,
    /// The answer's first characters (at most 160).
    pub answer_start: Option<String>,
}

/// A page of samples and how many match in all.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SamplePage {
    pub total: u64,
    pub rows: Vec<SampleRow>,
}

/// The distinct values a run's samples can be filtered by, sorted.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SampleFacets {
    pub providers: Vec<String>,
    pub tasks: Vec<String>,
    pub graders: Vec<String>,
    pub error_kinds: Vec<String>,
}

/// One grade as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredGrade {
    pub grader: String,
    /// `pass`, `fail` or `error`.
    pub outcome: String,
    pub score: f64,
    pub evidence: String,
    /// `check`, `execution` or `judgement`.
    pub kind: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

/// Everything stored about one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleDetail {
    pub row: SampleRow,
    /// `done` or `error`.
    pub status: String,
    pub error_message: Option<String>,
    pub http_status: Option<u16>,
    pub attempts_count: u32,
    pub finished_at: String,
    /// The answer, when there is one.
    pub answer: Option<String>,
    pub stop_reason: Option<String>,
    pub response_model: Option<String>,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub ttft_seconds: Option<f64>,
    /// The request as sent; `None` for samples stored before schema version 5.
    pub request: Option<llmbench_core::CompletionRequest>,
    pub grades: Vec<StoredGrade>,
    pub attempts: Vec<AttemptRecord>,
}

const ROW_COLUMNS: &str = "s.sample_id, s.task, s.item, s.provider, s.model, s.repeat,
    s.error_kind, s.verdict_pass, s.verdict_score, s.cost_usd, c.latency_seconds,
    substr(c.text, 1, 160)";

const DETAIL_COLUMNS: &str = "s.status, s.error_message, s.http_status, s.attempts,
    s.finished_at, c.text, c.stop_reason, c.response_model, c.input_tokens, c.output_tokens,
    c.ttft_seconds, q.request_json, s.seq";

fn sample_row(row: &Row<'_>) -> rusqlite::Result<SampleRow> {
    Ok(SampleRow {
        sample_id: row.get(0)?,
        task: row.get(1)?,
        item: row.get(2)?,
        provider: row.get(3)?,
        model: row.get(4)?,
        repeat: row.get(5)?,
        error_kind: row.get(6)?,
        verdict_pass: row.get(7)?,
        verdict_score: row.get(8)?,
        cost_usd: row.get(9)?,
        latency_seconds: row.get(10)?,
        answer_start: row.get(11)?,
    })
}

impl Store {
    /// From now on this store's connection refuses every write (`PRAGMA query_only`): what a
    /// browser of the store opens it with, so that no code path can change it by mistake.
    pub fn make_query_only(&self) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_make_query_only(pg));
        }
        self.conn()?
            .pragma_update(None, "query_only", true)
            .map_err(|source| self.sql_err("make the connection read-only", source))
    }

    /// Every run, newest first, with its totals: from its stored aggregates when it has
    /// some, else counted from its samples.
    pub fn browse_runs(&self) -> Result<Vec<RunListing>, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_browse_runs(pg));
        }
        let sql_err = |source| self.sql_err("list runs", source);
        let mut stmt = self
            .conn()?
            .prepare_cached(
                "SELECT r.id, r.created_at, r.config_path, r.status, r.status_reason,
                     r.finished_at, r.providers_json, r.planned_samples,
                     r.samples_deleted_at IS NOT NULL, r.aggregated_at IS NOT NULL
                 FROM runs r ORDER BY r.created_at DESC, r.rowid DESC",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([], |row| {
                Ok((
                    (
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, String>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, Option<String>>(4)?,
                    ),
                    (
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, String>(6)?,
                        row.get::<_, u64>(7)?,
                        row.get::<_, bool>(8)?,
                        row.get::<_, bool>(9)?,
                    ),
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql_err)?;
        rows.into_iter()
            .map(
                |(
                    (id, created_at, config_path, status, status_reason),
                    (finished_at, providers, planned, samples_deleted, aggregated),
                )| {
                    let status: RunStatus = status.parse().map_err(|e| self.corrupt("runs", e))?;
                    let (status, status_reason) = self.status_seen(&id, status, status_reason);
                    let providers = serde_json::from_str(&providers).map_err(|e| {
                        self.corrupt("runs", format!("run `{id}`: column providers_json: {e}"))
                    })?;
                    let totals =
                        self.totals(&id, planned, aggregated && status != RunStatus::Running)?;
                    Ok(RunListing {
                        id,
                        created_at,
                        config_path,
                        status,
                        status_reason,
                        finished_at,
                        providers,
                        totals,
                        samples_deleted,
                    })
                },
            )
            .collect()
    }

    /// A run's status as readers see it and its totals so far, counted from its samples
    /// (what a page polls while the run goes on).
    pub fn run_progress(&self, run_id: &str) -> Result<(RunStatus, RunTotals), StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_run_progress(pg, run_id));
        }
        let row = self
            .conn()?
            .prepare_cached(
                "SELECT status, planned_samples, aggregated_at IS NOT NULL FROM runs WHERE id = ?1",
            )
            .and_then(|mut stmt| {
                stmt.query_row([run_id], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, u64>(1)?,
                        row.get::<_, bool>(2)?,
                    ))
                })
                .optional()
            })
            .map_err(|source| self.sql_err("read a run's progress", source))?;
        let Some((status, planned, aggregated)) = row else {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: self.path.clone(),
            });
        };
        let status: RunStatus = status.parse().map_err(|e| self.corrupt("runs", e))?;
        let (status, _) = self.status_seen(run_id, status, None);
        let totals = self.totals(run_id, planned, aggregated && status != RunStatus::Running)?;
        Ok((status, totals))
    }

    fn status_seen(
        &self,
        run_id: &str,
        stored: RunStatus,
        reason: Option<String>,
    ) -> (RunStatus, Option<String>) {
        if stored == RunStatus::Running && !crate::liveness::is_held(&self.path, run_id) {
            (RunStatus::Interrupted, Some(DEAD_RUN_REASON.to_owned()))
        } else {
            (stored, reason)
        }
    }

    fn totals(
        &self,
        run_id: &str,
        planned: u64,
        aggregated: bool,
    ) -> Result<RunTotals, StoreError> {
        let sql = if aggregated {
            "SELECT ifnull(sum(samples - errors), 0), ifnull(sum(errors), 0),
                 ifnull(sum(passes), 0), ifnull(sum(passes + fails), 0), sum(cost_usd)
             FROM run_aggregates WHERE run_id = ?1"
        } else {
            "SELECT ifnull(sum(status = 'done'), 0), ifnull(sum(status = 'error'), 0),
                 ifnull(sum(verdict_pass = 1), 0), count(verdict_pass), sum(cost_usd)
             FROM samples WHERE run_id = ?1"
        };
        self.conn()?
            .prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_row([run_id], |row| {
                    Ok(RunTotals {
                        planned,
                        done: row.get(0)?,
                        errors: row.get(1)?,
                        passed: row.get(2)?,
                        graded: row.get(3)?,
                        cost_usd: row.get(4)?,
                    })
                })
            })
            .map_err(|source| self.sql_err("count a run's samples", source))
    }

    /// The distinct providers, tasks, graders and error kinds of a run's samples.
    pub fn sample_facets(&self, run_id: &str) -> Result<SampleFacets, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_sample_facets(pg, run_id));
        }
        let sql_err = |source| self.sql_err("read a run's sample values", source);
        let distinct = |sql: &str| -> Result<Vec<String>, StoreError> {
            let mut stmt = self.conn()?.prepare_cached(sql).map_err(sql_err)?;
            stmt.query_map([run_id], |row| row.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(sql_err)
        };
        Ok(SampleFacets {
            providers: distinct(
                "SELECT DISTINCT provider FROM samples WHERE run_id = ?1 ORDER BY 1",
            )?,
            tasks: distinct("SELECT DISTINCT task FROM samples WHERE run_id = ?1 ORDER BY 1")?,
            graders: distinct(
                "SELECT DISTINCT g.grader FROM samples s JOIN grades g ON g.seq = s.seq
                 WHERE s.run_id = ?1 ORDER BY 1",
            )?,
            error_kinds: distinct(
                "SELECT DISTINCT error_kind FROM samples
                 WHERE run_id = ?1 AND error_kind IS NOT NULL ORDER BY 1",
            )?,
        })
    }

    /// One page of a run's samples matching `filter`, by task, provider, item and repeat,
    /// with how many match in all.
    pub fn browse_samples(
        &self,
        run_id: &str,
        filter: &SampleFilter,
    ) -> Result<SamplePage, StoreError> {
        self.require_run(run_id)?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_browse_samples(pg, run_id, filter));
        }
        let sql_err = |source| self.sql_err("read samples", source);
        let mut conditions = vec!["s.run_id = ?".to_owned()];
        let mut values = vec![Value::Text(run_id.to_owned())];
        for (column, value) in [
            ("s.provider", &filter.provider),
            ("s.task", &filter.task),
            ("s.item", &filter.item),
            ("s.error_kind", &filter.error_kind),
        ] {
            if let Some(value) = value {
                conditions.push(format!("{column} = ?"));
                values.push(Value::Text(value.clone()));
            }
        }
        if let Some(verdict) = filter.verdict {
            conditions.push(
                match verdict {
                    VerdictFilter::Pass => "s.verdict_pass = 1",
                    VerdictFilter::Fail => "s.verdict_pass = 0",
                    VerdictFilter::Error => "s.status = 'error'",
                    VerdictFilter::Ungraded => "s.status = 'done' AND s.verdict_pass IS NULL",
                }
                .to_owned(),
            );
        }
        if filter.grader.is_some() || filter.grade_outcome.is_some() {
            let mut grade = "EXISTS (SELECT 1 FROM grades g WHERE g.seq = s.seq".to_owned();
            if let Some(grader) = &filter.grader {
                grade.push_str(" AND g.grader = ?");
                values.push(Value::Text(grader.clone()));
            }
            if let Some(outcome) = &filter.grade_outcome {
                grade.push_str(" AND g.outcome = ?");
                values.push(Value::Text(outcome.clone()));
            }
            grade.push(')');
            conditions.push(grade);
        }
        if let Some(text) = filter.text.as_deref().filter(|t| !t.is_empty()) {
            conditions.push(r"c.text LIKE ? ESCAPE '\'".to_owned());
            let escaped = text
                .replace('\\', r"\\")
                .replace('%', r"\%")
                .replace('_', r"\_");
            values.push(Value::Text(format!("%{escaped}%")));
        }
        let from = format!(
            "FROM samples s LEFT JOIN completions c ON c.seq = s.seq
             WHERE {}",
            conditions.join(" AND ")
        );
        let total: u64 = self
            .conn()?
            .prepare_cached(&format!("SELECT count(*) {from}"))
            .and_then(|mut stmt| stmt.query_row(params_from_iter(&values), |row| row.get(0)))
            .map_err(sql_err)?;
        let mut page_values = values;
        page_values.push(Value::Integer(filter.limit.min(i64::MAX as u64) as i64));
        page_values.push(Value::Integer(filter.offset.min(i64::MAX as u64) as i64));
        let mut stmt = self
            .conn()?
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS} {from}
                 ORDER BY s.task, s.provider, s.item, s.repeat LIMIT ? OFFSET ?"
            ))
            .map_err(sql_err)?;
        let rows = stmt
            .query_map(params_from_iter(&page_values), sample_row)
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql_err)?;
        Ok(SamplePage { total, rows })
    }

    /// One sample of a run with its completion, request, grades and attempts; `None` when
    /// the run holds no such sample.
    pub fn sample_detail(
        &self,
        run_id: &str,
        sample_id: &str,
    ) -> Result<Option<SampleDetail>, StoreError> {
        self.require_run(run_id)?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || {
                Ok(self
                    .pg_details(pg, run_id, "s.sample_id = $2", sample_id, None)?
                    .pop())
            });
        }
        Ok(self
            .details(run_id, "s.sample_id = ?2", sample_id, None)?
            .pop())
    }

    /// Every sample of a run for one task and item (all providers and repeats), by
    /// provider and repeat.
    pub fn item_details(
        &self,
        run_id: &str,
        task: &str,
        item: &str,
    ) -> Result<Vec<SampleDetail>, StoreError> {
        self.require_run(run_id)?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || {
                self.pg_details(pg, run_id, "s.task = $2 AND s.item = $3", task, Some(item))
            });
        }
        self.details(run_id, "s.task = ?2 AND s.item = ?3", task, Some(item))
    }

    fn details(
        &self,
        run_id: &str,
        condition: &str,
        first: &str,
        second: Option<&str>,
    ) -> Result<Vec<SampleDetail>, StoreError> {
        let sql_err = |source| self.sql_err("read a sample", source);
        let mut stmt = self
            .conn()?
            .prepare_cached(&format!(
                "SELECT {ROW_COLUMNS}, {DETAIL_COLUMNS}
                 FROM samples s
                 LEFT JOIN completions c ON c.seq = s.seq
                 LEFT JOIN requests q ON q.hash = s.request_hash
                 WHERE s.run_id = ?1 AND {condition}{}
                 ORDER BY s.provider, s.repeat",
                if second.is_none() {
                    " AND ?3 IS NULL"
                } else {
                    ""
                }
            ))
            .map_err(sql_err)?;
        let raw = stmt
            .query_map(rusqlite::params![run_id, first, second], |row| {
                Ok((
                    sample_row(row)?,
                    (
                        row.get::<_, String>(12)?,
                        row.get::<_, Option<String>>(13)?,
                        row.get::<_, Option<u16>>(14)?,
                        row.get::<_, u32>(15)?,
                        row.get::<_, String>(16)?,
                    ),
                    (
                        row.get::<_, Option<String>>(17)?,
                        row.get::<_, Option<String>>(18)?,
                        row.get::<_, Option<String>>(19)?,
                        row.get::<_, Option<u64>>(20)?,
                        row.get::<_, Option<u64>>(21)?,
                    ),
                    row.get::<_, Option<f64>>(22)?,
                    row.get::<_, Option<String>>(23)?,
                    row.get::<_, i64>(24)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql_err)?;
        let mut grades = self
            .conn()?
            .prepare_cached(crate::samples::GRADES_OF_SAMPLE)
            .map_err(sql_err)?;
        let mut out = Vec::with_capacity(raw.len());
        for (row, status, completion, ttft_seconds, request_json, seq) in raw {
            let (status, error_message, http_status, attempts_count, finished_at) = status;
            let (answer, stop_reason, response_model, input_tokens, output_tokens) = completion;
            let request = request_json
                .as_deref()
                .map(crate::inputs::parse_request)
                .transpose()
                .map_err(|e| self.corrupt("requests", format!("sample {}: {e}", row.sample_id)))?;
            let sample_grades = grades
                .query_map([seq], |g| {
                    Ok(StoredGrade {
                        grader: g.get(0)?,
                        outcome: g.get(1)?,
                        score: g.get(2)?,
                        evidence: g.get(3)?,
                        kind: g.get(4)?,
                        input_tokens: g.get(5)?,
                        output_tokens: g.get(6)?,
                        cost_usd: g.get(7)?,
                    })
                })
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(sql_err)?;
            let id = row
                .sample_id
                .parse()
                .map_err(|e: String| self.corrupt("samples", e))?;
            let attempts = self.attempts(run_id, id)?;
            out.push(SampleDetail {
                row,
                status,
                error_message,
                http_status,
                attempts_count,
                finished_at,
                answer,
                stop_reason,
                response_model,
                input_tokens,
                output_tokens,
                ttft_seconds,
                request,
                grades: sample_grades,
                attempts,
            });
        }
        Ok(out)
    }
}
