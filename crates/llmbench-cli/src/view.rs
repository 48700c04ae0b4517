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
use crate::stores::{Location, StoreArgs};

#[derive(Debug, clap::Args)]
pub(crate) struct ViewArgs {
    /// The directory of the results store. Default: `./llmbench-results`.
    #[arg(long, conflicts_with = "store")]
    output_dir: Option<PathBuf>,
    /// The results store: a `postgres://USER@HOST:PORT/DATABASE` URL (never with a password
    /// in it), or the SQLite file itself (a `llmbench.sqlite`) or its directory.
    #[arg(long, value_name = "URL|PATH")]
    store: Option<String>,
    /// The environment variable that holds the PostgreSQL store's password. Default:
    /// `PGPASSWORD`.
    #[arg(long, value_name = "NAME", requires = "store")]
    store_password_env: Option<String>,
    /// Listen here (`IP:PORT`; port 0 picks a free one). An address other than loopback
    /// serves every stored prompt and answer to the network, and a warning says so.
    #[arg(long, value_name = "ADDRESS", default_value = llmbench_view::DEFAULT_ADDRESS)]
    address: SocketAddr,
}

pub(crate) fn run(args: ViewArgs) -> Result<u8, Failure> {
    // Read-only: an existing store, never created, never written by this command.
    let (store, shown) = match args.store {
        Some(url) if llmbench_store::is_postgres_url(&url) => {
            let location = Location::resolve(
                &StoreArgs {
                    store: Some(url),
                    store_password_env: args.store_password_env,
                },
                None,
                None,
            )?;
            let store = location.open_existing()?;
            let shown = store.path().display().to_string();
            (store, shown)
        }
        store => {
            let path = match store.map(PathBuf::from) {
                Some(dir) if dir.is_dir() => dir.join(llmbench_store::STORE_FILE_NAME),
                Some(file) => file,
                None => args
                    .output_dir
                    .unwrap_or_else(default_output_dir)
                    .join(llmbench_store::STORE_FILE_NAME),
            };
            let store = Store::open_existing(&path).map_err(|e| {
                let code = if e.kind() == "not_found" {
                    EXIT_CONFIG
                } else {
                    EXIT_STORE
                };
                Failure::new(code, e)
            })?;
            (store, path.display().to_string())
        }
    };
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
            "llmbench view: serving {shown} on http://{local}/ (Ctrl-C stops it)\n"
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
