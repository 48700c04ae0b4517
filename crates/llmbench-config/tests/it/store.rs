//! `[run] store` and `store-password-env`: a PostgreSQL URL without a password, and the name
//! of the variable that holds it; each mistake is located, and a password is never quoted.

use crate::{MINIMAL, errors, ok, shown};

fn with_run(run: &str) -> String {
    format!("[run]\n{run}{MINIMAL}")
}

#[test]
fn a_store_url_and_its_password_variable() {
    let config = ok(&with_run(
        "store = \"postgres://bench@db:5432/results\"\nstore-password-env = \"BENCH_DB_PW\"\n",
    ));
    assert_eq!(
        config.run.store.as_deref(),
        Some("postgres://bench@db:5432/results")
    );
    assert_eq!(
        config.run.store_password_env.as_deref(),
        Some("BENCH_DB_PW")
    );
    let plain = ok(MINIMAL);
    assert_eq!(
        (plain.run.store, plain.run.store_password_env),
        (None, None)
    );
}

#[test]
fn urls_with_passwords_other_schemes_and_bad_variable_names_are_refused() {
    let e = errors(&with_run(
        "store = \"postgres://bench:hunter2-secret@db/results\"\n",
    ));
    let text = shown(&e);
    assert!(!text.contains("hunter2-secret"), "{text}");
    assert!(
        text.contains("configs/x.toml:2:9: `run.store` holds a password"),
        "{text}"
    );
    let e = errors(&with_run(
        "store = \"mysql://db/results\"\nstore-password-env = \"not a name\"\n",
    ));
    let text = shown(&e);
    assert!(
        text.contains("configs/x.toml:2:9: `run.store` is not a PostgreSQL URL"),
        "{text}"
    );
    assert!(
        text.contains(
            "configs/x.toml:3:22: `run.store-password-env` is not an environment variable name"
        ),
        "{text}"
    );
    let e = errors(&with_run(
        "output-dir = \"out\"\nstore = \"postgres://db/results\"\n",
    ));
    assert!(shown(&e).contains("`run.store` and `run.output-dir` are both set"));
}
