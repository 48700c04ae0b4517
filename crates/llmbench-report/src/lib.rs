//! Built-in reporting: per-model aggregates ([`analysis::analyze`]), the console table
//! ([`ConsoleReporter`]) — one row per model with latency, time to first token, tokens, cost
//! and verdict, as in the founding article — the statistics behind the richer reports
//! ([`stats`], [`analysis`]) and the self-contained HTML report ([`html`]).

pub mod analysis;
mod console;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod format;
pub mod html;
pub mod stats;

pub use console::ConsoleReporter;
