//! Benchmark: what grading one answer costs, `grader-regex` beside `grader-match`, without the
//! rest of the harness (provider, HTTP, store) whose noise hides a few microseconds. A
//! program, not a timed test; `cargo xtask perf match` runs it after the harness runs.
//!
//! ```text
//! cargo build --release -p grader-regex -p grader-match
//! cargo run --release -p grader-match --example grade_cost [-- GRADES [GRADER...]]
//! ```
//!
//! The graders and answers are those of `cargo xtask perf match`: the mock server's echo
//! answer (`mock-<hash>` and 31 words) graded by `grader-regex` with `pattern = "mock"`, by
//! `grader-match` with `mode = "contains"` against the item's `expected` variable, and by
//! `grader-match` with `expected = "{{ expected }}"` (rendered per item in the plugin, from the
//! request's variables, as in a run). Each grader grades GRADES answers (default 100,000), one at a time, in
//! several interleaved rounds so that a burst of load on the machine hits all of them alike:
//! 1. through the plugin ABI, as the runner calls it (the plugins in `target/release`, loaded
//!    by the plugin host: the request and the grade cross as JSON), and
//! 2. `grader-match` in-process (`MatchGrader::grade_with`), the grader's own work alone.
//!
//! GRADER selects some of them (`regex`, `match`, `match-rendered`, `match-in-process`,
//! `match-rendered-in-process`; default all), for a profiler or an instruction count
//! (`valgrind --tool=callgrind`) of one grader alone.
//!
//! Prints, per grader, the best round's CPU time (user + system, all threads of this
//! process: the plugin's runtime does the grading) and wall time per grade.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use grader_match::MatchGrader;
use llmbench_plugin_host::PluginGrader;
use llmbench_plugin_sdk::core::{
    Completion, Grade, GradeOutcome, GradeRequest, Grader as _, PluginContext, StopReason, Timings,
    Usage,
};
use serde_json::{Value, json};

const DEFAULT_GRADES: usize = 100_000;
const ROUNDS: usize = 5;

/// The mock server's echo answer for one prompt (`llmbench-mockserver`'s `echo_answer` with 32
/// tokens): what every sample of `cargo xtask perf match` is graded on.
const ANSWER: &str = "mock-5f0c6b1e9a3d2c47 tango bravo six lima oscar quebec delta two \
                      kilo mike zulu echo five alpha romeo hotel uniform one xray papa india \
                      sierra november juliett victor three golf whiskey foxtrot charlie four";

/// How a benchmark grades.
enum Via {
    /// Through the plugin ABI, as the runner calls a grader.
    Abi(PluginGrader),
    /// `grader-match`'s own work alone.
    InProcess(Box<MatchGrader>),
}

/// One grader to measure.
struct Bench {
    /// Selects it on the command line.
    key: &'static str,
    name: &'static str,
    via: Via,
}

#[expect(clippy::print_stdout, reason = "a benchmark program reports on stdout")]
fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let grades: usize = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|e| format!("GRADES must be a number, not {n:?}: {e}"))?,
        None => DEFAULT_GRADES,
    };
    let only: Vec<String> = args.collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    let dir = plugin_dir()?;
    let load = |package: &str, options: Value| -> Result<Via, String> {
        let library = newest_library(&dir, package);
        let plugin = llmbench_plugin_host::load(&library).map_err(|e| {
            format!(
                "{}: {e} (build it with `cargo build --release -p {package}`)",
                library.display()
            )
        })?;
        PluginGrader::new(&plugin, &options, &PluginContext::default())
            .map(Via::Abi)
            .map_err(|e| format!("{package}: {e}"))
    };
    let in_process = |options: Value| -> Result<Via, String> {
        MatchGrader::from_options(options)
            .map(|g| Via::InProcess(Box::new(g)))
            .map_err(|e| e.to_string())
    };
    let variable = json!({ "mode": "contains" });
    let template = json!({ "mode": "contains", "expected": "{{ expected }}" });
    let benches = [
        Bench {
            key: "regex",
            name: "grader-regex, one pattern (ABI)",
            via: load("grader-regex", json!({ "pattern": "mock" }))?,
        },
        Bench {
            key: "match",
            name: "grader-match, the item's `expected` variable (ABI)",
            via: load("grader-match", variable.clone())?,
        },
        Bench {
            key: "match-rendered",
            name: "grader-match, options rendered per item (ABI)",
            via: load("grader-match", template.clone())?,
        },
        Bench {
            key: "match-in-process",
            name: "grader-match, the item's `expected` variable (in-process)",
            via: in_process(variable)?,
        },
        Bench {
            key: "match-rendered-in-process",
            name: "grader-match, options rendered per item (in-process)",
            via: in_process(template)?,
        },
    ];
    if let Some(unknown) = only.iter().find(|k| !benches.iter().any(|b| b.key == *k)) {
        let keys: Vec<&str> = benches.iter().map(|b| b.key).collect();
        return Err(format!(
            "unknown grader {unknown:?} (one of {})",
            keys.join(", ")
        ));
    }
    let benches: Vec<Bench> = benches
        .into_iter()
        .filter(|b| only.is_empty() || only.iter().any(|k| k == b.key))
        .collect();
    let vars: BTreeMap<String, String> = [
        ("id", "q1"),
        ("text", "Question number 1: what is 1 plus 1?"),
        ("expected", "mock"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();

    let mut best = vec![(Duration::MAX, Duration::MAX); benches.len()];
    for _ in 0..ROUNDS {
        for (bench, best) in benches.iter().zip(&mut best) {
            let passed = |grade: Grade| match grade.outcome {
                GradeOutcome::Pass => Ok(()),
                _ => Err(format!("{}: not a pass: {}", bench.name, grade.evidence)),
            };
            let took = match &bench.via {
                Via::Abi(grader) => {
                    let request = GradeRequest {
                        task: "perf".into(),
                        item: "q1".into(),
                        vars: vars.clone(),
                        // As the runner sends it: the item's variables, no options (the
                        // plugin renders what its options take from them).
                        options: None,
                        completion: Completion {
                            text: ANSWER.into(),
                            stop_reason: StopReason::EndTurn,
                            usage: Usage::default(),
                            timings: Timings::default(),
                            response_model: None,
                        },
                    };
                    measure(|| {
                        runtime.block_on(async {
                            for _ in 0..grades {
                                passed(grader.grade(&request).await.map_err(|e| e.to_string())?)?;
                            }
                            Ok(())
                        })
                    })?
                }
                Via::InProcess(grader) => measure(|| {
                    for _ in 0..grades {
                        passed(std::hint::black_box(grader.grade_with(
                            std::hint::black_box(ANSWER),
                            None,
                            &|name| vars.get(name).map(String::as_str),
                        )))?;
                    }
                    Ok(())
                })?,
            };
            best.0 = best.0.min(took.0);
            best.1 = best.1.min(took.1);
        }
    }
    println!("{grades} grades per grader and round, best of {ROUNDS} rounds:");
    for (bench, (cpu, wall)) in benches.iter().zip(&best) {
        let per = |d: &Duration| d.as_secs_f64() * 1e6 / grades as f64;
        println!(
            "  {}: CPU {:.2} µs/grade, wall {:.2} µs/grade",
            bench.name,
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
