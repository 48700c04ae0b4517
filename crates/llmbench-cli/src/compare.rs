//! `llmbench compare <run-a> <run-b>`: per model and task, how pass rate, p95 latency and cost
//! changed from run A to run B, each change marked significant or not with the test named.
//!
//! The arguments and the printing; the comparison and its tests are
//! `llmbench_report::compare`.

use std::path::PathBuf;

use llmbench_core::RunReport;
use llmbench_report::stats::Bootstrap;

use crate::common::{EXIT_STORE, Failure, print, resolve_run};
use crate::stores::{Location, StoreArgs};

#[derive(Debug, clap::Args)]
pub(crate) struct CompareArgs {
    /// The run to compare from (the baseline; `latest` for the newest).
    run_a: String,
    /// The run to compare to.
    run_b: String,
    /// The results store holding both runs (or run A, with `--output-dir-b`).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// The results store holding both runs (or run A, with `--store-b`), as a URL or a
    /// directory.
    #[command(flatten)]
    store: StoreArgs,
    /// The results store holding run B, when it is not the same as run A's.
    #[arg(long)]
    output_dir_b: Option<PathBuf>,
    /// The results store holding run B (`postgres://...` or a directory), when it is not
    /// run A's; its password from the same variable as run A's store.
    #[arg(long, value_name = "URL|DIR")]
    store_b: Option<String>,
}

/// Read run `run_id` from the store at `location`.
pub(crate) fn load_run(location: &Location, run_id: &str) -> Result<RunReport, Failure> {
    let store = location.open_existing()?;
    let run_id = resolve_run(&store, run_id)?;
    store
        .report(&run_id)
        .map_err(|e| Failure::new(EXIT_STORE, e))
}

/// The stores of a run and of the run it is checked against: the second is given by
/// `--*-output-dir`/`--*-store` or is the first.
pub(crate) fn two_stores(
    first: (&StoreArgs, Option<&std::path::Path>),
    second: (Option<&str>, Option<&std::path::Path>),
) -> Result<(Location, Location), Failure> {
    let a = Location::resolve(first.0, first.1, None)?;
    let b = match second {
        (None, None) => a.clone(),
        (store, dir) => Location::resolve(
            &StoreArgs {
                store: store.map(str::to_owned),
                store_password_env: first.0.store_password_env.clone(),
            },
            dir,
            None,
        )?,
    };
    Ok((a, b))
}

pub(crate) fn run(args: CompareArgs) -> Result<u8, Failure> {
    let (store_a, store_b) = two_stores(
        (&args.store, args.output_dir.as_deref()),
        (args.store_b.as_deref(), args.output_dir_b.as_deref()),
    )?;
    let a = load_run(&store_a, &args.run_a)?;
    let b = load_run(&store_b, &args.run_b)?;
    print(&llmbench_report::compare::render(
        &a,
        &b,
        &Bootstrap::default(),
    ));
    Ok(0)
}
