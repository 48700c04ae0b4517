//! Stopping when asked: real processes, real signals, against the in-repo OpenAI-compatible
//! mock server. Items whose prompt holds `MOCK_FAULT=stall;ms=60000;times=1` get no answer
//! for a minute the first time they are asked (the per-request timeout is 120 s), and an
//! answer at once when asked again: the server is stalled for the run, and fast for the
//! `resume` that follows.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use llmbench_mockserver::{MockConfig, MockServer, Protocol};

use crate::{export_jsonl, llmbench, text, write_config};

const STALL: &str = "MOCK_FAULT=stall;ms=60000;times=1";

/// A config of `stalled` stalling items then `quick` ones, asked of `server` two at a time.
fn config(dir: &Path, server: &MockServer, extra: &str, stalled: usize, quick: usize) -> PathBuf {
    let items: Vec<String> = (0..stalled)
        .map(|i| format!("{{ id = \"s{i}\", text = \"stalled {i} {STALL}\" }}"))
        .chain((0..quick).map(|i| format!("{{ id = \"q{i}\", text = \"quick {i}\" }}")))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = 2
timeout-seconds = 120
{extra}

[providers.mock]
plugin = "provider-openai"
model = "gpt-mock"
options = {{ base-url = "{}/v1" }}

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]
"#,
            server.base_url(),
            items.join(", ")
        ),
    )
}

fn check_plugins() {
    crate::plugin_dir_with(&["provider-openai"]);
}

/// A child whose stderr is collected as it comes.
struct Running {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Running {
    fn spawn(cmd: &mut Command) -> Self {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut pipe = child.stderr.take().unwrap();
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        Self { child, stderr }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    /// Waits (at most `limit`) for the process to exit: its status and how long it took.
    fn wait(&mut self, limit: Duration) -> (ExitStatus, Duration) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader thread take the last of stderr.
                std::thread::sleep(Duration::from_millis(100));
                return (status, started.elapsed());
            }
            assert!(
                started.elapsed() < limit,
                "still running {limit:?} after the signal; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn wait_for(&self, what: &str, mut ready: impl FnMut(&str) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(&self.stderr()) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_for_requests(server: &MockServer, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.request_count() < n {
        assert!(
            Instant::now() < deadline,
            "{} of {n} requests arrived",
            server.request_count()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let the requests settle into their stall.
    std::thread::sleep(Duration::from_millis(200));
}

/// How many times the server was asked each prompt, sorted.
fn asked(server: &MockServer) -> Vec<usize> {
    let mut per_prompt: HashMap<u64, usize> = HashMap::new();
    for r in server.log() {
        *per_prompt.entry(r.prompt_hash.unwrap()).or_default() += 1;
    }
    let mut counts: Vec<usize> = per_prompt.into_values().collect();
    counts.sort_unstable();
    counts
}

fn stored_items(dir: &Path, run: &str) -> Vec<String> {
    let mut items: Vec<String> = export_jsonl(dir, run)
        .iter()
        .map(|r| {
            assert_eq!(r["status"], "done", "{r}");
            r["item"].as_str().unwrap().to_owned()
        })
        .collect();
    items.sort();
    items
}

fn run_id(stderr: &str) -> String {
    let (_, rest) = stderr
        .split_once("`llmbench resume ")
        .unwrap_or_else(|| panic!("no resume command in:\n{stderr}"));
    rest.split([' ', '`']).next().unwrap().to_owned()
}

/// First Ctrl-C: no new sample, 1 s for the stalled requests, then they are cancelled and
/// not stored; a later `resume` asks them again and finishes every sample once.
#[test]
fn ctrl_c_cancels_stalled_requests_after_the_grace_period_and_resume_redoes_them() {
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_background(MockConfig::new(Protocol::OpenAi)).unwrap();
    let config = config(dir.path(), &server, "", 2, 4);
    let mut run =
        Running::spawn(llmbench(&["run", "--grace-seconds", "1", "--config"]).arg(&config));
    wait_for_requests(&server, 2);
    run.signal("INT");
    let (status, took) = run.wait(Duration::from_secs(15));
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        took >= Duration::from_secs(1),
        "the grace period was given: {took:?}"
    );
    assert!(
        stderr.contains(
            "stopping: no new samples; waiting up to 1 s for 2 in-flight requests (Ctrl-C again to stop now)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "stopping now: 2 requests cancelled; they will be redone by `llmbench resume "
        ),
        "{stderr}"
    );
    assert_eq!(server.request_count(), 2, "no sample started after Ctrl-C");
    let run_id = run_id(&stderr);
    let runs = llmbench(&["runs", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (runs, _) = text(&runs);
    assert!(
        runs.lines()
            .any(|l| l.starts_with(&run_id) && l.contains("  interrupted  0/6  ")),
        "{runs}"
    );

    let out = llmbench(&["resume", &run_id, "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("(finished): 6/6 samples"), "{stdout}");
    assert_eq!(
        stored_items(dir.path(), &run_id),
        ["q0", "q1", "q2", "q3", "s0", "s1"],
        "every sample stored once"
    );
    // The cancelled requests were asked again, the others once.
    assert_eq!(asked(&server), [1, 1, 1, 1, 2, 2]);
}

/// A second Ctrl-C cancels at once, without waiting out a 60 s grace period.
#[test]
fn a_second_ctrl_c_stops_at_once() {
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_background(MockConfig::new(Protocol::OpenAi)).unwrap();
    let config = config(dir.path(), &server, "grace-seconds = 60", 2, 1);
    let mut run = Running::spawn(llmbench(&["run", "--config"]).arg(&config));
    wait_for_requests(&server, 2);
    let first = Instant::now();
    run.signal("INT");
    run.wait_for("the first Ctrl-C to be taken", |e| {
        e.contains("waiting up to 60 s for 2 in-flight requests")
    });
    run.signal("INT");
    let (status, took) = run.wait(Duration::from_secs(15));
    let stderr = run.stderr();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        first.elapsed() < Duration::from_secs(15),
        "{:?} after the first Ctrl-C, {took:?} after the second",
        first.elapsed()
    );
    assert!(
        stderr.contains("stopping now: 2 requests cancelled"),
        "{stderr}"
    );
    assert!(
        export_jsonl(dir.path(), &run_id(&stderr)).is_empty(),
        "nothing half-done stored"
    );
}

/// `serve`: SIGTERM during a stalled sweep stops within a loose bound of the grace period and
/// leaves the run interrupted; the next `serve` resumes it, and a SIGTERM while no sweep runs
/// says so.
#[test]
fn serve_stops_a_stalled_sweep_on_sigterm_and_the_next_start_resumes_it() {
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let server = MockServer::start_background(MockConfig::new(Protocol::OpenAi)).unwrap();
    let config = config(
        dir.path(),
        &server,
        "\n[schedule]\ninterval-seconds = 3600",
        2,
        2,
    );
    let serve = || {
        Running::spawn(
            llmbench(&[
                "-v",
                "serve",
                "--metrics-address",
                "127.0.0.1:0",
                "--grace-seconds",
                "1",
                "--config",
            ])
            .arg(&config),
        )
    };

    let mut first = serve();
    wait_for_requests(&server, 2);
    first.signal("TERM");
    let (status, took) = first.wait(Duration::from_secs(15));
    let stderr = first.stderr();
    assert!(status.success(), "{status}: {stderr}");
    assert!(
        took >= Duration::from_secs(1),
        "the grace period was given: {took:?}"
    );
    assert!(
        stderr.contains(
            "stopping: no new samples; waiting up to 1 s for 2 in-flight requests (SIGTERM or Ctrl-C again to stop now)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("stopping now: 2 requests cancelled"),
        "{stderr}"
    );
    assert!(
        stderr.contains("is interrupted; the next `llmbench serve` resumes it"),
        "{stderr}"
    );
    assert_eq!(server.request_count(), 2, "no sample started after SIGTERM");
    let results = dir.path().join("results");
    let runs = llmbench(&["runs", "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let (runs, _) = text(&runs);
    assert!(runs.contains("interrupted  0/4"), "{runs}");

    // The next start resumes the run, finishes it and waits for the next scheduled start.
    let mut second = serve();
    second.wait_for("the resumed sweep to end", |e| {
        e.split_once("sweep ended")
            .is_some_and(|(_, after)| after.contains("next sweep"))
    });
    let runs = llmbench(&["runs", "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let (runs, _) = text(&runs);
    // A header, then one run.
    assert_eq!(runs.lines().count(), 2, "resumed, not started anew: {runs}");
    assert!(
        runs.contains("  finished  ") && runs.contains("  4/4  "),
        "{runs}"
    );
    second.signal("TERM");
    let (status, _) = second.wait(Duration::from_secs(15));
    let stderr = second.stderr();
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("stopping: no sweep is running"), "{stderr}");
    assert!(!stderr.contains("in-flight"), "{stderr}");
    assert_eq!(stored_items(dir.path(), "latest"), ["q0", "q1", "s0", "s1"]);
    assert_eq!(asked(&server), [1, 1, 2, 2]);
}
