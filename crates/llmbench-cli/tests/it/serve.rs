//! `llmbench serve` with real components: the in-repo OpenAI-compatible mock server and
//! `provider-openai` for the sweeps, a real Prometheus (Debian's `prometheus`) scraping the
//! metrics endpoint, every dashboard and alert expression run through its query API, and
//! `promtool` on the exposition and the rules. Then SIGKILL, SIGTERM and restarts: the run
//! is resumed and store-derived metrics are not counted twice.
//!
//! Prometheus is required: without it the test fails and says how to install it.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use llmbench_mockserver::{Answer, MockConfig, MockServer, Protocol};
use serde_json::Value;

use crate::{bin, plugin_dir, repo};

/// Child processes killed (SIGKILL) when the test ends, panics included.
#[derive(Default)]
pub(crate) struct Children(Vec<(String, Child)>);

impl Children {
    pub(crate) fn spawn(&mut self, name: &str, cmd: &mut Command) -> usize {
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        self.0.push((name.to_owned(), child));
        self.0.len() - 1
    }

    pub(crate) fn get(&mut self, i: usize) -> &mut Child {
        &mut self.0[i].1
    }
}

impl Drop for Children {
    fn drop(&mut self) {
        for (_, child) in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn require(tool: &str) -> PathBuf {
    let path = PathBuf::from("/usr/bin").join(tool);
    assert!(
        path.exists(),
        "{} is not installed: run scripts/install-deps.sh metrics",
        path.display()
    );
    path
}

pub(crate) fn wait_until<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A plain HTTP/1.0 GET (no chunked bodies): the status and the body.
pub(crate) fn get(address: SocketAddr, path_and_query: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(2)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path_and_query} HTTP/1.0\r\nHost: {address}\r\n\r\n"
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `llmbench serve --config <config> --metrics-address 127.0.0.1:0`, and the address it
/// reports.
pub(crate) fn start_serve(
    children: &mut Children,
    name: &str,
    config: &Path,
) -> (usize, SocketAddr) {
    let i = children.spawn(
        name,
        Command::new(bin())
            .args(["serve", "--metrics-address", "127.0.0.1:0", "--config"])
            .arg(config)
            .env_remove("RUST_LOG")
            .stdout(Stdio::piped())
            .stderr(Stdio::null()),
    );
    let stdout = children.get(i).stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(30))
        .unwrap_or_else(|_| panic!("{name} did not report its metrics address"));
    let address = line
        .trim()
        .strip_prefix("llmbench serve: metrics on http://")
        .and_then(|rest| rest.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{name}: unexpected first line {line:?}"))
        .parse()
        .unwrap();
    (i, address)
}

/// The value of each series of `metric` in a scrape, by its label text.
pub(crate) fn series(text: &str, metric: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (name_labels, value) = l.rsplit_once(' ')?;
            let (name, labels) = match name_labels.split_once('{') {
                Some((name, labels)) => (name, labels.trim_end_matches('}')),
                None => (name_labels, ""),
            };
            (name == metric).then(|| (labels.to_owned(), value.parse().unwrap()))
        })
        .collect()
}

pub(crate) fn scrape(address: SocketAddr) -> String {
    let (status, body) = get(address, "/metrics").expect("a scrape");
    assert_eq!(status, 200);
    body
}

fn write_config(dir: &Path, name: &str, body: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[run]\nplugin-dir = \"{}\"\noutput-dir = \"results-{name}\"\n{body}",
            plugin_dir().display()
        ),
    )
    .unwrap();
    path
}

fn check_plugins() {
    for lib in [
        "libprovider_openai.so",
        "libprovider_testkit.so",
        "libgrader_regex.so",
        "libgrader_llm_judge.so",
    ] {
        let path = plugin_dir().join(lib);
        assert!(
            path.exists(),
            "{} is missing: run the tests with `cargo test --workspace`",
            path.display()
        );
    }
}

/// A Prometheus query: the result vector, or the error.
fn query(prometheus: SocketAddr, expr: &str) -> Result<Vec<Value>, String> {
    let (status, body) = get(prometheus, &format!("/api/v1/query?query={}", encode(expr)))
        .ok_or("no answer from Prometheus")?;
    let json: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if status != 200 || json["status"] != "success" {
        return Err(format!("HTTP {status}: {body}"));
    }
    Ok(json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default())
}

/// A dashboard expression as Grafana would send it, with every variable at "All".
fn as_grafana_sends_it(expr: &str) -> String {
    let mut out = expr
        .replace("$__rate_interval", "15s")
        .replace("$__range", "1h");
    for var in ["job", "sweep", "model", "provider", "task"] {
        out = out.replace(&format!("${var}"), ".*");
    }
    assert!(!out.contains('$'), "unreplaced variable in {out}");
    out
}

/// Every target expression and variable selector of every dashboard.
fn dashboard_queries() -> Vec<(String, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo().join("dashboards")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let d: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let mut panels: Vec<&Value> = Vec::new();
        for p in d["panels"].as_array().unwrap() {
            panels.push(p);
            panels.extend(p["panels"].as_array().into_iter().flatten());
        }
        for p in panels {
            for t in p["targets"].as_array().into_iter().flatten() {
                out.push((
                    format!("panel `{}`", p["title"].as_str().unwrap()),
                    t["expr"].as_str().unwrap().to_owned(),
                ));
            }
        }
        for v in d["templating"]["list"].as_array().unwrap() {
            if let Some(q) = v["query"]
                .as_str()
                .and_then(|q| q.strip_prefix("label_values("))
            {
                let selector = q.rsplit_once(',').unwrap().0;
                out.push((
                    format!("variable `{}`", v["name"].as_str().unwrap()),
                    selector.to_owned(),
                ));
            }
        }
    }
    assert!(out.len() > 20, "{} dashboard queries", out.len());
    out
}

/// An alert expression that returns every series it compares instead of only the firing
/// ones: its top-level comparison gets the `bool` modifier.
fn without_threshold(expr: &str) -> String {
    use promql_parser::parser::{BinModifier, Expr};
    let mut parsed = promql_parser::parser::parse(expr).unwrap();
    let Expr::Binary(b) = &mut parsed else {
        panic!("alert `{expr}` is not a comparison")
    };
    assert!(b.op.is_comparison_operator(), "alert `{expr}`");
    let mut modifier = b.modifier.clone().unwrap_or_else(BinModifier::default);
    modifier.return_bool = true;
    b.modifier = Some(modifier);
    parsed.to_string()
}

#[test]
fn dashboards_and_alerts_query_real_prometheus_data() {
    let prometheus_bin = require("prometheus");
    let promtool = require("promtool");
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Children::default();

    let mock = MockServer::start_background(MockConfig {
        time_to_first_token: Duration::from_millis(20),
        per_token_delay: Duration::from_millis(2),
        cached_input_tokens: 2,
        ..MockConfig::new(Protocol::OpenAi)
    })
    .unwrap();
    // The judge: a second mock server whose every answer is a passing verdict.
    let judge = MockServer::start_background(MockConfig {
        answer: Answer::Fixed(r#"{"score": 0.75, "pass": true, "rationale": "counts"}"#.into()),
        ..MockConfig::new(Protocol::OpenAi)
    })
    .unwrap();
    let entry = |name: &str, model: &str, extra: &str| {
        format!(
            r#"
[providers.{name}]
plugin = "provider-openai"
model = "{model}"
price = {{ input-per-mtok = 1.0, output-per-mtok = 5.0, cache-read-per-mtok = 0.1, as-of = "2026-05-22" }}
options = {{ base-url = "{}/v1" }}
{extra}
"#,
            mock.base_url()
        )
    };
    let provider = |name: &str| entry(name, &format!("{name}-model"), "");
    // Two models, one of them twice (entries `alpha` and `alpha-hot`: the same plugin and
    // model at two temperatures), and a judge-only entry; one item is overloaded once (an
    // error and a retry: the mock counts faults per model and prompt, so once per model), one
    // fails its regex grader, and the judge grades the other task.
    let healthy = write_config(
        dir.path(),
        "healthy",
        &format!(
            r#"
[schedule]
interval-seconds = 2
{}{}{}
[providers.judge]
plugin = "provider-openai"
model = "judge-model"
judge-only = true
price = {{ input-per-mtok = 2.0, output-per-mtok = 10.0 }}
options = {{ base-url = "{}/v1" }}

[tasks.greet]
prompt = "Say hello to {{{{name}}}}"
items = [{{ id = "a", name = "Ada" }}, {{ id = "b", name = "Bob MOCK_FAULT=529;times=1" }}]
[[tasks.greet.graders]]
plugin = "grader-regex"
options = {{ pattern = "^mock-" }}

[tasks.count]
prompt = "Count to {{{{n}}}}"
items = [{{ id = "three", n = "3" }}]
[[tasks.count.graders]]
plugin = "grader-regex"
options = {{ pattern = "never matches" }}
[[tasks.count.graders]]
name = "judge"
plugin = "grader-llm-judge"
judge = "judge"
options = {{ rubric = "The answer counts." }}
"#,
            entry("alpha", "alpha-model", "temperature = 0.0"),
            entry("alpha-hot", "alpha-model", "temperature = 1.0"),
            provider("beta"),
            judge.base_url(),
        ),
    );
    // Every request is refused: the sweep fails, and the stalled-sweep alert must fire.
    let failing = write_config(
        dir.path(),
        "failing",
        &format!(
            r#"
[schedule]
interval-seconds = 2
{}
[tasks.greet]
prompt = "Say hello MOCK_FAULT=400"
"#,
            provider("gamma")
        ),
    );
    let (_, healthy_at) = start_serve(&mut children, "serve (healthy)", &healthy);
    let (_, failing_at) = start_serve(&mut children, "serve (failing)", &failing);

    // Prometheus scrapes both every second and evaluates the rules every second, with the
    // `for` durations shortened.
    let rules = std::fs::read_to_string(repo().join("dashboards/alerts.yml"))
        .unwrap()
        .lines()
        .map(|l| match l.trim_start().strip_prefix("for: ") {
            Some(_) => format!("{}for: 1s", &l[..l.len() - l.trim_start().len()]),
            None => l.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(dir.path().join("alerts.yml"), rules).unwrap();
    std::fs::write(
        dir.path().join("prometheus.yml"),
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\n\
             scrape_configs:\n  - job_name: llmbench\n    static_configs:\n      - targets: [\"{healthy_at}\", \"{failing_at}\"]\n"
        ),
    )
    .unwrap();
    let prometheus_at: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    children.spawn(
        "prometheus",
        Command::new(&prometheus_bin)
            .arg(format!(
                "--config.file={}",
                dir.path().join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("tsdb").display()
            ))
            .arg(format!("--web.listen-address={prometheus_at}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );

    // promtool passes on the rules and on the live exposition.
    let out = Command::new(&promtool)
        .args(["check", "rules"])
        .arg(repo().join("dashboards/alerts.yml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // Two successful sweeps, seen by Prometheus.
    wait_until("two sweeps in Prometheus", Duration::from_secs(40), || {
        let r = query(
            prometheus_at,
            r#"llmbench_sweeps_total{sweep="healthy", result="success"} >= 2"#,
        )
        .ok()?;
        (!r.is_empty()).then_some(())
    });
    // Rates need two scrapes of the latest values inside their 15 s window.
    std::thread::sleep(Duration::from_secs(2));

    let text = scrape(healthy_at);
    let mut check = Command::new(&promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // One overloaded answer per model (not per entry: see the config), retried.
    for (name, value) in [
        ("llmbench_request_errors_total", 2.0),
        ("llmbench_request_retries_total", 2.0),
    ] {
        let total: f64 = series(&text, name).values().sum();
        assert_eq!(total, value, "{name} in\n{text}");
    }
    // The two entries of `alpha-model` are two series, in the exposition and in Prometheus,
    // and the judge-only entry is no model under test.
    let passed = series(&text, "llmbench_samples_total");
    for entry in ["alpha", "alpha-hot"] {
        let key = format!(
            r#"gen_ai_provider_name="openai",gen_ai_request_model="alpha-model",provider="{entry}",result="pass",task="greet""#
        );
        assert!(
            passed.get(&key).is_some_and(|v| *v >= 2.0),
            "{key} in\n{text}"
        );
    }
    assert!(!text.contains(r#"provider="judge""#), "{text}");
    let by_entry = |expr: &str| -> Vec<String> {
        let mut entries: Vec<String> = query(prometheus_at, expr)
            .unwrap()
            .iter()
            .map(|r| r["metric"]["provider"].as_str().unwrap_or("").to_owned())
            .collect();
        entries.sort();
        entries
    };
    assert_eq!(
        by_entry(
            r#"sum by (provider) (llmbench_samples_total{gen_ai_request_model="alpha-model", result="pass"}) >= 2"#
        ),
        ["alpha", "alpha-hot"]
    );
    assert_eq!(
        by_entry(
            r#"histogram_quantile(0.5, sum by (le, provider) (rate(llmbench_request_duration_seconds_bucket{gen_ai_request_model="alpha-model", outcome="success"}[15s])))"#
        ),
        ["alpha", "alpha-hot"]
    );
    // What the judge spent is the grader's, per entry it graded, apart from the models' cost.
    assert_eq!(
        by_entry(
            r#"sum by (provider) (llmbench_grader_cost_usd_total{grader="judge", task="count"}) > 0"#
        ),
        ["alpha", "alpha-hot", "beta"]
    );
    assert_eq!(
        by_entry(
            r#"sum by (provider) (llmbench_grader_tokens_total{grader="judge", gen_ai_token_type="output"}) > 0"#
        ),
        ["alpha", "alpha-hot", "beta"]
    );
    let judge_cost: f64 = series(&text, "llmbench_grader_cost_usd_total")
        .values()
        .sum();
    let judged: f64 = series(&text, "llmbench_grades_total")
        .iter()
        .filter(|(k, _)| k.contains(r#"grader="judge""#))
        .map(|(_, v)| v)
        .sum();
    assert!(judge_cost > 0.0 && judged >= 6.0, "{text}");
    assert!(
        judge.log().len() as f64 >= judged,
        "every judgement is a request to the judge"
    );
    let (status, body) = get(healthy_at, "/healthz").unwrap();
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    // Every dashboard query and variable returns data.
    let mut empty = Vec::new();
    for (what, expr) in dashboard_queries() {
        let sent = as_grafana_sends_it(&expr);
        match query(prometheus_at, &sent) {
            Ok(result) if !result.is_empty() => {}
            Ok(_) => empty.push(format!("{what}: no data for {sent}")),
            Err(e) => empty.push(format!("{what}: {e} for {sent}")),
        }
    }
    assert!(empty.is_empty(), "{}", empty.join("\n"));

    // Every alert rule loaded, evaluates without error and has data to compare.
    let (_, body) = get(prometheus_at, "/api/v1/rules").unwrap();
    let rules: Value = serde_json::from_str(&body).unwrap();
    let rules: Vec<Value> = rules["data"]["groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().clone())
        .collect();
    assert_eq!(rules.len(), 4, "{rules:#?}");
    for rule in &rules {
        assert_eq!(rule["health"], "ok", "{rule:#}");
        let expr = without_threshold(rule["query"].as_str().unwrap());
        let result = query(prometheus_at, &expr).unwrap();
        assert!(!result.is_empty(), "{}: no data for {expr}", rule["name"]);
    }

    // The failing sweep never succeeds: its stalled-sweep alert fires; the healthy one's
    // does not.
    let firing = wait_until("the stalled-sweep alert", Duration::from_secs(30), || {
        let (_, body) = get(prometheus_at, "/api/v1/alerts")?;
        let alerts: Value = serde_json::from_str(&body).ok()?;
        let firing: Vec<Value> = alerts["data"]["alerts"]
            .as_array()?
            .iter()
            .filter(|a| {
                a["labels"]["alertname"] == "LlmbenchSweepStalled" && a["state"] == "firing"
            })
            .cloned()
            .collect();
        (!firing.is_empty()).then_some(firing)
    });
    let sweeps: Vec<&str> = firing
        .iter()
        .map(|a| a["labels"]["sweep"].as_str().unwrap())
        .collect();
    assert_eq!(sweeps, ["failing"]);
    let failing_text = scrape(failing_at);
    assert!(
        series(&failing_text, "llmbench_sweeps_total")[r#"result="failure",sweep="failing""#]
            >= 1.0
    );
    drop(mock);
    drop(judge);
}

const ITEMS: usize = 24;

fn requests(counter: &Path) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(counter).unwrap_or_default().lines() {
        let item = line.split('\t').nth(1).unwrap().to_owned();
        *counts.entry(item).or_default() += 1;
    }
    counts
}

pub(crate) fn sigterm(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The samples of the latest run in the test's store (none before it exists).
fn stored(dir: &Path) -> Vec<Value> {
    let results = dir.join("results-resume");
    if !results.join("llmbench.sqlite").exists() {
        return Vec::new();
    }
    let out = crate::llmbench(&["export", "latest", "--format", "jsonl", "--output-dir"])
        .arg(&results)
        .output()
        .unwrap();
    if !out.status.success() {
        // No run recorded yet.
        return Vec::new();
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// SIGKILL mid-sweep, restart: the run is resumed, not started over. SIGTERM mid-sweep: the
/// run is checkpointed (interrupted) and `serve` exits 0; the next `serve` finishes it. A
/// final restart rebuilds the store-derived metrics without counting any sample twice, and a
/// second `serve` of the same sweep beside it exits 8 (busy).
#[test]
fn serve_resumes_after_sigkill_and_sigterm_without_double_counting() {
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("calls.tsv");
    let items: Vec<String> = (0..ITEMS)
        .map(|i| format!("{{ id = \"i{i:02}\", text = \"item {i}\" }}"))
        .collect();
    let config = write_config(
        dir.path(),
        "resume",
        &format!(
            r#"concurrency = 2

[schedule]
interval-seconds = 3600

[providers.slow]
plugin = "provider-testkit"
model = "echo-slow"
price = {{ input-per-mtok = 1.0, output-per-mtok = 5.0 }}
[providers.slow.options]
fixed-latency-ms = 150
counter-file = "{}"

[tasks.t]
prompt = "{{{{text}}}}"
items = [{}]
"#,
            counter.display(),
            items.join(", ")
        ),
    );
    let mut children = Children::default();

    // 1. SIGKILL mid-sweep.
    let (a, _) = start_serve(&mut children, "serve A", &config);
    wait_until("6 requests", Duration::from_secs(30), || {
        (requests(&counter).len() >= 6).then_some(())
    });
    children.get(a).kill().unwrap();
    children.get(a).wait().unwrap();
    let after_kill = stored(dir.path());
    assert!(
        !after_kill.is_empty() && after_kill.len() < ITEMS,
        "killed mid-sweep: {} stored",
        after_kill.len()
    );
    let run_id = after_kill[0]["run_id"].as_str().unwrap().to_owned();

    // 2. Restart: the same run resumes; SIGTERM it mid-way: exit 0, run interrupted.
    let (b, _) = start_serve(&mut children, "serve B", &config);
    let before = after_kill.len();
    wait_until(
        "the resumed run to progress",
        Duration::from_secs(30),
        || (requests(&counter).len() >= before + 6).then_some(()),
    );
    let status = sigterm(children.get(b));
    assert!(status.success(), "serve B exited with {status}");
    let after_term = stored(dir.path());
    assert!(
        after_term.len() > before && after_term.len() < ITEMS,
        "{} stored",
        after_term.len()
    );
    assert!(
        after_term.iter().all(|r| r["run_id"] == run_id.as_str()),
        "one run only"
    );
    let runs = crate::llmbench(&["runs", "--output-dir"])
        .arg(dir.path().join("results-resume"))
        .output()
        .unwrap();
    let runs = String::from_utf8_lossy(&runs.stdout).into_owned();
    assert!(runs.contains("interrupted"), "{runs}");

    // 3. Restart: the run finishes; its metrics equal the store's totals.
    let (c, c_at) = start_serve(&mut children, "serve C", &config);
    let text = wait_until("the run to finish", Duration::from_secs(60), || {
        let text = scrape(c_at);
        let ok = series(&text, "llmbench_sweeps_total")
            .get(r#"result="success",sweep="resume""#)
            .is_some_and(|v| *v == 1.0);
        ok.then_some(text)
    });
    let all = stored(dir.path());
    assert_eq!(all.len(), ITEMS);
    assert!(
        all.iter().all(|r| r["run_id"] == run_id.as_str()),
        "one run only"
    );
    let counts = requests(&counter);
    for r in &after_kill {
        let item = r["item"].as_str().unwrap();
        assert_eq!(
            counts[item], 1,
            "{item} was stored before the kill, and asked again"
        );
    }
    let store_cost: f64 = all.iter().map(|r| r["cost_usd"].as_f64().unwrap()).sum();
    let check = |text: &str| {
        let samples: f64 = series(text, "llmbench_samples_total").values().sum();
        assert_eq!(samples, ITEMS as f64, "samples counted once each");
        let cost: f64 = series(text, "llmbench_cost_usd_total").values().sum();
        assert!(
            (cost - store_cost).abs() < 1e-12,
            "cost {cost} vs stored {store_cost}"
        );
        let latencies: f64 = series(text, "llmbench_request_duration_seconds_count")
            .values()
            .sum();
        assert_eq!(latencies, ITEMS as f64, "one attempt per sample");
    };
    check(&text);
    assert_eq!(sigterm(children.get(c)).code(), Some(0));

    // 4. One more restart: the metrics are rebuilt from the store, not added to, and no new
    // run starts before the interval has passed.
    let (d, d_at) = start_serve(&mut children, "serve D", &config);
    let text = scrape(d_at);
    check(&text);
    // A second `serve` of the same sweep and store refuses to start, with its own code.
    let second = Command::new(bin())
        .args(["serve", "--metrics-address", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(8), "{stderr}");
    assert!(
        stderr.contains("another `llmbench serve` is running sweep `resume`"),
        "{stderr}"
    );
    assert_eq!(
        series(&text, "llmbench_sweeps_total").values().sum::<f64>(),
        0.0,
        "sweeps are counted by the process"
    );
    assert!(series(&text, "llmbench_last_success_timestamp_seconds")[r#"sweep="resume""#] > 1.7e9);
    assert_eq!(sigterm(children.get(d)).code(), Some(0));
    assert_eq!(stored(dir.path()).len(), ITEMS);
}

/// A real Pushgateway on a free port, ready.
fn start_pushgateway(children: &mut Children) -> SocketAddr {
    let pushgateway = require("prometheus-pushgateway");
    let address: SocketAddr = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    };
    children.spawn(
        "pushgateway",
        Command::new(&pushgateway)
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    wait_until("the Pushgateway", Duration::from_secs(20), || {
        get(address, "/-/ready").filter(|(s, _)| *s == 200)
    });
    address
}

/// `llmbench run --push-gateway`: a real Pushgateway receives the sweep's totals under
/// `job="llmbench"` and the sweep's name, with no instance; a failed sweep updates the group
/// without erasing the last success.
#[test]
fn run_pushes_its_sweep_to_a_real_pushgateway() {
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Children::default();
    let address = start_pushgateway(&mut children);
    let config = |name: &str, prompt: &str| {
        write_config(
            dir.path(),
            name,
            &format!(
                r#"
[schedule]
name = "nightly"
interval-seconds = 3600

[providers.echo]
plugin = "provider-testkit"
model = "echo"
price = {{ input-per-mtok = 1.0, output-per-mtok = 5.0, as-of = "2026-05-22" }}

[tasks.t]
prompt = "{prompt}"
items = [{{ id = "a" }}, {{ id = "b" }}]
"#
            ),
        )
    };
    let gateway = format!("http://{address}");
    // The exit code expected: 0, or 7 (no answers) for a sweep whose every request failed,
    // which is pushed all the same.
    let run = |config: &Path, code: i32| {
        let out = crate::llmbench(&["run", "--push-gateway", &gateway, "--config"])
            .arg(config)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&config("good", "hello there"), 0);
    let (_, text) = get(address, "/metrics").unwrap();
    let group = r#"gen_ai_provider_name="testkit",gen_ai_request_model="echo",instance="",job="llmbench",provider="echo",result="pass",sweep="nightly",task="t""#;
    assert_eq!(
        series(&text, "llmbench_samples_total").get(group),
        Some(&2.0),
        "{text}"
    );
    let success = series(&text, "llmbench_last_success_timestamp_seconds")[r#"instance="",job="llmbench",sweep="nightly""#];
    assert!(success > 1.7e9);
    assert!(series(&text, "push_time_seconds").len() == 1, "{text}");

    // A failed sweep: POSTed, so the last success stays and the totals are replaced.
    run(&config("bad", "hello FAIL=bad_request"), 7);
    let (_, text) = get(address, "/metrics").unwrap();
    assert_eq!(
        series(&text, "llmbench_last_success_timestamp_seconds")[r#"instance="",job="llmbench",sweep="nightly""#],
        success
    );
    assert!(
        series(&text, "llmbench_sweeps_total")[r#"instance="",job="llmbench",result="failure",sweep="nightly""#]
            == 1.0,
        "{text}"
    );
    assert_eq!(
        series(&text, "llmbench_samples_total").get(group),
        None,
        "the failed sweep's totals replaced the good one's: {text}"
    );
}

/// A sharded `llmbench run --push-gateway`: each shard pushes to its own group
/// (`.../sweep/<name>/shard/<i>`), so none overwrites another's, with the totals of its own
/// samples and a success once its own part is stored (the run as a whole is not finished
/// until the last shard's part is). On SQLite shard stores, then on one PostgreSQL store
/// that all shards share (where the run holds every shard's samples).
#[test]
fn shards_push_their_own_samples_to_their_own_groups() {
    check_plugins();
    let dir = tempfile::tempdir().unwrap();
    let mut children = Children::default();
    let address = start_pushgateway(&mut children);
    let gateway = format!("http://{address}");
    let items: Vec<String> = (0..12).map(|i| format!("{{ id = \"i{i}\" }}")).collect();
    let config = write_config(
        dir.path(),
        "sharded",
        &format!(
            r#"
[schedule]
name = "sharded"
interval-seconds = 3600

[providers.echo]
plugin = "provider-testkit"
model = "echo"

[tasks.t]
prompt = "hello"
items = [{}]
"#,
            items.join(", ")
        ),
    );
    let run = |i: usize, store: &str| {
        let out = crate::llmbench(&["run", "--push-gateway", &gateway, "--run-id", "sh"])
            .args(["--shard", &format!("{i}/2"), "--store", store, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        let (stdout, stderr) = crate::text(&out);
        assert!(out.status.success(), "{stdout}\n{stderr}");
        stdout
    };
    let shard_store = |i: usize| dir.path().join(format!("shard{i}")).display().to_string();
    let mut own = Vec::new();
    for i in 0..2 {
        let table = run(i, &shard_store(i));
        assert!(
            table.contains(&format!("Shard {i}/2 stored all its samples")),
            "{table}"
        );
        own.push(crate::postgres::export(&["--store", &shard_store(i)], "sh").0);
    }
    assert_eq!(own.iter().sum::<usize>(), 12);
    assert!(own.iter().all(|&n| n > 0), "{own:?}");
    let check = |own: &[usize]| {
        let (_, text) = get(address, "/metrics").unwrap();
        let samples = series(&text, "llmbench_samples_total");
        for (i, &n) in own.iter().enumerate() {
            let group = format!(
                r#"gen_ai_provider_name="testkit",gen_ai_request_model="echo",instance="",job="llmbench",provider="echo",result="pass",shard="{i}",sweep="sharded",task="t""#
            );
            assert_eq!(samples.get(&group), Some(&(n as f64)), "shard {i}: {text}");
            let sweeps = series(&text, "llmbench_sweeps_total");
            assert_eq!(
                sweeps.get(&format!(
                    r#"instance="",job="llmbench",result="success",shard="{i}",sweep="sharded""#
                )),
                Some(&1.0),
                "shard {i}'s part succeeded: {text}"
            );
        }
        assert!(
            samples.keys().all(|labels| labels.contains("shard=")),
            "no group without its shard: {text}"
        );
    };
    check(&own);

    // One PostgreSQL store for both: each shard still counts only its own samples.
    let pg = llmbench_testsupport::postgres::PgServer::start();
    let url = pg.url();
    let first = run(0, &url);
    assert!(first.contains("Run sh (interrupted)"), "{first}");
    assert!(
        first.contains(&format!(
            "Shard 0/2 stored all its samples; the run is the whole sweep's, and other shards may still be running. Each shard's progress: llmbench status sh --shard-count 2 --store {url}\n"
        )),
        "{first}"
    );
    let last = run(1, &url);
    assert!(last.contains("Run sh (finished): 12/12"), "{last}");
    check(&own);
}
