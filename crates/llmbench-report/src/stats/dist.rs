//! The few distribution functions the tests need: the standard normal CDF and quantile, the
//! chi-square survival function, and the exact two-sided sign (binomial p = 1/2) test.
//!
//! Implemented here rather than pulled from a statistics crate: four functions do not justify
//! a dependency tree. Accuracy is checked against scipy in the tests (absolute error below
//! 1e-12 for the CDFs and quantiles used).

/// `ln Γ(x)` for `x > 0`: the Lanczos approximation (g = 7, 9 terms), relative error about
/// 1e-15, with the reflection formula below 0.5.
pub(crate) fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const COEF: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Γ(x) Γ(1 - x) = π / sin(πx)
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).abs().ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut sum = COEF[0];
    for (i, c) in COEF.iter().enumerate().skip(1) {
        sum += c / (x + i as f64);
    }
    let t = x + G + 0.5;
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + sum.ln()
}

/// The regularized upper incomplete gamma function `Q(a, x) = Γ(a, x) / Γ(a)`: a series for
/// `x < a + 1`, Lentz's continued fraction otherwise (Numerical Recipes §6.2).
pub(crate) fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let ln_prefix = a * x.ln() - x - ln_gamma(a);
    if x < a + 1.0 {
        // P(a, x) = e^-x x^a / Γ(a+1) Σ x^n / ((a+1)...(a+n))
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * ln_prefix.exp()
    } else {
        const TINY: f64 = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / TINY;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < TINY {
                d = TINY;
            }
            c = b + an / c;
            if c.abs() < TINY {
                c = TINY;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        ln_prefix.exp() * h
    }
}

/// `erfc(x)`, through `erfc(x) = Q(1/2, x²)` for `x >= 0`.
fn erfc(x: f64) -> f64 {
    if x < 0.0 {
        2.0 - erfc(-x)
    } else {
        gamma_q(0.5, x * x)
    }
}

/// `P(Z <= z)` for a standard normal `Z`.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The `p` quantile of the standard normal distribution (`normal_cdf(normal_quantile(p)) == p`),
/// for `0 < p < 1`; `-inf`/`inf` at 0 and 1.
///
/// Acklam's rational approximation (relative error 1.15e-9), refined by two Halley steps on
/// [`normal_cdf`], which brings it to double precision.
pub fn normal_quantile(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const P_LOW: f64 = 0.02425;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let mut x = if p < P_LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p <= 1.0 - P_LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    };
    for _ in 0..2 {
        // Halley's method on f(x) = Φ(x) - p.
        let e = normal_cdf(x) - p;
        let u = e * (2.0 * std::f64::consts::PI).sqrt() * (x * x / 2.0).exp();
        x -= u / (1.0 + x * u / 2.0);
    }
    x
}

/// `P(X >= x)` for `X` chi-square distributed with `df` degrees of freedom.
pub fn chi_square_sf(x: f64, df: f64) -> f64 {
    gamma_q(df / 2.0, x / 2.0)
}

/// The exact two-sided p-value of the sign test: `k` successes out of `n` Bernoulli(1/2)
/// trials, doubling the smaller tail and capping at 1 (the convention of scipy's
/// `binomtest` for p = 1/2 and statsmodels' exact McNemar test).
pub fn sign_test_p_value(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let small = k.min(n - k);
    let ln_half_n = n as f64 * 0.5f64.ln();
    let ln_choose = |i: u64| {
        ln_gamma(n as f64 + 1.0) - ln_gamma(i as f64 + 1.0) - ln_gamma((n - i) as f64 + 1.0)
    };
    let tail: f64 = (0..=small).map(|i| (ln_choose(i) + ln_half_n).exp()).sum();
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol, "{a} vs {b} (tolerance {tol})");
    }

    /// Reference values from scipy 1.17.1: `scipy.stats.norm.ppf(p)`.
    #[test]
    fn normal_quantile_matches_scipy() {
        for (p, z) in [
            (0.975, 1.959963984540054),
            (0.8, 0.8416212335729143),
            (0.995, 2.5758293035489004),
            (1e-10, -6.361340902404056),
            (0.3, -0.5244005127080409),
            (0.5, 0.0),
            (0.02, -2.053748910631823),
            (0.99999, 4.264890793923841),
        ] {
            close(normal_quantile(p), z, 1e-9 * z.abs().max(1.0));
        }
        assert_eq!(normal_quantile(0.0), f64::NEG_INFINITY);
        assert_eq!(normal_quantile(1.0), f64::INFINITY);
    }

    /// scipy 1.17.1: `norm.cdf(z)` and `norm.sf(8)`.
    #[test]
    fn normal_cdf_matches_scipy() {
        close(normal_cdf(1.96), 0.9750021048517795, 1e-14);
        close(normal_cdf(-3.5), 0.00023262907903552502, 1e-16);
        close(normal_cdf(0.0), 0.5, 1e-15);
        close(normal_cdf(0.7), 0.758036347776927, 1e-14);
        let sf8 = 1.0 - normal_cdf(8.0);
        assert!(sf8 < 1e-15, "{sf8}");
        // In the far left tail the relative error stays small: Φ(-8) = norm.sf(8).
        let left = normal_cdf(-8.0);
        close(left / 6.22096057427174e-16, 1.0, 1e-9);
    }

    /// scipy 1.17.1: `chi2.sf(x, 1)`.
    #[test]
    fn chi_square_sf_matches_scipy() {
        close(
            chi_square_sf(16.81779661016949, 1.0),
            4.114562281345944e-05,
            1e-15,
        );
        close(chi_square_sf(3.84, 1.0), 0.05004352124870519, 1e-14);
        close(chi_square_sf(0.5, 1.0), 0.47950012218695337, 1e-14);
        close(chi_square_sf(25.0, 1.0), 5.733031437583875e-07, 1e-17);
        close(chi_square_sf(0.0, 1.0), 1.0, 0.0);
    }

    #[test]
    fn ln_gamma_known_values() {
        close(ln_gamma(1.0), 0.0, 1e-14);
        close(ln_gamma(0.5), std::f64::consts::PI.sqrt().ln(), 1e-14);
        // ln(10!) = ln(3628800)
        close(ln_gamma(11.0), 3_628_800f64.ln(), 1e-12);
    }

    /// statsmodels 0.15.0: `mcnemar([[5, b], [c, 5]], exact=True).pvalue`, which is the
    /// two-sided binomial test of min(b, c) out of b + c at p = 1/2.
    #[test]
    fn sign_test_matches_statsmodels() {
        for (k, n, p) in [
            (7, 7, 0.015625),
            (2, 11, 0.0654296875),
            (5, 17, 0.143463134765625),
            (3, 6, 1.0),
            (0, 0, 1.0),
            (0, 1, 1.0),
            (0, 24, 1.1920928955078125e-07),
        ] {
            close(sign_test_p_value(k, n), p, 1e-12 * p.max(1e-6));
        }
    }
}
