//! `[run]`: repeats, concurrency, pass@k, the cost cap, timeouts and directories.

use std::time::Duration;

use toml::Spanned;

use super::checker::{FloatRange, Validator};
use crate::error::ConfigErrorKind;
use crate::model::RunSettings;
use crate::raw::RawRun;

use ConfigErrorKind as K;

impl Validator<'_> {
    pub(super) fn run(&mut self, raw: RawRun) -> RunSettings {
        let mut run = RunSettings::default();
        if let Some(dir) = &raw.output_dir {
            run.output_dir = Some(self.path("run.output-dir", dir));
        }
        if let Some(url) = &raw.store {
            run.store = Some(self.store_url(url, raw.output_dir.is_some()));
        }
        if let Some(name) = &raw.store_password_env {
            let value = name.get_ref();
            let valid = value
                .chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid {
                run.store_password_env = Some(value.clone());
            } else {
                self.sink
                    .error(
                        K::InvalidValue,
                        name.span(),
                        "`run.store-password-env` is not an environment variable name".to_owned(),
                    )
                    .help("name the variable that holds the password (letters, digits and `_`, e.g. `LLMBENCH_DB_PASSWORD`), never the password itself");
            }
        }
        if let Some(dir) = &raw.plugin_dir {
            run.plugin_dir = Some(self.path("run.plugin-dir", dir));
        }
        if let Some(repeats) = &raw.repeats {
            run.repeats = self.int("run.repeats", repeats, 1, u32::MAX.into()) as u32;
        }
        if let Some(concurrency) = &raw.concurrency {
            run.concurrency = self.int("run.concurrency", concurrency, 1, 1 << 20) as usize;
        }
        if let Some(ks) = &raw.pass_at_k {
            let mut pass_at_k = Vec::with_capacity(ks.len());
            for k in ks {
                let value = *k.get_ref();
                if value < 1 {
                    self.sink.error(
                        K::InvalidValue,
                        k.span(),
                        format!("`run.pass-at-k` values must be at least 1, not {value}"),
                    );
                } else if value > i64::from(run.repeats) {
                    self.sink
                        .error(
                            K::InvalidValue,
                            k.span(),
                            format!(
                                "pass@{value} needs at least {value} repeats, and `run.repeats` is {}",
                                run.repeats
                            ),
                        )
                        .help(format!(
                            "set `repeats = {value}` or more in `[run]`, or remove {value} from `pass-at-k`"
                        ));
                } else {
                    pass_at_k.push(value as u32);
                }
            }
            pass_at_k.sort_unstable();
            pass_at_k.dedup();
            run.pass_at_k = pass_at_k;
        }
        if let Some(cap) = &raw.max_cost_usd {
            run.max_cost_usd = Some(self.float("run.max-cost-usd", cap, FloatRange::MoreThan(0.0)));
        }
        if let Some(timeout) = &raw.timeout_seconds {
            let secs = self.float("run.timeout-seconds", timeout, FloatRange::MoreThan(0.0));
            match Duration::try_from_secs_f64(secs) {
                Ok(duration) => run.timeout = duration,
                Err(_) => {
                    self.sink.error(
                        K::InvalidValue,
                        timeout.span(),
                        format!("`run.timeout-seconds` is too large: {secs}"),
                    );
                }
            }
        }
        if let Some(grace) = &raw.grace_seconds {
            let secs = self.float("run.grace-seconds", grace, FloatRange::AtLeast(0.0));
            match Duration::try_from_secs_f64(secs) {
                Ok(duration) => run.grace = duration,
                Err(_) => {
                    self.sink.error(
                        K::InvalidValue,
                        grace.span(),
                        format!("`run.grace-seconds` is too large: {secs}"),
                    );
                }
            }
        }
        run
    }

    /// A PostgreSQL URL without a password. The value is not quoted back when it holds one.
    fn store_url(&mut self, url: &Spanned<String>, with_output_dir: bool) -> String {
        let value = url.get_ref().trim();
        let lower = value.to_ascii_lowercase();
        if !(lower.starts_with("postgres://") || lower.starts_with("postgresql://")) {
            self.sink
                .error(
                    K::InvalidValue,
                    url.span(),
                    "`run.store` is not a PostgreSQL URL".to_owned(),
                )
                .help("give `postgres://USER@HOST:PORT/DATABASE`, or set `output-dir` for a SQLite store in a directory");
        } else if url_has_password(value) {
            self.sink
                .error(
                    K::InvalidValue,
                    url.span(),
                    "`run.store` holds a password".to_owned(),
                )
                .help("remove it from the URL and put it in the environment: `PGPASSWORD`, or the variable `run.store-password-env` names");
        } else if with_output_dir {
            self.sink
                .error(
                    K::InvalidValue,
                    url.span(),
                    "`run.store` and `run.output-dir` are both set".to_owned(),
                )
                .help("results go to one store: keep `store` (PostgreSQL) or `output-dir` (a SQLite file)");
        }
        value.to_owned()
    }
}

/// Whether a `postgres://` URL holds a password: in its user part (`user:password@`) or as a
/// `password=` parameter.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    authority
        .rsplit_once('@')
        .is_some_and(|(user, _)| user.contains(':'))
        || rest.split_once('?').is_some_and(|(_, query)| {
            query
                .split('&')
                .any(|pair| pair.trim().to_ascii_lowercase().starts_with("password="))
        })
}

#[cfg(test)]
mod tests {
    use super::url_has_password;

    #[test]
    fn passwords_in_urls_are_found() {
        assert!(url_has_password("postgres://u:pw@h/db"));
        assert!(url_has_password(
            "postgres://u@h/db?sslmode=disable&password=pw"
        ));
        assert!(!url_has_password("postgres://u@h:5432/db"));
        assert!(!url_has_password("postgres://h/db?application_name=a:b"));
    }
}
