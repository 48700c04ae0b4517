//! Every class of error, with its exact message (snapshots) and position.

use insta::assert_snapshot;

use crate::{MINIMAL, errors, shown};

fn with_minimal(extra: &str) -> String {
    format!("{MINIMAL}{extra}")
}

#[test]
fn syntax_error() {
    let e = errors("[run\nrepeats = 1\n");
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:1:5: unclosed table, expected `]`
      [syntax]
    ");
}

#[test]
fn duplicate_key() {
    let e = errors(&with_minimal("[run]\nrepeats = 1\nrepeats = 2\n"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:10:1: duplicate key `repeats`
      [duplicate]
    ");
}

#[test]
fn unknown_key_at_top_level() {
    let e = errors(&format!("provider = 1\n{MINIMAL}"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:1:1: unknown key `provider` at the top level
      help: did you mean `providers`?
      [unknown_key]
    ");
}

#[test]
fn unknown_key_in_run() {
    let e = errors(&with_minimal("[run]\nrepeats = 1\n  repaets = 2\n"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:10:3: unknown key `repaets` in `run`
      help: did you mean `repeats`?
      [unknown_key]
    ");
}

#[test]
fn unknown_key_in_provider() {
    let source = r#"
[providers.haiku]
plugin = "provider-replay"
model = "claude-haiku-4-5"
temprature = 0.5
"#;
    let e = errors(source);
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:5:1: unknown key `temprature` in `providers.haiku`
      help: did you mean `temperature`?
      [unknown_key]
    ");
}

#[test]
fn unknown_key_in_grader() {
    let e = errors(&with_minimal(
        "[[tasks.t.graders]]\nplugin = \"grader-regex\"\n[[tasks.t.graders]]\nplugin = \"grader-regex\"\nwieght = 2\n",
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:12:1: unknown key `wieght` in `tasks.t.graders[1]`
      help: did you mean `weight`?
      [unknown_key]
    ");
}

#[test]
fn a_graders_key_variable_and_price_are_checked_like_a_providers() {
    let e = errors(&with_minimal(
        "[[tasks.t.graders]]\nplugin = \"grader-llm-judge\"\napi-key-env = \"sk-judge-secret\"\nprice = { input-per-mtok = -1, output-per-mtok = 1 }\n",
    ));
    assert_snapshot!(shown(&e), @r#"
    configs/x.toml:10:15: `tasks.t.graders[0].api-key-env` must be the name of an environment variable (letters, digits and `_`, not starting with a digit)
      help: name the variable that holds the key, for example `api-key-env = "ANTHROPIC_API_KEY"`; never put the key itself in a config
      [invalid_value]
    configs/x.toml:11:28: `tasks.t.graders[0].price.input-per-mtok` must be 0 or more, not -1
      [invalid_value]
    "#);
    assert!(!e.to_string().contains("sk-judge-secret"));
}

#[test]
fn unknown_key_in_inline_price() {
    let source = r#"
[providers.haiku]
plugin = "provider-replay"
model = "m"
price = { input-per-mtok = 1, output-per-mtok = 5, cache_read_per_mtok = 0.1 }
"#;
    let e = errors(source);
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:5:52: unknown key `cache_read_per_mtok` in `providers.haiku.price`
      help: did you mean `cache-read-per-mtok`?
      [unknown_key]
    ");
}

#[test]
fn unknown_key_without_a_close_match_lists_the_keys() {
    let e = errors(&with_minimal("[run]\nbanana = 1\n"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:9:1: unknown key `banana` in `run`
      help: valid keys: `output-dir`, `store`, `store-password-env`, `repeats`, `concurrency`, `timeout-seconds`, `grace-seconds`, `plugin-dir`, `max-cost-usd`, `pass-at-k`
      [unknown_key]
    ");
}

#[test]
fn a_negative_grace_period_is_refused() {
    let e = errors(&with_minimal("[run]\ngrace-seconds = -1.0\n"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:9:17: `run.grace-seconds` must be 0 or more, not -1
      [invalid_value]
    ");
}

#[test]
fn missing_key_in_provider() {
    let e = errors("[providers.haiku]\nplugin = \"provider-replay\"\n");
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:1:1: missing key `model` in `providers.haiku`
      [missing_key]
    ");
}

#[test]
fn missing_key_in_grader() {
    let e = errors(&with_minimal(
        "[[tasks.t.graders]]\nplugin = \"a\"\n\n[[tasks.t.graders]]\nname = \"b\"\n",
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:11:1: missing key `plugin` in `tasks.t.graders[1]`
      [missing_key]
    ");
}

#[test]
fn missing_key_in_inline_table() {
    let source = "[providers.p]\nplugin = \"x\"\nmodel = \"m\"\nprice = { input-per-mtok = 1 }\n";
    let e = errors(source);
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:4:9: missing key `output-per-mtok` in `providers.p.price`
      [missing_key]
    ");
}

#[test]
fn wrong_types() {
    let e = errors(&with_minimal("[run]\nrepeats = \"3\"\n"));
    assert_snapshot!(shown(&e), @r#"
    configs/x.toml:9:11: invalid value for `run.repeats`: invalid type: string "3", expected an integer
      [invalid_type]
    "#);
    let e = errors("[providers.p]\nplugin = \"x\"\nmodel = \"m\"\nprice = 3\n");
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:4:9: invalid value for `providers.p.price`: invalid type: integer `3`, expected a table
      [invalid_type]
    ");
    let e = errors("tasks = []\n");
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:1:9: invalid value for `tasks`: invalid type: array, expected a table
      [invalid_type]
    ");
}

#[test]
fn unknown_verdict_rule() {
    let e = errors(&with_minimal("[tasks.t.verdict]\nrule = \"weighed\"\n"));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:9:8: unknown value `weighed` for `tasks.t.verdict.rule`
      help: did you mean `weighted`?
      [invalid_value]
    ");
}

#[test]
fn no_providers_and_no_tasks() {
    let e = errors("[run]\nrepeats = 2\n");
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:1:1: no providers: the config must define at least one
      help: add a `[providers.NAME]` table with a `plugin` and a `model`
      [missing_key]
    configs/x.toml:1:1: no tasks: the config must define at least one
      help: add a `[tasks.NAME]` table with a `prompt`
      [missing_key]
    ");
}

#[test]
fn all_semantic_errors_are_reported_together() {
    let source = r#"[run]
repeats = 0
concurrency = -1
timeout-seconds = 0
output-dir = ""

[providers."bad name"]
plugin = "no such/plugin"
model = ""
api-key-env = "sk-ant-secret-value"
concurrency = 0
max-tokens = 0
temperature = 2.5
top-p = 1.5
top-k = 0
seed = -1
stop = [""]
price = { input-per-mtok = -1, output-per-mtok = nan, as-of = "2026-02-30" }

[providers.weird]
plugin = "has space"
model = "m"
price = { input-per-mtok = 1, output-per-mtok = 1, as-of = 2026-05-22T10:00:00 }
options = { x = inf }
"#;
    let e = errors(source);
    assert_snapshot!(shown(&e));
    assert!(
        !e.to_string().contains("sk-ant-secret-value"),
        "an API key pasted by mistake is never echoed"
    );
}

#[test]
fn task_errors() {
    let source = r#"
[providers.p]
plugin = "provider-replay"
model = "m"

[tasks.both]
prompt = "a"
prompt-file = "p.txt"
items = [{ x = "1" }]
items-file = "i.jsonl"

[tasks.neither]
max-tokens = 0

[tasks.items]
prompt = "{{ x }}"
items = [
  { id = "a", x = "1" },
  { id = "a", x = "2" },
  { id = " b", x = [1] },
]

[tasks.empty]
prompt = "a"
items = []

[tasks.weighted]
prompt = "a"
[[tasks.weighted.graders]]
plugin = "grader-regex"
weight = 0
[[tasks.weighted.graders]]
plugin = "grader-regex"
weight = -1
[tasks.weighted.verdict]
rule = "weighted"

[tasks.all-pass]
prompt = "a"
[[tasks.all-pass.graders]]
name = "a b"
plugin = "./libgrader.so"
[tasks.all-pass.verdict]
rule = "all-pass"
threshold = 0.5

[tasks.threshold]
prompt = "a"
[[tasks.threshold.graders]]
plugin = "grader-regex"
[tasks.threshold.verdict]
rule = "weighted"
threshold = 1.5
"#;
    let e = errors(source);
    assert_snapshot!(shown(&e));
}

#[test]
fn template_errors_in_config_strings() {
    let source = r#"
[providers.p]
plugin = "provider-replay"
model = "m"

[tasks.unclosed]
prompt = """
Line one {{ fine }}
Line two {{ broken
"""
items = [{ fine = "1" }]

[tasks.missing]
system = "{{role}}"
prompt = "Fix {{ code }} in {{ lang }}, {{ code }} again"
items = [
  { id = "has-both", code = "c", lang = "py" },
  { id = "no-code", lang = "py", role = "r" },
  { id = "nothing-either", role = "r", code = "c" },
  { id = "nor-me" },
]

[tasks.no-items]
prompt = "Hello {{name}}"

[tasks.empty-placeholder]
prompt = 'a {{ }} b'
"#;
    let e = errors(source);
    assert_snapshot!(shown(&e));
}

#[test]
fn positions_are_exact() {
    // Tabs, CRLF and multi-byte characters before the error.
    let source = "# é è\r\n[run]\r\n\trepeats = 1\r\n\t\"é\" = 2\r\n";
    let e = errors(source);
    let e = &e.0[0];
    assert_eq!((e.line, e.column), (4, 2));
    assert_eq!(e.message, "unknown key `é` in `run`");

    // A value's position, not its key's.
    let e = errors(&with_minimal("[run]\nrepeats = 1\nconcurrency =    0\n"));
    assert_eq!((e.0[0].line, e.0[0].column), (10, 18));

    // A placeholder inside an escaped string: the position of its `{{` in the source.
    let e = errors(
        "[providers.p]\nplugin = \"x\"\nmodel = \"m\"\n[tasks.t]\nprompt = \"\\t\\\"{{a}}\\\" {{ b }}\"\nitems = [{ a = \"1\" }]\n",
    );
    let e = &e.0[0];
    assert_eq!(
        e.message.split(" is ").next(),
        Some("template variable `b` in `tasks.t.prompt`")
    );
    assert_eq!((e.line, e.column), (5, 23));
}

#[test]
fn a_graders_judge_must_name_a_provider_and_brings_its_price() {
    let e = errors(
        r#"[providers.p]
plugin = "provider-replay"
model = "m"

[providers.judge]
plugin = "provider-openai"
model = "j"
judge-only = true

[tasks.t]
prompt = "hello"

[[tasks.t.graders]]
plugin = "grader-llm-judge"
judge = "jugde"

[[tasks.t.graders]]
name = "b"
plugin = "grader-llm-judge"
judge = "nobody"

[[tasks.t.graders]]
name = "c"
plugin = "grader-llm-judge"
judge = "judge"
price = { input-per-mtok = 1, output-per-mtok = 1 }
"#,
    );
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:15:9: `tasks.t.graders[0].judge` names no provider: there is no `[providers.jugde]`
      help: did you mean `judge`?
      [invalid_value]
    configs/x.toml:20:9: `tasks.t.graders[1].judge` names no provider: there is no `[providers.nobody]`
      help: add a `[providers.nobody]` entry for the judge model (with `judge-only = true` to keep it out of the benchmark)
      [invalid_value]
    configs/x.toml:26:9: `tasks.t.graders[2].price` does not go with `judge`
      help: the judge's requests are priced with `providers.judge.price`; remove this `price`
      [conflict]
    ");
}

#[test]
fn a_config_whose_providers_are_all_judges_has_nothing_to_benchmark() {
    let e = errors(
        "[providers.j]\nplugin = \"provider-openai\"\nmodel = \"m\"\njudge-only = true\n[tasks.t]\nprompt = \"hello\"\n",
    );
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:1:1: no providers to benchmark: every provider is `judge-only`
      help: add a `[providers.NAME]` table without `judge-only = true` for the model under test
      [missing_key]
    ");
}
