//! A config built from a run's stored copies of its files (`parse_stored`), and the files a
//! load records (`Config::files`).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use llmbench_config::{Config, SourceRole, load, parse_stored};
use llmbench_core::Task as _;

use crate::shown;

/// A config in `dir` whose task reads a prompt file and a gzipped items file, and a second
/// task that reads the same prompt file.
fn write(dir: &Path, prompt: &str, items: &str) -> PathBuf {
    std::fs::create_dir_all(dir.join("prompts")).unwrap();
    std::fs::write(dir.join("prompts/ask.txt"), prompt).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(items.as_bytes()).unwrap();
    std::fs::write(dir.join("items.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let config = dir.join("bench.toml");
    std::fs::write(
        &config,
        r#"
[providers.p]
plugin = "provider-replay"
model = "m"

[tasks.a]
prompt-file = "prompts/ask.txt"
items-file = "items.jsonl.gz"

[tasks.b]
prompt-file = "prompts/ask.txt"
items = [{ id = "x", q = "inline" }]
"#,
    )
    .unwrap();
    config
}

fn prompts(config: &Config) -> Vec<String> {
    config
        .tasks
        .iter()
        .flat_map(|t| {
            t.items()
                .iter()
                .map(|i| t.render(i).messages[0].content.clone())
        })
        .collect()
}

fn stored(config: &Config) -> BTreeMap<PathBuf, Arc<[u8]>> {
    config
        .files
        .iter()
        .map(|f| (f.path.clone(), Arc::clone(&f.bytes)))
        .collect()
}

#[test]
fn a_load_records_every_file_it_read_once_with_its_bytes_as_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "Q: {{ q }}",
        "{\"id\": \"1\", \"q\": \"one\"}\n",
    );
    let config = load(&path).unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    let files: Vec<(SourceRole, PathBuf)> = config
        .files
        .iter()
        .map(|f| (f.role, f.path.clone()))
        .collect();
    assert_eq!(
        files,
        [
            (SourceRole::Config, canonical.join("bench.toml")),
            (SourceRole::Prompt, canonical.join("prompts/ask.txt")),
            (SourceRole::Items, canonical.join("items.jsonl.gz")),
        ]
    );
    assert_eq!(&*config.files[0].bytes, config.source.as_bytes());
    assert_eq!(&*config.files[1].bytes, b"Q: {{ q }}");
    // Compressed, as on disk.
    assert_eq!(
        &*config.files[2].bytes,
        std::fs::read(dir.path().join("items.jsonl.gz")).unwrap()
    );
}

#[test]
fn a_stored_config_reads_the_stored_copies_not_the_files_on_disk_now() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "Q: {{ q }}",
        "{\"id\": \"1\", \"q\": \"one\"}\n{\"id\": \"2\", \"q\": \"two\"}\n",
    );
    let first = load(&path).unwrap();
    assert_eq!(prompts(&first), ["Q: one", "Q: two", "Q: inline"]);
    let files = stored(&first);

    // Edited and truncated since; the stored copies still give the first inputs.
    write(
        dir.path(),
        "Changed: {{ q }}",
        "{\"id\": \"1\", \"q\": \"new\"}\n",
    );
    assert_eq!(
        prompts(&load(&path).unwrap()),
        ["Changed: new", "Changed: inline"]
    );
    let again = parse_stored(&first.source, &first.path, &files).unwrap();
    assert_eq!(prompts(&again), ["Q: one", "Q: two", "Q: inline"]);
    assert_eq!(stored(&again), files);

    // Even with the files gone from disk.
    std::fs::remove_dir_all(dir.path().join("prompts")).unwrap();
    std::fs::remove_file(dir.path().join("items.jsonl.gz")).unwrap();
    let again = parse_stored(&first.source, &first.path, &files).unwrap();
    assert_eq!(prompts(&again), ["Q: one", "Q: two", "Q: inline"]);
}

#[test]
fn a_file_the_run_did_not_store_is_an_error_at_the_value_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "Q: {{ q }}",
        "{\"id\": \"1\", \"q\": \"one\"}\n",
    );
    let config = load(&path).unwrap();
    let mut files = stored(&config);
    files.retain(|p, _| !p.ends_with("prompts/ask.txt"));
    let e = shown(&parse_stored(&config.source, &config.path, &files).unwrap_err());
    assert!(e.contains("bench.toml:7:15: cannot read"), "{e}");
    assert!(e.contains("the run stored no copy of"), "{e}");
    assert!(e.contains("[io]"), "{e}");
}

#[test]
fn stored_copies_are_decoded_with_the_same_limits() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "Q: {{ q }}",
        "{\"id\": \"1\", \"q\": \"one\"}\n",
    );
    let config = load(&path).unwrap();
    let mut files = stored(&config);
    let prompt = config.dir.join("prompts/ask.txt");
    files.insert(prompt, Arc::from(&b"bad \xff"[..]));
    let e = shown(&parse_stored(&config.source, &config.path, &files).unwrap_err());
    assert!(e.contains("line 1 is not valid UTF-8"), "{e}");
}
