//! `grader-llm-judge` in a whole sweep: provider-testkit is the model under test, and the
//! judge is a `judge-only` provider entry (`provider-openai`) pointed at the in-repo mock
//! server. The judge's requests go through the runner: retried, rate-limited and capped like
//! the samples'; its tokens and cost belong to its grade, never to the sample; its spend is
//! in the estimate and counts against the spend cap; its key is read from the entry's
//! `api-key-env` and recorded nowhere.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use llmbench_mockserver::{
    Answer, ApiKeyCheck, MockConfig, MockServer, Protocol, RequestRecord, max_in_window,
};

use crate::{export_jsonl, llmbench, plugin_dir_with, text, write_config};

/// The judge's key, in the environment of the `llmbench` process only.
const KEY_ENV: &str = "LLMBENCH_TEST_JUDGE_KEY";
const KEY: &str = "sk-llmbench-judge-FAKE-3c9e1a7b";

/// The judge's verdict on every answer.
const VERDICT: &str = r#"{"score": 0.6, "pass": true, "rationale": "names the race"}"#;

/// A judge that accepts only [`KEY`] and answers `answer`, with `faults`.
fn judge_server_with(answer: Answer, faults: &[&str]) -> MockServer {
    plugin_dir_with(&["grader-llm-judge", "provider-openai"]);
    let mut config = MockConfig {
        answer,
        api_key: ApiKeyCheck::Exact(KEY.into()),
        ..MockConfig::new(Protocol::OpenAi)
    };
    for fault in faults {
        config.set("fault", fault).unwrap();
    }
    MockServer::start_background(config).unwrap()
}

/// A judge that always gives [`VERDICT`].
fn judge_server() -> MockServer {
    judge_server_with(Answer::Fixed(VERDICT.into()), &[])
}

/// `items` items, the model priced at 1 USD per million tokens, the judge (a `judge-only`
/// entry with `judge_entry` added) at 1,000 / 2,000.
fn config_with(
    dir: &Path,
    server: &MockServer,
    run: &str,
    judge_entry: &str,
    items: usize,
    threshold: f64,
) -> std::path::PathBuf {
    let items: Vec<String> = (0..items)
        .map(|i| format!("{{ id = \"i{i}\", text = \"fix the race {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"{run}

[providers.echo]
plugin = "provider-testkit"
model = "echo-priced"
price = {{ input-per-mtok = 1.0, output-per-mtok = 1.0 }}

[providers.judge]
plugin = "provider-openai"
model = "judge-model"
api-key-env = "{KEY_ENV}"
judge-only = true
price = {{ input-per-mtok = 1000.0, output-per-mtok = 2000.0 }}
{judge_entry}
[providers.judge.options]
base-url = "{base}/v1"

[tasks.t]
prompt = "{{{{text}}}}"
max-tokens = 64
items = [{items}]

[[tasks.t.graders]]
name = "judge"
plugin = "grader-llm-judge"
judge = "judge"
[tasks.t.graders.options]
rubric = "The answer names the race."
pass-threshold = {threshold}
"#,
            items = items.join(", "),
            base = server.base_url(),
        ),
    )
}

/// Ten items, one sample at a time.
fn config(dir: &Path, server: &MockServer, extra_run: &str, threshold: f64) -> std::path::PathBuf {
    config_with(
        dir,
        server,
        &format!("concurrency = 1\n{extra_run}"),
        "",
        10,
        threshold,
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
    // The entry's model id, not streamed.
    assert!(
        server
            .log()
            .iter()
            .all(|r| r.model.as_deref() == Some("judge-model") && !r.stream)
    );

    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), 10, "the judge-only entry gets no samples");
    let mut judge_total = 0.0;
    for row in &rows {
        assert_eq!(row["provider"], "echo", "{row}");
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
        // Priced with the judge entry's price.
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

/// The acceptance test of the judge going through the runner: under injected 429s the
/// judge's requests are retried by the runner (after the server's `retry-after`) and held to
/// the entry's `requests-per-minute`, as the server's own request log shows; the estimate
/// printed before the run has the judge's spend apart.
#[test]
fn the_judges_requests_are_retried_and_rate_limited_by_the_runner() {
    // Every judge prompt is refused once with a 429, then answered.
    let server = judge_server_with(
        Answer::Fixed(VERDICT.into()),
        &["429;retry-after=1;times=1@1"],
    );
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(
        dir.path(),
        &server,
        "concurrency = 2\nmax-cost-usd = 1000.0",
        "requests-per-minute = 3\nmax-retries = 2\nconcurrency = 1",
        2,
        0.5,
    );
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}\n{stdout}");

    // The estimate: two samples, two judgements, the judges' spend apart.
    let line = stderr
        .lines()
        .find(|l| l.contains("estimated cost: "))
        .unwrap_or_else(|| panic!("no estimate in {stderr}"));
    assert!(line.contains(" for 2 samples (models "), "{line}");
    assert!(line.contains(" USD for 2 gradings)"), "{line}");
    let judges: f64 = line
        .split("judges ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|usd| usd.parse().ok())
        .unwrap_or_else(|| panic!("no judge spend in {line}"));
    assert!(judges > 0.1, "{line}");

    // Server side: each prompt was refused once, then retried no sooner than its
    // `retry-after`, and answered.
    let log = server.log();
    assert_eq!(log.len(), 4, "two judgements, each retried once");
    let mut by_prompt: HashMap<u64, Vec<&RequestRecord>> = HashMap::new();
    for r in &log {
        by_prompt.entry(r.prompt_hash.unwrap()).or_default().push(r);
    }
    assert_eq!(by_prompt.len(), 2);
    for records in by_prompt.values_mut() {
        records.sort_by_key(|r| r.attempt);
        let statuses: Vec<_> = records.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [Some(429), Some(200)]);
        let gap = records[1].arrived.duration_since(records[0].arrived);
        assert!(
            gap >= Duration::from_millis(990),
            "retried {gap:?} after a 429 with retry-after: 1"
        );
    }
    // ... and the entry's `requests-per-minute = 3` held the fourth request (retries count)
    // until a minute after the first.
    assert!(
        max_in_window(&log, Duration::from_secs(60)) <= 3,
        "more than 3 judge requests in a 60 s window"
    );
    let first = log.iter().map(|r| r.arrived).min().unwrap();
    let last = log.iter().map(|r| r.arrived).max().unwrap();
    assert!(
        last.duration_since(first) >= Duration::from_secs(59),
        "the limiter did not hold the last request back: {:?}",
        last.duration_since(first)
    );

    // The samples were not retried (the retries were the judge's) and both were judged.
    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), 2);
    for row in &rows {
        assert_eq!(row["attempts"], 1, "{row}");
        assert_eq!(row["grades"][0]["outcome"], "pass", "{row}");
        assert!(
            row["grades"][0]["cost_usd"].as_f64().unwrap() > 0.0,
            "{row}"
        );
    }
}

#[test]
fn the_judges_spend_counts_against_the_cap_and_the_cap_stops_it() {
    // The judge's first reply is not a verdict, so it is asked again: the first request
    // alone passes the cap, so the re-ask is refused by the runner, and the run stops.
    let server = judge_server_with(
        Answer::PerUserTurn(vec!["I think the answer is fine.".into(), VERDICT.into()]),
        &[],
    );
    let dir = tempfile::tempdir().unwrap();
    // The model's own spend is far below the cap; one judge request passes it.
    let config = config(dir.path(), &server, "max-cost-usd = 0.01", 0.5);
    let refused = llmbench(&["run", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (_, stderr) = text(&refused);
    assert_eq!(refused.status.code(), Some(6), "{stderr}");
    assert!(
        stderr.contains("judges ") && stderr.contains("over `max-cost-usd` = 0.01 USD"),
        "the estimate, over the cap by the judges' spend: {stderr}"
    );
    assert!(server.log().is_empty(), "nothing was sent");

    let out = llmbench(&["run", "--allow-over-budget", "--config"])
        .arg(&config)
        .env(KEY_ENV, KEY)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(6), "{stderr}\n{stdout}");
    assert!(
        stdout.contains("spend cap of 0.01000 USD reached"),
        "{stdout}"
    );
    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), 1, "the run stopped after the first sample");
    let grade = &rows[0]["grades"][0];
    assert_eq!(grade["outcome"], "error", "{grade}");
    let evidence = grade["evidence"].as_str().unwrap();
    assert!(
        evidence
            .contains("the re-ask failed: spend_limit: the run's spend cap of 0.01 USD is reached"),
        "{evidence}"
    );
    // The one request that was sent is paid for, and on the grade.
    assert_eq!(server.log().len(), 1);
    assert!(grade["cost_usd"].as_f64().unwrap() >= 0.01, "{grade}");
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
            "providers.judge: environment variable `{KEY_ENV}` (named by `api-key-env`) is not set"
        )),
        "{stderr}"
    );
    assert!(server.log().is_empty());
}
