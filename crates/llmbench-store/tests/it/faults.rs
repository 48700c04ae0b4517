//! Real faults: a damaged file, a writer that dies or cannot write, and the WAL's size.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use llmbench_store::{RunStatus, STORE_FILE_NAME, Store, StoreError};

use crate::common::*;

/// A store with run `r1` holding `n` finished samples, checkpointed and closed.
fn filled_store(dir: &Path, n: usize) -> std::path::PathBuf {
    let mut store = Store::open_in_dir(dir).unwrap();
    store
        .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    for i in 0..n {
        let mut record = full_record(key("t1", &format!("item-{i:05}"), "zeta", 0));
        record.completion.as_mut().unwrap().text = format!("answer {i} ").repeat(100);
        store.record_sample("r1", &record, &attempts(2)).unwrap();
    }
    store.end_run("r1", RunStatus::Finished, None).unwrap();
    let path = store.path().to_owned();
    drop(store);
    path
}

/// Deterministic garbage (xorshift64*), so a failure can be replayed.
fn garbage(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

#[test]
fn garbage_written_mid_file_is_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let path = filled_store(dir.path(), 300);
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 64 * 1024, "{len} bytes");
    let mut file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.seek(SeekFrom::Start(len / 2)).unwrap();
    file.write_all(&garbage(8 * 1024)).unwrap();
    drop(file);
    let damaged = std::fs::read(&path).unwrap();

    for err in [
        Store::open(&path).unwrap_err(),
        Store::open_in_dir(dir.path()).unwrap_err(),
        Store::open_existing(&path).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::Damaged { .. }), "{err}");
        assert_eq!(err.kind(), "damaged");
        let text = err.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains("llmbench export"), "{text}");
        assert!(text.contains(".recover > dump.sql"), "{text}");
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        damaged,
        "nothing was written"
    );
    let wal = dir.path().join(format!("{STORE_FILE_NAME}-wal"));
    assert!(
        std::fs::metadata(&wal).map_or(0, |m| m.len()) == 0,
        "nothing was appended to the WAL"
    );
}

#[test]
fn open_existing_creates_nothing_and_names_where_it_looked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("results");
    let err = Store::open_existing_in_dir(&missing).unwrap_err();
    assert_eq!(err.kind(), "not_found");
    let looked = missing.join(STORE_FILE_NAME);
    assert!(
        err.to_string().starts_with(&looked.display().to_string()),
        "{err}"
    );
    assert!(!missing.exists(), "no directory created");
    let err = Store::open_existing(&dir.path().join(STORE_FILE_NAME)).unwrap_err();
    assert_eq!(err.kind(), "not_found");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn a_run_is_claimed_while_running_and_released_by_its_end() {
    let (dir, store) = store_with_run();
    assert!(store.run_is_held("r1"), "create_run claims it");
    let other = Store::open_existing_in_dir(dir.path()).unwrap();
    let err = other.claim_run("r1").unwrap_err();
    assert_eq!(err.kind(), "run_busy");
    let lock = dir.path().join(format!("{STORE_FILE_NAME}.run-r1.lock"));
    assert!(
        err.to_string().contains(&lock.display().to_string()),
        "{err}"
    );
    // A second resume of the same run is refused while the first runs it.
    assert_eq!(
        other
            .set_run_status("r1", RunStatus::Running, None)
            .unwrap_err()
            .kind(),
        "run_busy"
    );
    store
        .set_run_status("r1", RunStatus::Interrupted, Some("interrupted"))
        .unwrap();
    assert!(!store.run_is_held("r1"));
    assert!(!lock.exists(), "the lock file goes with the claim");
    other
        .set_run_status("r1", RunStatus::Running, None)
        .unwrap();
    assert!(store.run_is_held("r1"));
    drop(other);
    assert!(
        !store.run_is_held("r1"),
        "dropping the store releases its runs"
    );
}

/// A process that ends without recording its run's end (its store dropped here, as the
/// kernel drops a dead process's locks): readers see `interrupted`, a read-only open changes
/// nothing, and the next writer records it.
#[test]
fn a_run_nobody_holds_reads_as_interrupted_and_the_next_writer_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store
        .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    store
        .record_sample("r1", &full_record(key("t1", "a", "zeta", 0)), &attempts(1))
        .unwrap();
    assert_eq!(store.run("r1").unwrap().status, RunStatus::Running);
    let path = store.path().to_owned();
    drop(store);

    let reader = Store::open_existing(&path).unwrap();
    assert_eq!(reader.run("r1").unwrap().status, RunStatus::Interrupted);
    assert_eq!(
        reader.list_runs().unwrap()[0].status,
        RunStatus::Interrupted
    );
    assert_eq!(reader.report("r1").unwrap().run.status, "interrupted");
    assert_eq!(
        stored_status(&path, "r1"),
        "running",
        "readers write nothing"
    );
    drop(reader);

    let writer = Store::open(&path).unwrap();
    assert_eq!(stored_status(&path, "r1"), "interrupted");
    let run = writer.run("r1").unwrap();
    let last_sample: String = raw(&path)
        .query_row("SELECT max(finished_at) FROM samples", [], |row| row.get(0))
        .unwrap();
    assert_eq!(run.finished_at.as_deref(), Some(last_sample.as_str()));
    assert_eq!(run.status_reason.as_deref(), Some("interrupted"));
    // A resume claims it again: running, and alive.
    writer
        .set_run_status("r1", RunStatus::Running, None)
        .unwrap();
    assert_eq!(writer.run("r1").unwrap().status, RunStatus::Running);
    let locks = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".lock"))
        .count();
    assert_eq!(locks, 1, "only the live run's lock file");
}

const FULL_DISK_CHILD_ENV: &str = "LLMBENCH_STORE_TEST_FULL_DISK_WRITER";

/// In a child process (with [`FULL_DISK_CHILD_ENV`] naming the store) whose files may not
/// grow past a limit: runs run `full` the way the runner does until a write fails, then
/// records the failure as the runner does (which may fail too) and exits normally. As a plain
/// test: does nothing.
#[test]
fn full_disk_writer() {
    let Some(path) = std::env::var_os(FULL_DISK_CHILD_ENV) else {
        return;
    };
    let mut store = Store::open(Path::new(&path)).unwrap();
    store
        .create_run(&new_run("full", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    let mut i = 0;
    let error = loop {
        let mut record = full_record(key("t1", &format!("item-{i:06}"), "zeta", 0));
        record.completion.as_mut().unwrap().text = format!("answer {i} ").repeat(300);
        if let Err(e) = store.record_sample("full", &record, &attempts(1)) {
            break e;
        }
        i += 1;
        assert!(i < 1_000_000, "the file size limit never hit");
    };
    let ended = store.end_run("full", RunStatus::Failed, Some(&error.to_string()));
    // The parent reads this line from the child's standard output.
    writeln!(
        std::io::stdout(),
        "stored {i} samples; write failed: {} ({error}); end_run: {}",
        error.kind(),
        ended.map_or_else(|e| e.kind().to_owned(), |()| "ok".to_owned())
    )
    .unwrap();
}

/// The file-size limit (`ulimit -f`, with SIGXFSZ ignored so writes fail with EFBIG) is a
/// real write failure without root or a special file system.
#[test]
fn a_run_whose_writes_fail_ends_failed_or_reads_interrupted_never_running() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE_NAME);
    drop(Store::open(&path).unwrap());
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 4096 && exec "$0" "$@""#)
        .arg(std::env::current_exe().unwrap())
        .args([
            "faults::full_disk_writer",
            "--exact",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(FULL_DISK_CHILD_ENV, &path)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{}\n{stdout}\n{stderr}", out.status);
    assert!(stdout.contains("write failed: "), "{stdout}");

    // The process is gone: whatever it managed to record, nobody reads `running`.
    let reader = Store::open_existing(&path).unwrap();
    let run = reader.run("full").unwrap();
    assert!(
        matches!(run.status, RunStatus::Failed | RunStatus::Interrupted),
        "{:?} ({stdout})",
        run.status
    );
    assert_eq!(reader.list_runs().unwrap()[0].status, run.status);
    drop(reader);
    drop(Store::open(&path).unwrap());
    assert_ne!(stored_status(&path, "full"), "running", "{stdout}");
    let integrity: String = raw(&path)
        .query_row("PRAGMA integrity_check", [], |row| row.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn the_wal_stays_bounded_while_writing_and_is_emptied_when_a_run_ends() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    let wal = dir.path().join(format!("{STORE_FILE_NAME}-wal"));
    store
        .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    let mut largest = 0;
    for i in 0..2_000 {
        let mut record = full_record(key("t1", &format!("item-{i:05}"), "zeta", 0));
        record.completion.as_mut().unwrap().text = format!("answer {i} ").repeat(150);
        store.record_sample("r1", &record, &attempts(2)).unwrap();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    let db = std::fs::metadata(store.path()).unwrap().len();
    // 256 pages between checkpoints and a 1 MiB size limit: about 1 MiB, plus a sample.
    assert!(
        largest <= 2 << 20,
        "WAL reached {largest} bytes (database {db})"
    );
    assert!(
        db > 4 << 20,
        "the loop wrote {db} bytes, more than the bound"
    );
    store.end_run("r1", RunStatus::Finished, None).unwrap();
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), 0, "truncated");
}
