//! How many samples tell two pass rates apart: the planner behind `llmbench plan`.

use super::normal_quantile;

/// A sample-size plan for comparing two pass rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSizePlan {
    pub baseline: f64,
    pub alternative: f64,
    pub alpha: f64,
    pub power: f64,
    /// The formula's value before rounding up.
    pub exact: f64,
    /// Samples needed per model (`exact` rounded up).
    pub per_model: u64,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error("pass rates must be strictly between 0 and 1, got {0}")]
    Rate(f64),
    #[error("the two pass rates must differ")]
    NoDifference,
    #[error("alpha must be strictly between 0 and 1, got {0}")]
    Alpha(f64),
    #[error("power must be strictly between 0 and 1, got {0}")]
    Power(f64),
}

/// Samples per model for a two-sided test at level `alpha` to detect the difference between
/// pass rates `p1` and `p2` with probability `power`, for two independent groups of equal size.
///
/// The two-proportion normal approximation without continuity correction (Fleiss, Levin and
/// Paik, Statistical Methods for Rates and Proportions, 3rd ed., eq. 4.14 without the
/// correction; the same equation R's `power.prop.test` solves):
///
/// `n = (z(1-α/2)·sqrt(2·p̄·(1-p̄)) + z(power)·sqrt(p1(1-p1) + p2(1-p2)))² / (p1 - p2)²`,
/// with `p̄ = (p1 + p2) / 2`.
///
/// Paired designs (both models on the same items, compared with McNemar's test) usually need
/// fewer samples, so this errs on the safe side for them.
pub fn samples_per_model(
    p1: f64,
    p2: f64,
    alpha: f64,
    power: f64,
) -> Result<SampleSizePlan, PlanError> {
    for p in [p1, p2] {
        if !(p > 0.0 && p < 1.0) {
            return Err(PlanError::Rate(p));
        }
    }
    if !(alpha > 0.0 && alpha < 1.0) {
        return Err(PlanError::Alpha(alpha));
    }
    if !(power > 0.0 && power < 1.0) {
        return Err(PlanError::Power(power));
    }
    let d = (p1 - p2).abs();
    if d < 1e-12 {
        return Err(PlanError::NoDifference);
    }
    let z_alpha = normal_quantile(1.0 - alpha / 2.0);
    let z_beta = normal_quantile(power);
    let p_bar = (p1 + p2) / 2.0;
    let numerator = z_alpha * (2.0 * p_bar * (1.0 - p_bar)).sqrt()
        + z_beta * (p1 * (1.0 - p1) + p2 * (1.0 - p2)).sqrt();
    let exact = (numerator / d).powi(2);
    Ok(SampleSizePlan {
        baseline: p1,
        alternative: p2,
        alpha,
        power,
        exact,
        // Guard against 151.00000000000003 becoming 152.
        per_model: (exact - 1e-9).ceil() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// References: the formula evaluated in Python with scipy 1.17.1's `norm.ppf` (an
    /// independent normal quantile), and, as a cross-check, statsmodels 0.15.0's
    /// `NormalIndPower().solve_power(proportion_effectsize(p2, p1), alpha=0.05, power=...)`,
    /// which uses Cohen's arcsine effect size and so differs slightly:
    /// (0.6, 0.75, 0.8) -> 151.86886211727608 (arcsine 151.17); (0.5, 0.75, 0.9) ->
    /// 76.70692845177743 (arcsine 76.65, the example in R's `power.prop.test` help,
    /// "n = 76.7"); (0.9, 0.8, 0.8) -> 198.9634132843311 (arcsine 194.91);
    /// (0.6, 0.45, 0.8) -> 172.79985978918742 (arcsine 172.66).
    #[test]
    fn matches_reference_values() {
        for (p1, p2, power, exact, arcsine) in [
            (0.6, 0.75, 0.8, 151.86886211727608, 151.17340830515386),
            (0.5, 0.75, 0.9, 76.70692845177743, 76.65294037206691),
            (0.9, 0.8, 0.8, 198.9634132843311, 194.90808460207361),
            (0.6, 0.45, 0.8, 172.79985978918742, 172.6588997864014),
        ] {
            let plan = samples_per_model(p1, p2, 0.05, power).unwrap();
            assert!((plan.exact - exact).abs() < 1e-6, "{plan:?}");
            assert_eq!(plan.per_model, exact.ceil() as u64);
            assert!((plan.exact - arcsine).abs() / arcsine < 0.025);
        }
    }

    #[test]
    fn rejects_impossible_plans() {
        assert_eq!(
            samples_per_model(0.6, 0.6, 0.05, 0.8),
            Err(PlanError::NoDifference)
        );
        assert_eq!(
            samples_per_model(0.9, 1.05, 0.05, 0.8),
            Err(PlanError::Rate(1.05))
        );
        assert_eq!(
            samples_per_model(0.5, 0.6, 0.0, 0.8),
            Err(PlanError::Alpha(0.0))
        );
        assert_eq!(
            samples_per_model(0.5, 0.6, 0.05, 1.0),
            Err(PlanError::Power(1.0))
        );
    }
}
