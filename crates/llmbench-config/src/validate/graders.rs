//! A task's `[[graders]]` (names, weights, options, judge, price) and its `verdict` rule.

use std::path::Path;

use llmbench_core::VerdictRule;
use toml::Spanned;

use super::checker::{FloatRange, ID_RULE, Validator, is_id, is_plugin_path};
use crate::error::ConfigErrorKind;
use crate::items::Located;
use crate::model::GraderConfig;
use crate::raw::{RawGrader, RawRule, RawVerdict};

use ConfigErrorKind as K;

/// A grader's default name: its plugin name, or for a path the library's file name without
/// `lib` and the extension.
fn default_grader_name(plugin: &str) -> String {
    if !is_plugin_path(plugin) {
        return plugin.to_owned();
    }
    let stem = Path::new(plugin)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.strip_prefix("lib").map(str::to_owned).unwrap_or(stem)
}

impl Validator<'_> {
    pub(super) fn graders(
        &mut self,
        at: &str,
        task: &str,
        raw: Vec<RawGrader>,
        items: &Located,
    ) -> Vec<GraderConfig> {
        let mut graders: Vec<GraderConfig> = Vec::with_capacity(raw.len());
        for (index, grader) in raw.into_iter().enumerate() {
            let gat = format!("{at}.graders[{index}]");
            let field = |f: &str| format!("{gat}.{f}");
            let plugin = self.plugin(&field("plugin"), &grader.plugin);
            let (name, name_span) = match &grader.name {
                Some(name) => {
                    self.id("grader", name);
                    (name.get_ref().clone(), name.span())
                }
                None => {
                    let name = default_grader_name(&plugin);
                    if !plugin.trim().is_empty() && !is_id(&name) {
                        self.sink
                            .error(
                                K::InvalidValue,
                                grader.plugin.span(),
                                format!("cannot name grader `{gat}` after its plugin {plugin:?}"),
                            )
                            .help(format!("set `name` ({ID_RULE})"));
                    }
                    (name, grader.plugin.span())
                }
            };
            if graders.iter().any(|g| g.name == name) {
                self.sink
                    .error(
                        K::Duplicate,
                        name_span,
                        format!("duplicate grader name `{name}` in task `{task}`"),
                    )
                    .help("give each grader of a task its own `name`");
            }
            let weight = grader.weight.as_ref().map_or(1.0, |w| {
                self.float(&field("weight"), w, FloatRange::AtLeast(0.0))
            });
            let api_key_env = grader
                .api_key_env
                .as_ref()
                .map(|env| self.api_key_env(&field("api-key-env"), env));
            let table_span = grader.options.as_ref().map_or(0..0, Spanned::span);
            let options = self.options(&field("options"), grader.options);
            let uses_item_vars = self.check_option_templates(
                &field("options"),
                task,
                index,
                &options,
                table_span,
                items,
            );
            let judge = grader.judge.as_ref().map(|judge| {
                self.judge(&field("judge"), judge);
                judge.get_ref().clone()
            });
            let price = match (&judge, grader.price) {
                (Some(judge), Some(price)) => {
                    self.sink
                        .error(
                            K::Conflict,
                            price.span(),
                            format!("`{}` does not go with `judge`", field("price")),
                        )
                        .help(format!(
                            "the judge's requests are priced with `providers.{judge}.price`; remove this `price`"
                        ));
                    None
                }
                (Some(_), None) => None,
                // A grader that calls a model by itself names it in `options.model`.
                (None, price) => {
                    let model = options.get("model").and_then(serde_json::Value::as_str);
                    self.price_or_catalog(&field("price"), price, model)
                }
            };
            graders.push(GraderConfig {
                name,
                plugin,
                weight,
                advisory: grader.advisory.unwrap_or(false),
                judge,
                api_key_env,
                price,
                options,
                uses_item_vars,
            });
        }
        graders
    }

    pub(super) fn verdict(
        &mut self,
        at: &str,
        raw: Option<RawVerdict>,
        graders: &[GraderConfig],
    ) -> VerdictRule {
        let Some(raw) = raw else {
            return VerdictRule::AllPass;
        };
        let vat = format!("{at}.verdict");
        match (*raw.rule.get_ref(), &raw.threshold) {
            (RawRule::AllPass, None) => VerdictRule::AllPass,
            (RawRule::AllPass, Some(threshold)) => {
                self.sink
                    .error(
                        K::Conflict,
                        threshold.span(),
                        format!("`{vat}.threshold` applies only to the `weighted` rule"),
                    )
                    .help("remove `threshold`, or set `rule = \"weighted\"`");
                VerdictRule::AllPass
            }
            (RawRule::Weighted, threshold) => {
                let threshold = match threshold {
                    Some(t) => self.float(
                        &format!("{vat}.threshold"),
                        t,
                        FloatRange::Between(0.0, 1.0),
                    ),
                    None => {
                        self.sink
                            .error(
                                K::MissingKey,
                                raw.rule.span(),
                                format!("missing key `threshold` in `{vat}`: the `weighted` rule needs one"),
                            )
                            .help("add `threshold = 0.7` (the weighted mean score to reach, 0 to 1)");
                        0.0
                    }
                };
                if !graders.iter().any(|g| g.weight > 0.0) {
                    self.sink.error(
                        K::InvalidValue,
                        raw.rule.span(),
                        format!(
                            "the `weighted` rule of `{vat}` needs a grader with a weight above 0"
                        ),
                    );
                }
                VerdictRule::Weighted {
                    weights: graders.iter().map(|g| g.weight).collect(),
                    threshold,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grader_names_default_to_the_plugin() {
        assert_eq!(default_grader_name("grader-regex"), "grader-regex");
        assert_eq!(
            default_grader_name("../target/debug/libgrader_regex.so"),
            "grader_regex"
        );
    }
}
