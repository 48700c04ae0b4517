//! Errors in the files a config names: prompt files, JSONL items, and the config itself.

use std::path::Path;

use insta::assert_snapshot;
use llmbench_config::load;

use crate::shown;

fn load_errors(path: &str) -> String {
    match load(Path::new(path)) {
        Ok(config) => panic!("expected errors, got {config:#?}"),
        Err(e) => shown(&e),
    }
}

#[test]
fn missing_config_file() {
    let e = load_errors("tests/fixtures/nope.toml");
    // The OS's wording follows the path.
    assert!(
        e.starts_with("cannot read tests/fixtures/nope.toml: "),
        "{e}"
    );
    assert!(e.ends_with("[io]"), "{e}");
}

#[test]
fn jsonl_items_with_bad_lines() {
    assert_snapshot!(load_errors("tests/fixtures/bad-items.toml"), @r"
    tests/fixtures/bad-items.toml:6:11: template variable `code` in `tasks.bad.prompt` is not set by item `no-code` (at tests/fixtures/bad-items.jsonl:7)
      help: item `no-code` has variables `text`
      [template]
    tests/fixtures/bad-items.jsonl:2:28: invalid JSON: EOF while parsing an object
      [syntax]
    tests/fixtures/bad-items.jsonl:3:1: an item must be a JSON object, not an array
      [item]
    tests/fixtures/bad-items.jsonl:5:1: duplicate item id `ok` in task `bad`
      help: the first is at tests/fixtures/bad-items.jsonl:1
      [duplicate]
    tests/fixtures/bad-items.jsonl:6:1: item variable `code` is null: give it a value or leave it out
      [item]
    ");
}

#[test]
fn template_variable_missing_from_jsonl_items() {
    assert_snapshot!(load_errors("tests/fixtures/missing-var.toml"), @r"
    tests/fixtures/prompts/review.txt:3:1: template variable `code` in `tasks.t.prompt-file` is not set by item `b` (at tests/fixtures/missing-var.jsonl:2), nor by 1 other item
      help: item `b` has variables `lang`, `snippet`
      [template]
    ");
}

#[test]
fn unreadable_and_malformed_prompt_files() {
    let e = load_errors("tests/fixtures/bad-prompt-file.toml");
    let e = e.replace("(os error 2)", "(ENOENT)");
    assert_snapshot!(e, @r"
    tests/fixtures/bad-prompt-file.toml:9:15: cannot read tests/fixtures/prompts/does-not-exist.txt: No such file or directory (ENOENT)
      [io]
    tests/fixtures/bad-prompt-file.toml:10:14: cannot read tests/fixtures/does-not-exist.jsonl: No such file or directory (ENOENT)
      [io]
    tests/fixtures/prompts/unclosed.txt:2:14: unclosed `{{` in `tasks.unclosed.prompt-file`
      help: close the placeholder with `}}`
      [template]
    ");
}
