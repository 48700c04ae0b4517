//! `PluginGrader::check_items`: one `check-items` call per chunk of items against a plugin
//! that serves it, and `check-item` per item against one that does not (an older plugin) or
//! for a chunk whose call failed. The real `grader-regex` shows the SDK's side; C graders
//! built here count the calls they get.

use llmbench_core::PluginContext;
use llmbench_plugin_abi as abi;
use llmbench_plugin_host::{CHECK_ITEMS_CHUNK, CallOutcome, PluginGrader, PluginKind, load};
use serde_json::{Value, json};

use crate::compile;

/// A grader in C. `check-item` refuses options holding `bad`; `check-items` is served as
/// the options say: `"old"` (not at all: "has no method", as an SDK without it answers),
/// `"first"` (refuses the first item of each chunk), `"panic"` (the call panics) or
/// `"beyond"` (an answer naming an index past the chunk). `calls` answers `[check-item
/// calls, check-items calls (answered or not)]` over every instance of the library.
fn c_grader() -> String {
    format!(
        r#"
#define _GNU_SOURCE
#include <stdint.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
struct bytes {{ const uint8_t *ptr; size_t len; }};
typedef void (*sink_fn)(void *, struct bytes);
typedef void (*complete_fn)(void *, uint32_t, struct bytes);
struct vtable {{
  void *(*create)(const void *, struct bytes, sink_fn, void *);
  void (*destroy)(void *);
  void *(*start_call)(void *, struct bytes, struct bytes, complete_fn, void *);
  void (*release_call)(void *, void *, _Bool);
}};
struct decl {{
  uint8_t magic[8]; uint32_t abi_version; uint32_t decl_size; uint64_t fingerprint;
  uint32_t flags; uint32_t kind;
  struct bytes name, version, sdk, rustc;
  struct vtable vtable;
}};
static long item_calls, batch_calls;
struct inst {{ char mode[16]; }};
static int has(struct bytes b, const char *s) {{ return memmem(b.ptr, b.len, s, strlen(s)) != NULL; }}
static int is(struct bytes b, const char *s) {{ return b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0; }}
static void answer(complete_fn done, void *user, uint32_t status, const char *text) {{
  struct bytes b = {{ (const uint8_t *)text, strlen(text) }};
  done(user, status, b);
}}
static void *create(const void *host, struct bytes request, sink_fn err, void *err_user) {{
  (void)host; (void)err; (void)err_user;
  struct inst *i = calloc(1, sizeof *i);
  const char *modes[] = {{ "first", "panic", "beyond" }};
  strcpy(i->mode, "old");
  for (int m = 0; m < 3; m++) {{
    char key[32];
    snprintf(key, sizeof key, "\"mode\":\"%s\"", modes[m]);
    if (has(request, key)) strcpy(i->mode, modes[m]);
  }}
  return i;
}}
static void destroy(void *i) {{ free(i); }}
static void *start_call(void *inst, struct bytes method, struct bytes request, complete_fn done, void *user) {{
  struct inst *i = inst;
  if (is(method, "check-item")) {{
    __atomic_add_fetch(&item_calls, 1, __ATOMIC_SEQ_CST);
    if (has(request, "bad")) answer(done, user, {error}u, "\"a bad item\"");
    else answer(done, user, {ok}u, "null");
  }} else if (is(method, "check-items")) {{
    __atomic_add_fetch(&batch_calls, 1, __ATOMIC_SEQ_CST);
    if (strcmp(i->mode, "old") == 0) answer(done, user, {bad_request}u, "a grader plugin has no method `check-items` (it serves `grade`, `check-item`)");
    else if (strcmp(i->mode, "first") == 0) answer(done, user, {ok}u, "[[0,\"first of its chunk\"]]");
    else if (strcmp(i->mode, "panic") == 0) answer(done, user, {panic}u, "boom");
    else answer(done, user, {ok}u, "[[100000,\"nowhere\"]]");
  }} else if (is(method, "calls")) {{
    char text[64];
    snprintf(text, sizeof text, "[%ld,%ld]", item_calls, batch_calls);
    answer(done, user, {ok}u, text);
  }} else {{
    char text[200];
    snprintf(text, sizeof text, "a grader plugin has no method `%.*s` (it serves `grade`, `check-item`)", (int)method.len, (const char *)method.ptr);
    answer(done, user, {bad_request}u, text);
  }}
  return (void *)1;
}}
static void release_call(void *inst, void *call, _Bool cancel) {{ (void)inst; (void)call; (void)cancel; }}
static const struct decl DECL = {{
  {{'L','L','M','B','P','L','G',0}}, {abi_version}u, {decl_size}u, {fingerprint}ull,
  {flags}u, {kind}u,
  {{(const uint8_t*)"c-grader", 8}}, {{(const uint8_t*)"0.0.0", 5}}, {{(const uint8_t*)"0", 1}}, {{(const uint8_t*)"cc", 2}},
  {{ create, destroy, start_call, release_call }}
}};
const struct decl *llmbench_plugin_entry(uint32_t host) {{ (void)host; return &DECL; }}
"#,
        ok = abi::STATUS_OK,
        error = abi::STATUS_ERROR,
        panic = abi::STATUS_PANIC,
        bad_request = abi::STATUS_BAD_REQUEST,
        abi_version = abi::ABI_VERSION,
        decl_size = size_of::<abi::PluginDecl>(),
        fingerprint = abi::FINGERPRINT,
        flags = abi::FLAG_PANIC_UNWIND,
        kind = PluginKind::Grader as u32,
    )
}

/// The C grader (each test its own library, so its own counters) in `mode`, and a way to
/// read its counters: `(check-item calls, check-items calls)`.
struct CGrader {
    _dir: tempfile::TempDir,
    grader: PluginGrader,
    counter: llmbench_plugin_host::Instance,
}

impl CGrader {
    fn new(mode: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let plugin = load(&compile(dir.path(), "c_grader", &c_grader())).unwrap();
        let context = PluginContext::default();
        let grader = PluginGrader::new(&plugin, &json!({ "mode": mode }), &context).unwrap();
        let counter = plugin
            .instantiate(PluginKind::Grader, &json!({}), &context)
            .unwrap();
        Self {
            _dir: dir,
            grader,
            counter,
        }
    }

    async fn calls(&self) -> (u64, u64) {
        match self.counter.call("calls", b"null").await {
            CallOutcome::Ok(bytes) => serde_json::from_slice(&bytes).unwrap(),
            other => panic!("{other:?}"),
        }
    }
}

/// `n` items keyed `10 * index`, those at `bad` holding `bad`.
fn items(n: usize, bad: &[usize]) -> Vec<(usize, Value)> {
    (0..n)
        .map(|i| {
            let text = if bad.contains(&i) { "bad" } else { "fine" };
            (10 * i, json!({ "expected": format!("{text} {i}") }))
        })
        .collect()
}

#[tokio::test]
async fn the_sdk_answers_each_chunk_in_one_call_with_the_reasons_of_check_item() {
    let plugin = load(&llmbench_testsupport::built_plugin("grader-regex")).unwrap();
    let grader = PluginGrader::new(
        &plugin,
        &json!({ "pattern": "{{ p }}" }),
        &PluginContext::default(),
    )
    .unwrap();
    // Invalid patterns at both ends of the first two chunks and at the very end, and one
    // twice in a chunk (asked about once, refused for both items).
    let n = 2 * CHECK_ITEMS_CHUNK + 500;
    let bad = [0, 5, 7, CHECK_ITEMS_CHUNK - 1, CHECK_ITEMS_CHUNK, n - 1];
    let options: Vec<(usize, Value)> = (0..n)
        .map(|i| {
            let pattern = match i {
                5 | 7 => "(twice".to_owned(),
                _ if bad.contains(&i) => format!("({i}"),
                _ => format!("x{}", i % 10),
            };
            (10 * i, json!({ "pattern": pattern }))
        })
        .collect();
    let mut want = Vec::new();
    for &i in &bad {
        let reason = grader.check_item(&options[i].1).await.unwrap_err();
        assert!(reason.contains("invalid regex"), "{reason}");
        want.push((10 * i, reason));
    }
    assert_eq!(grader.check_items(options).await, want);
    assert_eq!(grader.check_items(Vec::new()).await, []);
}

#[tokio::test]
async fn an_older_plugin_is_asked_one_item_at_a_time() {
    let c = CGrader::new("old");
    let n = CHECK_ITEMS_CHUNK + 500;
    let refused = c.grader.check_items(items(n, &[1, 3, n - 1])).await;
    let reason = "a bad item".to_owned();
    assert_eq!(
        refused,
        [
            (10, reason.clone()),
            (30, reason.clone()),
            (10 * (n - 1), reason)
        ]
    );
    // Asked for a batch once; told it has no such method, not again.
    assert_eq!(c.calls().await, (n as u64, 1));
}

#[tokio::test]
async fn a_plugin_serving_check_items_gets_one_call_per_chunk() {
    let c = CGrader::new("first");
    let n = 2 * CHECK_ITEMS_CHUNK + 1;
    let refused = c.grader.check_items(items(n, &[])).await;
    let reason = "first of its chunk".to_owned();
    assert_eq!(
        refused,
        [
            (0, reason.clone()),
            (10 * CHECK_ITEMS_CHUNK, reason.clone()),
            (20 * CHECK_ITEMS_CHUNK, reason)
        ]
    );
    assert_eq!(c.calls().await, (0, 3));
}

#[tokio::test]
async fn items_whose_options_render_the_same_share_the_answer() {
    let c = CGrader::new("first");
    let n = CHECK_ITEMS_CHUNK + 1;
    let same: Vec<(usize, Value)> = (0..n).map(|i| (i, json!({ "expected": "A" }))).collect();
    // The chunk's request holds the options once; refused, they are refused for every item.
    let refused = c.grader.check_items(same).await;
    assert_eq!(refused.len(), n);
    assert!(refused.iter().enumerate().all(|(i, (key, _))| *key == i));
    assert_eq!(c.calls().await, (0, 2));
}

#[tokio::test]
async fn a_chunk_whose_call_fails_is_checked_one_item_at_a_time() {
    for mode in ["panic", "beyond"] {
        let c = CGrader::new(mode);
        let n = CHECK_ITEMS_CHUNK + 2;
        let refused = c.grader.check_items(items(n, &[2, n - 1])).await;
        let reason = "a bad item".to_owned();
        assert_eq!(
            refused,
            [(20, reason.clone()), (10 * (n - 1), reason)],
            "{mode}"
        );
        // Each chunk tried as a batch, then item by item.
        assert_eq!(c.calls().await, (n as u64, 2), "{mode}");
    }
}
