//! Options: what is refused and why, and `rubric-file` read from the config directory.

use std::path::Path;

use llmbench_mockserver::{Answer, MockConfig, Protocol};
use llmbench_plugin_sdk::core::GradeOutcome;
use serde_json::{Value, json};

use crate::{GOOD, create, grade, options, server};

fn refused(options: &Value) -> String {
    create(options, Path::new("."))
        .map(|_| panic!("accepted {options}"))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let server = server(MockConfig::new(Protocol::OpenAi));
    let with = |extra: Value| options(&server, extra);
    let cases = [
        (
            with(json!({ "pass-treshold": 0.5 })),
            "option `pass-treshold`: unknown option `pass-treshold` (did you mean `pass-threshold`?)",
        ),
        (
            with(json!({ "protocol": "grpc" })),
            "option `protocol`: unknown value `grpc` (expected one of `openai`, `anthropic`)",
        ),
        (
            with(json!({ "rubric-file": "r.md" })),
            "option `rubric-file`: give `rubric` or `rubric-file`, not both",
        ),
        (
            with(json!({ "rubric": " " })),
            "option `rubric`: the rubric is empty",
        ),
        (
            with(json!({ "pass-threshold": 1.5 })),
            "option `pass-threshold`: must be between 0 and 1, not 1.5",
        ),
        (
            with(json!({ "max-tokens": 0 })),
            "option `max-tokens`: must be at least 1",
        ),
        (
            with(json!({ "temperature": 3.0 })),
            "option `temperature`: must be between 0 and 2, not 3",
        ),
        (
            with(json!({ "timeout-seconds": 0 })),
            "option `timeout-seconds`: must be a number of seconds above 0",
        ),
        (with(json!({ "base-url": "localhost:1" })), "http://"),
        (
            json!({ "protocol": "openai", "rubric": "r" }),
            "missing field `model`",
        ),
    ];
    for (options, expected) in cases {
        let e = refused(&options);
        assert!(e.contains(expected), "{options}: {e}");
    }
    let mut no_rubric = with(json!({}));
    no_rubric.as_object_mut().unwrap().remove("rubric");
    assert!(refused(&no_rubric).contains("missing `rubric` (or `rubric-file`)"));
}

#[test]
fn the_public_endpoint_needs_a_key() {
    let options = json!({ "protocol": "anthropic", "model": "claude-haiku-4-5", "rubric": "r" });
    let context = llmbench_plugin_sdk::core::PluginContext {
        instance_name: "judge".into(),
        ..Default::default()
    };
    let e = llmbench_plugin_host::PluginGrader::new(&crate::plugin(), &options, &context)
        .unwrap_err()
        .to_string();
    assert!(e.contains("needs an API key"), "{e}");
    assert!(e.contains("api-key-env"), "{e}");
}

#[test]
fn the_rubric_file_is_read_from_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rubrics")).unwrap();
    std::fs::write(dir.path().join("rubrics/race.md"), "Names the race.\n").unwrap();
    let server = server(MockConfig {
        answer: Answer::Fixed(GOOD.into()),
        ..MockConfig::new(Protocol::OpenAi)
    });
    let mut o = options(&server, json!({ "rubric-file": "rubrics/race.md" }));
    o.as_object_mut().unwrap().remove("rubric");
    let judge = create(&o, dir.path()).unwrap();
    assert_eq!(grade(&judge, "an answer").outcome, GradeOutcome::Pass);

    let mut missing = o.clone();
    missing["rubric-file"] = json!("rubrics/nope.md");
    let e = create(&missing, dir.path()).unwrap_err().to_string();
    let path = dir.path().join("rubrics/nope.md");
    assert!(e.contains(&path.display().to_string()), "{e}");
}
