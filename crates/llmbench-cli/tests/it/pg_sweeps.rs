//! Sharded sweeps on a shared PostgreSQL store ([`PgServer`]) against the in-repo
//! OpenAI-compatible mock server, whose request log tells which prompt (so which sample:
//! one repeat, one prompt per item) was asked and when:
//! - 2,000 samples in four shard processes, one killed with SIGKILL mid-way and started
//!   again, store the same samples, answer for answer, as one process does, and the server
//!   saw no sample asked again once it was stored;
//! - 10,000 samples from four shards writing at once (provider-testkit, answering at once):
//!   none lost, none twice.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use llmbench_mockserver::{MockConfig, MockServer, Protocol, RequestRecord};
use llmbench_testsupport::postgres::PgServer;

use crate::postgres::{export, succeed};
use crate::{llmbench, text, write_config};

/// A mock server answering after `ttft`, with rate-limit headers that never ask the client
/// to slow down.
fn mock(ttft: Duration) -> MockServer {
    MockServer::start_background(MockConfig {
        time_to_first_token: ttft,
        ratelimit_requests_limit: 1_000_000_000,
        ratelimit_tokens_limit: 1_000_000_000_000,
        ..MockConfig::new(Protocol::OpenAi)
    })
    .unwrap()
}

/// provider-openai asking `server` (its answers echo the prompt's hash).
fn mock_provider(server: &MockServer) -> String {
    crate::plugin_dir_with(&["provider-openai"]);
    format!(
        "plugin = \"provider-openai\"\nmodel = \"gpt-mock\"\noptions = {{ base-url = \"{}/v1\" }}",
        server.base_url()
    )
}

/// `items` items asked `repeats` times each of `provider` (the TOML of its entry),
/// `concurrency` at a time per process.
fn config(dir: &Path, provider: &str, items: usize, repeats: usize, concurrency: usize) -> PathBuf {
    let items: Vec<String> = (0..items)
        .map(|i| format!("{{ id = \"i{i:05}\", text = \"item {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = {concurrency}
repeats = {repeats}

[providers.p]
{provider}

[tasks.t]
prompt = "Answer {{{{text}}}}"
items = [{}]
"#,
            items.join(", ")
        ),
    )
}

fn shard(config: &Path, i: usize, url: &str, run: &str) -> Command {
    let mut cmd = llmbench(&["run", "--shard", &format!("{i}/4"), "--run-id", run]);
    cmd.arg("--config").arg(config).args(["--store", url]);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn wait_success(child: Child) {
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
}

/// `status`'s (planned, done) per shard of a 4-shard run; `None` before the run exists.
fn shard_progress(url: &str, run: &str) -> Option<Vec<(u64, u64)>> {
    let out = llmbench(&["status", run, "--shard-count", "4", "--store", url])
        .output()
        .unwrap();
    if !out.status.success() {
        return None;
    }
    let out = text(&out).0;
    let progress = (0..4)
        .map(|i| {
            let line = out
                .lines()
                .find(|l| l.trim_start().starts_with(&format!("{i}/4 ")))
                .unwrap_or_else(|| panic!("no shard {i} in:\n{out}"));
            let f: Vec<&str> = line.split_whitespace().collect();
            (f[1].parse().unwrap(), f[2].parse().unwrap())
        })
        .collect();
    Some(progress)
}

/// The prompt hash the mock server answered a sample with: its echo answer's first word is
/// `mock-<16 hex of the hash>`.
fn answered_hash(sample: &serde_json::Value) -> u64 {
    let text = sample["text"]
        .as_str()
        .unwrap_or_else(|| panic!("{sample}"));
    let hex = text
        .split_whitespace()
        .next()
        .and_then(|w| w.strip_prefix("mock-"))
        .unwrap_or_else(|| panic!("not a mock answer: {text}"));
    u64::from_str_radix(hex, 16).unwrap()
}

/// Milliseconds since the epoch: of a request's arrival, and of a stored time
/// (`2026-11-28T07:14:01.123Z`, the store's form).
fn millis(t: SystemTime) -> i64 {
    i64::try_from(
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap()
}

fn stored_millis(rfc3339: &str) -> i64 {
    let t: jiff::Timestamp = rfc3339
        .parse()
        .unwrap_or_else(|e| panic!("`{rfc3339}`: {e}"));
    t.as_millisecond()
}

/// How many times each prompt was asked.
fn per_prompt(log: &[RequestRecord]) -> HashMap<u64, usize> {
    let mut counts = HashMap::new();
    for r in log {
        *counts.entry(r.prompt_hash.unwrap()).or_default() += 1;
    }
    counts
}

#[test]
fn a_2000_sample_sweep_in_four_shards_with_a_kill_9_equals_one_process_and_asks_nothing_stored() {
    const SAMPLES: usize = 2_000;
    const CONCURRENCY: usize = 4;
    let server = mock(Duration::from_millis(10));
    let pg = PgServer::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path(), &mock_provider(&server), SAMPLES, 1, CONCURRENCY);
    let run = "mock-2k";

    let others: Vec<Child> = [0, 1, 3]
        .iter()
        .map(|&i| shard(&config_path, i, &url, run).spawn().unwrap())
        .collect();
    let mut killed = shard(&config_path, 2, &url, run)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Shard 2 is killed without warning once it has stored a fifth of its samples.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(
            killed.try_wait().unwrap().is_none(),
            "shard 2 ended before it could be killed"
        );
        assert!(Instant::now() < deadline, "shard 2 made no progress");
        // The run exists once the first shard has created it.
        if let Some(progress) = shard_progress(&url, run) {
            let (planned, done) = progress[2];
            if done * 5 >= planned {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    let killed_at = millis(SystemTime::now());
    for child in others {
        wait_success(child);
    }
    let progress = shard_progress(&url, run).unwrap();
    let (planned, done) = progress[2];
    assert!(
        done > 0 && done < planned,
        "shard 2 stopped mid-way: {progress:?}"
    );
    for (i, &(planned, done)) in progress.iter().enumerate() {
        if i != 2 {
            assert_eq!(done, planned, "shard {i}: {progress:?}");
        }
    }
    assert_eq!(progress.iter().map(|p| p.0).sum::<u64>(), SAMPLES as u64);

    // Started again, shard 2 runs only what it lacks.
    let restarted_at = millis(SystemTime::now());
    wait_success(shard(&config_path, 2, &url, run).spawn().unwrap());
    let sharded_log = server.log();
    assert_eq!(server.log_dropped(), 0);
    let (rows, sharded) = export(&["--store", &url], run);
    assert_eq!((rows, sharded.len()), (SAMPLES, SAMPLES), "no sample twice");

    // The same config in one process, into a SQLite store, against the same server.
    server.clear_log();
    let single_dir = dir.path().join("single");
    succeed(
        llmbench(&["run", "--run-id", run, "--config"])
            .arg(&config_path)
            .arg("--output-dir")
            .arg(&single_dir),
    );
    let (_, single) = export(&["--output-dir", single_dir.to_str().unwrap()], run);
    assert_eq!(
        sharded.keys().collect::<Vec<_>>(),
        single.keys().collect::<Vec<_>>(),
        "the same sample ids"
    );
    for (id, s) in &single {
        for field in crate::shards::SAME_IN_EVERY_EXECUTION {
            assert_eq!(sharded[id][field], s[field], "sample {id}: {field}");
        }
    }

    // What the server saw: every sample asked, none asked after it was stored. One repeat
    // of distinct prompts: a prompt is a sample.
    let stored_at: HashMap<u64, (&str, i64)> = sharded
        .values()
        .map(|s| {
            (
                answered_hash(s),
                (
                    s["item"].as_str().unwrap(),
                    stored_millis(s["finished_at"].as_str().unwrap()),
                ),
            )
        })
        .collect();
    assert_eq!(stored_at.len(), SAMPLES, "one prompt per sample");
    for r in &sharded_log {
        let hash = r.prompt_hash.unwrap();
        let (item, stored) = stored_at[&hash];
        // The store keeps milliseconds; a request arrives before its answer is stored.
        assert!(
            millis(r.arrived_wall) <= stored,
            "{item} was asked (request #{}) after it was stored",
            r.seq
        );
    }
    let counts = per_prompt(&sharded_log);
    assert_eq!(counts.len(), SAMPLES, "every sample was asked");
    // Asked twice: only what shard 2 had answered but not stored when it was killed (in
    // flight, or queued for its store writer), asked first before the kill and stored
    // after it by the shard's second life.
    assert!(counts.values().all(|&n| n <= 2), "{counts:?}");
    let mut twice = 0;
    for (hash, _) in counts.iter().filter(|&(_, &n)| n == 2) {
        twice += 1;
        let (item, stored) = stored_at[hash];
        let first = sharded_log
            .iter()
            .find(|r| r.prompt_hash == Some(*hash))
            .unwrap();
        // The first ask was the killed shard's: read by the server before the second life
        // started (not always before `killed_at`: a request written just before the kill
        // can wait in the socket a moment on a loaded machine); the sample was stored by the
        // second life.
        assert!(
            millis(first.arrived_wall) <= restarted_at && stored >= killed_at,
            "{item} was asked twice but not across the kill: first asked at {} ms, killed at \
             {killed_at}, restarted at {restarted_at}, stored at {stored}",
            millis(first.arrived_wall)
        );
    }
    assert_eq!(sharded_log.len(), SAMPLES + twice);
}

#[test]
fn four_shards_writing_10000_samples_at_once_lose_none_and_store_none_twice() {
    const ITEMS: usize = 2_500;
    const REPEATS: usize = 4;
    const SAMPLES: usize = ITEMS * REPEATS;
    let pg = PgServer::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    // provider-testkit answers at once and logs every call it starts.
    let provider = "plugin = \"provider-testkit\"\nmodel = \"echo\"\noptions = { counter-file = \"calls.tsv\" }";
    let config_path = config(dir.path(), provider, ITEMS, REPEATS, 8);
    let run = "fast-10k";
    let shards: Vec<Child> = (0..4)
        .map(|i| shard(&config_path, i, &url, run).spawn().unwrap())
        .collect();
    for child in shards {
        wait_success(child);
    }
    let (rows, stored) = export(&["--store", &url], run);
    assert_eq!(rows, SAMPLES, "rows exported");
    assert_eq!(stored.len(), SAMPLES, "distinct sample ids");
    let keys: BTreeMap<(String, String), usize> =
        stored.values().fold(BTreeMap::new(), |mut m, s| {
            assert_eq!(s["status"], "done", "{s}");
            let key = (
                s["item"].as_str().unwrap().to_owned(),
                s["repeat"].to_string(),
            );
            *m.entry(key).or_default() += 1;
            m
        });
    assert_eq!(keys.len(), SAMPLES, "every (item, repeat) once");
    // Each sample was asked exactly once.
    let calls = std::fs::read_to_string(dir.path().join("calls.tsv")).unwrap();
    let mut asked: HashMap<&str, usize> = HashMap::new();
    for line in calls.lines() {
        *asked.entry(line).or_default() += 1;
    }
    assert_eq!(asked.len(), SAMPLES);
    assert!(asked.values().all(|&n| n == 1));
    let runs = succeed(&mut llmbench(&["runs", "--store", &url]));
    assert!(
        runs.contains("finished") && runs.contains("10000/10000"),
        "{runs}"
    );
}
