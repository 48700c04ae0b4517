//! The Grafana dashboards: valid JSON of a supported schema, only metrics from the table, and
//! grafana/dashboard-linter's rules (re-implemented here: the linter is Go only).
//!
//! Rules, by the linter's names: template-datasource-rule, template-job-rule,
//! template-label-promql-rule, template-on-time-change-reload-rule, panel-datasource-rule,
//! panel-title-description-rule, panel-units-rule, panel-no-targets-rule, target-promql-rule,
//! target-rate-interval-rule (stricter here: every range in `rate` and `irate` is
//! `$__rate_interval`, and in `increase` `$__rate_interval` or `$__range`),
//! target-job-rule, target-counter-agg-rule. The instance rules are excluded, with the
//! reason, in `dashboards/.lint`.

use std::path::PathBuf;

use promql_parser::label::MatchOp;
use serde_json::Value;

use crate::promql::{self, RANGE, RATE_INTERVAL};
use crate::{read, repo};

/// From Grafana's `valueFormats/categories.ts`, the units these dashboards may use.
const VALID_UNITS: &[&str] = &[
    "none",
    "short",
    "percent",
    "percentunit",
    "s",
    "ms",
    "µs",
    "ns",
    "m",
    "h",
    "d",
    "dtdurations",
    "currencyUSD",
    "reqps",
    "ops",
    "cps",
    "bool",
    "bool_yes_no",
    "dateTimeAsIso",
    "dateTimeFromNow",
    "bytes",
];

/// Panel types whose data source, title and units the linter checks.
const DATA_PANELS: &[&str] = &[
    "stat",
    "singlestat",
    "graph",
    "table",
    "timeseries",
    "gauge",
];

fn dashboards() -> Vec<(PathBuf, Value)> {
    let dir = repo().join("dashboards");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let json = serde_json::from_str(&read(&path))
                .unwrap_or_else(|e| panic!("{}: invalid JSON: {e}", path.display()));
            out.push((path, json));
        }
    }
    assert!(!out.is_empty(), "no dashboards in {}", dir.display());
    out
}

fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in dashboard["panels"].as_array().expect("panels") {
        out.push(p);
        // Collapsed rows keep their panels inside.
        for inner in p["panels"].as_array().into_iter().flatten() {
            out.push(inner);
        }
    }
    out
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// Every problem with one dashboard, as `panel: message` lines.
fn lint(d: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    let title = str_of(d, "title");
    let schema = d["schemaVersion"].as_u64().unwrap_or(0);
    if !(41..=42).contains(&schema) {
        errors.push(format!("schemaVersion {schema}: emit 41 or 42"));
    }
    let uid = str_of(d, "uid");
    if uid.is_empty() || uid.len() > 40 {
        errors.push(format!("uid `{uid}` must have 1 to 40 characters"));
    }
    if title.is_empty() {
        errors.push("no title".into());
    }
    let variables = d["templating"]["list"]
        .as_array()
        .cloned()
        .unwrap_or_default();

    // template-datasource-rule
    let datasources: Vec<&Value> = variables
        .iter()
        .filter(|v| v["type"] == "datasource")
        .collect();
    match datasources.as_slice() {
        [ds] => {
            if ds["name"] != "datasource" || ds["query"] != "prometheus" {
                errors.push("the data source variable must be `datasource`, for prometheus".into());
            }
            if !["Data source", "Data Source"].contains(&str_of(ds, "label")) {
                errors.push(format!(
                    "data source variable labelled `{}`, not `Data source`",
                    str_of(ds, "label")
                ));
            }
        }
        _ => errors.push(format!(
            "{} data source variables, expected one",
            datasources.len()
        )),
    }

    // template-job-rule, template-label-promql-rule, template-on-time-change-reload-rule
    let uses_datasource =
        |v: &Value| ["$datasource", "${datasource}"].contains(&str_of(&v["datasource"], "uid"));
    let job = variables.iter().find(|v| v["name"] == "job");
    match job {
        None => errors.push("no `job` variable".into()),
        Some(job) => {
            if job["type"] != "query"
                || job["label"] != "Job"
                || job["multi"] != true
                || job["allValue"] != ".+"
            {
                errors.push("the `job` variable must be a multi-select query labelled `Job` with allValue `.+`".into());
            }
        }
    }
    for v in variables.iter().filter(|v| v["type"] == "query") {
        let name = str_of(v, "name");
        if !uses_datasource(v) {
            errors.push(format!("variable `{name}` does not use `${{datasource}}`"));
        }
        if v["refresh"] != 2 {
            errors.push(format!(
                "variable `{name}` must refresh on time range change (refresh: 2)"
            ));
        }
        let query = v["query"]
            .as_str()
            .or_else(|| v["query"]["query"].as_str())
            .unwrap_or("");
        match query
            .strip_prefix("label_values(")
            .and_then(|q| q.strip_suffix(')'))
            .and_then(|q| q.rsplit_once(','))
        {
            None => errors.push(format!(
                "variable `{name}`: `{query}` is not label_values(selector, label)"
            )),
            Some((selector, label)) => match promql::parse(selector) {
                Err(e) => errors.push(format!("variable `{name}`: {e}")),
                Ok(expr) => {
                    promql::check_against_table(&expr, &mut errors);
                    let label = label.trim();
                    for s in promql::selectors(&expr) {
                        if let Some(def) = llmbench_metrics::table::find(&s.name)
                            && !def.labels.contains(&label)
                            && label != "job"
                        {
                            errors.push(format!(
                                "variable `{name}`: `{}` has no label `{label}`",
                                s.name
                            ));
                        }
                    }
                }
            },
        }
    }

    let mut ids = Vec::new();
    for p in panels(d) {
        let ptitle = str_of(p, "title");
        let ptype = str_of(p, "type");
        let at = format!("panel `{ptitle}`");
        ids.push(p["id"].as_u64().unwrap_or(0));
        let grid = &p["gridPos"];
        let (x, w) = (
            grid["x"].as_u64().unwrap_or(99),
            grid["w"].as_u64().unwrap_or(0),
        );
        if w == 0 || x + w > 24 || grid["h"].as_u64().unwrap_or(0) == 0 {
            errors.push(format!("{at}: gridPos out of the 24 columns"));
        }
        if ptype == "row" {
            continue;
        }
        if DATA_PANELS.contains(&ptype) {
            // panel-datasource-rule
            if !uses_datasource(p) {
                errors.push(format!("{at}: does not use the templated data source"));
            }
            // panel-title-description-rule
            if ptitle.is_empty() || str_of(p, "description").is_empty() {
                errors.push(format!("{at}: needs a title and a description"));
            }
            // panel-units-rule
            let unit = str_of(&p["fieldConfig"]["defaults"], "unit");
            if !VALID_UNITS.contains(&unit) {
                errors.push(format!("{at}: no or invalid unit `{unit}`"));
            }
        }
        // panel-no-targets-rule
        let targets = p["targets"].as_array().cloned().unwrap_or_default();
        if targets.is_empty() {
            errors.push(format!("{at}: no targets"));
        }
        for t in &targets {
            if !uses_datasource(t) {
                errors.push(format!(
                    "{at}: a target does not use the templated data source"
                ));
            }
            let expr = str_of(t, "expr");
            // target-promql-rule
            let parsed = match promql::parse(expr) {
                Ok(parsed) => parsed,
                Err(e) => {
                    errors.push(format!("{at}: {e}"));
                    continue;
                }
            };
            let mut found = Vec::new();
            promql::check_against_table(&parsed, &mut found);
            promql::check_grouping(&parsed, &mut found);
            for s in promql::selectors(&parsed) {
                // target-job-rule
                let has_job = s
                    .matchers
                    .iter()
                    .any(|(n, op, v)| *n == "job" && matches!(op, MatchOp::Re(_)) && *v == "$job");
                if !has_job {
                    found.push(format!("`{}` has no `job=~\"$job\"` matcher", s.name));
                }
                let function = promql::calling_function(&s.parents);
                // target-rate-interval-rule
                if let Some(range) = s.range {
                    let ok = match function {
                        Some("rate" | "irate") => range == RATE_INTERVAL,
                        Some("increase") => range == RATE_INTERVAL || range == RANGE,
                        _ => true,
                    };
                    if !ok {
                        found.push(format!(
                            "`{}`: {function:?} must use $__rate_interval",
                            s.name
                        ));
                    }
                }
                // target-counter-agg-rule
                if s.name.ends_with("_total")
                    && !(s.range.is_some()
                        && matches!(function, Some("rate" | "irate" | "increase")))
                {
                    found.push(format!(
                        "counter `{}` is not in rate, irate or increase",
                        s.name
                    ));
                }
            }
            errors.extend(found.into_iter().map(|e| format!("{at}: {e}")));
        }
    }
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != ids.len() || ids.contains(&0) {
        errors.push("panel ids must be unique and non-zero".into());
    }
    errors
}

#[test]
fn dashboards_pass_the_linter_rules_and_name_only_known_metrics() {
    for (path, d) in dashboards() {
        let errors = lint(&d);
        assert!(
            errors.is_empty(),
            "{}:\n  {}",
            path.display(),
            errors.join("\n  ")
        );
    }
}

#[test]
fn the_dashboard_has_the_panels_the_issue_asks_for() {
    let (_, d) = dashboards()
        .into_iter()
        .find(|(p, _)| p.ends_with("llmbench.json"))
        .unwrap();
    let exprs: Vec<String> = panels(&d)
        .iter()
        .flat_map(|p| p["targets"].as_array().cloned().unwrap_or_default())
        .map(|t| str_of(&t, "expr").to_owned())
        .collect();
    let uses = |metric: &str| exprs.iter().any(|e| e.contains(metric));
    for metric in [
        "llmbench_request_duration_seconds_bucket",
        "llmbench_time_to_first_token_seconds_bucket",
        "llmbench_output_tokens_per_second_bucket",
        "llmbench_tokens_total",
        "llmbench_sweep_tokens",
        "llmbench_cost_usd_total",
        "llmbench_sweep_cost_usd",
        "llmbench_samples_total",
        "llmbench_sweep_pass_ratio",
        "llmbench_request_errors_total",
        "llmbench_request_retries_total",
        "llmbench_last_success_timestamp_seconds",
        "llmbench_grader_cost_usd_total",
        "llmbench_grader_tokens_total",
    ] {
        assert!(uses(metric), "no panel shows {metric}");
    }
    assert!(exprs.iter().any(|e| e.contains("histogram_quantile(0.5,")));
    assert!(exprs.iter().any(|e| e.contains("histogram_quantile(0.95,")));
    // Two provider entries of one model are two lines, never merged: whatever groups or
    // filters by model does so by provider entry too.
    for p in panels(&d) {
        for t in p["targets"].as_array().cloned().unwrap_or_default() {
            let (expr, legend) = (str_of(&t, "expr"), str_of(&t, "legendFormat"));
            let groups = expr
                .split("by (")
                .skip(1)
                .map(|g| g.split(')').next().unwrap());
            for g in groups {
                assert!(
                    !g.contains("gen_ai_request_model") || g.contains("provider"),
                    "{expr}: groups by model but not by provider entry"
                );
            }
            assert!(
                !expr.contains("$model") || expr.contains(r#"provider=~"$provider""#),
                "{expr}: filters by $model but not by $provider"
            );
            assert!(
                !legend.contains("{{gen_ai_request_model}}") || legend.contains("{{provider}}"),
                "{legend}: names the model but not the provider entry"
            );
        }
    }
    for name in ["model", "provider", "task"] {
        assert!(
            d["templating"]["list"]
                .as_array()
                .unwrap()
                .iter()
                .any(|v| v["name"] == name)
        );
    }
}

/// The linter rules catch what they should (a rule that cannot fail checks nothing).
#[test]
fn the_rules_catch_mistakes() {
    let (_, good) = dashboards().into_iter().next().unwrap();
    let first_data_panel = |d: &mut Value| -> usize {
        d["panels"]
            .as_array()
            .unwrap()
            .iter()
            .position(|p| p["type"] == "timeseries")
            .unwrap()
    };
    type Breakage = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, Breakage)> = vec![
        (
            "rate without $__rate_interval",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["targets"][0]["expr"] =
                    "sum(rate(llmbench_samples_total{job=~\"$job\"}[5m]))".into();
            }),
        ),
        (
            "unknown metric",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["targets"][0]["expr"] = "llmbench_nope{job=~\"$job\"}".into();
            }),
        ),
        (
            "raw counter",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["targets"][0]["expr"] =
                    "llmbench_cost_usd_total{job=~\"$job\"}".into();
            }),
        ),
        (
            "missing job matcher",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["targets"][0]["expr"] = "llmbench_sweep_cost_usd".into();
            }),
        ),
        (
            "unknown label",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["targets"][0]["expr"] =
                    "sum by (model) (llmbench_sweep_cost_usd{job=~\"$job\"})".into();
            }),
        ),
        (
            "bad unit",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["fieldConfig"]["defaults"]["unit"] = "tokens".into();
            }),
        ),
        (
            "no description",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["description"] = "".into();
            }),
        ),
        (
            "fixed data source",
            Box::new(move |d: &mut Value| {
                let i = first_data_panel(d);
                d["panels"][i]["datasource"]["uid"] = "prometheus".into();
            }),
        ),
        (
            "old schema",
            Box::new(|d: &mut Value| d["schemaVersion"] = 39.into()),
        ),
        (
            "no data source variable",
            Box::new(|d: &mut Value| {
                d["templating"]["list"]
                    .as_array_mut()
                    .unwrap()
                    .retain(|v| v["type"] != "datasource");
            }),
        ),
    ];
    for (what, break_it) in cases {
        let mut d = good.clone();
        break_it(&mut d);
        assert!(!lint(&d).is_empty(), "the rules missed: {what}");
    }
}
