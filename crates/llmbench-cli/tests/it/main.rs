//! End-to-end tests of the `llmbench` binary with real plugins loaded from the build
//! directory. `cargo test --workspace` (what `cargo xtask ci` runs) builds the plugins first.

mod budget;
mod faults;
mod humaneval;
mod judge;
mod reference;
mod reporter_plugins;
mod reports;
mod resume;
mod serve;
mod stop;
mod store_faults;
mod sweep;
mod validate;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_llmbench")
}

/// The directory the plugins were built into (next to the binary), after checking that the
/// plugins the tests use are there.
pub fn plugin_dir() -> PathBuf {
    let dir = Path::new(bin()).parent().unwrap().to_owned();
    for name in [
        "provider_testkit",
        "provider_replay",
        "grader_regex",
        "grader_sections",
    ] {
        let lib = dir.join(format!("lib{name}.so"));
        assert!(
            lib.exists(),
            "{} is missing: run the tests with `cargo test --workspace` (or `cargo xtask ci`) so the plugins are built",
            lib.display()
        );
    }
    dir
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `llmbench <args>` with the test plugin dir, no inherited RUST_LOG.
pub fn llmbench(args: &[&str]) -> Command {
    let mut cmd = Command::new(bin());
    cmd.args(args).env_remove("RUST_LOG");
    cmd
}

pub fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Write `config` to `dir/bench.toml`, with the plugin dir and output dir filled in.
pub fn write_config(dir: &Path, config: &str) -> PathBuf {
    let path = dir.join("bench.toml");
    let full = format!(
        "[run]\nplugin-dir = \"{}\"\noutput-dir = \"results\"\n{config}",
        plugin_dir().display()
    );
    std::fs::write(&path, full).unwrap();
    path
}

pub fn export_jsonl(dir: &Path, run: &str) -> Vec<serde_json::Value> {
    let out = llmbench(&["export", run, "--format", "jsonl", "--output-dir"])
        .arg(dir.join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "export failed: {stderr}");
    stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
