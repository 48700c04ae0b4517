//! Results-store benchmarks of `cargo xtask perf` (release builds):
//!
//! - `serve-start`: a store with 1,000,000 samples over 5,000 runs (200 samples each, every
//!   run ended with its aggregates, as `serve` leaves them), written through the store API by
//!   `llmbench-serve`'s `big_store` example and cached under `target/perf-serve-start/`; then
//!   the time from starting `llmbench serve` to its first successful `/metrics` scrape (one
//!   that counts all 1,000,000 samples), five times. Target: under 1 s.
//! - `wal`: the `throughput` run of 10,000 samples (the runner, the OpenAI provider plugin
//!   and `grader-regex` against the in-repo mock server), sampling the size of the store's
//!   write-ahead log every millisecond while it runs. Prints the largest WAL against the
//!   store's documented bound (`llmbench-store`'s docs: while a run writes, the store needs
//!   at most its database size plus about 2 MiB), and the WAL left after the run.
//! - `store`: samples stored per second: 10,000 samples by one `llmbench run` into SQLite,
//!   and by 4 shard processes (`--shard I/4 --store postgres://...`) at once into one private
//!   PostgreSQL server started for the benchmark; the PostgreSQL run's samples counted by
//!   `export`. Target: PostgreSQL keeps up with 2,000 samples/s from the 4 writers.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cargo, root, run};

const RUNS: u32 = 5_000;
const SAMPLES_PER_RUN: u32 = 200;
const STARTS: usize = 5;
const START_TARGET: Duration = Duration::from_secs(1);

/// Samples of the `wal` run.
const SAMPLES: usize = 10_000;

/// The documented bound on what the WAL adds to the database while a run writes.
const WAL_BOUND_BYTES: u64 = 2 << 20;

/// `perf serve-start`.
pub(crate) fn serve_start() -> anyhow::Result<()> {
    run(cargo().args(["build", "--release", "-p", "llmbench-cli"]))?;
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "llmbench-serve",
        "--example",
        "big_store",
    ]))?;
    let dir = root().join("target/perf-serve-start");
    let config = dir.join("bench.toml");
    let results = dir.join("results");
    let store = results.join("llmbench.sqlite");
    let marker = dir.join("built");
    let recipe = format!(
        "{RUNS} runs x {SAMPLES_PER_RUN} samples, {}\n",
        std::fs::read_to_string(root().join("crates/llmbench-store/src/schema.rs"))
            .map(|s| s.len())
            .unwrap_or_default()
    );
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(recipe.as_str()) {
        eprintln!(
            "building the benchmark store ({RUNS} runs x {SAMPLES_PER_RUN} samples; cached in {})",
            dir.display()
        );
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // No sweep starts during the benchmark: the next is due a year after the last run.
        std::fs::write(
            &config,
            r#"[schedule]
interval-seconds = 31536000

[providers.p]
plugin = "provider-openai"
model = "m"
[providers.p.options]
base-url = "http://127.0.0.1:9/v1"

[tasks.t]
prompt = "{{text}}"
items = [{ id = "a", text = "a" }]
"#,
        )?;
        let started = Instant::now();
        run(
            Command::new(root().join("target/release/examples/big_store"))
                .arg(&results)
                .arg(&config)
                .arg(RUNS.to_string())
                .arg(SAMPLES_PER_RUN.to_string()),
        )?;
        eprintln!(
            "built the store in {:.0} s",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(&marker, &recipe)?;
    }
    let size = std::fs::metadata(&store)
        .with_context(|| format!("stat {}", store.display()))?
        .len();
    let expected = f64::from(RUNS) * f64::from(SAMPLES_PER_RUN);
    let mut times = Vec::new();
    for _ in 0..STARTS {
        times.push(time_to_first_scrape(&config, &results, expected)?);
    }
    let mut sorted = times.clone();
    sorted.sort();
    let median = sorted[sorted.len() / 2];
    eprintln!();
    eprintln!(
        "serve-start: {} samples over {RUNS} runs (store {:.0} MB): first successful /metrics scrape {:.3} s after the process started (median of {STARTS}: {}); target < {} s: {}",
        expected as u64,
        size as f64 / 1e6,
        median.as_secs_f64(),
        times
            .iter()
            .map(|t| format!("{:.3}", t.as_secs_f64()))
            .collect::<Vec<_>>()
            .join(", "),
        START_TARGET.as_secs(),
        crate::perf::verdict(median < START_TARGET)
    );
    crate::perf_table::record(
        "serve-start",
        format!(
            "`llmbench serve` on {} samples over {RUNS} runs ({:.0} MB store)",
            crate::perf::thousands(expected as usize),
            size as f64 / 1e6
        ),
        format!(
            "first full `/metrics` scrape {:.3} s after start (median of {STARTS})",
            median.as_secs_f64()
        ),
        format!("< {} s", START_TARGET.as_secs()),
        Some(median < START_TARGET),
    );
    eprintln!("machine: {}", crate::perf::machine());
    Ok(())
}

/// Starts `llmbench serve`, scrapes `/metrics` until a scrape counts `expected` samples, and
/// stops it (SIGTERM).
fn time_to_first_scrape(config: &Path, results: &Path, expected: f64) -> anyhow::Result<Duration> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let started = Instant::now();
    let mut child = Command::new(root().join("target/release/llmbench"))
        .args(["serve", "--config"])
        .arg(config)
        .arg("--output-dir")
        .arg(results)
        .args(["--metrics-address", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("start llmbench serve")?;
    let deadline = started + Duration::from_secs(120);
    let elapsed = loop {
        if let Some(body) = scrape(port) {
            let samples = samples_total(&body);
            if samples == expected {
                break started.elapsed();
            }
            let _ = child.kill();
            let _ = child.wait();
            bail!("the first scrape counts {samples} samples, not {expected}");
        }
        if let Some(status) = child.try_wait()? {
            bail!("llmbench serve exited with {status} before serving metrics");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("llmbench serve served no metrics within 120 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    // SAFETY: signalling our own child, which has not been waited for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    child.wait()?;
    Ok(elapsed)
}

/// A `GET /metrics` over HTTP/1.0: the body of a 200 answer.
fn scrape(port: u16) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200")
        .then(|| body.to_owned())
        .or_else(|| head.starts_with("HTTP/1.0 200").then(|| body.to_owned()))
}

fn samples_total(body: &str) -> f64 {
    body.lines()
        .filter(|l| l.starts_with("llmbench_samples_total{"))
        .filter_map(|l| l.rsplit_once(' ')?.1.parse::<f64>().ok())
        .sum()
}

/// The store's files' sizes, sampled while a run writes.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WalFigures {
    pub max_wal: u64,
    /// The database's size when the WAL was largest.
    pub db_at_max_wal: u64,
    /// The largest WAL + database.
    pub max_total: u64,
    pub db_at_end: u64,
    pub wal_at_end: u64,
    pub samples_taken: u64,
}

/// Samples the size of `<results>/llmbench.sqlite` and its `-wal` every millisecond on a
/// thread, until [`WalWatch::finish`].
pub(crate) struct WalWatch {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<WalFigures>,
    results: PathBuf,
}

impl WalWatch {
    pub(crate) fn start(results: &Path) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let results = results.to_owned();
        let thread = {
            let stop = Arc::clone(&stop);
            let results = results.clone();
            std::thread::spawn(move || {
                let mut f = WalFigures::default();
                while !stop.load(Ordering::Relaxed) {
                    let (db, wal) = sizes(&results);
                    if wal > f.max_wal {
                        f.max_wal = wal;
                        f.db_at_max_wal = db;
                    }
                    f.max_total = f.max_total.max(db + wal);
                    f.samples_taken += 1;
                    std::thread::sleep(Duration::from_millis(1));
                }
                f
            })
        };
        WalWatch {
            stop,
            thread,
            results,
        }
    }

    /// Stops sampling (call once the run has ended) and adds the sizes left after it.
    pub(crate) fn finish(self) -> WalFigures {
        self.stop.store(true, Ordering::Relaxed);
        let mut f = self.thread.join().expect("the WAL sampler does not panic");
        (f.db_at_end, f.wal_at_end) = sizes(&self.results);
        f
    }
}

fn sizes(results: &Path) -> (u64, u64) {
    let len = |name: &str| std::fs::metadata(results.join(name)).map_or(0, |m| m.len());
    (len("llmbench.sqlite"), len("llmbench.sqlite-wal"))
}

/// `perf wal`.
pub(crate) fn wal() -> anyhow::Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "llmbench-cli",
        "-p",
        "provider-openai",
        "-p",
        "grader-regex",
    ]))?;
    let dir = root().join("target/perf-wal");
    let _ = std::fs::remove_dir_all(&dir);
    let watch = WalWatch::start(&dir.join("results"));
    let t = crate::perf::throughput_in(
        &dir,
        SAMPLES,
        Duration::ZERO,
        64,
        crate::perf::Grader::Regex,
        true,
        false,
    );
    let f = watch.finish();
    let t = t?;
    let _ = std::fs::remove_dir_all(&dir);
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    eprintln!();
    eprintln!("{}", t.line());
    eprintln!(
        "wal: {} samples through the runner, {} size samples: largest WAL {:.2} MiB (database then {:.2} MiB), largest database + WAL {:.2} MiB; after the run: database {:.2} MiB, WAL {} bytes",
        SAMPLES,
        f.samples_taken,
        mib(f.max_wal),
        mib(f.db_at_max_wal),
        mib(f.max_total),
        mib(f.db_at_end),
        f.wal_at_end,
    );
    eprintln!(
        "wal: documented bound: database size + about 2 MiB while a run writes (1 MiB of WAL kept by checkpoints, plus the largest transaction: a group of at most 32 samples); largest WAL {:.2} MiB <= {:.0} MiB: {}; WAL truncated to 0 bytes at the run's end: {}",
        mib(f.max_wal),
        mib(WAL_BOUND_BYTES),
        crate::perf::verdict(f.max_wal <= WAL_BOUND_BYTES),
        crate::perf::verdict(f.wal_at_end == 0),
    );
    crate::perf_table::record(
        "wal",
        format!(
            "{} samples through the runner",
            crate::perf::thousands(SAMPLES)
        ),
        format!(
            "largest write-ahead log {:.2} MiB (database {:.2} MiB then); {} bytes after the run",
            mib(f.max_wal),
            mib(f.db_at_max_wal),
            f.wal_at_end
        ),
        format!("<= {:.0} MiB, 0 bytes at the end", mib(WAL_BOUND_BYTES)),
        Some(f.max_wal <= WAL_BOUND_BYTES && f.wal_at_end == 0),
    );
    eprintln!("machine: {}", crate::perf::machine());
    Ok(())
}

/// Samples of the `store` benchmark, and its shard processes.
const STORE_SAMPLES: usize = 10_000;
const STORE_SHARDS: usize = 4;
/// PostgreSQL should keep up with this many samples per second from the shard writers.
const STORE_TARGET_PER_SECOND: f64 = 2_000.0;

/// A private PostgreSQL server for the benchmark: a data directory in `dir` owned by the
/// `postgres` system user (the server refuses to run as root), listening on loopback at a
/// free port; stopped (immediate mode) on drop.
struct Postgres {
    bin: PathBuf,
    data: PathBuf,
    url: String,
}

impl Postgres {
    fn start(dir: &Path) -> anyhow::Result<Self> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max()
            .context(
                "no PostgreSQL server in /usr/lib/postgresql/*/bin: run scripts/install-deps.sh",
            )?;
        let data = dir.join("pg");
        let sock = dir.join("sock");
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(&data)?;
        std::fs::create_dir_all(&sock)?;
        for d in [dir, &data, &sock] {
            run(Command::new("chown").arg("postgres").arg(d))?;
        }
        let as_postgres = |tool: &str| {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(bin.join(tool));
            cmd
        };
        run(as_postgres("initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(Stdio::null()))?;
        let port = crate::perf::free_port()?;
        run(as_postgres("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1",
                sock.display()
            ))
            .args(["-w", "-l"])
            .arg(dir.join("server.log"))
            .arg("start")
            .stdout(Stdio::null()))?;
        Ok(Self {
            bin,
            data,
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
        })
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .status();
    }
}

/// `perf store`: samples stored per second: 10,000 samples (the `throughput` setup at 0 ms)
/// by one process into SQLite, then by 4 shard processes at once into one private
/// PostgreSQL server; each store's sample count checked by `export`.
pub(crate) fn store() -> anyhow::Result<()> {
    crate::perf::build(&["llmbench-cli", "provider-openai", "grader-regex"])?;
    let dir = root().join("target/perf-store");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let n = crate::perf::thousands(STORE_SAMPLES);

    let single = crate::perf::throughput_in(
        &dir.join("sqlite"),
        STORE_SAMPLES,
        Duration::ZERO,
        64,
        crate::perf::Grader::Regex,
        true,
        true,
    )?;
    let sqlite_rate = STORE_SAMPLES as f64 / single.wall.as_secs_f64();

    let pg = Postgres::start(Path::new("/tmp/llmbench-perf-pg"))?;
    let sweep = crate::perf::mock_sweep(
        &dir.join("pg-config"),
        STORE_SAMPLES,
        Duration::ZERO,
        64,
        crate::perf::Grader::Regex,
        true,
    )?;
    let started = Instant::now();
    let shards = (0..STORE_SHARDS)
        .map(|i| {
            Command::new(&sweep.exe)
                .args(["run", "--config"])
                .arg(&sweep.config)
                .args(["--shard", &format!("{i}/{STORE_SHARDS}")])
                .args(["--run-id", "perf-store", "--store", &pg.url])
                .stdout(Stdio::null())
                .spawn()
                .context("start a shard")
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    for mut shard in shards {
        let status = shard.wait()?;
        if !status.success() {
            bail!("a shard failed: {status}");
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let pg_rate = STORE_SAMPLES as f64 / wall;
    let exported = Command::new(&sweep.exe)
        .args([
            "export",
            "perf-store",
            "--format",
            "jsonl",
            "--store",
            &pg.url,
        ])
        .stderr(Stdio::inherit())
        .output()?;
    if !exported.status.success() {
        bail!("export from PostgreSQL failed: {}", exported.status);
    }
    let stored = exported
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    drop(sweep);
    drop(pg);
    let _ = std::fs::remove_dir_all(&dir);
    if stored != STORE_SAMPLES {
        bail!("PostgreSQL holds {stored} samples of the run, want {STORE_SAMPLES}");
    }
    eprintln!();
    eprintln!(
        "store: {n} samples by 1 process into SQLite: {:.2} s = {sqlite_rate:.0} samples/s (harness CPU {:.3} ms/sample)",
        single.wall.as_secs_f64(),
        single.cpu_per_sample_ms()
    );
    eprintln!(
        "store: {n} samples by {STORE_SHARDS} shard processes at once into PostgreSQL: {wall:.2} s = {pg_rate:.0} samples/s, {stored} stored (target >= {STORE_TARGET_PER_SECOND:.0}/s: {})",
        crate::perf::verdict(pg_rate >= STORE_TARGET_PER_SECOND)
    );
    eprintln!("machine: {}", crate::perf::machine());
    crate::perf_table::record(
        "store",
        format!("{n} samples (mock server, 0 ms) by 1 process into SQLite"),
        format!("{sqlite_rate:.0} samples/s"),
        "none (the reference)",
        None,
    );
    crate::perf_table::record(
        "store",
        format!("{n} samples by {STORE_SHARDS} shard processes at once into PostgreSQL"),
        format!("{pg_rate:.0} samples/s, {stored} stored"),
        format!(">= {STORE_TARGET_PER_SECOND:.0} samples/s"),
        Some(pg_rate >= STORE_TARGET_PER_SECOND),
    );
    Ok(())
}
