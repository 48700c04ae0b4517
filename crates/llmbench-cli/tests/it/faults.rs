//! Sweeps against the in-repo OpenAI-style server with injected faults, a request rate limit,
//! and a known API key that must not leak anywhere.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use llmbench_mockserver::{ApiKeyCheck, MockConfig, MockServer, Protocol, max_in_window};

use crate::{export_jsonl, llmbench, text, write_config};

const KEY: &str = "sk-test-LEAKCHECK-7f3a9c2e51";
const KEY_ENV: &str = "LLMBENCH_TEST_OPENAI_KEY";

fn server(faults: &[&str]) -> MockServer {
    let mut config = MockConfig::new(Protocol::OpenAi);
    config.api_key = ApiKeyCheck::Exact(KEY.into());
    config.answer_tokens = 12;
    config.seed = 20261128;
    for fault in faults {
        config.set("fault", fault).unwrap();
    }
    MockServer::start_background(config).unwrap()
}

fn openai_config(
    dir: &std::path::Path,
    server: &MockServer,
    run: &str,
    provider: &str,
    items: usize,
) -> std::path::PathBuf {
    let items: Vec<String> = (0..items)
        .map(|i| format!("{{ id = \"q{i:03}\", text = \"question number {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"{run}

[providers.mock]
plugin = "provider-openai"
model = "gpt-mock"
api-key-env = "{KEY_ENV}"
price = {{ input-per-mtok = 2.5, output-per-mtok = 10.0 }}
{provider}
[providers.mock.options]
base-url = "{}/v1"

[tasks.t]
prompt = "{{{{text}}}}"
max-tokens = 64
items = [{}]
"#,
            server.base_url(),
            items.join(", ")
        ),
    )
}

/// Kinds of failure a real provider shows under load; 2% each, 20% in all.
const FAULTS: [&str; 10] = [
    "429;retry-after=1@0.02",
    "529@0.02",
    "500@0.02",
    "reset@0.02",
    "stall;ms=3000@0.02",
    "cut@0.02",
    "malformed@0.02",
    "error-event@0.02",
    "slow-first-token;ms=300@0.02",
    "400@0.02",
];

#[test]
fn a_sweep_survives_every_fault_and_records_each_sample_once() {
    const N: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = server(&FAULTS);
    let config = openai_config(
        dir.path(),
        &server,
        "concurrency = 32\ntimeout-seconds = 1.0",
        "",
        N,
    );
    let out = llmbench(&["-vvv", "run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");

    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), N, "every sample recorded");
    let mut items: Vec<&str> = rows.iter().map(|r| r["item"].as_str().unwrap()).collect();
    items.sort_unstable();
    items.dedup();
    assert_eq!(items.len(), N, "no sample recorded twice");

    // Every sample ends with a completion or a classified error.
    let classified = [
        "rate_limited",
        "overloaded",
        "server",
        "timeout",
        "connection",
        "bad_request",
        "decode",
    ];
    let mut errors: HashMap<String, usize> = HashMap::new();
    for r in &rows {
        match r["status"].as_str().unwrap() {
            "done" => assert!(r["text"].as_str().is_some_and(|t| !t.is_empty()), "{r}"),
            "error" => {
                let kind = r["error"]["kind"].as_str().unwrap_or("none").to_owned();
                assert!(
                    classified.contains(&kind.as_str()),
                    "unclassified error: {r}"
                );
                *errors.entry(kind).or_default() += 1;
            }
            other => panic!("status {other}: {r}"),
        }
    }
    // A 400 is never retried, so each 400 is a final bad_request error.
    assert!(
        errors.get("bad_request").copied().unwrap_or(0) > 0,
        "{errors:?}"
    );

    // The server saw exactly the attempts the store recorded: no request was sent for a
    // sample after it finished, and none was lost from the record.
    let log = server.log();
    let attempts: usize = rows
        .iter()
        .map(|r| r["attempts"].as_u64().unwrap() as usize)
        .sum();
    assert_eq!(log.len(), attempts, "server requests vs recorded attempts");
    let mut per_prompt: HashMap<u64, usize> = HashMap::new();
    for r in &log {
        *per_prompt.entry(r.prompt_hash.unwrap()).or_default() += 1;
    }
    let mut server_counts: Vec<usize> = per_prompt.into_values().collect();
    let mut store_counts: Vec<usize> = rows
        .iter()
        .map(|r| r["attempts"].as_u64().unwrap() as usize)
        .collect();
    server_counts.sort_unstable();
    store_counts.sort_unstable();
    assert_eq!(
        server_counts, store_counts,
        "attempts per sample, server side vs store"
    );
    assert!(
        store_counts.iter().all(|&n| n <= 3),
        "at most 3 attempts (2 retries)"
    );

    // The retry-after of a 429 is honoured, measured by the server's own clock.
    let mut by_prompt: HashMap<u64, Vec<&llmbench_mockserver::RequestRecord>> = HashMap::new();
    for r in &log {
        by_prompt.entry(r.prompt_hash.unwrap()).or_default().push(r);
    }
    let mut checked = 0;
    for records in by_prompt.values_mut() {
        records.sort_by_key(|r| r.attempt);
        for pair in records.windows(2) {
            if pair[0].status == Some(429) {
                let gap = pair[1].arrived.duration_since(pair[0].arrived);
                assert!(
                    gap >= Duration::from_millis(990),
                    "retried {gap:?} after a 429 with retry-after: 1"
                );
                checked += 1;
            }
        }
    }
    assert!(
        checked > 0,
        "the seed must produce at least one retried 429"
    );

    // The key appears nowhere: not in the logs (at trace level), the table, the store or
    // the exports.
    let store_bytes = std::fs::read(dir.path().join("results/llmbench.sqlite")).unwrap();
    let csv = llmbench(&["export", "latest", "--format", "csv", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    for (what, haystack) in [
        ("stdout", stdout.as_bytes()),
        ("stderr", stderr.as_bytes()),
        ("store", &store_bytes[..]),
        ("csv export", &csv.stdout[..]),
    ] {
        assert!(
            !haystack.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "the API key leaked into {what}"
        );
    }
    let jsonl = serde_json::to_string(&rows).unwrap();
    assert!(
        !jsonl.contains(KEY),
        "the API key leaked into the jsonl export"
    );
    assert!(
        stderr.contains("TRACE") || stderr.contains("DEBUG"),
        "logs were captured at a verbose level"
    );
}

#[test]
fn requests_per_minute_are_never_exceeded_in_any_minute() {
    const R: usize = 4;
    let dir = tempfile::tempdir().unwrap();
    let server = server(&[]);
    let config = openai_config(
        dir.path(),
        &server,
        "concurrency = 8",
        &format!("requests-per-minute = {R}"),
        R + 2,
    );
    let started = Instant::now();
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let log = server.log();
    assert_eq!(log.len(), R + 2);
    assert!(
        max_in_window(&log, Duration::from_secs(60)) <= R,
        "more than {R} requests in a 60 s window"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(60),
        "the limiter held the last requests back"
    );
}

#[test]
fn a_missing_api_key_is_named_but_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(&[]);
    let config = openai_config(dir.path(), &server, "", "", 1);
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env_remove(KEY_ENV)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!("environment variable `{KEY_ENV}`")),
        "{stderr}"
    );
}
