//! Built-in reporting: per-model aggregates ([`analysis::analyze`]), the console table
//! ([`ConsoleReporter`]) — one row per model with latency, time to first token, tokens, cost
//! and verdict, as in the founding article — the statistics behind the richer reports
//! ([`stats`], [`analysis`], [`pass_at_k`]), the self-contained HTML report ([`html`]), how
//! two runs differ ([`compare`]) and whether a run passes its baseline's tolerances
//! ([`gate`]), and which reporter a format name means ([`reporters`]).

pub mod analysis;
pub mod compare;
mod console;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod format;
pub mod gate;
pub mod html;
pub mod pass_at_k;
pub mod reporters;
pub mod stats;
pub mod summary;

pub use console::{ConsoleReporter, ShardNote};
