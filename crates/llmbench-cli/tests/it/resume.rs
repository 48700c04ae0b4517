//! Interruption: kill -9 mid-sweep then resume; Ctrl-C stops cleanly.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{export_jsonl, llmbench, text, write_config};

const ITEMS: usize = 16;

fn config(dir: &Path, counter: &Path) -> std::path::PathBuf {
    let items: Vec<String> = (0..ITEMS)
        .map(|i| format!("{{ id = \"i{i:02}\", text = \"item {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = 2

[providers.slow]
plugin = "provider-testkit"
model = "echo-slow"
[providers.slow.options]
fixed-latency-ms = 250
counter-file = "{}"

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]
"#,
            counter.display(),
            items.join(", ")
        ),
    )
}

/// How many times each item was requested, from the provider's own log of calls.
fn requests(counter: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(counter).unwrap_or_default().lines() {
        let item = line.split('\t').nth(1).unwrap().to_owned();
        *counts.entry(item).or_default() += 1;
    }
    counts
}

fn stored_items(dir: &Path) -> Vec<String> {
    export_jsonl(dir, "latest")
        .iter()
        .map(|r| r["item"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn resume_after_kill_9_loses_and_repeats_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("calls.tsv");
    let config = config(dir.path(), &counter);
    let mut child = llmbench(&["run", "--config"]).arg(&config).spawn().unwrap();

    // Wait until a few samples are stored, then kill the runner without warning.
    let store = dir.path().join("results/llmbench.sqlite");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            Instant::now() < deadline,
            "the run did not store 4 samples in time"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        if store.exists() && requests(&counter).len() >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let before: Vec<String> = stored_items(dir.path());
    assert!(
        !before.is_empty() && before.len() < ITEMS,
        "killed mid-sweep: {} stored",
        before.len()
    );
    let run_id = export_jsonl(dir.path(), "latest")[0]["run_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = llmbench(&["resume", &run_id, "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("{ITEMS}/{ITEMS} samples")),
        "{stdout}"
    );

    let after = stored_items(dir.path());
    assert_eq!(after.len(), ITEMS, "every sample stored exactly once");
    let mut unique = after.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ITEMS);
    let counts = requests(&counter);
    for item in &before {
        assert_eq!(
            counts[item], 1,
            "{item} finished before the kill and must not be requested again"
        );
    }
    for item in &after {
        assert!(counts[item] <= 2, "{item} requested {} times", counts[item]);
    }
}

#[test]
fn ctrl_c_stops_cleanly_and_marks_the_run_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("calls.tsv");
    let config = config(dir.path(), &counter);
    let child = llmbench(&["run", "--config"])
        .arg(&config)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests(&counter).len() < 3 {
        assert!(Instant::now() < deadline, "the run did not start in time");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(interrupted)"), "{stdout}");
    assert!(stdout.contains("Resume with: llmbench resume"), "{stdout}");
    let stored = stored_items(dir.path());
    assert!(
        !stored.is_empty() && stored.len() < ITEMS,
        "{} stored",
        stored.len()
    );
}
