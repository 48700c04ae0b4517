//! Prompt templates: text with `{{ name }}` placeholders, filled from an item's variables.
//!
//! There is no escaping, no filters and no logic: a placeholder is `{{`, optional whitespace,
//! a name (no whitespace or braces), optional whitespace, `}}`. Everything else is literal.
//!
//! `{{ id }}` is the item's id. It is not one of the item's variables (`Item::vars` never holds
//! `id`, so sample ids and grader inputs are as before): [`render_item`] resolves it.

use std::collections::BTreeMap;
use std::ops::Range;

use llmbench_core::Item;
use serde_json::Value;

/// The variable that names the item's id rather than one of its variables.
pub(crate) const ID: &str = "id";

/// One `{{ name }}` in a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Placeholder {
    pub name: String,
    /// Byte range of the whole placeholder, braces included.
    pub span: Range<usize>,
}

/// Why a template is malformed, at a byte offset of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TemplateError {
    pub offset: usize,
    pub message: String,
    pub help: &'static str,
}

/// The placeholders of a template, in order.
pub(crate) fn placeholders(template: &str) -> Result<Vec<Placeholder>, TemplateError> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = template[rest..].find("{{").map(|i| rest + i) {
        let inner_start = open + 2;
        let Some(close) = template[inner_start..].find("}}").map(|i| inner_start + i) else {
            return Err(TemplateError {
                offset: open,
                message: "unclosed `{{`".to_owned(),
                help: "close the placeholder with `}}`",
            });
        };
        let name = template[inner_start..close].trim();
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '{' || c == '}') {
            return Err(TemplateError {
                offset: open,
                message: format!("invalid placeholder `{}`", &template[open..close + 2]),
                help: "a placeholder is `{{ name }}`, with no spaces or braces in the name",
            });
        }
        found.push(Placeholder {
            name: name.to_owned(),
            span: open..close + 2,
        });
        rest = close + 2;
    }
    Ok(found)
}

/// Fills a template's placeholders from `vars`.
///
/// A placeholder whose variable is absent, and a malformed template's text from the first
/// bad `{{` on, are kept as written: validated configs never have either. `{{ id }}` is
/// looked up in `vars` like any name; [`render_item`] fills it with the item's id.
pub fn render(template: &str, vars: &BTreeMap<String, String>) -> String {
    render_with(template, |name| vars.get(name).map(String::as_str))
}

/// Fills a template's placeholders from an item: `{{ id }}` is its id, any other name one of
/// its variables (absent ones are kept as written, as in [`render`]).
pub fn render_item(template: &str, item: &Item) -> String {
    render_with(template, |name| {
        if name == ID {
            Some(item.id.as_str())
        } else {
            item.vars.get(name).map(String::as_str)
        }
    })
}

/// A grader's `options` for one item: every string, at any depth, rendered with
/// [`render_item`]; numbers, booleans, nulls and object keys unchanged. Pure.
pub fn render_options(options: &Value, item: &Item) -> Value {
    match options {
        Value::String(s) if s.contains("{{") => Value::String(render_item(s, item)),
        Value::Array(values) => {
            Value::Array(values.iter().map(|v| render_options(v, item)).collect())
        }
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(k, v)| (k.clone(), render_options(v, item)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn render_with<'v>(template: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = 0;
    while let Some(open) = template[rest..].find("{{").map(|i| rest + i) {
        let inner_start = open + 2;
        let Some(close) = template[inner_start..].find("}}").map(|i| inner_start + i) else {
            break;
        };
        out.push_str(&template[rest..open]);
        match lookup(template[inner_start..close].trim()) {
            Some(value) => out.push_str(value),
            None => out.push_str(&template[open..close + 2]),
        }
        rest = close + 2;
    }
    out.push_str(&template[rest..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn finds_placeholders_with_or_without_spaces() {
        let found = placeholders("a {{x}} b {{  y\t}} {single} }}").unwrap();
        let names: Vec<_> = found.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["x", "y"]);
        assert_eq!(found[0].span, 2..7);
    }

    #[test]
    fn rejects_unclosed_and_empty_placeholders() {
        let e = placeholders("ok {{x}} then {{ y").unwrap_err();
        assert_eq!(e.offset, 14);
        assert_eq!(e.message, "unclosed `{{`");
        let e = placeholders("a {{ }} b").unwrap_err();
        assert_eq!(e.message, "invalid placeholder `{{ }}`");
        assert!(placeholders("{{a b}}").is_err());
    }

    #[test]
    fn single_braces_and_runs_of_braces_are_found_as_before() {
        let v = vars(&[("x", "X")]);
        // The first `{{` and the first `}}` after it, as `str::find` found them.
        assert_eq!(render("{ {{x}} }", &v), "{ X }");
        assert_eq!(render("{{{x}}}", &v), "{{{x}}}");
        assert_eq!(render("a{b{{x}}c}", &v), "a{bXc}");
        assert_eq!(render("{{x}", &v), "{{x}");
        assert_eq!(render("}}{{x}}", &v), "}}X");
    }

    #[test]
    fn renders_values_verbatim() {
        let v = vars(&[("code", "cache = {}\n{{not a var}}"), ("n", "3")]);
        assert_eq!(
            render("Fix:\n{{ code }}\n({{n}}x)", &v),
            "Fix:\ncache = {}\n{{not a var}}\n(3x)"
        );
    }

    #[test]
    fn id_is_the_item_id() {
        let item = Item {
            id: "HumanEval/0".into(),
            vars: vars(&[("expected", "9")]),
        };
        assert_eq!(
            render_item("{{ id }}: {{expected}}", &item),
            "HumanEval/0: 9"
        );
        // Plain `render` knows only the variables.
        assert_eq!(render("{{ id }}", &item.vars), "{{ id }}");
        let options = serde_json::json!({
            "mode": "numeric",
            "expected": "{{ expected }}",
            "nested": [{"of": "{{id}}!"}, 3, true, null],
            "{{ expected }}": "keys stay",
        });
        assert_eq!(
            render_options(&options, &item),
            serde_json::json!({
                "mode": "numeric",
                "expected": "9",
                "nested": [{"of": "HumanEval/0!"}, 3, true, null],
                "{{ expected }}": "keys stay",
            })
        );
    }

    #[test]
    fn keeps_unknown_and_unclosed_placeholders() {
        let v = vars(&[("a", "1")]);
        assert_eq!(render("{{a}} {{b}} {{a", &v), "1 {{b}} {{a");
    }
}
