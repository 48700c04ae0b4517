//! Where the time of a batched run goes: the engine alone (no plugin, host or runner) on the
//! founding task's prompt, one request at a time ([`Session`]) and `n` repeats decoded together
//! ([`BatchSession`]), for each thread count and batch width asked. Prints one JSON object per
//! line: prompt reading time, admission time of the repeats (prompt read once, copied to the
//! others), milliseconds per decode step (and the part of it inside llama.cpp's decode), and
//! the total output tokens/s of the `n` repeats against `n` sequential ones.
//!
//! ```text
//! cargo run --release -p provider-local --example batch_bench -- \
//!     [--model FILE.gguf] [--threads 1,2] [--widths 1,2,4] [--max-tokens 256] \
//!     [--batch-tokens 512] [--flash-attention]
//! ```
//!
//! Greedy decoding: every repeat's answer is the sequential one (checked).

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use llmbench_models::{Cache, smollm2_135m_instruct};
use llmbench_plugin_sdk::core::Message;
use provider_local::engine::{BatchSession, EngineOptions, GenerateParams, Model};

struct Args {
    model: Option<PathBuf>,
    engine: EngineOptions,
    threads: Vec<u32>,
    widths: Vec<u32>,
    max_tokens: u32,
}

fn list(flag: &str, value: &str) -> Result<Vec<u32>, String> {
    value
        .split(',')
        .map(|v| v.trim().parse::<u32>().map_err(|e| format!("{flag}: {e}")))
        .collect()
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: None,
        engine: EngineOptions::default(),
        threads: vec![1, 2],
        widths: vec![1, 2, 4],
        max_tokens: 256,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--model" => args.model = Some(value()?.into()),
            "--threads" => args.threads = list(&flag, &value()?)?,
            "--widths" => args.widths = list(&flag, &value()?)?,
            "--max-tokens" => args.max_tokens = list(&flag, &value()?)?[0],
            "--batch-tokens" => args.engine.batch_tokens = list(&flag, &value()?)?[0],
            "--flash-attention" => args.engine.flash_attention = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

/// The founding task's prompt (configs/tasks/race-condition), rendered for its one item.
fn founding_prompt() -> Result<String, String> {
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/tasks/race-condition"
    );
    let read = |file: &str| {
        std::fs::read_to_string(format!("{dir}/{file}")).map_err(|e| format!("{dir}/{file}: {e}"))
    };
    let task = read("task.md")?;
    let items = read("items.jsonl")?;
    let item: serde_json::Value = serde_json::from_str(items.lines().next().unwrap_or_default())
        .map_err(|e| format!("{dir}/items.jsonl:1: {e}"))?;
    Ok(task.replace("{{ code }}", item["code"].as_str().unwrap_or_default()))
}

/// CPU time of this process so far, in seconds (every llama.cpp thread included): on a shared
/// machine it measures the work where wall time also measures the neighbours.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to; the clock exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

fn run() -> Result<(), String> {
    let args = parse_args()?;
    let path = match args.model {
        Some(path) => path,
        None => Cache::new(Cache::default_dir().map_err(|e| e.to_string())?)
            .ensure(&smollm2_135m_instruct())
            .map_err(|e| e.to_string())?,
    };
    let model = Model::load(&path).map_err(|e| e.to_string())?;
    let prompt = model.prompt_tokens(None, &[Message::user(founding_prompt()?)]);
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        ..GenerateParams::default()
    };
    let never = Arc::new(AtomicBool::new(false));
    let mut out = std::io::stdout().lock();
    for &threads in &args.threads {
        let engine = EngineOptions {
            threads,
            ..args.engine
        };
        // One at a time: a warm-up, then the measured request.
        let mut session = model.session(&engine).map_err(|e| e.to_string())?;
        session
            .generate(&prompt, &params, &never)
            .map_err(|e| e.to_string())?;
        let cpu_started = cpu_seconds();
        let one = session
            .generate(&prompt, &params, &never)
            .map_err(|e| e.to_string())?;
        let one_cpu = cpu_seconds() - cpu_started;
        drop(session);
        let prompt_s = (one.prompt_read_at - one.started_at).as_secs_f64();
        let total_s = (one.finished_at - one.started_at).as_secs_f64();
        let decode_ms = (one.finished_at - one.prompt_read_at).as_secs_f64() * 1e3
            / one.output_tokens.max(1) as f64;
        let _ = writeln!(
            out,
            "{}",
            serde_json::json!({
                "mode": "sequential",
                "threads": threads,
                "prompt_tokens": one.prompt_tokens,
                "output_tokens": one.output_tokens,
                "prompt_seconds": prompt_s,
                "ms_per_token": decode_ms,
                "tokens_per_second": one.output_tokens as f64 / total_s,
                "cpu_seconds": one_cpu,
                "cpu_ms_per_token": one_cpu * 1e3 / one.output_tokens.max(1) as f64,
            })
        );
        for &width in &args.widths {
            let engine = EngineOptions {
                parallel_sequences: width,
                ..engine
            };
            // A fresh context, as a new `llmbench run` has: the prompt is read once.
            let mut batch: BatchSession<'_, u32> =
                model.batch_session(&engine).map_err(|e| e.to_string())?;
            let started = Instant::now();
            let cpu_started = cpu_seconds();
            let mut ended = Vec::new();
            for tag in 0..width {
                ended.extend(batch.admit(tag, &prompt, &params, Arc::clone(&never)));
            }
            let admitted = started.elapsed().as_secs_f64();
            let admit_cpu = cpu_seconds() - cpu_started;
            let decode_before = batch.decode_time();
            let steps_started = Instant::now();
            let mut steps = 0u32;
            while batch.running() > 0 {
                ended.extend(batch.step());
                steps += 1;
            }
            let steps_s = steps_started.elapsed().as_secs_f64();
            let total_cpu = cpu_seconds() - cpu_started;
            let decode_s = (batch.decode_time() - decode_before).as_secs_f64();
            let mut tokens = 0;
            for f in &ended {
                let g = f.result.as_ref().map_err(|e| e.to_string())?;
                if g.text != one.text {
                    return Err(format!(
                        "sequence {} differs from the sequential answer",
                        f.tag
                    ));
                }
                tokens += g.output_tokens;
            }
            let total = started.elapsed().as_secs_f64();
            let _ = writeln!(
                out,
                "{}",
                serde_json::json!({
                    "mode": "batched",
                    "threads": threads,
                    "width": width,
                    "prompts_reused": batch.prompts_reused(),
                    "widest_step": batch.widest_step(),
                    "admit_seconds": admitted,
                    "admit_cpu_seconds": admit_cpu,
                    "cpu_seconds": total_cpu,
                    "cpu_ms_per_step": (total_cpu - admit_cpu) * 1e3 / f64::from(steps.max(1)),
                    "cpu_speedup_vs_sequential": (tokens as f64 / total_cpu)
                        / (one.output_tokens as f64 / one_cpu),
                    "steps": steps,
                    "ms_per_step": steps_s * 1e3 / f64::from(steps.max(1)),
                    "decode_ms_per_step": decode_s * 1e3 / f64::from(steps.max(1)),
                    "tokens_per_second": tokens as f64 / total,
                    "speedup_vs_sequential": (tokens as f64 / total)
                        / (one.output_tokens as f64 / total_s),
                })
            );
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "batch_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
