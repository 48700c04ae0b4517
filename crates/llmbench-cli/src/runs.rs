//! `llmbench runs`: the runs in a results store, one line each under a header: when it
//! started, its status, its config, its models (by label, as reports name them) and how many
//! samples it holds.

use std::path::PathBuf;

use llmbench_store::Store;

use crate::common::{EXIT_DONE, EXIT_STORE, Failure, print};

#[derive(Debug, clap::Args)]
pub(crate) struct RunsArgs {
    /// The directory of the results store. Default: `./llmbench-results`.
    #[arg(long)]
    output_dir: Option<PathBuf>,
    #[command(flatten)]
    store: crate::stores::StoreArgs,
}

pub(crate) fn run(args: RunsArgs) -> Result<u8, Failure> {
    let store = crate::stores::Location::resolve(&args.store, args.output_dir.as_deref(), None)?
        .open_existing()?;
    print(&render(&store)?);
    Ok(EXIT_DONE)
}

/// One row of the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row {
    pub id: String,
    pub started: String,
    pub status: String,
    pub config: String,
    pub models: String,
    pub samples: String,
}

/// The listing of every run in `store`, oldest first.
pub(crate) fn render(store: &Store) -> Result<String, Failure> {
    let summaries = store.list_runs().map_err(|e| Failure::new(EXIT_STORE, e))?;
    if summaries.is_empty() {
        // Nothing on standard output (a script counting lines counts 0), a note for people.
        #[expect(clippy::print_stderr, reason = "the CLI's note on an empty listing")]
        {
            eprintln!("no runs in {}", store.path().display());
        }
        return Ok(String::new());
    }
    let mut rows = Vec::with_capacity(summaries.len());
    for r in summaries {
        let stored = store.run(&r.id).map_err(|e| Failure::new(EXIT_STORE, e))?;
        let models = stored
            .providers
            .iter()
            .map(|(_, _, label)| label.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let errors = match r.errors {
            0 => String::new(),
            1 => ", 1 error".to_owned(),
            n => format!(", {n} errors"),
        };
        rows.push(Row {
            id: r.id,
            started: r.created_at,
            status: r.status.to_string(),
            config: stored.config_path,
            models,
            samples: format!("{}/{}{errors}", r.done, r.planned_samples),
        });
    }
    Ok(table(&rows))
}

/// `rows` under a header, in aligned columns (the last column is not padded).
pub(crate) fn table(rows: &[Row]) -> String {
    let header = ["run", "started", "status", "samples", "config", "models"];
    let cells: Vec<[&str; 6]> = rows
        .iter()
        .map(|r| {
            [
                r.id.as_str(),
                r.started.as_str(),
                r.status.as_str(),
                r.samples.as_str(),
                r.config.as_str(),
                r.models.as_str(),
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&cells) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sit_under_a_header_in_columns() {
        let rows = [
            Row {
                id: "20261206T003609Z-52c792".into(),
                started: "2026-12-06T00:36:09.604Z".into(),
                status: "finished".into(),
                config: "/tmp/a.toml".into(),
                models: "Claude Haiku 4.5, Claude Opus 4.7".into(),
                samples: "2/2".into(),
            },
            Row {
                id: "r2".into(),
                started: "2026-12-06T00:40:00.000Z".into(),
                status: "interrupted".into(),
                config: "configs/replay-example.toml".into(),
                models: "m".into(),
                samples: "1/3, 1 error".into(),
            },
        ];
        assert_eq!(
            table(&rows),
            "\
run                      started                   status       samples       config                       models
20261206T003609Z-52c792  2026-12-06T00:36:09.604Z  finished     2/2           /tmp/a.toml                  Claude Haiku 4.5, Claude Opus 4.7
r2                       2026-12-06T00:40:00.000Z  interrupted  1/3, 1 error  configs/replay-example.toml  m
"
        );
    }
}
