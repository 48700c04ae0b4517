#!/usr/bin/env python3
"""Calibrate the concurrency tasks: run every task's harness on every calibration answer.

Each task directory under configs/tasks/ holds a prompt (task.md, with `{{ code }}`), the
buggy code shown to the model (code.py, also in items.jsonl as the item's `code`), a
harness (harness.py) and calibration/manifest.toml listing reference answers in the
three-section format ("Bug", "Why it happens", "Fix" with a ```python block) and the
verdict each must get:

    [[answer]]
    file = "wrong-global-lock.md"
    expect = "fail"                       # or "pass"
    reason = "distinct-keys-concurrent"   # the FIRST failing check, or a grader-level
                                          # reason: "no-code-block", "syntax-error"
    fails = ["distinct-keys-concurrent", "failure-reaches-waiters"]  # optional: exactly
                                          # the checks that fail
    why = "..."                           # for people

This runs each harness directly, WITHOUT the sandbox, the way grader-python-exec runs it
inside one: harness.py, the answer's code as solution.py and harnesslib.py (the code every
harness imports; the configs list it in the grader's `extra-files`) in a fresh directory,
`python3 -E -S -B harness.py` with the sandbox's environment (PATH, HOME, LANG,
PYTHONHASHSEED only), the last stdout line read as JSON. It takes the code from the "Fix"
section's python block, as the graders are configured (`code-in-section = "Fix"`); every
calibration answer has at most one python block there, so the grader's first-block rule
and a last-block rule extract the same code. Grader-level reasons are decided as the
grader decides them: no python block in "Fix" is "no-code-block"; code that does not
compile is "syntax-error" (the harness must then stop on the SyntaxError, its traceback
naming solution.py, which grader-python-exec reports as `syntax error in solution.py line
N`). A check's evidence must fit the grader's 300 characters.

It also checks that the files agree with each other: items.jsonl holds code.py, one wrong
answer is the original code, configs/replay/calibration.jsonl holds every answer,
configs/race-condition-calibration.toml has a replay provider for every founding answer,
and every grader-python-exec entry in configs/*.toml that runs a harness of tasks/ lists
tasks/harnesslib.py in its `extra-files`.

Usage:
    python3 configs/tasks/calibrate.py                # every task, every answer, once
    python3 configs/tasks/calibrate.py --repeat 20    # 20 runs each; verdicts must not vary
    python3 configs/tasks/calibrate.py --task lost-update -v   # with every check's evidence
    python3 configs/tasks/calibrate.py --write        # regenerate items.jsonl and
                                                      # configs/replay/calibration.jsonl

Exit status: 0 when every verdict and reason holds, 1 otherwise.
"""

import argparse
import concurrent.futures
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import secrets
import tempfile
import threading
import time
import tomllib
from pathlib import Path

TASKS_DIR = Path(__file__).resolve().parent
CONFIGS_DIR = TASKS_DIR.parent
REPLAY_FILE = CONFIGS_DIR / "replay" / "calibration.jsonl"
FOUNDING_TASK = "race-condition"
FOUNDING_CALIBRATION_CONFIG = CONFIGS_DIR / "race-condition-calibration.toml"
SUITE_CONFIG = CONFIGS_DIR / "concurrency-suite.toml"
HARNESSLIB = TASKS_DIR / "harnesslib.py"
HARNESSLIB_EXTRA_FILE = "tasks/harnesslib.py"  # as configs/*.toml list it (config-relative)
SECTIONS = ["Bug", "Why it happens", "Fix"]
CODE_SECTION = "Fix"
GRADER_REASONS = {"no-code-block", "syntax-error", "sections"}
HARNESS_TIMEOUT_SECONDS = 10.0
# The grader's default limits, as it sends them to the harness.
LIMITS = {"cpu_seconds": 10, "memory_mb": 512, "max_processes": 64, "max_output_bytes": 1048576}
EVIDENCE_MAX_CHARS = 300  # grader-python-exec cuts each check's evidence there
PYTHON = shutil.which("python3") or sys.executable


class Problem(Exception):
    """A file that is not as this script expects."""


# ---- reading answers ----------------------------------------------------------------------

HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$")
FENCE = re.compile(r"^(`{3,}|~{3,})\s*([^\s`]*)")


def outline(text):
    """The answer's listed-section headings and fenced blocks, as (kind, line, data) rows.
    Calibration answers use `## Name` headings only, which is all this recognises."""
    rows, fence = [], None
    for no, line in enumerate(text.splitlines()):
        if fence is not None:
            if line.strip().startswith(fence[0]) and line.strip().strip(fence[0][0]) == "":
                rows.append(("block", fence[1], (fence[2], "\n".join(fence[3]))))
                fence = None
            else:
                fence[3].append(line)
            continue
        m = FENCE.match(line.strip())
        if m:
            fence = (m.group(1), no, m.group(2).lower(), [])
            continue
        m = HEADING.match(line)
        if m:
            title = m.group(1).strip().rstrip(":").strip().lower()
            for name in SECTIONS:
                if title == name.lower():
                    rows.append(("heading", no, name))
    if fence is not None:  # an unclosed block runs to the end
        rows.append(("block", fence[1], (fence[2], "\n".join(fence[3]))))
    return rows


def read_answer(text):
    """(sections found in order, python blocks in the "Fix" section)."""
    current, found, blocks = None, [], []
    for kind, _, data in sorted(outline(text), key=lambda r: r[1]):
        if kind == "heading":
            current = data
            found.append(data)
        elif current == CODE_SECTION and data[0] == "python":
            blocks.append(data[1])
    return found, blocks


# ---- running a harness --------------------------------------------------------------------


def run_harness(harness, code):
    """Run the harness on `code` as grader-python-exec does: a payload with a one-time nonce
    and the number of a verdict pipe on stdin, the verdict read only from that pipe, from
    the line that starts with the nonce. (report dict or None, seconds, problem or None,
    stderr); the report is {"checks": ...} or a grader-level {"outcome", "evidence"}."""
    work = Path(tempfile.mkdtemp(prefix="llmbench-calibrate-"))
    read_fd, write_fd = os.pipe()
    try:
        shutil.copyfile(harness, work / "harness.py")
        shutil.copyfile(HARNESSLIB, work / HARNESSLIB.name)
        (work / "solution.py").write_text(code + "\n")
        nonce = secrets.token_hex(16)
        payload = json.dumps({"nonce": nonce, "verdict_fd": write_fd, "limits": LIMITS})
        started = time.perf_counter()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(work),
               "LANG": "C.UTF-8", "PYTHONHASHSEED": "0"}
        verdict = []
        reader = threading.Thread(target=lambda: verdict.append(_read_all(read_fd)), daemon=True)
        reader.start()
        try:
            proc = subprocess.Popen([PYTHON, "-E", "-S", "-B", "harness.py"], cwd=work, env=env,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, pass_fds=(write_fd,),
                                    start_new_session=True)
        finally:
            os.close(write_fd)
        try:
            _, stderr = proc.communicate(payload, timeout=HARNESS_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.communicate()
            return None, HARNESS_TIMEOUT_SECONDS, f"harness ran over {HARNESS_TIMEOUT_SECONDS} s", ""
        finally:
            try:
                os.killpg(proc.pid, 9)  # the answer's process, if the harness left it
            except ProcessLookupError:
                pass
        seconds = time.perf_counter() - started
        reader.join(5)
        written = verdict[0].decode("utf-8", "replace") if verdict else ""
        lines = [l[len(nonce) + 1:] for l in written.splitlines() if l.startswith(nonce + " ")]
        if proc.returncode != 0 or not lines:
            return None, seconds, (f"harness exited with {proc.returncode} without a verdict: "
                                   f"{stderr.strip()[-400:]}"), stderr
        try:
            report = json.loads(lines[-1])
        except json.JSONDecodeError as e:
            return None, seconds, f"the verdict is not JSON ({e}): {lines[-1][:400]!r}", stderr
        return report, seconds, protocol_problem(report), stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _read_all(fd):
    chunks = []
    with os.fdopen(fd, "rb") as f:
        while True:
            chunk = f.read(65536)
            if not chunk:
                return b"".join(chunks)
            chunks.append(chunk)


def protocol_problem(report):
    """Why `report` does not follow the harness protocol, or None."""
    if isinstance(report, dict) and set(report) == {"outcome", "evidence"}:
        return None if report["outcome"] == "fail" else f"the harness reported {report!r}"
    if not isinstance(report, dict) or set(report) != {"checks", "observations"}:
        return "the report is not {\"checks\": [...], \"observations\": {...}}"
    if not isinstance(report["observations"], dict) or not report["checks"]:
        return "the report has no checks or its observations are not an object"
    names = []
    for c in report["checks"]:
        if (not isinstance(c, dict) or set(c) != {"name", "pass", "required", "evidence"}
                or not isinstance(c["name"], str) or not isinstance(c["pass"], bool)
                or not isinstance(c["required"], bool)
                or not isinstance(c["evidence"], str) or not c["evidence"]):
            return f"malformed check {c!r}"
        if len(c["evidence"]) > EVIDENCE_MAX_CHARS:
            return f"evidence of {c['name']} is over {EVIDENCE_MAX_CHARS} characters: {c['evidence']!r}"
        names.append(c["name"])
    if len(set(names)) != len(names):
        return f"check names repeat: {names}"
    return None


class Outcome:
    """One grading of one answer: the verdict, its reason, the failing required checks and
    the failing advisory ones."""

    def __init__(self, verdict, reason, fails, evidence, seconds, checks=(), problem=None,
                 advisory=()):
        self.verdict, self.reason, self.fails = verdict, reason, tuple(fails)
        self.advisory = tuple(advisory)
        self.evidence, self.seconds, self.checks, self.problem = evidence, seconds, checks, problem

    def key(self):
        return (self.verdict, self.reason, self.fails, self.advisory, self.problem)


def grade(harness, text):
    found, blocks = read_answer(text)
    if found != SECTIONS:
        return Outcome("fail", "sections", [], f"sections found: {found}", 0.0)
    if not blocks:
        return Outcome("fail", "no-code-block", [], f'no python block in "{CODE_SECTION}"', 0.0)
    if len(blocks) > 1:
        return Outcome("fail", "ambiguous", [], f'{len(blocks)} python blocks in "{CODE_SECTION}"',
                       0.0, problem="calibration answers keep one python block in Fix")
    code = blocks[0]
    try:
        compile(code, "solution.py", "exec")
        syntax_error = None
    except SyntaxError as e:
        syntax_error = f"SyntaxError: {e.msg} (line {e.lineno})"
    report, seconds, problem, stderr = run_harness(harness, code)
    if syntax_error is not None:
        if report is None or report.get("outcome") != "fail" or not str(
                report.get("evidence", "")).startswith("syntax error in solution.py line "):
            problem = "the harness did not report the syntax error of solution.py as its verdict"
        return Outcome("fail", "syntax-error", [], syntax_error, seconds, problem=problem)
    if report is None:
        return Outcome("fail", "harness-error", [], problem, seconds, problem=problem)
    if "checks" not in report:
        return Outcome("fail", "harness-error", [], report.get("evidence"), seconds,
                       problem=f"unexpected grader-level verdict {report!r}")
    checks = report["checks"]
    fails = [c["name"] for c in checks if not c["pass"] and c["required"]]
    advisory = [c["name"] for c in checks if not c["pass"] and not c["required"]]
    if not fails:
        return Outcome("pass", None, [], "; ".join(c["evidence"] for c in checks), seconds,
                       checks, problem, advisory)
    first = next(c for c in checks if not c["pass"] and c["required"])
    return Outcome("fail", first["name"], fails, first["evidence"], seconds, checks, problem,
                   advisory)


# ---- tasks --------------------------------------------------------------------------------


class Task:
    def __init__(self, path):
        self.path = path
        self.name = path.name
        self.harness = path / "harness.py"
        manifest_path = path / "calibration" / "manifest.toml"
        for f in (path / "task.md", path / "code.py", path / "items.jsonl", self.harness,
                  manifest_path):
            if not f.is_file():
                raise Problem(f"{f}: missing")
        with open(manifest_path, "rb") as f:
            manifest = tomllib.load(f)
        self.answers = manifest.get("answer", [])
        for a in self.answers:
            unknown = set(a) - {"file", "expect", "reason", "fails", "advisory", "why"}
            if unknown or a.get("expect") not in ("pass", "fail"):
                raise Problem(f"{manifest_path}: bad answer entry {a}")
            if a["expect"] == "fail" and not a.get("reason"):
                raise Problem(f"{manifest_path}: {a['file']} expects a fail with no reason")
            if a["expect"] == "pass" and (a.get("reason") or a.get("fails")):
                raise Problem(f"{manifest_path}: {a['file']} expects a pass but names a reason")
            a["text"] = (path / "calibration" / a["file"]).read_text()
        self.code = (path / "code.py").read_text().rstrip("\n")
        items = [json.loads(line) for line in (path / "items.jsonl").read_text().splitlines()
                 if line.strip()]
        if len(items) != 1 or "id" not in items[0]:
            raise Problem(f"{path / 'items.jsonl'}: expected one item with an `id`")
        self.item = items[0]["id"]

    def items_line(self):
        return json.dumps({"id": self.item, "code": self.code}, ensure_ascii=False) + "\n"


def load_tasks(only=None):
    tasks = [Task(p) for p in sorted(TASKS_DIR.iterdir())
             if p.is_dir() and (p / "harness.py").exists() and (only is None or p.name in only)]
    if only and {t.name for t in tasks} != set(only):
        raise Problem(f"unknown task(s): {sorted(set(only) - {t.name for t in tasks})}")
    return tasks


def replay_lines(tasks):
    lines = []
    for t in tasks:
        for a in t.answers:
            stem = a["file"].removesuffix(".md")
            verdict = "pass" if a["expect"] == "pass" else f"fail: {a['reason']}"
            lines.append(json.dumps({
                "task": t.name, "item": t.item, "model": f"{t.name}/{stem}", "text": a["text"],
                "stop-reason": "end_turn", "input-tokens": None, "output-tokens": None,
                "latency-ms": None, "ttft-ms": None,
                "note": (f"calibration answer written for llmbench "
                         f"(configs/tasks/{t.name}/calibration/{a['file']}); expected {verdict}"),
            }, ensure_ascii=False))
    return "\n".join(lines) + "\n"


def consistency(tasks, write):
    """Problems with how the files agree; with `write`, regenerate what can be derived."""
    problems = []
    if not HARNESSLIB.is_file():
        raise Problem(f"{HARNESSLIB}: missing")
    for t in tasks:
        harness_text = t.harness.read_text()
        if "\nfrom harnesslib import " not in harness_text:
            problems.append(f"{t.harness}: does not import harnesslib")
        if "Harness(" not in harness_text or "import solution" in harness_text:
            problems.append(f"{t.harness}: does not drive the answer's process through "
                            f"harnesslib.Harness (the answer's code must never run in it)")
        checks_md = t.path / "checks.md"
        if not checks_md.is_file():
            problems.append(f"{checks_md}: missing (which checks are required, and why)")
        else:
            explained = checks_md.read_text()
            names = ["imports", "signature"] + re.findall(r'@h\.check\(\s*"([^"]+)"', harness_text)
            for name in names:
                if f"`{name}`" not in explained:
                    problems.append(f"{checks_md}: does not explain the check `{name}`")
        items = t.path / "items.jsonl"
        if items.read_text() != t.items_line():
            if write:
                items.write_text(t.items_line())
            else:
                problems.append(f"{items}: does not hold code.py (--write regenerates it)")
        if "{{ code }}" not in (t.path / "task.md").read_text():
            problems.append(f"{t.path / 'task.md'}: no `{{{{ code }}}}` placeholder")
        originals = [a["file"] for a in t.answers
                     if read_answer(a["text"])[1][:1] == [t.code] and a["expect"] == "fail"]
        if not originals:
            problems.append(f"{t.name}: no wrong answer is the original code.py")
        passes = [a for a in t.answers if a["expect"] == "pass"]
        reasons = {a["reason"] for a in t.answers if a["expect"] == "fail"}
        if not passes or len(reasons) < 3:
            problems.append(f"{t.name}: needs at least 1 correct answer and 3 wrong ones failing "
                            f"for different reasons (has {len(passes)} and {sorted(reasons)})")
    if {t.name for t in tasks} == {t.name for t in load_tasks()}:
        want = replay_lines(tasks)
        if not REPLAY_FILE.exists() or REPLAY_FILE.read_text() != want:
            if write:
                REPLAY_FILE.write_text(want)
            else:
                problems.append(f"{REPLAY_FILE}: out of date (--write regenerates it)")
        with open(SUITE_CONFIG, "rb") as f:
            suite = tomllib.load(f)
        for t in tasks:
            graders = suite.get("tasks", {}).get(t.name, {}).get("graders", [])
            harnesses = [g.get("options", {}).get("harness") for g in graders]
            if f"tasks/{t.name}/harness.py" not in harnesses:
                problems.append(f"{SUITE_CONFIG}: task {t.name} missing or without its harness")
    problems += extra_file_problems()
    founding = [t for t in tasks if t.name == FOUNDING_TASK]
    if founding:
        with open(FOUNDING_CALIBRATION_CONFIG, "rb") as f:
            config = tomllib.load(f)
        models = {p.get("model") for p in config.get("providers", {}).values()}
        for a in founding[0].answers:
            model = f"{FOUNDING_TASK}/{a['file'].removesuffix('.md')}"
            if model not in models:
                problems.append(f"{FOUNDING_CALIBRATION_CONFIG}: no provider for {model}")
    return problems


def extra_file_problems():
    """Every grader-python-exec entry of configs/*.toml whose harness is one of tasks/ must
    list harnesslib.py in `extra-files`, or every grading ends in an import error."""
    problems = []
    for path in sorted(CONFIGS_DIR.glob("*.toml")):
        with open(path, "rb") as f:
            config = tomllib.load(f)
        for name, task in config.get("tasks", {}).items():
            for g in task.get("graders", []):
                options = g.get("options", {})
                if (g.get("plugin") == "grader-python-exec"
                        and str(options.get("harness", "")).startswith("tasks/")
                        and HARNESSLIB_EXTRA_FILE not in options.get("extra-files", [])):
                    problems.append(f"{path}: task {name}: grader-python-exec runs "
                                    f"{options['harness']} without `extra-files = "
                                    f"[\"{HARNESSLIB_EXTRA_FILE}\"]`")
    return problems


# ---- main ---------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", action="append", help="only this task (repeatable)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per answer (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="harnesses run at once (default 2)")
    parser.add_argument("--write", action="store_true",
                        help="regenerate items.jsonl and configs/replay/calibration.jsonl")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every check")
    args = parser.parse_args()

    try:
        tasks = load_tasks(args.task)
        problems = consistency(tasks, args.write)
    except Problem as e:
        print(f"error: {e}")
        return 1
    for p in problems:
        print(f"MISMATCH {p}")

    jobs = [(t, a, r) for t in tasks for a in t.answers for r in range(args.repeat)]
    with concurrent.futures.ThreadPoolExecutor(max(1, args.jobs)) as pool:
        outcomes = list(pool.map(lambda j: grade(j[0].harness, j[1]["text"]), jobs))
    runs = {}
    for (t, a, _), o in zip(jobs, outcomes):
        runs.setdefault((t.name, a["file"]), []).append(o)

    bad = len(problems)
    all_seconds = []
    for t in tasks:
        print(f"\n{t.name}  (item {t.item}; {len(t.answers)} answers x {args.repeat} runs)")
        for a in t.answers:
            got = runs[(t.name, a["file"])]
            first = got[0]
            ran = [o.seconds for o in got if o.seconds > 0]
            all_seconds += ran
            timing = (f"{statistics.median(ran):.3f}s (min {min(ran):.3f}, max {max(ran):.3f})"
                      if ran else "not run")
            issues = []
            if len({o.key() for o in got}) != 1:
                issues.append("outcome varies between runs: "
                              + ", ".join(sorted({str(o.key()) for o in got})))
            if first.problem:
                issues.append(first.problem)
            if first.verdict != a["expect"]:
                issues.append(f"expected {a['expect']}, got {first.verdict}")
            elif a["expect"] == "fail" and first.reason != a["reason"]:
                issues.append(f"expected reason {a['reason']}, got {first.reason}")
            if "fails" in a and sorted(a["fails"]) != sorted(first.fails):
                issues.append(f"expected failing required checks {sorted(a['fails'])}, "
                              f"got {sorted(first.fails)}")
            if first.checks and sorted(a.get("advisory", [])) != sorted(first.advisory):
                issues.append(f"expected failing advisory checks {sorted(a.get('advisory', []))}, "
                              f"got {sorted(first.advisory)}")
            bad += bool(issues)
            mark = "ok      " if not issues else "MISMATCH"
            label = first.verdict + (f" ({first.reason})" if first.reason else "")
            print(f"  {mark} {a['file']:<52} {label:<34} {timing}")
            if first.checks:
                print(f"           required failing: {', '.join(first.fails) or 'none'}"
                      f"  |  advisory failing: {', '.join(first.advisory) or 'none'}")
            if first.verdict == "fail" or args.verbose or issues:
                print(f"           evidence: {first.evidence}")
            for c in first.checks:
                if not c["pass"] and not c["required"]:
                    print(f"           advisory {c['name']}: {c['evidence']}")
            for issue in issues:
                print(f"           {issue}")
            # A run that differs from the first: what its checks saw, to find the cause.
            other = next((o for o in got if o.key() != first.key()), None)
            if other is not None:
                seen = [c for c in other.checks if not c["pass"]] or other.checks
                print(f"           a differing run ({other.seconds:.3f}s): "
                      + ("; ".join(f"{c['name']}: {c['evidence']}" for c in seen)
                         or str(other.evidence)))
            if args.verbose:
                for c in first.checks:
                    kind = "required" if c["required"] else "advisory"
                    print(f"           [{'pass' if c['pass'] else 'FAIL'}] ({kind}) {c['name']}: {c['evidence']}")
    if all_seconds:
        print(f"\nharness runs: {len(all_seconds)}; seconds per run: median "
              f"{statistics.median(all_seconds):.3f}, max {max(all_seconds):.3f} "
              f"(--jobs {args.jobs})")
    print("calibration: " + ("all verdicts hold" if not bad else f"{bad} mismatch(es)"))
    return 0 if not bad else 1


if __name__ == "__main__":
    sys.exit(main())
