//! The results store as the operator meets it: a damaged file is never written to, and
//! commands that only read (or resume) create nothing.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use crate::{llmbench, text, write_config};

fn config(dir: &Path) -> std::path::PathBuf {
    let items: Vec<String> = (0..40)
        .map(|i| {
            format!(
                "{{ id = \"i{i:02}\", text = \"item {i} {}\" }}",
                "x".repeat(200)
            )
        })
        .collect();
    write_config(
        dir,
        &format!(
            "[providers.p]\nplugin = \"provider-testkit\"\nmodel = \"echo\"\n\n[tasks.t]\nprompt = \"{{{{text}}}}\"\nitems = [{}]\n",
            items.join(", ")
        ),
    )
}

#[test]
fn a_damaged_store_is_refused_by_run_and_resume_with_exit_4_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = llmbench(&["run", "--run-id", "first", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let path = dir.path().join("results/llmbench.sqlite");
    let len = std::fs::metadata(&path).unwrap().len();
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    // Deterministic garbage: a byte pattern no page header survives.
    let garbage: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    file.write_all(&garbage).unwrap();
    drop(file);
    let damaged = std::fs::read(&path).unwrap();

    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(stderr.contains(&path.display().to_string()), "{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert!(stderr.contains(".recover > dump.sql"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        damaged,
        "nothing was written"
    );
    let wal = dir.path().join("results/llmbench.sqlite-wal");
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()),
        0,
        "nor appended"
    );

    // `resume` checks the file beside parsing the run's stored inputs (not before): still
    // refused before anything is written.
    let out = llmbench(&["resume", "first", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(4), "{stdout}{stderr}");
    assert!(stderr.contains("damaged"), "{stderr}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        damaged,
        "resume wrote nothing"
    );
    assert_eq!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()),
        0,
        "nor appended"
    );

    let out = llmbench(&["runs", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
}

#[test]
fn resume_and_reads_in_an_empty_directory_create_nothing_and_name_where_they_looked() {
    let dir = tempfile::tempdir().unwrap();
    // Without --output-dir: the default `./llmbench-results` is not created.
    let out = llmbench(&["resume", "NOPE"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains("llmbench-results/llmbench.sqlite"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was created"), "{stderr}");
    let results = dir.path().join("results");
    for args in [
        &["resume", "NOPE", "--output-dir"][..],
        &["runs", "--output-dir"],
        &["export", "latest", "--output-dir"],
        &["report", "latest", "--output-dir"],
    ] {
        let out = llmbench(args).arg(&results).output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(
            stderr.contains(&results.join("llmbench.sqlite").display().to_string()),
            "{args:?}: {stderr}"
        );
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "nothing created"
    );
}

/// `llmbench ARGS` with a file-size limit of `kib` KiB (`ulimit -f`, SIGXFSZ ignored, so a
/// write past it fails with EFBIG as on a full disk).
fn limited(kib: u32, args: &[&str]) -> std::process::Output {
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            r#"trap '' XFSZ; ulimit -f {kib} && exec "$0" "$@""#
        ))
        .arg(crate::bin())
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn stored_status(dir: &Path) -> String {
    let out = llmbench(&["runs", "--output-dir"])
        .arg(dir.join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}{stderr}");
    stdout
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .find(|w| ["running", "finished", "interrupted", "failed"].contains(w))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_full_disk_leaves_a_consistent_status_after_run_and_resume_and_a_later_resume_finishes() {
    let dir = tempfile::tempdir().unwrap();
    let items: String = (0..300)
        .map(|i| {
            serde_json::json!({ "id": format!("i{i:03}"), "text": format!("item {i} {}", "y".repeat(300)) })
                .to_string()
                + "\n"
        })
        .collect();
    std::fs::write(dir.path().join("items.jsonl"), items).unwrap();
    let config = write_config(
        dir.path(),
        "[providers.p]\nplugin = \"provider-testkit\"\nmodel = \"echo\"\n\n[tasks.t]\nprompt = \"{{text}}\"\nitems-file = \"items.jsonl\"\n",
    );
    let config = config.to_str().unwrap();
    // The disk fills up part way: the run fails with the store's exit code, and what it
    // stored is marked as ended, not `running`.
    let out = limited(2000, &["run", "--config", config]);
    assert_eq!(out.status.code(), Some(4), "{:?}", text(&out));
    let first = stored_status(dir.path());
    assert!(
        ["failed", "interrupted"].contains(&first.as_str()),
        "{first}"
    );
    let run = llmbench(&["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let stored_before = String::from_utf8_lossy(&run.stdout).lines().count();
    assert!(stored_before > 0 && stored_before < 300, "{stored_before}");
    let run_id = {
        let line = String::from_utf8_lossy(&run.stdout)
            .lines()
            .next()
            .unwrap()
            .to_owned();
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        v["run_id"].as_str().unwrap().to_owned()
    };
    let results = dir.path().join("results");
    let results = results.to_str().unwrap();
    // A resume that hits the full disk again also ends with a consistent status.
    let out = limited(2000, &["resume", &run_id, "--output-dir", results]);
    assert_ne!(out.status.code(), Some(0), "{:?}", text(&out));
    let second = stored_status(dir.path());
    assert!(
        ["failed", "interrupted"].contains(&second.as_str()),
        "{second}"
    );
    // With room again, a resume finishes the run with every sample stored once.
    let out = llmbench(&["resume", &run_id, "--output-dir", results])
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    assert_eq!(stored_status(dir.path()), "finished");
    let out = llmbench(&[
        "export",
        &run_id,
        "--format",
        "jsonl",
        "--output-dir",
        results,
    ])
    .output()
    .unwrap();
    let ids: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["sample_id"].as_str().unwrap().to_owned()
        })
        .collect();
    let rows = String::from_utf8_lossy(&out.stdout).lines().count();
    assert_eq!((ids.len(), rows), (300, 300));
}
