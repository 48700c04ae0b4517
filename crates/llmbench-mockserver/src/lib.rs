//! Local protocol servers for the Anthropic Messages API and OpenAI Chat Completions, with
//! deterministic answers, configurable latency, fault injection and a request log.
//!
//! Used by provider conformance tests, fault sweeps, rate-limit and metrics tests, the
//! throughput benchmark and `llmbench mock-server`. The README beside this crate documents the
//! wire formats, the fault syntax and the log.

mod anthropic;
mod body;
mod config;
mod fault;
mod handler;
mod json;
mod log;
mod openai;
mod render;
mod request;
mod server;
mod text;
mod timer;

pub use config::{Answer, ApiKeyCheck, ConfigError, ErrorStyle, MockConfig, Protocol};
pub use fault::{
    FAULT_NAMES, Fault, FaultKind, FaultParseError, RatioParseError, RetryAfter, parse_ratio_entry,
};
pub use log::{Outcome, RequestRecord, max_in_window};
pub use server::{MockError, MockServer, run, run_blocking, run_until};
pub use text::{count_tokens, echo_answer};
