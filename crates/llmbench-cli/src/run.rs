//! `llmbench run`: load the config (fetching the named datasets it lacks, or answering from
//! recorded answers with `--replay`), check its plugins, then run the sweep (or one shard of
//! it, [`crate::shard`]).

use std::path::PathBuf;

use crate::args::{ConfigArg, Dirs};
use crate::common::{EXIT_CONFIG, Failure, load_config, sweep_runtime};
use crate::{datasets, replay, shard, validate};

#[derive(Debug, clap::Args)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    #[command(flatten)]
    dirs: Dirs,
    /// Override the config's `repeats`.
    #[arg(long)]
    repeats: Option<u32>,
    /// Answer every provider from this recorded-answers file (provider-replay's JSONL
    /// format) instead of calling it: re-grade saved answers without paying again.
    #[arg(long)]
    replay: Option<PathBuf>,
    /// After the sweep, push its metrics to this Prometheus Pushgateway
    /// (`http://host:9091`), grouped as job `llmbench` and the sweep's name.
    #[arg(long, value_name = "URL")]
    push_gateway: Option<String>,
    #[command(flatten)]
    shard: shard::ShardArgs,
}

pub(crate) fn run(args: RunArgs) -> Result<u8, Failure> {
    let RunArgs {
        config,
        dirs,
        repeats,
        replay,
        push_gateway,
        shard,
    } = args;
    let config = config.into_path();
    datasets::fetch_missing_for_run(&config)?;
    let mut config = match replay {
        None => load_config(&config)?,
        Some(answers) => replay::load_replayed(&config, &answers)?,
    };
    if let Some(r) = repeats {
        if r == 0 {
            return Err(Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!("--repeats must be at least 1"),
            ));
        }
        config.run.repeats = r;
    }
    validate::check_plugins(&config, dirs.plugin_dir.as_deref())?;
    sweep_runtime().block_on(shard::run(config, dirs, push_gateway, shard))
}
