//! Inline SVG charts, drawn in Rust: box plots, a scatter plot with interval whiskers, and
//! horizontal bars with interval whiskers. No script, no fonts or images from elsewhere.

use std::fmt::Write as _;

use llmbench_core::quantile;

use super::escape::escape;
use crate::format::{percent, thousands};

/// Okabe-Ito, a palette that colour-blind readers can tell apart.
pub(crate) const PALETTE: [&str; 8] = [
    "#0072b2", "#e69f00", "#009e73", "#d55e00", "#cc79a7", "#56b4e9", "#f0e442", "#000000",
];

const WIDTH: f64 = 760.0;
const ROW: f64 = 34.0;
const TOP: f64 = 12.0;
const AXIS: f64 = 36.0;
const RIGHT: f64 = 24.0;

/// About 5 round ticks from 0 to at least `max`: (ticks, domain end).
fn ticks(max: f64) -> (Vec<f64>, f64) {
    let max = if max > 0.0 && max.is_finite() {
        max
    } else {
        1.0
    };
    let raw = max / 5.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    let n = (max / step).ceil() as usize;
    let ticks: Vec<f64> = (0..=n).map(|i| i as f64 * step).collect();
    let end = *ticks.last().expect("at least one tick");
    (ticks, end)
}

/// Room for the longest label at about 7.5 px per character (12 px system font), plus `extra`
/// characters.
fn left_margin<'a>(labels: impl Iterator<Item = &'a str>, extra: usize) -> f64 {
    let longest = labels.map(|l| l.chars().count()).max().unwrap_or(0) + extra;
    (longest as f64 * 7.5 + 16.0).clamp(90.0, 320.0)
}

fn open(out: &mut String, id: &str, height: f64, title: &str) {
    let _ = write!(
        out,
        r#"<svg class="chart-svg" id="{id}" viewBox="0 0 {WIDTH} {height:.0}" width="{WIDTH}" height="{height:.0}" role="img" aria-labelledby="{id}-title"><title id="{id}-title">{}</title>"#,
        escape(title)
    );
}

/// Where a chart's plot area is: its left edge, top and bottom.
#[derive(Debug, Clone, Copy)]
struct Frame {
    left: f64,
    top: f64,
    bottom: f64,
}

fn x_axis(
    out: &mut String,
    Frame { left, top, bottom }: Frame,
    ticks: &[f64],
    scale: &dyn Fn(f64) -> f64,
    fmt: &dyn Fn(f64) -> String,
    label: &str,
) {
    for &t in ticks {
        let x = scale(t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            escape(&fmt(t))
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{left:.1}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}"/><text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        WIDTH - RIGHT,
        (left + WIDTH - RIGHT) / 2.0,
        bottom + 30.0,
        escape(label)
    );
}

/// One box of a box plot.
#[derive(Debug)]
pub(crate) struct BoxSeries<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub values: &'a [f64],
}

/// Horizontal box plots, one row per series: box from the first to the third quartile, a line
/// at the median, whiskers to the furthest values within 1.5 IQR (Tukey), dots beyond.
pub(crate) fn box_plot(
    id: &str,
    title: &str,
    axis_label: &str,
    series: &[BoxSeries<'_>],
) -> String {
    let left = left_margin(series.iter().map(|s| s.label), 6);
    let height = TOP + ROW * series.len() as f64 + AXIS;
    let bottom = height - AXIS;
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .fold(0.0, f64::max);
    let (ticks, end) = ticks(max);
    let scale = |v: f64| left + (v / end) * (WIDTH - RIGHT - left);
    let mut out = String::new();
    open(&mut out, id, height, title);
    x_axis(
        &mut out,
        Frame {
            left,
            top: TOP,
            bottom,
        },
        &ticks,
        &scale,
        &|t| thousands(t),
        axis_label,
    );
    for (i, s) in series.iter().enumerate() {
        let cy = TOP + ROW * i as f64 + ROW / 2.0;
        let _ = write!(
            out,
            r#"<text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{} <tspan class="n">n={}</tspan></text>"#,
            left - 8.0,
            cy + 4.0,
            escape(s.label),
            s.values.len()
        );
        if s.values.is_empty() {
            continue;
        }
        let q = |p: f64| quantile(s.values, p).expect("not empty");
        let (q1, med, q3) = (q(0.25), q(0.5), q(0.75));
        let iqr = q3 - q1;
        let inside: Vec<f64> = s
            .values
            .iter()
            .copied()
            .filter(|v| *v >= q1 - 1.5 * iqr && *v <= q3 + 1.5 * iqr)
            .collect();
        let lo = inside.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = inside.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let h = ROW * 0.55;
        let _ = write!(
            out,
            r#"<g class="box" data-series="{}"><line class="whisker" x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}" stroke="{c}"/><line class="whisker" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}"/><line class="whisker" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}"/><rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{c}" fill-opacity="0.25" stroke="{c}"/><line class="median" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="{c}"/><title>{}: median {} (quartiles {} to {}), range {} to {}</title>"#,
            escape(s.label),
            scale(lo),
            scale(hi),
            scale(lo),
            cy - h / 4.0,
            scale(lo),
            cy + h / 4.0,
            scale(hi),
            cy - h / 4.0,
            scale(hi),
            cy + h / 4.0,
            scale(q1),
            cy - h / 2.0,
            (scale(q3) - scale(q1)).max(1.0),
            scale(med),
            cy - h / 2.0,
            scale(med),
            cy + h / 2.0,
            escape(s.label),
            thousands(med),
            thousands(q1),
            thousands(q3),
            thousands(s.values.iter().copied().fold(f64::INFINITY, f64::min)),
            thousands(s.values.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            c = s.color,
        );
        for v in s.values.iter().filter(|v| **v < lo || **v > hi) {
            let _ = write!(
                out,
                r#"<circle class="outlier" cx="{:.1}" cy="{cy:.1}" r="3" fill="none" stroke="{}"/>"#,
                scale(*v),
                s.color
            );
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    out
}

/// One model in the cost/pass-rate scatter.
#[derive(Debug)]
pub(crate) struct ScatterPoint<'a> {
    pub label: &'a str,
    pub color: &'a str,
    pub cost: f64,
    pub rate: f64,
    pub low: f64,
    pub high: f64,
}

/// Mean cost per sample (x; logarithmic when the costs span more than a factor of 20) against
/// pass rate (y) with its Wilson interval as a vertical whisker.
pub(crate) fn cost_scatter(id: &str, title: &str, points: &[ScatterPoint<'_>]) -> String {
    let height = 340.0;
    let (left, top, bottom) = (64.0, 16.0, height - 44.0);
    let right = WIDTH - 150.0;
    let min = points.iter().map(|p| p.cost).fold(f64::INFINITY, f64::min);
    let max = points.iter().map(|p| p.cost).fold(0.0, f64::max);
    let log = min > 0.0 && max / min > 20.0;
    let (ticks, scale): (Vec<f64>, Box<dyn Fn(f64) -> f64>) = if log {
        let lo = 10f64.powf(min.log10().floor());
        let hi = 10f64.powf(max.log10().ceil());
        let decades = (hi / lo).log10().round() as i32;
        let t = (0..=decades).map(|d| lo * 10f64.powi(d)).collect();
        (
            t,
            Box::new(move |c: f64| left + (c / lo).log10() / (hi / lo).log10() * (right - left)),
        )
    } else {
        let (t, end) = ticks(max * 1.1);
        (t, Box::new(move |c: f64| left + c / end * (right - left)))
    };
    let y = |r: f64| bottom - r * (bottom - top);
    let mut out = String::new();
    open(&mut out, id, height, title);
    for t in &ticks {
        let x = scale(*t);
        let _ = write!(
            out,
            r#"<line class="grid" x1="{x:.1}" y1="{top:.1}" x2="{x:.1}" y2="{bottom:.1}"/><text class="tick" x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            bottom + 14.0,
            format_usd_tick(*t)
        );
    }
    for r in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let _ = write!(
            out,
            r#"<line class="grid" x1="{left:.1}" y1="{yy:.1}" x2="{right:.1}" y2="{yy:.1}"/><text class="tick" x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            left - 6.0,
            y(r) + 4.0,
            percent(r),
            yy = y(r)
        );
    }
    let _ = write!(
        out,
        r#"<line class="axis" x1="{left:.1}" y1="{bottom:.1}" x2="{right:.1}" y2="{bottom:.1}"/><line class="axis" x1="{left:.1}" y1="{top:.1}" x2="{left:.1}" y2="{bottom:.1}"/><text class="axis-label" x="{:.1}" y="{:.1}" text-anchor="middle">mean cost per sample (USD{})</text><text class="axis-label" transform="translate(14 {:.1}) rotate(-90)" text-anchor="middle">pass rate</text>"#,
        (left + right) / 2.0,
        bottom + 34.0,
        if log { ", log scale" } else { "" },
        (top + bottom) / 2.0
    );
    for p in points {
        let (cx, cy) = (scale(p.cost), y(p.rate));
        let _ = write!(
            out,
            r#"<g class="point" data-series="{}"><line class="whisker" x1="{cx:.1}" y1="{:.1}" x2="{cx:.1}" y2="{:.1}" stroke="{c}"/><circle cx="{cx:.1}" cy="{cy:.1}" r="5" fill="{c}"/><text class="point-label" x="{:.1}" y="{:.1}">{}</text><title>{}: {} pass (95% CI {} to {}), {} USD per sample</title></g>"#,
            escape(p.label),
            y(p.low),
            y(p.high),
            cx + 8.0,
            cy - 6.0,
            escape(p.label),
            escape(p.label),
            percent(p.rate),
            percent(p.low),
            percent(p.high),
            format_usd_tick(p.cost),
            c = p.color
        );
    }
    out.push_str("</svg>");
    out
}

fn format_usd_tick(x: f64) -> String {
    if x == 0.0 {
        "0".into()
    } else if x >= 1.0 {
        format!("{x:.2}")
    } else {
        // Enough decimals for two significant digits.
        let digits = (-x.log10()).ceil() as usize + 1;
        format!("{x:.digits$}")
    }
}

/// One bar: a model's pass rate on one task.
#[derive(Debug)]
pub(crate) struct RateBar<'a> {
    pub group: &'a str,
    pub label: &'a str,
    pub color: &'a str,
    pub passed: u64,
    pub trials: u64,
    pub low: f64,
    pub high: f64,
}

/// Horizontal pass-rate bars grouped by task, each with its Wilson interval as a whisker.
pub(crate) fn rate_bars(id: &str, title: &str, bars: &[RateBar<'_>]) -> String {
    let names: Vec<String> = bars
        .iter()
        .map(|b| format!("{} · {}", b.group, b.label))
        .collect();
    let left = left_margin(names.iter().map(String::as_str), 0);
    let height = TOP + ROW * bars.len() as f64 + AXIS;
    let bottom = height - AXIS;
    let scale = |r: f64| left + r * (WIDTH - RIGHT - left);
    let mut out = String::new();
    open(&mut out, id, height, title);
    x_axis(
        &mut out,
        Frame {
            left,
            top: TOP,
            bottom,
        },
        &[0.0, 0.25, 0.5, 0.75, 1.0],
        &scale,
        &|t| percent(t),
        "pass rate (whiskers: 95% Wilson interval)",
    );
    for (i, (b, name)) in bars.iter().zip(&names).enumerate() {
        let cy = TOP + ROW * i as f64 + ROW / 2.0;
        let rate = if b.trials == 0 {
            0.0
        } else {
            b.passed as f64 / b.trials as f64
        };
        let h = ROW * 0.5;
        let _ = write!(
            out,
            r#"<g class="bar" data-series="{}"><text class="label" x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{left:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{c}" fill-opacity="0.7"/><line class="whisker" x1="{:.1}" y1="{cy:.1}" x2="{:.1}" y2="{cy:.1}"/><line class="whisker" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><line class="whisker" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/><text class="value" x="{:.1}" y="{:.1}">{}/{}</text><title>{}: {}/{} pass ({}, 95% CI {} to {})</title></g>"#,
            escape(b.label),
            left - 8.0,
            cy + 4.0,
            escape(name),
            cy - h / 2.0,
            (scale(rate) - left).max(0.5),
            scale(b.low),
            scale(b.high),
            scale(b.low),
            cy - 5.0,
            scale(b.low),
            cy + 5.0,
            scale(b.high),
            cy - 5.0,
            scale(b.high),
            cy + 5.0,
            (scale(b.high) + 6.0).min(WIDTH - RIGHT - 30.0),
            cy - 6.0,
            b.passed,
            b.trials,
            escape(name),
            b.passed,
            b.trials,
            percent(rate),
            percent(b.low),
            percent(b.high),
            c = b.color
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_ticks() {
        assert_eq!(
            ticks(17_272.0),
            (vec![0.0, 5000.0, 10000.0, 15000.0, 20000.0], 20000.0)
        );
        assert_eq!(ticks(0.9).1, 1.0);
        assert_eq!(ticks(0.0).1, 1.0);
    }

    #[test]
    fn labels_are_escaped() {
        let svg = box_plot(
            "x",
            "t",
            "ms",
            &[BoxSeries {
                label: "<b>evil</b>",
                color: PALETTE[0],
                values: &[1.0, 2.0, 3.0, 40.0],
            }],
        );
        assert!(svg.contains("&lt;b&gt;evil&lt;/b&gt;"), "{svg}");
        assert!(!svg.contains("<b>"), "{svg}");
        assert!(
            svg.contains(r#"class="outlier""#),
            "40 is beyond 1.5 IQR: {svg}"
        );
    }
}
