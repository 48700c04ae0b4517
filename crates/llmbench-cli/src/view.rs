//! `llmbench view`: serves a local web app over a results store (`llmbench_view`) until
//! Ctrl-C or SIGTERM. The arguments and the messages; the app is `llmbench_view`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use llmbench_store::Store;
use llmbench_view::App;

use crate::common::{
    EXIT_CONFIG, EXIT_DONE, EXIT_STORE, Failure, default_output_dir, print, runtime,
};

#[derive(Debug, clap::Args)]
pub(crate) struct ViewArgs {
    /// The directory of the results store. Default: `./llmbench-results`.
    #[arg(long, conflicts_with = "store")]
    output_dir: Option<PathBuf>,
    /// The results store file itself (a `llmbench.sqlite`), instead of its directory.
    #[arg(long, value_name = "PATH")]
    store: Option<PathBuf>,
    /// Listen here (`IP:PORT`; port 0 picks a free one). An address other than loopback
    /// serves every stored prompt and answer to the network, and a warning says so.
    #[arg(long, value_name = "ADDRESS", default_value = llmbench_view::DEFAULT_ADDRESS)]
    address: SocketAddr,
}

pub(crate) fn run(args: ViewArgs) -> Result<u8, Failure> {
    let path = args.store.unwrap_or_else(|| {
        args.output_dir
            .unwrap_or_else(default_output_dir)
            .join(llmbench_store::STORE_FILE_NAME)
    });
    // Read-only: an existing store, never created, never written by this command.
    let store = Store::open_existing(&path).map_err(|e| {
        let code = if e.kind() == "not_found" {
            EXIT_CONFIG
        } else {
            EXIT_STORE
        };
        Failure::new(code, e)
    })?;
    let app = Arc::new(App::new(store).map_err(|e| Failure::new(EXIT_STORE, e))?);
    runtime().block_on(async {
        let listener = App::bind(args.address)
            .await
            .map_err(|e| Failure::new(EXIT_CONFIG, e))?;
        let local = listener.local_addr()?;
        if !local.ip().is_loopback() {
            tracing::warn!(address = %local, "llmbench view is serving the results store beyond this machine: anyone who can reach {local} can read every stored prompt and answer");
        }
        print(&format!(
            "llmbench view: serving {} on http://{local}/ (Ctrl-C stops it)\n",
            path.display()
        ));
        let stop = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async {
                    match term.as_mut() {
                        Some(t) => { t.recv().await; }
                        None => std::future::pending::<()>().await,
                    }
                } => {}
            }
        };
        llmbench_view::serve(app, listener, stop).await;
        Ok(EXIT_DONE)
    })
}
