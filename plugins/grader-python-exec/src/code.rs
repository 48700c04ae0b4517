//! Taking the code to run out of an answer: the first python block of a named section, or
//! the last python block of the answer.

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
