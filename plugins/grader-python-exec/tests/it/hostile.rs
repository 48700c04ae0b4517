//! Hostile answers: each is contained, ends as a failed grade naming the reason, leaks no
//! secret, writes nothing outside its directory, and leaves no process behind. (The answer
//! runs in the harness's child process: what it raises or how it ends while it is loaded is
//! the `imports` check's evidence.)

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use llmbench_plugin_sdk::core::{Grade, GradeOutcome, Grader};
use serde_json::json;

use crate::{
    FAKE_KEY, FAKE_KEY_VAR, answer, grader, marker, processes_named, request, set_comm,
    wait_for_process,
};

#[track_caller]
fn assert_failed(grade: &Grade) {
    assert_eq!(grade.outcome, GradeOutcome::Fail, "{}", grade.evidence);
    assert_eq!(grade.score, 0.0, "{}", grade.evidence);
    assert!(!grade.evidence.contains(FAKE_KEY), "{}", grade.evidence);
}

#[track_caller]
fn assert_no_process(marker: &str) {
    assert_eq!(
        processes_named(marker),
        Vec::<u32>::new(),
        "processes named {marker} outlived the grade"
    );
}

#[tokio::test]
async fn network_connections_fail_inside() {
    // A listener on the host's loopback: the sandbox must not reach it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // The public address is tried only when the sandbox shows nothing but loopback, so
    // that even a broken sandbox sends nothing off this machine.
    let code = format!(
        r#"import socket
names = [n for _, n in socket.if_nameindex()]
found = ["interfaces: " + ",".join(names)]
def attempt(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(30)
    try:
        s.connect((host, port))
        return host + ": connected"
    except OSError as e:
        return host + ": " + str(e)
    finally:
        s.close()
found.append(attempt("127.0.0.1", {port}))
if names == ["lo"]:
    found.append(attempt("1.1.1.1", 443))
raise SystemExit("network: " + "; ".join(found))"#
    );
    let g = grader(json!({}));
    let start = Instant::now();
    let grade = g.grade(&request(&answer(&code))).await.unwrap();
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised SystemExit: network: interfaces: lo; 127.0.0.1: [Errno 111] Connection refused; 1.1.1.1: [Errno 101] Network is unreachable (solution.py line 17); "
        ),
        "{}",
        grade.evidence
    );
    // Failing at once, not after a connect timeout (30 s, past the grader's own 10 s: a
    // connection attempt left hanging would end the grade as a timeout instead).
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "{:?}",
        start.elapsed()
    );
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host listener was reached: {other:?}"),
    }
}

#[tokio::test]
async fn the_environment_holds_no_secret() {
    let g = grader(json!({}));
    // Set by `grader`, before the plugin was loaded.
    assert_eq!(std::env::var(FAKE_KEY_VAR).unwrap(), FAKE_KEY);
    let code = format!(
        r#"import os, sys
env = dict(os.environ)
print(env)
print(env, file=sys.stderr)
visible = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            data = f.read()
    except OSError:
        continue
    if b"{FAKE_KEY_VAR}" in data or b"sk-ant" in data:
        visible.append(pid)
raise SystemExit("env: %s; key visible in %d /proc environ files; %r" % (sorted(env), len(visible), env))"#
    );
    let grade = g.grade(&request(&answer(&code))).await.unwrap();
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised SystemExit: env: ['HOME', 'LANG', 'PATH', 'PWD', 'PYTHONHASHSEED']; key visible in 0 /proc environ files; {"
        ),
        "{}",
        grade.evidence
    );
    let recorded = serde_json::to_string(&grade).unwrap();
    assert!(!recorded.contains(FAKE_KEY) && !recorded.contains(FAKE_KEY_VAR));
}

#[tokio::test]
async fn writes_outside_the_run_directory_fail() {
    let tag = marker("w");
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap();
    let targets: Vec<PathBuf> = [
        PathBuf::from("/tmp"),
        PathBuf::from(&home),
        repo.clone(),
        std::env::temp_dir(),
        PathBuf::from("/"),
        PathBuf::from("/usr"),
        PathBuf::from("/etc"),
        PathBuf::from("/dev"),
        PathBuf::from("/dev/shm"),
    ]
    .iter()
    .map(|dir| dir.join(format!("escape-{tag}")))
    .collect();
    let list = targets
        .iter()
        .map(|p| format!("{:?}", p.to_str().unwrap()))
        .collect::<Vec<_>>()
        .join(", ");
    let code = format!(
        r#"import os
results = []
for path in [{list}]:
    try:
        with open(path, "w") as f:
            f.write("escaped")
        results.append("wrote " + path)
    except OSError as e:
        results.append(type(e).__name__)
with open(os.path.expanduser("~/inside.txt"), "w") as f:
    f.write("fine")
raise SystemExit("writes: " + ", ".join(results))"#
    );
    let g = grader(json!({}));
    let grade = g.grade(&request(&answer(&code))).await.unwrap();
    assert_failed(&grade);
    // The sandbox's own /dev/shm is writable (a private tmpfs); nothing else is.
    let private_shm = format!("wrote /dev/shm/escape-{tag}");
    assert!(
        grade
            .evidence
            .starts_with("FAIL imports: importing solution.py raised SystemExit: writes: ")
            && !grade.evidence.replace(&private_shm, "").contains("wrote"),
        "{}",
        grade.evidence
    );
    for target in &targets {
        assert!(!target.exists(), "{} was created", target.display());
    }
    assert!(!repo.join("inside.txt").exists());
}

#[tokio::test]
async fn filling_the_disk_stops_at_the_space_limit() {
    let code = "i = 0\nwhile True:\n    with open('fill%d' % i, 'wb') as f:\n        f.write(b'x' * (8 << 20))\n    i += 1";
    let g = grader(json!({}));
    let grade = g.grade(&request(&answer(code))).await.unwrap();
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised OSError: [Errno 28] No space left on device (solution.py line 4); "
        ),
        "{}",
        grade.evidence
    );
}

#[tokio::test]
async fn an_infinite_loop_times_out() {
    let tag = marker("t");
    let code = format!("{}while True:\n    pass", set_comm(&tag));
    let g = grader(json!({ "timeout-seconds": 1.5 }));
    let start = Instant::now();
    let grade = g.grade(&request(&answer(&code))).await.unwrap();
    assert_failed(&grade);
    assert_eq!(grade.evidence, "timed out after 1.5 s");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1500) && elapsed < Duration::from_secs(10),
        "{elapsed:?}"
    );
    assert_no_process(&tag);
}

#[tokio::test]
async fn a_memory_hog_hits_the_memory_limit() {
    let code = "hog = []\nwhile True:\n    hog.append(bytearray(8 * 1024 * 1024))";
    let g = grader(json!({ "memory-mb": 128 }));
    let grade = g.grade(&request(&answer(code))).await.unwrap();
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised MemoryError (solution.py line 3) (memory limit 128 MB); "
        ),
        "{}",
        grade.evidence
    );
}

#[tokio::test]
async fn a_fork_bomb_hits_the_process_limit() {
    let tag = marker("f");
    // Bounded (at most 1000 children, all sleeping) so that even without the limit it
    // could not exhaust the machine's process table.
    let code = format!(
        r#"import os, time
{}children = 0
try:
    for _ in range(1000):
        if os.fork() == 0:
            time.sleep(30)
            os._exit(0)
        children += 1
except BlockingIOError as e:
    raise SystemExit("fork bomb stopped after %d children: %s" % (children, e))
raise SystemExit("fork bomb made %d children unhindered" % children)"#,
        set_comm(&tag)
    );
    let g = grader(json!({ "max-processes": 16 }));
    let grade = g.grade(&request(&answer(&code))).await.unwrap();
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised SystemExit: fork bomb stopped after "
        ),
        "{}",
        grade.evidence
    );
    assert!(
        grade.evidence.contains(
            " children: [Errno 11] Resource temporarily unavailable (solution.py line 12); "
        ),
        "{}",
        grade.evidence
    );
    assert_no_process(&tag);
}

#[tokio::test]
async fn an_output_flood_is_cut_and_killed() {
    let tag = marker("o");
    let code = format!(
        "import sys\n{}chunk = 'x' * 65536\nwhile True:\n    sys.stdout.write(chunk)",
        set_comm(&tag)
    );
    let g = grader(json!({}));
    let start = Instant::now();
    let grade = g.grade(&request(&answer(&code))).await.unwrap();
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: the answer's process wrote more than 1048576 bytes on stdout and stderr (the output limit) and was killed while importing solution.py; "
        ),
        "{}",
        grade.evidence
    );
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert_no_process(&tag);
}

#[tokio::test]
async fn a_detached_sleeper_does_not_survive_the_grade() {
    let parent = marker("p");
    let sleeper = marker("d");
    let code = format!(
        r#"import os, time
{}if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
{}        time.sleep(60)
        os._exit(0)
    os._exit(0)
os.wait()
time.sleep(1)
raise SystemExit("left a detached sleeper behind")"#,
        set_comm(&parent),
        set_comm(&sleeper)
            .lines()
            .map(|l| format!("        {l}\n"))
            .collect::<String>()
    );
    let g = grader(json!({}));
    let req = request(&answer(&code));
    let (grade, seen) = tokio::join!(
        g.grade(&req),
        wait_for_process(&sleeper, Duration::from_secs(20))
    );
    let grade = grade.unwrap();
    assert!(seen, "the detached sleeper never ran: {}", grade.evidence);
    assert_failed(&grade);
    assert!(
        grade.evidence.starts_with(
            "FAIL imports: importing solution.py raised SystemExit: left a detached sleeper behind (solution.py line 14); "
        ),
        "{}",
        grade.evidence
    );
    assert_no_process(&sleeper);
    assert_no_process(&parent);
}

#[tokio::test]
async fn cancelling_a_grade_kills_the_tree() {
    let tag = marker("c");
    let code = format!(
        "import os, time\n{}os.fork()\ntime.sleep(60)",
        set_comm(&tag)
    );
    let g = grader(json!({ "timeout-seconds": 30 }));
    let req = request(&answer(&code));
    tokio::select! {
        grade = g.grade(&req) => panic!("the grade finished: {grade:?}"),
        seen = wait_for_process(&tag, Duration::from_secs(20)) => assert!(seen, "the sandbox never ran"),
    }
    // The grade's future is dropped: the plugin must kill the whole tree.
    let start = Instant::now();
    while !processes_named(&tag).is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "processes named {tag} survived cancellation: {:?}",
            processes_named(&tag)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
