//! pass@k per model: the chance that at least one of k samples of an item passes, estimated
//! per (task, item, provider) with the unbiased estimator of Chen et al. 2021
//! ([`crate::stats::pass_at_k`]) and averaged over items, with a bootstrap interval over items.
//!
//! `n` is an item's graded samples (repeats with a verdict) and `c` those that passed. Samples
//! without an answer (the provider failed for good) are left out of `n`, as they are left out
//! of pass rates. Items with fewer than `k` graded samples are left out of pass@k and counted
//! ([`PassAtK::excluded`]).

use std::collections::HashMap;

use llmbench_core::RunReport;

use crate::stats::{Bootstrap, Estimate, Statistic, bootstrap_interval, pass_at_k};

/// What one provider did on one item: its samples, graded samples and passes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemOutcome {
    pub task: String,
    pub item: String,
    pub provider: String,
    /// Samples recorded, with or without an answer.
    pub samples: u64,
    /// Graded samples (with a verdict): the estimator's `n`.
    pub n: u64,
    /// Graded samples that passed: the estimator's `c`.
    pub c: u64,
}

impl ItemOutcome {
    /// pass@k of this item; `None` when it has fewer than `k` graded samples.
    pub fn pass_at_k(&self, k: u32) -> Option<f64> {
        pass_at_k(self.n, self.c, k)
    }
}

/// One outcome per (task, item, provider) that has a sample, in report order (the order of
/// each group's first sample: for a report read from the store, tasks and providers in config
/// order, then item name).
pub fn item_outcomes(report: &RunReport) -> Vec<ItemOutcome> {
    let mut out: Vec<ItemOutcome> = Vec::new();
    let mut index: HashMap<(&str, &str, &str), usize> = HashMap::new();
    for s in &report.samples {
        let key = (
            s.key.task.as_str(),
            s.key.item.as_str(),
            s.key.provider.as_str(),
        );
        let i = *index.entry(key).or_insert_with(|| {
            out.push(ItemOutcome {
                task: s.key.task.clone(),
                item: s.key.item.clone(),
                provider: s.key.provider.clone(),
                samples: 0,
                n: 0,
                c: 0,
            });
            out.len() - 1
        });
        let o = &mut out[i];
        o.samples += 1;
        if let Some(v) = &s.verdict {
            o.n += 1;
            o.c += u64::from(v.pass);
        }
    }
    out
}

/// The k a report shows: the run's `pass-at-k` (sorted, without duplicates or 0); when the run
/// asked for none, `[1]` if some provider sampled some item more than once, else none.
pub fn ks_for(report: &RunReport) -> Vec<u32> {
    let mut ks: Vec<u32> = report
        .run
        .pass_at_k
        .iter()
        .copied()
        .filter(|&k| k > 0)
        .collect();
    ks.sort_unstable();
    ks.dedup();
    if ks.is_empty() && item_outcomes(report).iter().any(|o| o.samples > 1) {
        ks.push(1);
    }
    ks
}

/// pass@k for one k, over a provider's items.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PassAtK {
    pub k: u32,
    /// The mean of the items' pass@k, with its 95% bootstrap percentile interval over items
    /// (`None` for a single item); `n` is the number of items averaged. `None` when no item
    /// has `k` graded samples.
    pub estimate: Option<Estimate>,
    /// Items left out: fewer than `k` graded samples.
    pub excluded: u64,
}

/// One provider's pass@k, on one task or on all of them.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelPassAtK {
    pub task: Option<String>,
    pub provider: String,
    pub model: String,
    pub label: String,
    /// Items with at least one sample of this provider.
    pub items: u64,
    /// One entry per k, in the order given.
    pub values: Vec<PassAtK>,
}

impl ModelPassAtK {
    /// The entry for `k`, if it was asked for.
    pub fn get(&self, k: u32) -> Option<&PassAtK> {
        self.values.iter().find(|v| v.k == k)
    }
}

/// pass@k for each of `ks`, one entry per provider in config order, over `task` or over all
/// tasks (an item is then a (task, item) pair). The bootstrap resamples items with the given
/// settings (and their seed), like every other interval in the reports.
pub fn analyze(
    report: &RunReport,
    task: Option<&str>,
    ks: &[u32],
    bootstrap: &Bootstrap,
) -> Vec<ModelPassAtK> {
    let outcomes = item_outcomes(report);
    report
        .run
        .providers
        .iter()
        .map(|(provider, model, label)| {
            let mine: Vec<&ItemOutcome> = outcomes
                .iter()
                .filter(|o| &o.provider == provider && task.is_none_or(|t| o.task == t))
                .collect();
            let values = ks
                .iter()
                .map(|&k| {
                    let per_item: Vec<f64> = mine.iter().filter_map(|o| o.pass_at_k(k)).collect();
                    PassAtK {
                        k,
                        estimate: bootstrap_interval(&per_item, Statistic::Mean, bootstrap),
                        excluded: (mine.len() - per_item.len()) as u64,
                    }
                })
                .collect();
            ModelPassAtK {
                task: task.map(str::to_owned),
                provider: provider.clone(),
                model: model.clone(),
                label: label.clone(),
                items: mine.len() as u64,
                values,
            }
        })
        .collect()
}

/// The note every report prints under its pass@k table: what the numbers are, why pass@1 is
/// shown when the run asked for no k, and which items were left out. `models` are the
/// all-tasks analyses.
pub fn notes(report: &RunReport, models: &[ModelPassAtK], bootstrap: &Bootstrap) -> Vec<String> {
    let mut notes = vec![format!(
        "pass@k is the chance that at least one of k samples of an item passes, estimated for each item from its n graded samples of which c passed as 1 − C(n−c, k)/C(n, k) (the unbiased estimator of Chen et al. 2021), then averaged over items; intervals are 95% bootstrap percentile intervals over items ({} resamples, fixed seed).",
        crate::format::thousands(f64::from(bootstrap.resamples))
    )];
    if report.run.pass_at_k.is_empty() {
        notes.push(
            "The run asked for no k (`[run] pass-at-k`), so only pass@1 is shown: the mean over items of each item's pass rate."
                .into(),
        );
    }
    let ks: Vec<u32> = models
        .first()
        .map(|m| m.values.iter().map(|v| v.k).collect())
        .unwrap_or_default();
    for k in ks {
        let left_out: Vec<String> = models
            .iter()
            .filter_map(|m| {
                let v = m.get(k)?;
                (v.excluded > 0).then(|| {
                    format!(
                        "{} {} of {} item{}",
                        m.label,
                        v.excluded,
                        m.items,
                        if m.items == 1 { "" } else { "s" }
                    )
                })
            })
            .collect();
        if !left_out.is_empty() {
            notes.push(format!(
                "pass@{k} leaves out items with fewer than {k} graded sample{}: {}.",
                if k == 1 { "" } else { "s" },
                left_out.join(", ")
            ));
        }
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{article_run, repeated_run};

    fn close(actual: f64, expected: f64) {
        assert!((actual - expected).abs() < 1e-12, "{actual} vs {expected}");
    }

    #[test]
    fn outcomes_count_graded_samples_and_passes_per_item() {
        let report = repeated_run();
        let outcomes = item_outcomes(&report);
        // 10 items x 3 providers, in report order.
        assert_eq!(outcomes.len(), 30);
        assert_eq!(
            (outcomes[0].provider.as_str(), outcomes[0].item.as_str()),
            ("haiku", "case-00")
        );
        // Haiku fails samples 0 and 2, 3, 5, 8, ...: case-00 is samples 0 and 1.
        assert_eq!(
            (outcomes[0].samples, outcomes[0].n, outcomes[0].c),
            (2, 2, 1)
        );
        // Opus's sample 9 (case-04, repeat 1) is a provider error: recorded, not graded.
        let opus4 = outcomes
            .iter()
            .find(|o| o.provider == "opus" && o.item == "case-04")
            .unwrap();
        assert_eq!((opus4.samples, opus4.n, opus4.c), (2, 1, 1));
        assert_eq!(opus4.pass_at_k(1), Some(1.0));
        assert_eq!(opus4.pass_at_k(2), None);
    }

    #[test]
    fn ks_default_to_pass_at_1_only_with_repeats() {
        assert_eq!(ks_for(&repeated_run()), vec![1]);
        assert!(ks_for(&article_run()).is_empty());
        let mut asked = article_run();
        asked.run.pass_at_k = vec![10, 1, 10, 0];
        assert_eq!(ks_for(&asked), vec![1, 10]);
    }

    /// pass@k of a model is the plain mean of its items' pass@k, over the items that have k
    /// graded samples; here checked against per-item values from the formula.
    #[test]
    fn averages_over_items() {
        let report = repeated_run();
        let b = Bootstrap::default();
        let models = analyze(&report, None, &[1, 2, 3], &b);
        let [haiku, sonnet, opus] = &models[..] else {
            panic!("{models:?}")
        };
        let outcomes = item_outcomes(&report);
        for m in [haiku, sonnet, opus] {
            let mine: Vec<&ItemOutcome> = outcomes
                .iter()
                .filter(|o| o.provider == m.provider)
                .collect();
            for k in [1, 2] {
                let expected: Vec<f64> = mine
                    .iter()
                    .filter(|o| o.n >= u64::from(k))
                    .map(|o| {
                        // By hand: pass@1 = c/n; pass@2 with n = 2 is 1 if c >= 1.
                        match (k, o.n, o.c) {
                            (1, n, c) => c as f64 / n as f64,
                            (2, 2, c) => f64::from(u8::from(c >= 1)),
                            other => panic!("{other:?}"),
                        }
                    })
                    .collect();
                let e = m.get(k).unwrap().estimate.unwrap();
                close(
                    e.value,
                    expected.iter().sum::<f64>() / expected.len() as f64,
                );
                assert_eq!(e.n, expected.len());
                let ci = e.interval.unwrap();
                assert!(ci.low <= e.value && e.value <= ci.high, "{e:?}");
            }
            assert_eq!(m.items, 10);
            let three = m.get(3).unwrap();
            assert_eq!((three.estimate, three.excluded), (None, 10));
        }
        // Sonnet passes 18/20 with every item passed at least once.
        close(sonnet.get(1).unwrap().estimate.unwrap().value, 0.9);
        close(sonnet.get(2).unwrap().estimate.unwrap().value, 1.0);
        // Opus: 17/19; its errored item has one graded sample, so pass@2 leaves it out and
        // pass@1 (a mean of item rates) differs from the pooled rate 17/19.
        assert_eq!(opus.get(1).unwrap().excluded, 0);
        assert_eq!(opus.get(2).unwrap().excluded, 1);
        close(opus.get(1).unwrap().estimate.unwrap().value, 0.9);
        assert_eq!(opus.get(2).unwrap().estimate.unwrap().n, 9);
        // Deterministic.
        assert_eq!(models, analyze(&report, None, &[1, 2, 3], &b));
    }

    #[test]
    fn per_task_and_single_item_runs() {
        let report = article_run();
        let b = Bootstrap::default();
        let models = analyze(&report, Some("race-condition"), &[1], &b);
        let e = models[0].get(1).unwrap().estimate.unwrap();
        assert_eq!((e.value, e.interval, e.n), (1.0, None, 1));
        assert_eq!(models[0].task.as_deref(), Some("race-condition"));
        let none = analyze(&report, Some("other-task"), &[1], &b);
        assert_eq!(none[0].items, 0);
        assert_eq!(none[0].get(1).unwrap().estimate, None);
    }

    #[test]
    fn notes_say_why_pass_at_1_and_what_was_left_out() {
        let mut report = repeated_run();
        let b = Bootstrap::default();
        let models = analyze(&report, None, &[1], &b);
        let n = notes(&report, &models, &b);
        assert!(n[0].contains("Chen et al. 2021"), "{n:?}");
        assert!(n[1].contains("asked for no k"), "{n:?}");
        assert_eq!(n.len(), 2, "{n:?}");
        report.run.pass_at_k = vec![1, 2];
        let models = analyze(&report, None, &[1, 2], &b);
        let n = notes(&report, &models, &b);
        assert_eq!(
            n[1..],
            [
                "pass@2 leaves out items with fewer than 2 graded samples: Claude Opus 4.7 1 of 10 items."
            ]
        );
    }
}
