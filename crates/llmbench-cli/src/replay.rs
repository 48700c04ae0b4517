//! `llmbench run --replay FILE`: the same config with every provider answered from recorded
//! answers.
//!
//! The override is applied to the config text itself, so the snapshot stored with the run is
//! what actually ran and `resume` replays too.

use std::path::Path;

use crate::common::{EXIT_CONFIG, Failure};

/// Load `config` with every provider replaced by `provider-replay` reading `answers`.
pub(crate) fn load_replayed(
    config: &Path,
    answers: &Path,
) -> Result<llmbench_config::Config, Failure> {
    let bad = |e: anyhow::Error| Failure::new(EXIT_CONFIG, e);
    let source = std::fs::read_to_string(config)
        .map_err(|e| bad(anyhow::anyhow!("cannot read {}: {e}", config.display())))?;
    let answers = std::fs::canonicalize(answers)
        .map_err(|e| bad(anyhow::anyhow!("cannot read {}: {e}", answers.display())))?;
    let replayed = override_providers(&source, &answers).map_err(|e| {
        // Show the config's own errors (with line and column) when it does not parse.
        match llmbench_config::parse(&source, config) {
            Err(errors) => bad(anyhow::anyhow!("invalid config\n{errors}")),
            Ok(_) => bad(e),
        }
    })?;
    llmbench_config::parse(&replayed, config)
        .map_err(|errors| bad(anyhow::anyhow!("invalid config (with --replay)\n{errors}")))
}

fn override_providers(source: &str, answers: &Path) -> anyhow::Result<String> {
    let mut doc: toml::Table = toml::from_str(source)?;
    let providers = doc
        .get_mut("providers")
        .and_then(toml::Value::as_table_mut)
        .ok_or_else(|| anyhow::anyhow!("the config has no [providers]"))?;
    for (_, provider) in providers.iter_mut() {
        let table = provider
            .as_table_mut()
            .ok_or_else(|| anyhow::anyhow!("a provider is not a table"))?;
        table.insert("plugin".into(), "provider-replay".into());
        table.remove("api-key-env");
        let mut options = toml::Table::new();
        options.insert("answers".into(), answers.display().to_string().into());
        table.insert("options".into(), options.into());
    }
    Ok(format!(
        "# Replayed by `llmbench run --replay {}`: every provider answers from that file.\n{}",
        answers.display(),
        toml::to_string(&doc)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_is_replayed_and_keys_are_dropped() {
        let source = r#"
[providers.a]
plugin = "provider-anthropic"
model = "claude-haiku-4-5"
api-key-env = "ANTHROPIC_API_KEY"
[providers.a.options]
base-url = "http://example.invalid"

[tasks.t]
prompt = "hi"
"#;
        let out = override_providers(source, Path::new("/answers.jsonl")).unwrap();
        let doc: toml::Table = toml::from_str(&out).unwrap();
        let a = &doc["providers"]["a"];
        assert_eq!(a["plugin"].as_str(), Some("provider-replay"));
        assert_eq!(a["model"].as_str(), Some("claude-haiku-4-5"));
        assert!(a.get("api-key-env").is_none());
        assert_eq!(a["options"]["answers"].as_str(), Some("/answers.jsonl"));
        assert!(a["options"].get("base-url").is_none());
    }
}
