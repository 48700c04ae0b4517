//! `llmbench gate <run> --baseline <run>`: fail CI when a run is worse than its baseline by
//! more than a tolerance, per provider over all tasks. The arguments and the printing; the
//! checks and their tests are `llmbench_report::gate`.
//!
//! Three checks per provider of the baseline:
//! - pass rate: the drop `baseline - run` (in rate units: 0.05 = 5 points) must not exceed
//!   `--max-pass-rate-drop`;
//! - p95 latency: the relative increase `run / baseline - 1` must not exceed
//!   `--max-p95-latency-increase`;
//! - cost: the relative increase of the mean cost per sample must not exceed
//!   `--max-cost-increase`.
//!
//! Every check prints its numbers, the tolerance, and whether the change is statistically
//! significant (the tests of `llmbench compare`). By default a change beyond the tolerance
//! fails the gate whatever its significance; with `--significant-only` it must also be
//! significant, which keeps small noisy runs from failing CI by chance.
//!
//! A provider missing from the run, or without a graded sample or an answer, fails; a run
//! that did not finish fails; a metric the baseline lacks (no price, say) is skipped and said.

use std::path::PathBuf;

use llmbench_report::gate::{Tolerances, evaluate};
use llmbench_report::stats::Bootstrap;

use crate::common::{EXIT_CONFIG, Failure, print};
use crate::compare::{load_run, two_stores};
use crate::stores::StoreArgs;

/// The gate ran and at least one check failed.
pub(crate) const EXIT_GATE_FAILED: u8 = crate::exit::ExitCode::GateFailed.code();

#[derive(Debug, clap::Args)]
pub(crate) struct GateArgs {
    /// The run to check (`latest` for the newest).
    run: String,
    /// The run it must not be worse than.
    #[arg(long)]
    baseline: String,
    /// The largest allowed drop in pass rate, as a rate (0.05 = 5 percentage points).
    #[arg(long, default_value_t = 0.05)]
    max_pass_rate_drop: f64,
    /// The largest allowed relative increase of p95 latency (0.2 = 20%).
    #[arg(long, default_value_t = 0.2)]
    max_p95_latency_increase: f64,
    /// The largest allowed relative increase of the mean cost per sample (0.1 = 10%).
    #[arg(long, default_value_t = 0.1)]
    max_cost_increase: f64,
    /// Fail a check only when its change is also statistically significant (alpha 0.05).
    #[arg(long)]
    significant_only: bool,
    /// The results store holding the run (and the baseline, unless `--baseline-output-dir`).
    #[arg(long)]
    output_dir: Option<PathBuf>,
    /// The results store holding the run (and the baseline, unless `--baseline-store`), as a
    /// URL or a directory.
    #[command(flatten)]
    store: StoreArgs,
    /// The results store holding the baseline, when it is not the run's.
    #[arg(long)]
    baseline_output_dir: Option<PathBuf>,
    /// The results store holding the baseline (`postgres://...` or a directory), when it is
    /// not the run's; its password from the same variable as the run's store.
    #[arg(long, value_name = "URL|DIR")]
    baseline_store: Option<String>,
}

pub(crate) fn run(args: GateArgs) -> Result<u8, Failure> {
    let tolerances = Tolerances {
        max_pass_rate_drop: args.max_pass_rate_drop,
        max_p95_latency_increase: args.max_p95_latency_increase,
        max_cost_increase: args.max_cost_increase,
        significant_only: args.significant_only,
    };
    tolerances.validate().map_err(|e| {
        Failure::new(
            EXIT_CONFIG,
            anyhow::anyhow!(
                "--{} must be a number of 0 or more, got {}",
                e.name,
                e.value
            ),
        )
    })?;
    let (run_store, baseline_store) = two_stores(
        (&args.store, args.output_dir.as_deref()),
        (
            args.baseline_store.as_deref(),
            args.baseline_output_dir.as_deref(),
        ),
    )?;
    let run = load_run(&run_store, &args.run)?;
    let baseline = load_run(&baseline_store, &args.baseline)?;
    let (text, failed) = evaluate(&baseline, &run, &tolerances, &Bootstrap::default());
    print(&text);
    Ok(if failed { EXIT_GATE_FAILED } else { 0 })
}
