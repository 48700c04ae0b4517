//! Config errors: each carries a file, a 1-based line and column, a message and maybe a hint.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// What went wrong, as a bounded label (for metrics and tests, never for users).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigErrorKind {
    /// A file could not be read.
    Io,
    /// The TOML (or a JSONL line's JSON) is malformed.
    Syntax,
    /// A key that the table does not have (often a typo).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong type.
    InvalidType,
    /// A value of the right type that breaks a rule (a range, a format, a name).
    InvalidValue,
    /// Keys that exclude or require each other (`prompt` and `prompt-file`, ...).
    Conflict,
    /// Two things with one name.
    Duplicate,
    /// A prompt template that is malformed or uses a variable an item does not set.
    Template,
    /// An item (inline or from an items file) that is malformed.
    Item,
    /// A named `dataset` that is known but not in the local cache yet: fetching it
    /// (`llmbench datasets fetch NAME`) and loading again fixes it.
    DatasetNotFetched,
}

impl ConfigErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Io => "io",
            Self::Syntax => "syntax",
            Self::UnknownKey => "unknown_key",
            Self::MissingKey => "missing_key",
            Self::InvalidType => "invalid_type",
            Self::InvalidValue => "invalid_value",
            Self::Conflict => "conflict",
            Self::Duplicate => "duplicate",
            Self::Template => "template",
            Self::Item => "item",
            Self::DatasetNotFetched => "dataset_not_fetched",
        }
    }
}

/// One problem in a config (or in a file it names), located in that file.
///
/// Displays as `path:line:column: message`, then `  help: ...` on the next line when there is
/// a hint. `line` and `column` are 1-based; both are 0 when the problem has no position (the
/// file could not be read), and the display is then the message alone, which names the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file the position refers to: the config, or a prompt or items file it names.
    pub path: PathBuf,
    pub line: usize,
    /// In characters, not bytes.
    pub column: usize,
    pub message: String,
    pub help: Option<String>,
    pub kind: ConfigErrorKind,
}

impl ConfigError {
    /// An error at a byte offset of `source`, the text of `path`.
    pub(crate) fn at(
        kind: ConfigErrorKind,
        path: &Path,
        source: &str,
        offset: usize,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = line_column(source, offset);
        Self {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
            help: None,
            kind,
        }
    }

    /// An error about a whole file.
    pub(crate) fn file(kind: ConfigErrorKind, path: &Path, message: impl Into<String>) -> Self {
        Self {
            path: path.to_path_buf(),
            line: 0,
            column: 0,
            message: message.into(),
            help: None,
            kind,
        }
    }

    /// An error at a known line and column.
    pub(crate) fn at_line(
        kind: ConfigErrorKind,
        path: &Path,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.to_path_buf(),
            line,
            column,
            message: message.into(),
            help: None,
            kind,
        }
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A bounded label for the kind of error (`unknown_key`, `template`, ...).
    pub fn kind(&self) -> &'static str {
        self.kind.as_str()
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            // A whole-file error: its message names the file.
            write!(f, "{}", self.message)?;
        } else {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path.display(),
                self.line,
                self.column,
                self.message
            )?;
        }
        if let Some(help) = &self.help {
            write!(f, "\n  help: {help}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found in a config, in the order found (at least one). A syntax or
/// structure error stops parsing, so it comes alone; validation reports all it finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl ConfigErrors {
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        Self(vec![error])
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// 1-based line and column (in characters) of a byte offset. Offsets past the end, or inside
/// a character, are clamped.
pub(crate) fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Collects errors about one source text.
#[derive(Debug)]
pub(crate) struct Sink<'a> {
    pub path: &'a Path,
    pub source: &'a str,
    pub errors: Vec<ConfigError>,
}

impl<'a> Sink<'a> {
    pub(crate) fn new(path: &'a Path, source: &'a str) -> Self {
        Self {
            path,
            source,
            errors: Vec::new(),
        }
    }

    /// Records an error at the start of `span` and returns it for adding a hint.
    pub(crate) fn error(
        &mut self,
        kind: ConfigErrorKind,
        span: Range<usize>,
        message: impl Into<String>,
    ) -> &mut ConfigError {
        self.errors.push(ConfigError::at(
            kind,
            self.path,
            self.source,
            span.start,
            message,
        ));
        self.errors.last_mut().expect("just pushed")
    }

    pub(crate) fn push(&mut self, error: ConfigError) {
        self.errors.push(error);
    }
}

impl ConfigError {
    /// Adds a hint in place (for errors already recorded in a [`Sink`]).
    pub(crate) fn help(&mut self, help: impl Into<String>) {
        self.help = Some(help.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let s = "ab\ncdé f\n";
        assert_eq!(line_column(s, 0), (1, 1));
        assert_eq!(line_column(s, 2), (1, 3));
        assert_eq!(line_column(s, 3), (2, 1));
        // `f` is after a two-byte `é`: byte 8, character column 5.
        assert_eq!(line_column(s, 8), (2, 5));
        assert_eq!(line_column(s, 100), (3, 1));
        // Inside `é` clamps back to its start.
        assert_eq!(line_column(s, 6), (2, 3));
    }

    #[test]
    fn display_has_location_and_help() {
        let e = ConfigError::at_line(
            ConfigErrorKind::UnknownKey,
            Path::new("configs/x.toml"),
            14,
            1,
            "unknown key `temprature` in `providers.haiku`",
        )
        .with_help("did you mean `temperature`?");
        assert_eq!(
            e.to_string(),
            "configs/x.toml:14:1: unknown key `temprature` in `providers.haiku`\n  help: did you mean `temperature`?"
        );
        assert_eq!(e.kind(), "unknown_key");
        let e = ConfigError::file(
            ConfigErrorKind::Io,
            Path::new("x.toml"),
            "cannot read x.toml: gone",
        );
        assert_eq!(e.to_string(), "cannot read x.toml: gone");
    }
}
