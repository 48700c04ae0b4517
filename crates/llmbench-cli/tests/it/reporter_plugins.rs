//! `llmbench report --format NAME|PATH` with a reporter plugin the CLI knows nothing about
//! (`plugins/reporter-testkit`, the minimal reporter README's "Adding a plugin" describes),
//! its options (`--option KEY=VALUE`), and the error for a format that names no reporter.

use std::path::{Path, PathBuf};

use crate::{llmbench, plugin_dir, repo, text};

/// The plugin directory, after checking that the test reporter was built there.
fn testkit_plugin_dir() -> PathBuf {
    crate::plugin_dir_with(&["reporter-testkit"])
}

/// Run the replay example (three models, one item) into `dir`.
fn replay_run(dir: &Path) {
    let out = llmbench(&["run", "--config"])
        .arg(repo().join("configs/replay-example.toml"))
        .arg("--output-dir")
        .arg(dir)
        .arg("--plugin-dir")
        .arg(plugin_dir())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}

/// `llmbench report <args> --output-dir <results>`: (exit code, stdout, stderr).
fn report(results: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = llmbench(&[&["report"], args, &["--output-dir"]].concat())
        .arg(results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    (out.status.code(), stdout, stderr)
}

const MODELS: &str = "Claude Haiku 4.5 (claude-haiku-4-5)\n\
                      Claude Sonnet 4.6 (claude-sonnet-4-6)\n\
                      Claude Opus 4.7 (claude-opus-4-7)\n";

#[test]
fn a_reporter_plugin_is_used_by_its_name_or_path_with_its_options() {
    let plugins = testkit_plugin_dir();
    let dir = tempfile::tempdir().unwrap();
    replay_run(dir.path());
    let plugin_dir = plugins.to_str().unwrap();

    let (code, stdout, stderr) = report(
        dir.path(),
        &["--format", "reporter-testkit", "--plugin-dir", plugin_dir],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("Models\n{MODELS}"));

    // Options reach the plugin as JSON: a string here.
    let (code, stdout, stderr) = report(
        dir.path(),
        &[
            "--format",
            "reporter-testkit",
            "--plugin-dir",
            plugin_dir,
            "--option",
            "heading=Nightly run",
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("Nightly run\n{MODELS}"));

    // By the path of its library, from a plugin directory without it.
    let empty = tempfile::tempdir().unwrap();
    let library = crate::plugin_library("reporter-testkit");
    let (code, stdout, stderr) = report(
        dir.path(),
        &[
            "--format",
            library.to_str().unwrap(),
            "--plugin-dir",
            empty.path().to_str().unwrap(),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(stdout, format!("Models\n{MODELS}"));

    // An option the plugin does not take is a bad argument, with the plugin's suggestion.
    let (code, _, stderr) = report(
        dir.path(),
        &[
            "--format",
            "reporter-testkit",
            "--plugin-dir",
            plugin_dir,
            "--option",
            "headng=x",
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("plugin `reporter-testkit` rejected its options: option `headng`: unknown option `headng` (did you mean `heading`?)"),
        "{stderr}"
    );
}

#[test]
fn a_format_that_names_no_reporter_exits_2_with_the_formats_and_a_suggestion() {
    let plugins = testkit_plugin_dir();
    let plugin_dir = plugins.to_str().unwrap();
    // No run is needed: the format is checked before the store is read.
    let dir = tempfile::tempdir().unwrap();

    let (code, stdout, stderr) = report(
        dir.path(),
        &["--format", "reporter-testkt", "--plugin-dir", plugin_dir],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stdout, "");
    assert!(
        stderr
            .contains("unknown report format `reporter-testkt`; did you mean `reporter-testkit`?"),
        "{stderr}"
    );
    assert!(
        stderr.contains("built-in formats: console, markdown, html"),
        "{stderr}"
    );
    let listed = stderr
        .lines()
        .find(|l| l.starts_with(&format!("reporter plugins in {plugin_dir}: ")))
        .unwrap_or_else(|| panic!("no list of reporter plugins: {stderr}"));
    assert!(listed.contains("reporter-testkit"), "{listed}");
    assert!(
        !listed.contains("provider-"),
        "only reporters are listed: {listed}"
    );

    let (code, _, stderr) = report(
        dir.path(),
        &["--format", "markdwn", "--plugin-dir", plugin_dir],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("did you mean `markdown`?"), "{stderr}");

    // A plugin of another kind is not a format either.
    let (code, _, stderr) = report(
        dir.path(),
        &["--format", "provider-replay", "--plugin-dir", plugin_dir],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("`provider-replay` is not a report format: ")
            && stderr.contains(&format!(
                "{} is a provider plugin, not a reporter",
                llmbench_plugin_host::library_file_name("provider-replay")
            )),
        "{stderr}"
    );

    // The built-ins take no --option.
    let (code, _, stderr) = report(dir.path(), &["--format", "html", "--option", "a=1"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the built-in `html` reporter takes no --option"),
        "{stderr}"
    );
}
