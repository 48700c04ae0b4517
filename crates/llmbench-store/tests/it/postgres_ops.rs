//! Aggregates, merging shard files in, and retention on a PostgreSQL store ([`PgServer`]),
//! compared with the same operations on a SQLite file.

use std::path::PathBuf;

use llmbench_store::{MergeError, RunStatus, Store};
use llmbench_testsupport::postgres::PgServer;

use crate::aggregates::add_run;
use crate::common::*;
use crate::postgres::{records, target};

fn pg_count(url: &str, sql: &str) -> i64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.query_one(sql, &[]).unwrap().get(0)
}

fn pg_execute(url: &str, sql: &str) {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.batch_execute(sql).unwrap();
}

fn open_pg(url: &str) -> Store {
    let mut store = Store::open_postgres(&target(url)).unwrap();
    store.set_histogram_buckets(buckets());
    store
}

fn open_lite(dir: &std::path::Path) -> Store {
    let mut store = Store::open_in_dir(dir).unwrap();
    store.set_histogram_buckets(buckets());
    store
}

#[test]
fn aggregates_on_postgres_equal_those_on_sqlite() {
    let server = PgServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = open_lite(dir.path());
    let mut pg = open_pg(&url);
    add_run(&mut lite, "r1", "2026-11-28T07:14:01.000Z");
    add_run(&mut pg, "r1", "2026-11-28T07:14:01.000Z");
    assert!(
        pg_count(
            &url,
            "SELECT count(*) FROM run_aggregates WHERE run_id = 'r1'"
        ) > 0,
        "written when the run ended"
    );
    let expected = lite.run_aggregates("r1").unwrap();
    assert_eq!(pg.run_aggregates("r1").unwrap(), expected);
    // A reader without buckets reads them as stored.
    let reader = Store::open_existing_postgres(&target(&url)).unwrap();
    assert_eq!(reader.run_aggregates("r1").unwrap(), expected);
    assert_eq!(
        reader.list_runs().unwrap()[0].done,
        lite.list_runs().unwrap()[0].done
    );
    // Missing ones are computed from the samples, and stored.
    pg_execute(&url, "UPDATE runs SET aggregated_at = NULL");
    assert_eq!(pg.run_aggregates("r1").unwrap(), expected);
    assert_eq!(
        pg_count(
            &url,
            "SELECT count(*) FROM runs WHERE aggregated_at IS NOT NULL"
        ),
        1
    );
    // A resumed run forgets them until it ends again.
    pg.set_run_status("r1", RunStatus::Running, None).unwrap();
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM run_aggregates"),
        0,
        "forgotten on resume"
    );
    pg.end_run("r1", RunStatus::Finished, None).unwrap();
    assert_eq!(reader.run_aggregates("r1").unwrap(), expected);
    assert_eq!(
        reader.run_progress("r1").unwrap().1,
        lite.run_progress("r1").unwrap().1
    );
}

#[test]
fn shards_store_the_aggregates_once_the_last_one_ends() {
    let server = PgServer::start();
    let url = server.url();
    let shard = |scope: &str| {
        let mut store = open_pg(&url);
        store.set_claim_scope(scope);
        store
    };
    let run = new_run("s", "2026-11-28T07:14:01.000Z");
    let (mut s0, mut s1) = (shard("0/2"), shard("1/2"));
    s0.create_run(&run).unwrap();
    s1.create_run(&run).unwrap();
    let r = records();
    for (i, record) in r.iter().enumerate().filter(|(i, _)| i % 2 == 0) {
        s0.record_sample("s", record, &attempts(i % 3 + 1)).unwrap();
    }
    s0.end_run("s", RunStatus::Finished, None).unwrap();
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM run_aggregates"),
        0,
        "shard 1 still runs: nothing stored"
    );
    for (i, record) in r.iter().enumerate().filter(|(i, _)| i % 2 == 1) {
        s1.record_sample("s", record, &attempts(i % 3 + 1)).unwrap();
    }
    s1.end_run("s", RunStatus::Finished, None).unwrap();
    assert!(pg_count(&url, "SELECT count(*) FROM run_aggregates") > 0);

    let dir = tempfile::tempdir().unwrap();
    let mut lite = open_lite(dir.path());
    lite.create_run(&run).unwrap();
    for (i, record) in r.iter().enumerate() {
        lite.record_sample("s", record, &attempts(i % 3 + 1))
            .unwrap();
    }
    lite.end_run("s", RunStatus::Finished, None).unwrap();
    let reader = Store::open_existing_postgres(&target(&url)).unwrap();
    assert_eq!(
        reader.run_aggregates("s").unwrap(),
        lite.run_aggregates("s").unwrap()
    );
    assert_eq!(reader.run("s").unwrap().status, RunStatus::Finished);
}

/// A shard file in its own directory holding run `m` with `records`.
fn shard_file(records: &[llmbench_core::SampleRecord]) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store
        .create_run(&new_run("m", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    for (i, record) in records.iter().enumerate() {
        store
            .record_sample("m", record, &attempts(i % 3 + 1))
            .unwrap();
    }
    store.end_run("m", RunStatus::Finished, None).unwrap();
    let path = store.path().to_owned();
    (dir, path)
}

#[test]
fn merging_shard_files_into_postgres_is_idempotent_and_refuses_conflicts() {
    let server = PgServer::start();
    let url = server.url();
    let r = records();
    let (_a, a) = shard_file(&r[..4]);
    let (_b, b) = shard_file(&r[4..]);
    let mut changed = r[0].clone();
    changed
        .completion
        .as_mut()
        .unwrap()
        .text
        .push_str(" (again)");
    let (_c, c) = shard_file(&[changed]);

    let mut pg = open_pg(&url);
    // One shard alone: the run is not complete.
    let first = pg.merge_from(std::slice::from_ref(&a)).unwrap();
    assert_eq!((first.added, first.already_present), (4, 0));
    let run = pg.run("m").unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(
        run.status_reason.as_deref(),
        Some("merged from shards: 4 of 8 planned samples")
    );
    // Both: the first again is already there, the run is complete and finished.
    let both = pg.merge_from(&[a.clone(), b.clone()]).unwrap();
    assert_eq!(
        (both.runs.clone(), both.added, both.already_present),
        (vec!["m".to_owned()], 4, 4)
    );
    let again = pg.merge_from(&[a.clone(), b.clone()]).unwrap();
    assert_eq!((again.added, again.already_present), (0, 8));
    assert_eq!(pg.run("m").unwrap().status, RunStatus::Finished);

    // The same as merging into a SQLite file, sample for sample (finish times included).
    let dir = tempfile::tempdir().unwrap();
    let mut lite = Store::open_in_dir(dir.path()).unwrap();
    lite.merge_from(&[a.clone(), b.clone()]).unwrap();
    let (mut from_pg, mut from_lite) = (Vec::new(), Vec::new());
    pg.export("m", llmbench_store::ExportFormat::Jsonl, &mut from_pg)
        .unwrap();
    lite.export("m", llmbench_store::ExportFormat::Jsonl, &mut from_lite)
        .unwrap();
    assert_eq!(
        String::from_utf8(from_pg).unwrap(),
        String::from_utf8(from_lite).unwrap()
    );
    assert_eq!(pg.run_files("m").unwrap(), lite.run_files("m").unwrap());
    assert_eq!(pg.run_aggregates("m").unwrap().groups, {
        lite.set_histogram_buckets(buckets());
        lite.run_aggregates("m").unwrap().groups
    });

    // A sample stored differently: refused, naming both sources, and nothing of it merged.
    let e = pg.merge_from(std::slice::from_ref(&c)).unwrap_err();
    let text = e.to_string();
    assert!(matches!(e, MergeError::SampleConflict { .. }), "{text}");
    assert!(text.contains(&c.display().to_string()), "{text}");
    assert!(
        text.contains(&format!("already in {}", pg.path().display())),
        "{text}"
    );
    assert_eq!(pg_count(&url, "SELECT count(*) FROM samples"), 8);
    // Within one merge, the conflict names the other file.
    let fresh = server.create_database("fresh");
    let mut other = open_pg(&fresh);
    let e = other.merge_from(&[a.clone(), c.clone()]).unwrap_err();
    assert!(
        e.to_string().contains(&format!("in {}", a.display())),
        "{e}"
    );
    assert_eq!(
        pg_count(&fresh, "SELECT count(*) FROM samples"),
        4,
        "a stays"
    );

    // Another sweep under the same run id is refused.
    let dir = tempfile::tempdir().unwrap();
    let other_sweep = Store::open_in_dir(dir.path()).unwrap();
    let mut run = new_run("m", "2026-11-28T07:14:01.000Z");
    run.planned_samples = 99;
    other_sweep.create_run(&run).unwrap();
    let e = pg.merge_from(&[other_sweep.path().to_owned()]).unwrap_err();
    assert!(matches!(e, MergeError::RunConflict { .. }), "{e}");
}

#[test]
fn retention_on_postgres_keeps_runs_and_aggregates_and_spares_held_runs() {
    let server = PgServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = open_lite(dir.path());
    let mut pg = open_pg(&url);
    for store in [&mut lite, &mut pg] {
        add_run(store, "a", "2026-11-01T00:00:00.000Z");
        add_run(store, "b", "2026-11-02T00:00:00.000Z");
        add_run(store, "c", "2026-11-03T00:00:00.000Z");
    }
    // An older run a shard still runs.
    let mut shard = open_pg(&url);
    shard.set_claim_scope("0/2");
    shard
        .create_run(&new_run("held", "2026-10-01T00:00:00.000Z"))
        .unwrap();
    let before = pg.run_aggregates("a").unwrap();
    let listed = pg.list_runs().unwrap();

    assert!(
        pg.apply_retention(None, None, None)
            .unwrap()
            .runs
            .is_empty()
    );
    assert!(
        pg.apply_retention(Some(1), None, Some("other.toml"))
            .unwrap()
            .runs
            .is_empty()
    );
    let outcome = pg.apply_retention(Some(1), None, None).unwrap();
    assert_eq!(outcome.runs, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(outcome.samples, 24);
    assert_eq!(
        lite.apply_retention(Some(1), None, None).unwrap(),
        outcome,
        "as on SQLite"
    );
    for table in ["samples", "completions", "grades", "attempts"] {
        assert_eq!(
            pg_count(
                &url,
                &format!("SELECT count(*) FROM {table} WHERE run_id IN ('a', 'b')")
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(
        pg_count(&url, "SELECT count(*) FROM samples WHERE run_id = 'c'"),
        12
    );
    assert_eq!(pg.request_count().unwrap(), lite.request_count().unwrap());
    let after = pg.run_aggregates("a").unwrap();
    assert!(after.samples_deleted);
    assert_eq!(after.groups, before.groups);
    assert_eq!(
        pg.list_runs().unwrap(),
        listed,
        "counts from the aggregates"
    );
    assert!(pg.run("a").unwrap().samples_deleted_at.is_some());
    assert_eq!(
        pg.finished_sample_ids("a").unwrap_err().kind(),
        "run_pruned"
    );
    // By age: every run is older than a day, but the held one is never touched.
    let by_age = pg.apply_retention(None, Some(1), None).unwrap();
    assert_eq!(by_age.runs, vec!["c".to_owned()]);
    assert!(pg.run("held").unwrap().samples_deleted_at.is_none());
    pg.vacuum().unwrap();
}

#[test]
fn an_older_schema_is_migrated_once_by_processes_starting_together() {
    let server = PgServer::start();
    let url = server.url();
    let mut pg = open_pg(&url);
    add_run(&mut pg, "r1", "2026-11-28T07:14:01.000Z");
    drop(pg);
    // The schema as version 1 made it: no aggregates.
    pg_execute(
        &url,
        "DROP TABLE run_aggregate_grader_spend, run_aggregate_histograms,
             run_aggregate_counts, run_aggregates;
         ALTER TABLE runs DROP COLUMN aggregated_at, DROP COLUMN histogram_buckets_json;
         UPDATE llmbench_schema SET version = 1;",
    );
    let handles: Vec<_> = (0..3)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let target = target(&url);
                if i == 0 {
                    Store::open_existing_postgres(&target).map(drop)
                } else {
                    Store::open_postgres(&target).map(drop)
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert_eq!(
        pg_count(&url, "SELECT max(version)::bigint FROM llmbench_schema"),
        i64::from(llmbench_store::PG_SCHEMA_VERSION)
    );
    assert_eq!(pg_count(&url, "SELECT count(*) FROM llmbench_schema"), 1);
    let pg = open_pg(&url);
    let a = pg.run_aggregates("r1").unwrap();
    assert_eq!(a.groups.iter().map(|g| g.samples).sum::<u64>(), 12);
}

#[test]
fn browsing_postgres_reads_what_browsing_sqlite_reads() {
    use llmbench_store::{SampleFilter, VerdictFilter};
    let server = PgServer::start();
    let url = server.url();
    let dir = tempfile::tempdir().unwrap();
    let mut lite = open_lite(dir.path());
    let mut pg = open_pg(&url);
    let r = records();
    for store in [&mut lite, &mut pg] {
        store
            .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
            .unwrap();
        for (i, record) in r.iter().enumerate() {
            store
                .record_sample("r1", record, &attempts(i % 3 + 1))
                .unwrap();
        }
        store.end_run("r1", RunStatus::Finished, None).unwrap();
        add_run(store, "r2", "2026-11-29T07:14:01.000Z");
    }
    let reader = Store::open_existing_postgres(&target(&url)).unwrap();
    reader.make_query_only().unwrap();
    // Finish times are when each store recorded the sample or the run: not compared.
    let runs = |store: &Store| {
        let mut runs = store.browse_runs().unwrap();
        for run in &mut runs {
            run.finished_at = None;
        }
        runs
    };
    assert_eq!(runs(&reader), runs(&lite));
    assert_eq!(runs(&reader).len(), 2);
    assert_eq!(
        reader.sample_facets("r1").unwrap(),
        lite.sample_facets("r1").unwrap()
    );
    let filters = [
        SampleFilter::default(),
        SampleFilter {
            limit: 3,
            offset: 2,
            ..SampleFilter::default()
        },
        SampleFilter {
            verdict: Some(VerdictFilter::Fail),
            ..SampleFilter::default()
        },
        SampleFilter {
            verdict: Some(VerdictFilter::Error),
            ..SampleFilter::default()
        },
        SampleFilter {
            grader: Some("g2".into()),
            grade_outcome: Some("fail".into()),
            ..SampleFilter::default()
        },
        SampleFilter {
            provider: Some("zeta".into()),
            text: Some("FN MAIN".into()),
            ..SampleFilter::default()
        },
        SampleFilter {
            text: Some("100%_".into()),
            ..SampleFilter::default()
        },
    ];
    for filter in filters {
        let filter = SampleFilter {
            limit: if filter.limit == 0 { 50 } else { filter.limit },
            ..filter
        };
        let page = reader.browse_samples("r1", &filter).unwrap();
        assert_eq!(
            page,
            lite.browse_samples("r1", &filter).unwrap(),
            "{filter:?}"
        );
    }
    assert!(
        reader
            .browse_samples(
                "r1",
                &SampleFilter {
                    limit: 50,
                    ..SampleFilter::default()
                }
            )
            .unwrap()
            .total
            == 8
    );
    let detail = |store: &Store, id: &str| {
        store.sample_detail("r1", id).unwrap().map(|mut d| {
            d.finished_at = String::new();
            d
        })
    };
    for record in &r {
        let id = record.key.id().to_string();
        let got = detail(&reader, &id);
        assert!(got.is_some());
        assert_eq!(got, detail(&lite, &id));
    }
    assert_eq!(detail(&reader, &"0".repeat(32)), None);
    let items = |store: &Store| {
        let mut d = store.item_details("r1", "t2", "a").unwrap();
        for d in &mut d {
            d.finished_at = String::new();
        }
        d
    };
    assert_eq!(items(&reader).len(), 3);
    assert_eq!(items(&reader), items(&lite));
    // The read-only session refuses writes.
    let e = reader
        .create_run(&new_run("r3", "2026-11-30T07:14:01.000Z"))
        .unwrap_err();
    assert_eq!(e.kind(), "postgres", "{e}");
}
