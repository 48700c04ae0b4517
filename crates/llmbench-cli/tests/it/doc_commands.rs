//! Every command line the docs quote is run, so a doc that drifts from the CLI fails CI.
//!
//! Sources: the shell code blocks of `README.md` and `dashboards/README.md`, and the command
//! lines in the comment headers of `configs/*.toml` (`Run it with:  llmbench run ...` and
//! indented `#   cargo xtask bench ...` lines). Inline mentions (`` `llmbench report` `` in a
//! sentence, the command table) are checked to name a real (sub)command.
//!
//! How each is run, with the built binary, from the repository root, each run into its own
//! temporary `--output-dir`, each within a bound, and any non-zero exit fails:
//! - `cargo xtask bench [--config] X ARGS` is `llmbench run X ARGS` (what it runs after
//!   building); other `cargo xtask` commands (`ci`, `perf`, ...) build and test the whole
//!   workspace and cannot run inside a test: their subcommand must exist in
//!   `xtask/src/main.rs`.
//! - `llmbench run` of a config in [`VALIDATE_ONLY`] is only validated, for the reason given
//!   there; one in [`REPLAYED`] is run with `--replay` of its recorded answers (its models
//!   are hosted and cost money).
//! - `mock-server` starts in the background on a free port (not the doc's fixed one) until
//!   its code block ends; addresses `127.0.0.1:PORT` in files the block uses are rewritten
//!   to the real port.
//! - `serve` runs with `--metrics-address 127.0.0.1:0` (not the doc's fixed port) until it
//!   prints its metrics address; then SIGTERM, which must end it with exit 0.
//! - `--push-gateway URL` pushes to a loopback stand-in for the Pushgateway.
//! - A config the docs ask the reader to write (`mock.toml`, `bench.toml`) is the nearest
//!   TOML block above the command in that doc; a block that is only a section (the
//!   `[schedule]` of `dashboards/README.md`) is appended to a small replay-free config of
//!   the test plugins.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{bin, plugin_dir, plugin_dir_with, repo, text};

/// Configs whose `run` the test only validates, and why.
const VALIDATE_ONLY: [(&str, &str); 4] = [
    (
        "configs/default.toml",
        "its model runs in process: a one-time download of SmolLM2 from the Python package registry (network) and minutes of CPU per run",
    ),
    (
        "configs/reference.toml",
        "its model is the in-process SmolLM2 (network download, minutes of CPU)",
    ),
    (
        "configs/humaneval.toml",
        "164 problems asked of the in-process model (network download, many minutes); its `--replay answers.jsonl` names the reader's own file",
    ),
    (
        "configs/concurrency-suite.toml",
        "three hosted Claude models (a key and money) and no recorded answers for its six tasks",
    ),
];

/// Configs of hosted models run with `--replay` of their recorded answers.
const REPLAYED: [(&str, &str); 1] = [(
    "configs/race-condition.toml",
    "configs/replay/race-condition.jsonl",
)];

/// The plugins the docs' commands load (checked to be built and current first).
const PLUGINS: [&str; 9] = [
    "provider-replay",
    "provider-testkit",
    "provider-openai",
    "provider-anthropic",
    "provider-local",
    "grader-sections",
    "grader-regex",
    "grader-match",
    "grader-python-exec",
];

/// The bound on one command (a sandboxed grading run included); a hung command fails the
/// test instead of hanging CI.
const LIMIT: Duration = Duration::from_secs(300);

/// A command line quoted by a doc.
#[derive(Debug, Clone)]
struct Quoted {
    /// `FILE:LINE`.
    at: String,
    /// The doc it came from, relative to the repository.
    doc: String,
    /// Its line (1-based), to find the TOML block above it.
    line: usize,
    /// The words after the program (`llmbench` or `cargo xtask`).
    words: Vec<String>,
    xtask: bool,
    /// Which code block of its doc it is in (commands of one block share mock servers).
    block: usize,
}

/// Splits a quoted line into its command, or `None` when it is not one.
fn parse_line(doc: &str, line: usize, block: usize, text: &str) -> Option<Quoted> {
    let text = text.trim().trim_start_matches("$ ");
    // A trailing comment (`cargo xtask bench   # build everything`); `#` is not otherwise
    // used in the docs' commands.
    let text = text.split(" #").next().unwrap_or_default().trim();
    let text = text.strip_suffix('&').unwrap_or(text).trim();
    let mut words = shlex::split(text)?;
    // Environment assignments (`ANTHROPIC_API_KEY=... llmbench run ...`): the key is a
    // placeholder and the hosted configs are replayed or validated, so they are dropped.
    while words
        .first()
        .is_some_and(|w| w.contains('=') && !w.starts_with('-'))
    {
        words.remove(0);
    }
    let program = words.first()?.clone();
    let xtask = program == "cargo" && words.get(1).is_some_and(|w| w == "xtask");
    let llmbench = [
        "llmbench",
        "target/debug/llmbench",
        "target/release/llmbench",
    ]
    .contains(&program.as_str());
    if !xtask && !llmbench {
        return None;
    }
    // A subcommand (or a flag) follows, not prose ("llmbench itself: ...").
    let next = words.get(if xtask { 2 } else { 1 })?;
    if !(next.starts_with('-') || next.chars().all(|c| c.is_ascii_lowercase() || c == '-')) {
        return None;
    }
    let words = words[if xtask { 2 } else { 1 }..].to_vec();
    Some(Quoted {
        at: format!("{doc}:{line}"),
        doc: doc.to_owned(),
        line,
        words,
        xtask,
        block,
    })
}

/// The commands in a Markdown file's shell code blocks, and its inline mentions.
fn markdown_commands(doc: &str) -> (Vec<Quoted>, Vec<Quoted>) {
    let source = std::fs::read_to_string(repo().join(doc)).unwrap();
    let mut blocks = Vec::new();
    // The prose, with code blocks blanked (line numbers kept), for the inline spans.
    let mut prose = String::new();
    let mut fence: Option<String> = None;
    let mut block = 0;
    for (i, line) in source.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            fence = match fence {
                Some(_) => None,
                None => {
                    block += 1;
                    Some(info.trim().to_owned())
                }
            };
            prose.push('\n');
            continue;
        }
        match &fence {
            Some(lang) if ["sh", "bash", "console", "shell"].contains(&lang.as_str()) => {
                blocks.extend(parse_line(doc, i + 1, block, line));
            }
            Some(_) => {}
            None => prose.push_str(line),
        }
        prose.push('\n');
    }
    // Inline code spans (which may wrap): every odd piece between backticks.
    let mut inline = Vec::new();
    let mut offset = 0;
    for (n, piece) in prose.split('`').enumerate() {
        if n % 2 == 1 {
            let line = prose[..offset].matches('\n').count() + 1;
            inline.extend(parse_line(doc, line, 0, &piece.replace('\n', " ")));
        }
        offset += piece.len() + 1;
    }
    (blocks, inline)
}

/// The command lines of the configs' comment headers.
fn config_commands() -> Vec<Quoted> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(repo().join("configs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    paths.sort();
    for (n, path) in paths.iter().enumerate() {
        let doc = format!("configs/{}", path.file_name().unwrap().to_string_lossy());
        let source = std::fs::read_to_string(path).unwrap();
        for (i, line) in source.lines().enumerate() {
            let Some(comment) = line.trim_start().strip_prefix('#') else {
                continue;
            };
            // An indented line (`#   cargo xtask bench ...`), or a command after a label
            // (`Run it with:  CMD`, `Calibration (no model): CMD`); not prose.
            let quoted = if comment.starts_with("  ") {
                parse_line(&doc, i + 1, 1000 + n, comment)
            } else {
                comment
                    .split_once(": ")
                    .and_then(|(_, rest)| parse_line(&doc, i + 1, 1000 + n, rest))
            };
            out.extend(quoted);
        }
    }
    out
}

/// The subcommands `cargo xtask` knows: the arms of the match in xtask's `main`.
fn xtask_subcommands() -> Vec<String> {
    let source = std::fs::read_to_string(repo().join("xtask/src/main.rs")).unwrap();
    source
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            let rest = l.strip_prefix('"')?;
            let (name, arm) = rest.split_once('"')?;
            arm.trim_start().starts_with("=>").then(|| name.to_owned())
        })
        .collect()
}

/// The value of `--config`/`-c`, else the first positional word, of `run`'s arguments.
fn config_of(args: &[String]) -> Option<(usize, String)> {
    const VALUED: [&str; 7] = [
        "--repeats",
        "--replay",
        "--push-gateway",
        "--output-dir",
        "--plugin-dir",
        "--grace-seconds",
        "--metrics-address",
    ];
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        if a == "--config" || a == "-c" {
            return args.get(i + 1).map(|c| (i + 1, c.clone()));
        }
        if let Some(c) = a.strip_prefix("--config=") {
            return Some((i, c.to_owned()));
        }
        if VALUED.contains(&a.as_str()) {
            i += 2;
            continue;
        }
        if !a.starts_with('-') {
            return Some((i, a.clone()));
        }
        i += 1;
    }
    None
}

/// Runs `cmd` to the end within [`LIMIT`], killing it if it takes longer.
fn run_bounded(mut cmd: Command, what: &str) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(LIMIT) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            panic!("{what}: still running after {LIMIT:?}; killed");
        }
    }
}

/// A background process (a mock server, `serve`), killed when dropped.
struct Background {
    child: Child,
    /// Its stdout, line by line.
    lines: mpsc::Receiver<String>,
}

impl Background {
    fn start(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines }
    }

    /// The first `http://ADDRESS` in the first stdout line that has one.
    fn address(&self, what: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(LIMIT)
                .unwrap_or_else(|e| panic!("{what}: no address printed ({e})"));
            if let Some((_, rest)) = line.split_once("http://") {
                return rest
                    .split(|c: char| c == '/' || c.is_whitespace())
                    .next()
                    .unwrap()
                    .to_owned();
            }
        }
    }
}

impl Background {
    /// SIGTERM, then its exit status (within [`LIMIT`]).
    fn terminate(&mut self, what: &str) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "{what}: kill -TERM failed");
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{what}: did not stop on SIGTERM within {LIMIT:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A stand-in for the Pushgateway on loopback: answers 200 to every request and keeps
/// each request line.
fn push_gateway() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            let _ = tx.send(request_line.trim().to_owned());
        }
    });
    (format!("http://{address}"), rx)
}

/// The last ```toml block above `line` in `doc`.
fn toml_block_above(doc: &str, line: usize) -> Option<String> {
    let source = std::fs::read_to_string(repo().join(doc)).unwrap();
    let mut found = None;
    let mut current: Option<String> = None;
    for text in source.lines().take(line) {
        let trimmed = text.trim_start();
        if let Some(info) = trimmed.strip_prefix("```") {
            match current.take() {
                Some(block) => found = Some(block),
                None if info.trim() == "toml" => current = Some(String::new()),
                None => {}
            }
            continue;
        }
        if let Some(block) = &mut current {
            block.push_str(text);
            block.push('\n');
        }
    }
    found
}

/// The small config a doc's TOML section is added to: the test plugins, no network.
fn base_config() -> String {
    format!(
        r#"[run]
plugin-dir = "{}"

[providers.echo]
plugin = "provider-testkit"
model = "echo-1"

[tasks.hello]
prompt = "Say hello."
items = [{{ id = "a" }}, {{ id = "b" }}]

[[tasks.hello.graders]]
plugin = "grader-regex"
options = {{ pattern = "echo" }}
"#,
        plugin_dir().display()
    )
}

/// What [`run_all`] did, to check it did something.
#[derive(Debug, Default)]
struct Ran {
    /// Sweeps run for real (`run`, not only validated).
    sweeps: usize,
    validated: usize,
    servers: usize,
}

/// Runs the quoted commands in order; commands of one code block share its mock servers.
fn run_all(commands: &[Quoted]) -> Ran {
    plugin_dir_with(&PLUGINS);
    let mut ran = Ran::default();
    let xtask = xtask_subcommands();
    assert!(
        xtask.contains(&"bench".to_owned()),
        "xtask/src/main.rs: no `bench` arm found in {xtask:?}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut servers: Vec<Background> = Vec::new();
    let mut ports: BTreeMap<String, String> = BTreeMap::new();
    let mut block = usize::MAX;
    let mut done: Vec<Vec<String>> = Vec::new();
    for (n, q) in commands.iter().enumerate() {
        if q.block != block {
            servers.clear();
            ports.clear();
            block = q.block;
        }
        let mut words = q.words.clone();
        if q.xtask {
            let sub = words.first().cloned().unwrap_or_default();
            assert!(
                xtask.contains(&sub),
                "{}: `cargo xtask {sub}` is not a subcommand of xtask/src/main.rs ({xtask:?})",
                q.at
            );
            if sub != "bench" {
                continue; // Builds and tests the workspace: checked to exist only.
            }
            words[0] = "run".to_owned();
            if config_of(&words[1..]).is_none() {
                words.insert(1, "configs/default.toml".to_owned());
            }
        }
        if done.contains(&words) {
            continue; // Quoted twice (a README line and a config's header): run once.
        }
        done.push(words.clone());
        let sub = words.first().cloned().unwrap_or_default();
        let what = format!("{}: `llmbench {}`", q.at, words.join(" "));
        // Files the doc asks the reader to write.
        for w in words.iter_mut() {
            if w.ends_with(".toml") && !repo().join(&*w).exists() {
                let mut toml = toml_block_above(&q.doc, q.line).unwrap_or_else(|| {
                    panic!(
                        "{what}: {w} is neither in the repository nor written out above in {}",
                        q.doc
                    )
                });
                if !toml.contains("[providers.") {
                    toml = format!("{}\n{toml}", base_config());
                }
                for (doc_address, real) in &ports {
                    toml = toml.replace(doc_address.as_str(), real);
                }
                let path = tmp.path().join(format!("{n}-{w}"));
                std::fs::write(&path, toml).unwrap();
                *w = path.display().to_string();
            }
        }
        let output_dir = tmp.path().join(format!("results-{n}"));
        let mut cmd = Command::new(bin());
        cmd.current_dir(repo()).env_remove("RUST_LOG");
        match sub.as_str() {
            "mock-server" => {
                let doc_port = words
                    .iter()
                    .position(|w| w == "--port")
                    .map_or_else(|| "8080".to_owned(), |i| words[i + 1].clone());
                if let Some(i) = words.iter().position(|w| w == "--port") {
                    words[i + 1] = "0".to_owned();
                } else {
                    words.extend(["--port".to_owned(), "0".to_owned()]);
                }
                let server = Background::start({
                    cmd.args(&words);
                    cmd
                });
                let address = server.address(&what);
                ports.insert(format!("127.0.0.1:{doc_port}"), address);
                servers.push(server);
                ran.servers += 1;
            }
            "serve" => {
                words.extend(["--metrics-address".to_owned(), "127.0.0.1:0".to_owned()]);
                words.push("--output-dir".to_owned());
                words.push(output_dir.display().to_string());
                let mut serve = Background::start({
                    cmd.args(&words);
                    cmd
                });
                let address = serve.address(&what);
                assert!(address.starts_with("127.0.0.1:"), "{what}: {address}");
                let status = serve.terminate(&what);
                assert!(status.success(), "{what}: SIGTERM ended it with {status}");
                ran.servers += 1;
            }
            _ => {
                let mut gateway = None;
                if sub == "run" {
                    let (at, config) =
                        config_of(&words[1..]).unwrap_or_else(|| panic!("{what}: names no config"));
                    if VALIDATE_ONLY.iter().any(|(c, _)| *c == config) {
                        // Only validated, for the reason VALIDATE_ONLY gives.
                        words = vec!["validate".to_owned(), words[1 + at].clone()];
                    } else {
                        ran.sweeps += 1;
                        if let Some((_, answers)) = REPLAYED.iter().find(|(c, _)| *c == config)
                            && !words.contains(&"--replay".to_owned())
                        {
                            words.extend(["--replay".to_owned(), (*answers).to_owned()]);
                        }
                        if let Some(i) = words.iter().position(|w| w == "--push-gateway") {
                            let (url, requests) = push_gateway();
                            words[i + 1] = url;
                            gateway = Some(requests);
                        }
                        words.push("--output-dir".to_owned());
                        words.push(output_dir.display().to_string());
                    }
                }
                if words.first().is_some_and(|w| w == "validate") {
                    ran.validated += 1;
                }
                cmd.args(&words);
                let out = run_bounded(cmd, &what);
                let (stdout, stderr) = text(&out);
                assert!(
                    out.status.success(),
                    "{what} (run as `llmbench {}`) exited {:?}:\n{stdout}\n{stderr}",
                    words.join(" "),
                    out.status.code()
                );
                if let Some(requests) = gateway {
                    let request = requests
                        .recv_timeout(Duration::from_secs(5))
                        .unwrap_or_else(|_| panic!("{what}: nothing was pushed"));
                    assert!(
                        request.starts_with("PUT /metrics/job/llmbench/"),
                        "{what}: {request}"
                    );
                }
            }
        }
    }
    ran
}

#[test]
fn every_command_of_the_readme_runs() {
    let (blocks, _) = markdown_commands("README.md");
    assert!(blocks.len() >= 8, "too few commands found: {blocks:#?}");
    let ran = run_all(&blocks);
    // replay-example, race-condition replayed, mock.toml; default.toml validated; three
    // mock servers.
    assert!(
        ran.sweeps >= 3 && ran.validated >= 1 && ran.servers >= 3,
        "{ran:?}"
    );
}

#[test]
fn every_command_in_the_configs_comments_runs() {
    let commands = config_commands();
    assert!(commands.len() >= 8, "too few commands found: {commands:#?}");
    for config in VALIDATE_ONLY
        .iter()
        .map(|(c, _)| c)
        .chain(REPLAYED.iter().map(|(c, _)| c))
    {
        assert!(
            repo().join(config).exists(),
            "{config} is listed here but gone"
        );
    }
    let ran = run_all(&commands);
    // replay-example, race-condition replayed, the two calibrations; four configs validated.
    assert!(ran.sweeps >= 4 && ran.validated >= 4, "{ran:?}");
}

#[test]
fn every_command_of_the_dashboards_readme_runs() {
    let (blocks, _) = markdown_commands("dashboards/README.md");
    assert!(blocks.len() >= 3, "too few commands found: {blocks:#?}");
    let ran = run_all(&blocks);
    // bench.toml pushed to the gateway; default.toml validated; serve.
    assert!(
        ran.sweeps >= 1 && ran.validated >= 1 && ran.servers >= 1,
        "{ran:?}"
    );
}

#[test]
fn inline_mentions_name_real_commands() {
    let xtask = xtask_subcommands();
    let mut checked = 0;
    for doc in ["README.md", "dashboards/README.md"] {
        let (_, inline) = markdown_commands(doc);
        for q in inline {
            let Some(first) = q.words.first() else {
                continue;
            };
            if q.xtask {
                assert!(
                    xtask.contains(first),
                    "{}: `cargo xtask {first}` is not a subcommand of xtask/src/main.rs",
                    q.at
                );
                continue;
            }
            if first.starts_with('-') {
                continue;
            }
            // The subcommand path: nested ones take their second word.
            let mut path = vec![first.clone()];
            if ["models", "datasets"].contains(&first.as_str())
                && let Some(second) = q.words.get(1)
                && second.chars().all(|c| c.is_ascii_lowercase())
            {
                path.push(second.clone());
            }
            let out = run_bounded(
                {
                    let mut cmd = Command::new(bin());
                    cmd.args(&path);
                    // `llmbench help` is itself the help.
                    if first != "help" {
                        cmd.arg("--help");
                    }
                    cmd
                },
                &q.at,
            );
            assert!(
                out.status.success(),
                "{}: `llmbench {}` is not a command: {}",
                q.at,
                path.join(" "),
                text(&out).1
            );
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} inline mentions found");
}

#[test]
fn quoted_lines_are_read_as_the_shell_would() {
    let q = parse_line(
        "d",
        1,
        0,
        r#"ANTHROPIC_API_KEY=... llmbench run configs/x.toml --set "a=1;b@0.1" &   # note"#,
    )
    .unwrap();
    assert_eq!(q.words, ["run", "configs/x.toml", "--set", "a=1;b@0.1"]);
    assert!(!q.xtask);
    let q = parse_line("d", 1, 0, "cargo xtask bench --config configs/x.toml").unwrap();
    assert!(q.xtask);
    assert_eq!(config_of(&q.words[1..]).unwrap().1, "configs/x.toml");
    assert!(parse_line("d", 1, 0, "curl -s http://127.0.0.1:9464/metrics | head").is_none());
    assert!(parse_line("d", 1, 0, "llmbench itself: SmolLM2-135M-Instruct").is_none());
    let words: Vec<String> = ["--repeats", "3", "c.toml"].map(String::from).to_vec();
    assert_eq!(config_of(&words), Some((2, "c.toml".to_owned())));
}
