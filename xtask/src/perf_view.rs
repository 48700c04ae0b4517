//! `cargo xtask perf view`: `llmbench view` on a big store. 50 runs of 2,000 samples each
//! (100,000 samples: 4 testkit models x 500 items with 1 KB prompts and answers, graded by
//! `grader-regex`, about a third failing), made once through the real runner and kept under
//! `target/perf-view/`; then the release `llmbench view` serves it and each page is fetched
//! 20 times over loopback after a warm-up: the runs list, a filtered sample page (one model's
//! failures), a full-text search and a later page. Target: every page under 200 ms (the
//! slowest of the 20 fetches).

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

use crate::{cargo, root, run};

const RUNS: usize = 50;
const ITEMS: usize = 500;
const MODELS: [&str; 4] = ["kit-a", "kit-b", "kit-c", "kit-d"];
const TARGET: Duration = Duration::from_millis(200);
const FETCHES: usize = 20;

pub(crate) fn perf_view() -> anyhow::Result<()> {
    run(cargo().args([
        "build",
        "--release",
        "-p",
        "llmbench-cli",
        "-p",
        "provider-testkit",
        "-p",
        "grader-regex",
    ]))?;
    let release = root().join("target/release");
    let exe = release.join("llmbench");
    let dir = root().join("target/perf-view");
    let results = dir.join("results");
    let done = dir.join("complete");
    if !done.is_file() {
        make_store(&exe, &release, &dir)?;
        std::fs::write(&done, "")?;
    } else {
        eprintln!("perf view: reusing the store in {}", results.display());
    }

    let mut view = Command::new(&exe)
        .args(["view", "--address", "127.0.0.1:0", "--output-dir"])
        .arg(&results)
        .stdout(Stdio::piped())
        .spawn()
        .context("start llmbench view")?;
    let mut line = String::new();
    BufReader::new(view.stdout.take().context("view's stdout")?).read_line(&mut line)?;
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .with_context(|| format!("no address in {line:?}"))?
        .to_owned();
    let result = measure(&address);
    let _ = view.kill();
    let _ = view.wait();
    let rows = result?;
    eprintln!();
    let mut failed = 0;
    for (page, times) in &rows {
        let mut sorted = times.clone();
        sorted.sort();
        let median = sorted[sorted.len() / 2];
        let max = sorted[sorted.len() - 1];
        let met = max < TARGET;
        if !met {
            failed += 1;
        }
        crate::perf_table::record(
            "view",
            format!(
                "`llmbench view` over {} samples in {RUNS} runs: `{page}`",
                crate::perf::thousands(RUNS * ITEMS * MODELS.len())
            ),
            format!(
                "median {:.1} ms, max {:.1} ms",
                median.as_secs_f64() * 1000.0,
                max.as_secs_f64() * 1000.0
            ),
            format!("< {} ms", TARGET.as_millis()),
            Some(met),
        );
        eprintln!(
            "{:<44} median {:>6.1} ms  max {:>6.1} ms  (target < {} ms: {})",
            page,
            median.as_secs_f64() * 1000.0,
            max.as_secs_f64() * 1000.0,
            TARGET.as_millis(),
            if met { "met" } else { "MISSED" }
        );
    }
    eprintln!(
        "store: {RUNS} runs, {} samples",
        RUNS * ITEMS * MODELS.len()
    );
    eprintln!("machine: {}", crate::perf::machine());
    if failed > 0 {
        bail!("{failed} page(s) slower than {} ms", TARGET.as_millis());
    }
    Ok(())
}

/// `RUNS` sweeps of `ITEMS` items x `MODELS` through the release runner into `dir/results`.
fn make_store(exe: &Path, plugins: &Path, dir: &Path) -> anyhow::Result<()> {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir)?;
    let items = dir.join("items.jsonl");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&items)?);
    let filler = "lorem ipsum dolor sit amet ".repeat(36);
    for i in 0..ITEMS {
        // About a third of the answers lack `Fix`: those fail.
        let verb = if i % 3 == 0 { "Skip" } else { "Fix" };
        let needle = if i % 100 == 7 { " needle" } else { "" };
        writeln!(
            f,
            "{{\"id\": \"item-{i:04}\", \"text\": \"{verb} bug {i}{needle}: {filler}\"}}"
        )?;
    }
    f.flush()?;
    let mut config = format!(
        "[run]\nconcurrency = 64\nplugin-dir = \"{}\"\n\n",
        plugins.display()
    );
    for model in MODELS {
        config.push_str(&format!(
            "[providers.{model}]\nplugin = \"provider-testkit\"\nmodel = \"{model}\"\nprice = {{ input-per-mtok = 1.0, output-per-mtok = 5.0 }}\n\n"
        ));
    }
    config.push_str(
        "[tasks.fix]\nprompt = \"{{text}}\"\nitems-file = \"items.jsonl\"\n\n[[tasks.fix.graders]]\nplugin = \"grader-regex\"\n[tasks.fix.graders.options]\npattern = \"Fix\"\n",
    );
    let config_path = dir.join("perf-view.toml");
    std::fs::write(&config_path, config)?;
    let started = Instant::now();
    for n in 0..RUNS {
        let status = Command::new(exe)
            .args(["run", "--config"])
            .arg(&config_path)
            .arg("--output-dir")
            .arg(dir.join("results"))
            .stdout(Stdio::null())
            .status()?;
        if !status.success() {
            bail!("llmbench run {n} failed: {status}");
        }
        eprintln!(
            "perf view: run {} of {RUNS} stored ({:.0} s)",
            n + 1,
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Each page's fetch times.
fn measure(address: &str) -> anyhow::Result<Vec<(String, Vec<Duration>)>> {
    let (_, runs) = fetch(address, "/")?;
    // The newest run is listed first.
    let run = runs
        .split("data-run=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .context("no run on the runs list")?
        .to_owned();
    let pages = [
        "/".to_owned(),
        format!("/runs/{run}/samples?model=kit-b&verdict=fail"),
        format!("/runs/{run}/samples?q=needle"),
        format!("/runs/{run}/samples?task=fix&page=30"),
    ];
    let mut rows = Vec::new();
    for page in pages {
        fetch(address, &page)?;
        let mut times = Vec::with_capacity(FETCHES);
        for _ in 0..FETCHES {
            let (took, body) = fetch(address, &page)?;
            if !body.contains("</html>") {
                bail!("{page}: not a whole page");
            }
            times.push(took);
        }
        rows.push((page, times));
    }
    Ok(rows)
}

/// `GET path`: how long until the whole response was read, and its body.
fn fetch(address: &str, path: &str) -> anyhow::Result<(Duration, String)> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(address)?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let took = started.elapsed();
    if !response.starts_with("HTTP/1.1 200") {
        bail!(
            "{path}: {}",
            response.lines().next().unwrap_or("no response")
        );
    }
    Ok((took, response))
}
