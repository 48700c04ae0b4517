//! Builds a large results store for the `serve` start-up benchmark (`cargo xtask perf
//! serve-start`): `RUNS` finished runs of `SAMPLES` samples each, all runs of `CONFIG`, written
//! directly through the store API (one transaction per run, [`Store::record_samples`]), each
//! ended with [`Store::end_run`] so that it has its aggregates, as `serve` leaves its runs.
//!
//! Usage: `big_store DIR CONFIG RUNS SAMPLES` (the store is `DIR/llmbench.sqlite`; `CONFIG`
//! is the config file whose runs these are: its path and text are stored with each run).
//! Every sample answers (a 200-byte text with token counts, latency and time to first token,
//! a price), one in ten fails its grade, one in twenty needed a retry after a 429.

#![expect(clippy::print_stderr, reason = "a benchmark tool reports progress")]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use llmbench_core::{
    Completion, Grade, SampleKey, SampleRecord, SampleStatus, StopReason, Timings, Usage, Verdict,
};
use llmbench_store::{AttemptRecord, NewRun, RunStatus, Store};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, config, runs, samples] = args.as_slice() else {
        eprintln!("usage: big_store DIR CONFIG RUNS SAMPLES");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let config = PathBuf::from(config);
    let runs: u32 = runs.parse().expect("RUNS is a number");
    let samples: u32 = samples.parse().expect("SAMPLES is a number");
    let config_toml = std::fs::read_to_string(&config)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", config.display()));
    let mut store = Store::open_in_dir(&dir).expect("open the store");
    store.set_histogram_buckets(llmbench_serve::histogram_buckets());
    let started = Instant::now();
    let text = "x".repeat(200);
    for r in 0..runs {
        let id = format!("run-{r:06}");
        // One run every five minutes, ending now.
        let created =
            jiff::Timestamp::now() - jiff::SignedDuration::from_secs(300 * i64::from(runs - r));
        store
            .create_run(&NewRun {
                id: id.clone(),
                created_at: created.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
                config_path: config.display().to_string(),
                config_toml: config_toml.clone(),
                prices_json: serde_json::json!({"p": {"input-per-mtok": 1.0}}),
                planned_samples: u64::from(samples),
                providers: vec![("p".into(), "m".into(), "m".into())],
                graders: vec![("t".into(), vec!["g".into()])],
                pass_at_k: Vec::new(),
            })
            .expect("create a run");
        let records: Vec<(SampleRecord, Vec<AttemptRecord>)> =
            (0..samples).map(|i| sample(&text, i)).collect();
        store
            .record_samples(&id, records.iter().map(|(s, a)| (s, a.as_slice())))
            .expect("record the run's samples");
        store
            .end_run(&id, RunStatus::Finished, None)
            .expect("end the run");
        if (r + 1) % 500 == 0 {
            eprintln!(
                "big_store: {} runs, {} samples, {:.1} s",
                r + 1,
                u64::from(r + 1) * u64::from(samples),
                started.elapsed().as_secs_f64()
            );
        }
    }
}

fn sample(text: &str, i: u32) -> (SampleRecord, Vec<AttemptRecord>) {
    let pass = !i.is_multiple_of(10);
    let record = SampleRecord {
        key: SampleKey {
            task: "t".into(),
            item: format!("item-{i:05}"),
            provider: "p".into(),
            repeat: 0,
        },
        model: "m".into(),
        status: SampleStatus::Done,
        completion: Some(Completion {
            text: text.to_owned(),
            stop_reason: StopReason::EndTurn,
            usage: Usage {
                input_tokens: Some(120 + u64::from(i % 50)),
                output_tokens: Some(60 + u64::from(i % 30)),
                ..Usage::default()
            },
            timings: Timings {
                latency: Duration::from_millis(800 + u64::from(i % 400)),
                time_to_first_token: Some(Duration::from_millis(150 + u64::from(i % 100))),
            },
            response_model: None,
        }),
        error: None,
        grades: vec![(
            "g".into(),
            if pass {
                Grade::pass("matched")
            } else {
                Grade::fail("no match")
            },
        )],
        verdict: Some(Verdict {
            pass,
            score: f64::from(u8::from(pass)),
            first_failure: (!pass).then_some(0),
        }),
        cost_usd: Some(0.000_42),
        attempts: if i.is_multiple_of(20) { 2 } else { 1 },
        request: None,
    };
    let ok = AttemptRecord {
        outcome: "ok".into(),
        http_status: None,
        wait_seconds: 0.0,
        duration_seconds: 0.9,
    };
    let attempts = if i.is_multiple_of(20) {
        vec![
            AttemptRecord {
                outcome: "rate_limited".into(),
                http_status: Some(429),
                wait_seconds: 0.0,
                duration_seconds: 0.05,
            },
            ok,
        ]
    } else {
        vec![ok]
    };
    (record, attempts)
}
