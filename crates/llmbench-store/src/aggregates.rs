//! Per-run aggregates: what `serve` needs to rebuild its metrics without reading samples.
//!
//! One [`AggregateGroup`] per run x provider x model x task holds the sums and counts the
//! metrics of a stored sample add up to (see `llmbench_metrics::record_sample` and
//! `SweepTotals`): samples by result, sample errors by kind, failed attempts by outcome and
//! HTTP status, retries, tokens by class, cost, grades by grader and outcome, and the request
//! duration, time to first token, output rate and grade score histograms, counted in the
//! buckets the metrics crate gives ([`HistogramBuckets`]). Replaying a group into the metrics
//! gives the same series as replaying its samples one by one (sums of floating-point values
//! may differ in the last bits, as the order of additions differs).
//!
//! They are written when a run ends ([`Store::end_run`]), forgotten when it runs again, and
//! computed from the samples when asked for and missing (runs stored before schema version
//! 4, a run whose process died) or counted in other buckets. Retention keeps them when it
//! deletes a run's samples.

use std::collections::BTreeMap;

use llmbench_core::{GradeOutcome, SampleStatus, Usage};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use crate::{Store, StoreError};

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

    pub fn observe(&mut self, bounds: &[f64], value: f64) {
        if !value.is_finite() {
            return;
        }
        let i = bounds
            .iter()
            .position(|&b| value <= b)
            .unwrap_or(bounds.len());
        self.buckets[i] += 1;
        self.count += 1;
        self.sum += value;
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
        // On PostgreSQL the one connection streams the samples, so the run's attempts are read
        // first, in one query (a few dozen bytes per attempt in memory).
        let mut pg_attempts = match self.pg() {
            Some(pg) => Some(crate::pg::blocking(&self.path, || {
                self.pg_run_attempts(pg, run_id)
            })?),
            None => None,
        };
        let mut groups: BTreeMap<GroupKey, AggregateGroup> = BTreeMap::new();
        self.for_each_sample(run_id, |sample| {
            let record = sample.record;
            let attempts = match &mut pg_attempts {
                Some(all) => all.remove(&record.key.id().to_string()).unwrap_or_default(),
                None => self.attempts(run_id, record.key.id())?,
            };
            let key = (
                record.key.provider.clone(),
                record.model.clone(),
                record.key.task.clone(),
            );
            let g = groups
                .entry(key)
                .or_insert_with_key(|k| AggregateGroup::new(k, &b));
            g.samples += 1;
            if record.status == SampleStatus::Error {
                g.errors += 1;
            }
            if let Some(e) = &record.error {
                *g.sample_errors
                    .entry(e.kind.as_str().to_owned())
                    .or_default() += 1;
            }
            match (&record.status, &record.verdict) {
                (SampleStatus::Done, Some(v)) if v.pass => g.passes += 1,
                (SampleStatus::Done, Some(_)) => g.fails += 1,
                _ => {}
            }
            for (i, a) in attempts.iter().enumerate() {
                if a.outcome == "ok" {
                    let seconds = record
                        .completion
                        .as_ref()
                        .map_or(a.duration_seconds, |c| c.timings.latency.as_secs_f64());
                    g.request_seconds_success
                        .observe(&b.request_seconds, seconds);
                    continue;
                }
                g.request_seconds_error
                    .observe(&b.request_seconds, a.duration_seconds);
                *g.attempt_errors
                    .entry((a.outcome.clone(), a.http_status))
                    .or_default() += 1;
                if i + 1 < attempts.len() {
                    *g.attempt_retries.entry(a.outcome.clone()).or_default() += 1;
                }
            }
            if let Some(c) = &record.completion {
                if let Some(ttft) = c.timings.time_to_first_token {
                    g.first_token_seconds
                        .observe(&b.first_token_seconds, ttft.as_secs_f64());
                }
                if let Some(rate) = c.timings.output_tokens_per_second(c.usage.output_tokens) {
                    g.output_tokens_per_second
                        .observe(&b.output_tokens_per_second, rate);
                }
                g.tokens.add(&c.usage);
            }
            if let Some(cost) = record.cost_usd {
                g.cost_usd = Some(g.cost_usd.unwrap_or(0.0) + cost);
            }
            for (grader, grade) in &record.grades {
                if let Some(cost) = grade.cost_usd {
                    g.grader_cost_usd = Some(g.grader_cost_usd.unwrap_or(0.0) + cost);
                }
                let totals = g
                    .grades
                    .entry(grader.clone())
                    .or_insert_with(|| GradeTotals::empty(&b.grade_score));
                if let Some(u) = &grade.usage {
                    add_known(&mut totals.input_tokens, u.total_input());
                    add_known(&mut totals.output_tokens, u.output_tokens);
                }
                add_known(&mut totals.cost_usd, grade.cost_usd);
                match grade.outcome {
                    GradeOutcome::Pass => totals.pass += 1,
                    GradeOutcome::Fail => totals.fail += 1,
                    GradeOutcome::Error => totals.error += 1,
                }
                totals
                    .score
                    .observe(&b.grade_score, grade.score.clamp(0.0, 1.0));
            }
            Ok(())
        })?;
        Ok(RunAggregates {
            run_id: run_id.to_owned(),
            buckets: b,
            groups: groups.into_values().collect(),
            samples_deleted: false,
        })
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
