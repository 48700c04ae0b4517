//! Run metadata, status changes and listings.

use llmbench_core::SampleKey;
use llmbench_store::{RunStatus, RunSummaryRow, Store, StoreError};

use crate::common::*;

#[test]
fn run_metadata_round_trips() {
    let (_dir, store) = store_with_run();
    let run = store.run("r1").unwrap();
    let expected = new_run("r1", "2026-11-28T07:14:01.000Z");
    assert_eq!(run.id, expected.id);
    assert_eq!(run.created_at, expected.created_at);
    assert_eq!(run.config_path, expected.config_path);
    assert_eq!(run.config_toml, expected.config_toml);
    assert_eq!(run.prices_json, expected.prices_json);
    assert_eq!(run.planned_samples, 8);
    assert_eq!(run.providers, expected.providers);
    assert_eq!(run.graders, expected.graders);
    assert_eq!(run.pass_at_k, vec![1, 5]);
    assert_eq!(run.status, RunStatus::Running);
    assert_eq!(run.finished_at, None);
    assert_eq!(run.status_reason, None);

    let report = store.report("r1").unwrap();
    assert_eq!(report.run.run_id, "r1");
    assert_eq!(report.run.status, "running");
    assert_eq!(report.run.started_at, expected.created_at);
    assert_eq!(report.run.store_path, store.path().display().to_string());
    assert_eq!(report.run.providers, expected.providers);
    assert_eq!(report.run.graders, expected.graders);
    assert_eq!(report.run.pass_at_k, vec![1, 5]);
    assert!(report.samples.is_empty());
}

#[test]
fn creating_a_run_twice_fails() {
    let (_dir, store) = store_with_run();
    let err = store
        .create_run(&new_run("r1", "2026-11-29T00:00:00.000Z"))
        .unwrap_err();
    assert_eq!(err.kind(), "run_exists");
    assert_eq!(
        store.run("r1").unwrap().created_at,
        "2026-11-28T07:14:01.000Z"
    );
}

#[test]
fn status_changes_stamp_and_clear_finished_at() {
    let (_dir, store) = store_with_run();
    store
        .set_run_status(
            "r1",
            RunStatus::Interrupted,
            Some("cost cap of 5 USD reached"),
        )
        .unwrap();
    let run = store.run("r1").unwrap();
    assert_eq!(run.status, RunStatus::Interrupted);
    assert_eq!(
        run.status_reason.as_deref(),
        Some("cost cap of 5 USD reached")
    );
    let finished_at = run.finished_at.expect("stamped");
    assert!(
        finished_at.ends_with('Z') && finished_at.len() == 24,
        "{finished_at}"
    );

    store
        .set_run_status("r1", RunStatus::Running, None)
        .unwrap();
    let run = store.run("r1").unwrap();
    assert_eq!(
        (run.status, run.finished_at, run.status_reason),
        (RunStatus::Running, None, None)
    );

    store
        .set_run_status("r1", RunStatus::Finished, None)
        .unwrap();
    assert_eq!(store.report("r1").unwrap().run.status, "finished");
}

#[test]
fn unknown_runs_are_reported_with_the_store_path() {
    let (_dir, store) = store_with_run();
    let expected = format!(
        "{}: no run `r9` in this results store",
        store.path().display()
    );
    let errors: Vec<StoreError> = vec![
        store.run("r9").unwrap_err(),
        store.report("r9").unwrap_err(),
        store
            .set_run_status("r9", RunStatus::Failed, Some("x"))
            .unwrap_err(),
        store
            .export("r9", llmbench_store::ExportFormat::Csv, &mut Vec::new())
            .unwrap_err(),
    ];
    for err in errors {
        assert_eq!(err.kind(), "run_not_found");
        assert_eq!(err.to_string(), expected);
    }
}

#[test]
fn latest_and_list() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    assert_eq!(store.latest_run_id().unwrap(), None);
    assert_eq!(store.list_runs().unwrap(), vec![]);

    store
        .create_run(&new_run("b", "2026-11-28T09:00:00.000Z"))
        .unwrap();
    store
        .create_run(&new_run("a", "2026-11-28T08:00:00.000Z"))
        .unwrap();
    assert_eq!(store.latest_run_id().unwrap().as_deref(), Some("b"));

    let k = |item: &str| SampleKey {
        task: "t1".into(),
        item: item.into(),
        provider: "zeta".into(),
        repeat: 0,
    };
    store.record_sample("b", &full_record(k("1")), &[]).unwrap();
    store.record_sample("b", &full_record(k("2")), &[]).unwrap();
    store
        .record_sample("b", &error_record(k("3")), &[])
        .unwrap();
    store
        .record_sample("a", &error_record(k("1")), &[])
        .unwrap();
    store
        .set_run_status("a", RunStatus::Failed, Some("boom"))
        .unwrap();

    assert_eq!(
        store.list_runs().unwrap(),
        vec![
            RunSummaryRow {
                id: "a".into(),
                created_at: "2026-11-28T08:00:00.000Z".into(),
                status: RunStatus::Failed,
                planned_samples: 8,
                done: 0,
                errors: 1,
            },
            RunSummaryRow {
                id: "b".into(),
                created_at: "2026-11-28T09:00:00.000Z".into(),
                status: RunStatus::Running,
                planned_samples: 8,
                done: 2,
                errors: 1,
            },
        ]
    );
}
