//! What both protocols render from: the generated answer, its usage numbers, and how a stream
//! is shaped by a fault.

use std::time::Duration;

/// Token numbers of one answer, before each protocol lays them out.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UsageNumbers {
    /// All prompt tokens (the whitespace count, or the override).
    pub(crate) prompt: u64,
    /// Of `prompt`: read from cache.
    pub(crate) cache_read: u64,
    /// Of `prompt`: written to cache (Anthropic only).
    pub(crate) cache_creation: u64,
    /// Answer tokens (without reasoning).
    pub(crate) output: u64,
    /// Reasoning tokens (OpenAI; counted inside completion tokens).
    pub(crate) reasoning: u64,
}

impl UsageNumbers {
    /// Anthropic `input_tokens`: the prompt tokens not read from or written to cache.
    pub(crate) fn uncached_input(&self) -> u64 {
        self.prompt - self.cache_read - self.cache_creation
    }
}

/// One generated answer.
#[derive(Debug, Clone)]
pub(crate) struct Generation {
    pub(crate) id: String,
    pub(crate) model: String,
    pub(crate) created: u64,
    pub(crate) text: String,
    /// The answer was cut at `max_tokens`.
    pub(crate) truncated: bool,
    pub(crate) usage: UsageNumbers,
}

/// How a stream deviates from the normal one.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamShape {
    pub(crate) first_delay: Duration,
    pub(crate) per_token: Duration,
    /// Break the connection after this many deltas.
    pub(crate) cut_after: Option<usize>,
    /// Make the first content delta invalid JSON.
    pub(crate) malformed: bool,
    /// Send an error event after this many deltas, with this error type (or the default).
    pub(crate) error_after: Option<(usize, Option<String>)>,
    /// Anthropic: an extra ping every this many deltas (0 = none).
    pub(crate) ping_every: usize,
}

/// An error to send: status, error type, message, and extra bits.
#[derive(Debug, Clone)]
pub(crate) struct ErrorSpec {
    pub(crate) status: u16,
    pub(crate) error_type: String,
    pub(crate) message: String,
    /// OpenAI `code` (string) when not null.
    pub(crate) code: Option<&'static str>,
    /// Anthropic spend-limit marker: `error.details.error_code`.
    pub(crate) spend_limit: bool,
}
