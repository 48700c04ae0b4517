//! Runs that remember what was sent: reports, exports and `resume` use the requests and
//! files a run stored, never the prompt and items files on disk now.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{export_jsonl, llmbench, plugin_dir_with, text, write_config};

/// Writes the prompt file and a JSONL items file of `n` items (`item {i}` with `suffix`).
fn write_inputs(dir: &Path, prompt: &str, n: usize, suffix: &str) {
    std::fs::write(dir.join("prompt.txt"), prompt).unwrap();
    let items: String = (0..n)
        .map(|i| format!("{{\"id\": \"i{i:02}\", \"text\": \"item {i}{suffix}\"}}\n"))
        .collect();
    std::fs::write(dir.join("items.jsonl"), items).unwrap();
}

/// A config whose task reads `prompt.txt` and `items.jsonl`, asked of the echo provider
/// (its answer repeats the prompt it received) after `latency_ms`.
fn config(dir: &Path, latency_ms: u64, counter: Option<&Path>) -> PathBuf {
    let counter = counter
        .map(|c| format!("counter-file = \"{}\"\n", c.display()))
        .unwrap_or_default();
    write_config(
        dir,
        &format!(
            r#"concurrency = 2

[providers.echo]
plugin = "provider-testkit"
model = "echo"
[providers.echo.options]
fixed-latency-ms = {latency_ms}
{counter}
[tasks.t]
prompt-file = "prompt.txt"
items-file = "items.jsonl"
"#
        ),
    )
}

fn sent_prompt(row: &serde_json::Value) -> &str {
    row["request"]["messages"][0]["content"].as_str().unwrap()
}

fn report(dir: &Path, format: &str) -> String {
    let out = llmbench(&["report", "latest", "--format", format, "--output-dir"])
        .arg(dir.join("results"))
        .arg("--plugin-dir")
        .arg(plugin_dir_with(&["reporter-markdown"]))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "report --format {format}: {stderr}");
    stdout
}

#[test]
fn reports_and_exports_show_the_prompt_that_was_sent_after_the_prompt_file_changes() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), "ORIGINAL ask about {{ text }}", 3, "");
    let config = config(dir.path(), 0, None);
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);

    // The prompt file and the items change after the run.
    write_inputs(dir.path(), "CHANGED ask about {{ text }}", 3, " (edited)");

    let html = report(dir.path(), "html");
    for i in 0..3 {
        assert!(
            html.contains(&format!(
                "<h4>Prompt</h4><pre>ORIGINAL ask about item {i}</pre>"
            )),
            "item {i}'s sent prompt is shown"
        );
    }
    assert!(!html.contains("CHANGED"), "no prompt rebuilt from disk");
    assert!(!html.contains("(edited)"), "no item rebuilt from disk");
    assert!(!html.contains("Prompts are not shown"));
    // The console table and the Markdown article show no prompt rebuilt from disk either
    // (the answers they quote echo the prompt that was sent).
    for format in ["console", "markdown"] {
        let shown = report(dir.path(), format);
        assert!(!shown.contains("CHANGED"), "{format}: {shown}");
        assert!(!shown.contains("(edited)"), "{format}: {shown}");
    }
    let markdown = report(dir.path(), "markdown");
    assert!(markdown.contains("ORIGINAL ask about item"), "{markdown}");

    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), 3);
    for (i, row) in rows.iter().enumerate() {
        assert_eq!(sent_prompt(row), format!("ORIGINAL ask about item {i}"));
        assert_eq!(row["request"]["model"], "echo");
        assert!(row["request"].get("sample").is_none());
        assert_eq!(row["text"], format!("echo: ORIGINAL ask about item {i}"));
    }
    let out = llmbench(&["export", "latest", "--format", "csv", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let mut csv = csv::Reader::from_reader(out.stdout.as_slice());
    let at = csv
        .headers()
        .unwrap()
        .iter()
        .position(|c| c == "request")
        .expect("a request column");
    let sent: Vec<String> = csv
        .records()
        .map(|r| {
            let request: serde_json::Value = serde_json::from_str(&r.unwrap()[at]).unwrap();
            request["messages"][0]["content"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        sent,
        (0..3)
            .map(|i| format!("ORIGINAL ask about item {i}"))
            .collect::<Vec<_>>()
    );
}

const ITEMS: usize = 16;

/// How many calls the provider logged.
fn calls(counter: &Path) -> usize {
    std::fs::read_to_string(counter)
        .unwrap_or_default()
        .lines()
        .count()
}

#[test]
fn resume_after_kill_9_uses_the_stored_inputs_not_the_edited_and_truncated_files() {
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("calls.tsv");
    write_inputs(dir.path(), "Solve {{ text }}", ITEMS, "");
    let config = config(dir.path(), 250, Some(&counter));
    let mut child = llmbench(&["run", "--config"]).arg(&config).spawn().unwrap();

    let store = dir.path().join("results/llmbench.sqlite");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the run did not start in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        if store.exists() && calls(&counter) >= 6 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = export_jsonl(dir.path(), "latest");
    assert!(
        !before.is_empty() && before.len() < ITEMS,
        "killed mid-sweep: {} stored",
        before.len()
    );
    let run_id = before[0]["run_id"].as_str().unwrap().to_owned();

    // Between the kill and the resume: the prompt is rewritten and the items file is
    // edited and cut to half its items.
    write_inputs(dir.path(), "Now solve {{ text }}", ITEMS / 2, " (edited)");

    let out = llmbench(&["resume", &run_id, "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("{ITEMS}/{ITEMS} samples")),
        "{stdout}"
    );

    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), ITEMS, "every planned sample finished");
    let mut items: Vec<&str> = rows.iter().map(|r| r["item"].as_str().unwrap()).collect();
    items.sort();
    items.dedup();
    assert_eq!(items.len(), ITEMS, "one sample per item");
    // One prompt text per item, the one the run started with, sent and answered.
    for row in &rows {
        let i: usize = row["item"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(sent_prompt(row), format!("Solve item {i}"), "{row}");
        assert_eq!(row["text"], format!("echo: Solve item {i}"), "{row}");
    }
}

/// Writes the replay provider's answers file: one answer per item of [`ITEMS`], `{word}
/// answer to item {i}`, each answered after `latency_ms` (`simulate-latency`).
fn write_answers(dir: &Path, word: &str, latency_ms: u64) {
    let lines: String = (0..ITEMS)
        .map(|i| {
            format!(
                "{{\"task\": \"t\", \"item\": \"i{i:02}\", \"model\": \"m\", \"text\": \"{word} answer to item {i}\", \"latency-ms\": {latency_ms}}}\n"
            )
        })
        .collect();
    std::fs::write(dir.join("answers.jsonl"), lines).unwrap();
}

/// How many samples the store in `dir` holds now (0 while it cannot be read yet).
fn stored_samples(dir: &Path) -> usize {
    let out = llmbench(&["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(dir.join("results"))
        .output()
        .unwrap();
    if !out.status.success() {
        return 0;
    }
    text(&out).0.lines().count()
}

#[test]
fn resume_after_kill_9_answers_from_the_stored_copy_of_the_file_a_plugin_read() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), "Solve {{ text }}", ITEMS, "");
    write_answers(dir.path(), "ORIGINAL", 400);
    let config = write_config(
        dir.path(),
        r#"concurrency = 2

[providers.replay]
plugin = "provider-replay"
model = "m"
[providers.replay.options]
answers = "answers.jsonl"
simulate-latency = true

[tasks.t]
prompt-file = "prompt.txt"
items-file = "items.jsonl"
"#,
    );
    let mut child = llmbench(&["run", "--config"]).arg(&config).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "the run did not start in time");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before it could be killed"
        );
        if stored_samples(dir.path()) >= 2 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let before = export_jsonl(dir.path(), "latest");
    assert!(
        !before.is_empty() && before.len() < ITEMS,
        "killed mid-sweep: {} stored",
        before.len()
    );
    let run_id = before[0]["run_id"].as_str().unwrap().to_owned();

    // Between the kill and the resume the answers file, which only the plugin reads (its
    // options name it), is rewritten: every answer changes.
    write_answers(dir.path(), "EDITED", 0);

    let out = llmbench(&["resume", &run_id, "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("{ITEMS}/{ITEMS} samples")),
        "{stdout}"
    );
    assert!(
        !stderr.contains("from disk"),
        "every file had a copy: {stderr}"
    );

    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), ITEMS, "every planned sample finished");
    // The samples answered after the resume too come from the answers the run started with.
    for row in &rows {
        let i: usize = row["item"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(row["text"], format!("ORIGINAL answer to item {i}"), "{row}");
    }
}
