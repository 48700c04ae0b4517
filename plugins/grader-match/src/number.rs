//! Numbers as answers write them: `1,200`, `$1,200.00`, `-3`, `−3`, `45%`, `12 kg`, `1.5e3`,
//! `3/4`, `\frac{3}{4}`.
//!
//! A number token is: an optional minus sign (`-` or `−`), an optional currency sign (`$`,
//! `€`, `£`, `¥`), another optional minus (`$-5`), then one of
//! - `\frac{A}{B}` (also `\dfrac`, `\tfrac`) or `A/B` with no spaces (a fraction; B ≠ 0);
//! - digits with `,` thousands separators in groups of three (`1,200`) or plain digits, an
//!   optional decimal part (`.50`), an optional exponent (`e3`, `E-2`); or `.5`.
//!
//! A minus sign directly after a letter or digit is a hyphen, not a sign (`GPT-4`, `10-12`).
//! Units and `%` after the number are ignored: `45%` is 45, `12 kg` is 12. A decimal comma
//! (`1,5`) is not read as one: that is the numbers 1 and 5.

use std::sync::LazyLock;

use regex::{Captures, Regex};

const TOKEN: &str = r"(?x)
    (?P<s1>[-−])? (?:[$€£¥]\s?)? (?P<s2>[-−])?
    (?:
        \\[dt]?frac\{\s*(?P<fn>[0-9]+)\s*\}\{\s*(?P<fd>[0-9]+)\s*\}
      | (?P<sn>[0-9]+)/(?P<sd>[0-9]+)
      | (?P<dec>(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]+)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)
    )";

static SCAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(TOKEN).expect("valid regex"));

/// A whole expected value: one token, then optionally `%` or a unit word, and a final period.
static EXACT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"^\s*\+?(?:{TOKEN})\s*(?:%|[\p{{L}}°][\p{{L}}°/²³.]*)?\s*\.?\s*$"
    ))
    .expect("valid regex")
});

/// A number found in a text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    /// The token as written (`$1,200.00`).
    pub text: String,
    pub value: f64,
}

/// The last number of `text`, if any.
pub(crate) fn last_number(text: &str) -> Option<Number> {
    let mut last = None;
    for caps in SCAN.captures_iter(text) {
        let whole = caps.get(0).expect("group 0");
        let before = text[..whole.start()].chars().next_back();
        // `1.2.3`: `.3` continues a number that was already read.
        if caps
            .name("dec")
            .is_some_and(|d| d.as_str().starts_with('.'))
            && caps.name("s1").is_none()
            && before.is_some_and(|c| c.is_ascii_digit() || c == '.')
        {
            continue;
        }
        let hyphen = caps.name("s1").is_some() && before.is_some_and(char::is_alphanumeric);
        let Some(magnitude) = magnitude(&caps) else {
            continue;
        };
        let negative = (caps.name("s1").is_some() && !hyphen) || caps.name("s2").is_some();
        let start = match (hyphen, caps.name("s1")) {
            (true, Some(sign)) => sign.end(),
            _ => whole.start(),
        };
        last = Some(Number {
            text: text[start..whole.end()].to_owned(),
            value: if negative { -magnitude } else { magnitude },
        });
    }
    last
}

/// `text` as one number (an expected value): `1200`, `$1,200.00`, `-3`, `45%`, `12 kg`, `3/4`.
pub(crate) fn parse_exact(text: &str) -> Option<f64> {
    let caps = EXACT.captures(text)?;
    let magnitude = magnitude(&caps)?;
    let negative = caps.name("s1").is_some() || caps.name("s2").is_some();
    Some(if negative { -magnitude } else { magnitude })
}

fn magnitude(caps: &Captures<'_>) -> Option<f64> {
    let int = |name: &str| caps.name(name).and_then(|m| m.as_str().parse::<f64>().ok());
    let value = if let (Some(n), Some(d)) = (int("fn").or(int("sn")), int("fd").or(int("sd"))) {
        (d != 0.0).then(|| n / d)?
    } else {
        caps.name("dec")?.as_str().replace(',', "").parse().ok()?
    };
    value.is_finite().then_some(value)
}

/// Whether `answer` is within tolerance of `expected`: |a − b| ≤ max(abs, rel·|b|).
pub(crate) fn close(answer: f64, expected: f64, abs: f64, rel: f64) -> bool {
    (answer - expected).abs() <= abs.max(rel * expected.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last(text: &str) -> Option<(String, f64)> {
        last_number(text).map(|n| (n.text, n.value))
    }

    #[test]
    fn finds_the_last_number_as_written() {
        assert_eq!(
            last("The total is $1,200.00."),
            Some(("$1,200.00".into(), 1200.0))
        );
        assert_eq!(last("-4 + 11 = 7"), Some(("7".into(), 7.0)));
        assert_eq!(last("It was -15 degrees."), Some(("-15".into(), -15.0)));
        assert_eq!(last("It was −15 degrees."), Some(("−15".into(), -15.0)));
        assert_eq!(
            last("216 - 37 = 179 are free."),
            Some(("179".into(), 179.0))
        );
        assert_eq!(last("**179** chairs"), Some(("179".into(), 179.0)));
        assert_eq!(last("60 x 2.5 = 150, so 150."), Some(("150".into(), 150.0)));
        assert_eq!(last("Answer: 1,500 g"), Some(("1,500".into(), 1500.0)));
        assert_eq!(last("That is 45%."), Some(("45".into(), 45.0)));
        assert_eq!(last("a loss of $-5"), Some(("$-5".into(), -5.0)));
        assert_eq!(last("about 1.5e3 m"), Some(("1.5e3".into(), 1500.0)));
        assert_eq!(last("so 3/4 of it"), Some(("3/4".into(), 0.75)));
        assert_eq!(
            last(r"\boxed{\frac{3}{4}}"),
            Some((r"\frac{3}{4}".into(), 0.75))
        );
        assert_eq!(last("use .5 cups"), Some((".5".into(), 0.5)));
    }

    #[test]
    fn hyphens_lists_and_versions_are_not_signs_or_separators() {
        assert_eq!(last("GPT-4"), Some(("4".into(), 4.0)));
        assert_eq!(last("pages 10-12"), Some(("12".into(), 12.0)));
        assert_eq!(last("1,2,3"), Some(("3".into(), 3.0)));
        assert_eq!(last("1234,567"), Some(("567".into(), 567.0)));
        assert_eq!(last("version 1.2.3"), Some(("1.2".into(), 1.2)));
        assert_eq!(last("27 / 3 = 9"), Some(("9".into(), 9.0)));
        assert_eq!(last("no digits here"), None);
        assert_eq!(last("1/0"), None);
    }

    #[test]
    fn an_expected_value_is_one_number() {
        assert_eq!(parse_exact("1200"), Some(1200.0));
        assert_eq!(parse_exact("$1,200.00"), Some(1200.0));
        assert_eq!(parse_exact(" -3 "), Some(-3.0));
        assert_eq!(parse_exact("+3"), Some(3.0));
        assert_eq!(parse_exact("45%"), Some(45.0));
        assert_eq!(parse_exact("12 kg"), Some(12.0));
        assert_eq!(parse_exact("60 km/h"), Some(60.0));
        assert_eq!(parse_exact("1.5e3"), Some(1500.0));
        assert_eq!(parse_exact("3/4"), Some(0.75));
        assert_eq!(parse_exact("42."), Some(42.0));
        assert_eq!(parse_exact("abc"), None);
        assert_eq!(parse_exact(""), None);
        assert_eq!(parse_exact("12 and 13"), None);
        assert_eq!(parse_exact("1 200"), None);
        assert_eq!(parse_exact("1/0"), None);
    }

    #[test]
    fn tolerance_is_absolute_or_relative() {
        assert!(close(1200.0, 1200.0, 0.0, 1e-9));
        assert!(!close(1199.0, 1200.0, 0.0, 1e-9));
        assert!(close(1199.0, 1200.0, 1.0, 0.0));
        assert!(close(1188.0, 1200.0, 0.0, 0.01));
        assert!(!close(1187.0, 1200.0, 0.0, 0.01));
        assert!(close(0.1 + 0.2, 0.3, 0.0, 1e-9));
    }
}
