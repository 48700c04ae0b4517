//! The one table of metrics: every name, type, help text, label and bucket llmbench exports.
//!
//! Registration ([`crate::Metrics::new`]), the reference page (`docs/metrics.md`, from
//! [`crate::docs::markdown`]) and the check that dashboards and alert rules only name
//! metrics that exist are all derived from [`METRICS`] and [`LABELS`]. Names follow the
//! Prometheus conventions (`llmbench_` prefix, base units, `_total` for counters,
//! `_timestamp_seconds` for times, `_info` for metadata); label names follow the
//! OpenTelemetry GenAI attributes translated to Prometheus (`gen_ai_provider_name`, ...).
//! No label ever holds a prompt, an item, a sample or a request id.

/// A Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    Counter,
    Gauge,
    /// A classic histogram with explicit buckets (the text format has no native histograms).
    Histogram,
}

impl MetricKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Where a metric's value comes from, which says what it means across restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// Derived from the samples stored for this sweep. `llmbench serve` rebuilds it from the
    /// results store when it starts and adds each sample as it is stored, so at every scrape
    /// it equals the total over the stored samples of the sweep's runs: a sample stored before
    /// a crash and a resume is counted once. A one-shot `run` counts only its own samples.
    Store,
    /// Counted by the running process since it started.
    Process,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Store => "store",
            Self::Process => "process",
        }
    }
}

/// Names every metric, in [`METRICS`] order (`id as usize` is the index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricId {
    RequestDuration,
    TimeToFirstToken,
    OutputTokensPerSecond,
    Tokens,
    Cost,
    Samples,
    Grades,
    GradeScore,
    GraderTokens,
    GraderCost,
    RequestErrors,
    RequestRetries,
    Sweeps,
    SweepsSkipped,
    SweepInProgress,
    SweepInterval,
    SweepDuration,
    LastSuccess,
    LastCompletion,
    SweepCost,
    SweepTokens,
    SweepPassRatio,
    BuildInfo,
}

impl MetricId {
    /// This metric's row of the table.
    pub fn def(self) -> &'static MetricDef {
        &METRICS[self as usize]
    }
}

/// One metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetricDef {
    pub id: MetricId,
    /// The full name, as exported (histograms add `_bucket`, `_sum` and `_count`).
    pub name: &'static str,
    pub kind: MetricKind,
    /// The `# HELP` line: one sentence.
    pub help: &'static str,
    /// Label names, in the order values are given.
    pub labels: &'static [&'static str],
    /// Upper bounds of a histogram's buckets (`+Inf` is added); empty for other kinds.
    pub buckets: &'static [f64],
    pub source: Source,
    /// More about what is measured and how, for the reference page.
    pub notes: &'static str,
}

/// One label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LabelDef {
    pub name: &'static str,
    /// What it holds, and why its values are bounded.
    pub meaning: &'static str,
}

pub const PROVIDER_NAME: &str = "gen_ai_provider_name";
pub const PROVIDER: &str = "provider";
pub const MODEL: &str = "gen_ai_request_model";
pub const TASK: &str = "task";
pub const GRADER: &str = "grader";
pub const OUTCOME: &str = "outcome";
pub const RESULT: &str = "result";
pub const ERROR_TYPE: &str = "error_type";
pub const HTTP_STATUS: &str = "http_status";
pub const TOKEN_TYPE: &str = "gen_ai_token_type";
pub const TOKEN_CACHE: &str = "gen_ai_token_cache";
pub const SWEEP: &str = "sweep";
pub const VERSION: &str = "version";
pub const PRICE_TABLE_DATE: &str = "price_table_date";

/// Every label any metric has.
pub const LABELS: &[LabelDef] = &[
    LabelDef {
        name: PROVIDER_NAME,
        meaning: "The provider family (OpenTelemetry `gen_ai.provider.name`), from the provider's plugin name without its `provider-` prefix: `anthropic`, `openai`, `local`, `replay`, `testkit`. One value per plugin in the config.",
    },
    LabelDef {
        name: PROVIDER,
        meaning: "The provider entry's name in the config (`[providers.NAME]`). Two entries of the same plugin and model (one at temperature 0, one at 1, say) are two values, so their series stay apart. One value per provider entry in the config.",
    },
    LabelDef {
        name: MODEL,
        meaning: "The model id the config asks for (OpenTelemetry `gen_ai.request.model`). One value per model id in the config: entries asking for the same model share it and differ in `provider`.",
    },
    LabelDef {
        name: TASK,
        meaning: "The task's name in the config. One value per task.",
    },
    LabelDef {
        name: GRADER,
        meaning: "The grader's name within its task. One value per grader entry.",
    },
    LabelDef {
        name: OUTCOME,
        meaning: "How a request attempt ended: `success` or `error`.",
    },
    LabelDef {
        name: RESULT,
        meaning: "Samples and grades: `pass`, `fail` or `error` (no answer, or the grader could not grade). Sweeps: `success`, `failure` or `interrupted`.",
    },
    LabelDef {
        name: ERROR_TYPE,
        meaning: "The bounded error kind of a failed attempt (OpenTelemetry `error.type`): `rate_limited`, `spend_limit`, `overloaded`, `server`, `timeout`, `connection`, `bad_request`, `auth`, `decode`, `plugin`, `other`.",
    },
    LabelDef {
        name: HTTP_STATUS,
        meaning: "The HTTP status of a failed attempt, or `none` when there was no HTTP answer.",
    },
    LabelDef {
        name: TOKEN_TYPE,
        meaning: "`input` or `output` (OpenTelemetry `gen_ai.token.type`).",
    },
    LabelDef {
        name: TOKEN_CACHE,
        meaning: "For input tokens: `none` (billed at the plain input price), `read` (read from the prompt cache) or `creation` (written to it); always `none` for output tokens (OpenTelemetry `gen_ai.token.cache`).",
    },
    LabelDef {
        name: SWEEP,
        meaning: "The sweep's name: the config's `schedule.name`, else its file name without `.toml`.",
    },
    LabelDef {
        name: VERSION,
        meaning: "The llmbench version.",
    },
    LabelDef {
        name: PRICE_TABLE_DATE,
        meaning: "The oldest `price.as-of` date among the config's providers (`YYYY-MM-DD`), or `unknown` when no price is dated.",
    },
];

/// OpenTelemetry GenAI's `gen_ai.client.operation.duration` buckets (0.01 s doubling to
/// 81.92 s), extended to cover the SDKs' 600 s timeout.
const REQUEST_SECONDS: [f64; 17] = [
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92, 163.84,
    327.68, 655.36,
];

/// The OpenTelemetry buckets with 5 ms in front, for fast first tokens.
const FIRST_TOKEN_SECONDS: [f64; 15] = [
    0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

const TOKENS_PER_SECOND: [f64; 14] = [
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 75.0, 100.0, 150.0, 200.0, 300.0, 500.0, 1000.0,
];

const SCORES: [f64; 10] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];

const SAMPLE_LABELS: &[&str] = &[PROVIDER_NAME, PROVIDER, MODEL, TASK];

/// Every metric llmbench exports.
pub const METRICS: [MetricDef; 23] = [
    MetricDef {
        id: MetricId::RequestDuration,
        name: "llmbench_request_duration_seconds",
        kind: MetricKind::Histogram,
        help: "Model request latency per attempt, from sending the request to the last byte of the answer.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, TASK, OUTCOME],
        buckets: &REQUEST_SECONDS,
        source: Source::Store,
        notes: "Every attempt counts, retries included. A successful attempt is timed by the provider plugin, as close to the wire as it can; a failed one by the runner, until the error or the timeout. Buckets: the OpenTelemetry GenAI duration buckets, extended to 655.36 s to cover the SDKs' 600 s timeout.",
    },
    MetricDef {
        id: MetricId::TimeToFirstToken,
        name: "llmbench_time_to_first_token_seconds",
        kind: MetricKind::Histogram,
        help: "Time from sending a streamed request to the first non-empty piece of generated text.",
        labels: SAMPLE_LABELS,
        buckets: &FIRST_TOKEN_SECONDS,
        source: Source::Store,
        notes: "Streamed answers only (the provider's `stream = true`): the clock stops at the first non-empty text delta, not at the role chunk or `message_start`, which is stricter than OpenTelemetry's time to first chunk. Buckets: the OpenTelemetry ones with 5 ms in front.",
    },
    MetricDef {
        id: MetricId::OutputTokensPerSecond,
        name: "llmbench_output_tokens_per_second",
        kind: MetricKind::Histogram,
        help: "Decode throughput per answer: output tokens after the first, divided by the time from the first token to the last byte.",
        labels: SAMPLE_LABELS,
        buckets: &TOKENS_PER_SECOND,
        source: Source::Store,
        notes: "Only for streamed answers with a known output count above 1.",
    },
    MetricDef {
        id: MetricId::Tokens,
        name: "llmbench_tokens_total",
        kind: MetricKind::Counter,
        help: "Tokens billed for answers, by token type and prompt-cache class.",
        labels: &[
            PROVIDER_NAME,
            PROVIDER,
            MODEL,
            TASK,
            TOKEN_TYPE,
            TOKEN_CACHE,
        ],
        buckets: &[],
        source: Source::Store,
        notes: "Counts the provider reported; a count the provider did not report is left out, never counted as 0. Input `none` excludes cache reads and writes, so the three input classes add up to all input tokens.",
    },
    MetricDef {
        id: MetricId::Cost,
        name: "llmbench_cost_usd_total",
        kind: MetricKind::Counter,
        help: "Estimated spend in US dollars, from the token counts and the config's dated prices.",
        labels: SAMPLE_LABELS,
        buckets: &[],
        source: Source::Store,
        notes: "Answers whose provider has no `price`, or whose input or output count is unknown, add nothing. `llmbench_build_info` carries the prices' date.",
    },
    MetricDef {
        id: MetricId::Samples,
        name: "llmbench_samples_total",
        kind: MetricKind::Counter,
        help: "Finished samples by verdict: pass, fail, or error when the model gave no answer.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, TASK, RESULT],
        buckets: &[],
        source: Source::Store,
        notes: "The verdict combines the task's graders (all must pass, or a weighted score). Pass rate: `sum(rate(llmbench_samples_total{result=\"pass\"}[w])) / sum(rate(llmbench_samples_total[w]))`. Every (provider entry, task) pair starts at 0 for each result in `llmbench serve`.",
    },
    MetricDef {
        id: MetricId::Grades,
        name: "llmbench_grades_total",
        kind: MetricKind::Counter,
        help: "Grades given to answers, by grader and result.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, TASK, GRADER, RESULT],
        buckets: &[],
        source: Source::Store,
        notes: "`error` means the grader could not grade (not a judgement of the answer).",
    },
    MetricDef {
        id: MetricId::GradeScore,
        name: "llmbench_grade_score",
        kind: MetricKind::Histogram,
        help: "Grader scores, from 0 to 1.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, TASK, GRADER],
        buckets: &SCORES,
        source: Source::Store,
        notes: "Scores are normalised to 0..1 by the graders; a pass/fail grader scores 0 or 1.",
    },
    MetricDef {
        id: MetricId::GraderTokens,
        name: "llmbench_grader_tokens_total",
        kind: MetricKind::Counter,
        help: "Tokens billed to graders for grading answers (a judge model's tokens), by grader and token type.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, TASK, GRADER, TOKEN_TYPE],
        buckets: &[],
        source: Source::Store,
        notes: "What grading spends, kept apart from the model under test: the provider and model labels name the model whose answer was graded, `grader` the grader that spent the tokens (its grades' `usage`). Input counts all input tokens, cached or not; a count the grader's model did not report is left out, never counted as 0. Graders that call no model add nothing. Not part of `llmbench_tokens_total`.",
    },
    MetricDef {
        id: MetricId::GraderCost,
        name: "llmbench_grader_cost_usd_total",
        kind: MetricKind::Counter,
        help: "Estimated spend in US dollars of grading answers (a judge model's tokens at its price), by grader.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, TASK, GRADER],
        buckets: &[],
        source: Source::Store,
        notes: "Each grade's `cost_usd`: its usage priced as the run prices grading. Grades without a known cost (no price, or an unknown token count) add nothing. Not part of `llmbench_cost_usd_total`, although both count against the run's spend cap; total spend is the sum of the two.",
    },
    MetricDef {
        id: MetricId::RequestErrors,
        name: "llmbench_request_errors_total",
        kind: MetricKind::Counter,
        help: "Failed request attempts, by error kind and HTTP status.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, ERROR_TYPE, HTTP_STATUS],
        buckets: &[],
        source: Source::Store,
        notes: "Every failed attempt counts, including those a retry recovered from.",
    },
    MetricDef {
        id: MetricId::RequestRetries,
        name: "llmbench_request_retries_total",
        kind: MetricKind::Counter,
        help: "Request attempts retried by the runner, by the kind of error that caused the retry.",
        labels: &[PROVIDER_NAME, PROVIDER, MODEL, ERROR_TYPE],
        buckets: &[],
        source: Source::Store,
        notes: "Providers never retry; the runner does, following the official SDKs' policy.",
    },
    MetricDef {
        id: MetricId::Sweeps,
        name: "llmbench_sweeps_total",
        kind: MetricKind::Counter,
        help: "Sweeps that ended, by result.",
        labels: &[SWEEP, RESULT],
        buckets: &[],
        source: Source::Process,
        notes: "`success`: every sample ran and at most `schedule.max-error-ratio` of them ended in a provider error. `interrupted`: stopped by a signal (it is resumed later). `failure`: anything else, including a sweep that could not start.",
    },
    MetricDef {
        id: MetricId::SweepsSkipped,
        name: "llmbench_sweeps_skipped_total",
        kind: MetricKind::Counter,
        help: "Scheduled sweep starts skipped because the previous sweep was still running.",
        labels: &[SWEEP],
        buckets: &[],
        source: Source::Process,
        notes: "A sweep never runs twice at once: every start that comes due while one runs is skipped and counted here.",
    },
    MetricDef {
        id: MetricId::SweepInProgress,
        name: "llmbench_sweep_in_progress",
        kind: MetricKind::Gauge,
        help: "1 while a sweep runs, else 0.",
        labels: &[SWEEP],
        buckets: &[],
        source: Source::Process,
        notes: "",
    },
    MetricDef {
        id: MetricId::SweepInterval,
        name: "llmbench_sweep_interval_seconds",
        kind: MetricKind::Gauge,
        help: "The nominal time between scheduled sweep starts.",
        labels: &[SWEEP],
        buckets: &[],
        source: Source::Process,
        notes: "`schedule.interval-seconds`, or for a cron schedule the time between its next two starts. Alert rules compare the age of the last success with it.",
    },
    MetricDef {
        id: MetricId::SweepDuration,
        name: "llmbench_sweep_duration_seconds",
        kind: MetricKind::Gauge,
        help: "Wall time of the last sweep that ended, from its run's creation to its end.",
        labels: &[SWEEP],
        buckets: &[],
        source: Source::Store,
        notes: "A resumed run's duration includes the time it was stopped.",
    },
    MetricDef {
        id: MetricId::LastSuccess,
        name: "llmbench_last_success_timestamp_seconds",
        kind: MetricKind::Gauge,
        help: "Unix time at which the last successful sweep ended.",
        labels: &[SWEEP],
        buckets: &[],
        source: Source::Store,
        notes: "Read from the results store when `llmbench serve` starts; when the sweep never succeeded, the time `serve` started, so that a sweep that never succeeds is alerted on too. Alert on `time() - llmbench_last_success_timestamp_seconds`.",
    },
    MetricDef {
        id: MetricId::LastCompletion,
        name: "llmbench_last_completion_timestamp_seconds",
        kind: MetricKind::Gauge,
        help: "Unix time at which the last sweep ended, whatever its result.",
        labels: &[SWEEP],
        buckets: &[],
        source: Source::Store,
        notes: "",
    },
    MetricDef {
        id: MetricId::SweepCost,
        name: "llmbench_sweep_cost_usd",
        kind: MetricKind::Gauge,
        help: "Estimated spend in US dollars of the last sweep that ran every sample, per model.",
        labels: &[SWEEP, PROVIDER_NAME, PROVIDER, MODEL],
        buckets: &[],
        source: Source::Store,
        notes: "Per-sweep totals for panels and alerts that must not depend on the sweep interval. A resumed run counts all its samples, from before and after the resume.",
    },
    MetricDef {
        id: MetricId::SweepTokens,
        name: "llmbench_sweep_tokens",
        kind: MetricKind::Gauge,
        help: "Tokens billed in the last sweep that ran every sample, per model and token type.",
        labels: &[SWEEP, PROVIDER_NAME, PROVIDER, MODEL, TOKEN_TYPE],
        buckets: &[],
        source: Source::Store,
        notes: "Input counts all input tokens, cached or not.",
    },
    MetricDef {
        id: MetricId::SweepPassRatio,
        name: "llmbench_sweep_pass_ratio",
        kind: MetricKind::Gauge,
        help: "Share of samples that passed in the last sweep that ran every sample, per model and task, from 0 to 1.",
        labels: &[SWEEP, PROVIDER_NAME, PROVIDER, MODEL, TASK],
        buckets: &[],
        source: Source::Store,
        notes: "Samples without an answer count as not passed.",
    },
    MetricDef {
        id: MetricId::BuildInfo,
        name: "llmbench_build_info",
        kind: MetricKind::Gauge,
        help: "Always 1; its labels name the llmbench version and the date of the prices used.",
        labels: &[VERSION, PRICE_TABLE_DATE],
        buckets: &[],
        source: Source::Process,
        notes: "",
    },
];

/// A metric by its exported name, or by the name of one of a histogram's series
/// (`_bucket`, `_sum`, `_count`).
pub fn find(series_name: &str) -> Option<&'static MetricDef> {
    METRICS.iter().find(|def| {
        def.name == series_name
            || (def.kind == MetricKind::Histogram
                && ["_bucket", "_sum", "_count"]
                    .iter()
                    .any(|suffix| series_name.strip_suffix(suffix) == Some(def.name)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_index_the_table() {
        for (i, def) in METRICS.iter().enumerate() {
            assert_eq!(def.id as usize, i, "{} is out of place", def.name);
            assert_eq!(def.id.def().name, def.name);
        }
    }

    #[test]
    fn names_follow_the_prometheus_conventions() {
        let mut names: Vec<&str> = METRICS.iter().map(|d| d.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len(), "duplicate names");
        for def in &METRICS {
            let name = def.name;
            assert!(name.starts_with("llmbench_"), "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{name}"
            );
            assert_eq!(
                def.kind == MetricKind::Counter,
                name.ends_with("_total"),
                "{name}: counters and only counters end in _total"
            );
            for unit in [
                "_ms",
                "_milliseconds",
                "_minutes",
                "_hours",
                "_bytes_total_",
            ] {
                assert!(!name.contains(unit), "{name}: use base units");
            }
            if name.contains("timestamp") {
                assert!(name.ends_with("_timestamp_seconds"), "{name}");
            }
            assert!(!def.help.is_empty() && def.help.ends_with('.'), "{name}");
            assert!(!def.help.contains('\n'), "{name}");
            for suffix in ["_count", "_sum", "_bucket"] {
                assert!(!name.ends_with(suffix), "{name}");
            }
        }
    }

    #[test]
    fn labels_are_declared_bounded_and_never_ids() {
        for def in &METRICS {
            for label in def.labels {
                assert!(
                    LABELS.iter().any(|l| l.name == *label),
                    "{}: label {label} is not in LABELS",
                    def.name
                );
                assert!(!label.contains('.'), "{label}");
                assert!(*label != "le" && *label != "instance" && *label != "job");
                for forbidden in ["id", "prompt", "item", "sample", "request_id"] {
                    assert!(
                        !label.split('_').any(|part| part == forbidden),
                        "{}: {label}",
                        def.name
                    );
                }
            }
        }
        for label in LABELS {
            assert!(
                METRICS.iter().any(|d| d.labels.contains(&label.name)),
                "{} is used by no metric",
                label.name
            );
        }
    }

    /// Two provider entries of the same model must not share series: every metric that
    /// names a model names its provider entry too, and its provider family.
    #[test]
    fn every_per_model_metric_names_the_provider_entry() {
        for def in &METRICS {
            if def.labels.contains(&MODEL) {
                assert!(
                    def.labels.contains(&PROVIDER),
                    "{}: no `provider`",
                    def.name
                );
                assert!(def.labels.contains(&PROVIDER_NAME), "{}", def.name);
            }
        }
    }

    #[test]
    fn only_histograms_have_increasing_buckets() {
        for def in &METRICS {
            assert_eq!(
                def.kind == MetricKind::Histogram,
                !def.buckets.is_empty(),
                "{}",
                def.name
            );
            assert!(def.buckets.windows(2).all(|w| w[0] < w[1]), "{}", def.name);
        }
    }

    #[test]
    fn finds_histogram_series() {
        assert_eq!(
            find("llmbench_request_duration_seconds_bucket").map(|d| d.id),
            Some(MetricId::RequestDuration)
        );
        assert_eq!(
            find("llmbench_tokens_total").map(|d| d.id),
            Some(MetricId::Tokens)
        );
        assert!(find("llmbench_tokens_total_count").is_none());
        assert!(find("llmbench_nope").is_none());
    }
}
