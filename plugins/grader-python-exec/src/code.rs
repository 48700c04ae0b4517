//! Taking the code to run out of an answer: the first python block of a named section, or
//! the last python block of the answer; for an item test, first the last block that defines
//! the entry point, then also an untagged block or the whole text (a completion that
//! continues the item's prompt).

use llmbench_outline::{CodeBlock, Outline, code_blocks, normalize};

/// Whether a fence's info word marks Python.
fn is_python(language: &str) -> bool {
    ["python", "py", "python3"]
        .iter()
        .any(|l| language.eq_ignore_ascii_case(l))
}

/// The code to run from `text`, or why there is none.
///
/// - With `section`: the first python block after the section's last heading (sections
///   recognised as `grader-sections` recognises them). The first, because a later block in
///   the section is usually a usage example; after the last heading, because an answer that
///   lists its plan first ("1. Bug 2. Fix") names the section before writing it.
/// - Without: the last python block of the answer.
pub(crate) fn extract(text: &str, section: Option<&str>) -> Result<String, String> {
    let Some(name) = section else {
        let blocks = code_blocks(text, &[]);
        return match blocks.iter().rfind(|b| is_python(&b.language)) {
            Some(block) => Ok(block.code.clone()),
            None => Err(missing(
                "no python code block in the answer",
                &blocks,
                |b| format!("at line {}", b.line),
            )),
        };
    };
    let start = Outline::read(text, &[normalize(name)])
        .headings
        .last()
        .map(|h| h.line + 1);
    let blocks = code_blocks(text, &[name]);
    // One-based block lines; zero-based heading line + 1.
    let inside = |b: &CodeBlock| start.is_some_and(|s| b.line > s);
    if let Some(block) = blocks.iter().find(|b| inside(b) && is_python(&b.language)) {
        return Ok(block.code.clone());
    }
    let reason = format!("no python code block in section \"{name}\"");
    Err(missing(&reason, &blocks, |b| {
        if inside(b) {
            format!("in \"{name}\"")
        } else {
            "outside it".to_owned()
        }
    }))
}

/// Whether `code` defines function `entry_point` at the top level: a line that starts, at
/// column 0, with `def <entry_point>(` (spaces allowed after `def` and before `(`).
fn defines(code: &str, entry_point: &str) -> bool {
    code.lines().any(|line| {
        line.strip_prefix("def")
            .filter(|rest| rest.starts_with([' ', '\t']))
            .and_then(|rest| rest.trim_start().strip_prefix(entry_point))
            .is_some_and(|rest| rest.trim_start().starts_with('('))
    })
}

/// The code of an answer graded against an item's test whose function under test is
/// `entry_point`, and whether it is the whole text.
///
/// - With `section`: as [`extract`].
/// - Without: the last fenced block (of any language tag, or none) that defines
///   `entry_point` at the top level (`def <entry_point>(` at column 0): a chat model often
///   follows the function with a usage example, which alone would not define it; else the
///   last python block; else the last untagged block; else, when the answer has no fenced
///   block at all, its whole text (a base model's completion of the prompt: a function
///   body, or a whole function). Blocks of other languages only: no code.
pub(crate) fn extract_for_test(
    text: &str,
    section: Option<&str>,
    entry_point: &str,
) -> Result<(String, bool), String> {
    if section.is_some() {
        return extract(text, section).map(|code| (code, false));
    }
    let blocks = code_blocks(text, &[]);
    let block = blocks
        .iter()
        .rfind(|b| defines(&b.code, entry_point))
        .or_else(|| blocks.iter().rfind(|b| is_python(&b.language)))
        .or_else(|| blocks.iter().rfind(|b| b.language.is_empty()));
    match block {
        Some(block) => Ok((block.code.clone(), false)),
        None if blocks.is_empty() => {
            if text.trim().is_empty() {
                Err("the answer is empty".to_owned())
            } else {
                Ok((text.to_owned(), true))
            }
        }
        None => Err(missing(
            "no python code block in the answer",
            &blocks,
            |b| format!("at line {}", b.line),
        )),
    }
}

/// `reason`, followed by the blocks that were there, if any.
fn missing(reason: &str, blocks: &[CodeBlock], place: impl Fn(&CodeBlock) -> String) -> String {
    if blocks.is_empty() {
        return reason.to_owned();
    }
    let found: Vec<String> = blocks
        .iter()
        .map(|b| {
            let language = if b.language.is_empty() {
                "untagged"
            } else {
                &b.language
            };
            format!("{language} block {}", place(b))
        })
        .collect();
    format!("{reason} (found: {})", found.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "## Bug\n```python\nold()\n```\n## Why it happens\nawait\n## Fix\n```python\nfixed()\n```\nUsage:\n```py\nexample()\n```\n";

    #[test]
    fn takes_the_last_python_block_of_the_answer() {
        assert_eq!(extract(ANSWER, None).unwrap(), "example()");
        assert_eq!(
            extract("```Python3\na = 1\n```\n```text\nout\n```", None).unwrap(),
            "a = 1"
        );
    }

    #[test]
    fn takes_the_first_python_block_of_the_section() {
        assert_eq!(extract(ANSWER, Some("Fix")).unwrap(), "fixed()");
        assert_eq!(extract(ANSWER, Some("fix")).unwrap(), "fixed()");
        assert_eq!(
            extract(
                "**Fix:**\n\n```text\nplan\n```\n```python\nx = 1\n```",
                Some("Fix")
            )
            .unwrap(),
            "x = 1"
        );
    }

    #[test]
    fn a_plan_listed_first_does_not_count_as_the_section() {
        let text = "I will cover:\n\n1. Bug\n2. Fix\n\n## Bug\n```python\nold()\n```\n## Fix\n```python\nnew()\n```";
        assert_eq!(extract(text, Some("Fix")).unwrap(), "new()");
    }

    #[test]
    fn an_item_test_takes_python_then_untagged_blocks_then_the_whole_text() {
        let body = "    return a + b\n";
        assert_eq!(
            extract_for_test(body, None, "f").unwrap(),
            (body.to_owned(), true)
        );
        assert_eq!(
            extract_for_test("Here:\n```\ndef f():\n    pass\n```\n", None, "f").unwrap(),
            ("def f():\n    pass".to_owned(), false)
        );
        assert_eq!(
            extract_for_test(
                "```\nold\n```\n```python\nnew\n```\n```\nlater\n```",
                None,
                "f"
            )
            .unwrap(),
            ("new".to_owned(), false)
        );
        assert_eq!(
            extract_for_test(ANSWER, Some("Fix"), "fixed").unwrap(),
            ("fixed()".to_owned(), false)
        );
        assert_eq!(
            extract_for_test("text\n```js\nx\n```", None, "f").unwrap_err(),
            "no python code block in the answer (found: js block at line 2)"
        );
        assert_eq!(
            extract_for_test(" \n", None, "f").unwrap_err(),
            "the answer is empty"
        );
    }

    #[test]
    fn an_item_test_takes_the_last_block_that_defines_the_entry_point() {
        let take = |text: &str| extract_for_test(text, None, "add").unwrap().0;
        // The function, then a usage example: the function runs.
        let function = "def add(x, y):\n    return x + y";
        assert_eq!(
            take(&format!(
                "```python\n{function}\n```\nUsage:\n```python\nprint(add(2, 3))\n```"
            )),
            function
        );
        // The last of two blocks that define it (a corrected version), whatever their tags.
        assert_eq!(
            take(
                "```python\ndef add(x, y):\n    return 0\n```\n```\ndef add (x, y):\n    return x + y\n```\n```py\nadd(1, 2)\n```"
            ),
            "def add (x, y):\n    return x + y"
        );
        assert_eq!(
            take("```text\ndef add(x, y): return x + y\n```\n```python\nprint(1)\n```"),
            "def add(x, y): return x + y"
        );
        // Not a definition of `add`: a method, another function sharing the prefix, a call.
        for other in [
            "class A:\n    def add(self, y):\n        pass",
            "def add_all(xs):\n    pass",
            "define = 1\nadd(1, 2)",
            "#def add(x):",
        ] {
            assert_eq!(
                take(&format!("```python\n{other}\n```\n```python\nlast()\n```")),
                "last()",
                "{other}"
            );
        }
        // No block defines it: the last python block, as before.
        assert_eq!(take("```python\nfirst()\n```\n```\nlast()\n```"), "first()");
    }

    #[test]
    fn names_what_is_missing() {
        assert_eq!(
            extract("## Fix\nUse a lock.", Some("Fix")).unwrap_err(),
            "no python code block in section \"Fix\""
        );
        assert_eq!(
            extract(
                "```python\nold()\n```\n## Fix\n```\nnew()\n```",
                Some("Fix")
            )
            .unwrap_err(),
            "no python code block in section \"Fix\" (found: python block outside it, untagged block in \"Fix\")"
        );
        assert_eq!(
            extract("```python\nold()\n```", Some("Fix")).unwrap_err(),
            "no python code block in section \"Fix\" (found: python block outside it)"
        );
        assert_eq!(
            extract("Just use a lock.", None).unwrap_err(),
            "no python code block in the answer"
        );
        assert_eq!(
            extract("text\n```js\nx\n```", None).unwrap_err(),
            "no python code block in the answer (found: js block at line 2)"
        );
    }
}
