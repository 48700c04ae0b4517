//! `llmbench models fetch|list`: the model files in-process providers need, ahead of time.

use std::path::Path;

use clap::Subcommand;
use llmbench_models::{Cache, ModelSpec, smollm2_135m_instruct};

use crate::args::OptionalConfigArg;
use crate::common::{EXIT_CONFIG, EXIT_FAILED, Failure, load_config, print};
use crate::datasets;

#[derive(Debug, Subcommand)]
pub(crate) enum ModelsCommand {
    /// Download and verify the models a config's local providers use (default: the
    /// default model), and the named datasets its tasks use.
    Fetch {
        #[command(flatten)]
        config: OptionalConfigArg,
    },
    /// List the cached model files.
    List,
}

pub(crate) fn run(command: ModelsCommand) -> Result<u8, Failure> {
    match command {
        ModelsCommand::Fetch { config } => {
            let config = config.into_path();
            if let Some(config) = &config {
                datasets::fetch_for_config(config)?;
            }
            fetch(config.as_deref())
        }
        ModelsCommand::List => list(),
    }
}

/// The plugin whose `model` option names a model file.
const LOCAL_PLUGIN: &str = "provider-local";

/// Every model a config's local providers use (the default model when a provider names
/// none), or the default model when no config is given.
fn specs(config: Option<&Path>) -> Result<Vec<(String, ModelSpec)>, Failure> {
    let Some(path) = config else {
        return Ok(vec![("default".into(), smollm2_135m_instruct())]);
    };
    let config = load_config(path)?;
    let mut out = Vec::new();
    for p in config.providers.iter().filter(|p| p.plugin == LOCAL_PLUGIN) {
        let spec = match p.options.get("model") {
            None => smollm2_135m_instruct(),
            Some(value) => serde_json::from_value::<ModelSpec>(value.clone())
                .map_err(|e| {
                    Failure::new(
                        EXIT_CONFIG,
                        anyhow::anyhow!("providers.{}.options.model: {e}", p.name),
                    )
                })?
                .relative_to(&config.dir),
        };
        out.push((format!("providers.{}", p.name), spec));
    }
    Ok(out)
}

fn cache() -> Result<Cache, Failure> {
    Ok(Cache::new(
        Cache::default_dir().map_err(|e| Failure::new(EXIT_FAILED, e))?,
    ))
}

fn fetch(config: Option<&Path>) -> Result<u8, Failure> {
    let cache = cache()?;
    for (who, spec) in specs(config)? {
        let path = cache
            .ensure(&spec)
            .map_err(|e| Failure::new(EXIT_FAILED, e))?;
        print(&format!(
            "{who}: {} -> {}\n",
            spec.describe(),
            path.display()
        ));
    }
    Ok(0)
}

fn list() -> Result<u8, Failure> {
    let cache = cache()?;
    let mut text = format!("models in {}:\n", cache.dir().display());
    for m in cache.list().map_err(|e| Failure::new(EXIT_FAILED, e))? {
        let digest = m.sha256.map_or_else(
            || "not verified".to_owned(),
            |d| format!("sha256 {}", d.prefix(16)),
        );
        text.push_str(&format!(
            "  {}  {:.1} MB  {digest}\n",
            m.path.display(),
            m.size as f64 / 1e6
        ));
    }
    print(&text);
    Ok(0)
}
