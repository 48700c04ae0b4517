//! Task items, inline or from a file's records, where each came from (for error messages),
//! and which of them a task keeps (`limit`, `sample`).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use llmbench_core::Item;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::dataset::{FileErrors, Record};
use crate::error::{ConfigError, ConfigErrorKind, Sink, line_column};
use crate::item_table::ItemTable;
use crate::raw::RawItem;

/// Where an item was defined.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// An inline table in the config; the span of its `id` value if it has one, else of the
    /// table.
    Inline(Range<usize>),
    /// The line an item starts on in an items file.
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

/// Where each item of a [`Located`] was defined: one kind for all of a task's items.
#[derive(Debug, Clone)]
pub(crate) enum Origins {
    /// [`Origin::Inline`], per item.
    Inline(Vec<Range<usize>>),
    /// [`Origin::File`]: the file once, each item's line.
    File { path: PathBuf, lines: Vec<u32> },
    /// [`Origin::Default`] (the one implicit item).
    Default,
}

/// A task's items (compactly, [`ItemTable`]) and where each came from.
#[derive(Debug)]
pub(crate) struct Located {
    pub table: ItemTable,
    pub origins: Origins,
}

impl Located {
    pub(crate) fn empty() -> Self {
        Self {
            table: ItemTable::default(),
            origins: Origins::Inline(Vec::new()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.table.len() == 0
    }

    /// Where item `i` was defined.
    pub(crate) fn origin(&self, i: usize) -> Origin {
        self.origins.get(i)
    }
}

impl Origins {
    /// Where item `i` was defined.
    pub(crate) fn get(&self, i: usize) -> Origin {
        match self {
            Origins::Inline(spans) => Origin::Inline(spans[i].clone()),
            Origins::File { path, lines } => Origin::File {
                path: path.clone(),
                line: lines[i] as usize,
            },
            Origins::Default => Origin::Default,
        }
    }
}

impl std::fmt::Debug for ItemTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemTable")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
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
pub(crate) fn inline(sink: &mut Sink<'_>, where_: &str, items: Vec<RawItem>) -> Located {
    let mut out = ItemTable::default();
    let mut spans = Vec::with_capacity(items.len());
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
                // Arrays and tables become compact JSON text, as in items files.
                other => match crate::validate::to_json(other.clone(), &mut Vec::new())
                    .ok()
                    .filter(|_| key.get_ref() != "id")
                    .as_ref()
                    .and_then(value_text)
                {
                    Some(text) => text,
                    None => {
                        let message = if key.get_ref() == "id" {
                            format!(
                                "the item id in `{where_}[{index}]` must be a string or a number, not {}",
                                toml_type(&other)
                            )
                        } else {
                            format!(
                                "item variable `{}` in `{where_}[{index}]` holds NaN or infinity, which JSON cannot write",
                                key.get_ref()
                            )
                        };
                        sink.error(ConfigErrorKind::Item, value_span, message);
                        ok = false;
                        continue;
                    }
                },
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
        out.push_item(&Item {
            id: id.unwrap_or_else(|| format!("item-{}", index + 1)),
            vars,
        });
        spans.push(id_span.unwrap_or(table_span));
    }
    Located {
        table: out,
        origins: Origins::Inline(spans),
    }
}

fn toml_type(value: &toml::Value) -> &'static str {
    match value {
        toml::Value::Array(_) => "an array",
        toml::Value::Table(_) => "a table",
        _ => "this type",
    }
}

/// How a file's fields become items: `id-field` and `fields`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Mapping {
    /// The field holding the id; `None`: `id` when an item has one, else a content hash.
    pub id_field: Option<String>,
    /// (variable, field): the variable takes the field's value, in place of the field.
    pub fields: Vec<(String, String)>,
}

/// A variable's text: strings as they are, numbers and booleans as written, arrays and
/// objects as compact JSON (object keys sorted); `None` for null.
pub(crate) fn value_text(value: &Value) -> Option<String> {
    value_str(value).map(Cow::into_owned)
}

/// [`value_text`], borrowed when the value is a string (most are: no copy per variable).
fn value_str(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::Null => None,
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        Value::Array(_) | Value::Object(_) => Some(Cow::Owned(canonical(value).to_string())),
    }
}

/// `value` with every object's keys in sorted order, whatever order serde_json keeps.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        Value::Object(object) => {
            let sorted: BTreeMap<&String, Value> =
                object.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        other => other.clone(),
    }
}

/// An item's id when it has no id field: the first 16 hex digits of the SHA-256 of its
/// fields as canonical JSON (compact, object keys sorted). It depends only on the item's
/// content, so reordering a file keeps every id.
pub(crate) fn content_id(fields: &serde_json::Map<String, Value>) -> String {
    let text = canonical(&Value::Object(fields.clone())).to_string();
    let digest = Sha256::digest(text.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Items from a file's records, one record at a time: ids, variables (renamed by
/// `mapping.fields`). Errors are located at the record's line.
pub(crate) struct FromRecords<'m> {
    mapping: &'m Mapping,
    table: ItemTable,
    lines: Vec<u32>,
}

impl<'m> FromRecords<'m> {
    pub(crate) fn new(mapping: &'m Mapping) -> Self {
        Self {
            mapping,
            table: ItemTable::default(),
            lines: Vec::new(),
        }
    }

    /// The items so far, from the file at `path`.
    pub(crate) fn finish(self, path: &Path) -> Located {
        Located {
            table: self.table,
            origins: Origins::File {
                path: path.to_path_buf(),
                lines: self.lines,
            },
        }
    }

    /// Converts `record` into an item, or reports why it cannot be one.
    ///
    /// Per item: no map and no copy of a string variable (a `BTreeMap` of cloned strings,
    /// then another of the variables, were more than half of reading a large items file;
    /// docs/performance.md), only a vector of borrowed texts, sorted by name.
    pub(crate) fn push(&mut self, record: Record, errors: &mut FileErrors<'_>) {
        let mapping = self.mapping;
        let id_key = mapping.id_field.as_deref().unwrap_or("id");
        if errors.full() {
            return;
        }
        let (line, column) = (record.line, record.column);
        let mut ok = true;
        // Every field's text, by name (the record's map is ordered by name).
        let mut texts: Vec<(&str, Cow<'_, str>)> = Vec::with_capacity(record.fields.len());
        for (key, value) in &record.fields {
            match value_str(value) {
                Some(text) => texts.push((key.as_str(), text)),
                None => {
                    errors.push(
                        line,
                        column,
                        ConfigErrorKind::Item,
                        format!("item variable `{key}` is null: give it a value or leave it out"),
                    );
                    ok = false;
                }
            }
        }
        let text = |name: &str| {
            texts
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, text)| text.as_ref())
        };
        let content;
        let id: Option<&str> = match record.fields.get(id_key) {
            Some(Value::Array(_) | Value::Object(_)) => {
                errors.push(
                    line,
                    column,
                    ConfigErrorKind::InvalidValue,
                    format!("the item id (field `{id_key}`) must be a string or a number"),
                );
                ok = false;
                None
            }
            Some(_) => text(id_key),
            None if mapping.id_field.is_some() => {
                errors.push(
                    line,
                    column,
                    ConfigErrorKind::Item,
                    format!("this item has no field `{id_key}`, the task's `id-field`"),
                );
                ok = false;
                None
            }
            None => {
                content = content_id(&record.fields);
                Some(content.as_str())
            }
        };
        if let Some(id) = id
            && let Some(problem) = id_problem(id)
        {
            errors.push(
                line,
                column,
                ConfigErrorKind::InvalidValue,
                format!("invalid item id {id:?}: {problem}"),
            );
            ok = false;
        }
        // A malformed item is reported once, not again by the template checks.
        let (Some(id), true) = (id, ok) else {
            return;
        };
        let renamed = |key: &str| mapping.fields.iter().any(|(_, field)| field == key);
        let mut vars: Vec<(&str, &str)> = texts
            .iter()
            .filter(|(key, _)| *key != id_key && *key != "id" && !renamed(key))
            .map(|(key, text)| (*key, text.as_ref()))
            .collect();
        for (variable, field) in &mapping.fields {
            if let Some(text) = text(field) {
                match vars.iter_mut().find(|(key, _)| *key == variable.as_str()) {
                    Some(var) => var.1 = text,
                    None => vars.push((variable.as_str(), text)),
                }
            }
        }
        if !vars.is_sorted_by_key(|(key, _)| *key) {
            vars.sort_unstable_by_key(|(key, _)| *key);
        }
        self.table.push(id, vars.into_iter());
        self.lines.push(u32::try_from(line).unwrap_or(u32::MAX));
    }
}

/// Which items a task runs: the first `limit`, or a `sample` drawn with `seed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Subset {
    All,
    /// The first N items, in file order.
    Limit(usize),
    /// The N items whose `SHA-256(seed as 8 little-endian bytes, id)` are smallest, in file
    /// order: the same items on every machine, and the same for an item wherever it is in
    /// the file.
    Sample {
        n: usize,
        seed: u64,
    },
}

/// The indices of the items `subset` keeps, in file order, of `len` items whose id `id` adds
/// to a hasher: `None` when it keeps them all (no list of every index for the common case).
pub(crate) fn select(
    len: usize,
    id: impl Fn(usize, &mut Sha256),
    subset: Subset,
) -> Option<Vec<usize>> {
    match subset {
        Subset::All => None,
        Subset::Limit(n) | Subset::Sample { n, .. } if n >= len => None,
        Subset::Limit(n) => Some((0..n).collect()),
        Subset::Sample { n, seed } => {
            let mut keyed: Vec<([u8; 32], usize)> = (0..len)
                .map(|i| {
                    let mut hasher = Sha256::new();
                    hasher.update(seed.to_le_bytes());
                    id(i, &mut hasher);
                    (hasher.finalize().into(), i)
                })
                .collect();
            keyed.sort_unstable();
            let mut chosen: Vec<usize> = keyed.into_iter().take(n).map(|(_, i)| i).collect();
            chosen.sort_unstable();
            Some(chosen)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use serde_json::json;

    use super::*;
    use crate::dataset::{Format, read};

    fn convert(text: &str, mapping: &Mapping) -> (Vec<Item>, Vec<String>) {
        let mut errors = Vec::new();
        let mut sink = FileErrors::new(Path::new("i.jsonl"), &mut errors);
        let mut items = FromRecords::new(mapping);
        read(Format::Jsonl, text, &mut sink, &mut |record, errors| {
            items.push(record, errors)
        });
        let located = items.finish(Path::new("i.jsonl"));
        let items = (0..located.len()).map(|i| located.table.get(i)).collect();
        (items, errors.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn values_become_text_and_null_is_an_error() {
        let text = "{\"id\": \"a\", \"n\": 3, \"ok\": true, \"any\": [\"Paris\", \"paris\"], \"o\": {\"b\": 1, \"a\": [2]}}\n\n{\"id\": \"b\", \"x\": null}\n";
        let (items, errors) = convert(text, &Mapping::default());
        assert_eq!(items.len(), 1);
        let vars = &items[0].vars;
        assert_eq!(vars["n"], "3");
        assert_eq!(vars["ok"], "true");
        assert_eq!(vars["any"], r#"["Paris","paris"]"#);
        assert_eq!(vars["o"], r#"{"a":[2],"b":1}"#);
        assert!(!vars.contains_key("id"));
        assert_eq!(
            errors,
            ["i.jsonl:3:1: item variable `x` is null: give it a value or leave it out"]
        );
    }

    #[test]
    fn ids_come_from_the_id_field_or_the_content() {
        let text = "{\"q\": \"one\", \"id\": \"kept\"}\n{\"q\": \"two\", \"n\": 1}\n";
        let (items, errors) = convert(text, &Mapping::default());
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(items[0].id, "kept");
        let hashed = &items[1].id;
        assert_eq!(hashed.len(), 16);
        assert!(hashed.chars().all(|c| c.is_ascii_hexdigit()));
        // The same content in another order and place: the same id.
        let (again, _) = convert("{\"n\": 1, \"q\": \"two\"}\n", &Mapping::default());
        assert_eq!(&again[0].id, hashed);
        assert_eq!(
            content_id(json!({"q": "two", "n": 1}).as_object().unwrap()),
            *hashed
        );
    }

    #[test]
    fn id_field_and_fields_rename() {
        let mapping = Mapping {
            id_field: Some("task_id".into()),
            fields: vec![
                ("question".into(), "input".into()),
                ("task".into(), "task_id".into()),
            ],
        };
        let text = "{\"task_id\": \"HumanEval/0\", \"input\": \"q\", \"id\": 7, \"other\": \"o\"}\n{\"input\": \"r\"}\n{\"task_id\": [1]}\n";
        let (items, errors) = convert(text, &mapping);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].id, "HumanEval/0");
        let names: Vec<_> = items[0].vars.keys().map(String::as_str).collect();
        assert_eq!(names, ["other", "question", "task"]);
        assert_eq!(items[0].vars["task"], "HumanEval/0");
        assert_eq!(
            errors,
            [
                "i.jsonl:2:1: this item has no field `task_id`, the task's `id-field`",
                "i.jsonl:3:1: the item id (field `task_id`) must be a string or a number",
            ]
        );
    }

    #[test]
    fn limit_and_sample() {
        let ids: Vec<String> = (0..100).map(|i| format!("q{i}")).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let pick = |refs: &[&str], subset| {
            select(refs.len(), |i, h: &mut Sha256| h.update(refs[i]), subset)
                .unwrap_or_else(|| (0..refs.len()).collect())
        };
        assert_eq!(pick(&refs, Subset::Limit(3)), [0, 1, 2]);
        assert_eq!(
            select(
                refs.len(),
                |i, h: &mut Sha256| h.update(refs[i]),
                Subset::Limit(300)
            ),
            None
        );
        assert_eq!(
            select(
                refs.len(),
                |i, h: &mut Sha256| h.update(refs[i]),
                Subset::Limit(100)
            ),
            None
        );
        assert_eq!(
            select(
                refs.len(),
                |i, h: &mut Sha256| h.update(refs[i]),
                Subset::All
            ),
            None
        );
        let every = Subset::Sample { n: 100, seed: 3 };
        assert_eq!(
            select(refs.len(), |i, h: &mut Sha256| h.update(refs[i]), every),
            None
        );
        let a = pick(&refs, Subset::Sample { n: 10, seed: 0 });
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]), "file order");
        assert_eq!(a, pick(&refs, Subset::Sample { n: 10, seed: 0 }));
        assert_ne!(a, pick(&refs, Subset::Sample { n: 10, seed: 1 }));
        // Pinned: the same on every machine and in every version.
        assert_eq!(a, [5, 20, 22, 28, 48, 50, 53, 73, 78, 90]);
        // Reordering the file keeps the same items.
        let mut reversed = refs.clone();
        reversed.reverse();
        let b: Vec<&str> = pick(&reversed, Subset::Sample { n: 10, seed: 0 })
            .into_iter()
            .map(|i| reversed[i])
            .collect();
        let mut a_ids: Vec<&str> = a.iter().map(|&i| refs[i]).collect();
        a_ids.reverse();
        assert_eq!(b, a_ids);
    }
}
