//! Exit codes a CI job can trust (`crates/llmbench-cli/src/exit.rs`): a sweep in which every
//! request to a model failed exits 7 with the reason in one line; an unknown run id is a bad
//! argument (2); a plugin directory with a library that does not load exits 3. Also: hosted
//! providers pointed at a custom `base-url` need no key, and `runs` has a header.

use llmbench_mockserver::{ApiKeyCheck, MockConfig, MockServer, Protocol};

use crate::{llmbench, plugin_dir_with, text, write_config};

const KEY_ENV: &str = "LLMBENCH_TEST_EXIT_KEY";

fn mock(protocol: Protocol, key: ApiKeyCheck) -> MockServer {
    // The hosted providers' plugins must be built and current.
    plugin_dir_with(&["provider-openai", "provider-anthropic"]);
    let mut config = MockConfig::new(protocol);
    config.api_key = key;
    config.answer_tokens = 8;
    MockServer::start_background(config).unwrap()
}

/// A config of `providers` (TOML) asking `items` questions, written to `dir/bench.toml`.
fn config(dir: &std::path::Path, providers: &str, items: usize) -> std::path::PathBuf {
    let items: Vec<String> = (0..items)
        .map(|i| format!("{{ id = \"q{i:02}\", text = \"question {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            "\n{providers}\n[tasks.t]\nprompt = \"{{{{text}}}}\"\nmax-tokens = 16\nitems = [{}]\n",
            items.join(", ")
        ),
    )
}

#[test]
fn a_sweep_whose_every_request_is_refused_exits_7_saying_why_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let server = mock(
        Protocol::Anthropic,
        ApiKeyCheck::Exact("the-right-key".into()),
    );
    let config = config(
        dir.path(),
        &format!(
            r#"[providers.haiku]
plugin = "provider-anthropic"
model = "claude-haiku-4-5"
api-key-env = "{KEY_ENV}"
options = {{ base-url = "{}" }}
"#,
            server.base_url()
        ),
        20,
    );
    let out = llmbench(&["run"])
        .arg(&config)
        .env(KEY_ENV, "a-wrong-key")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stdout}\n{stderr}");
    let reasons: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("every request"))
        .collect();
    assert_eq!(
        reasons,
        ["error: every request to `haiku` failed: 20 x auth (HTTP 401)"],
        "{stderr}"
    );
    // The table was still printed and every sample stored.
    assert!(stdout.contains("auth x20"), "{stdout}");
    assert_eq!(server.log().len(), 20, "401 is not retried");
}

#[test]
fn a_model_without_answers_fails_the_sweep_even_when_another_answered() {
    let dir = tempfile::tempdir().unwrap();
    // Anthropic refuses the wrong key; OpenAI answers without one: the sweep measured
    // something for `gpt` but nothing for `claude`, so it still exits 7...
    let anthropic = mock(Protocol::Anthropic, ApiKeyCheck::Exact("k".into()));
    let openai = mock(Protocol::OpenAi, ApiKeyCheck::NotRequired);
    let providers = format!(
        r#"[providers.claude]
plugin = "provider-anthropic"
model = "claude-haiku-4-5"
api-key-env = "{KEY_ENV}"
options = {{ base-url = "{}" }}

[providers.gpt]
plugin = "provider-openai"
model = "gpt-mock"
options = {{ base-url = "{}/v1" }}
"#,
        anthropic.base_url(),
        openai.base_url()
    );
    let path = config(dir.path(), &providers, 3);
    let out = llmbench(&["run", "--config"])
        .arg(&path)
        .env(KEY_ENV, "wrong")
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(7), "{stdout}\n{stderr}");
    assert!(
        stderr.contains("every request to `claude` failed: 3 x auth (HTTP 401)")
            && !stderr.contains("`gpt`"),
        "{stderr}"
    );
    // ...and with the right key both answer: exit 0.
    let out = llmbench(&["run", "--config"])
        .arg(&path)
        .env(KEY_ENV, "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
}

#[test]
fn hosted_providers_at_a_custom_base_url_need_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let anthropic = mock(Protocol::Anthropic, ApiKeyCheck::NotRequired);
    let openai = mock(Protocol::OpenAi, ApiKeyCheck::NotRequired);
    let path = config(
        dir.path(),
        &format!(
            r#"[providers.claude]
plugin = "provider-anthropic"
model = "claude-haiku-4-5"
options = {{ base-url = "{}" }}

[providers.gpt]
plugin = "provider-openai"
model = "gpt-mock"
options = {{ base-url = "{}/v1" }}
"#,
            anthropic.base_url(),
            openai.base_url()
        ),
        2,
    );
    let out = llmbench(&["run"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    for server in [&anthropic, &openai] {
        let log = server.log();
        assert_eq!(log.len(), 2);
        assert!(log.iter().all(|r| !r.api_key_present), "no key header sent");
    }
}

#[test]
fn unknown_run_ids_are_bad_arguments_and_runs_has_a_header() {
    let dir = tempfile::tempdir().unwrap();
    let server = mock(Protocol::OpenAi, ApiKeyCheck::NotRequired);
    let path = config(
        dir.path(),
        &format!(
            "[providers.gpt]\nplugin = \"provider-openai\"\nmodel = \"gpt-mock\"\nlabel = \"GPT Mock\"\noptions = {{ base-url = \"{}/v1\" }}\n",
            server.base_url()
        ),
        2,
    );
    let out = llmbench(&["validate", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let out = llmbench(&["run"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{:?}", text(&out));
    let results = dir.path().join("results");

    for args in [
        vec!["compare", "nope", "latest"],
        vec!["compare", "latest", "nope"],
        vec!["gate", "nope", "--baseline", "latest"],
        vec!["gate", "latest", "--baseline", "nope"],
        vec!["report", "nope"],
        vec!["export", "nope"],
    ] {
        let out = llmbench(&args)
            .arg("--output-dir")
            .arg(&results)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains("no run `nope`"), "{args:?}: {stderr}");
        assert!(
            stderr.contains("llmbench runs --output-dir"),
            "{args:?}: {stderr}"
        );
    }

    let out = llmbench(&["runs", "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for column in ["run", "started", "status", "samples", "config", "models"] {
        assert!(lines[0].contains(column), "{stdout}");
    }
    assert!(lines[1].contains("finished"), "{stdout}");
    assert!(lines[1].contains("2/2"), "{stdout}");
    assert!(lines[1].contains(&path.display().to_string()), "{stdout}");
    assert!(lines[1].ends_with("GPT Mock"), "{stdout}");
}

#[test]
fn a_library_that_does_not_load_makes_plugins_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    let out = llmbench(&["plugins", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    std::fs::write(dir.path().join("libbroken.so"), b"not a shared library").unwrap();
    let out = llmbench(&["plugins", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stdout.contains("libbroken.so"), "listed: {stdout}");
    assert!(
        stderr.contains("1 of 1 libraries") && stderr.contains("failed to load"),
        "{stderr}"
    );
}
