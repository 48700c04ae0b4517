//! A shared PostgreSQL store (`--store postgres://...`) against a private server
//! ([`PgServer`]): four shard processes writing at once, one killed with SIGKILL and started
//! again, equal the single-process run; a password is never shown; a bad URL and an
//! unreachable server are clear errors with the store's exit code.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use llmbench_testsupport::postgres::PgServer;

use crate::{llmbench, text, write_config};

const ITEMS: usize = 100;
const REPEATS: usize = 4;
const SAMPLES: usize = ITEMS * REPEATS;

/// 100 items x 4 repeats, answered by provider-testkit (the echo of the prompt, after a
/// short latency) and graded by grader-regex (odd item numbers pass).
fn config(dir: &Path) -> PathBuf {
    let items: Vec<String> = (0..ITEMS)
        .map(|i| format!("{{ id = \"i{i:03}\", text = \"item {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = 4
repeats = {REPEATS}

[providers.p]
plugin = "provider-testkit"
model = "echo"
[providers.p.options]
fixed-latency-ms = 5

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]

[[tasks.t.graders]]
plugin = "grader-regex"
[tasks.t.graders.options]
pattern = "[13579]$"
"#,
            items.join(", ")
        ),
    )
}

pub(crate) fn succeed(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// The JSON export of `run` from the store the flags name: sample id -> row, with the
/// number of rows (duplicates would make it larger than the map).
pub(crate) fn export(
    store_flags: &[&str],
    run: &str,
) -> (usize, BTreeMap<String, serde_json::Value>) {
    let out = succeed(llmbench(&["export", run, "--format", "jsonl"]).args(store_flags));
    let rows: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let n = rows.len();
    let map = rows
        .into_iter()
        .map(|v| (v["sample_id"].as_str().unwrap().to_owned(), v))
        .collect();
    (n, map)
}

fn shard(config: &Path, i: usize, url: &str) -> std::process::Command {
    let mut cmd = llmbench(&["run", "--shard", &format!("{i}/4"), "--run-id", "bars-h"]);
    cmd.arg("--config").arg(config).args(["--store", url]);
    cmd
}

#[test]
fn four_shards_into_postgres_with_a_kill_9_equal_the_single_process_run() {
    crate::plugin_dir();
    let server = PgServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path());

    // Four shards at once; shard 2 is killed without warning shortly after it starts.
    let others: Vec<_> = [0, 1, 3]
        .iter()
        .map(|&i| {
            shard(&config_path, i, &url)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut killed = shard(&config_path, 2, &url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(300));
    killed.kill().unwrap(); // SIGKILL
    killed.wait().unwrap();
    for child in others {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", text(&out).1);
    }
    // Shard 2 lacks samples: the run is not finished, and `status` says which shard.
    let status = succeed(&mut llmbench(&[
        "status",
        "bars-h",
        "--shard-count",
        "4",
        "--store",
        &url,
    ]));
    assert_eq!(status.matches("complete").count(), 3, "{status}");
    // Started again, shard 2 runs what it lacks into the same run.
    succeed(&mut shard(&config_path, 2, &url));
    let status = succeed(&mut llmbench(&[
        "status",
        "bars-h",
        "--shard-count",
        "4",
        "--store",
        &url,
    ]));
    assert_eq!(status.matches("complete").count(), 4, "{status}");
    let runs = succeed(&mut llmbench(&["runs", "--store", &url]));
    assert!(
        runs.contains("finished") && runs.contains("400/400"),
        "{runs}"
    );

    // The same config in one process, into a SQLite store.
    let single = dir.path().join("single");
    succeed(
        llmbench(&["run", "--run-id", "bars-h", "--config"])
            .arg(&config_path)
            .arg("--output-dir")
            .arg(&single),
    );
    let (n_single, single) = export(&["--output-dir", single.to_str().unwrap()], "bars-h");
    let (n_pg, pg) = export(&["--store", &url], "bars-h");
    assert_eq!((n_single, single.len()), (SAMPLES, SAMPLES));
    assert_eq!(
        (n_pg, pg.len()),
        (SAMPLES, SAMPLES),
        "no duplicate sample ids"
    );
    assert_eq!(
        pg.keys().collect::<Vec<_>>(),
        single.keys().collect::<Vec<_>>()
    );
    for (id, s) in &single {
        for field in crate::shards::SAME_IN_EVERY_EXECUTION {
            assert_eq!(pg[id][field], s[field], "sample {id}: {field}");
        }
    }
    // The report reads the shared store too.
    let report = succeed(&mut llmbench(&["report", "bars-h", "--store", &url]));
    assert!(
        report.contains("Store: postgres://postgres@127.0.0.1:"),
        "{report}"
    );
}

/// Everything a command printed, for a secret to be looked for.
fn all_output(cmd: &mut std::process::Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), format!("{stdout}\n{stderr}"))
}

#[test]
fn a_store_password_is_read_from_the_environment_and_never_shown() {
    crate::plugin_dir();
    const SECRET: &str = "Sekr1t-pw-7f3a";
    let server = PgServer::start_with_password(SECRET);
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path());
    std::fs::write(
        &config_path,
        std::fs::read_to_string(&config_path)
            .unwrap()
            .replace("repeats = 4", "repeats = 1")
            .replace(
                "output-dir = \"results\"",
                &format!("store = \"{url}\"\nstore-password-env = \"BENCH_DB_PW\""),
            ),
    )
    .unwrap();
    let mut everything = String::new();

    // A wrong password: an authentication error, exit 4, naming the store, not the password.
    let (code, out) = all_output(
        llmbench(&["-vvv", "run", "--config"])
            .arg(&config_path)
            .env("BENCH_DB_PW", format!("{SECRET}-wrong")),
    );
    assert_eq!(code, Some(4), "{out}");
    assert!(out.contains("password authentication failed"), "{out}");
    assert!(out.contains("postgres://postgres@127.0.0.1:"), "{out}");
    everything.push_str(&out);
    // An unreachable server with the right password.
    let closed = format!("postgres://postgres@127.0.0.1:{}/postgres", free_port());
    let (code, out) =
        all_output(llmbench(&["-vvv", "runs", "--store", &closed]).env("PGPASSWORD", SECRET));
    assert_eq!(code, Some(4), "{out}");
    assert!(
        out.contains("cannot connect to the PostgreSQL store"),
        "{out}"
    );
    everything.push_str(&out);
    // A URL holding the password is refused before anything connects.
    let (code, out) = all_output(&mut llmbench(&[
        "runs",
        "--store",
        &url.replace("postgres@", &format!("postgres:{SECRET}@")),
    ]));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("holds a password"), "{out}");
    everything.push_str(&out);
    // The right password: the run, its report, listing and export work, at -vvv (trace).
    let (code, out) = all_output(
        llmbench(&["-vvv", "run", "--config"])
            .arg(&config_path)
            .env("BENCH_DB_PW", SECRET),
    );
    assert_eq!(code, Some(0), "{out}");
    everything.push_str(&out);
    for args in [
        vec!["-vvv", "runs", "--store", &url],
        vec!["-vvv", "export", "latest", "--store", &url],
        vec![
            "-vvv", "report", "latest", "--store", &url, "--format", "html",
        ],
    ] {
        let (code, out) = all_output(llmbench(&args).env("PGPASSWORD", SECRET));
        assert_eq!(code, Some(0), "{args:?}: {out}");
        everything.push_str(&out);
    }
    // A shard's table names the store and the password's variable (never the password)
    // for `status`; the run it leaves unfinished is resumed with `--store URL` alone: the
    // stored config's `store-password-env` is read for the writes (the first read takes
    // PGPASSWORD, as every command without the flag does).
    let (code, out) = all_output(
        llmbench(&["run", "--shard", "0/2", "--run-id", "pw-shards", "--config"])
            .arg(&config_path)
            .env("BENCH_DB_PW", SECRET),
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains(&format!(
            "llmbench status pw-shards --shard-count 2 --store {url} --store-password-env BENCH_DB_PW\n"
        )),
        "{out}"
    );
    everything.push_str(&out);
    let resume = |pw: &str| {
        all_output(
            llmbench(&["resume", "pw-shards", "--store", &url])
                .env("PGPASSWORD", SECRET)
                .env("BENCH_DB_PW", pw),
        )
    };
    let (code, out) = resume(&format!("{SECRET}-wrong"));
    assert_eq!(code, Some(4), "the stored variable is used: {out}");
    assert!(out.contains("password authentication failed"), "{out}");
    everything.push_str(&out);
    let (code, out) = resume(SECRET);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("Run pw-shards (finished)"), "{out}");
    everything.push_str(&out);
    assert!(everything.contains("\"text\""), "the export ran");
    assert!(
        !everything.contains(SECRET),
        "the password was shown:\n{everything}"
    );
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn bad_urls_and_missing_stores_are_usage_errors_naming_the_store() {
    let server = PgServer::start();
    for (url, says) in [
        (
            "postgres://postgres@127.0.0.1:notaport/db",
            "is not a PostgreSQL store URL",
        ),
        ("mysql://db/results", "is not a PostgreSQL store URL"),
    ] {
        let (code, out) = all_output(&mut llmbench(&["runs", "--store", url]));
        assert_eq!(code, Some(2), "{url}: {out}");
        assert!(out.contains(says) && out.contains(url), "{url}: {out}");
    }
    // A database without a store: reading creates nothing.
    let empty = server.create_database("empty");
    let (code, out) = all_output(&mut llmbench(&["export", "latest", "--store", &empty]));
    assert_eq!(code, Some(2), "{out}");
    assert!(
        out.contains("no llmbench results store in this database"),
        "{out}"
    );
    let (code, out) = all_output(&mut llmbench(&[
        "runs",
        "--store",
        &empty,
        "--output-dir",
        "x",
    ]));
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--store and --output-dir"), "{out}");
}
