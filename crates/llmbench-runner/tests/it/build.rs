//! `build` checks every item's rendered grader options before a run starts.

use std::path::Path;

use llmbench_runner::BuildError;

use crate::plugin_dir;

/// A config with one testkit provider and a task whose regex grader's pattern is an item's
/// `expected`, with `items` inline.
fn config(items: &str) -> llmbench_config::Config {
    let source = format!(
        r#"
[providers.echo]
plugin = "provider-testkit"
model = "echo"

[tasks.math]
prompt = "{{{{ question }}}}"
items = [
{items}
]

[[tasks.math.graders]]
name = "exact"
plugin = "grader-regex"
options = {{ pattern = "^echo: {{{{ expected }}}}$" }}
"#
    );
    llmbench_config::parse(&source, Path::new("bench.toml")).expect("the config is valid")
}

fn item(id: &str, expected: &str) -> String {
    format!("  {{ id = \"{id}\", question = \"q\", expected = \"{expected}\" }},")
}

#[tokio::test]
async fn items_whose_rendered_options_a_grader_refuses_stop_the_build() {
    let items = [
        item("good", "4"),
        item("bad", "4("),
        item("also-good", "[0-9]+"),
    ]
    .join("\n");
    let config = config(&items);
    let e = llmbench_runner::build(&config, &plugin_dir())
        .await
        .expect_err("an item's pattern is not a valid regex");
    assert_eq!(e.kind(), "item_options");
    let BuildError::ItemOptions { failures, total } = &e else {
        panic!("{e}");
    };
    assert_eq!(*total, 1);
    assert_eq!(failures.len(), 1);
    // The inline item `bad` is on line 10 of the config, at its `id` value.
    let line = &failures[0];
    assert!(
        line.starts_with("bench.toml:10:")
            && line.contains(": item `bad`: grader `exact`: option `pattern`: invalid regex: "),
        "{line}"
    );
    let text = e.to_string();
    assert!(
        text.starts_with("1 item cannot be graded with its options:\n  bench.toml:10:"),
        "{text}"
    );
}

#[tokio::test]
async fn valid_items_build_and_many_failures_are_capped() {
    let good = [item("a", "1"), item("b", "x+")].join("\n");
    let components = llmbench_runner::build(&config(&good), &plugin_dir())
        .await
        .expect("every item's pattern compiles");
    assert_eq!(components.tasks[0].graders.len(), 1);

    let bad: Vec<String> = (0..25).map(|i| item(&format!("bad-{i}"), "(")).collect();
    let e = llmbench_runner::build(&config(&bad.join("\n")), &plugin_dir())
        .await
        .unwrap_err();
    let BuildError::ItemOptions { failures, total } = &e else {
        panic!("{e}");
    };
    assert_eq!((failures.len(), *total), (20, 25));
    let text = e.to_string();
    assert!(
        text.starts_with("25 items cannot be graded with their options:\n"),
        "{text}"
    );
    assert!(text.contains("item `bad-19`"), "{text}");
    assert!(!text.contains("item `bad-20`"), "{text}");
    assert!(text.ends_with("\n  ... and 5 more"), "{text}");
}

/// `grader-match` without an `expected` option compares with the item's `expected` variable:
/// its default (`GraderPlugin::item_defaults`), which the build checks for every item like a
/// written `expected = "{{ expected }}"`, and which each grade request then carries.
#[tokio::test]
async fn a_graders_item_defaults_are_checked_for_every_item_and_rendered_for_each_grade() {
    let source = r#"
[providers.echo]
plugin = "provider-testkit"
model = "echo"

[tasks.math]
prompt = "{{ question }}"
items = [
  { id = "good", question = "q", expected = "1,200" },
  { id = "bad", question = "q", expected = "twelve" },
  { id = "none", question = "q" },
]

[[tasks.math.graders]]
name = "number"
plugin = "grader-match"
options = { mode = "numeric" }
"#;
    let config = llmbench_config::parse(source, Path::new("bench.toml")).expect("valid");
    let e = llmbench_runner::build(&config, &plugin_dir())
        .await
        .expect_err("item `bad`'s expected is not a number");
    let BuildError::ItemOptions { failures, total } = &e else {
        panic!("{e}");
    };
    // Only `bad`: `none` has no `expected` (its samples get an error grade that says so).
    assert_eq!(*total, 1, "{failures:?}");
    assert!(
        failures[0].starts_with("bench.toml:10:")
            && failures[0].contains(
                r#"item `bad`: grader `number`: option `expected`: "twelve" is not a number"#
            ),
        "{failures:?}"
    );

    let fixed = source.replace("expected = \"twelve\"", "expected = \"12\"");
    let config = llmbench_config::parse(&fixed, Path::new("bench.toml")).expect("valid");
    let components = llmbench_runner::build(&config, &plugin_dir())
        .await
        .expect("every item's expected is a number");
    // Each grade request carries the item's variables, no options: the plugin renders the
    // default for the item itself, as the check above did.
    let (_, grader) = &components.tasks[0].graders[0];
    let items = &config.tasks[0].items;
    let grade = |index: usize, answer: &str| {
        let item = items.get(index);
        let request = llmbench_core::GradeRequest {
            task: "math".into(),
            item: item.id,
            vars: item.vars,
            completion: llmbench_core::Completion {
                text: answer.into(),
                stop_reason: llmbench_core::StopReason::EndTurn,
                usage: Default::default(),
                timings: Default::default(),
                response_model: None,
            },
            options: None,
        };
        async move { grader.grade(&request).await.expect("graded") }
    };
    use llmbench_core::GradeOutcome::{Error, Fail, Pass};
    for (index, answer, outcome, says) in [
        (0, "It costs $1,200.00.", Pass, r#"expected "1,200""#),
        (1, "It costs 13.", Fail, r#"expected "12""#),
        (2, "12", Error, "nothing to compare with"),
    ] {
        let got = grade(index, answer).await;
        assert_eq!(got.outcome, outcome, "{}", got.evidence);
        assert!(got.evidence.contains(says), "{}", got.evidence);
    }
}
