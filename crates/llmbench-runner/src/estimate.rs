//! The cost of a sweep, estimated before it runs.

use llmbench_config::Config;
use llmbench_core::{Task, Usage, cost_usd};

use crate::ratelimit::estimate_input_tokens;

/// What a sweep is expected to cost.
#[derive(Debug, Clone, PartialEq)]
pub struct CostEstimate {
    pub samples: u64,
    /// Sum over priced samples, in USD.
    pub usd: f64,
    /// Samples of providers without a price (not included in `usd`).
    pub unpriced_samples: u64,
}

/// Estimate from the prompts (4 characters per token) and each task's
/// `expected-output-tokens` (by default its `max-tokens`, an upper bound), at the config's
/// prices. Cache discounts are ignored, so the estimate errs high.
pub fn estimate_cost(config: &Config) -> CostEstimate {
    let repeats = u64::from(config.run.repeats);
    let mut estimate = CostEstimate {
        samples: 0,
        usd: 0.0,
        unpriced_samples: 0,
    };
    for task in &config.tasks {
        for item in task.items() {
            let input = estimate_input_tokens(&task.render(item));
            for provider in &config.providers {
                estimate.samples += repeats;
                let output = provider
                    .max_tokens
                    .unwrap_or(task.expected_output_tokens)
                    .min(task.expected_output_tokens);
                let usage = Usage {
                    input_tokens: Some(input),
                    output_tokens: Some(u64::from(output)),
                    ..Usage::default()
                };
                match provider
                    .price
                    .as_ref()
                    .and_then(|p| cost_usd(&usage, &p.price))
                {
                    Some(usd) => estimate.usd += usd * repeats as f64,
                    None => estimate.unpriced_samples += repeats,
                }
            }
        }
    }
    estimate
}
