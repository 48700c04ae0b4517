//! `[tasks.NAME]`: the prompt and system templates, token limits, and the task's items,
//! graders and verdict (each checked in its own file).

use toml::Spanned;

use super::checker::Validator;
use super::items::ItemKeys;
use super::templates::TemplateSource;
use crate::de_error::{Segment, display_path};
use crate::error::{ConfigErrorKind, line_column};
use crate::files::Limit;
use crate::item_table::{Items, Places};
use crate::items::{Located, Origins};
use crate::model::TaskConfig;
use crate::raw::RawTask;

use ConfigErrorKind as K;

impl Validator<'_> {
    pub(super) fn task(&mut self, key: Spanned<String>, raw: RawTask) -> TaskConfig {
        self.id("task", &key);
        let name = key.get_ref().clone();
        let at = display_path(&[Segment::Key("tasks".into()), Segment::Key(name.clone())]);
        let field = |f: &str| format!("{at}.{f}");

        let prompt = match (&raw.prompt, &raw.prompt_file) {
            (Some(_), Some(file)) => {
                self.sink
                    .error(
                        K::Conflict,
                        file.span(),
                        format!("`{at}` has both `prompt` and `prompt-file`"),
                    )
                    .help("keep one of them");
                None
            }
            (Some(prompt), None) => Some(TemplateSource::Config {
                text: prompt.get_ref().clone(),
                span: prompt.span(),
            }),
            (None, Some(file)) => {
                self.non_empty(&field("prompt-file"), file);
                self.read(file, Limit::PROMPT)
                    .map(|(path, text)| TemplateSource::File { text, path })
            }
            (None, None) => {
                self.sink
                    .error(
                        K::MissingKey,
                        key.span(),
                        format!("missing key `prompt` in `{at}`"),
                    )
                    .help("set `prompt` to a template, or `prompt-file` to a file holding one");
                None
            }
        };
        let system = raw.system.as_ref().map(|s| TemplateSource::Config {
            text: s.get_ref().clone(),
            span: s.span(),
        });
        let max_tokens = raw.max_tokens.as_ref().map_or(1024, |m| {
            self.int(&field("max-tokens"), m, 1, u32::MAX.into()) as u32
        });
        let expected_output_tokens = raw.expected_output_tokens.as_ref().map_or(max_tokens, |m| {
            self.int(&field("expected-output-tokens"), m, 1, u32::MAX.into()) as u32
        });

        let keys = ItemKeys {
            inline: raw.items,
            file: raw.items_file,
            dataset: raw.dataset,
            id_field: raw.id_field,
            fields: raw.fields,
            limit: raw.limit,
            sample: raw.sample,
            seed: raw.seed,
        };
        // Templates are checked against every item, kept by `limit` or `sample` or not: a
        // config that works for one seed works for all.
        let (items, selected) = self.items(&at, &key, keys);
        if let Some(system) = &system {
            self.check_template(&field("system"), system, &items);
        }
        if let Some(prompt) = &prompt {
            let where_ = match prompt {
                TemplateSource::Config { .. } => field("prompt"),
                TemplateSource::File { .. } => field("prompt-file"),
            };
            self.check_template(&where_, prompt, &items);
        }

        let graders = self.graders(&at, &name, raw.graders, &items);
        let verdict = self.verdict(&at, raw.verdict, &graders);
        let task_place = {
            let (line, column) = line_column(self.sink.source, key.span().start);
            format!("{}:{line}:{column}", self.sink.path.display())
        };
        // The items the task runs, and where each was defined (moved, not copied, when it
        // runs them all).
        let Located { table, origins } = items;
        let places = match (origins, &selected) {
            (Origins::File { path, lines }, None) => Places::File {
                path: path.display().to_string(),
                lines,
            },
            (Origins::File { path, lines }, Some(selected)) => Places::File {
                path: path.display().to_string(),
                lines: selected.iter().map(|&i| lines[i]).collect(),
            },
            (origins, selected) => {
                let describe = |i: usize| {
                    origins
                        .get(i)
                        .describe(self.sink.path, self.sink.source)
                        .unwrap_or_else(|| task_place.clone())
                };
                Places::Listed(match selected {
                    Some(selected) => selected.iter().map(|&i| describe(i)).collect(),
                    None => (0..table.len()).map(describe).collect(),
                })
            }
        };
        let table = match &selected {
            None => table,
            Some(selected) => table.select(selected),
        };
        let items = Items::new(table, places);
        TaskConfig {
            name,
            description: raw.description,
            system: system.map(|s| s.text().to_owned()),
            prompt: prompt.map(|p| p.text().to_owned()).unwrap_or_default(),
            max_tokens,
            expected_output_tokens,
            items,
            graders,
            verdict,
        }
    }
}
