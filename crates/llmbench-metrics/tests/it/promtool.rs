//! `promtool` (Debian's `prometheus` package) on the exposition, the rules and the scrape
//! config. Missing `promtool` is a failure, not a skip.

use std::io::Write as _;
use std::process::{Command, Stdio};

use llmbench_metrics::{METRICS, MetricKind, Metrics};

use crate::repo;

fn promtool() -> Command {
    let found = Command::new("promtool")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "promtool is not installed: run scripts/install-deps.sh metrics"
    );
    Command::new("promtool")
}

/// Every metric with a series, as the registry renders it.
fn populated() -> String {
    let m = Metrics::new();
    for def in &METRICS {
        let labels: Vec<&str> = def.labels.iter().map(|_| "v").collect();
        match def.kind {
            MetricKind::Counter => m.add(def.id, &labels, 3.0),
            MetricKind::Gauge => m.set(def.id, &labels, 0.25),
            MetricKind::Histogram => {
                for x in [0.001, 0.7, 5.0, 1e6] {
                    m.observe(def.id, &labels, x);
                }
            }
        }
    }
    m.render()
}

#[test]
fn promtool_check_metrics_passes_on_the_exposition() {
    let text = populated();
    let mut child = promtool()
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What promtool does not check (it passes a histogram without `+Inf`): every histogram has
/// a `+Inf` bucket equal to its `_count`, and no label name has a dot.
#[test]
fn histograms_end_in_an_inf_bucket_equal_to_the_count() {
    let text = populated();
    for def in METRICS.iter().filter(|d| d.kind == MetricKind::Histogram) {
        let value = |prefix: &str| -> f64 {
            let line = text
                .lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("no line {prefix}"));
            line.rsplit(' ').next().unwrap().parse().unwrap()
        };
        let inf = text
            .lines()
            .find(|l| l.starts_with(&format!("{}_bucket", def.name)) && l.contains("le=\"+Inf\""))
            .unwrap_or_else(|| panic!("{}: no +Inf bucket", def.name));
        let inf: f64 = inf.rsplit(' ').next().unwrap().parse().unwrap();
        assert_eq!(inf, value(&format!("{}_count", def.name)), "{}", def.name);
        assert_eq!(inf, 4.0);
    }
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let labels = line.split_once('{').map_or("", |(_, rest)| rest);
        for pair in labels.split(',') {
            let name = pair.split('=').next().unwrap();
            assert!(!name.contains('.'), "{line}");
        }
    }
}

#[test]
fn promtool_checks_the_rules_and_the_scrape_config() {
    let dir = repo().join("dashboards");
    for args in [
        ["check", "rules", "alerts.yml"],
        ["check", "config", "prometheus.yml"],
    ] {
        let out = promtool().args(args).current_dir(&dir).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {}: {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
