//! Built-in reporting: per-model aggregates ([`summarize`]) and the console table
//! ([`ConsoleReporter`]) — one row per model with latency, time to first token, tokens, cost
//! and verdict, as in the founding article.

mod console;
mod summary;

pub use console::ConsoleReporter;
pub use summary::{Row, summarize};
