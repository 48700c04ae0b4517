//! Cost: tokens times price, per token class.

use serde::{Deserialize, Serialize};

use crate::Usage;

/// Prices in USD per million tokens, per token class.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
    pub cache_read_per_mtok: f64,
    pub cache_write_per_mtok: f64,
}

/// The cost of one completion in USD, or `None` when the input or output count is unknown
/// (an unknown count is never priced as zero).
pub fn cost_usd(usage: &Usage, price: &Price) -> Option<f64> {
    let input = usage.input_tokens? as f64;
    let output = usage.output_tokens? as f64;
    let read = usage.cache_read_tokens.unwrap_or(0) as f64;
    let write = usage.cache_write_tokens.unwrap_or(0) as f64;
    Some(
        (input * price.input_per_mtok
            + output * price.output_per_mtok
            + read * price.cache_read_per_mtok
            + write * price.cache_write_per_mtok)
            / 1e6,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(input: u64, output: u64) -> Usage {
        Usage {
            input_tokens: Some(input),
            output_tokens: Some(output),
            ..Usage::default()
        }
    }

    fn price(input: f64, output: f64) -> Price {
        Price {
            input_per_mtok: input,
            output_per_mtok: output,
            ..Price::default()
        }
    }

    fn rounded(x: f64) -> String {
        format!("{x:.5}")
    }

    /// The founding article's three costs, from its token counts and the prices it implies
    /// (Haiku 4.5 1/5, Sonnet 4.6 3/15, Opus 4.7 15/75 USD per million tokens). The Opus
    /// figure uses the retired Opus 4/4.1 price; today's public Opus 4.7 price is 5/25.
    #[test]
    fn reproduces_the_founding_article() {
        assert_eq!(
            rounded(cost_usd(&usage(121, 451), &price(1.0, 5.0)).unwrap()),
            "0.00238"
        );
        assert_eq!(
            rounded(cost_usd(&usage(121, 759), &price(3.0, 15.0)).unwrap()),
            "0.01175"
        );
        assert_eq!(
            rounded(cost_usd(&usage(159, 689), &price(15.0, 75.0)).unwrap()),
            "0.05406"
        );
    }

    #[test]
    fn cache_classes_are_priced_separately() {
        // Haiku 4.5: 1,000 input, 500 cache-read and 200 output tokens = $0.00205.
        let u = Usage {
            cache_read_tokens: Some(500),
            ..usage(1000, 200)
        };
        let p = Price {
            cache_read_per_mtok: 0.1,
            cache_write_per_mtok: 1.25,
            ..price(1.0, 5.0)
        };
        assert!((cost_usd(&u, &p).unwrap() - 0.00205).abs() < 1e-12);
    }

    #[test]
    fn unknown_usage_has_unknown_cost() {
        let u = Usage {
            input_tokens: Some(10),
            ..Usage::default()
        };
        assert_eq!(cost_usd(&u, &price(1.0, 5.0)), None);
    }
}
