//! Opening, creating and migrating the store file.

use llmbench_store::{SCHEMA_VERSION, STORE_FILE_NAME, Store, StoreError};

use crate::common::*;

#[test]
fn opening_twice_is_idempotent_and_keeps_data() {
    let (dir, mut store) = store_with_run();
    store
        .record_sample("r1", &full_record(key("t1", "a", "zeta", 0)), &[])
        .unwrap();
    drop(store);
    let path = dir.path().join(STORE_FILE_NAME);
    let again = Store::open(&path).unwrap();
    let third = Store::open_in_dir(dir.path()).unwrap();
    assert_eq!(again.path(), path);
    assert_eq!(third.report("r1").unwrap().samples.len(), 1);

    let conn = raw(&path);
    assert_eq!(count(&conn, "PRAGMA user_version"), SCHEMA_VERSION);
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |row| row.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'"
        ),
        12
    );
}

#[test]
fn open_in_dir_creates_the_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("out/2026/sweep");
    let store = Store::open_in_dir(&nested).unwrap();
    assert_eq!(store.path(), nested.join("llmbench.sqlite"));
    assert!(store.path().is_file());
}

#[test]
fn open_needs_the_parent_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing/llmbench.sqlite");
    let err = Store::open(&path).unwrap_err();
    assert!(matches!(err, StoreError::MissingDir { .. }), "{err}");
    assert_eq!(err.kind(), "open");
    assert!(
        err.to_string().starts_with(&path.display().to_string()),
        "{err}"
    );
    assert!(!path.exists());
}

#[test]
fn a_file_that_is_not_a_store_is_refused_as_damaged_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llmbench.sqlite");
    std::fs::write(
        &path,
        "this is not a database, it is a long enough text file ".repeat(20),
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    for err in [
        Store::open(&path).unwrap_err(),
        Store::open_existing(&path).unwrap_err(),
    ] {
        assert_eq!(err.kind(), "damaged", "{err}");
        let text = err.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{err}");
        assert!(text.contains("sqlite3 llmbench.sqlite .recover"), "{err}");
    }
    assert_eq!(std::fs::read(&path).unwrap(), before, "nothing written");
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("llmbench.sqlite");
    drop(Store::open(&path).unwrap());
    raw(&path)
        .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
        .unwrap();
    let err = Store::open(&path).unwrap_err();
    assert_eq!(err.kind(), "schema_too_new");
    assert!(
        err.to_string()
            .contains(&format!("schema version {}", SCHEMA_VERSION + 1)),
        "{err}"
    );
}

/// `serve`'s open reads at once and defers the integrity check, but never writes to a file
/// before it passes: a damaged page is found by `verify`, and every write refuses first.
#[test]
fn an_unverified_open_checks_before_any_write() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut store = Store::open_in_dir(dir.path()).unwrap();
        store
            .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
            .unwrap();
        for i in 0..200 {
            store
                .record_sample(
                    "r1",
                    &full_record(key("t1", &format!("i{i}"), "zeta", 0)),
                    &[],
                )
                .unwrap();
        }
        store
            .end_run("r1", llmbench_store::RunStatus::Finished, None)
            .unwrap();
    }
    // A healthy file: verified on demand, then written to.
    let store = Store::open_in_dir_unverified(dir.path()).unwrap();
    assert_eq!(store.report("r1").unwrap().samples.len(), 200);
    store.verify().unwrap();
    store
        .create_run(&new_run("r2", "2026-11-28T08:14:01.000Z"))
        .unwrap();
    store
        .end_run("r2", llmbench_store::RunStatus::Finished, None)
        .unwrap();
    drop(store);

    // Damage the last page (a data page, not the header or the schema).
    let path = dir.path().join(STORE_FILE_NAME);
    let mut bytes = std::fs::read(&path).unwrap();
    let pages = bytes.len() / 4096;
    assert!(pages > 4, "{pages} pages");
    bytes[(pages - 1) * 4096..].fill(0xAB);
    std::fs::write(&path, &bytes).unwrap();

    let store = Store::open_in_dir_unverified(dir.path()).unwrap();
    assert_eq!(store.verify().unwrap_err().kind(), "damaged");
    let err = store
        .create_run(&new_run("r3", "2026-11-28T09:14:01.000Z"))
        .unwrap_err();
    assert_eq!(err.kind(), "damaged", "{err}");
    drop(store);
    assert_eq!(std::fs::read(&path).unwrap(), bytes, "nothing written");
    // The checked open refuses it outright.
    assert_eq!(Store::open(&path).unwrap_err().kind(), "damaged");
}
