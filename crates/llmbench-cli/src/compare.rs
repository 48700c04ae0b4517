//! `llmbench compare <run-a> <run-b>`: per model and task, how pass rate, p95 latency and cost
//! changed from run A to run B, each change marked significant or not with the test named.
//!
//! The arguments and the printing; the comparison and its tests are
//! `llmbench_report::compare`.

use std::path::PathBuf;

use llmbench_core::RunReport;
use llmbench_report::stats::Bootstrap;

use crate::common::{EXIT_STORE, Failure, default_output_dir, open_store, print, resolve_run};

#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// The run to compare from (the baseline; `latest` for the newest).
    run_a: String,
    /// The run to compare to.
    run_b: String,
    /// The results store holding both runs (or run A, with `--output-dir-b`).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// The results store holding run B, when it is not the same as run A's.
    #[arg(long)]
    output_dir_b: Option<PathBuf>,
}

/// Read run `run_id` from the store in `dir`.
pub(crate) fn load_run(dir: Option<PathBuf>, run_id: &str) -> Result<RunReport, Failure> {
    let store = open_store(&dir.unwrap_or_else(default_output_dir))?;
    let run_id = resolve_run(&store, run_id)?;
    store
        .report(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))
}

pub(crate) fn run(args: CompareArgs) -> Result<u8, Failure> {
    let dir_b = args.output_dir_b.or_else(|| args.output_dir.clone());
    let a = load_run(args.output_dir, &args.run_a)?;
    let b = load_run(dir_b, &args.run_b)?;
    print(&llmbench_report::compare::render(
        &a,
        &b,
        &Bootstrap::default(),
    ));
    Ok(0)
}
