//! Items files in every format (plain and gzip), `fields`, `id-field`, content-hash ids,
//! `limit`, `sample`, the limits on what is read, item variables in grader options, and
//! `run.pass-at-k`.

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::GzEncoder;
use insta::assert_snapshot;
use llmbench_config::{Config, ConfigErrors, load, render_options};
use llmbench_core::Task;

use crate::{errors, ok, shown};

/// A config that reads `items` (written as `name`) with task keys `extra`, in a fresh
/// directory.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn file(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn config(&self, task: &str) -> PathBuf {
        self.file(
            "bench.toml",
            format!(
                "[providers.p]\nplugin = \"provider-replay\"\nmodel = \"m\"\n\n[tasks.t]\n{task}"
            )
            .as_bytes(),
        )
    }

    fn load(&self, task: &str) -> Result<Config, ConfigErrors> {
        load(&self.config(task))
    }

    fn ok(&self, task: &str) -> Config {
        self.load(task).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Errors, with the temporary directory shown as `DIR`.
    fn errors(&self, task: &str) -> String {
        match self.load(task) {
            Ok(config) => panic!("expected errors, got {:#?}", config.tasks),
            Err(e) => shown(&e).replace(&self.dir.path().display().to_string(), "DIR"),
        }
    }
}

fn gz(text: &str) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

fn ids(config: &Config) -> Vec<String> {
    let items = &config.tasks[0].items;
    (0..items.len()).map(|i| items.id(i)).collect()
}

const JSONL: &str =
    "{\"id\": \"a\", \"q\": \"one\", \"n\": 1}\n\n{\"id\": \"b\", \"q\": \"two\", \"n\": 2}\n";
const JSON: &str = "[\n  {\"id\": \"a\", \"q\": \"one\", \"n\": 1},\n  {\"id\": \"b\", \"q\": \"two\", \"n\": 2}\n]\n";
const CSV: &str = "id,q,n\na,one,1\nb,two,2\n";
const TSV: &str = "id\tq\tn\na\tone\t1\nb\ttwo\t2\n";

#[test]
fn every_format_plain_and_gzipped() {
    for (name, text) in [
        ("items.jsonl", JSONL),
        ("items.json", JSON),
        ("items.csv", CSV),
        ("items.tsv", TSV),
    ] {
        for compressed in [false, true] {
            let f = Fixture::new();
            let file = if compressed {
                f.file(&format!("{name}.gz"), &gz(text));
                format!("{name}.gz")
            } else {
                f.file(name, text.as_bytes());
                name.to_owned()
            };
            let config = f.ok(&format!(
                "prompt = \"{{{{ q }}}} {{{{ n }}}}\"\nitems-file = \"{file}\"\n"
            ));
            let task = &config.tasks[0];
            assert_eq!(ids(&config), ["a", "b"], "{file}");
            assert_eq!(task.items.get(1).vars["q"], "two", "{file}");
            assert_eq!(task.items.get(1).vars["n"], "2", "{file}");
            let places: Vec<String> = (0..task.items.len())
                .map(|i| task.item_place(i).rsplit('/').next().unwrap().to_owned())
                .collect();
            // JSONL: after a blank line; JSON, CSV, TSV: the second object or record.
            assert_eq!(places[1], format!("{file}:3"), "{file}");
        }
    }
}

#[test]
fn unknown_extension_lists_the_accepted_ones() {
    let f = Fixture::new();
    f.file("items.txt", b"x");
    assert_snapshot!(f.errors("prompt = \"a\"\nitems-file = \"items.txt\"\n"), @r"
    DIR/bench.toml:7:14: unknown items file format: DIR/items.txt
      help: name the file `.jsonl`, `.json`, `.csv` or `.tsv`, each optionally compressed (`.jsonl.gz`)
      [invalid_value]
    ");
}

#[test]
fn arrays_and_objects_become_json_text_and_null_is_an_error() {
    let f = Fixture::new();
    f.file(
        "items.jsonl",
        b"{\"id\": \"capital\", \"expected\": [\"Paris\", \"paris\"], \"schema\": {\"type\": \"object\"}}\n",
    );
    let config = f.ok("prompt = \"a\"\nitems-file = \"items.jsonl\"\n");
    let vars = &config.tasks[0].items.get(0).vars;
    assert_eq!(vars["expected"], r#"["Paris","paris"]"#);
    assert_eq!(vars["schema"], r#"{"type":"object"}"#);

    f.file(
        "items.jsonl",
        b"{\"id\": \"a\"}\n{\"id\": \"b\", \"x\": null}\n",
    );
    assert_snapshot!(f.errors("prompt = \"a\"\nitems-file = \"items.jsonl\"\n"), @r"
    DIR/items.jsonl:2:1: item variable `x` is null: give it a value or leave it out
      [item]
    ");

    // Inline items too.
    let config = ok(&format!(
        "{}items = [{{ id = \"x\", any = [\"Paris\", 1], t = {{ b = 2, a = true }} }}]\n",
        crate::MINIMAL
    ));
    let vars = &config.tasks[0].items.get(0).vars;
    assert_eq!(vars["any"], r#"["Paris",1]"#);
    assert_eq!(vars["t"], r#"{"a":true,"b":2}"#);
}

#[test]
fn ids_without_an_id_field_hash_the_content_and_survive_reordering() {
    let f = Fixture::new();
    f.file(
        "items.jsonl",
        b"{\"q\": \"one\"}\n{\"q\": \"two\"}\n{\"q\": \"three\"}\n",
    );
    let task = "prompt = \"{{ q }}\"\nitems-file = \"items.jsonl\"\n";
    let first = f.ok(task);
    let before: Vec<(String, String)> = first.tasks[0]
        .items
        .iter()
        .map(|i| (i.vars["q"].clone(), i.id.clone()))
        .collect();
    assert!(before.iter().all(|(_, id)| id.len() == 16));
    f.file(
        "items.jsonl",
        b"{\"q\": \"three\"}\n\n{\"q\": \"one\"}\n{\"q\": \"two\"}\n",
    );
    let second = f.ok(task);
    for (q, id) in &before {
        let again = second.tasks[0]
            .items
            .iter()
            .find(|i| &i.vars["q"] == q)
            .unwrap();
        assert_eq!(&again.id, id, "{q}");
    }
    // Two identical items have one id: a duplicate.
    f.file("items.jsonl", b"{\"q\": \"one\"}\n{\"q\": \"one\"}\n");
    let e = f.errors(task);
    assert!(
        e.starts_with("DIR/items.jsonl:2:1: duplicate item id `"),
        "{e}"
    );
    assert!(e.contains("help: the first is at DIR/items.jsonl:1"), "{e}");
}

#[test]
fn id_field_and_fields() {
    let f = Fixture::new();
    f.file(
        "humaneval.jsonl",
        b"{\"task_id\": \"HumanEval/0\", \"prompt\": \"def f():\", \"test\": \"assert f()\"}\n{\"task_id\": \"HumanEval/1\", \"prompt\": \"def g():\", \"test\": \"assert g()\"}\n",
    );
    let config = f.ok(
        "prompt = \"{{ code }} ({{ id }})\"\nitems-file = \"humaneval.jsonl\"\nid-field = \"task_id\"\nfields = { code = \"prompt\" }\n",
    );
    let task = &config.tasks[0];
    assert_eq!(ids(&config), ["HumanEval/0", "HumanEval/1"]);
    let first = task.items.get(0);
    let names: Vec<&str> = first.vars.keys().map(String::as_str).collect();
    assert_eq!(names, ["code", "test"]);
    let request = task.render(&task.items.get(1));
    assert_eq!(request.messages[0].content, "def g(): (HumanEval/1)");
}

#[test]
fn missing_id_field_and_unknown_fields_are_located() {
    let f = Fixture::new();
    f.file(
        "items.csv",
        b"task_id,input,target\nt1,q1,a1\n,q2,a2\nt3,q3\n",
    );
    // An empty CSV cell is an empty id; a short record is a located error.
    assert_snapshot!(f.errors(
        "prompt = \"{{ question }}\"\nitems-file = \"items.csv\"\nid-field = \"task_id\"\nfields = { question = \"input\", expected = \"targte\" }\n",
    ), @r#"
    DIR/bench.toml:9:43: no item in DIR/items.csv has the field `targte` (for the variable `expected`)
      help: did you mean `target`?
      [item]
    DIR/items.csv:3:1: invalid item id "": it is empty
      [invalid_value]
    DIR/items.csv:4:1: this record has 2 fields, the header row 3
      [syntax]
    "#);

    f.file("items.jsonl", b"{\"task_id\": \"a\"}\n{\"id\": \"b\"}\n");
    assert_snapshot!(f.errors(
        "prompt = \"x\"\nitems-file = \"items.jsonl\"\nid-field = \"task_id\"\n",
    ), @r"
    DIR/items.jsonl:2:1: this item has no field `task_id`, the task's `id-field`
      [item]
    ");
    assert_snapshot!(f.errors(
        "prompt = \"x\"\nitems-file = \"items.jsonl\"\nid-field = \"name\"\n",
    ), @r"
    DIR/bench.toml:8:12: no item in DIR/items.jsonl has the field `name` (the `id-field`)
      [item]
    ");
}

#[test]
fn invalid_json_lines_and_array_objects_are_located() {
    let f = Fixture::new();
    f.file("items.jsonl", b"{\"id\": \"a\"}\n{\"id\": \"b\",\n");
    assert_snapshot!(f.errors("prompt = \"x\"\nitems-file = \"items.jsonl\"\n"), @r"
    DIR/items.jsonl:2:11: invalid JSON: EOF while parsing a value
      [syntax]
    ");
    f.file(
        "items.json",
        b"[\n  {\"id\": \"a\"},\n  {\"id\": \"b\", \"v\": null}\n]\n",
    );
    assert_snapshot!(f.errors("prompt = \"x\"\nitems-file = \"items.json\"\n"), @r"
    DIR/items.json:3:3: item variable `v` is null: give it a value or leave it out
      [item]
    ");
}

#[test]
fn limit_and_sample() {
    let f = Fixture::new();
    let lines: String = (0..50)
        .map(|i| format!("{{\"id\": \"q{i}\", \"x\": {i}}}\n"))
        .collect();
    f.file("items.jsonl", lines.as_bytes());
    let config = f.ok("prompt = \"{{ x }}\"\nitems-file = \"items.jsonl\"\nlimit = 3\n");
    assert_eq!(ids(&config), ["q0", "q1", "q2"]);
    assert_eq!(config.tasks[0].items.len(), 3);
    assert_eq!(config.tasks[0].items.place(3), None);
    assert!(config.tasks[0].item_place(2).ends_with("items.jsonl:3"));

    let sampled = |seed: &str| {
        let config = f.ok(&format!(
            "prompt = \"{{{{ x }}}}\"\nitems-file = \"items.jsonl\"\nsample = 5\n{seed}"
        ));
        ids(&config)
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    };
    let default = sampled("");
    assert_eq!(default.len(), 5);
    assert_eq!(default, sampled("seed = 0\n"));
    assert_ne!(default, sampled("seed = 7\n"));
    // Pinned: the same on every machine.
    assert_eq!(default, ["q5", "q20", "q22", "q28", "q48"]);

    assert_snapshot!(f.errors(
        "prompt = \"x\"\nitems-file = \"items.jsonl\"\nlimit = 0\nsample = 2\n"
    ), @r"
    DIR/bench.toml:8:9: `tasks.t.limit` must be at least 1, not 0
      [invalid_value]
    DIR/bench.toml:8:9: `tasks.t` has both `limit` and `sample`
      help: `limit` runs the first N items, `sample` N drawn at random: keep one
      [conflict]
    ");
    assert_snapshot!(f.errors("prompt = \"x\"\nitems = [{ a = \"1\" }]\nlimit = 1\nseed = 2\n"), @r"
    DIR/bench.toml:8:9: `tasks.t.limit` applies only to `items-file` and `dataset`
      help: remove it, or read the items from a file
      [conflict]
    DIR/bench.toml:9:8: `tasks.t.seed` applies only to `sample`
      help: remove `seed`, or use `sample`
      [conflict]
    DIR/bench.toml:9:8: `tasks.t.seed` applies only to `items-file` and `dataset`
      help: remove it, or read the items from a file
      [conflict]
    ");
}

#[test]
fn devices_are_refused_at_once_and_located() {
    let f = Fixture::new();
    assert_snapshot!(f.errors("prompt-file = \"/dev/zero\"\n"), @r"
    DIR/bench.toml:6:15: cannot read /dev/zero: it is not a regular file (a device, pipe or socket)
      [io]
    ");
    // A symlink to a device, named like an items file.
    std::os::unix::fs::symlink("/dev/zero", f.dir.path().join("zero.jsonl")).unwrap();
    assert_snapshot!(f.errors("prompt = \"x\"\nitems-file = \"zero.jsonl\"\n"), @r"
    DIR/bench.toml:7:14: cannot read DIR/zero.jsonl: it is not a regular file (a device, pipe or socket)
      [io]
    ");
    assert_snapshot!(f.errors("prompt = \"x\"\nitems-file = \"/dev/zero\"\n"), @r"
    DIR/bench.toml:7:14: unknown items file format: /dev/zero
      help: name the file `.jsonl`, `.json`, `.csv` or `.tsv`, each optionally compressed (`.jsonl.gz`)
      [invalid_value]
    ");
}

#[test]
fn option_placeholders_are_checked_against_every_item() {
    let source = format!(
        "{}items = [{{ id = \"a\", expected = \"1\" }}, {{ id = \"b\" }}]\n\n[[tasks.t.graders]]\nplugin = \"grader-match\"\noptions = {{ mode = \"numeric\", nested = {{ list = [\"ok\", \"{{{{ expected }}}}\"] }} }}\n\n[[tasks.t.graders]]\nplugin = \"grader-regex\"\n[tasks.t.graders.options]\npattern = \"{{{{ id }}}}: {{{{ bad\"\n",
        crate::MINIMAL
    );
    assert_snapshot!(shown(&errors(&source)), @r"
    configs/x.toml:12:57: template variable `expected` in `tasks.t.graders[0].options.nested.list[1]` is not set by item `b` (at configs/x.toml:8:47)
      help: item `b` has no variables
      [template]
    configs/x.toml:17:22: unclosed `{{` in `tasks.t.graders[1].options.pattern`
      help: close the placeholder with `}}`
      [template]
    ");
}

#[test]
fn option_placeholders_render_per_item() {
    let source = format!(
        "{}items = [{{ id = \"a\", expected = \"1\" }}, {{ id = \"b\", expected = \"[2]\" }}]\n\n[[tasks.t.graders]]\nplugin = \"grader-match\"\noptions = {{ mode = \"numeric\", expected = \"{{{{ expected }}}}\", about = [\"{{{{id}}}}\"] }}\n\n[[tasks.t.graders]]\nplugin = \"grader-regex\"\noptions = {{ pattern = \"x\" }}\n",
        crate::MINIMAL
    );
    let config = ok(&source);
    let task = &config.tasks[0];
    let (match_, regex) = (&task.graders[0], &task.graders[1]);
    assert!(match_.uses_item_vars);
    assert!(!regex.uses_item_vars);
    assert_eq!(regex.options_for(&task.items.get(0)), None);
    let rendered = render_options(&match_.options, &task.items.get(1));
    assert_eq!(
        rendered,
        serde_json::json!({"mode": "numeric", "expected": "[2]", "about": ["b"]})
    );
    assert_eq!(match_.options_for(&task.items.get(1)), Some(rendered));
    assert_eq!(task.item_place(1), "configs/x.toml:8:47");
}

#[test]
fn id_is_a_variable_everywhere() {
    let config = ok(&format!(
        "{}system = \"Item {{{{ id }}}}\"\n",
        crate::MINIMAL.replace("prompt = \"hello\"", "prompt = \"hello {{ id }}\"")
    ));
    let task = &config.tasks[0];
    let request = task.render(&task.items.get(0));
    assert_eq!(request.system.as_deref(), Some("Item default"));
    assert_eq!(request.messages[0].content, "hello default");
    assert!(
        task.items.get(0).vars.is_empty(),
        "the id is not stored as a variable"
    );
    let e = errors(&format!(
        "{}items = [{{ x = \"1\" }}]\nfields = {{ id = \"x\" }}\n",
        crate::MINIMAL
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:9:10: `tasks.t.fields` applies only to `items-file` and `dataset`
      help: remove it, or read the items from a file
      [conflict]
    configs/x.toml:9:12: `tasks.t.fields` cannot set `id`: `{{ id }}` is the item's id
      help: name the field holding the id with `id-field`
      [invalid_value]
    ");
}

#[test]
fn pass_at_k() {
    let config = ok(&format!(
        "[run]\nrepeats = 10\npass-at-k = [10, 1, 5, 1]\n{}",
        crate::MINIMAL
    ));
    assert_eq!(config.run.pass_at_k, [1, 5, 10]);
    assert!(ok(crate::MINIMAL).run.pass_at_k.is_empty());
    let e = errors(&format!(
        "[run]\nrepeats = 3\npass-at-k = [0, 1, 10]\n{}",
        crate::MINIMAL
    ));
    assert_snapshot!(shown(&e), @r"
    configs/x.toml:3:14: `run.pass-at-k` values must be at least 1, not 0
      [invalid_value]
    configs/x.toml:3:20: pass@10 needs at least 10 repeats, and `run.repeats` is 3
      help: set `repeats = 10` or more in `[run]`, or remove 10 from `pass-at-k`
      [invalid_value]
    ");
}

#[test]
fn items_files_are_read_from_the_config_directory() {
    // The fixture directory's items stay valid with content ids.
    let config = load(Path::new("tests/fixtures/with-files.toml")).unwrap();
    assert_eq!(config.tasks[0].items.len(), 2);
}
