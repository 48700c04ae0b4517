//! Sharded sweeps: four shard processes (one killed with SIGKILL and started again) merged
//! into one store equal a single-process run; `status` per shard; `merge` refusals.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{llmbench, text, write_config};

const ITEMS: usize = 10;
const REPEATS: usize = 2;
const SAMPLES: usize = ITEMS * REPEATS;

/// The exported fields of a sample that two executions of one config store alike (not its
/// times).
pub(crate) const SAME_IN_EVERY_EXECUTION: [&str; 12] = [
    "task",
    "item",
    "provider",
    "repeat",
    "model",
    "status",
    "text",
    "verdict",
    "input_tokens",
    "output_tokens",
    "request",
    "attempts",
];

/// The same config text in `dir` (so the same derived run id), counting calls in
/// `dir/calls.tsv`.
fn config(dir: &Path) -> PathBuf {
    let items: Vec<String> = (0..ITEMS)
        .map(|i| format!("{{ id = \"i{i:02}\", text = \"item {i}\" }}"))
        .collect();
    write_config(
        dir,
        &format!(
            r#"concurrency = 1
repeats = {REPEATS}

[providers.p]
plugin = "provider-testkit"
model = "echo"
[providers.p.options]
fixed-latency-ms = 250
counter-file = "calls.tsv"

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]
"#,
            items.join(", ")
        ),
    )
}

/// How many times each (item, repeat) was requested, from the provider's log of calls.
fn requests(dir: &Path) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    let log = std::fs::read_to_string(dir.join("calls.tsv")).unwrap_or_default();
    for line in log.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        *counts
            .entry((f[1].to_owned(), f[2].to_owned()))
            .or_default() += 1;
    }
    counts
}

/// A store's samples of `run`: sample id -> the JSON export's row.
fn samples(results: &Path, run: &str) -> BTreeMap<String, serde_json::Value> {
    let out = llmbench(&["export", run, "--format", "jsonl", "--output-dir"])
        .arg(results)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "export of {}: {stderr}",
        results.display()
    );
    stdout
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (v["sample_id"].as_str().unwrap().to_owned(), v)
        })
        .collect()
}

/// Whether the store in `results` holds a sample of its latest run yet (false while it has
/// no run).
fn stored_any(results: &Path) -> bool {
    let out = llmbench(&["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(results)
        .output()
        .unwrap();
    out.status.success() && out.stdout.contains(&b'\n')
}

fn shard_run(config: &Path, shard: usize, out_dir: &Path) -> std::process::Command {
    let mut cmd = llmbench(&["run", "--shard", &format!("{shard}/4"), "--config"]);
    cmd.arg(config).arg("--output-dir").arg(out_dir);
    cmd
}

fn succeed(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    stdout
}

/// The Markdown report with what two executions cannot share masked: the config's path and
/// start time (line 3) and measured latencies (every number; the sample-by-sample
/// comparison checks the values that do not depend on time exactly).
fn markdown(results: &Path, run: &str) -> String {
    let out = succeed(
        llmbench(&["report", run, "--format", "markdown", "--output-dir"])
            .arg(results)
            .arg("--plugin-dir")
            .arg(crate::plugin_dir()),
    );
    out.lines()
        .filter(|l| !l.starts_with("Config `"))
        .map(|l| {
            let mut masked = String::new();
            for c in l.chars() {
                if c.is_ascii_digit() {
                    if !masked.ends_with('#') {
                        masked.push('#');
                    }
                } else {
                    masked.push(c);
                }
            }
            masked
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn four_shards_with_a_kill_9_merge_into_the_single_process_run() {
    let shards_dir = tempfile::tempdir().unwrap();
    let sd = shards_dir.path();
    let config_path = config(sd);
    let out = |i: usize| sd.join(format!("shard{i}"));

    // Shards 0, 2 and 3 run side by side to the end.
    let children: Vec<_> = [0, 2, 3]
        .iter()
        .map(|&i| shard_run(&config_path, i, &out(i)).output())
        .collect();
    for child in children {
        let child = child.unwrap();
        assert!(child.status.success(), "{}", text(&child).1);
    }
    let before_kill = requests(sd).values().sum::<usize>();
    assert!(before_kill > 0 && before_kill < SAMPLES, "{before_kill}");

    // Shard 1 is killed without warning once it has stored a sample. Read from its store: a
    // request the server has seen is stored by the writer thread a moment later, and on a
    // loaded machine that moment can outlast the next request.
    let mut child = shard_run(&config_path, 1, &out(1))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // (Its store is only read once its second request is out: the file exists then, with its
    // schema, and the first answer is on its way to the writer.)
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests(sd).values().sum::<usize>() < before_kill + 2 || !stored_any(&out(1)) {
        assert!(Instant::now() < deadline, "shard 1 stored nothing in 60 s");
        assert!(
            child.try_wait().unwrap().is_none(),
            "shard 1 ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();

    let run = samples(&out(0), "latest").values().next().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let stored_before_restart = samples(&out(1), &run);
    assert!(
        !stored_before_restart.is_empty(),
        "shard 1 stored nothing before the kill"
    );

    // `status` sees the killed shard as stopped early.
    let status = succeed(
        llmbench(&["status", &run, "--shard-count", "4"])
            .arg(out(0))
            .arg(out(1))
            .arg(out(2))
            .arg(out(3).join("llmbench.sqlite")),
    );
    assert!(status.contains("stopped early: shard 1"), "{status}");
    assert!(!status.contains("not started"), "{status}");

    // Started again, shard 1 runs only what it lacks, into the same run.
    succeed(&mut shard_run(&config_path, 1, &out(1)));
    let counts = requests(sd);
    for (id, sample) in &stored_before_restart {
        let key = (
            sample["item"].as_str().unwrap().to_owned(),
            sample["repeat"].to_string(),
        );
        assert_eq!(
            counts[&key], 1,
            "{id} was stored before the kill and requested again"
        );
    }
    // A sample the kill kept from the store (the one in flight at concurrency 1, or one
    // finished but still queued for the writer: the documented bound) may have been
    // requested twice; no sample more than that.
    for (key, &n) in &counts {
        assert!(
            (1..=2).contains(&n),
            "{key:?} requested {n} times: {counts:?}"
        );
    }
    assert_eq!(counts.len(), SAMPLES);

    let status = succeed(
        llmbench(&["status", &run, "--shard-count", "4"])
            .arg(out(0))
            .arg(out(1))
            .arg(out(2))
            .arg(out(3)),
    );
    assert_eq!(status.matches("complete").count(), 4, "{status}");

    // Merge the four shard files; merging again changes nothing.
    let merged = sd.join("merged");
    let files: Vec<PathBuf> = (0..4).map(|i| out(i).join("llmbench.sqlite")).collect();
    let first = succeed(llmbench(&["merge"]).args(&files).arg("--into").arg(&merged));
    assert!(
        first.contains(&format!("{SAMPLES} samples added, 0 already there")),
        "{first}"
    );
    let merged_once = samples(&merged, &run);
    let again = succeed(llmbench(&["merge"]).args(&files).arg("--into").arg(&merged));
    assert!(
        again.contains(&format!("0 samples added, {SAMPLES} already there")),
        "{again}"
    );
    assert_eq!(samples(&merged, &run), merged_once);

    // A single process runs the same config (its own copy: same text, same run id).
    let single_dir = tempfile::tempdir().unwrap();
    let single_config = config(single_dir.path());
    let single = single_dir.path().join("single");
    succeed(
        llmbench(&["run", "--run-id", &run, "--config"])
            .arg(&single_config)
            .arg("--output-dir")
            .arg(&single),
    );
    let single_samples = samples(&single, &run);
    assert_eq!(single_samples.len(), SAMPLES);
    assert_eq!(
        merged_once.keys().collect::<Vec<_>>(),
        single_samples.keys().collect::<Vec<_>>(),
        "the same sample ids"
    );
    for (id, m) in &merged_once {
        let s = &single_samples[id];
        for field in SAME_IN_EVERY_EXECUTION {
            assert_eq!(m[field], s[field], "sample {id}: {field}");
        }
    }
    assert_eq!(markdown(&merged, &run), markdown(&single, &run));
    let runs = succeed(llmbench(&["runs", "--output-dir"]).arg(&merged));
    assert!(runs.contains("finished"), "{runs}");
}

#[test]
fn merge_refuses_a_sample_stored_twice_differently_naming_both_files() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path());
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    // The same shard run twice into two stores: the same sample ids, other answers' times.
    succeed(&mut shard_run(&config_path, 0, &a));
    succeed(&mut shard_run(&config_path, 0, &b));
    let out = llmbench(&["merge"])
        .arg(a.join("llmbench.sqlite"))
        .arg(b.join("llmbench.sqlite"))
        .arg("--into")
        .arg(dir.path().join("merged"))
        .output()
        .unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("differs from the same sample"), "{stderr}");
    assert!(
        stderr.contains(&a.join("llmbench.sqlite").display().to_string()),
        "{stderr}"
    );
    assert!(
        stderr.contains(&b.join("llmbench.sqlite").display().to_string()),
        "{stderr}"
    );
}

#[test]
fn shard_flags_and_environment_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let config_path = config(dir.path());
    let out = llmbench(&["run", "--shard", "4/4", "--config"])
        .arg(&config_path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("out of range"), "{}", text(&out).1);
    // An index from Kubernetes without a count is refused, naming what is missing.
    let out = llmbench(&["run", "--config"])
        .arg(&config_path)
        .env("JOB_COMPLETION_INDEX", "1")
        .env_remove("SLURM_ARRAY_TASK_COUNT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", text(&out).1);
    assert!(text(&out).1.contains("--shard-count"), "{}", text(&out).1);
    // With a count, the environment's index selects the shard: a Slurm array task.
    let results = dir.path().join("slurm");
    succeed(
        llmbench(&["run", "--config"])
            .arg(&config_path)
            .arg("--output-dir")
            .arg(&results)
            .env("SLURM_ARRAY_TASK_ID", "2")
            .env("SLURM_ARRAY_TASK_COUNT", "4")
            .env_remove("JOB_COMPLETION_INDEX"),
    );
    let shard2 = dir.path().join("shard2");
    succeed(&mut shard_run(&config_path, 2, &shard2));
    let run = samples(&results, "latest").values().next().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        samples(&results, &run).keys().collect::<Vec<_>>(),
        samples(&shard2, &run).keys().collect::<Vec<_>>()
    );
}

#[test]
fn deploy_files_are_valid() {
    let repo = crate::repo();
    let validate = repo.join("target/deploy-venv/bin/kubernetes-validate");
    assert!(
        validate.exists(),
        "{} is not installed: run scripts/install-deps.sh deploy",
        validate.display()
    );
    let manifests: Vec<PathBuf> = std::fs::read_dir(repo.join("deploy/kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    assert!(manifests.len() >= 4, "{manifests:?}");
    let out = std::process::Command::new(&validate)
        .arg("--strict")
        .args(&manifests)
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let job = std::fs::read_to_string(repo.join("deploy/kubernetes/job.yaml")).unwrap();
    for needle in [
        "completionMode: Indexed",
        "completions: 4",
        "parallelism: 4",
        "backoffLimitPerIndex",
        "--shard-count 4",
        "secretRef",
        "configMap",
        "requests:",
    ] {
        assert!(job.contains(needle), "job.yaml lacks {needle}");
    }
    let out = std::process::Command::new("bash")
        .arg("-n")
        .arg(repo.join("deploy/slurm/sweep.sbatch"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
}
