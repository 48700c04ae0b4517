//! A PostgreSQL store over TLS ([`PgServer`] with a certificate made for the test, refusing
//! connections without TLS): `run` and `export` with `sslmode=verify-full`, `view --store
//! URL` listing the run, and `serve` with `[run] store = URL` whose samples land in the
//! database and whose store-derived metrics are rebuilt from it after a restart.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use llmbench_testsupport::postgres::{PgOptions, PgServer};

use crate::postgres::{export, succeed};
use crate::serve::{Children, get, scrape, series, sigterm, start_serve, wait_until};
use crate::{bin, llmbench, plugin_dir, text};

const ITEMS: usize = 10;
const PASSWORD: &str = "tls-cli-s3cret-pw";

/// 10 items answered by provider-testkit (the echo of the prompt) and graded by
/// grader-regex (odd item numbers pass: a pass rate of 0.5), with `store` (else an
/// `output-dir`) in `[run]`, and `rest` (another section) after it.
fn config(dir: &Path, store: Option<&str>, rest: &str) -> PathBuf {
    let place = match store {
        Some(url) => format!("store = \"{url}\""),
        None => "output-dir = \"results\"".to_owned(),
    };
    let items: Vec<String> = (0..ITEMS)
        .map(|i| format!("{{ id = \"i{i}\", text = \"item {i}\" }}"))
        .collect();
    let path = dir.join("bench.toml");
    std::fs::write(
        &path,
        format!(
            r#"[run]
plugin-dir = "{}"
{place}
concurrency = 2
{rest}
[providers.p]
plugin = "provider-testkit"
model = "echo"

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]

[[tasks.t.graders]]
plugin = "grader-regex"
[tasks.t.graders.options]
pattern = "[13579]$"
"#,
            plugin_dir().display(),
            items.join(", ")
        ),
    )
    .unwrap();
    path
}

/// `url` checked in full against the server's own CA.
fn verify_full(server: &PgServer) -> String {
    format!(
        "{}?sslmode=verify-full&sslrootcert={}",
        server.url(),
        server.ca_file().display()
    )
}

/// `run` and `export` over TLS (`verify-full`, the password from PGPASSWORD); `view
/// --store URL` lists the run; `sslmode=disable` is refused saying the server wants TLS,
/// without the password.
#[test]
fn a_run_over_tls_is_exported_and_viewed() {
    let server = PgServer::start_with(&PgOptions {
        password: Some(PASSWORD.to_owned()),
        tls_only: true,
        ..PgOptions::tls()
    });
    let url = verify_full(&server);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), None, "");
    let out = succeed(
        llmbench(&["run", "--run-id", "tls-run", "--store", &url, "--config"])
            .arg(&config)
            .env("PGPASSWORD", PASSWORD),
    );
    assert!(out.contains("tls-run"), "{out}");
    let out = succeed(
        llmbench(&["export", "tls-run", "--format", "jsonl", "--store", &url])
            .env("PGPASSWORD", PASSWORD),
    );
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), ITEMS);
    let passed = rows.iter().filter(|r| r["verdict"]["pass"] == true).count();
    assert_eq!(passed, ITEMS / 2, "{}", rows[0]);

    let plain = format!("{}?sslmode=disable", server.url());
    let refused = llmbench(&["runs", "--store", &plain])
        .env("PGPASSWORD", PASSWORD)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(4), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("the server refuses connections without TLS (sslmode=disable)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(PASSWORD) && !stdout.contains(PASSWORD),
        "{stderr}"
    );

    // `view --store URL`: the runs page lists the run.
    let mut children = Children::default();
    let i = children.spawn(
        "view",
        Command::new(bin())
            .args(["view", "--address", "127.0.0.1:0", "--store", &url])
            .env("PGPASSWORD", PASSWORD)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit()),
    );
    let mut line = String::new();
    BufReader::new(children.get(i).stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.starts_with(&format!("llmbench view: serving {}", server.url())),
        "{line:?}"
    );
    assert!(!line.contains(PASSWORD));
    let address: SocketAddr = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .parse()
        .unwrap();
    let (status, body) = get(address, "/").expect("the runs page");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("tls-run"), "{body}");
    let (status, body) = get(address, "/runs/tls-run/samples").expect("the samples page");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("item 3") || body.contains("i3"), "{body}");
}

/// `serve` with `[run] store = URL` (over TLS): a scheduled sweep's samples land in the
/// database; after a restart, `/metrics` shows the store-derived metrics (samples, passes,
/// cost) rebuilt from the run's stored aggregates, without a new sweep.
#[test]
fn serve_on_postgres_rebuilds_its_metrics_from_the_store_after_a_restart() {
    let server = PgServer::start_with(&PgOptions {
        tls_only: true,
        ..PgOptions::tls()
    });
    let url = verify_full(&server);
    let dir = tempfile::tempdir().unwrap();
    let config = config(
        dir.path(),
        Some(&url),
        "[schedule]\ninterval-seconds = 3600\n",
    );
    let mut children = Children::default();
    let (a, a_at) = start_serve(&mut children, "serve A", &config);
    let text = wait_until("the sweep to succeed", Duration::from_secs(60), || {
        let text = scrape(a_at);
        let ok = series(&text, "llmbench_sweeps_total")
            .get(r#"result="success",sweep="bench""#)
            .is_some_and(|v| *v == 1.0);
        ok.then_some(text)
    });
    let check = |text: &str, what: &str| {
        let samples = series(text, "llmbench_samples_total");
        let total: f64 = samples.values().sum();
        assert_eq!(total, ITEMS as f64, "{what}: {samples:?}");
        let passed: f64 = samples
            .iter()
            .filter(|(labels, _)| labels.contains(r#"result="pass""#))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(passed / total, 0.5, "{what}: pass rate, {samples:?}");
        let latencies: f64 = series(text, "llmbench_request_duration_seconds_count")
            .values()
            .sum();
        assert_eq!(latencies, ITEMS as f64, "{what}: one attempt per sample");
    };
    check(&text, "live");
    assert_eq!(sigterm(children.get(a)).code(), Some(0));

    // The samples are in PostgreSQL, not in a SQLite file.
    let (n, rows) = export(&["--store", &url], "latest");
    assert_eq!((n, rows.len()), (ITEMS, ITEMS));
    assert!(
        !dir.path().join("llmbench-results").exists() && !dir.path().join("results").exists(),
        "serve made a SQLite store"
    );

    // Restarted: the metrics come from the store; no sweep runs before the interval.
    let (b, b_at) = start_serve(&mut children, "serve B", &config);
    let text = scrape(b_at);
    check(&text, "rebuilt");
    assert_eq!(
        series(&text, "llmbench_sweeps_total").values().sum::<f64>(),
        0.0,
        "sweeps are counted by the process"
    );
    assert!(series(&text, "llmbench_last_success_timestamp_seconds")[r#"sweep="bench""#] > 1.7e9);
    // A second `serve` of the sweep against the same database refuses to start (busy).
    let second = Command::new(bin())
        .args(["serve", "--metrics-address", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "another `llmbench serve` is running sweep `bench` with the store {}",
            server.url()
        )),
        "{stderr}"
    );
    assert_eq!(sigterm(children.get(b)).code(), Some(0));
    let (n, _) = export(&["--store", &url], "latest");
    assert_eq!(n, ITEMS, "no new run");
}
