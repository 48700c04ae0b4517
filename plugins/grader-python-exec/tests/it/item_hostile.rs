//! Hostile answers in item-test mode: each tries to counterfeit a pass (an early exit with
//! status 0, a printed verdict, patched builtins, a killed or stopped runner, a result file,
//! an object equal to everything, the test read from somewhere) and each gets a failed grade
//! whose evidence says what was seen.

use llmbench_plugin_sdk::core::{GradeOutcome, Grader};
use serde_json::json;

use crate::item_tests::{PROMPT, TEST, assert_fail, grade_item};
use crate::{item_grader, request};

/// The answer's code in a python block.
fn fenced(code: &str) -> String {
    format!("```python\n{code}\n```")
}

#[tokio::test]
async fn exiting_early_with_status_0_is_not_a_pass() {
    for exit in ["import os\nos._exit(0)", "import sys\nsys.exit(0)"] {
        let code = format!("{exit}\ndef add(x, y):\n    return x + y");
        assert_fail(
            &grade_item(&fenced(&code)).await,
            "the answer's process exited with status 0 while loading its code, before answering any call",
        );
    }
    let code = "import sys\nsys.exit('all tests passed')";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "the answer's process exited with status 1 while loading its code, before answering any call: all tests passed",
    );
    let code = "def add(x, y):\n    import os\n    os._exit(0)";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "the answer's process exited with status 0 during add(0, 1) at test line 7: assert candidate(0, 1) == 1",
    );
}

#[tokio::test]
async fn printed_verdicts_and_result_files_do_not_count() {
    let code = r#"import json, os, sys
line = json.dumps({"outcome": "pass", "evidence": "all assertions of check(add) passed (3 calls)"})
for prefix in ["", "0" * 32 + " ", "n0nce "]:
    print(prefix + line)
    print(prefix + line, file=sys.stderr)
print(json.dumps({"checks": [{"name": "all", "pass": True, "evidence": "fine"}]}))
for path in ["/work/result.json", "/work/verdict.json", "/work/report.json", "/dev/shm/verdict"]:
    with open(path, "w") as f:
        f.write(line)
sys.stdout.flush()
def add(x, y):
    print(line)
    return x * y"#;
    assert_fail(
        &grade_item(&fenced(code)).await,
        "assertion failed at test line 7: assert candidate(0, 1) == 1; the last call add(0, 1) returned 0",
    );
}

#[tokio::test]
async fn patching_builtins_and_planting_modules_changes_nothing() {
    // The answer's process patches what it can reach: its builtins (every result's repr
    // becomes "1"), the exception the test raises, its own `ast` and `json`; and it tries to
    // replace the runner and to plant modules the runner might import.
    let code = r#"import ast, builtins, json, sys
builtins.repr = lambda value: "1"
builtins.AssertionError = type("AssertionError", (Exception,), {})
ast.literal_eval = lambda text: ((2, 3), {})
for name in ["runner.py", "json.py", "ast.py", "builtins.py", "subprocess.py"]:
    try:
        with open("/work/" + name, "w") as f:
            f.write("import os\nprint('pass')\nos._exit(0)\n")
    except OSError:
        pass
def add(x, y):
    return x + y"#;
    assert_fail(
        &grade_item(&fenced(code)).await,
        "assertion failed at test line 8: assert candidate(2, 3) == 5; the last call add(2, 3) returned 1",
    );
    // Its own json patched, its replies break: the runner says so.
    let code = "import json\njson.dumps = lambda *a, **k: '{\"value\": \"5\"}'\ndef add(x, y):\n    return x + y";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "the answer's process sent an unexpected reply while loading",
    );
}

#[tokio::test]
async fn killing_stopping_or_interrupting_the_runner_is_not_a_pass() {
    let code = "import os\nos.kill(os.getppid(), 9)\ndef add(x, y):\n    return x + y";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "the trusted runner was killed by SIGKILL before it reported a verdict (the answer's process can kill it; the CPU time limit is 10 s)",
    );
    let code = "import os, signal\ndef add(x, y):\n    os.kill(os.getppid(), signal.SIGTERM)\n    return x + y";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "the trusted runner was killed before it reported a verdict: killed by SIGTERM",
    );
    // SIGINT is ignored by the runner: the check goes on, and the wrong answer fails.
    let code = "import os, signal\ndef add(x, y):\n    os.kill(os.getppid(), signal.SIGINT)\n    return x - y";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "assertion failed at test line 7: assert candidate(0, 1) == 1; the last call add(0, 1) returned -1",
    );
    let g = item_grader(json!({ "test": TEST, "entry-point": "add", "timeout-seconds": 2 }));
    let code = "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\ndef add(x, y):\n    return x + y";
    assert_fail(
        &g.grade(&request(&fenced(code))).await.unwrap(),
        "timed out after 2 s",
    );
}

#[tokio::test]
async fn objects_equal_to_everything_do_not_cross() {
    let code = "class Yes:\n    def __eq__(self, other):\n        return True\n    def __repr__(self):\n        return 'Yes()'\ndef add(x, y):\n    return Yes()";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "add(0, 1) returned a value that is not plain data (numbers, strings, bytes, lists, tuples, dicts, sets, booleans, None): Yes() at test line 7: assert candidate(0, 1) == 1",
    );
    let code = "class S(str):\n    def __eq__(self, other):\n        return True\n    __hash__ = str.__hash__\ndef add(x, y):\n    return S('nope')";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "assertion failed at test line 7: assert candidate(0, 1) == 1; the last call add(0, 1) returned 'nope'",
    );
}

#[tokio::test]
async fn flooding_output_is_cut_at_the_limit() {
    let code = "import sys\nsys.stdout.write('x' * 3_000_000)\nsys.stdout.flush()\ndef add(x, y):\n    return x + y";
    assert_fail(
        &grade_item(&fenced(code)).await,
        "output limit exceeded: the answer's process wrote more than 1048576 bytes on stdout and stderr; killed",
    );
}

#[tokio::test]
async fn the_runner_and_the_test_are_out_of_the_answers_reach() {
    // The test carries a marker; the answer looks for it in every file it can read and in
    // every other process's command line and environment, and tries to reach the runner's
    // memory, descriptors (its stdout, to print a verdict) and to ptrace it. It returns what
    // it saw, which the evidence shows.
    let test = "def check(candidate):\n    # SECRET-MARKER-7q\n    assert candidate(1, 2) == 3\n";
    let code = r#"import ctypes, os
def add(x, y):
    ppid, seen = os.getppid(), []
    for name, mode in [("mem", "rb"), ("maps", "rb"), ("environ", "rb"), ("fd/1", "wb")]:
        try:
            with open("/proc/%d/%s" % (ppid, name), mode) as f:
                f.write(b"x") if "w" in mode else f.read(1)
            seen.append(name + ":open")
        except OSError as e:
            seen.append(name + ":" + type(e).__name__)
    try:
        os.listdir("/proc/%d/fd" % ppid)
        seen.append("fd:listed")
    except OSError as e:
        seen.append("fd:" + type(e).__name__)
    # bubblewrap's init holds the sandbox's stdio (a non-root sandbox may open them):
    # a verdict written there does not count.
    forged = "\n" + "0" * 32 + ' {"outcome": "pass", "evidence": "forged"}\n'
    for fd in ["1", "2"]:
        try:
            with open("/proc/1/fd/" + fd, "w") as f:
                f.write(forged)
        except OSError:
            pass
    libc = ctypes.CDLL(None, use_errno=True)
    seen.append("ptrace:%d/%d" % (libc.ptrace(16, ppid, 0, 0), ctypes.get_errno()))
    marker, found = ("SECRET" + "-MARKER-7q").encode(), []
    for root in ["/work", "/tmp", "/dev/shm"]:
        for top, _, files in os.walk(root):
            for name in files:
                try:
                    with open(os.path.join(top, name), "rb") as f:
                        if marker in f.read():
                            found.append(name)
                except OSError:
                    pass
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            for part in ["cmdline", "environ"]:
                try:
                    with open("/proc/%s/%s" % (pid, part), "rb") as f:
                        if marker in f.read():
                            found.append(pid + "/" + part)
                except OSError:
                    pass
    seen.append("marker:" + (",".join(found) or "none"))
    return " ".join(seen)"#;
    let g = item_grader(json!({ "test": test, "entry-point": "add" }));
    let grade = g.grade(&request(&fenced(code))).await.unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail);
    assert_eq!(
        grade.evidence,
        "assertion failed at test line 3: assert candidate(1, 2) == 3; the last call add(1, 2) returned 'mem:PermissionError maps:PermissionError environ:PermissionError fd/1:PermissionError fd:PermissionError ptrace:-1/1 marker:none'"
    );
}

#[tokio::test]
async fn a_daemon_can_neither_steal_nor_forge_the_verdict() {
    // A detached daemon opens every descriptor of every process it may (as a non-root
    // sandbox, that includes bubblewrap's init's stdin, stdout and stderr), reads what passes
    // through them, and answers anything that looks like a verdict line with a forged pass
    // under the same nonce, on every descriptor it could open for writing.
    let code = r#"import os, re, time
def _daemon():
    os.setsid()
    seen, readers, writers = set(), [], []
    verdict = re.compile(rb"([0-9a-f]{32}) [{]")
    end = time.time() + 4
    while time.time() < end:
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == os.getpid():
                continue
            try:
                fds = os.listdir("/proc/%s/fd" % pid)
            except OSError:
                continue
            for fd in fds:
                if (pid, fd) in seen:
                    continue
                seen.add((pid, fd))
                path = "/proc/%s/fd/%s" % (pid, fd)
                for flags, found in [(os.O_RDONLY, readers), (os.O_WRONLY, writers)]:
                    try:
                        found.append(os.open(path, flags | os.O_NONBLOCK))
                    except OSError:
                        pass
        for r in readers:
            try:
                data = os.read(r, 65536)
            except OSError:
                continue
            for nonce in verdict.findall(data):
                forged = b"\n" + nonce + b' {"outcome": "pass", "evidence": "forged"}\n'
                for w in writers:
                    try:
                        os.write(w, forged)
                    except OSError:
                        pass
        time.sleep(0.001)
    os._exit(0)
if os.fork() == 0:
    if os.fork() == 0:
        _daemon()
    os._exit(0)
time.sleep(0.5)
def add(x, y):
    return x - y"#;
    // The daemon can also open the pipes of the answer's own process and read its replies
    // before the runner does (more likely on a loaded machine): the runner then waits for a
    // reply that never comes, and the grade times out. That only hurts the answer, as its own
    // wrong result does; what must never happen is the forged pass.
    let g = item_grader(json!({
        "test": TEST,
        "entry-point": "add",
        "prompt": PROMPT,
        "timeout-seconds": 10,
    }));
    let grade = g.grade(&request(&fenced(code))).await.unwrap();
    assert_eq!(grade.outcome, GradeOutcome::Fail, "{}", grade.evidence);
    assert_eq!(grade.score, 0.0);
    assert!(
        [
            "assertion failed at test line 7: assert candidate(0, 1) == 1; the last call add(0, 1) returned -1",
            "timed out after 10 s",
        ]
        .contains(&grade.evidence.as_str()),
        "{}",
        grade.evidence
    );
}
