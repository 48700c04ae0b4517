//! `[providers.NAME]`: plugin, model, limits, retries and sampling; API key variable names;
//! a grader's `judge`, which names a provider entry.

use toml::Spanned;

use llmbench_core::Sampling;

use super::checker::{FloatRange, Validator};
use crate::de_error::{Segment, display_path};
use crate::error::ConfigErrorKind;
use crate::model::{ProviderConfig, RateLimits};
use crate::raw::RawProvider;

use ConfigErrorKind as K;

fn is_env_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Validator<'_> {
    pub(super) fn provider(&mut self, key: Spanned<String>, raw: RawProvider) -> ProviderConfig {
        self.id("provider", &key);
        let name = key.get_ref().clone();
        let at = display_path(&[Segment::Key("providers".into()), Segment::Key(name.clone())]);
        let field = |f: &str| format!("{at}.{f}");

        let plugin = self.plugin(&field("plugin"), &raw.plugin);
        let model = self.non_empty(&field("model"), &raw.model);
        let label = match &raw.label {
            Some(label) => self.non_empty(&field("label"), label),
            None => model.clone(),
        };
        let api_key_env = raw
            .api_key_env
            .as_ref()
            .map(|env| self.api_key_env(&field("api-key-env"), env));
        let concurrency = raw
            .concurrency
            .as_ref()
            .map(|c| self.int(&field("concurrency"), c, 1, 1 << 20) as usize);
        let max_tokens = raw
            .max_tokens
            .as_ref()
            .map(|m| self.int(&field("max-tokens"), m, 1, u32::MAX.into()) as u32);
        let per_minute = |this: &mut Self, name: &str, v: &Option<Spanned<i64>>| {
            v.as_ref()
                .map(|v| this.int(&field(name), v, 1, u32::MAX.into()) as u64)
        };
        let rate_limits = RateLimits {
            requests_per_minute: per_minute(self, "requests-per-minute", &raw.requests_per_minute)
                .map(|n| n as u32),
            input_tokens_per_minute: per_minute(
                self,
                "input-tokens-per-minute",
                &raw.input_tokens_per_minute,
            ),
            output_tokens_per_minute: per_minute(
                self,
                "output-tokens-per-minute",
                &raw.output_tokens_per_minute,
            ),
            adaptive: raw.adaptive_rate_limit.unwrap_or(false),
        };
        let max_retries = raw
            .max_retries
            .as_ref()
            .map_or(2, |r| self.int(&field("max-retries"), r, 0, 10) as u32);
        let sampling = Sampling {
            temperature: raw
                .temperature
                .as_ref()
                .map(|t| self.float(&field("temperature"), t, FloatRange::Between(0.0, 2.0))),
            top_p: raw
                .top_p
                .as_ref()
                .map(|p| self.float(&field("top-p"), p, FloatRange::Between(0.0, 1.0))),
            top_k: raw
                .top_k
                .as_ref()
                .map(|k| self.int(&field("top-k"), k, 1, u32::MAX.into()) as u32),
            seed: raw
                .seed
                .as_ref()
                .map(|s| self.int(&field("seed"), s, 0, i64::MAX) as u64),
            stop: raw
                .stop
                .iter()
                .flatten()
                .map(|s| {
                    if s.get_ref().is_empty() {
                        self.sink.error(
                            K::InvalidValue,
                            s.span(),
                            format!("`{}` must not contain empty strings", field("stop")),
                        );
                    }
                    s.get_ref().clone()
                })
                .collect(),
        };
        // No price in the config: the catalog's list price for the model, if it has one.
        let price = self.price_or_catalog(&field("price"), raw.price, Some(&model));
        let options = self.options(&field("options"), raw.options);
        ProviderConfig {
            name,
            plugin,
            model,
            label,
            api_key_env,
            concurrency,
            max_tokens,
            rate_limits,
            max_retries,
            sampling,
            stream: raw.stream.unwrap_or(true),
            price,
            options,
        }
    }

    /// A grader's `judge`: it must name a provider entry.
    pub(super) fn judge(&mut self, name: &str, judge: &Spanned<String>) {
        let wanted = judge.get_ref();
        if self.provider_names.contains(wanted) {
            return;
        }
        let refs: Vec<&str> = self.provider_names.iter().map(String::as_str).collect();
        let help = match crate::de_error::suggest(wanted, &refs) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "add a `[providers.{wanted}]` entry for the judge model (with `judge-only = true` to keep it out of the benchmark)"
            ),
        };
        self.sink
            .error(
                K::InvalidValue,
                judge.span(),
                format!("`{name}` names no provider: there is no `[providers.{wanted}]`"),
            )
            .help(help);
    }

    /// The name of the variable holding an API key.
    pub(super) fn api_key_env(&mut self, name: &str, env: &Spanned<String>) -> String {
        if !is_env_var_name(env.get_ref()) {
            // Never echo the value: it may be the key itself, pasted by mistake.
            self.sink
                .error(
                    K::InvalidValue,
                    env.span(),
                    format!(
                        "`{name}` must be the name of an environment variable (letters, digits and `_`, not starting with a digit)"
                    ),
                )
                .help("name the variable that holds the key, for example `api-key-env = \"ANTHROPIC_API_KEY\"`; never put the key itself in a config");
        }
        env.get_ref().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_var_names() {
        assert!(is_env_var_name("ANTHROPIC_API_KEY"));
        assert!(is_env_var_name("_x1"));
        assert!(!is_env_var_name("1X"));
        assert!(!is_env_var_name("sk-ant-api03-xyz"));
        assert!(!is_env_var_name(""));
    }
}
