//! `[run]`: repeats, concurrency, pass@k, the cost cap, timeouts and directories.

use std::time::Duration;

use super::checker::{FloatRange, Validator};
use crate::error::ConfigErrorKind;
use crate::model::RunSettings;
use crate::raw::RawRun;

use ConfigErrorKind as K;

impl Validator<'_> {
    pub(super) fn run(&mut self, raw: RawRun) -> RunSettings {
        let mut run = RunSettings::default();
        if let Some(dir) = &raw.output_dir {
            run.output_dir = Some(self.path("run.output-dir", dir));
        }
        if let Some(dir) = &raw.plugin_dir {
            run.plugin_dir = Some(self.path("run.plugin-dir", dir));
        }
        if let Some(repeats) = &raw.repeats {
            run.repeats = self.int("run.repeats", repeats, 1, u32::MAX.into()) as u32;
        }
        if let Some(concurrency) = &raw.concurrency {
            run.concurrency = self.int("run.concurrency", concurrency, 1, 1 << 20) as usize;
        }
        if let Some(ks) = &raw.pass_at_k {
            let mut pass_at_k = Vec::with_capacity(ks.len());
            for k in ks {
                let value = *k.get_ref();
                if value < 1 {
                    self.sink.error(
                        K::InvalidValue,
                        k.span(),
                        format!("`run.pass-at-k` values must be at least 1, not {value}"),
                    );
                } else if value > i64::from(run.repeats) {
                    self.sink
                        .error(
                            K::InvalidValue,
                            k.span(),
                            format!(
                                "pass@{value} needs at least {value} repeats, and `run.repeats` is {}",
                                run.repeats
                            ),
                        )
                        .help(format!(
                            "set `repeats = {value}` or more in `[run]`, or remove {value} from `pass-at-k`"
                        ));
                } else {
                    pass_at_k.push(value as u32);
                }
            }
            pass_at_k.sort_unstable();
            pass_at_k.dedup();
            run.pass_at_k = pass_at_k;
        }
        if let Some(cap) = &raw.max_cost_usd {
            run.max_cost_usd = Some(self.float("run.max-cost-usd", cap, FloatRange::MoreThan(0.0)));
        }
        if let Some(timeout) = &raw.timeout_seconds {
            let secs = self.float("run.timeout-seconds", timeout, FloatRange::MoreThan(0.0));
            match Duration::try_from_secs_f64(secs) {
                Ok(duration) => run.timeout = duration,
                Err(_) => {
                    self.sink.error(
                        K::InvalidValue,
                        timeout.span(),
                        format!("`run.timeout-seconds` is too large: {secs}"),
                    );
                }
            }
        }
        if let Some(grace) = &raw.grace_seconds {
            let secs = self.float("run.grace-seconds", grace, FloatRange::AtLeast(0.0));
            match Duration::try_from_secs_f64(secs) {
                Ok(duration) => run.grace = duration,
                Err(_) => {
                    self.sink.error(
                        K::InvalidValue,
                        grace.span(),
                        format!("`run.grace-seconds` is too large: {secs}"),
                    );
                }
            }
        }
        run
    }
}
