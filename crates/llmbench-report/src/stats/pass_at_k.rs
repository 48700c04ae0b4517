//! The unbiased pass@k estimator of Chen et al. 2021, "Evaluating Large Language Models
//! Trained on Code" (arXiv:2107.03374, section 2.1 and figure 3).
//!
//! With `n` samples of one item of which `c` pass, the chance that at least one of `k` samples
//! drawn without replacement passes is `1 - C(n-c, k) / C(n, k)`. The binomial coefficients
//! overflow long before `n` gets interesting (C(200, 100) is about 9e58), so the estimator uses
//! the paper's product form, `1 - prod_{i=n-c+1}^{n} (1 - k/i)`, which stays within `[0, 1]`
//! at every step. Hand-written: it is four lines, and no maintained crate offers it.

/// pass@k of one item with `n` graded samples of which `c` passed; `None` when `n < k` (the
/// estimator needs at least `k` samples). `c` is capped at `n`. `k = 0` gives 0: no sample
/// drawn, none passes.
pub fn pass_at_k(n: u64, c: u64, k: u32) -> Option<f64> {
    let k = u64::from(k);
    if n < k {
        return None;
    }
    let c = c.min(n);
    if k == 0 {
        return Some(0.0);
    }
    // Every draw of k includes a passing sample: fewer than k samples fail.
    if n - c < k {
        return Some(1.0);
    }
    let kf = k as f64;
    let none_pass: f64 = (n - c + 1..=n).map(|i| 1.0 - kf / i as f64).product();
    Some(1.0 - none_pass)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `1 - C(n-c, k) / C(n, k)` with exact integer binomials (u128: exact up to n = 120).
    fn binomial_form(n: u64, c: u64, k: u64) -> f64 {
        fn choose(n: u64, k: u64) -> u128 {
            if k > n {
                return 0;
            }
            let k = k.min(n - k);
            // Each partial product is itself a binomial coefficient, so the division is exact.
            (1..=u128::from(k)).fold(1u128, |acc, i| acc * (u128::from(n - k) + i) / i)
        }
        1.0 - choose(n - c, k) as f64 / choose(n, k) as f64
    }

    fn close(actual: f64, expected: f64, tolerance: f64) {
        assert!(
            (actual - expected).abs() <= tolerance,
            "{actual} vs {expected} (tolerance {tolerance})"
        );
    }

    /// n = 10, c = 3: pass@1 = c/n = 0.3; pass@5 = 1 - C(7,5)/C(10,5) = 1 - 21/252;
    /// pass@10 = 1 (any 10 of 10 include the 3 that pass).
    #[test]
    fn reference_values_by_hand() {
        close(pass_at_k(10, 3, 1).unwrap(), 0.3, 1e-15);
        close(pass_at_k(10, 3, 5).unwrap(), 1.0 - 21.0 / 252.0, 1e-15);
        close(pass_at_k(10, 3, 5).unwrap(), 0.916_666_666_666_666_6, 1e-15);
        assert_eq!(pass_at_k(10, 3, 8), Some(1.0));
        assert_eq!(pass_at_k(10, 3, 10), Some(1.0));
        assert_eq!(pass_at_k(10, 3, 11), None);
        assert_eq!(pass_at_k(200, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(200, 0, 100), Some(0.0));
        assert_eq!(pass_at_k(200, 200, 1), Some(1.0));
        assert_eq!(pass_at_k(200, 200, 200), Some(1.0));
        assert_eq!(pass_at_k(1, 1, 1), Some(1.0));
        assert_eq!(pass_at_k(1, 0, 1), Some(0.0));
        assert_eq!(pass_at_k(0, 0, 1), None);
        assert_eq!(pass_at_k(5, 2, 0), Some(0.0));
        assert_eq!(pass_at_k(5, 9, 2), Some(1.0), "c is capped at n");
    }

    /// Large n, computed independently with Python 3 `math.comb` (exact integers, one
    /// rounding at the division): `1 - comb(n - c, k) / comb(n, k)`.
    #[test]
    fn large_n_matches_python_math_comb() {
        // n=200, c=37, k=100: comb(163, 100) / comb(200, 100) = 1.1963625974574092e-13, so
        // the value is within an ulp of 1 (the binomials themselves are near 1e58).
        close(
            pass_at_k(200, 37, 100).unwrap(),
            0.999_999_999_999_880_3,
            1e-15,
        );
        close(
            pass_at_k(200, 5, 50).unwrap(),
            0.766_687_034_619_335_7,
            1e-13,
        );
        close(
            pass_at_k(200, 3, 20).unwrap(),
            0.272_224_760_164_458_6,
            1e-13,
        );
        close(pass_at_k(200, 1, 1).unwrap(), 0.005, 1e-15);
        close(
            pass_at_k(1000, 10, 100).unwrap(),
            0.653_072_285_207_994,
            1e-12,
        );
    }

    /// Where the binomials are exact (n up to 60 here), the product form equals them for every
    /// c and every k.
    #[test]
    fn product_form_equals_binomial_form() {
        for n in 1..=60u64 {
            for c in 0..=n {
                for k in 1..=n {
                    let stable = pass_at_k(n, c, k as u32).unwrap();
                    close(stable, binomial_form(n, c, k), 1e-12);
                    assert!((0.0..=1.0).contains(&stable), "n={n} c={c} k={k}: {stable}");
                }
            }
        }
    }

    /// pass@1 is the pass rate, and pass@k never falls as k grows.
    #[test]
    fn pass_at_1_is_the_rate_and_k_is_monotone() {
        for n in 1..=40u64 {
            for c in 0..=n {
                close(pass_at_k(n, c, 1).unwrap(), c as f64 / n as f64, 1e-15);
                let values: Vec<f64> = (1..=n)
                    .map(|k| pass_at_k(n, c, k as u32).unwrap())
                    .collect();
                assert!(
                    values.windows(2).all(|w| w[0] <= w[1] + 1e-15),
                    "n={n} c={c}: {values:?}"
                );
            }
        }
    }
}
