//! `llmbench merge SHARD.sqlite... --into STORE`: import shard stores into one
//! ([`llmbench_store::Store::merge_from`]: idempotent; a sample stored differently by two
//! sources is refused, naming both).

use std::path::PathBuf;

use llmbench_store::{MergeError, Store};

use crate::common::{EXIT_CONFIG, EXIT_STORE, Failure, print};

#[derive(Debug, clap::Args)]
pub(crate) struct MergeArgs {
    /// The shard store files (`llmbench.sqlite` in each shard's results directory), or
    /// their directories.
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// The store to merge into: a results directory (created if missing) or a `.sqlite`
    /// file. (A PostgreSQL URL is refused: merging into PostgreSQL is not available yet;
    /// shards write to it directly with `llmbench run --shard I/N --store URL`.)
    #[arg(long, value_name = "STORE")]
    into: PathBuf,
    /// The environment variable that holds the password of a PostgreSQL `--into`. Default:
    /// `PGPASSWORD`.
    #[arg(long, value_name = "NAME")]
    store_password_env: Option<String>,
}

/// A store file as given, or `llmbench.sqlite` in a directory.
fn store_file(path: PathBuf) -> PathBuf {
    if path.is_dir() {
        path.join(llmbench_store::STORE_FILE_NAME)
    } else {
        path
    }
}

pub(crate) fn run(args: MergeArgs) -> Result<u8, Failure> {
    if args.into.to_string_lossy().contains("://") {
        let location = crate::stores::Location::resolve(
            &crate::stores::StoreArgs {
                store: Some(args.into.to_string_lossy().into_owned()),
                store_password_env: args.store_password_env.clone(),
            },
            None,
            None,
        )?;
        let mut store = location.open_for_writing()?;
        let sources: Vec<PathBuf> = args.shards.into_iter().map(store_file).collect();
        return match store.merge_from(&sources) {
            Ok(_) => Ok(crate::common::EXIT_DONE),
            Err(MergeError::Store(e)) => Err(crate::stores::failure(e)),
            Err(e) => Err(Failure::new(EXIT_STORE, e)),
        };
    }
    let into = if args.into.extension().is_some_and(|e| e == "sqlite") {
        args.into
    } else {
        std::fs::create_dir_all(&args.into).map_err(|e| {
            Failure::new(
                EXIT_STORE,
                anyhow::anyhow!("cannot create {}: {e}", args.into.display()),
            )
        })?;
        args.into.join(llmbench_store::STORE_FILE_NAME)
    };
    let sources: Vec<PathBuf> = args.shards.into_iter().map(store_file).collect();
    let mut store = Store::open(&into).map_err(|e| Failure::new(EXIT_STORE, e))?;
    let outcome = store.merge_from(&sources).map_err(|e| match e {
        MergeError::Store(e) if e.kind() == "not_found" => Failure::new(EXIT_CONFIG, e),
        e @ (MergeError::RunConflict { .. }
        | MergeError::SampleConflict { .. }
        | MergeError::Itself { .. }) => Failure::new(EXIT_CONFIG, e),
        e => Failure::new(EXIT_STORE, e),
    })?;
    print(&format!(
        "merged {} file{} into {}: {} sample{} added, {} already there; run{} {}\n",
        sources.len(),
        if sources.len() == 1 { "" } else { "s" },
        into.display(),
        outcome.added,
        if outcome.added == 1 { "" } else { "s" },
        outcome.already_present,
        if outcome.runs.len() == 1 { "" } else { "s" },
        outcome.runs.join(", ")
    ));
    Ok(crate::common::EXIT_DONE)
}
