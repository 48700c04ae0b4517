//! End-to-end tests of the `llmbench` binary with real plugins loaded from the build
//! directory. `cargo test --workspace` (what `cargo xtask ci` runs) builds the plugins first.

mod budget;
mod dashboards_sql;
mod doc_commands;
mod exit_codes;
mod faults;
mod humaneval;
mod judge;
mod pg_parity;
mod pg_sweeps;
mod pg_tls;
mod postgres;
mod reference;
mod remember;
mod reporter_plugins;
mod reports;
mod resume;
mod serve;
mod shards;
mod stop;
mod store_faults;
mod sweep;
mod validate;
mod view;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_llmbench")
}

/// The directory the plugins were built into (next to the binary), after checking that the
/// plugins the tests use are there and not older than their sources.
pub fn plugin_dir() -> PathBuf {
    plugin_dir_with(&[])
}

/// [`plugin_dir`], also checking the plugins `more` (`["reporter-markdown"]`): each must be
/// there and not older than its sources (`llmbench_testsupport::plugin_dir`).
pub fn plugin_dir_with(more: &[&str]) -> PathBuf {
    let mut names = vec![
        "provider-testkit",
        "provider-replay",
        "grader-regex",
        "grader-sections",
    ];
    names.extend_from_slice(more);
    llmbench_testsupport::plugin_dir(&names)
}

/// The library of plugin `name`, built next to the binary and not older than its sources.
pub fn plugin_library(name: &str) -> PathBuf {
    plugin_dir_with(&[name]).join(llmbench_plugin_host::library_file_name(name))
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
