//! `llmbench`: benchmark language models on real tasks.
//!
//! This file only parses the command line ([`args`]) and hands each command to its module;
//! what the commands share ([`common::Failure`], the store and config helpers) is in
//! [`common`]. Exit codes are the [`exit::ExitCode`] enum (the README's table is generated
//! from it).

mod args;
mod common;
mod compare;
mod datasets;
mod exit;
mod export;
mod gate;
mod merge;
mod mock_server;
mod models;
mod outcome;
mod plan;
mod plugins;
mod progress;
mod replay;
mod report;
mod run;
mod runs;
mod serve;
mod shard;
mod status;
mod stores;
mod sweep;
mod validate;
mod view;

use clap::FromArgMatches as _;

use crate::args::{Cli, Command};
use crate::common::Failure;

fn main() -> std::process::ExitCode {
    return_large_allocations();
    let matches = args::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    // A daemon says what it does: `serve` logs each sweep's start and end (and the schedule)
    // by default; the other commands print only warnings unless asked (`-v`).
    let daemon = matches!(cli.command, args::Command::Serve(_));
    common::init_logging(cli.verbose, daemon);
    match dispatch(cli.command) {
        Ok(code) => std::process::ExitCode::from(code),
        Err(failure) => failure.report(),
    }
}

/// Allocations of 1 MiB and more get pages of their own from the system, returned when
/// they are freed, instead of a place in the heap.
///
/// glibc's default raises that threshold each time such a block is freed (up to 32 MiB), so a
/// long sweep ends up carving its large, short-lived arrays (the end-of-run report's, 8 MB
/// each at a million samples) out of the heap, where a freed one cannot be returned while a
/// later allocation sits above it: a million-sample sweep's peak RSS was 20 to 30 MB above
/// its peak of live memory (docs/performance.md). One call of glibc's own API, made by hand:
/// no crate wraps it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn return_large_allocations() {
    // SAFETY: `mallopt` sets a parameter of glibc's allocator; it is called first thing in
    // `main`, before any other thread exists, with a valid parameter and value.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn return_large_allocations() {}

/// Run `command`; its exit code, or the failure to print.
fn dispatch(command: Command) -> Result<u8, Failure> {
    match command {
        Command::Run(args) => run::run(args),
        Command::Merge(args) => merge::run(args),
        Command::Status(args) => status::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Resume { run_id, dirs } => {
            common::sweep_runtime().block_on(sweep::resume(run_id, dirs))
        }
        Command::Report(args) => report::run(args),
        Command::Compare(args) => compare::run(args),
        Command::Gate(args) => gate::run(args),
        Command::Plan(args) => plan::run(args),
        Command::Export(args) => export::run(args),
        Command::View(args) => view::run(args),
        Command::Runs(args) => runs::run(args),
        Command::Plugins(args) => plugins::run(args),
        Command::Validate { config } => validate::run(&config.into_path()),
        Command::Models { command } => models::run(command),
        Command::Datasets(args) => datasets::run(args),
        Command::MockServer(args) => mock_server::run(args),
    }
}
