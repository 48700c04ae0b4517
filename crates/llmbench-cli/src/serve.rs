//! `llmbench serve`: run the config's sweep on its `[schedule]` ([`llmbench_serve`]),
//! serving metrics, until SIGTERM or Ctrl-C.

use std::path::PathBuf;

use crate::args::ConfigArg;
use crate::common::{
    EXIT_BUSY, EXIT_CONFIG, EXIT_DONE, EXIT_STORE, Failure, default_output_dir, default_plugin_dir,
    load_config, print, runtime,
};
use crate::stores::{Location, StoreArgs};
use crate::sweep;

#[derive(Debug, clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) config: ConfigArg,
    /// Where the results store lives. Default: the config's `output-dir`, else
    /// `./llmbench-results`. With a PostgreSQL store, where the lock file that keeps a
    /// second `serve` of the sweep from starting on this machine is.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Where plugins named in the config are looked up. Default: the config's
    /// `plugin-dir`, else the directory of the llmbench executable.
    #[arg(long)]
    plugin_dir: Option<PathBuf>,
    /// Serve metrics here (`IP:PORT`; port 0 picks a free one) instead of the config's
    /// `schedule.metrics-address`.
    #[arg(long, value_name = "ADDRESS")]
    metrics_address: Option<std::net::SocketAddr>,
    #[command(flatten)]
    grace: sweep::GraceArg,
}

pub(crate) fn run(args: ServeArgs) -> Result<u8, Failure> {
    let ServeArgs {
        config,
        output_dir,
        store,
        plugin_dir,
        metrics_address,
        grace,
    } = args;
    let mut config = load_config(&config.into_path())?;
    // Every scheduled run stores the items the config read now, whatever happens to the
    // files on disk meanwhile.
    config
        .hold_files()
        .map_err(|e| Failure::new(EXIT_CONFIG, e))?;
    grace.apply(&mut config);
    let (postgres, output_dir) =
        match Location::resolve(&store, output_dir.as_deref(), Some(&config.run))? {
            Location::Postgres(target, _) => (
                Some(*target),
                output_dir
                    .or_else(|| config.run.output_dir.clone())
                    .unwrap_or_else(default_output_dir),
            ),
            Location::Dir(dir) => (None, dir),
        };
    let options = llmbench_serve::ServeOptions {
        postgres,
        output_dir,
        plugin_dir: plugin_dir
            .or_else(|| config.run.plugin_dir.clone())
            .unwrap_or_else(default_plugin_dir),
        metrics_address,
    };
    runtime().block_on(async {
        let stop = llmbench_serve::stop_on_signals()?;
        llmbench_serve::serve(config, options, stop, |address| {
            print(&format!(
                "llmbench serve: metrics on http://{address}/metrics\n"
            ));
        })
        .await
        .map_err(|e| match e {
            llmbench_serve::ServeError::NoSchedule { .. } => Failure::new(EXIT_CONFIG, e),
            // Another `serve` of the sweep, or another process running its run.
            e @ llmbench_serve::ServeError::Locked { .. } => Failure::new(EXIT_BUSY, e),
            llmbench_serve::ServeError::Store(e) if e.kind() == "run_busy" => {
                Failure::new(EXIT_BUSY, e)
            }
            e @ llmbench_serve::ServeError::Store(_) => Failure::new(EXIT_STORE, e),
            e => Failure::new(1, e),
        })?;
        Ok(EXIT_DONE)
    })
}
