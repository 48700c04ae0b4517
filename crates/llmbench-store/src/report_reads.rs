//! Reading a run for reports in the order the file holds it: every sample once, without its
//! texts and without a `String` per sample ([`Store::for_each_sample_outline_in_storage_order`]).
//!
//! [`Store::for_each_sample_outline`] gives the samples in report order: one query that joins
//! each sample to its completion and grades and sorts the result (spilling to temporary files
//! in a file of gigabytes at 1,000,000 samples). This reader scans the three tables instead,
//! each in rowid order (`NOT INDEXED`: sequential pages, no sort), and merges them on the
//! sample id. A completion's rowid is its sample's `seq`, and a sample's grades are written in
//! the same transaction as the sample, after it, so in rowid order they come in the order of
//! the samples; each row is attached to a sample only when it is the next row of its table
//! and carries that sample's id, so an attachment is never wrong. If a file's history (a hand
//! edit, a rewrite) ever put rows out of that order, some would be left unattached: the reader
//! then says so (`Ok(false)`), and the caller reads the run again in report order. Reports
//! built from these samples do not depend on their order (`llmbench_report::summary`).

use std::time::Duration;

use llmbench_core::{GradeKind, GradeOutcome, ProviderErrorKind, SampleStatus, Usage};
use rusqlite::types::ValueRef;
use rusqlite::{Row, Rows};

use crate::samples::{
    parse_error_kind, parse_grade_kind, parse_grade_outcome, parse_sample_status,
    seconds_to_duration,
};
use crate::{Store, StoreError};

/// One sample as a report reads it, borrowed from the rows it was read from.
#[derive(Debug, Clone, Copy)]
pub struct SampleOutlineRow<'a> {
    pub task: &'a str,
    pub item: &'a str,
    pub provider: &'a str,
    pub repeat: u32,
    pub status: SampleStatus,
    /// The provider error's kind and HTTP status.
    pub error: Option<(ProviderErrorKind, Option<u16>)>,
    pub answer: Option<AnswerRow>,
    pub cost_usd: Option<f64>,
    /// The verdict: pass, score.
    pub verdict: Option<(bool, f64)>,
    /// The grades in position order; each names its grader by index in `grader_names`.
    pub grades: &'a [GradeRow],
    pub grader_names: &'a [String],
}

/// A completion's numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerRow {
    pub usage: Usage,
    pub latency: Duration,
    pub time_to_first_token: Option<Duration>,
}

/// A grade without its evidence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradeRow {
    /// Index in [`SampleOutlineRow::grader_names`].
    pub grader: usize,
    pub outcome: GradeOutcome,
    pub kind: GradeKind,
    pub cost_usd: Option<f64>,
}

const SAMPLES: &str = "
SELECT sample_id, task, item, provider, repeat, status, error_kind, http_status, cost_usd,
       verdict_pass, verdict_score
FROM samples NOT INDEXED WHERE run_id = ?1 ORDER BY rowid";

const COMPLETIONS: &str = "
SELECT sample_id, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
       reasoning_tokens, latency_seconds, ttft_seconds
FROM completions NOT INDEXED WHERE run_id = ?1 ORDER BY rowid";

const GRADES: &str = "
SELECT sample_id, position, grader, outcome, kind, cost_usd
FROM grades NOT INDEXED WHERE run_id = ?1 ORDER BY rowid";

/// A sample id as stored (32 hex digits), copied out of its row.
type Id = [u8; 32];

/// The completion row at the head of its scan.
struct CompletionHead {
    id: Id,
    answer: AnswerRow,
}

/// The grade row at the head of its scan.
struct GradeHead {
    id: Id,
    position: i64,
    grade: GradeRow,
}

/// The id in column 0, or `None` when it is not 32 bytes of text (not a stored sample id).
fn id_of(row: &Row<'_>) -> rusqlite::Result<Option<Id>> {
    Ok(match row.get_ref(0)? {
        ValueRef::Text(bytes) => Id::try_from(bytes).ok(),
        _ => None,
    })
}

/// Column `i` as borrowed text.
fn text<'r>(row: &'r Row<'_>, i: usize) -> rusqlite::Result<&'r str> {
    row.get_ref(i)?.as_str().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

impl Store {
    /// Calls `each` with every sample of a run, in the order the file holds them (not report
    /// order), without texts; see the module documentation. Returns `Ok(true)` when every
    /// completion and grade of the run was attached to its sample, `Ok(false)` when some
    /// were not (the samples given were then incomplete: read the run again with
    /// [`Store::for_each_sample_outline`]). On PostgreSQL it gives nothing and returns
    /// `Ok(false)`.
    pub fn for_each_sample_outline_in_storage_order(
        &self,
        run_id: &str,
        mut each: impl FnMut(&SampleOutlineRow<'_>) -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        if self.pg().is_some() {
            return Ok(false);
        }
        self.require_run(run_id)?;
        let sql_err = |source| self.sql_err("read samples", source);
        let conn = self.conn()?;
        let mut samples = conn.prepare(SAMPLES).map_err(sql_err)?;
        let mut completions = conn.prepare(COMPLETIONS).map_err(sql_err)?;
        let mut grades = conn.prepare(GRADES).map_err(sql_err)?;
        let mut samples = samples.query([run_id]).map_err(sql_err)?;
        let mut completions = completions.query([run_id]).map_err(sql_err)?;
        let mut grades = grades.query([run_id]).map_err(sql_err)?;
        let mut grader_names: Vec<String> = Vec::new();
        let mut in_step = true;
        let mut completion = self.next_completion(&mut completions, &mut in_step)?;
        let mut grade = self.next_grade(&mut grades, &mut grader_names, &mut in_step)?;
        let mut sample_grades: Vec<GradeRow> = Vec::new();
        while let Some(row) = samples.next().map_err(sql_err)? {
            let Some(id) = id_of(row).map_err(sql_err)? else {
                return Err(self.corrupt("samples", "a sample id is not 32 characters".into()));
            };
            let answer = match &completion {
                Some(head) if head.id == id => {
                    let answer = head.answer;
                    completion = self.next_completion(&mut completions, &mut in_step)?;
                    Some(answer)
                }
                _ => None,
            };
            sample_grades.clear();
            let mut last_position = -1;
            while let Some(head) = grade.as_ref().filter(|head| head.id == id) {
                if head.position <= last_position {
                    // Not in position order: the report's grader positions would be wrong.
                    in_step = false;
                }
                last_position = head.position;
                sample_grades.push(head.grade);
                grade = self.next_grade(&mut grades, &mut grader_names, &mut in_step)?;
            }
            let outline = self
                .outline_row(row, answer, &sample_grades, &grader_names)
                .map_err(sql_err)?
                .map_err(|detail| {
                    self.corrupt(
                        "samples",
                        format!("sample {}: {detail}", String::from_utf8_lossy(&id)),
                    )
                })?;
            each(&outline)?;
        }
        Ok(in_step && completion.is_none() && grade.is_none())
    }

    fn next_completion(
        &self,
        rows: &mut Rows<'_>,
        in_step: &mut bool,
    ) -> Result<Option<CompletionHead>, StoreError> {
        let sql_err = |source| self.sql_err("read samples", source);
        let Some(row) = rows.next().map_err(sql_err)? else {
            return Ok(None);
        };
        let Some(id) = id_of(row).map_err(sql_err)? else {
            // Attached to no sample: the run is read again in report order.
            *in_step = false;
            return Ok(None);
        };
        let usage = Usage {
            input_tokens: row.get(1).map_err(sql_err)?,
            output_tokens: row.get(2).map_err(sql_err)?,
            cache_read_tokens: row.get(3).map_err(sql_err)?,
            cache_write_tokens: row.get(4).map_err(sql_err)?,
            reasoning_tokens: row.get(5).map_err(sql_err)?,
        };
        let latency: f64 = row.get(6).map_err(sql_err)?;
        let ttft: Option<f64> = row.get(7).map_err(sql_err)?;
        let corrupt = |detail: String| {
            self.corrupt(
                "completions",
                format!("sample {}: latency {detail}", String::from_utf8_lossy(&id)),
            )
        };
        Ok(Some(CompletionHead {
            id,
            answer: AnswerRow {
                usage,
                latency: seconds_to_duration(latency).map_err(corrupt)?,
                time_to_first_token: ttft.map(seconds_to_duration).transpose().map_err(corrupt)?,
            },
        }))
    }

    fn next_grade(
        &self,
        rows: &mut Rows<'_>,
        names: &mut Vec<String>,
        in_step: &mut bool,
    ) -> Result<Option<GradeHead>, StoreError> {
        let sql_err = |source| self.sql_err("read samples", source);
        let Some(row) = rows.next().map_err(sql_err)? else {
            return Ok(None);
        };
        let Some(id) = id_of(row).map_err(sql_err)? else {
            *in_step = false;
            return Ok(None);
        };
        let position: i64 = row.get(1).map_err(sql_err)?;
        let grader = text(row, 2).map_err(sql_err)?;
        // A run has a few graders: a linear search, and a name stored once.
        let grader = match names.iter().position(|n| n == grader) {
            Some(i) => i,
            None => {
                names.push(grader.to_owned());
                names.len() - 1
            }
        };
        let corrupt = |detail: String| self.corrupt("grades", detail);
        let outcome = parse_grade_outcome(text(row, 3).map_err(sql_err)?).map_err(corrupt)?;
        let kind = parse_grade_kind(text(row, 4).map_err(sql_err)?).map_err(corrupt)?;
        let cost_usd: Option<f64> = row.get(5).map_err(sql_err)?;
        Ok(Some(GradeHead {
            id,
            position,
            grade: GradeRow {
                grader,
                outcome,
                kind,
                cost_usd,
            },
        }))
    }

    /// The sample columns of a row, borrowed; the outer error is SQLite's, the inner a value
    /// the store does not know.
    fn outline_row<'r>(
        &self,
        row: &'r Row<'_>,
        answer: Option<AnswerRow>,
        grades: &'r [GradeRow],
        grader_names: &'r [String],
    ) -> rusqlite::Result<Result<SampleOutlineRow<'r>, String>> {
        let status = text(row, 5)?;
        let error_kind = match row.get_ref(6)? {
            ValueRef::Null => None,
            _ => Some(text(row, 6)?),
        };
        let http_status: Option<u16> = row.get(7)?;
        let cost_usd: Option<f64> = row.get(8)?;
        let verdict_pass: Option<bool> = row.get(9)?;
        let verdict_score: Option<f64> = row.get(10)?;
        let (task, item, provider) = (text(row, 1)?, text(row, 2)?, text(row, 3)?);
        let repeat: u32 = row.get(4)?;
        Ok((|| {
            let verdict = match (verdict_pass, verdict_score) {
                (Some(pass), Some(score)) => Some((pass, score)),
                (None, None) => None,
                _ => return Err("half a verdict".to_owned()),
            };
            Ok(SampleOutlineRow {
                task,
                item,
                provider,
                repeat,
                status: parse_sample_status(status)?,
                error: error_kind
                    .map(|kind| parse_error_kind(kind).map(|kind| (kind, http_status)))
                    .transpose()?,
                answer,
                cost_usd,
                verdict,
                grades,
                grader_names,
            })
        })())
    }
}
