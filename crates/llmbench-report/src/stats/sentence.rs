//! Plain sentences for test results: what a reader should take away, with the numbers and the
//! test that backs them.

use super::{Difference, McNemar};
use crate::format::{p_value, thousands};

/// "Sonnet passes more often than Haiku: 18/20 vs 11/20, p = 0.016 (McNemar exact test,
/// 7 discordant pairs)." or "No significant difference in pass rate between ...". The better
/// model is named first when the difference is significant at `alpha`.
pub fn pass_rate_sentence(a: &str, b: &str, m: &McNemar, alpha: f64) -> String {
    let n = m.pairs;
    if m.discordant() == 0 {
        return format!(
            "No difference in pass rate between {a} and {b}: {}/{n} vs {}/{n}, and no item where only one passed ({} needs such items).",
            m.a_passed,
            m.b_passed,
            m.method.describe()
        );
    }
    let test = format!(
        "{}, {} discordant pair{}",
        m.method.describe(),
        m.discordant(),
        if m.discordant() == 1 { "" } else { "s" }
    );
    let p = p_value(m.p_value);
    if m.significant(alpha) {
        let (hi, lo, hi_n, lo_n) = if m.a_passed >= m.b_passed {
            (a, b, m.a_passed, m.b_passed)
        } else {
            (b, a, m.b_passed, m.a_passed)
        };
        format!("{hi} passes more often than {lo}: {hi_n}/{n} vs {lo_n}/{n}, {p} ({test}).")
    } else {
        format!(
            "No significant difference in pass rate between {a} and {b}: {}/{n} vs {}/{n}, {p} ({test}).",
            m.a_passed, m.b_passed
        )
    }
}

fn design(d: &Difference) -> String {
    if d.paired {
        format!(
            "paired bootstrap over {} items, {} resamples",
            d.n,
            thousands(f64::from(d.resamples))
        )
    } else {
        format!(
            "independent bootstrap, {} resamples",
            thousands(f64::from(d.resamples))
        )
    }
}

/// "Haiku answers faster than Sonnet: median latency 4,422 vs 15,234 ms, difference -10,812 ms
/// (95% CI -11,200 to -10,100; paired bootstrap over 20 items, 2,000 resamples)." `d` is
/// `a - b` in milliseconds.
pub fn latency_sentence(a: &str, b: &str, d: &Difference, confidence: f64) -> String {
    let stat = d.statistic.name();
    // Name the faster model first when the difference is significant.
    let swap = d.significant() && d.estimate > 0.0;
    let (first, second, x, y, diff, lo, hi) = if swap {
        (
            b,
            a,
            d.b,
            d.a,
            -d.estimate,
            -d.interval.high,
            -d.interval.low,
        )
    } else {
        (a, b, d.a, d.b, d.estimate, d.interval.low, d.interval.high)
    };
    let numbers = format!(
        "{stat} latency {} vs {} ms, difference {} ms ({:.0}% CI {} to {}; {})",
        thousands(x),
        thousands(y),
        thousands(diff),
        confidence * 100.0,
        thousands(lo),
        thousands(hi),
        design(d)
    );
    if d.significant() {
        format!("{first} answers faster than {second}: {numbers}.")
    } else {
        format!(
            "No significant difference in {stat} latency between {first} and {second}: {numbers}."
        )
    }
}

/// "Sonnet scores higher than Haiku: mean score 0.90 vs 0.55, difference 0.35 (95% CI 0.20 to
/// 0.50; paired bootstrap ...)." `d` is `a - b`.
pub fn score_sentence(a: &str, b: &str, d: &Difference, confidence: f64) -> String {
    // Name the higher-scoring model first when the difference is significant.
    let swap = d.significant() && d.estimate < 0.0;
    let (first, second, x, y, diff, lo, hi) = if swap {
        (
            b,
            a,
            d.b,
            d.a,
            -d.estimate,
            -d.interval.high,
            -d.interval.low,
        )
    } else {
        (a, b, d.a, d.b, d.estimate, d.interval.low, d.interval.high)
    };
    let numbers = format!(
        "mean score {x:.2} vs {y:.2}, difference {diff:+.2} ({:.0}% CI {lo:+.2} to {hi:+.2}; {})",
        confidence * 100.0,
        design(d)
    );
    if d.significant() {
        format!("{first} scores higher than {second}: {numbers}.")
    } else {
        format!("No significant difference in score between {first} and {second}: {numbers}.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{Bootstrap, Statistic, mcnemar_counts, paired_bootstrap};

    #[test]
    fn pass_rate_sentences() {
        let m = mcnemar_counts(11, 0, 7, 2);
        assert_eq!(
            pass_rate_sentence("Haiku", "Sonnet", &m, 0.05),
            "Sonnet passes more often than Haiku: 18/20 vs 11/20, p = 0.016 (McNemar exact test, 7 discordant pairs)."
        );
        let m = mcnemar_counts(15, 3, 1, 1);
        assert_eq!(
            pass_rate_sentence("Sonnet", "Haiku", &m, 0.05),
            "No significant difference in pass rate between Sonnet and Haiku: 18/20 vs 16/20, p = 0.62 (McNemar exact test, 4 discordant pairs)."
        );
        let m = mcnemar_counts(3, 0, 0, 0);
        assert!(pass_rate_sentence("A", "B", &m, 0.05).starts_with("No difference"));
    }

    #[test]
    fn latency_and_score_sentences() {
        let b: Vec<f64> = (0..10).map(|i| 15_000.0 + 100.0 * f64::from(i)).collect();
        let a: Vec<f64> = b.iter().map(|x| x - 10_000.0).collect();
        let s = Bootstrap::default();
        let d = paired_bootstrap(&a, &b, Statistic::Median, &s).unwrap();
        let text = latency_sentence("Haiku", "Sonnet", &d, 0.95);
        assert!(
            text.starts_with("Haiku answers faster than Sonnet: median latency 5,450 vs 15,450 ms, difference -10,000 ms (95% CI -10,000 to -10,000; paired bootstrap over 10 items, 2,000 resamples)"),
            "{text}"
        );
        // The same comparison the other way round names the faster model first, numbers too.
        let d = paired_bootstrap(&b, &a, Statistic::Median, &s).unwrap();
        let text = latency_sentence("Sonnet", "Haiku", &d, 0.95);
        assert!(
            text.starts_with("Haiku answers faster than Sonnet: median latency 5,450 vs 15,450 ms, difference -10,000 ms"),
            "{text}"
        );
        let same = paired_bootstrap(&b, &b, Statistic::Mean, &s).unwrap();
        assert!(score_sentence("A", "B", &same, 0.95).starts_with("No significant"));
        let low = [0.2, 0.3, 0.25, 0.2, 0.3];
        let high = [0.9, 0.8, 0.85, 0.9, 0.95];
        let d = paired_bootstrap(&low, &high, Statistic::Mean, &s).unwrap();
        let text = score_sentence("Haiku", "Sonnet", &d, 0.95);
        assert!(
            text.starts_with(
                "Sonnet scores higher than Haiku: mean score 0.88 vs 0.25, difference +0.63"
            ),
            "{text}"
        );
    }
}
