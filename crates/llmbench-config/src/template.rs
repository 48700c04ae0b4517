//! Prompt templates: text with `{{ name }}` placeholders, filled from an item's variables.
//!
//! The syntax and the renderer are `llmbench_core::template`'s (the plugin SDK renders grader
//! options with the same code); this module adds what the config needs: the placeholders of
//! a template with their errors, for `llmbench validate`, and rendering for an [`Item`].
//!
//! `{{ id }}` is the item's id. It is not one of the item's variables (`Item::vars` never holds
//! `id`, so sample ids and grader inputs are as before): [`render_item`] resolves it.

use std::collections::BTreeMap;
use std::ops::Range;

use llmbench_core::Item;
use llmbench_core::template::render_with;
pub(crate) use llmbench_core::template::{ID, placeholder_names, rendered_len_with};
use serde_json::Value;

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
    render_with(template, |name| item_value(item, name))
}

/// The value `{{ name }}` renders to for `item`: its id for `{{ id }}`, else the variable.
fn item_value<'i>(item: &'i Item, name: &str) -> Option<&'i str> {
    llmbench_core::template::item_value(&item.id, &item.vars, name)
}

/// A grader's `options` for one item: every string, at any depth, rendered with
/// [`render_item`]; numbers, booleans, nulls and object keys unchanged. Pure.
pub fn render_options(options: &Value, item: &Item) -> Value {
    llmbench_core::template::render_options(options, &serde_json::Map::new(), &|name| {
        item_value(item, name)
    })
}

/// A grader's options for `item` with the defaults it reads from each item
/// (`GraderPlugin::item_defaults`: `grader-match`'s `expected = "{{ expected }}"`) added, as
/// the plugin SDK renders them for each grade request
/// ([`llmbench_core::template::render_options`]): each default the options lack is rendered
/// and added when the item has every variable it names; for an item without them it stays
/// out, as if the grader had no default (the grader then says what is missing).
pub fn with_item_defaults(
    options: &Value,
    defaults: &serde_json::Map<String, Value>,
    item: &Item,
) -> Value {
    llmbench_core::template::render_options(options, defaults, &|name| item_value(item, name))
}

/// The variables a grader's options (and its item defaults) name, sorted, each once:
/// `id` for `{{ id }}`. Two items that agree on these render the same options.
pub fn option_variables(options: &Value, defaults: &serde_json::Map<String, Value>) -> Vec<String> {
    fn collect<'a>(value: &'a Value, names: &mut Vec<&'a str>) {
        match value {
            Value::String(s) => names.extend(placeholder_names(s)),
            Value::Array(values) => values.iter().for_each(|v| collect(v, names)),
            Value::Object(object) => object.values().for_each(|v| collect(v, names)),
            _ => {}
        }
    }
    let mut names = Vec::new();
    collect(options, &mut names);
    defaults.values().for_each(|v| collect(v, &mut names));
    names.sort_unstable();
    names.dedup();
    names.into_iter().map(str::to_owned).collect()
}

/// The length in bytes of [`render_item`]`(template, item)`, without rendering it (the
/// pre-run cost estimate counts the characters of every sample's prompt).
pub fn rendered_len(template: &str, item: &Item) -> usize {
    rendered_len_with(template, |name| item_value(item, name))
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
    fn item_defaults_are_added_rendered_when_the_item_has_their_variables() {
        let item = |vars: &[(&str, &str)]| Item {
            id: "q1".into(),
            vars: self::vars(vars),
        };
        let defaults: serde_json::Map<String, Value> = serde_json::from_value(serde_json::json!({
            "expected": "{{ expected }}",
            "mode": "{{ mode }}",
            "label": "item {{ id }}",
        }))
        .unwrap();
        let options = serde_json::json!({ "mode": "numeric" });
        let with = item(&[("expected", "42"), ("mode", "ignored")]);
        // Added where the options lack the key; `mode` is the config's; `{{ id }}` is known.
        assert_eq!(
            with_item_defaults(&options, &defaults, &with),
            serde_json::json!({ "mode": "numeric", "expected": "42", "label": "item q1" })
        );
        // An item without `expected`: that default stays out, the others are added.
        assert_eq!(
            with_item_defaults(&options, &defaults, &item(&[])),
            serde_json::json!({ "mode": "numeric", "label": "item q1" })
        );
        // Options that name a variable are rendered; a default they hold is not added.
        let templated = serde_json::json!({ "mode": "numeric", "expected": "{{ mode }}" });
        assert_eq!(
            with_item_defaults(&templated, &defaults, &with),
            serde_json::json!({ "mode": "numeric", "expected": "ignored", "label": "item q1" })
        );
    }

    #[test]
    fn rendered_len_is_the_length_of_the_rendering() {
        let item = Item {
            id: "q-1".into(),
            vars: vars(&[("x", "XX"), ("long", "a longer value é")]),
        };
        for template in [
            "",
            "plain",
            "{{x}}",
            "a {{ x }} b {{long}} c {{ id }}",
            "{{missing}} and {{x}",
            "{{{x}}} }}{{x}}",
            "{{x}}{{x}}{{",
        ] {
            assert_eq!(
                rendered_len(template, &item),
                render_item(template, &item).len(),
                "{template}"
            );
        }
    }

    #[test]
    fn keeps_unknown_and_unclosed_placeholders() {
        let v = vars(&[("a", "1")]);
        assert_eq!(render("{{a}} {{b}} {{a", &v), "1 {{b}} {{a");
    }
}
