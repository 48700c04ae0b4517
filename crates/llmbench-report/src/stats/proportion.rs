//! Intervals for pass rates: Wilson's score interval for one proportion, and Newcombe's hybrid
//! score interval for the difference of two independent proportions.

use super::{Interval, normal_quantile};

/// A pass rate with its Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PassRate {
    pub passed: u64,
    pub trials: u64,
    pub interval: Interval,
}

impl PassRate {
    /// `passed / trials` (0 when there were no trials).
    pub fn rate(&self) -> f64 {
        if self.trials == 0 {
            0.0
        } else {
            self.passed as f64 / self.trials as f64
        }
    }
}

/// Wilson's score interval (Wilson 1927) for `successes` out of `trials` at `confidence`
/// (e.g. 0.95). Unlike the textbook `p ± z·sqrt(p(1-p)/n)` it stays inside `[0, 1]` and does
/// not collapse to a point at 0/n or n/n, which is why it suits small benchmark samples.
/// `None` when there were no trials.
pub fn wilson_interval(successes: u64, trials: u64, confidence: f64) -> Option<Interval> {
    if trials == 0 || successes > trials {
        return None;
    }
    let n = trials as f64;
    let p = successes as f64 / n;
    let z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let center = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    let low = if successes == 0 {
        0.0
    } else {
        (center - half).max(0.0)
    };
    let high = if successes == trials {
        1.0
    } else {
        (center + half).min(1.0)
    };
    Some(Interval { low, high })
}

/// [`wilson_interval`] at 95%, with the counts.
pub fn pass_rate(passed: u64, trials: u64) -> Option<PassRate> {
    wilson_interval(passed, trials, 0.95).map(|interval| PassRate {
        passed,
        trials,
        interval,
    })
}

/// Newcombe's hybrid score interval (Newcombe 1998, "method 10") for `p_a - p_b`, two
/// independent proportions, built from each one's Wilson interval. Used when two sets of
/// samples are not paired item by item. `None` when either side has no trials.
pub fn newcombe_difference_interval(
    a: (u64, u64),
    b: (u64, u64),
    confidence: f64,
) -> Option<Interval> {
    let wa = wilson_interval(a.0, a.1, confidence)?;
    let wb = wilson_interval(b.0, b.1, confidence)?;
    let pa = a.0 as f64 / a.1 as f64;
    let pb = b.0 as f64 / b.1 as f64;
    let d = pa - pb;
    let lower = ((pa - wa.low).powi(2) + (wb.high - pb).powi(2)).sqrt();
    let upper = ((wa.high - pa).powi(2) + (pb - wb.low).powi(2)).sqrt();
    Some(Interval {
        low: (d - lower).max(-1.0),
        high: (d + upper).min(1.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() < 1e-9, "{a} vs {b}");
    }

    /// Newcombe (1998), "Two-sided confidence intervals for the single proportion: comparison
    /// of seven methods", Statistics in Medicine 17:857-872, Table I, method 3 (Wilson):
    /// 81/263 -> 0.2553, 0.3662; 15/148 -> 0.0624, 0.1605; 0/20 -> 0, 0.1611;
    /// 1/29 -> 0.0061, 0.1718. Full-precision values (and 18/20, 11/20, 20/20) from
    /// statsmodels 0.15.0 `proportion_confint(x, n, alpha=0.05, method="wilson")`.
    #[test]
    fn wilson_matches_newcombe_and_statsmodels() {
        for (x, n, low, high) in [
            (81, 263, 0.2552885198782742, 0.36620957698280004),
            (15, 148, 0.06238639953073628, 0.16048724172330803),
            (0, 20, 0.0, 0.1611251580528194),
            (1, 29, 0.006113214292762667, 0.17175521879320294),
            (18, 20, 0.6989663547715127, 0.9721335187862318),
            (11, 20, 0.34208534245034233, 0.7418021417443759),
            (20, 20, 0.8388748419471804, 1.0),
        ] {
            let ci = wilson_interval(x, n, 0.95).unwrap();
            close(ci.low, low);
            close(ci.high, high);
        }
        assert_eq!(wilson_interval(0, 0, 0.95), None);
        assert_eq!(wilson_interval(3, 2, 0.95), None);
    }

    /// Newcombe (1998), "Interval estimation for the difference between independent
    /// proportions: comparison of eleven methods", Statistics in Medicine 17:873-890, Table II,
    /// method 10: 56/70-48/80 -> 0.0524, 0.3339; 9/10-3/10 -> 0.1705, 0.8090;
    /// 6/7-2/7 -> 0.0582, 0.8062; 5/56-0/29 -> -0.0381, 0.1926. Full precision from
    /// statsmodels 0.15.0 `confint_proportions_2indep(..., method="newcomb", compare="diff")`.
    #[test]
    fn newcombe_matches_the_paper_and_statsmodels() {
        for (a, b, low, high) in [
            ((56, 70), (48, 80), 0.05243147240236498, 0.33387265403690614),
            ((9, 10), (3, 10), 0.1705227239345029, 0.809017973535488),
            ((6, 7), (2, 7), 0.05822792748231209, 0.8062496375242278),
            ((5, 56), (0, 29), -0.038137147903536936, 0.19256001385511165),
            ((10, 10), (0, 10), 0.6075093504305241, 1.0),
        ] {
            let ci = newcombe_difference_interval(a, b, 0.95).unwrap();
            close(ci.low, low);
            close(ci.high, high);
        }
    }
}
