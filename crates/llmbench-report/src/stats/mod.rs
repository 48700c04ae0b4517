//! Statistics for reports: intervals, paired tests, sentences and sample-size planning.
//!
//! Pure functions, no I/O, deterministic (the bootstrap is seeded). Every function is checked
//! in its tests against published examples or an independent implementation (scipy and
//! statsmodels), with the source next to each reference value.
//!
//! - pass rates: [`wilson_interval`] (one model), [`newcombe_difference_interval`] (two models
//!   on different items), [`mcnemar`] (two models on the same items);
//! - latency and scores: [`bootstrap_interval`] (one model), [`paired_bootstrap`] (same items),
//!   [`independent_bootstrap`] (different items);
//! - [`pass_rate_sentence`], [`latency_sentence`], [`score_sentence`]: what a reader should
//!   take away, with the test named;
//! - [`samples_per_model`]: how many samples tell two pass rates apart;
//! - [`pass_at_k`]: the unbiased pass@k of one item from its n samples and c passes.

mod bootstrap;
mod dist;
mod mcnemar;
mod pass_at_k;
mod plan;
mod proportion;
mod sentence;

pub use bootstrap::{
    Bootstrap, Difference, Estimate, SUBSAMPLE, Statistic, bootstrap_interval,
    independent_bootstrap, paired_bootstrap,
};
pub use dist::{chi_square_sf, normal_cdf, normal_quantile, sign_test_p_value};
pub use mcnemar::{EXACT_BELOW_DISCORDANT, McNemar, McNemarMethod, mcnemar, mcnemar_counts};
pub use pass_at_k::pass_at_k;
pub use plan::{PlanError, SampleSizePlan, samples_per_model};
pub use proportion::{PassRate, newcombe_difference_interval, pass_rate, wilson_interval};
pub use sentence::{latency_sentence, pass_rate_sentence, score_sentence};

/// The significance level used throughout the reports.
pub const ALPHA: f64 = 0.05;

/// A closed interval `[low, high]`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Interval {
    pub low: f64,
    pub high: f64,
}

impl Interval {
    pub fn contains(&self, x: f64) -> bool {
        self.low <= x && x <= self.high
    }

    /// True when `x` lies outside the interval (a difference interval that excludes 0 is
    /// significant).
    pub fn excludes(&self, x: f64) -> bool {
        !self.contains(x)
    }
}
