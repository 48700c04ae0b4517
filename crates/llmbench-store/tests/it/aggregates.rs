//! Per-run aggregates and retention.

use std::collections::BTreeMap;

use llmbench_core::SampleStatus;
use llmbench_store::{HistogramBuckets, RunStatus, Store};

use crate::common::*;

/// Run `id` with a mix of answered, failed and unknown-usage samples over two providers
/// and two tasks, ended as finished.
pub(crate) fn add_run(store: &mut Store, id: &str, created_at: &str) {
    store.create_run(&new_run(id, created_at)).unwrap();
    for i in 0..12u32 {
        let task = if i % 2 == 0 { "t1" } else { "t2" };
        let provider = if i % 3 == 0 { "alpha" } else { "zeta" };
        let k = key(task, &format!("item-{i}"), provider, 0);
        let (mut record, n) = match i % 4 {
            0 => (error_record(k), 3),
            1 => (unknown_usage_record(k), 1),
            _ => (full_record(k), 2),
        };
        if i % 4 == 2
            && let Some(v) = record.verdict.as_mut()
        {
            v.pass = true;
        }
        let mut tries = attempts(n);
        if record.status == SampleStatus::Error {
            tries.last_mut().unwrap().outcome = "rate_limited".into();
        }
        store.record_sample(id, &record, &tries).unwrap();
    }
    store.end_run(id, RunStatus::Finished, None).unwrap();
}

/// What summing the samples one by one gives, per (provider, model, task): samples, errors,
/// passes, input tokens, cost, failed attempts, request-duration observations, grades.
type Sums =
    BTreeMap<(String, String, String), (u64, u64, u64, Option<u64>, Option<f64>, u64, u64, u64)>;

fn sums_of_samples(store: &Store, run: &str) -> Sums {
    let mut sums = Sums::new();
    for s in store.report(run).unwrap().samples {
        let e = sums
            .entry((s.key.provider.clone(), s.model.clone(), s.key.task.clone()))
            .or_default();
        e.0 += 1;
        e.1 += u64::from(s.status == SampleStatus::Error);
        e.2 += u64::from(s.status == SampleStatus::Done && s.verdict.is_some_and(|v| v.pass));
        if let Some(n) = s.completion.as_ref().and_then(|c| c.usage.input_tokens) {
            e.3 = Some(e.3.unwrap_or(0) + n);
        }
        if let Some(c) = s.cost_usd {
            e.4 = Some(e.4.unwrap_or(0.0) + c);
        }
        let tries = store.attempts(run, s.key.id()).unwrap();
        e.5 += tries.iter().filter(|a| a.outcome != "ok").count() as u64;
        e.6 += tries.len() as u64;
        e.7 += s.grades.len() as u64;
    }
    sums
}

fn sums_of_aggregates(a: &llmbench_store::RunAggregates) -> Sums {
    a.groups
        .iter()
        .map(|g| {
            (
                (g.provider.clone(), g.model.clone(), g.task.clone()),
                (
                    g.samples,
                    g.errors,
                    g.passes,
                    g.tokens.input,
                    g.cost_usd,
                    g.attempt_errors.values().sum(),
                    g.request_seconds_success.count + g.request_seconds_error.count,
                    g.grades.values().map(|t| t.pass + t.fail + t.error).sum(),
                ),
            )
        })
        .collect()
}

#[test]
fn aggregates_equal_what_summing_the_samples_gives() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store.set_histogram_buckets(buckets());
    add_run(&mut store, "r1", "2026-11-28T07:14:01.000Z");
    let conn = raw(store.path());
    assert!(
        count(&conn, "SELECT count(*) FROM run_aggregates") > 0,
        "written at the end"
    );

    let a = store.run_aggregates("r1").unwrap();
    assert!(!a.samples_deleted);
    assert_eq!(a.buckets, buckets());
    assert_eq!(sums_of_aggregates(&a), sums_of_samples(&store, "r1"));
    // Histogram buckets: full_record's 2.345 s latency is in the (1.28, 2.56] bucket.
    let zeta_t1 = a
        .groups
        .iter()
        .find(|g| g.provider == "zeta" && g.model == "model-z" && g.task == "t1")
        .unwrap();
    let b = buckets();
    let i = b.request_seconds.iter().position(|&x| x == 2.56).unwrap();
    assert_eq!(
        zeta_t1.request_seconds_success.buckets[i],
        zeta_t1.request_seconds_success.count
    );
    let g2 = &zeta_t1.grades["g2"];
    assert_eq!(g2.fail, g2.score.count);
    assert_eq!(g2.score.buckets[2], g2.score.count, "0.25 is in (0.2, 0.3]");
    assert_eq!(zeta_t1.attempt_retries["rate_limited"], zeta_t1.samples);
    // What is read back is exactly what was computed from the samples.
    assert_eq!(
        conn.execute("UPDATE runs SET aggregated_at = NULL", [])
            .unwrap(),
        1
    );
    let recomputed = store.run_aggregates("r1").unwrap();
    assert_eq!(recomputed, a);
    let alpha = a.groups.iter().find(|g| g.provider == "alpha").unwrap();
    assert!(alpha.sample_errors["rate_limited"] > 0);
    assert!(alpha.attempt_errors[&("rate_limited".to_owned(), Some(429))] > 0);
}

#[test]
fn runs_without_aggregates_get_them_on_demand_and_other_buckets_are_recounted() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    // No buckets given: the end writes none, and asking fails with a named kind.
    add_run(&mut store, "old", "2026-11-28T07:14:01.000Z");
    assert_eq!(
        store.run_aggregates("old").unwrap_err().kind(),
        "no_histogram_buckets"
    );
    store.set_histogram_buckets(buckets());
    let a = store.run_aggregates("old").unwrap();
    assert_eq!(sums_of_aggregates(&a), sums_of_samples(&store, "old"));
    let coarse = HistogramBuckets {
        request_seconds: vec![1.0],
        ..buckets()
    };
    store.set_histogram_buckets(coarse.clone());
    let b = store.run_aggregates("old").unwrap();
    assert_eq!(b.buckets, coarse);
    assert_eq!(b.groups[0].request_seconds_success.buckets.len(), 2);
}

#[test]
fn retention_deletes_older_samples_and_keeps_runs_and_aggregates() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store.set_histogram_buckets(buckets());
    add_run(&mut store, "a", "2026-11-01T00:00:00.000Z");
    add_run(&mut store, "b", "2026-11-02T00:00:00.000Z");
    add_run(&mut store, "c", "2026-11-03T00:00:00.000Z");
    let before = store.run_aggregates("a").unwrap();
    let listed = store.list_runs().unwrap();

    assert_eq!(
        store.apply_retention(None, None, None).unwrap().runs,
        Vec::<String>::new()
    );
    assert!(
        store
            .apply_retention(Some(1), None, Some("other.toml"))
            .unwrap()
            .runs
            .is_empty()
    );
    let outcome = store.apply_retention(Some(1), None, None).unwrap();
    assert_eq!(outcome.runs, vec!["a".to_owned(), "b".to_owned()]);
    assert_eq!(outcome.samples, 24);

    let conn = raw(store.path());
    for table in ["samples", "completions", "grades", "attempts"] {
        assert_eq!(
            count(
                &conn,
                &format!("SELECT count(*) FROM {table} WHERE run_id IN ('a', 'b')")
            ),
            0,
            "{table}"
        );
    }
    assert_eq!(
        count(&conn, "SELECT count(*) FROM samples WHERE run_id = 'c'"),
        12
    );
    let after = store.run_aggregates("a").unwrap();
    assert!(after.samples_deleted);
    assert_eq!(after.groups, before.groups);
    assert_eq!(
        store.list_runs().unwrap(),
        listed,
        "counts come from the aggregates"
    );
    let run = store.run("a").unwrap();
    assert!(run.samples_deleted_at.is_some());
    assert_eq!(run.status, RunStatus::Finished);
    assert_eq!(
        store.finished_sample_ids("a").unwrap_err().kind(),
        "run_pruned"
    );
    // Keeping by age: every run here is older than a day.
    let by_age = store.apply_retention(None, Some(1), None).unwrap();
    assert_eq!(by_age.runs, vec!["c".to_owned()]);
}

#[test]
fn retention_never_touches_a_run_a_process_holds() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store.set_histogram_buckets(buckets());
    add_run(&mut store, "a", "2026-11-01T00:00:00.000Z");
    let _held = store.claim_run("a").unwrap();
    add_run(&mut store, "b", "2026-11-02T00:00:00.000Z");
    assert!(
        store
            .apply_retention(Some(1), None, None)
            .unwrap()
            .runs
            .is_empty()
    );
}

/// What each grader spent (a judge's tokens and cost) is kept per grader, through retention,
/// and aggregates written before schema version 6 (without it) are computed again.
#[test]
fn grader_spend_is_kept_per_grader_and_old_aggregates_are_recomputed() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store.set_histogram_buckets(buckets());
    add_run(&mut store, "a", "2026-11-01T00:00:00.000Z");
    add_run(&mut store, "b", "2026-11-02T00:00:00.000Z");
    let judged = |a: &llmbench_store::RunAggregates| -> Vec<(u64, u64, String)> {
        a.groups
            .iter()
            .filter_map(|g| {
                let j = g.grades.get("judge")?;
                Some((
                    j.input_tokens?,
                    j.output_tokens?,
                    format!("{:.6}", j.cost_usd?),
                ))
            })
            .collect()
    };
    let a = store.run_aggregates("a").unwrap();
    // zeta x model-z x t1: items 2 and 10, answered in full, each with a judge grade.
    let zeta_t1 = a
        .groups
        .iter()
        .find(|g| g.provider == "zeta" && g.model == "model-z" && g.task == "t1")
        .unwrap();
    let answered = zeta_t1.grades["judge"].error;
    assert!(answered > 0);
    assert_eq!(zeta_t1.grades["judge"].input_tokens, Some(300 * answered));
    assert_eq!(zeta_t1.grades["judge"].output_tokens, Some(40 * answered));
    assert_eq!(zeta_t1.grades["g1"].input_tokens, None, "g1 spends nothing");
    assert_eq!(zeta_t1.grades["g1"].cost_usd, None);
    let spent = judged(&a);
    assert!(!spent.is_empty());

    // Retention keeps the spend with the aggregates.
    store.apply_retention(Some(1), None, None).unwrap();
    let kept = store.run_aggregates("a").unwrap();
    assert!(kept.samples_deleted);
    assert_eq!(judged(&kept), spent);

    // A store written before version 6: run b's aggregates have no spend rows and are
    // marked as such by the migration; asked for, they are computed again, with spend.
    let conn = raw(store.path());
    conn.execute_batch(
        "DELETE FROM run_aggregate_grader_spend WHERE run_id = 'b';
         UPDATE runs SET aggregated_at = NULL WHERE id = 'b';",
    )
    .unwrap();
    let b = store.run_aggregates("b").unwrap();
    assert_eq!(judged(&b), judged(&a));
    assert!(
        count(
            &conn,
            "SELECT count(*) FROM run_aggregate_grader_spend WHERE run_id = 'b'"
        ) > 0
    );
}
