//! Reading the files a config names (prompt files, items files), with limits: only regular
//! files are opened (a device such as `/dev/zero`, a FIFO or a directory is refused before
//! anything is read), and no more than a bounded number of bytes is read, after
//! decompression for a `.gz` file, so that a gzip bomb is refused rather than inflated.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use crate::dataset;

/// The most bytes an items file (`items-file`, or a named `dataset`) may hold, after
/// decompression: 256 MiB, room for a few million typical items (a million-sample sweep of
/// one short question per item is about 100 MB). Items are kept compactly
/// (`item_table.rs`), at about their text's size.
pub const MAX_ITEMS_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// The most bytes a `prompt-file` may hold: 1 MiB, far beyond any prompt a model accepts.
pub const MAX_PROMPT_FILE_BYTES: u64 = 1024 * 1024;

/// What a file read is allowed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limit {
    /// The most bytes of text (decompressed).
    pub bytes: u64,
    /// The kind of file, plural, in messages (`items files`).
    pub what: &'static str,
    /// Whether a name ending in `.gz` is decompressed.
    pub gzip: bool,
}

impl Limit {
    pub(crate) const ITEMS: Limit = Limit {
        bytes: MAX_ITEMS_FILE_BYTES,
        what: "items files",
        gzip: true,
    };
    pub(crate) const PROMPT: Limit = Limit {
        bytes: MAX_PROMPT_FILE_BYTES,
        what: "prompt files",
        gzip: false,
    };
}

/// Whether `path`'s name ends in `.gz` (any case).
pub(crate) fn is_gzip(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gz"))
}

/// `1 MiB`, `64 MiB`, or bytes.
fn size(bytes: u64) -> String {
    if bytes.is_multiple_of(1024 * 1024) {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{bytes} bytes")
    }
}

/// Reads the text of `path` within `limit`. The error is a message naming the file, for the
/// caller to locate at the config value that names it.
#[cfg(test)]
pub(crate) fn read_text(path: &Path, limit: Limit) -> Result<String, String> {
    decode(path, &read_bytes(path, limit)?, limit).map(Cow::into_owned)
}

/// Reads the bytes of `path` as stored on disk (compressed, for a `.gz` file), refusing
/// anything but a regular file and a file larger than `limit` before reading it.
///
/// Read straight into the shared buffer a config keeps ([`crate::SourceFile::bytes`]): a
/// `Vec` turned into an `Arc<[u8]>` is copied, and for a 100 MB items file that copy was a
/// second 100 MB at the peak of a large sweep's memory.
pub(crate) fn read_bytes(path: &Path, limit: Limit) -> Result<Arc<[u8]>, String> {
    let shown = path.display();
    let cannot = |why: &dyn std::fmt::Display| format!("cannot read {shown}: {why}");
    let (mut file, meta) = open_regular(path, limit)?;
    // The common case: the file holds the size `metadata` gave. One allocation of that size
    // (`collect` from an iterator of known length allocates the `Arc` once), filled in place.
    let mut shared: Arc<[u8]> = std::iter::repeat_n(0, meta.len() as usize).collect();
    let buffer = Arc::get_mut(&mut shared).expect("just made, not shared");
    if file.read_exact(buffer).is_ok() && matches!(file.read(&mut [0]), Ok(0)) {
        return Ok(shared);
    }
    drop(shared);
    // The file changed size since `metadata`: read it again from its start, as it is now.
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    // One byte past the limit: a file that grew since `metadata` is still refused.
    let mut bytes = Vec::new();
    file.take(limit.bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| cannot(&e))?;
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large(path, limit));
    }
    Ok(Arc::from(bytes))
}

/// Opens `path` for reading after checking it is a regular file within `limit` (as stored).
fn open_regular(path: &Path, limit: Limit) -> Result<(std::fs::File, std::fs::Metadata), String> {
    let shown = path.display();
    let cannot = |why: &dyn std::fmt::Display| format!("cannot read {shown}: {why}");
    // `metadata` follows symlinks: a link to a regular file is fine, a link to a device not.
    let meta = std::fs::metadata(path).map_err(|e| cannot(&e))?;
    if meta.is_dir() {
        return Err(cannot(&"it is a directory"));
    }
    if !meta.is_file() {
        // Opening a FIFO would block and a device may never end: refuse before opening.
        return Err(cannot(
            &"it is not a regular file (a device, pipe or socket)",
        ));
    }
    // Checked on the file as stored, compressed or not: a compressed file over the limit
    // would almost surely decompress to more than it.
    if meta.len() > limit.bytes {
        return Err(too_large(path, limit));
    }
    let file = std::fs::File::open(path).map_err(|e| cannot(&e))?;
    Ok((file, meta))
}

/// The bytes of a `.jsonl` file read at a time by [`stream_jsonl`] (more for a longer line).
const STREAM_BUFFER: usize = 1 << 20;

/// Reads the `.jsonl` file at `path` as a stream, a buffer at a time, handing each line to
/// [`dataset::jsonl_line`]: the file is never held whole (a million-item file is 100 MB, and
/// was the largest part of a large sweep's memory). Returns the size and SHA-256 of the bytes
/// read, for the run to store the file from disk and check it is unchanged
/// ([`llmbench_core::FileContent::Disk`]).
///
/// The same lines, errors and records as [`decode`] then [`dataset::read`] give: lines end at
/// `\n` (a `\r` before it dropped, as `str::lines` does), a byte order mark before the first
/// is dropped, and text that is not UTF-8 is the same error naming its line (the records
/// read before it are the caller's to drop, as a file refused whole has none).
pub(crate) fn stream_jsonl(
    path: &Path,
    limit: Limit,
    errors: &mut dataset::FileErrors<'_>,
    each: &mut dataset::EachRecord<'_>,
) -> Result<(u64, [u8; 32]), String> {
    use sha2::{Digest, Sha256};
    let shown = path.display();
    let cannot = |why: &dyn std::fmt::Display| format!("cannot read {shown}: {why}");
    let (mut file, meta) = open_regular(path, limit)?;
    let mut hasher = Sha256::new();
    let mut total: u64 = 0;
    // No larger than the file (and a byte, to see its end in one read): a small file costs
    // what it holds.
    let mut buf = vec![
        0u8;
        (meta.len() as usize)
            .saturating_add(1)
            .clamp(64, STREAM_BUFFER)
    ];
    // `buf[start..filled]`: read, not yet handed on (the start of a line).
    let (mut start, mut filled) = (0usize, 0usize);
    let mut number = 0usize;
    let mut line = |bytes: &[u8], number: usize, errors: &mut dataset::FileErrors<'_>| {
        let text = std::str::from_utf8(bytes)
            .map_err(|_| cannot(&format!("line {number} is not valid UTF-8")))?;
        let text = match number {
            1 => text.strip_prefix('\u{feff}').unwrap_or(text),
            _ => text,
        };
        if !errors.full() {
            dataset::jsonl_line(number, text, errors, each);
        }
        Ok::<(), String>(())
    };
    loop {
        if filled == buf.len() {
            if start > 0 {
                buf.copy_within(start..filled, 0);
                filled -= start;
                start = 0;
            } else {
                // One line longer than the buffer: a larger buffer.
                buf.resize(buf.len() * 2, 0);
            }
        }
        let n = match file.read(&mut buf[filled..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(cannot(&e)),
        };
        total += n as u64;
        // The file may have grown since it was checked.
        if total > limit.bytes {
            return Err(too_large(path, limit));
        }
        hasher.update(&buf[filled..filled + n]);
        let searched = filled;
        filled += n;
        if n == 0 {
            // The last line, without a line end.
            if start < filled {
                number += 1;
                line(&buf[start..filled], number, errors)?;
            }
            return Ok((total, hasher.finalize().into()));
        }
        let mut from = searched.max(start);
        while let Some(at) = memchr::memchr(b'\n', &buf[from..filled]) {
            let end = from + at;
            let text = &buf[start..end];
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            number += 1;
            line(text, number, errors)?;
            start = end + 1;
            from = start;
        }
    }
}

fn too_large(path: &Path, limit: Limit) -> String {
    format!(
        "cannot read {}: it is larger than {}, the limit for {}",
        path.display(),
        size(limit.bytes),
        limit.what
    )
}

/// The text of the file `path` whose bytes (as stored on disk) are `bytes`: decompressed
/// when `limit` allows gzip and the name ends in `.gz` (to at most `limit.bytes`, so that a
/// gzip bomb is refused rather than inflated), checked to be UTF-8, without a leading byte
/// order mark. The same whether the bytes come from disk or from a run's stored copy.
///
/// Borrowed from `bytes` when they are the text (not compressed): an items file is not held
/// twice while its items are read.
pub(crate) fn decode<'a>(
    path: &Path,
    bytes: &'a [u8],
    limit: Limit,
) -> Result<Cow<'a, str>, String> {
    let shown = path.display();
    let cannot = |why: &dyn std::fmt::Display| format!("cannot read {shown}: {why}");
    if bytes.len() as u64 > limit.bytes {
        return Err(too_large(path, limit));
    }
    let invalid = |bytes: &[u8], valid_up_to: usize| {
        let line = bytes[..valid_up_to].iter().filter(|&&b| b == b'\n').count() + 1;
        cannot(&format!("line {line} is not valid UTF-8"))
    };
    // Spreadsheets write a byte order mark before CSV text; it is not part of the first name.
    let bom = '\u{feff}'.len_utf8();
    if limit.gzip && is_gzip(path) {
        // One byte past the limit tells "at the limit" from "over it" without reading on.
        let mut text = Vec::new();
        MultiGzDecoder::new(bytes)
            .take(limit.bytes + 1)
            .read_to_end(&mut text)
            .map_err(|e| cannot(&format!("invalid gzip data: {e}")))?;
        if text.len() as u64 > limit.bytes {
            return Err(cannot(&format!(
                "it decompresses to more than {}, the limit for {}",
                size(limit.bytes),
                limit.what
            )));
        }
        let mut text = String::from_utf8(text)
            .map_err(|e| invalid(e.as_bytes(), e.utf8_error().valid_up_to()))?;
        if text.starts_with('\u{feff}') {
            text.drain(..bom);
        }
        Ok(Cow::Owned(text))
    } else {
        let text = std::str::from_utf8(bytes).map_err(|e| invalid(bytes, e.valid_up_to()))?;
        Ok(Cow::Borrowed(text.strip_prefix('\u{feff}').unwrap_or(text)))
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::*;

    fn small(gzip: bool) -> Limit {
        Limit {
            bytes: 100,
            what: "items files",
            gzip,
        }
    }

    #[test]
    fn refuses_devices_and_directories_without_reading() {
        let e = read_text(Path::new("/dev/zero"), Limit::ITEMS).unwrap_err();
        assert_eq!(
            e,
            "cannot read /dev/zero: it is not a regular file (a device, pipe or socket)"
        );
        let dir = tempfile::tempdir().unwrap();
        let e = read_text(dir.path(), Limit::PROMPT).unwrap_err();
        assert!(e.ends_with(": it is a directory"), "{e}");
    }

    #[test]
    fn refuses_files_over_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.txt");
        std::fs::write(&path, "x".repeat(101)).unwrap();
        let e = read_text(&path, small(false)).unwrap_err();
        assert!(
            e.ends_with("it is larger than 100 bytes, the limit for items files"),
            "{e}"
        );
        std::fs::write(&path, "x".repeat(100)).unwrap();
        assert_eq!(read_text(&path, small(false)).unwrap().len(), 100);
    }

    #[test]
    fn decompresses_gzip_within_a_bound() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("items.jsonl.gz");
        let gz = |text: &[u8]| {
            let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
            encoder.write_all(text).unwrap();
            encoder.finish().unwrap()
        };
        std::fs::write(&path, gz(b"\xef\xbb\xbfhello\n")).unwrap();
        assert_eq!(read_text(&path, small(true)).unwrap(), "hello\n");
        // A bomb: 10 MB of zeros compress to a few KB, far under the limit on disk.
        let bomb = gz(&vec![b'0'; 10_000_000]);
        assert!(bomb.len() < 100_000);
        std::fs::write(&path, &bomb).unwrap();
        let limit = Limit {
            bytes: 1_000_000,
            ..small(true)
        };
        let e = read_text(&path, limit).unwrap_err();
        assert!(
            e.ends_with("it decompresses to more than 1000000 bytes, the limit for items files"),
            "{e}"
        );
        std::fs::write(&path, b"not gzip at all").unwrap();
        let e = read_text(&path, small(true)).unwrap_err();
        assert!(e.contains("invalid gzip data"), "{e}");
    }

    #[test]
    fn names_the_line_of_invalid_utf8() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.txt");
        std::fs::write(&path, b"ok\nbad \xff\n").unwrap();
        let e = read_text(&path, Limit::PROMPT).unwrap_err();
        assert!(e.ends_with(": line 2 is not valid UTF-8"), "{e}");
    }
}
