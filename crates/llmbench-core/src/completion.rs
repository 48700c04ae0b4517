//! What a provider returns.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why generation stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model ended its turn (end of sequence, `end_turn`, `stop`).
    EndTurn,
    MaxTokens,
    StopSequence,
    /// Anything else the provider reported, verbatim (`refusal`, `content_filter`, ...).
    Other(String),
}

/// Token counts. `None` means unknown (for example a stream that ended before its usage
/// chunk), never zero: an unknown count must not be priced as free.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens billed at the plain input price (excluding cache reads and writes).
    pub input_tokens: Option<u64>,
    pub output_tokens: Option<u64>,
    pub cache_read_tokens: Option<u64>,
    pub cache_write_tokens: Option<u64>,
    /// Reasoning tokens, already included in `output_tokens`.
    pub reasoning_tokens: Option<u64>,
}

impl Usage {
    /// All input tokens, cached or not (the OpenTelemetry `gen_ai.usage.input_tokens`).
    pub fn total_input(&self) -> Option<u64> {
        self.input_tokens
            .map(|n| n + self.cache_read_tokens.unwrap_or(0) + self.cache_write_tokens.unwrap_or(0))
    }
}

/// Timings measured by the provider around the request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    /// From sending the request to the last byte of the answer.
    pub latency: Duration,
    /// From sending the request to the first non-empty text token; streamed answers only.
    pub time_to_first_token: Option<Duration>,
}

impl Timings {
    /// Output tokens per second after the first token, when it can be known.
    pub fn output_tokens_per_second(&self, output_tokens: Option<u64>) -> Option<f64> {
        let n = output_tokens?;
        let ttft = self.time_to_first_token?;
        let decode = self.latency.checked_sub(ttft)?.as_secs_f64();
        (n > 1 && decode > 0.0).then(|| (n - 1) as f64 / decode)
    }
}

/// One answer from a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completion {
    pub text: String,
    pub stop_reason: StopReason,
    pub usage: Usage,
    pub timings: Timings,
    /// The model that answered, when the provider says (it may differ from the one asked).
    pub response_model: Option<String>,
}
