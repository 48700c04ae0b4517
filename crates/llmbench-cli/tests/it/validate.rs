//! `llmbench validate`: good configs pass, a typo is located and a fix suggested.

use crate::{llmbench, repo, text};

#[test]
fn every_shipped_config_validates() {
    let dir = repo().join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = llmbench(&["validate"]).arg(&path).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{}: {stderr}", path.display());
            assert!(stdout.contains(": ok ("), "{stdout}");
            seen += 1;
        }
    }
    assert!(seen >= 1);
}

#[test]
fn a_typo_is_located_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[providers.echo]\nplugin = \"provider-testkit\"\nmodel = \"echo\"\ntemprature = 0.2\n\n[tasks.t]\nprompt = \"hi\"\n",
    )
    .unwrap();
    let out = llmbench(&["validate"]).arg(&path).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:1", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `temperature`?"), "{stderr}");
}

/// `path:LINE:COL` of the first occurrence of `needle` in the file at `path`.
fn place_of(path: &std::path::Path, needle: &str) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let offset = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} in {text}"));
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count()
        + 1;
    format!("{}:{line}:{column}", path.display())
}

/// Fails unless the plugin was built (plugins are built with the workspace).
fn require_plugin(name: &str) {
    crate::plugin_dir_with(&[name]);
}

/// `llmbench validate` on `config` exits 2, and its error is at `needle` with `help`.
fn refused_at(config: &str, needle: &str, message: &str, help: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::write_config(dir.path(), config);
    let out = llmbench(&["validate"]).arg(&path).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let place = place_of(&path, needle);
    assert!(
        stderr.contains(&format!("{place}: {message}")),
        "expected `{place}: {message}` in:\n{stderr}"
    );
    assert!(stderr.contains(&format!("help: {help}")), "{stderr}");
}

const PROVIDER: &str = "[providers.echo]\nplugin = \"provider-testkit\"\nmodel = \"echo\"\n";

#[test]
fn a_misspelt_option_of_each_converted_plugin_is_located_with_a_suggestion() {
    for plugin in [
        "grader-regex",
        "grader-sections",
        "grader-llm-judge",
        "provider-replay",
        "provider-openai",
        "provider-anthropic",
    ] {
        require_plugin(plugin);
    }
    let grader = |plugin: &str, options: &str| {
        format!(
            "{PROVIDER}\n[tasks.t]\nprompt = \"hi\"\n\n[[tasks.t.graders]]\nname = \"g\"\nplugin = \"{plugin}\"\noptions = {options}\n"
        )
    };
    refused_at(
        &grader("grader-regex", "{ patern = \"x\" }"),
        "patern",
        "grader `g` of task `t`: `options.patern`: unknown option `patern`",
        "did you mean `pattern`?",
    );
    refused_at(
        &grader(
            "grader-sections",
            "{ sections = [\"Bug\"], in_order = false }",
        ),
        "in_order",
        "grader `g` of task `t`: `options.in_order`: unknown option `in_order`",
        "did you mean `in-order`?",
    );
    refused_at(
        &grader(
            "grader-llm-judge",
            "{ rubric = \"r\", pass-treshold = 0.5 }",
        ),
        "pass-treshold",
        "grader `g` of task `t`: `options.pass-treshold`: unknown option `pass-treshold`",
        "did you mean `pass-threshold`?",
    );
    // A value is pointed at itself, with the plugin's reason (here: an option of the judge's
    // former form, whose model is now a provider entry).
    refused_at(
        &grader(
            "grader-llm-judge",
            "{ protocol = \"openai\", rubric = \"r\" }",
        ),
        "\"openai\"",
        "grader `g` of task `t`: `options.protocol`: the judge model is now a provider entry",
        "add a `[providers.NAME]` entry for the judge model",
    );
    let provider = |plugin: &str, options: &str| {
        format!(
            "[providers.p]\nplugin = \"{plugin}\"\nmodel = \"m\"\n\n[providers.p.options]\n{options}\n\n[tasks.t]\nprompt = \"hi\"\n"
        )
    };
    refused_at(
        &provider("provider-replay", "answer = \"a.jsonl\""),
        "answer =",
        "provider `p`: `options.answer`: unknown option `answer`",
        "did you mean `answers`?",
    );
    refused_at(
        &provider("provider-openai", "base-ur = \"http://127.0.0.1:1/v1\""),
        "base-ur",
        "provider `p`: `options.base-ur`: unknown option `base-ur`",
        "did you mean `base-url`?",
    );
    refused_at(
        &provider("provider-anthropic", "anthropic-versoin = \"2023-06-01\""),
        "anthropic-versoin",
        "provider `p`: `options.anthropic-versoin`: unknown option `anthropic-versoin`",
        "did you mean `anthropic-version`?",
    );
}

/// `llmbench COMMAND` on the config `config` (written in `dir`) exits 2, and its error is
/// located at `needle` and starts with `message`; returns the error output.
fn refused_by(
    command: &[&str],
    dir: &std::path::Path,
    config: &str,
    needle: &str,
    message: &str,
) -> String {
    let path = crate::write_config(dir, config);
    let out = llmbench(command).arg(&path).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    let place = place_of(&path, needle);
    assert!(
        stderr.contains(&format!("{place}: {message}")),
        "expected `{place}: {message}` in:\n{stderr}"
    );
    stderr
}

#[test]
fn validate_checks_options_without_creating_the_plugin() {
    // provider-replay reads and checks its answers file at create; validate only looks the
    // file up, so an answers file that is there validates even though it is no JSONL.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("later.jsonl"), "not json yet\n").unwrap();
    let path = crate::write_config(
        dir.path(),
        "[providers.p]\nplugin = \"provider-replay\"\nmodel = \"m\"\noptions = { answers = \"later.jsonl\" }\n\n[tasks.t]\nprompt = \"hi\"\n",
    );
    let out = llmbench(&["validate"]).arg(&path).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains(": ok ("), "{stdout}");
}

#[test]
fn a_missing_file_named_by_an_option_is_located_at_its_value() {
    for plugin in ["provider-replay", "grader-python-exec", "grader-llm-judge"] {
        require_plugin(plugin);
    }
    let dir = tempfile::tempdir().unwrap();
    let replay = "[providers.p]\nplugin = \"provider-replay\"\nmodel = \"m\"\noptions = { answers = \"replay/missing.jsonl\" }\n\n[tasks.t]\nprompt = \"hi\"\n";
    let missing = format!(
        "no file at {}",
        dir.path().join("replay/missing.jsonl").display()
    );
    // `validate`, and `run` before anything is created or stored.
    for command in [&["validate"][..], &["run", "--config"]] {
        let stderr = refused_by(
            command,
            dir.path(),
            replay,
            "\"replay/missing.jsonl\"",
            &format!("provider `p`: `options.answers`: {missing}"),
        );
        assert!(!stderr.contains("help:"), "{stderr}");
    }
    assert!(!dir.path().join("results").exists(), "nothing is stored");

    let grader = |plugin: &str, options: &str| {
        format!(
            "{PROVIDER}\n[tasks.t]\nprompt = \"hi\"\n\n[[tasks.t.graders]]\nname = \"g\"\nplugin = \"{plugin}\"\noptions = {options}\n"
        )
    };
    refused_by(
        &["validate"],
        dir.path(),
        &grader("grader-python-exec", "{ harness = \"task/harness.py\" }"),
        "\"task/harness.py\"",
        &format!(
            "grader `g` of task `t`: `options.harness`: no file at {}",
            dir.path().join("task/harness.py").display()
        ),
    );
    // Each of `extra-files` is looked up, and the one missing is pointed at.
    std::fs::create_dir(dir.path().join("task")).unwrap();
    std::fs::write(dir.path().join("task/harness.py"), "print('{}')\n").unwrap();
    std::fs::write(dir.path().join("task/data.json"), "[]\n").unwrap();
    refused_by(
        &["validate"],
        dir.path(),
        &grader(
            "grader-python-exec",
            "{ harness = \"task/harness.py\", extra-files = [\"task/data.json\", \"task/gone.txt\"] }",
        ),
        "\"task/gone.txt\"",
        "grader `g` of task `t`: `options.extra-files[1]`: no file at ",
    );
    // A directory is not a rubric.
    refused_by(
        &["validate"],
        dir.path(),
        &grader("grader-llm-judge", "{ rubric-file = \"task\" }"),
        "\"task\" }",
        &format!(
            "grader `g` of task `t`: `options.rubric-file`: {} is a directory, not a file",
            dir.path().join("task").display()
        ),
    );
}

#[test]
fn an_unknown_plugin_is_located_with_the_closest_present_one() {
    refused_at(
        &format!(
            "{PROVIDER}\n[tasks.t]\nprompt = \"hi\"\n\n[[tasks.t.graders]]\nplugin = \"grader-regexp\"\noptions = {{ pattern = \"x\" }}\n"
        ),
        "\"grader-regexp\"",
        &format!(
            "grader `grader-regexp` of task `t`: unknown plugin `grader-regexp` (no {} in ",
            llmbench_plugin_host::library_file_name("grader-regexp")
        ),
        "did you mean `grader-regex`?",
    );
}

#[test]
fn run_refuses_what_validate_refuses_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::write_config(
        dir.path(),
        &format!(
            "{PROVIDER}\n[tasks.t]\nprompt = \"hi\"\n\n[[tasks.t.graders]]\nname = \"g\"\nplugin = \"grader-regex\"\noptions = {{ patern = \"x\" }}\n"
        ),
    );
    let out = llmbench(&["run", "--config"]).arg(&path).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: grader `g` of task `t`: `options.patern`: unknown option `patern`",
            place_of(&path, "patern")
        )),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `pattern`?"), "{stderr}");
    assert!(!dir.path().join("results").exists(), "nothing is stored");
}

#[test]
fn run_refuses_items_a_grader_cannot_use_before_any_sample() {
    let dir = tempfile::tempdir().unwrap();
    let path = crate::write_config(
        dir.path(),
        &format!(
            "{PROVIDER}\n[tasks.t]\nprompt = \"{{{{ q }}}}\"\nitems = [\n  {{ id = \"fine\", q = \"a\", expected = \"a\" }},\n  {{ id = \"broken\", q = \"b\", expected = \"(\" }},\n]\n\n[[tasks.t.graders]]\nname = \"g\"\nplugin = \"grader-regex\"\noptions = {{ pattern = \"{{{{ expected }}}}\" }}\n"
        ),
    );
    let out = llmbench(&["run", "--config"]).arg(&path).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}: item `broken`: grader `g`: option `pattern`: invalid regex",
            place_of(&path, "\"broken\"")
        )),
        "{stderr}"
    );
    let runs = llmbench(&["runs", "--output-dir"])
        .arg(dir.path().join("results"))
        .output()
        .unwrap();
    assert_eq!(text(&runs).0, "", "no run was recorded");
}
