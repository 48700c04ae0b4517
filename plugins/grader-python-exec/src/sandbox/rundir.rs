//! The run's directory on the host, holding the files bound read-only into the sandbox, and
//! the fresh uid a root sandbox drops to.

use super::SandboxError;
use crate::options::RunFile;

/// The uids a root sandbox drops to: `UID_BASE + (0..UID_SPAN)`, chosen at random per run
/// so that concurrent runs (even of different processes) do not share a process count.
const UID_BASE: u64 = 1_500_000_000;
const UID_SPAN: u64 = 100_000_000;

/// The run's temporary directory on the host: the files bound read-only into the sandbox.
#[derive(Debug)]
pub(super) struct RunDir {
    pub(super) dir: tempfile::TempDir,
    /// The files' names, each bound at `/work/<name>`.
    pub(super) files: Vec<String>,
    /// The uid a root sandbox drops to.
    pub(super) uid: Option<u32>,
}

impl RunDir {
    pub(super) fn new(as_root: bool, files: &[&RunFile]) -> Result<Self, SandboxError> {
        let dir = tempfile::Builder::new()
            .prefix("llmbench-exec-")
            .tempdir()
            .map_err(|error| SandboxError::RunDir {
                path: std::env::temp_dir(),
                error,
            })?;
        for file in files {
            let path = dir.path().join(&file.name);
            std::fs::write(&path, &file.contents)
                .map_err(|error| SandboxError::RunDir { path, error })?;
        }
        Ok(Self {
            dir,
            files: files.iter().map(|f| f.name.clone()).collect(),
            uid: as_root.then(fresh_uid),
        })
    }
}

/// A uid nobody uses, drawn at random for each run (two runs at once get the same uid with
/// odds of one in `UID_SPAN`).
pub(super) fn fresh_uid() -> u32 {
    fastrand::u64(UID_BASE..UID_BASE + UID_SPAN) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_uids_are_unprivileged_and_differ() {
        let a = fresh_uid();
        let b = fresh_uid();
        assert_ne!(a, b);
        for uid in [a, b] {
            assert!((UID_BASE..UID_BASE + UID_SPAN).contains(&u64::from(uid)));
        }
    }
}
