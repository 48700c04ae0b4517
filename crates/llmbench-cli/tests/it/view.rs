//! `llmbench view` end to end: real runs (provider-testkit, grader-regex), one still going,
//! served by the binary and driven in headless Chromium (Debian's `chromium`) over the
//! DevTools protocol: list runs, open one, filter to failed samples, open a sample and see
//! its evidence, compare two runs, watch the running run's count rise without a reload. No
//! console error on any page, an answer's markup stays text, and a screenshot of each page
//! is saved under `target/view-screenshots/`.
//!
//! The DevTools protocol runs over `--remote-debugging-pipe` (NUL-separated JSON on file
//! descriptors 3 and 4), given to Chromium as two named pipes by `sh`: no WebSocket client
//! and no driver binary needed.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{bin, llmbench, text, write_config};

/// What the model "answers" on one item (provider-testkit echoes the prompt).
const XSS: &str = "<script>alert(1)</script><img src=x onerror=alert(2)>";

/// A config of `items` items answered after `latency_ms`, graded by `pattern`, in `name`.
fn config(dir: &Path, name: &str, latency_ms: u64, items: usize, pattern: &str) -> PathBuf {
    let items: Vec<String> = (0..items)
        .map(|i| match i {
            1 => format!(r#"{{ id = "i1", text = "Fix: {XSS}" }}"#),
            i if i % 3 == 2 => format!(r#"{{ id = "i{i}", text = "Fix: maybe {i}" }}"#),
            i => format!(r#"{{ id = "i{i}", text = "Fix: ok {i}" }}"#),
        })
        .collect();
    let path = write_config(
        dir,
        &format!(
            r#"repeats = 1
concurrency = 1

[providers.kit]
plugin = "provider-testkit"
model = "kit-1"
price = {{ input-per-mtok = 1.0, output-per-mtok = 5.0 }}
[providers.kit.options]
fixed-latency-ms = {latency_ms}

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]

[[tasks.t.graders]]
plugin = "grader-regex"
[tasks.t.graders.options]
pattern = "{pattern}"
"#,
            items.join(", ")
        ),
    );
    let named = dir.join(name);
    std::fs::rename(&path, &named).unwrap();
    named
}

fn finished_run(config: &Path) -> String {
    let out = llmbench(&["run", "--config"]).arg(config).output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    stdout
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("Run "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no run id in {stdout:?}"))
        .to_owned()
}

/// A child process killed when dropped.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `llmbench view` on a free loopback port: the process and its address.
fn start_view(results: &Path) -> (Killed, String) {
    let mut child = Command::new(bin())
        .args(["view", "--address", "127.0.0.1:0", "--output-dir"])
        .arg(results)
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned();
    (Killed(child), address)
}

/// Headless Chromium driven over the DevTools protocol through two named pipes.
struct Browser {
    _process: Killed,
    commands: File,
    replies: Receiver<Value>,
    /// Events received while waiting for a reply.
    events: VecDeque<Value>,
    next_id: u64,
    session: String,
    /// Console errors, exceptions, error log entries and dialogs, as they came.
    problems: Vec<String>,
}

impl Browser {
    fn start(dir: &Path) -> Browser {
        let (to_browser, from_browser) = (dir.join("cdp-in"), dir.join("cdp-out"));
        for fifo in [&to_browser, &from_browser] {
            let status = Command::new("mkfifo").arg(fifo).status().unwrap();
            assert!(status.success(), "mkfifo {}", fifo.display());
        }
        let process = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" --headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update --disable-sync --no-first-run --hide-scrollbars --user-data-dir="$3" --remote-debugging-pipe about:blank 3<"$1" 4>"$2""#)
            .arg(super_chromium())
            .arg(&to_browser)
            .arg(&from_browser)
            .arg(dir.join("profile"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let process = Killed(process);
        // The shell opens the command pipe, then the reply pipe: open them in that order.
        let commands = OpenOptions::new().write(true).open(&to_browser).unwrap();
        let mut replies = File::open(&from_browser).unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let mut chunk = [0u8; 65536];
            loop {
                let n = match replies.read(&mut chunk) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                buf.extend_from_slice(&chunk[..n]);
                while let Some(end) = buf.iter().position(|b| *b == 0) {
                    let message: Value = serde_json::from_slice(&buf[..end]).unwrap();
                    buf.drain(..=end);
                    if tx.send(message).is_err() {
                        return;
                    }
                }
            }
        });
        let mut browser = Browser {
            _process: process,
            commands,
            replies: rx,
            events: VecDeque::new(),
            next_id: 0,
            session: String::new(),
            problems: Vec::new(),
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target = target["targetId"].as_str().unwrap().to_owned();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().unwrap().to_owned();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": false }),
        );
        browser
    }

    /// Sends a command (to the page's session once attached) and waits for its reply.
    fn call(&mut self, method: &str, params: Value) -> Value {
        match self.try_call(method, params) {
            Ok(result) => result,
            Err(error) => panic!("{method}: {error}"),
        }
    }

    /// [`Browser::call`], with the error the browser replied, if any.
    fn try_call(&mut self, method: &str, params: Value) -> Result<Value, Value> {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            message["sessionId"] = json!(self.session);
        }
        let mut bytes = serde_json::to_vec(&message).unwrap();
        bytes.push(0);
        self.commands.write_all(&bytes).unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let reply = match self.replies.recv_timeout(left) {
                Ok(reply) => reply,
                Err(RecvTimeoutError::Timeout) => panic!("no reply to {method} in 60 s"),
                Err(RecvTimeoutError::Disconnected) => panic!("chromium went away during {method}"),
            };
            if reply["id"] == json!(id) {
                if let Some(error) = reply.get("error") {
                    return Err(error.clone());
                }
                return Ok(reply["result"].clone());
            }
            self.note(&reply);
            self.events.push_back(reply);
        }
    }

    /// Records what counts as a problem on a page.
    fn note(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str().unwrap_or("") {
            "Runtime.exceptionThrown" => self
                .problems
                .push(format!("exception: {}", params["exceptionDetails"])),
            "Runtime.consoleAPICalled"
                if matches!(
                    params["type"].as_str(),
                    Some("error" | "warning" | "assert")
                ) =>
            {
                self.problems.push(format!("console: {}", params["args"]))
            }
            "Log.entryAdded"
                if matches!(params["entry"]["level"].as_str(), Some("error" | "warning")) =>
            {
                self.problems.push(format!("log: {}", params["entry"]))
            }
            "Page.javascriptDialogOpening" => {
                self.problems.push(format!("dialog: {}", params["message"]))
            }
            _ => {}
        }
    }

    /// The value of `expression` in the page.
    fn eval(&mut self, expression: &str) -> Value {
        let result = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("{expression}: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Waits until `expression` is true in the page (up to `seconds`).
    fn wait_for(&mut self, expression: &str, seconds: u64) {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let ok = match self.try_call(
                "Runtime.evaluate",
                json!({ "expression": format!("!!({expression})"), "returnByValue": true }),
            ) {
                Ok(ok) => ok,
                // Asked while the page was being replaced (a link followed, a reload): the
                // next page is asked again.
                Err(error)
                    if ["navigated or closed", "context was destroyed"]
                        .iter()
                        .any(|m| error["message"].as_str().unwrap_or("").contains(m)) =>
                {
                    Value::Null
                }
                Err(error) => panic!("Runtime.evaluate: {error}"),
            };
            if ok["result"]["value"] == json!(true) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not true after {seconds} s: {expression} (at {})",
                self.eval("location.href")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for a page of the app to have loaded and run its script.
    fn wait_loaded(&mut self, path_part: &str) {
        self.wait_for(
            &format!(
                "location.href.includes({}) && document.readyState === 'complete' && document.documentElement.dataset.ready === '1'",
                json!(path_part)
            ),
            30,
        );
    }

    fn open(&mut self, url: &str) {
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_loaded(url);
    }

    /// Clicks the element `selector` names (a real click event in the page).
    fn click(&mut self, selector: &str) {
        let found = self.eval(&format!(
            "(function () {{ var e = document.querySelector({}); if (!e) {{ return false; }} e.click(); return true; }})()",
            json!(selector)
        ));
        assert_eq!(found, json!(true), "nothing matches {selector}");
    }

    /// Saves a screenshot of the whole page to `path`.
    fn screenshot(&mut self, path: &Path) {
        let shot = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": false }),
        );
        use base64::Engine as _;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().unwrap())
            .unwrap();
        assert!(
            png.len() > 10_000,
            "a {}-byte screenshot: blank?",
            png.len()
        );
        std::fs::write(path, png).unwrap();
    }

    /// The problems seen so far (events read while waiting included), emptied.
    fn take_problems(&mut self) -> Vec<String> {
        while let Ok(event) = self.replies.try_recv() {
            self.note(&event);
        }
        self.events.clear();
        std::mem::take(&mut self.problems)
    }

    /// No answer's markup became an element, nothing ran, and the page is the app's.
    fn assert_text_stays_text(&mut self, page: &str) {
        let scripts = self.eval("Array.from(document.scripts).map(function (s) { return s.getAttribute('src'); }).join(',')");
        assert_eq!(scripts, json!("/assets/view.js"), "{page}: scripts");
        let images = self.eval("document.querySelectorAll('img').length");
        assert_eq!(images, json!(0), "{page}: an <img> from an answer");
    }
}

fn super_chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::var("PATH").unwrap_or_default().split(':') {
            let path = Path::new(dir).join(name);
            if path.is_file() {
                return path;
            }
        }
    }
    panic!("chromium is not installed: run scripts/install-deps.sh browser");
}

fn screenshots() -> PathBuf {
    // target/debug/llmbench -> target/view-screenshots
    let dir = Path::new(bin())
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("view-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_browser_walks_the_app_while_a_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results");
    // Run A passes every item; run B's stricter pattern fails the "maybe" items.
    let run_a = finished_run(&config(dir.path(), "nightly.toml", 1, 9, "Fix"));
    let run_b = finished_run(&config(
        dir.path(),
        "strict.toml",
        1,
        9,
        "Fix: (ok|<script>)",
    ));
    // A slow run, still going while the browser looks at it.
    let slow = config(dir.path(), "slow.toml", 400, 150, "Fix");
    let _running = Killed(
        llmbench(&["run", "--config"])
            .arg(&slow)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    // Wait until it is in the store.
    let deadline = Instant::now() + Duration::from_secs(60);
    let running_id = loop {
        let out = llmbench(&["runs", "--output-dir"])
            .arg(&results)
            .output()
            .unwrap();
        let listing = text(&out).0;
        if let Some(line) = listing.lines().find(|l| l.contains("running")) {
            break line.split_whitespace().next().unwrap().to_owned();
        }
        assert!(
            Instant::now() < deadline,
            "the slow run never showed up: {listing}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_view, address) = start_view(&results);
    let base = format!("http://{address}");
    let shots = screenshots();
    let mut b = Browser::start(dir.path());

    // The runs list.
    b.open(&format!("{base}/"));
    b.wait_for(
        &format!(
            "document.querySelector('tr[data-run=\"{running_id}\"][data-status=\"running\"]')"
        ),
        10,
    );
    for run in [&run_a, &run_b] {
        b.wait_for(
            &format!("document.querySelector('tr[data-run=\"{run}\"]')"),
            5,
        );
    }
    b.screenshot(&shots.join("runs.png"));
    b.assert_text_stays_text("runs");
    let problems = b.take_problems();
    assert!(problems.is_empty(), "runs: {problems:#?}");

    // Open run B: its report.
    b.click(&format!("tr[data-run=\"{run_b}\"] a.run-link"));
    b.wait_loaded(&format!("/runs/{run_b}"));
    b.wait_for(
        "document.getElementById('chart-latency') && document.getElementById('winner')",
        5,
    );
    b.screenshot(&shots.join("run.png"));
    b.assert_text_stays_text("run");

    // Its samples, filtered to failures with the form.
    b.click("#progress a[href$='/samples']");
    b.wait_loaded(&format!("/runs/{run_b}/samples"));
    b.eval("document.querySelector('select[name=verdict]').value = 'fail'");
    b.click("form.filters button[type=submit]");
    b.wait_loaded("verdict=fail");
    let verdicts = b.eval("Array.from(document.querySelectorAll('tr.sample-row')).map(function (r) { return r.dataset.verdict; }).join(',')");
    assert_eq!(verdicts, json!("fail,fail,fail"), "the three 'maybe' items");
    b.screenshot(&shots.join("samples-failed.png"));
    b.assert_text_stays_text("samples");

    // A failed sample: request, answer, evidence and its kind.
    b.click("tr.sample-row a.sample-link");
    b.wait_loaded(&format!("/runs/{run_b}/samples/"));
    b.wait_for(
        "document.getElementById('verdict').textContent === 'fail'",
        5,
    );
    let evidence = b.eval("document.querySelector('table.grades').innerText");
    let evidence = evidence.as_str().unwrap();
    assert!(
        evidence.contains("did not match") && evidence.contains("check"),
        "{evidence}"
    );
    b.screenshot(&shots.join("sample.png"));
    b.assert_text_stays_text("sample");

    // The sample with markup in its answer shows it as text, on its page and its item's.
    b.open(&format!("{base}/runs/{run_b}/samples?item=i1"));
    b.click("tr.sample-row a.sample-link");
    b.wait_loaded("/samples/");
    let answer = b.eval("document.getElementById('answer-text').textContent");
    assert_eq!(answer, json!(format!("echo: Fix: {XSS}")));
    b.assert_text_stays_text("the sample with markup");
    b.open(&format!("{base}/runs/{run_b}/item?task=t&item=i1"));
    b.wait_for(
        &format!("document.body.innerText.includes({})", json!(XSS)),
        5,
    );
    b.assert_text_stays_text("item");
    b.open(&format!("{base}/runs/{run_b}/samples?q=onerror"));
    b.wait_for("document.querySelectorAll('tr.sample-row').length === 1", 5);
    b.assert_text_stays_text("search");
    let problems = b.take_problems();
    assert!(problems.is_empty(), "run, samples, sample: {problems:#?}");

    // Compare A with B, picked on the runs list.
    b.open(&format!("{base}/"));
    b.click(&format!("input[name=a][value=\"{run_a}\"]"));
    b.click(&format!("input[name=b][value=\"{run_b}\"]"));
    b.click("#compare-button");
    b.wait_loaded("/compare?");
    let changed = b.eval("document.getElementById('changed-count').textContent");
    assert_eq!(changed, json!("3 samples graded differently."));
    let table = b.eval("document.querySelector('table.changes').innerText");
    assert!(
        table.as_str().unwrap().contains("McNemar"),
        "the paired test is named: {table}"
    );
    b.screenshot(&shots.join("compare.png"));
    b.assert_text_stays_text("compare");

    // The running run's count rises on its page without a reload.
    b.open(&format!("{base}/runs/{running_id}"));
    b.eval("window.stillThisPage = true");
    let first = b.eval("Number(document.getElementById('progress').dataset.recorded)");
    let first = first.as_u64().unwrap();
    b.wait_for(
        &format!("Number(document.getElementById('progress').dataset.recorded) > {first} && Number(document.getElementById('progress').dataset.polls) >= 2"),
        30,
    );
    assert_eq!(
        b.eval("window.stillThisPage === true"),
        json!(true),
        "the page was reloaded"
    );
    let shown = b.eval("document.querySelector('#progress [data-field=samples]').textContent");
    assert!(shown.as_str().unwrap().ends_with("/150"), "{shown}");
    b.screenshot(&shots.join("run-live.png"));
    b.assert_text_stays_text("running run");
    let problems = b.take_problems();
    assert!(problems.is_empty(), "compare, live run: {problems:#?}");
    let _ = b.call("Browser.close", json!({}));
}

#[test]
fn view_serves_the_runs_with_a_policy_and_refuses_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let help = llmbench(&["view", "--help"]).output().unwrap();
    assert!(help.status.success());
    assert!(text(&help).0.contains("--address"));
    let missing = llmbench(&["view", "--output-dir"])
        .arg(dir.path().join("nothing"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing).1);
    assert!(
        !dir.path().join("nothing").exists(),
        "view created something"
    );

    let run = finished_run(&config(dir.path(), "bench.toml", 1, 3, "Fix"));
    let results = dir.path().join("results");
    let (_view, address) = start_view(&results);
    let mut stream = std::net::TcpStream::connect(&address).unwrap();
    write!(
        stream,
        "GET / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("\r\ncontent-security-policy: default-src 'none'"),
        "{response}"
    );
    assert!(response.contains(&run));
}
