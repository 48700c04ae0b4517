//! Loading checks against libraries that are not (or not quite) llmbench plugins. Each is
//! compiled from C at test time, so the host's refusal is tested on real shared objects.
//! `check_items`: the batched item checks, against a real grader plugin and C ones.

mod check_items;

use std::path::{Path, PathBuf};
use std::process::Command;

use llmbench_plugin_abi as abi;
use llmbench_plugin_host::{LoadError, load};

/// Compile `source` into a shared library in `dir` and return its path.
pub(crate) fn compile(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("lib{name}.so"));
    std::fs::write(&c, source).unwrap();
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .output()
        .expect("a C compiler (cc)");
    assert!(
        out.status.success(),
        "cc failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    so
}

/// A C plugin declaration with the given prefix fields and flags.
fn forged(abi_version: u32, decl_size: usize, fingerprint: u64, flags: u32) -> String {
    format!(
        r#"
#include <stdint.h>
#include <stddef.h>
struct bytes {{ const uint8_t *ptr; size_t len; }};
struct decl {{
  uint8_t magic[8]; uint32_t abi_version; uint32_t decl_size; uint64_t fingerprint;
  uint32_t flags; uint32_t kind;
  struct bytes name, version, sdk, rustc;
  void *vtable[4];
}};
static const struct decl DECL = {{
  {{'L','L','M','B','P','L','G',0}}, {abi_version}u, {decl_size}u, {fingerprint}ull,
  {flags}u, 1u,
  {{(const uint8_t*)"forged", 6}}, {{(const uint8_t*)"0.0.0", 5}}, {{(const uint8_t*)"0", 1}}, {{(const uint8_t*)"cc", 2}},
  {{0, 0, 0, 0}}
}};
const struct decl *llmbench_plugin_entry(uint32_t host) {{ (void)host; return &DECL; }}
"#
    )
}

fn one_line(e: &LoadError) -> String {
    let text = e.to_string();
    assert!(!text.contains('\n'), "error must be one line: {text}");
    text
}

#[test]
fn refuses_a_library_without_the_entry_symbol() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile(dir.path(), "foreign", "int answer(void) { return 42; }");
    let e = load(&so).unwrap_err();
    assert_eq!(e.kind(), "foreign");
    let text = one_line(&e);
    assert!(text.contains(&so.display().to_string()), "{text}");
    assert!(text.contains("no `llmbench_plugin_entry` symbol"), "{text}");
    // ... and the likely fix.
    assert!(text.contains("`export_grader!`"), "{text}");
    assert!(text.contains("crate-type = [\"cdylib\"]"), "{text}");
}

#[test]
fn refuses_a_file_that_is_not_a_library() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("libnotes.so");
    std::fs::write(&path, "just text").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.kind(), "open");
    let text = one_line(&e);
    assert!(text.starts_with(&format!("{}: cannot open library: ", path.display())));
    // The loader's own reason, once, without the path again, and the likely fix.
    assert!(
        text.contains("invalid ELF header") || text.contains("file too short"),
        "{text}"
    );
    assert_eq!(
        text.matches(&path.display().to_string()).count(),
        1,
        "{text}"
    );
    assert!(text.contains("crate-type = [\"cdylib\"]"), "{text}");
}

#[test]
fn refuses_an_abi_fingerprint_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let size = size_of::<abi::PluginDecl>();
    let so = compile(
        dir.path(),
        "mismatch",
        &forged(
            abi::ABI_VERSION,
            size,
            abi::FINGERPRINT ^ 1,
            abi::FLAG_PANIC_UNWIND,
        ),
    );
    let e = load(&so).unwrap_err();
    assert_eq!(e.kind(), "abi_mismatch");
    let text = one_line(&e);
    assert!(
        text.contains("plugin ABI mismatch (ABI fingerprint"),
        "{text}"
    );
    assert!(text.contains(&so.display().to_string()), "{text}");
}

#[test]
fn refuses_another_abi_version() {
    let dir = tempfile::tempdir().unwrap();
    let so = compile(
        dir.path(),
        "oldabi",
        &forged(abi::ABI_VERSION + 1, 16, 0, 1),
    );
    let text = one_line(&load(&so).unwrap_err());
    assert!(
        text.contains(&format!(
            "plugin ABI version {}, host {}",
            abi::ABI_VERSION + 1,
            abi::ABI_VERSION
        )),
        "{text}"
    );
}

#[test]
fn refuses_a_plugin_built_with_panic_abort() {
    let dir = tempfile::tempdir().unwrap();
    let size = size_of::<abi::PluginDecl>();
    let so = compile(
        dir.path(),
        "abort",
        &forged(abi::ABI_VERSION, size, abi::FINGERPRINT, 0),
    );
    let e = load(&so).unwrap_err();
    assert_eq!(e.kind(), "panic_abort");
    assert!(one_line(&e).contains("panic = \"abort\""));
}

#[test]
fn a_missing_plugin_names_the_file_and_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let e = llmbench_plugin_host::resolve("provider-nowhere", dir.path(), dir.path()).unwrap_err();
    let text = one_line(&e);
    assert!(text.contains("libprovider_nowhere.so"), "{text}");
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
}

#[test]
fn a_misspelt_plugin_name_suggests_the_closest_present_one() {
    let dir = tempfile::tempdir().unwrap();
    compile(
        dir.path(),
        "grader_regex",
        "int answer(void) { return 42; }",
    );
    compile(
        dir.path(),
        "provider_replay",
        "int answer(void) { return 42; }",
    );
    assert_eq!(
        llmbench_plugin_host::plugin_names(dir.path()),
        ["grader-regex", "provider-replay"]
    );
    let e = llmbench_plugin_host::resolve("grader-regexp", dir.path(), dir.path()).unwrap_err();
    let LoadError::NotFound { suggestion, .. } = &e else {
        panic!("{e}");
    };
    assert_eq!(suggestion.as_deref(), Some("grader-regex"));
    assert!(one_line(&e).ends_with("; did you mean `grader-regex`?"));
    let e = llmbench_plugin_host::resolve("grader-match", dir.path(), dir.path()).unwrap_err();
    assert!(
        matches!(
            &e,
            LoadError::NotFound {
                suggestion: None,
                ..
            }
        ),
        "{e}"
    );
}
