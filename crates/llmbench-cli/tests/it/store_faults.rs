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
fn a_damaged_store_is_refused_by_run_with_exit_4_and_nothing_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path());
    let out = llmbench(&["run", "--config"])
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
