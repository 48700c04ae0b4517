//! TLS to a PostgreSQL store, against private servers with a certificate made for the test:
//! each `sslmode` does what libpq's does, and a failure says what failed without the password.

use llmbench_core::error_chain;
use llmbench_store::{PgTarget, RunStatus, Store, StoreError};
use llmbench_testsupport::postgres::{PgOptions, PgServer};

use crate::common::*;

const PASSWORD: &str = "tls-s3cret-pw";

fn target(url: &str, password: &str) -> PgTarget {
    PgTarget::parse(url)
        .unwrap()
        .with_password(Some(password.to_owned()))
}

/// The error chain of a refused connection, checked not to show the password.
fn refused(url: &str, password: &str) -> (StoreError, String) {
    let e = Store::open_postgres(&target(url, password)).expect_err(url);
    let text = error_chain(&e);
    assert!(!text.contains(password), "{text}");
    assert!(!format!("{e:?}").contains(password), "{e:?}");
    assert!(text.starts_with("postgres://postgres@127.0.0.1:"), "{text}");
    (e, text)
}

/// A server that takes TLS only, with a certificate for 127.0.0.1: `verify-full` with its
/// CA, `require` and `prefer` without one connect; `disable`, and `verify-full` with the
/// public roots, are refused saying why; a wrong password never shows.
#[test]
fn sslmodes_against_a_server_that_requires_tls() {
    let server = PgServer::start_with(&PgOptions {
        password: Some(PASSWORD.to_owned()),
        tls_only: true,
        ..PgOptions::tls()
    });
    let ca = server.ca_file().display().to_string();
    let url = server.url();
    let full = format!("{url}?sslmode=verify-full&sslrootcert={ca}");
    let mut store = Store::open_postgres(&target(&full, PASSWORD)).unwrap();
    store
        .create_run(&new_run("r1", "2026-11-28T07:14:01.000Z"))
        .unwrap();
    let record = full_record(key("t1", "a", "alpha", 0));
    store.record_sample("r1", &record, &attempts(1)).unwrap();
    store.end_run("r1", RunStatus::Finished, None).unwrap();
    drop(store);
    for mode in ["?sslmode=require", "?sslmode=prefer", ""] {
        let store = Store::open_existing_postgres(&target(&format!("{url}{mode}"), PASSWORD))
            .unwrap_or_else(|e| panic!("{mode}: {}", error_chain(&e)));
        assert_eq!(store.report("r1").unwrap().samples.len(), 1, "{mode}");
    }

    let (e, text) = refused(&format!("{url}?sslmode=disable"), PASSWORD);
    assert!(matches!(e, StoreError::PgTls { .. }), "{text}");
    assert!(
        text.contains("the server refuses connections without TLS (sslmode=disable)"),
        "{text}"
    );
    assert!(text.contains("no encryption"), "{text}");

    let (e, text) = refused(&format!("{url}?sslmode=verify-full"), PASSWORD);
    assert!(matches!(e, StoreError::PgTls { .. }), "{text}");
    assert!(
        text.contains("TLS (sslmode=verify-full): the server's certificate was refused, checked against the public CA roots"),
        "{text}"
    );
    assert!(text.contains("UnknownIssuer"), "{text}");

    let (e, text) = refused(&full, "not-the-tls-s3cret-pw");
    assert!(matches!(e, StoreError::PgConnect { .. }), "{text}");
    assert!(text.contains("password authentication failed"), "{text}");

    let missing = format!("{url}?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem");
    let (e, text) = refused(&missing, PASSWORD);
    assert!(matches!(e, StoreError::PgRootCert { .. }), "{text}");
    assert!(
        text.contains("cannot use the CA certificates of sslrootcert=/nonexistent/ca.pem"),
        "{text}"
    );
}

/// A certificate made for another host: `verify-full` refuses it naming both hosts,
/// `verify-ca` (the chain only) and `disable` (no TLS) connect.
#[test]
fn verify_full_refuses_a_certificate_for_another_host() {
    let server = PgServer::start_with(&PgOptions {
        password: Some(PASSWORD.to_owned()),
        tls: Some(vec!["db.example.com".to_owned()]),
        ..PgOptions::default()
    });
    let ca = server.ca_file().display().to_string();
    let url = server.url();
    let (e, text) = refused(
        &format!("{url}?sslmode=verify-full&sslrootcert={ca}"),
        PASSWORD,
    );
    assert!(matches!(e, StoreError::PgTls { .. }), "{text}");
    assert!(
        text.contains(&format!(
            "the server's certificate was refused, checked against the CA certificates of sslrootcert={ca}"
        )),
        "{text}"
    );
    assert!(
        text.contains("not valid for name") && text.contains("db.example.com"),
        "{text}"
    );
    assert_eq!(e.kind(), "open");
    for mode in [
        format!("?sslmode=verify-ca&sslrootcert={ca}"),
        "?sslmode=disable".to_owned(),
    ] {
        Store::open_postgres(&target(&format!("{url}{mode}"), PASSWORD))
            .unwrap_or_else(|e| panic!("{mode}: {}", error_chain(&e)));
    }
}

/// A server without TLS: `require` is refused saying TLS could not be set up; `prefer` (the
/// default) connects without it.
#[test]
fn require_against_a_server_without_tls_says_so() {
    let server = PgServer::start();
    let url = server.url();
    let (e, text) = refused(&format!("{url}?sslmode=require"), PASSWORD);
    assert!(matches!(e, StoreError::PgTls { .. }), "{text}");
    assert!(
        text.contains("TLS could not be set up (sslmode=require)")
            && text.contains("server does not support TLS"),
        "{text}"
    );
    Store::open_postgres(&target(&url, PASSWORD)).unwrap();
}
