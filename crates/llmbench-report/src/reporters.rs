//! Which reporter a report format name means (`llmbench report --format NAME`): the built-in
//! console and HTML reporters, the shipped Markdown plugin, or any reporter plugin, by name
//! (looked up in the plugin directory) or by the path of its library.
//!
//! One choice for every name: [`choose`]. Pure: the caller lists the plugin directory and
//! loads the plugin; this module only names things and words the error for a name that is
//! not a reporter ([`UnknownFormat`]).

use std::fmt;
use std::path::PathBuf;

/// The format names that always exist, in the order they are listed, with what each renders.
pub const BUILT_IN: [(&str, &str); 3] = [
    (
        "console",
        "the results table and failures, for a terminal (built in)",
    ),
    (
        "markdown",
        "the article: table, evidence, comparisons, winner (the shipped `reporter-markdown` plugin)",
    ),
    (
        "html",
        "one self-contained page with charts, failing samples first, at most 200 in full (built in)",
    ),
];

/// The plugin that format `markdown` loads.
pub const MARKDOWN_PLUGIN: &str = "reporter-markdown";

/// The reporter a format name chooses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReporterChoice<'a> {
    /// [`crate::ConsoleReporter`], in process.
    Console,
    /// [`crate::html::HtmlReporter`], in process.
    Html,
    /// A reporter plugin: a plugin name to look up in the plugin directory, or a path to a
    /// plugin library (a value with a path separator or the platform's library suffix).
    Plugin(&'a str),
}

/// The reporter `format` names: `console` and `html` are built in, `markdown` is the shipped
/// [`MARKDOWN_PLUGIN`], and anything else is a reporter plugin's name or path.
pub fn choose(format: &str) -> ReporterChoice<'_> {
    match format {
        "console" => ReporterChoice::Console,
        "html" => ReporterChoice::Html,
        "markdown" => ReporterChoice::Plugin(MARKDOWN_PLUGIN),
        other => ReporterChoice::Plugin(other),
    }
}

/// A format name that names no reporter: neither built in nor a reporter plugin in the
/// plugin directory.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct UnknownFormat {
    pub name: String,
    /// Set when a plugin of that name exists but is another kind: (its kind, its library).
    pub other_kind: Option<(String, PathBuf)>,
    /// The directory searched for plugins.
    pub plugin_dir: PathBuf,
    /// The reporter plugins found there, by name.
    pub plugins: Vec<String>,
    /// The known format closest to `name`, when it looks like a typo of it.
    pub suggestion: Option<String>,
}

impl UnknownFormat {
    /// The error for `name`, with the reporter plugins found in `plugin_dir` and a
    /// suggestion among those and the built-in names.
    pub fn new(
        name: &str,
        other_kind: Option<(String, PathBuf)>,
        plugin_dir: PathBuf,
        mut plugins: Vec<String>,
    ) -> Self {
        plugins.sort();
        plugins.dedup();
        let suggestion = suggest(name, &plugins);
        Self {
            name: name.to_owned(),
            other_kind,
            plugin_dir,
            plugins,
            suggestion,
        }
    }
}

impl fmt::Display for UnknownFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.other_kind {
            Some((kind, path)) => write!(
                f,
                "`{}` is not a report format: {} is a {kind} plugin, not a reporter",
                self.name,
                path.display()
            )?,
            None => write!(f, "unknown report format `{}`", self.name)?,
        }
        if let Some(s) = &self.suggestion {
            write!(f, "; did you mean `{s}`?")?;
        }
        let built_in: Vec<&str> = BUILT_IN.iter().map(|(n, _)| *n).collect();
        write!(f, "\nbuilt-in formats: {}", built_in.join(", "))?;
        if self.plugins.is_empty() {
            write!(
                f,
                "\nno reporter plugins in {} (a format may also be a reporter plugin's name or the path of its library)",
                self.plugin_dir.display()
            )
        } else {
            write!(
                f,
                "\nreporter plugins in {}: {}",
                self.plugin_dir.display(),
                self.plugins.join(", ")
            )
        }
    }
}

/// The built-in format or reporter plugin closest to `name`, when close enough to be a typo
/// (normalized edit distance, as the plugin host suggests plugin names); a plugin also
/// matches by its name without the `reporter-` prefix (`testkit` -> `reporter-testkit`).
fn suggest(name: &str, plugins: &[String]) -> Option<String> {
    let word = name.trim().to_lowercase().replace('_', "-");
    let candidates = BUILT_IN
        .iter()
        .map(|(n, _)| *n)
        .chain(plugins.iter().map(String::as_str));
    let mut best: Option<(&str, f64)> = None;
    for candidate in candidates {
        let short = candidate.strip_prefix("reporter-").unwrap_or(candidate);
        let score = strsim::normalized_damerau_levenshtein(&word, candidate)
            .max(strsim::normalized_damerau_levenshtein(&word, short));
        if score >= 0.75 && best.is_none_or(|(_, b)| score > b) {
            best = Some((candidate, score));
        }
    }
    best.filter(|(c, _)| *c != word).map(|(c, _)| c.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_choose_built_ins_the_shipped_plugin_or_any_plugin() {
        assert_eq!(choose("console"), ReporterChoice::Console);
        assert_eq!(choose("html"), ReporterChoice::Html);
        assert_eq!(
            choose("markdown"),
            ReporterChoice::Plugin("reporter-markdown")
        );
        assert_eq!(
            choose("reporter-mine"),
            ReporterChoice::Plugin("reporter-mine")
        );
        assert_eq!(
            choose("./target/libreporter_mine.so"),
            ReporterChoice::Plugin("./target/libreporter_mine.so")
        );
        for (name, _) in BUILT_IN {
            assert_ne!(choose(name), ReporterChoice::Plugin(name), "{name}");
        }
    }

    #[test]
    fn an_unknown_name_lists_the_formats_and_suggests_one() {
        let plugins = vec![
            "reporter-testkit".to_owned(),
            "reporter-markdown".to_owned(),
        ];
        let e = UnknownFormat::new("markdwn", None, PathBuf::from("/p"), plugins.clone());
        assert_eq!(
            e.to_string(),
            "unknown report format `markdwn`; did you mean `markdown`?\n\
             built-in formats: console, markdown, html\n\
             reporter plugins in /p: reporter-markdown, reporter-testkit"
        );
        let e = UnknownFormat::new(
            "reporter-testkt",
            None,
            PathBuf::from("/p"),
            plugins.clone(),
        );
        assert_eq!(e.suggestion.as_deref(), Some("reporter-testkit"));
        let e = UnknownFormat::new("testkit", None, PathBuf::from("/p"), plugins.clone());
        assert_eq!(e.suggestion.as_deref(), Some("reporter-testkit"));
        let e = UnknownFormat::new("pdf", None, PathBuf::from("/p"), plugins);
        assert_eq!(e.suggestion, None);
        assert!(
            e.to_string().starts_with("unknown report format `pdf`\n"),
            "{e}"
        );
    }

    #[test]
    fn a_plugin_of_another_kind_is_named_with_its_file() {
        let e = UnknownFormat::new(
            "provider-replay",
            Some(("provider".into(), PathBuf::from("/p/libprovider_replay.so"))),
            PathBuf::from("/p"),
            Vec::new(),
        );
        let text = e.to_string();
        assert!(
            text.starts_with(
                "`provider-replay` is not a report format: /p/libprovider_replay.so is a provider plugin, not a reporter\n"
            ),
            "{text}"
        );
        assert!(text.ends_with("no reporter plugins in /p (a format may also be a reporter plugin's name or the path of its library)"), "{text}");
    }
}
