//! The results dashboards' SQL (`dashboards/results/*.json`): every variable and panel query,
//! with Grafana's macros and variables filled in as Grafana fills them, runs against a
//! PostgreSQL store holding a real run (two models, passes, failures and an error) and
//! returns what the panel promises.

use std::path::Path;
use std::process::Command;

use llmbench_testsupport::postgres::{PgServer, server_bin};

use crate::{llmbench, text, write_config};

/// Grafana's `$__timeFilter(expr)` for PostgreSQL, over a range that holds every run.
fn expand_time_filter(sql: &str) -> String {
    let mut out = String::new();
    let mut rest = sql;
    while let Some(at) = rest.find("$__timeFilter(") {
        out.push_str(&rest[..at]);
        let after = &rest[at + "$__timeFilter(".len()..];
        // The argument ends at the parenthesis that closes the macro's.
        let mut depth = 1;
        let end = after
            .char_indices()
            .find(|&(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map(|(i, _)| i)
            .expect("`$__timeFilter(` is closed");
        out.push_str(&format!(
            "{} BETWEEN '2000-01-01T00:00:00Z' AND '2100-01-01T00:00:00Z'",
            &after[..end]
        ));
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Runs `sql` with psql; its rows, tab-separated. Fails the test with the query and the
/// server's message when it fails.
fn query(url: &str, sql: &str) -> Vec<String> {
    let out = Command::new(server_bin().join("psql"))
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-F",
            "\t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .expect("run psql");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "query failed: {stderr}\n{sql}");
    stdout.lines().map(str::to_owned).collect()
}

fn quoted(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("'{}'", v.replace('\'', "''")))
        .collect::<Vec<_>>()
        .join(",")
}

#[test]
fn every_results_dashboard_query_runs_on_a_postgres_store() {
    let pg = PgServer::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<String> = (0..6)
        .map(|i| format!("{{ id = \"i{i}\", text = \"item {i}\" }}"))
        .chain(std::iter::once(
            "{ id = \"broken\", text = \"FAIL=bad_request\" }".to_owned(),
        ))
        .collect();
    let config = write_config(
        dir.path(),
        &format!(
            r#"[providers.small]
plugin = "provider-testkit"
model = "echo-small"
[providers.large]
plugin = "provider-testkit"
model = "echo-large"

[tasks.parity]
prompt = "{{{{text}}}}"
items = [{}]
[[tasks.parity.graders]]
plugin = "grader-regex"
options = {{ pattern = "[024]$" }}
"#,
            items.join(", ")
        ),
    );
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .args(["--store", &url])
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(
        query(&url, "SELECT count(*) FROM samples"),
        ["14"],
        "the run stored its 14 samples: {stderr}"
    );

    let dashboards = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../dashboards/results");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dashboards).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let d: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.display().to_string();
        // Variables first: their values fill the panels' `${name:sqlstring}`.
        let mut values = Vec::new();
        for v in d["templating"]["list"].as_array().unwrap() {
            if v["type"] != "query" {
                continue;
            }
            let var = v["name"].as_str().unwrap();
            let rows = query(&url, v["query"].as_str().unwrap());
            assert!(!rows.is_empty(), "{name}: variable `{var}` has no values");
            values.push((format!("${{{var}:sqlstring}}"), quoted(&rows)));
            checked += 1;
        }
        for panel in d["panels"].as_array().unwrap() {
            let title = panel["title"].as_str().unwrap();
            for target in panel["targets"].as_array().unwrap() {
                let mut sql = expand_time_filter(target["rawSql"].as_str().unwrap());
                for (var, list) in &values {
                    sql = sql.replace(var, list);
                }
                assert!(
                    !sql.contains('$'),
                    "{name}: panel `{title}`: a macro or variable the test does not fill: {sql}"
                );
                let rows = query(&url, &sql);
                assert!(!rows.is_empty(), "{name}: panel `{title}` returns no rows");
                match title {
                    "Latest pass rate per model and task" => {
                        // Two models, each 6 graded samples of which 3 pass, and 1 error.
                        assert_eq!(rows.len(), 2, "{rows:?}");
                        for row in &rows {
                            let f: Vec<&str> = row.split('\t').collect();
                            assert_eq!(&f[4..], ["6", "3", "0.50000000000000000000", "1"], "{row}");
                        }
                    }
                    "Most recent failures" => {
                        // Per model: 3 failed the grader, 1 ended in an error.
                        assert_eq!(rows.len(), 8, "{rows:?}");
                        assert!(
                            rows.iter().any(|r| r.contains("error: bad_request")),
                            "{rows:?}"
                        );
                        assert!(rows.iter().any(|r| r.contains("grader-regex")), "{rows:?}");
                    }
                    _ => {}
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 7, "only {checked} queries found");
}
