//! `llmbench validate`: good configs pass, a typo is located and a fix suggested.

use crate::{llmbench, repo, text};

#[test]
fn every_shipped_config_validates() {
    let dir = repo().join("configs");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = llmbench(&["validate"]).arg(&path).output().unwrap();
            let (stdout, stderr) = text(&out);
            assert!(out.status.success(), "{}: {stderr}", path.display());
            assert!(stdout.contains(": ok ("), "{stdout}");
            seen += 1;
        }
    }
    assert!(seen >= 1);
}

#[test]
fn a_typo_is_located_with_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(
        &path,
        "[providers.echo]\nplugin = \"provider-testkit\"\nmodel = \"echo\"\ntemprature = 0.2\n\n[tasks.t]\nprompt = \"hi\"\n",
    )
    .unwrap();
    let out = llmbench(&["validate"]).arg(&path).output().unwrap();
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!("{}:4:1", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains("did you mean `temperature`?"), "{stderr}");
}
