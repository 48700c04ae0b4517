//! Runs that remember: requests as sent (deduplicated), the files a run read, and what
//! reports, exports and retention do with them.

use llmbench_core::{CompletionRequest, Message, Sampling};
use llmbench_store::{ExportFormat, FileRole, RunFile, Store, request_hash};

use crate::common::{attempts, count, full_record, key, new_run, raw, store_with_run};

fn request(prompt: &str, seed: Option<u64>) -> CompletionRequest {
    CompletionRequest {
        model: "model-z".into(),
        system: Some("Be brief.".into()),
        messages: vec![Message::user(prompt)],
        max_tokens: 256,
        sampling: Sampling {
            temperature: Some(0.5),
            seed,
            ..Sampling::default()
        },
        stream: true,
        sample: None,
    }
}

#[test]
fn requests_are_stored_once_per_content_and_read_back_with_each_sample() {
    let (dir, mut store) = store_with_run();
    // Three repeats of one prompt (the per-sample key differs), and one other prompt.
    for repeat in 0..3 {
        let k = key("t1", "i1", "zeta", repeat);
        let mut record = full_record(k.clone());
        let mut sent = request("Fix the race.", None);
        sent.sample = Some(k);
        record.request = Some(sent);
        store.record_sample("r1", &record, &attempts(1)).unwrap();
    }
    let mut other = full_record(key("t1", "i2", "zeta", 0));
    other.request = Some(request("Fix the leak.", None));
    store.record_sample("r1", &other, &attempts(1)).unwrap();
    // No request: a sample as older builds wrote it.
    store
        .record_sample("r1", &full_record(key("t1", "i3", "zeta", 0)), &attempts(1))
        .unwrap();

    assert_eq!(store.request_count().unwrap(), 2);
    let conn = raw(&dir.path().join("llmbench.sqlite"));
    assert_eq!(
        count(&conn, "SELECT count(DISTINCT request_hash) FROM samples"),
        2
    );
    assert_eq!(
        count(
            &conn,
            "SELECT count(*) FROM samples WHERE request_hash IS NULL"
        ),
        1
    );

    let report = store.report("r1").unwrap();
    let prompts: Vec<Option<&str>> = report
        .samples
        .iter()
        .map(|s| s.request.as_ref().map(|r| r.messages[0].content.as_str()))
        .collect();
    assert_eq!(
        prompts,
        [
            Some("Fix the race."),
            Some("Fix the race."),
            Some("Fix the race."),
            Some("Fix the leak."),
            None
        ]
    );
    // Read back as sent, without the per-sample key.
    assert_eq!(
        report.samples[0].request.as_ref().unwrap(),
        &request("Fix the race.", None)
    );
}

#[test]
fn the_hash_ignores_the_sample_key_but_not_what_is_sent() {
    let plain = request("p", None);
    let mut keyed = plain.clone();
    keyed.sample = Some(key("t", "i", "p", 3));
    assert_eq!(request_hash(&plain), request_hash(&keyed));
    assert!(!request_hash(&plain).1.contains("sample"));
    assert_ne!(
        request_hash(&plain).0,
        request_hash(&request("p", Some(1))).0
    );
    assert_ne!(request_hash(&plain).0, request_hash(&request("q", None)).0);
    let (hash, json) = request_hash(&plain);
    assert_eq!(hash.len(), 64);
    assert_eq!(hash, llmbench_store::sha256_hex(json.as_bytes()));
    // Keys sorted: the text is canonical.
    assert!(
        json.starts_with(
            r#"{"max_tokens":256,"messages":[{"content":"p","role":"user"}],"model":"model-z","#
        ),
        "{json}"
    );
}

#[test]
fn exports_carry_each_samples_request() {
    let (_dir, mut store) = store_with_run();
    let mut record = full_record(key("t1", "i1", "zeta", 0));
    record.request = Some(request("Fix, \"the\" race.", None));
    store.record_sample("r1", &record, &attempts(1)).unwrap();
    store
        .record_sample("r1", &full_record(key("t1", "i2", "zeta", 0)), &attempts(1))
        .unwrap();

    let mut out = Vec::new();
    store.export("r1", ExportFormat::Jsonl, &mut out).unwrap();
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines[0]["request"]["messages"][0]["content"],
        "Fix, \"the\" race."
    );
    assert_eq!(lines[0]["request"]["system"], "Be brief.");
    assert!(lines[0]["request"].get("sample").is_none());
    assert!(lines[1]["request"].is_null());

    let mut out = Vec::new();
    store.export("r1", ExportFormat::Csv, &mut out).unwrap();
    let mut reader = csv::Reader::from_reader(out.as_slice());
    let header = reader.headers().unwrap().clone();
    let at = header.iter().position(|c| c == "request").unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let sent: CompletionRequest = serde_json::from_str(&rows[0][at]).unwrap();
    assert_eq!(sent, request("Fix, \"the\" race.", None));
    assert_eq!(&rows[1][at], "");
}

#[test]
fn a_run_stores_the_files_it_read_once_per_content() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    let files = |prompt: &[u8]| {
        vec![
            RunFile {
                role: FileRole::Config,
                path: "/b/bench.toml".into(),
                content: llmbench_core::FileContent::Bytes(b"[run]\n"[..].into()),
            },
            RunFile {
                role: FileRole::Prompt,
                path: "/b/prompts/review.txt".into(),
                content: llmbench_core::FileContent::Bytes(prompt.into()),
            },
            RunFile {
                role: FileRole::Items,
                path: "/b/items.jsonl.gz".into(),
                content: llmbench_core::FileContent::Bytes([0x1f, 0x8b, 0, 0xff][..].into()),
            },
        ]
    };
    store
        .create_run_with_files(
            &new_run("a", "2026-11-28T07:00:00Z"),
            &files(b"Review {{x}}"),
        )
        .unwrap();
    store
        .create_run_with_files(
            &new_run("b", "2026-11-28T08:00:00Z"),
            &files(b"Review {{x}}!"),
        )
        .unwrap();
    store
        .create_run(&new_run("old", "2026-11-28T09:00:00Z"))
        .unwrap();

    assert_eq!(store.run_files("a").unwrap(), files(b"Review {{x}}"));
    assert_eq!(store.run_files("b").unwrap(), files(b"Review {{x}}!"));
    assert!(store.run_stored_files("a").unwrap());
    assert!(!store.run_stored_files("old").unwrap());
    assert!(store.run_files("old").unwrap().is_empty());
    assert!(store.run_files("nope").is_err());

    let conn = raw(store.path());
    // Config and items shared, two prompt versions.
    assert_eq!(count(&conn, "SELECT count(*) FROM file_contents"), 4);
    assert_eq!(count(&conn, "SELECT count(*) FROM run_files"), 6);
    let sha: String = conn
        .query_row(
            "SELECT sha256 FROM run_files WHERE run_id = 'a' AND role = 'prompt'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(sha, llmbench_store::sha256_hex(b"Review {{x}}"));

    // A damaged copy is reported, not returned.
    conn.execute(
        "UPDATE file_contents SET bytes = x'00' WHERE sha256 = ?1",
        [&sha],
    )
    .unwrap();
    let e = store.run_files("a").unwrap_err().to_string();
    assert!(e.contains("/b/prompts/review.txt"), "{e}");
    assert!(e.contains("does not match its SHA-256"), "{e}");
}

#[test]
fn a_file_of_several_megabytes_is_stored_and_read_back_byte_for_byte() {
    // Written and read in 1 MiB chunks: 2.5 MiB crosses two chunk boundaries.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    let bytes: Vec<u8> = (0..(5 << 19) + 7).map(|i: u32| (i % 251) as u8).collect();
    let files = vec![RunFile {
        role: FileRole::Items,
        path: "/b/items.jsonl".into(),
        content: llmbench_core::FileContent::Bytes(bytes.clone().into()),
    }];
    store
        .create_run_with_files(&new_run("a", "2026-11-28T07:00:00Z"), &files)
        .unwrap();
    // The same content again: stored once, read back for both runs.
    store
        .create_run_with_files(&new_run("b", "2026-11-28T08:00:00Z"), &files)
        .unwrap();
    for run in ["a", "b"] {
        let read = store.run_files(run).unwrap();
        assert_eq!(read.len(), 1);
        assert!(
            read[0].content.to_bytes().unwrap()[..] == bytes[..],
            "run {run}"
        );
    }
    let conn = raw(store.path());
    assert_eq!(count(&conn, "SELECT count(*) FROM file_contents"), 1);
    let stored: Vec<u8> = conn
        .query_row("SELECT bytes FROM file_contents", [], |row| row.get(0))
        .unwrap();
    assert!(stored == bytes);
}

/// A file the config read as a stream is read again from disk when the run is created, in
/// chunks, and stored only if it is what the config read: a file changed in between is a
/// located error, and no run is created.
#[test]
fn a_file_on_disk_is_stored_from_disk_and_refused_when_it_changed() {
    use sha2::Digest as _;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_in_dir(dir.path()).unwrap();
    let bytes: Vec<u8> = (0..(5 << 19) + 7).map(|i: u32| (i % 251) as u8).collect();
    let path = dir.path().join("items.jsonl");
    std::fs::write(&path, &bytes).unwrap();
    let file = |len: usize| RunFile {
        role: FileRole::Items,
        path: path.display().to_string(),
        content: llmbench_core::FileContent::Disk {
            path: path.clone(),
            len: len as u64,
            sha256: sha2::Sha256::digest(&bytes[..len]).into(),
        },
    };
    store
        .create_run_with_files(&new_run("a", "2026-11-28T07:00:00Z"), &[file(bytes.len())])
        .unwrap();
    let read = store.run_files("a").unwrap();
    assert!(read[0].content.to_bytes().unwrap()[..] == bytes[..]);
    assert_eq!(read[0].sha256(), file(bytes.len()).sha256());

    // The config read fewer bytes than the file holds now, or other bytes.
    for (run, changed) in [
        ("b", file(bytes.len() - 1)),
        ("c", {
            let mut other = file(bytes.len());
            if let llmbench_core::FileContent::Disk { sha256, .. } = &mut other.content {
                sha256[0] ^= 1;
            }
            other
        }),
    ] {
        let e = store
            .create_run_with_files(&new_run(run, "2026-11-28T08:00:00Z"), &[changed])
            .unwrap_err();
        let message = e.to_string();
        assert_eq!(e.kind(), "run_file", "{message}");
        assert!(
            message.contains("items.jsonl changed after it was read"),
            "{message}"
        );
        assert!(store.run(run).is_err(), "run {run} was created");
    }
    // Gone from disk: a content the store holds already (by its SHA-256) is not read again;
    // another store, which lacks it, cannot store the run.
    std::fs::remove_file(&path).unwrap();
    store
        .create_run_with_files(&new_run("d", "2026-11-28T09:00:00Z"), &[file(bytes.len())])
        .unwrap();
    assert!(store.run_files("d").unwrap()[0].content.to_bytes().unwrap()[..] == bytes[..]);
    let other = tempfile::tempdir().unwrap();
    let e = Store::open_in_dir(other.path())
        .unwrap()
        .create_run_with_files(&new_run("e", "2026-11-28T09:00:00Z"), &[file(bytes.len())])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("cannot read") && e.contains("items.jsonl"),
        "{e}"
    );
}

#[test]
fn retention_deletes_the_requests_only_pruned_samples_sent() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open_in_dir(dir.path()).unwrap();
    store.set_histogram_buckets(crate::common::buckets());
    for (run, prompt) in [("old", "shared"), ("new", "shared")] {
        store
            .create_run(&new_run(
                run,
                &format!("2026-11-28T0{}:00:00Z", if run == "old" { 1 } else { 2 }),
            ))
            .unwrap();
        let mut a = full_record(key("t1", "i1", "zeta", 0));
        a.request = Some(request(prompt, None));
        store.record_sample(run, &a, &attempts(1)).unwrap();
        let mut b = full_record(key("t1", "i2", "zeta", 0));
        b.request = Some(request(&format!("only {run}"), None));
        store.record_sample(run, &b, &attempts(1)).unwrap();
        store
            .end_run(run, llmbench_store::RunStatus::Finished, None)
            .unwrap();
    }
    assert_eq!(store.request_count().unwrap(), 3);
    let outcome = store.apply_retention(Some(1), None, None).unwrap();
    assert_eq!(outcome.runs, ["old"]);
    assert_eq!(store.request_count().unwrap(), 2);
    let report = store.report("new").unwrap();
    assert_eq!(
        report.samples[0].request.as_ref().unwrap().messages[0].content,
        "shared"
    );
}
