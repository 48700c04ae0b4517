//! Every exit code of `llmbench`, in one place. The README's exit-code table is generated
//! from [`ExitCode::table`] by a test, so the two cannot drift apart.

/// What a `llmbench` process's exit status means. A CI job can tell a sweep that measured
/// something from one that did not, and a bad invocation from a broken store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum ExitCode {
    /// Done (for `gate`: every check passed).
    Done = 0,
    /// Unexpected failure: anything not covered by a more specific code.
    Failed = 1,
    /// Invalid config or arguments: a bad flag, a config error, no results store where one
    /// was named, an unknown run id.
    Usage = 2,
    /// A plugin could not be loaded (`run`, `plugins --dir`).
    Plugin = 3,
    /// The results store failed (a damaged store file included).
    Store = 4,
    /// `llmbench gate`: a check was beyond its tolerance, a model was missing, or the run did
    /// not finish.
    GateFailed = 5,
    /// Stopped by the spend cap (`max-cost-usd`): refused to start over budget, or reached it
    /// mid-way; what finished is stored.
    Budget = 6,
    /// The sweep ran, but every request to some model failed (no answer at all for that
    /// model, e.g. every request refused with HTTP 401); the reason is printed in one line.
    NoAnswers = 7,
    /// Busy: another process holds what this one would write: a second `llmbench serve` of
    /// the same sweep and results store (its lock file, or the store's run lock: kind
    /// `run_busy`), or a `resume` of a run another process is running; nothing was done.
    Busy = 8,
    /// Interrupted (Ctrl-C or SIGTERM); what finished is stored, `llmbench resume RUN_ID`
    /// runs the rest.
    Interrupted = 130,
}

impl ExitCode {
    /// Every code, in increasing order.
    pub(crate) const ALL: [Self; 10] = [
        Self::Done,
        Self::Failed,
        Self::Usage,
        Self::Plugin,
        Self::Store,
        Self::GateFailed,
        Self::Budget,
        Self::NoAnswers,
        Self::Busy,
        Self::Interrupted,
    ];

    /// The process exit status.
    pub(crate) const fn code(self) -> u8 {
        self as u8
    }

    /// What the code means, as the README's table says it.
    pub(crate) const fn meaning(self) -> &'static str {
        match self {
            Self::Done => "done (for `gate`: every check passed)",
            Self::Failed => "unexpected failure",
            Self::Usage => {
                "invalid config or arguments (an unknown run id or a missing results store included)"
            }
            Self::Plugin => {
                "a plugin could not be loaded (`plugins --dir`: a library in the directory failed to load)"
            }
            Self::Store => "the results store failed",
            Self::GateFailed => {
                "`llmbench gate`: a check was beyond its tolerance, a model was missing, or the run did not finish"
            }
            Self::Budget => "stopped by the spend cap (`max-cost-usd`); what finished is stored",
            Self::NoAnswers => {
                "every request to some model failed (no answer to grade, e.g. all refused with HTTP 401); the reason is printed in one line; what finished is stored"
            }
            Self::Busy => {
                "another process is running the same sweep (`serve`) or run (`resume`) with the same results store; nothing was done"
            }
            Self::Interrupted => "interrupted; what finished is stored",
        }
    }

    /// The exit codes for `llmbench --help`.
    pub(crate) fn help() -> String {
        let mut out = String::from("Exit codes:\n");
        for code in Self::ALL {
            out.push_str(&format!("  {:>3}  {}\n", code.code(), code.meaning()));
        }
        out
    }

    /// The README's exit-code table (Markdown).
    #[cfg(test)]
    pub(crate) fn table() -> String {
        let mut out = String::from("| exit code | meaning |\n|---|---|\n");
        for code in Self::ALL {
            out.push_str(&format!("| {} | {} |\n", code.code(), code.meaning()));
        }
        out
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        Self::from(code.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_listed_once_in_order() {
        let codes: Vec<u8> = ExitCode::ALL.iter().map(|c| c.code()).collect();
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(codes, sorted);
    }

    #[test]
    fn the_readme_table_is_the_enum() {
        let readme = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"),
        )
        .expect("read README.md");
        let table = ExitCode::table();
        assert!(
            readme.contains(&table),
            "README.md's exit-code table differs from crates/llmbench-cli/src/exit.rs; it should read:\n{table}"
        );
    }
}
