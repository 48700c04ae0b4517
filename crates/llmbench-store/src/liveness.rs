//! Which runs a process is running: a per-run advisory lock on a sidecar file.
//!
//! A process that runs a run holds an exclusive `flock` on `<store>.run-<id>.lock` (next to
//! the SQLite file) for the run's whole life ([`RunClaim`]). The kernel drops the lock when
//! the process ends, however it ends (kill -9 included), so "stored as `running` and nobody
//! holds the lock" means the process is gone: readers show such a run as `interrupted`, and a
//! writer opening the store records it so.
//!
//! Lock files are removed by their holder while still holding the lock. Whoever locks a lock
//! file checks that the path still names the file it locked (same device and inode); if not,
//! the file was removed under it and it tries again. Probing readers never create a file.
//!
//! The standard library's `File::try_lock` is `flock(2)` on Unix; no crate is needed.

use std::fs::{File, OpenOptions, TryLockError};
use std::io;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::StoreError;

/// How long a claim retries while someone else briefly holds the lock (a reader's probe, or
/// a writer fixing up a dead run).
const CLAIM_PATIENCE: Duration = Duration::from_secs(2);

/// The lock file of run `run_id` of the store at `store`: `llmbench.sqlite.run-<id>.lock`.
/// Characters other than ASCII letters, digits, `-`, `_` and `.` are written as `%XX`, so
/// any run id names one file in the store's directory.
pub(crate) fn lock_path(store: &Path, run_id: &str) -> PathBuf {
    let mut name = store
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.push_str(".run-");
    for b in run_id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.') {
            name.push(char::from(b));
        } else {
            name.push_str(&format!("%{b:02X}"));
        }
    }
    name.push_str(".lock");
    store.with_file_name(name)
}

/// Held while a process runs a run: the exclusive lock on the run's lock file. Dropping it
/// removes the lock file and releases the lock; so does the end of the process.
#[derive(Debug)]
#[must_use = "the run is claimed only while this is held"]
pub struct RunClaim {
    file: Option<File>,
    lock: PathBuf,
    run_id: String,
}

impl RunClaim {
    /// The lock file.
    pub fn lock_path(&self) -> &Path {
        &self.lock
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }
}

impl Drop for RunClaim {
    fn drop(&mut self) {
        if let Some(file) = self.file.take() {
            // Removed before it is unlocked: nobody can lock this file again, and a newcomer
            // creates a fresh one.
            if let Err(e) = std::fs::remove_file(&self.lock)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::debug!(lock = %self.lock.display(), error = %e, "cannot remove a run lock file");
            }
            drop(file);
        }
    }
}

/// Takes the exclusive lock of `run_id`, creating its lock file; `Ok(None)` when another
/// open file (another process, or another claim) holds it for longer than `patience`.
pub(crate) fn try_claim(
    store: &Path,
    run_id: &str,
    patience: Duration,
) -> Result<Option<RunClaim>, StoreError> {
    let lock = lock_path(store, run_id);
    let lock_err = |source| StoreError::Lock {
        lock: lock.clone(),
        run_id: run_id.to_owned(),
        source,
    };
    let deadline = Instant::now() + patience;
    loop {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock)
            .map_err(lock_err)?;
        match file.try_lock() {
            Ok(()) => {
                if same_file(&file, &lock).map_err(lock_err)? {
                    return Ok(Some(RunClaim {
                        file: Some(file),
                        lock,
                        run_id: run_id.to_owned(),
                    }));
                }
                // Removed by its previous holder between our open and our lock: again.
                continue;
            }
            Err(TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(TryLockError::Error(e)) => return Err(lock_err(e)),
        }
    }
}

/// The default patience of [`try_claim`].
pub(crate) fn claim(store: &Path, run_id: &str) -> Result<Option<RunClaim>, StoreError> {
    try_claim(store, run_id, CLAIM_PATIENCE)
}

/// Whether a process holds run `run_id`. Creates nothing: no lock file means no holder. A
/// probe takes a shared lock for an instant, so two probes never disturb each other.
pub(crate) fn is_held(store: &Path, run_id: &str) -> bool {
    let lock = lock_path(store, run_id);
    let Ok(file) = File::open(&lock) else {
        return false;
    };
    match file.try_lock_shared() {
        Ok(()) => false,
        Err(TryLockError::WouldBlock) => true,
        // A file system without locks: assume the stored status is right.
        Err(TryLockError::Error(e)) => {
            tracing::debug!(lock = %lock.display(), error = %e, "cannot probe a run lock");
            true
        }
    }
}

/// Whether `path` still names the open `file`.
fn same_file(file: &File, path: &Path) -> io::Result<bool> {
    let open = file.metadata()?;
    match std::fs::metadata(path) {
        Ok(named) => Ok(open.dev() == named.dev() && open.ino() == named.ino()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// Lock files left in `store`'s directory whose run nobody holds (their holder died after
/// recording the run's end): removed, under the lock.
pub(crate) fn remove_stale_locks(store: &Path) {
    let Some(dir) = store.parent() else { return };
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let prefix = format!(
        "{}.run-",
        store
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    );
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !(name.starts_with(&prefix) && name.ends_with(".lock")) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() && same_file(&file, &path).unwrap_or(false) {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_paths_sit_next_to_the_store_and_escape_odd_ids() {
        let store = Path::new("/out/llmbench.sqlite");
        assert_eq!(
            lock_path(store, "20261128T071401Z-3f9a2c"),
            Path::new("/out/llmbench.sqlite.run-20261128T071401Z-3f9a2c.lock")
        );
        assert_eq!(
            lock_path(store, "../a b"),
            Path::new("/out/llmbench.sqlite.run-..%2Fa%20b.lock")
        );
    }

    #[test]
    fn a_claim_excludes_others_until_dropped_and_removes_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("llmbench.sqlite");
        assert!(!is_held(&store, "r1"));
        let claim = claim(&store, "r1").unwrap().expect("free");
        assert!(claim.lock_path().exists());
        assert!(is_held(&store, "r1"));
        assert!(!is_held(&store, "r2"));
        assert!(
            try_claim(&store, "r1", Duration::ZERO).unwrap().is_none(),
            "held"
        );
        drop(claim);
        assert!(!lock_path(&store, "r1").exists());
        assert!(!is_held(&store, "r1"));
        let again = try_claim(&store, "r1", Duration::ZERO).unwrap();
        assert!(again.is_some());
    }

    #[test]
    fn stale_lock_files_are_removed_but_held_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("llmbench.sqlite");
        std::fs::write(lock_path(&store, "dead"), "").unwrap();
        let held = claim(&store, "alive").unwrap().unwrap();
        remove_stale_locks(&store);
        assert!(!lock_path(&store, "dead").exists());
        assert!(held.lock_path().exists());
    }
}
