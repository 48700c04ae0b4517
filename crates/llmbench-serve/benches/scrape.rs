//! Scrape benchmark: `/metrics` over loopback HTTP with 50 models x 20 tasks worth of series
//! (every sample metric populated for each pair, two graders per task, errors and retries
//! for every model, the sweep gauges). Prints the scrape times and fails when the median is
//! 50 ms or more.
//!
//! Run with `cargo bench -p llmbench-serve --bench scrape` (optimised, as a deployed binary
//! is); `cargo run` does not apply to benches, so for an unoptimised build use
//! `cargo bench -p llmbench-serve --bench scrape --profile dev`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its measurements")]

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use llmbench_core::{
    Completion, Grade, SampleKey, SampleRecord, SampleStatus, StopReason, Timings, Usage, Verdict,
};
use llmbench_metrics::{Metrics, ModelLabels, SweepTotals};
use llmbench_serve::record_sample;
use llmbench_store::AttemptRecord;

const MODELS: usize = 50;
const TASKS: usize = 20;
const SCRAPES: usize = 30;
const BUDGET: Duration = Duration::from_millis(50);

fn populate(metrics: &Metrics) {
    let families = ["anthropic", "openai", "local", "replay", "testkit"];
    let mut totals = SweepTotals::default();
    for model in 0..MODELS {
        let labels = ModelLabels {
            family: families[model % families.len()].to_owned(),
            provider: format!("entry-{model:02}"),
            model: format!("model-{model:02}"),
        };
        for task in 0..TASKS {
            for (i, latency_ms) in [(0u32, 700u64), (1, 2300), (2, 9100)] {
                let pass = i != 2;
                let record = SampleRecord {
                    key: SampleKey {
                        task: format!("task-{task:02}"),
                        item: format!("item-{i}"),
                        provider: labels.provider.clone(),
                        repeat: 0,
                    },
                    model: labels.model.clone(),
                    status: SampleStatus::Done,
                    completion: Some(Completion {
                        text: "answer".into(),
                        stop_reason: StopReason::EndTurn,
                        usage: Usage {
                            input_tokens: Some(800),
                            output_tokens: Some(300 + u64::from(i) * 100),
                            cache_read_tokens: Some(200),
                            cache_write_tokens: Some(50),
                            reasoning_tokens: None,
                        },
                        timings: Timings {
                            latency: Duration::from_millis(latency_ms),
                            time_to_first_token: Some(Duration::from_millis(latency_ms / 5)),
                        },
                        response_model: None,
                    }),
                    error: None,
                    grades: vec![
                        (
                            "regex".into(),
                            if pass {
                                Grade::pass("")
                            } else {
                                Grade::fail("")
                            },
                        ),
                        ("sections".into(), Grade::pass("")),
                    ],
                    verdict: Some(Verdict {
                        pass,
                        score: 0.5,
                        first_failure: None,
                    }),
                    cost_usd: Some(0.002),
                    attempts: 2,
                    request: None,
                };
                let attempts = [
                    AttemptRecord {
                        outcome: ["overloaded", "rate_limited", "server"][i as usize].into(),
                        http_status: Some([529, 429, 500][i as usize]),
                        wait_seconds: 0.0,
                        duration_seconds: 0.4,
                    },
                    AttemptRecord {
                        outcome: "ok".into(),
                        http_status: None,
                        wait_seconds: 0.5,
                        duration_seconds: latency_ms as f64 / 1000.0,
                    },
                ];
                record_sample(metrics, &labels, &record, &attempts);
            }
            totals
                .passed
                .insert((labels.clone(), format!("task-{task:02}")), (2, 3));
        }
        totals.cost_usd.insert(labels.clone(), 0.12);
        totals.tokens.insert((labels.clone(), "input"), 1e5);
        totals.tokens.insert((labels.clone(), "output"), 4e4);
    }
    metrics.init_sweep("bench", Some(21600.0));
    metrics.set_sweep_totals("bench", &totals);
}

fn scrape(address: std::net::SocketAddr) -> (Duration, usize) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address).expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let elapsed = started.elapsed();
    assert!(response.starts_with(b"HTTP/1.1 200 OK"), "bad response");
    (elapsed, response.len())
}

fn main() {
    let metrics = Arc::new(Metrics::new());
    populate(&metrics);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let address = listener.local_addr().expect("address");
    runtime.spawn(llmbench_serve::serve_metrics(
        listener,
        Arc::clone(&metrics),
    ));

    // What the scrape costs in CPU, without the HTTP round trip.
    let renders: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(metrics.render());
            t.elapsed()
        })
        .collect();
    let render = *renders.iter().min().expect("five renders");
    let (_, bytes) = scrape(address); // warm-up
    let text = metrics.render();
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    let mut times: Vec<Duration> = (0..SCRAPES).map(|_| scrape(address).0).collect();
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let median = times[SCRAPES / 2];
    println!(
        "scrape of /metrics: {MODELS} models x {TASKS} tasks, {series} series, {:.1} MiB, \
         rendered in {:.1} ms; {SCRAPES} scrapes over HTTP: min {:.1} ms, median {:.1} ms, \
         max {:.1} ms (budget {} ms)",
        bytes as f64 / (1024.0 * 1024.0),
        ms(render),
        ms(times[0]),
        ms(median),
        ms(times[SCRAPES - 1]),
        BUDGET.as_millis()
    );
    if median >= BUDGET {
        println!("FAILED: the median scrape took {:.1} ms", ms(median));
        std::process::exit(1);
    }
}
