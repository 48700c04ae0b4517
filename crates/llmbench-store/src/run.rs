//! Run metadata: what is written when a run starts, and what is read back.

use std::fmt;
use std::str::FromStr;

/// Everything recorded when a run starts. Nothing here may hold a secret: the config text is
/// stored verbatim, and configs name environment variables, never keys.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    /// From [`crate::new_run_id`].
    pub id: String,
    /// RFC 3339 UTC, e.g. from [`crate::utc_now_rfc3339`].
    pub created_at: String,
    pub config_path: String,
    /// The full config text: the snapshot a resumed run uses.
    pub config_toml: String,
    /// The price table used: provider name -> prices per MTok and their as-of date.
    pub prices_json: serde_json::Value,
    pub planned_samples: u64,
    /// Provider names in config order, with the model each asks for.
    pub providers: Vec<(String, String, String)>,
    /// Task names in config order, with their grader names in order.
    pub graders: Vec<(String, Vec<String>)>,
    /// The k of pass@k the run asks for (`[run] pass-at-k`); empty for none.
    pub pass_at_k: Vec<u32>,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunStatus {
    /// Started, and a process holds it ([`crate::Store::claim_run`]). Stored `running` with
    /// no holder (a killed process) reads as `Interrupted`.
    Running,
    /// Every planned sample was attempted.
    Finished,
    /// Stopped early: on purpose (Ctrl-C or SIGTERM: reason `interrupted`; the spend cap:
    /// reason `spend cap of ...`), or its process ended without recording an end (reason
    /// `interrupted`). It can be resumed.
    Interrupted,
    /// Stopped by an error.
    Failed,
}

impl RunStatus {
    pub const ALL: [RunStatus; 4] = [
        Self::Running,
        Self::Finished,
        Self::Interrupted,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Interrupted => "interrupted",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown run status `{s}`: expected running, finished, interrupted or failed"
                )
            })
    }
}

/// A run's metadata as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRun {
    pub id: String,
    pub created_at: String,
    pub config_path: String,
    pub config_toml: String,
    pub prices_json: serde_json::Value,
    pub planned_samples: u64,
    pub providers: Vec<(String, String, String)>,
    pub graders: Vec<(String, Vec<String>)>,
    /// The k of pass@k the run asked for; empty for none (and for runs stored by a build
    /// before schema version 3).
    pub pass_at_k: Vec<u32>,
    pub status: RunStatus,
    /// When the status last left `running`; `None` while running.
    pub finished_at: Option<String>,
    /// Why the run stopped, when it was not simply finished.
    pub status_reason: Option<String>,
    /// When the retention policy deleted the run's samples ([`crate::Store::apply_retention`]);
    /// its aggregates are kept ([`crate::Store::run_aggregates`]).
    pub samples_deleted_at: Option<String>,
}

/// One line of `list_runs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSummaryRow {
    pub id: String,
    pub created_at: String,
    pub status: RunStatus,
    pub planned_samples: u64,
    /// Samples recorded as `done`.
    pub done: u64,
    /// Samples recorded as `error`.
    pub errors: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips() {
        for status in RunStatus::ALL {
            assert_eq!(status.as_str().parse::<RunStatus>(), Ok(status));
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
