//! Reading a run for reports that scale: every sample's outline in report order, and the
//! selected samples in full.

use llmbench_core::{SampleKey, SampleRecord};

use crate::common::{error_record, full_record, key, store_with_run, unknown_usage_record};

/// What an outline keeps of a full record: everything but its texts.
fn outline_of(full: &SampleRecord) -> SampleRecord {
    let mut s = full.clone();
    if let Some(c) = s.completion.as_mut() {
        c.text.clear();
        c.stop_reason = llmbench_core::StopReason::EndTurn;
        c.response_model = None;
    }
    if let Some(e) = s.error.as_mut() {
        e.message.clear();
        e.provider_code = None;
        e.retry_after = None;
        e.should_retry = None;
    }
    for (_, g) in &mut s.grades {
        g.evidence.clear();
    }
    s.request = None;
    s
}

#[test]
fn outlines_come_in_report_order_without_texts_and_keys_read_back_in_full() {
    let (_dir, mut store) = store_with_run();
    // Config order: tasks t2, t1; providers zeta, alpha; `t0` and `beta` are not in it.
    let records = vec![
        full_record(key("t1", "a", "alpha", 0)),
        error_record(key("t0", "a", "zeta", 0)),
        full_record(key("t2", "b", "alpha", 0)),
        unknown_usage_record(key("t2", "a", "beta", 0)),
        full_record(key("t2", "b", "zeta", 1)),
        error_record(key("t1", "a", "zeta", 0)),
        full_record(key("t2", "a", "zeta", 0)),
    ];
    for r in &records {
        store.record_sample("r1", r, &[]).unwrap();
    }
    let full = store.report("r1").unwrap().samples;
    let mut outlines = Vec::new();
    store
        .for_each_sample_outline("r1", |s| {
            outlines.push(s);
            Ok(())
        })
        .unwrap();
    let expected: Vec<SampleRecord> = full.iter().map(outline_of).collect();
    assert_eq!(outlines, expected);
    // Several grades per sample are kept, in grader order.
    assert!(outlines.iter().any(|s| s.grades.len() > 1), "{outlines:?}");

    let wanted: Vec<SampleKey> = vec![
        full[3].key.clone(),
        key("t9", "missing", "zeta", 0),
        full[0].key.clone(),
    ];
    let back = store.samples_by_key("r1", &wanted).unwrap();
    assert_eq!(back, vec![full[3].clone(), full[0].clone()]);
    assert_eq!(store.run_info("r1").unwrap().run_id, "r1");
    assert!(store.for_each_sample_outline("nope", |_| Ok(())).is_err());
}
