//! The metrics reference page, `docs/metrics.md`, generated from the table. A test fails when
//! the checked-in page differs from [`markdown`].

use std::fmt::Write as _;

use crate::table::{LABELS, METRICS, MetricKind, Source};

/// The reference page, in Markdown.
pub fn markdown() -> String {
    let mut out = String::new();
    out.push_str(
        "# Metrics\n\
         \n\
         <!-- Generated from crates/llmbench-metrics/src/table.rs; do not edit. Regenerate with\n\
         \x20    UPDATE_DOCS=1 cargo test -p llmbench-metrics --test it docs -->\n\
         \n\
         `llmbench serve` exports these metrics on `/metrics` (Prometheus text format 0.0.4;\n\
         `127.0.0.1:9464` by default, `schedule.metrics-address` or `--metrics-address` to change\n\
         it), and `llmbench run --push-gateway URL` pushes them to a Pushgateway, grouped as\n\
         `job=\"llmbench\"`, `sweep=\"<name>\"`. Names follow the Prometheus conventions (base units,\n\
         `_total` counters, `_timestamp_seconds` times); label names follow the OpenTelemetry GenAI\n\
         attributes (`gen_ai.provider.name` becomes `gen_ai_provider_name`). No label holds a\n\
         prompt, an item, a sample or a request id, so the number of series is bounded by the\n\
         config: providers x tasks x graders.\n\
         \n\
         **Source** says what a value means across restarts:\n\
         \n",
    );
    for source in [Source::Store, Source::Process] {
        let text = match source {
            Source::Store => {
                "derived from the samples stored for the sweep. `llmbench serve` rebuilds these from the results store when it starts, then adds each sample as it is stored, so at every scrape they equal the totals over the stored samples of all runs of the config, whatever was killed and resumed: a sample is counted once. (Prometheus sees a restart as a counter reset, as usual.) A one-shot `run` counts only its own samples."
            }
            Source::Process => "counted by the running process since it started.",
        };
        let _ = writeln!(out, "- `{}`: {text}", source.as_str());
    }
    out.push_str("\n| Metric | Type | Labels | Source | Meaning |\n|---|---|---|---|---|\n");
    for def in &METRICS {
        let labels = def
            .labels
            .iter()
            .map(|l| format!("`{l}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = writeln!(
            out,
            "| [`{}`](#{}) | {} | {} | {} | {} |",
            def.name,
            def.name,
            def.kind.as_str(),
            labels,
            def.source.as_str(),
            def.help
        );
    }
    out.push_str("\n## Labels\n\n| Label | Values |\n|---|---|\n");
    for label in LABELS {
        let _ = writeln!(out, "| `{}` | {} |", label.name, label.meaning);
    }
    out.push_str("\n## Details\n");
    for def in &METRICS {
        let _ = write!(out, "\n### `{}`\n\n{}", def.name, def.help);
        if !def.notes.is_empty() {
            let _ = write!(out, " {}", def.notes);
        }
        out.push('\n');
        if def.kind == MetricKind::Histogram {
            let buckets = def
                .buckets
                .iter()
                .map(|b| b.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let _ = writeln!(
                out,
                "\nBuckets (upper bounds; `+Inf` is added): {buckets}. Series: `{0}_bucket`, `{0}_sum`, `{0}_count`.",
                def.name
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_metric_and_label() {
        let page = markdown();
        for def in &METRICS {
            assert!(
                page.contains(&format!("### `{}`", def.name)),
                "{}",
                def.name
            );
        }
        for label in LABELS {
            assert!(page.contains(&format!("| `{}` |", label.name)));
        }
        assert!(page.ends_with('\n'));
    }
}
