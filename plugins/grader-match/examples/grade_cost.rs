//! Benchmark: what grading one answer costs, `grader-regex` beside `grader-match`, without the
//! rest of the harness (provider, HTTP, store) whose noise hides a few microseconds. A
//! program, not a timed test; `cargo xtask perf match` runs it after the harness runs.
//!
//! ```text
//! cargo build --release -p grader-regex -p grader-match
//! cargo run --release -p grader-match --example grade_cost [-- GRADES]
//! ```
//!
//! The graders and answers are those of `cargo xtask perf match`: the mock server's echo
//! answer (`mock-<hash>` and 31 words) graded by `grader-regex` with `pattern = "mock"`, by
//! `grader-match` with `mode = "contains"` against the item's `expected` variable, and by
//! `grader-match` with `expected = "{{ expected }}"` (options rendered per item, as the runner
//! sends them). Each grader grades GRADES answers (default 100,000), one at a time, in
//! several interleaved rounds so that a burst of load on the machine hits all of them alike:
//! 1. through the plugin ABI, as the runner calls it (the plugins in `target/release`, loaded
//!    by the plugin host: the request and the grade cross as JSON), and
//! 2. `grader-match` in-process (`MatchGrader::grade_answer`), the grader's own work alone.
//!
//! Prints, per grader, the best round's CPU time (user + system, all threads of this
//! process: the plugin's runtime does the grading) and wall time per grade.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grader_match::MatchGrader;
use llmbench_plugin_host::PluginGrader;
use llmbench_plugin_sdk::core::{
    Completion, GradeOutcome, GradeRequest, Grader as _, PluginContext, StopReason, Timings, Usage,
};
use serde_json::{Value, json};

const DEFAULT_GRADES: usize = 100_000;
const ROUNDS: usize = 5;

/// The mock server's echo answer for one prompt (`llmbench-mockserver`'s `echo_answer` with 32
/// tokens): what every sample of `cargo xtask perf match` is graded on.
const ANSWER: &str = "mock-5f0c6b1e9a3d2c47 tango bravo six lima oscar quebec delta two \
                      kilo mike zulu echo five alpha romeo hotel uniform one xray papa india \
                      sierra november juliett victor three golf whiskey foxtrot charlie four";

#[expect(clippy::print_stdout, reason = "a benchmark program reports on stdout")]
fn main() -> Result<(), String> {
    let grades: usize = match std::env::args().nth(1) {
        Some(n) => n
            .parse()
            .map_err(|e| format!("GRADES must be a number, not {n:?}: {e}"))?,
        None => DEFAULT_GRADES,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let dir = plugin_dir()?;
    let load = |package: &str, options: Value| -> Result<PluginGrader, String> {
        let library = newest_library(&dir, package);
        let plugin = llmbench_plugin_host::load(&library).map_err(|e| {
            format!(
                "{}: {e} (build it with `cargo build --release -p {package}`)",
                library.display()
            )
        })?;
        PluginGrader::new(&plugin, &options, &PluginContext::default())
            .map_err(|e| format!("{package}: {e}"))
    };
    let rendered_options = json!({ "mode": "contains", "expected": "{{ expected }}" });
    let rendered = json!({ "mode": "contains", "expected": "mock" });
    let abi = [
        (
            "grader-regex, one pattern (ABI)",
            load("grader-regex", json!({ "pattern": "mock" }))?,
            None,
        ),
        (
            "grader-match, the item's `expected` variable (ABI)",
            load("grader-match", json!({ "mode": "contains" }))?,
            None,
        ),
        (
            "grader-match, options rendered per item (ABI)",
            load("grader-match", rendered_options.clone())?,
            Some(rendered.clone()),
        ),
    ];
    let in_process = [
        (
            "grader-match, the item's `expected` variable (in-process)",
            MatchGrader::from_options(json!({ "mode": "contains" })).map_err(|e| e.to_string())?,
            None,
        ),
        (
            "grader-match, options rendered per item (in-process)",
            MatchGrader::from_options(rendered_options).map_err(|e| e.to_string())?,
            Some(rendered),
        ),
    ];
    let vars: BTreeMap<String, String> = [
        ("id", "q1"),
        ("text", "Question number 1: what is 1 plus 1?"),
        ("expected", "mock"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();

    let mut best = vec![(Duration::MAX, Duration::MAX); abi.len() + in_process.len()];
    for _ in 0..ROUNDS {
        for (i, (name, grader, options)) in abi.iter().enumerate() {
            let request = GradeRequest {
                task: "perf".into(),
                item: "q1".into(),
                vars: vars.clone(),
                options: options.clone(),
                completion: Completion {
                    text: ANSWER.into(),
                    stop_reason: StopReason::EndTurn,
                    usage: Usage::default(),
                    timings: Timings::default(),
                    response_model: None,
                },
            };
            let took = measure(|| {
                runtime.block_on(async {
                    for _ in 0..grades {
                        let grade = grader.grade(&request).await.map_err(|e| e.to_string())?;
                        if grade.outcome != GradeOutcome::Pass {
                            return Err(format!("{name}: not a pass: {}", grade.evidence));
                        }
                    }
                    Ok(())
                })
            })?;
            keep_best(&mut best[i], took);
        }
        for (i, (name, grader, options)) in in_process.iter().enumerate() {
            let took = measure(|| {
                for _ in 0..grades {
                    let grade = grader.grade_answer(
                        std::hint::black_box(ANSWER),
                        options.as_ref(),
                        vars.get("expected").map(String::as_str),
                    );
                    if grade.outcome != GradeOutcome::Pass {
                        return Err(format!("{name}: not a pass: {}", grade.evidence));
                    }
                    std::hint::black_box(grade);
                }
                Ok(())
            })?;
            keep_best(&mut best[abi.len() + i], took);
        }
    }
    let names = abi
        .iter()
        .map(|g| g.0)
        .chain(in_process.iter().map(|g| g.0));
    println!("{grades} grades per grader and round, best of {ROUNDS} rounds:");
    for (name, (cpu, wall)) in names.zip(&best) {
        let per = |d: &Duration| d.as_secs_f64() * 1e6 / grades as f64;
        println!(
            "  {name}: CPU {:.2} µs/grade, wall {:.2} µs/grade",
            per(cpu),
            per(wall)
        );
    }
    Ok(())
}

/// `target/release`: this example is `target/release/examples/grade_cost`.
fn plugin_dir() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    exe.parent()
        .and_then(Path::parent)
        .map(Path::to_owned)
        .ok_or_else(|| format!("{}: not in target/<profile>/examples", exe.display()))
}

/// The newer of `dir/lib<name>.so` and `dir/deps/lib<name>.so`: cargo writes the library to
/// `deps/` on every build and copies it up only when the package is named on the command
/// line (`cargo run --example` builds this package's without naming it so).
fn newest_library(dir: &Path, package: &str) -> PathBuf {
    let file = llmbench_plugin_host::library_file_name(package);
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    [dir.join("deps").join(&file), dir.join(&file)]
        .into_iter()
        .max_by_key(|path| modified(path))
        .expect("two candidates")
}

/// Each of CPU and wall time is kept at its best (lowest) round.
fn keep_best(best: &mut (Duration, Duration), (cpu, wall): (Duration, Duration)) {
    best.0 = best.0.min(cpu);
    best.1 = best.1.min(wall);
}

/// The process CPU time (all threads) and the wall time `work` took.
fn measure(work: impl FnOnce() -> Result<(), String>) -> Result<(Duration, Duration), String> {
    let (cpu, wall) = (process_cpu()?, Instant::now());
    work()?;
    Ok((process_cpu()?.saturating_sub(cpu), wall.elapsed()))
}

/// User + system time of this process, all threads, from `/proc/self/stat` (fields 14 and
/// 15, in clock ticks of 1/100 s: USER_HZ is 100 on Linux). Read from the file rather than
/// with `getrusage` to need no `unsafe` and no extra dependency; 10 ms steps are fine for
/// rounds that take a second or so.
fn process_cpu() -> Result<Duration, String> {
    let stat = std::fs::read_to_string("/proc/self/stat")
        .map_err(|e| format!("/proc/self/stat: {e} (this benchmark needs Linux)"))?;
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or("/proc/self/stat: no command name")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| -> Result<u64, String> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| format!("/proc/self/stat: field {} is not a number", i + 3))
    };
    // After the name: field 3 (state) is index 0, so utime (14) is 11 and stime (15) is 12.
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}
