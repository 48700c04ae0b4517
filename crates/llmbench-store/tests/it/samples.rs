//! Recording samples and reading them back.

use std::collections::HashSet;

use llmbench_core::{Grade, SampleKey};
use llmbench_store::StoreError;

use crate::common::*;

#[test]
fn a_group_with_many_grades_reads_back_grade_for_grade() {
    // More grades than the store inserts in one statement (32), with samples of no grade
    // between.
    let (_dir, mut store) = store_with_run();
    let records: Vec<_> = (0..16_u32)
        .map(|n| {
            let mut r = full_record(key("t2", &format!("i{n:02}"), "zeta", 0));
            r.grades = (0..(n * 3) % 7)
                .map(|g| {
                    let mut grade = r.grades[usize::from(g % 2 == 1)].1.clone();
                    grade.evidence = format!("sample {n} grade {g}");
                    grade.score = f64::from(n * 10 + g) / 100.0;
                    (format!("g{g}"), grade)
                })
                .collect();
            r
        })
        .collect();
    let attempts = attempts(1);
    store
        .record_samples("r1", records.iter().map(|r| (r, attempts.as_slice())))
        .unwrap();
    let grades: usize = records.iter().map(|r| r.grades.len()).sum();
    assert_eq!(grades, 45, "32 + 13");
    let mut report = store.report("r1").unwrap().samples;
    report.sort_by(|a, b| a.key.item.cmp(&b.key.item));
    assert_eq!(report, records);
}

#[test]
fn full_records_round_trip_field_for_field() {
    let (_dir, mut store) = store_with_run();
    let records = [
        full_record(key("t2", "a", "zeta", 0)),
        error_record(key("t2", "a", "alpha", 0)),
        unknown_usage_record(key("t2", "b", "alpha", 0)),
    ];
    for record in &records {
        store.record_sample("r1", record, &attempts(2)).unwrap();
    }
    let report = store.report("r1").unwrap();
    assert_eq!(report.samples, records);

    // Unknown stays unknown in SQL too: NULL, never 0.
    let conn = raw(store.path());
    let id = records[2].key.id().to_string();
    let nulls: i64 = conn
        .query_row(
            "SELECT (input_tokens IS NULL) + (output_tokens IS NULL) + (cache_read_tokens IS NULL)
                 + (cache_write_tokens IS NULL) + (reasoning_tokens IS NULL) + (ttft_seconds IS NULL)
                 + (response_model IS NULL)
             FROM completions WHERE run_id = 'r1' AND sample_id = ?1",
            [&id],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(nulls, 7);
    let cost_is_null: bool = conn
        .query_row(
            "SELECT cost_usd IS NULL FROM samples WHERE run_id = 'r1' AND sample_id = ?1",
            [&id],
            |row| row.get(0),
        )
        .unwrap();
    assert!(cost_is_null);
    // Typed columns are queryable as they are.
    let (status, http, stop): (String, i64, String) = conn
        .query_row(
            "SELECT s.status, e.http_status, c.stop_reason
             FROM samples s, samples e, completions c
             WHERE s.sample_id = ?1 AND e.sample_id = ?2 AND c.sample_id = ?1",
            [
                records[0].key.id().to_string(),
                records[1].key.id().to_string(),
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
        )
        .unwrap();
    assert_eq!(
        (status.as_str(), http, stop.as_str()),
        ("done", 429, "refusal")
    );
}

#[test]
fn attempts_are_stored_in_order() {
    let (_dir, mut store) = store_with_run();
    let record = full_record(key("t1", "x", "zeta", 0));
    store.record_sample("r1", &record, &attempts(3)).unwrap();
    assert_eq!(store.attempts("r1", record.key.id()).unwrap(), attempts(3));
    let other = full_record(key("t1", "y", "zeta", 0));
    store.record_sample("r1", &other, &[]).unwrap();
    assert_eq!(store.attempts("r1", other.key.id()).unwrap(), vec![]);
}

#[test]
fn finished_sample_ids_are_per_run_and_include_errors() {
    let (_dir, mut store) = store_with_run();
    store
        .create_run(&new_run("r2", "2026-11-28T08:00:00.000Z"))
        .unwrap();
    assert!(store.finished_sample_ids("r1").unwrap().is_empty());
    let done = full_record(key("t1", "a", "zeta", 0));
    let failed = error_record(key("t1", "b", "zeta", 0));
    let elsewhere = full_record(key("t1", "c", "zeta", 0));
    store.record_sample("r1", &done, &[]).unwrap();
    store.record_sample("r1", &failed, &[]).unwrap();
    store.record_sample("r2", &elsewhere, &[]).unwrap();
    assert_eq!(
        store.finished_sample_ids("r1").unwrap(),
        HashSet::from([done.key.id(), failed.key.id()])
    );
    assert_eq!(
        store.finished_sample_ids("r2").unwrap(),
        HashSet::from([elsewhere.key.id()])
    );
    let err = store.finished_sample_ids("nope").unwrap_err();
    assert!(matches!(err, StoreError::RunNotFound { .. }), "{err}");
}

#[test]
fn a_duplicate_sample_fails_and_leaves_the_first_intact() {
    let (_dir, mut store) = store_with_run();
    let first = full_record(key("t2", "a", "zeta", 1));
    store.record_sample("r1", &first, &attempts(2)).unwrap();

    let mut second = error_record(first.key.clone());
    second.grades = vec![("g9".into(), Grade::pass("other"))];
    let err = store
        .record_sample("r1", &second, &attempts(1))
        .unwrap_err();
    assert_eq!(err.kind(), "duplicate_sample");
    let message = err.to_string();
    assert!(message.contains("llmbench.sqlite"), "{message}");
    assert!(message.contains("t2/a/zeta#1"), "{message}");
    assert!(message.contains(&first.key.id().to_string()), "{message}");

    assert_eq!(store.report("r1").unwrap().samples, vec![first.clone()]);
    assert_eq!(store.attempts("r1", first.key.id()).unwrap(), attempts(2));
    let conn = raw(store.path());
    assert_eq!(count(&conn, "SELECT count(*) FROM grades"), 3);

    // The same key in another run is a different sample.
    store
        .create_run(&new_run("r2", "2026-11-28T08:00:00.000Z"))
        .unwrap();
    store.record_sample("r2", &first, &[]).unwrap();
}

#[test]
fn recording_into_an_unknown_run_writes_nothing() {
    let (_dir, mut store) = store_with_run();
    let err = store
        .record_sample(
            "r404",
            &full_record(key("t1", "a", "zeta", 0)),
            &attempts(1),
        )
        .unwrap_err();
    assert!(
        matches!(&err, StoreError::RunNotFound { run_id, .. } if run_id == "r404"),
        "{err}"
    );
    let conn = raw(store.path());
    for table in ["samples", "completions", "grades", "attempts"] {
        assert_eq!(count(&conn, &format!("SELECT count(*) FROM {table}")), 0);
    }
}

#[test]
fn non_finite_numbers_are_rejected_before_writing() {
    let (_dir, mut store) = store_with_run();
    let mut record = full_record(key("t1", "a", "zeta", 0));
    record.grades[1].1.score = f64::NAN;
    let err = store.record_sample("r1", &record, &[]).unwrap_err();
    assert_eq!(err.kind(), "invalid_record");
    assert!(err.to_string().contains("grader `g2`"), "{err}");

    let record = full_record(key("t1", "b", "zeta", 0));
    let mut bad = attempts(1);
    bad[0].wait_seconds = f64::INFINITY;
    let err = store.record_sample("r1", &record, &bad).unwrap_err();
    assert_eq!(err.kind(), "invalid_record");
    assert!(store.finished_sample_ids("r1").unwrap().is_empty());
}

#[test]
fn report_follows_config_order_then_item_then_repeat() {
    let (_dir, mut store) = store_with_run();
    // Config order: tasks t2, t1; providers zeta, alpha. `t0` and `beta` are not in it.
    let keys: Vec<SampleKey> = vec![
        key("t1", "a", "alpha", 0),
        key("t0", "a", "zeta", 0),
        key("t2", "b", "alpha", 0),
        key("t2", "a", "beta", 0),
        key("t2", "b", "zeta", 1),
        key("t1", "a", "zeta", 0),
        key("t2", "a", "zeta", 0),
        key("t2", "b", "zeta", 0),
        key("t2", "a", "alpha", 1),
        key("t2", "a", "alpha", 0),
    ];
    for k in &keys {
        store
            .record_sample("r1", &full_record(k.clone()), &[])
            .unwrap();
    }
    let order: Vec<(String, String, String, u32)> = store
        .report("r1")
        .unwrap()
        .samples
        .into_iter()
        .map(|s| (s.key.task, s.key.provider, s.key.item, s.key.repeat))
        .collect();
    let expected = [
        ("t2", "zeta", "a", 0),
        ("t2", "zeta", "b", 0),
        ("t2", "zeta", "b", 1),
        ("t2", "alpha", "a", 0),
        ("t2", "alpha", "a", 1),
        ("t2", "alpha", "b", 0),
        ("t2", "beta", "a", 0),
        ("t1", "zeta", "a", 0),
        ("t1", "alpha", "a", 0),
        ("t0", "zeta", "a", 0),
    ]
    .map(|(t, p, i, r)| (t.to_owned(), p.to_owned(), i.to_owned(), r));
    assert_eq!(order, expected);
}
