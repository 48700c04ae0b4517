//! Aggregating samples into one row per (task, provider).

use std::collections::BTreeMap;

use llmbench_core::{GradeOutcome, RunReport, SampleStatus, median, quantile};

/// What one provider did on one task (or on all tasks, when `task` is `None`).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub task: Option<String>,
    pub provider: String,
    pub model: String,
    /// The display name from the config (the model id unless `label` was set).
    pub label: String,
    pub samples: u64,
    pub errors: u64,
    /// Error kinds with counts, most frequent first.
    pub error_kinds: Vec<(String, u64)>,
    pub latency_ms_median: Option<f64>,
    pub latency_ms_p90: Option<f64>,
    pub ttft_ms_median: Option<f64>,
    pub input_tokens_median: Option<f64>,
    pub output_tokens_median: Option<f64>,
    /// Mean cost per sample whose cost is known.
    pub cost_usd_mean: Option<f64>,
    pub cost_usd_total: f64,
    /// Samples whose cost is unknown (no price, or unknown usage).
    pub cost_unknown: u64,
    pub passed: u64,
    /// Samples with a verdict (a completion).
    pub judged: u64,
    /// Graders that did not pass, with counts, in grader order.
    pub failing_graders: Vec<(String, u64)>,
}

/// One row per provider (config order), or per (task, provider) when the run has several
/// tasks.
pub fn summarize(report: &RunReport) -> Vec<Row> {
    let per_task = report.run.graders.len() > 1;
    let tasks: Vec<Option<String>> = if per_task {
        report
            .run
            .graders
            .iter()
            .map(|(t, _)| Some(t.clone()))
            .collect()
    } else {
        vec![None]
    };
    let mut rows = Vec::new();
    for task in &tasks {
        for (provider, model, label) in &report.run.providers {
            let samples: Vec<_> = report
                .samples
                .iter()
                .filter(|s| {
                    &s.key.provider == provider && task.as_ref().is_none_or(|t| &s.key.task == t)
                })
                .collect();
            let ok: Vec<_> = samples
                .iter()
                .filter_map(|s| s.completion.as_ref())
                .collect();
            let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
            let latencies: Vec<f64> = ok.iter().map(|c| ms(c.timings.latency)).collect();
            let ttfts: Vec<f64> = ok
                .iter()
                .filter_map(|c| c.timings.time_to_first_token.map(ms))
                .collect();
            let inputs: Vec<f64> = ok
                .iter()
                .filter_map(|c| c.usage.total_input().map(|n| n as f64))
                .collect();
            let outputs: Vec<f64> = ok
                .iter()
                .filter_map(|c| c.usage.output_tokens.map(|n| n as f64))
                .collect();
            let costs: Vec<f64> = samples.iter().filter_map(|s| s.cost_usd).collect();
            let mut error_kinds: BTreeMap<String, u64> = BTreeMap::new();
            for s in samples.iter().filter(|s| s.status == SampleStatus::Error) {
                let kind = s.error.as_ref().map_or("unknown", |e| e.kind.as_str());
                *error_kinds.entry(kind.to_owned()).or_default() += 1;
            }
            let mut error_kinds: Vec<_> = error_kinds.into_iter().collect();
            error_kinds.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let mut failing: Vec<(String, u64)> = Vec::new();
            for s in &samples {
                for (name, grade) in &s.grades {
                    if grade.outcome != GradeOutcome::Pass {
                        match failing.iter_mut().find(|(n, _)| n == name) {
                            Some((_, count)) => *count += 1,
                            None => failing.push((name.clone(), 1)),
                        }
                    }
                }
            }
            let verdicts: Vec<_> = samples.iter().filter_map(|s| s.verdict.as_ref()).collect();
            rows.push(Row {
                task: task.clone(),
                provider: provider.clone(),
                model: model.clone(),
                label: label.clone(),
                samples: samples.len() as u64,
                errors: samples
                    .iter()
                    .filter(|s| s.status == SampleStatus::Error)
                    .count() as u64,
                error_kinds,
                latency_ms_median: median(&latencies),
                latency_ms_p90: quantile(&latencies, 0.9),
                ttft_ms_median: median(&ttfts),
                input_tokens_median: median(&inputs),
                output_tokens_median: median(&outputs),
                cost_usd_mean: (!costs.is_empty())
                    .then(|| costs.iter().sum::<f64>() / costs.len() as f64),
                cost_usd_total: costs.iter().sum::<f64>() + 0.0,
                cost_unknown: (samples.len() - costs.len()) as u64,
                passed: verdicts.iter().filter(|v| v.pass).count() as u64,
                judged: verdicts.len() as u64,
                failing_graders: failing,
            });
        }
    }
    rows
}
