//! The runner: turns a validated config into samples, runs them, and stores each result as
//! it finishes.
//!
//! - [`plan`] enumerates samples lazily (tasks x items x providers x repeats) with their
//!   stable ids; nothing is materialised per sample.
//! - [`build`] loads the plugins a config names and instantiates them.
//! - [`execute`] runs a plan with a global and a per-provider concurrency limit, a timeout
//!   per attempt, the retry policy, and cancellation; a dedicated writer thread records each
//!   finished sample in one store transaction.

mod build;
mod estimate;
mod execute;
mod plan;
mod ratelimit;
mod retry;
mod sweep;

pub use build::{BuildError, Components, ProviderSlot, TaskSlot, build};
pub use estimate::{CostEstimate, estimate_cost};
pub use execute::{
    Observer, RunError, RunOptions, RunOutcome, Stop, StopEvent, StopSignal, execute,
    sample_request,
};
pub use plan::{Plan, PlannedSample};
pub use retry::RetryPolicy;
pub use sweep::{SweepError, SweepResult, SweepStart, price_snapshot, run_sweep, stop_on_signals};
