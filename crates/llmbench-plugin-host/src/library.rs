//! Finding, opening and checking plugin libraries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use llmbench_plugin_abi::{self as abi, DeclPrefix, EntryFn, PluginDecl, PluginKind};

use crate::LoadError;

/// What a plugin says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PluginMeta {
    pub name: String,
    pub kind: PluginKind,
    pub version: String,
    pub sdk_version: String,
    pub rustc_version: String,
}

/// A loaded, checked plugin library. Cheap to copy; the library stays loaded for the life of
/// the process.
#[derive(Debug, Clone, Copy)]
pub struct Plugin {
    pub(crate) decl: &'static PluginDecl,
    pub(crate) path: &'static Path,
}

/// `provider-replay` -> `libprovider_replay.so` (platform prefix and suffix).
pub fn library_file_name(name: &str) -> String {
    format!(
        "{}{}{}",
        std::env::consts::DLL_PREFIX,
        name.replace('-', "_"),
        std::env::consts::DLL_SUFFIX
    )
}

/// Where a plugin named in a config lives: a value containing a path separator or ending in
/// the platform's library suffix is a path (relative to `base`); anything else is a plugin
/// name looked up in `plugin_dir`.
pub fn resolve(spec: &str, plugin_dir: &Path, base: &Path) -> Result<PathBuf, LoadError> {
    let is_path =
        spec.contains(std::path::MAIN_SEPARATOR) || spec.ends_with(std::env::consts::DLL_SUFFIX);
    if is_path {
        let path = base.join(spec);
        return std::fs::canonicalize(&path).map_err(|e| LoadError::Open {
            path,
            reason: e.to_string(),
        });
    }
    let file = library_file_name(spec);
    let path = plugin_dir.join(&file);
    if !path.is_file() {
        let names = plugin_names(plugin_dir);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        return Err(LoadError::NotFound {
            name: spec.to_owned(),
            file,
            dir: plugin_dir.to_owned(),
            suggestion: suggest(spec, &refs).map(str::to_owned),
        });
    }
    // dlopen does not search the current directory for bare names: always pass it an
    // absolute path.
    std::fs::canonicalize(&path).map_err(|e| LoadError::Open {
        path,
        reason: e.to_string(),
    })
}

/// The names of the plugin libraries in `dir` (`libgrader_regex.so` -> `grader-regex`),
/// sorted, without loading them. Empty when `dir` cannot be read.
pub fn plugin_names(dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter_map(|f| {
            let stem = f
                .strip_prefix(std::env::consts::DLL_PREFIX)?
                .strip_suffix(std::env::consts::DLL_SUFFIX)?;
            Some(stem.replace('_', "-"))
        })
        .collect();
    names.sort();
    names
}

/// The candidate closest to `word` when it is close enough to be a typo. Plugin names share
/// long prefixes (`grader-`), which Jaro-Winkler (the config keys' measure) rewards, so this
/// uses the edit distance relative to the length: `grader-regexp` is close to
/// `grader-regex`, `grader-match` is not close to `grader-sections`.
fn suggest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let word = word.to_lowercase().replace('_', "-");
    candidates
        .iter()
        .map(|c| (c, strsim::normalized_damerau_levenshtein(&word, c)))
        .filter(|(_, score)| *score >= 0.75)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| *c)
}

/// The loader's own reason (`dlerror` text: libloading's `Display` says only "dlopen
/// failed"), without the path it repeats.
fn loader_reason(path: &Path, error: &libloading::Error) -> String {
    let text =
        std::error::Error::source(error).map_or_else(|| error.to_string(), ToString::to_string);
    let prefix = format!("{}: ", path.display());
    text.strip_prefix(&prefix).unwrap_or(&text).to_owned()
}

/// Libraries already opened, by canonical path. Never emptied: unloading a library while a
/// plugin thread still runs crashes the process.
fn loaded() -> &'static Mutex<HashMap<PathBuf, Plugin>> {
    static LOADED: OnceLock<Mutex<HashMap<PathBuf, Plugin>>> = OnceLock::new();
    LOADED.get_or_init(Default::default)
}

/// Open the library at `path` (absolute), check its declaration and return it.
///
/// Checks, in order: the entry symbol exists; the declaration starts with llmbench's magic;
/// ABI version, declaration size and ABI fingerprint equal the host's; the plugin was built
/// with `panic = "unwind"`; its kind is known. Each failure is one [`LoadError`] line.
pub fn load(path: &Path) -> Result<Plugin, LoadError> {
    let path = if path.is_absolute() {
        path.to_owned()
    } else {
        std::fs::canonicalize(path).map_err(|e| LoadError::Open {
            path: path.to_owned(),
            reason: e.to_string(),
        })?
    };
    let mut loaded = loaded().lock().expect("plugin table lock");
    if let Some(plugin) = loaded.get(&path) {
        return Ok(*plugin);
    }
    let library = open(&path)?;
    // SAFETY: we look the symbol up by its documented name and type; a foreign library that
    // exports the same name with another type is outside what can be checked.
    let entry: EntryFn = unsafe {
        match library.get::<EntryFn>(abi::ENTRY_SYMBOL) {
            Ok(symbol) => *symbol,
            Err(_) => return Err(LoadError::NoEntry { path }),
        }
    };
    // The library is never unloaded, so what it points to lives for the process.
    std::mem::forget(library);
    // SAFETY: the entry function takes the host's ABI version and returns a pointer to static
    // data in the library, or null.
    let decl_ptr = unsafe { entry(abi::ABI_VERSION) };
    let decl = check(&path, decl_ptr)?;
    let path: &'static Path = Box::leak(path.into_boxed_path());
    let plugin = Plugin { decl, path };
    loaded.insert(path.to_owned(), plugin);
    Ok(plugin)
}

#[cfg(unix)]
fn open(path: &Path) -> Result<libloading::Library, LoadError> {
    use libloading::os::unix::{Library, RTLD_LOCAL, RTLD_NOW};
    #[cfg(target_os = "linux")]
    const RTLD_NODELETE: std::ffi::c_int = 0x1000;
    #[cfg(not(target_os = "linux"))]
    const RTLD_NODELETE: std::ffi::c_int = 0x80;
    // SAFETY: loading a library runs its initialisers; plugins are trusted code named by the
    // user's config, as a cargo dependency would be.
    unsafe { Library::open(Some(path), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) }
        .map(Into::into)
        .map_err(|e| LoadError::Open {
            path: path.to_owned(),
            reason: loader_reason(path, &e),
        })
}

#[cfg(not(unix))]
fn open(path: &Path) -> Result<libloading::Library, LoadError> {
    // SAFETY: as above.
    unsafe { libloading::Library::new(path) }.map_err(|e| LoadError::Open {
        path: path.to_owned(),
        reason: loader_reason(path, &e),
    })
}

fn check(path: &Path, decl: *const PluginDecl) -> Result<&'static PluginDecl, LoadError> {
    let mismatch = |reason: String| LoadError::Mismatch {
        path: path.to_owned(),
        reason,
    };
    if decl.is_null() {
        return Err(LoadError::Foreign {
            path: path.to_owned(),
            reason: "entry returned null".into(),
        });
    }
    // SAFETY: every declaration, of any ABI version, starts with a DeclPrefix.
    let prefix: DeclPrefix = unsafe { *decl.cast::<DeclPrefix>() };
    if prefix.magic != abi::MAGIC {
        return Err(LoadError::Foreign {
            path: path.to_owned(),
            reason: "bad magic bytes".into(),
        });
    }
    if prefix.abi_version != abi::ABI_VERSION {
        return Err(mismatch(format!(
            "plugin ABI version {}, host {}",
            prefix.abi_version,
            abi::ABI_VERSION
        )));
    }
    if prefix.decl_size as usize != size_of::<PluginDecl>() {
        return Err(mismatch(format!(
            "declaration size {} bytes, host expects {}",
            prefix.decl_size,
            size_of::<PluginDecl>()
        )));
    }
    if prefix.fingerprint != abi::FINGERPRINT {
        return Err(mismatch(format!(
            "ABI fingerprint {:016x}, host {:016x}",
            prefix.fingerprint,
            abi::FINGERPRINT
        )));
    }
    // SAFETY: magic, version, size and fingerprint match: the layout is ours, and the data
    // is static in a library that is never unloaded.
    let decl: &'static PluginDecl = unsafe { &*decl };
    if decl.flags & abi::FLAG_PANIC_UNWIND == 0 {
        return Err(LoadError::PanicAbort {
            path: path.to_owned(),
        });
    }
    if PluginKind::from_u32(decl.kind).is_none() {
        return Err(mismatch(format!("unknown plugin kind {}", decl.kind)));
    }
    Ok(decl)
}

fn text(b: abi::Bytes) -> String {
    // SAFETY: declaration strings point to static data in a library never unloaded.
    String::from_utf8_lossy(unsafe { b.as_slice() }).into_owned()
}

impl Plugin {
    pub fn meta(&self) -> PluginMeta {
        PluginMeta {
            name: text(self.decl.name),
            kind: PluginKind::from_u32(self.decl.kind).expect("checked at load"),
            version: text(self.decl.version),
            sdk_version: text(self.decl.sdk_version),
            rustc_version: text(self.decl.rustc_version),
        }
    }

    pub fn path(&self) -> &'static Path {
        self.path
    }

    /// Fail unless this plugin is of the expected kind.
    pub fn expect_kind(&self, expected: PluginKind) -> Result<(), LoadError> {
        let meta = self.meta();
        if meta.kind != expected {
            return Err(LoadError::WrongKind {
                path: self.path.to_owned(),
                name: meta.name,
                actual: meta.kind.as_str(),
                expected: expected.as_str(),
            });
        }
        Ok(())
    }
}

/// Every library file in `dir`, loaded and checked, sorted by file name (what
/// `llmbench plugins` prints). Files that fail to load are listed with their error.
pub fn list_dir(dir: &Path) -> std::io::Result<Vec<(PathBuf, Result<PluginMeta, LoadError>)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with(std::env::consts::DLL_PREFIX)
            && name.ends_with(std::env::consts::DLL_SUFFIX)
        {
            let result = std::fs::canonicalize(&path)
                .map_err(|e| LoadError::Open {
                    path: path.clone(),
                    reason: e.to_string(),
                })
                .and_then(|p| load(&p))
                .map(|p| p.meta());
            out.push((path, result));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}
