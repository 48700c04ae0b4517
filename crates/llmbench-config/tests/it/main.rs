//! Integration tests for llmbench-config: valid configs, every class of error with its exact
//! message, and every config shipped under `configs/`.

mod configs_dir;
mod datasets;
mod errors;
mod files;
mod schedule;
mod store;
mod stored;
mod valid;

use std::path::Path;

use llmbench_config::{Config, ConfigErrors, parse};

/// The path configs given as strings pretend to live at.
const PATH: &str = "configs/x.toml";

/// A provider and a task, to append to configs that test something else.
const MINIMAL: &str = r#"
[providers.p]
plugin = "provider-replay"
model = "m"

[tasks.t]
prompt = "hello"
"#;

fn ok(source: &str) -> Config {
    match parse(source, Path::new(PATH)) {
        Ok(config) => config,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

fn errors(source: &str) -> ConfigErrors {
    match parse(source, Path::new(PATH)) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(e) => e,
    }
}

/// All errors as displayed, each followed by its kind, for snapshots.
fn shown(errors: &ConfigErrors) -> String {
    errors
        .iter()
        .map(|e| format!("{e}\n  [{}]", e.kind()))
        .collect::<Vec<_>>()
        .join("\n")
}
