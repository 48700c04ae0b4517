//! The HTML report in headless Chromium (Debian's `chromium` package): it loads without a
//! console message (no script error, no blocked resource), its script runs, its charts are in
//! the DOM, model text stays text, and a screenshot shows a page with content.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use llmbench_core::{CompletionRequest, Message, Reporter as _};
use llmbench_report::fixtures::repeated_run;
use llmbench_report::html::HtmlReporter;

fn chromium() -> PathBuf {
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

/// Run headless Chromium on `page` with `extra` arguments; (stdout, stderr).
fn run_chromium(page: &Path, profile: &Path, extra: &[String]) -> (String, String) {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start chromium");
    // Drain both pipes while waiting: the DOM is larger than a pipe's buffer.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish in 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(status.success(), "chromium failed: {stderr}");
    (stdout, stderr)
}

fn write_report(dir: &Path) -> PathBuf {
    let report = repeated_run();
    let mut reporter = HtmlReporter::default();
    for s in &report.samples {
        reporter.prompts.insert(
            (s.key.task.clone(), s.key.item.clone()),
            CompletionRequest {
                model: String::new(),
                system: None,
                messages: vec![Message::user(format!(
                    "The following Python async function intermittently returns stale data ({}).",
                    s.key.item
                ))],
                max_tokens: 1024,
                sampling: Default::default(),
                stream: true,
                sample: None,
            },
        );
    }
    let path = dir.join("report.html");
    std::fs::write(&path, reporter.render(&report).unwrap()).unwrap();
    path
}

#[test]
fn opens_without_console_errors_and_renders_its_charts() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_report(dir.path());
    let (dom, log) = run_chromium(&page, &dir.path().join("profile"), &["--dump-dom".into()]);

    let console: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught"))
        .collect();
    assert!(
        console.is_empty(),
        "console messages:\n{}",
        console.join("\n")
    );
    assert!(
        dom.contains(r#"data-ready="1""#),
        "the report's script did not run to its end"
    );
    for chart in ["chart-latency", "chart-ttft", "chart-cost", "chart-pass"] {
        assert!(
            dom.contains(&format!(r#"id="{chart}""#)),
            "{chart} missing after load"
        );
    }
    assert!(dom.matches("<rect").count() >= 3 + 3 + 3, "boxes and bars");
    assert!(dom.matches("<circle").count() >= 3, "scatter points");
    // The filter script ran: it wrote the count.
    assert!(dom.contains("60 of 60 samples"), "sample count not written");
    // The answer with <script> stayed text: one script element, the report's own.
    assert_eq!(dom.matches("<script").count(), 1);
    assert!(dom.contains("&lt;script&gt;alert('xss')&lt;/script&gt;"));
}

#[test]
fn screenshot_is_not_blank() {
    let dir = tempfile::tempdir().unwrap();
    let page = write_report(dir.path());
    let shot = dir.path().join("shot.png");
    run_chromium(
        &page,
        &dir.path().join("profile"),
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1200,1600".into(),
            "--hide-scrollbars".into(),
        ],
    );
    let image = super::png::decode(&std::fs::read(&shot).unwrap()).unwrap();
    assert_eq!((image.width, image.height), (1200, 1600));
    let colors: HashSet<[u8; 3]> = image.pixels.iter().copied().collect();
    assert!(
        colors.len() > 50,
        "only {} colours: blank page?",
        colors.len()
    );
    let background = image.pixels[0];
    let ink = image.pixels.iter().filter(|p| **p != background).count();
    let share = ink as f64 / image.pixels.len() as f64;
    assert!(
        share > 0.03,
        "only {:.2}% of the page differs from the background",
        share * 100.0
    );
}
