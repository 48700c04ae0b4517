//! Exporting one run's samples as JSON Lines or CSV, streamed in report order.

use std::fmt;
use std::io::{self, BufWriter, Write};
use std::str::FromStr;

use llmbench_core::{Grade, SampleRecord, Usage};
use serde::Serialize;

use crate::samples::{StoredSample, grade_kind_str, sample_status_str, stop_reason_str};
use crate::{Store, StoreError};

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExportFormat {
    /// One JSON object per sample and line.
    Jsonl,
    /// One row per sample under a header row, RFC 4180 quoting.
    Csv,
}

impl ExportFormat {
    pub const ALL: [ExportFormat; 2] = [Self::Jsonl, Self::Csv];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Csv => "csv",
        }
    }
}

impl fmt::Display for ExportFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|format| format.as_str() == s)
            .ok_or_else(|| format!("unknown export format `{s}`: expected jsonl or csv"))
    }
}

/// The CSV columns, in order. `grades` is `name:outcome` joined by `;`. The `grader_*`
/// columns are what the sample's graders spent (a judge model's tokens and their cost),
/// summed over its grades, kept apart from the model's own tokens and `cost_usd`; empty when
/// no grader spent anything known. `request` is the request the sample sent, as stored
/// (canonical JSON: model, system, messages, max_tokens, sampling, stream; see
/// [`crate::request_hash`]), empty for a sample stored before requests were recorded.
pub const CSV_COLUMNS: [&str; 32] = [
    "run_id",
    "sample_id",
    "task",
    "item",
    "provider",
    "repeat",
    "model",
    "status",
    "error_kind",
    "error_message",
    "http_status",
    "stop_reason",
    "response_model",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "latency_seconds",
    "ttft_seconds",
    "cost_usd",
    "verdict_pass",
    "verdict_score",
    "first_failure",
    "grades",
    "grader_input_tokens",
    "grader_output_tokens",
    "grader_cost_usd",
    "attempts",
    "finished_at",
    "text",
    "request",
];

impl Store {
    /// Writes every sample of a run to `out` in report order, one sample in memory at a
    /// time, and returns the number of samples written (the CSV header is not counted).
    pub fn export(
        &self,
        run_id: &str,
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> Result<u64, StoreError> {
        self.require_run(run_id)?;
        let write_err = |source| StoreError::Export {
            path: self.path.clone(),
            run_id: run_id.to_owned(),
            source,
        };
        let mut rows = 0u64;
        match format {
            ExportFormat::Jsonl => {
                let mut out = BufWriter::new(out);
                self.for_each_sample(run_id, |sample| {
                    let line = JsonRow::new(run_id, &sample);
                    serde_json::to_writer(&mut out, &line)
                        .map_err(io::Error::from)
                        .and_then(|()| out.write_all(b"\n"))
                        .map_err(write_err)?;
                    rows += 1;
                    Ok(())
                })?;
                out.flush().map_err(write_err)?;
            }
            ExportFormat::Csv => {
                let mut out = csv::Writer::from_writer(out);
                out.write_record(CSV_COLUMNS)
                    .map_err(|e| write_err(e.into()))?;
                self.for_each_sample(run_id, |sample| {
                    out.write_record(csv_row(run_id, &sample))
                        .map_err(|e| write_err(e.into()))?;
                    rows += 1;
                    Ok(())
                })?;
                out.flush().map_err(write_err)?;
            }
        }
        Ok(rows)
    }
}

#[derive(Serialize)]
struct JsonRow<'a> {
    run_id: &'a str,
    sample_id: String,
    task: &'a str,
    item: &'a str,
    provider: &'a str,
    repeat: u32,
    model: &'a str,
    status: &'static str,
    error: Option<JsonError<'a>>,
    stop_reason: Option<&'a str>,
    response_model: Option<&'a str>,
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cache_read_tokens: Option<u64>,
    cache_write_tokens: Option<u64>,
    reasoning_tokens: Option<u64>,
    latency_seconds: Option<f64>,
    ttft_seconds: Option<f64>,
    cost_usd: Option<f64>,
    verdict: Option<JsonVerdict>,
    grades: Vec<JsonGrade<'a>>,
    attempts: u32,
    finished_at: &'a str,
    text: Option<&'a str>,
    /// The request as sent (without its `sample` key); `null` for a sample stored before
    /// requests were recorded (schema version 5).
    request: Option<serde_json::Value>,
}

#[derive(Serialize)]
struct JsonError<'a> {
    kind: &'static str,
    message: &'a str,
    http_status: Option<u16>,
    provider_code: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonVerdict {
    pass: bool,
    score: f64,
    first_failure: Option<usize>,
}

#[derive(Serialize)]
struct JsonGrade<'a> {
    name: &'a str,
    outcome: &'static str,
    score: f64,
    evidence: &'a str,
    kind: &'static str,
    /// What the grader itself spent; not part of the sample's tokens or `cost_usd`.
    input_tokens: Option<u64>,
    output_tokens: Option<u64>,
    cost_usd: Option<f64>,
}

impl<'a> JsonRow<'a> {
    fn new(run_id: &'a str, sample: &'a StoredSample) -> Self {
        let r: &SampleRecord = &sample.record;
        let c = r.completion.as_ref();
        let usage = c.map(|c| c.usage).unwrap_or_default();
        JsonRow {
            run_id,
            sample_id: r.key.id().to_string(),
            task: &r.key.task,
            item: &r.key.item,
            provider: &r.key.provider,
            repeat: r.key.repeat,
            model: &r.model,
            status: sample_status_str(r.status),
            error: r.error.as_ref().map(|e| JsonError {
                kind: e.kind.as_str(),
                message: &e.message,
                http_status: e.http_status,
                provider_code: e.provider_code.as_deref(),
            }),
            stop_reason: c.map(|c| stop_reason_str(&c.stop_reason)),
            response_model: c.and_then(|c| c.response_model.as_deref()),
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cache_read_tokens: usage.cache_read_tokens,
            cache_write_tokens: usage.cache_write_tokens,
            reasoning_tokens: usage.reasoning_tokens,
            latency_seconds: c.map(|c| c.timings.latency.as_secs_f64()),
            ttft_seconds: c.and_then(|c| c.timings.time_to_first_token.map(|d| d.as_secs_f64())),
            cost_usd: r.cost_usd,
            verdict: r.verdict.as_ref().map(|v| JsonVerdict {
                pass: v.pass,
                score: v.score,
                first_failure: v.first_failure,
            }),
            grades: r
                .grades
                .iter()
                .map(|(name, g)| JsonGrade {
                    name,
                    outcome: g.outcome.as_str(),
                    score: g.score,
                    evidence: &g.evidence,
                    kind: grade_kind_str(g.kind),
                    input_tokens: g.usage.and_then(|u| u.input_tokens),
                    output_tokens: g.usage.and_then(|u| u.output_tokens),
                    cost_usd: g.cost_usd,
                })
                .collect(),
            attempts: r.attempts,
            finished_at: &sample.finished_at,
            text: c.map(|c| c.text.as_str()),
            request: r.request.as_ref().map(request_value),
        }
    }
}

/// A stored request as a JSON object, without its `sample` key (the row names the sample).
fn request_value(request: &llmbench_core::CompletionRequest) -> serde_json::Value {
    let mut value = serde_json::to_value(request).expect("a request serializes");
    if let Some(object) = value.as_object_mut() {
        object.remove("sample");
    }
    value
}

/// One CSV row in [`CSV_COLUMNS`] order; unknown values are empty fields.
fn csv_row(run_id: &str, sample: &StoredSample) -> Vec<String> {
    fn opt<T: ToString>(value: Option<T>) -> String {
        value.map(|v| v.to_string()).unwrap_or_default()
    }
    let r = &sample.record;
    let c = r.completion.as_ref();
    let usage = c.map(|c| c.usage).unwrap_or_default();
    let e = r.error.as_ref();
    let v = r.verdict.as_ref();
    let grades = r
        .grades
        .iter()
        .map(|(name, g)| format!("{name}:{}", g.outcome.as_str()))
        .collect::<Vec<_>>()
        .join(";");
    // Sums of what is known; empty when no grade knows it.
    let grader_sum = |part: fn(&Grade) -> Option<f64>| {
        r.grades
            .iter()
            .filter_map(|(_, g)| part(g))
            .fold(None, |sum: Option<f64>, x| Some(sum.unwrap_or(0.0) + x))
    };
    let grader_tokens = |part: fn(&Usage) -> Option<u64>| {
        r.grades
            .iter()
            .filter_map(|(_, g)| g.usage.as_ref().and_then(part))
            .fold(None, |sum: Option<u64>, x| Some(sum.unwrap_or(0) + x))
    };
    let row = vec![
        run_id.to_owned(),
        r.key.id().to_string(),
        r.key.task.clone(),
        r.key.item.clone(),
        r.key.provider.clone(),
        r.key.repeat.to_string(),
        r.model.clone(),
        sample_status_str(r.status).to_owned(),
        opt(e.map(|e| e.kind.as_str())),
        opt(e.map(|e| &e.message)),
        opt(e.and_then(|e| e.http_status)),
        opt(c.map(|c| stop_reason_str(&c.stop_reason))),
        opt(c.and_then(|c| c.response_model.as_ref())),
        opt(usage.input_tokens),
        opt(usage.output_tokens),
        opt(usage.cache_read_tokens),
        opt(usage.cache_write_tokens),
        opt(usage.reasoning_tokens),
        opt(c.map(|c| c.timings.latency.as_secs_f64())),
        opt(c.and_then(|c| c.timings.time_to_first_token.map(|d| d.as_secs_f64()))),
        opt(r.cost_usd),
        opt(v.map(|v| v.pass)),
        opt(v.map(|v| v.score)),
        opt(v.and_then(|v| v.first_failure)),
        grades,
        opt(grader_tokens(|u| u.input_tokens)),
        opt(grader_tokens(|u| u.output_tokens)),
        opt(grader_sum(|g| g.cost_usd)),
        r.attempts.to_string(),
        sample.finished_at.clone(),
        opt(c.map(|c| &c.text)),
        opt(r.request.as_ref().map(|q| crate::request_hash(q).1)),
    ];
    debug_assert_eq!(row.len(), CSV_COLUMNS.len());
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse() {
        for format in ExportFormat::ALL {
            assert_eq!(format.as_str().parse::<ExportFormat>(), Ok(format));
        }
        assert!("xlsx".parse::<ExportFormat>().is_err());
    }
}
