//! Text normalisation (trim, case, SQuAD's `normalize_answer`), SQuAD token F1, and the short
//! quoted excerpts that evidence shows.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::LazyLock;

use regex::Regex;

/// Characters `trim` strips from both ends, besides whitespace: sentence punctuation, quotes
/// and Markdown emphasis. Brackets and signs are kept (`(B)`, `-3`, `C++` keep their meaning).
const TRIMMED: &[char] = &[
    '.', ',', ';', ':', '!', '?', '"', '\'', '`', '*', '_', '“', '”', '‘', '’', '«', '»', '…',
    '。', '，',
];

/// How `equals`, `contains` and `starts-with` (and `regex`, for the answer) prepare text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Normalization {
    pub trim: bool,
    pub case_insensitive: bool,
    pub squad: bool,
}

impl Normalization {
    /// `text` normalised; borrowed when only trimmed (the default: no copy per grade).
    pub fn apply<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut s = Cow::Borrowed(match self.trim {
            true => trim_punctuation(text),
            false => text,
        });
        if self.case_insensitive {
            s = Cow::Owned(s.to_lowercase());
        }
        if self.squad {
            s = Cow::Owned(normalize_answer(&s));
        }
        s
    }

    /// ", case-insensitive" and the like, for evidence; empty when only trimming.
    pub fn describe(&self) -> &'static str {
        match (self.squad, self.case_insensitive) {
            (true, _) => ", SQuAD-normalised",
            (false, true) => ", case-insensitive",
            (false, false) => "",
        }
    }
}

/// Strips surrounding whitespace and [`TRIMMED`] punctuation.
pub(crate) fn trim_punctuation(text: &str) -> &str {
    // A letter or digit ends the trimming at once (the usual first and last characters),
    // before the list is searched.
    text.trim_matches(|c: char| {
        !c.is_ascii_alphanumeric() && (c.is_whitespace() || TRIMMED.contains(&c))
    })
}

static ARTICLES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\b(a|an|the)\b").expect("valid regex"));

/// SQuAD v1.1's `normalize_answer` (the official `evaluate-v1.1.py`): lower case, remove
/// ASCII punctuation (Python's `string.punctuation`), replace the articles a/an/the with a
/// space, collapse whitespace.
pub(crate) fn normalize_answer(text: &str) -> String {
    let lower = text.to_lowercase();
    let no_punct: String = lower
        .chars()
        .filter(|c| !c.is_ascii_punctuation())
        .collect();
    let no_articles = ARTICLES.replace_all(&no_punct, " ");
    no_articles.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// SQuAD v1.1's `f1_score(prediction, ground_truth)`: token precision and recall over the
/// normalised whitespace tokens, counting repeated tokens as a multiset (`Counter` `&`).
/// 0 when nothing is shared (including when either side normalises to nothing).
pub(crate) fn f1_score(prediction: &str, ground_truth: &str) -> f64 {
    let prediction = normalize_answer(prediction);
    let truth = normalize_answer(ground_truth);
    let prediction: Vec<&str> = prediction.split_whitespace().collect();
    let truth: Vec<&str> = truth.split_whitespace().collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for token in &truth {
        *counts.entry(token).or_default() += 1;
    }
    let mut same = 0usize;
    for token in &prediction {
        if let Some(n) = counts.get_mut(token).filter(|n| **n > 0) {
            *n -= 1;
            same += 1;
        }
    }
    if same == 0 {
        return 0.0;
    }
    let precision = same as f64 / prediction.len() as f64;
    let recall = same as f64 / truth.len() as f64;
    2.0 * precision * recall / (precision + recall)
}

/// `"text"` for evidence: at most 60 characters (then `…`), newlines shown as `\n`.
pub(crate) fn quote(text: &str) -> String {
    Quoted(text).to_string()
}

/// [`quote`] as a `Display`, written straight into the evidence being formatted (no string
/// of its own per excerpt).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Quoted<'a>(pub &'a str);

impl fmt::Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const MAX: usize = 60;
        let (text, cut) = excerpt(self.0, MAX);
        f.write_char('"')?;
        // The escaped characters are ASCII, so never part of a longer UTF-8 sequence: the
        // bytes are scanned (first all of them, a loop without an exit that the compiler
        // vectorises: most excerpts have nothing to escape), and runs without an escape are
        // written as one slice.
        let escape = |byte: u8| matches!(byte, b'\n' | b'\r' | b'\t' | b'"');
        if !text.bytes().fold(false, |any, byte| any | escape(byte)) {
            f.write_str(text)?;
            return f.write_str(if cut { "…\"" } else { "\"" });
        }
        let mut from = 0;
        for (i, byte) in text.bytes().enumerate() {
            let escaped = match byte {
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                b'"' => "\\\"",
                _ => continue,
            };
            f.write_str(&text[from..i])?;
            f.write_str(escaped)?;
            from = i + 1;
        }
        f.write_str(&text[from..])?;
        f.write_str(if cut { "…\"" } else { "\"" })
    }
}

/// The first `max` characters of `text`, and whether there were more.
fn excerpt(text: &str, max: usize) -> (&str, bool) {
    if text.len() <= max {
        // At most `max` bytes, so at most `max` characters.
        return (text, false);
    }
    if text.as_bytes()[..=max].is_ascii() {
        // The usual case: `max + 1` one-byte characters, so more than `max`.
        return (&text[..max], true);
    }
    match text.char_indices().nth(max) {
        Some((end, _)) => (&text[..end], true),
        None => (text, false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn squad_normalize_answer_matches_the_official_script() {
        // Values as `normalize_answer` in SQuAD's evaluate-v1.1.py returns them.
        assert_eq!(normalize_answer("The  Cat!"), "cat");
        assert_eq!(normalize_answer("  An apple, a day. "), "apple day");
        assert_eq!(normalize_answer("Theory of the U.S.A."), "theory of usa");
        // Articles are whole words only; punctuation is removed before articles are.
        assert_eq!(normalize_answer("anthem (the)"), "anthem");
        assert_eq!(normalize_answer("Denver Broncos"), "denver broncos");
    }

    #[test]
    fn squad_f1_by_hand() {
        // "a cat sat down" -> [cat, sat, down]; "the cat sat" -> [cat, sat]; 2 shared.
        // As prediction/truth: precision 2/3, recall 2/2, F1 = 2·(2/3)·1 / (2/3 + 1) = 0.8.
        assert!((f1_score("a cat sat down", "the cat sat") - 0.8).abs() < 1e-12);
        // Swapped: precision 2/2, recall 2/3, the same F1.
        assert!((f1_score("the cat sat", "a cat sat down") - 0.8).abs() < 1e-12);
        // Counter overlap, not set overlap: [cat, cat, cat] vs [cat, cat] share 2 tokens:
        // precision 2/3, recall 2/2, F1 0.8 (a set overlap would say 1.0).
        assert!((f1_score("the cat cat cat", "cat cat") - 0.8).abs() < 1e-12);
        // One of four predicted tokens, one of one true token: P 1/4, R 1, F1 = 0.5/1.25 = 0.4.
        assert!((f1_score("Denver in the year 2016", "Denver") - 0.4).abs() < 1e-12);
        assert_eq!(f1_score("Paris", "London"), 0.0);
        assert_eq!(f1_score("the", "a"), 0.0);
        assert_eq!(f1_score("The Broncos!", "broncos"), 1.0);
    }

    #[test]
    fn trimming_keeps_brackets_and_signs() {
        assert_eq!(trim_punctuation("  **Paris**. "), "Paris");
        assert_eq!(trim_punctuation("\"-3\""), "-3");
        assert_eq!(trim_punctuation("(B)"), "(B)");
        assert_eq!(trim_punctuation("C++!"), "C++");
        let n = Normalization {
            trim: true,
            case_insensitive: true,
            squad: false,
        };
        assert_eq!(n.apply(" The Eiffel Tower. "), "the eiffel tower");
    }

    #[test]
    fn quotes_are_short_and_on_one_line() {
        assert_eq!(quote("a\n\"b\""), r#""a\n\"b\"""#);
        assert_eq!(quote("\ta\r"), r#""\ta\r""#);
        let long = "x".repeat(100);
        assert_eq!(quote(&long), format!("\"{}…\"", "x".repeat(60)));
        // 60 characters are kept whole, whatever their length in bytes.
        assert_eq!(quote(&"x".repeat(60)), format!("\"{}\"", "x".repeat(60)));
        let accented = "é".repeat(61);
        assert_eq!(quote(&accented), format!("\"{}…\"", "é".repeat(60)));
        assert_eq!(quote(&"é".repeat(60)), format!("\"{}\"", "é".repeat(60)));
        let mixed = format!("{}é\n{}", "x".repeat(58), "y".repeat(10));
        assert_eq!(quote(&mixed), format!("\"{}é\\n…\"", "x".repeat(58)));
    }
}
