//! `docs/metrics.md` is the page generated from the metrics table.

use crate::{read, repo};

#[test]
fn metrics_page_is_generated_from_the_table() {
    let path = repo().join("docs/metrics.md");
    let generated = llmbench_metrics::docs::markdown();
    if std::env::var_os("UPDATE_DOCS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &generated).unwrap();
    }
    let checked_in = if path.exists() {
        read(&path)
    } else {
        String::new()
    };
    assert!(
        checked_in == generated,
        "{} is out of date with crates/llmbench-metrics/src/table.rs; regenerate it with\n    UPDATE_DOCS=1 cargo test -p llmbench-metrics --test it docs",
        path.display()
    );
}
