//! `llmbench export`: every sample of a run as JSON Lines or CSV (the store's export), or with
//! `--per-item` one row per (task, item, provider) instead of one per sample,
//! with the item's samples, `n` (graded samples), `c` (passed) and pass@k for each k
//! (`llmbench_report::pass_at_k`, the estimator the reports use).
//!
//! JSON Lines: `{"run_id", "task", "item", "provider", "model", "samples", "n", "c",
//! "pass_at_k": {"1": 0.3, "10": null}}`, keys in that order, k in ascending order; a pass@k is
//! `null` when the item has fewer than k graded samples. CSV: the same columns, one
//! `pass@<k>` column per k, empty for `null`.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use llmbench_core::RunReport;
use llmbench_report::pass_at_k::{item_outcomes, ks_for};
use llmbench_store::ExportFormat;
use serde_json::{Value, json};

use crate::common::{EXIT_DONE, EXIT_STORE, Failure, resolve_run};

#[derive(Debug, clap::Args)]
pub(crate) struct ExportArgs {
    /// The run (`latest` for the newest).
    #[arg(default_value = "latest")]
    run_id: String,
    /// JSON Lines (one object per sample) or CSV (with a header).
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// The directory of the results store. Default: `./llmbench-results`.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    store: crate::stores::StoreArgs,
    /// One row per (task, item, provider) instead of per sample: its samples, `n` graded
    /// samples, `c` passed, and pass@k for each k (empty/null when n < k).
    #[arg(long)]
    per_item: bool,
    /// The k of pass@k for `--per-item`, e.g. `1,10`. Default: the run's `[run] pass-at-k`,
    /// else 1.
    #[arg(long, value_name = "K,...", value_delimiter = ',', requires = "per_item",
          value_parser = clap::value_parser!(u32).range(1..))]
    pass_at_k: Vec<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// JSON Lines: one object per row.
    Jsonl,
    /// Comma-separated values, with a header row.
    Csv,
}

pub(crate) fn run(args: ExportArgs) -> Result<u8, Failure> {
    let ExportArgs {
        run_id,
        format,
        output,
        output_dir,
        store,
        per_item,
        pass_at_k,
    } = args;
    let store =
        crate::stores::Location::resolve(&store, output_dir.as_deref(), None)?.open_existing()?;
    let run_id = resolve_run(&store, &run_id)?;
    let format = match format {
        Format::Jsonl => ExportFormat::Jsonl,
        Format::Csv => ExportFormat::Csv,
    };
    let mut out: Box<dyn std::io::Write> = match &output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let to = output
        .as_ref()
        .map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
    let rows = if per_item {
        let report = store
            .report(&run_id)
            .map_err(|e| Failure::new(EXIT_STORE, e))?;
        let ks = ks(&report, &pass_at_k);
        write_per_item(&report, &ks, format, &mut out)
            .map_err(|e| anyhow::anyhow!("cannot write {to}: {e}"))?
    } else {
        store
            .export(&run_id, format, &mut out)
            .map_err(|e| Failure::new(EXIT_STORE, e))?
    };
    out.flush()
        .map_err(|e| anyhow::anyhow!("cannot write {to}: {e}"))?;
    tracing::info!(rows, "exported");
    Ok(EXIT_DONE)
}

/// The k to export: `asked` (from `--pass-at-k`), else the run's (or pass@1 when it repeated
/// items), else 1. Sorted, without duplicates.
pub(crate) fn ks(report: &RunReport, asked: &[u32]) -> Vec<u32> {
    let mut ks: Vec<u32> = if asked.is_empty() {
        ks_for(report)
    } else {
        asked.to_vec()
    };
    ks.sort_unstable();
    ks.dedup();
    if ks.is_empty() {
        ks.push(1);
    }
    ks
}

/// Writes one row per (task, item, provider) of `report` in report order; returns the rows
/// written (the CSV header is not counted). A write error is returned as is: the caller knows
/// where `out` goes and names it.
pub(crate) fn write_per_item(
    report: &RunReport,
    ks: &[u32],
    format: ExportFormat,
    out: &mut dyn Write,
) -> anyhow::Result<u64> {
    let model = |provider: &str| {
        report
            .run
            .providers
            .iter()
            .find(|(p, _, _)| p == provider)
            .map_or("", |(_, m, _)| m.as_str())
    };
    let outcomes = item_outcomes(report);
    let rows = outcomes.len() as u64;
    match format {
        ExportFormat::Jsonl => {
            for o in &outcomes {
                let pass_at_k: Vec<(String, String)> = ks
                    .iter()
                    .map(|&k| (k.to_string(), json!(o.pass_at_k(k)).to_string()))
                    .collect();
                let fields: Vec<(String, String)> = vec![
                    ("run_id".into(), json!(report.run.run_id).to_string()),
                    ("task".into(), json!(o.task).to_string()),
                    ("item".into(), json!(o.item).to_string()),
                    ("provider".into(), json!(o.provider).to_string()),
                    ("model".into(), json!(model(&o.provider)).to_string()),
                    ("samples".into(), o.samples.to_string()),
                    ("n".into(), o.n.to_string()),
                    ("c".into(), o.c.to_string()),
                    ("pass_at_k".into(), object(&pass_at_k)),
                ];
                writeln!(out, "{}", object(&fields))?;
            }
        }
        ExportFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header: Vec<String> = [
                "run_id", "task", "item", "provider", "model", "samples", "n", "c",
            ]
            .map(String::from)
            .to_vec();
            header.extend(ks.iter().map(|k| format!("pass@{k}")));
            w.write_record(&header)?;
            for o in &outcomes {
                let mut row = vec![
                    report.run.run_id.clone(),
                    o.task.clone(),
                    o.item.clone(),
                    o.provider.clone(),
                    model(&o.provider).to_owned(),
                    o.samples.to_string(),
                    o.n.to_string(),
                    o.c.to_string(),
                ];
                row.extend(
                    ks.iter()
                        .map(|&k| o.pass_at_k(k).map(|v| v.to_string()).unwrap_or_default()),
                );
                w.write_record(&row)?;
            }
            w.flush()?;
        }
    }
    Ok(rows)
}

/// A JSON object from keys and their values' JSON text, keys in the given order
/// (`serde_json::Map` would sort them, and `"10"` would come before `"2"`).
fn object(fields: &[(String, String)]) -> String {
    let body: Vec<String> = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", Value::from(k.as_str())))
        .collect();
    format!("{{{}}}", body.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;
    use llmbench_report::fixtures::repeated_run;

    fn jsonl(report: &RunReport, ks: &[u32]) -> Vec<Value> {
        let mut out = Vec::new();
        let rows = write_per_item(report, ks, ExportFormat::Jsonl, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len() as u64, rows);
        lines
    }

    #[test]
    fn one_json_line_per_item_and_provider_with_n_c_and_pass_at_k() {
        let report = repeated_run();
        let lines = jsonl(&report, &[1, 2, 10]);
        assert_eq!(lines.len(), 30);
        assert_eq!(
            lines[0],
            json!({
                "run_id": "20260601T090000Z-repeats", "task": "race-condition",
                "item": "case-00", "provider": "haiku", "model": "claude-haiku-4-5",
                "samples": 2, "n": 2, "c": 1,
                "pass_at_k": {"1": 0.5, "2": 1.0, "10": null},
            })
        );
        let opus = lines
            .iter()
            .find(|l| l["provider"] == "opus" && l["item"] == "case-04")
            .unwrap();
        assert_eq!(
            (&opus["samples"], &opus["n"], &opus["c"]),
            (&json!(2), &json!(1), &json!(1))
        );
        assert_eq!(opus["pass_at_k"], json!({"1": 1.0, "2": null, "10": null}));
        // Keys in the documented order, k ascending.
        let mut raw = Vec::new();
        write_per_item(&report, &[1, 2, 10], ExportFormat::Jsonl, &mut raw).unwrap();
        let first = String::from_utf8(raw)
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned();
        assert!(
            first.starts_with(r#"{"run_id":"20260601T090000Z-repeats","task":"race-condition","#),
            "{first}"
        );
        assert!(
            first.ends_with(r#""n":2,"c":1,"pass_at_k":{"1":0.5,"2":1.0,"10":null}}"#),
            "{first}"
        );
    }

    #[test]
    fn csv_has_a_column_per_k_and_empty_cells_below_k() {
        let mut out = Vec::new();
        let rows = write_per_item(&repeated_run(), &[1, 5], ExportFormat::Csv, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(rows, 30);
        assert_eq!(lines.len(), 31);
        assert_eq!(
            lines[0],
            "run_id,task,item,provider,model,samples,n,c,pass@1,pass@5"
        );
        assert_eq!(
            lines[1],
            "20260601T090000Z-repeats,race-condition,case-00,haiku,claude-haiku-4-5,2,2,1,0.5,"
        );
    }

    #[test]
    fn which_k() {
        let mut report = repeated_run();
        assert_eq!(ks(&report, &[]), vec![1]);
        assert_eq!(ks(&report, &[10, 1, 10]), vec![1, 10]);
        report.run.pass_at_k = vec![5, 1];
        assert_eq!(ks(&report, &[]), vec![1, 5]);
        assert_eq!(ks(&report, &[3]), vec![3]);
        let single = llmbench_report::fixtures::article_run();
        assert_eq!(ks(&single, &[]), vec![1]);
    }

    #[test]
    fn flags_parse() {
        use clap::Parser as _;
        let cli = crate::args::Cli::try_parse_from([
            "llmbench",
            "export",
            "r1",
            "--per-item",
            "--pass-at-k",
            "1,10",
            "--format",
            "csv",
        ])
        .unwrap();
        let crate::args::Command::Export(ExportArgs {
            per_item,
            pass_at_k,
            ..
        }) = cli.command
        else {
            panic!("{cli:?}")
        };
        assert!(per_item);
        assert_eq!(pass_at_k, vec![1, 10]);
        // --pass-at-k only means something per item; k = 0 is refused.
        assert!(
            crate::args::Cli::try_parse_from(["llmbench", "export", "--pass-at-k", "1"]).is_err()
        );
        assert!(
            crate::args::Cli::try_parse_from([
                "llmbench",
                "export",
                "--per-item",
                "--pass-at-k",
                "0"
            ])
            .is_err()
        );
    }
}
