//! `llmbench validate`, and the plugin checks every `run` starts with: load every plugin the
//! config names and have it check its options (the plugins' `check_options`: nothing is
//! created, so no model is loaded and no connection made), and report what is wrong like
//! any config error, at `FILE:LINE:COL` of the `plugin = ...` value or of the option.

use std::ops::Range;
use std::path::{Path, PathBuf};

use llmbench_config::{Config, ConfigError, ConfigErrorKind, ConfigErrors};
use llmbench_core::PluginContext;
use llmbench_plugin_host::LoadError;
use llmbench_plugin_host::PluginKind;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::common::{EXIT_CONFIG, Failure, default_plugin_dir, load_config, print};

/// `llmbench validate CONFIG`: the config, then its plugins and their options.
pub(crate) fn run(path: &Path) -> Result<u8, Failure> {
    let config = load_config(path)?;
    check_plugins(&config, None)?;
    for warning in key_warnings(&config, |name| std::env::var(name).ok()) {
        warn(&warning);
    }
    let samples: usize = config.tasks.iter().map(|t| t.items.len()).sum::<usize>()
        * config.providers.len()
        * config.run.repeats as usize;
    print(&format!(
        "{}: ok ({} providers, {} tasks, {} samples per sweep)\n",
        config.path.display(),
        config.providers.len(),
        config.tasks.len(),
        samples
    ));
    Ok(0)
}

/// The shortest key that error messages are scrubbed of (shorter ones would corrupt the
/// text: see `llmbench_http::Redactor`).
const MIN_REDACTED_KEY_CHARS: usize = 8;

/// What `validate` says about the API keys a config names: a variable that is not set (a run
/// would refuse the provider), or a key too short to be redacted from error messages.
/// `lookup` reads a variable; the key itself is never part of a message.
fn key_warnings(config: &Config, lookup: impl Fn(&str) -> Option<String>) -> Vec<String> {
    let providers = config
        .providers
        .iter()
        .map(|p| (format!("providers.{}", p.name), p.api_key_env.as_deref()));
    let graders = config.tasks.iter().flat_map(|t| {
        t.graders.iter().map(move |g| {
            (
                format!("tasks.{}.graders `{}`", t.name, g.name),
                g.api_key_env.as_deref(),
            )
        })
    });
    let mut out = Vec::new();
    for (what, env) in providers.chain(graders) {
        let Some(env) = env else { continue };
        match lookup(env) {
            None => out.push(format!(
                "{what}: `{env}` is not set: `llmbench run` needs it (export {env}=...)"
            )),
            Some(key) if key.chars().count() < MIN_REDACTED_KEY_CHARS => out.push(format!(
                "{what}: the key in `{env}` is shorter than {MIN_REDACTED_KEY_CHARS} characters: a weak key, and one too short to be scrubbed from error messages (fine for a local server's placeholder)"
            )),
            Some(_) => {}
        }
    }
    out
}

#[expect(
    clippy::print_stderr,
    reason = "warnings go to stderr, the verdict to stdout"
)]
fn warn(text: &str) {
    eprintln!("warning: {text}");
}

/// The plugin directory a command uses: the flag, else the config's `plugin-dir`, else the
/// executable's directory.
pub(crate) fn plugin_dir(config: &Config, flag: Option<&Path>) -> PathBuf {
    flag.map(Path::to_owned)
        .or_else(|| config.run.plugin_dir.clone())
        .unwrap_or_else(default_plugin_dir)
}

/// Load every provider and grader plugin `config` names and check its options. All problems
/// are reported together, located in the config, as an invalid config (exit 2).
pub(crate) fn check_plugins(
    config: &Config,
    plugin_dir_flag: Option<&Path>,
) -> Result<(), Failure> {
    let dir = plugin_dir(config, plugin_dir_flag);
    let document = DeTable::parse(&config.source).ok();
    let locator = Locator {
        path: &config.path,
        source: &config.source,
        root: document.as_ref().map(Spanned::get_ref),
    };
    let mut errors = Vec::new();
    for p in config.providers.iter().chain(&config.judges) {
        let at = vec![Seg::Key("providers"), Seg::Key(&p.name)];
        let what = format!("provider `{}`", p.name);
        if let Err(e) = check_one(
            &p.plugin,
            PluginKind::Provider,
            &p.name,
            &p.options,
            config,
            &dir,
        ) {
            errors.push(locator.error(&at, &what, &e));
        }
    }
    for t in &config.tasks {
        for (i, g) in t.graders.iter().enumerate() {
            let at = vec![
                Seg::Key("tasks"),
                Seg::Key(&t.name),
                Seg::Key("graders"),
                Seg::Index(i),
            ];
            let what = format!("grader `{}` of task `{}`", g.name, t.name);
            if let Err(e) = check_one(
                &g.plugin,
                PluginKind::Grader,
                &g.name,
                &g.options,
                config,
                &dir,
            ) {
                errors.push(locator.error(&at, &what, &e));
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(Failure::new(
        EXIT_CONFIG,
        anyhow::anyhow!("invalid config\n{}", ConfigErrors(errors)),
    ))
}

/// Load the plugin `spec` of `kind` (the config entry `name`'s) and check `options`, with the
/// context a run creates it with (less the API key, which no check needs), so that files named
/// by options are looked for where the run would read them.
fn check_one(
    spec: &str,
    kind: PluginKind,
    name: &str,
    options: &serde_json::Value,
    config: &Config,
    dir: &Path,
) -> Result<(), LoadError> {
    let path = llmbench_plugin_host::resolve(spec, dir, &config.dir)?;
    let plugin = llmbench_plugin_host::load(&path)?;
    let context = PluginContext {
        config_dir: config.dir.clone(),
        instance_name: name.to_owned(),
        ..PluginContext::default()
    };
    plugin.check_options(kind, options, &context)
}

/// One segment of a path in the config document.
#[derive(Debug, Clone)]
enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// Finds places in the config text.
struct Locator<'a> {
    path: &'a Path,
    source: &'a str,
    root: Option<&'a DeTable<'a>>,
}

impl Locator<'_> {
    /// The error for entry `at` (`providers.NAME`, `tasks.T.graders[i]`), described as `what`.
    fn error(&self, at: &[Seg<'_>], what: &str, e: &LoadError) -> ConfigError {
        let mut plugin_value = at.to_vec();
        plugin_value.push(Seg::Key("plugin"));
        match e {
            LoadError::Options {
                path,
                message,
                help,
                ..
            } => {
                let mut option = at.to_vec();
                option.push(Seg::Key("options"));
                option.extend(path.iter().map(|p| match p.parse::<usize>() {
                    Ok(i) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                        Seg::Index(i)
                    }
                    _ => Seg::Key(p),
                }));
                let unknown = message.starts_with("unknown option");
                let kind = if unknown {
                    ConfigErrorKind::UnknownKey
                } else {
                    ConfigErrorKind::InvalidValue
                };
                let name = if path.is_empty() {
                    "options".to_owned()
                } else {
                    format!("options.{}", llmbench_plugin_host::dotted(path))
                };
                // A misspelt key is pointed at itself; any other fault at its value.
                let offset = self.offset(&option, unknown);
                self.at(
                    kind,
                    offset,
                    format!("{what}: `{name}`: {message}"),
                    help.clone(),
                )
            }
            LoadError::NotFound {
                name,
                file,
                dir,
                suggestion,
            } => {
                let help = match suggestion {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!(
                        "plugins present: {}",
                        present(&llmbench_plugin_host::plugin_names(dir))
                    ),
                };
                self.at(
                    ConfigErrorKind::InvalidValue,
                    self.offset(&plugin_value, false),
                    format!(
                        "{what}: unknown plugin `{name}` (no {file} in {})",
                        dir.display()
                    ),
                    Some(help),
                )
            }
            LoadError::Create { .. } => {
                let mut options = at.to_vec();
                options.push(Seg::Key("options"));
                self.at(
                    ConfigErrorKind::InvalidValue,
                    self.offset(&options, true),
                    format!("{what}: {e}"),
                    None,
                )
            }
            _ => self.at(
                ConfigErrorKind::InvalidValue,
                self.offset(&plugin_value, false),
                format!("{what}: {e}"),
                None,
            ),
        }
    }

    fn at(
        &self,
        kind: ConfigErrorKind,
        offset: Option<usize>,
        message: String,
        help: Option<String>,
    ) -> ConfigError {
        let (line, column) = offset.map_or((0, 0), |o| line_column(self.source, o));
        let message = if offset.is_none() {
            // A whole-file error names its file in the message.
            format!("{}: {message}", self.path.display())
        } else {
            message
        };
        ConfigError {
            path: self.path.to_owned(),
            line,
            column,
            message,
            help,
            kind,
        }
    }

    /// The byte offset of the value at `path` (or of its key, with `key`), else of the
    /// deepest part of `path` that the document has.
    fn offset(&self, path: &[Seg<'_>], key: bool) -> Option<usize> {
        let root = self.root?;
        let mut best = None;
        let mut table = Some(root);
        let mut value: Option<&Spanned<DeValue<'_>>> = None;
        for (depth, seg) in path.iter().enumerate() {
            let last = depth + 1 == path.len();
            let found = match (seg, table, value.map(Spanned::get_ref)) {
                (Seg::Key(k), Some(t), _) => t
                    .iter()
                    .find(|(name, _)| name.get_ref() == k)
                    .map(|(name, v)| (Some(name.span()), v)),
                (Seg::Index(i), _, Some(DeValue::Array(array))) => array.get(*i).map(|v| (None, v)),
                _ => None,
            };
            let Some((key_span, v)) = found else {
                break;
            };
            let span: Range<usize> = match key_span {
                Some(k) if last && key => k,
                _ => v.span(),
            };
            best = Some(span.start);
            value = Some(v);
            table = match v.get_ref() {
                DeValue::Table(t) => Some(t),
                _ => None,
            };
        }
        best
    }
}

fn present(names: &[String]) -> String {
    if names.is_empty() {
        return "none".to_owned();
    }
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// 1-based line and column (in characters) of a byte offset of `source`.
fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &source[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_short_keys_are_warned_about_without_showing_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[providers.a]\nplugin = \"provider-replay\"\nmodel = \"m\"\napi-key-env = \"KEY_A\"\n\
             [providers.b]\nplugin = \"provider-replay\"\nmodel = \"m\"\napi-key-env = \"KEY_B\"\n\
             [providers.c]\nplugin = \"provider-replay\"\nmodel = \"m\"\napi-key-env = \"KEY_C\"\n\
             [tasks.t]\nprompt = \"hi\"\n",
        )
        .unwrap();
        let config = llmbench_config::load(&path).unwrap();
        let warnings = key_warnings(&config, |name| match name {
            "KEY_B" => Some("x".to_owned()),
            "KEY_C" => Some("sk-long-enough-key".to_owned()),
            _ => None,
        });
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].starts_with("providers.a: `KEY_A` is not set"),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("providers.b: the key in `KEY_B` is shorter than 8"));
        assert!(!warnings.iter().any(|w| w.contains("sk-long")));
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_column("ab\ncdé f", 8), (2, 5));
        assert_eq!(line_column("ab", 0), (1, 1));
    }

    #[test]
    fn finds_nested_option_values_and_keys() {
        let source = "[providers.p]\nplugin = \"x\"\noptions = { base-url = \"u\", list = [1, { k = 2 }] }\n\n[[tasks.t.graders]]\nplugin = \"g\"\n[tasks.t.graders.options]\npatern = \"a\"\n";
        let doc = DeTable::parse(source).unwrap();
        let locator = Locator {
            path: Path::new("c.toml"),
            source,
            root: Some(doc.get_ref()),
        };
        let at =
            |path: &[Seg<'_>], key: bool| line_column(source, locator.offset(path, key).unwrap());
        let p = [Seg::Key("providers"), Seg::Key("p")];
        let opt = |rest: &[Seg<'static>]| {
            let mut v = p.to_vec();
            v.push(Seg::Key("options"));
            v.extend_from_slice(rest);
            v
        };
        assert_eq!(at(&opt(&[Seg::Key("base-url")]), false), (3, 24));
        assert_eq!(at(&opt(&[Seg::Key("base-url")]), true), (3, 13));
        assert_eq!(
            at(
                &opt(&[Seg::Key("list"), Seg::Index(1), Seg::Key("k")]),
                false
            ),
            (3, 46)
        );
        // Missing below `options`: the options table itself.
        assert_eq!(at(&opt(&[Seg::Key("nothing")]), true), (3, 11));
        let g = [
            Seg::Key("tasks"),
            Seg::Key("t"),
            Seg::Key("graders"),
            Seg::Index(0),
            Seg::Key("options"),
            Seg::Key("patern"),
        ];
        assert_eq!(at(&g, true), (8, 1));
    }
}
