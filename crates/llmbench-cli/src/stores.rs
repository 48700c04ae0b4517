//! Where the results store is and opening it: read commands and `resume` open an existing
//! store and create nothing; only `run` (and `merge --into`) creates one. Both refuse a
//! damaged file (exit 4).
//!
//! A store is a SQLite file in a directory (`--output-dir DIR`, `--store DIR`, the config's
//! `output-dir`, else `./llmbench-results`) or a shared PostgreSQL database (`--store
//! postgres://USER@HOST:PORT/DATABASE`, or the config's `[run] store`). A PostgreSQL URL never
//! holds the password: it comes from the environment variable `--store-password-env` (or the
//! config's `store-password-env`) names, else `PGPASSWORD`.

use std::path::{Path, PathBuf};

use llmbench_store::{PgTarget, Store, StoreError};

use crate::common::{EXIT_CONFIG, EXIT_STORE, Failure, default_output_dir};

/// The libpq variable a PostgreSQL store's password is read from by default.
const DEFAULT_PASSWORD_ENV: &str = "PGPASSWORD";

/// `--store` and `--store-password-env`, for every command that opens a store.
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct StoreArgs {
    /// The results store: a `postgres://USER@HOST:PORT/DATABASE` URL (a PostgreSQL database
    /// that the shards of a sweep write to at once; never with a password in it), or a
    /// directory (its SQLite store, as with `--output-dir`). Default: the config's `store`
    /// or `output-dir`, else `./llmbench-results`.
    #[arg(long, value_name = "URL|DIR")]
    pub(crate) store: Option<String>,
    /// The environment variable that holds the PostgreSQL store's password. Default: the
    /// config's `store-password-env`, else `PGPASSWORD`.
    #[arg(long, value_name = "NAME")]
    pub(crate) store_password_env: Option<String>,
}

/// A results store's place.
#[derive(Debug, Clone)]
pub(crate) enum Location {
    /// The SQLite store in this directory.
    Dir(PathBuf),
    /// A PostgreSQL database (its password, if any, already read from the environment), and
    /// the variable named for the password (`--store-password-env` or the config's), if any.
    Postgres(Box<PgTarget>, Option<String>),
}

impl Location {
    /// The store the arguments and the config name: `--store`, else `--output-dir`, else the
    /// config's `store`, else its `output-dir`, else `./llmbench-results`. `--store` and
    /// `--output-dir` together are refused.
    pub(crate) fn resolve(
        args: &StoreArgs,
        output_dir: Option<&Path>,
        config: Option<&llmbench_config::RunSettings>,
    ) -> Result<Self, Failure> {
        if let (Some(_), Some(_)) = (&args.store, output_dir) {
            return Err(Failure::new(
                EXIT_CONFIG,
                anyhow::anyhow!("--store and --output-dir name two stores: give one"),
            ));
        }
        let password_env = args
            .store_password_env
            .as_deref()
            .or_else(|| config.and_then(|c| c.store_password_env.as_deref()));
        if let Some(store) = &args.store {
            return Self::parse(store, password_env);
        }
        if let Some(dir) = output_dir {
            return Ok(Self::Dir(dir.to_owned()));
        }
        if let Some(run) = config {
            if let Some(url) = &run.store {
                return Self::postgres(url, password_env);
            }
            if let Some(dir) = &run.output_dir {
                return Ok(Self::Dir(dir.clone()));
            }
        }
        Ok(Self::Dir(default_output_dir()))
    }

    /// `--store` as given: a PostgreSQL URL, else a directory.
    fn parse(text: &str, password_env: Option<&str>) -> Result<Self, Failure> {
        if text.contains("://") {
            Self::postgres(text, password_env)
        } else {
            Ok(Self::Dir(PathBuf::from(text)))
        }
    }

    fn postgres(url: &str, password_env: Option<&str>) -> Result<Self, Failure> {
        let target = PgTarget::parse(url).map_err(failure)?;
        let password = match password_env {
            Some(name) => Some(std::env::var(name).map_err(|_| {
                Failure::new(
                    EXIT_CONFIG,
                    anyhow::anyhow!(
                        "{}: the store's password variable {name} is not set (or not UTF-8)",
                        target.shown()
                    ),
                )
            })?),
            None => std::env::var(DEFAULT_PASSWORD_ENV).ok(),
        };
        Ok(Self::Postgres(
            Box::new(target.with_password(password)),
            password_env.map(str::to_owned),
        ))
    }

    /// The store, which must exist: `runs`, `report`, `export` and `status`. No store there
    /// is exit 2 (the arguments name nothing), naming where it looked.
    pub(crate) fn open_existing(&self) -> Result<Store, Failure> {
        match self {
            Self::Dir(dir) => Store::open_existing_in_dir(dir),
            Self::Postgres(target, _) => Store::open_existing_postgres(target),
        }
        .map_err(failure)
    }

    /// [`Location::open_existing`] for `resume`, which runs the SQLite file's integrity check
    /// itself ([`Store::verify_integrity`]) beside parsing the run's inputs.
    pub(crate) fn open_existing_unverified(&self) -> Result<Store, Failure> {
        match self {
            Self::Dir(dir) => {
                Store::open_existing_unverified(&dir.join(llmbench_store::STORE_FILE_NAME))
            }
            Self::Postgres(target, _) => Store::open_existing_postgres(target),
        }
        .map_err(failure)
    }

    /// The store, created if needed, for writing a run (`run`, `resume`). Aggregates are
    /// counted in the metrics' buckets.
    pub(crate) fn open_for_writing(&self) -> Result<Store, Failure> {
        let mut store = match self {
            Self::Dir(dir) => Store::open_in_dir(dir),
            Self::Postgres(target, _) => Store::open_postgres(target),
        }
        .map_err(failure)?;
        store.set_histogram_buckets(llmbench_serve::histogram_buckets());
        Ok(store)
    }

    /// The flags that name this store again (empty for the default directory): `--store
    /// URL` (never with the password; with its options, such as `sslmode`, quoted for the
    /// shell) and the password's variable when one was named.
    pub(crate) fn flag(&self) -> String {
        match self {
            Self::Dir(dir) if *dir == default_output_dir() => String::new(),
            Self::Dir(dir) => format!(" --output-dir {}", dir.display()),
            Self::Postgres(target, env) => format!(
                " --store {}{}",
                shell_word(target.url()),
                env.as_ref()
                    .map(|name| format!(" --store-password-env {name}"))
                    .unwrap_or_default()
            ),
        }
    }

    /// `--store URL|DIR` (and the password's variable when one was named), for the commands
    /// that take a store that way (`status`, `resume`).
    pub(crate) fn store_flag(&self) -> String {
        match self {
            Self::Dir(dir) => format!("--store {}", dir.display()),
            Self::Postgres(..) => self.flag().trim_start().to_owned(),
        }
    }

    /// For `resume`: a PostgreSQL store opened without a named password variable takes the
    /// one the run's stored config names (`store-password-env`), when that variable is set
    /// here; otherwise the store stays as it was opened (it was read with it).
    pub(crate) fn with_stored_password_env(self, name: Option<&str>) -> Result<Self, Failure> {
        match (&self, name) {
            (Self::Postgres(target, None), Some(name)) if std::env::var_os(name).is_some() => {
                Self::postgres(target.url(), Some(name))
            }
            _ => Ok(self),
        }
    }
}

/// `text` as one shell word: quoted when it holds more than letters, digits and `-_.,:/@%+=`
/// (a URL's `?` and `&`).
fn shell_word(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.,:/@%+=".contains(c))
    {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// The flag naming `store` for another command: `--store URL` or `--output-dir DIR`.
pub(crate) fn flag_of(store: &Store) -> String {
    if store.is_postgres() {
        format!("--store {}", store.path().display())
    } else {
        format!(
            "--output-dir {}",
            store
                .path()
                .parent()
                .map_or_else(|| ".".to_owned(), |d| d.display().to_string())
        )
    }
}

/// A bad URL, no store there or an operation a PostgreSQL store lacks is a usage error
/// (exit 2); anything else exit 4.
pub(crate) fn failure(e: StoreError) -> Failure {
    let code = if matches!(e.kind(), "not_found" | "bad_url" | "not_on_postgres") {
        EXIT_CONFIG
    } else {
        EXIT_STORE
    };
    Failure::new(code, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_url_with_options_is_one_shell_word() {
        assert_eq!(
            shell_word("postgres://u@h:5432/db"),
            "postgres://u@h:5432/db"
        );
        assert_eq!(
            shell_word("postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca/it's.pem"),
            r"'postgres://u@h/db?sslmode=verify-full&sslrootcert=/ca/it'\''s.pem'"
        );
    }
}
