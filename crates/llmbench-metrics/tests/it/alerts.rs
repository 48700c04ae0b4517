//! The alert rules and the Prometheus and Grafana provisioning files.

use yaml_rust2::{Yaml, YamlLoader};

use crate::promql;
use crate::{read, repo};

fn yaml(name: &str) -> Yaml {
    let path = repo().join(name);
    let mut docs = YamlLoader::load_from_str(&read(&path))
        .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
    assert_eq!(docs.len(), 1, "{}", path.display());
    docs.remove(0)
}

/// `(alert name, expr)` of every rule in `dashboards/alerts.yml`.
pub fn alert_rules() -> Vec<(String, Yaml)> {
    let doc = yaml("dashboards/alerts.yml");
    let mut out = Vec::new();
    for group in doc["groups"].as_vec().expect("groups") {
        for rule in group["rules"].as_vec().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .expect("alerting rules only")
                .to_owned();
            out.push((name, rule.clone()));
        }
    }
    out
}

#[test]
fn alert_rules_name_only_known_metrics() {
    let rules = alert_rules();
    let mut errors = Vec::new();
    for (name, rule) in &rules {
        let expr = rule["expr"].as_str().expect("expr");
        match promql::parse(expr) {
            Err(e) => errors.push(format!("{name}: {e}")),
            Ok(parsed) => {
                let mut found = Vec::new();
                promql::check_against_table(&parsed, &mut found);
                promql::check_grouping(&parsed, &mut found);
                errors.extend(found.into_iter().map(|e| format!("{name}: {e}")));
            }
        }
        if expr.contains('$') {
            errors.push(format!("{name}: Grafana variables have no place in a rule"));
        }
        for key in ["summary", "description"] {
            if rule["annotations"][key].as_str().is_none_or(str::is_empty) {
                errors.push(format!("{name}: no {key} annotation"));
            }
        }
        if rule["labels"]["severity"].as_str().is_none() || rule["for"].as_str().is_none() {
            errors.push(format!("{name}: needs a severity label and a `for`"));
        }
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let names: Vec<&str> = rules.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "LlmbenchSweepStalled",
            "LlmbenchPassRateDropped",
            "LlmbenchLatencyRising",
            "LlmbenchCostPerSweepRising"
        ]
    );
}

#[test]
fn prometheus_config_scrapes_serve_and_the_pushgateway() {
    let doc = yaml("dashboards/prometheus.yml");
    assert_eq!(doc["rule_files"][0].as_str(), Some("alerts.yml"));
    let jobs = doc["scrape_configs"].as_vec().unwrap();
    let target = |i: usize| jobs[i]["static_configs"][0]["targets"][0].as_str().unwrap();
    assert_eq!(target(0), llmbench_config::DEFAULT_METRICS_ADDRESS);
    assert_eq!(jobs[1]["honor_labels"].as_bool(), Some(true));
    assert_eq!(target(1), "127.0.0.1:9091");
}

#[test]
fn grafana_provisioning_points_at_prometheus_and_the_dashboards() {
    let ds = yaml("dashboards/provisioning/datasources/prometheus.yaml");
    let ds = &ds["datasources"][0];
    assert_eq!(ds["type"].as_str(), Some("prometheus"));
    assert_eq!(ds["uid"].as_str(), Some("prometheus"));
    assert_eq!(ds["url"].as_str(), Some("http://127.0.0.1:9090"));
    let dashboards = yaml("dashboards/provisioning/dashboards/llmbench.yaml");
    let provider = &dashboards["providers"][0];
    assert_eq!(provider["type"].as_str(), Some("file"));
    assert!(provider["options"]["path"].as_str().is_some());
}
