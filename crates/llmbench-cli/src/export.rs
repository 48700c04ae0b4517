//! `llmbench export`: every sample of a run as JSON Lines or CSV (the store's export), or with
//! `--per-item` one row per (task, item, provider) instead of one per sample,
//! with the item's samples, `n` (graded samples), `c` (passed) and pass@k for each k
//! (`llmbench_report::pass_at_k`, the estimator the reports use).
//!
//! JSON Lines: `{"run_id", "task", "item", "provider", "model", "samples", "n", "c",
//! "pass_at_k": {"1": 0.3, "10": null}}`, keys in that order, k in ascending order; a pass@k is
//! `null` when the item has fewer than k graded samples. CSV: the same columns, one
//! `pass@<k>` column per k, empty for `null`.
//!
//! Both stream: the store's export row by row, and `--per-item` from the samples' outlines in
//! report order (no texts), where an item's samples of one provider are adjacent, so that a
//! row is written as soon as its last sample is read and memory does not grow with the run.

use std::io::Write;
use std::path::PathBuf;

use clap::ValueEnum;
use llmbench_core::{RunInfo, SampleRecord};
use llmbench_report::pass_at_k::ItemOutcome;
use llmbench_store::{ExportFormat, StoreError};
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
        let run = store
            .run_info(&run_id)
            .map_err(|e| Failure::new(EXIT_STORE, e))?;
        let ks = ks(&run, &pass_at_k);
        let write_err = |e: std::io::Error| anyhow::anyhow!("cannot write {to}: {e}");
        let mut rows = PerItemWriter::new(&run, &ks, format, &mut out).map_err(write_err)?;
        // A write error stops the read (as the store's own export does), and is reported as
        // one.
        let mut failed: Option<std::io::Error> = None;
        let mut current: Option<ItemOutcome> = None;
        let read = store.for_each_sample_outline(&run_id, |s| {
            let written = match current.as_mut() {
                Some(o) if same_row(o, &s) => Ok(()),
                _ => match current.replace(outcome_of(&s)) {
                    Some(done) => rows.row(&done),
                    None => Ok(()),
                },
            };
            if let Err(e) = written {
                let kind = e.kind();
                failed = Some(e);
                return Err(StoreError::Export {
                    path: store.path().to_owned(),
                    run_id: run_id.clone(),
                    source: kind.into(),
                });
            }
            let o = current.as_mut().expect("set above");
            count(o, &s);
            Ok(())
        });
        if let Some(e) = failed {
            return Err(write_err(e).into());
        }
        read.map_err(|e| Failure::new(EXIT_STORE, e))?;
        if let Some(done) = current.take() {
            rows.row(&done).map_err(write_err)?;
        }
        rows.finish().map_err(write_err)?
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

/// The k to export: `asked` (from `--pass-at-k`), else the run's, else 1. Sorted, without
/// duplicates. (What the reports show when the run asked for none, pass@1 when it repeated
/// items and nothing otherwise, is 1 here either way: no need to read the samples first.)
pub(crate) fn ks(run: &RunInfo, asked: &[u32]) -> Vec<u32> {
    let mut ks: Vec<u32> = if asked.is_empty() {
        run.pass_at_k.iter().copied().filter(|&k| k > 0).collect()
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

/// Whether `s` belongs to the row of `o`: same task, item and provider.
fn same_row(o: &ItemOutcome, s: &SampleRecord) -> bool {
    o.task == s.key.task && o.item == s.key.item && o.provider == s.key.provider
}

/// A row begun by its first sample (counted by [`count`]).
fn outcome_of(s: &SampleRecord) -> ItemOutcome {
    ItemOutcome {
        task: s.key.task.clone(),
        item: s.key.item.clone(),
        provider: s.key.provider.clone(),
        samples: 0,
        n: 0,
        c: 0,
    }
}

/// Counts `s` in its row, as `llmbench_report::pass_at_k::item_outcomes` does.
fn count(o: &mut ItemOutcome, s: &SampleRecord) {
    o.samples += 1;
    if let Some(v) = &s.verdict {
        o.n += 1;
        o.c += u64::from(v.pass);
    }
}

/// Writes `--per-item` rows one at a time: the CSV header first, then a row per
/// [`ItemOutcome`] given, in the order given.
struct PerItemWriter<'a> {
    run: &'a RunInfo,
    ks: &'a [u32],
    sink: Sink<'a>,
    rows: u64,
}

enum Sink<'a> {
    Jsonl(&'a mut dyn Write),
    Csv(Box<csv::Writer<&'a mut dyn Write>>),
}

impl<'a> PerItemWriter<'a> {
    fn new(
        run: &'a RunInfo,
        ks: &'a [u32],
        format: ExportFormat,
        out: &'a mut dyn Write,
    ) -> std::io::Result<Self> {
        let sink = match format {
            ExportFormat::Jsonl => Sink::Jsonl(out),
            ExportFormat::Csv => {
                let mut w = csv::Writer::from_writer(out);
                let mut header: Vec<String> = [
                    "run_id", "task", "item", "provider", "model", "samples", "n", "c",
                ]
                .map(String::from)
                .to_vec();
                header.extend(ks.iter().map(|k| format!("pass@{k}")));
                w.write_record(&header)?;
                Sink::Csv(Box::new(w))
            }
        };
        Ok(Self {
            run,
            ks,
            sink,
            rows: 0,
        })
    }

    fn model(&self, provider: &str) -> &'a str {
        self.run
            .providers
            .iter()
            .find(|(p, _, _)| p == provider)
            .map_or("", |(_, m, _)| m.as_str())
    }

    fn row(&mut self, o: &ItemOutcome) -> std::io::Result<()> {
        let model = self.model(&o.provider);
        match &mut self.sink {
            Sink::Jsonl(out) => {
                let pass_at_k: Vec<(String, String)> = self
                    .ks
                    .iter()
                    .map(|&k| (k.to_string(), json!(o.pass_at_k(k)).to_string()))
                    .collect();
                let fields: Vec<(String, String)> = vec![
                    ("run_id".into(), json!(self.run.run_id).to_string()),
                    ("task".into(), json!(o.task).to_string()),
                    ("item".into(), json!(o.item).to_string()),
                    ("provider".into(), json!(o.provider).to_string()),
                    ("model".into(), json!(model).to_string()),
                    ("samples".into(), o.samples.to_string()),
                    ("n".into(), o.n.to_string()),
                    ("c".into(), o.c.to_string()),
                    ("pass_at_k".into(), object(&pass_at_k)),
                ];
                writeln!(out, "{}", object(&fields))?;
            }
            Sink::Csv(w) => {
                let mut row = vec![
                    self.run.run_id.clone(),
                    o.task.clone(),
                    o.item.clone(),
                    o.provider.clone(),
                    model.to_owned(),
                    o.samples.to_string(),
                    o.n.to_string(),
                    o.c.to_string(),
                ];
                row.extend(
                    self.ks
                        .iter()
                        .map(|&k| o.pass_at_k(k).map(|v| v.to_string()).unwrap_or_default()),
                );
                w.write_record(&row)?;
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// The rows written (the CSV header is not counted).
    fn finish(self) -> std::io::Result<u64> {
        if let Sink::Csv(mut w) = self.sink {
            w.flush()?;
        }
        Ok(self.rows)
    }
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
    use llmbench_core::RunReport;
    use llmbench_report::fixtures::repeated_run;
    use llmbench_report::pass_at_k::item_outcomes;

    /// Rows as `run` writes them from the samples' outlines in report order, checked
    /// against `item_outcomes` (which groups the whole report at once).
    fn write_per_item(
        report: &RunReport,
        ks: &[u32],
        format: ExportFormat,
        out: &mut dyn Write,
    ) -> std::io::Result<u64> {
        let mut rows = PerItemWriter::new(&report.run, ks, format, out)?;
        let mut streamed: Vec<ItemOutcome> = Vec::new();
        for s in &report.samples {
            match streamed.last_mut() {
                Some(o) if same_row(o, s) => {}
                _ => streamed.push(outcome_of(s)),
            }
            count(streamed.last_mut().unwrap(), s);
        }
        assert_eq!(streamed, item_outcomes(report));
        for o in &streamed {
            rows.row(o)?;
        }
        rows.finish()
    }

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
        assert_eq!(ks(&report.run, &[]), vec![1]);
        assert_eq!(ks(&report.run, &[10, 1, 10]), vec![1, 10]);
        report.run.pass_at_k = vec![5, 1];
        assert_eq!(ks(&report.run, &[]), vec![1, 5]);
        assert_eq!(ks(&report.run, &[3]), vec![3]);
        let single = llmbench_report::fixtures::article_run();
        assert_eq!(ks(&single.run, &[]), vec![1]);
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
