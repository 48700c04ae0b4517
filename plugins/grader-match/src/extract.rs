//! The `extract` option: which part of the answer is compared.

use std::borrow::Cow;
use std::sync::LazyLock;

use regex::Regex;

use crate::number;
use crate::text::quote;

/// A way to take the compared text out of an answer.
#[derive(Debug, Clone)]
pub(crate) enum Extract {
    /// The last number (see [`crate::number`]), as written.
    LastNumber,
    /// The content of the last `\boxed{...}` (nested braces balanced).
    Boxed,
    /// The text after the last `Answer:` / `answer is` (see [`answer_line`]).
    AnswerLine,
    /// The content of the last fenced code block.
    LastCodeBlock,
    /// A capture group of the last match of a pattern.
    Regex { regex: Regex, group: usize },
}

impl Extract {
    /// How evidence names what was extracted.
    pub fn label(&self) -> Cow<'static, str> {
        match self {
            Self::LastNumber => "last number".into(),
            Self::Boxed => r"last \boxed{}".into(),
            Self::AnswerLine => "answer line".into(),
            Self::LastCodeBlock => "last code block".into(),
            Self::Regex { group, .. } => format!("extract regex group {group}").into(),
        }
    }

    /// The extracted text, or the evidence of a failing grade saying nothing was found.
    pub fn apply(&self, text: &str) -> Result<String, String> {
        let found = match self {
            Self::LastNumber => number::last_number(text).map(|n| n.text),
            Self::Boxed => boxed(text),
            Self::AnswerLine => answer_line(text),
            Self::LastCodeBlock => llmbench_outline::code_blocks(text, &[])
                .pop()
                .map(|b| b.code),
            Self::Regex { regex, group } => regex
                .captures_iter(text)
                .filter_map(|c| c.get(*group))
                .last()
                .map(|m| m.as_str().to_owned()),
        };
        found.ok_or_else(|| match self {
            Self::LastNumber => "no number found in the answer".to_owned(),
            Self::Boxed => r"no \boxed{...} in the answer".to_owned(),
            Self::AnswerLine => {
                r#"no answer line ("Answer:", "The answer is", "Final answer:") in the answer"#
                    .to_owned()
            }
            Self::LastCodeBlock => "no fenced code block in the answer".to_owned(),
            Self::Regex { regex, group } => format!(
                "extract regex /{}/ (group {group}) did not match the answer {}",
                regex.as_str(),
                quote(text)
            ),
        })
    }
}

/// The content of the last `\boxed{...}` whose braces balance.
fn boxed(text: &str) -> Option<String> {
    text.rmatch_indices(r"\boxed").find_map(|(at, tag)| {
        let rest = text[at + tag.len()..].trim_start();
        let inner = rest.strip_prefix('{')?;
        let mut depth = 1usize;
        for (i, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(inner[..i].trim().to_owned());
                    }
                }
                _ => {}
            }
        }
        None
    })
}

static ANSWER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\banswer\s*(?:\*\*|__)?\s*:|\banswer\s+is\b").expect("valid regex")
});

/// The text after the last "Answer:" / "answer is" (so also "Final answer:", "The answer
/// is"), case-insensitive, up to the end of its line; when that is empty ("Answer:" alone on
/// its line), the next non-empty line. Surrounding whitespace, Markdown emphasis (`*`, `_`),
/// a leading colon and a trailing period (outside or inside the emphasis) are stripped.
pub(crate) fn answer_line(text: &str) -> Option<String> {
    let m = ANSWER.find_iter(text).last()?;
    let trim = |s: &str| -> String {
        s.trim_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '_'))
            .to_owned()
    };
    // "The answer is: **7**." -> "7"; a period inside the emphasis ("**7.**") goes too.
    let strip = |s: &str| -> String {
        let s = trim(s);
        let s = trim(s.strip_prefix(':').unwrap_or(&s));
        let s = trim(s.strip_suffix('.').unwrap_or(&s));
        s.strip_suffix('.').map(str::to_owned).unwrap_or(s)
    };
    let mut lines = text[m.end()..].lines();
    let first = strip(lines.next().unwrap_or(""));
    if !first.is_empty() {
        return Some(first);
    }
    lines.map(strip).find(|l| !l.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_takes_the_last_balanced_box() {
        assert_eq!(boxed(r"so \boxed{42}."), Some("42".into()));
        assert_eq!(
            boxed(r"\boxed{1} then \boxed{\frac{3}{4}}"),
            Some(r"\frac{3}{4}".into())
        );
        assert_eq!(
            boxed(r"\boxed {x^{2}} and \boxed{oops"),
            Some("x^{2}".into())
        );
        assert_eq!(boxed("no box"), None);
    }

    #[test]
    fn answer_line_takes_the_last_statement() {
        assert_eq!(answer_line("Answer: 42."), Some("42".into()));
        assert_eq!(
            answer_line("First, the answer is 3.\nFinal answer: Paris."),
            Some("Paris".into())
        );
        assert_eq!(answer_line("**Answer:** B\nmore"), Some("B".into()));
        assert_eq!(answer_line("The answer is: **7**."), Some("7".into()));
        assert_eq!(
            answer_line("Final answer:\n\n  3.14.\n"),
            Some("3.14".into())
        );
        assert_eq!(answer_line("THE ANSWER IS yes"), Some("yes".into()));
        assert_eq!(answer_line("I have no idea"), None);
        assert_eq!(answer_line("Answer:"), None);
    }

    #[test]
    fn regex_takes_the_group_of_the_last_match() {
        let e = Extract::Regex {
            regex: Regex::new(r"#### (-?[0-9]+)").unwrap(),
            group: 1,
        };
        assert_eq!(e.apply("#### 3\n#### 17\n").unwrap(), "17");
        assert_eq!(
            e.apply("none").unwrap_err(),
            r#"extract regex /#### (-?[0-9]+)/ (group 1) did not match the answer "none""#
        );
    }

    #[test]
    fn last_code_block() {
        let text = "```py\nx = 1\n```\nand\n```\ny = 2\n```\n";
        assert_eq!(Extract::LastCodeBlock.apply(text).unwrap(), "y = 2");
        assert_eq!(
            Extract::LastCodeBlock.apply("plain").unwrap_err(),
            "no fenced code block in the answer"
        );
    }
}
