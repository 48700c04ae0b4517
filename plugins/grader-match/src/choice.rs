//! Reading a multiple-choice letter out of free text.
//!
//! Only explicit forms count, tried in this order; the first rule that finds a letter decides:
//! 1. **The whole answer** is letters, once surrounding whitespace, brackets, `*`, `_`, `.`,
//!    `:`, `,`, quotes are stripped: `B`, `(b)`, `**C**`, `B.`, `d)`; and `A or C`,
//!    `A, C`, `A/C`, `A and C` name two letters: ambiguous.
//! 2. **An answer statement**, the last one in the text: `answer`, `choice` or `option`
//!    (so "The answer is", "Answer:", "The correct choice is", "Final answer:"), optionally
//!    followed by `is` / `would be` / `will be` / `should be`, `:` or `=` and emphasis, then a
//!    letter: `The answer is (B)`, `Answer: b`, `**Answer:** C`, `The correct choice is C: 404`.
//!    A lowercase letter with no bracket or emphasis must not be followed by a space ("the
//!    answer is a bit unclear" names nothing). `... is A or C` (also `,`, `/`, `&`, `and`)
//!    is ambiguous.
//! 3. **Marked letters anywhere**: a line starting with `B.`, `B)`, `(B)`, `[B]`, `**B**` or
//!    holding only the letter (after an optional `-`, `*`, `>` bullet), a bold letter
//!    (`**B**`, `**(B)**`, `__B__`), a bracketed letter (`(B)`, `[B]`), and a sentence
//!    starting with an uppercase letter followed by "is correct" / "is the correct ...".
//!    All of them together must name one letter, else the answer is ambiguous.
//!
//! Never counted: a letter in running text ("A cat sat"), an `A:` at a line start (a
//! question/answer label), letters that are not among the `choices`.

use regex::{Captures, Regex};

/// What the reader found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Choice {
    /// One letter (uppercase), and the text it was read from.
    Letter(char, String),
    /// Several different letters (uppercase, sorted), and the text that named them.
    Ambiguous(Vec<char>, String),
    None,
}

/// Reads the letters of one `choices` set.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceReader {
    /// Uppercase, in the configured order.
    letters: Vec<char>,
    separators: Regex,
    statement: Regex,
    continuation: Regex,
    marked: Vec<Regex>,
}

impl ChoiceReader {
    /// `choices`: distinct ASCII letters, any case ("ABCD").
    pub fn new(choices: &str) -> Result<Self, String> {
        let mut letters: Vec<char> = Vec::new();
        for c in choices.chars() {
            if !c.is_ascii_alphabetic() {
                return Err(format!(
                    "{choices:?} must be distinct letters, like \"ABCD\": {c:?} is not a letter"
                ));
            }
            let upper = c.to_ascii_uppercase();
            if letters.contains(&upper) {
                return Err(format!("{choices:?} has the letter {upper} twice"));
            }
            letters.push(upper);
        }
        if letters.is_empty() {
            return Err("is empty: give the letters of the options, like \"ABCD\"".into());
        }
        let class: String = letters
            .iter()
            .flat_map(|c| [*c, c.to_ascii_lowercase()])
            .collect();
        let upper: String = letters.iter().collect();
        let letter = format!(
            r"(?P<open>[(\[]|\*\*|__)?(?P<l>[{class}])(?P<close>[)\]]|\*\*|__)?(?P<next>[^\p{{L}}\p{{N}}]|$)"
        );
        let regex = |pattern: &str| Regex::new(pattern).expect("valid regex");
        Ok(Self {
            separators: regex(r#"(?i)(?:[\s,/&()\[\]*_.:'`"]|\bor\b|\band\b)+"#),
            statement: regex(&format!(
                r"(?i)\b(?:answer|choice|option)(?:\s+(?:is|would\s+be|will\s+be|should\s+be))?\s*(?:\*\*|__)?\s*[:=]?\s*(?:\*\*|__)?[ \t]*{letter}"
            )),
            continuation: regex(&format!(
                r"(?i)^[ \t]*(?:,|/|&|\bor\b|\band\b)[ \t]*{letter}"
            )),
            marked: vec![
                regex(&format!(
                    r"(?m)^[ \t]*(?:[-*>][ \t]+)?(?P<open>[(\[]|\*\*|__)?(?P<l>[{class}])(?P<close>[)\]]|\*\*|__)?(?P<next>[.)]|[ \t]*$)"
                )),
                regex(&format!(
                    r"(?:\*\*|__)[ \t]*[(\[]?(?P<l>[{class}])[)\]]?[.)]?[ \t]*(?:\*\*|__)"
                )),
                regex(&format!(r"[(\[](?P<l>[{class}])[)\]]")),
                regex(&format!(
                    r"(?m)(?:^|[.!?][ \t]+)[ \t]*(?P<l>[{upper}])[ \t]+is[ \t]+(?:the[ \t]+)?(?:correct|right)\b"
                )),
            ],
            letters,
        })
    }

    /// "A, B, C, D" for evidence.
    pub fn describe(&self) -> String {
        self.letters
            .iter()
            .map(char::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// `text` as one of the choices, if it is exactly one letter (an expected value).
    pub fn parse_expected(&self, text: &str) -> Option<char> {
        let mut chars = text.trim().chars();
        let c = chars.next()?.to_ascii_uppercase();
        (chars.next().is_none() && self.letters.contains(&c)).then_some(c)
    }

    pub fn read(&self, text: &str) -> Choice {
        // 1. The whole answer.
        let tokens: Vec<&str> = self
            .separators
            .split(text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        if !tokens.is_empty()
            && tokens.iter().all(|t| {
                let mut cs = t.chars();
                cs.next().is_some_and(|c| self.is_letter(c)) && cs.next().is_none()
            })
        {
            let letters = tokens
                .iter()
                .filter_map(|t| t.chars().next())
                .map(|c| c.to_ascii_uppercase());
            return self.decide(letters, text.trim());
        }
        // 2. The last answer statement.
        if let Some(caps) = self
            .statement
            .captures_iter(text)
            .filter(|c| letter_ok(c))
            .last()
        {
            let whole = caps.get(0).expect("group 0");
            let letter_end = caps.name("next").expect("always matches").start();
            let mut letters = vec![letter_of(&caps)];
            let mut end = letter_end;
            if let Some(more) = self
                .continuation
                .captures(&text[letter_end..])
                .filter(letter_ok)
            {
                letters.push(letter_of(&more));
                end = letter_end + more.name("next").expect("always matches").start();
            }
            return self.decide(letters.into_iter(), &text[whole.start()..end]);
        }
        // 3. Marked letters anywhere.
        let mut found: Vec<(usize, char, String)> = Vec::new();
        for (i, regex) in self.marked.iter().enumerate() {
            for caps in regex.captures_iter(text) {
                // A line-start letter needs a bracket, emphasis or a `.`/`)` after it, or
                // nothing else on its line: not "A cat sat", not "A: ..." (a Q/A label).
                if i == 0 && caps.name("close").is_none() && caps.name("next").is_none() {
                    continue;
                }
                let whole = caps.get(0).expect("group 0");
                found.push((
                    whole.start(),
                    letter_of(&caps),
                    whole.as_str().trim().into(),
                ));
            }
        }
        found.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
        // "(B)" at a line start is both a line-start and a bracketed letter: show it once.
        found.dedup_by(|a, b| a.0 == b.0 && a.2 == b.2);
        if found.is_empty() {
            return Choice::None;
        }
        let shown = found
            .iter()
            .map(|f| f.2.as_str())
            .collect::<Vec<_>>()
            .join(" … ");
        self.decide(found.iter().map(|f| f.1), &shown)
    }

    fn is_letter(&self, c: char) -> bool {
        self.letters.contains(&c.to_ascii_uppercase())
    }

    fn decide(&self, letters: impl Iterator<Item = char>, source: &str) -> Choice {
        let mut distinct: Vec<char> = Vec::new();
        for c in letters {
            if !distinct.contains(&c) {
                distinct.push(c);
            }
        }
        distinct.sort_unstable();
        match distinct.as_slice() {
            [] => Choice::None,
            [one] => Choice::Letter(*one, source.to_owned()),
            _ => Choice::Ambiguous(distinct, source.to_owned()),
        }
    }
}

fn letter_of(caps: &Captures<'_>) -> char {
    caps.name("l")
        .and_then(|m| m.as_str().chars().next())
        .expect("the letter group always matches")
        .to_ascii_uppercase()
}

/// A bare lowercase letter followed by a space is a word ("a bit"), not a choice.
fn letter_ok(caps: &Captures<'_>) -> bool {
    let bare = caps.name("open").is_none() && caps.name("close").is_none();
    let lower = caps
        .name("l")
        .is_some_and(|m| m.as_str().chars().all(|c| c.is_ascii_lowercase()));
    let spaced = caps
        .name("next")
        .is_some_and(|m| m.as_str().chars().all(char::is_whitespace) && !m.as_str().is_empty());
    !(bare && lower && spaced)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Choice {
        ChoiceReader::new("ABCD").unwrap().read(text)
    }

    fn letter(text: &str) -> Option<char> {
        match read(text) {
            Choice::Letter(c, _) => Some(c),
            _ => None,
        }
    }

    #[test]
    fn whole_answers() {
        for (text, want) in [
            ("B", 'B'),
            ("  (b) ", 'B'),
            ("**C**", 'C'),
            ("B.", 'B'),
            ("d)", 'D'),
            ("[A]", 'A'),
            ("a", 'A'),
        ] {
            assert_eq!(letter(text), Some(want), "{text:?}");
        }
        assert_eq!(letter("E"), None);
    }

    #[test]
    fn answer_statements() {
        for (text, want) in [
            ("The answer is (B).", 'B'),
            ("The answer is (b).", 'B'),
            ("The answer is D.", 'D'),
            ("Answer: b", 'B'),
            ("Answer: d) Na", 'D'),
            ("**Answer:** C", 'C'),
            ("The correct choice is C: 404.", 'C'),
            ("Let me think. Mars is red.\nFinal answer: B", 'B'),
            ("I first thought the answer is A, but the answer is C.", 'C'),
            ("The best option is **A**.", 'A'),
        ] {
            assert_eq!(letter(text), Some(want), "{text:?}");
        }
        // "a bit" is a word; nothing else marks a letter.
        assert_eq!(read("The answer is a bit unclear."), Choice::None);
    }

    #[test]
    fn marked_letters() {
        for (text, want) in [
            ("B) because it is closest", 'B'),
            ("(B) 8", 'B'),
            ("A. A queue removes the oldest element first.", 'A'),
            ("Mercury is closest, so I pick **B**.", 'B'),
            ("I'd go with (c), Mercury.", 'C'),
            ("Venus is hot.\nB\n", 'B'),
            ("Looking at them all. C is correct.", 'C'),
        ] {
            assert_eq!(letter(text), Some(want), "{text:?}");
        }
    }

    #[test]
    fn articles_and_labels_are_not_choices() {
        assert_eq!(read("A cat sat on the mat."), Choice::None);
        assert_eq!(read("Q: which planet?\nA: Mercury"), Choice::None);
        assert_eq!(read("I am not sure."), Choice::None);
        assert_eq!(read("Mercury"), Choice::None);
    }

    #[test]
    fn two_letters_are_ambiguous() {
        assert_eq!(
            read("A or C"),
            Choice::Ambiguous(vec!['A', 'C'], "A or C".into())
        );
        assert_eq!(
            read("The answer is A or C."),
            Choice::Ambiguous(vec!['A', 'C'], "answer is A or C".into())
        );
        assert!(matches!(read("B, D"), Choice::Ambiguous(..)));
        // Options echoed back name every letter.
        assert!(matches!(
            read("(A) Venus\n(B) Mercury\n(C) Mars"),
            Choice::Ambiguous(..)
        ));
        // The same letter twice is not ambiguous.
        assert_eq!(letter("(B) Mercury. **B**"), Some('B'));
    }

    #[test]
    fn choices_are_checked() {
        assert!(
            ChoiceReader::new("ABCDE")
                .unwrap()
                .read("E")
                .ne(&Choice::None)
        );
        assert!(ChoiceReader::new("AB1").is_err());
        assert!(ChoiceReader::new("ABA").is_err());
        assert!(ChoiceReader::new("").is_err());
        let r = ChoiceReader::new("abcd").unwrap();
        assert_eq!(r.parse_expected(" b "), Some('B'));
        assert_eq!(r.parse_expected("E"), None);
        assert_eq!(r.parse_expected("AB"), None);
    }
}
