//! Options: what is refused and why, the former options that named the model, a judge
//! without a model, and `rubric-file` read from the config directory.

use std::path::Path;

use llmbench_plugin_sdk::core::{GradeOutcome, PluginContext};
use serde_json::{Value, json};

use crate::{GOOD, Scripted, create, grade, options};

fn refused(options: &Value) -> String {
    create(options, Path::new("."), Scripted::always(GOOD))
        .map(|_| panic!("accepted {options}"))
        .unwrap_err()
        .to_string()
}

#[test]
fn bad_options_are_refused_with_the_reason() {
    let cases = [
        (
            options(json!({ "pass-treshold": 0.5 })),
            "option `pass-treshold`: unknown option `pass-treshold` (did you mean `pass-threshold`?)",
        ),
        (
            options(json!({ "rubric-file": "r.md" })),
            "option `rubric-file`: give `rubric` or `rubric-file`, not both",
        ),
        (
            options(json!({ "rubric": " " })),
            "option `rubric`: the rubric is empty",
        ),
        (
            options(json!({ "pass-threshold": 1.5 })),
            "option `pass-threshold`: must be between 0 and 1, not 1.5",
        ),
        (
            options(json!({ "max-tokens": 0 })),
            "option `max-tokens`: must be at least 1",
        ),
        (
            options(json!({ "temperature": 3.0 })),
            "option `temperature`: must be between 0 and 2, not 3",
        ),
        (json!({}), "missing `rubric` (or `rubric-file`)"),
    ];
    for (options, expected) in cases {
        let e = refused(&options);
        assert!(e.contains(expected), "{options}: {e}");
    }
}

#[test]
fn the_former_model_options_say_where_the_judge_is_configured_now() {
    for key in ["protocol", "model", "base-url", "timeout-seconds"] {
        let e = refused(&options(json!({ key: "x" })));
        assert!(
            e.contains(&format!(
                "option `{key}`: the judge model is now a provider entry of the config"
            )),
            "{e}"
        );
        assert!(e.contains("judge-only = true"), "{e}");
        assert!(e.contains("set `judge = \"NAME\"` on this grader"), "{e}");
        // `llmbench validate` gives the same answer without creating anything.
        let checked = crate::plugin()
            .check_options(
                llmbench_plugin_host::PluginKind::Grader,
                &options(json!({ key: "x" })),
                &PluginContext::default(),
            )
            .unwrap_err()
            .to_string();
        assert!(checked.contains("now a provider entry"), "{checked}");
    }
}

#[test]
fn a_judge_the_config_gives_no_model_is_refused() {
    let context = PluginContext {
        instance_name: "judge".into(),
        ..Default::default()
    };
    let e =
        llmbench_plugin_host::PluginGrader::new(&crate::plugin(), &options(json!({})), &context)
            .unwrap_err()
            .to_string();
    assert!(e.contains("no judge model"), "{e}");
    assert!(e.contains("`judge = \"NAME\"`"), "{e}");
}

#[test]
fn the_rubric_file_is_read_from_the_config_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("rubrics")).unwrap();
    std::fs::write(dir.path().join("rubrics/race.md"), "Names the race.\n").unwrap();
    let model = Scripted::always(GOOD);
    let o = json!({ "rubric-file": "rubrics/race.md" });
    let judge = create(&o, dir.path(), model.clone()).unwrap();
    assert_eq!(grade(&judge, "an answer").outcome, GradeOutcome::Pass);
    let (_, request) = &model.requests()[0];
    assert!(
        request.messages[0].content.contains("Names the race."),
        "{}",
        request.messages[0].content
    );

    let missing = json!({ "rubric-file": "rubrics/nope.md" });
    let e = create(&missing, dir.path(), model).unwrap_err().to_string();
    let path = dir.path().join("rubrics/nope.md");
    assert!(e.contains(&path.display().to_string()), "{e}");
}
