//! Number formatting shared by the reports: thousands separators, p-values, percentages.

/// `4422.4` -> `4,422`.
pub fn thousands(x: f64) -> String {
    if !x.is_finite() {
        return "-".into();
    }
    let n = x.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// `+1,234` / `-1,234` / `0`.
pub fn signed_thousands(x: f64) -> String {
    let s = thousands(x);
    if x.round() > 0.0 { format!("+{s}") } else { s }
}

/// `p = 0.69`, `p = 0.016`, `p < 0.001`: two decimals from 0.1 up, two significant digits
/// below (so 0.049 never reads as 0.05).
pub fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else if p >= 0.1 {
        format!("p = {p:.2}")
    } else {
        let digits = (-p.log10()).floor() as usize + 2;
        format!("p = {p:.digits$}")
    }
}

/// `0.9` -> `90%`; one decimal when it is not a whole percent.
pub fn percent(rate: f64) -> String {
    let pct = rate * 100.0;
    if (pct - pct.round()).abs() < 0.05 {
        format!("{}%", pct.round())
    } else {
        format!("{pct:.1}%")
    }
}

/// `0.35` -> `+35 points`; for differences of pass rates.
pub fn points(diff: f64) -> String {
    let pts = diff * 100.0;
    let sign = if pts > 0.05 { "+" } else { "" };
    if (pts - pts.round()).abs() < 0.05 {
        // `+ 0.0` turns a rounded -0 into 0: no "-0 points".
        let whole = pts.round() + 0.0;
        let unit = if whole.abs() == 1.0 {
            "point"
        } else {
            "points"
        };
        format!("{sign}{whole} {unit}")
    } else {
        format!("{sign}{pts:.1} points")
    }
}

/// Cost in USD with five decimals (the article's precision).
pub fn usd(x: f64) -> String {
    format!("{x:.5}")
}

/// Relative change `new / old - 1` as `+12.3%`; `None` when `old` is 0.
pub fn relative_change(new: f64, old: f64) -> Option<String> {
    (old != 0.0).then(|| {
        let r = (new / old - 1.0) * 100.0;
        format!("{}{r:.1}%", if r > 0.0 { "+" } else { "" })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(thousands(4422.4), "4,422");
        assert_eq!(thousands(-15234.0), "-15,234");
        assert_eq!(thousands(1_000_000.0), "1,000,000");
        assert_eq!(signed_thousands(10812.0), "+10,812");
        assert_eq!(p_value(0.015625), "p = 0.016");
        assert_eq!(p_value(0.049), "p = 0.049");
        assert_eq!(p_value(0.0087), "p = 0.0087");
        assert_eq!(p_value(0.6875), "p = 0.69");
        assert_eq!(p_value(1.0), "p = 1.00");
        assert_eq!(p_value(4e-5), "p < 0.001");
        assert_eq!(percent(0.9), "90%");
        assert_eq!(percent(2.0 / 3.0), "66.7%");
        assert_eq!(points(0.35), "+35 points");
        assert_eq!(points(-0.05), "-5 points");
        assert_eq!(points(-0.0001), "0 points");
        assert_eq!(points(-0.0), "0 points");
        assert_eq!(points(0.01), "+1 point");
        assert_eq!(points(-0.01), "-1 point");
        assert_eq!(relative_change(120.0, 100.0).unwrap(), "+20.0%");
        assert_eq!(relative_change(1.0, 0.0), None);
    }
}
