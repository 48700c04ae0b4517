//! The bare decode loop: the same engine, model and threads as `provider-local`, without the
//! plugin, the host or the runner. Prints one JSON object with prompt and decode tokens/s
//! (medians over the repeats), for `cargo xtask perf` to set beside the plugin path.
//!
//! ```text
//! cargo run -p provider-local --example decode_bench -- \
//!     [--model FILE.gguf] [--threads 1] [--context-tokens 4096] [--batch-tokens 512] \
//!     [--flash-attention] [--max-tokens 64] [--repeats 3] [--prompt-file FILE] [--system TEXT]
//! ```
//!
//! Without `--model` the default model is fetched into the model cache. Rates use the
//! provider's formulas: prompt tokens over the time to first token, and output tokens after
//! the first over the time after it. Greedy decoding, so every repeat produces the same text.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::time::Instant;

use llmbench_models::{Cache, smollm2_135m_instruct};
use llmbench_plugin_sdk::core::Message;
use provider_local::engine::{EngineOptions, GenerateParams, Model};

const DEFAULT_PROMPT: &str = "Explain what a race condition is in concurrent programs, \
    give a short example in Rust, and explain how a mutex prevents it.";

struct Args {
    model: Option<PathBuf>,
    engine: EngineOptions,
    max_tokens: u32,
    repeats: usize,
    prompt: String,
    system: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        model: None,
        engine: EngineOptions::default(),
        max_tokens: 64,
        repeats: 3,
        prompt: DEFAULT_PROMPT.to_owned(),
        system: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<u32>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--model" => args.model = Some(value()?.into()),
            "--threads" => args.engine.threads = number(value()?)?,
            "--context-tokens" => args.engine.context_tokens = number(value()?)?,
            "--batch-tokens" => args.engine.batch_tokens = number(value()?)?,
            "--max-tokens" => args.max_tokens = number(value()?)?,
            "--repeats" => args.repeats = number(value()?)?.max(1) as usize,
            "--prompt-file" => {
                let path = value()?;
                args.prompt = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            }
            "--system" => args.system = Some(value()?),
            "--flash-attention" => args.engine.flash_attention = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(args)
}

fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

fn run() -> Result<serde_json::Value, String> {
    let args = parse_args()?;
    let path = match args.model {
        Some(path) => path,
        None => Cache::new(Cache::default_dir().map_err(|e| e.to_string())?)
            .ensure(&smollm2_135m_instruct())
            .map_err(|e| e.to_string())?,
    };
    let load_started = Instant::now();
    let model = Model::load(&path).map_err(|e| e.to_string())?;
    let mut session = model.session(&args.engine).map_err(|e| e.to_string())?;
    let load_seconds = load_started.elapsed().as_secs_f64();

    let prompt = model.prompt_tokens(args.system.as_deref(), &[Message::user(&args.prompt)]);
    let params = GenerateParams {
        max_tokens: args.max_tokens,
        ..GenerateParams::default()
    };
    let never = AtomicBool::new(false);
    // One warm-up run: the first decode pays for page faults and one-time allocations.
    session
        .generate(&prompt, &params, &never)
        .map_err(|e| e.to_string())?;
    let mut prompt_rates = Vec::new();
    let mut decode_rates = Vec::new();
    let mut output_tokens = 0;
    let mut finish = String::new();
    for _ in 0..args.repeats {
        let generation = session
            .generate(&prompt, &params, &never)
            .map_err(|e| e.to_string())?;
        prompt_rates.extend(generation.prompt_tokens_per_second());
        decode_rates.extend(generation.decode_tokens_per_second());
        output_tokens = generation.output_tokens;
        finish = format!("{:?}", generation.finish);
    }
    Ok(serde_json::json!({
        "engine": "llama.cpp (llama-cpp-2 bare loop)",
        "model": path.display().to_string(),
        "threads": args.engine.threads,
        "context_tokens": args.engine.context_tokens,
        "batch_tokens": args.engine.batch_tokens,
        "flash_attention": args.engine.flash_attention,
        "repeats": args.repeats,
        "load_seconds": load_seconds,
        "prompt_tokens": prompt.len(),
        "output_tokens": output_tokens,
        "finish": finish,
        "prompt_tokens_per_second": median(prompt_rates),
        "decode_tokens_per_second": median(decode_rates),
    }))
}

fn main() -> std::process::ExitCode {
    match run() {
        Ok(report) => {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "decode_bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
