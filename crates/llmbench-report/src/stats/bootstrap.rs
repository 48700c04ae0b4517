//! Bootstrap percentile intervals: one sample, paired samples, and two independent samples.
//!
//! Deterministic: resampling uses a seeded xorshift64* generator, so the same data and
//! settings give the same interval on every machine, and a report renders to the same bytes.

use super::Interval;

/// The statistic a bootstrap estimates.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Statistic {
    Mean,
    Median,
    /// The `q` quantile (0..=1), by linear interpolation (numpy's default, R's type 7).
    Quantile(f64),
}

impl Statistic {
    /// The statistic of `values` (not empty).
    pub fn of(self, values: &[f64]) -> f64 {
        match self {
            Statistic::Mean => values.iter().sum::<f64>() / values.len() as f64,
            Statistic::Median | Statistic::Quantile(_) => self.of_scratch(&mut values.to_vec()),
        }
    }

    /// [`Statistic::of`] on a buffer it may reorder: a quantile selects its two order
    /// statistics in linear time (`select_nth_unstable_by`) instead of sorting, which gives
    /// the same value as `llmbench_core::quantile` bit for bit (the same order statistics
    /// under the same total order, in the same formula). What each bootstrap resample uses.
    pub(crate) fn of_scratch(self, values: &mut [f64]) -> f64 {
        let q = match self {
            Statistic::Mean => return values.iter().sum::<f64>() / values.len() as f64,
            Statistic::Median => 0.5,
            Statistic::Quantile(q) => q,
        };
        if values.is_empty() {
            return f64::NAN;
        }
        let pos = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        let (_, at_lo, above) = values.select_nth_unstable_by(lo, f64::total_cmp);
        let at_lo = *at_lo;
        // The next order statistic is the least of those above the `lo`-th.
        let at_hi = if hi == lo {
            at_lo
        } else {
            above
                .iter()
                .copied()
                .min_by(f64::total_cmp)
                .unwrap_or(at_lo)
        };
        at_lo + (at_hi - at_lo) * (pos - lo as f64)
    }

    /// `mean`, `median`, `p95`...
    pub fn name(self) -> String {
        match self {
            Statistic::Mean => "mean".into(),
            Statistic::Median => "median".into(),
            Statistic::Quantile(q) => format!("p{}", (q * 100.0).round()),
        }
    }
}

/// Bootstrap settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Bootstrap {
    /// Number of resamples.
    pub resamples: u32,
    /// Interval coverage, e.g. 0.95.
    pub confidence: f64,
    pub seed: u64,
}

/// 2,000 resamples (Efron and Tibshirani recommend at least 1,000 for percentile intervals),
/// 95%, a fixed seed.
impl Default for Bootstrap {
    fn default() -> Self {
        Self {
            resamples: 2_000,
            confidence: 0.95,
            seed: 0x6c6c_6d62_656e_6368,
        }
    }
}

/// A statistic with its percentile interval. The interval is `None` for fewer than two
/// values: one value tells nothing about spread.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Estimate {
    pub value: f64,
    pub interval: Option<Interval>,
    pub n: usize,
}

/// The change `stat(a) - stat(b)` with its bootstrap interval and an approximate two-sided
/// p-value. Significant (at `1 - confidence`) exactly when the interval excludes 0.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Difference {
    pub statistic: Statistic,
    /// `stat(a)`, `stat(b)` on the original data.
    pub a: f64,
    pub b: f64,
    /// `stat(a) - stat(b)`.
    pub estimate: f64,
    pub interval: Interval,
    /// Twice the smaller share of resampled differences on either side of 0, capped at 1.
    pub p_value: f64,
    /// Pairs (paired) or the smaller group's size (independent).
    pub n: usize,
    pub paired: bool,
    pub resamples: u32,
}

impl Difference {
    pub fn significant(&self) -> bool {
        self.interval.excludes(0.0)
    }
}

/// xorshift64* (Vigna 2016): small, fast, and good enough for resampling indices.
///
/// Hand-written on purpose, unlike the other random draws in llmbench (which use `fastrand`):
/// a report's intervals must be bit-for-bit the same for the same data and seed on every
/// machine and in every version, and a crate's generator may change its output in any
/// release. Changing it changes the intervals of every report rendered after the change.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        // splitmix64 of the seed, so that nearby seeds start far apart and 0 is allowed.
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        Self(if z == 0 { 1 } else { z })
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform in `0..n` (Lemire's multiply-shift; the bias is below 2^-40 for any n here).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }
}

/// Resamples hold at most this many values. Up to it, the bootstrap is the ordinary one
/// (each resample as large as the data). Above it, each resample draws `SUBSAMPLE` values
/// (the m-out-of-n bootstrap, Bickel, Götze and van Zwet 1997) and its deviation from the
/// estimate is shrunk by `sqrt(m / n)`, the ratio of the standard errors at the two sizes, so
/// that a 1,000,000-value interval costs what a 2,000-value one does. Valid for means and
/// quantiles (both converge at rate `sqrt(n)`).
pub const SUBSAMPLE: usize = 2_000;

/// A resampled statistic of `m` values as a draw of the `n`-value one around `estimate`.
fn rescale(resampled: f64, estimate: f64, m: usize, n: usize) -> f64 {
    if m == n {
        resampled
    } else {
        estimate + (resampled - estimate) * (m as f64 / n as f64).sqrt()
    }
}

fn percentile_interval(mut stats: Vec<f64>, confidence: f64) -> Interval {
    stats.sort_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| {
        let pos = q * (stats.len() - 1) as f64;
        let lo = pos.floor() as usize;
        let hi = pos.ceil() as usize;
        stats[lo] + (stats[hi] - stats[lo]) * (pos - lo as f64)
    };
    Interval {
        low: at(tail),
        high: at(1.0 - tail),
    }
}

fn two_sided_p(stats: &[f64]) -> f64 {
    let n = stats.len() as f64;
    let below = stats.iter().filter(|&&d| d <= 0.0).count() as f64 / n;
    let above = stats.iter().filter(|&&d| d >= 0.0).count() as f64 / n;
    (2.0 * below.min(above)).min(1.0)
}

/// The percentile bootstrap interval of `stat` over `values`. `None` for no values.
pub fn bootstrap_interval(
    values: &[f64],
    stat: Statistic,
    settings: &Bootstrap,
) -> Option<Estimate> {
    if values.is_empty() {
        return None;
    }
    let value = stat.of(values);
    if values.len() < 2 || settings.resamples == 0 {
        return Some(Estimate {
            value,
            interval: None,
            n: values.len(),
        });
    }
    let n = values.len();
    let m = n.min(SUBSAMPLE);
    let mut rng = Rng::new(settings.seed);
    let mut buf = vec![0.0; m];
    let stats: Vec<f64> = (0..settings.resamples.max(1))
        .map(|_| {
            for slot in buf.iter_mut() {
                *slot = values[rng.below(n)];
            }
            rescale(stat.of_scratch(&mut buf), value, m, n)
        })
        .collect();
    Some(Estimate {
        value,
        interval: Some(percentile_interval(stats, settings.confidence)),
        n,
    })
}

/// Paired bootstrap of `stat(a) - stat(b)`, where `a[i]` and `b[i]` were measured on the same
/// item: pairs are resampled together, which removes the between-item spread from the
/// comparison. For [`Statistic::Mean`] this is the mean of the paired differences. `None`
/// when the lengths differ or there are fewer than two pairs.
pub fn paired_bootstrap(
    a: &[f64],
    b: &[f64],
    stat: Statistic,
    settings: &Bootstrap,
) -> Option<Difference> {
    if a.len() != b.len() || a.len() < 2 {
        return None;
    }
    let n = a.len();
    let m = n.min(SUBSAMPLE);
    let (sa, sb) = (stat.of(a), stat.of(b));
    let mut rng = Rng::new(settings.seed);
    let (mut ra, mut rb) = (vec![0.0; m], vec![0.0; m]);
    let stats: Vec<f64> = (0..settings.resamples.max(1))
        .map(|_| {
            for i in 0..m {
                let j = rng.below(n);
                ra[i] = a[j];
                rb[i] = b[j];
            }
            rescale(
                stat.of_scratch(&mut ra) - stat.of_scratch(&mut rb),
                sa - sb,
                m,
                n,
            )
        })
        .collect();
    Some(Difference {
        statistic: stat,
        a: sa,
        b: sb,
        estimate: sa - sb,
        p_value: two_sided_p(&stats),
        interval: percentile_interval(stats, settings.confidence),
        n,
        paired: true,
        resamples: settings.resamples.max(1),
    })
}

/// Bootstrap of `stat(a) - stat(b)` for two independent samples: each is resampled on its own.
/// `None` when either has fewer than two values.
pub fn independent_bootstrap(
    a: &[f64],
    b: &[f64],
    stat: Statistic,
    settings: &Bootstrap,
) -> Option<Difference> {
    if a.len() < 2 || b.len() < 2 {
        return None;
    }
    let (sa, sb) = (stat.of(a), stat.of(b));
    // Each side subsampled on its own; the difference rescaled by the smaller side's factor
    // (conservative: the wider of the two).
    let (ma, mb) = (a.len().min(SUBSAMPLE), b.len().min(SUBSAMPLE));
    let (m, n) = if ma * b.len() >= mb * a.len() {
        (ma, a.len())
    } else {
        (mb, b.len())
    };
    let mut rng = Rng::new(settings.seed);
    let (mut ra, mut rb) = (vec![0.0; ma], vec![0.0; mb]);
    let stats: Vec<f64> = (0..settings.resamples.max(1))
        .map(|_| {
            for slot in ra.iter_mut() {
                *slot = a[rng.below(a.len())];
            }
            for slot in rb.iter_mut() {
                *slot = b[rng.below(b.len())];
            }
            rescale(
                stat.of_scratch(&mut ra) - stat.of_scratch(&mut rb),
                sa - sb,
                m,
                n,
            )
        })
        .collect();
    Some(Difference {
        statistic: stat,
        a: sa,
        b: sb,
        estimate: sa - sb,
        p_value: two_sided_p(&stats),
        interval: percentile_interval(stats, settings.confidence),
        n: a.len().min(b.len()),
        paired: false,
        resamples: settings.resamples.max(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Twelve latencies in ms: the founding article's three and nine more around Haiku's.
    const DATA: [f64; 12] = [
        4422.0, 15234.0, 12814.0, 3900.0, 5100.0, 4800.0, 6100.0, 4300.0, 4700.0, 9800.0, 4450.0,
        5020.0,
    ];

    fn many() -> Bootstrap {
        Bootstrap {
            resamples: 50_000,
            ..Bootstrap::default()
        }
    }

    fn within(actual: f64, expected: f64, relative: f64) {
        assert!(
            (actual - expected).abs() <= relative * expected.abs(),
            "{actual} vs {expected} (relative tolerance {relative})"
        );
    }

    /// Reference: scipy 1.17.1, `scipy.stats.bootstrap((DATA,), stat, n_resamples=200000,
    /// method="percentile", confidence_level=0.95, random_state=1)`: median 4436.0..7950.0,
    /// p90 (np.quantile 0.9) 5092.0..15234.0, mean 4867.5..8950.004. The generators differ, so
    /// endpoints agree up to Monte Carlo error: the median's and p90's bootstrap distributions
    /// are discrete and their endpoints come out identical; the mean's are within 0.2%.
    #[test]
    fn selected_quantiles_are_the_sorted_ones_to_the_bit() {
        let mut rng = Rng::new(7);
        for n in [1usize, 2, 3, 10, 101, 1000] {
            for _ in 0..20 {
                // Few distinct values (ties), both zeros, negatives.
                let values: Vec<f64> = (0..n)
                    .map(|_| match rng.below(6) {
                        0 => -0.0,
                        1 => 0.0,
                        k => (rng.below(50) as f64 - 10.0) * k as f64 / 3.0,
                    })
                    .collect();
                for q in [0.0, 0.1, 0.5, 0.9, 0.95, 1.0] {
                    let expected = llmbench_core::quantile(&values, q).unwrap();
                    let stat = Statistic::Quantile(q);
                    assert_eq!(
                        stat.of(&values).to_bits(),
                        expected.to_bits(),
                        "{values:?} {q}"
                    );
                    let mut scratch = values.clone();
                    assert_eq!(stat.of_scratch(&mut scratch).to_bits(), expected.to_bits());
                }
            }
        }
    }

    #[test]
    fn percentile_intervals_match_scipy() {
        let median = bootstrap_interval(&DATA, Statistic::Median, &many()).unwrap();
        assert_eq!(median.value, 4910.0);
        let ci = median.interval.unwrap();
        assert_eq!((ci.low, ci.high), (4436.0, 7950.0));
        let p90 = bootstrap_interval(&DATA, Statistic::Quantile(0.9), &many()).unwrap();
        let ci = p90.interval.unwrap();
        assert_eq!((ci.low, ci.high), (5092.0, 15234.0));
        let mean = bootstrap_interval(&DATA, Statistic::Mean, &many()).unwrap();
        let ci = mean.interval.unwrap();
        within(ci.low, 4867.5, 0.005);
        within(ci.high, 8950.004, 0.005);
    }

    #[test]
    fn deterministic_and_degenerate_cases() {
        let s = Bootstrap::default();
        let a = bootstrap_interval(&DATA, Statistic::Median, &s);
        assert_eq!(a, bootstrap_interval(&DATA, Statistic::Median, &s));
        assert_eq!(bootstrap_interval(&[], Statistic::Mean, &s), None);
        let one = bootstrap_interval(&[3.0], Statistic::Mean, &s).unwrap();
        assert_eq!((one.value, one.interval), (3.0, None));
        let same = bootstrap_interval(&[2.0, 2.0, 2.0], Statistic::Median, &s).unwrap();
        assert_eq!(
            same.interval,
            Some(Interval {
                low: 2.0,
                high: 2.0
            })
        );
    }

    /// For the mean of a large, roughly normal sample, the percentile interval approaches the
    /// normal-theory interval mean ± 1.96·s/√n.
    #[test]
    fn mean_interval_approaches_normal_theory() {
        let mut rng = Rng::new(7);
        // Sum of 12 uniforms minus 6: approximately standard normal.
        let values: Vec<f64> = (0..400)
            .map(|_| {
                (0..12)
                    .map(|_| rng.next_u64() as f64 / u64::MAX as f64)
                    .sum::<f64>()
                    - 6.0
            })
            .collect();
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let half = 1.959964 * sd / n.sqrt();
        let ci = bootstrap_interval(&values, Statistic::Mean, &many())
            .unwrap()
            .interval
            .unwrap();
        assert!((ci.low - (mean - half)).abs() < 0.1 * half, "{ci:?}");
        assert!((ci.high - (mean + half)).abs() < 0.1 * half, "{ci:?}");
    }

    #[test]
    fn paired_beats_independent_when_items_vary() {
        // Items differ a lot; model a is consistently 100 ms faster than b on each.
        let b: Vec<f64> = (0..20).map(|i| 1000.0 + 400.0 * i as f64).collect();
        let a: Vec<f64> = b.iter().map(|x| x - 100.0).collect();
        let s = Bootstrap::default();
        let paired = paired_bootstrap(&a, &b, Statistic::Mean, &s).unwrap();
        assert_eq!(paired.estimate, -100.0);
        assert!(paired.significant(), "{paired:?}");
        assert!(paired.p_value < 0.01);
        let independent = independent_bootstrap(&a, &b, Statistic::Mean, &s).unwrap();
        assert!(!independent.significant(), "{independent:?}");
        assert!(independent.p_value > 0.5);
        assert_eq!(paired_bootstrap(&a, &b[1..], Statistic::Mean, &s), None);
    }
}
