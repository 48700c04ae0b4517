//! Samples to metrics: [`MetricsObserver`] is told about every finished sample by the runner,
//! and [`record_sample`] turns one into observations. The same function replays stored
//! samples, so live and rebuilt metrics agree.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use llmbench_config::Config;
use llmbench_core::{SampleRecord, SampleStatus};
use llmbench_runner::Observer;
use llmbench_store::AttemptRecord;

use crate::Metrics;
use crate::table::MetricId;

/// The labels that name a model: its provider family and the model id asked for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ModelLabels {
    /// `gen_ai_provider_name`: see [`provider_family`].
    pub provider: String,
    /// `gen_ai_request_model`.
    pub model: String,
}

/// The provider family of a provider plugin, for `gen_ai_provider_name`: the plugin's name
/// without its `provider-` prefix (`provider-openai` -> `openai`). A path names the plugin by
/// its library file (`../target/debug/libprovider_local.so` -> `local`).
pub fn provider_family(plugin: &str) -> String {
    let is_path = plugin.contains('/')
        || plugin.contains('\\')
        || [".so", ".dylib", ".dll"]
            .iter()
            .any(|e| plugin.ends_with(e));
    let name = if is_path {
        let stem = Path::new(plugin)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        stem.strip_prefix("lib").map(str::to_owned).unwrap_or(stem)
    } else {
        plugin.to_owned()
    };
    let family = name
        .strip_prefix("provider-")
        .or_else(|| name.strip_prefix("provider_"))
        .unwrap_or(&name);
    if family.is_empty() {
        "unknown".to_owned()
    } else {
        family.to_owned()
    }
}

/// Provider name in the config -> its model labels.
pub fn provider_labels(config: &Config) -> HashMap<String, ModelLabels> {
    config
        .providers
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                ModelLabels {
                    provider: provider_family(&p.plugin),
                    model: p.model.clone(),
                },
            )
        })
        .collect()
}

/// Records one finished sample: its attempts (latency, errors, retries), its answer
/// (time to first token, throughput, tokens, cost), its grades and its verdict.
pub fn record_sample(
    metrics: &Metrics,
    labels: &ModelLabels,
    record: &SampleRecord,
    attempts: &[AttemptRecord],
) {
    let (p, m, t) = (
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
            metrics.observe(MetricId::RequestDuration, &[p, m, t, "success"], seconds);
            continue;
        }
        metrics.observe(
            MetricId::RequestDuration,
            &[p, m, t, "error"],
            attempt.duration_seconds,
        );
        let status = attempt
            .http_status
            .map_or_else(|| "none".to_owned(), |s| s.to_string());
        metrics.add(
            MetricId::RequestErrors,
            &[p, m, &attempt.outcome, &status],
            1.0,
        );
        if i + 1 < attempts.len() {
            metrics.add(MetricId::RequestRetries, &[p, m, &attempt.outcome], 1.0);
        }
    }
    if let Some(c) = &record.completion {
        if let Some(ttft) = c.timings.time_to_first_token {
            metrics.observe(MetricId::TimeToFirstToken, &[p, m, t], ttft.as_secs_f64());
        }
        if let Some(rate) = c.timings.output_tokens_per_second(c.usage.output_tokens) {
            metrics.observe(MetricId::OutputTokensPerSecond, &[p, m, t], rate);
        }
        let u = &c.usage;
        for (count, kind, cache) in [
            (u.input_tokens, "input", "none"),
            (u.cache_read_tokens, "input", "read"),
            (u.cache_write_tokens, "input", "creation"),
            (u.output_tokens, "output", "none"),
        ] {
            if let Some(n) = count {
                metrics.add(MetricId::Tokens, &[p, m, t, kind, cache], n as f64);
            }
        }
    }
    if let Some(cost) = record.cost_usd {
        metrics.add(MetricId::Cost, &[p, m, t], cost);
    }
    metrics.add(MetricId::Samples, &[p, m, t, sample_result(record)], 1.0);
    for (grader, grade) in &record.grades {
        metrics.add(
            MetricId::Grades,
            &[p, m, t, grader, grade.outcome.as_str()],
            1.0,
        );
        metrics.observe(
            MetricId::GradeScore,
            &[p, m, t, grader],
            grade.score.clamp(0.0, 1.0),
        );
    }
}

/// `pass`, `fail`, or `error` for a sample without an answer or a verdict.
pub(crate) fn sample_result(record: &SampleRecord) -> &'static str {
    match (&record.status, &record.verdict) {
        (SampleStatus::Done, Some(v)) if v.pass => "pass",
        (SampleStatus::Done, Some(_)) => "fail",
        _ => "error",
    }
}

/// Creates every `llmbench_samples_total` series of a config at 0, so that pass rates and
/// error rates exist before the first sample finishes.
pub fn touch_samples(metrics: &Metrics, config: &Config) {
    let labels = provider_labels(config);
    for p in &config.providers {
        let l = &labels[&p.name];
        for t in &config.tasks {
            for result in ["pass", "fail", "error"] {
                metrics.touch(MetricId::Samples, &[&l.provider, &l.model, &t.name, result]);
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
    /// `providers` maps provider names (as in sample keys) to their labels; see
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
        let fallback;
        let labels = match self.providers.get(&record.key.provider) {
            Some(labels) => labels,
            None => {
                fallback = ModelLabels {
                    provider: "unknown".to_owned(),
                    model: record.model.clone(),
                };
                &fallback
            }
        };
        record_sample(&self.metrics, labels, record, attempts);
    }
}

/// Tells two observers everything (the progress bar and the metrics, say).
pub struct Both(pub Arc<dyn Observer>, pub Arc<dyn Observer>);

impl std::fmt::Debug for Both {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Both")
    }
}

impl Observer for Both {
    fn sample_skipped(&self) {
        self.0.sample_skipped();
        self.1.sample_skipped();
    }

    fn sample_finished(&self, record: &SampleRecord, attempts: &[AttemptRecord]) {
        self.0.sample_finished(record, attempts);
        self.1.sample_finished(record, attempts);
    }

    fn attempt_failed(&self, provider: &str, error: &llmbench_core::ProviderError) {
        self.0.attempt_failed(provider, error);
        self.1.attempt_failed(provider, error);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use llmbench_core::{Completion, Grade, SampleKey, StopReason, Timings, Usage, Verdict};

    use super::*;

    #[test]
    fn provider_families() {
        assert_eq!(provider_family("provider-openai"), "openai");
        assert_eq!(provider_family("provider-anthropic"), "anthropic");
        assert_eq!(
            provider_family("../target/debug/libprovider_local.so"),
            "local"
        );
        assert_eq!(provider_family("my-plugin"), "my-plugin");
        assert_eq!(provider_family("provider-"), "unknown");
    }

    fn labels() -> ModelLabels {
        ModelLabels {
            provider: "anthropic".into(),
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
        record_sample(&m, &labels(), &record(true), &attempts());
        record_sample(&m, &labels(), &record(false), &attempts()[1..]);
        let pmt = ["anthropic", "claude-haiku-4-5", "arith"];
        let with = |extra: &[&'static str]| -> Vec<&str> {
            pmt.iter().copied().chain(extra.iter().copied()).collect()
        };
        assert_eq!(m.value(MetricId::RequestDuration, &with(&["success"])), 2.0);
        assert_eq!(m.value(MetricId::RequestDuration, &with(&["error"])), 1.0);
        assert_eq!(
            m.value(
                MetricId::RequestErrors,
                &["anthropic", "claude-haiku-4-5", "overloaded", "529"]
            ),
            1.0
        );
        assert_eq!(
            m.value(
                MetricId::RequestRetries,
                &["anthropic", "claude-haiku-4-5", "overloaded"]
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
        let text = m.render();
        assert!(
            text.contains(r#"llmbench_request_duration_seconds_bucket{gen_ai_provider_name="anthropic",gen_ai_request_model="claude-haiku-4-5",outcome="success",task="arith",le="2.56"} 2"#),
            "{text}"
        );
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
            HashMap::from([("haiku".to_owned(), labels())]),
        );
        observer.sample_finished(&r, &attempts()[..1]);
        record_sample(&m, &labels(), &r, &attempts()[..1]);
        for metrics in [&m, observer.metrics()] {
            assert_eq!(
                metrics.value(
                    MetricId::Samples,
                    &["anthropic", "claude-haiku-4-5", "arith", "error"]
                ),
                1.0
            );
            assert_eq!(metrics.sum(MetricId::RequestRetries), 0.0);
            assert_eq!(metrics.sum(MetricId::Tokens), 0.0);
        }
    }
}
