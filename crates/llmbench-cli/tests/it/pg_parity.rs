//! The read commands give the same output on a PostgreSQL store ([`PgServer`]) as on a
//! SQLite store holding the same runs, apart from the store's name: `report` (console and
//! Markdown), `export` (JSON Lines and CSV), `gate` and `compare`. The runs are replayed
//! from recorded answers with recorded latencies, so two executions store the same values;
//! only the times at which they ran differ.

use std::path::Path;

use llmbench_testsupport::postgres::PgServer;

use crate::postgres::succeed;
use crate::{llmbench, text};

const ITEMS: [&str; 6] = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"];

/// Recorded answers for models `m-small` and `m-large`: `fail` items are answered `wrong`.
/// Latencies, tokens and stop reasons vary by item; one token count is unknown.
fn answers(dir: &Path, name: &str, slower: f64, fail: &[&str]) {
    let mut lines = Vec::new();
    for (m, model) in ["m-small", "m-large"].iter().enumerate() {
        for (i, item) in ITEMS.iter().enumerate() {
            let answer = if fail.contains(item) {
                "wrong"
            } else {
                "right"
            };
            let output = if i == 3 && m == 1 {
                "null".to_owned()
            } else {
                (40 + 7 * i + 3 * m).to_string()
            };
            lines.push(format!(
                r#"{{"task": "t", "item": "{item}", "model": "{model}", "text": "{answer}: {item} {model}", "input-tokens": {}, "output-tokens": {output}, "latency-ms": {:.1}, "ttft-ms": {:.1}, "stop-reason": "{}"}}"#,
                100 + 11 * i,
                (800.0 + 137.5 * i as f64 + 300.0 * m as f64) * slower,
                120.0 + 10.0 * i as f64,
                if i == 5 { "max_tokens" } else { "end_turn" },
            ));
        }
    }
    std::fs::write(dir.join(name), lines.join("\n") + "\n").unwrap();
}

fn config(dir: &Path, name: &str, answers: &str) -> std::path::PathBuf {
    let items: Vec<String> = ITEMS
        .iter()
        .map(|i| format!("{{ id = \"{i}\", text = \"question {i}\" }}"))
        .collect();
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            r#"[run]
plugin-dir = "{plugins}"
repeats = 2

[providers.small]
plugin = "provider-replay"
model = "m-small"
options = {{ answers = "{answers}" }}
price = {{ input-per-mtok = 1.0, output-per-mtok = 4.0, as-of = "2026-05-01" }}

[providers.large]
plugin = "provider-replay"
model = "m-large"
options = {{ answers = "{answers}" }}
price = {{ input-per-mtok = 3.0, output-per-mtok = 15.0, as-of = "2026-05-01" }}

[tasks.t]
prompt = "{{{{text}}}}"
items = [{items}]

[[tasks.t.graders]]
plugin = "grader-regex"
[tasks.t.graders.options]
pattern = "^right"
"#,
            plugins = crate::plugin_dir_with(&["reporter-markdown"]).display(),
            items = items.join(", "),
        ),
    )
    .unwrap();
    path
}

/// A command's standard output with the store's name replaced by `<store>`; it must
/// succeed unless `code` says otherwise.
fn output(args: &[&str], store_flags: &[&str], shown: &str, code: i32) -> String {
    let out = llmbench(args).args(store_flags).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}: {stdout}\n{stderr}"
    );
    stdout.replace(shown, "<store>")
}

/// The JSON export with each sample's `finished_at` (when it was stored) checked for the
/// store's form and masked.
fn export_masked(store_flags: &[&str], shown: &str, run: &str) -> String {
    let out = output(&["export", run, "--format", "jsonl"], store_flags, shown, 0);
    out.lines()
        .map(|line| {
            let mut row: serde_json::Value = serde_json::from_str(line).unwrap();
            let at = row["finished_at"].as_str().unwrap();
            let t: jiff::Timestamp = at.parse().unwrap();
            assert_eq!(at, format!("{t:.3}"), "milliseconds in UTC");
            row["finished_at"] = "<time>".into();
            row.to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Everything the read commands print about runs `base` and `cand` from one store.
fn outputs(store_flags: &[&str], shown: &str) -> Vec<(String, String)> {
    let mut all = Vec::new();
    for run in ["base", "cand"] {
        let console = output(&["report", run], store_flags, shown, 0);
        assert!(console.contains("Store: <store>"), "{console}");
        all.push((format!("report {run}"), console));
        // The Markdown report's config line holds when the run started.
        let markdown = output(
            &["report", run, "--format", "markdown"],
            store_flags,
            shown,
            0,
        )
        .lines()
        .filter(|l| !l.starts_with("Config `"))
        .collect::<Vec<_>>()
        .join("\n");
        all.push((format!("markdown {run}"), markdown));
        all.push((
            format!("export {run}"),
            export_masked(store_flags, shown, run),
        ));
        let csv = output(&["export", run, "--format", "csv"], store_flags, shown, 0);
        // `finished_at` is the one column that holds a time.
        let masked: Vec<String> = csv
            .lines()
            .map(|l| {
                l.split(',')
                    .map(|f| {
                        if f.parse::<jiff::Timestamp>().is_ok() {
                            "<time>"
                        } else {
                            f
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .collect();
        all.push((format!("csv {run}"), masked.join("\n")));
    }
    // The candidate is slower and fails more: the gate fails (exit 5).
    let gate = output(
        &["gate", "cand", "--baseline", "base"],
        store_flags,
        shown,
        5,
    );
    assert!(gate.contains("FAIL"), "{gate}");
    all.push(("gate".to_owned(), gate));
    all.push((
        "compare".to_owned(),
        output(&["compare", "base", "cand"], store_flags, shown, 0),
    ));
    all
}

#[test]
fn reports_exports_gate_and_compare_read_the_same_from_postgres_as_from_sqlite() {
    let pg = PgServer::start();
    let url = pg.url();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    answers(d, "base.jsonl", 1.0, &["echo"]);
    answers(d, "cand.jsonl", 1.6, &["echo", "alpha", "delta"]);
    let base = config(d, "base.toml", "base.jsonl");
    let cand = config(d, "cand.toml", "cand.jsonl");
    let sqlite = d.join("results");
    let sqlite_flags = ["--store", sqlite.to_str().unwrap()];
    let pg_flags = ["--store", url.as_str()];
    for flags in [&sqlite_flags, &pg_flags] {
        for (run, config) in [("base", &base), ("cand", &cand)] {
            succeed(
                llmbench(&["run", "--run-id", run, "--config"])
                    .arg(config)
                    .args(flags),
            );
        }
    }
    let from_sqlite = outputs(
        &sqlite_flags,
        &sqlite.join("llmbench.sqlite").display().to_string(),
    );
    let from_pg = outputs(&pg_flags, &url);
    for ((what, s), (_, p)) in from_sqlite.iter().zip(&from_pg) {
        assert_eq!(
            p, s,
            "{what}: PostgreSQL (left) differs from SQLite (right)"
        );
    }
}
