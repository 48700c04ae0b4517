//! The files plugins read while created are collected for the run to store, and a resumed
//! build serves the plugins the stored copies instead of the files on disk now.

use std::path::Path;

use llmbench_core::{CompletionRequest, Message, SampleKey};
use llmbench_runner::{Components, StoredPluginFiles};
use llmbench_store::{FileRole, NewRun, Store};

use crate::plugin_dir;

fn write_answers(dir: &Path, word: &str) {
    std::fs::write(
        dir.join("answers.jsonl"),
        format!("{{\"task\": \"t\", \"item\": \"a\", \"model\": \"m\", \"text\": \"{word}\"}}\n"),
    )
    .unwrap();
}

fn config(dir: &Path) -> llmbench_config::Config {
    let source = r#"
[providers.replay]
plugin = "provider-replay"
model = "m"
options = { answers = "answers.jsonl" }

[tasks.t]
prompt = "{{ q }}"
items = [{ id = "a", q = "question" }]
"#;
    llmbench_config::parse(source, &dir.join("bench.toml")).expect("the config is valid")
}

async fn answer(components: &Components) -> String {
    let request = CompletionRequest {
        model: "m".into(),
        system: None,
        messages: vec![Message::user("question")],
        max_tokens: 16,
        sampling: Default::default(),
        stream: false,
        sample: Some(SampleKey {
            task: "t".into(),
            item: "a".into(),
            provider: "replay".into(),
            repeat: 0,
        }),
    };
    components.providers[0]
        .provider
        .complete(&request)
        .await
        .expect("the replay answers")
        .text
}

fn new_run(id: &str) -> NewRun {
    NewRun {
        id: id.into(),
        created_at: llmbench_store::utc_now_rfc3339(),
        config_path: "bench.toml".into(),
        config_toml: String::new(),
        prices_json: serde_json::json!({}),
        planned_samples: 1,
        providers: vec![("replay".into(), "m".into(), "m".into())],
        graders: vec![("t".into(), vec![])],
        pass_at_k: vec![],
    }
}

#[tokio::test]
async fn plugin_files_are_collected_and_a_resume_reads_the_stored_copies() {
    let dir = tempfile::tempdir().unwrap();
    write_answers(dir.path(), "ORIGINAL");
    let config = config(dir.path());
    let answers = config.dir.join("answers.jsonl").display().to_string();

    let mut built = llmbench_runner::build(&config, &plugin_dir())
        .await
        .unwrap();
    assert_eq!(answer(&built).await, "ORIGINAL");
    let files = std::mem::take(&mut built.plugin_files);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].role, FileRole::PluginFile);
    assert_eq!(files[0].path, format!("providers.replay:{answers}"));
    assert!(
        String::from_utf8_lossy(&files[0].content.to_bytes().unwrap()).contains("\"ORIGINAL\"")
    );

    let store = Store::open_in_dir(&dir.path().join("results")).unwrap();
    store
        .create_run_with_files(&new_run("new"), &files)
        .unwrap();
    // A run stored before runs kept the files plugins read.
    store.create_run_with_files(&new_run("old"), &[]).unwrap();

    write_answers(dir.path(), "EDITED");
    let stored = llmbench_runner::stored_plugin_files(&store, "new").unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored.for_entry("providers.replay").len(), 1);
    let resumed = llmbench_runner::build_resumed(&config, &plugin_dir(), &stored)
        .await
        .unwrap();
    assert_eq!(
        answer(&resumed).await,
        "ORIGINAL",
        "the stored copy is read"
    );
    // What the resumed plugin read is the copy.
    assert_eq!(resumed.plugin_files, files);

    let none: StoredPluginFiles = llmbench_runner::stored_plugin_files(&store, "old").unwrap();
    assert!(none.is_empty());
    let from_disk = llmbench_runner::build_resumed(&config, &plugin_dir(), &none)
        .await
        .unwrap();
    assert_eq!(
        answer(&from_disk).await,
        "EDITED",
        "no copy: read from disk"
    );
}
