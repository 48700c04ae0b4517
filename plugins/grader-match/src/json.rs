//! The `json` mode's pieces: the default extraction, JSON Schema validation, and equality
//! that ignores key order and compares numbers as numbers.
//!
//! JSON Schema is validated with `boon` (drafts 4, 6, 7, 2019-09 and 2020-12; it passes the
//! JSON-Schema-Test-Suite). Chosen over `jsonschema`, which even without default features
//! brings about 30 crates not otherwise in the tree (bignum, fancy-regex, proc macros);
//! `boon` adds 9. It loads no URL here: only the schema given and the standard metaschemas.

use serde_json::Value;

use crate::text::quote;

/// A compiled JSON Schema.
pub(crate) struct Schema {
    schemas: boon::Schemas,
    index: boon::SchemaIndex,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Schema")
    }
}

/// The location the schema is registered under (it has none of its own).
const LOCATION: &str = "urn:grader-match:schema";

/// Refuses every URL: a schema may only refer to itself and the standard metaschemas
/// (which `boon` has built in), never read a file or the network.
struct NoLoader;

impl boon::UrlLoader for NoLoader {
    fn load(&self, url: &str) -> Result<Value, Box<dyn std::error::Error>> {
        Err(format!("{url} is not loaded: a schema may only refer to itself").into())
    }
}

impl Schema {
    /// `value`: the schema itself (a JSON object or boolean), or a string holding it as JSON.
    pub fn new(value: &Value) -> Result<Self, String> {
        let parsed;
        let value = match value {
            Value::String(text) => {
                parsed = serde_json::from_str::<Value>(text)
                    .map_err(|e| format!("is not JSON: {e}: {}", quote(text)))?;
                &parsed
            }
            other => other,
        };
        if !matches!(value, Value::Object(_) | Value::Bool(_)) {
            return Err(format!(
                "must be a JSON Schema (an object or a boolean), not {}",
                quote(&value.to_string())
            ));
        }
        let mut compiler = boon::Compiler::new();
        compiler.use_loader(Box::new(NoLoader));
        compiler
            .add_resource(LOCATION, value.clone())
            .map_err(|e| format!("is not a valid JSON Schema: {e}"))?;
        let mut schemas = boon::Schemas::new();
        let index = compiler
            .compile(LOCATION, &mut schemas)
            .map_err(|e| format!("is not a valid JSON Schema: {e:#}"))?;
        Ok(Self { schemas, index })
    }

    /// `Err` lists the violations: `at '/age': want integer, but got string` (at most 3).
    pub fn validate(&self, value: &Value) -> Result<(), String> {
        let Err(error) = self.schemas.validate(value, self.index) else {
            return Ok(());
        };
        let output = error.basic_output();
        let json = serde_json::to_value(&output).unwrap_or(Value::Null);
        let mut violations: Vec<String> = json["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        format!(
                            "at '{}': {}",
                            e["instanceLocation"].as_str().unwrap_or(""),
                            e["error"].as_str().unwrap_or("invalid")
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        if violations.is_empty() {
            violations.push(error.to_string());
        }
        let more = violations.len().saturating_sub(3);
        violations.truncate(3);
        let mut out = violations.join("; ");
        if more > 0 {
            out.push_str(&format!("; and {more} more"));
        }
        Err(out)
    }
}

/// The JSON mode's default extraction: the last fenced block tagged `json` (any case) or
/// untagged, else the whole answer, trimmed. The label says which.
pub(crate) fn default_extract(text: &str) -> (String, &'static str) {
    let block = llmbench_outline::code_blocks(text, &[])
        .into_iter()
        .rfind(|b| b.language.is_empty() || b.language.eq_ignore_ascii_case("json"));
    match block {
        Some(block) => (block.code, "last json block"),
        None => (text.trim().to_owned(), "whole answer"),
    }
}

/// Where `answer` first differs from `expected`, or `None` when they are equal: objects
/// regardless of key order, arrays in order, numbers by value (`2.50` = `2.5`, `3` = `3.0`).
pub(crate) fn difference(answer: &Value, expected: &Value) -> Option<String> {
    diff(answer, expected, &mut String::new())
}

fn diff(answer: &Value, expected: &Value, path: &mut String) -> Option<String> {
    let at = |path: &str| {
        if path.is_empty() {
            "/".to_owned()
        } else {
            path.to_owned()
        }
    };
    match (answer, expected) {
        (Value::Object(a), Value::Object(e)) => {
            if let Some(key) = e.keys().find(|k| !a.contains_key(*k)) {
                return Some(format!("missing key {}", pointer(path, key)));
            }
            if let Some(key) = a.keys().find(|k| !e.contains_key(*k)) {
                return Some(format!("unexpected key {}", pointer(path, key)));
            }
            e.iter().find_map(|(key, ev)| {
                let len = path.len();
                path.push_str(&pointer("", key));
                let found = diff(&a[key], ev, path);
                path.truncate(len);
                found
            })
        }
        (Value::Array(a), Value::Array(e)) => {
            if a.len() != e.len() {
                return Some(format!(
                    "at {}: {} items, expected {}",
                    at(path),
                    a.len(),
                    e.len()
                ));
            }
            a.iter().zip(e).enumerate().find_map(|(i, (av, ev))| {
                let len = path.len();
                path.push_str(&format!("/{i}"));
                let found = diff(av, ev, path);
                path.truncate(len);
                found
            })
        }
        (Value::Number(a), Value::Number(e)) => {
            let equal = match (a.as_i64(), e.as_i64(), a.as_u64(), e.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => a.as_f64() == e.as_f64(),
            };
            (!equal).then(|| format!("at {}: {a} != {e}", at(path)))
        }
        (a, e) if a == e => None,
        (a, e) => Some(format!(
            "at {}: {} != {}",
            at(path),
            short(&a.to_string()),
            short(&e.to_string())
        )),
    }
}

/// `path` extended by `key` as a JSON Pointer token (`~` and `/` escaped).
fn pointer(path: &str, key: &str) -> String {
    format!("{path}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn short(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn equality_ignores_key_order_and_number_spelling() {
        let a: Value =
            serde_json::from_str(r#"{"unit_price": 2.50, "quantity": 3, "item": "x"}"#).unwrap();
        let e = json!({"item": "x", "quantity": 3.0, "unit_price": 2.5});
        assert_eq!(difference(&a, &e), None);
        assert_eq!(
            difference(
                &json!({"item": "x", "quantity": 2}),
                &json!({"item": "x", "quantity": 3})
            ),
            Some("at /quantity: 2 != 3".into())
        );
        assert_eq!(
            difference(&json!({"a": 1}), &json!({"a": 1, "b/c": 2})),
            Some("missing key /b~1c".into())
        );
        assert_eq!(
            difference(&json!({"a": 1, "z": 0}), &json!({"a": 1})),
            Some("unexpected key /z".into())
        );
        assert_eq!(
            difference(
                &json!({"a": [1, {"b": "x"}]}),
                &json!({"a": [1, {"b": "y"}]})
            ),
            Some(r#"at /a/1/b: "x" != "y""#.into())
        );
        assert_eq!(
            difference(&json!([1, 2]), &json!([2, 1])),
            Some("at /0: 1 != 2".into())
        );
        assert_eq!(
            difference(&json!([1]), &json!([1, 2])),
            Some("at /: 1 items, expected 2".into())
        );
        assert_eq!(
            difference(&json!("34"), &json!(34)),
            Some(r#"at /: "34" != 34"#.into())
        );
    }

    #[test]
    fn schema_violations_are_listed() {
        let schema = Schema::new(&json!({
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
            "required": ["name", "age"],
            "additionalProperties": false
        }))
        .unwrap();
        assert_eq!(schema.validate(&json!({"name": "A", "age": 3})), Ok(()));
        assert_eq!(
            schema.validate(&json!({"name": "A", "age": "34"})),
            Err("at '/age': want integer, but got string".into())
        );
        assert_eq!(
            schema.validate(&json!({"age": -1, "x": 1})),
            Err(
                "at '': missing properties 'name'; at '/age': must be >=0, but got -1; \
                 at '': additionalProperties 'x' not allowed"
                    .into()
            )
        );
    }

    #[test]
    fn a_schema_may_be_json_text_and_must_be_valid() {
        let schema = Schema::new(&json!(r#"{"type": "array"}"#)).unwrap();
        assert!(schema.validate(&json!([])).is_ok());
        assert!(schema.validate(&json!({})).is_err());
        let e = Schema::new(&json!({"type": 12})).unwrap_err();
        assert!(e.starts_with("is not a valid JSON Schema: "), "{e}");
        let e = Schema::new(&json!("{not json")).unwrap_err();
        assert!(e.starts_with("is not JSON: "), "{e}");
        let e = Schema::new(&json!(3)).unwrap_err();
        assert!(e.starts_with("must be a JSON Schema"), "{e}");
        // No file or URL is ever read.
        let e = Schema::new(&json!({"$ref": "file:///etc/hostname"})).unwrap_err();
        assert!(e.contains("is not a valid JSON Schema"), "{e}");
    }

    #[test]
    fn the_default_extraction_prefers_a_json_block() {
        let text = "Here:\n```python\nx = 1\n```\n```json\n{\"a\": 1}\n```\nDone.";
        assert_eq!(
            default_extract(text),
            ("{\"a\": 1}".into(), "last json block")
        );
        let text = "```\n[1]\n```";
        assert_eq!(default_extract(text), ("[1]".into(), "last json block"));
        assert_eq!(
            default_extract("  {\"a\": 1}\n"),
            ("{\"a\": 1}".into(), "whole answer")
        );
    }
}
