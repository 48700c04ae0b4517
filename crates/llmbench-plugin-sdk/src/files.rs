//! Reading the files a plugin's options name (an answers file, a rubric, a harness) with
//! limits: only regular files are opened (a device such as `/dev/zero`, a FIFO or a directory
//! is refused before anything is read), and no more than a stated number of bytes is read.
//!
//! The config crate has its own reader for prompt and items files (with gzip); it is not
//! shared because the host side never depends on the SDK.
//!
//! While a plugin instance is created (the SDK's `create` entry point, on one thread), every
//! file read here is recorded, path as resolved and bytes as read, and the host asks for the
//! list right after (`files-read`): a run stores those files with itself. A resumed run's
//! plugin is created with those copies (`PluginContext::stored_files`), and a read of a path
//! among them is served from the copy instead of the disk, so that the resumed samples use the
//! answers file, harness or rubric the run started with.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use llmbench_core::FileBytes;

/// The most bytes a plugin reads from one file named by its options unless it says
/// otherwise: 64 MiB.
pub const MAX_OPTION_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Why a file was not read. The message names the file.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {path}: {reason}")]
pub struct FileError {
    pub path: String,
    pub reason: String,
}

/// What the instance being created on this thread read, and the copies it is served from.
#[derive(Debug, Default)]
struct Scope {
    stored: BTreeMap<String, FileBytes>,
    /// In the order first read; each path once.
    read: Vec<(String, Vec<u8>)>,
}

thread_local! {
    /// Set only while `create` runs on this thread (see [`record_reads`]).
    static SCOPE: RefCell<Option<Scope>> = const { RefCell::new(None) };
}

/// Runs `create` with the reads of [`read_limited`] on this thread recorded and served from
/// `stored` (path -> bytes) when they name a stored path; returns its result and the files
/// read, each once, in the order first read. The scope ends with `create`, even when it
/// panics (the thread is the host's and serves others later).
pub(crate) fn record_reads<T>(
    stored: BTreeMap<String, FileBytes>,
    create: impl FnOnce() -> T,
) -> (T, Vec<(String, Vec<u8>)>) {
    /// Restores the previous scope (none, unless creates nest) when dropped.
    struct Restore(Option<Scope>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            SCOPE.with(|scope| *scope.borrow_mut() = previous);
        }
    }
    let previous = SCOPE.with(|scope| {
        scope.borrow_mut().replace(Scope {
            stored,
            read: Vec::new(),
        })
    });
    let restore = Restore(previous);
    let value = create();
    let read = SCOPE
        .with(|scope| {
            scope
                .borrow_mut()
                .as_mut()
                .map(|s| std::mem::take(&mut s.read))
        })
        .unwrap_or_default();
    drop(restore);
    (value, read)
}

/// Whether the instance being created was given a stored copy of `path`.
pub(crate) fn has_stored_copy(path: &Path) -> bool {
    let key = path.display().to_string();
    SCOPE.with(|scope| {
        scope
            .borrow()
            .as_ref()
            .is_some_and(|s| s.stored.contains_key(&key))
    })
}

/// The stored copy of `key`, if the instance being created was given one.
fn stored_copy(key: &str) -> Option<Vec<u8>> {
    SCOPE.with(|scope| {
        scope
            .borrow()
            .as_ref()
            .and_then(|s| s.stored.get(key))
            .map(|bytes| bytes.0.clone())
    })
}

/// Notes that `key` was read as `bytes`, when an instance is being created on this thread.
fn note_read(key: String, bytes: &[u8]) {
    SCOPE.with(|scope| {
        if let Some(s) = scope.borrow_mut().as_mut()
            && !s.read.iter().any(|(path, _)| *path == key)
        {
            s.read.push((key, bytes.to_vec()));
        }
    });
}

/// The bytes of `path`, at most `max_bytes` of them: a larger file, a directory, a device,
/// a FIFO or a socket is refused with the reason.
///
/// Called while the plugin is created, the file is recorded for the run (see the module
/// documentation), and a path the host gave a stored copy of is served from that copy
/// without touching the disk.
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let key = path.display().to_string();
    let bytes = match stored_copy(&key) {
        Some(bytes) if bytes.len() as u64 > max_bytes => {
            return Err(FileError {
                path: key,
                reason: format!("its stored copy is larger than the limit of {max_bytes} bytes"),
            });
        }
        Some(bytes) => bytes,
        None => read_from_disk(path, max_bytes)?,
    };
    note_read(key, &bytes);
    Ok(bytes)
}

/// [`read_limited`] from the disk.
fn read_from_disk(path: &Path, max_bytes: u64) -> Result<Vec<u8>, FileError> {
    let error = |reason: String| FileError {
        path: path.display().to_string(),
        reason,
    };
    // `metadata` follows symlinks: a link to a regular file is fine, a link to a device not.
    let meta = std::fs::metadata(path).map_err(|e| error(e.to_string()))?;
    if meta.is_dir() {
        return Err(error("it is a directory".into()));
    }
    if !meta.is_file() {
        // Opening a FIFO would block and a device may never end: refuse before opening.
        return Err(error(
            "it is not a regular file (a device, pipe or socket)".into(),
        ));
    }
    let too_large = || error(format!("it is larger than the limit of {max_bytes} bytes"));
    if meta.len() > max_bytes {
        return Err(too_large());
    }
    let file = std::fs::File::open(path).map_err(|e| error(e.to_string()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // One byte past the limit tells "at the limit" from "grew past it while read".
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| error(e.to_string()))?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large());
    }
    Ok(bytes)
}

/// [`read_limited`] as UTF-8 text.
pub fn read_text_limited(path: &Path, max_bytes: u64) -> Result<String, FileError> {
    let bytes = read_limited(path, max_bytes)?;
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
        FileError {
            path: path.display().to_string(),
            reason: format!("line {line} is not valid UTF-8"),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_devices_directories_and_large_files() {
        let e = read_limited(Path::new("/dev/zero"), 10).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read /dev/zero: it is not a regular file (a device, pipe or socket)"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read_limited(dir.path(), 10).unwrap_err();
        assert!(e.to_string().ends_with("it is a directory"), "{e}");
        let file = dir.path().join("a.txt");
        std::fs::write(&file, "0123456789").unwrap();
        assert_eq!(read_text_limited(&file, 10).unwrap(), "0123456789");
        let e = read_limited(&file, 9).unwrap_err();
        assert!(
            e.to_string().ends_with("larger than the limit of 9 bytes"),
            "{e}"
        );
        std::fs::write(&file, b"ok\n\xff").unwrap();
        let e = read_text_limited(&file, 10).unwrap_err();
        assert!(e.to_string().ends_with("line 2 is not valid UTF-8"), "{e}");
    }

    #[test]
    fn reads_while_creating_are_recorded_and_served_from_stored_copies() {
        let dir = tempfile::tempdir().unwrap();
        let (answers, rubric) = (dir.path().join("answers.jsonl"), dir.path().join("r.md"));
        std::fs::write(&answers, "on disk\n").unwrap();
        std::fs::write(&rubric, "rubric\n").unwrap();
        let key = |p: &Path| p.display().to_string();

        // A new run: read from disk, recorded once per path, in order.
        let (texts, read) = record_reads(BTreeMap::new(), || {
            [&answers, &rubric, &answers].map(|p| read_text_limited(p, 100).unwrap())
        });
        assert_eq!(texts, ["on disk\n", "rubric\n", "on disk\n"]);
        assert_eq!(
            read,
            [
                (key(&answers), b"on disk\n".to_vec()),
                (key(&rubric), b"rubric\n".to_vec())
            ]
        );
        // Outside a create nothing is recorded or served.
        assert!(!has_stored_copy(&answers));
        let ((), read) = record_reads(BTreeMap::new(), || ());
        assert!(read.is_empty());

        // A resume: the stored copy wins over the edited file, and even a deleted one.
        std::fs::write(&answers, "edited\n").unwrap();
        std::fs::remove_file(&rubric).unwrap();
        let stored: BTreeMap<String, FileBytes> = [
            (key(&answers), FileBytes(b"on disk\n".to_vec())),
            (key(&rubric), FileBytes(b"rubric\n".to_vec())),
        ]
        .into();
        let (texts, read) = record_reads(stored.clone(), || {
            assert!(has_stored_copy(&rubric));
            [&answers, &rubric].map(|p| read_text_limited(p, 100).unwrap())
        });
        assert_eq!(texts, ["on disk\n", "rubric\n"]);
        assert_eq!(read.len(), 2);
        // A copy is held to the same limit as the file.
        let ((), _) = record_reads(stored, || {
            let e = read_limited(&answers, 3).unwrap_err();
            assert!(
                e.to_string()
                    .ends_with("stored copy is larger than the limit of 3 bytes"),
                "{e}"
            );
        });
        // A path without a copy is read from disk, and recorded.
        let other = dir.path().join("other.txt");
        std::fs::write(&other, "x").unwrap();
        let (_, read) = record_reads(BTreeMap::new(), || read_limited(&other, 10).unwrap());
        assert_eq!(read, [(key(&other), b"x".to_vec())]);

        // A panicking create ends its scope: later reads on this thread are not served.
        let stored: BTreeMap<String, FileBytes> =
            [(key(&answers), FileBytes(b"copy".to_vec()))].into();
        let panicked =
            std::panic::catch_unwind(|| record_reads(stored, || -> () { panic!("create failed") }));
        assert!(panicked.is_err());
        assert_eq!(read_text_limited(&answers, 100).unwrap(), "edited\n");
    }
}
