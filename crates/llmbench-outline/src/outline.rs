//! Reading an answer's outline: the headings of the listed sections, in the shapes models
//! really write them, and the fenced code blocks, with headings inside code blocks ignored.
//!
//! A line is a heading of a listed section when, after its form is recognised, its title
//! matches one of the names (see [`normalize`] and [`match_title`]):
//! - a Markdown ATX heading of any level: `## Bug`, `### 1. Bug`, `## Why it happens:`,
//!   `## Fix: minimal corrected version`;
//! - a bold line: `**Bug**`, `**Bug:**`, `**Bug**:`, or a bold label followed by text:
//!   `**Bug:** the check and the write ...`;
//! - a plain label at the start of a line: `Bug: the check ...`, or a line holding only the
//!   name (`Bug`, `*Bug*`, a setext heading's text).
//!
//! Bulleted lines (`- Bug: ...`), quotes and table rows are never headings; numbered lines
//! are (`1. Bug`), since models number their sections.

/// A recognised heading of a listed section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Heading {
    /// Index into the configured names.
    pub section: usize,
    /// Zero-based line number.
    pub line: usize,
}

/// A fenced code block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    /// Zero-based line number of the opening fence.
    pub line: usize,
    /// The first word of the info string (`python` in "```python title=x"), possibly empty.
    pub language: String,
    /// Zero-based line number of the closing fence, or the number of lines when the block
    /// runs to the end of the text unclosed.
    pub end: usize,
}

/// What an answer is made of, as far as this grader cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outline {
    /// In text order.
    pub headings: Vec<Heading>,
    /// In text order.
    pub fences: Vec<Fence>,
}

impl Outline {
    /// Read `text`, recognising the sections named in `names` (already [`normalize`]d).
    pub fn read(text: &str, names: &[String]) -> Self {
        let mut outline = Outline::default();
        // The fence character and length of the code block we are in, if any.
        let mut open: Option<(char, usize)> = None;
        let mut lines = 0;
        for (line_no, line) in text.lines().enumerate() {
            lines = line_no + 1;
            let t = line.trim_start();
            if let Some((ch, len)) = open {
                if closes_fence(t, ch, len) {
                    open = None;
                    if let Some(fence) = outline.fences.last_mut() {
                        fence.end = line_no;
                    }
                }
                continue;
            }
            if let Some((ch, len, info)) = opens_fence(t) {
                let language = info
                    .split_whitespace()
                    .next()
                    .unwrap_or("")
                    .trim_matches(['{', '}', '.'])
                    .to_owned();
                outline.fences.push(Fence {
                    line: line_no,
                    language,
                    end: usize::MAX,
                });
                open = Some((ch, len));
                continue;
            }
            if let Some(section) = heading(line, names) {
                outline.headings.push(Heading {
                    section,
                    line: line_no,
                });
            }
        }
        if open.is_some()
            && let Some(fence) = outline.fences.last_mut()
        {
            fence.end = lines;
        }
        outline
    }

    /// The section a line belongs to: that of the last heading above it, if any.
    pub fn section_of(&self, line: usize) -> Option<usize> {
        self.headings
            .iter()
            .take_while(|h| h.line < line)
            .last()
            .map(|h| h.section)
    }
}

/// A fenced code block of an answer, with the section it sits in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeBlock {
    /// The first word of the info string (`python` in "```python title=x"), possibly empty.
    pub language: String,
    /// The lines between the fences, joined with `\n`, with the opening fence's indentation
    /// removed from each.
    pub code: String,
    /// One-based line number of the opening fence.
    pub line: usize,
    /// The section the block is in, as an index into the `sections` given to
    /// [`code_blocks`]; `None` before the first heading of a listed section.
    pub section: Option<usize>,
}

/// The fenced code blocks of `text`, in order. Headings of `sections` are recognised as
/// described above; a block belongs to the last listed section whose heading is above it.
pub fn code_blocks(text: &str, sections: &[&str]) -> Vec<CodeBlock> {
    let names: Vec<String> = sections.iter().map(|s| normalize(s)).collect();
    let outline = Outline::read(text, &names);
    let lines: Vec<&str> = text.lines().collect();
    outline
        .fences
        .iter()
        .map(|f| {
            let opening = lines[f.line];
            let indent = opening.len() - opening.trim_start_matches(' ').len();
            let body = lines.get(f.line + 1..f.end.min(lines.len())).unwrap_or(&[]);
            let code = body
                .iter()
                .map(|l| {
                    let spaces = l.len() - l.trim_start_matches(' ').len();
                    &l[spaces.min(indent)..]
                })
                .collect::<Vec<_>>()
                .join("\n");
            CodeBlock {
                language: f.language.clone(),
                code,
                line: f.line + 1,
                section: outline.section_of(f.line),
            }
        })
        .collect()
}

/// An opening code fence: three or more backticks or tildes, then an info string (which,
/// for backticks, may not contain a backtick: "```x``` y" is inline code).
fn opens_fence(t: &str) -> Option<(char, usize, &str)> {
    let ch = t.chars().next().filter(|c| matches!(c, '`' | '~'))?;
    let len = t.len() - t.trim_start_matches(ch).len();
    let info = t[len..].trim();
    (len >= 3 && !(ch == '`' && info.contains('`'))).then_some((ch, len, info))
}

fn closes_fence(t: &str, ch: char, len: usize) -> bool {
    let rest = t.trim_start_matches(ch);
    t.len() - rest.len() >= len && rest.trim().is_empty()
}

/// The listed section `line` is a heading of, if it is one.
fn heading(line: &str, names: &[String]) -> Option<usize> {
    let t = line.trim();
    if t.is_empty() {
        return None;
    }
    if t.starts_with('#') {
        return atx_title(t).and_then(|title| match_title(&normalize(title), names));
    }
    if t.starts_with(['>', '|']) || ["- ", "* ", "+ "].iter().any(|b| t.starts_with(b)) {
        return None;
    }
    let t = strip_list_number(t);
    let exact = |label: &str| {
        let label = normalize(label);
        names.iter().position(|n| *n == label)
    };
    if let Some((inner, after)) = bold(t) {
        let after = after.trim();
        return if let Some(label) = inner.trim().strip_suffix(':') {
            exact(label)
        } else if after.is_empty() {
            match_title(&normalize(inner), names)
        } else if after.starts_with([':', '—', '–']) || after.starts_with("- ") {
            exact(inner)
        } else {
            // A bold phrase opening a sentence ("**Fix** the cache by ..."): not a heading.
            None
        };
    }
    if let Some(section) = t.split_once(':').and_then(|(label, _)| exact(label)) {
        return Some(section);
    }
    match_title(&normalize(t), names)
}

/// The title of an ATX heading (`#` to `######`), without its closing `#`s.
fn atx_title(t: &str) -> Option<&str> {
    let rest = t.trim_start_matches('#');
    let level = t.len() - rest.len();
    if !(1..=6).contains(&level) {
        return None;
    }
    let title = rest.trim();
    let open = title.trim_end_matches('#');
    // A closing sequence must follow a space: `## C#` keeps its `#`.
    Some(if open.is_empty() || open.ends_with(char::is_whitespace) {
        open.trim_end()
    } else {
        title
    })
}

/// `**inner**after` or `__inner__after`.
fn bold(t: &str) -> Option<(&str, &str)> {
    let marker = ["**", "__"].into_iter().find(|m| t.starts_with(m))?;
    let body = &t[2..];
    let end = body.find(marker)?;
    Some((&body[..end], &body[end + 2..]))
}

/// Drop an ordered-list marker (`1. `, `2) `) so that numbered headings are recognised.
fn strip_list_number(t: &str) -> &str {
    let rest = t.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() < t.len()
        && let Some(rest) = rest.strip_prefix(['.', ')'])
        && rest.starts_with(char::is_whitespace)
    {
        return rest.trim_start();
    }
    t
}

/// The form in which titles and names are compared: emphasis and code marks removed,
/// leading punctuation, emoji and numbering (`1.`, `2)`, `IV.`, `b)`, `1️⃣`) dropped,
/// trailing punctuation dropped, whitespace collapsed, lowercase.
pub fn normalize(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !matches!(c, '*' | '`')).collect();
    let mut t = cleaned.as_str();
    loop {
        let before = t.len();
        t = strip_numbering(t.trim_start_matches(|c: char| !c.is_alphanumeric()));
        if t.len() == before {
            break;
        }
    }
    let t = t.trim_end_matches(|c: char| !(c.is_alphanumeric() || c == ')' || c == ']'));
    t.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Drop one leading numbering token: digits not followed by a letter or digit, or a single
/// letter or a short roman numeral followed by `.` or `)` and a space.
fn strip_numbering(t: &str) -> &str {
    let rest = t.trim_start_matches(|c: char| c.is_ascii_digit());
    if rest.len() < t.len() {
        return match rest.chars().next() {
            Some(c) if c.is_alphanumeric() => t,
            _ => rest,
        };
    }
    let rest = t.trim_start_matches(|c: char| c.is_ascii_alphabetic());
    let word = &t[..t.len() - rest.len()];
    let numeral = word.len() == 1
        || (word.len() <= 4
            && word
                .chars()
                .all(|c| matches!(c, 'i' | 'v' | 'x' | 'I' | 'V' | 'X')));
    match rest.strip_prefix(['.', ')']) {
        Some(after) if numeral && (after.is_empty() || after.starts_with(char::is_whitespace)) => {
            after
        }
        _ => t,
    }
}

/// The section whose name equals the normalised `title`, or starts it followed by a
/// separator (`fix: minimal version`, `fix (corrected)`, `fix — code`); the longest such
/// name wins.
pub fn match_title(title: &str, names: &[String]) -> Option<usize> {
    names
        .iter()
        .enumerate()
        .filter(|(_, name)| {
            title == name.as_str()
                || title
                    .strip_prefix(name.as_str())
                    .is_some_and(starts_with_separator)
        })
        .max_by_key(|(_, name)| name.len())
        .map(|(i, _)| i)
}

fn starts_with_separator(rest: &str) -> bool {
    let trimmed = rest.trim_start();
    let spaced = trimmed.len() < rest.len();
    match trimmed.chars().next() {
        Some(':' | '(' | '—' | '–') => true,
        Some('-') => spaced,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        ["Bug", "Why it happens", "Fix"]
            .iter()
            .map(|n| normalize(n))
            .collect()
    }

    fn section(line: &str) -> Option<usize> {
        heading(line, &names())
    }

    #[test]
    fn normalizes_numbering_punctuation_and_emphasis() {
        assert_eq!(normalize("  1. Bug:"), "bug");
        assert_eq!(normalize("**Why  It Happens**"), "why it happens");
        assert_eq!(normalize("IV) Fix."), "fix");
        assert_eq!(normalize("b) Fix"), "fix");
        assert_eq!(normalize("🐛 Bug"), "bug");
        assert_eq!(normalize("1️⃣ Bug"), "bug");
        assert_eq!(normalize("Step-by-step"), "step-by-step");
        assert_eq!(normalize("3D view"), "3d view");
        assert_eq!(normalize("Fix (minimal):"), "fix (minimal)");
    }

    #[test]
    fn recognises_markdown_headings_of_any_level() {
        for line in [
            "# Bug",
            "## Bug",
            "###### Bug",
            "### 1. Bug",
            "## **Bug**",
            "## Bug ##",
            "#Bug",
            "## 🐛 Bug",
            "  ## Bug",
        ] {
            assert_eq!(section(line), Some(0), "{line}");
        }
        assert_eq!(section("## Why it happens:"), Some(1));
        assert_eq!(section("## Fix: minimal corrected version"), Some(2));
        assert_eq!(section("## Fix (corrected code)"), Some(2));
        assert_eq!(section("## Fix - corrected code"), Some(2));
        assert_eq!(section("####### Bug"), None);
        assert_eq!(section("## Fixed version"), None);
        assert_eq!(section("## The Fix"), None);
        assert_eq!(section("## Summary"), None);
    }

    #[test]
    fn recognises_bold_lines_and_labels() {
        assert_eq!(section("**Bug**"), Some(0));
        assert_eq!(section("**Bug:**"), Some(0));
        assert_eq!(section("**Bug**:"), Some(0));
        assert_eq!(section("__Bug__"), Some(0));
        assert_eq!(section("**1. Bug**"), Some(0));
        assert_eq!(section("1. **Bug**"), Some(0));
        assert_eq!(
            section("**Bug:** the check and the write are split"),
            Some(0)
        );
        assert_eq!(
            section("**Bug**: the check and the write are split"),
            Some(0)
        );
        assert_eq!(section("**Why it happens** — two coroutines"), Some(1));
        assert_eq!(section("Bug: the check and the write are split"), Some(0));
        assert_eq!(section("WHY IT HAPPENS: await yields"), Some(1));
        assert_eq!(section("2) Why it happens: await yields"), Some(1));
        assert_eq!(section("Fix"), Some(2));
        assert_eq!(section("*Fix*"), Some(2));
        assert_eq!(section("Fix."), Some(2));
    }

    #[test]
    fn ignores_running_text_bullets_and_quotes() {
        assert_eq!(section("**Fix** the cache by sharing one task."), None);
        assert_eq!(section("Fix the cache by sharing one task."), None);
        assert_eq!(section("The bug: the check and the write"), None);
        assert_eq!(section("- Bug: the check"), None);
        assert_eq!(section("* **Fix**"), None);
        assert_eq!(section("> ## Bug"), None);
        assert_eq!(section("| Bug | yes |"), None);
        assert_eq!(section("Bugs are everywhere"), None);
        assert_eq!(section(""), None);
    }

    #[test]
    fn the_longest_matching_name_wins() {
        let names: Vec<String> = ["Fix", "Fix: tests"].iter().map(|n| normalize(n)).collect();
        assert_eq!(match_title(&normalize("Fix: tests"), &names), Some(1));
        assert_eq!(match_title(&normalize("Fix: code"), &names), Some(0));
    }

    #[test]
    fn skips_headings_inside_fences_and_records_languages() {
        let text = "## Bug\n```python\n## Fix\n```\nBug text\n~~~~ {.Rust}\n```\n## Fix\n~~~~\n  ```\nx\n  ```\n## Fix\n";
        let o = Outline::read(text, &names());
        assert_eq!(
            o.headings,
            vec![
                Heading {
                    section: 0,
                    line: 0
                },
                Heading {
                    section: 2,
                    line: 12
                }
            ]
        );
        let langs: Vec<(usize, &str)> = o
            .fences
            .iter()
            .map(|f| (f.line, f.language.as_str()))
            .collect();
        assert_eq!(langs, vec![(1, "python"), (5, "Rust"), (9, "")]);
        let ends: Vec<usize> = o.fences.iter().map(|f| f.end).collect();
        assert_eq!(ends, vec![3, 8, 11]);
        assert_eq!(o.section_of(9), Some(0));
        assert_eq!(o.section_of(0), None);
    }

    #[test]
    fn code_blocks_carry_their_code_and_section() {
        let text = "```sh\nintro\n```\n## Bug\nx\n## Fix\n1. Code:\n   ```python\n   def f():\n       return 1\n   ```\n```py\nunclosed";
        let blocks = code_blocks(text, &["Bug", "Fix"]);
        assert_eq!(
            blocks,
            vec![
                CodeBlock {
                    language: "sh".into(),
                    code: "intro".into(),
                    line: 1,
                    section: None,
                },
                CodeBlock {
                    language: "python".into(),
                    code: "def f():\n    return 1".into(),
                    line: 8,
                    section: Some(1),
                },
                CodeBlock {
                    language: "py".into(),
                    code: "unclosed".into(),
                    line: 12,
                    section: Some(1),
                },
            ]
        );
        assert_eq!(code_blocks("```\n```", &[])[0].code, "");
    }

    #[test]
    fn an_unclosed_fence_runs_to_the_end_and_inline_code_is_no_fence() {
        let text = "```js``` is inline\n## Bug\n```python\n## Fix\n";
        let o = Outline::read(text, &names());
        assert_eq!(o.headings.len(), 1);
        assert_eq!(o.fences.len(), 1);
        assert_eq!(o.fences[0].line, 2);
        assert_eq!(o.fences[0].end, 4);
    }
}
