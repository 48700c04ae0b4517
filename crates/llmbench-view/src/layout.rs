//! The page shell (head, bar, breadcrumbs) and the small pieces every page uses. Every piece
//! of stored text goes through [`esc`].

use llmbench_report::format::{percent, usd};
use llmbench_store::{RunStatus, RunTotals};

use crate::assets::{SCRIPT_PATH, STYLE_PATH};

/// HTML-escaped text (element content and quoted attributes): the report's own escaping.
pub(crate) fn esc(text: &str) -> String {
    llmbench_report::html::escape(text)
}

/// The `<head>` lines this app adds to a page: its style sheet, its script and an empty
/// icon (so the browser asks for no `/favicon.ico`).
pub(crate) fn head_links() -> String {
    format!(
        r#"<link rel="icon" href="data:,"><link rel="stylesheet" href="{STYLE_PATH}"><script src="{SCRIPT_PATH}" defer></script>"#
    )
}

/// The bar at the top of every page: home, then `crumbs` (already-escaped HTML pieces).
pub(crate) fn bar(crumbs: &[String]) -> String {
    let mut out =
        r#"<nav class="view-bar"><a class="brand" href="/">llmbench view</a><span class="crumbs">"#
            .to_owned();
    for c in crumbs {
        out.push_str(c);
        out.push(' ');
    }
    out.push_str(r#"</span></nav>"#);
    out
}

/// A whole page: `title` (plain text), the bar with `crumbs`, then `body` (HTML).
pub(crate) fn page(title: &str, crumbs: &[String], body: &str) -> String {
    format!(
        r#"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{} · llmbench view</title>
{}
</head>
<body>
{}
<main>
{body}
</main>
</body>
</html>
"#,
        esc(title),
        head_links(),
        bar(crumbs)
    )
}

/// `<a href="...">text</a>` with both escaped.
pub(crate) fn a(href: &str, text: &str) -> String {
    format!(r#"<a href="{}">{}</a>"#, esc(href), esc(text))
}

/// A run's status as people read it: a stop by the spend cap is said so.
pub(crate) fn status_text(status: RunStatus, reason: Option<&str>) -> (&'static str, String) {
    match (status, reason) {
        (RunStatus::Interrupted, Some(r)) if r.starts_with("spend cap of") => {
            ("spend-cap", "stopped by the spend cap".to_owned())
        }
        (status, _) => (status.as_str(), status.as_str().to_owned()),
    }
}

/// `12/40` or `12/40, 1 error`.
pub(crate) fn samples_text(t: &RunTotals) -> String {
    let errors = match t.errors {
        0 => String::new(),
        1 => ", 1 error".to_owned(),
        n => format!(", {n} errors"),
    };
    format!("{}/{}{errors}", t.recorded(), t.planned)
}

/// `75% (30/40)`, or `-` when nothing was graded.
pub(crate) fn pass_text(t: &RunTotals) -> String {
    match t.pass_rate() {
        Some(rate) => format!("{} ({}/{})", percent(rate), t.passed, t.graded),
        None => "-".to_owned(),
    }
}

/// The run's total cost in USD, or `unknown`.
pub(crate) fn cost_text(t: &RunTotals) -> String {
    t.cost_usd
        .map_or_else(|| "unknown".to_owned(), |c| format!("{} USD", usd(c)))
}

/// The JSON a progress poll returns: the fields pages show, already formatted.
pub(crate) fn progress_json(status: RunStatus, reason: Option<&str>, t: &RunTotals) -> String {
    serde_json::json!({
        "status": status.as_str(),
        "status_text": status_text(status, reason).1,
        "recorded": t.recorded(),
        "planned": t.planned,
        "samples": samples_text(t),
        "pass": pass_text(t),
        "cost": cost_text(t),
    })
    .to_string()
}

/// `pass`, `fail`, `error` (no answer) or `ungraded`, with its CSS class.
pub(crate) fn verdict_of(verdict: Option<bool>, error: bool) -> &'static str {
    match (verdict, error) {
        (Some(true), _) => "pass",
        (Some(false), _) => "fail",
        (None, true) => "error",
        (None, false) => "ungraded",
    }
}

/// Seconds as milliseconds with separators, or `-`.
pub(crate) fn ms(seconds: Option<f64>) -> String {
    seconds.map_or_else(
        || "-".to_owned(),
        |s| llmbench_report::format::thousands(s * 1000.0),
    )
}
