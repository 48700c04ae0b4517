//! What a run remembers of its inputs: each sample's request as sent (deduplicated by hash),
//! and the bytes of every file the run read.

use std::sync::Arc;

use llmbench_core::{CompletionRequest, FileContent};
use rusqlite::{OptionalExtension, Transaction, params};
use sha2::{Digest, Sha256};

use crate::{Store, StoreError};

/// The lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    // The digest's own `LowerHex` writes all 64 digits at once (a `format!` per byte was
    // a tenth of the store's CPU per sample: docs/performance.md).
    format!("{:x}", Sha256::digest(bytes))
}

/// A request's canonical JSON and its hash: the request without its per-sample `sample` key
/// (which names the sample, is never sent to a model, and would make every row unique),
/// serialized with object keys sorted, and the lowercase hex SHA-256 of that text.
///
/// Two samples that sent the same thing (the repeats of an item without a seed, the same
/// item asked of two providers of one model) share one stored request.
pub fn request_hash(request: &CompletionRequest) -> (String, String) {
    let mut value = serde_json::to_value(request).expect("a request serializes");
    if let Some(object) = value.as_object_mut() {
        object.remove("sample");
    }
    // Through `Value`, whose maps are sorted by key: the text does not depend on the
    // struct's field order.
    let mut json = Vec::with_capacity(256);
    write_canonical(&mut json, &value);
    let json = String::from_utf8(json).expect("serde_json writes UTF-8");
    (sha256_hex(json.as_bytes()), json)
}

/// Appends `value` as compact JSON with every object's keys in sorted order, in one buffer
/// (building a `String` per value and joining them cost as much as the SHA-256).
fn write_canonical(out: &mut Vec<u8>, value: &serde_json::Value) {
    use serde_json::Value;
    let text = |out: &mut Vec<u8>, s: &str| {
        serde_json::to_writer(&mut *out, s).expect("writing to a Vec cannot fail");
    };
    match value {
        Value::Object(map) => {
            out.push(b'{');
            let field = |out: &mut Vec<u8>, i: usize, (k, v): (&String, &Value)| {
                if i > 0 {
                    out.push(b',');
                }
                text(out, k);
                out.push(b':');
                write_canonical(out, v);
            };
            // serde_json's maps iterate in key order unless its `preserve_order` feature is
            // on somewhere in the build: sort only then.
            if map.keys().is_sorted() {
                for (i, entry) in map.iter().enumerate() {
                    field(out, i, entry);
                }
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by_key(|(k, _)| *k);
                for (i, entry) in entries.into_iter().enumerate() {
                    field(out, i, entry);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(out, item);
            }
            out.push(b']');
        }
        other => serde_json::to_writer(&mut *out, other).expect("writing to a Vec cannot fail"),
    }
}

/// What a file a run read was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileRole {
    /// The config file itself.
    Config,
    /// A task's `prompt-file`.
    Prompt,
    /// A task's `items-file`, or the cached file of a named `dataset`.
    Items,
    /// A file a plugin was told to read in its options.
    PluginFile,
}

impl FileRole {
    pub const ALL: [FileRole; 4] = [Self::Config, Self::Prompt, Self::Items, Self::PluginFile];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Prompt => "prompt",
            Self::Items => "items",
            Self::PluginFile => "plugin-file",
        }
    }
}

impl std::fmt::Display for FileRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for FileRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| format!("unknown file role `{s}`"))
    }
}

/// A file a run read, as it read it: stored with the run ([`Store::create_run_with_files`])
/// and read back ([`Store::run_files`]).
#[derive(Clone, PartialEq, Eq)]
pub struct RunFile {
    pub role: FileRole,
    /// The path as resolved when the file was read (absolute for files a config names).
    pub path: String,
    /// The file's bytes as they were on disk (compressed, for a `.gz` items file): shared,
    /// so that storing a config's files does not copy them, or, for an items file the
    /// config read as a stream, read again from disk when the run is created (and refused
    /// if it changed since).
    pub content: FileContent,
}

impl RunFile {
    /// The lowercase hex SHA-256 of the bytes.
    pub fn sha256(&self) -> String {
        self.content.sha256_hex()
    }
}

impl std::fmt::Debug for RunFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunFile")
            .field("role", &self.role)
            .field("path", &self.path)
            .field("content", &self.content)
            .finish()
    }
}

/// Why a run's files could not be stored: the database, or reading a file again from disk.
#[derive(Debug)]
pub(crate) enum InsertFilesError {
    Sql(rusqlite::Error),
    Read(std::io::Error),
}

impl From<rusqlite::Error> for InsertFilesError {
    fn from(e: rusqlite::Error) -> Self {
        InsertFilesError::Sql(e)
    }
}

/// The bytes of a stored file written (and read) per call of SQLite's incremental blob I/O.
const BLOB_CHUNK: usize = 1 << 20;

pub(crate) fn insert_run_files(
    tx: &Transaction<'_>,
    run_id: &str,
    files: &[RunFile],
) -> Result<(), InsertFilesError> {
    // The row is made with a zero-filled blob of the file's size, then written in chunks:
    // binding the bytes would make SQLite copy them twice in memory (the bound value and
    // the record), 200 MB at the peak for a 100 MB items file.
    let mut content = tx.prepare_cached(
        "INSERT INTO file_contents (sha256, bytes) VALUES (?1, zeroblob(?2))
         ON CONFLICT DO NOTHING",
    )?;
    let mut row = tx.prepare_cached(
        "INSERT INTO run_files (run_id, position, role, path, sha256, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (position, file) in files.iter().enumerate() {
        let sha = file.sha256();
        let len = file.content.len();
        if content.execute(params![sha, len as i64])? == 1 {
            let mut blob = tx.blob_open(
                rusqlite::MAIN_DB,
                "file_contents",
                "bytes",
                tx.last_insert_rowid(),
                false,
            )?;
            // A file on disk is read again here, a chunk at a time, and its reader fails at
            // the end if it is not what the config read: the transaction then stores nothing.
            let mut reader = file.content.reader().map_err(InsertFilesError::Read)?;
            let mut chunk = vec![0u8; BLOB_CHUNK.min(len as usize)];
            let mut at = 0;
            loop {
                let n = read_full(&mut reader, &mut chunk).map_err(InsertFilesError::Read)?;
                if n == 0 {
                    break;
                }
                blob.write_at(&chunk[..n], at)?;
                at += n;
            }
        }
        row.execute(params![
            run_id,
            position as i64,
            file.role.as_str(),
            file.path,
            sha,
            len as i64,
        ])?;
    }
    Ok(())
}

/// Fills `buf` from `reader` unless its end comes first; the bytes read (0: at the end,
/// which a file on disk's reader checks when it reaches it).
fn read_full(reader: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..])? {
            0 => break,
            m => n += m,
        }
    }
    Ok(n)
}

/// Inserts a request row unless its content is stored: what [`insert_request`] runs.
pub(crate) const INSERT_REQUEST: &str =
    "INSERT INTO requests (hash, request_json) VALUES (?1, ?2) ON CONFLICT DO NOTHING";

/// Stores `request` (once per content) with `insert`, an [`INSERT_REQUEST`] statement of the
/// caller's transaction; returns its hash.
pub(crate) fn insert_request(
    insert: &mut rusqlite::Statement<'_>,
    request: &CompletionRequest,
) -> rusqlite::Result<String> {
    let (hash, json) = request_hash(request);
    insert.execute(params![hash, json])?;
    Ok(hash)
}

/// The stored JSON of a request back to a request (its `sample` is `None`).
pub(crate) fn parse_request(json: &str) -> Result<CompletionRequest, String> {
    serde_json::from_str(json).map_err(|e| format!("stored request: {e}"))
}

impl Store {
    /// The files run `run_id` read, in the order it read them, with their bytes. Empty for a
    /// run stored before schema version 5 (it stored only its config text,
    /// [`crate::StoredRun::config_toml`]). A stored file whose bytes no longer match their
    /// hash is reported as [`StoreError::Corrupt`].
    pub fn run_files(&self, run_id: &str) -> Result<Vec<RunFile>, StoreError> {
        self.run_files_where(run_id, None)
    }

    /// [`Store::run_files`] of one role only: what `resume` reads for its plugins' files,
    /// without reading (and hashing) the items files again, which can be 100 MB.
    pub fn run_files_of_role(
        &self,
        run_id: &str,
        role: FileRole,
    ) -> Result<Vec<RunFile>, StoreError> {
        self.run_files_where(run_id, Some(role))
    }

    fn run_files_where(
        &self,
        run_id: &str,
        role: Option<FileRole>,
    ) -> Result<Vec<RunFile>, StoreError> {
        self.require_run(run_id)?;
        let role = role.map(FileRole::as_str);
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_run_files(pg, run_id, role));
        }
        let sql_err = |source| self.sql_err("read a run's files", source);
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT f.role, f.path, f.sha256, c.rowid, length(c.bytes) FROM run_files f
                 JOIN file_contents c ON c.sha256 = f.sha256
                 WHERE f.run_id = ?1 AND (?2 IS NULL OR f.role = ?2) ORDER BY f.position",
            )
            .map_err(sql_err)?;
        // Each file read in chunks straight into the shared bytes ([`BLOB_CHUNK`]): a column
        // read would load it whole into SQLite's memory first, then copy it.
        let read = |rowid: i64, len: i64| -> rusqlite::Result<Arc<[u8]>> {
            let blob = conn.blob_open(rusqlite::MAIN_DB, "file_contents", "bytes", rowid, true)?;
            let len = usize::try_from(len).unwrap_or(0).min(blob.len());
            let mut bytes: Arc<[u8]> = std::iter::repeat_n(0u8, len).collect();
            let buffer = Arc::get_mut(&mut bytes).expect("just made, not shared");
            for (i, chunk) in buffer.chunks_mut(BLOB_CHUNK).enumerate() {
                blob.read_at_exact(chunk, i * BLOB_CHUNK)?;
            }
            Ok(bytes)
        };
        let rows = stmt
            .query_map(rusqlite::params![run_id, role], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    read(row.get(3)?, row.get(4)?)?,
                ))
            })
            .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
            .map_err(sql_err)?;
        rows.into_iter()
            .map(|(role, path, sha, bytes)| {
                let role = role
                    .parse()
                    .map_err(|e| self.corrupt("run_files", format!("run `{run_id}`: {e}")))?;
                let file = RunFile {
                    role,
                    path,
                    content: bytes.into(),
                };
                if file.sha256() != sha {
                    return Err(self.corrupt(
                        "file_contents",
                        format!(
                            "run `{run_id}`: the stored copy of {} does not match its SHA-256 {sha}",
                            file.path
                        ),
                    ));
                }
                Ok(file)
            })
            .collect()
    }

    /// Whether run `run_id` stored the files it read (runs stored from schema version 5
    /// on): when it did not, its inputs can only be read again from disk, as they are now.
    pub fn run_stored_files(&self, run_id: &str) -> Result<bool, StoreError> {
        self.require_run(run_id)?;
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_has_run_files(pg, run_id));
        }
        self.conn()?
            .query_row(
                "SELECT 1 FROM run_files WHERE run_id = ?1 LIMIT 1",
                [run_id],
                |_| Ok(()),
            )
            .optional()
            .map(|found| found.is_some())
            .map_err(|source| self.sql_err("read a run's files", source))
    }

    /// How many distinct requests the store holds (every run's samples share them).
    pub fn request_count(&self) -> Result<u64, StoreError> {
        if let Some(pg) = self.pg() {
            return crate::pg::blocking(&self.path, || self.pg_request_count(pg));
        }
        self.conn()?
            .query_row("SELECT count(*) FROM requests", [], |row| row.get(0))
            .map_err(|source| self.sql_err("count stored requests", source))
    }
}

#[cfg(test)]
mod tests {
    use llmbench_core::{Message, Role, Sampling};
    use serde_json::{Value, json};

    use super::*;

    /// The writer before the single-buffer one, kept as the reference the stored hashes of
    /// older runs were made with.
    fn canonical_reference(value: &Value) -> String {
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let fields: Vec<String> = keys
                    .into_iter()
                    .map(|k| {
                        format!(
                            "{}:{}",
                            Value::from(k.as_str()),
                            canonical_reference(&map[k])
                        )
                    })
                    .collect();
                format!("{{{}}}", fields.join(","))
            }
            Value::Array(items) => {
                let items: Vec<String> = items.iter().map(canonical_reference).collect();
                format!("[{}]", items.join(","))
            }
            other => other.to_string(),
        }
    }

    fn written(value: &Value) -> String {
        let mut out = Vec::new();
        write_canonical(&mut out, value);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn the_canonical_text_is_the_reference_one() {
        let values = [
            json!({"z": 1, "a": [1.5, -0.0, 1e300, null, true], "m": {"b": "\"q\"\n\u{1}é", "a": {}}}),
            json!([]),
            json!("tab\there"),
            json!(12345678901234567890u64),
            json!({"": [{"y": [], "x": [[]]}]}),
        ];
        for value in &values {
            assert_eq!(written(value), canonical_reference(value), "{value}");
        }
        let request = CompletionRequest {
            model: "m\u{2028}".into(),
            system: Some("be \"brief\"".into()),
            messages: vec![
                Message::user("Question number 7: what is 7 plus 7?"),
                Message {
                    role: Role::Assistant,
                    content: "ünïcödé \\ and \r\n".into(),
                },
            ],
            max_tokens: 64,
            sampling: Sampling {
                temperature: Some(0.7),
                top_p: None,
                top_k: Some(40),
                seed: Some(u64::MAX),
                stop: vec!["END".into(), "".into()],
            },
            stream: false,
            sample: None,
        };
        let (hash, json) = request_hash(&request);
        let value = serde_json::to_value(&request).unwrap();
        let mut without = value.clone();
        without.as_object_mut().unwrap().remove("sample");
        assert_eq!(json, canonical_reference(&without));
        assert_eq!(hash, reference_hex(json.as_bytes()));
    }

    /// The hex digits one `format!` per byte, as before.
    fn reference_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn hex_digests() {
        assert_eq!(
            sha256_hex(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(sha256_hex(b"abc"), reference_hex(b"abc"));
    }
}
