//! The reference-answer tasks' calibration (`configs/reference-calibration.toml`): every
//! recorded answer gets its stated verdict, for its stated reason, through the real
//! `grader-match` plugin.

use std::collections::BTreeMap;

use crate::{export_jsonl, llmbench, repo, text};

/// The evidence of a grade must say this for the verdict to count as "for its reason".
fn reason(task: &str, provider: &str, item: &str) -> &'static str {
    match (task, provider, item) {
        // Every pass names what was extracted and what it was compared with.
        (_, "correct" | "formatted", _) => "expected",
        ("json", "wrong", "person" | "city") => "schema",
        ("json", "wrong", "order") => "differ",
        ("json", "wrong", "meeting") => "JSON",
        ("arithmetic" | "choice", "wrong", _) => "!=",
        _ => unreachable!("no such calibration answer: {task} {provider} {item}"),
    }
}

#[test]
fn every_reference_calibration_answer_gets_its_verdict_for_its_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let config = repo().join("configs/reference-calibration.toml");
    let out = llmbench(&["run", "--config"])
        .arg(&config)
        .arg("--output-dir")
        .arg(tmp.path().join("results"))
        .output()
        .unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "run failed:\n{stdout}\n{stderr}");

    let samples = export_jsonl(tmp.path(), "latest");
    // 10 arithmetic + 6 choice + 4 JSON items, three answers each.
    assert_eq!(samples.len(), 60, "{samples:#?}");
    let mut wrong = Vec::new();
    let mut per_provider: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for s in &samples {
        let task = s["task"].as_str().unwrap();
        let item = s["item"].as_str().unwrap();
        let provider = s["provider"].as_str().unwrap();
        let pass = s["verdict"]["pass"].as_bool().unwrap();
        let evidence = s["grades"][0]["evidence"].as_str().unwrap_or_default();
        let want_pass = provider != "wrong";
        let why = reason(task, provider, item);
        let entry = per_provider.entry(provider.to_owned()).or_default();
        entry.1 += 1;
        if pass {
            entry.0 += 1;
        }
        if pass != want_pass || !evidence.contains(why) {
            wrong.push(format!(
                "{task}/{item} answered by {provider}: pass={pass} (want {want_pass}), evidence {evidence:?} (want it to mention {why:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    assert_eq!(per_provider["correct"], (20, 20));
    assert_eq!(per_provider["formatted"], (20, 20));
    assert_eq!(per_provider["wrong"], (0, 20));
}
