//! Each target: its corpus, then mutated inputs.

use std::time::Duration;

use llmbench_fuzz::{Budget, targets};

/// `iterations` mutated inputs, or `LLMBENCH_FUZZ_SECONDS` seconds when set.
fn budget(iterations: u64) -> Budget {
    let seed = std::env::var("LLMBENCH_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    match std::env::var("LLMBENCH_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
    {
        Some(seconds) => Budget {
            iterations: u64::MAX,
            time: Duration::from_secs_f64(seconds),
            seed,
        },
        // A safety net for a very slow machine, never reached here: the count ends first.
        None => Budget {
            iterations,
            time: Duration::from_secs(120),
            seed,
        },
    }
}

fn fuzz(name: &str, iterations: u64) {
    let mut target = targets::by_name(name).expect("a target of that name");
    let report = match llmbench_fuzz::run(&mut *target, &budget(iterations)) {
        Ok(report) => report,
        Err(failure) => panic!("{failure}"),
    };
    #[expect(
        clippy::print_stderr,
        reason = "the report is what `cargo xtask fuzz` shows"
    )]
    {
        eprintln!("{report}");
    }
    assert!(report.corpus > 0, "{name} has no corpus");
    assert!(
        report.executions > report.corpus as u64,
        "no mutated input ran: {report}"
    );
}

#[test]
fn config() {
    fuzz("config", 6000);
}

#[test]
fn items_jsonl() {
    fuzz("items-jsonl", 4000);
}

#[test]
fn items_json() {
    fuzz("items-json", 4000);
}

#[test]
fn items_csv() {
    fuzz("items-csv", 1500);
}

#[test]
fn items_tsv() {
    fuzz("items-tsv", 2500);
}

#[test]
fn items_gzip() {
    fuzz("items-gzip", 4000);
}

#[test]
fn replay_answers() {
    fuzz("replay-answers", 30000);
}

#[test]
fn sse() {
    fuzz("sse", 100_000);
}

#[test]
fn grader_match() {
    fuzz("grader-match", 3000);
}

#[test]
fn every_target_has_a_test() {
    let names: Vec<&str> = targets::all().iter().map(|t| t.name()).collect();
    assert_eq!(
        names,
        [
            "config",
            "items-jsonl",
            "items-json",
            "items-csv",
            "items-tsv",
            "items-gzip",
            "replay-answers",
            "sse",
            "grader-match"
        ]
    );
}
