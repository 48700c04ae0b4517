//! Fixtures shared by the integration tests.

use std::path::Path;
use std::time::Duration;

use llmbench_core::{
    Completion, Grade, GradeKind, GradeOutcome, ProviderError, ProviderErrorKind, SampleKey,
    SampleRecord, SampleStatus, StopReason, Timings, Usage, Verdict,
};
use llmbench_store::{AttemptRecord, NewRun, Store};

pub fn key(task: &str, item: &str, provider: &str, repeat: u32) -> SampleKey {
    SampleKey {
        task: task.into(),
        item: item.into(),
        provider: provider.into(),
        repeat,
    }
}

/// A run with providers `zeta` then `alpha`, and tasks `t2` then `t1`.
pub fn new_run(id: &str, created_at: &str) -> NewRun {
    NewRun {
        id: id.into(),
        created_at: created_at.into(),
        config_path: "configs/bench.toml".into(),
        config_toml: "[run]\nrepeats = 2\n".into(),
        prices_json: serde_json::json!({
            "zeta": {"input-per-mtok": 1.0, "output-per-mtok": 5.0, "as-of": "2026-11-01"},
        }),
        planned_samples: 8,
        providers: vec![
            ("zeta".into(), "model-z".into(), "Zeta".into()),
            ("alpha".into(), "model-a".into(), "Alpha".into()),
        ],
        graders: vec![
            ("t2".into(), vec!["g1".into(), "g2".into()]),
            ("t1".into(), vec!["g1".into()]),
        ],
        pass_at_k: vec![1, 5],
    }
}

/// A store in a fresh temporary directory, with run `r1` created.
pub fn store_with_run() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    store
        .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    (dir, store)
}

/// Every field set, including the optional ones.
pub fn full_record(key: SampleKey) -> SampleRecord {
    SampleRecord {
        key,
        model: "model-z".into(),
        status: SampleStatus::Done,
        completion: Some(Completion {
            text: "fn main() {\n    println!(\"a, b; \\\"c\\\"\");\n}\n".into(),
            stop_reason: StopReason::Other("refusal".into()),
            usage: Usage {
                input_tokens: Some(121),
                output_tokens: Some(451),
                cache_read_tokens: Some(7),
                cache_write_tokens: Some(3),
                reasoning_tokens: Some(100),
            },
            timings: Timings {
                latency: Duration::new(2, 345_678_901),
                time_to_first_token: Some(Duration::from_millis(456)),
            },
            response_model: Some("model-z-2026-11-01".into()),
        }),
        error: None,
        grades: vec![
            (
                "g1".into(),
                Grade {
                    outcome: GradeOutcome::Pass,
                    score: 1.0,
                    evidence: "matched `fn main`".into(),
                    kind: GradeKind::Check,
                    usage: None,
                    cost_usd: None,
                },
            ),
            (
                "g2".into(),
                Grade {
                    outcome: GradeOutcome::Fail,
                    score: 0.25,
                    evidence: "2 of 8 tests passed\nfirst failure: race".into(),
                    kind: GradeKind::Execution,
                    usage: None,
                    cost_usd: None,
                },
            ),
            (
                "judge".into(),
                Grade {
                    outcome: GradeOutcome::Error,
                    score: 0.0,
                    evidence: "judge timed out".into(),
                    kind: GradeKind::Judgement,
                    // A judge that answered once, then timed out on its re-ask.
                    usage: Some(Usage {
                        input_tokens: Some(300),
                        output_tokens: Some(40),
                        ..Usage::default()
                    }),
                    cost_usd: Some(0.0005),
                },
            ),
        ],
        verdict: Some(Verdict {
            pass: false,
            score: 0.4166666666666667,
            first_failure: Some(1),
        }),
        cost_usd: Some(0.002_376_1),
        attempts: 2,
        request: None,
    }
}

/// A provider failure with every error field set and no completion.
pub fn error_record(key: SampleKey) -> SampleRecord {
    SampleRecord {
        key,
        model: "model-a".into(),
        status: SampleStatus::Error,
        completion: None,
        error: Some(ProviderError {
            kind: ProviderErrorKind::RateLimited,
            message: "rate limited: slow down".into(),
            http_status: Some(429),
            provider_code: Some("rate_limit_error".into()),
            retry_after: Some(Duration::from_millis(1500)),
            should_retry: Some(true),
        }),
        grades: vec![],
        verdict: None,
        cost_usd: None,
        attempts: 3,
        request: None,
    }
}

/// A completion whose usage is entirely unknown, and no verdict.
pub fn unknown_usage_record(key: SampleKey) -> SampleRecord {
    SampleRecord {
        key,
        model: "model-a".into(),
        status: SampleStatus::Done,
        completion: Some(Completion {
            text: String::new(),
            stop_reason: StopReason::EndTurn,
            usage: Usage::default(),
            timings: Timings {
                latency: Duration::from_millis(10),
                time_to_first_token: None,
            },
            response_model: None,
        }),
        error: None,
        grades: vec![],
        verdict: None,
        cost_usd: None,
        attempts: 1,
        request: None,
    }
}

pub fn attempts(n: usize) -> Vec<AttemptRecord> {
    (0..n)
        .map(|i| AttemptRecord {
            outcome: if i + 1 == n { "ok" } else { "rate_limited" }.into(),
            http_status: if i + 1 == n { Some(200) } else { Some(429) },
            wait_seconds: i as f64 * 0.5,
            duration_seconds: 0.125 + i as f64,
        })
        .collect()
}

/// A raw connection for looking under the store's API.
pub fn raw(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.busy_timeout(Duration::from_secs(10)).unwrap();
    conn
}

pub fn count(conn: &rusqlite::Connection, sql: &str) -> i64 {
    conn.query_row(sql, [], |row| row.get(0)).unwrap()
}

/// Histogram bounds like the metrics crate's (the store does not depend on it).
pub fn buckets() -> llmbench_store::HistogramBuckets {
    llmbench_store::HistogramBuckets {
        request_seconds: vec![0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12],
        first_token_seconds: vec![0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28],
        output_tokens_per_second: vec![1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0],
        grade_score: vec![0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0],
    }
}

/// A run's status as stored, under the store's API (which shows a dead run as interrupted).
pub fn stored_status(path: &Path, run_id: &str) -> String {
    raw(path)
        .query_row("SELECT status FROM runs WHERE id = ?1", [run_id], |row| {
            row.get(0)
        })
        .unwrap()
}
