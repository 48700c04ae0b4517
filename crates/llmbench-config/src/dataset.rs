//! Items files by format: JSONL, a JSON array, CSV and TSV, each maybe gzip-compressed. Each
//! reader turns text into records (the fields of one item and the line it starts on), with
//! errors located at the file's lines; `items.rs` turns records into items.

use std::path::Path;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::{ConfigError, ConfigErrorKind, line_column};
use crate::files::is_gzip;

/// At most this many errors are reported per items file.
pub(crate) const MAX_FILE_ERRORS: usize = 10;

/// The longest name a CSV or TSV header row may give a column, in bytes. Every record holds
/// a copy of each name: without a bound, one long name over many short rows would take
/// memory quadratic in the file's size.
pub(crate) const MAX_COLUMN_NAME_BYTES: usize = 256;

/// The extensions items files may have, for messages.
pub(crate) const ACCEPTED: &str =
    "`.jsonl`, `.json`, `.csv` or `.tsv`, each optionally compressed (`.jsonl.gz`)";

/// How an items file is written, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON object per line; blank lines skipped.
    Jsonl,
    /// One JSON array of objects.
    Json,
    /// Comma-separated values with a header row.
    Csv,
    /// Tab-separated values with a header row.
    Tsv,
}

impl Format {
    /// The format of `path`, after an optional `.gz`; `None` for another extension.
    pub(crate) fn of(path: &Path) -> Option<Format> {
        let inner = if is_gzip(path) {
            Path::new(path.file_stem()?)
        } else {
            path
        };
        let ext = inner.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "jsonl" => Some(Format::Jsonl),
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "tsv" => Some(Format::Tsv),
            _ => None,
        }
    }
}

/// One item's fields as written, and where it starts.
#[derive(Debug, Clone)]
pub(crate) struct Record {
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
    pub fields: Map<String, Value>,
}

/// Errors about one file, at most [`MAX_FILE_ERRORS`] and then one "too many errors".
#[derive(Debug)]
pub(crate) struct FileErrors<'a> {
    pub path: &'a Path,
    pub errors: &'a mut Vec<ConfigError>,
    found: usize,
}

impl<'a> FileErrors<'a> {
    pub(crate) fn new(path: &'a Path, errors: &'a mut Vec<ConfigError>) -> Self {
        Self {
            path,
            errors,
            found: 0,
        }
    }

    /// Whether more errors would be dropped (the "too many" error was recorded).
    pub(crate) fn full(&self) -> bool {
        self.found > MAX_FILE_ERRORS
    }

    /// Records an error at `line:column`, unless there were too many already.
    pub(crate) fn push(
        &mut self,
        line: usize,
        column: usize,
        kind: ConfigErrorKind,
        message: String,
    ) {
        self.found += 1;
        if self.found <= MAX_FILE_ERRORS {
            self.errors
                .push(ConfigError::at_line(kind, self.path, line, column, message));
        } else if self.found == MAX_FILE_ERRORS + 1 {
            self.errors.push(ConfigError::at_line(
                ConfigErrorKind::Item,
                self.path,
                line,
                column,
                format!("too many errors in {}; stopped here", self.path.display()),
            ));
        }
    }
}

/// What [`read`] hands each record to, one at a time (with the file's errors, for the
/// record's own).
pub(crate) type EachRecord<'f> = dyn FnMut(Record, &mut FileErrors<'_>) + 'f;

/// The records of `text`, read as `format`, each handed to `each` as it is read: a file's
/// records are never all held at once (each is a map of JSON values, several times its text).
pub(crate) fn read(
    format: Format,
    text: &str,
    errors: &mut FileErrors<'_>,
    each: &mut EachRecord<'_>,
) {
    match format {
        Format::Jsonl => jsonl(text, errors, each),
        Format::Json => json(text, errors, each),
        Format::Csv => delimited(text, b',', errors, each),
        Format::Tsv => delimited(text, b'\t', errors, each),
    }
}

pub(crate) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// serde_json's message without its "at line 1 column N": the position is ours.
fn json_message(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    }
}

/// One JSON object per line, blank lines skipped.
fn jsonl(text: &str, errors: &mut FileErrors<'_>, each: &mut EachRecord<'_>) {
    for (number, line) in text.lines().enumerate() {
        if errors.full() {
            break;
        }
        jsonl_line(number + 1, line, errors, each);
    }
}

/// Line `number` (1-based) of a `.jsonl` file: a record, an error, or nothing (blank). What
/// [`read`] does per line, and what a file read as a stream
/// ([`crate::files::stream_jsonl`]) does with each of its lines.
pub(crate) fn jsonl_line(
    number: usize,
    line: &str,
    errors: &mut FileErrors<'_>,
    each: &mut EachRecord<'_>,
) {
    if line.trim().is_empty() {
        return;
    }
    match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields)) => each(
            Record {
                line: number,
                column: 1,
                fields,
            },
            errors,
        ),
        Ok(other) => errors.push(
            number,
            1,
            ConfigErrorKind::Item,
            format!("an item must be a JSON object, not {}", json_type(&other)),
        ),
        Err(e) => errors.push(
            number,
            e.column().max(1),
            ConfigErrorKind::Syntax,
            format!("invalid JSON: {}", json_message(&e)),
        ),
    }
}

/// One JSON array of objects; each record starts where its object does.
fn json(text: &str, errors: &mut FileErrors<'_>, each: &mut EachRecord<'_>) {
    let raw: Vec<&RawValue> = match serde_json::from_str(text) {
        Ok(raw) => raw,
        Err(e) => {
            let message = if e.classify() == serde_json::error::Category::Data {
                format!(
                    "a `.json` items file must be an array of objects: {}",
                    json_message(&e)
                )
            } else {
                format!("invalid JSON: {}", json_message(&e))
            };
            errors.push(
                e.line().max(1),
                e.column().max(1),
                ConfigErrorKind::Syntax,
                message,
            );
            return;
        }
    };
    for element in raw {
        if errors.full() {
            break;
        }
        // A `RawValue` borrows its text from `text`: its offset is the pointers' difference.
        let offset = element.get().as_ptr() as usize - text.as_ptr() as usize;
        let (line, column) = line_column(text, offset);
        match serde_json::from_str::<Value>(element.get()) {
            Ok(Value::Object(fields)) => each(
                Record {
                    line,
                    column,
                    fields,
                },
                errors,
            ),
            Ok(other) => errors.push(
                line,
                column,
                ConfigErrorKind::Item,
                format!("an item must be a JSON object, not {}", json_type(&other)),
            ),
            // Unreachable in practice: the array was parsed already.
            Err(e) => errors.push(
                line,
                column,
                ConfigErrorKind::Syntax,
                format!("invalid JSON: {}", json_message(&e)),
            ),
        }
    }
}

/// The line a CSV record starts on. The `csv` crate's position is where it began reading
/// the record, before the blank lines it skips: skip them here too.
fn record_line(text: &str, position: Option<&csv::Position>) -> usize {
    let Some(position) = position else {
        return 0;
    };
    let start = (position.byte() as usize).min(text.len());
    let skipped = text[start..]
        .bytes()
        .take_while(|b| matches!(b, b'\n' | b'\r'))
        .count();
    line_column(text, start + skipped).0
}

/// CSV or TSV with a header row naming the fields; every value is text.
fn delimited(text: &str, delimiter: u8, errors: &mut FileErrors<'_>, each: &mut EachRecord<'_>) {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .from_reader(text.as_bytes());
    let headers = match reader.headers() {
        Ok(headers) => headers.clone(),
        Err(e) => {
            let line = e.position().map_or(1, |p| p.line() as usize);
            errors.push(
                line,
                1,
                ConfigErrorKind::Syntax,
                format!("invalid header row: {e}"),
            );
            return;
        }
    };
    let header_line = text.lines().position(|l| !l.trim().is_empty()).unwrap_or(0) + 1;
    if headers.is_empty() || headers.iter().all(str::is_empty) {
        errors.push(
            header_line,
            1,
            ConfigErrorKind::Item,
            "no header row: the first line must name the fields".to_owned(),
        );
        return;
    }
    let mut bad_header = false;
    for (i, name) in headers.iter().enumerate() {
        if name.trim().is_empty() {
            errors.push(
                header_line,
                1,
                ConfigErrorKind::Item,
                format!("column {} of the header row has no name", i + 1),
            );
            bad_header = true;
        } else if name.len() > MAX_COLUMN_NAME_BYTES {
            errors.push(
                header_line,
                1,
                ConfigErrorKind::Item,
                format!(
                    "column {} of the header row has a name of {} bytes, more than the {MAX_COLUMN_NAME_BYTES} allowed",
                    i + 1,
                    name.len()
                ),
            );
            bad_header = true;
        } else if headers.iter().take(i).any(|n| n == name) {
            errors.push(
                header_line,
                1,
                ConfigErrorKind::Duplicate,
                format!("the header row names `{name}` twice"),
            );
            bad_header = true;
        }
    }
    if bad_header {
        return;
    }
    for result in reader.records() {
        if errors.full() {
            break;
        }
        match result {
            Ok(record) => {
                let line = record_line(text, record.position());
                let fields = headers
                    .iter()
                    .zip(record.iter())
                    .map(|(name, value)| (name.to_owned(), Value::String(value.to_owned())))
                    .collect();
                each(
                    Record {
                        line,
                        column: 1,
                        fields,
                    },
                    errors,
                );
            }
            Err(e) => {
                let line = record_line(text, e.position());
                let message = match e.kind() {
                    csv::ErrorKind::UnequalLengths { len, .. } => format!(
                        "this record has {len} field{}, the header row {}",
                        if *len == 1 { "" } else { "s" },
                        headers.len()
                    ),
                    _ => format!("invalid record: {e}"),
                };
                errors.push(line, 1, ConfigErrorKind::Syntax, message);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(format: Format, text: &str) -> (Vec<Record>, Vec<String>) {
        let mut errors = Vec::new();
        let path = Path::new("i");
        let mut records = Vec::new();
        read(
            format,
            text,
            &mut FileErrors::new(path, &mut errors),
            &mut |record, _| records.push(record),
        );
        (records, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn formats_by_extension() {
        let of = |p: &str| Format::of(Path::new(p));
        assert_eq!(of("a/items.jsonl"), Some(Format::Jsonl));
        assert_eq!(of("items.JSON"), Some(Format::Json));
        assert_eq!(of("items.csv.gz"), Some(Format::Csv));
        assert_eq!(of("x-HumanEval.jsonl.gz"), Some(Format::Jsonl));
        assert_eq!(of("items.tsv"), Some(Format::Tsv));
        assert_eq!(of("items.txt"), None);
        assert_eq!(of("items.gz"), None);
        assert_eq!(of("items"), None);
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let (records, errors) = read_all(
            Format::Jsonl,
            "{\"id\": \"a\"}\n{\"id\": \"b\",}\n[1]\n\n{\"x\": null}\n",
        );
        assert_eq!(records.len(), 2);
        assert_eq!(records[1].line, 5);
        assert_eq!(
            errors,
            [
                "i:2:12: invalid JSON: trailing comma",
                "i:3:1: an item must be a JSON object, not an array",
            ]
        );
    }

    #[test]
    fn jsonl_stops_after_too_many_errors() {
        let (_, errors) = read_all(Format::Jsonl, &"x\n".repeat(50));
        assert_eq!(errors.len(), MAX_FILE_ERRORS + 1);
        assert_eq!(
            errors.last().unwrap(),
            "i:11:1: too many errors in i; stopped here"
        );
    }

    #[test]
    fn json_arrays_locate_each_object() {
        let text = "[\n  {\"id\": \"a\"},\n  {\"id\": \"b\",\n   \"x\": 1},\n  3\n]\n";
        let (records, errors) = read_all(Format::Json, text);
        let places: Vec<_> = records.iter().map(|r| (r.line, r.column)).collect();
        assert_eq!(places, [(2, 3), (3, 3)]);
        assert_eq!(
            errors,
            ["i:5:3: an item must be a JSON object, not a number"]
        );

        let (_, errors) = read_all(Format::Json, "[\n {\"a\": 1},\n {\"b\" 2}\n]");
        assert_eq!(errors, ["i:3:7: invalid JSON: expected `:`"]);
        let (_, errors) = read_all(Format::Json, "{\"a\": 1}");
        assert_eq!(
            errors,
            [
                "i:1:1: a `.json` items file must be an array of objects: invalid type: map, expected a sequence"
            ]
        );
    }

    #[test]
    fn csv_and_tsv_read_the_header_and_locate_records() {
        let text =
            "id,question,expected\nq1,\"Two, words\",2\n\nq2,\"multi\nline\",3\nq3,only-two\n";
        let (records, errors) = read_all(Format::Csv, text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].fields["question"], "Two, words");
        assert_eq!(records[1].line, 4);
        assert_eq!(records[1].fields["question"], "multi\nline");
        assert_eq!(
            errors,
            ["i:6:1: this record has 2 fields, the header row 3"]
        );

        let (records, errors) = read_all(Format::Tsv, "id\ta b\nx\ty, z\n");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(records[0].fields["a b"], "y, z");

        let (_, errors) = read_all(Format::Csv, "a,a\n1,2\n");
        assert_eq!(errors, ["i:1:1: the header row names `a` twice"]);

        let long = "n".repeat(MAX_COLUMN_NAME_BYTES + 1);
        let (_, errors) = read_all(Format::Csv, &format!("id,{long}\n1,2\n"));
        assert_eq!(
            errors,
            [
                "i:1:1: column 2 of the header row has a name of 257 bytes, more than the 256 allowed"
            ]
        );
    }
}
