//! Reading the files a plugin's options name (an answers file, a rubric, a harness) with
//! limits: only regular files are opened (a device such as `/dev/zero`, a FIFO or a directory
//! is refused before anything is read), and no more than a stated number of bytes is read.
//!
//! The config crate has its own reader for prompt and items files (with gzip); it is not
//! shared because the host side never depends on the SDK.

use std::io::Read;
use std::path::Path;

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

/// The bytes of `path`, at most `max_bytes` of them: a larger file, a directory, a device,
/// a FIFO or a socket is refused with the reason.
pub fn read_limited(path: &Path, max_bytes: u64) -> Result<Vec<u8>, FileError> {
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
}
