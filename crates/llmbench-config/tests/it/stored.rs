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
        .map(|f| (f.path.clone(), f.content.to_bytes().unwrap()))
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
    assert_eq!(
        &*config.files[0].content.to_bytes().unwrap(),
        config.source.as_bytes()
    );
    assert_eq!(&*config.files[1].content.to_bytes().unwrap(), b"Q: {{ q }}");
    // Compressed, as on disk.
    assert_eq!(
        &*config.files[2].content.to_bytes().unwrap(),
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

/// A plain `.jsonl` items file is read as a stream, never whole: the config records where it
/// is with the size and SHA-256 of what was read (not its bytes), once for the two tasks that
/// name it, and its items are those the same text gives read whole (from a `.gz` copy).
#[test]
fn a_jsonl_file_is_read_as_a_stream_with_the_items_the_whole_text_gives() {
    let dir = tempfile::tempdir().unwrap();
    // A byte order mark, CRLF line ends, blank lines, a line longer than the stream's
    // buffer (1 MiB), a `\r` inside a value and a last line without a line end.
    let long = "x".repeat(3 << 20);
    let text = format!(
        "\u{feff}{{\"id\": \"a\", \"q\": \"one\"}}\r\n\n  \n{{\"id\": \"b\", \"q\": \"{long}\"}}\n{{\"id\": \"c\", \"q\": \"tab\\r\"}}\r\n{{\"id\": \"d\", \"q\": \"é\"}}"
    );
    std::fs::write(dir.path().join("items.jsonl"), &text).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(text.as_bytes()).unwrap();
    std::fs::write(dir.path().join("whole.jsonl.gz"), gz.finish().unwrap()).unwrap();
    let config = dir.path().join("bench.toml");
    std::fs::write(
        &config,
        r#"
[providers.p]
plugin = "provider-replay"
model = "m"

[tasks.a]
prompt = "{{ q }}"
items-file = "items.jsonl"

[tasks.b]
prompt = "{{ q }}"
items-file = "items.jsonl"

[tasks.whole]
prompt = "{{ q }}"
items-file = "whole.jsonl.gz"
"#,
    )
    .unwrap();
    let config = load(&config).unwrap();
    let canonical = dir.path().canonicalize().unwrap();
    let items: Vec<_> = config
        .files
        .iter()
        .filter(|f| f.role == SourceRole::Items)
        .collect();
    assert_eq!(items.len(), 2, "{:?}", config.files);
    assert_eq!(items[0].path, canonical.join("items.jsonl"));
    assert!(
        matches!(&items[0].content, llmbench_core::FileContent::Disk { path, len, .. }
            if *path == canonical.join("items.jsonl") && *len == text.len() as u64),
        "{:?}",
        items[0].content
    );
    assert_eq!(&*items[0].content.to_bytes().unwrap(), text.as_bytes());
    assert_eq!(
        items[0].content.sha256_hex(),
        llmbench_core::FileContent::from(text.as_bytes().to_vec()).sha256_hex()
    );
    let of = |task: usize| config.tasks[task].items().to_vec();
    assert_eq!(of(0).len(), 4);
    assert_eq!(of(0)[1].vars["q"], long);
    assert_eq!(of(0)[2].vars["q"], "tab\r");
    assert_eq!(of(0), of(2));
    assert_eq!(of(1), of(2));
    assert_eq!(
        (0..4)
            .map(|i| config.tasks[0].item_place(i))
            .collect::<Vec<_>>(),
        (1..=6)
            .filter(|l| ![2, 3].contains(l))
            .map(|l| format!("{}:{l}", dir.path().join("items.jsonl").display()))
            .collect::<Vec<_>>()
    );

    // Held in memory (what `serve` does): the bytes read, whatever the file holds later.
    let mut held = config.clone();
    held.hold_files().unwrap();
    std::fs::write(dir.path().join("items.jsonl"), "{\"id\": \"z\"}\n").unwrap();
    assert!(matches!(
        held.files[1].content,
        llmbench_core::FileContent::Bytes(_)
    ));
    assert_eq!(&*held.files[1].content.to_bytes().unwrap(), text.as_bytes());
    assert!(config.files[1].content.to_bytes().is_err());

    // Not UTF-8 on line 3: the same error as for the file read whole, and no items.
    let mut bad = b"{\"id\": \"a\"}\n{\"id\": \"b\"}\n{\"id\": \"".to_vec();
    bad.extend_from_slice(b"\xff\"}\n{\"id\": \"d\"}\n");
    std::fs::write(dir.path().join("items.jsonl"), &bad).unwrap();
    let errors = shown(&load(&dir.path().join("bench.toml")).unwrap_err());
    assert!(
        errors.contains("items.jsonl: line 3 is not valid UTF-8"),
        "{errors}"
    );
}
