//! `grader-llm-judge` in a whole sweep: provider-testkit is the model under test, the mock
//! server is the judge. The judge's tokens and cost belong to its grade, never to the
//! sample; they count against the spend cap; its key is read from the grader's
//! `api-key-env` and recorded nowhere.

use std::path::Path;

use llmbench_mockserver::{Answer, ApiKeyCheck, MockConfig, MockServer, Protocol};

use crate::{export_jsonl, llmbench, plugin_dir, text, write_config};

/// The judge's key, in the environment of the `llmbench` process only.
const KEY_ENV: &str = "LLMBENCH_TEST_JUDGE_KEY";
const KEY: &str = "sk-llmbench-judge-FAKE-3c9e1a7b";

/// The judge's verdict on every answer.
const VERDICT: &str = r#"{"score": 0.6, "pass": true, "rationale": "names the race"}"#;

/// A judge that accepts only [`KEY`] and always gives [`VERDICT`].
fn judge_server() -> MockServer {
    let judge = plugin_dir().join("libgrader_llm_judge.so");
    assert!(
        judge.exists(),
        "{} is missing: run the tests with `cargo test --workspace` (or build it with `cargo build -p grader-llm-judge`)",
        judge.display()
    );
    MockServer::start_background(MockConfig {
        answer: Answer::Fixed(VERDICT.into()),
        api_key: ApiKeyCheck::Exact(KEY.into()),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .unwrap()
}

/// Ten items, model priced at 1 USD per million tokens, judge at 1,000 / 2,000.
fn config(dir: &Path, server: &MockServer, extra_run: &str, threshold: f64) -> std::path::PathBuf {
    let items: Vec<String> = (0..10)
        .map(|i| format!("{{ id = \"i{i}\", text = \"fix the race {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = 1
{extra_run}

[providers.echo]
plugin = "provider-testkit"
model = "echo-priced"
price = {{ input-per-mtok = 1.0, output-per-mtok = 1.0 }}

[tasks.t]
prompt = "{{{{text}}}}"
max-tokens = 64
items = [{items}]

[[tasks.t.graders]]
name = "judge"
plugin = "grader-llm-judge"
api-key-env = "{KEY_ENV}"
price = {{ input-per-mtok = 1000.0, output-per-mtok = 2000.0 }}
[tasks.t.graders.options]
protocol = "openai"
model = "judge-model"
base-url = "{base}/v1"
rubric = "The answer names the race."
pass-threshold = {threshold}
"#,
            items = items.join(", "),
            base = server.base_url(),
        ),
    )
}

fn cost(
    input: &serde_json::Value,
    output: &serde_json::Value,
    price_in: f64,
    price_out: f64,
) -> f64 {
    (input.as_u64().unwrap() as f64 * price_in + output.as_u64().unwrap() as f64 * price_out) / 1e6
}

#[test]
fn the_judges_spend_is_its_grades_not_the_samples() {
    let server = judge_server();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server, "", 0.5);
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}\n{stdout}");
    assert_eq!(server.log().len(), 10, "one judgement per sample");
    assert!(server.log().iter().all(|r| r.status == Some(200)));

    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), 10);
    let mut judge_total = 0.0;
    for row in &rows {
        // The sample's cost is the model under test's tokens at its own price.
        let sample_cost = cost(&row["input_tokens"], &row["output_tokens"], 1.0, 1.0);
        let recorded = row["cost_usd"].as_f64().unwrap();
        assert!((recorded - sample_cost).abs() < 1e-12, "{row}");
        let grade = &row["grades"][0];
        assert_eq!(grade["kind"], "judgement", "{row}");
        assert_eq!(grade["outcome"], "pass", "{row}");
        assert_eq!(
            grade["evidence"],
            "judge judge-model: score 0.6 (pass): names the race"
        );
        assert_eq!(
            grade["output_tokens"].as_u64(),
            Some(VERDICT.split_whitespace().count() as u64)
        );
        let judge_cost = cost(
            &grade["input_tokens"],
            &grade["output_tokens"],
            1000.0,
            2000.0,
        );
        assert!(judge_cost > 100.0 * sample_cost, "{row}");
        assert!(
            (grade["cost_usd"].as_f64().unwrap() - judge_cost).abs() < 1e-12,
            "{row}"
        );
        judge_total += judge_cost;
    }
    assert!(
        stdout.contains(&format!(
            "Judge cost: {judge_total:.5} USD (10 gradings, not in the table's cost"
        )),
        "{stdout}"
    );

    // The key reached the judge and was recorded nowhere.
    assert!(server.log().iter().all(|r| r.api_key_len == KEY.len()));
    assert!(!stdout.contains(KEY) && !stderr.contains(KEY));
    for entry in std::fs::read_dir(dir.path().join("results")).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()),
            "{} holds the key",
            path.display()
        );
    }
}

#[test]
fn a_failing_judgement_is_labelled_in_the_failure_list() {
    let server = judge_server();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server, "", 0.9);
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(
            "judge (judgement, fail): judge judge-model: score 0.6 (fail, though the judge said pass): names the race"
        ),
        "{stdout}"
    );
}

#[test]
fn the_judges_spend_counts_against_the_cap() {
    let server = judge_server();
    let dir = tempfile::tempdir().unwrap();
    // The model's own spend is far below the cap; the judge's reaches it within a few samples.
    let config = config(dir.path(), &server, "max-cost-usd = 1.0", 0.5);
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}\n{stdout}");
    let rows = export_jsonl(dir.path(), "latest");
    assert!(
        !rows.is_empty() && rows.len() < 10,
        "{} samples",
        rows.len()
    );
    let judged: f64 = rows
        .iter()
        .map(|r| r["grades"][0]["cost_usd"].as_f64().unwrap())
        .sum();
    assert!(judged >= 1.0, "stopped at {judged} USD of judging");
}

#[test]
fn a_missing_judge_key_is_refused_before_the_run() {
    let server = judge_server();
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), &server, "", 0.5);
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env_remove(KEY_ENV)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "tasks.t.graders[0] (judge): environment variable `{KEY_ENV}` (named by `api-key-env`) is not set"
        )),
        "{stderr}"
    );
    assert!(server.log().is_empty());
}
