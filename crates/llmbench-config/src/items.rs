//! Task items, inline or from a JSONL file, and where each came from (for error messages).

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use llmbench_core::Item;

use crate::error::{ConfigError, ConfigErrorKind, Sink, line_column};
use crate::raw::RawItem;

/// At most this many errors are reported per items file.
const MAX_FILE_ERRORS: usize = 10;

/// Where an item was defined.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// An inline table in the config; the span of its `id` value if it has one, else of the
    /// table.
    Inline(Range<usize>),
    /// A line of a JSONL file.
    File { path: PathBuf, line: usize },
    /// The implicit item of a task with no items.
    Default,
}

impl Origin {
    /// `items.jsonl:3`, `configs/x.toml:20:11`, or `None` for the default item.
    pub(crate) fn describe(&self, config: &Path, source: &str) -> Option<String> {
        match self {
            Origin::Inline(span) => {
                let (line, column) = line_column(source, span.start);
                Some(format!("{}:{line}:{column}", config.display()))
            }
            Origin::File { path, line } => Some(format!("{}:{line}", path.display())),
            Origin::Default => None,
        }
    }

    /// An error at this item's place.
    pub(crate) fn error(
        &self,
        sink: &Sink<'_>,
        kind: ConfigErrorKind,
        message: String,
    ) -> ConfigError {
        match self {
            Origin::Inline(span) => {
                ConfigError::at(kind, sink.path, sink.source, span.start, message)
            }
            Origin::File { path, line } => ConfigError::at_line(kind, path, *line, 1, message),
            Origin::Default => ConfigError::at(kind, sink.path, sink.source, 0, message),
        }
    }
}

/// An item and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub item: Item,
    pub origin: Origin,
}

/// Checks an item id: not empty, no surrounding whitespace, no control characters.
fn id_problem(id: &str) -> Option<&'static str> {
    if id.is_empty() {
        Some("it is empty")
    } else if id.trim() != id {
        Some("it starts or ends with whitespace")
    } else if id.chars().any(char::is_control) {
        Some("it contains control characters")
    } else {
        None
    }
}

/// Inline items: `items = [{ id = "a", code = "..." }]`.
pub(crate) fn inline(sink: &mut Sink<'_>, where_: &str, items: Vec<RawItem>) -> Vec<Located> {
    let mut out = Vec::with_capacity(items.len());
    for (index, table) in items.into_iter().enumerate() {
        let table_span = table.span();
        let mut id = None;
        let mut id_span = None;
        let mut vars = BTreeMap::new();
        let mut ok = true;
        for (key, value) in table.into_inner().0 {
            let value_span = value.span();
            let text = match value.into_inner() {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                toml::Value::Datetime(d) => d.to_string(),
                other => {
                    sink.error(
                        ConfigErrorKind::Item,
                        value_span,
                        format!(
                            "item variable `{}` in `{where_}[{index}]` must be a string, number or boolean, not {}",
                            key.get_ref(),
                            toml_type(&other)
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if key.get_ref() == "id" {
                if let Some(problem) = id_problem(&text) {
                    sink.error(
                        ConfigErrorKind::InvalidValue,
                        value_span.clone(),
                        format!("invalid item id {text:?} in `{where_}[{index}]`: {problem}"),
                    );
                    ok = false;
                }
                id = Some(text);
                id_span = Some(value_span);
            } else {
                vars.insert(key.into_inner(), text);
            }
        }
        // A malformed item is reported once, not again by the template checks.
        if !ok {
            continue;
        }
        out.push(Located {
            item: Item {
                id: id.unwrap_or_else(|| format!("item-{}", index + 1)),
                vars,
            },
            origin: Origin::Inline(id_span.unwrap_or(table_span)),
        });
    }
    out
}

fn toml_type(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
        _ => "this type",
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Items from JSONL text: one object per line, blank lines skipped. Errors are located at
/// the file's lines.
pub(crate) fn jsonl(path: &Path, text: &str, errors: &mut Vec<ConfigError>) -> Vec<Located> {
    let mut out = Vec::new();
    let mut found = 0;
    let mut count = 0;
    for (number, line) in text.lines().enumerate() {
        let number = number + 1;
        if line.trim().is_empty() {
            continue;
        }
        count += 1;
        if found >= MAX_FILE_ERRORS {
            errors.push(ConfigError::at_line(
                ConfigErrorKind::Item,
                path,
                number,
                1,
                format!("too many errors in {}; stopped here", path.display()),
            ));
            return out;
        }
        let mut error = |column: usize, kind, message: String| {
            found += 1;
            errors.push(ConfigError::at_line(kind, path, number, column, message));
        };
        let value: serde_json::Value = match serde_json::from_str(line) {
            Ok(value) => value,
            Err(e) => {
                // serde_json's message ends with "at line 1 column N": the line is ours.
                let message = e.to_string();
                let message = match message.rfind(" at line ") {
                    Some(i) => message[..i].to_owned(),
                    None => message,
                };
                error(
                    e.column().max(1),
                    ConfigErrorKind::Syntax,
                    format!("invalid JSON: {message}"),
                );
                continue;
            }
        };
        let serde_json::Value::Object(object) = value else {
            error(
                1,
                ConfigErrorKind::Item,
                format!("an item must be a JSON object, not {}", json_type(&value)),
            );
            continue;
        };
        let mut id = None;
        let mut vars = BTreeMap::new();
        let mut ok = true;
        for (key, value) in object {
            let text = match value {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    error(
                        1,
                        ConfigErrorKind::Item,
                        format!(
                            "item variable `{key}` must be a string, number or boolean, not {}",
                            json_type(&other)
                        ),
                    );
                    ok = false;
                    continue;
                }
            };
            if key == "id" {
                if let Some(problem) = id_problem(&text) {
                    error(
                        1,
                        ConfigErrorKind::InvalidValue,
                        format!("invalid item id {text:?}: {problem}"),
                    );
                    ok = false;
                }
                id = Some(text);
            } else {
                vars.insert(key, text);
            }
        }
        if ok {
            out.push(Located {
                item: Item {
                    id: id.unwrap_or_else(|| format!("item-{count}")),
                    vars,
                },
                origin: Origin::File {
                    path: path.to_path_buf(),
                    line: number,
                },
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_skips_blank_lines_and_numbers_default_ids() {
        let mut errors = Vec::new();
        let text = "{\"id\": \"a\", \"code\": \"x\"}\n\n  \n{\"n\": 3, \"ok\": true}\n";
        let items = jsonl(Path::new("i.jsonl"), text, &mut errors);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].item.id, "a");
        assert_eq!(items[1].item.id, "item-2");
        assert_eq!(items[1].item.vars["n"], "3");
        assert_eq!(items[1].item.vars["ok"], "true");
        assert!(matches!(items[1].origin, Origin::File { line: 4, .. }));
    }

    #[test]
    fn jsonl_errors_name_the_line() {
        let mut errors = Vec::new();
        let text = "{\"id\": \"a\"}\n{\"id\": \"b\",}\n[1]\n{\"x\": null}\n";
        let items = jsonl(Path::new("i.jsonl"), text, &mut errors);
        assert_eq!(items.len(), 1);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "i.jsonl:2:12: invalid JSON: trailing comma",
                "i.jsonl:3:1: an item must be a JSON object, not an array",
                "i.jsonl:4:1: item variable `x` must be a string, number or boolean, not null",
            ]
        );
    }

    #[test]
    fn jsonl_stops_after_too_many_errors() {
        let mut errors = Vec::new();
        let text = "x\n".repeat(50);
        jsonl(Path::new("i.jsonl"), &text, &mut errors);
        assert_eq!(errors.len(), MAX_FILE_ERRORS + 1);
        assert_eq!(
            errors.last().unwrap().to_string(),
            "i.jsonl:11:1: too many errors in i.jsonl; stopped here"
        );
    }
}
