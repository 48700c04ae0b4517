//! How two runs differ (what `llmbench compare` prints and `llmbench gate` checks): per model
//! and task, how pass rate, p95 latency and cost changed from run A to run B, each change
//! marked significant or not with the test named.
//!
//! Samples of the two runs are matched by (task, item, repeat) for each provider name. When
//! both runs graded (or answered) exactly the same keys, the tests are paired: McNemar's test
//! for pass/fail, a paired bootstrap for p95 latency and mean cost. Otherwise: Newcombe's
//! interval for the difference of two independent pass rates, and independent bootstraps.
//! Significance is at α = 0.05 (a 95% interval that excludes 0).

use std::collections::{BTreeMap, BTreeSet};

use llmbench_core::{RunReport, SampleRecord};

use crate::analysis::{samples_of, tasks};
use crate::format::{p_value, percent, points, relative_change, signed_thousands, thousands};
use crate::stats::{
    ALPHA, Bootstrap, Difference, Statistic, independent_bootstrap, mcnemar,
    newcombe_difference_interval, paired_bootstrap,
};

/// The change of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricChange {
    pub old: f64,
    pub new: f64,
    /// `new - old` with its interval and the test, when there are enough samples to test.
    pub difference: Option<Difference>,
}

impl MetricChange {
    pub fn significant(&self) -> bool {
        self.difference.is_some_and(|d| d.significant())
    }

    /// "paired bootstrap, 95% CI +300 to +1,200: significant".
    pub fn test_text(&self, unit: &str, fmt: &dyn Fn(f64) -> String) -> String {
        match &self.difference {
            None => "not tested: fewer than 2 samples on a side".into(),
            Some(d) => format!(
                "{} bootstrap, 95% CI {} to {}{unit}: {}",
                if d.paired { "paired" } else { "independent" },
                fmt(d.interval.low),
                fmt(d.interval.high),
                if d.significant() {
                    "significant"
                } else {
                    "not significant"
                }
            ),
        }
    }
}

/// The change of a pass rate.
#[derive(Debug, Clone, PartialEq)]
pub struct PassChange {
    pub old: (u64, u64),
    pub new: (u64, u64),
    pub significant: bool,
    /// The test and its result, e.g. "McNemar exact test, 4 discordant pairs, p = 0.62".
    pub test: String,
}

impl PassChange {
    pub fn old_rate(&self) -> f64 {
        self.old.0 as f64 / self.old.1 as f64
    }

    pub fn new_rate(&self) -> f64 {
        self.new.0 as f64 / self.new.1 as f64
    }
}

/// How one provider changed on one task (or on all tasks).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub task: Option<String>,
    pub provider: String,
    pub label: String,
    /// The model differs between the runs: (old, new).
    pub model_changed: Option<(String, String)>,
    pub in_old: bool,
    pub in_new: bool,
    pub pass: Option<PassChange>,
    pub p95_latency_ms: Option<MetricChange>,
    pub cost_usd: Option<MetricChange>,
}

type Key = (String, String, u32);

fn key(s: &SampleRecord) -> Key {
    (s.key.task.clone(), s.key.item.clone(), s.key.repeat)
}

/// The change of `provider` on `task` (or all tasks) from `old` to `new`.
pub fn change(
    old: &RunReport,
    new: &RunReport,
    provider: &str,
    task: Option<&str>,
    bootstrap: &Bootstrap,
) -> Change {
    let so: Vec<&SampleRecord> = samples_of(old, provider, task).collect();
    let sn: Vec<&SampleRecord> = samples_of(new, provider, task).collect();
    let find = |r: &RunReport| {
        r.run
            .providers
            .iter()
            .find(|(p, _, _)| p == provider)
            .cloned()
    };
    let (po, pn) = (find(old), find(new));
    let label = pn
        .as_ref()
        .or(po.as_ref())
        .map_or_else(|| provider.to_owned(), |(_, _, l)| l.clone());
    let model_changed = match (&po, &pn) {
        (Some((_, mo, _)), Some((_, mn, _))) if mo != mn => Some((mo.clone(), mn.clone())),
        _ => None,
    };

    // Pass rate.
    let graded = |ss: &[&SampleRecord]| -> BTreeMap<Key, bool> {
        ss.iter()
            .filter_map(|s| Some((key(s), s.verdict.as_ref()?.pass)))
            .collect()
    };
    let (go, gn) = (graded(&so), graded(&sn));
    let pass = (!go.is_empty() && !gn.is_empty()).then(|| {
        let count =
            |g: &BTreeMap<Key, bool>| (g.values().filter(|p| **p).count() as u64, g.len() as u64);
        let (old_counts, new_counts) = (count(&go), count(&gn));
        if go.keys().eq(gn.keys()) {
            let pairs: Vec<(bool, bool)> = go
                .values()
                .zip(gn.values())
                .map(|(a, b)| (*b, *a))
                .collect();
            let m = mcnemar(&pairs);
            PassChange {
                old: old_counts,
                new: new_counts,
                significant: m.significant(ALPHA),
                test: format!(
                    "{} on {} paired sample{}, {} discordant, {}",
                    m.method.describe(),
                    m.pairs,
                    if m.pairs == 1 { "" } else { "s" },
                    m.discordant(),
                    p_value(m.p_value)
                ),
            }
        } else {
            let ci = newcombe_difference_interval(new_counts, old_counts, 1.0 - ALPHA)
                .expect("both sides have trials");
            PassChange {
                old: old_counts,
                new: new_counts,
                significant: ci.excludes(0.0),
                test: format!(
                    "different samples, so Newcombe's 95% interval for the difference: {} to {}",
                    points(ci.low),
                    points(ci.high)
                ),
            }
        }
    });

    // Latency and cost: paired when the same keys have values on both sides.
    let values =
        |ss: &[&SampleRecord], f: &dyn Fn(&SampleRecord) -> Option<f64>| -> BTreeMap<Key, f64> {
            ss.iter().filter_map(|s| Some((key(s), f(s)?))).collect()
        };
    let metric =
        |f: &dyn Fn(&SampleRecord) -> Option<f64>, stat: Statistic| -> Option<MetricChange> {
            let (vo, vn) = (values(&so, f), values(&sn, f));
            if vo.is_empty() || vn.is_empty() {
                return None;
            }
            let o: Vec<f64> = vo.values().copied().collect();
            let n: Vec<f64> = vn.values().copied().collect();
            let difference = if vo.keys().eq(vn.keys()) {
                paired_bootstrap(&n, &o, stat, bootstrap)
            } else {
                independent_bootstrap(&n, &o, stat, bootstrap)
            };
            Some(MetricChange {
                old: stat.of(&o),
                new: stat.of(&n),
                difference,
            })
        };
    let latency = |s: &SampleRecord| {
        s.completion
            .as_ref()
            .map(|c| c.timings.latency.as_secs_f64() * 1000.0)
    };
    let cost = |s: &SampleRecord| s.cost_usd;
    Change {
        task: task.map(str::to_owned),
        provider: provider.to_owned(),
        label,
        model_changed,
        in_old: po.is_some(),
        in_new: pn.is_some(),
        pass,
        p95_latency_ms: metric(&latency, Statistic::Quantile(0.95)),
        cost_usd: metric(&cost, Statistic::Mean),
    }
}

/// Providers of both runs: A's in config order, then B's new ones.
pub fn providers(old: &RunReport, new: &RunReport) -> Vec<String> {
    let mut seen = BTreeSet::new();
    old.run
        .providers
        .iter()
        .chain(&new.run.providers)
        .filter(|(p, _, _)| seen.insert(p.clone()))
        .map(|(p, _, _)| p.clone())
        .collect()
}

fn signed_usd(x: f64) -> String {
    format!("{}{x:.5}", if x > 0.0 { "+" } else { "" })
}

/// The comparison as `llmbench compare` prints it.
pub fn render(old: &RunReport, new: &RunReport, bootstrap: &Bootstrap) -> String {
    let mut out = format!(
        "Comparing run B {} with run A {} (changes are B - A; significant at alpha 0.05).\n",
        new.run.run_id, old.run.run_id
    );
    let mut task_names = tasks(old);
    for t in tasks(new) {
        if !task_names.contains(&t) {
            task_names.push(t);
        }
    }
    let mut scopes: Vec<Option<&str>> = task_names.iter().map(|t| Some(t.as_str())).collect();
    if task_names.len() > 1 {
        scopes.push(None);
    }
    for task in scopes {
        for provider in providers(old, new) {
            let c = change(old, new, &provider, task, bootstrap);
            out.push('\n');
            out.push_str(&format!("{} · {}\n", task.unwrap_or("all tasks"), c.label));
            if !c.in_old || !c.in_new {
                out.push_str(&format!(
                    "  only in run {}\n",
                    if c.in_old { "A" } else { "B" }
                ));
                continue;
            }
            if let Some((mo, mn)) = &c.model_changed {
                out.push_str(&format!("  model changed: {mo} -> {mn}\n"));
            }
            match &c.pass {
                Some(p) => out.push_str(&format!(
                    "  pass rate    {}/{} ({}) -> {}/{} ({})  {}  {}: {}\n",
                    p.old.0,
                    p.old.1,
                    percent(p.old_rate()),
                    p.new.0,
                    p.new.1,
                    percent(p.new_rate()),
                    points(p.new_rate() - p.old_rate()),
                    p.test,
                    if p.significant {
                        "significant"
                    } else {
                        "not significant"
                    }
                )),
                None => out.push_str("  pass rate    no graded sample on one side\n"),
            }
            match &c.p95_latency_ms {
                Some(m) => out.push_str(&format!(
                    "  p95 latency  {} -> {} ms  {}  {}\n",
                    thousands(m.old),
                    thousands(m.new),
                    relative_change(m.new, m.old).unwrap_or_else(|| "n/a".into()),
                    m.test_text(" ms", &signed_thousands)
                )),
                None => out.push_str("  p95 latency  no answer on one side\n"),
            }
            match &c.cost_usd {
                Some(m) => out.push_str(&format!(
                    "  cost         {:.5} -> {:.5} USD per sample  {}  {}\n",
                    m.old,
                    m.new,
                    relative_change(m.new, m.old).unwrap_or_else(|| "n/a".into()),
                    m.test_text(" USD", &signed_usd)
                )),
                None => out
                    .push_str("  cost         unknown on one side (no price, or unknown usage)\n"),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::repeated_run;

    #[test]
    fn a_run_compared_with_itself_changes_nothing() {
        let r = repeated_run();
        let c = change(&r, &r, "haiku", None, &Bootstrap::default());
        let p = c.pass.unwrap();
        assert!(!p.significant);
        assert!(
            p.test
                .starts_with("McNemar exact test on 20 paired samples, 0 discordant"),
            "{}",
            p.test
        );
        let l = c.p95_latency_ms.unwrap();
        assert_eq!(l.old, l.new);
        assert!(!l.significant());
        assert!(l.difference.unwrap().paired);
    }

    #[test]
    fn slower_and_worse_is_significant() {
        let old = repeated_run();
        let mut new = repeated_run();
        for s in new
            .samples
            .iter_mut()
            .filter(|s| s.key.provider == "sonnet")
        {
            if let Some(c) = &mut s.completion {
                c.timings.latency *= 2;
            }
            if let Some(v) = &mut s.verdict {
                v.pass = s.key.repeat == 0;
            }
        }
        let c = change(
            &old,
            &new,
            "sonnet",
            Some("race-condition"),
            &Bootstrap::default(),
        );
        let p = c.pass.unwrap();
        assert_eq!((p.old, p.new), ((18, 20), (10, 20)));
        assert!(p.significant, "{p:?}");
        assert!(c.p95_latency_ms.unwrap().significant());
        let cost = c.cost_usd.unwrap();
        assert!(!cost.significant(), "same costs: {cost:?}");
        // 9 samples went from pass to fail, 1 from fail to pass: 2 * P(X <= 1 | n = 10) = 0.021.
        let text = render(&old, &new, &Bootstrap::default());
        assert!(text.contains("pass rate    18/20 (90%) -> 10/20 (50%)  -40 points  McNemar exact test on 20 paired samples, 10 discordant, p = 0.021: significant"), "{text}");
        // Opus lost a sample to an error in both runs: the same keys, still paired.
        assert!(
            text.contains("Claude Opus 4.7\n  pass rate    17/19"),
            "{text}"
        );
    }

    #[test]
    fn different_samples_fall_back_to_unpaired_tests() {
        let old = repeated_run();
        let mut new = repeated_run();
        // Run B lost haiku's repeat 0: the keys differ, so nothing can be paired.
        new.samples
            .retain(|s| !(s.key.provider == "haiku" && s.key.repeat == 0));
        let c = change(&old, &new, "haiku", None, &Bootstrap::default());
        let p = c.pass.unwrap();
        assert!(
            p.test
                .starts_with("different samples, so Newcombe's 95% interval"),
            "{}",
            p.test
        );
        assert!(!p.significant, "{p:?}");
        let latency = c.p95_latency_ms.unwrap();
        assert!(!latency.difference.unwrap().paired);
        assert!(
            latency
                .test_text(" ms", &signed_thousands)
                .starts_with("independent bootstrap, 95% CI "),
            "{latency:?}"
        );
    }

    #[test]
    fn a_provider_in_one_run_only_is_said() {
        let old = repeated_run();
        let mut new = repeated_run();
        new.run.providers.retain(|(p, _, _)| p != "opus");
        new.samples.retain(|s| s.key.provider != "opus");
        assert_eq!(providers(&old, &new), ["haiku", "sonnet", "opus"]);
        let c = change(&old, &new, "opus", None, &Bootstrap::default());
        assert!(c.in_old && !c.in_new);
        assert!(c.pass.is_none() && c.p95_latency_ms.is_none());
        let text = render(&old, &new, &Bootstrap::default());
        assert!(
            text.contains("Claude Opus 4.7\n  only in run A\n"),
            "{text}"
        );
    }
}
