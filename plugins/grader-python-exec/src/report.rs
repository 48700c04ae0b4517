//! Turning what a run produced into a grade: the harness's JSON report when it ran, or the
//! reason it did not (timeout, limit, crash, syntax error); in item-test mode, the trusted
//! runner's verdict line.

use std::time::Duration;

use llmbench_plugin_sdk::core::{Grade, GradeKind, GradeOutcome, GraderError};
use serde::Deserialize;

use crate::options::{FILE_SIZE_LIMIT_BYTES, Limits, SOLUTION_FILE};
use crate::sandbox::{End, Outcome, SHM_SIZE_BYTES, WORK_SIZE_BYTES, truncate};

const MB: u64 = 1024 * 1024;

/// A harness's verdict: its checks (each required or advisory), or a grader-level outcome
/// (`{"outcome": "fail", "evidence": "syntax error in solution.py line 7: ..."}`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HarnessVerdict {
    Checks(Report),
    Outcome(Verdict),
}

/// The harness's checks (its `observations` are for the harness's own use, not graded).
#[derive(Debug, Deserialize)]
struct Report {
    checks: Vec<Check>,
}

#[derive(Debug, Deserialize)]
struct Check {
    name: String,
    pass: bool,
    /// Advisory checks (`false`) lower the score and are shown, but do not fail the grade
    /// unless the grader is `strict`.
    #[serde(default = "required_by_default")]
    required: bool,
    #[serde(default)]
    evidence: String,
}

fn required_by_default() -> bool {
    true
}

/// How much of one check's evidence is kept.
const CHECK_EVIDENCE_CHARS: usize = 300;

/// The weight of an advisory check in the score (a required check weighs 1).
pub(crate) const ADVISORY_WEIGHT: f64 = 0.5;

/// A failed execution grade with `reason` as its evidence.
pub(crate) fn failed(reason: impl Into<String>) -> Grade {
    Grade {
        kind: GradeKind::Execution,
        ..Grade::fail(reason)
    }
}

/// The grade of a harness run: the verdict on the line of the harness's verdict pipe that
/// starts with `nonce` (the answer's process has neither the pipe nor the nonce), when the
/// harness exited normally; any other ending is a failed grade naming what was seen. `Err`
/// only when the harness reports that it cannot grade, or writes an unreadable verdict.
pub(crate) fn harness_grade(
    outcome: &Outcome,
    limits: &Limits,
    nonce: &str,
    strict: bool,
) -> Result<Grade, GraderError> {
    let line = match verdict_line(outcome, limits, nonce, "the harness") {
        Ok(line) => line,
        Err(reason) => return Ok(failed(reason)),
    };
    let verdict: HarnessVerdict = serde_json::from_str(&line).map_err(|e| {
        GraderError::new(format!(
            "the harness's verdict is unreadable ({e}): {}",
            truncate(&line, 200)
        ))
    })?;
    match verdict {
        HarnessVerdict::Checks(report) => Ok(from_checks(&report.checks, strict)),
        HarnessVerdict::Outcome(verdict) => {
            let evidence = truncate(&verdict.evidence, VERDICT_EVIDENCE_CHARS);
            match verdict.outcome {
                VerdictOutcome::Fail => Ok(failed(evidence)),
                VerdictOutcome::Pass => Err(GraderError::new(format!(
                    "the harness reported a pass without checks: {evidence}"
                ))),
                VerdictOutcome::Error => Err(GraderError::new(format!(
                    "the harness cannot grade: {evidence}"
                ))),
            }
        }
    }
}

/// The JSON after `<nonce> ` on the last line of the verdict pipe that starts with the
/// nonce, when `who` (the sandbox's first process) exited normally; otherwise the failed
/// grade that says how it ended.
fn verdict_line(
    outcome: &Outcome,
    limits: &Limits,
    nonce: &str,
    who: &str,
) -> Result<String, String> {
    let written = String::from_utf8_lossy(&outcome.verdict);
    let stderr = String::from_utf8_lossy(&outcome.stderr);
    let code = match outcome.end {
        End::TimedOut => return Err(format!("timed out after {}", seconds(limits.wall))),
        End::OutputLimit => {
            let what = if who == "the harness" {
                "harness"
            } else {
                "runner"
            };
            return Err(format!(
                "output limit exceeded: the {what} wrote more than {} bytes on stdout and stderr; killed",
                limits.max_output_bytes
            ));
        }
        End::Signaled(libc::SIGKILL) => {
            return Err(format!(
                "{who} was killed by SIGKILL before it reported a verdict (the answer's process can kill it; the CPU time limit is {} s)",
                limits.cpu_seconds
            ));
        }
        End::Signaled(signal) => {
            return Err(format!(
                "{who} was killed before it reported a verdict: {}",
                killed(signal, limits, &stderr)
            ));
        }
        End::Exited(code) => code,
        End::Reported => 0,
    };
    let prefix = format!("{nonce} ");
    let line = written.lines().rev().find_map(|l| l.strip_prefix(&prefix));
    match (code, line) {
        (0, Some(line)) => Ok(line.to_owned()),
        (0, None) => Err(format!("{who} exited without a verdict")),
        (code, _) => Err(format!(
            "{who} stopped before it reported a verdict: {}",
            crashed(code, limits, &stderr, "")
        )),
    }
}

/// The grade from a harness's checks: a pass when every required check passes (every
/// check, when `strict`); the score weighs each required check 1 and each advisory check
/// [`ADVISORY_WEIGHT`]; the evidence lists the failing required checks (`FAIL`), then the
/// failing advisory ones (`advisory`), then the passing ones (`ok`), and starts with
/// `passed; ` when a pass has advisory failures.
fn from_checks(checks: &[Check], strict: bool) -> Grade {
    if checks.is_empty() {
        return failed("the harness reported no checks");
    }
    let required = |c: &Check| c.required || strict;
    let weight = |c: &Check| if required(c) { 1.0 } else { ADVISORY_WEIGHT };
    let total: f64 = checks.iter().map(weight).sum();
    let earned: f64 = checks.iter().filter(|c| c.pass).map(weight).sum();
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
    let failing_required = checks.iter().filter(|c| !c.pass && required(c));
    let failing_advisory = checks.iter().filter(|c| !c.pass && !required(c));
    let passed = checks.iter().all(|c| c.pass || !required(c));
    let mut parts: Vec<String> = Vec::new();
    if passed && checks.iter().any(|c| !c.pass) {
        parts.push("passed".to_owned());
    }
    parts.extend(failing_required.map(|c| describe(c, "FAIL")));
    parts.extend(failing_advisory.map(|c| describe(c, "advisory")));
    parts.extend(checks.iter().filter(|c| c.pass).map(|c| describe(c, "ok")));
    Grade {
        outcome: if passed {
            GradeOutcome::Pass
        } else {
            GradeOutcome::Fail
        },
        score: earned / total,
        evidence: parts.join("; "),
        kind: GradeKind::Execution,
        usage: None,
        cost_usd: None,
    }
}

/// How much of the runner's evidence is kept.
const VERDICT_EVIDENCE_CHARS: usize = 1500;

/// The runner's verdict: the JSON after the nonce on its verdict line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Verdict {
    outcome: VerdictOutcome,
    evidence: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
enum VerdictOutcome {
    Pass,
    Fail,
    Error,
}

/// The grade of an item-test run: the verdict on the line of the runner's verdict pipe that
/// starts with `nonce`, when the runner exited normally. Nothing else in the sandbox has that
/// pipe or the nonce, so any other ending is a failed grade naming what was seen, never a
/// pass (what stdout holds is not read); `Err` only when the runner reports that the item
/// itself cannot be checked.
pub(crate) fn item_grade(
    outcome: &Outcome,
    limits: &Limits,
    nonce: &str,
) -> Result<Grade, GraderError> {
    let line = match verdict_line(outcome, limits, nonce, "the trusted runner") {
        Ok(line) => line,
        Err(reason) => return Ok(failed(reason)),
    };
    let verdict: Verdict = serde_json::from_str(&line).map_err(|e| {
        GraderError::new(format!(
            "the trusted runner's verdict is unreadable ({e}): {}",
            truncate(&line, 200)
        ))
    })?;
    let evidence = truncate(&verdict.evidence, VERDICT_EVIDENCE_CHARS);
    match verdict.outcome {
        VerdictOutcome::Pass => Ok(Grade {
            kind: GradeKind::Execution,
            ..Grade::pass(evidence)
        }),
        VerdictOutcome::Fail => Ok(failed(evidence)),
        VerdictOutcome::Error => Err(GraderError::new(format!(
            "the item cannot be checked: {evidence}"
        ))),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A harness run that wrote `verdict` on its verdict pipe.
    fn harness(end: End, verdict: &str, stderr: &str, strict: bool) -> Result<Grade, GraderError> {
        harness_grade(
            &Outcome {
                end,
                stdout: Vec::new(),
                stderr: stderr.as_bytes().to_vec(),
                verdict: verdict.as_bytes().to_vec(),
            },
            &Limits::default(),
            "n0nce",
            strict,
        )
    }

    fn outcome(end: End, stdout: &str, stderr: &str) -> Grade {
        harness(end, stdout, stderr, false).unwrap()
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
        let report = r#"n0nce {"checks": [{"name": "single_fetch", "pass": true, "evidence": "200 concurrent callers caused 1 fetch"}, {"name": "global_lock", "pass": false, "evidence": "10 keys took 1.02 s"}, {"name": "cached", "pass": true}], "observations": {"fetches": 1}}"#;
        let g = outcome(End::Exited(0), &format!("{report}\n"), "");
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
            End::Reported,
            r#"n0nce {"checks": [{"name": "a", "pass": true, "required": true, "evidence": "fine"}]}"#,
            "",
        );
        assert_eq!(g.outcome, GradeOutcome::Pass);
        assert_eq!(g.score, 1.0);
        assert_eq!(g.evidence, "ok a: fine");
    }

    #[test]
    fn an_advisory_failure_lowers_the_score_but_passes_unless_strict() {
        let report = r#"n0nce {"checks": [{"name": "a", "pass": true, "required": true, "evidence": "fine"}, {"name": "b", "pass": false, "required": false, "evidence": "slow on failure"}, {"name": "c", "pass": true, "required": false, "evidence": "also fine"}]}"#;
        let g = outcome(End::Reported, report, "");
        assert_eq!(g.outcome, GradeOutcome::Pass);
        assert!((g.score - 1.5 / 2.0).abs() < 1e-9, "{}", g.score);
        assert_eq!(
            g.evidence,
            "passed; advisory b: slow on failure; ok a: fine; ok c: also fine"
        );
        let strict = harness(End::Reported, report, "", true).unwrap();
        assert_eq!(strict.outcome, GradeOutcome::Fail);
        assert!((strict.score - 2.0 / 3.0).abs() < 1e-9, "{}", strict.score);
        assert_eq!(
            strict.evidence,
            "FAIL b: slow on failure; ok a: fine; ok c: also fine"
        );
        // A required failure fails, whatever the advisory checks say.
        let report = r#"n0nce {"checks": [{"name": "a", "pass": false, "required": true, "evidence": "wrong"}, {"name": "b", "pass": false, "required": false, "evidence": "slow"}]}"#;
        let g = outcome(End::Reported, report, "");
        assert_eq!(g.outcome, GradeOutcome::Fail);
        assert_eq!(g.score, 0.0);
        assert_eq!(g.evidence, "FAIL a: wrong; advisory b: slow");
    }

    #[test]
    fn a_missing_forged_or_bad_verdict_fails() {
        assert_failed(
            &outcome(End::Exited(0), "", ""),
            "the harness exited without a verdict",
        );
        // A report on another line than the nonce's, or with another nonce, is not read.
        let forged = r#"{"checks": [{"name": "a", "pass": true, "evidence": "forged"}]}"#;
        assert_failed(
            &outcome(End::Exited(0), &format!("{forged}\nother {forged}\n"), ""),
            "the harness exited without a verdict",
        );
        assert_failed(
            &outcome(End::Exited(0), r#"n0nce {"checks": []}"#, ""),
            "the harness reported no checks",
        );
        assert_failed(
            &outcome(
                End::Exited(0),
                r#"n0nce {"outcome": "fail", "evidence": "syntax error in solution.py line 7: invalid syntax"}"#,
                "",
            ),
            "syntax error in solution.py line 7: invalid syntax",
        );
        let error = harness(
            End::Exited(0),
            r#"n0nce {"outcome": "error", "evidence": "the harness cannot make itself non-dumpable"}"#,
            "",
            false,
        )
        .unwrap_err();
        assert_eq!(
            error.message,
            "the harness cannot grade: the harness cannot make itself non-dumpable"
        );
        assert!(
            harness(End::Exited(0), "n0nce {]", "", false)
                .unwrap_err()
                .message
                .starts_with("the harness's verdict is unreadable (")
        );
    }

    #[test]
    fn limits_and_crashes_name_the_reason() {
        let pass = r#"n0nce {"checks": [{"name": "a", "pass": true, "evidence": "fine"}]}"#;
        assert_failed(&outcome(End::TimedOut, pass, ""), "timed out after 10 s");
        assert_failed(
            &outcome(End::OutputLimit, "", ""),
            "output limit exceeded: the harness wrote more than 1048576 bytes on stdout and stderr; killed",
        );
        assert_failed(
            &outcome(End::Signaled(libc::SIGKILL), pass, ""),
            "the harness was killed by SIGKILL before it reported a verdict (the answer's process can kill it; the CPU time limit is 10 s)",
        );
        assert_failed(
            &outcome(End::Signaled(libc::SIGXCPU), "", ""),
            "the harness was killed before it reported a verdict: killed: CPU time limit 10 s (SIGXCPU)",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                pass,
                "Traceback (most recent call last):\n  File \"/work/harness.py\", line 3\nMemoryError\n",
            ),
            "the harness stopped before it reported a verdict: memory limit 512 MB exceeded: MemoryError",
        );
        assert_failed(
            &outcome(
                End::Exited(1),
                "",
                "BlockingIOError: [Errno 11] Resource temporarily unavailable\n",
            ),
            "the harness stopped before it reported a verdict: process limit 64 reached: BlockingIOError: [Errno 11] Resource temporarily unavailable",
        );
        assert_failed(
            &outcome(End::Exited(3), "", ""),
            "the harness stopped before it reported a verdict: crashed (exit code 3) without a message",
        );
    }

    #[test]
    fn crash_messages_name_the_reason() {
        let limits = Limits::default();
        let crash = |stderr: &str| crashed(1, &limits, stderr, "");
        assert_eq!(
            crash("ModuleNotFoundError: No module named 'harnesslib'\n"),
            "import error (exit code 1): ModuleNotFoundError: No module named 'harnesslib'"
        );
        assert_eq!(
            crash("OSError: [Errno 28] No space left on device\n"),
            "space limit reached (64 MB for the run directory, 16 MB for /dev/shm): OSError: [Errno 28] No space left on device"
        );
        assert_eq!(
            crash("OSError: [Errno 27] File too large\n"),
            "file size limit 64 MB reached: OSError: [Errno 27] File too large"
        );
        assert_eq!(
            crash("ZeroDivisionError: division by zero\n\n"),
            "crashed (exit code 1): ZeroDivisionError: division by zero"
        );
        let stderr = "Traceback (most recent call last):\n  File \"/work/harness.py\", line 5, in <module>\n    import solution\n  File \"/work/solution.py\", line 7\n    def f(:\n          ^\nSyntaxError: invalid syntax\n";
        assert_eq!(
            crash(stderr),
            "syntax error in solution.py line 7: invalid syntax"
        );
        let stderr = "  File \"/work/solution.py\", line 2\n    return 1\nIndentationError: unexpected indent\n";
        assert_eq!(
            crash(stderr),
            "IndentationError in solution.py line 2: unexpected indent"
        );
    }

    /// An item-test run that wrote `verdict` on its verdict pipe.
    fn item(end: End, verdict: &str, stderr: &str) -> Result<Grade, GraderError> {
        item_grade(
            &Outcome {
                end,
                stdout: Vec::new(),
                stderr: stderr.as_bytes().to_vec(),
                verdict: verdict.as_bytes().to_vec(),
            },
            &Limits::default(),
            "n0nce",
        )
    }

    #[test]
    fn only_the_line_with_the_nonce_is_the_verdict() {
        let pass = r#"n0nce {"outcome": "pass", "evidence": "all assertions of check(f) passed (3 calls)"}"#;
        let g = item(End::Exited(0), &format!("{pass}\n"), "").unwrap();
        assert_eq!(g.outcome, GradeOutcome::Pass);
        assert_eq!(g.score, 1.0);
        assert_eq!(g.kind, GradeKind::Execution);
        assert_eq!(g.evidence, "all assertions of check(f) passed (3 calls)");

        let forged = r#"other {"outcome": "pass", "evidence": "forged"}"#;
        assert_failed(
            &item(End::Exited(0), &format!("{forged}\n"), "").unwrap(),
            "the trusted runner exited without a verdict",
        );
        let fail = r#"n0nce {"outcome": "fail", "evidence": "assertion failed at test line 3: assert candidate(1) == 2"}"#;
        assert_failed(
            &item(End::Exited(0), &format!("{fail}\n{forged}\n"), "").unwrap(),
            "assertion failed at test line 3: assert candidate(1) == 2",
        );
        // A verdict on stdout is not read.
        let on_stdout = item_grade(
            &Outcome {
                end: End::Exited(0),
                stdout: pass.as_bytes().to_vec(),
                stderr: Vec::new(),
                verdict: Vec::new(),
            },
            &Limits::default(),
            "n0nce",
        )
        .unwrap();
        assert_failed(&on_stdout, "the trusted runner exited without a verdict");
        let error = r#"n0nce {"outcome": "error", "evidence": "the item's test defines no `check(candidate)` function"}"#;
        assert_eq!(
            item(End::Exited(0), error, "").unwrap_err().message,
            "the item cannot be checked: the item's test defines no `check(candidate)` function"
        );
    }

    #[test]
    fn a_runner_that_did_not_finish_is_a_fail() {
        let pass = r#"n0nce {"outcome": "pass", "evidence": "ok"}"#;
        assert_failed(
            &item(End::Signaled(libc::SIGKILL), "", "").unwrap(),
            "the trusted runner was killed by SIGKILL before it reported a verdict (the answer's process can kill it; the CPU time limit is 10 s)",
        );
        assert_failed(
            &item(End::Signaled(libc::SIGTERM), pass, "").unwrap(),
            "the trusted runner was killed before it reported a verdict: killed by SIGTERM",
        );
        assert_failed(
            &item(End::Exited(1), pass, "MemoryError\n").unwrap(),
            "the trusted runner stopped before it reported a verdict: memory limit 512 MB exceeded: MemoryError",
        );
        assert_failed(
            &item(End::TimedOut, "", "").unwrap(),
            "timed out after 10 s",
        );
    }

    #[test]
    fn long_evidence_is_cut() {
        let long = "x".repeat(1000);
        let g = outcome(
            End::Exited(0),
            &format!(
                r#"n0nce {{"checks": [{{"name": "a", "pass": false, "evidence": "{long}"}}]}}"#
            ),
            "",
        );
        assert_eq!(g.evidence.chars().count(), "FAIL a: ".len() + 300 + 1);
    }
}
