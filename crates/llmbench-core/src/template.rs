//! `{{ name }}` placeholders: the one scanner and renderer that prompts and grader options
//! share, on both sides of the plugin boundary. The config renders prompts (and a grader's
//! options for the checks before a run) with it; the plugin SDK renders a grader's options
//! for each item inside the plugin ([`crate::GradeRequest::options`]), so the same item gives
//! the same text wherever it is rendered.
//!
//! There is no escaping, no filters and no logic: a placeholder is `{{`, optional whitespace,
//! a name (no whitespace or braces), optional whitespace, `}}`. Everything else is literal. A
//! placeholder whose value is unknown (`lookup` says `None`), and a malformed rest (an
//! unclosed `{{`), are kept as written. `{{ id }}` ([`ID`]) is the item's id, which is not one
//! of its variables: the caller's `lookup` resolves it.

use std::collections::BTreeMap;
use std::ops::Range;

use serde_json::Value;

/// The variable that names the item's id rather than one of its variables.
pub const ID: &str = "id";

/// What `{{ name }}` renders to for the item with this id and these variables: the id for
/// `{{ id }}` ([`ID`]), else the variable; `None` when the item has none. The one lookup the
/// config (an [`crate::Item`]) and a grade request ([`crate::GradeRequest::value`]) share.
pub fn item_value<'a>(
    id: &'a str,
    vars: &'a BTreeMap<String, String>,
    name: &str,
) -> Option<&'a str> {
    match name {
        ID => Some(id),
        name => vars.get(name).map(String::as_str),
    }
}

/// Fills `template`'s placeholders with what `lookup` gives for their names.
pub fn render_with<'v>(template: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = 0;
    for (span, name) in spans(template) {
        out.push_str(&template[rest..span.start]);
        out.push_str(lookup(name).unwrap_or(&template[span.clone()]));
        rest = span.end;
    }
    out.push_str(&template[rest..]);
    out
}

/// The length in bytes of [`render_with`]`(template, lookup)`, without rendering it (the
/// pre-run cost estimate counts the characters of every sample's prompt).
pub fn rendered_len_with<'v>(template: &str, lookup: impl Fn(&str) -> Option<&'v str>) -> usize {
    spans(template).fold(template.len(), |len, (span, name)| match lookup(name) {
        Some(value) => len - span.len() + value.len(),
        None => len,
    })
}

/// The names of `template`'s placeholders, in order, as [`render_with`] finds them (nothing
/// allocated: this runs per item).
pub fn placeholder_names(template: &str) -> impl Iterator<Item = &str> {
    spans(template).map(|(_, name)| name)
}

/// Whether `s` holds `{{`.
pub fn has_placeholder(s: &str) -> bool {
    find_pair(s, 0, b'{').is_some()
}

/// Whether any string in `value`, at any depth, holds `{{` (object keys are never rendered).
pub fn value_has_placeholder(value: &Value) -> bool {
    match value {
        Value::String(s) => has_placeholder(s),
        Value::Array(values) => values.iter().any(value_has_placeholder),
        Value::Object(object) => object.values().any(value_has_placeholder),
        _ => false,
    }
}

/// Renders every string of `value`, at any depth, with [`render_with`]; numbers, booleans,
/// nulls and object keys unchanged.
pub fn render_value_in_place<'v>(value: &mut Value, lookup: &dyn Fn(&str) -> Option<&'v str>) {
    match value {
        Value::String(s) if has_placeholder(s) => *s = render_with(s, lookup),
        Value::Array(values) => values
            .iter_mut()
            .for_each(|v| render_value_in_place(v, lookup)),
        Value::Object(object) => object
            .values_mut()
            .for_each(|v| render_value_in_place(v, lookup)),
        _ => {}
    }
}

/// `value` with every string, at any depth, rendered ([`render_value_in_place`]); a string
/// is rendered without copying it first.
pub fn render_value<'v>(value: &Value, lookup: &dyn Fn(&str) -> Option<&'v str>) -> Value {
    match value {
        Value::String(s) => Value::String(render_with(s, lookup)),
        value => {
            let mut value = value.clone();
            render_value_in_place(&mut value, lookup);
            value
        }
    }
}

/// Whether `lookup` knows every placeholder's name in `value`'s strings.
pub fn renders_whole<'v>(value: &Value, lookup: &dyn Fn(&str) -> Option<&'v str>) -> bool {
    match value {
        Value::String(s) => placeholder_names(s).all(|name| lookup(name).is_some()),
        Value::Array(values) => values.iter().all(|v| renders_whole(v, lookup)),
        Value::Object(object) => object.values().all(|v| renders_whole(v, lookup)),
        _ => true,
    }
}

/// A grader's `options` for one item, with the defaults the grader reads from each item
/// (`GraderPlugin::item_defaults`: `grader-match`'s `expected = "{{ expected }}"`) added:
/// every string rendered ([`render_value_in_place`]); each default the options lack added,
/// rendered, when `lookup` knows every variable it names, and left out otherwise, as if the
/// grader had no default (the grader then says what is missing).
///
/// Runs once per sample and grader whose options use variables: the options are cloned (a
/// structural copy) and only their templated strings replaced in place, which costs a
/// fraction of collecting a new map.
pub fn render_options<'v>(
    options: &Value,
    defaults: &serde_json::Map<String, Value>,
    lookup: &dyn Fn(&str) -> Option<&'v str>,
) -> Value {
    let mut rendered = options.clone();
    render_value_in_place(&mut rendered, lookup);
    let Value::Object(object) = &mut rendered else {
        return rendered;
    };
    for (key, default) in defaults {
        if object.contains_key(key) || !renders_whole(default, lookup) {
            continue;
        }
        let mut value = default.clone();
        render_value_in_place(&mut value, lookup);
        object.insert(key.clone(), value);
    }
    rendered
}

/// Each placeholder of `template` as rendering finds it: its byte range (braces included)
/// and its name, trimmed. The one scan [`render_with`], [`rendered_len_with`] and
/// [`placeholder_names`] share; a malformed rest (an unclosed `{{`) is left as text.
pub fn spans(template: &str) -> impl Iterator<Item = (Range<usize>, &str)> {
    let mut rest = 0;
    std::iter::from_fn(move || {
        let open = find_pair(template, rest, b'{')?;
        let close = find_pair(template, open + 2, b'}')?;
        rest = close + 2;
        Some((open..close + 2, template[open + 2..close].trim()))
    })
}

/// The first `{{` (or `}}`) at or after `from`, as `template[from..].find("{{")` finds it.
/// Every prompt and templated option is rendered once per sample: `str::find` sets up a
/// two-way searcher per call (about 300 instructions, more than the search itself on
/// these short texts), `memchr` finds the brace directly.
fn find_pair(template: &str, from: usize, brace: u8) -> Option<usize> {
    let bytes = template.as_bytes();
    let mut at = from;
    while let Some(i) = memchr::memchr(brace, &bytes[at..]).map(|i| at + i) {
        if bytes.get(i + 1) == Some(&brace) {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn lookup<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<&'a str> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    }

    #[test]
    fn single_braces_and_runs_of_braces_are_found_as_str_find_finds_them() {
        let x = lookup(&[("x", "X")]);
        assert_eq!(render_with("{ {{x}} }", &x), "{ X }");
        assert_eq!(render_with("{{{x}}}", &x), "{{{x}}}");
        assert_eq!(render_with("a{b{{x}}c}", &x), "a{bXc}");
        assert_eq!(render_with("{{x}", &x), "{{x}");
        assert_eq!(render_with("}}{{x}}", &x), "}}X");
        assert_eq!(render_with("{{x}} {{y}} {{x", &x), "X {{y}} {{x");
    }

    #[test]
    fn options_render_at_any_depth_and_defaults_join_when_their_variables_are_known() {
        let pairs = [("expected", "9"), (ID, "HumanEval/0")];
        let known = lookup(&pairs);
        let options = json!({
            "mode": "numeric",
            "nested": [{"of": "{{id}}!"}, 3, true, null],
            "{{ expected }}": "keys stay",
        });
        let defaults: serde_json::Map<String, Value> =
            serde_json::from_value(json!({ "expected": "{{ expected }}", "mode": "x{{ y }}" }))
                .unwrap();
        assert!(value_has_placeholder(&options));
        assert!(!value_has_placeholder(
            &json!({ "mode": "numeric", "n": [1, "a"] })
        ));
        assert_eq!(
            render_options(&options, &defaults, &known),
            json!({
                "mode": "numeric",
                "expected": "9",
                "nested": [{"of": "HumanEval/0!"}, 3, true, null],
                "{{ expected }}": "keys stay",
            })
        );
        // A default whose variable is unknown stays out.
        let none = lookup(&[]);
        assert_eq!(
            render_options(&json!({ "mode": "numeric" }), &defaults, &none),
            json!({ "mode": "numeric" })
        );
    }
}
