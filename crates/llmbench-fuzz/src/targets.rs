//! The fuzz targets: each feeds an input to one parser the way the program does, and checks
//! the properties that must hold for any input, not only that nothing panics.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use grader_match::MatchGrader;
use llmbench_config::ConfigErrors;
use llmbench_http::{SseEvent, SseParser};
use serde_json::Value;

use crate::engine::{AllocBound, Target};
use crate::replay::Answers;

/// Every target, in the order the tests and `cargo xtask fuzz` run them.
pub fn all() -> Vec<Box<dyn Target + Send>> {
    let mut targets: Vec<Box<dyn Target + Send>> = vec![Box::new(ConfigTarget::new())];
    for format in ItemsFormat::ALL {
        targets.push(Box::new(ItemsTarget::new(format)));
    }
    targets.push(Box::new(ReplayTarget));
    targets.push(Box::new(SseTarget));
    targets.push(Box::new(GraderMatchTarget));
    targets
}

/// The target called `name`.
pub fn by_name(name: &str) -> Option<Box<dyn Target + Send>> {
    all().into_iter().find(|t| t.name() == name)
}

/// The workspace's root directory.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A short description of an outcome, so that inputs failing the same way count as one:
/// numbers become `#` and quoted text (which echoes the input) is left out.
fn outcome(text: &str) -> String {
    let mut out = String::new();
    let mut quote = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if matches!(c, '"' | '`') => quote = Some(c),
            None if c.is_ascii_digit() => {
                if !out.ends_with('#') {
                    out.push('#');
                }
            }
            None => out.push(c),
        }
        if out.len() >= 96 {
            break;
        }
    }
    out
}

/// Properties of config errors: at least one; a located error has a column and a line
/// within its file; every error names a file.
fn check_errors(errors: &ConfigErrors, files: &[(&Path, &str)]) -> Result<String, String> {
    if errors.is_empty() {
        return Err("parse failed with no error".to_owned());
    }
    let mut kinds = Vec::new();
    for error in errors.iter() {
        let shown = error.to_string();
        if error.path.as_os_str().is_empty() {
            return Err(format!("an error names no file: {shown}"));
        }
        if error.line > 0 {
            if error.column == 0 {
                return Err(format!("an error has a line but no column: {shown}"));
            }
            if let Some((_, text)) = files.iter().find(|(path, _)| *path == error.path) {
                let lines = text.lines().count() + 1;
                if error.line > lines {
                    return Err(format!(
                        "an error is at line {}, past the end of a {}-line file: {shown}",
                        error.line,
                        lines - 1
                    ));
                }
            }
        }
        if kinds.len() < 3 {
            kinds.push(format!("{} {}", error.kind(), outcome(&error.message)));
        }
    }
    Ok(kinds.join("; "))
}

/// `llmbench_config::parse` on the input as a config's text. The config is placed in
/// `configs/`, so the prompt and items files the seed configs name are read too.
#[derive(Debug)]
pub struct ConfigTarget {
    path: PathBuf,
}

impl ConfigTarget {
    pub fn new() -> Self {
        Self {
            path: repo().join("configs/fuzz-input.toml"),
        }
    }
}

impl Default for ConfigTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl Target for ConfigTarget {
    fn name(&self) -> &'static str {
        "config"
    }

    fn max_len(&self) -> usize {
        8192
    }

    fn dictionary(&self) -> &'static [&'static str] {
        &[
            "[run]\n",
            "[providers.p]\n",
            "[tasks.t]\n",
            "[[tasks.t.graders]]\n",
            "[schedule]\n",
            "[providers.p.options]\n",
            "plugin = \"provider-replay\"\n",
            "model = \"m\"\n",
            "prompt = \"{{ question }}\"\n",
            "items = [{ id = \"a\", question = \"q\" }]\n",
            "items-file = \"reference/numbers.jsonl\"\n",
            "prompt-file = \"tasks/race-condition/task.md\"\n",
            "dataset = \"humaneval\"\n",
            "limit = 2\n",
            "sample = 2\nseed = 1\n",
            "id-field = \"id\"\n",
            "fields = { q = \"question\" }\n",
            "verdict = ",
            "price = { input-per-mtok = 1.0, output-per-mtok = 2.0 }\n",
            "repeats = ",
            "concurrency = ",
            "timeout-seconds = ",
            "cron = \"*/5 * * * *\"\n",
            "{{",
            "}}",
            "\"\"\"",
            "'''",
            "= ",
            "[[",
            "]]",
            "1979-05-27T07:32:00Z",
            "inf",
            "nan",
            "0x7f",
        ]
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let text = String::from_utf8_lossy(input);
        match llmbench_config::parse(&text, &self.path) {
            Ok(config) => Ok(format!(
                "ok: {} providers, {} tasks",
                config.providers.len().min(3),
                config.tasks.len().min(3)
            )),
            Err(errors) => check_errors(&errors, &[(&self.path, &text)]),
        }
    }

    fn alloc_bound(&self) -> Option<AllocBound> {
        // Not checked: a valid seed reads the prompt and items files it names, much larger
        // than the config itself. The items readers are checked on their own below.
        None
    }
}

/// The items-file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemsFormat {
    Jsonl,
    Json,
    Csv,
    Tsv,
    /// JSONL, gzip-compressed (`items.jsonl.gz`).
    Gzip,
}

impl ItemsFormat {
    pub const ALL: [ItemsFormat; 5] = [
        ItemsFormat::Jsonl,
        ItemsFormat::Json,
        ItemsFormat::Csv,
        ItemsFormat::Tsv,
        ItemsFormat::Gzip,
    ];

    fn file_name(self) -> &'static str {
        match self {
            ItemsFormat::Jsonl => "items.jsonl",
            ItemsFormat::Json => "items.json",
            ItemsFormat::Csv => "items.csv",
            ItemsFormat::Tsv => "items.tsv",
            ItemsFormat::Gzip => "items.jsonl.gz",
        }
    }
}

/// An items file read through `llmbench_config::parse`, as a config naming it reads it: the
/// size limit, gzip, the byte order mark, UTF-8, the format's reader, ids and variables,
/// `limit`, `sample`, `id-field` and `fields`, and the template checks. The input is the
/// file; which of three configs names it depends on the input's hash.
///
/// For gzip, an input that starts with gzip's magic bytes is the file as it is (mostly
/// corrupt, after mutation); any other is compressed first, so that both the decoder and
/// the reader behind it see mutated input.
#[derive(Debug)]
pub struct ItemsTarget {
    format: ItemsFormat,
    dir: tempfile::TempDir,
    configs: [(PathBuf, String); 3],
}

impl ItemsTarget {
    /// # Panics
    /// If a temporary directory cannot be created.
    pub fn new(format: ItemsFormat) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the items files");
        let file = format.file_name();
        let head = "[providers.p]\nplugin = \"provider-replay\"\nmodel = \"m\"\n\n[tasks.t]\n";
        let variants = [
            format!("{head}prompt = \"Answer.\"\nitems-file = \"{file}\"\n"),
            format!("{head}prompt = \"{{{{ question }}}}\"\nitems-file = \"{file}\"\nlimit = 3\n"),
            format!(
                "{head}prompt = \"{{{{ q }}}} {{{{ expected }}}}\"\nitems-file = \"{file}\"\nid-field = \"id\"\nfields = {{ q = \"question\" }}\nsample = 2\nseed = 7\n"
            ),
        ];
        let configs = variants.map(|text| (dir.path().join("config.toml"), text));
        Self {
            format,
            dir,
            configs,
        }
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join(self.format.file_name())
    }

    fn bytes(&self, input: &[u8]) -> Vec<u8> {
        if self.format != ItemsFormat::Gzip || input.starts_with(&[0x1f, 0x8b]) {
            return input.to_vec();
        }
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder
            .write_all(input)
            .and_then(|()| encoder.finish())
            .expect("gzip into memory")
    }
}

/// FNV-1a of `data`.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl Target for ItemsTarget {
    fn name(&self) -> &'static str {
        match self.format {
            ItemsFormat::Jsonl => "items-jsonl",
            ItemsFormat::Json => "items-json",
            ItemsFormat::Csv => "items-csv",
            ItemsFormat::Tsv => "items-tsv",
            ItemsFormat::Gzip => "items-gzip",
        }
    }

    fn max_len(&self) -> usize {
        4096
    }

    fn dictionary(&self) -> &'static [&'static str] {
        match self.format {
            ItemsFormat::Jsonl | ItemsFormat::Json | ItemsFormat::Gzip => &[
                "{\"id\": \"a\", \"question\": \"q\", \"expected\": 1}\n",
                "{}\n",
                "\"id\": ",
                "\"question\": ",
                "\"expected\": ",
                "\"\\u0000\"",
                "\"\\ud800\"",
                "\\n",
                "[[[[[[[[",
                "]]]]]]]]",
                "{\"a\":{\"b\":[",
                ", ",
                "null",
                "1.5e3",
            ],
            ItemsFormat::Csv => &[
                "id,question,expected\n",
                "\"a\"\"b\"",
                "\"x\ny\"",
                ",,,,",
                "\r\n",
                "id",
                "question",
            ],
            ItemsFormat::Tsv => &[
                "id\tquestion\texpected\n",
                "\t\t\t",
                "\"x\ty\"",
                "\r\n",
                "id",
                "question",
            ],
        }
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let file = self.file();
        std::fs::write(&file, self.bytes(input))
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        let (path, config) = &self.configs[(hash(input) % 3) as usize];
        let text = String::from_utf8_lossy(input);
        match llmbench_config::parse(config, path) {
            Ok(config) => Ok(format!(
                "ok: {} items",
                config.tasks.first().map_or(0, |t| t.items.len()).min(4)
            )),
            Err(errors) => {
                // Line checks apply to the text as written, not to compressed bytes.
                let items = [
                    (file.as_path(), text.as_ref()),
                    (path.as_path(), config.as_str()),
                ];
                let files = if self.format == ItemsFormat::Gzip {
                    &items[1..]
                } else {
                    &items[..]
                };
                check_errors(&errors, files)
            }
        }
    }

    fn alloc_bound(&self) -> Option<AllocBound> {
        Some(AllocBound {
            // Each record and item is a B-tree map whose smallest node is about half a KiB:
            // a CSV row of 2 or 3 bytes costs about 1.2 KiB, a JSONL line of `{}` about 300
            // bytes. Linear, but that is the factor.
            per_byte: match self.format {
                ItemsFormat::Csv | ItemsFormat::Tsv => 1024,
                _ => 256,
            },
            // Parsing and validating the config around the file, and for gzip the
            // compressor (which runs inside the measurement).
            constant: if self.format == ItemsFormat::Gzip {
                2 << 20
            } else {
                512 << 10
            },
        })
    }

    fn size(&self, input: &[u8]) -> usize {
        if self.format != ItemsFormat::Gzip || !input.starts_with(&[0x1f, 0x8b]) {
            return input.len();
        }
        // What the file decompresses to, as far as it is valid (the reader's limit is 64 MiB).
        let mut text = Vec::new();
        let _ = MultiGzDecoder::new(input)
            .take(llmbench_config::MAX_ITEMS_FILE_BYTES + 1)
            .read_to_end(&mut text);
        input.len().max(text.len())
    }
}

/// `provider-replay`'s `Answers::parse` on the input as an answers file.
#[derive(Debug, Default)]
pub struct ReplayTarget;

impl Target for ReplayTarget {
    fn name(&self) -> &'static str {
        "replay-answers"
    }

    fn max_len(&self) -> usize {
        8192
    }

    fn dictionary(&self) -> &'static [&'static str] {
        &[
            "{\"task\": \"t\", \"item\": \"i\", \"model\": \"m\", \"text\": \"x\"}\n",
            "\"stop-reason\": \"max_tokens\", ",
            "\"input-tokens\": ",
            "\"output-tokens\": ",
            "\"cache-read-tokens\": ",
            "\"cache-write-tokens\": ",
            "\"reasoning-tokens\": ",
            "\"latency-ms\": ",
            "\"ttft-ms\": ",
            "\"note\": \"n\", ",
            "1e400",
            "-0.0",
            "\n",
        ]
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let text = String::from_utf8_lossy(input);
        match Answers::parse(Path::new("answers.jsonl"), &text) {
            Ok(answers) => {
                // Lookups of any repeat never panic (`r % n` with n > 0).
                let _ = answers.find("t", "i", "m", u32::MAX);
                let models = answers.models_for("t", "i");
                Ok(format!("ok: {} models for t/i", models.len().min(3)))
            }
            Err(e) => {
                let shown = e.to_string();
                if !shown.starts_with("answers.jsonl") {
                    return Err(format!("an error does not name the file: {shown}"));
                }
                Ok(format!("{} {}", e.kind(), outcome(&shown)))
            }
        }
    }

    fn alloc_bound(&self) -> Option<AllocBound> {
        Some(AllocBound {
            per_byte: 64,
            constant: 64 << 10,
        })
    }
}

/// `llmbench_http::SseParser` on the input as a response body, pushed whole and in chunks
/// cut at places derived from the input: both give the same events, comments and
/// truncation.
#[derive(Debug, Default)]
pub struct SseTarget;

/// The parse of `input` pushed in chunks of the given lengths (the rest in one last chunk),
/// each drained before the next as `SseStream` does; `each` sees every event.
fn sse(
    input: &[u8],
    chunks: impl Iterator<Item = usize>,
    mut each: impl FnMut(SseEvent),
) -> (u64, bool) {
    let mut parser = SseParser::new();
    let mut rest = input;
    for len in chunks {
        let (chunk, tail) = rest.split_at(len.min(rest.len()));
        parser.push(chunk);
        while let Some(event) = parser.next_event() {
            each(event);
        }
        rest = tail;
        if rest.is_empty() {
            break;
        }
    }
    parser.push(rest);
    while let Some(event) = parser.next_event() {
        each(event);
    }
    let truncated = parser.finish();
    while let Some(event) = parser.next_event() {
        each(event);
    }
    (parser.comments(), truncated)
}

impl Target for SseTarget {
    fn name(&self) -> &'static str {
        "sse"
    }

    fn max_len(&self) -> usize {
        4096
    }

    fn dictionary(&self) -> &'static [&'static str] {
        &[
            "data: ",
            "data:",
            "event: ",
            "id: ",
            "retry: 100",
            ": ping",
            "\n\n",
            "\r\n\r\n",
            "\r",
            "data: [DONE]\n\n",
            "event: message_start\n",
            "{\"type\":\"content_block_delta\"}",
        ]
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let mut whole = Vec::new();
        let whole_end = sse(input, std::iter::empty(), |e| whole.push(e));
        let mut rng = fastrand::Rng::with_seed(hash(input));
        let mut index = 0;
        let mut mismatch = None;
        let chunked_end = sse(input, std::iter::repeat_with(|| rng.usize(0..=17)), |e| {
            if mismatch.is_none() && whole.get(index) != Some(&e) {
                mismatch = Some(format!(
                    "event {index} differs: {e:?} vs {:?}",
                    whole.get(index)
                ));
            }
            index += 1;
        });
        if let Some(mismatch) = mismatch {
            return Err(format!("chunked and whole parses differ: {mismatch}"));
        }
        if index != whole.len() || chunked_end != whole_end {
            return Err(format!(
                "chunked and whole parses differ: {index} events, (comments, truncated) {chunked_end:?}; whole: {} events, {whole_end:?}",
                whole.len()
            ));
        }
        Ok(format!(
            "{} events, {} named, {} with ids, truncated {}",
            whole.len().min(4),
            whole.iter().filter(|e| e.event.is_some()).count().min(2),
            whole.iter().filter(|e| e.id.is_some()).count().min(2),
            whole_end.1
        ))
    }

    fn alloc_bound(&self) -> Option<AllocBound> {
        Some(AllocBound {
            per_byte: 64,
            constant: 16 << 10,
        })
    }
}

/// `grader-match`: options decoded as `MatchGrader::from_options` does, then an answer
/// graded with them, with and without per-item options. The input is a JSON object
/// `{"options": ..., "answer": "...", "expected": "..."}`; other inputs are skipped.
/// Property: a grade's score is in `0..=1` (so never NaN).
#[derive(Debug, Default)]
pub struct GraderMatchTarget;

impl Target for GraderMatchTarget {
    fn name(&self) -> &'static str {
        "grader-match"
    }

    fn max_len(&self) -> usize {
        2048
    }

    fn dictionary(&self) -> &'static [&'static str] {
        &[
            "\"mode\": \"equals\"",
            "\"mode\": \"contains\"",
            "\"mode\": \"starts-with\"",
            "\"mode\": \"regex\"",
            "\"mode\": \"numeric\"",
            "\"mode\": \"choice\"",
            "\"mode\": \"json\"",
            "\"mode\": \"f1\"",
            "\"expected\": ",
            "\"case-insensitive\": true, ",
            "\"trim\": false, ",
            "\"squad-normalize\": true, ",
            "\"extract\": \"last-number\", ",
            "\"extract\": \"boxed\", ",
            "\"extract\": \"answer-line\", ",
            "\"extract\": \"last-code-block\", ",
            "\"extract\": {\"regex\": \"(\\\\d+)\", \"group\": 1}, ",
            "\"abs-tolerance\": ",
            "\"rel-tolerance\": ",
            "\"choices\": \"ABCD\", ",
            "\"json-equal\": false, ",
            "\"schema\": {\"type\": \"object\"}, ",
            "\"threshold\": ",
            "{{ expected }}",
            "\\\\boxed{",
            "```json\\n",
            "Answer: ",
            "(A)",
            "$ref",
            "\"$ref\": \"#\"",
            "1,234.5",
            "3/4",
            "-.5e-3",
        ]
    }

    fn run(&mut self, input: &[u8]) -> Result<String, String> {
        let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(input) else {
            return Ok("not a JSON object".to_owned());
        };
        let options = object.remove("options").unwrap_or(Value::Null);
        let answer = match object.remove("answer") {
            Some(Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        let expected = match object.remove("expected") {
            Some(Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
            None => None,
        };
        let grader = match MatchGrader::from_options(options.clone()) {
            Ok(grader) => grader,
            Err(e) => return Ok(format!("options refused: {}", outcome(&e.to_string()))),
        };
        let mut seen = Vec::new();
        for per_item in [None, Some(&options)] {
            let grade = grader.grade_answer(&answer, per_item, expected.as_deref());
            if !(0.0..=1.0).contains(&grade.score) {
                return Err(format!(
                    "score {} outside 0..=1: {}",
                    grade.score, grade.evidence
                ));
            }
            seen.push(format!("{:?} {}", grade.outcome, outcome(&grade.evidence)));
        }
        Ok(seen.join(" / "))
    }

    fn alloc_bound(&self) -> Option<AllocBound> {
        // Not checked: compiling a regex or a JSON Schema allocates in proportion to what
        // the pattern means, not to its length (the regex crate bounds it at 10 MB).
        None
    }
}
