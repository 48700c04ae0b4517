//! PromQL as dashboards and rules write it: Grafana variables replaced by placeholders, parsed
//! with `promql-parser`, and walked.

use std::time::Duration;

use llmbench_metrics::{MetricDef, MetricKind};
use promql_parser::label::MatchOp;
use promql_parser::parser::{self, Expr, LabelModifier};

/// What `$__rate_interval` becomes: a range no one would write, to recognise it after parsing.
pub const RATE_INTERVAL: Duration = Duration::from_secs(4242);
/// What `$__range` becomes.
pub const RANGE: Duration = Duration::from_secs(4343);

/// Replaces Grafana's range variables by placeholder durations. Variables inside quotes
/// (`=~"$model"`) are valid PromQL strings and stay; any other `$` is an error.
pub fn substitute(expr: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut in_string = false;
    let mut rest = expr;
    while let Some(c) = rest.chars().next() {
        if c == '"' {
            in_string = !in_string;
        }
        if c == '\\' && in_string {
            out.push_str(&rest[..2]);
            rest = &rest[2..];
            continue;
        }
        if c == '$' && !in_string {
            let (name, len) = if let Some(braced) = rest.strip_prefix("${") {
                let end = braced.find('}').ok_or("unclosed ${")?;
                (&braced[..end], end + 3)
            } else {
                let end = rest[1..]
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .map_or(rest.len(), |i| i + 1);
                (&rest[1..end], end)
            };
            let value = match name {
                "__rate_interval" => RATE_INTERVAL,
                "__range" => RANGE,
                other => return Err(format!("variable `${other}` outside a label matcher")),
            };
            out.push_str(&format!("{}s", value.as_secs()));
            rest = &rest[len..];
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(&substitute(expr)?).map_err(|e| format!("`{expr}` does not parse: {e}"))
}

/// Calls `f` with every node and its ancestors (nearest last).
pub fn walk<'a>(
    expr: &'a Expr,
    parents: &mut Vec<&'a Expr>,
    f: &mut dyn FnMut(&'a Expr, &[&'a Expr]),
) {
    f(expr, parents);
    parents.push(expr);
    match expr {
        Expr::Aggregate(a) => {
            walk(&a.expr, parents, f);
            if let Some(p) = &a.param {
                walk(p, parents, f);
            }
        }
        Expr::Unary(u) => walk(&u.expr, parents, f),
        Expr::Binary(b) => {
            walk(&b.lhs, parents, f);
            walk(&b.rhs, parents, f);
        }
        Expr::Paren(p) => walk(&p.expr, parents, f),
        Expr::Subquery(s) => walk(&s.expr, parents, f),
        Expr::Call(c) => {
            for arg in &c.args.args {
                walk(arg, parents, f);
            }
        }
        Expr::NumberLiteral(_)
        | Expr::StringLiteral(_)
        | Expr::VectorSelector(_)
        | Expr::MatrixSelector(_)
        | Expr::Extension(_) => {}
    }
    parents.pop();
}

/// A vector selector, bare or inside a range.
pub struct Selector<'a> {
    pub name: String,
    pub matchers: Vec<(&'a str, &'a MatchOp, &'a str)>,
    /// `Some(range)` inside a matrix selector.
    pub range: Option<Duration>,
    /// The ancestors, nearest last (a matrix selector's parent is the function using it).
    pub parents: Vec<&'a Expr>,
}

/// Every selector of an expression, with its metric name (from the name or `__name__`).
pub fn selectors(expr: &Expr) -> Vec<Selector<'_>> {
    let mut out = Vec::new();
    walk(expr, &mut Vec::new(), &mut |node, parents| {
        let (vs, range) = match node {
            Expr::VectorSelector(vs) => {
                if matches!(parents.last(), Some(Expr::MatrixSelector(_))) {
                    return;
                }
                (vs, None)
            }
            Expr::MatrixSelector(ms) => (&ms.vs, Some(ms.range)),
            _ => return,
        };
        let matchers: Vec<_> = vs
            .matchers
            .matchers
            .iter()
            .map(|m| (m.name.as_str(), &m.op, m.value.as_str()))
            .collect();
        let name = vs.name.clone().unwrap_or_else(|| {
            matchers
                .iter()
                .find(|(n, _, _)| *n == "__name__")
                .map(|(_, _, v)| (*v).to_owned())
                .unwrap_or_default()
        });
        out.push(Selector {
            name,
            matchers,
            range,
            parents: parents.to_vec(),
        });
    });
    out
}

/// The function a node is an argument of, if its parent is a call.
pub fn calling_function<'a>(parents: &[&'a Expr]) -> Option<&'a str> {
    match parents.last() {
        Some(Expr::Call(c)) => Some(c.func.name),
        _ => None,
    }
}

/// Checks every selector against the metrics table: the metric exists, the series suffix
/// fits its type, and every label matched is one of its labels (or a target label).
pub fn check_against_table(expr: &Expr, errors: &mut Vec<String>) {
    for s in selectors(expr) {
        let Some(def) = llmbench_metrics::table::find(&s.name) else {
            errors.push(format!("`{}` is not in the metrics table", s.name));
            continue;
        };
        check_labels(def, &s, errors);
        if def.kind == MetricKind::Histogram && s.name == def.name {
            errors.push(format!(
                "`{}` is a histogram: select `_bucket`, `_sum` or `_count`",
                s.name
            ));
        }
    }
}

/// Checks that every `by (...)` label exists on some metric the aggregation reads.
pub fn check_grouping(expr: &Expr, errors: &mut Vec<String>) {
    walk(expr, &mut Vec::new(), &mut |node, _| {
        let Expr::Aggregate(a) = node else { return };
        let Some(LabelModifier::Include(by)) = &a.modifier else {
            return;
        };
        let mut known: Vec<&str> = vec!["job", "instance"];
        for s in selectors(&a.expr) {
            if let Some(def) = llmbench_metrics::table::find(&s.name) {
                known.extend(def.labels.iter().copied());
                if s.name.ends_with("_bucket") {
                    known.push("le");
                }
            }
        }
        for label in &by.labels {
            if !known.contains(&label.as_str()) {
                errors.push(format!(
                    "`by ({label})` groups by a label no metric here has"
                ));
            }
        }
    });
}

fn check_labels(def: &MetricDef, s: &Selector<'_>, errors: &mut Vec<String>) {
    for (label, _, _) in &s.matchers {
        let known = def.labels.contains(label)
            || ["__name__", "job", "instance"].contains(label)
            || (*label == "le" && s.name.ends_with("_bucket"));
        if !known {
            errors.push(format!("`{}` has no label `{label}`", s.name));
        }
    }
}
