//! Crash safety: a writer killed with SIGKILL mid-stream leaves only whole samples.
//!
//! The parent test re-runs this test binary as a child that executes only
//! [`writer_loop`] with [`CHILD_ENV`] set; the child records samples as fast as it can until
//! the parent kills it.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llmbench_core::SampleRecord;
use llmbench_store::{AttemptRecord, RunStatus, STORE_FILE_NAME, Store};

use crate::common::*;

const CHILD_ENV: &str = "LLMBENCH_STORE_TEST_CRASH_WRITER";
const RUN: &str = "crash";

/// Sample `i` of the crash run: sizes, grade counts and attempt counts vary with `i`, and some
/// texts span several database pages so a kill often lands inside a transaction.
fn crash_record(i: u64) -> SampleRecord {
    let provider = if i.is_multiple_of(2) { "zeta" } else { "alpha" };
    let mut record = full_record(key("t2", &format!("item-{i:06}"), provider, 0));
    record.grades.truncate((i % 4) as usize);
    record.attempts = (i % 3) as u32 + 1;
    let completion = record.completion.as_mut().unwrap();
    completion.text = format!(
        "answer {i}: {}",
        "lorem, \"ipsum\"\n".repeat((i % 7 * 300) as usize)
    );
    record
}

fn crash_attempts(i: u64) -> Vec<AttemptRecord> {
    attempts((i % 3) as usize + 1)
}

fn write_samples(store: &mut Store, from: u64, until: impl Fn(u64) -> bool) -> u64 {
    let mut i = from;
    while !until(i) {
        store
            .record_sample(RUN, &crash_record(i), &crash_attempts(i))
            .unwrap();
        i += 1;
    }
    i
}

/// Checks that the store holds exactly samples `0..n`, each whole, and returns `n`.
fn verify(path: &Path) -> u64 {
    let store = Store::open(path).unwrap();
    let conn = raw(path);
    let integrity: String = conn
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
    let orphans = conn
        .prepare("PRAGMA foreign_key_check")
        .unwrap()
        .query_map([], |_| Ok(()))
        .unwrap()
        .count();
    assert_eq!(orphans, 0, "rows without their sample");

    let samples: BTreeMap<String, SampleRecord> = store
        .report(RUN)
        .unwrap()
        .samples
        .into_iter()
        .map(|s| (s.key.item.clone(), s))
        .collect();
    let n = samples.len() as u64;
    let mut grades = 0;
    let mut attempt_rows = 0;
    for (i, (item, sample)) in samples.iter().enumerate() {
        let i = i as u64;
        assert_eq!(item, &format!("item-{i:06}"), "samples 0..{n} without gaps");
        assert_eq!(sample, &crash_record(i), "sample {i} is whole");
        assert_eq!(
            store.attempts(RUN, sample.key.id()).unwrap(),
            crash_attempts(i)
        );
        grades += sample.grades.len() as i64;
        attempt_rows += crash_attempts(i).len() as i64;
    }
    assert_eq!(count(&conn, "SELECT count(*) FROM completions"), n as i64);
    assert_eq!(count(&conn, "SELECT count(*) FROM grades"), grades);
    assert_eq!(count(&conn, "SELECT count(*) FROM attempts"), attempt_rows);
    n
}

/// In a child process (with [`CHILD_ENV`] set): writes until killed. As a plain test: writes
/// a few samples and checks they read back whole.
#[test]
fn writer_loop() {
    if let Some(path) = std::env::var_os(CHILD_ENV) {
        let mut store = Store::open(Path::new(&path)).unwrap();
        let _claim = store.claim_run(RUN).unwrap();
        // Resume after what earlier writers left, as a resumed run would.
        let from = store.finished_sample_ids(RUN).unwrap().len() as u64;
        let started = Instant::now();
        // Bounded, so an orphaned child cannot run forever.
        write_samples(&mut store, from, |_| {
            started.elapsed() > Duration::from_secs(120)
        });
        panic!("the parent test never killed this writer");
    }
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store
        .create_run(&new_run(RUN, "2026-11-28T07:14:01.000Z"))
        .unwrap();
    write_samples(&mut store, 0, |i| i == 40);
    assert_eq!(verify(store.path()), 40);
}

/// Runs a child writer until at least `at_least` samples are stored, then kills it.
fn kill_a_writer_after(path: &Path, at_least: i64) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "crash::writer_loop",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let conn = raw(path);
    let deadline = Instant::now() + Duration::from_secs(120);
    while count(&conn, "SELECT count(*) FROM samples") < at_least {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the writer exited by itself: {status}");
        }
        assert!(Instant::now() < deadline, "the writer is too slow");
        std::thread::sleep(Duration::from_millis(5));
    }
    let reader = Store::open_existing(path).unwrap();
    assert!(reader.run_is_held(RUN), "the live writer holds its run");
    drop(reader);
    child.kill().unwrap(); // SIGKILL on Unix: no destructor, no rollback, no flush
    let status = child.wait().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "{status}");
    }
    #[cfg(not(unix))]
    assert!(!status.success());
}

#[test]
fn a_killed_writer_leaves_only_whole_samples() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE_NAME);
    Store::open(&path)
        .unwrap()
        .create_run(&new_run(RUN, "2026-11-28T07:14:01.000Z"))
        .unwrap();

    // Three writers in turn, each killed while writing; each resumes where the last stopped.
    let mut n = 0;
    for round in 1..=3 {
        kill_a_writer_after(&path, round * 100);
        // Stored `running` by a process that is gone: read as interrupted, recorded so by
        // the next writer (verify opens it for writing).
        let reader = Store::open_existing(&path).unwrap();
        assert_eq!(reader.run(RUN).unwrap().status, RunStatus::Interrupted);
        assert!(!reader.run_is_held(RUN));
        drop(reader);
        let after = verify(&path);
        assert_eq!(stored_status(&path, RUN), "interrupted");
        assert!(after >= n.max(round as u64 * 100), "round {round}: {after}");
        n = after;
    }

    // The store keeps working after the crashes.
    let mut store = Store::open(&path).unwrap();
    write_samples(&mut store, n, |i| i == n + 3);
    drop(store);
    assert_eq!(verify(&path), n + 3);
}
