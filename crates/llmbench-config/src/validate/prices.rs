//! `price` tables (of providers and graders), and the catalog's list price when there is none.

use std::ops::Range;

use llmbench_core::Price;
use toml::Spanned;

use super::checker::{FloatRange, Validator};
use crate::error::ConfigErrorKind;
use crate::model::PriceConfig;
use crate::raw::RawPrice;

use ConfigErrorKind as K;

/// `YYYY-MM-DD`, and a real day.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let digits = |r: Range<usize>| -> Option<u32> {
        let part = &s[r];
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())
            .flatten()
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

impl Validator<'_> {
    /// `price` when given, else the catalog's list price for `model`, if it has one.
    pub(super) fn price_or_catalog(
        &mut self,
        at: &str,
        raw: Option<Spanned<RawPrice>>,
        model: Option<&str>,
    ) -> Option<PriceConfig> {
        match raw {
            Some(p) => Some(self.price(at, p.into_inner())),
            None => model.and_then(crate::catalog::catalog_price),
        }
    }

    fn price(&mut self, at: &str, raw: RawPrice) -> PriceConfig {
        let field = |f: &str| format!("{at}.{f}");
        let mut usd = |name: &str, value: &Spanned<f64>| {
            self.float(&field(name), value, FloatRange::AtLeast(0.0))
        };
        let input = usd("input-per-mtok", &raw.input_per_mtok);
        let output = usd("output-per-mtok", &raw.output_per_mtok);
        let cache_read = raw
            .cache_read_per_mtok
            .as_ref()
            .map_or(input, |v| usd("cache-read-per-mtok", v));
        let cache_write = raw
            .cache_write_per_mtok
            .as_ref()
            .map_or(input, |v| usd("cache-write-per-mtok", v));
        let as_of = raw.as_of.as_ref().and_then(|value| {
            let text = match value.get_ref() {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Datetime(d) if d.time.is_none() && d.offset.is_none() => {
                    Some(d.to_string())
                }
                _ => None,
            };
            match text {
                Some(text) if is_date(&text) => Some(text),
                _ => {
                    self.sink.error(
                        K::InvalidValue,
                        value.span(),
                        format!(
                            "`{}` must be a date written YYYY-MM-DD, like \"2026-05-22\"",
                            field("as-of")
                        ),
                    );
                    None
                }
            }
        });
        PriceConfig {
            price: Price {
                input_per_mtok: input,
                output_per_mtok: output,
                cache_read_per_mtok: cache_read,
                cache_write_per_mtok: cache_write,
            },
            as_of,
            from_catalog: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(is_date("2026-05-22"));
        assert!(is_date("2024-02-29"));
        assert!(!is_date("2026-02-29"));
        assert!(!is_date("1900-02-29"));
        assert!(is_date("2000-02-29"));
        assert!(!is_date("2026-13-01"));
        assert!(!is_date("2026-5-22"));
        assert!(!is_date("2026-05-22T00:00"));
        assert!(!is_date("+026-05-22"));
    }
}
