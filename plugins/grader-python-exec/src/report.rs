//! Turning what a run produced into a grade: the harness's JSON report when it ran, or the
//! reason it did not (timeout, limit, crash, syntax error).

use std::time::Duration;

use llmbench_plugin_sdk::core::{Grade, GradeKind, GradeOutcome};
use serde::Deserialize;

use crate::options::{FILE_SIZE_LIMIT_BYTES, Limits, SOLUTION_FILE};
use crate::sandbox::{End, Outcome, SHM_SIZE_BYTES, WORK_SIZE_BYTES, truncate};

const MB: u64 = 1024 * 1024;

/// The harness's report: the last line of its stdout.
#[derive(Debug, Deserialize)]
struct Report {
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
struct Check {
    name: String,
    pass: bool,
    #[serde(default)]
    evidence: String,
}

/// How much of one check's evidence is kept.
const CHECK_EVIDENCE_CHARS: usize = 300;

/// A failed execution grade with `reason` as its evidence.
pub(crate) fn failed(reason: impl Into<String>) -> Grade {
    Grade {
        kind: GradeKind::Execution,
        ..Grade::fail(reason)
    }
}

/// The grade of a finished run.
pub(crate) fn grade(outcome: &Outcome, limits: &Limits) -> Grade {
    let stdout = String::from_utf8_lossy(&outcome.stdout);
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    match outcome.end {
        End::TimedOut => failed(format!("timed out after {}", seconds(limits.wall))),
        End::OutputLimit => failed(format!(
            "output limit exceeded: more than {} bytes on stdout and stderr; killed",
            limits.max_output_bytes
        )),
        End::Signaled(signal) => failed(killed(signal, limits, &stderr)),
        End::Exited(0) => from_report(&stdout),
        End::Exited(code) => failed(crashed(code, limits, &stderr, &stdout)),
    }
}

fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{s:.0} s")
    } else {
        format!("{s} s")
    }
}

fn killed(signal: i32, limits: &Limits, stderr: &str) -> String {
    let name = signal_name(signal);
    let why = match signal {
        libc::SIGXCPU => format!("killed: CPU time limit {} s ({name})", limits.cpu_seconds),
        libc::SIGXFSZ => format!(
            "killed: file size limit {} MB ({name})",
            FILE_SIZE_LIMIT_BYTES / MB
        ),
        libc::SIGKILL => format!(
            "killed ({name}; the CPU time limit is {} s)",
            limits.cpu_seconds
        ),
        _ => format!("killed by {name}"),
    };
    match last_line(stderr) {
        Some(line) => format!("{why}: {}", truncate(line, 300)),
        None => why,
    }
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGHUP => "SIGHUP",
        libc::SIGINT => "SIGINT",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGILL => "SIGILL",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        libc::SIGFPE => "SIGFPE",
        libc::SIGKILL => "SIGKILL",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGPIPE => "SIGPIPE",
        libc::SIGALRM => "SIGALRM",
        libc::SIGTERM => "SIGTERM",
        libc::SIGXCPU => "SIGXCPU",
        libc::SIGXFSZ => "SIGXFSZ",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|l| !l.is_empty())
}

/// Why a process that exited non-zero failed, read from its traceback.
fn crashed(code: i32, limits: &Limits, stderr: &str, stdout: &str) -> String {
    if let Some(syntax) = syntax_error(stderr) {
        return syntax;
    }
    let Some(line) = last_line(stderr).or_else(|| last_line(stdout)) else {
        return format!("crashed (exit code {code}) without a message");
    };
    let line = truncate(line, 300);
    if line == "MemoryError" || line.starts_with("MemoryError:") {
        return format!("memory limit {} MB exceeded: {line}", limits.memory_mb);
    }
    if line.contains("[Errno 11] Resource temporarily unavailable")
        || line.contains("can't start new thread")
    {
        return format!("process limit {} reached: {line}", limits.max_processes);
    }
    if line.contains("[Errno 28] No space left on device") {
        return format!(
            "space limit reached ({} MB for the run directory, {} MB for /dev/shm): {line}",
            WORK_SIZE_BYTES / MB,
            SHM_SIZE_BYTES / MB
        );
    }
    if line.contains("[Errno 27] File too large") {
        return format!(
            "file size limit {} MB reached: {line}",
            FILE_SIZE_LIMIT_BYTES / MB
        );
    }
    if line.starts_with("ModuleNotFoundError") || line.starts_with("ImportError") {
        return format!("import error (exit code {code}): {line}");
    }
    format!("crashed (exit code {code}): {line}")
}

/// `syntax error in solution.py line N: message`, when the traceback ends in one.
fn syntax_error(stderr: &str) -> Option<String> {
    let lines: Vec<&str> = stderr.lines().collect();
    let last = lines.iter().rposition(|l| !l.trim().is_empty())?;
    let message = lines[last].trim();
    let kind = ["SyntaxError", "IndentationError", "TabError"]
        .into_iter()
        .find(|k| message.starts_with(&format!("{k}:")))?;
    let detail = message[kind.len() + 1..].trim();
    let file_marker = format!("/{SOLUTION_FILE}\", line ");
    let line_no = lines[..last].iter().rev().find_map(|l| {
        let at = l.find(&file_marker)?;
        let rest = &l[at + file_marker.len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(digits)
    })?;
    let what = if kind == "SyntaxError" {
        "syntax error".to_owned()
    } else {
        kind.to_owned()
    };
    Some(format!(
        "{what} in {SOLUTION_FILE} line {line_no}: {}",
        truncate(detail, 200)
    ))
}

/// The grade from the harness's report on the last line of stdout.
fn from_report(stdout: &str) -> Grade {
    let Some(line) = last_line(stdout) else {
        return failed("the harness printed nothing; expected a JSON report on its last line");
    };
    let report: Report = match serde_json::from_str(line) {
        Ok(report) => report,
        Err(e) => {
            return failed(format!(
                "no JSON report on the last line of stdout ({e}; last line: {:?})",
                truncate(line, 200)
            ));
        }
    };
    if report.checks.is_empty() {
        return failed("the harness reported no checks");
    }
    let total = report.checks.len();
    let passed = report.checks.iter().filter(|c| c.pass).count();
    let describe = |c: &Check, mark: &str| {
        let evidence = c.evidence.trim();
        if evidence.is_empty() {
            format!("{mark} {}", c.name)
        } else {
            format!(
                "{mark} {}: {}",
                c.name,
                truncate(evidence, CHECK_EVIDENCE_CHARS)
            )
        }
    };
    let evidence = report
        .checks
        .iter()
        .filter(|c| !c.pass)
        .map(|c| describe(c, "FAIL"))
        .chain(
            report
                .checks
                .iter()
                .filter(|c| c.pass)
                .map(|c| describe(c, "ok")),
        )
        .collect::<Vec<_>>()
        .join("; ");
    Grade {
        outcome: if passed == total {
            GradeOutcome::Pass
        } else {
            GradeOutcome::Fail
        },
        score: passed as f64 / total as f64,
        evidence,
        kind: GradeKind::Execution,
        usage: None,
        cost_usd: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(end: End, stdout: &str, stderr: &str) -> Grade {
        grade(
            &Outcome {
                end,
                stdout: stdout.as_bytes().to_vec(),
                stderr: stderr.as_bytes().to_vec(),
            },
            &Limits::default(),
        )
    }

    #[track_caller]
    fn assert_failed(grade: &Grade, evidence: &str) {
        assert_eq!(grade.evidence, evidence);
        assert_eq!(grade.outcome, GradeOutcome::Fail);
        assert_eq!(grade.score, 0.0);
        assert_eq!(grade.kind, GradeKind::Execution);
    }

    #[test]
    fn failing_checks_come_first() {
        let report = r#"{"checks": [{"name": "single_fetch", "pass": true, "evidence": "200 concurrent callers caused 1 fetch"}, {"name": "global_lock", "pass": false, "evidence": "10 keys took 1.02 s"}, {"name": "cached", "pass": true}], "observations": {"fetches": 1}}"#;
        let g = outcome(End::Exited(0), &format!("noise\n{report}\n"), "");
        assert_eq!(
            g.evidence,
            "FAIL global_lock: 10 keys took 1.02 s; ok single_fetch: 200 concurrent callers caused 1 fetch; ok cached"
        );
        assert_eq!(g.outcome, GradeOutcome::Fail);
        assert!((g.score - 2.0 / 3.0).abs() < 1e-9);
        assert_eq!(g.kind, GradeKind::Execution);
    }

    #[test]
    fn all_checks_passing_is_a_pass() {
        let g = outcome(
            End::Exited(0),
            r#"{"checks": [{"name": "a", "pass": true, "evidence": "fine"}]}"#,
            "",
        );
        assert_eq!(g.outcome, GradeOutcome::Pass);
        assert_eq!(g.score, 1.0);
        assert_eq!(g.evidence, "ok a: fine");
    }

    #[test]
    fn a_missing_or_bad_report_fails() {
        assert_failed(
            &outcome(End::Exited(0), "", ""),
            "the harness printed nothing; expected a JSON report on its last line",
        );
        assert_failed(
            &outcome(End::Exited(0), "{}\nall good\n", ""),
            "no JSON report on the last line of stdout (expected value at line 1 column 1; last line: \"all good\")",
        );
        assert_failed(
            &outcome(End::Exited(0), r#"{"checks": []}"#, ""),
            "the harness reported no checks",
        );
    }

    #[test]
    fn limits_and_crashes_name_the_reason() {
        assert_failed(&outcome(End::TimedOut, "", ""), "timed out after 10 s");
        assert_failed(
            &outcome(End::OutputLimit, "", ""),
            "output limit exceeded: more than 1048576 bytes on stdout and stderr; killed",
        );
        assert_failed(
            &outcome(End::Signaled(libc::SIGXCPU), "", ""),
            "killed: CPU time limit 10 s (SIGXCPU)",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                "",
                "Traceback (most recent call last):\n  File \"/work/solution.py\", line 3\nMemoryError\n",
            ),
            "memory limit 512 MB exceeded: MemoryError",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                "",
                "BlockingIOError: [Errno 11] Resource temporarily unavailable\n",
            ),
            "process limit 64 reached: BlockingIOError: [Errno 11] Resource temporarily unavailable",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                "",
                "Traceback (most recent call last):\n  File \"/work/harness.py\", line 2, in <module>\n    import solution\nModuleNotFoundError: No module named 'aiohttp'\n",
            ),
            "import error (exit code 1): ModuleNotFoundError: No module named 'aiohttp'",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                "",
                "OSError: [Errno 28] No space left on device\n",
            ),
            "space limit reached (64 MB for the run directory, 16 MB for /dev/shm): OSError: [Errno 28] No space left on device",
        );
        assert_failed(
            &outcome(End::Exited(1), "", "OSError: [Errno 27] File too large\n"),
            "file size limit 64 MB reached: OSError: [Errno 27] File too large",
        );
        assert_failed(
            &outcome(End::Exited(3), "", ""),
            "crashed (exit code 3) without a message",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                "",
                "ZeroDivisionError: division by zero\n\n",
            ),
            "crashed (exit code 1): ZeroDivisionError: division by zero",
        );
    }

    #[test]
    fn syntax_errors_name_the_line() {
        let stderr = "Traceback (most recent call last):\n  File \"/work/harness.py\", line 5, in <module>\n    import solution\n  File \"/work/solution.py\", line 7\n    def f(:\n          ^\nSyntaxError: invalid syntax\n";
        assert_failed(
            &outcome(End::Exited(1), "", stderr),
            "syntax error in solution.py line 7: invalid syntax",
        );
        let stderr = "  File \"/work/solution.py\", line 2\n    return 1\nIndentationError: unexpected indent\n";
        assert_failed(
            &outcome(End::Exited(1), "", stderr),
            "IndentationError in solution.py line 2: unexpected indent",
        );
    }

    #[test]
    fn long_evidence_is_cut() {
        let long = "x".repeat(1000);
        let g = outcome(
            End::Exited(0),
            &format!(r#"{{"checks": [{{"name": "a", "pass": false, "evidence": "{long}"}}]}}"#),
            "",
        );
        assert_eq!(g.evidence.chars().count(), "FAIL a: ".len() + 300 + 1);
    }
}
