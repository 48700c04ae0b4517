//! The progress bar on stderr: done/total, rate, errors, spend so far. Hidden when stderr
//! is not a terminal.

use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use llmbench_core::{SampleRecord, SampleStatus};
use llmbench_runner::Observer;
use llmbench_store::AttemptRecord;

pub(crate) struct Progress {
    bar: ProgressBar,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    errors: u64,
    retries: u64,
    spend: f64,
}

impl Progress {
    pub(crate) fn new(total: u64) -> Self {
        let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30} {pos}/{len} samples  {per_sec}  {msg}  [{elapsed_precise}]",
            )
            .expect("valid template"),
        );
        Self {
            bar,
            state: Mutex::new(State::default()),
        }
    }

    pub(crate) fn finish(&self) {
        self.bar.finish_and_clear();
    }

    fn update(&self, f: impl FnOnce(&mut State)) {
        let mut s = self.state.lock().expect("progress lock");
        f(&mut s);
        self.bar.set_message(format!(
            "errors {}  retries {}  spend ${:.5}",
            s.errors, s.retries, s.spend
        ));
    }
}

impl Observer for Progress {
    fn sample_skipped(&self) {
        self.bar.inc(1);
    }

    fn sample_finished(&self, record: &SampleRecord, attempts: &[AttemptRecord]) {
        self.update(|s| {
            s.errors += u64::from(record.status == SampleStatus::Error);
            s.retries += attempts.len().saturating_sub(1) as u64;
            s.spend += record.cost_usd.unwrap_or(0.0);
        });
        self.bar.inc(1);
    }
}
