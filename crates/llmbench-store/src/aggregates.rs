//! Per-run aggregates: what `serve` needs to rebuild its metrics without reading samples.
//!
//! One [`AggregateGroup`] per run x provider x model x task holds the sums and counts the
//! metrics of a stored sample add up to (see `llmbench_metrics::record_sample` and
//! `SweepTotals`): samples by result, sample errors by kind, failed attempts by outcome and
//! HTTP status, retries, tokens by class, cost, grades by grader and outcome, and the request
//! duration, time to first token, output rate and grade score histograms, counted in the
//! buckets the metrics crate gives ([`HistogramBuckets`]). Replaying a group into the metrics
//! gives the same series as replaying its samples one by one (sums of floating-point values
//! may differ in the last bits, as the order of additions differs). The aggregates' own sums
//! are exact, rounded once: they do not depend on the order the samples are added in.
//!
//! They are written when a run ends ([`Store::end_run`]): kept as the samples were recorded
//! when the store that created the run recorded all of them, else computed from the stored
//! samples. They are forgotten when the run runs again, and computed from the samples when
//! asked for and missing (runs stored before schema version 4, a run whose process died) or
//! counted in other buckets. Retention keeps them when it deletes a run's samples.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use fsum::FSum;

use llmbench_core::{GradeOutcome, ProviderErrorKind, SampleRecord, SampleStatus, Timings, Usage};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{AttemptRecord, Store, StoreError};

/// Upper bounds of the histograms' buckets (`+Inf` is implied), ascending: the metrics
/// crate's `MetricId::RequestDuration.def().buckets` and so on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistogramBuckets {
    /// `llmbench_request_duration_seconds`.
    pub request_seconds: Vec<f64>,
    /// `llmbench_time_to_first_token_seconds`.
    pub first_token_seconds: Vec<f64>,
    /// `llmbench_output_tokens_per_second`.
    pub output_tokens_per_second: Vec<f64>,
    /// `llmbench_grade_score`.
    pub grade_score: Vec<f64>,
}

/// A classic histogram: observations counted per bucket (not cumulative), a value going to
/// the first bucket whose upper bound is `>=` it (Prometheus `le`), the last bucket being
/// `+Inf`. Non-finite values are not observed, as in the metrics registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Histogram {
    /// One count per bound, then the `+Inf` bucket.
    pub buckets: Vec<u64>,
    pub count: u64,
    pub sum: f64,
}

impl Histogram {
    /// No observations, for `bounds` upper bounds.
    pub fn empty(bounds: &[f64]) -> Self {
        Histogram {
            buckets: vec![0; bounds.len() + 1],
            count: 0,
            sum: 0.0,
        }
    }
}

/// Token counts summed over a group's answers; `None` when no answer knew the count (an
/// unknown count is never 0).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenTotals {
    pub input: Option<u64>,
    pub output: Option<u64>,
    pub cache_read: Option<u64>,
    pub cache_write: Option<u64>,
    pub reasoning: Option<u64>,
    /// `Usage::total_input` summed: input with cache reads and writes, over the answers that
    /// knew their input count.
    pub total_input: Option<u64>,
}

impl TokenTotals {
    fn add(&mut self, u: &Usage) {
        let add = |sum: &mut Option<u64>, n: Option<u64>| {
            if let Some(n) = n {
                *sum = Some(sum.unwrap_or(0) + n);
            }
        };
        add(&mut self.input, u.input_tokens);
        add(&mut self.output, u.output_tokens);
        add(&mut self.cache_read, u.cache_read_tokens);
        add(&mut self.cache_write, u.cache_write_tokens);
        add(&mut self.reasoning, u.reasoning_tokens);
        add(&mut self.total_input, u.total_input());
    }
}

/// One grader's grades in a group.
#[derive(Debug, Clone, PartialEq)]
pub struct GradeTotals {
    pub pass: u64,
    pub fail: u64,
    pub error: u64,
    /// Scores clamped to 0..=1, in [`HistogramBuckets::grade_score`].
    pub score: Histogram,
    /// What the grader spent (a judge model): `Usage::total_input` of its grades summed over
    /// the grades that knew it; `None` when none did (or the aggregates were kept by
    /// retention before schema version 6, which did not keep spend per grader).
    pub input_tokens: Option<u64>,
    /// Output tokens of its grades, summed likewise.
    pub output_tokens: Option<u64>,
    /// The grades' `cost_usd`, summed over the grades with a known cost.
    pub cost_usd: Option<f64>,
}

impl GradeTotals {
    /// No grades, scores counted in `score_bounds`.
    pub fn empty(score_bounds: &[f64]) -> Self {
        GradeTotals {
            pass: 0,
            fail: 0,
            error: 0,
            score: Histogram::empty(score_bounds),
            input_tokens: None,
            output_tokens: None,
            cost_usd: None,
        }
    }
}

/// Adds `n` to a sum that stays `None` until a count is known.
fn add_known<T: std::ops::Add<Output = T> + Default>(sum: &mut Option<T>, n: Option<T>) {
    if let Some(n) = n {
        *sum = Some(sum.take().unwrap_or_default() + n);
    }
}

/// The aggregates of one run x provider x model x task.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregateGroup {
    /// The provider's name in the config (the sample key's provider).
    pub provider: String,
    /// The model the sample asked for.
    pub model: String,
    pub task: String,
    /// Stored samples.
    pub samples: u64,
    /// Samples with status `error` (no answer).
    pub errors: u64,
    /// Answered samples whose verdict passed; the metrics' `result="pass"`.
    pub passes: u64,
    /// Answered samples whose verdict failed; `result="fail"`. The rest
    /// (`samples - passes - fails`) are `result="error"`.
    pub fails: u64,
    pub tokens: TokenTotals,
    /// The models' cost, summed over samples with a known cost; `None` when none was known.
    pub cost_usd: Option<f64>,
    /// What grading spent (a judge model), summed over grades with a known cost.
    pub grader_cost_usd: Option<f64>,
    /// Samples that ended in an error, by error kind (`rate_limited`, ...).
    pub sample_errors: BTreeMap<String, u64>,
    /// Failed attempts by outcome (error kind) and HTTP status.
    pub attempt_errors: BTreeMap<(String, Option<u16>), u64>,
    /// Failed attempts followed by another attempt, by outcome.
    pub attempt_retries: BTreeMap<String, u64>,
    /// Successful attempts, timed by the provider (the answer's latency) when there is an
    /// answer, else by the runner.
    pub request_seconds_success: Histogram,
    /// Failed attempts, timed by the runner.
    pub request_seconds_error: Histogram,
    pub first_token_seconds: Histogram,
    /// `Timings::output_tokens_per_second` of the answers that have one.
    pub output_tokens_per_second: Histogram,
    /// By grader name.
    pub grades: BTreeMap<String, GradeTotals>,
}

impl AggregateGroup {
    fn new(key: &GroupKey, b: &HistogramBuckets) -> Self {
        AggregateGroup {
            provider: key.0.clone(),
            model: key.1.clone(),
            task: key.2.clone(),
            samples: 0,
            errors: 0,
            passes: 0,
            fails: 0,
            tokens: TokenTotals::default(),
            cost_usd: None,
            grader_cost_usd: None,
            sample_errors: BTreeMap::new(),
            attempt_errors: BTreeMap::new(),
            attempt_retries: BTreeMap::new(),
            request_seconds_success: Histogram::empty(&b.request_seconds),
            request_seconds_error: Histogram::empty(&b.request_seconds),
            first_token_seconds: Histogram::empty(&b.first_token_seconds),
            output_tokens_per_second: Histogram::empty(&b.output_tokens_per_second),
            grades: BTreeMap::new(),
        }
    }
}

/// A run's aggregates.
#[derive(Debug, Clone, PartialEq)]
pub struct RunAggregates {
    pub run_id: String,
    /// The bounds the histograms were counted in. Equal to the store's buckets, except for a
    /// run whose samples were deleted before the buckets changed.
    pub buckets: HistogramBuckets,
    /// Ordered by provider, model, task.
    pub groups: Vec<AggregateGroup>,
    /// The run's samples were deleted by the retention policy: these are all that is left.
    pub samples_deleted: bool,
}

pub(crate) type GroupKey = (String, String, String);

impl Store {
    /// The histogram bounds aggregates are counted in (the metrics crate's buckets). Without
    /// them, [`Store::end_run`] writes no aggregates, and computing them
    /// ([`Store::run_aggregates`] of a run without, [`Store::apply_retention`]) fails with
    /// [`StoreError::NoHistogramBuckets`].
    pub fn set_histogram_buckets(&mut self, buckets: HistogramBuckets) {
        self.buckets = Some(buckets);
    }

    /// A run's aggregates: as stored when the run ended, or computed from its samples (and
    /// stored, unless a process is running the run) when it has none or they were counted
    /// in other buckets than the store's. A run whose samples were deleted returns what was
    /// kept, whatever its buckets.
    pub fn run_aggregates(&self, run_id: &str) -> Result<RunAggregates, StoreError> {
        let state = if let Some(pg) = self.pg() {
            crate::pg::blocking(&self.path, || self.pg_aggregate_state(pg, run_id))?
        } else {
            self.conn()?
                .query_row(
                    "SELECT aggregated_at IS NOT NULL, histogram_buckets_json,
                         samples_deleted_at IS NOT NULL
                     FROM runs WHERE id = ?1",
                    [run_id],
                    |row| {
                        Ok((
                            row.get::<_, bool>(0)?,
                            row.get::<_, Option<String>>(1)?,
                            row.get::<_, bool>(2)?,
                        ))
                    },
                )
                .optional()
                .map_err(|source| self.sql_err("read run aggregates", source))?
        };
        let Some((aggregated, stored_buckets, samples_deleted)) = state else {
            return Err(StoreError::RunNotFound {
                run_id: run_id.to_owned(),
                path: self.path.clone(),
            });
        };
        let stored_buckets = match stored_buckets {
            Some(text) => Some(
                serde_json::from_str::<HistogramBuckets>(&text).map_err(|e| {
                    self.corrupt(
                        "runs",
                        format!("run `{run_id}`: column histogram_buckets_json: {e}"),
                    )
                })?,
            ),
            None => None,
        };
        if aggregated
            && let Some(stored) = stored_buckets
            && (samples_deleted || self.buckets.as_ref().is_none_or(|b| *b == stored))
        {
            return self.read_aggregates(run_id, stored, samples_deleted);
        }
        if samples_deleted {
            // Deleted before aggregates existed: cannot happen through apply_retention.
            return Err(self.corrupt(
                "runs",
                format!("run `{run_id}`: samples deleted without aggregates"),
            ));
        }
        if self.run_is_held(run_id) || !self.is_verified() {
            self.compute_aggregates(run_id)
        } else {
            self.write_aggregates(run_id)
        }
    }

    /// Computes a run's aggregates from its samples and attempts, and stores them. On
    /// PostgreSQL they are stored only while no shard runs the run and no sample came in
    /// meanwhile (else they are returned unstored: computed again when next asked for).
    pub(crate) fn write_aggregates(&self, run_id: &str) -> Result<RunAggregates, StoreError> {
        let aggregates = self.compute_aggregates(run_id)?;
        self.store_aggregates(aggregates)
    }

    /// Stores a run's aggregates in place of any it had.
    pub(crate) fn store_aggregates(
        &self,
        aggregates: RunAggregates,
    ) -> Result<RunAggregates, StoreError> {
        let run_id = aggregates.run_id.as_str();
        if let Some(pg) = self.pg() {
            let stored =
                crate::pg::blocking(&self.path, || self.pg_store_aggregates(pg, &aggregates))?;
            if !stored {
                tracing::debug!(
                    run = run_id,
                    "run aggregates not stored: the run changed or is running"
                );
            }
            return Ok(aggregates);
        }
        let sql_err = |source| self.sql_err("write run aggregates", source);
        let tx = self.conn()?.unchecked_transaction().map_err(sql_err)?;
        forget(&tx, run_id).map_err(sql_err)?;
        insert(&tx, &aggregates).map_err(sql_err)?;
        tx.commit().map_err(sql_err)?;
        Ok(aggregates)
    }

    /// Sums a run's stored samples into groups, in the store's buckets.
    pub(crate) fn compute_aggregates(&self, run_id: &str) -> Result<RunAggregates, StoreError> {
        let b = self
            .buckets
            .clone()
            .ok_or_else(|| StoreError::NoHistogramBuckets {
                path: self.path.clone(),
            })?;
        self.require_run(run_id)?;
        let mut sums = Sums::new(b);
        if let Some(pg) = self.pg() {
            // On PostgreSQL the one connection streams the samples, so the run's attempts are
            // read first, in one query (a few dozen bytes per attempt in memory).
            let mut all = crate::pg::blocking(&self.path, || self.pg_run_attempts(pg, run_id))?;
            let mut facts = SampleFacts::default();
            self.for_each_sample(run_id, |sample| {
                let record = sample.record;
                let attempts = all.remove(&record.key.id().to_string()).unwrap_or_default();
                facts.set_from(&record, &attempts);
                sums.add(&facts);
                Ok(())
            })?;
        } else {
            let mut facts = SampleFacts::default();
            self.for_each_sample_facts(run_id, &mut facts, |facts| {
                sums.add(facts);
                Ok(())
            })?;
        }
        Ok(sums.finish(run_id))
    }

    /// Calls `each` with what the aggregates read of every sample of a run (SQLite), in the
    /// order of their ids (the sums do not depend on the order: [`Sums`]).
    ///
    /// One query, reading only the columns the aggregates use: reading whole samples in
    /// report order, with a query per sample for its grades and another for its attempts,
    /// was about a tenth of a sample's CPU at the end of every run (docs/performance.md).
    /// A sample's rows are its attempts times its grades (one row for most samples).
    fn for_each_sample_facts(
        &self,
        run_id: &str,
        facts: &mut SampleFacts,
        mut each: impl FnMut(&SampleFacts) -> Result<(), StoreError>,
    ) -> Result<(), StoreError> {
        let sql_err = |source| self.sql_err("read samples", source);
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT s.sample_id, s.provider, s.model, s.task, s.status, s.error_kind,
                     s.verdict_pass, s.cost_usd,
                     c.sample_id IS NOT NULL, c.input_tokens, c.output_tokens,
                     c.cache_read_tokens, c.cache_write_tokens, c.reasoning_tokens,
                     c.latency_seconds, c.ttft_seconds,
                     a.attempt, a.outcome, a.http_status, a.wait_seconds, a.duration_seconds,
                     g.position, g.grader, g.outcome, g.score, g.input_tokens,
                     g.output_tokens, g.cost_usd
                 FROM samples s
                 LEFT JOIN completions c ON c.seq = s.seq
                 LEFT JOIN attempts a ON a.seq = s.seq
                 LEFT JOIN grades g ON g.seq = s.seq
                 WHERE s.run_id = ?1
                 ORDER BY s.sample_id, a.attempt, g.position",
            )
            .map_err(sql_err)?;
        let mut rows = stmt.query([run_id]).map_err(sql_err)?;
        // The sample being read, and its first attempt's number (its grades come with it).
        let mut current = String::new();
        let mut first_attempt: Option<i64> = None;
        let mut have = false;
        while let Some(row) = rows.next().map_err(sql_err)? {
            let text = |i: usize| -> Result<&str, StoreError> {
                row.get_ref(i)
                    .and_then(|v| v.as_str().map_err(Into::into))
                    .map_err(sql_err)
            };
            let get_err = |e| sql_err(e);
            let sample_id = text(0)?;
            if !have || sample_id != current {
                if have {
                    each(facts)?;
                }
                have = true;
                current.clear();
                current.push_str(sample_id);
                facts.read_sample(row, &current).map_err(|e| match e {
                    FactsError::Sql(e) => sql_err(e),
                    FactsError::Corrupt(detail) => self.corrupt("samples", detail),
                })?;
                first_attempt = row.get(16).map_err(get_err)?;
            }
            let attempt: Option<i64> = row.get(16).map_err(get_err)?;
            if let Some(n) = attempt
                && facts.last_attempt != Some(n)
            {
                facts.last_attempt = Some(n);
                facts.attempts.push(AttemptRecord {
                    outcome: row.get(17).map_err(get_err)?,
                    http_status: row.get(18).map_err(get_err)?,
                    wait_seconds: row.get(19).map_err(get_err)?,
                    duration_seconds: row.get(20).map_err(get_err)?,
                });
            }
            // Each grade comes once per attempt: it is taken with the first.
            if attempt == first_attempt
                && let Some(position) = row.get::<_, Option<i64>>(21).map_err(get_err)?
                && facts.last_position != Some(position)
            {
                facts.last_position = Some(position);
                let outcome = crate::samples::parse_grade_outcome(text(23)?)
                    .map_err(|detail| self.corrupt("grades", detail))?;
                facts.grades.push(GradeFacts {
                    grader: row.get(22).map_err(get_err)?,
                    outcome,
                    score: row.get(24).map_err(get_err)?,
                    usage: crate::samples::grade_usage(
                        row.get(25).map_err(get_err)?,
                        row.get(26).map_err(get_err)?,
                    ),
                    cost_usd: row.get(27).map_err(get_err)?,
                });
            }
        }
        if have {
            each(facts)?;
        }
        Ok(())
    }

    fn read_aggregates(
        &self,
        run_id: &str,
        buckets: HistogramBuckets,
        samples_deleted: bool,
    ) -> Result<RunAggregates, StoreError> {
        let rows = match self.pg() {
            Some(pg) => crate::pg::blocking(&self.path, || self.pg_aggregate_rows(pg, run_id))?,
            None => read_rows(self.conn()?, run_id)
                .map_err(|source| self.sql_err("read run aggregates", source))?,
        };
        self.assemble_aggregates(run_id, buckets, samples_deleted, rows)
    }

    /// The aggregates that stored `rows` hold.
    fn assemble_aggregates(
        &self,
        run_id: &str,
        buckets: HistogramBuckets,
        samples_deleted: bool,
        rows: AggregateRows,
    ) -> Result<RunAggregates, StoreError> {
        let mut groups: BTreeMap<GroupKey, AggregateGroup> = BTreeMap::new();
        for row in rows.groups {
            let mut g = AggregateGroup::new(&row.key, &buckets);
            g.samples = row.samples;
            g.errors = row.errors;
            g.passes = row.passes;
            g.fails = row.fails;
            g.tokens = row.tokens;
            g.cost_usd = row.cost_usd;
            g.grader_cost_usd = row.grader_cost_usd;
            groups.insert(row.key, g);
        }
        for CountRow {
            key,
            name,
            label1,
            label2,
            value,
        } in rows.counts
        {
            let corrupt = |detail: String| {
                self.corrupt("run_aggregate_counts", format!("run `{run_id}`: {detail}"))
            };
            let g = groups
                .get_mut(&key)
                .ok_or_else(|| corrupt(format!("no group {key:?}")))?;
            match name.as_str() {
                "sample_error" => {
                    g.sample_errors.insert(label1, value);
                }
                "attempt_error" => {
                    let status = if label2.is_empty() {
                        None
                    } else {
                        Some(
                            label2
                                .parse()
                                .map_err(|_| corrupt(format!("HTTP status `{label2}`")))?,
                        )
                    };
                    g.attempt_errors.insert((label1, status), value);
                }
                "attempt_retry" => {
                    g.attempt_retries.insert(label1, value);
                }
                "grade" => {
                    let totals = g
                        .grades
                        .entry(label1)
                        .or_insert_with(|| GradeTotals::empty(&buckets.grade_score));
                    match label2.as_str() {
                        "pass" => totals.pass = value,
                        "fail" => totals.fail = value,
                        "error" => totals.error = value,
                        other => return Err(corrupt(format!("grade outcome `{other}`"))),
                    }
                }
                other => return Err(corrupt(format!("count `{other}`"))),
            }
        }
        for row in rows.spend {
            let g = groups.get_mut(&row.key).ok_or_else(|| {
                self.corrupt(
                    "run_aggregate_grader_spend",
                    format!("run `{run_id}`: no group {:?}", row.key),
                )
            })?;
            let totals = g
                .grades
                .entry(row.grader)
                .or_insert_with(|| GradeTotals::empty(&buckets.grade_score));
            totals.input_tokens = row.input_tokens;
            totals.output_tokens = row.output_tokens;
            totals.cost_usd = row.cost_usd;
        }
        for HistogramRow {
            key,
            name,
            label,
            count,
            sum,
            buckets_json,
        } in rows.histograms
        {
            let corrupt = |detail: String| {
                self.corrupt(
                    "run_aggregate_histograms",
                    format!("run `{run_id}`: {detail}"),
                )
            };
            let g = groups
                .get_mut(&key)
                .ok_or_else(|| corrupt(format!("no group {key:?}")))?;
            let counts: Vec<u64> = serde_json::from_str(&buckets_json)
                .map_err(|e| corrupt(format!("{name} buckets: {e}")))?;
            let (slot, bounds) = match (name.as_str(), label.as_str()) {
                ("request_seconds", "success") => {
                    (&mut g.request_seconds_success, &buckets.request_seconds)
                }
                ("request_seconds", "error") => {
                    (&mut g.request_seconds_error, &buckets.request_seconds)
                }
                ("first_token_seconds", _) => {
                    (&mut g.first_token_seconds, &buckets.first_token_seconds)
                }
                ("output_tokens_per_second", _) => (
                    &mut g.output_tokens_per_second,
                    &buckets.output_tokens_per_second,
                ),
                ("grade_score", grader) => {
                    let totals = g
                        .grades
                        .entry(grader.to_owned())
                        .or_insert_with(|| GradeTotals::empty(&buckets.grade_score));
                    (&mut totals.score, &buckets.grade_score)
                }
                _ => return Err(corrupt(format!("histogram `{name}` `{label}`"))),
            };
            if counts.len() != bounds.len() + 1 {
                return Err(corrupt(format!(
                    "{name} has {} buckets for {} bounds",
                    counts.len(),
                    bounds.len()
                )));
            }
            *slot = Histogram {
                buckets: counts,
                count,
                sum,
            };
        }
        Ok(RunAggregates {
            run_id: run_id.to_owned(),
            buckets,
            groups: groups.into_values().collect(),
            samples_deleted,
        })
    }
}

/// What the aggregates read of one sample: its group, status, verdict, spend, timings,
/// grades and attempts (not its texts).
#[derive(Debug, Default)]
pub(crate) struct SampleFacts {
    provider: String,
    model: String,
    task: String,
    status: Option<SampleStatus>,
    error_kind: Option<ProviderErrorKind>,
    verdict_pass: Option<bool>,
    cost_usd: Option<f64>,
    /// The answer's usage and timings, when there is an answer.
    completion: Option<(Usage, Timings)>,
    grades: Vec<GradeFacts>,
    attempts: Vec<AttemptRecord>,
    /// The last attempt and grade position read (a sample's rows repeat them).
    last_attempt: Option<i64>,
    last_position: Option<i64>,
}

#[derive(Debug)]
struct GradeFacts {
    grader: String,
    outcome: GradeOutcome,
    score: f64,
    usage: Option<Usage>,
    cost_usd: Option<f64>,
}

enum FactsError {
    Sql(rusqlite::Error),
    Corrupt(String),
}

impl From<rusqlite::Error> for FactsError {
    fn from(e: rusqlite::Error) -> Self {
        FactsError::Sql(e)
    }
}

impl SampleFacts {
    /// Starts sample `id` from its row's sample and completion columns (reusing the
    /// buffers), read as [`crate::samples::RawSample::into_stored`] reads them.
    fn read_sample(&mut self, row: &rusqlite::Row<'_>, id: &str) -> Result<(), FactsError> {
        let set = |to: &mut String, i: usize| -> Result<(), FactsError> {
            let v = row.get_ref(i)?;
            let text = v.as_str().map_err(|e| {
                FactsError::Sql(rusqlite::Error::FromSqlConversionFailure(
                    i,
                    v.data_type(),
                    Box::new(e),
                ))
            })?;
            to.clear();
            to.push_str(text);
            Ok(())
        };
        set(&mut self.provider, 1)?;
        set(&mut self.model, 2)?;
        set(&mut self.task, 3)?;
        let corrupt = |e: String| FactsError::Corrupt(format!("sample {id}: {e}"));
        let status: String = row.get(4)?;
        self.status = Some(crate::samples::parse_sample_status(&status).map_err(corrupt)?);
        self.error_kind = match row.get::<_, Option<String>>(5)? {
            Some(kind) => Some(crate::samples::parse_error_kind(&kind).map_err(corrupt)?),
            None => None,
        };
        self.verdict_pass = row.get(6)?;
        self.cost_usd = row.get(7)?;
        self.completion = if row.get::<_, bool>(8)? {
            let seconds = |what: &str, s: f64| {
                crate::samples::seconds_to_duration(s)
                    .map_err(|e| FactsError::Corrupt(format!("sample {id}: {what} {e}")))
            };
            let ttft: Option<f64> = row.get(15)?;
            Some((
                Usage {
                    input_tokens: row.get(9)?,
                    output_tokens: row.get(10)?,
                    cache_read_tokens: row.get(11)?,
                    cache_write_tokens: row.get(12)?,
                    reasoning_tokens: row.get(13)?,
                },
                Timings {
                    latency: seconds("latency", row.get(14)?)?,
                    time_to_first_token: ttft
                        .map(|s| seconds("time to first token", s))
                        .transpose()?,
                },
            ))
        } else {
            None
        };
        self.grades.clear();
        self.attempts.clear();
        self.last_attempt = None;
        self.last_position = None;
        Ok(())
    }

    /// The facts of a sample read whole (PostgreSQL).
    fn set_from(&mut self, record: &SampleRecord, attempts: &[AttemptRecord]) {
        self.provider.clone_from(&record.key.provider);
        self.model.clone_from(&record.model);
        self.task.clone_from(&record.key.task);
        self.status = Some(record.status);
        self.error_kind = record.error.as_ref().map(|e| e.kind);
        self.verdict_pass = record.verdict.as_ref().map(|v| v.pass);
        self.cost_usd = record.cost_usd;
        self.completion = record.completion.as_ref().map(|c| (c.usage, c.timings));
        self.grades.clear();
        self.grades
            .extend(record.grades.iter().map(|(grader, grade)| GradeFacts {
                grader: grader.clone(),
                outcome: grade.outcome,
                score: grade.score,
                usage: grade.usage,
                cost_usd: grade.cost_usd,
            }));
        self.attempts.clear();
        self.attempts.extend_from_slice(attempts);
    }
}

/// The groups being summed, and the bounds their histograms count in.
///
/// Fractional sums (seconds, costs, scores) are kept exact ([`FSum`]: Shewchuk's partials,
/// rounded once, correctly, when read), so that they do not depend on the order the samples
/// come in: the aggregates a run keeps as its samples are stored, in the order they
/// finished ([`LiveAggregates`]), are those computed from the stored samples later in any
/// order, to the last bit.
pub(crate) struct Sums {
    /// In the order met; sorted by key when finished.
    groups: Vec<(AggregateGroup, ExactSums)>,
    /// Group index by task, provider, model: looked up by `&str`, no key built per sample.
    index: BTreeMap<String, BTreeMap<String, BTreeMap<String, usize>>>,
    pub(crate) b: HistogramBuckets,
    /// The group of the last sample added.
    last: Option<usize>,
    /// Samples added.
    samples: u64,
}

/// A group's fractional sums, exact until the group is finished.
#[derive(Default)]
struct ExactSums {
    request_seconds_success: FSum,
    request_seconds_error: FSum,
    first_token_seconds: FSum,
    output_tokens_per_second: FSum,
    /// `None` until a sample with a known cost (an unknown cost is never 0).
    cost_usd: Option<FSum>,
    grader_cost_usd: Option<FSum>,
    /// By grader: its scores, its known costs.
    grades: BTreeMap<String, (FSum, Option<FSum>)>,
}

/// Counts `value` in `h` (its sum is kept apart, exact): whether it was observed.
fn count(h: &mut Histogram, bounds: &[f64], value: f64) -> bool {
    if !value.is_finite() {
        return false;
    }
    let i = bounds
        .iter()
        .position(|&b| value <= b)
        .unwrap_or(bounds.len());
    h.buckets[i] += 1;
    h.count += 1;
    true
}

impl Sums {
    pub(crate) fn new(b: HistogramBuckets) -> Self {
        Sums {
            groups: Vec::new(),
            index: BTreeMap::new(),
            b,
            last: None,
            samples: 0,
        }
    }

    /// How many samples were added.
    pub(crate) fn samples(&self) -> u64 {
        self.samples
    }

    /// The index of the sample's group, added when new.
    fn group(&mut self, s: &SampleFacts) -> usize {
        if let Some(i) = self.last {
            let g = &self.groups[i].0;
            if g.provider == s.provider && g.model == s.model && g.task == s.task {
                return i;
            }
        }
        let found = self
            .index
            .get(&s.task)
            .and_then(|m| m.get(&s.provider))
            .and_then(|m| m.get(&s.model))
            .copied();
        let i = found.unwrap_or_else(|| {
            let i = self.groups.len();
            let key = (s.provider.clone(), s.model.clone(), s.task.clone());
            self.groups
                .push((AggregateGroup::new(&key, &self.b), ExactSums::default()));
            self.index
                .entry(key.2)
                .or_default()
                .entry(key.0)
                .or_default()
                .insert(key.1, i);
            i
        });
        self.last = Some(i);
        i
    }

    /// Adds one sample to its group.
    fn add(&mut self, s: &SampleFacts) {
        let i = self.group(s);
        self.samples += 1;
        let b = &self.b;
        let (g, exact) = &mut self.groups[i];
        g.samples += 1;
        if s.status == Some(SampleStatus::Error) {
            g.errors += 1;
        }
        if let Some(kind) = s.error_kind {
            *g.sample_errors.entry(kind.as_str().to_owned()).or_default() += 1;
        }
        match (s.status, s.verdict_pass) {
            (Some(SampleStatus::Done), Some(true)) => g.passes += 1,
            (Some(SampleStatus::Done), Some(false)) => g.fails += 1,
            _ => {}
        }
        for (i, a) in s.attempts.iter().enumerate() {
            if a.outcome == "ok" {
                let seconds = s
                    .completion
                    .as_ref()
                    .map_or(a.duration_seconds, |(_, t)| t.latency.as_secs_f64());
                if count(&mut g.request_seconds_success, &b.request_seconds, seconds) {
                    exact.request_seconds_success.add(seconds);
                }
                continue;
            }
            if count(
                &mut g.request_seconds_error,
                &b.request_seconds,
                a.duration_seconds,
            ) {
                exact.request_seconds_error.add(a.duration_seconds);
            }
            *g.attempt_errors
                .entry((a.outcome.clone(), a.http_status))
                .or_default() += 1;
            if i + 1 < s.attempts.len() {
                *g.attempt_retries.entry(a.outcome.clone()).or_default() += 1;
            }
        }
        if let Some((usage, timings)) = &s.completion {
            if let Some(ttft) = timings.time_to_first_token {
                let seconds = ttft.as_secs_f64();
                if count(&mut g.first_token_seconds, &b.first_token_seconds, seconds) {
                    exact.first_token_seconds.add(seconds);
                }
            }
            if let Some(rate) = timings.output_tokens_per_second(usage.output_tokens)
                && count(
                    &mut g.output_tokens_per_second,
                    &b.output_tokens_per_second,
                    rate,
                )
            {
                exact.output_tokens_per_second.add(rate);
            }
            g.tokens.add(usage);
        }
        if let Some(cost) = s.cost_usd {
            exact.cost_usd.get_or_insert_default().add(cost);
        }
        for grade in &s.grades {
            if let Some(cost) = grade.cost_usd {
                exact.grader_cost_usd.get_or_insert_default().add(cost);
            }
            let totals = match g.grades.get_mut(&grade.grader) {
                Some(totals) => totals,
                None => g
                    .grades
                    .entry(grade.grader.clone())
                    .or_insert_with(|| GradeTotals::empty(&b.grade_score)),
            };
            let sums = match exact.grades.get_mut(&grade.grader) {
                Some(sums) => sums,
                None => exact.grades.entry(grade.grader.clone()).or_default(),
            };
            if let Some(u) = &grade.usage {
                add_known(&mut totals.input_tokens, u.total_input());
                add_known(&mut totals.output_tokens, u.output_tokens);
            }
            if let Some(cost) = grade.cost_usd {
                sums.1.get_or_insert_default().add(cost);
            }
            match grade.outcome {
                GradeOutcome::Pass => totals.pass += 1,
                GradeOutcome::Fail => totals.fail += 1,
                GradeOutcome::Error => totals.error += 1,
            }
            let score = grade.score.clamp(0.0, 1.0);
            if count(&mut totals.score, &b.grade_score, score) {
                sums.0.add(score);
            }
        }
    }

    /// The run's aggregates: the groups ordered by provider, model, task, their sums rounded.
    pub(crate) fn finish(self, run_id: &str) -> RunAggregates {
        let mut groups: Vec<AggregateGroup> = self
            .groups
            .into_iter()
            .map(|(mut g, exact)| {
                g.request_seconds_success.sum = exact.request_seconds_success.value();
                g.request_seconds_error.sum = exact.request_seconds_error.value();
                g.first_token_seconds.sum = exact.first_token_seconds.value();
                g.output_tokens_per_second.sum = exact.output_tokens_per_second.value();
                g.cost_usd = exact.cost_usd.as_ref().map(FSum::value);
                g.grader_cost_usd = exact.grader_cost_usd.as_ref().map(FSum::value);
                for (grader, (score, cost)) in exact.grades {
                    let totals = g.grades.get_mut(&grader).expect("added together");
                    totals.score.sum = score.value();
                    totals.cost_usd = cost.as_ref().map(FSum::value);
                }
                g
            })
            .collect();
        groups.sort_by(|x, y| {
            (&x.provider, &x.model, &x.task).cmp(&(&y.provider, &y.model, &y.task))
        });
        RunAggregates {
            run_id: run_id.to_owned(),
            buckets: self.b,
            groups,
            samples_deleted: false,
        }
    }
}

/// The aggregates of the runs a store created, kept as their samples are recorded, so that
/// the end of a run writes them without reading the run again (which cost about a tenth of
/// a sample's harness CPU: docs/performance.md). Only for runs this store created (on
/// SQLite, with histogram buckets set): a resumed run's earlier samples were stored by
/// another process, and are read when it ends. Lost with the process, as nothing else is:
/// aggregates missing are computed from the samples when asked for.
#[derive(Default)]
pub(crate) struct LiveAggregates(RefCell<HashMap<String, Sums>>);

impl std::fmt::Debug for LiveAggregates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.borrow().keys()).finish()
    }
}

impl LiveAggregates {
    /// Starts keeping run `run_id`'s aggregates (it has no samples yet).
    pub(crate) fn start(&self, run_id: &str, b: HistogramBuckets) {
        self.0.borrow_mut().insert(run_id.to_owned(), Sums::new(b));
    }

    /// Adds samples just committed to run `run_id`, when its aggregates are kept.
    pub(crate) fn add<'a>(
        &self,
        run_id: &str,
        samples: impl IntoIterator<Item = (&'a SampleRecord, &'a [AttemptRecord])>,
    ) {
        let mut live = self.0.borrow_mut();
        let Some(sums) = live.get_mut(run_id) else {
            return;
        };
        let mut facts = SampleFacts::default();
        for (record, attempts) in samples {
            facts.set_from(record, attempts);
            sums.add(&facts);
        }
    }

    /// Stops keeping run `run_id`'s aggregates, returning them.
    pub(crate) fn take(&self, run_id: &str) -> Option<Sums> {
        self.0.borrow_mut().remove(run_id)
    }
}

/// A run's aggregates as the rows of the aggregate tables, the same on both backends: what
/// is written ([`AggregateRows::of`]) and read back ([`Store::assemble_aggregates`]).
#[derive(Debug, Default)]
pub(crate) struct AggregateRows {
    /// `run_aggregates`.
    pub groups: Vec<GroupRow>,
    /// `run_aggregate_counts`.
    pub counts: Vec<CountRow>,
    /// `run_aggregate_grader_spend`.
    pub spend: Vec<SpendRow>,
    /// `run_aggregate_histograms`.
    pub histograms: Vec<HistogramRow>,
}

#[derive(Debug)]
pub(crate) struct GroupRow {
    pub key: GroupKey,
    pub samples: u64,
    pub errors: u64,
    pub passes: u64,
    pub fails: u64,
    pub tokens: TokenTotals,
    pub cost_usd: Option<f64>,
    pub grader_cost_usd: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct CountRow {
    pub key: GroupKey,
    pub name: String,
    pub label1: String,
    pub label2: String,
    pub value: u64,
}

#[derive(Debug)]
pub(crate) struct SpendRow {
    pub key: GroupKey,
    pub grader: String,
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cost_usd: Option<f64>,
}

#[derive(Debug)]
pub(crate) struct HistogramRow {
    pub key: GroupKey,
    pub name: String,
    pub label: String,
    pub count: u64,
    pub sum: f64,
    /// Per-bucket counts, a JSON array of integers.
    pub buckets_json: String,
}

impl AggregateRows {
    /// The rows that store `a`: empty histograms, zero grade counts and spend nobody knew
    /// are left out.
    pub(crate) fn of(a: &RunAggregates) -> Self {
        let mut rows = AggregateRows::default();
        for g in &a.groups {
            let key: GroupKey = (g.provider.clone(), g.model.clone(), g.task.clone());
            rows.groups.push(GroupRow {
                key: key.clone(),
                samples: g.samples,
                errors: g.errors,
                passes: g.passes,
                fails: g.fails,
                tokens: g.tokens,
                cost_usd: g.cost_usd,
                grader_cost_usd: g.grader_cost_usd,
            });
            let mut count = |name: &str, label1: &str, label2: &str, value: u64| {
                rows.counts.push(CountRow {
                    key: key.clone(),
                    name: name.to_owned(),
                    label1: label1.to_owned(),
                    label2: label2.to_owned(),
                    value,
                });
            };
            for (kind, n) in &g.sample_errors {
                count("sample_error", kind, "", *n);
            }
            for ((outcome, status), n) in &g.attempt_errors {
                let status = status.map(|s| s.to_string()).unwrap_or_default();
                count("attempt_error", outcome, &status, *n);
            }
            for (outcome, n) in &g.attempt_retries {
                count("attempt_retry", outcome, "", *n);
            }
            for (grader, totals) in &g.grades {
                for (outcome, n) in [
                    ("pass", totals.pass),
                    ("fail", totals.fail),
                    ("error", totals.error),
                ] {
                    if n > 0 {
                        count("grade", grader, outcome, n);
                    }
                }
            }
            for (grader, t) in &g.grades {
                if t.input_tokens.is_some() || t.output_tokens.is_some() || t.cost_usd.is_some() {
                    rows.spend.push(SpendRow {
                        key: key.clone(),
                        grader: grader.clone(),
                        input_tokens: t.input_tokens,
                        output_tokens: t.output_tokens,
                        cost_usd: t.cost_usd,
                    });
                }
            }
            let mut histogram = |name: &str, label: &str, h: &Histogram| {
                if h.count > 0 {
                    rows.histograms.push(HistogramRow {
                        key: key.clone(),
                        name: name.to_owned(),
                        label: label.to_owned(),
                        count: h.count,
                        sum: h.sum,
                        buckets_json: serde_json::to_string(&h.buckets)
                            .expect("integers serialize"),
                    });
                }
            };
            histogram("request_seconds", "success", &g.request_seconds_success);
            histogram("request_seconds", "error", &g.request_seconds_error);
            histogram("first_token_seconds", "", &g.first_token_seconds);
            histogram("output_tokens_per_second", "", &g.output_tokens_per_second);
            for (grader, totals) in &g.grades {
                histogram("grade_score", grader, &totals.score);
            }
        }
        rows
    }
}

/// The stored rows of a run's aggregates (SQLite).
fn read_rows(conn: &Connection, run_id: &str) -> rusqlite::Result<AggregateRows> {
    let key = |row: &rusqlite::Row<'_>| -> rusqlite::Result<GroupKey> {
        Ok((row.get(0)?, row.get(1)?, row.get(2)?))
    };
    let groups = conn
        .prepare_cached(
            "SELECT provider, model, task, samples, errors, passes, fails, input_tokens,
                 output_tokens, cache_read_tokens, cache_write_tokens, reasoning_tokens,
                 total_input_tokens, cost_usd, grader_cost_usd
             FROM run_aggregates WHERE run_id = ?1",
        )?
        .query_map([run_id], |row| {
            Ok(GroupRow {
                key: key(row)?,
                samples: row.get(3)?,
                errors: row.get(4)?,
                passes: row.get(5)?,
                fails: row.get(6)?,
                tokens: TokenTotals {
                    input: row.get(7)?,
                    output: row.get(8)?,
                    cache_read: row.get(9)?,
                    cache_write: row.get(10)?,
                    reasoning: row.get(11)?,
                    total_input: row.get(12)?,
                },
                cost_usd: row.get(13)?,
                grader_cost_usd: row.get(14)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let counts = conn
        .prepare_cached(
            "SELECT provider, model, task, name, label1, label2, value
             FROM run_aggregate_counts WHERE run_id = ?1",
        )?
        .query_map([run_id], |row| {
            Ok(CountRow {
                key: key(row)?,
                name: row.get(3)?,
                label1: row.get(4)?,
                label2: row.get(5)?,
                value: row.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let spend = conn
        .prepare_cached(
            "SELECT provider, model, task, grader, input_tokens, output_tokens, cost_usd
             FROM run_aggregate_grader_spend WHERE run_id = ?1",
        )?
        .query_map([run_id], |row| {
            Ok(SpendRow {
                key: key(row)?,
                grader: row.get(3)?,
                input_tokens: row.get(4)?,
                output_tokens: row.get(5)?,
                cost_usd: row.get(6)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    let histograms = conn
        .prepare_cached(
            "SELECT provider, model, task, name, label, count, sum, buckets_json
             FROM run_aggregate_histograms WHERE run_id = ?1",
        )?
        .query_map([run_id], |row| {
            Ok(HistogramRow {
                key: key(row)?,
                name: row.get(3)?,
                label: row.get(4)?,
                count: row.get(5)?,
                sum: row.get(6)?,
                buckets_json: row.get(7)?,
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(AggregateRows {
        groups,
        counts,
        spend,
        histograms,
    })
}

/// Deletes a run's aggregates and marks it as having none.
pub(crate) fn forget(conn: &Connection, run_id: &str) -> rusqlite::Result<()> {
    for table in [
        "run_aggregate_grader_spend",
        "run_aggregate_histograms",
        "run_aggregate_counts",
        "run_aggregates",
    ] {
        conn.execute(&format!("DELETE FROM {table} WHERE run_id = ?1"), [run_id])?;
    }
    conn.execute(
        "UPDATE runs SET aggregated_at = NULL, histogram_buckets_json = NULL WHERE id = ?1",
        [run_id],
    )?;
    Ok(())
}

fn insert(conn: &Connection, a: &RunAggregates) -> rusqlite::Result<()> {
    let run_id = a.run_id.as_str();
    let rows = AggregateRows::of(a);
    let mut stmt = conn.prepare_cached(
        "INSERT INTO run_aggregates (run_id, provider, model, task, samples, errors, passes,
             fails, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens,
             reasoning_tokens, total_input_tokens, cost_usd, grader_cost_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?;
    for g in &rows.groups {
        let t = &g.tokens;
        stmt.execute(params![
            run_id,
            g.key.0,
            g.key.1,
            g.key.2,
            g.samples,
            g.errors,
            g.passes,
            g.fails,
            t.input,
            t.output,
            t.cache_read,
            t.cache_write,
            t.reasoning,
            t.total_input,
            g.cost_usd,
            g.grader_cost_usd,
        ])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO run_aggregate_counts (run_id, provider, model, task, name, label1, label2,
             value)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for c in &rows.counts {
        stmt.execute(params![
            run_id, c.key.0, c.key.1, c.key.2, c.name, c.label1, c.label2, c.value
        ])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO run_aggregate_grader_spend (run_id, provider, model, task, grader,
             input_tokens, output_tokens, cost_usd)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for s in &rows.spend {
        stmt.execute(params![
            run_id,
            s.key.0,
            s.key.1,
            s.key.2,
            s.grader,
            s.input_tokens,
            s.output_tokens,
            s.cost_usd
        ])?;
    }
    let mut stmt = conn.prepare_cached(
        "INSERT INTO run_aggregate_histograms (run_id, provider, model, task, name, label,
             count, sum, buckets_json)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?;
    for h in &rows.histograms {
        stmt.execute(params![
            run_id,
            h.key.0,
            h.key.1,
            h.key.2,
            h.name,
            h.label,
            h.count,
            h.sum,
            h.buckets_json
        ])?;
    }
    conn.execute(
        "UPDATE runs SET aggregated_at = ?2, histogram_buckets_json = ?3 WHERE id = ?1",
        params![
            run_id,
            crate::utc_now_rfc3339(),
            serde_json::to_string(&a.buckets).expect("numbers serialize"),
        ],
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmbench_core::{
        Completion, Grade, GradeKind, ProviderError, SampleKey, StopReason, Verdict,
    };

    use super::*;
    use crate::NewRun;

    fn buckets() -> HistogramBuckets {
        HistogramBuckets {
            request_seconds: vec![0.01, 0.1, 1.0, 10.0],
            first_token_seconds: vec![0.01, 0.1, 1.0],
            output_tokens_per_second: vec![10.0, 100.0, 1000.0],
            grade_score: vec![0.25, 0.5, 0.75, 1.0],
        }
    }

    /// A sample whose every summed number is a different, inexact float.
    fn record(key: SampleKey, model: &str, n: u32) -> (SampleRecord, Vec<AttemptRecord>) {
        let x = f64::from(n);
        let failed = n.is_multiple_of(11);
        let retries = (n % 3) as usize;
        let mut attempts: Vec<AttemptRecord> = (0..retries)
            .map(|i| AttemptRecord {
                outcome: if i.is_multiple_of(2) {
                    "rate_limited"
                } else {
                    "server"
                }
                .into(),
                http_status: (i.is_multiple_of(2)).then_some(429),
                wait_seconds: 0.1 * x,
                duration_seconds: x.sqrt() / 7.0,
            })
            .collect();
        let mut grades = vec![(
            "g1".to_owned(),
            Grade {
                outcome: if n.is_multiple_of(2) {
                    GradeOutcome::Pass
                } else {
                    GradeOutcome::Fail
                },
                score: (x / 3.0).fract(),
                evidence: format!("evidence {n}"),
                kind: GradeKind::Check,
                usage: None,
                cost_usd: None,
            },
        )];
        if key.task == "t2" {
            grades.push((
                "judge".to_owned(),
                Grade {
                    outcome: GradeOutcome::Error,
                    score: (x * 0.37).fract(),
                    evidence: String::new(),
                    kind: GradeKind::Judgement,
                    usage: Some(Usage {
                        input_tokens: Some(u64::from(n)),
                        output_tokens: (!n.is_multiple_of(4)).then_some(3),
                        ..Usage::default()
                    }),
                    cost_usd: Some(x.sqrt() * 1e-5),
                },
            ));
        }
        let (status, completion, error) = if failed {
            attempts.push(AttemptRecord {
                outcome: "timeout".into(),
                http_status: None,
                wait_seconds: 0.0,
                duration_seconds: x / 13.0,
            });
            grades.clear();
            let error = ProviderError {
                kind: llmbench_core::ProviderErrorKind::Timeout,
                message: "late".into(),
                http_status: None,
                provider_code: None,
                retry_after: None,
                should_retry: None,
            };
            (SampleStatus::Error, None, Some(error))
        } else {
            attempts.push(AttemptRecord {
                outcome: "ok".into(),
                http_status: Some(200),
                wait_seconds: 0.0,
                duration_seconds: x / 17.0,
            });
            let completion = Completion {
                text: format!("answer {n}"),
                stop_reason: StopReason::EndTurn,
                usage: Usage {
                    input_tokens: Some(u64::from(n) * 3),
                    output_tokens: (!n.is_multiple_of(5)).then_some(u64::from(n) + 2),
                    cache_read_tokens: n.is_multiple_of(2).then_some(1),
                    cache_write_tokens: None,
                    reasoning_tokens: None,
                },
                timings: Timings {
                    latency: Duration::from_secs_f64(x.sqrt() / 3.0 + 0.5),
                    time_to_first_token: (n % 4 != 1).then(|| Duration::from_secs_f64(x / 1e4)),
                },
                response_model: None,
            };
            (SampleStatus::Done, Some(completion), None)
        };
        let verdict = (!failed).then_some(Verdict {
            pass: n.is_multiple_of(2),
            score: if n.is_multiple_of(2) { 1.0 } else { 0.0 },
            first_failure: None,
        });
        let record = SampleRecord {
            key,
            model: model.into(),
            status,
            completion,
            error,
            grades,
            verdict,
            cost_usd: (!n.is_multiple_of(6)).then(|| x.sqrt() * 1e-4 + 1.0 / x),
            attempts: attempts.len() as u32,
            request: None,
        };
        (record, attempts)
    }

    /// The aggregates as they were computed before the one-query reading: every sample read
    /// whole in report order, its attempts by a query of their own.
    fn in_report_order(store: &Store, run_id: &str) -> RunAggregates {
        let mut sums = Sums::new(store.buckets.clone().unwrap());
        let mut facts = SampleFacts::default();
        store
            .for_each_sample(run_id, |sample| {
                let attempts = store.attempts(run_id, sample.record.key.id())?;
                facts.set_from(&sample.record, &attempts);
                sums.add(&facts);
                Ok(())
            })
            .unwrap();
        sums.finish(run_id)
    }

    /// A run of 6 groups (config order differs from name order for tasks and providers;
    /// two models under one provider) whose samples are stored in an order unrelated to any
    /// reading order, in groups of 7.
    fn shuffled_run() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::open_in_dir(dir.path()).unwrap();
        store.set_histogram_buckets(buckets());
        store
            .create_run(&NewRun {
                id: "r".into(),
                created_at: "2026-12-06T00:00:00.000Z".into(),
                config_path: "c.toml".into(),
                config_toml: String::new(),
                prices_json: serde_json::json!({}),
                planned_samples: 0,
                providers: vec![
                    ("zeta".into(), "mz".into(), "Zeta".into()),
                    ("alpha".into(), "ma".into(), "Alpha".into()),
                ],
                graders: vec![
                    ("t2".into(), vec!["g1".into(), "judge".into()]),
                    ("t1".into(), vec!["g1".into()]),
                ],
                pass_at_k: vec![],
            })
            .unwrap();
        let mut samples = Vec::new();
        let mut n = 1;
        for task in ["t2", "t1"] {
            for provider in ["zeta", "alpha"] {
                for item in 0..40_u32 {
                    for repeat in 0..3 {
                        // Two models under one provider, interleaved in item order.
                        let model = if provider == "alpha" && item.is_multiple_of(3) {
                            "ma-2"
                        } else {
                            "m"
                        };
                        let key = SampleKey {
                            task: task.into(),
                            item: format!("i{item:02}"),
                            provider: provider.into(),
                            repeat,
                        };
                        samples.push(record(key, model, n));
                        n += 1;
                    }
                }
            }
        }
        fastrand::Rng::with_seed(17).shuffle(&mut samples);
        for group in samples.chunks(7) {
            store
                .record_samples("r", group.iter().map(|(r, a)| (r, a.as_slice())))
                .unwrap();
        }
        (dir, store)
    }

    #[test]
    fn sums_do_not_depend_on_the_order_samples_come_in() {
        let (_dir, store) = shuffled_run();
        // Read in the order of sample ids, in report order, and as they were recorded.
        let computed = store.compute_aggregates("r").unwrap();
        assert_eq!(computed, in_report_order(&store, "r"));
        let live = store
            .live
            .take("r")
            .expect("kept while recorded")
            .finish("r");
        assert_eq!(live, computed);
        let zeta = computed
            .groups
            .iter()
            .find(|g| g.provider == "zeta" && g.task == "t2")
            .unwrap();
        assert_eq!(zeta.samples, 120);
        assert!(zeta.attempt_retries["rate_limited"] > 0);
        assert!(zeta.grades["judge"].cost_usd.is_some());
        assert_eq!(computed.groups.len(), 6, "{:?}", computed.groups);
        // A plain left-to-right sum of the same costs differs in its last bits with the
        // order (else this test would not show that the order does not matter).
        let mut costs = Vec::new();
        store
            .for_each_sample("r", |s| {
                if s.record.key.provider == "zeta" && s.record.key.task == "t2" {
                    costs.extend(s.record.cost_usd);
                }
                Ok(())
            })
            .unwrap();
        let forward: f64 = costs.iter().sum();
        let backward: f64 = costs.iter().rev().sum();
        assert_ne!(forward, backward, "these costs sum alike in any order");
        assert_eq!(zeta.cost_usd, Some(FSum::with_all(&costs).value()));
    }

    #[test]
    fn a_run_that_ends_stores_the_aggregates_kept_while_it_ran() {
        let (_dir, store) = shuffled_run();
        // Changed behind the store's back: the aggregates written at the end are those kept
        // as the samples were recorded, not a reading of the run.
        store
            .conn()
            .unwrap()
            .execute(
                "UPDATE samples SET verdict_pass = NOT verdict_pass
                 WHERE run_id = 'r' AND verdict_pass IS NOT NULL",
                [],
            )
            .unwrap();
        let kept = store.compute_aggregates("r").unwrap();
        store
            .end_run("r", crate::RunStatus::Finished, None)
            .unwrap();
        let stored = store.run_aggregates("r").unwrap();
        assert_ne!(stored, kept);
        let passes = |a: &RunAggregates| a.groups.iter().map(|g| g.passes).sum::<u64>();
        assert_eq!(
            passes(&stored),
            kept.groups.iter().map(|g| g.fails).sum::<u64>()
        );
        assert!(passes(&stored) > 0);
    }

    #[test]
    fn a_run_with_samples_the_store_did_not_record_is_read_again_when_it_ends() {
        let (dir, store) = shuffled_run();
        // One sample more than this store recorded, from another writer.
        let mut other = Store::open_in_dir(dir.path()).unwrap();
        let key = SampleKey {
            task: "t1".into(),
            item: "i99".into(),
            provider: "zeta".into(),
            repeat: 0,
        };
        let (extra, attempts) = record(key, "m", 1000);
        other.record_sample("r", &extra, &attempts).unwrap();
        store
            .end_run("r", crate::RunStatus::Finished, None)
            .unwrap();
        let stored = store.run_aggregates("r").unwrap();
        assert_eq!(stored, store.compute_aggregates("r").unwrap());
        assert_eq!(stored.groups.iter().map(|g| g.samples).sum::<u64>(), 481);
    }

    #[test]
    fn a_resumed_run_is_read_again_when_it_ends() {
        let (dir, store) = shuffled_run();
        store
            .end_run("r", crate::RunStatus::Interrupted, Some("stopped"))
            .unwrap();
        drop(store);
        let mut store = Store::open_in_dir(dir.path()).unwrap();
        store.set_histogram_buckets(buckets());
        store
            .set_run_status("r", crate::RunStatus::Running, None)
            .unwrap();
        assert!(
            store.live.take("r").is_none(),
            "earlier samples are not kept"
        );
        store
            .end_run("r", crate::RunStatus::Finished, None)
            .unwrap();
        let stored = store.run_aggregates("r").unwrap();
        assert_eq!(stored, store.compute_aggregates("r").unwrap());
        assert_eq!(stored.groups.iter().map(|g| g.samples).sum::<u64>(), 480);
    }
}
