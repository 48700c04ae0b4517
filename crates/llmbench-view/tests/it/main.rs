//! `llmbench view` over plain HTTP: a store with two finished runs and one still held by a
//! "running" process (this test), served on a loopback port; pages, filters, escaping, the
//! Content-Security-Policy and the host check.

mod pages;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use llmbench_core::{
    Completion, CompletionRequest, Grade, GradeKind, GradeOutcome, Message, ProviderError,
    ProviderErrorKind, SampleKey, SampleRecord, SampleStatus, StopReason, Timings, Usage, Verdict,
};
use llmbench_store::{AttemptRecord, NewRun, RunStatus, Store};

/// What a model answered on item `x1`: markup that must stay text everywhere.
pub const XSS: &str = "<script>alert(7731)</script><img src=x onerror=alert(7732)>";

#[derive(Debug)]
pub struct Served {
    pub address: SocketAddr,
    pub dir: tempfile::TempDir,
    /// Holds the `running` run (its claim) while the test runs.
    pub _writer: Store,
    pub runs: [String; 3],
}

fn record(
    item: &str,
    provider: &str,
    repeat: u32,
    pass: Option<bool>,
    answer: &str,
) -> SampleRecord {
    let key = SampleKey {
        task: "fix".into(),
        item: item.into(),
        provider: provider.into(),
        repeat,
    };
    let request = CompletionRequest {
        model: format!("{provider}-model"),
        system: Some("You fix <bugs>.".into()),
        messages: vec![Message::user(format!("Fix item {item} & tell me"))],
        max_tokens: 100,
        sampling: Default::default(),
        stream: false,
        sample: None,
    };
    let Some(pass) = pass else {
        return SampleRecord {
            key,
            model: format!("{provider}-model"),
            status: SampleStatus::Error,
            completion: None,
            error: Some(ProviderError {
                kind: ProviderErrorKind::Timeout,
                message: "took too long <b>".into(),
                http_status: None,
                provider_code: None,
                retry_after: None,
                should_retry: None,
            }),
            grades: Vec::new(),
            verdict: None,
            cost_usd: None,
            attempts: 2,
            request: Some(request),
        };
    };
    SampleRecord {
        key,
        model: format!("{provider}-model"),
        status: SampleStatus::Done,
        completion: Some(Completion {
            text: answer.into(),
            stop_reason: StopReason::EndTurn,
            usage: Usage {
                input_tokens: Some(10),
                output_tokens: Some(20),
                ..Usage::default()
            },
            timings: Timings {
                latency: Duration::from_millis(100 + 10 * u64::from(repeat)),
                time_to_first_token: Some(Duration::from_millis(20)),
            },
            response_model: Some(format!("{provider}-model")),
        }),
        error: None,
        grades: vec![(
            "regex".into(),
            Grade {
                outcome: if pass {
                    GradeOutcome::Pass
                } else {
                    GradeOutcome::Fail
                },
                score: if pass { 1.0 } else { 0.0 },
                evidence: format!("looked for `Fix` in {answer}"),
                kind: GradeKind::Check,
                usage: None,
                cost_usd: None,
            },
        )],
        verdict: Some(Verdict {
            pass,
            score: if pass { 1.0 } else { 0.0 },
            first_failure: (!pass).then_some(0),
        }),
        cost_usd: Some(0.001),
        attempts: 1,
        request: Some(request),
    }
}

fn new_run(id: &str, created_at: &str, planned: u64) -> NewRun {
    NewRun {
        id: id.into(),
        created_at: created_at.into(),
        config_path: "configs/nightly.toml".into(),
        config_toml: "[run]\nrepeats = 2\n".into(),
        prices_json: serde_json::json!({}),
        planned_samples: planned,
        providers: vec![
            ("alpha".into(), "alpha-model".into(), "Alpha <1>".into()),
            ("beta".into(), "beta-model".into(), "Beta".into()),
        ],
        graders: vec![("fix".into(), vec!["regex".into()])],
        pass_at_k: Vec::new(),
    }
}

/// Fills `store` with one run: items x0..x3, two providers, two repeats; `fail_on` fails the
/// alpha samples of those items, x3 on beta is a timeout, and x1's answers are [`XSS`].
fn fill(
    store: &mut Store,
    id: &str,
    created_at: &str,
    fail_on: &[&str],
    status: Option<RunStatus>,
) {
    store.create_run(&new_run(id, created_at, 16)).unwrap();
    for item in ["x0", "x1", "x2", "x3"] {
        for provider in ["alpha", "beta"] {
            for repeat in 0..2 {
                let pass = if provider == "beta" && item == "x3" {
                    None
                } else {
                    Some(!(provider == "alpha" && fail_on.contains(&item)))
                };
                let answer = if item == "x1" {
                    format!("Fix: {XSS}")
                } else {
                    format!("Fix {item} by {provider}")
                };
                let attempts = vec![
                    AttemptRecord {
                        outcome: if pass.is_some() { "ok" } else { "timeout" }.into(),
                        http_status: None,
                        wait_seconds: 0.0,
                        duration_seconds: 0.1,
                    };
                    if pass.is_some() { 1 } else { 2 }
                ];
                store
                    .record_sample(
                        id,
                        &record(item, provider, repeat, pass, &answer),
                        &attempts,
                    )
                    .unwrap();
            }
        }
    }
    if let Some(status) = status {
        store.end_run(id, status, None).unwrap();
    }
}

/// Two finished runs (the second fails alpha on x0 and x2) and one still running with two
/// samples recorded, served by the app on a free loopback port.
pub fn served() -> Served {
    let dir = tempfile::tempdir().unwrap();
    let mut writer = Store::open_in_dir(dir.path()).unwrap();
    let runs = [
        "20260101T000000Z-aaaaaa".to_owned(),
        "20260102T000000Z-bbbbbb".to_owned(),
        "20260103T000000Z-cccccc".to_owned(),
    ];
    fill(
        &mut writer,
        &runs[0],
        "2026-01-01T00:00:00Z",
        &[],
        Some(RunStatus::Finished),
    );
    fill(
        &mut writer,
        &runs[1],
        "2026-01-02T00:00:00Z",
        &["x0", "x2"],
        Some(RunStatus::Finished),
    );
    writer
        .create_run(&new_run(&runs[2], "2026-01-03T00:00:00Z", 16))
        .unwrap();
    for repeat in 0..2 {
        writer
            .record_sample(
                &runs[2],
                &record("x0", "alpha", repeat, Some(true), "Fix"),
                &[],
            )
            .unwrap();
    }
    let address = serve(&dir.path().join(llmbench_store::STORE_FILE_NAME));
    Served {
        address,
        dir,
        _writer: writer,
        runs,
    }
}

/// Serves the store at `path` on a thread of its own; the address it listens on.
pub fn serve(path: &Path) -> SocketAddr {
    let app = Arc::new(llmbench_view::App::open(path).unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = llmbench_view::App::bind("127.0.0.1:0".parse().unwrap())
                .await
                .unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            llmbench_view::serve(app, listener, std::future::pending()).await;
        });
    });
    rx.recv().unwrap()
}

/// A response: status, headers (lowercase names), body.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// `GET path` over HTTP/1.1 with `Host: host`. A client this small (no redirects, no
/// chunking: hyper sends a length for a `String` body) keeps the test free of an HTTP crate.
pub fn request(address: SocketAddr, method: &str, path: &str, host: &str) -> Response {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Response {
        status,
        headers,
        body: body.to_owned(),
    }
}

pub fn get(address: SocketAddr, path: &str) -> Response {
    request(address, "GET", path, &address.to_string())
}
