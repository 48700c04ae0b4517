//! Every config shipped in the repository's `configs/` directory is valid.

use std::path::{Path, PathBuf};

use llmbench_core::Task;

fn configs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs")
}

/// Whether every `prompt-file` and `items-file` the config names exists (someone else may
/// not have written them yet; the config must then fail only on those files).
fn named_files_exist(path: &Path) -> bool {
    let source = std::fs::read_to_string(path).unwrap();
    let table: toml::Table = toml::from_str(&source).unwrap();
    let dir = path.parent().unwrap();
    let tasks = table.get("tasks").and_then(|t| t.as_table());
    tasks.into_iter().flatten().all(|(_, task)| {
        ["prompt-file", "items-file"].iter().all(|key| {
            task.get(*key)
                .and_then(|f| f.as_str())
                .is_none_or(|f| dir.join(f).exists())
        })
    })
}

#[test]
fn every_config_in_configs_dir_parses() {
    let mut checked = Vec::new();
    for entry in std::fs::read_dir(configs_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        match llmbench_config::load(&path) {
            Ok(config) => {
                assert!(!config.providers.is_empty() && !config.tasks.is_empty());
                checked.push(name);
            }
            Err(errors) if !named_files_exist(&path) => {
                assert!(
                    errors.iter().all(|e| e.kind() == "io"),
                    "{name}: only missing files may fail:\n{errors}"
                );
            }
            // A named dataset not fetched on this machine: the only error, and it says how
            // to fetch it.
            Err(errors)
                if errors
                    .iter()
                    .all(|e| e.kind == llmbench_config::ConfigErrorKind::DatasetNotFetched) =>
            {
                assert!(
                    errors
                        .iter()
                        .all(|e| e.message.contains("llmbench datasets fetch")),
                    "{errors}"
                );
            }
            Err(errors) => panic!("{name} does not load:\n{errors}"),
        }
    }
    assert!(
        checked.iter().any(|n| n == "replay-example.toml"),
        "checked {checked:?}"
    );
}

#[test]
fn replay_example_is_the_founding_article() {
    let config = llmbench_config::load(&configs_dir().join("replay-example.toml")).unwrap();
    let models: Vec<_> = config
        .providers
        .iter()
        .map(|p| {
            let price = p.price.as_ref().unwrap();
            (
                p.name.as_str(),
                p.model.as_str(),
                p.label.as_str(),
                price.price.input_per_mtok,
                price.price.output_per_mtok,
                price.as_of.as_deref().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        models,
        [
            (
                "haiku",
                "claude-haiku-4-5",
                "Claude Haiku 4.5",
                1.0,
                5.0,
                "2026-05-22"
            ),
            (
                "sonnet",
                "claude-sonnet-4-6",
                "Claude Sonnet 4.6",
                3.0,
                15.0,
                "2026-05-22"
            ),
            (
                "opus",
                "claude-opus-4-7",
                "Claude Opus 4.7",
                15.0,
                75.0,
                "2026-05-22"
            ),
        ]
    );
    for p in &config.providers {
        assert_eq!(p.plugin, "provider-replay");
        assert_eq!(
            p.options,
            serde_json::json!({ "answers": "replay/race-condition.jsonl" })
        );
    }
    assert_eq!(config.run.repeats, 1);

    let task = config.task("race-condition").unwrap();
    let graders: Vec<_> = task.graders.iter().map(|g| g.plugin.as_str()).collect();
    assert_eq!(graders, ["grader-sections", "grader-regex"]);
    assert_eq!(
        task.graders[0].options,
        serde_json::json!({ "sections": ["Bug", "Why it happens", "Fix"], "code-block-in": "Fix" })
    );
    assert_eq!(
        task.graders[1].options,
        serde_json::json!({ "pattern": "(?i)race|stampede|concurren" })
    );

    // The article's prompt, verbatim, with the code in place.
    let request = task.render(&task.items.get(0));
    assert_eq!(task.items.get(0).id, "stampede");
    assert_eq!(
        request.messages[0].content,
        r#"The following Python async function intermittently returns stale data. Identify the bug, explain why it happens, and provide a minimal corrected version.

```python
import asyncio

cache = {}

async def get_or_fetch(key, fetcher):
    if key in cache:
        return cache[key]
    value = await fetcher(key)
    cache[key] = value
    return value
```

Answer format: three sections ("Bug", "Why it happens", "Fix" with code)."#
    );
}
