//! McNemar's test: do two models pass the same items at different rates?

use super::{chi_square_sf, sign_test_p_value};

/// Below this many discordant pairs the exact binomial test is used; from it on, the
/// chi-square approximation with Edwards' continuity correction (the usual rule of thumb: the
/// chi-square approximation is poor when b + c < 25).
pub const EXACT_BELOW_DISCORDANT: u64 = 25;

/// How the p-value was computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum McNemarMethod {
    /// Two-sided binomial (sign) test of the discordant pairs at p = 1/2.
    Exact,
    /// `(|b - c| - 1)² / (b + c)` against chi-square with 1 degree of freedom.
    ChiSquareCorrected,
}

impl McNemarMethod {
    /// "McNemar exact test" / "McNemar chi-square test with continuity correction".
    pub fn describe(self) -> &'static str {
        match self {
            McNemarMethod::Exact => "McNemar exact test",
            McNemarMethod::ChiSquareCorrected => {
                "McNemar chi-square test with continuity correction"
            }
        }
    }
}

/// The outcome of McNemar's test on paired pass/fail results of models A and B.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct McNemar {
    pub pairs: u64,
    pub a_passed: u64,
    pub b_passed: u64,
    /// Pairs where only A passed (b in the usual 2x2 notation).
    pub only_a: u64,
    /// Pairs where only B passed (c).
    pub only_b: u64,
    pub method: McNemarMethod,
    /// The chi-square statistic, for [`McNemarMethod::ChiSquareCorrected`].
    pub statistic: Option<f64>,
    pub p_value: f64,
    /// Effect size: pass rate of A minus pass rate of B.
    pub difference: f64,
    /// Effect size: the conditional odds ratio `only_a / only_b` (infinite when only A ever
    /// won a discordant pair); `None` without discordant pairs.
    pub odds_ratio: Option<f64>,
}

impl McNemar {
    pub fn discordant(&self) -> u64 {
        self.only_a + self.only_b
    }

    pub fn significant(&self, alpha: f64) -> bool {
        self.p_value < alpha
    }
}

/// McNemar's test from the 2x2 table of paired outcomes: both passed, only A, only B,
/// neither. The method is chosen by [`EXACT_BELOW_DISCORDANT`].
pub fn mcnemar_counts(both: u64, only_a: u64, only_b: u64, neither: u64) -> McNemar {
    let pairs = both + only_a + only_b + neither;
    let discordant = only_a + only_b;
    let (method, statistic, p_value) = if discordant < EXACT_BELOW_DISCORDANT {
        (
            McNemarMethod::Exact,
            None,
            sign_test_p_value(only_a.min(only_b), discordant),
        )
    } else {
        let diff = (only_a as f64 - only_b as f64).abs() - 1.0;
        let chi2 = diff.max(0.0).powi(2) / discordant as f64;
        (
            McNemarMethod::ChiSquareCorrected,
            Some(chi2),
            chi_square_sf(chi2, 1.0),
        )
    };
    let difference = if pairs == 0 {
        0.0
    } else {
        (only_a as f64 - only_b as f64) / pairs as f64
    };
    let odds_ratio = match (only_a, only_b) {
        (0, 0) => None,
        (_, 0) => Some(f64::INFINITY),
        (a, b) => Some(a as f64 / b as f64),
    };
    McNemar {
        pairs,
        a_passed: both + only_a,
        b_passed: both + only_b,
        only_a,
        only_b,
        method,
        statistic,
        p_value,
        difference,
        odds_ratio,
    }
}

/// McNemar's test on `(a_passed, b_passed)` per paired item.
pub fn mcnemar(pairs: &[(bool, bool)]) -> McNemar {
    let count = |want: (bool, bool)| pairs.iter().filter(|&&p| p == want).count() as u64;
    mcnemar_counts(
        count((true, true)),
        count((true, false)),
        count((false, true)),
        count((false, false)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!(
            (a - b).abs() <= 1e-12_f64.max(b.abs() * 1e-10),
            "{a} vs {b}"
        );
    }

    /// Agresti, An Introduction to Categorical Data Analysis (2nd ed., 2007), §8.1, Table 8.1:
    /// approval of the President in two surveys, (794, 150, 86, 570). Agresti reports the
    /// uncorrected z² = 17.36; with the continuity correction, statsmodels 0.15.0
    /// `mcnemar(table, exact=False, correction=True)` gives 16.81779661016949,
    /// p = 4.114562281345944e-05.
    #[test]
    fn agresti_presidential_approval() {
        let m = mcnemar_counts(794, 150, 86, 570);
        assert_eq!(m.method, McNemarMethod::ChiSquareCorrected);
        close(m.statistic.unwrap(), 16.81779661016949);
        close(m.p_value, 4.114562281345944e-05);
        let uncorrected = (150.0f64 - 86.0).powi(2) / 236.0;
        assert!((uncorrected - 17.36).abs() < 0.005);
        close(m.difference, (150.0 - 86.0) / 1600.0);
        close(m.odds_ratio.unwrap(), 150.0 / 86.0);
    }

    /// statsmodels 0.15.0 `mcnemar([[5, b], [c, 5]], exact=..., correction=True).pvalue`.
    #[test]
    fn matches_statsmodels() {
        for (b, c, p) in [
            (7, 0, 0.015625),
            (9, 2, 0.0654296875),
            (12, 5, 0.143463134765625),
            (3, 3, 1.0),
            (24, 0, 1.1920928955078125e-07),
        ] {
            let m = mcnemar_counts(5, b, c, 5);
            assert_eq!(m.method, McNemarMethod::Exact);
            close(m.p_value, p);
        }
        for (b, c, chi2, p) in [
            (30, 12, 6.880952380952381, 0.008711912962379598),
            (20, 5, 7.84, 0.005110260660855866),
        ] {
            let m = mcnemar_counts(5, b, c, 5);
            assert_eq!(m.method, McNemarMethod::ChiSquareCorrected);
            close(m.statistic.unwrap(), chi2);
            close(m.p_value, p);
        }
    }

    #[test]
    fn from_pairs_and_edge_cases() {
        // 18/20 vs 11/20 with 7 items only A passes: the brief's example sentence, p = 0.016.
        let mut pairs = vec![(true, true); 11];
        pairs.extend([(true, false); 7]);
        pairs.extend([(false, false); 2]);
        let m = mcnemar(&pairs);
        assert_eq!((m.a_passed, m.b_passed, m.pairs), (18, 11, 20));
        close(m.p_value, 0.015625);
        assert_eq!(m.odds_ratio, Some(f64::INFINITY));
        close(m.difference, 0.35);
        let none = mcnemar(&[(true, true), (false, false)]);
        assert_eq!((none.p_value, none.odds_ratio), (1.0, None));
        assert_eq!(mcnemar(&[]).p_value, 1.0);
    }
}
