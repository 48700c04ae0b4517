//! Samples to metrics: [`MetricsObserver`] is told about every finished sample by the runner,
//! and [`record_sample`] turns one into observations. When `serve` starts,
//! [`record_aggregates`] adds what the store summed per run instead (a run's aggregates,
//! counted in [`histogram_buckets`]): the same series with the same values as replaying every
//! stored sample through [`record_sample`], without reading the samples.
//!
//! This is here, not in `llmbench-metrics`, because it reads the config (provider entries),
//! the runner's [`Observer`] and the store's [`AttemptRecord`]: the metrics crate stays below
//! all three (core and prometheus only).

use std::collections::HashMap;
use std::sync::Arc;

use llmbench_config::Config;
use llmbench_core::SampleRecord;
use llmbench_metrics::{MetricId, Metrics, ModelLabels, provider_family, sample_result};
use llmbench_runner::Observer;
use llmbench_store::{AttemptRecord, HistogramBuckets, RunAggregates};

/// Provider entry name in the config -> its model labels.
pub fn provider_labels(config: &Config) -> HashMap<String, ModelLabels> {
    config
        .providers
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                ModelLabels {
                    family: provider_family(&p.plugin),
                    provider: p.name.clone(),
                    model: p.model.clone(),
                },
            )
        })
        .collect()
}

/// The labels of a sample's provider entry: from `providers`, else
/// [`ModelLabels::unknown`].
pub fn labels_of(providers: &HashMap<String, ModelLabels>, record: &SampleRecord) -> ModelLabels {
    providers
        .get(&record.key.provider)
        .cloned()
        .unwrap_or_else(|| ModelLabels::unknown(&record.key.provider, &record.model))
}

/// Records one finished sample: its attempts (latency, errors, retries), its answer
/// (time to first token, throughput, tokens, cost), its grades, what grading spent (a
/// judge's tokens and cost, apart from the model's) and its verdict.
pub fn record_sample(
    metrics: &Metrics,
    labels: &ModelLabels,
    record: &SampleRecord,
    attempts: &[AttemptRecord],
) {
    let (f, p, m, t) = (
        labels.family.as_str(),
        labels.provider.as_str(),
        labels.model.as_str(),
        record.key.task.as_str(),
    );
    for (i, attempt) in attempts.iter().enumerate() {
        if attempt.outcome == "ok" {
            // The provider's own timing of the answer is closer to the wire.
            let seconds = record
                .completion
                .as_ref()
                .map_or(attempt.duration_seconds, |c| {
                    c.timings.latency.as_secs_f64()
                });
            metrics.observe(MetricId::RequestDuration, &[f, p, m, t, "success"], seconds);
            continue;
        }
        metrics.observe(
            MetricId::RequestDuration,
            &[f, p, m, t, "error"],
            attempt.duration_seconds,
        );
        let status = attempt
            .http_status
            .map_or_else(|| "none".to_owned(), |s| s.to_string());
        metrics.add(
            MetricId::RequestErrors,
            &[f, p, m, &attempt.outcome, &status],
            1.0,
        );
        if i + 1 < attempts.len() {
            metrics.add(MetricId::RequestRetries, &[f, p, m, &attempt.outcome], 1.0);
        }
    }
    if let Some(c) = &record.completion {
        if let Some(ttft) = c.timings.time_to_first_token {
            metrics.observe(
                MetricId::TimeToFirstToken,
                &[f, p, m, t],
                ttft.as_secs_f64(),
            );
        }
        if let Some(rate) = c.timings.output_tokens_per_second(c.usage.output_tokens) {
            metrics.observe(MetricId::OutputTokensPerSecond, &[f, p, m, t], rate);
        }
        let u = &c.usage;
        for (count, kind, cache) in [
            (u.input_tokens, "input", "none"),
            (u.cache_read_tokens, "input", "read"),
            (u.cache_write_tokens, "input", "creation"),
            (u.output_tokens, "output", "none"),
        ] {
            if let Some(n) = count {
                metrics.add(MetricId::Tokens, &[f, p, m, t, kind, cache], n as f64);
            }
        }
    }
    if let Some(cost) = record.cost_usd {
        metrics.add(MetricId::Cost, &[f, p, m, t], cost);
    }
    metrics.add(MetricId::Samples, &[f, p, m, t, sample_result(record)], 1.0);
    for (grader, grade) in &record.grades {
        metrics.add(
            MetricId::Grades,
            &[f, p, m, t, grader, grade.outcome.as_str()],
            1.0,
        );
        metrics.observe(
            MetricId::GradeScore,
            &[f, p, m, t, grader],
            grade.score.clamp(0.0, 1.0),
        );
        if let Some(u) = &grade.usage {
            for (count, kind) in [(u.total_input(), "input"), (u.output_tokens, "output")] {
                if let Some(n) = count {
                    metrics.add(
                        MetricId::GraderTokens,
                        &[f, p, m, t, grader, kind],
                        n as f64,
                    );
                }
            }
        }
        if let Some(cost) = grade.cost_usd {
            metrics.add(MetricId::GraderCost, &[f, p, m, t, grader], cost);
        }
    }
}

/// The buckets of the metrics' histograms, in which the store counts run aggregates
/// ([`llmbench_store::Store::set_histogram_buckets`]).
pub fn histogram_buckets() -> HistogramBuckets {
    let of = |id: MetricId| id.def().buckets.to_vec();
    HistogramBuckets {
        request_seconds: of(MetricId::RequestDuration),
        first_token_seconds: of(MetricId::TimeToFirstToken),
        output_tokens_per_second: of(MetricId::OutputTokensPerSecond),
        grade_score: of(MetricId::GradeScore),
    }
}

/// Records a stored run's aggregates: every series [`record_sample`] would have made of the
/// run's samples, with the same values (histograms restored as bucket counts, count and
/// sum; see [`Metrics::restore_histogram`]). Sums of fractional values (costs, seconds) are
/// added run by run rather than sample by sample, so they may differ from a replay in the
/// last bits.
///
/// Histograms counted in other buckets than the metrics' (a run whose samples retention
/// deleted before the buckets changed) are left out, with a warning: their counters are
/// still recorded. Returns the number of samples the aggregates stand for.
pub fn record_aggregates(
    metrics: &Metrics,
    providers: &HashMap<String, ModelLabels>,
    aggregates: &RunAggregates,
) -> u64 {
    let histograms = aggregates.buckets == histogram_buckets();
    if !histograms {
        tracing::warn!(
            run = aggregates.run_id,
            "the run's histograms were counted in other buckets than the metrics': left out of the rebuilt histograms"
        );
    }
    let mut samples = 0;
    for g in &aggregates.groups {
        let labels = providers
            .get(&g.provider)
            .cloned()
            .unwrap_or_else(|| ModelLabels::unknown(&g.provider, &g.model));
        let (f, p, m, t) = (
            labels.family.as_str(),
            labels.provider.as_str(),
            labels.model.as_str(),
            g.task.as_str(),
        );
        samples += g.samples;
        let histogram = |id: MetricId, labels: &[&str], h: &llmbench_store::Histogram| {
            if histograms && h.count > 0 {
                metrics.restore_histogram(id, labels, &h.buckets, h.count, h.sum);
            }
        };
        histogram(
            MetricId::RequestDuration,
            &[f, p, m, t, "success"],
            &g.request_seconds_success,
        );
        histogram(
            MetricId::RequestDuration,
            &[f, p, m, t, "error"],
            &g.request_seconds_error,
        );
        for ((outcome, status), n) in &g.attempt_errors {
            let status = status.map_or_else(|| "none".to_owned(), |s| s.to_string());
            metrics.add(
                MetricId::RequestErrors,
                &[f, p, m, outcome, &status],
                *n as f64,
            );
        }
        for (outcome, n) in &g.attempt_retries {
            metrics.add(MetricId::RequestRetries, &[f, p, m, outcome], *n as f64);
        }
        histogram(
            MetricId::TimeToFirstToken,
            &[f, p, m, t],
            &g.first_token_seconds,
        );
        histogram(
            MetricId::OutputTokensPerSecond,
            &[f, p, m, t],
            &g.output_tokens_per_second,
        );
        let tk = &g.tokens;
        for (count, kind, cache) in [
            (tk.input, "input", "none"),
            (tk.cache_read, "input", "read"),
            (tk.cache_write, "input", "creation"),
            (tk.output, "output", "none"),
        ] {
            if let Some(n) = count {
                metrics.add(MetricId::Tokens, &[f, p, m, t, kind, cache], n as f64);
            }
        }
        if let Some(cost) = g.cost_usd {
            metrics.add(MetricId::Cost, &[f, p, m, t], cost);
        }
        let errors = g.samples.saturating_sub(g.passes + g.fails);
        for (result, n) in [("pass", g.passes), ("fail", g.fails), ("error", errors)] {
            // A series exists once a sample had the result, as when replaying samples.
            if n > 0 {
                metrics.add(MetricId::Samples, &[f, p, m, t, result], n as f64);
            }
        }
        for (grader, totals) in &g.grades {
            for (result, n) in [
                ("pass", totals.pass),
                ("fail", totals.fail),
                ("error", totals.error),
            ] {
                if n > 0 {
                    metrics.add(MetricId::Grades, &[f, p, m, t, grader, result], n as f64);
                }
            }
            histogram(MetricId::GradeScore, &[f, p, m, t, grader], &totals.score);
            for (count, kind) in [
                (totals.input_tokens, "input"),
                (totals.output_tokens, "output"),
            ] {
                if let Some(n) = count {
                    metrics.add(
                        MetricId::GraderTokens,
                        &[f, p, m, t, grader, kind],
                        n as f64,
                    );
                }
            }
            if let Some(cost) = totals.cost_usd {
                metrics.add(MetricId::GraderCost, &[f, p, m, t, grader], cost);
            }
        }
    }
    samples
}

/// Creates every `llmbench_samples_total` series of a config at 0, so that pass rates and
/// error rates exist before the first sample finishes.
pub fn touch_samples(metrics: &Metrics, config: &Config) {
    let labels = provider_labels(config);
    for p in &config.providers {
        let l = &labels[&p.name];
        for t in &config.tasks {
            for result in ["pass", "fail", "error"] {
                metrics.touch(
                    MetricId::Samples,
                    &[&l.family, &l.provider, &l.model, &t.name, result],
                );
            }
        }
    }
}

/// The runner's [`Observer`] that records every finished sample in [`Metrics`].
#[derive(Debug)]
pub struct MetricsObserver {
    metrics: Arc<Metrics>,
    providers: HashMap<String, ModelLabels>,
}

impl MetricsObserver {
    /// `providers` maps provider entry names (as in sample keys) to their labels; see
    /// [`provider_labels`].
    pub fn new(metrics: Arc<Metrics>, providers: HashMap<String, ModelLabels>) -> Self {
        Self { metrics, providers }
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }
}

impl Observer for MetricsObserver {
    fn sample_finished(&self, record: &SampleRecord, attempts: &[AttemptRecord]) {
        let labels = labels_of(&self.providers, record);
        record_sample(&self.metrics, &labels, record, attempts);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmbench_core::{
        Completion, Grade, GradeKind, SampleKey, SampleStatus, StopReason, Timings, Usage, Verdict,
    };

    use super::*;

    fn labels(provider: &str) -> ModelLabels {
        ModelLabels {
            family: "anthropic".into(),
            provider: provider.into(),
            model: "claude-haiku-4-5".into(),
        }
    }

    fn record(pass: bool) -> SampleRecord {
        SampleRecord {
            key: SampleKey {
                task: "arith".into(),
                item: "i1".into(),
                provider: "haiku".into(),
                repeat: 0,
            },
            model: "claude-haiku-4-5".into(),
            status: SampleStatus::Done,
            completion: Some(Completion {
                text: "4".into(),
                stop_reason: StopReason::EndTurn,
                usage: Usage {
                    input_tokens: Some(1000),
                    output_tokens: Some(201),
                    cache_read_tokens: Some(500),
                    cache_write_tokens: None,
                    reasoning_tokens: None,
                },
                timings: Timings {
                    latency: Duration::from_millis(2500),
                    time_to_first_token: Some(Duration::from_millis(500)),
                },
                response_model: None,
            }),
            error: None,
            grades: vec![(
                "regex".into(),
                if pass {
                    Grade::pass("ok")
                } else {
                    Grade::fail("no")
                },
            )],
            verdict: Some(Verdict {
                pass,
                score: f64::from(u8::from(pass)),
                first_failure: None,
            }),
            cost_usd: Some(0.00205),
            attempts: 2,
            request: None,
        }
    }

    fn attempts() -> Vec<AttemptRecord> {
        vec![
            AttemptRecord {
                outcome: "overloaded".into(),
                http_status: Some(529),
                wait_seconds: 0.0,
                duration_seconds: 0.2,
            },
            AttemptRecord {
                outcome: "ok".into(),
                http_status: None,
                wait_seconds: 0.5,
                duration_seconds: 2.6,
            },
        ]
    }

    #[test]
    fn a_sample_becomes_observations() {
        let m = Metrics::new();
        let l = labels("haiku");
        record_sample(&m, &l, &record(true), &attempts());
        record_sample(&m, &l, &record(false), &attempts()[1..]);
        let pmt = ["anthropic", "haiku", "claude-haiku-4-5", "arith"];
        let with = |extra: &[&'static str]| -> Vec<&str> {
            pmt.iter().copied().chain(extra.iter().copied()).collect()
        };
        assert_eq!(m.value(MetricId::RequestDuration, &with(&["success"])), 2.0);
        assert_eq!(m.value(MetricId::RequestDuration, &with(&["error"])), 1.0);
        assert_eq!(
            m.value(
                MetricId::RequestErrors,
                &[
                    "anthropic",
                    "haiku",
                    "claude-haiku-4-5",
                    "overloaded",
                    "529"
                ]
            ),
            1.0
        );
        assert_eq!(
            m.value(
                MetricId::RequestRetries,
                &["anthropic", "haiku", "claude-haiku-4-5", "overloaded"]
            ),
            1.0
        );
        assert_eq!(m.value(MetricId::TimeToFirstToken, &pmt), 2.0);
        // 200 tokens after the first in 2 s.
        assert_eq!(m.value(MetricId::OutputTokensPerSecond, &pmt), 2.0);
        assert_eq!(m.value(MetricId::Tokens, &with(&["input", "none"])), 2000.0);
        assert_eq!(m.value(MetricId::Tokens, &with(&["input", "read"])), 1000.0);
        assert_eq!(m.value(MetricId::Tokens, &with(&["output", "none"])), 402.0);
        assert_eq!(
            m.value(MetricId::Tokens, &with(&["input", "creation"])),
            0.0
        );
        assert!((m.value(MetricId::Cost, &pmt) - 0.0041).abs() < 1e-12);
        assert_eq!(m.value(MetricId::Samples, &with(&["pass"])), 1.0);
        assert_eq!(m.value(MetricId::Samples, &with(&["fail"])), 1.0);
        assert_eq!(m.value(MetricId::Grades, &with(&["regex", "pass"])), 1.0);
        assert_eq!(m.value(MetricId::GradeScore, &with(&["regex"])), 2.0);
        assert_eq!(m.sum(MetricId::GraderTokens), 0.0, "regex spends nothing");
        assert_eq!(m.sum(MetricId::GraderCost), 0.0);
        let text = m.render();
        assert!(
            text.contains(r#"llmbench_request_duration_seconds_bucket{gen_ai_provider_name="anthropic",gen_ai_request_model="claude-haiku-4-5",outcome="success",provider="haiku",task="arith",le="2.56"} 2"#),
            "{text}"
        );
    }

    /// A judge's tokens and cost are the grader's, never the model's.
    #[test]
    fn grading_spend_is_counted_apart() {
        let m = Metrics::new();
        let mut r = record(true);
        r.grades.push((
            "judge".into(),
            Grade {
                kind: GradeKind::Judgement,
                usage: Some(Usage {
                    input_tokens: Some(300),
                    cache_read_tokens: Some(100),
                    output_tokens: Some(40),
                    ..Usage::default()
                }),
                cost_usd: Some(0.25),
                ..Grade::pass("judged")
            },
        ));
        // A judge whose counts are unknown adds nothing, not 0.
        r.grades.push((
            "judge2".into(),
            Grade {
                usage: Some(Usage::default()),
                ..Grade::pass("judged")
            },
        ));
        record_sample(&m, &labels("haiku"), &r, &attempts()[1..]);
        record_sample(&m, &labels("haiku"), &r, &attempts()[1..]);
        let judge = ["anthropic", "haiku", "claude-haiku-4-5", "arith", "judge"];
        let with =
            |kind: &'static str| -> Vec<&str> { judge.iter().copied().chain([kind]).collect() };
        assert_eq!(m.value(MetricId::GraderTokens, &with("input")), 800.0);
        assert_eq!(m.value(MetricId::GraderTokens, &with("output")), 80.0);
        assert_eq!(m.value(MetricId::GraderCost, &judge), 0.5);
        assert_eq!(m.sum(MetricId::GraderTokens), 880.0, "nothing for judge2");
        assert_eq!(m.sum(MetricId::GraderCost), 0.5);
        // The model's own tokens and cost are unchanged by grading.
        assert!((m.sum(MetricId::Cost) - 0.0041).abs() < 1e-12);
        assert_eq!(m.sum(MetricId::Tokens), 2.0 * (1000.0 + 500.0 + 201.0));
    }

    /// Two provider entries of the same plugin and model are two series, not one.
    #[test]
    fn provider_entries_of_one_model_stay_apart() {
        let config_text = r#"
[providers.cold]
plugin = "provider-openai"
model = "m"
temperature = 0.0

[providers.hot]
plugin = "provider-openai"
model = "m"
temperature = 1.0

[tasks.t]
prompt = "hi"
items = [{ id = "a" }]
"#;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bench.toml");
        std::fs::write(&path, config_text).unwrap();
        let config = llmbench_config::load(&path).unwrap();
        let metrics = Arc::new(Metrics::new());
        touch_samples(&metrics, &config);
        let observer = MetricsObserver::new(metrics.clone(), provider_labels(&config));
        for (provider, pass) in [("cold", true), ("hot", false), ("hot", false)] {
            let mut r = record(pass);
            r.key.provider = provider.into();
            r.key.task = "t".into();
            r.model = "m".into();
            observer.sample_finished(&r, &attempts()[1..]);
        }
        let samples = |provider, result| {
            metrics.value(MetricId::Samples, &["openai", provider, "m", "t", result])
        };
        assert_eq!(samples("cold", "pass"), 1.0);
        assert_eq!(samples("cold", "fail"), 0.0);
        assert_eq!(samples("hot", "fail"), 2.0);
        assert_eq!(samples("hot", "pass"), 0.0);
        let text = metrics.render();
        for provider in ["cold", "hot"] {
            assert!(
                text.contains(&format!(
                    r#"llmbench_cost_usd_total{{gen_ai_provider_name="openai",gen_ai_request_model="m",provider="{provider}",task="t"}}"#
                )),
                "{text}"
            );
        }
    }

    #[test]
    fn an_unanswered_sample_is_an_error() {
        let m = Metrics::new();
        let mut r = record(true);
        r.status = SampleStatus::Error;
        r.completion = None;
        r.verdict = None;
        r.grades.clear();
        r.cost_usd = None;
        let observer = MetricsObserver::new(
            Arc::new(Metrics::new()),
            HashMap::from([("haiku".to_owned(), labels("haiku"))]),
        );
        observer.sample_finished(&r, &attempts()[..1]);
        record_sample(&m, &labels("haiku"), &r, &attempts()[..1]);
        for metrics in [&m, observer.metrics()] {
            assert_eq!(
                metrics.value(
                    MetricId::Samples,
                    &["anthropic", "haiku", "claude-haiku-4-5", "arith", "error"]
                ),
                1.0
            );
            assert_eq!(metrics.sum(MetricId::RequestRetries), 0.0);
            assert_eq!(metrics.sum(MetricId::Tokens), 0.0);
        }
    }

    #[test]
    fn a_provider_the_config_does_not_name_keeps_its_entry_name() {
        let observer = MetricsObserver::new(Arc::new(Metrics::new()), HashMap::new());
        observer.sample_finished(&record(true), &attempts()[1..]);
        assert_eq!(
            observer.metrics().value(
                MetricId::Samples,
                &["unknown", "haiku", "claude-haiku-4-5", "arith", "pass"]
            ),
            1.0
        );
    }
}
