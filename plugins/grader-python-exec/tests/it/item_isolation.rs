//! Item-test mode, one grader grading several answers (its sandboxes started ahead; as root,
//! forked by its zygote): each answer gets a sandbox of its own. What one answer leaves (files
//! in `/work` and `/dev/shm`, a detached process) is gone before the next one runs, and two
//! answers graded at once share no network (each has its own loopback).

use llmbench_plugin_sdk::core::{GradeOutcome, Grader};
use serde_json::json;

use crate::{item_grader, marker, processes_named, request};

const TEST: &str = "def check(candidate):\n    assert candidate() == 'clean'\n";

fn fenced(code: &str) -> String {
    format!("```python\n{code}\n```")
}

#[tokio::test]
async fn an_answer_sees_nothing_of_the_previous_one_and_its_processes_are_dead() {
    let tag = marker("iso");
    let g = item_grader(json!({ "test": TEST, "entry-point": "probe", "timeout-seconds": 30 }));
    // Answer 1 plants files and a detached daemon (named `tag`), checks they are there, and
    // says so (a failed grade showing what it returned).
    let planting = format!(
        r#"import os, time
for path in ["/work/left-behind", "/dev/shm/left-behind"]:
    with open(path, "w") as f:
        f.write("answer 1")
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        with open("/proc/self/comm", "w") as f:
            f.write("{tag}")
        time.sleep(60)
    os._exit(0)
def probe():
    for _ in range(500):
        names = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open("/proc/%s/comm" % pid) as f:
                    names.append(f.read().strip())
            except OSError:
                pass
        if "{tag}" in names:
            break
        time.sleep(0.01)
    files = [p for p in ["/work/left-behind", "/dev/shm/left-behind"] if os.path.exists(p)]
    return "planted %d files, daemon %s" % (len(files), "{tag}" in names)"#
    );
    let first = g.grade(&request(&fenced(&planting))).await.unwrap();
    assert_eq!(first.outcome, GradeOutcome::Fail);
    assert!(
        first
            .evidence
            .ends_with("returned 'planted 2 files, daemon True'"),
        "{}",
        first.evidence
    );
    // The grade returned only once its sandbox's whole process tree was gone.
    assert_eq!(
        processes_named(&tag),
        Vec::<u32>::new(),
        "the daemon outlived its grade"
    );
    let looking = format!(
        r#"import os
def probe():
    seen = [p for p in ["/work/left-behind", "/dev/shm/left-behind"] if os.path.exists(p)]
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().strip() == "{tag}":
                    seen.append("process " + pid)
        except OSError:
            pass
    return " ".join(seen) or "clean""#
    );
    let second = g.grade(&request(&fenced(&looking))).await.unwrap();
    assert_eq!(second.outcome, GradeOutcome::Pass, "{}", second.evidence);
}

#[tokio::test]
async fn answers_graded_at_once_have_a_network_each() {
    // Both bind the same loopback port and abstract socket name, and stay bound while the
    // other does the same: only separate network namespaces let both succeed. Each also
    // connects to itself (the loopback interface is up).
    let code = r#"import socket, time
def probe():
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 45123))
    tcp.listen()
    unix = socket.socket(socket.AF_UNIX)
    unix.bind("\0llmbench-isolation")
    client = socket.create_connection(("127.0.0.1", 45123), timeout=5)
    client.close()
    time.sleep(1.5)
    return "clean""#;
    let g = item_grader(json!({ "test": TEST, "entry-point": "probe", "timeout-seconds": 30 }));
    let (first, second) = (request(&fenced(code)), request(&fenced(code)));
    let (a, b) = tokio::join!(g.grade(&first), g.grade(&second));
    for grade in [a.unwrap(), b.unwrap()] {
        assert_eq!(grade.outcome, GradeOutcome::Pass, "{}", grade.evidence);
    }
}
