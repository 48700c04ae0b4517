//! `cargo xtask fuzz [--seconds N] [--seed S] [TARGET]`: longer fuzzing runs than the test
//! suite's fixed counts. Runs `llmbench-fuzz`'s target tests, built in release, for N
//! seconds each (default 60; two run at a time), with mutations seeded by S (default: the
//! time, printed so a run can be repeated). A failing input is saved under
//! `target/fuzz-failures/`; add it to `crates/llmbench-fuzz/corpus/<target>/regressions/`
//! with a named test once fixed.

use anyhow::{Context as _, bail};

use crate::{cargo, run};

pub(crate) fn fuzz(args: &[String]) -> anyhow::Result<()> {
    let mut seconds = "60".to_owned();
    let mut seed = None;
    let mut filter = vec!["targets::".to_owned()];
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args.next().context("--seconds needs a number")?;
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|s| *s > 0.0)
                    .with_context(|| format!("--seconds {value}: not a positive number"))?;
                seconds = value.clone();
            }
            "--seed" => {
                let value = args.next().context("--seed needs a number")?;
                value
                    .parse::<u64>()
                    .with_context(|| format!("--seed {value}: not a whole number"))?;
                seed = Some(value.clone());
            }
            target if !target.starts_with('-') => {
                // The test of target `items-csv` is `targets::items_csv`.
                filter = vec![
                    format!("targets::{}", target.replace('-', "_")),
                    "--exact".to_owned(),
                ];
            }
            other => bail!(
                "unknown option `{other}`: cargo xtask fuzz [--seconds N] [--seed S] [TARGET]"
            ),
        }
    }
    let seed = match seed {
        Some(seed) => seed,
        None => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs().to_string())
            .unwrap_or_else(|_| "1".to_owned()),
    };
    eprintln!("fuzzing for {seconds} s per target with seed {seed}");
    run(cargo()
        .args([
            "test",
            "--release",
            "-p",
            "llmbench-fuzz",
            "--test",
            "it",
            "--",
        ])
        .args(&filter)
        .args(["--nocapture", "--test-threads=2"])
        .env("LLMBENCH_FUZZ_SECONDS", &seconds)
        .env("LLMBENCH_FUZZ_SEED", &seed))
}
