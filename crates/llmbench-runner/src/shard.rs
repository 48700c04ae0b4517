//! Shards of a sweep: which samples one of `COUNT` processes runs, and the run they share.
//!
//! A sample belongs to shard `id.shard(count)` ([`SampleId::shard`]): its stable id's first 8
//! bytes, read as a little-endian `u64`, modulo the shard count. The id is the SHA-256 of
//! (task, item, provider, repeat) ([`SampleKey::id`]), so the assignment depends on nothing
//! but the sample: every machine computes the same shards, they are disjoint, and together
//! they are the whole sweep.
//!
//! All shards of a sweep write to one run id: given (`--run-id`), or derived from the
//! config's content (its text and the SHA-256 of every file it reads) and a job name
//! ([`derived_run_id`]), so that each shard finds the same run without talking to the others.

use std::fmt;
use std::str::FromStr;

use llmbench_config::Config;
use llmbench_core::{SampleId, SampleKey, Task as _};

/// Shard `index` of `count` (0-based: `0/4` .. `3/4`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A shard that cannot be: a malformed `INDEX/COUNT`, a zero count, or an index past it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("shard `{0}` is not INDEX/COUNT (e.g. 0/4)")]
    Malformed(String),
    #[error("the shard count must be at least 1, not {0}")]
    ZeroCount(u32),
    #[error("shard index {index} is out of range for {count} shards (0 to {last})", last = count - 1)]
    OutOfRange { index: u32, count: u32 },
    #[error("environment variable {name}=`{value}` is not a shard index (a whole number)")]
    BadEnv { name: &'static str, value: String },
    #[error(
        "{name} is set but no shard count was given: pass --shard-count (or set SLURM_ARRAY_TASK_COUNT)"
    )]
    NoCount { name: &'static str },
}

impl Shard {
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 {
            return Err(ShardError::ZeroCount(count));
        }
        if index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Self { index, count })
    }

    /// Whether the sample with this id is this shard's.
    pub fn contains(&self, id: &SampleId) -> bool {
        id.shard(self.count) == self.index
    }

    /// The shard from the environment of a batch system, when no `--shard` was given:
    /// Kubernetes Indexed Jobs set `JOB_COMPLETION_INDEX`, Slurm job arrays
    /// `SLURM_ARRAY_TASK_ID` (and `SLURM_ARRAY_TASK_COUNT`). The count is `count` (from
    /// `--shard-count` or the config), else `SLURM_ARRAY_TASK_COUNT`. `None` when no index
    /// variable is set. `env` looks a variable up (`std::env::var`, or a map in tests).
    pub fn from_env(
        count: Option<u32>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Self>, ShardError> {
        let parse = |name: &'static str| -> Result<Option<u32>, ShardError> {
            match env(name) {
                None => Ok(None),
                Some(value) => value
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| ShardError::BadEnv { name, value }),
            }
        };
        let (name, index) = match (
            parse("JOB_COMPLETION_INDEX")?,
            parse("SLURM_ARRAY_TASK_ID")?,
        ) {
            (Some(i), _) => ("JOB_COMPLETION_INDEX", i),
            (None, Some(i)) => ("SLURM_ARRAY_TASK_ID", i),
            (None, None) => return Ok(None),
        };
        let count = match count {
            Some(c) => c,
            None => parse("SLURM_ARRAY_TASK_COUNT")?.ok_or(ShardError::NoCount { name })?,
        };
        Self::new(index, count).map(Some)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(text: &str) -> Result<Self, ShardError> {
        let malformed = || ShardError::Malformed(text.to_owned());
        let (index, count) = text.trim().split_once('/').ok_or_else(malformed)?;
        let index = index.trim().parse().map_err(|_| malformed())?;
        let count = count.trim().parse().map_err(|_| malformed())?;
        Self::new(index, count)
    }
}

/// Every sample key of `config`'s sweep, in plan order, without loading a plugin (the keys
/// need only the tasks' items, the providers' names and the repeats).
pub fn sweep_keys(config: &Config) -> impl Iterator<Item = SampleKey> + '_ {
    (0..config.run.repeats).flat_map(move |repeat| {
        config.tasks.iter().flat_map(move |task| {
            (0..task.items.len()).flat_map(move |item| {
                config.providers.iter().map(move |provider| SampleKey {
                    task: task.id().to_owned(),
                    item: task.items.id(item),
                    provider: provider.name.clone(),
                    repeat,
                })
            })
        })
    })
}

/// How many samples of `config`'s sweep each of `count` shards has (index = shard).
pub fn shard_sizes(config: &Config, count: u32) -> Vec<u64> {
    let mut sizes = vec![0; count.max(1) as usize];
    for key in sweep_keys(config) {
        sizes[key.id().shard(count) as usize] += 1;
    }
    sizes
}

/// The run id all shards of `config`'s sweep share when none is given: `JOB-` and the first
/// 16 hex digits of the SHA-256 of the job name, the config's text and the role and SHA-256
/// of every file the run reads (prompt and items files, datasets). The same config
/// and job give the same id on every machine; another job name starts another run.
pub fn derived_run_id(config: &Config, job: &str) -> String {
    let mut text = format!("{job}\n{}\n", config.source);
    for file in crate::run_files(config) {
        // Not the path: the same files may live elsewhere on another machine.
        text.push_str(&format!("{:?} {}\n", file.role, file.sha256()));
    }
    let hash = llmbench_store::sha256_hex(text.as_bytes());
    format!("{job}-{}", &hash[..16])
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    #[test]
    fn parses_and_refuses_shards() {
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
        assert_eq!("2/4".parse::<Shard>().unwrap().to_string(), "2/4");
        assert_eq!(
            "4/4".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 4, count: 4 })
        );
        assert_eq!("0/0".parse::<Shard>(), Err(ShardError::ZeroCount(0)));
        assert!(matches!(
            "x".parse::<Shard>(),
            Err(ShardError::Malformed(_))
        ));
        assert!(matches!(
            "1/".parse::<Shard>(),
            Err(ShardError::Malformed(_))
        ));
    }

    #[test]
    fn shards_are_disjoint_and_cover_everything() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        for n in 0..300u32 {
            let id = SampleKey {
                task: "t".into(),
                item: n.to_string(),
                provider: "p".into(),
                repeat: 0,
            }
            .id();
            assert_eq!(shards.iter().filter(|s| s.contains(&id)).count(), 1);
        }
    }

    #[test]
    fn reads_kubernetes_and_slurm_environments() {
        let env = |vars: &[(&str, &str)]| {
            let map: HashMap<String, String> = vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            move |name: &str| map.get(name).cloned()
        };
        assert_eq!(Shard::from_env(Some(4), env(&[])), Ok(None));
        assert_eq!(
            Shard::from_env(Some(4), env(&[("JOB_COMPLETION_INDEX", "3")])),
            Ok(Some(Shard { index: 3, count: 4 }))
        );
        assert_eq!(
            Shard::from_env(
                None,
                env(&[
                    ("SLURM_ARRAY_TASK_ID", "1"),
                    ("SLURM_ARRAY_TASK_COUNT", "2")
                ])
            ),
            Ok(Some(Shard { index: 1, count: 2 }))
        );
        assert_eq!(
            Shard::from_env(None, env(&[("JOB_COMPLETION_INDEX", "0")])),
            Err(ShardError::NoCount {
                name: "JOB_COMPLETION_INDEX"
            })
        );
        assert!(matches!(
            Shard::from_env(Some(2), env(&[("SLURM_ARRAY_TASK_ID", "x")])),
            Err(ShardError::BadEnv { .. })
        ));
        assert_eq!(
            Shard::from_env(Some(2), env(&[("JOB_COMPLETION_INDEX", "2")])),
            Err(ShardError::OutOfRange { index: 2, count: 2 })
        );
    }
}
