//! The runner: turns a validated config into samples, runs them, and stores each result as
//! it finishes.
//!
//! - [`plan`] enumerates samples lazily (tasks x items x providers x repeats) with their
//!   stable ids; nothing is materialised per sample. [`Shard`] selects one shard's samples
//!   by id, so that processes on many machines split a sweep without talking to each other.
//! - [`build`] loads the plugins a config names and instantiates them.
//! - [`execute`] runs a plan with a global and a per-provider concurrency limit, a timeout
//!   per attempt, the retry policy, and cancellation; a dedicated writer thread records each
//!   finished sample in one store transaction.
//! - Graders that ask a model (a judge) go through the runner too: their requests reach the
//!   provider entry the grader's `judge` names through the same retries, limits and spend cap
//!   as samples (`judge.rs`).

mod build;
mod estimate;
mod execute;
mod inputs;
mod judge;
mod observers;
mod plan;
mod ratelimit;
mod retry;
mod shard;
mod sweep;

pub use build::{BuildError, Components, ProviderSlot, TaskSlot, build, build_resumed};
pub use estimate::{CostEstimate, estimate_cost};
pub use execute::{
    Observer, RunError, RunOptions, RunOutcome, Stop, StopEvent, StopSignal, execute,
    sample_request,
};
pub use inputs::{
    InputsError, InputsSource, StoredInputs, StoredPluginFiles, plugin_run_file, resume_config,
    run_files, stored_inputs, stored_plugin_files,
};
pub use observers::Both;
pub use plan::{Plan, PlannedSample};
pub use retry::RetryPolicy;
pub use shard::{Shard, ShardError, derived_run_id, shard_sizes, sweep_keys};
pub use sweep::{
    SweepError, SweepResult, SweepStart, price_snapshot, run_sweep, run_sweep_sharded,
    stop_on_signals,
};
