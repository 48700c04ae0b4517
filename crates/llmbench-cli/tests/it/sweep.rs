//! Whole sweeps: the replay example's table, several plugins at once, a panicking plugin.

use crate::{export_jsonl, llmbench, repo, text, write_config};

#[test]
fn the_replay_example_reproduces_the_article_table() {
    let dir = tempfile::tempdir().unwrap();
    let config = repo().join("configs/replay-example.toml");
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .arg("--output-dir")
        .arg(dir.path())
        .arg("--plugin-dir")
        .arg(crate::plugin_dir())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for expected in [
        "4,422", "15,234", "12,814", "0.00238", "0.01175", "0.05406", "451", "759", "689",
    ] {
        assert!(stdout.contains(expected), "missing {expected} in\n{stdout}");
    }
    assert!(stdout.contains("llmbench.sqlite"), "{stdout}");
}

#[test]
fn a_panicking_plugin_fails_its_sample_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"
[providers.echo]
plugin = "provider-testkit"
model = "echo-1"

[tasks.t]
prompt = "{{text}}"
items = [
  { id = "a", text = "Bug: one. Why it happens: two. Fix: three" },
  { id = "boom", text = "PANIC now" },
  { id = "c", text = "nothing to see" },
]

[[tasks.t.graders]]
plugin = "grader-regex"
[tasks.t.graders.options]
pattern = "echo"

[[tasks.t.graders]]
plugin = "grader-sections"
[tasks.t.graders.options]
sections = ["Bug", "Fix"]
"#,
    );
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains("plugin x1"),
        "the table names the error kind:\n{stdout}"
    );
    let rows = export_jsonl(dir.path(), "latest");
    assert_eq!(rows.len(), 3);
    let boom = rows.iter().find(|r| r["item"] == "boom").unwrap();
    let message = boom.to_string();
    assert!(message.contains("testkit panic requested"), "{message}");
    let a = rows.iter().find(|r| r["item"] == "a").unwrap();
    assert_eq!(a["status"], "done", "{a}");
    let c = rows.iter().find(|r| r["item"] == "c").unwrap();
    assert_eq!(c["status"], "done", "{c}");
    // Both graders ran on the good samples: regex passed everywhere, sections only on `a`.
    assert!(a.to_string().contains("grader-sections"), "{a}");
}

#[test]
fn an_advisory_grader_lowers_the_score_and_says_so_but_never_fails_the_sample() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        r#"
[providers.echo]
plugin = "provider-testkit"
model = "echo-1"

[tasks.t]
prompt = "{{text}}"
items = [{ id = "a", text = "the answer" }]

[[tasks.t.graders]]
name = "required"
plugin = "grader-regex"
options = { pattern = "answer" }

[[tasks.t.graders]]
name = "nice-to-have"
plugin = "grader-regex"
advisory = true
options = { pattern = "never-there" }
"#,
    );
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let samples = export_jsonl(dir.path(), "latest");
    assert_eq!(samples.len(), 1);
    let s = &samples[0];
    assert_eq!(s["verdict"]["pass"], true, "{s}");
    assert_eq!(s["verdict"]["score"], 0.5, "{s}");
    let advisory = s["grades"][1]["evidence"].as_str().unwrap();
    assert!(
        advisory.starts_with("advisory: /never-there/ did not match"),
        "{advisory}"
    );
}
