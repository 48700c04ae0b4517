//! Writing a finished sample in one transaction, and reading samples back in report order.

use std::time::Duration;

use llmbench_core::{
    Completion, Grade, GradeKind, GradeOutcome, ProviderError, ProviderErrorKind, SampleId,
    SampleKey, SampleRecord, SampleStatus, StopReason, Timings, Usage, Verdict,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};

use crate::{Store, StoreError};

/// One try at a sample's request, as the runner saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    /// `ok`, or the error kind (`rate_limited`, `timeout`, ...).
    pub outcome: String,
    pub http_status: Option<u16>,
    /// How long the runner waited before this attempt (backoff, `retry-after`).
    pub wait_seconds: f64,
    pub duration_seconds: f64,
}

/// A sample read back, with what only the store knows about it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredSample {
    pub record: SampleRecord,
    pub finished_at: String,
}

impl Store {
    /// Records one finished sample: its row, completion, grades and attempts, in one
    /// transaction, so a crash leaves either all of it or none.
    ///
    /// Recording a sample twice in a run is a runner bug and fails with
    /// [`StoreError::DuplicateSample`], leaving the first record untouched.
    pub fn record_sample(
        &mut self,
        run_id: &str,
        record: &SampleRecord,
        attempts: &[AttemptRecord],
    ) -> Result<(), StoreError> {
        self.record_samples(run_id, std::iter::once((record, attempts)))
    }

    /// Records many finished samples of a run in one transaction: all of them or none (the
    /// first invalid or duplicate one fails the lot, naming it). For bulk writers (imports,
    /// benchmarks building a large store) and the runner's group commit (the samples that
    /// finished while the previous group was written).
    pub fn record_samples<'a>(
        &mut self,
        run_id: &str,
        samples: impl IntoIterator<Item = (&'a SampleRecord, &'a [AttemptRecord])>,
    ) -> Result<(), StoreError> {
        self.verify()?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_record_samples(pg, run_id, samples));
        }
        let path = &self.path;
        let sql_err = |source| StoreError::Sqlite {
            path: path.clone(),
            action: "record a sample",
            source,
        };
        let finished_at = crate::utc_now_rfc3339();
        let crate::store::Backend::Sqlite(conn) = &mut self.backend else {
            return Err(StoreError::NotOnPostgres {
                path: path.clone(),
                operation: "recording samples",
            });
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(sql_err)?;
        if !run_exists(&tx, run_id).map_err(sql_err)? {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: path.clone(),
            });
        }
        // Kept for the run's live aggregates, added once the transaction commits.
        let samples: Vec<(&SampleRecord, &[AttemptRecord])> = samples.into_iter().collect();
        {
            let mut statements = Statements::prepare(&tx).map_err(sql_err)?;
            let mut grades = Vec::new();
            let mut keys = Vec::new();
            for &(record, attempts) in &samples {
                let key = insert_sample(
                    &mut statements,
                    path,
                    run_id,
                    record,
                    attempts,
                    &finished_at,
                )?;
                let sample = keys.len();
                keys.push(key);
                grades.extend(record.grades.iter().enumerate().map(
                    |(position, (grader, grade))| GradeRow {
                        sample,
                        position,
                        grader,
                        grade,
                    },
                ));
            }
            insert_grades(&tx, run_id, &keys, &grades).map_err(sql_err)?;
        }
        tx.commit().map_err(sql_err)?;
        self.live.add(run_id, samples);
        Ok(())
    }

    /// The attempts recorded for one sample, in order.
    pub fn attempts(
        &self,
        run_id: &str,
        sample_id: SampleId,
    ) -> Result<Vec<AttemptRecord>, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_attempts(pg, run_id, sample_id));
        }
        let sql_err = |source| self.sql_err("read attempts", source);
        let mut stmt = self
            .conn()?
            .prepare_cached(
                "SELECT outcome, http_status, wait_seconds, duration_seconds FROM attempts
                 WHERE seq = (SELECT seq FROM samples WHERE run_id = ?1 AND sample_id = ?2)
                 ORDER BY attempt",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map(params![run_id, sample_id.to_string()], |row| {
                Ok(AttemptRecord {
                    outcome: row.get(0)?,
                    http_status: row.get(1)?,
                    wait_seconds: row.get(2)?,
                    duration_seconds: row.get(3)?,
                })
            })
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)
    }

    /// Calls `each` with every sample of a run in report order: tasks and providers in config
    /// order (names not in the config after, by name), then item name, then repeat. Streams:
    /// one sample is in memory at a time.
    pub(crate) fn for_each_sample(
        &self,
        run_id: &str,
        mut each: impl FnMut(StoredSample) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_for_each_sample(pg, run_id, each));
        }
        let sql_err = |source| self.sql_err("read samples", source);
        let mut samples = self.conn()?.prepare(SAMPLES_IN_ORDER).map_err(sql_err)?;
        let mut grades = self.conn()?.prepare(GRADES_OF_SAMPLE).map_err(sql_err)?;
        let mut rows = samples.query([run_id]).map_err(sql_err)?;
        while let Some(row) = rows.next().map_err(sql_err)? {
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
            each(sample)?;
        }
        Ok(())
    }

    pub(crate) fn sql_err(&self, action: &'static str, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            action,
            source,
        }
    }

    pub(crate) fn corrupt(&self, table: &'static str, detail: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            table,
            detail,
        }
    }
}

/// The statements that insert a sample, taken from the statement cache once per transaction
/// rather than looked up by their text for every sample.
struct Statements<'tx> {
    request: rusqlite::CachedStatement<'tx>,
    sample: rusqlite::CachedStatement<'tx>,
    completion: rusqlite::CachedStatement<'tx>,
    attempt: rusqlite::CachedStatement<'tx>,
}

impl<'tx> Statements<'tx> {
    fn prepare(tx: &'tx rusqlite::Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Statements {
            request: tx.prepare_cached(crate::inputs::INSERT_REQUEST)?,
            sample: tx.prepare_cached(
                "INSERT INTO samples (run_id, sample_id, task, item, provider, model, repeat,
                     status, error_kind, error_message, http_status, error_provider_code,
                     error_retry_after_seconds, error_should_retry, attempts, cost_usd,
                     verdict_pass, verdict_score, first_failure, finished_at, request_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                     ?17, ?18, ?19, ?20, ?21)",
            )?,
            completion: tx.prepare_cached(
                "INSERT INTO completions (seq, run_id, sample_id, text, stop_reason,
                     response_model, input_tokens, output_tokens, cache_read_tokens,
                     cache_write_tokens, reasoning_tokens, latency_seconds, ttft_seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            )?,
            attempt: tx.prepare_cached(
                "INSERT INTO attempts (seq, run_id, sample_id, attempt, outcome, http_status,
                     wait_seconds, duration_seconds)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?,
        })
    }
}

/// Inserts one sample (validated first) with its completion and attempts, inside the
/// transaction `statements` were prepared in; returns its key as stored (`samples.seq`, and
/// the id). Its grades are the caller's to insert ([`insert_grades`]), after the sample's row.
fn insert_sample(
    statements: &mut Statements<'_>,
    path: &std::path::Path,
    run_id: &str,
    record: &SampleRecord,
    attempts: &[AttemptRecord],
    finished_at: &str,
) -> Result<(i64, String), StoreError> {
    let sample_id = record.key.id();
    if let Err(reason) = validate(record, attempts) {
        return Err(StoreError::InvalidRecord {
            path: path.to_owned(),
            run_id: run_id.to_owned(),
            sample_id,
            reason,
        });
    }
    let sql_err = |source| StoreError::Sqlite {
        path: path.to_owned(),
        action: "record a sample",
        source,
    };
    let id = sample_id.to_string();
    // A sample stored twice is found by the `UNIQUE (run_id, sample_id)` of `samples` when
    // its row is inserted (no look-up first: one statement less per sample); the caller's
    // transaction is then rolled back, leaving the first record as it was.
    let duplicate = |e: rusqlite::Error| match e.sqlite_error() {
        Some(f) if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE => {
            StoreError::DuplicateSample {
                path: path.to_owned(),
                run_id: run_id.to_owned(),
                sample_id,
                key: Box::new(record.key.clone()),
            }
        }
        _ => sql_err(e),
    };

    let key = &record.key;
    let error = record.error.as_ref();
    let verdict = record.verdict.as_ref();
    // The request as sent, once per distinct content, in the sample's transaction.
    let request_hash = record
        .request
        .as_ref()
        .map(|request| crate::inputs::insert_request(&mut statements.request, request))
        .transpose()
        .map_err(sql_err)?;
    let seq = statements
        .sample
        .insert(params![
            run_id,
            id,
            key.task,
            key.item,
            key.provider,
            record.model,
            key.repeat,
            sample_status_str(record.status),
            error.map(|e| e.kind.as_str()),
            error.map(|e| &e.message),
            error.and_then(|e| e.http_status),
            error.and_then(|e| e.provider_code.as_deref()),
            error.and_then(|e| e.retry_after).map(|d| d.as_secs_f64()),
            error.and_then(|e| e.should_retry),
            record.attempts,
            record.cost_usd,
            verdict.map(|v| v.pass),
            verdict.map(|v| v.score),
            verdict.and_then(|v| v.first_failure).map(|i| i as i64),
            finished_at,
            request_hash,
        ])
        .map_err(duplicate)?;

    if let Some(c) = &record.completion {
        statements
            .completion
            .execute(params![
                seq,
                run_id,
                id,
                c.text,
                stop_reason_str(&c.stop_reason),
                c.response_model,
                c.usage.input_tokens,
                c.usage.output_tokens,
                c.usage.cache_read_tokens,
                c.usage.cache_write_tokens,
                c.usage.reasoning_tokens,
                c.timings.latency.as_secs_f64(),
                c.timings.time_to_first_token.map(|d| d.as_secs_f64()),
            ])
            .map_err(sql_err)?;
    }

    for (n, attempt) in attempts.iter().enumerate() {
        statements
            .attempt
            .execute(params![
                seq,
                run_id,
                id,
                n as i64 + 1,
                attempt.outcome,
                attempt.http_status,
                attempt.wait_seconds,
                attempt.duration_seconds,
            ])
            .map_err(sql_err)?;
    }

    Ok((seq, id))
}

/// One grade row to insert.
struct GradeRow<'a> {
    /// The sample's index in the ids given with the rows.
    sample: usize,
    position: usize,
    grader: &'a str,
    grade: &'a Grade,
}

/// Most rows per `INSERT INTO grades` statement: a group's grades (the runner's groups are
/// of at most 32 samples) go in as one statement, or as few as this allows: each statement
/// has its fixed cost (before schema version 7, the `IN (...)` checks of `grades` built two
/// temporary b-trees per statement: one statement per grade spent about a twentieth of a
/// sample's CPU on them, docs/performance.md).
pub(crate) const GRADE_BATCH_MAX: usize = 32;

/// The text of an insert of `rows` grades.
fn insert_grades_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO grades (seq, run_id, sample_id, position, grader, outcome, score,
             evidence, kind, input_tokens, output_tokens, cost_usd) VALUES ",
    );
    for row in 0..rows {
        if row > 0 {
            sql.push(',');
        }
        sql.push('(');
        for column in 0..GRADE_COLUMNS {
            if column > 0 {
                sql.push(',');
            }
            sql.push_str(&format!("?{}", row * GRADE_COLUMNS + column + 1));
        }
        sql.push(')');
    }
    sql
}

/// Columns of a `grades` row.
const GRADE_COLUMNS: usize = 12;

/// Inserts `rows` (of the samples `keys` as stored: `seq` and id) into `grades`, in order, in statements of
/// up to [`GRADE_BATCH_MAX`] rows.
fn insert_grades(
    tx: &rusqlite::Transaction<'_>,
    run_id: &str,
    keys: &[(i64, String)],
    rows: &[GradeRow<'_>],
) -> rusqlite::Result<()> {
    // The text of each statement size, built once.
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| (0..=GRADE_BATCH_MAX).map(insert_grades_sql).collect());
    for batch in rows.chunks(GRADE_BATCH_MAX) {
        let mut stmt = tx.prepare_cached(&sql[batch.len()])?;
        for (row, g) in batch.iter().enumerate() {
            let at = row * GRADE_COLUMNS;
            let grade = g.grade;
            let (seq, id) = &keys[g.sample];
            stmt.raw_bind_parameter(at + 1, seq)?;
            stmt.raw_bind_parameter(at + 2, run_id)?;
            stmt.raw_bind_parameter(at + 3, id)?;
            stmt.raw_bind_parameter(at + 4, g.position as i64)?;
            stmt.raw_bind_parameter(at + 5, g.grader)?;
            stmt.raw_bind_parameter(at + 6, grade.outcome.as_str())?;
            stmt.raw_bind_parameter(at + 7, grade.score)?;
            stmt.raw_bind_parameter(at + 8, &grade.evidence)?;
            stmt.raw_bind_parameter(at + 9, grade_kind_str(grade.kind))?;
            stmt.raw_bind_parameter(at + 10, grade.usage.and_then(|u| u.input_tokens))?;
            stmt.raw_bind_parameter(at + 11, grade.usage.and_then(|u| u.output_tokens))?;
            stmt.raw_bind_parameter(at + 12, grade.cost_usd)?;
        }
        stmt.raw_execute()?;
    }
    Ok(())
}

pub(crate) fn run_exists(conn: &Connection, run_id: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM runs WHERE id = ?1")?
        .query_row([run_id], |_| Ok(()))
        .optional()
        .map(|found| found.is_some())
}

/// Non-finite numbers would be stored as NULL by SQLite and break a column's meaning.
pub(crate) fn validate(record: &SampleRecord, attempts: &[AttemptRecord]) -> Result<(), String> {
    let finite = |what: &str, x: f64| {
        if x.is_finite() {
            Ok(())
        } else {
            Err(format!("{what} is {x}, not a finite number"))
        }
    };
    if let Some(cost) = record.cost_usd {
        finite("cost_usd", cost)?;
    }
    if let Some(v) = &record.verdict {
        finite("the verdict score", v.score)?;
    }
    // The names are written only for a number that is not finite (not per sample).
    let finite_named = |x: f64, what: &dyn Fn() -> String| {
        if x.is_finite() {
            Ok(())
        } else {
            finite(&what(), x)
        }
    };
    for (name, grade) in &record.grades {
        finite_named(grade.score, &|| format!("the score of grader `{name}`"))?;
        if let Some(cost) = grade.cost_usd {
            finite_named(cost, &|| format!("the cost of grader `{name}`"))?;
        }
    }
    for (n, a) in attempts.iter().enumerate() {
        finite_named(a.wait_seconds, &|| {
            format!("attempt {} wait_seconds", n + 1)
        })?;
        finite_named(a.duration_seconds, &|| {
            format!("attempt {} duration_seconds", n + 1)
        })?;
    }
    Ok(())
}

/// The grades of one sample (`?1` its `samples.seq`, which the query that read the sample
/// gives), in order, as [`RawGrade::from_row`] reads them.
pub(crate) const GRADES_OF_SAMPLE: &str = "
SELECT grader, outcome, score, evidence, kind, input_tokens, output_tokens, cost_usd
FROM grades WHERE seq = ?1 ORDER BY position";

/// The column of [`SAMPLES_IN_ORDER`] that holds the sample's `seq` (for [`GRADES_OF_SAMPLE`]).
pub(crate) const SEQ_COLUMN: usize = 31;

/// Report order. Task order comes from `graders_json` (tasks in config order) and provider
/// order from `providers_json`; names missing there sort after, by name.
pub(crate) const SAMPLES_IN_ORDER: &str = "
SELECT s.sample_id, s.task, s.item, s.provider, s.repeat, s.model, s.status,
       s.error_kind, s.error_message, s.http_status, s.error_provider_code,
       s.error_retry_after_seconds, s.error_should_retry, s.attempts, s.cost_usd,
       s.verdict_pass, s.verdict_score, s.first_failure, s.finished_at,
       c.sample_id IS NOT NULL, c.text, c.stop_reason, c.response_model,
       c.input_tokens, c.output_tokens, c.cache_read_tokens, c.cache_write_tokens,
       c.reasoning_tokens, c.latency_seconds, c.ttft_seconds, q.request_json, s.seq
FROM samples s
JOIN runs r ON r.id = s.run_id
LEFT JOIN completions c ON c.seq = s.seq
LEFT JOIN requests q ON q.hash = s.request_hash
WHERE s.run_id = ?1
ORDER BY
    ifnull((SELECT min(t.key) FROM json_each(r.graders_json) t
            WHERE json_extract(t.value, '$[0]') = s.task), 9223372036854775807),
    s.task,
    ifnull((SELECT min(p.key) FROM json_each(r.providers_json) p
            WHERE json_extract(p.value, '$[0]') = s.provider), 9223372036854775807),
    s.provider,
    s.item,
    s.repeat
";

/// A `samples` row joined with its completion, as SQLite types.
pub(crate) struct RawSample {
    pub(crate) sample_id: String,
    pub(crate) task: String,
    pub(crate) item: String,
    pub(crate) provider: String,
    pub(crate) repeat: u32,
    pub(crate) model: String,
    pub(crate) status: String,
    pub(crate) error_kind: Option<String>,
    pub(crate) error_message: Option<String>,
    pub(crate) http_status: Option<u16>,
    pub(crate) error_provider_code: Option<String>,
    pub(crate) error_retry_after_seconds: Option<f64>,
    pub(crate) error_should_retry: Option<bool>,
    pub(crate) attempts: u32,
    pub(crate) cost_usd: Option<f64>,
    pub(crate) verdict_pass: Option<bool>,
    pub(crate) verdict_score: Option<f64>,
    pub(crate) first_failure: Option<u64>,
    pub(crate) finished_at: String,
    pub(crate) completion: Option<RawCompletion>,
    /// The stored request's JSON; `None` for samples stored before schema version 5.
    pub(crate) request_json: Option<String>,
}

pub(crate) struct RawCompletion {
    pub(crate) text: String,
    pub(crate) stop_reason: String,
    pub(crate) response_model: Option<String>,
    pub(crate) usage: Usage,
    pub(crate) latency_seconds: f64,
    pub(crate) ttft_seconds: Option<f64>,
}

impl RawSample {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        let has_completion: bool = row.get(19)?;
        let completion = if has_completion {
            Some(RawCompletion {
                text: row.get(20)?,
                stop_reason: row.get(21)?,
                response_model: row.get(22)?,
                usage: Usage {
                    input_tokens: row.get(23)?,
                    output_tokens: row.get(24)?,
                    cache_read_tokens: row.get(25)?,
                    cache_write_tokens: row.get(26)?,
                    reasoning_tokens: row.get(27)?,
                },
                latency_seconds: row.get(28)?,
                ttft_seconds: row.get(29)?,
            })
        } else {
            None
        };
        Ok(RawSample {
            sample_id: row.get(0)?,
            task: row.get(1)?,
            item: row.get(2)?,
            provider: row.get(3)?,
            repeat: row.get(4)?,
            model: row.get(5)?,
            status: row.get(6)?,
            error_kind: row.get(7)?,
            error_message: row.get(8)?,
            http_status: row.get(9)?,
            error_provider_code: row.get(10)?,
            error_retry_after_seconds: row.get(11)?,
            error_should_retry: row.get(12)?,
            attempts: row.get(13)?,
            cost_usd: row.get(14)?,
            verdict_pass: row.get(15)?,
            verdict_score: row.get(16)?,
            first_failure: row.get(17)?,
            finished_at: row.get(18)?,
            completion,
            request_json: row.get(30)?,
        })
    }

    pub(crate) fn into_stored(self, grades: Vec<(String, Grade)>) -> Result<StoredSample, String> {
        let key = SampleKey {
            task: self.task,
            item: self.item,
            provider: self.provider,
            repeat: self.repeat,
        };
        let id = self.sample_id;
        if key.id().to_string() != id {
            return Err(format!("sample {id} does not match its key {key:?}"));
        }
        let status = parse_sample_status(&self.status).map_err(|e| format!("sample {id}: {e}"))?;
        let error = match self.error_kind {
            None => None,
            Some(kind) => Some(ProviderError {
                kind: parse_error_kind(&kind).map_err(|e| format!("sample {id}: {e}"))?,
                message: self.error_message.unwrap_or_default(),
                http_status: self.http_status,
                provider_code: self.error_provider_code,
                retry_after: self
                    .error_retry_after_seconds
                    .map(seconds_to_duration)
                    .transpose()
                    .map_err(|e| format!("sample {id}: retry-after {e}"))?,
                should_retry: self.error_should_retry,
            }),
        };
        let verdict = match (self.verdict_pass, self.verdict_score) {
            (Some(pass), Some(score)) => Some(Verdict {
                pass,
                score,
                first_failure: self.first_failure.map(|i| i as usize),
            }),
            (None, None) => None,
            _ => return Err(format!("sample {id}: half a verdict")),
        };
        let completion = self
            .completion
            .map(|c| -> Result<Completion, String> {
                Ok(Completion {
                    text: c.text,
                    stop_reason: parse_stop_reason(&c.stop_reason),
                    usage: c.usage,
                    timings: Timings {
                        latency: seconds_to_duration(c.latency_seconds)
                            .map_err(|e| format!("sample {id}: latency {e}"))?,
                        time_to_first_token: c
                            .ttft_seconds
                            .map(seconds_to_duration)
                            .transpose()
                            .map_err(|e| format!("sample {id}: time to first token {e}"))?,
                    },
                    response_model: c.response_model,
                })
            })
            .transpose()?;
        let request = self
            .request_json
            .as_deref()
            .map(crate::inputs::parse_request)
            .transpose()
            .map_err(|e| format!("sample {id}: {e}"))?;
        Ok(StoredSample {
            record: SampleRecord {
                key,
                model: self.model,
                status,
                completion,
                error,
                grades,
                verdict,
                cost_usd: self.cost_usd,
                attempts: self.attempts,
                request,
            },
            finished_at: self.finished_at,
        })
    }
}

pub(crate) struct RawGrade {
    pub(crate) grader: String,
    pub(crate) outcome: String,
    pub(crate) score: f64,
    pub(crate) evidence: String,
    pub(crate) kind: String,
    pub(crate) input_tokens: Option<u64>,
    pub(crate) output_tokens: Option<u64>,
    pub(crate) cost_usd: Option<f64>,
}

impl RawGrade {
    pub(crate) fn from_row(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(RawGrade {
            grader: row.get(0)?,
            outcome: row.get(1)?,
            score: row.get(2)?,
            evidence: row.get(3)?,
            kind: row.get(4)?,
            input_tokens: row.get(5)?,
            output_tokens: row.get(6)?,
            cost_usd: row.get(7)?,
        })
    }

    /// A grade's usage keeps its input and output counts (its cost was computed from every
    /// token class); a grade with neither count spent nothing known.
    pub(crate) fn into_grade(self) -> Result<(String, Grade), String> {
        let usage = grade_usage(self.input_tokens, self.output_tokens);
        Ok((
            self.grader,
            Grade {
                outcome: parse_grade_outcome(&self.outcome)?,
                score: self.score,
                evidence: self.evidence,
                kind: parse_grade_kind(&self.kind)?,
                usage,
                cost_usd: self.cost_usd,
            },
        ))
    }
}

/// A stored grade's usage: its input and output counts, `None` when it knew neither.
pub(crate) fn grade_usage(input_tokens: Option<u64>, output_tokens: Option<u64>) -> Option<Usage> {
    (input_tokens.is_some() || output_tokens.is_some()).then(|| Usage {
        input_tokens,
        output_tokens,
        ..Usage::default()
    })
}

pub(crate) fn sample_status_str(status: SampleStatus) -> &'static str {
    match status {
        SampleStatus::Done => "done",
        SampleStatus::Error => "error",
    }
}

pub(crate) fn parse_sample_status(s: &str) -> Result<SampleStatus, String> {
    match s {
        "done" => Ok(SampleStatus::Done),
        "error" => Ok(SampleStatus::Error),
        _ => Err(format!("unknown sample status `{s}`")),
    }
}

pub(crate) fn parse_error_kind(s: &str) -> Result<ProviderErrorKind, String> {
    ProviderErrorKind::ALL
        .into_iter()
        .find(|kind| kind.as_str() == s)
        .ok_or_else(|| format!("unknown error kind `{s}`"))
}

pub(crate) fn parse_grade_outcome(s: &str) -> Result<GradeOutcome, String> {
    [GradeOutcome::Pass, GradeOutcome::Fail, GradeOutcome::Error]
        .into_iter()
        .find(|outcome| outcome.as_str() == s)
        .ok_or_else(|| format!("unknown grade outcome `{s}`"))
}

pub(crate) fn grade_kind_str(kind: GradeKind) -> &'static str {
    match kind {
        GradeKind::Check => "check",
        GradeKind::Execution => "execution",
        GradeKind::Judgement => "judgement",
    }
}

pub(crate) fn parse_grade_kind(s: &str) -> Result<GradeKind, String> {
    [GradeKind::Check, GradeKind::Execution, GradeKind::Judgement]
        .into_iter()
        .find(|kind| grade_kind_str(*kind) == s)
        .ok_or_else(|| format!("unknown grade kind `{s}`"))
}

/// The stop reason as one plain string, so SQL can filter on it: the snake-case name of a
/// known reason, or the provider's own word verbatim.
pub(crate) fn stop_reason_str(reason: &StopReason) -> &str {
    match reason {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::Other(other) => other,
    }
}

/// Inverse of [`stop_reason_str`]. A provider word equal to a known name reads back as that
/// reason.
pub(crate) fn parse_stop_reason(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        other => StopReason::Other(other.to_owned()),
    }
}

/// Seconds back to a duration, rounded to the nanosecond so that a stored duration reads back
/// exactly (an `f64` holds any duration under about 100 days to well below a nanosecond).
pub(crate) fn seconds_to_duration(seconds: f64) -> Result<Duration, String> {
    let nanos = seconds * 1e9;
    if !(0.0..u64::MAX as f64).contains(&nanos) {
        return Err(format!("of {seconds} seconds is out of range"));
    }
    Ok(Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_round_trip_exactly() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::new(1, 234_567_891),
            Duration::new(59, 999_999_999),
            Duration::new(86_400 * 30, 123_456_789),
        ] {
            assert_eq!(seconds_to_duration(d.as_secs_f64()), Ok(d));
        }
        assert!(seconds_to_duration(-1.0).is_err());
        assert!(seconds_to_duration(f64::NAN).is_err());
        assert!(seconds_to_duration(f64::INFINITY).is_err());
    }

    #[test]
    fn stop_reasons_round_trip() {
        for reason in [
            StopReason::EndTurn,
            StopReason::MaxTokens,
            StopReason::StopSequence,
            StopReason::Other("refusal".into()),
        ] {
            assert_eq!(parse_stop_reason(stop_reason_str(&reason)), reason);
        }
    }

    #[test]
    fn enum_strings_round_trip() {
        for kind in ProviderErrorKind::ALL {
            assert_eq!(parse_error_kind(kind.as_str()), Ok(kind));
        }
        for kind in [GradeKind::Check, GradeKind::Execution, GradeKind::Judgement] {
            assert_eq!(parse_grade_kind(grade_kind_str(kind)), Ok(kind));
        }
        for status in [SampleStatus::Done, SampleStatus::Error] {
            assert_eq!(parse_sample_status(sample_status_str(status)), Ok(status));
        }
        assert!(parse_grade_outcome("maybe").is_err());
    }
}
