//! Reports that scale with the run: everything the reports say about a run, computed in one
//! streaming pass over its samples ([`SummaryBuilder`]: one sample at a time, texts not
//! needed), and the few samples a report shows in full ([`Selection`]: failing samples
//! first, a bounded number).
//!
//! A [`Summary`] holds counts, per-model aggregates with their intervals, pass@k, the paired
//! comparisons and the winner by each rule: kilobytes, however many samples the run has. What
//! it keeps per sample while it is built is compact (latency and time to first token, token
//! counts, cost, and per graded sample its pass bit and score for the paired tests): about
//! 60 bytes, never a text. The bootstrap draws at most [`crate::stats::SUBSAMPLE`] values per
//! resample, so its cost does not grow with the run either.
//!
//! A [`RunReport`] carries its summary as JSON ([`RunReport::summary`]) when its `samples` are
//! a selection; [`Summary::of`] reads it back, or computes it from the samples when there is
//! none (a report built by hand, or by an older host).

use std::collections::{BTreeMap, HashMap};

use llmbench_core::{
    GradeKind, GradeOutcome, RunInfo, RunReport, SampleKey, SampleRecord, SampleStatus, median,
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

/// What a model's samples are, per (task, provider): only what the analyses need.
#[derive(Debug, Clone)]
struct Group {
    task: String,
    provider: String,
    samples: u64,
    errors: u64,
    /// Samples with an error or a failing verdict.
    failed: u64,
    error_kinds: BTreeMap<String, u64>,
    /// Error kind with its HTTP status, e.g. `auth (HTTP 401)`.
    error_causes: BTreeMap<String, u64>,
    latency_ms: Vec<f64>,
    ttft_ms: Vec<f64>,
    inputs: Vec<f64>,
    outputs: Vec<f64>,
    costs: Vec<f64>,
    kinds: [KindCount; 3],
    /// (grader position, grader, failures), in order of first failure.
    failing: Vec<(usize, String, u64)>,
    /// Graded samples in report order: pass, score, latency (NaN without an answer).
    graded_pass: Vec<bool>,
    graded_score: Vec<f64>,
    graded_latency: Vec<f64>,
    /// SHA-256 of the graded samples' (item, repeat), in order: two providers were graded
    /// on the same items of this task exactly when these agree.
    graded_keys: Sha256,
    scores_informative: bool,
    /// Per item (adjacent in report order): samples, graded, passed.
    items: Vec<(u64, u64, u64)>,
    last_item: Option<String>,
}

impl Group {
    fn new(task: &str, provider: &str) -> Self {
        Self {
            task: task.to_owned(),
            provider: provider.to_owned(),
            kinds: [GradeKind::Check, GradeKind::Execution, GradeKind::Judgement].map(|kind| {
                KindCount {
                    kind,
                    grades: 0,
                    passed: 0,
                }
            }),
            samples: 0,
            errors: 0,
            failed: 0,
            error_kinds: BTreeMap::new(),
            error_causes: BTreeMap::new(),
            latency_ms: Vec::new(),
            ttft_ms: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            costs: Vec::new(),
            failing: Vec::new(),
            graded_pass: Vec::new(),
            graded_score: Vec::new(),
            graded_latency: Vec::new(),
            graded_keys: Sha256::new(),
            scores_informative: false,
            items: Vec::new(),
            last_item: None,
        }
    }

    fn add(&mut self, s: &SampleRecord) {
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        self.samples += 1;
        if s.status == SampleStatus::Error {
            self.errors += 1;
            let kind = s.error.as_ref().map_or("unknown", |e| e.kind.as_str());
            *self.error_kinds.entry(kind.to_owned()).or_default() += 1;
        }
        if s.error.is_some() || s.verdict.as_ref().is_some_and(|v| !v.pass) {
            self.failed += 1;
        }
        if s.status != SampleStatus::Done {
            let cause = match &s.error {
                Some(e) => match e.http_status {
                    Some(status) => format!("{} (HTTP {status})", e.kind.as_str()),
                    None => e.kind.as_str().to_owned(),
                },
                None => "no answer".to_owned(),
            };
            *self.error_causes.entry(cause).or_default() += 1;
        }
        if let Some(c) = &s.completion {
            self.latency_ms.push(ms(c.timings.latency));
            if let Some(t) = c.timings.time_to_first_token {
                self.ttft_ms.push(ms(t));
            }
            if let Some(n) = c.usage.total_input() {
                self.inputs.push(n as f64);
            }
            if let Some(n) = c.usage.output_tokens {
                self.outputs.push(n as f64);
            }
        }
        if let Some(c) = s.cost_usd {
            self.costs.push(c);
        }
        for (position, (name, grade)) in s.grades.iter().enumerate() {
            let k = self
                .kinds
                .iter_mut()
                .find(|k| k.kind == grade.kind)
                .expect("every kind is listed");
            k.grades += 1;
            if grade.outcome == GradeOutcome::Pass {
                k.passed += 1;
            } else {
                match self.failing.iter_mut().find(|(_, n, _)| n == name) {
                    Some((_, _, count)) => *count += 1,
                    None => self.failing.push((position, name.clone(), 1)),
                }
            }
        }
        if let Some(v) = &s.verdict {
            self.graded_pass.push(v.pass);
            self.graded_score.push(v.score);
            self.graded_latency.push(
                s.completion
                    .as_ref()
                    .map_or(f64::NAN, |c| ms(c.timings.latency)),
            );
            self.graded_keys.update(s.key.item.as_bytes());
            self.graded_keys.update([0]);
            self.graded_keys.update(s.key.repeat.to_le_bytes());
            if v.score != if v.pass { 1.0 } else { 0.0 } {
                self.scores_informative = true;
            }
        }
        if self.last_item.as_deref() != Some(s.key.item.as_str()) {
            self.items.push((0, 0, 0));
            self.last_item = Some(s.key.item.clone());
        }
        let item = self.items.last_mut().expect("pushed above");
        item.0 += 1;
        if let Some(v) = &s.verdict {
            item.1 += 1;
            item.2 += u64::from(v.pass);
        }
    }
}

/// Builds a [`Summary`] from a run's samples, given one at a time in report order.
#[derive(Debug)]
pub struct SummaryBuilder {
    run: RunInfo,
    groups: Vec<Group>,
    index: HashMap<(String, String), usize>,
    samples: u64,
    without_answer: u64,
    failures: u64,
    grader_cost: f64,
    grader_costs: u64,
}

impl SummaryBuilder {
    pub fn new(run: &RunInfo) -> Self {
        Self {
            run: run.clone(),
            groups: Vec::new(),
            index: HashMap::new(),
            samples: 0,
            without_answer: 0,
            failures: 0,
            grader_cost: 0.0,
            grader_costs: 0,
        }
    }

    /// Counts one sample; its texts are not read.
    pub fn add(&mut self, s: &SampleRecord) {
        self.samples += 1;
        if s.completion.is_none() {
            self.without_answer += 1;
        }
        if s.error.is_some() || s.verdict.as_ref().is_some_and(|v| !v.pass) {
            self.failures += 1;
        }
        for cost in s.grades.iter().filter_map(|(_, g)| g.cost_usd) {
            self.grader_cost += cost;
            self.grader_costs += 1;
        }
        let key = (s.key.task.clone(), s.key.provider.clone());
        let i = match self.index.get(&key) {
            Some(&i) => i,
            None => {
                self.groups.push(Group::new(&key.0, &key.1));
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        self.groups[i].add(s);
    }

    /// Every analysis the reports show, with `bootstrap`'s settings.
    pub fn finish(self, bootstrap: &Bootstrap) -> Summary {
        let run = &self.run;
        let tasks: Vec<String> = run.graders.iter().map(|(t, _)| t.clone()).collect();
        let overall = self.analyze(None, bootstrap);
        let per_task: Vec<(String, Vec<ModelAnalysis>)> = tasks
            .iter()
            .map(|t| (t.clone(), self.analyze(Some(t), bootstrap)))
            .collect();
        let any_repeated = self.groups.iter().any(|g| g.items.iter().any(|i| i.0 > 1));
        let mut ks: Vec<u32> = run.pass_at_k.iter().copied().filter(|&k| k > 0).collect();
        ks.sort_unstable();
        ks.dedup();
        if ks.is_empty() && any_repeated {
            ks.push(1);
        }
        let pass_at_k = self.pass_at_k(None, &ks, bootstrap);
        let pass_at_k_per_task = if tasks.len() > 1 {
            tasks
                .iter()
                .flat_map(|t| self.pass_at_k(Some(t), &ks, bootstrap))
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
                    paired: self.paired(&a.provider, &b.provider, bootstrap),
                });
            }
        }
        let winners = WinnerRule::ALL
            .into_iter()
            .map(|rule| {
                crate::analysis::choose_winner_from(&overall, rule, |a, b| {
                    self.paired(a, b, bootstrap)
                })
            })
            .collect();
        let error_causes = run
            .providers
            .iter()
            .map(|(p, _, _)| {
                let mut causes: BTreeMap<String, u64> = BTreeMap::new();
                for g in self.groups.iter().filter(|g| &g.provider == p) {
                    for (cause, n) in &g.error_causes {
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
                let n = self
                    .groups
                    .iter()
                    .filter(|g| &g.provider == p)
                    .map(|g| g.failed)
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
            overall: overall.into_iter().map(thin).collect(),
            per_task: per_task
                .into_iter()
                .map(|(t, ms)| (t, ms.into_iter().map(without_values).collect()))
                .collect(),
            ks,
            pass_at_k,
            pass_at_k_per_task,
            comparisons,
            winners,
            error_causes,
            failed_per_provider,
        }
    }

    fn groups_of<'a>(
        &'a self,
        provider: &'a str,
        task: Option<&'a str>,
    ) -> impl Iterator<Item = &'a Group> + 'a {
        self.groups
            .iter()
            .filter(move |g| g.provider == provider && task.is_none_or(|t| g.task == t))
    }

    /// One analysis per provider in config order, over `task` or over all tasks.
    pub(crate) fn analyze(&self, task: Option<&str>, bootstrap: &Bootstrap) -> Vec<ModelAnalysis> {
        self.run
            .providers
            .iter()
            .map(|(provider, model, label)| {
                let groups: Vec<&Group> = self.groups_of(provider, task).collect();
                analyze_groups(&groups, task, provider, model, label, bootstrap)
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
                let items: Vec<(u64, u64, u64)> = self
                    .groups_of(provider, task)
                    .flat_map(|g| g.items.iter().copied())
                    .collect();
                let values = ks
                    .iter()
                    .map(|&k| {
                        let per_item: Vec<f64> = items
                            .iter()
                            .filter_map(|i| pass_at_k(i.1, i.2, k))
                            .collect();
                        PassAtK {
                            k,
                            estimate: bootstrap_interval(&per_item, Statistic::Mean, bootstrap),
                            excluded: (items.len() - per_item.len()) as u64,
                        }
                    })
                    .collect();
                ModelPassAtK {
                    task: task.map(str::to_owned),
                    provider: provider.clone(),
                    model: model.clone(),
                    label: label.clone(),
                    items: items.len() as u64,
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
                .map(|g| {
                    (
                        g.task.clone(),
                        g.graded_keys.clone().finalize().into(),
                        g.graded_pass.len(),
                    )
                })
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
        let ga: Vec<&Group> = self.groups_of(a, None).collect();
        let gb: Vec<&Group> = self.groups_of(b, None).collect();
        let pa = ga.iter().flat_map(|g| g.graded_pass.iter().copied());
        let pb = gb.iter().flat_map(|g| g.graded_pass.iter().copied());
        let pairs: Vec<(bool, bool)> = pa.zip(pb).collect();
        let sa: Vec<f64> = ga
            .iter()
            .flat_map(|g| g.graded_score.iter().copied())
            .collect();
        let sb: Vec<f64> = gb
            .iter()
            .flat_map(|g| g.graded_score.iter().copied())
            .collect();
        let informative = ga.iter().chain(&gb).any(|g| g.scores_informative);
        let (la, lb): (Vec<f64>, Vec<f64>) = ga
            .iter()
            .flat_map(|g| g.graded_latency.iter().copied())
            .zip(gb.iter().flat_map(|g| g.graded_latency.iter().copied()))
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .unzip();
        Some(PairedComparison {
            a: a.to_owned(),
            b: b.to_owned(),
            a_label: label(a),
            b_label: label(b),
            mcnemar: mcnemar(&pairs),
            score: informative
                .then(|| paired_bootstrap(&sa, &sb, Statistic::Mean, bootstrap))
                .flatten(),
            latency: paired_bootstrap(&la, &lb, Statistic::Median, bootstrap),
            confidence: bootstrap.confidence,
        })
    }
}

fn analyze_groups(
    groups: &[&Group],
    task: Option<&str>,
    provider: &str,
    model: &str,
    label: &str,
    bootstrap: &Bootstrap,
) -> ModelAnalysis {
    let cat = |f: fn(&Group) -> &Vec<f64>| -> Vec<f64> {
        groups.iter().flat_map(|g| f(g).iter().copied()).collect()
    };
    let latency_ms = cat(|g| &g.latency_ms);
    let ttft_ms = cat(|g| &g.ttft_ms);
    let inputs = cat(|g| &g.inputs);
    let outputs = cat(|g| &g.outputs);
    let costs = cat(|g| &g.costs);
    let scores = cat(|g| &g.graded_score);
    let verdicts = scores.len() as u64;
    let passed: u64 = groups
        .iter()
        .map(|g| g.graded_pass.iter().filter(|p| **p).count() as u64)
        .sum();
    let samples: u64 = groups.iter().map(|g| g.samples).sum();
    let errors: u64 = groups.iter().map(|g| g.errors).sum();
    let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
    for g in groups {
        for (k, n) in &g.error_kinds {
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
        for (k, gk) in kinds.iter_mut().zip(&g.kinds) {
            k.grades += gk.grades;
            k.passed += gk.passed;
        }
        for (position, name, count) in &g.failing {
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
        score_mean: (verdicts > 0).then(|| scores.iter().sum::<f64>() / verdicts as f64),
        answers: latency_ms.len() as u64,
        latency_median: bootstrap_interval(&latency_ms, Statistic::Median, bootstrap),
        latency_p90: bootstrap_interval(&latency_ms, Statistic::Quantile(0.9), bootstrap),
        latency_p95: bootstrap_interval(&latency_ms, Statistic::Quantile(0.95), bootstrap),
        ttft_median: bootstrap_interval(&ttft_ms, Statistic::Median, bootstrap),
        latency_ms,
        ttft_ms,
        input_tokens_median: median(&inputs),
        output_tokens_median: median(&outputs),
        cost_usd_mean: (!costs.is_empty()).then(|| costs.iter().sum::<f64>() / costs.len() as f64),
        cost_usd_total: costs.iter().sum(),
        cost_unknown: samples - costs.len() as u64,
        grade_kinds: kinds.into_iter().filter(|k| k.grades > 0).collect(),
        failing_graders: failing.into_iter().map(|(_, n, c)| (n, c)).collect(),
    }
}

/// At most [`CHART_POINTS`] values: all of them, or evenly spaced order statistics.
fn thin_values(values: Vec<f64>) -> Vec<f64> {
    if values.len() <= CHART_POINTS {
        return values;
    }
    let mut sorted = values;
    sorted.sort_by(f64::total_cmp);
    let last = (sorted.len() - 1) as f64;
    (0..CHART_POINTS)
        .map(|i| sorted[(i as f64 * last / (CHART_POINTS - 1) as f64).round() as usize])
        .collect()
}

fn thin(mut m: ModelAnalysis) -> ModelAnalysis {
    m.latency_ms = thin_values(std::mem::take(&mut m.latency_ms));
    m.ttft_ms = thin_values(std::mem::take(&mut m.ttft_ms));
    m
}

/// Per-task analyses in a summary keep counts and estimates, not values: no chart uses them.
fn without_values(mut m: ModelAnalysis) -> ModelAnalysis {
    m.latency_ms = Vec::new();
    m.ttft_ms = Vec::new();
    m
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

/// Chooses the samples a report shows in full from a run's samples in report order, without
/// holding them: their keys only. Keeps every sample of a run of at most `limits.full`;
/// otherwise the failing samples first (up to `limits.full`, and up to
/// `limits.failing_per_provider` of each provider), then passing ones up to `limits.full`
/// in all, and always each provider's first answer and first failing answer (the Markdown
/// report quotes one).
#[derive(Debug, Default)]
pub struct Selection {
    limits: SampleLimits,
    seen: u64,
    /// (position in report order, key, failing).
    kept: Vec<(u64, SampleKey, bool)>,
    failing: usize,
    passing: usize,
    /// Per provider: failing kept, first answer kept, first failing answer kept.
    providers: HashMap<String, (usize, bool, bool)>,
}

impl Selection {
    pub fn new(limits: SampleLimits) -> Self {
        Self {
            limits,
            ..Self::default()
        }
    }

    pub fn offer(&mut self, s: &SampleRecord) {
        let at = self.seen;
        self.seen += 1;
        let failing = s.error.is_some() || s.verdict.as_ref().is_some_and(|v| !v.pass);
        let p = self.providers.entry(s.key.provider.clone()).or_default();
        let mut keep = false;
        if failing {
            if self.failing < self.limits.full || p.0 < self.limits.failing_per_provider {
                keep = true;
            }
        } else if self.passing < self.limits.full {
            keep = true;
        }
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
                self.failing += 1;
                p.0 += 1;
            } else {
                self.passing += 1;
            }
            self.kept.push((at, s.key.clone(), failing));
        }
    }

    /// The keys to read in full, in the order a report shows them, and whether that is
    /// fewer than every sample.
    pub fn finish(self) -> (Vec<SampleKey>, bool) {
        if self.seen <= self.limits.full as u64 {
            return (self.kept.into_iter().map(|(_, k, _)| k).collect(), false);
        }
        let (failing, passing): (Vec<_>, Vec<_>) = self.kept.into_iter().partition(|(_, _, f)| *f);
        let room = self.limits.full.saturating_sub(failing.len());
        let mut keys: Vec<SampleKey> = failing.into_iter().map(|(_, k, _)| k).collect();
        // Passing samples to fill up to `full`, and each provider's first answer beyond it.
        let mut firsts: HashMap<String, bool> = HashMap::new();
        for (i, (_, k, _)) in passing.into_iter().enumerate() {
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
/// run in report order (texts not needed) into a [`Summary`] and a [`Selection`]; `fetch`
/// reads the selected samples in full. The report's `samples` are the selection and its
/// `summary` the summary of all.
pub fn bounded_report<E>(
    run: RunInfo,
    limits: SampleLimits,
    bootstrap: &Bootstrap,
    for_each: impl FnOnce(&mut dyn FnMut(&SampleRecord)) -> Result<(), E>,
    fetch: impl FnOnce(&[SampleKey]) -> Result<Vec<SampleRecord>, E>,
) -> Result<RunReport, E> {
    let mut builder = SummaryBuilder::new(&run);
    let mut selection = Selection::new(limits);
    for_each(&mut |s: &SampleRecord| {
        builder.add(s);
        selection.offer(s);
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
        let mut sel = Selection::new(limits);
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
        let mut all = Selection::new(SampleLimits::default());
        for s in &report.samples {
            all.offer(s);
        }
        let (keys, truncated) = all.finish();
        assert!(!truncated);
        assert!(keys.iter().eq(report.samples.iter().map(|s| &s.key)));
    }

    #[test]
    fn large_value_counts_are_thinned_for_charts() {
        let v: Vec<f64> = (0..10_000).map(f64::from).collect();
        let t = thin_values(v);
        assert_eq!(t.len(), CHART_POINTS);
        assert_eq!((t[0], t[CHART_POINTS - 1]), (0.0, 9_999.0));
    }
}
