//! Turns `toml` and serde errors into [`ConfigError`]s that name the table and the key, and
//! suggest the key that was probably meant.

use std::ops::Range;
use std::path::Path;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::error::{ConfigError, ConfigErrorKind};

/// Translates a failed `toml::from_str` of the raw config.
pub(crate) fn translate(error: &toml::de::Error, path: &Path, source: &str) -> ConfigError {
    let message = error.message().trim_end();
    let span = error.span().unwrap_or(0..0);
    let nodes = Nodes::parse(source);
    let at = |kind, message: String| ConfigError::at(kind, path, source, span.start, message);

    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (key, expected) = split_expected(rest);
        let place = match nodes.key_at(&span) {
            Some(node) if node.path.len() > 1 => {
                format!("in `{}`", display_path(&node.path[..node.path.len() - 1]))
            }
            _ => "at the top level".to_owned(),
        };
        let error = at(
            ConfigErrorKind::UnknownKey,
            format!("unknown key `{key}` {place}"),
        );
        return with_choices(error, &key, &expected, "valid keys");
    }
    if let Some(rest) = message.strip_prefix("missing field ") {
        let (key, _) = split_expected(rest);
        let message = match nodes.value_at(&span) {
            Some(node) if !node.path.is_empty() => {
                format!("missing key `{key}` in `{}`", display_path(&node.path))
            }
            _ => format!("missing key `{key}`"),
        };
        return at(ConfigErrorKind::MissingKey, message);
    }
    if let Some(rest) = message.strip_prefix("unknown variant ") {
        let (value, expected) = split_expected(rest);
        let message = match nodes.value_at(&span) {
            Some(node) => format!("unknown value `{value}` for `{}`", display_path(&node.path)),
            None => format!("unknown value `{value}`"),
        };
        let error = at(ConfigErrorKind::InvalidValue, message);
        return with_choices(error, &value, &expected, "expected one of");
    }
    if message.starts_with("invalid type")
        || message.starts_with("invalid value")
        || message.starts_with("invalid length")
        || message.starts_with("wanted ")
    {
        let detail = humanize(message);
        let message = match nodes.value_at(&span) {
            Some(node) => format!("invalid value for `{}`: {detail}", display_path(&node.path)),
            None => detail,
        };
        return at(ConfigErrorKind::InvalidType, message);
    }
    if message == "duplicate key" {
        let key = source.get(span.clone()).unwrap_or("").trim();
        return at(ConfigErrorKind::Duplicate, format!("duplicate key `{key}`"));
    }
    at(ConfigErrorKind::Syntax, message.to_owned())
}

/// Adds "did you mean" when a choice is close to `word`, else lists the choices.
fn with_choices(error: ConfigError, word: &str, choices: &[String], label: &str) -> ConfigError {
    if choices.is_empty() {
        return error;
    }
    let refs: Vec<&str> = choices.iter().map(String::as_str).collect();
    match suggest(word, &refs) {
        Some(best) => error.with_help(format!("did you mean `{best}`?")),
        None => error.with_help(format!("{label}: {}", backticked(&refs))),
    }
}

/// `a`, `b`, `c`
pub(crate) fn backticked(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate closest to `word`, if any is close enough to be a likely typo. Case and
/// `_`/`-` differences count as exact.
pub(crate) fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let normalize = |s: &str| s.to_lowercase().replace('_', "-");
    let word = normalize(word);
    if let Some(exact) = candidates.iter().find(|c| normalize(c) == word) {
        return Some(exact);
    }
    candidates
        .iter()
        .map(|c| (c, strsim::jaro_winkler(&word, &normalize(c))))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| *c)
}

/// Splits "`x`, expected one of `a`, `b`" into `x` and [`a`, `b`].
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (head, tail) = match rest.split_once(", expected ") {
        Some((head, tail)) => (head, tail),
        None => (rest.split_once(", ").map_or(rest, |(h, _)| h), ""),
    };
    let word = head.trim().trim_matches('`').to_owned();
    (word, backtick_tokens(tail))
}

fn backtick_tokens(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// Rewords serde's type names for people who write TOML.
fn humanize(message: &str) -> String {
    let mut out = message.to_owned();
    for (from, to) in [
        ("expected i64", "expected an integer"),
        ("expected u64", "expected an integer"),
        ("expected u32", "expected an integer"),
        ("expected f64", "expected a number"),
        ("expected a sequence", "expected an array"),
        ("expected a map", "expected a table"),
        ("invalid type: sequence", "invalid type: array"),
        ("invalid type: map", "invalid type: table"),
        // toml's message for an enum given neither a string nor a table.
        ("wanted string or table", "expected a string"),
    ] {
        out = out.replace(from, to);
    }
    // "expected struct RawPrice" names an internal type.
    if let Some(i) = out.find("expected struct ") {
        out.replace_range(i.., "expected a table");
    }
    out
}

/// One segment of a key path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    Key(String),
    Index(usize),
}

/// `providers.haiku`, `tasks.t.graders[1]`, `providers."a b"`
pub(crate) fn display_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                if bare {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("{key:?}"));
                }
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// Every key and value of a document, with spans, to name the place an error points at.
#[derive(Debug)]
struct Node {
    path: Vec<Segment>,
    key_span: Option<Range<usize>>,
    value_span: Range<usize>,
}

#[derive(Debug, Default)]
struct Nodes(Vec<Node>);

impl Nodes {
    fn parse(source: &str) -> Self {
        let mut nodes = Nodes::default();
        if let Ok(root) = DeTable::parse(source) {
            nodes.walk_table(root.get_ref(), &mut Vec::new());
        }
        nodes
    }

    fn walk_table(&mut self, table: &DeTable<'_>, path: &mut Vec<Segment>) {
        for (key, value) in table.iter() {
            path.push(Segment::Key(key.get_ref().to_string()));
            self.0.push(Node {
                path: path.clone(),
                key_span: Some(key.span()),
                value_span: value.span(),
            });
            self.walk_value(value, path);
            path.pop();
        }
    }

    fn walk_value(&mut self, value: &Spanned<DeValue<'_>>, path: &mut Vec<Segment>) {
        match value.get_ref() {
            DeValue::Table(table) => self.walk_table(table, path),
            DeValue::Array(array) => {
                for (i, element) in array.iter().enumerate() {
                    path.push(Segment::Index(i));
                    self.0.push(Node {
                        path: path.clone(),
                        key_span: None,
                        value_span: element.span(),
                    });
                    self.walk_value(element, path);
                    path.pop();
                }
            }
            _ => {}
        }
    }

    fn key_at(&self, span: &Range<usize>) -> Option<&Node> {
        self.0
            .iter()
            .filter(|n| n.key_span.as_ref() == Some(span))
            .max_by_key(|n| n.path.len())
    }

    /// The deepest node whose value has exactly this span (a `[[array]]` header is the span
    /// of both the array and its element; the element is meant).
    fn value_at(&self, span: &Range<usize>) -> Option<&Node> {
        self.0
            .iter()
            .filter(|n| &n.value_span == span)
            .max_by_key(|n| n.path.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_keys_only() {
        let keys = ["temperature", "top-p", "top-k", "max-tokens", "model"];
        assert_eq!(suggest("temprature", &keys), Some("temperature"));
        assert_eq!(suggest("max_tokens", &keys), Some("max-tokens"));
        assert_eq!(suggest("Model", &keys), Some("model"));
        assert_eq!(suggest("banana", &keys), None);
    }

    #[test]
    fn splits_serde_expectations() {
        assert_eq!(
            split_expected("`x`, expected one of `a`, `b`, `c`"),
            ("x".to_owned(), vec!["a".into(), "b".into(), "c".into()])
        );
        assert_eq!(
            split_expected("`x`, expected `a` or `b`"),
            ("x".to_owned(), vec!["a".into(), "b".into()])
        );
        assert_eq!(
            split_expected("`x`, there are no fields"),
            ("x".to_owned(), vec![])
        );
        assert_eq!(split_expected("`x`"), ("x".to_owned(), vec![]));
    }

    #[test]
    fn paths_quote_keys_that_are_not_bare() {
        let path = [
            Segment::Key("tasks".into()),
            Segment::Key("a.b".into()),
            Segment::Key("graders".into()),
            Segment::Index(1),
        ];
        assert_eq!(display_path(&path), r#"tasks."a.b".graders[1]"#);
    }

    #[test]
    fn humanizes_type_names() {
        assert_eq!(
            humanize("invalid type: string \"x\", expected f64"),
            "invalid type: string \"x\", expected a number"
        );
        assert_eq!(
            humanize("invalid type: integer `3`, expected struct RawPrice"),
            "invalid type: integer `3`, expected a table"
        );
    }
}
