//! Small order statistics shared by reports.

/// The `q` quantile (0..=1) by linear interpolation between closest ranks (the method of
/// numpy's default and R's type 7). `None` for no data.
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    Some(v[lo] + (v[hi] - v[lo]) * (pos - lo as f64))
}

pub fn median(values: &[f64]) -> Option<f64> {
    quantile(values, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_type7() {
        // numpy.quantile([1, 2, 3, 4, 10], [0.5, 0.9]) == [3.0, 7.6]
        let v = [4.0, 1.0, 10.0, 3.0, 2.0];
        assert_eq!(median(&v), Some(3.0));
        assert!((quantile(&v, 0.9).unwrap() - 7.6).abs() < 1e-12);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1.0, 2.0]), Some(1.5));
    }
}
