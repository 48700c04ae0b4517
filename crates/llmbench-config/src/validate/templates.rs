//! Templates (prompts, system prompts, strings in grader options): their syntax, and that
//! every item sets the variables they use, each error at the template's text.

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::checker::Validator;
use crate::de_error::{Segment, backticked, display_path};
use crate::error::{ConfigError, ConfigErrorKind};
use crate::items::{Located, Origin};
use crate::template;

use ConfigErrorKind as K;

/// A prompt template and where its text lives.
#[derive(Debug)]
pub(super) enum TemplateSource {
    /// A string value in the config.
    Config { text: String, span: Range<usize> },
    /// A file named by `prompt-file`.
    File { text: String, path: PathBuf },
}

impl TemplateSource {
    pub(super) fn text(&self) -> &str {
        match self {
            Self::Config { text, .. } | Self::File { text, .. } => text,
        }
    }
}

/// Every string in `value` that holds `{{`, with its key path.
fn templated_strings(
    value: &serde_json::Value,
    path: &mut Vec<Segment>,
    out: &mut Vec<(Vec<Segment>, String)>,
) {
    match value {
        serde_json::Value::String(s) if llmbench_core::template::has_placeholder(s) => {
            out.push((path.clone(), s.clone()))
        }
        serde_json::Value::Array(values) => {
            for (i, v) in values.iter().enumerate() {
                path.push(Segment::Index(i));
                templated_strings(v, path, out);
                path.pop();
            }
        }
        serde_json::Value::Object(object) => {
            for (k, v) in object {
                path.push(Segment::Key(k.clone()));
                templated_strings(v, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

impl Validator<'_> {
    /// An error at a byte offset of a template.
    fn template_error(
        &self,
        template: &TemplateSource,
        offset: usize,
        kind: ConfigErrorKind,
        message: String,
    ) -> ConfigError {
        match template {
            TemplateSource::File { text, path } => {
                ConfigError::at(kind, path, text, offset, message)
            }
            TemplateSource::Config { text, span } => {
                // The value's text may differ from its source (quotes, escapes): find the
                // same `{{` in the source by counting the ones before it.
                let nth = text[..offset].matches("{{").count();
                let raw = &self.sink.source[span.clone()];
                let at = raw
                    .match_indices("{{")
                    .nth(nth)
                    .map_or(span.start, |(i, _)| span.start + i);
                ConfigError::at(kind, self.sink.path, self.sink.source, at, message)
            }
        }
    }

    /// Checks a template's syntax and that every item sets its variables; returns whether it
    /// has any (well-formed) placeholder.
    pub(super) fn check_template(
        &mut self,
        where_: &str,
        template: &TemplateSource,
        items: &Located,
    ) -> bool {
        let placeholders = match template::placeholders(template.text()) {
            Ok(placeholders) => placeholders,
            Err(e) => {
                let error = self
                    .template_error(
                        template,
                        e.offset,
                        K::Template,
                        format!("{} in `{where_}`", e.message),
                    )
                    .with_help(e.help);
                self.sink.push(error);
                return false;
            }
        };
        let mut checked: Vec<&str> = Vec::new();
        for placeholder in &placeholders {
            let name = placeholder.name.as_str();
            // Every item has an id.
            if checked.contains(&name) || name == template::ID {
                continue;
            }
            checked.push(name);
            let index = items.table.name_index(name);
            let mut missing = (0..items.len()).filter(|&i| {
                index.is_none_or(|n| items.table.with_record(i, |r| r.var_at(n).is_none()))
            });
            let Some(first) = missing.next() else {
                continue;
            };
            let others = missing.count();
            let id = items.table.id(first);
            let origin = items.origin(first);
            let place = origin
                .describe(self.sink.path, self.sink.source)
                .map_or(String::new(), |p| format!(" (at {p})"));
            let more = match others {
                0 => String::new(),
                1 => ", nor by 1 other item".to_owned(),
                n => format!(", nor by {n} other items"),
            };
            let names: Vec<String> = items
                .table
                .with_record(first, |r| r.vars().map(|(k, _)| k.to_owned()).collect());
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            let help = match &origin {
                Origin::Default => {
                    "the task has no items, so nothing sets it: add `items` or `items-file`"
                        .to_owned()
                }
                _ if names.is_empty() => format!("item `{id}` has no variables"),
                _ => format!("item `{id}` has variables {}", backticked(&names)),
            };
            let error = self
                .template_error(
                    template,
                    placeholder.span.start,
                    K::Template,
                    format!(
                        "template variable `{name}` in `{where_}` is not set by item `{id}`{place}{more}"
                    ),
                )
                .with_help(help);
            self.sink.push(error);
        }
        !placeholders.is_empty()
    }

    /// Checks the templates in a grader's options (every string holding `{{`) as prompts
    /// are checked, each error at its string; returns whether any uses a variable.
    pub(super) fn check_option_templates(
        &mut self,
        where_: &str,
        task: &str,
        index: usize,
        options: &serde_json::Value,
        table_span: Range<usize>,
        items: &Located,
    ) -> bool {
        let mut strings = Vec::new();
        templated_strings(options, &mut Vec::new(), &mut strings);
        let mut uses = false;
        for (path, text) in strings {
            let span = self
                .option_span(task, index, &path)
                .unwrap_or_else(|| table_span.clone());
            let template = TemplateSource::Config { text, span };
            let where_ = format!("{where_}.{}", display_path(&path));
            uses |= self.check_template(&where_, &template, items);
        }
        uses
    }

    /// The span of the value at `path` in the options of grader `index` of task `task`.
    fn option_span(&mut self, task: &str, index: usize, path: &[Segment]) -> Option<Range<usize>> {
        let source = self.sink.source;
        let document = self
            .document
            .get_or_insert_with(|| DeTable::parse(source).ok())
            .as_ref()?;
        let mut value: &Spanned<DeValue<'_>> = document.get_ref().get("tasks")?;
        value = value.get_ref().get(task)?;
        value = value.get_ref().get("graders")?;
        value = value.get_ref().get(index)?;
        value = value.get_ref().get("options")?;
        for segment in path {
            value = match segment {
                Segment::Key(key) => value.get_ref().get(key.as_str())?,
                Segment::Index(i) => value.get_ref().get(*i)?,
            };
        }
        Some(value.span())
    }
}
