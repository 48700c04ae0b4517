//! The PostgreSQL backend against a private server ([`PgServer`]): the same round trips as
//! the SQLite file, concurrent shards of one run, and liveness through advisory locks.

use std::collections::HashSet;

use llmbench_core::SampleRecord;
use llmbench_store::{ExportFormat, PgTarget, RunStatus, Store};
use llmbench_testsupport::postgres::PgServer;

use crate::common::*;

pub(crate) fn target(url: &str) -> PgTarget {
    PgTarget::parse(url).unwrap()
}

/// Samples in an order unlike the report's, with every kind of record, names outside the
/// run's lists, and non-ASCII items (ordered bytewise on both backends).
pub(crate) fn records() -> Vec<SampleRecord> {
    let mut records = vec![
        full_record(key("t1", "b", "alpha", 0)),
        error_record(key("t2", "a", "alpha", 0)),
        unknown_usage_record(key("t2", "a", "zeta", 1)),
        full_record(key("t2", "a", "zeta", 0)),
        full_record(key("t0-unlisted", "a", "zeta", 0)),
        full_record(key("t2", "Zebra", "other", 0)),
        full_record(key("t2", "émile", "zeta", 0)),
        full_record(key("t2", "Émile", "zeta", 0)),
    ];
    records[1].request = None;
    records
}

fn without_finished_at(jsonl: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8(jsonl.to_vec())
        .unwrap()
        .lines()
        .map(|line| {
            let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
            v.as_object_mut().unwrap().remove("finished_at");
            v
        })
        .collect()
}

#[test]
fn a_run_round_trips_as_on_sqlite() {
    let server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = Store::open_in_dir(dir.path()).unwrap();
    let mut pg = Store::open_postgres(&target(&server.url())).unwrap();
    assert!(pg.is_postgres() && !lite.is_postgres());
    let run = new_run("r1", "2026-11-28T07:14:01.000Z");
    let files = vec![llmbench_store::RunFile {
        role: llmbench_store::FileRole::Config,
        path: "/bench/c.toml".into(),
        content: llmbench_core::FileContent::Bytes(b"[run]\nrepeats = 2\n\xff binary"[..].into()),
    }];
    for store in [&mut lite, &mut pg] {
        store.create_run_with_files(&run, &files).unwrap();
        for (i, record) in records().iter().enumerate() {
            store.record_sample("r1", record, &attempts(i % 3)).unwrap();
        }
    }
    assert_eq!(pg.run("r1").unwrap().status, RunStatus::Running);
    assert_eq!(
        pg.report("r1").unwrap().samples,
        lite.report("r1").unwrap().samples
    );
    assert_eq!(pg.run_files("r1").unwrap(), files);
    assert!(pg.run_stored_files("r1").unwrap());
    let r = records();
    assert_eq!(
        pg.attempts("r1", r[2].key.id()).unwrap(),
        lite.attempts("r1", r[2].key.id()).unwrap()
    );
    let (mut a, mut b) = (Vec::new(), Vec::new());
    assert_eq!(pg.export("r1", ExportFormat::Jsonl, &mut a).unwrap(), 8);
    lite.export("r1", ExportFormat::Jsonl, &mut b).unwrap();
    assert_eq!(without_finished_at(&a), without_finished_at(&b));
    let mut outlines = (Vec::new(), Vec::new());
    pg.for_each_sample_outline("r1", |s| {
        outlines.0.push(s);
        Ok(())
    })
    .unwrap();
    lite.for_each_sample_outline("r1", |s| {
        outlines.1.push(s);
        Ok(())
    })
    .unwrap();
    assert_eq!(outlines.0, outlines.1);
    let keys = [
        r[3].key.clone(),
        key("t9", "missing", "x", 0),
        r[0].key.clone(),
    ];
    assert_eq!(
        pg.samples_by_key("r1", &keys).unwrap(),
        lite.samples_by_key("r1", &keys).unwrap()
    );
    assert_eq!(
        pg.finished_sample_ids("r1").unwrap(),
        r.iter().map(|s| s.key.id()).collect::<HashSet<_>>()
    );
    let (progress, lite_progress) = (
        pg.run_progress("r1").unwrap(),
        lite.run_progress("r1").unwrap(),
    );
    let cost = |t: &llmbench_store::RunTotals| t.cost_usd.unwrap();
    assert!((cost(&progress.1) - cost(&lite_progress.1)).abs() < 1e-12);
    assert_eq!(
        (
            progress.0,
            progress.1.done,
            progress.1.errors,
            progress.1.passed,
            progress.1.graded
        ),
        (
            lite_progress.0,
            lite_progress.1.done,
            lite_progress.1.errors,
            lite_progress.1.passed,
            lite_progress.1.graded
        )
    );

    // The same sample again: identical is accepted and changes nothing, different is refused.
    pg.record_sample("r1", &r[0], &attempts(0)).unwrap();
    let mut changed = r[0].clone();
    changed
        .completion
        .as_mut()
        .unwrap()
        .text
        .push_str(" (again)");
    let e = pg.record_sample("r1", &changed, &attempts(0)).unwrap_err();
    assert_eq!(e.kind(), "duplicate_sample", "{e}");
    assert_eq!(pg.report("r1").unwrap().samples.len(), 8);

    // A run id that exists, without a shard scope to attach with, is refused.
    assert_eq!(pg.create_run(&run).unwrap_err().kind(), "run_exists");
    pg.end_run("r1", RunStatus::Finished, None).unwrap();
    // 8 of the 8 planned samples: finished.
    assert_eq!(pg.run("r1").unwrap().status, RunStatus::Finished);
    let listed = pg.list_runs().unwrap();
    assert_eq!((listed.len(), listed[0].done, listed[0].errors), (1, 7, 1));
    assert_eq!(pg.latest_run_id().unwrap().as_deref(), Some("r1"));

    // A reader sees the same.
    let reader = Store::open_existing_postgres(&target(&server.url())).unwrap();
    assert_eq!(reader.report("r1").unwrap().samples.len(), 8);
    assert_eq!(
        reader.request_count().unwrap(),
        lite.request_count().unwrap()
    );
}

#[test]
fn readers_create_nothing_and_writers_create_the_schema_once() {
    let server = PgServer::start();
    let url = server.create_database("bench");
    let e = Store::open_existing_postgres(&target(&url)).unwrap_err();
    assert_eq!(e.kind(), "not_found", "{e}");
    assert!(
        e.to_string().starts_with("postgres://postgres@127.0.0.1:"),
        "{e}"
    );
    // Writers starting together: one creates the schema, none fails.
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Store::open_postgres(&target(&url)).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    Store::open_existing_postgres(&target(&url)).unwrap();
}

#[test]
fn shards_share_a_run_and_liveness_follows_their_connections() {
    let server = PgServer::start();
    let open = |scope: &str| {
        let mut store = Store::open_postgres(&target(&server.url())).unwrap();
        store.set_claim_scope(scope);
        store
    };
    let run = new_run("sharded", "2026-11-28T07:14:01.000Z");
    let (mut s0, mut s1) = (open("0/2"), open("1/2"));
    s0.create_run(&run).unwrap();
    // The second shard attaches to the run the first created.
    s1.create_run(&run).unwrap();
    // Created without its input files: nothing to read them again from.
    assert!(!s1.run_stored_files("sharded").unwrap());
    // The same shard twice at once is refused.
    let again = open("1/2");
    let e = again.create_run(&run).unwrap_err();
    assert_eq!(e.kind(), "run_busy", "{e}");
    // Another sweep under the same id is refused.
    let mut other = new_run("sharded", "2026-11-28T07:14:01.000Z");
    other.planned_samples = 99;
    let e = open("0/3").create_run(&other).unwrap_err();
    assert_eq!(e.kind(), "run_exists", "{e}");

    let r = records();
    for record in r.iter().step_by(2) {
        s0.record_sample("sharded", record, &attempts(1)).unwrap();
    }
    // Shard 0 ends while shard 1 runs: stored as not finished (4 of 8), read as running.
    s0.end_run("sharded", RunStatus::Finished, None).unwrap();
    let reader = Store::open_existing_postgres(&target(&server.url())).unwrap();
    assert_eq!(reader.run("sharded").unwrap().status, RunStatus::Running);
    assert!(reader.run_is_held("sharded"));
    s1.record_sample("sharded", &r[1], &attempts(1)).unwrap();
    // Shard 1 dies (its connection closes): the run reads interrupted.
    drop(s1);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while reader.run_is_held("sharded") && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let seen = reader.run("sharded").unwrap();
    assert_eq!(seen.status, RunStatus::Interrupted, "{seen:?}");
    // Started again, shard 1 resumes the run, records the rest and, with all 8 planned
    // samples there, ends it finished.
    let mut s1 = open("1/2");
    s1.set_run_status("sharded", RunStatus::Running, None)
        .unwrap();
    let done = s1.finished_sample_ids("sharded").unwrap();
    for record in r.iter().skip(1).step_by(2) {
        if !done.contains(&record.key.id()) {
            s1.record_sample("sharded", record, &attempts(1)).unwrap();
        }
    }
    s1.end_run("sharded", RunStatus::Finished, None).unwrap();
    let run = reader.run("sharded").unwrap();
    assert_eq!((run.status, run.status_reason), (RunStatus::Finished, None));
}

#[test]
fn a_shard_that_ends_before_the_others_samples_are_there_is_not_finished() {
    let server = PgServer::start();
    let mut store = Store::open_postgres(&target(&server.url())).unwrap();
    store.set_claim_scope("0/4");
    store
        .create_run(&new_run("r", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    store
        .record_sample("r", &full_record(key("t1", "a", "zeta", 0)), &[])
        .unwrap();
    store.end_run("r", RunStatus::Finished, None).unwrap();
    let run = store.run("r").unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert!(
        run.status_reason
            .as_deref()
            .unwrap()
            .starts_with("1 of 8 planned samples"),
        "{run:?}"
    );
}

#[test]
fn a_group_is_stored_as_sample_by_sample_and_a_conflict_fails_it_whole() {
    // PostgreSQL writes a group with one statement per table (arrays unnested on the
    // server); what it stores, and what it refuses, is what SQLite does sample by sample.
    let server = PgServer::start();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = Store::open_in_dir(dir.path()).unwrap();
    let mut pg = Store::open_postgres(&target(&server.url())).unwrap();
    let run = new_run("r1", "2026-11-28T07:14:01.000Z");
    let records = records();
    let tries: Vec<_> = (0..records.len()).map(|i| attempts(i % 3)).collect();
    let group = || records.iter().zip(tries.iter().map(Vec::as_slice));
    lite.create_run(&run).unwrap();
    pg.create_run(&run).unwrap();
    for (record, attempts) in group() {
        lite.record_sample("r1", record, attempts).unwrap();
    }
    pg.record_samples("r1", group()).unwrap();
    assert_eq!(
        pg.report("r1").unwrap().samples,
        lite.report("r1").unwrap().samples
    );
    for record in &records {
        let id = record.key.id();
        assert_eq!(
            pg.attempts("r1", id).unwrap(),
            lite.attempts("r1", id).unwrap()
        );
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    pg.export("r1", ExportFormat::Jsonl, &mut a).unwrap();
    lite.export("r1", ExportFormat::Jsonl, &mut b).unwrap();
    assert_eq!(without_finished_at(&a), without_finished_at(&b));

    // On PostgreSQL (shards may race), a group holding samples stored already, identically
    // (one of them twice), and a new one: the new one is added, the others are left as
    // they are. (SQLite, with one writer per run, refuses any sample stored twice.)
    let fresh = full_record(key("t3", "new", "zeta", 0));
    let none: &[llmbench_store::AttemptRecord] = &[];
    pg.record_samples(
        "r1",
        [
            (&fresh, none),
            (&records[0], tries[0].as_slice()),
            (&records[0], tries[0].as_slice()),
            (&records[3], tries[3].as_slice()),
        ],
    )
    .unwrap();
    lite.record_sample("r1", &fresh, none).unwrap();
    assert_eq!(
        pg.report("r1").unwrap().samples,
        lite.report("r1").unwrap().samples
    );
    assert_eq!(pg.report("r1").unwrap().samples.len(), records.len() + 1);

    // A group in which a sample comes twice, differently: refused whole, naming the sample;
    // nothing of it is stored, not even the new sample before it.
    let other = full_record(key("t3", "other", "zeta", 0));
    let mut changed = other.clone();
    changed.grades.truncate(1);
    for store in [&mut lite, &mut pg] {
        let err = store
            .record_samples("r1", [(&other, none), (&changed, none)])
            .unwrap_err();
        assert_eq!(err.kind(), "duplicate_sample", "{err}");
        assert!(err.to_string().contains("t3/other/zeta#0"), "{err}");
        assert!(
            store
                .samples_by_key("r1", std::slice::from_ref(&other.key))
                .unwrap()
                .is_empty()
        );
    }
    assert_eq!(pg.report("r1").unwrap().samples.len(), records.len() + 1);
}
