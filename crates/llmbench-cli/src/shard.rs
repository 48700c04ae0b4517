//! `llmbench run --shard INDEX/COUNT`: one shard of a sweep, on one of many machines.
//!
//! The shard is `--shard`, else the batch system's index (`JOB_COMPLETION_INDEX` on
//! Kubernetes, `SLURM_ARRAY_TASK_ID` on Slurm) with `--shard-count` (or
//! `SLURM_ARRAY_TASK_COUNT`); which samples a shard runs is [`llmbench_runner::Shard`]'s
//! fixed function of their ids. Every shard writes to the same run id (`--run-id`, else
//! derived from the config's content and `--job`), so a shard started again finds its run in
//! its store and runs only what it still lacks. With a PostgreSQL store (`--store
//! postgres://...`) all shards write into one database at once: the first creates the run,
//! the others join it, and each holds its own shard's lock.

use llmbench_config::Config;
use llmbench_runner::{Shard, SweepStart};

use crate::args::Dirs;
use crate::common::{EXIT_CONFIG, EXIT_STORE, Failure};

/// The sharding flags of `llmbench run`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ShardArgs {
    /// Run only shard INDEX of COUNT (0-based, e.g. `2/4`): the samples whose stable id,
    /// read as a number, is INDEX modulo COUNT. Without it, `JOB_COMPLETION_INDEX`
    /// (Kubernetes) or `SLURM_ARRAY_TASK_ID` (Slurm) is the index when a count is known.
    #[arg(long, value_name = "INDEX/COUNT")]
    shard: Option<Shard>,
    /// The number of shards, for an index taken from the environment. Default:
    /// `SLURM_ARRAY_TASK_COUNT`.
    #[arg(long, value_name = "COUNT", conflicts_with = "shard",
          value_parser = clap::value_parser!(u32).range(1..))]
    shard_count: Option<u32>,
    /// The run to write to: started if the store lacks it, else continued (only its missing
    /// samples are run). Default for a shard: derived from `--job` and the config's content.
    #[arg(long, value_name = "ID")]
    run_id: Option<String>,
    /// The job name a shard's run id is derived from (with the config's text and the
    /// contents of the files it reads): all shards of one job share the run.
    #[arg(long, value_name = "NAME", default_value = "llmbench")]
    job: String,
}

impl ShardArgs {
    /// The shard to run, from the flags or the environment.
    fn shard(&self) -> Result<Option<Shard>, Failure> {
        if let Some(shard) = self.shard {
            return Ok(Some(shard));
        }
        Shard::from_env(self.shard_count, |name| std::env::var(name).ok())
            .map_err(|e| Failure::new(EXIT_CONFIG, e))
    }
}

/// `llmbench run`, sharded or with a run id; a plain run otherwise.
pub(crate) async fn run(
    config: Config,
    dirs: Dirs,
    push_gateway: Option<String>,
    args: ShardArgs,
) -> Result<u8, Failure> {
    let shard = args.shard()?;
    let run_id = match (&args.run_id, shard) {
        (None, None) => return crate::sweep::run_new(config, dirs, push_gateway).await,
        (Some(id), _) => id.clone(),
        (None, Some(_)) => llmbench_runner::derived_run_id(&config, &args.job),
    };
    let location = crate::stores::Location::resolve(
        &dirs.store,
        dirs.output_dir.as_deref(),
        Some(&config.run),
    )?;
    let store = location.open_for_writing()?;
    let start = match store.run(&run_id) {
        Ok(stored) => {
            let planned = llmbench_runner::estimate_cost(&config).samples;
            if stored.planned_samples != planned {
                return Err(Failure::new(
                    EXIT_CONFIG,
                    anyhow::anyhow!(
                        "run {run_id} in {} planned {} samples and this config gives {planned}: it is another sweep; pass another --run-id",
                        store.path().display(),
                        stored.planned_samples
                    ),
                ));
            }
            SweepStart::Resume { run_id }
        }
        Err(e) if e.kind() == "run_not_found" => SweepStart::New { run_id },
        Err(e) => return Err(Failure::new(EXIT_STORE, e)),
    };
    drop(store);
    match shard {
        Some(s) => tracing::info!(shard = %s, run = start.run_id(), "running one shard"),
        None => tracing::info!(run = start.run_id(), "running"),
    }
    crate::sweep::sweep(config, dirs, location, start, push_gateway, shard, None).await
}
