//! `cargo xtask perf`: benchmark programs (not tests), built in release.
//!
//! - `local`: the in-process model's prompt and decode tokens/s measured through the runner
//!   and the plugin (from the stored completions), beside the bare decode loop over the same
//!   engine, model, threads and prompt (`provider-local`'s `decode_bench` example).
//! - `exec`: sandboxed execution gradings per second (`grader-python-exec`'s example).
//! - `scrape`: `/metrics` scrape time with 50 models x 20 tasks of series.
//! - `throughput`: N samples through the real runner, the OpenAI provider plugin and the
//!   regex grader, against the in-repo OpenAI-style server (a separate process, so its CPU
//!   is not counted) on loopback. Prints samples/s, harness CPU per sample (user + system
//!   time of the `llmbench` process), its peak RSS, and wall time against the ideal
//!   (N x latency / concurrency).
//! - `match`: the `throughput` run with `grader-match` instead of `grader-regex` (10,000
//!   samples, each graded against its item's reference answer: the item's `expected`
//!   variable, then `expected = "{{ expected }}"`, options rendered per item), beside the
//!   same run with `grader-regex`: harness CPU per sample, target no worse than regex's.
//! - `humaneval`: sandboxed per-item grading throughput: `configs/humaneval.toml` replaying
//!   the dataset's 164 canonical solutions at concurrency 2 (each graded by running the
//!   problem's own tests in the sandbox). Target: at least 10 gradings/s.

use std::io::{Read as _, Write as _};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cargo, root, run};

pub(crate) fn perf(args: &[String]) -> anyhow::Result<()> {
    let what = args.first().map_or("throughput", String::as_str);
    match what {
        "throughput" => {
            build(&["llmbench-cli", "provider-openai", "grader-regex"])?;
            let a = throughput(10_000, Duration::ZERO, 64)?;
            let b = throughput(2_000, Duration::from_millis(200), 64)?;
            eprintln!();
            eprintln!("{}", a.line());
            eprintln!("{}", b.line());
            eprintln!("machine: {}", machine());
            Ok(())
        }
        "local" => local(),
        "exec" => {
            // The founding task's harness, on a correct fix and on the original bug.
            let task = root().join("configs/tasks/race-condition");
            run(cargo()
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
                .arg(task.join("calibration/wrong-original-code.md")))
        }
        "scrape" => run(cargo().args(["bench", "-p", "llmbench-serve", "--bench", "scrape"])),
        "match" => {
            build(&[
                "llmbench-cli",
                "provider-openai",
                "grader-regex",
                "grader-match",
            ])?;
            let regex = throughput(10_000, Duration::ZERO, 64)?;
            let runs = [
                throughput_graded(10_000, Duration::ZERO, 64, Grader::Match)?,
                throughput_graded(10_000, Duration::ZERO, 64, Grader::MatchRendered)?,
            ];
            let per_sample = |t: &Throughput| t.cpu.as_secs_f64() * 1000.0 / t.samples as f64;
            let r = per_sample(&regex);
            eprintln!();
            eprintln!("{}", regex.line());
            for run in &runs {
                eprintln!("{}", run.line());
            }
            for run in &runs {
                let m = per_sample(run);
                eprintln!(
                    "match ({}): harness CPU {m:.3} ms/sample, grader-regex {r:.3} ms/sample ({:+.1}%); target: no worse than grader-regex: {}",
                    run.grader.describe(),
                    (m / r - 1.0) * 100.0,
                    verdict(m <= r * MATCH_NOISE)
                );
            }
            eprintln!("machine: {}", machine());
            Ok(())
        }
        "humaneval" => {
            build(&["llmbench-cli", "provider-replay", "grader-python-exec"])?;
            let h = humaneval(2)?;
            eprintln!();
            eprintln!("{}", h.line());
            eprintln!("machine: {}", machine());
            Ok(())
        }
        "all" => {
            perf(&["throughput".to_owned()])?;
            perf(&["match".to_owned()])?;
            perf(&["local".to_owned()])?;
            perf(&["exec".to_owned()])?;
            perf(&["humaneval".to_owned()])?;
            perf(&["scrape".to_owned()])
        }
        other => bail!(
            "unknown benchmark `{other}` (throughput, match, local, exec, humaneval, scrape, all)"
        ),
    }
}

fn build(packages: &[&str]) -> anyhow::Result<()> {
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
struct Throughput {
    grader: Grader,
    samples: usize,
    latency: Duration,
    concurrency: usize,
    wall: Duration,
    cpu: Duration,
    max_rss_kib: i64,
}

impl Throughput {
    fn line(&self) -> String {
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
            "throughput ({}): {} samples, server latency {} ms, concurrency {}: wall {:.2} s ({:.0} samples/s{vs_ideal}), harness CPU {:.3} ms/sample, peak RSS {:.1} MB",
            self.grader.describe(),
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

/// Kills the server when the benchmark ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Harness CPU per sample differs by a few percent from run to run on a quiet machine: within
/// this factor of grader-regex's figure, grader-match counts as no worse.
const MATCH_NOISE: f64 = 1.05;

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The grader a throughput run grades with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grader {
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

fn throughput_graded(
    samples: usize,
    latency: Duration,
    concurrency: usize,
    grader: Grader,
) -> anyhow::Result<Throughput> {
    let dir = tempfile_dir()?;
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
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Throughput {
        grader,
        samples,
        latency,
        concurrency,
        wall,
        cpu: usage.0,
        max_rss_kib: usage.1,
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

/// At least this many sandboxed gradings per second at concurrency 2.
const HUMANEVAL_TARGET_PER_SECOND: f64 = 10.0;

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
    let export = Command::new(&exe)
        .args(["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(&results)
        .output()?;
    if !export.status.success() {
        bail!("llmbench export failed: {}", export.status);
    }
    let mut samples = 0;
    let mut passed = 0;
    for line in String::from_utf8(export.stdout)?.lines() {
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
    let export = Command::new(&exe)
        .args(["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(&results)
        .output()?;
    let mut prompt_rates = Vec::new();
    let mut decode_rates = Vec::new();
    for line in String::from_utf8(export.stdout)?.lines() {
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
    eprintln!("machine: {}", machine());
    Ok(())
}
