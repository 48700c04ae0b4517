//! A file a run is built from (its config, prompt and items files), as the run stores it:
//! the bytes in memory, or, for an items file read as a stream, where it is on disk and the
//! size and SHA-256 of what was read.
//!
//! A million-item file is 100 MB: holding it for the whole of a sweep, only so that the run
//! can store it when it starts, was the largest part of a large sweep's memory. Read as a
//! stream, the file is read again when the run stores it, and refused then if it is not
//! what was read the first time (the run would otherwise store other items than it runs).

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// See the module doc.
#[derive(Clone, PartialEq, Eq)]
pub enum FileContent {
    /// The bytes (compressed, for a `.gz` items file).
    Bytes(Arc<[u8]>),
    /// A file read as a stream: its path, and the size and SHA-256 of the bytes read.
    Disk {
        path: PathBuf,
        len: u64,
        sha256: [u8; 32],
    },
}

impl fmt::Debug for FileContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FileContent::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            FileContent::Disk { path, len, .. } => {
                write!(f, "Disk({}, {len} bytes)", path.display())
            }
        }
    }
}

impl From<Arc<[u8]>> for FileContent {
    fn from(bytes: Arc<[u8]>) -> Self {
        FileContent::Bytes(bytes)
    }
}

impl From<Vec<u8>> for FileContent {
    fn from(bytes: Vec<u8>) -> Self {
        FileContent::Bytes(bytes.into())
    }
}

impl FileContent {
    /// The size in bytes.
    pub fn len(&self) -> u64 {
        match self {
            FileContent::Bytes(bytes) => bytes.len() as u64,
            FileContent::Disk { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The lowercase hex SHA-256 of the content.
    pub fn sha256_hex(&self) -> String {
        match self {
            FileContent::Bytes(bytes) => format!("{:x}", Sha256::digest(bytes)),
            FileContent::Disk { sha256, .. } => {
                format!("{:x}", sha2::digest::Output::<Sha256>::from(*sha256))
            }
        }
    }

    /// A reader of the content. For a file on disk, the reader fails (an
    /// [`io::ErrorKind::InvalidData`] error naming the file) when the file no longer holds
    /// what was read: another size, or other bytes (checked when the end is reached).
    pub fn reader(&self) -> io::Result<ContentReader<'_>> {
        Ok(match self {
            FileContent::Bytes(bytes) => ContentReader::Bytes(&bytes[..]),
            FileContent::Disk { path, len, sha256 } => ContentReader::Disk {
                file: std::fs::File::open(path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
                })?,
                path,
                len: *len,
                sha256,
                read: 0,
                hasher: Sha256::new(),
                checked: false,
            },
        })
    }

    /// The whole content in memory (read from disk, and checked, for a file on disk).
    pub fn to_bytes(&self) -> io::Result<Arc<[u8]>> {
        match self {
            FileContent::Bytes(bytes) => Ok(Arc::clone(bytes)),
            FileContent::Disk { len, .. } => {
                let mut bytes = Vec::with_capacity(*len as usize);
                self.reader()?.read_to_end(&mut bytes)?;
                Ok(bytes.into())
            }
        }
    }
}

/// Reads a [`FileContent`] ([`FileContent::reader`]).
pub enum ContentReader<'a> {
    Bytes(&'a [u8]),
    Disk {
        file: std::fs::File,
        path: &'a Path,
        len: u64,
        sha256: &'a [u8; 32],
        read: u64,
        hasher: Sha256,
        /// The end was reached and the whole found unchanged.
        checked: bool,
    },
}

impl fmt::Debug for ContentReader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentReader::Bytes(rest) => write!(f, "ContentReader({} bytes left)", rest.len()),
            ContentReader::Disk { path, read, .. } => {
                write!(f, "ContentReader({}, {read} bytes read)", path.display())
            }
        }
    }
}

/// The error of a file on disk that is no longer what was read.
fn changed(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "{} changed after it was read ({why}): the run would store other items than it runs; start it again",
            path.display()
        ),
    )
}

impl Read for ContentReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ContentReader::Bytes(rest) => rest.read(buf),
            ContentReader::Disk {
                file,
                path,
                len,
                sha256,
                read,
                hasher,
                checked,
            } => {
                if buf.is_empty() || *checked {
                    return Ok(0);
                }
                // Never more than the size read the first time: a file that grew is found
                // by the one byte past it.
                let room = (*len - *read).min(buf.len() as u64) as usize;
                let n = if room == 0 {
                    let mut extra = [0u8; 1];
                    if file.read(&mut extra)? > 0 {
                        return Err(changed(path, &format!("it is now over {len} bytes")));
                    }
                    let digest: [u8; 32] = std::mem::take(hasher).finalize().into();
                    if &digest != *sha256 {
                        return Err(changed(path, "its bytes differ"));
                    }
                    *checked = true;
                    return Ok(0);
                } else {
                    file.read(&mut buf[..room])?
                };
                if n == 0 {
                    return Err(changed(path, &format!("it is now {read} bytes, not {len}")));
                }
                hasher.update(&buf[..n]);
                *read += n as u64;
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_disk(bytes: &[u8]) -> (tempfile_dir::Dir, FileContent) {
        let dir = tempfile_dir::Dir::new();
        let path = dir.0.join("items.jsonl");
        std::fs::write(&path, bytes).unwrap();
        let content = FileContent::Disk {
            path,
            len: bytes.len() as u64,
            sha256: Sha256::digest(bytes).into(),
        };
        (dir, content)
    }

    /// A directory removed when dropped (core has no dev-dependency for it).
    mod tempfile_dir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let dir = std::env::temp_dir()
                    .join(format!("llmbench-core-content-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                Self(dir)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    #[test]
    fn content_in_memory_and_on_disk_read_alike() {
        let text = b"{\"id\": \"a\"}\n{\"id\": \"b\"}\n".repeat(1000);
        let (_dir, disk) = on_disk(&text);
        let memory = FileContent::from(text.clone());
        assert_eq!(disk.len(), memory.len());
        assert_eq!(disk.sha256_hex(), memory.sha256_hex());
        assert_eq!(memory.sha256_hex().len(), 64);
        assert_eq!(&disk.to_bytes().unwrap()[..], &text[..]);
        // In small reads too.
        let mut reader = disk.reader().unwrap();
        let mut back = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = reader.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        assert_eq!(back, text);
        // At the end it stays at the end.
        assert_eq!(reader.read(&mut buf).unwrap(), 0);
    }

    #[test]
    fn a_file_that_changed_after_it_was_read_is_refused() {
        let text = b"{\"id\": \"a\"}\n";
        for now in [
            &b"{\"id\": \"b\"}\n"[..],
            b"{\"id\": \"a\"}\n{}",
            b"{\"id\"",
        ] {
            let (_dir, disk) = on_disk(text);
            let FileContent::Disk { path, .. } = &disk else {
                unreachable!()
            };
            std::fs::write(path, now).unwrap();
            let e = disk.to_bytes().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
            let message = e.to_string();
            assert!(
                message.contains("items.jsonl changed after it was read"),
                "{message}"
            );
        }
        let (dir, disk) = on_disk(text);
        drop(dir);
        let e = disk.to_bytes().unwrap_err().to_string();
        assert!(
            e.starts_with("cannot read ") && e.contains("items.jsonl"),
            "{e}"
        );
    }
}
