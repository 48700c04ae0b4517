//! Reports that scale with the run: everything the reports say about a run, computed in one
//! streaming pass over its samples ([`SummaryBuilder`]: one sample at a time, as a borrowed
//! [`SampleOutline`], texts not needed), and the few samples a report shows in full
//! ([`Selection`]: failing samples first, a bounded number).
//!
//! A [`Summary`] holds counts, per-model aggregates with their intervals, pass@k, the paired
//! comparisons and the winner by each rule: kilobytes, however many samples the run has.
//!
//! What the builder keeps while it reads is what the statistics cannot do without, and no
//! more: counts, sums and token-count histograms per (task, provider), and per sample only
//! its latency and time to first token (the bootstrap resamples them by position), its item
//! and repeat (report order, pass@k per item, the paired comparisons) and a few bits (answered,
//! graded, passed); a score only when some score is not just 0/1 of its verdict. About 25
//! bytes a sample plus its item name, never a text, never a `String` per sample. The samples
//! may come in any order: the builder puts each model's samples in report order (item, then
//! repeat) itself when they did not come in it, so the figures do not depend on the order the
//! store read them in, but for the last bits of the cost and score sums (summed as they come,
//! which in report order is exactly the order they were always summed in). The bootstrap
//! draws at most [`crate::stats::SUBSAMPLE`] values per resample, so its cost does not grow
//! with the run either.
//!
//! A [`RunReport`] carries its summary as JSON ([`RunReport::summary`]) when its `samples` are
//! a selection; [`Summary::of`] reads it back, or computes it from the samples when there is
//! none (a report built by hand, or by an older host).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use llmbench_core::{
    Grade, GradeKind, GradeOutcome, RunInfo, RunReport, SampleKey, SampleRecord, SampleStatus,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::analysis::{KindCount, ModelAnalysis, PairedComparison, WinnerDecision, WinnerRule};
use crate::pass_at_k::{ModelPassAtK, PassAtK};
use crate::stats::{
    Bootstrap, Statistic, bootstrap_interval, mcnemar, paired_bootstrap, pass_at_k, pass_rate,
};

/// At most this many latencies (and times to first token) per model are kept in a summary
/// for the charts: beyond it, evenly spaced order statistics of them.
pub const CHART_POINTS: usize = 1_000;

/// One sample as a summary reads it: borrowed and without texts, so that a store can hand
/// its rows over without building a [`SampleRecord`] (or any `String`) per sample.
#[derive(Debug, Clone, Copy)]
pub struct SampleOutline<'a> {
    pub task: &'a str,
    pub item: &'a str,
    pub provider: &'a str,
    pub repeat: u32,
    pub status: SampleStatus,
    /// The provider error's kind (`ProviderErrorKind::as_str`) and HTTP status.
    pub error: Option<(&'a str, Option<u16>)>,
    pub answer: Option<AnswerOutline>,
    pub cost_usd: Option<f64>,
    /// The verdict: pass, score.
    pub verdict: Option<(bool, f64)>,
    pub grades: GradesOutline<'a>,
}

/// What a summary reads of an answer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AnswerOutline {
    pub latency: Duration,
    pub time_to_first_token: Option<Duration>,
    /// Input tokens with cache reads and writes (`Usage::total_input`).
    pub total_input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
}

/// What a summary reads of a grade.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GradeOutline<'a> {
    pub grader: &'a str,
    pub pass: bool,
    pub kind: GradeKind,
    pub cost_usd: Option<f64>,
}

/// A sample's grades in order: a record's, outlines, or grades naming their grader by index
/// in a list of names (what a store reads without a `String` per grade).
#[derive(Debug, Clone, Copy)]
pub enum GradesOutline<'a> {
    Records(&'a [(String, Grade)]),
    Outlines(&'a [GradeOutline<'a>]),
    Named {
        names: &'a [String],
        grades: &'a [NamedGrade],
    },
}

/// A grade whose grader is `names[grader]` ([`GradesOutline::Named`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NamedGrade {
    pub grader: usize,
    pub pass: bool,
    pub kind: GradeKind,
    pub cost_usd: Option<f64>,
}

impl<'a> GradesOutline<'a> {
    pub fn iter(self) -> impl Iterator<Item = GradeOutline<'a>> {
        let records: &[(String, Grade)] = match self {
            GradesOutline::Records(r) => r,
            _ => &[],
        };
        let outlines: &[GradeOutline<'a>] = match self {
            GradesOutline::Outlines(o) => o,
            _ => &[],
        };
        let (names, named): (&[String], &[NamedGrade]) = match self {
            GradesOutline::Named { names, grades } => (names, grades),
            _ => (&[], &[]),
        };
        records
            .iter()
            .map(|(grader, g)| GradeOutline {
                grader,
                pass: g.outcome == GradeOutcome::Pass,
                kind: g.kind,
                cost_usd: g.cost_usd,
            })
            .chain(outlines.iter().copied())
            .chain(named.iter().map(move |g| GradeOutline {
                grader: names.get(g.grader).map_or("", String::as_str),
                pass: g.pass,
                kind: g.kind,
                cost_usd: g.cost_usd,
            }))
    }
}

impl<'a> From<&'a SampleRecord> for SampleOutline<'a> {
    fn from(s: &'a SampleRecord) -> Self {
        SampleOutline {
            task: &s.key.task,
            item: &s.key.item,
            provider: &s.key.provider,
            repeat: s.key.repeat,
            status: s.status,
            error: s.error.as_ref().map(|e| (e.kind.as_str(), e.http_status)),
            answer: s.completion.as_ref().map(|c| AnswerOutline {
                latency: c.timings.latency,
                time_to_first_token: c.timings.time_to_first_token,
                total_input_tokens: c.usage.total_input(),
                output_tokens: c.usage.output_tokens,
            }),
            cost_usd: s.cost_usd,
            verdict: s.verdict.as_ref().map(|v| (v.pass, v.score)),
            grades: GradesOutline::Records(&s.grades),
        }
    }
}

impl<'a> From<&'a SampleOutline<'a>> for SampleOutline<'a> {
    fn from(s: &'a SampleOutline<'a>) -> Self {
        *s
    }
}

impl SampleOutline<'_> {
    /// An error, or a failing verdict.
    pub fn failing(&self) -> bool {
        self.error.is_some() || self.verdict.is_some_and(|(pass, _)| !pass)
    }

    fn key(&self) -> SampleKey {
        SampleKey {
            task: self.task.to_owned(),
            item: self.item.to_owned(),
            provider: self.provider.to_owned(),
            repeat: self.repeat,
        }
    }
}

/// `f64` sums start where the standard library's `Sum` starts (so that an empty sum is the
/// same value it always was).
fn zero_sum() -> f64 {
    std::iter::empty::<f64>().sum()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// The value at `q` of the values a histogram counts, as `llmbench_core::quantile` computes
/// it on the values themselves (linear interpolation between the two order statistics
/// around `q (n - 1)`): the same order statistics, the same formula, the same bits.
fn histogram_quantile(counts: &BTreeMap<u64, u64>, q: f64) -> Option<f64> {
    let n: u64 = counts.values().sum();
    if n == 0 {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
    let (lo, hi) = (pos.floor() as u64, pos.ceil() as u64);
    let nth = |k: u64| {
        let mut seen = 0;
        for (&value, &count) in counts {
            seen += count;
            if k < seen {
                return value as f64;
            }
        }
        f64::NAN
    };
    let (a, b) = (nth(lo), nth(hi));
    Some(a + (b - a) * (pos - lo as f64))
}

const ANSWERED: u8 = 1;
const GRADED: u8 = 2;
const PASSED: u8 = 4;

/// What the statistics need of a model's samples on a task that does not depend on their
/// order.
#[derive(Debug, Clone)]
struct Counts {
    task: String,
    provider: String,
    /// Index in [`SummaryBuilder::providers`].
    provider_index: usize,
    samples: u64,
    errors: u64,
    /// Samples with an error or a failing verdict.
    failed: u64,
    error_kinds: BTreeMap<String, u64>,
    /// Error kind with its HTTP status, e.g. `auth (HTTP 401)`.
    error_causes: BTreeMap<String, u64>,
    kinds: [KindCount; 3],
    /// (grader position, grader, failures), in order of first failure.
    failing: Vec<(usize, String, u64)>,
    /// Token counts of the answers: value -> answers (exact medians in little memory).
    inputs: BTreeMap<u64, u64>,
    outputs: BTreeMap<u64, u64>,
    /// Costs and verdict scores summed as they came, and how many.
    cost_sum: f64,
    costs: u64,
    score_sum: f64,
    verdicts: u64,
    passed: u64,
    scores_informative: bool,
}

/// A model's samples on a task, as they come: order-free counts, and per sample what the
/// order-dependent statistics need (structure of arrays: about 25 bytes a sample).
#[derive(Debug, Clone)]
struct Group {
    counts: Counts,
    /// Item names, each kept once per run of equal names (`item_ends[i]` ends name `i`).
    item_names: String,
    item_ends: Vec<usize>,
    /// Per sample: index in the names, repeat, `ANSWERED | GRADED | PASSED` bits, latency
    /// and time to first token in ms (NaN when there is none).
    item: Vec<u32>,
    repeat: Vec<u32>,
    flags: Vec<u8>,
    latency_ms: Vec<f64>,
    ttft_ms: Vec<f64>,
    /// Per sample its verdict's score (NaN without one), kept only from the first score that
    /// is not 0/1 of its verdict on (the earlier ones are filled in then).
    scores: Vec<f64>,
    /// Whether the samples so far came in report order (item, then repeat).
    in_order: bool,
}

/// A model's samples on a task in report order: what the statistics read.
#[derive(Debug, Clone)]
struct Ordered {
    counts: Counts,
    latency_ms: Vec<f64>,
    ttft_ms: Vec<f64>,
    /// Per sample in report order: `ANSWERED | GRADED | PASSED` bits.
    flags: Vec<u8>,
    /// Graded samples in report order: pass, and score (only when informative).
    graded_pass: Vec<bool>,
    graded_score: Option<Vec<f64>>,
    /// SHA-256 of the graded samples' (item, repeat), in order: two providers were graded
    /// on the same items of this task exactly when these agree.
    graded_keys: [u8; 32],
    /// Per item: samples, graded, passed.
    items: Vec<(u32, u32, u32)>,
}

impl Group {
    fn new(task: &str, provider: &str, provider_index: usize) -> Self {
        Self {
            counts: Counts {
                task: task.to_owned(),
                provider: provider.to_owned(),
                provider_index,
                samples: 0,
                errors: 0,
                failed: 0,
                error_kinds: BTreeMap::new(),
                error_causes: BTreeMap::new(),
                kinds: [GradeKind::Check, GradeKind::Execution, GradeKind::Judgement].map(|kind| {
                    KindCount {
                        kind,
                        grades: 0,
                        passed: 0,
                    }
                }),
                failing: Vec::new(),
                inputs: BTreeMap::new(),
                outputs: BTreeMap::new(),
                cost_sum: zero_sum(),
                costs: 0,
                score_sum: zero_sum(),
                verdicts: 0,
                passed: 0,
                scores_informative: false,
            },
            item_names: String::new(),
            item_ends: Vec::new(),
            item: Vec::new(),
            repeat: Vec::new(),
            flags: Vec::new(),
            latency_ms: Vec::new(),
            ttft_ms: Vec::new(),
            scores: Vec::new(),
            in_order: true,
        }
    }

    fn name(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.item_ends[i - 1] };
        &self.item_names[start..self.item_ends[i]]
    }

    fn add(&mut self, s: &SampleOutline<'_>) {
        let c = &mut self.counts;
        c.samples += 1;
        if s.status == SampleStatus::Error {
            c.errors += 1;
            let kind = s.error.map_or("unknown", |(kind, _)| kind);
            match c.error_kinds.get_mut(kind) {
                Some(n) => *n += 1,
                None => {
                    c.error_kinds.insert(kind.to_owned(), 1);
                }
            }
        }
        if s.failing() {
            c.failed += 1;
        }
        if s.status != SampleStatus::Done {
            let cause = match s.error {
                Some((kind, Some(status))) => format!("{kind} (HTTP {status})"),
                Some((kind, None)) => kind.to_owned(),
                None => "no answer".to_owned(),
            };
            *c.error_causes.entry(cause).or_default() += 1;
        }
        if let Some(a) = &s.answer {
            if let Some(n) = a.total_input_tokens {
                *c.inputs.entry(n).or_default() += 1;
            }
            if let Some(n) = a.output_tokens {
                *c.outputs.entry(n).or_default() += 1;
            }
        }
        if let Some(cost) = s.cost_usd {
            c.cost_sum += cost;
            c.costs += 1;
        }
        for (position, g) in s.grades.iter().enumerate() {
            let k = c
                .kinds
                .iter_mut()
                .find(|k| k.kind == g.kind)
                .expect("every kind is listed");
            k.grades += 1;
            if g.pass {
                k.passed += 1;
            } else {
                match c.failing.iter_mut().find(|(_, n, _)| n == g.grader) {
                    Some((_, _, count)) => *count += 1,
                    None => c.failing.push((position, g.grader.to_owned(), 1)),
                }
            }
        }
        let mut flags = 0;
        if let Some((pass, score)) = s.verdict {
            flags |= GRADED | if pass { PASSED } else { 0 };
            c.score_sum += score;
            c.verdicts += 1;
            c.passed += u64::from(pass);
            if score != if pass { 1.0 } else { 0.0 } && !c.scores_informative {
                c.scores_informative = true;
                // Every earlier score was 0/1 of its verdict.
                self.scores = self
                    .flags
                    .iter()
                    .map(|f| match (f & GRADED != 0, f & PASSED != 0) {
                        (false, _) => f64::NAN,
                        (true, pass) => f64::from(u8::from(pass)),
                    })
                    .collect();
            }
        }
        if self.counts.scores_informative {
            self.scores
                .push(s.verdict.map_or(f64::NAN, |(_, score)| score));
        }
        // The item: the last name again, or a new one (and whether the order still holds).
        let last = self.item.last().copied();
        let item = match last {
            Some(i) if self.name(i) == s.item => {
                if self.in_order && self.repeat.last().is_some_and(|&r| r >= s.repeat) {
                    self.in_order = false;
                }
                i
            }
            _ => {
                if self.in_order && last.is_some_and(|i| self.name(i) > s.item) {
                    self.in_order = false;
                }
                self.item_names.push_str(s.item);
                self.item_ends.push(self.item_names.len());
                // More than 4 billion names in one group would not fit in memory anyway.
                u32::try_from(self.item_ends.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.item.push(item);
        self.repeat.push(s.repeat);
        match &s.answer {
            Some(a) => {
                flags |= ANSWERED;
                self.latency_ms.push(ms(a.latency));
                self.ttft_ms
                    .push(a.time_to_first_token.map_or(f64::NAN, ms));
            }
            None => {
                self.latency_ms.push(f64::NAN);
                self.ttft_ms.push(f64::NAN);
            }
        }
        self.flags.push(flags);
    }

    /// The samples in report order (sorted by item name, then repeat, when they did not
    /// come so), as the statistics read them. Each per-sample array is reordered (or kept)
    /// and filtered in turn, so that memory holds little more than one copy of them.
    fn into_ordered(mut self) -> Ordered {
        if !self.in_order {
            let mut order: Vec<u32> = (0..self.item.len() as u32).collect();
            order.sort_unstable_by(|&a, &b| {
                let (a, b) = (a as usize, b as usize);
                self.name(self.item[a])
                    .cmp(self.name(self.item[b]))
                    .then(self.repeat[a].cmp(&self.repeat[b]))
            });
            permute(&mut self.item, &order);
            permute(&mut self.repeat, &order);
            permute(&mut self.flags, &order);
            permute(&mut self.latency_ms, &order);
            permute(&mut self.ttft_ms, &order);
            permute(&mut self.scores, &order);
        }
        let mut graded_pass = Vec::new();
        let mut graded_score = self.counts.scores_informative.then(Vec::new);
        let mut graded_keys = Sha256::new();
        let mut items: Vec<(u32, u32, u32)> = Vec::new();
        let mut last_item: Option<u32> = None;
        for (j, &flags) in self.flags.iter().enumerate() {
            // In report order, equal names are adjacent; equal ids are equal names.
            let id = self.item[j];
            let name = self.name(id);
            if last_item.is_none_or(|last| last != id && self.name(last) != name) {
                items.push((0, 0, 0));
            }
            last_item = Some(id);
            let entry = items.last_mut().expect("pushed above");
            entry.0 += 1;
            if flags & GRADED != 0 {
                let pass = flags & PASSED != 0;
                entry.1 += 1;
                entry.2 += u32::from(pass);
                graded_pass.push(pass);
                if let Some(scores) = &mut graded_score {
                    scores.push(self.scores[j]);
                }
                graded_keys.update(name.as_bytes());
                graded_keys.update([0]);
                graded_keys.update(self.repeat[j].to_le_bytes());
            }
        }
        drop((
            self.item_names,
            self.item_ends,
            self.item,
            self.repeat,
            self.scores,
        ));
        // Latencies of the answers only; times to first token of those that have one.
        let mut i = 0;
        self.latency_ms.retain(|_| {
            i += 1;
            self.flags[i - 1] & ANSWERED != 0
        });
        self.ttft_ms.retain(|t| !t.is_nan());
        self.latency_ms.shrink_to_fit();
        self.ttft_ms.shrink_to_fit();
        Ordered {
            counts: self.counts,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            flags: self.flags,
            graded_pass,
            graded_score,
            graded_keys: graded_keys.finalize().into(),
            items,
        }
    }

    /// The graded samples' latencies in report order (NaN without an answer), from the
    /// answers' latencies and each sample's bits.
    fn graded_latency(flags: &[u8], latency_ms: &[f64]) -> impl Iterator<Item = f64> {
        let mut answers = latency_ms.iter().copied();
        flags.iter().filter_map(move |&f| {
            let latency = if f & ANSWERED != 0 {
                answers.next().unwrap_or(f64::NAN)
            } else {
                f64::NAN
            };
            (f & GRADED != 0).then_some(latency)
        })
    }
}

/// Puts `values` in `order` in place (`values[i]` becomes the old `values[order[i]]`),
/// following each cycle of the permutation: no second copy of the values, one bit per value
/// to mark those done. `values` empty is left so (scores not kept).
fn permute<T: Copy>(values: &mut [T], order: &[u32]) {
    if values.len() != order.len() {
        return;
    }
    let mut done = vec![0u64; order.len().div_ceil(64)];
    for start in 0..order.len() {
        if done[start / 64] & (1 << (start % 64)) != 0 {
            continue;
        }
        let first = values[start];
        let mut at = start;
        loop {
            done[at / 64] |= 1 << (at % 64);
            let from = order[at] as usize;
            if from == start {
                values[at] = first;
                break;
            }
            values[at] = values[from];
            at = from;
        }
    }
}

/// A name's place in the run's list (config order); names not in it come after (and are
/// then ordered by name).
fn rank<'a>(mut names: impl Iterator<Item = &'a str>, name: &str) -> usize {
    names.position(|n| n == name).unwrap_or(usize::MAX)
}

/// Report order of samples: task, provider (each in config order, others after by name),
/// item, repeat.
fn report_order(run: &RunInfo, a: &SampleKey, b: &SampleKey) -> Ordering {
    let task = |k: &SampleKey| rank(run.graders.iter().map(|(t, _)| t.as_str()), &k.task);
    let provider = |k: &SampleKey| {
        rank(
            run.providers.iter().map(|(p, _, _)| p.as_str()),
            &k.provider,
        )
    };
    (
        task(a),
        &a.task,
        provider(a),
        &a.provider,
        &a.item,
        a.repeat,
    )
        .cmp(&(
            task(b),
            &b.task,
            provider(b),
            &b.provider,
            &b.item,
            b.repeat,
        ))
}

/// Per provider over all tasks: costs and scores summed as they came (in report order, the
/// order the per-provider figures always summed them in).
#[derive(Debug, Clone)]
struct ProviderSums {
    provider: String,
    cost_sum: f64,
    score_sum: f64,
}

/// Builds a [`Summary`] from a run's samples, given one at a time, in any order (report
/// order costs least: nothing to sort).
#[derive(Debug)]
pub struct SummaryBuilder {
    run: RunInfo,
    groups: Vec<Group>,
    /// task -> provider -> index in `groups`.
    index: HashMap<String, HashMap<String, usize>>,
    /// The group of the previous sample (the next one is most often of the same).
    last: Option<usize>,
    providers: Vec<ProviderSums>,
    samples: u64,
    without_answer: u64,
    failures: u64,
    grader_cost: f64,
    grader_costs: u64,
}

/// The builder's groups in report order, each in report order: what the analyses read.
#[derive(Debug)]
struct Finished {
    run: RunInfo,
    groups: Vec<Ordered>,
    providers: Vec<ProviderSums>,
}

impl SummaryBuilder {
    pub fn new(run: &RunInfo) -> Self {
        Self {
            run: run.clone(),
            groups: Vec::new(),
            index: HashMap::new(),
            last: None,
            providers: Vec::new(),
            samples: 0,
            without_answer: 0,
            failures: 0,
            grader_cost: zero_sum(),
            grader_costs: 0,
        }
    }

    /// Counts one sample (a [`SampleRecord`] or a [`SampleOutline`]); its texts are not read.
    pub fn add<'a>(&mut self, s: impl Into<SampleOutline<'a>>) {
        let s = s.into();
        self.samples += 1;
        if s.answer.is_none() {
            self.without_answer += 1;
        }
        if s.failing() {
            self.failures += 1;
        }
        for cost in s.grades.iter().filter_map(|g| g.cost_usd) {
            self.grader_cost += cost;
            self.grader_costs += 1;
        }
        let i = match self.last {
            Some(i)
                if self.groups[i].counts.task == s.task
                    && self.groups[i].counts.provider == s.provider =>
            {
                i
            }
            _ => self.group(s.task, s.provider),
        };
        self.last = Some(i);
        let group = &mut self.groups[i];
        let sums = &mut self.providers[group.counts.provider_index];
        if let Some(cost) = s.cost_usd {
            sums.cost_sum += cost;
        }
        if let Some((_, score)) = s.verdict {
            sums.score_sum += score;
        }
        group.add(&s);
    }

    fn group(&mut self, task: &str, provider: &str) -> usize {
        if let Some(&i) = self.index.get(task).and_then(|m| m.get(provider)) {
            return i;
        }
        let p = match self.providers.iter().position(|p| p.provider == provider) {
            Some(p) => p,
            None => {
                self.providers.push(ProviderSums {
                    provider: provider.to_owned(),
                    cost_sum: zero_sum(),
                    score_sum: zero_sum(),
                });
                self.providers.len() - 1
            }
        };
        self.groups.push(Group::new(task, provider, p));
        let i = self.groups.len() - 1;
        self.index
            .entry(task.to_owned())
            .or_default()
            .insert(provider.to_owned(), i);
        i
    }

    /// The groups in report order, each in report order.
    fn ordered(&mut self) -> Finished {
        let run = &self.run;
        let key = |g: &Group| {
            (
                rank(run.graders.iter().map(|(t, _)| t.as_str()), &g.counts.task),
                g.counts.task.clone(),
                rank(
                    run.providers.iter().map(|(p, _, _)| p.as_str()),
                    &g.counts.provider,
                ),
                g.counts.provider.clone(),
            )
        };
        let mut groups = std::mem::take(&mut self.groups);
        groups.sort_by_cached_key(key);
        self.index.clear();
        self.last = None;
        Finished {
            run: self.run.clone(),
            // One group at a time: its per-sample arrays are freed as its ordered ones fill.
            groups: groups.into_iter().map(Group::into_ordered).collect(),
            providers: std::mem::take(&mut self.providers),
        }
    }

    /// Every analysis the reports show, with `bootstrap`'s settings.
    pub fn finish(mut self, bootstrap: &Bootstrap) -> Summary {
        let done = self.ordered();
        let run = &done.run;
        let tasks: Vec<String> = run.graders.iter().map(|(t, _)| t.clone()).collect();
        let overall = done.analyze(None, bootstrap);
        let per_task: Vec<(String, Vec<ModelAnalysis>)> = tasks
            .iter()
            .map(|t| (t.clone(), done.analyze(Some(t), bootstrap)))
            .collect();
        let any_repeated = done.groups.iter().any(|g| g.items.iter().any(|i| i.0 > 1));
        let mut ks: Vec<u32> = run.pass_at_k.iter().copied().filter(|&k| k > 0).collect();
        ks.sort_unstable();
        ks.dedup();
        if ks.is_empty() && any_repeated {
            ks.push(1);
        }
        let pass_at_k = done.pass_at_k(None, &ks, bootstrap);
        let pass_at_k_per_task = if tasks.len() > 1 {
            tasks
                .iter()
                .flat_map(|t| done.pass_at_k(Some(t), &ks, bootstrap))
                .collect()
        } else {
            Vec::new()
        };
        let mut comparisons = Vec::new();
        for (i, a) in overall.iter().enumerate() {
            for b in &overall[i + 1..] {
                if a.pass_rate.is_none() || b.pass_rate.is_none() {
                    continue;
                }
                comparisons.push(Comparison {
                    a: a.provider.clone(),
                    b: b.provider.clone(),
                    a_label: a.label.clone(),
                    b_label: b.label.clone(),
                    paired: done.paired(&a.provider, &b.provider, bootstrap),
                });
            }
        }
        let winners = WinnerRule::ALL
            .into_iter()
            .map(|rule| {
                crate::analysis::choose_winner_from(&overall, rule, |a, b| {
                    done.paired(a, b, bootstrap)
                })
            })
            .collect();
        let error_causes = run
            .providers
            .iter()
            .map(|(p, _, _)| {
                let mut causes: BTreeMap<String, u64> = BTreeMap::new();
                for g in done.groups.iter().filter(|g| &g.counts.provider == p) {
                    for (cause, n) in &g.counts.error_causes {
                        *causes.entry(cause.clone()).or_default() += n;
                    }
                }
                let mut causes: Vec<(String, u64)> = causes.into_iter().collect();
                causes.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                (p.clone(), causes)
            })
            .collect();
        let failed_per_provider = run
            .providers
            .iter()
            .map(|(p, _, _)| {
                let n = done
                    .groups
                    .iter()
                    .filter(|g| &g.counts.provider == p)
                    .map(|g| g.counts.failed)
                    .sum();
                (p.clone(), n)
            })
            .collect();
        Summary {
            samples: self.samples,
            without_answer: self.without_answer,
            failures: self.failures,
            grader_cost: (self.grader_costs > 0).then_some((self.grader_cost, self.grader_costs)),
            resamples: bootstrap.resamples,
            // Values thinned for the charts over all tasks, none per task
            // (`analyze_groups`).
            overall,
            per_task,
            ks,
            pass_at_k,
            pass_at_k_per_task,
            comparisons,
            winners,
            error_causes,
            failed_per_provider,
        }
    }

    /// One analysis per provider in config order, over `task` or over all tasks.
    pub(crate) fn analyze(
        mut self,
        task: Option<&str>,
        bootstrap: &Bootstrap,
    ) -> Vec<ModelAnalysis> {
        self.ordered().analyze(task, bootstrap)
    }
}

impl Finished {
    fn groups_of<'a>(
        &'a self,
        provider: &'a str,
        task: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Ordered> + 'a {
        self.groups.iter().filter(move |g| {
            g.counts.provider == provider && task.is_none_or(|t| g.counts.task == t)
        })
    }

    /// One analysis per provider in config order, over `task` or over all tasks.
    fn analyze(&self, task: Option<&str>, bootstrap: &Bootstrap) -> Vec<ModelAnalysis> {
        self.run
            .providers
            .iter()
            .map(|(provider, model, label)| {
                let groups: Vec<&Ordered> = self.groups_of(provider, task).collect();
                // Over all tasks, the provider's sums (in the order its samples came);
                // on one task, its one group's.
                let sums = match task {
                    None => self
                        .providers
                        .iter()
                        .find(|p| &p.provider == provider)
                        .map(|p| (p.cost_sum, p.score_sum)),
                    Some(_) => groups
                        .first()
                        .map(|g| (g.counts.cost_sum, g.counts.score_sum)),
                }
                .unwrap_or((zero_sum(), zero_sum()));
                analyze_groups(&groups, sums, task, provider, model, label, bootstrap)
            })
            .collect()
    }

    fn pass_at_k(
        &self,
        task: Option<&str>,
        ks: &[u32],
        bootstrap: &Bootstrap,
    ) -> Vec<ModelPassAtK> {
        self.run
            .providers
            .iter()
            .map(|(provider, model, label)| {
                let items = || {
                    self.groups_of(provider, task)
                        .flat_map(|g| g.items.iter().copied())
                };
                let count = items().count();
                let values = ks
                    .iter()
                    .map(|&k| {
                        let per_item: Vec<f64> = items()
                            .filter_map(|i| pass_at_k(u64::from(i.1), u64::from(i.2), k))
                            .collect();
                        PassAtK {
                            k,
                            estimate: bootstrap_interval(&per_item, Statistic::Mean, bootstrap),
                            excluded: (count - per_item.len()) as u64,
                        }
                    })
                    .collect();
                ModelPassAtK {
                    task: task.map(str::to_owned),
                    provider: provider.clone(),
                    model: model.clone(),
                    label: label.clone(),
                    items: count as u64,
                    values,
                }
            })
            .collect()
    }

    /// Providers `a` and `b` compared item by item over all tasks, or `None` when they were
    /// not graded on the same (task, item, repeat) or on none.
    fn paired(&self, a: &str, b: &str, bootstrap: &Bootstrap) -> Option<PairedComparison> {
        let keys = |p: &str| -> Vec<(String, [u8; 32], usize)> {
            self.groups_of(p, None)
                .filter(|g| !g.graded_pass.is_empty())
                .map(|g| (g.counts.task.clone(), g.graded_keys, g.graded_pass.len()))
                .collect()
        };
        let (ka, kb) = (keys(a), keys(b));
        if ka.is_empty() || ka != kb {
            return None;
        }
        let label = |p: &str| {
            self.run
                .providers
                .iter()
                .find(|(name, _, _)| name == p)
                .map_or_else(|| p.to_owned(), |(_, _, l)| l.clone())
        };
        let ga: Vec<&Ordered> = self.groups_of(a, None).collect();
        let gb: Vec<&Ordered> = self.groups_of(b, None).collect();
        let pa = ga.iter().flat_map(|g| g.graded_pass.iter().copied());
        let pb = gb.iter().flat_map(|g| g.graded_pass.iter().copied());
        let pairs: Vec<(bool, bool)> = pa.zip(pb).collect();
        let informative = ga.iter().chain(&gb).any(|g| g.counts.scores_informative);
        // A group whose scores are all 0/1 of their verdicts keeps none: they are its passes.
        let scores = |gs: &[&Ordered]| -> Vec<f64> {
            gs.iter()
                .flat_map(|g| -> Box<dyn Iterator<Item = f64> + '_> {
                    match &g.graded_score {
                        Some(scores) => Box::new(scores.iter().copied()),
                        None => Box::new(g.graded_pass.iter().map(|&p| f64::from(u8::from(p)))),
                    }
                })
                .collect()
        };
        let (la, lb): (Vec<f64>, Vec<f64>) = ga
            .iter()
            .flat_map(|g| Group::graded_latency(&g.flags, &g.latency_ms))
            .zip(
                gb.iter()
                    .flat_map(|g| Group::graded_latency(&g.flags, &g.latency_ms)),
            )
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .unzip();
        Some(PairedComparison {
            a: a.to_owned(),
            b: b.to_owned(),
            a_label: label(a),
            b_label: label(b),
            mcnemar: mcnemar(&pairs),
            score: informative
                .then(|| paired_bootstrap(&scores(&ga), &scores(&gb), Statistic::Mean, bootstrap))
                .flatten(),
            latency: paired_bootstrap(&la, &lb, Statistic::Median, bootstrap),
            confidence: bootstrap.confidence,
        })
    }
}

fn analyze_groups(
    groups: &[&Ordered],
    (cost_sum, score_sum): (f64, f64),
    task: Option<&str>,
    provider: &str,
    model: &str,
    label: &str,
    bootstrap: &Bootstrap,
) -> ModelAnalysis {
    // One group's values are borrowed, several groups' put end to end.
    let cat = |f: fn(&Ordered) -> &Vec<f64>| -> Cow<'_, [f64]> {
        match groups {
            [one] => Cow::Borrowed(f(one).as_slice()),
            _ => Cow::Owned(groups.iter().flat_map(|g| f(g).iter().copied()).collect()),
        }
    };
    let latency_ms = cat(|g| &g.latency_ms);
    let ttft_ms = cat(|g| &g.ttft_ms);
    let merge = |f: fn(&Counts) -> &BTreeMap<u64, u64>| -> BTreeMap<u64, u64> {
        let mut all = BTreeMap::new();
        for g in groups {
            for (&value, &n) in f(&g.counts) {
                *all.entry(value).or_default() += n;
            }
        }
        all
    };
    let sum = |f: fn(&Counts) -> u64| -> u64 { groups.iter().map(|g| f(&g.counts)).sum() };
    let verdicts = sum(|c| c.verdicts);
    let passed = sum(|c| c.passed);
    let samples = sum(|c| c.samples);
    let errors = sum(|c| c.errors);
    let costs = sum(|c| c.costs);
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for g in groups {
        for (k, n) in &g.counts.error_kinds {
            *error_kinds.entry(k.clone()).or_default() += n;
        }
    }
    let mut error_kinds: Vec<_> = error_kinds.into_iter().collect();
    error_kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut failing: Vec<(usize, String, u64)> = Vec::new();
    let mut kinds =
        [GradeKind::Check, GradeKind::Execution, GradeKind::Judgement].map(|kind| KindCount {
            kind,
            grades: 0,
            passed: 0,
        });
    for g in groups {
        for (k, gk) in kinds.iter_mut().zip(&g.counts.kinds) {
            k.grades += gk.grades;
            k.passed += gk.passed;
        }
        for (position, name, count) in &g.counts.failing {
            match failing.iter_mut().find(|(_, n, _)| n == name) {
                Some((_, _, c)) => *c += count,
                None => failing.push((*position, name.clone(), *count)),
            }
        }
    }
    failing.sort_by_key(|(position, _, _)| *position);
    ModelAnalysis {
        task: task.map(str::to_owned),
        provider: provider.to_owned(),
        model: model.to_owned(),
        label: label.to_owned(),
        samples,
        errors,
        error_kinds,
        pass_rate: pass_rate(passed, verdicts),
        score_mean: (verdicts > 0).then(|| score_sum / verdicts as f64),
        answers: latency_ms.len() as u64,
        latency_median: bootstrap_interval(&latency_ms, Statistic::Median, bootstrap),
        latency_p90: bootstrap_interval(&latency_ms, Statistic::Quantile(0.9), bootstrap),
        latency_p95: bootstrap_interval(&latency_ms, Statistic::Quantile(0.95), bootstrap),
        ttft_median: bootstrap_interval(&ttft_ms, Statistic::Median, bootstrap),
        // The charts' values: over all tasks only, and thinned here, from the borrowed values
        // (a copy of every latency kept until the summary was done was 16 bytes per sample
        // at the peak of a large run's report, twice with one task).
        latency_ms: match task {
            None => thin_values(&latency_ms),
            Some(_) => Vec::new(),
        },
        ttft_ms: match task {
            None => thin_values(&ttft_ms),
            Some(_) => Vec::new(),
        },
        input_tokens_median: histogram_quantile(&merge(|c| &c.inputs), 0.5),
        output_tokens_median: histogram_quantile(&merge(|c| &c.outputs), 0.5),
        cost_usd_mean: (costs > 0).then(|| cost_sum / costs as f64),
        cost_usd_total: cost_sum,
        cost_unknown: samples - costs,
        grade_kinds: kinds.into_iter().filter(|k| k.grades > 0).collect(),
        failing_graders: failing.into_iter().map(|(_, n, c)| (n, c)).collect(),
    }
}

/// At most [`CHART_POINTS`] values: all of them, or evenly spaced order statistics.
fn thin_values(values: &[f64]) -> Vec<f64> {
    if values.len() <= CHART_POINTS {
        return values.to_vec();
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    (0..CHART_POINTS)
        .map(|i| sorted[(i as f64 * last / (CHART_POINTS - 1) as f64).round() as usize])
        .collect()
}

/// Two models' comparison over all tasks; `paired` is `None` when they were not graded on
/// the same items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub a_label: String,
    pub b_label: String,
    pub paired: Option<PairedComparison>,
}

/// Everything the built-in reports and the Markdown reporter say about a run, from all its
/// samples. See the module documentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Samples recorded.
    pub samples: u64,
    /// Samples without an answer.
    pub without_answer: u64,
    /// Samples with a provider error or a failing verdict.
    pub failures: u64,
    /// What graders spent (a judge model): total USD and the number of grades with a cost.
    pub grader_cost: Option<(f64, u64)>,
    /// The bootstrap resamples behind the intervals.
    pub resamples: u32,
    /// Per provider in config order, over all tasks. `latency_ms` and `ttft_ms` hold at most
    /// [`CHART_POINTS`] values (evenly spaced order statistics when there were more);
    /// `answers` counts them all.
    pub overall: Vec<ModelAnalysis>,
    /// Per task in config order, per provider; without `latency_ms` and `ttft_ms` values.
    pub per_task: Vec<(String, Vec<ModelAnalysis>)>,
    /// The k of pass@k shown ([`crate::pass_at_k::ks_for`]).
    pub ks: Vec<u32>,
    /// pass@k per provider over all tasks, then per task and provider (several tasks only).
    pub pass_at_k: Vec<ModelPassAtK>,
    pub pass_at_k_per_task: Vec<ModelPassAtK>,
    /// Each pair of graded providers, in config order.
    pub comparisons: Vec<Comparison>,
    /// The winner by each rule of [`WinnerRule::ALL`].
    pub winners: Vec<WinnerDecision>,
    /// Per provider: why samples got no answer (`kind (HTTP status)`), most frequent first.
    pub error_causes: Vec<(String, Vec<(String, u64)>)>,
    /// Per provider: samples with an error or a failing verdict.
    pub failed_per_provider: Vec<(String, u64)>,
}

impl Summary {
    /// The summary of `samples` (in report order) of `run`.
    pub fn of_samples<'a>(
        run: &RunInfo,
        samples: impl IntoIterator<Item = &'a SampleRecord>,
        bootstrap: &Bootstrap,
    ) -> Summary {
        let mut b = SummaryBuilder::new(run);
        for s in samples {
            b.add(s);
        }
        b.finish(bootstrap)
    }

    /// The summary `report` carries, or, when it carries none (or an unreadable one), the
    /// summary of its samples.
    pub fn of(report: &RunReport, bootstrap: &Bootstrap) -> Summary {
        report
            .summary
            .as_ref()
            .and_then(|v| Summary::deserialize(v).ok())
            .unwrap_or_else(|| Summary::of_samples(&report.run, &report.samples, bootstrap))
    }

    /// As JSON, for [`RunReport::summary`].
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// The decision for `rule`.
    pub fn winner(&self, rule: WinnerRule) -> Option<&WinnerDecision> {
        self.winners.iter().find(|w| w.rule == rule)
    }

    /// Samples with an error or a failing verdict of `provider`.
    pub fn failed(&self, provider: &str) -> u64 {
        self.failed_per_provider
            .iter()
            .find(|(p, _)| p == provider)
            .map_or(0, |(_, n)| *n)
    }
}

/// How many samples a report keeps in full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleLimits {
    /// At most this many samples in full (failing ones first); a run with no more than this
    /// keeps every sample, in report order.
    pub full: usize,
    /// Failing samples kept per provider, even beyond `full` (the Markdown report lists up
    /// to this many per model).
    pub failing_per_provider: usize,
}

impl Default for SampleLimits {
    fn default() -> Self {
        Self {
            full: 200,
            failing_per_provider: 30,
        }
    }
}

/// Chooses the samples a report shows in full from a run's samples, without holding them:
/// their keys only. Keeps every sample of a run of at most `limits.full`; otherwise the
/// failing samples first (the first `limits.full` of the run, and the first
/// `limits.failing_per_provider` of each provider), then passing ones up to `limits.full` in
/// all, and always each provider's first answer and first failing answer (the Markdown
/// report quotes one). "First" is in report order (task, provider, item, repeat) whatever
/// order the samples are offered in: each of those sets is kept as the least keys seen so
/// far, in bounded memory.
#[derive(Debug)]
pub struct Selection {
    limits: SampleLimits,
    run: RunInfo,
    seen: u64,
    /// The first `full` failing samples, and the first `full` passing ones.
    failing: Least,
    passing: Least,
    /// Per provider: its first failing samples, its first answer, its first failing answer.
    providers: HashMap<String, [Least; 3]>,
}

/// The least `k` sample keys offered, in report order.
#[derive(Debug, Default)]
struct Least {
    k: usize,
    /// Sorted in report order, with whether each is failing; at most `k`.
    keys: Vec<(SampleKey, bool)>,
}

impl Least {
    fn new(k: usize) -> Self {
        Self {
            k,
            keys: Vec::new(),
        }
    }

    fn offer(&mut self, run: &RunInfo, s: &SampleOutline<'_>) {
        if self.k == 0 {
            return;
        }
        if self.keys.len() == self.k
            && self
                .keys
                .last()
                .is_some_and(|(last, _)| outline_order(run, s, last) != Ordering::Less)
        {
            return;
        }
        // Keys come in report order most of the time: then this is a push at the end.
        let at = self
            .keys
            .partition_point(|(k, _)| outline_order(run, s, k) == Ordering::Greater);
        self.keys.insert(at, (s.key(), s.failing()));
        self.keys.truncate(self.k);
    }
}

/// `s` against `k` in report order, without copying `s`'s key.
fn outline_order(run: &RunInfo, s: &SampleOutline<'_>, k: &SampleKey) -> Ordering {
    let task = |t: &str| rank(run.graders.iter().map(|(t, _)| t.as_str()), t);
    let provider = |p: &str| rank(run.providers.iter().map(|(p, _, _)| p.as_str()), p);
    let tasks = if s.task == k.task {
        Ordering::Equal
    } else {
        (task(s.task), s.task).cmp(&(task(&k.task), k.task.as_str()))
    };
    let providers = || {
        if s.provider == k.provider {
            Ordering::Equal
        } else {
            (provider(s.provider), s.provider).cmp(&(provider(&k.provider), k.provider.as_str()))
        }
    };
    tasks
        .then_with(providers)
        .then_with(|| s.item.cmp(&k.item))
        .then_with(|| s.repeat.cmp(&k.repeat))
}

impl Selection {
    /// A selection from the samples of `run` (whose config gives the report order).
    pub fn new(limits: SampleLimits, run: &RunInfo) -> Self {
        Self {
            limits,
            run: run.clone(),
            seen: 0,
            failing: Least::new(limits.full),
            passing: Least::new(limits.full),
            providers: HashMap::new(),
        }
    }

    /// Offers one sample (a [`SampleRecord`] or a [`SampleOutline`]); its key is copied only
    /// when it is among the least so far of a set kept.
    pub fn offer<'a>(&mut self, s: impl Into<SampleOutline<'a>>) {
        let s = s.into();
        self.seen += 1;
        let failing = s.failing();
        if !self.providers.contains_key(s.provider) {
            let per = self.limits.failing_per_provider;
            self.providers.insert(
                s.provider.to_owned(),
                [Least::new(per), Least::new(1), Least::new(1)],
            );
        }
        let [p_failing, first_answer, first_failing_answer] =
            self.providers.get_mut(s.provider).expect("inserted above");
        if failing {
            self.failing.offer(&self.run, &s);
            p_failing.offer(&self.run, &s);
        } else {
            self.passing.offer(&self.run, &s);
        }
        if s.answer.is_some() {
            first_answer.offer(&self.run, &s);
            if failing {
                first_failing_answer.offer(&self.run, &s);
            }
        }
    }

    /// The keys to read in full, in the order a report shows them, and whether that is
    /// fewer than every sample.
    pub fn finish(self) -> (Vec<SampleKey>, bool) {
        // Every key kept, once, with whether it is failing, in report order.
        let mut kept: Vec<(SampleKey, bool)> = Vec::new();
        kept.extend(self.failing.keys);
        kept.extend(self.passing.keys);
        for sets in self.providers.into_values() {
            for set in sets {
                kept.extend(set.keys);
            }
        }
        let run = &self.run;
        kept.sort_by(|a, b| report_order(run, &a.0, &b.0));
        kept.dedup_by(|a, b| a.0 == b.0);
        if self.seen <= self.limits.full as u64 {
            return (kept.into_iter().map(|(k, _)| k).collect(), false);
        }
        let (failing, passing): (Vec<_>, Vec<_>) = kept.into_iter().partition(|(_, f)| *f);
        let room = self.limits.full.saturating_sub(failing.len());
        let mut keys: Vec<SampleKey> = failing.into_iter().map(|(k, _)| k).collect();
        // Passing samples to fill up to `full`, and each provider's first answer beyond it.
        let mut firsts: HashMap<String, bool> = HashMap::new();
        for (i, (k, _)) in passing.into_iter().enumerate() {
            let first = !firsts.contains_key(&k.provider);
            if i < room || first {
                firsts.insert(k.provider.clone(), true);
                keys.push(k);
            }
        }
        (keys, true)
    }
}

/// A report of a run of any size in bounded memory: `for_each` streams every sample of the
/// run (texts not needed) into a [`Summary`] and a [`Selection`]; `fetch` reads the selected
/// samples in full. The report's `samples` are the selection and its `summary` the summary
/// of all. Samples in report order cost least; any order gives the same report (see the
/// module documentation).
pub fn bounded_report<E>(
    run: RunInfo,
    limits: SampleLimits,
    bootstrap: &Bootstrap,
    for_each: impl FnOnce(&mut dyn FnMut(&SampleRecord)) -> Result<(), E>,
    fetch: impl FnOnce(&[SampleKey]) -> Result<Vec<SampleRecord>, E>,
) -> Result<RunReport, E> {
    bounded_report_of_outlines(
        run,
        limits,
        bootstrap,
        |each| for_each(&mut |s: &SampleRecord| each(&SampleOutline::from(s))),
        fetch,
    )
}

/// [`bounded_report`] from [`SampleOutline`]s: what a store that decodes its rows without
/// building a [`SampleRecord`] per sample calls.
pub fn bounded_report_of_outlines<E>(
    run: RunInfo,
    limits: SampleLimits,
    bootstrap: &Bootstrap,
    for_each: impl FnOnce(&mut dyn FnMut(&SampleOutline<'_>)) -> Result<(), E>,
    fetch: impl FnOnce(&[SampleKey]) -> Result<Vec<SampleRecord>, E>,
) -> Result<RunReport, E> {
    let mut builder = SummaryBuilder::new(&run);
    let mut selection = Selection::new(limits, &run);
    for_each(&mut |s: &SampleOutline<'_>| {
        builder.add(*s);
        selection.offer(*s);
    })?;
    let (keys, _truncated) = selection.finish();
    let summary = builder.finish(bootstrap);
    let samples = fetch(&keys)?;
    Ok(RunReport {
        run,
        samples,
        summary: Some(summary.to_value()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{analyze, choose_winner, paired_comparison};
    use crate::fixtures::repeated_run;

    #[test]
    fn the_summary_agrees_with_the_analyses_of_every_sample() {
        let report = repeated_run();
        let b = Bootstrap::default();
        let summary = Summary::of(&report, &b);
        assert_eq!(summary.samples, report.samples.len() as u64);
        assert_eq!(summary.overall, analyze(&report, None, &b));
        let c = summary
            .comparisons
            .iter()
            .find(|c| c.a == "haiku" && c.b == "sonnet")
            .unwrap();
        assert_eq!(
            c.paired,
            paired_comparison(&report, "haiku", "sonnet", None, &b)
        );
        for rule in WinnerRule::ALL {
            assert_eq!(
                summary.winner(rule),
                Some(&choose_winner(&report, rule, &b))
            );
        }
        // Through JSON and back, unchanged.
        let back: Summary = serde_json::from_value(summary.to_value()).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn a_selection_keeps_failing_samples_first_and_is_bounded() {
        let report = repeated_run();
        let limits = SampleLimits {
            full: 10,
            failing_per_provider: 2,
        };
        let mut sel = Selection::new(limits, &report.run);
        for s in &report.samples {
            sel.offer(s);
        }
        let (keys, truncated) = sel.finish();
        assert!(truncated);
        let failing = |k: &SampleKey| {
            let s = report.samples.iter().find(|s| &s.key == k).unwrap();
            s.error.is_some() || s.verdict.as_ref().is_some_and(|v| !v.pass)
        };
        let first_passing = keys.iter().position(|k| !failing(k)).unwrap();
        assert!(
            keys[first_passing..].iter().all(|k| !failing(k)),
            "{keys:?}"
        );
        assert!(keys.len() <= 10 + 3 * 2, "{}", keys.len());
        // Small runs keep everything, in report order.
        let mut all = Selection::new(SampleLimits::default(), &report.run);
        for s in &report.samples {
            all.offer(s);
        }
        let (keys, truncated) = all.finish();
        assert!(!truncated);
        assert!(keys.iter().eq(report.samples.iter().map(|s| &s.key)));
    }

    #[test]
    fn samples_in_any_order_give_the_summary_of_report_order() {
        let report = repeated_run();
        let b = Bootstrap::default();
        let ordered = Summary::of_samples(&report.run, &report.samples, &b);
        // Reversed, and interleaved (every third first): each model's samples out of order,
        // and the groups met in another order.
        let reversed: Vec<&SampleRecord> = report.samples.iter().rev().collect();
        let mut interleaved: Vec<&SampleRecord> = report.samples.iter().step_by(3).collect();
        interleaved.extend(report.samples.iter().skip(1).step_by(3));
        interleaved.extend(report.samples.iter().skip(2).step_by(3));
        for samples in [reversed, interleaved] {
            let mut other = Summary::of_samples(&report.run, samples, &b);
            // Sums of costs and scores may differ in their last bits with the order of
            // the terms; everything else is the same to the bit.
            let same_sums = |o: &mut ModelAnalysis, m: &ModelAnalysis| {
                let close = |x: f64, y: f64| (x - y).abs() <= 1e-12 * y.abs().max(1.0);
                assert!(close(o.cost_usd_total, m.cost_usd_total));
                o.cost_usd_total = m.cost_usd_total;
                for (x, y) in [
                    (&mut o.cost_usd_mean, m.cost_usd_mean),
                    (&mut o.score_mean, m.score_mean),
                ] {
                    assert_eq!(x.is_some(), y.is_some());
                    if let (Some(a), Some(b)) = (*x, y) {
                        assert!(close(a, b));
                        *x = y;
                    }
                }
            };
            for (o, m) in other.overall.iter_mut().zip(&ordered.overall) {
                same_sums(o, m);
            }
            for ((_, os), (_, ms)) in other.per_task.iter_mut().zip(&ordered.per_task) {
                for (o, m) in os.iter_mut().zip(ms) {
                    same_sums(o, m);
                }
            }
            assert_eq!(other.overall, ordered.overall);
            assert_eq!(other.per_task, ordered.per_task);
            assert_eq!(other.pass_at_k, ordered.pass_at_k);
            assert_eq!(other.comparisons, ordered.comparisons);
            assert_eq!(other.error_causes, ordered.error_causes);
            assert_eq!(
                (other.samples, other.failures, other.without_answer),
                (ordered.samples, ordered.failures, ordered.without_answer)
            );
        }
        // A selection of everything, offered in reverse, is in report order again.
        let mut sel = Selection::new(SampleLimits::default(), &report.run);
        for s in report.samples.iter().rev() {
            sel.offer(s);
        }
        let (keys, truncated) = sel.finish();
        assert!(!truncated);
        assert!(keys.iter().eq(report.samples.iter().map(|s| &s.key)));
    }

    /// The selection as it was made before samples could come in any order: one pass in
    /// report order, keeping a sample when a limit was not reached yet.
    fn selection_in_one_ordered_pass(
        samples: &[SampleRecord],
        limits: SampleLimits,
    ) -> (Vec<SampleKey>, bool) {
        let mut kept: Vec<(SampleKey, bool)> = Vec::new();
        let (mut failing_kept, mut passing_kept) = (0, 0);
        let mut providers: HashMap<String, (usize, bool, bool)> = HashMap::new();
        for s in samples {
            let failing = s.error.is_some() || s.verdict.as_ref().is_some_and(|v| !v.pass);
            let p = providers.entry(s.key.provider.clone()).or_default();
            let mut keep = if failing {
                failing_kept < limits.full || p.0 < limits.failing_per_provider
            } else {
                passing_kept < limits.full
            };
            if s.completion.is_some() && !p.1 {
                p.1 = true;
                keep = true;
            }
            if s.completion.is_some() && failing && !p.2 {
                p.2 = true;
                keep = true;
            }
            if keep {
                if failing {
                    failing_kept += 1;
                    p.0 += 1;
                } else {
                    passing_kept += 1;
                }
                kept.push((s.key.clone(), failing));
            }
        }
        if samples.len() <= limits.full {
            return (kept.into_iter().map(|(k, _)| k).collect(), false);
        }
        let (failing, passing): (Vec<_>, Vec<_>) = kept.into_iter().partition(|(_, f)| *f);
        let room = limits.full.saturating_sub(failing.len());
        let mut keys: Vec<SampleKey> = failing.into_iter().map(|(k, _)| k).collect();
        let mut firsts: HashMap<String, bool> = HashMap::new();
        for (i, (k, _)) in passing.into_iter().enumerate() {
            let first = !firsts.contains_key(&k.provider);
            if i < room || first {
                firsts.insert(k.provider.clone(), true);
                keys.push(k);
            }
        }
        (keys, true)
    }

    #[test]
    fn a_selection_is_the_one_pass_selection_in_report_order_whatever_the_order_offered() {
        let report = repeated_run();
        for (full, failing_per_provider) in [(0, 0), (1, 0), (3, 1), (10, 2), (25, 5), (200, 30)] {
            let limits = SampleLimits {
                full,
                failing_per_provider,
            };
            let expected = selection_in_one_ordered_pass(&report.samples, limits);
            let orders: [Vec<&SampleRecord>; 3] = [
                report.samples.iter().collect(),
                report.samples.iter().rev().collect(),
                report
                    .samples
                    .iter()
                    .skip(7)
                    .chain(report.samples.iter().take(7))
                    .collect(),
            ];
            for samples in orders {
                let mut sel = Selection::new(limits, &report.run);
                for s in samples {
                    sel.offer(s);
                }
                assert_eq!(sel.finish(), expected, "{limits:?}");
            }
        }
    }

    #[test]
    fn scores_that_are_not_verdicts_are_kept_from_the_first_on() {
        let mut report = repeated_run();
        // One score that is not 0/1 of its verdict, late in the run: the earlier ones are
        // filled in from their verdicts, and the paired score comparison appears.
        let last_graded = report
            .samples
            .iter()
            .rposition(|s| s.verdict.is_some())
            .unwrap();
        report.samples[last_graded].verdict.as_mut().unwrap().score = 0.5;
        let b = Bootstrap::default();
        let summary = Summary::of(&report, &b);
        assert_eq!(summary.overall, analyze(&report, None, &b));
        for c in &summary.comparisons {
            assert_eq!(
                c.paired,
                paired_comparison(&report, &c.a, &c.b, None, &b),
                "{} vs {}",
                c.a,
                c.b
            );
        }
        assert!(
            summary
                .comparisons
                .iter()
                .any(|c| c.paired.as_ref().is_some_and(|p| p.score.is_some()))
        );
    }

    #[test]
    fn a_permutation_in_place_is_a_gather() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for n in [0usize, 1, 2, 5, 64, 65, 1000] {
            let mut order: Vec<u32> = (0..n as u32).collect();
            // Fisher-Yates with an xorshift: any permutation, cycles of every length.
            for i in (1..n).rev() {
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                order.swap(i, (rng % (i as u64 + 1)) as usize);
            }
            let values: Vec<u64> = (0..n as u64).map(|v| v * 3 + 1).collect();
            let gathered: Vec<u64> = order.iter().map(|&i| values[i as usize]).collect();
            let mut in_place = values.clone();
            permute(&mut in_place, &order);
            assert_eq!(in_place, gathered);
        }
    }

    #[test]
    fn histogram_medians_are_the_medians_of_the_values() {
        let values: [&[u64]; 5] = [&[], &[7], &[3, 1], &[5, 1, 5, 2, 9, 9, 9], &[4, 4, 4, 4]];
        for v in values {
            let mut h = BTreeMap::new();
            for &x in v {
                *h.entry(x).or_insert(0) += 1;
            }
            let as_f64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
            for q in [0.0, 0.25, 0.5, 0.9, 1.0] {
                assert_eq!(
                    histogram_quantile(&h, q).map(f64::to_bits),
                    llmbench_core::quantile(&as_f64, q).map(f64::to_bits),
                    "{v:?} at {q}"
                );
            }
        }
    }

    #[test]
    fn large_value_counts_are_thinned_for_charts() {
        let v: Vec<f64> = (0..10_000).map(f64::from).collect();
        let t = thin_values(&v);
        assert_eq!(t.len(), CHART_POINTS);
        assert_eq!((t[0], t[CHART_POINTS - 1]), (0.0, 9_999.0));
    }
}
