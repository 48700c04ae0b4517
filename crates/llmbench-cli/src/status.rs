//! `llmbench status RUN STORE... --shard-count N`: a sharded run's progress per shard
//! (planned, done, failed, last sample time), from the stores its shards write to, and which
//! shards have not started or stopped early.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use llmbench_store::{RunStatus, Store};

use crate::common::{EXIT_CONFIG, EXIT_STORE, Failure, default_output_dir, print};

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// The run (`llmbench run --shard` prints it; all shards share it).
    run_id: String,
    /// The shards' stores: `.sqlite` files or results directories. Default:
    /// `./llmbench-results` (none with `--store`).
    stores: Vec<PathBuf>,
    /// Also (or only) this store: the PostgreSQL database all shards write to.
    #[command(flatten)]
    store: crate::stores::StoreArgs,
    /// How many shards the sweep was split into.
    #[arg(long, value_name = "COUNT", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..))]
    shard_count: u32,
}

#[derive(Debug, Default)]
struct Progress {
    planned: u64,
    done: u64,
    failed: u64,
    last: Option<String>,
    /// The statuses of the stored runs that hold this shard's samples.
    statuses: Vec<RunStatus>,
}

fn open(path: &Path) -> Result<Store, Failure> {
    let opened = if path.extension().is_some_and(|e| e == "sqlite") {
        Store::open_existing(path)
    } else {
        Store::open_existing_in_dir(path)
    };
    opened.map_err(|e| {
        let code = if e.kind() == "not_found" {
            EXIT_CONFIG
        } else {
            EXIT_STORE
        };
        Failure::new(code, e)
    })
}

pub(crate) fn run(args: StatusArgs) -> Result<u8, Failure> {
    let shared = match &args.store.store {
        Some(_) => Some(crate::stores::Location::resolve(&args.store, None, None)?),
        None => None,
    };
    let stores = if args.stores.is_empty() && shared.is_none() {
        vec![default_output_dir()]
    } else {
        args.stores.clone()
    };
    let mut opened = Vec::new();
    for path in &stores {
        opened.push((path.display().to_string(), open(path)?));
    }
    if let Some(shared) = &shared {
        let store = shared.open_existing()?;
        opened.push((store.path().display().to_string(), store));
    }
    let count = args.shard_count;
    let mut shards: Vec<Progress> = (0..count).map(|_| Progress::default()).collect();
    let mut shard_of: Option<HashMap<String, u32>> = None;
    let mut seen: HashMap<String, ()> = HashMap::new();
    let mut found = false;
    for (_, store) in &opened {
        let stored = match store.run(&args.run_id) {
            Ok(run) => run,
            Err(e) if e.kind() == "run_not_found" => continue,
            Err(e) => return Err(Failure::new(EXIT_STORE, e)),
        };
        found = true;
        if shard_of.is_none() {
            // The sweep's samples, from the config and inputs the run stored.
            let (config, _) = llmbench_runner::resume_config(store, &args.run_id)
                .map_err(|e| Failure::new(EXIT_STORE, e))?;
            let mut map = HashMap::new();
            for key in llmbench_runner::sweep_keys(&config) {
                let id = key.id();
                let shard = id.shard(count);
                shards[shard as usize].planned += 1;
                map.insert(id.to_string(), shard);
            }
            shard_of = Some(map);
        }
        let map = shard_of.as_ref().expect("set above");
        let samples = store
            .sample_progress(&args.run_id)
            .map_err(|e| Failure::new(EXIT_STORE, e))?;
        let mut holds = vec![false; count as usize];
        for s in samples {
            let Some(&shard) = map.get(&s.sample_id) else {
                continue;
            };
            holds[shard as usize] = true;
            if seen.insert(s.sample_id, ()).is_some() {
                continue;
            }
            let p = &mut shards[shard as usize];
            if s.done {
                p.done += 1;
            } else {
                p.failed += 1;
            }
            if p.last.as_ref().is_none_or(|l| *l < s.finished_at) {
                p.last = Some(s.finished_at);
            }
        }
        for (shard, held) in holds.into_iter().enumerate() {
            if held {
                shards[shard].statuses.push(stored.status);
            }
        }
    }
    if !found {
        return Err(Failure::new(
            EXIT_CONFIG,
            anyhow::anyhow!(
                "no run {} in {}",
                args.run_id,
                opened
                    .iter()
                    .map(|(name, _)| name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    print(&render(&args.run_id, &shards));
    Ok(crate::common::EXIT_DONE)
}

fn render(run_id: &str, shards: &[Progress]) -> String {
    let mut out = format!("run {run_id}: {} shards\n", shards.len());
    let _ = writeln!(
        out,
        "{:>7} {:>8} {:>8} {:>8}  {:<27} state",
        "shard", "planned", "done", "failed", "last sample"
    );
    let mut not_started = Vec::new();
    let mut stopped = Vec::new();
    for (i, p) in shards.iter().enumerate() {
        let recorded = p.done + p.failed;
        let running = p.statuses.contains(&RunStatus::Running);
        let state = if recorded >= p.planned {
            "complete"
        } else if recorded == 0 && !running {
            not_started.push(i);
            "not started"
        } else if running {
            "running"
        } else {
            stopped.push(i);
            "stopped early"
        };
        let _ = writeln!(
            out,
            "{:>7} {:>8} {:>8} {:>8}  {:<27} {state}",
            format!("{i}/{}", shards.len()),
            p.planned,
            p.done,
            p.failed,
            p.last.as_deref().unwrap_or("-"),
        );
    }
    let list = |v: &[usize]| {
        v.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !not_started.is_empty() {
        let _ = writeln!(out, "not started: shard {}", list(&not_started));
    }
    if !stopped.is_empty() {
        let _ = writeln!(
            out,
            "stopped early: shard {} (run the same shard again to finish it)",
            list(&stopped)
        );
    }
    out
}
