//! Reading a run in the order the file holds it (`Store::for_each_sample_outline_in_storage_order`):
//! the same samples as the report-order outlines, and a run whose tables are not in step is
//! said to be so.

use llmbench_core::{GradeOutcome, SampleRecord};
use llmbench_store::SampleOutlineRow;

use crate::common::{error_record, full_record, key, raw, store_with_run, unknown_usage_record};

/// What both readers give, comparable: key, status, error, answer numbers, cost, verdict and
/// each grade's grader, outcome, kind and cost.
type Seen = (
    String,
    String,
    String,
    u32,
    String,
    Option<(String, Option<u16>)>,
    Option<String>,
    Option<f64>,
    Option<(bool, f64)>,
    Vec<(String, GradeOutcome, String, Option<f64>)>,
);

fn seen_row(s: &SampleOutlineRow<'_>) -> Seen {
    (
        s.task.to_owned(),
        s.item.to_owned(),
        s.provider.to_owned(),
        s.repeat,
        format!("{:?}", s.status),
        s.error.map(|(k, h)| (k.as_str().to_owned(), h)),
        s.answer
            .map(|a| format!("{:?} {:?} {:?}", a.usage, a.latency, a.time_to_first_token)),
        s.cost_usd,
        s.verdict,
        s.grades
            .iter()
            .map(|g| {
                (
                    s.grader_names[g.grader].clone(),
                    g.outcome,
                    format!("{:?}", g.kind),
                    g.cost_usd,
                )
            })
            .collect(),
    )
}

fn seen_record(s: &SampleRecord) -> Seen {
    (
        s.key.task.clone(),
        s.key.item.clone(),
        s.key.provider.clone(),
        s.key.repeat,
        format!("{:?}", s.status),
        s.error
            .as_ref()
            .map(|e| (e.kind.as_str().to_owned(), e.http_status)),
        s.completion.as_ref().map(|c| {
            format!(
                "{:?} {:?} {:?}",
                c.usage, c.timings.latency, c.timings.time_to_first_token
            )
        }),
        s.cost_usd,
        s.verdict.as_ref().map(|v| (v.pass, v.score)),
        s.grades
            .iter()
            .map(|(name, g)| (name.clone(), g.outcome, format!("{:?}", g.kind), g.cost_usd))
            .collect(),
    )
}

#[test]
fn storage_order_gives_every_sample_as_report_order_does() {
    let (dir, mut store) = store_with_run();
    let records = [
        full_record(key("t1", "a", "alpha", 0)),
        error_record(key("t0", "a", "zeta", 0)),
        full_record(key("t2", "b", "alpha", 0)),
        unknown_usage_record(key("t2", "a", "beta", 0)),
        full_record(key("t2", "b", "zeta", 1)),
        error_record(key("t1", "a", "zeta", 0)),
        full_record(key("t2", "a", "zeta", 0)),
    ];
    for r in &records[..3] {
        store.record_sample("r1", r, &[]).unwrap();
    }
    // Several samples in one transaction, as the runner's group commit writes them.
    let rest: Vec<_> = records[3..].iter().map(|r| (r, &[][..])).collect();
    store.record_samples("r1", rest).unwrap();
    let mut ordered = Vec::new();
    store
        .for_each_sample_outline("r1", |s| {
            ordered.push(seen_record(&s));
            Ok(())
        })
        .unwrap();
    let mut stored = Vec::new();
    let in_step = store
        .for_each_sample_outline_in_storage_order("r1", |s| {
            stored.push(seen_row(s));
            Ok(())
        })
        .unwrap();
    assert!(in_step);
    // The order the file holds them: the order they were written.
    let written: Vec<_> = records
        .iter()
        .map(|r| r.key.item.clone() + &r.key.task)
        .collect();
    let read: Vec<_> = stored.iter().map(|s| s.1.clone() + &s.0).collect();
    assert_eq!(read, written);
    assert!(stored.iter().any(|s| s.9.len() > 1), "{stored:?}");
    stored.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    ordered.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
    assert_eq!(stored, ordered);
    assert!(
        store
            .for_each_sample_outline_in_storage_order("nope", |_| Ok(()))
            .is_err()
    );

    // A completion whose copy of its sample's id names another sample (a hand edit of the
    // file): the reader says the tables are not in step rather than attach it.
    let conn = raw(&dir.path().join(llmbench_store::STORE_FILE_NAME));
    conn.execute_batch(
        "UPDATE completions SET sample_id = (SELECT max(sample_id) FROM samples)
          WHERE seq = (SELECT min(seq) FROM completions)
            AND sample_id != (SELECT max(sample_id) FROM samples)",
    )
    .unwrap();
    assert_eq!(conn.changes(), 1);
    let in_step = store
        .for_each_sample_outline_in_storage_order("r1", |_| Ok(()))
        .unwrap();
    assert!(!in_step);
}

#[test]
fn grades_out_of_position_order_are_not_in_step() {
    let (dir, mut store) = store_with_run();
    store
        .record_sample("r1", &full_record(key("t2", "a", "zeta", 0)), &[])
        .unwrap();
    let in_step = store
        .for_each_sample_outline_in_storage_order("r1", |_| Ok(()))
        .unwrap();
    assert!(in_step);
    let conn = raw(&dir.path().join(llmbench_store::STORE_FILE_NAME));
    conn.execute_batch(
        "CREATE TEMP TABLE moved AS SELECT * FROM grades WHERE position = 0;
         DELETE FROM grades WHERE position = 0;
         INSERT INTO grades SELECT * FROM moved;",
    )
    .unwrap();
    let in_step = store
        .for_each_sample_outline_in_storage_order("r1", |_| Ok(()))
        .unwrap();
    assert!(!in_step);
}
