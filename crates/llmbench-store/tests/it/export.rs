//! JSON Lines and CSV exports, parsed back.

use llmbench_store::{CSV_COLUMNS, ExportFormat};
use serde_json::{Value, json};

use crate::common::*;

fn exported(format: ExportFormat) -> (u64, String, Vec<llmbench_core::SampleRecord>) {
    let (_dir, mut store) = store_with_run();
    let records = vec![
        full_record(key("t2", "a", "zeta", 0)),
        error_record(key("t2", "a", "alpha", 0)),
        unknown_usage_record(key("t1", "b", "alpha", 0)),
    ];
    // Recorded out of order; exports come in report order.
    for record in records.iter().rev() {
        store.record_sample("r1", record, &attempts(2)).unwrap();
    }
    let mut out = Vec::new();
    let rows = store.export("r1", format, &mut out).unwrap();
    (rows, String::from_utf8(out).unwrap(), records)
}

#[test]
fn jsonl_has_one_object_per_sample() {
    let (rows, text, records) = exported(ExportFormat::Jsonl);
    assert_eq!(rows, 3);
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(text.ends_with('\n'));

    let full = &lines[0];
    assert_eq!(full["run_id"], "r1");
    assert_eq!(full["sample_id"], records[0].key.id().to_string());
    assert_eq!(
        (
            &full["task"],
            &full["item"],
            &full["provider"],
            &full["repeat"]
        ),
        (&json!("t2"), &json!("a"), &json!("zeta"), &json!(0))
    );
    assert_eq!(full["model"], "model-z");
    assert_eq!(full["status"], "done");
    assert_eq!(full["error"], Value::Null);
    assert_eq!(full["stop_reason"], "refusal");
    assert_eq!(full["response_model"], "model-z-2026-11-01");
    assert_eq!(full["input_tokens"], 121);
    assert_eq!(full["output_tokens"], 451);
    assert_eq!(full["cache_read_tokens"], 7);
    assert_eq!(full["cache_write_tokens"], 3);
    assert_eq!(full["reasoning_tokens"], 100);
    assert_eq!(full["latency_seconds"], 2.345678901);
    assert_eq!(full["ttft_seconds"], 0.456);
    assert_eq!(full["cost_usd"], 0.0023761);
    assert_eq!(
        full["verdict"],
        json!({"pass": false, "score": 0.4166666666666667, "first_failure": 1})
    );
    assert_eq!(full["grades"].as_array().unwrap().len(), 3);
    assert_eq!(
        full["grades"][1],
        json!({
            "name": "g2",
            "outcome": "fail",
            "score": 0.25,
            "evidence": "2 of 8 tests passed\nfirst failure: race",
            "kind": "execution",
            "input_tokens": null,
            "output_tokens": null,
            "cost_usd": null,
        })
    );
    assert_eq!(full["grades"][2]["kind"], "judgement");
    // The judge's spend is the grade's, not the sample's.
    assert_eq!(full["grades"][2]["input_tokens"], 300);
    assert_eq!(full["grades"][2]["output_tokens"], 40);
    assert_eq!(full["grades"][2]["cost_usd"], 0.0005);
    assert_eq!(full["attempts"], 2);
    assert_eq!(
        full["text"].as_str().unwrap(),
        records[0].completion.as_ref().unwrap().text
    );
    assert!(full["finished_at"].as_str().unwrap().ends_with('Z'));

    let failed = &lines[1];
    assert_eq!(failed["status"], "error");
    assert_eq!(
        failed["error"],
        json!({
            "kind": "rate_limited",
            "message": "rate limited: slow down",
            "http_status": 429,
            "provider_code": "rate_limit_error",
        })
    );
    assert_eq!(failed["text"], Value::Null);
    assert_eq!(failed["latency_seconds"], Value::Null);
    assert_eq!(failed["verdict"], Value::Null);
    assert_eq!(failed["grades"], json!([]));

    let unknown = &lines[2];
    assert_eq!(unknown["task"], "t1");
    for field in [
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "ttft_seconds",
        "cost_usd",
    ] {
        assert_eq!(unknown[field], Value::Null, "{field}");
    }
    assert_eq!(unknown["text"], "");
    assert_eq!(unknown["stop_reason"], "end_turn");
}

#[test]
fn csv_has_a_header_and_quotes_text() {
    let (rows, text, records) = exported(ExportFormat::Csv);
    assert_eq!(rows, 3);
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(header, CSV_COLUMNS);
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 3);
    let col = |row: &csv::StringRecord, name: &str| -> String {
        let i = CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
        row[i].to_owned()
    };

    let full = &rows[0];
    // Commas, quotes, newlines and semicolons survive quoting.
    assert_eq!(
        col(full, "text"),
        records[0].completion.as_ref().unwrap().text
    );
    assert_eq!(col(full, "sample_id"), records[0].key.id().to_string());
    assert_eq!(col(full, "grades"), "g1:pass;g2:fail;judge:error");
    assert_eq!(col(full, "verdict_pass"), "false");
    assert_eq!(col(full, "verdict_score"), "0.4166666666666667");
    assert_eq!(col(full, "first_failure"), "1");
    assert_eq!(col(full, "input_tokens"), "121");
    assert_eq!(col(full, "latency_seconds"), "2.345678901");
    assert_eq!(col(full, "cost_usd"), "0.0023761");
    assert_eq!(col(full, "grader_input_tokens"), "300");
    assert_eq!(col(full, "grader_output_tokens"), "40");
    assert_eq!(col(full, "grader_cost_usd"), "0.0005");
    assert_eq!(col(full, "stop_reason"), "refusal");
    assert_eq!(col(full, "attempts"), "2");
    assert_eq!(col(full, "error_kind"), "");

    let failed = &rows[1];
    assert_eq!(col(failed, "status"), "error");
    assert_eq!(col(failed, "error_kind"), "rate_limited");
    assert_eq!(col(failed, "error_message"), "rate limited: slow down");
    assert_eq!(col(failed, "http_status"), "429");
    assert_eq!(col(failed, "text"), "");
    assert_eq!(col(failed, "grades"), "");

    let unknown = &rows[2];
    for name in [
        "input_tokens",
        "output_tokens",
        "reasoning_tokens",
        "cost_usd",
        "ttft_seconds",
        "grader_cost_usd",
    ] {
        assert_eq!(col(unknown, name), "", "{name}");
    }
    assert_eq!(col(unknown, "latency_seconds"), "0.01");
}

#[test]
fn an_empty_run_exports_nothing_but_the_header() {
    let (_dir, store) = store_with_run();
    let mut out = Vec::new();
    assert_eq!(
        store.export("r1", ExportFormat::Jsonl, &mut out).unwrap(),
        0
    );
    assert!(out.is_empty());
    assert_eq!(store.export("r1", ExportFormat::Csv, &mut out).unwrap(), 0);
    assert_eq!(
        String::from_utf8(out).unwrap().trim_end(),
        CSV_COLUMNS.join(",")
    );
}

#[test]
fn a_failing_writer_is_an_export_error() {
    struct Broken;
    impl std::io::Write for Broken {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::Error::other("disk on fire"))
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let (_dir, mut store) = store_with_run();
    store
        .record_sample("r1", &full_record(key("t1", "a", "zeta", 0)), &[])
        .unwrap();
    for format in ExportFormat::ALL {
        let err = store.export("r1", format, &mut Broken).unwrap_err();
        assert_eq!(err.kind(), "export");
        // The cause is the error's source (printed once by whoever prints the chain).
        let cause = std::error::Error::source(&err).unwrap().to_string();
        assert!(cause.contains("disk on fire"), "{err}: {cause}");
    }
}
