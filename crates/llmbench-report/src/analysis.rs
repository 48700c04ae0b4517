//! What the Markdown and HTML reports say about a run: per-model statistics with intervals,
//! paired comparisons between models, and the winner by a stated rule.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use llmbench_core::{GradeKind, RunReport, SampleRecord};

use crate::format::{p_value, percent, usd};
use crate::stats::{
    ALPHA, Bootstrap, Difference, Estimate, McNemar, PassRate, Statistic, latency_sentence,
    mcnemar, newcombe_difference_interval, paired_bootstrap, pass_rate_sentence, score_sentence,
};

/// Grades of one kind for one model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KindCount {
    pub kind: GradeKind,
    pub grades: u64,
    pub passed: u64,
}

/// `check`, `execution`, `judgement`.
pub fn kind_name(kind: GradeKind) -> &'static str {
    match kind {
        GradeKind::Check => "check",
        GradeKind::Execution => "execution",
        GradeKind::Judgement => "judgement",
    }
}

/// One provider's results, on one task or on all of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelAnalysis {
    pub task: Option<String>,
    pub provider: String,
    pub model: String,
    pub label: String,
    pub samples: u64,
    /// Samples without an answer (the provider failed for good); excluded from pass rates.
    pub errors: u64,
    /// Error kinds with counts, most frequent first.
    pub error_kinds: Vec<(String, u64)>,
    /// Passed out of graded samples, with the Wilson interval.
    pub pass_rate: Option<PassRate>,
    pub score_mean: Option<f64>,
    /// Samples with an answer (each has a latency).
    #[serde(default)]
    pub answers: u64,
    /// The answers' latencies (in a [`crate::summary::Summary`], at most
    /// [`crate::summary::CHART_POINTS`] of them: evenly spaced order statistics).
    pub latency_ms: Vec<f64>,
    pub ttft_ms: Vec<f64>,
    /// Bootstrap intervals when there are at least two answers.
    pub latency_median: Option<Estimate>,
    pub latency_p90: Option<Estimate>,
    pub latency_p95: Option<Estimate>,
    pub ttft_median: Option<Estimate>,
    pub input_tokens_median: Option<f64>,
    pub output_tokens_median: Option<f64>,
    /// Mean over samples whose cost is known.
    pub cost_usd_mean: Option<f64>,
    pub cost_usd_total: f64,
    pub cost_unknown: u64,
    /// Grade counts per kind, in the order check, execution, judgement (kinds present only).
    pub grade_kinds: Vec<KindCount>,
    /// Graders that did not pass, with counts, in grader order.
    pub failing_graders: Vec<(String, u64)>,
}

impl ModelAnalysis {
    /// "check", "check + judgement": what the verdicts rest on.
    pub fn kinds_label(&self) -> String {
        self.grade_kinds
            .iter()
            .map(|k| kind_name(k.kind))
            .collect::<Vec<_>>()
            .join(" + ")
    }
}

/// The task names of a run in config order.
pub fn tasks(report: &RunReport) -> Vec<String> {
    report.run.graders.iter().map(|(t, _)| t.clone()).collect()
}

/// The samples of `provider` (on `task`, or on all tasks).
pub fn samples_of<'a>(
    report: &'a RunReport,
    provider: &'a str,
    task: Option<&'a str>,
) -> impl Iterator<Item = &'a SampleRecord> + 'a {
    report
        .samples
        .iter()
        .filter(move |s| s.key.provider == provider && task.is_none_or(|t| s.key.task == t))
}

/// One analysis per provider in config order, over `task` or over all tasks, from the
/// report's samples (in report order).
pub fn analyze(
    report: &RunReport,
    task: Option<&str>,
    bootstrap: &Bootstrap,
) -> Vec<ModelAnalysis> {
    let mut builder = crate::summary::SummaryBuilder::new(&report.run);
    for s in &report.samples {
        builder.add(s);
    }
    builder.analyze(task, bootstrap)
}

/// (task, item, repeat): what makes two samples of different models comparable.
type ItemKey = (String, String, u32);

fn graded(
    report: &RunReport,
    provider: &str,
    task: Option<&str>,
) -> BTreeMap<ItemKey, (bool, f64, f64)> {
    samples_of(report, provider, task)
        .filter_map(|s| {
            let v = s.verdict.as_ref()?;
            let latency = s
                .completion
                .as_ref()
                .map_or(f64::NAN, |c| c.timings.latency.as_secs_f64() * 1000.0);
            Some((
                (s.key.task.clone(), s.key.item.clone(), s.key.repeat),
                (v.pass, v.score, latency),
            ))
        })
        .collect()
}

/// Two models graded on exactly the same items: McNemar's test on pass/fail, paired
/// bootstraps on scores and on median latency.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PairedComparison {
    pub a: String,
    pub b: String,
    pub a_label: String,
    pub b_label: String,
    pub mcnemar: McNemar,
    /// Mean score of A minus B.
    pub score: Option<Difference>,
    /// Median latency of A minus B, in ms.
    pub latency: Option<Difference>,
    pub confidence: f64,
}

impl PairedComparison {
    /// One plain sentence each for pass rate, score (when scores are not just 0/1 copies of
    /// the verdicts) and latency.
    pub fn sentences(&self) -> Vec<String> {
        let mut out = vec![pass_rate_sentence(
            &self.a_label,
            &self.b_label,
            &self.mcnemar,
            ALPHA,
        )];
        if let Some(d) = &self.score {
            out.push(score_sentence(
                &self.a_label,
                &self.b_label,
                d,
                self.confidence,
            ));
        }
        if let Some(d) = &self.latency {
            out.push(latency_sentence(
                &self.a_label,
                &self.b_label,
                d,
                self.confidence,
            ));
        }
        out
    }
}

/// Compare providers `a` and `b` item by item, or `None` when they were not graded on the same
/// set of (task, item, repeat) or on none.
pub fn paired_comparison(
    report: &RunReport,
    a: &str,
    b: &str,
    task: Option<&str>,
    bootstrap: &Bootstrap,
) -> Option<PairedComparison> {
    let ga = graded(report, a, task);
    let gb = graded(report, b, task);
    if ga.is_empty() || ga.keys().ne(gb.keys()) {
        return None;
    }
    let label = |p: &str| {
        report
            .run
            .providers
            .iter()
            .find(|(name, _, _)| name == p)
            .map_or_else(|| p.to_owned(), |(_, _, l)| l.clone())
    };
    let pairs: Vec<(bool, bool)> = ga
        .values()
        .zip(gb.values())
        .map(|(x, y)| (x.0, y.0))
        .collect();
    let (sa, sb): (Vec<f64>, Vec<f64>) = ga
        .values()
        .zip(gb.values())
        .map(|(x, y)| (x.1, y.1))
        .unzip();
    // Scores that only restate pass/fail add nothing to McNemar's test.
    let scores_informative = ga
        .values()
        .chain(gb.values())
        .any(|(pass, score, _)| *score != if *pass { 1.0 } else { 0.0 });
    let (la, lb): (Vec<f64>, Vec<f64>) = ga
        .values()
        .zip(gb.values())
        .filter(|(x, y)| x.2.is_finite() && y.2.is_finite())
        .map(|(x, y)| (x.2, y.2))
        .unzip();
    Some(PairedComparison {
        a: a.to_owned(),
        b: b.to_owned(),
        a_label: label(a),
        b_label: label(b),
        mcnemar: mcnemar(&pairs),
        score: scores_informative
            .then(|| paired_bootstrap(&sa, &sb, Statistic::Mean, bootstrap))
            .flatten(),
        latency: paired_bootstrap(&la, &lb, Statistic::Median, bootstrap),
        confidence: bootstrap.confidence,
    })
}

/// How the winner is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum WinnerRule {
    /// The cheapest model whose pass rate is not significantly below the best.
    #[default]
    CheapestNotWorse,
    /// The fastest (median latency) model whose pass rate is not significantly below the best.
    FastestNotWorse,
    /// The highest pass rate; ties go to the cheaper model.
    HighestPassRate,
}

impl WinnerRule {
    pub const ALL: [WinnerRule; 3] = [
        Self::CheapestNotWorse,
        Self::FastestNotWorse,
        Self::HighestPassRate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CheapestNotWorse => "cheapest-not-worse",
            Self::FastestNotWorse => "fastest-not-worse",
            Self::HighestPassRate => "highest-pass-rate",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::CheapestNotWorse => {
                "the cheapest model (mean cost per sample) whose pass rate is not significantly below the best"
            }
            Self::FastestNotWorse => {
                "the fastest model (median latency) whose pass rate is not significantly below the best"
            }
            Self::HighestPassRate => "the model with the highest pass rate; ties go to the cheaper",
        }
    }
}

impl fmt::Display for WinnerRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WinnerRule {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                let valid: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
                format!(
                    "unknown winner rule `{s}`: expected one of {}",
                    valid.join(", ")
                )
            })
    }
}

/// How a model stands against the best pass rate.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Standing {
    Best,
    /// Not significantly below the best; the test and its p-value or interval.
    NotWorse(String),
    /// Significantly below the best.
    Worse(String),
    /// No graded sample.
    Ungraded,
}

/// The winner and the reasoning, line by line.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WinnerDecision {
    pub rule: WinnerRule,
    /// The winning provider's name and label.
    pub winner: Option<(String, String)>,
    /// Each model's standing, in config order: (provider, label, standing).
    pub standings: Vec<(String, String, Standing)>,
    pub reasoning: Vec<String>,
}

fn rate_text(p: &PassRate) -> String {
    format!(
        "{}/{} ({}, 95% Wilson CI {}–{})",
        p.passed,
        p.trials,
        percent(p.rate()),
        percent(p.interval.low),
        percent(p.interval.high)
    )
}

/// Choose the winner over all tasks by `rule`. Each model is compared with the best pass rate
/// at α = 0.05 (no correction for multiple comparisons): by McNemar's test when both were
/// graded on the same items, else by Newcombe's interval for the difference (built from the
/// two Wilson intervals).
pub fn choose_winner(
    report: &RunReport,
    rule: WinnerRule,
    bootstrap: &Bootstrap,
) -> WinnerDecision {
    let summary = crate::summary::Summary::of(report, bootstrap);
    summary
        .winner(rule)
        .cloned()
        .expect("a summary decides by every rule")
}

/// [`choose_winner`] from the all-tasks analyses and the paired comparison of two providers
/// (`None` when they were not graded on the same items).
pub fn choose_winner_from(
    models: &[ModelAnalysis],
    rule: WinnerRule,
    paired: impl Fn(&str, &str) -> Option<PairedComparison>,
) -> WinnerDecision {
    let mut reasoning = vec![format!("Rule `{rule}`: {}.", rule.describe())];
    let graded: Vec<&ModelAnalysis> = models.iter().filter(|m| m.pass_rate.is_some()).collect();
    let rate = |m: &ModelAnalysis| m.pass_rate.map_or(0.0, |p| p.rate());
    let cost = |m: &ModelAnalysis| m.cost_usd_mean.unwrap_or(f64::INFINITY);
    let Some(best) = graded.iter().copied().max_by(|x, y| {
        rate(x)
            .total_cmp(&rate(y))
            .then(cost(y).total_cmp(&cost(x)))
    }) else {
        reasoning.push("No model has a graded sample, so there is no winner.".into());
        return WinnerDecision {
            rule,
            winner: None,
            standings: models
                .iter()
                .map(|m| (m.provider.clone(), m.label.clone(), Standing::Ungraded))
                .collect(),
            reasoning,
        };
    };
    let best_rate = best.pass_rate.expect("graded");
    reasoning.push(format!(
        "Highest pass rate: {}, {}.",
        best.label,
        rate_text(&best_rate)
    ));
    let mut standings = Vec::new();
    for m in models {
        let standing = if m.provider == best.provider {
            Standing::Best
        } else if let Some(p) = m.pass_rate {
            standing_against(paired(&best.provider, &m.provider), &best_rate, &p)
        } else {
            Standing::Ungraded
        };
        match &standing {
            Standing::Best => {}
            Standing::NotWorse(why) => reasoning.push(format!(
                "{}: {}, not significantly below the best ({why}).",
                m.label,
                rate_text(&m.pass_rate.expect("graded"))
            )),
            Standing::Worse(why) => reasoning.push(format!(
                "{}: {}, significantly below the best ({why}): out.",
                m.label,
                rate_text(&m.pass_rate.expect("graded"))
            )),
            Standing::Ungraded => {
                reasoning.push(format!("{}: no graded sample: out.", m.label));
            }
        }
        standings.push((m.provider.clone(), m.label.clone(), standing));
    }
    let candidates: Vec<&ModelAnalysis> = models
        .iter()
        .zip(&standings)
        .filter(|(_, (_, _, s))| matches!(s, Standing::Best | Standing::NotWorse(_)))
        .map(|(m, _)| m)
        .collect();
    let winner = match rule {
        WinnerRule::HighestPassRate => {
            reasoning.push(format!(
                "{} has the highest pass rate{}.",
                best.label,
                if graded
                    .iter()
                    .any(|m| m.provider != best.provider && rate(m) == rate(best))
                {
                    " (tied, and cheaper)"
                } else {
                    ""
                }
            ));
            best
        }
        WinnerRule::CheapestNotWorse => {
            let priced: Vec<&&ModelAnalysis> = candidates
                .iter()
                .filter(|m| m.cost_usd_mean.is_some())
                .collect();
            match priced.iter().min_by(|x, y| cost(x).total_cmp(&cost(y))) {
                Some(w) => {
                    let others: Vec<String> = priced
                        .iter()
                        .filter(|m| m.provider != w.provider)
                        .map(|m| format!("{} {}", m.label, usd(cost(m))))
                        .collect();
                    reasoning.push(format!(
                        "Cheapest of the {} remaining: {} at {} USD per sample{}.",
                        candidates.len(),
                        w.label,
                        usd(cost(w)),
                        if others.is_empty() {
                            String::new()
                        } else {
                            format!(" (vs {})", others.join(", "))
                        }
                    ));
                    let unpriced: Vec<&str> = candidates
                        .iter()
                        .filter(|m| m.cost_usd_mean.is_none())
                        .map(|m| m.label.as_str())
                        .collect();
                    if !unpriced.is_empty() {
                        reasoning.push(format!(
                            "Without a known cost, not ranked by cost: {}.",
                            unpriced.join(", ")
                        ));
                    }
                    w
                }
                None => {
                    reasoning.push(format!(
                        "No remaining model has a known cost (no price in the config?), so the highest pass rate decides: {}.",
                        best.label
                    ));
                    best
                }
            }
        }
        WinnerRule::FastestNotWorse => {
            let lat = |m: &ModelAnalysis| m.latency_median.map_or(f64::INFINITY, |e| e.value);
            let w = candidates
                .iter()
                .copied()
                .min_by(|x, y| lat(x).total_cmp(&lat(y)))
                .unwrap_or(best);
            reasoning.push(format!(
                "Fastest of the {} remaining: {} at a median of {} ms.",
                candidates.len(),
                w.label,
                crate::format::thousands(lat(w))
            ));
            w
        }
    };
    let smallest = graded
        .iter()
        .filter_map(|m| m.pass_rate)
        .map(|p| p.trials)
        .min()
        .unwrap_or(0);
    if smallest < 30 && graded.len() > 1 {
        let baseline = best_rate.rate().clamp(0.05, 0.95);
        reasoning.push(format!(
            "With {smallest} graded sample{} for the smallest model, only large differences can be told apart; `llmbench plan --baseline-pass-rate {baseline:.2} --difference 0.15` says how many samples a 15-point difference needs.",
            if smallest == 1 { "" } else { "s" }
        ));
    }
    WinnerDecision {
        rule,
        winner: Some((winner.provider.clone(), winner.label.clone())),
        standings,
        reasoning,
    }
}

fn standing_against(
    paired: Option<PairedComparison>,
    best_rate: &PassRate,
    p: &PassRate,
) -> Standing {
    if let Some(c) = paired {
        let t = &c.mcnemar;
        let why = format!(
            "{} on {} paired item{}, {}",
            t.method.describe(),
            t.pairs,
            if t.pairs == 1 { "" } else { "s" },
            p_value(t.p_value)
        );
        if t.significant(ALPHA) && t.a_passed > t.b_passed {
            Standing::Worse(why)
        } else {
            Standing::NotWorse(why)
        }
    } else {
        let ci = newcombe_difference_interval(
            (best_rate.passed, best_rate.trials),
            (p.passed, p.trials),
            1.0 - ALPHA,
        )
        .expect("both have trials");
        let why = format!(
            "different items, so Newcombe's 95% interval for the difference, from the Wilson intervals: {} to {} points",
            (ci.low * 100.0).round(),
            (ci.high * 100.0).round()
        );
        if ci.low > 0.0 {
            Standing::Worse(why)
        } else {
            Standing::NotWorse(why)
        }
    }
}

/// Distinct items per task (for turning a sample count into repeats).
pub fn items_per_task(report: &RunReport) -> BTreeMap<String, usize> {
    let mut items: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    for s in &report.samples {
        items
            .entry(s.key.task.clone())
            .or_default()
            .insert(&s.key.item);
    }
    items.into_iter().map(|(t, i)| (t, i.len())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{article_run, repeated_run};

    #[test]
    fn per_model_statistics() {
        let models = analyze(&repeated_run(), None, &Bootstrap::default());
        let [haiku, sonnet, opus] = &models[..] else {
            panic!("{models:?}")
        };
        assert_eq!(haiku.pass_rate.unwrap().passed, 11);
        assert_eq!(sonnet.pass_rate.unwrap().passed, 18);
        let o = opus.pass_rate.unwrap();
        assert_eq!((o.passed, o.trials, opus.errors), (17, 19, 1));
        assert_eq!(opus.error_kinds, vec![("rate_limited".to_owned(), 1)]);
        assert_eq!(sonnet.kinds_label(), "check + execution + judgement");
        let median = sonnet.latency_median.unwrap();
        let ci = median.interval.unwrap();
        assert!(
            ci.low <= median.value && median.value <= ci.high,
            "{median:?}"
        );
        assert_eq!(haiku.failing_graders[0], ("sections".to_owned(), 1));
    }

    #[test]
    fn paired_comparison_uses_mcnemar_when_items_match() {
        let report = repeated_run();
        let b = Bootstrap::default();
        let c = paired_comparison(&report, "sonnet", "haiku", None, &b).unwrap();
        assert_eq!((c.mcnemar.only_a, c.mcnemar.only_b), (7, 0));
        let sentences = c.sentences();
        assert_eq!(
            sentences[0],
            "Claude Sonnet 4.6 passes more often than Claude Haiku 4.5: 18/20 vs 11/20, p = 0.016 (McNemar exact test, 7 discordant pairs)."
        );
        assert!(
            sentences[1].starts_with("Claude Sonnet 4.6 scores higher"),
            "{sentences:?}"
        );
        assert!(
            sentences[2].starts_with("Claude Haiku 4.5 answers faster"),
            "{sentences:?}"
        );
        // Opus has an errored sample, so its graded items differ from Sonnet's.
        assert_eq!(paired_comparison(&report, "sonnet", "opus", None, &b), None);
    }

    #[test]
    fn winner_by_each_rule() {
        let report = repeated_run();
        let b = Bootstrap::default();
        let d = choose_winner(&report, WinnerRule::CheapestNotWorse, &b);
        assert_eq!(d.winner.as_ref().unwrap().0, "sonnet", "{:#?}", d.reasoning);
        assert!(
            matches!(&d.standings[0].2, Standing::Worse(why) if why.contains("McNemar exact test on 20 paired items, p = 0.016")),
            "{:?}",
            d.standings
        );
        assert!(
            matches!(&d.standings[2].2, Standing::NotWorse(why) if why.contains("Newcombe")),
            "{:?}",
            d.standings
        );
        assert!(
            d.reasoning.iter().any(|l| l.contains("llmbench plan")),
            "{:#?}",
            d.reasoning
        );
        let fastest = choose_winner(&report, WinnerRule::FastestNotWorse, &b);
        assert_eq!(fastest.winner.unwrap().0, "opus");
        let highest = choose_winner(&report, WinnerRule::HighestPassRate, &b);
        assert_eq!(highest.winner.unwrap().0, "sonnet");
        // One sample each, all passing: nothing is significantly worse, the cheapest wins.
        let article = choose_winner(&article_run(), WinnerRule::CheapestNotWorse, &b);
        assert_eq!(
            article.winner.unwrap().0,
            "haiku",
            "{:#?}",
            article.reasoning
        );
        assert_eq!("fastest-not-worse".parse(), Ok(WinnerRule::FastestNotWorse));
        assert!(
            "cheap"
                .parse::<WinnerRule>()
                .unwrap_err()
                .contains("cheapest-not-worse")
        );
    }
}
