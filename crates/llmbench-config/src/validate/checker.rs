//! The checker every section's checks share: where errors go, where files are read from,
//! and the checks of single values (numbers in range, names, paths, plugins, options).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use llmbench_core::FileContent;
use toml::Spanned;
use toml::de::DeTable;

use super::DatasetFile;
use crate::de_error::{Segment, display_path};
use crate::error::{ConfigErrorKind, Sink};
use crate::files::{self, Limit};
use crate::model::{SourceFile, SourceRole};

use ConfigErrorKind as K;

/// Provider, task, grader and item-variable names: `[A-Za-z0-9_.-]+`.
pub(crate) fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

pub(super) const ID_RULE: &str = "use letters, digits, `_`, `.` and `-`";

/// Whether a plugin reference is a path to a library rather than a name.
pub(super) fn is_plugin_path(s: &str) -> bool {
    s.contains('/')
        || s.contains('\\')
        || [".so", ".dylib", ".dll"].iter().any(|ext| s.ends_with(ext))
}

/// Allowed values of a float setting.
#[derive(Debug, Clone, Copy)]
pub(super) enum FloatRange {
    AtLeast(f64),
    MoreThan(f64),
    Between(f64, f64),
}

impl FloatRange {
    fn contains(self, x: f64) -> bool {
        match self {
            Self::AtLeast(min) => x >= min,
            Self::MoreThan(min) => x > min,
            Self::Between(min, max) => (min..=max).contains(&x),
        }
    }

    fn describe(self) -> String {
        match self {
            Self::AtLeast(min) => format!("{min} or more"),
            Self::MoreThan(min) => format!("more than {min}"),
            Self::Between(min, max) => format!("between {min} and {max}"),
        }
    }
}

pub(super) struct Validator<'a> {
    pub(super) sink: Sink<'a>,
    /// The config's directory as given: files are read and shown from here.
    pub(super) base: &'a Path,
    /// The config's canonical directory: paths are stored resolved against it.
    pub(super) dir: &'a Path,
    /// Where named datasets are.
    pub(super) datasets: &'a dyn Fn(&str) -> DatasetFile,
    /// The config as a tree of spanned values, parsed on first need: the positions of
    /// strings nested in grader options (serde's `Spanned` gives a table's span, not its
    /// values'). `Some(None)`: it did not parse (it did once already, so never).
    pub(super) document: Option<Option<Spanned<DeTable<'a>>>>,
    /// The names of all provider entries (`judge-only` ones included), for graders' `judge`.
    pub(super) provider_names: Vec<String>,
    /// Where files are read from: `None` the disk, else a run's stored copies by resolved
    /// path ([`parse_stored`]).
    pub(super) stored: Option<&'a BTreeMap<PathBuf, Arc<[u8]>>>,
    /// The files read so far, each once, in order ([`Config::files`]).
    pub(super) files: Vec<SourceFile>,
}

/// TOML to JSON. Dates become strings. `Err` is the key path of a NaN or infinity.
pub(crate) fn to_json(
    value: toml::Value,
    path: &mut Vec<Segment>,
) -> Result<serde_json::Value, Vec<Segment>> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s),
        toml::Value::Integer(i) => J::from(i),
        toml::Value::Float(f) => match serde_json::Number::from_f64(f) {
            Some(n) => J::Number(n),
            None => return Err(path.clone()),
        },
        toml::Value::Boolean(b) => J::Bool(b),
        toml::Value::Datetime(d) => J::String(d.to_string()),
        toml::Value::Array(array) => {
            let mut out = Vec::with_capacity(array.len());
            for (i, v) in array.into_iter().enumerate() {
                path.push(Segment::Index(i));
                out.push(to_json(v, path)?);
                path.pop();
            }
            J::Array(out)
        }
        toml::Value::Table(table) => {
            let mut out = serde_json::Map::new();
            for (k, v) in table {
                path.push(Segment::Key(k.clone()));
                out.insert(k, to_json(v, path)?);
                path.pop();
            }
            J::Object(out)
        }
    })
}

impl Validator<'_> {
    pub(super) fn int(&mut self, name: &str, value: &Spanned<i64>, min: i64, max: i64) -> i64 {
        let x = *value.get_ref();
        if x < min {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must be at least {min}, not {x}"),
            );
            min
        } else if x > max {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must be at most {max}, not {x}"),
            );
            max
        } else {
            x
        }
    }

    pub(super) fn float(&mut self, name: &str, value: &Spanned<f64>, range: FloatRange) -> f64 {
        let x = *value.get_ref();
        if !x.is_finite() || !range.contains(x) {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must be {}, not {x}", range.describe()),
            );
            return match range {
                FloatRange::AtLeast(min) | FloatRange::Between(min, _) => min,
                FloatRange::MoreThan(min) => min + 1.0,
            };
        }
        x
    }

    pub(super) fn non_empty(&mut self, name: &str, value: &Spanned<String>) -> String {
        if value.get_ref().trim().is_empty() {
            self.sink.error(
                K::InvalidValue,
                value.span(),
                format!("`{name}` must not be empty"),
            );
        }
        value.get_ref().clone()
    }

    pub(super) fn id(&mut self, what: &str, name: &Spanned<String>) {
        if !is_id(name.get_ref()) {
            self.sink
                .error(
                    K::InvalidValue,
                    name.span(),
                    format!("invalid {what} name {:?}", name.get_ref()),
                )
                .help(ID_RULE);
        }
    }

    pub(super) fn path(&mut self, name: &str, value: &Spanned<String>) -> PathBuf {
        self.non_empty(name, value);
        self.dir.join(value.get_ref())
    }

    pub(super) fn plugin(&mut self, name: &str, value: &Spanned<String>) -> String {
        let plugin = self.non_empty(name, value);
        if !plugin.trim().is_empty() && !is_plugin_path(&plugin) && !is_id(&plugin) {
            self.sink
                .error(
                    K::InvalidValue,
                    value.span(),
                    format!("invalid plugin name {plugin:?} in `{name}`"),
                )
                .help(format!(
                    "{ID_RULE}, or give a path to the library (containing `/` or ending in `.so`)"
                ));
        }
        plugin
    }

    pub(super) fn options(
        &mut self,
        name: &str,
        table: Option<Spanned<toml::Table>>,
    ) -> serde_json::Value {
        let Some(table) = table else {
            return serde_json::Value::Object(serde_json::Map::new());
        };
        let span = table.span();
        match to_json(toml::Value::Table(table.into_inner()), &mut Vec::new()) {
            Ok(json) => json,
            Err(key) => {
                self.sink.error(
                    K::InvalidValue,
                    span,
                    format!(
                        "`{name}.{}` must be a finite number (JSON has no NaN or infinity)",
                        display_path(&key)
                    ),
                );
                serde_json::Value::Null
            }
        }
    }

    /// Reads a file named in the config, within `limit`, as text; the error points at the
    /// value naming it.
    pub(super) fn read(
        &mut self,
        value: &Spanned<String>,
        limit: Limit,
    ) -> Option<(PathBuf, String)> {
        let path = self.base.join(value.get_ref());
        let (path, bytes) = self.read_path(path, value.span(), limit)?;
        let text = self.text(&path, &bytes, value.span(), limit)?;
        Some((path, text.into_owned()))
    }

    /// `path` (as given, relative to the config's directory as given) resolved against the
    /// config's canonical directory: the key a file is recorded under ([`Config::files`]).
    pub(super) fn resolve(&self, path: &Path) -> PathBuf {
        self.dir.join(path.strip_prefix(self.base).unwrap_or(path))
    }

    /// Reads a file from disk, or from the stored copies ([`parse_stored`]), and records
    /// it in [`Config::files`] under its path resolved against the config's canonical
    /// directory (`path` is relative to the directory as given, and shown so in messages).
    /// Its text is [`Validator::text`]: a file that does not decode is an error, and a
    /// config with an error has no [`Config::files`].
    pub(super) fn read_path(
        &mut self,
        path: PathBuf,
        span: Range<usize>,
        limit: Limit,
    ) -> Option<(PathBuf, Arc<[u8]>)> {
        let resolved = self.resolve(&path);
        let recorded = self.files.iter().find(|f| f.path == resolved);
        let bytes: Result<Arc<[u8]>, String> = match (recorded, self.stored) {
            // Read once: a file two tasks name is the same bytes for both.
            (Some(file), _) => match &file.content {
                FileContent::Bytes(bytes) => return Some((path, Arc::clone(bytes))),
                // A file read as a stream by another task, read whole here (and checked).
                FileContent::Disk { .. } => match file.content.to_bytes() {
                    Ok(bytes) => return Some((path, bytes)),
                    Err(e) => {
                        self.sink.error(K::Io, span, e.to_string());
                        return None;
                    }
                },
            },
            (None, None) => files::read_bytes(&path, limit),
            (None, Some(stored)) => stored.get(&resolved).map(Arc::clone).ok_or_else(|| {
                format!(
                    "cannot read {}: the run stored no copy of it (a stored config reads \
                         only the files its run stored, never the disk)",
                    path.display()
                )
            }),
        };
        match bytes {
            Ok(bytes) => {
                self.files.push(SourceFile {
                    role: if limit.gzip {
                        SourceRole::Items
                    } else {
                        SourceRole::Prompt
                    },
                    path: resolved,
                    content: FileContent::Bytes(Arc::clone(&bytes)),
                });
                Some((path, bytes))
            }
            Err(message) => {
                self.sink.error(K::Io, span, message);
                None
            }
        }
    }

    /// The text of the file `path` read by [`Validator::read_path`] ([`files::decode`]):
    /// borrowed from its bytes unless it was decompressed; an error at `span` when it is not
    /// text.
    pub(super) fn text<'b>(
        &mut self,
        path: &Path,
        bytes: &'b [u8],
        span: Range<usize>,
        limit: Limit,
    ) -> Option<Cow<'b, str>> {
        match files::decode(path, bytes, limit) {
            Ok(text) => Some(text),
            Err(message) => {
                self.sink.error(K::Io, span, message);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert!(is_id("claude-haiku-4.5_x"));
        assert!(!is_id(""));
        assert!(!is_id("a b"));
        assert!(!is_id("é"));
    }

    #[test]
    fn options_become_json_and_reject_nan() {
        let table: toml::Table =
            toml::from_str("a = 1\nb = [1.5, \"x\"]\nc = { d = 1979-05-27 }\n").unwrap();
        assert_eq!(
            to_json(toml::Value::Table(table), &mut Vec::new()).unwrap(),
            serde_json::json!({"a": 1, "b": [1.5, "x"], "c": {"d": "1979-05-27"}})
        );
        let table: toml::Table = toml::from_str("a = { b = [1, { c = nan }] }\n").unwrap();
        let path = to_json(toml::Value::Table(table), &mut Vec::new()).unwrap_err();
        assert_eq!(display_path(&path), "a.b[1].c");
    }
}
