//! The spend cap: refused before the run when the estimate is over it, and a clean stop when
//! a run reaches it.

use crate::{export_jsonl, llmbench, text, write_config};

/// Ten items at 1 USD per token: each echo answer costs a few dollars.
fn config(dir: &std::path::Path) -> std::path::PathBuf {
    let items: Vec<String> = (0..10)
        .map(|i| format!("{{ id = \"i{i}\", text = \"item {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = 1
max-cost-usd = 20.0

[providers.echo]
plugin = "provider-testkit"
model = "echo-priced"
price = {{ input-per-mtok = 1000000.0, output-per-mtok = 1000000.0 }}

[tasks.t]
prompt = "{{{{text}}}}"
max-tokens = 64
items = [{}]
"#,
            items.join(", ")
        ),
    )
}

#[test]
fn an_estimate_over_the_cap_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("over `max-cost-usd` = 20 USD"), "{stderr}");
    assert!(stderr.contains("--allow-over-budget"), "{stderr}");
    assert!(
        !dir.path().join("results/llmbench.sqlite").exists(),
        "nothing was started"
    );
}

#[test]
fn reaching_the_cap_stops_cleanly_and_keeps_what_finished() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = llmbench(&["run", "--allow-over-budget", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(
        stdout.contains("spend cap of 20.00000 USD reached"),
        "{stdout}"
    );
    let rows = export_jsonl(dir.path(), "latest");
    assert!(
        !rows.is_empty() && rows.len() < 10,
        "{} samples stored",
        rows.len()
    );
    let spent: f64 = rows.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    // With one sample in flight at a time, the run stops at the first sample that reaches the cap.
    let last: f64 = rows
        .iter()
        .map(|r| r["cost_usd"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert!(spent >= 20.0 && spent < 20.0 + last + 1e-9, "spent {spent}");
    let runs = llmbench(&["runs", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (runs, _) = text(&runs);
    assert!(runs.contains("interrupted"), "{runs}");
}

#[test]
fn a_resumed_run_counts_what_it_spent_before_against_the_cap() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = llmbench(&[
        "run",
        "--run-id",
        "capped",
        "--allow-over-budget",
        "--config",
    ])
    .arg(&config)
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(6), "{:?}", text(&out));
    let before = export_jsonl(dir.path(), "capped").len();
    assert!((1..10).contains(&before), "{before} samples stored");
    // The earlier invocation reached the cap: resuming starts no new sample.
    let out = llmbench(&["resume", "capped", "--allow-over-budget", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stdout}{stderr}");
    assert!(
        stdout.contains("spend cap of 20.00000 USD reached"),
        "{stdout}"
    );
    assert_eq!(export_jsonl(dir.path(), "capped").len(), before);
}
