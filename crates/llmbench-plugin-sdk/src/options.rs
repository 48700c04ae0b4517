//! Plugin options: parse them with the path of the failing field, and report a bad option in
//! a form the host can point at in the config file (`FILE:LINE:COL` of the option).

use std::fmt;

/// A plugin option that is missing, misspelt or invalid.
///
/// `path` leads from the plugin's `options` table to the value at fault (`["pattern"]`,
/// `["sections", "2", "name"]`: array positions as decimal text); empty when the fault is the
/// table as a whole (a missing key). The host maps it to the option's place in the config.
/// `message` says what is wrong, lowercase, without the path; `help` is an optional hint
/// ("did you mean `pattern`?").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OptionsError {
    pub path: Vec<String>,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub help: Option<String>,
}

impl OptionsError {
    /// An error about the value at `path` (keys from the options table down).
    pub fn new<S: Into<String>>(
        path: impl IntoIterator<Item = S>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            path: path.into_iter().map(Into::into).collect(),
            message: message.into(),
            help: None,
        }
    }

    /// An error about the value of the top-level option `key`.
    pub fn at(key: &str, message: impl Into<String>) -> Self {
        Self::new([key], message)
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `sections[2].name`, or empty for the table itself.
    pub fn dotted_path(&self) -> String {
        let mut out = String::new();
        for part in &self.path {
            if part.bytes().all(|b| b.is_ascii_digit()) && !part.is_empty() {
                out.push_str(&format!("[{part}]"));
            } else {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(part);
            }
        }
        out
    }
}

impl fmt::Display for OptionsError {
    /// `option `pattern`: invalid regex ...; did you mean ...?` (one line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "option `{}`: {}", self.dotted_path(), self.message)?;
        }
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for OptionsError {}

/// So that `create` (which returns a plain message) can use `parse_options(..)?`.
impl From<OptionsError> for String {
    fn from(e: OptionsError) -> Self {
        e.to_string()
    }
}

/// Deserialize a plugin's options struct from its JSON options, naming the failing field.
///
/// A `null` (no `options` in the config) is read as an empty table. For serde's "unknown
/// field `patern`, expected one of `pattern`, ..." the error carries the misspelt key in its
/// path and suggests the closest valid one; likewise for an unknown variant of an enum value.
pub fn parse_options<T: serde::de::DeserializeOwned>(
    options: &serde_json::Value,
) -> Result<T, OptionsError> {
    let empty = serde_json::Value::Object(serde_json::Map::new());
    let options = if options.is_null() { &empty } else { options };
    serde_path_to_error::deserialize(options).map_err(|e| {
        let mut path: Vec<String> = e
            .path()
            .iter()
            .filter_map(|segment| match segment {
                serde_path_to_error::Segment::Seq { index } => Some(index.to_string()),
                serde_path_to_error::Segment::Map { key } => Some(key.clone()),
                serde_path_to_error::Segment::Enum { variant } => Some(variant.clone()),
                serde_path_to_error::Segment::Unknown => None,
            })
            .collect();
        let message = e.inner().to_string();
        let message = strip_position(&message);
        let mut error = OptionsError {
            path: Vec::new(),
            message: message.to_owned(),
            help: None,
        };
        for prefix in ["unknown field ", "unknown variant "] {
            if let Some(rest) = message.strip_prefix(prefix) {
                let (word, choices) = split_expected(rest);
                // serde_path_to_error records the key of an unknown field already; make sure
                // the misspelt word is what the path points at.
                if prefix == "unknown field " && path.last() != Some(&word) {
                    path.push(word.clone());
                }
                let noun = if prefix == "unknown field " {
                    "unknown option"
                } else {
                    "unknown value"
                };
                error.message = format!("{noun} `{word}`");
                let refs: Vec<&str> = choices.iter().map(String::as_str).collect();
                error.help = match suggest(&word, &refs) {
                    Some(best) => Some(format!("did you mean `{best}`?")),
                    None if !refs.is_empty() => {
                        Some(format!("expected one of {}", backticked(&refs)))
                    }
                    None => None,
                };
            }
        }
        error.path = path;
        error
    })
}

/// serde_json appends " at line 1 column 2" to errors from text; values have none, but be
/// safe.
fn strip_position(message: &str) -> &str {
    match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => &message[..i],
        _ => message,
    }
}

/// Splits "`x`, expected one of `a`, `b`" into `x` and [`a`, `b`].
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (head, tail) = rest.split_once(", expected ").unwrap_or((rest, ""));
    let word = head.trim().trim_matches('`').to_owned();
    let choices = tail
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect();
    (word, choices)
}

fn backticked(words: &[&str]) -> String {
    words
        .iter()
        .map(|w| format!("`{w}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The candidate closest to `word`, if it is close enough to be a likely typo. Case and
/// `_`/`-` differences count as exact. (The same rule as the config crate's key suggestions;
/// plugins cannot depend on that crate.)
pub fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let normalize = |s: &str| s.to_lowercase().replace('_', "-");
    let word = normalize(word);
    if let Some(exact) = candidates.iter().find(|c| normalize(c) == word) {
        return Some(exact);
    }
    candidates
        .iter()
        .map(|c| (c, strsim::jaro_winkler(&word, &normalize(c))))
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| *c)
}

/// Check that `file`, named by the option at `path`, is there and is a regular file, from its
/// metadata only (nothing is opened or read: `check_options` stays quick, and a FIFO cannot
/// block it). Resolve a relative name first ([`PluginContext::resolve`]).
///
/// The error is about the option's value, so the host reports it at that value in the config:
/// `option `answers`: no file at replay/a.jsonl`.
///
/// ```
/// use llmbench_plugin_sdk::check_option_file;
///
/// let dir = std::env::temp_dir();
/// let e = check_option_file(["answers"], &dir.join("no-such-file.jsonl")).unwrap_err();
/// assert_eq!(e.path, ["answers"]);
/// assert!(e.message.starts_with("no file at "), "{}", e.message);
/// let e = check_option_file(["extra-files", "0"], &dir).unwrap_err();
/// assert!(e.message.ends_with("is a directory, not a file"), "{}", e.message);
/// ```
///
/// [`PluginContext::resolve`]: llmbench_core::PluginContext::resolve
pub fn check_option_file<S: Into<String>>(
    path: impl IntoIterator<Item = S>,
    file: &std::path::Path,
) -> Result<(), OptionsError> {
    // A resumed run's plugin reads the copy its run stored, whatever is on disk now.
    if crate::files::has_stored_copy(file) {
        return Ok(());
    }
    let shown = file.display();
    // `metadata` follows symlinks: a link to a regular file is fine.
    let message = match std::fs::metadata(file) {
        Ok(meta) if meta.is_file() => return Ok(()),
        Ok(meta) if meta.is_dir() => format!("{shown} is a directory, not a file"),
        Ok(_) => format!("{shown} is not a regular file (a device, pipe or socket)"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => format!("no file at {shown}"),
        Err(e) => format!("cannot read {shown}: {e}"),
    };
    Err(OptionsError::new(path, message))
}

/// How a create error crosses the boundary: an [`OptionsError`] is sent as this JSON object,
/// any other reason as plain text. The host decodes the same shape.
#[derive(serde::Serialize)]
pub(crate) struct WireOptionsError<'a> {
    #[serde(rename = "llmbench-options-error")]
    pub error: &'a OptionsError,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields, rename_all = "kebab-case")]
    #[expect(dead_code, reason = "only parsed")]
    struct Options {
        pattern: String,
        #[serde(default)]
        case_insensitive: bool,
        #[serde(default)]
        sections: Vec<Section>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[expect(dead_code, reason = "only parsed")]
    struct Section {
        name: String,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "kebab-case")]
    enum Mode {
        Equals,
        StartsWith,
    }

    #[test]
    fn a_misspelt_key_is_named_with_a_suggestion() {
        let e = parse_options::<Options>(&json!({ "patern": "x" })).unwrap_err();
        assert_eq!(e.path, ["patern"]);
        assert_eq!(e.message, "unknown option `patern`");
        assert_eq!(e.help.as_deref(), Some("did you mean `pattern`?"));
        assert_eq!(
            e.to_string(),
            "option `patern`: unknown option `patern` (did you mean `pattern`?)"
        );
    }

    #[test]
    fn a_far_key_lists_the_choices() {
        let e = parse_options::<Options>(&json!({ "pattern": "x", "banana": 1 })).unwrap_err();
        assert_eq!(e.path, ["banana"]);
        assert_eq!(
            e.help.as_deref(),
            Some("expected one of `pattern`, `case-insensitive`, `sections`, `mode`")
        );
    }

    #[test]
    fn nested_values_have_their_path() {
        let e = parse_options::<Options>(
            &json!({ "pattern": "x", "sections": [{ "name": "a" }, { "name": 3 }] }),
        )
        .unwrap_err();
        assert_eq!(e.path, ["sections", "1", "name"]);
        assert_eq!(e.dotted_path(), "sections[1].name");
        assert!(
            e.message.starts_with("invalid type: integer `3`"),
            "{}",
            e.message
        );
        let e = parse_options::<Options>(&json!({ "pattern": "x", "sections": [{ "nme": "a" }] }))
            .unwrap_err();
        assert_eq!(e.path, ["sections", "0", "nme"]);
        assert_eq!(e.help.as_deref(), Some("did you mean `name`?"));
    }

    #[test]
    fn an_unknown_variant_suggests_one() {
        let e = parse_options::<Options>(&json!({ "pattern": "x", "mode": "starts_with " }))
            .unwrap_err();
        assert_eq!(e.path, ["mode"]);
        assert_eq!(e.message, "unknown value `starts_with `");
        assert_eq!(e.help.as_deref(), Some("did you mean `starts-with`?"));
    }

    #[test]
    fn a_missing_key_points_at_the_table_and_null_is_empty() {
        let e = parse_options::<Options>(&serde_json::Value::Null).unwrap_err();
        assert!(e.path.is_empty());
        assert_eq!(e.message, "missing field `pattern`");
        assert_eq!(e.to_string(), "missing field `pattern`");
        let e = parse_options::<Options>(&json!({ "pattern": 1 })).unwrap_err();
        assert_eq!(e.path, ["pattern"]);
        assert_eq!(
            String::from(e),
            "option `pattern`: invalid type: integer `1`, expected a string"
        );
    }
}
