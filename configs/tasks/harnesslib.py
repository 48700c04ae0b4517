"""What every task's harness shares: running checks with deadlines and printing the report.

A harness (`<task>/harness.py`) imports this module first, defines its checks, and runs
them:

    from harnesslib import Fail, check, check_imports, check_signature, finish
    ...
    check_imports(["get_or_fetch"])
    check_signature("get_or_fetch", ["key", "fetcher"], True)
    check("single-flight", single_flight)
    finish()

grader-python-exec runs `python3 -E -S -B harness.py` (standard library only) in a fresh
directory holding harness.py, solution.py (the code from the answer's "Fix" section) and
this file, which every config lists in the grader's `extra-files`
(`extra-files = ["tasks/harnesslib.py"]`); `calibrate.py` copies it there too. Each check
runs in its own daemon thread with a deadline, and all of them within BUDGET_SECONDS of
this module's import, so a fix that deadlocks or blocks its event loop fails that check
with evidence instead of hanging the harness. The last line printed is one JSON object,
{"checks": [{"name", "pass", "evidence"}], "observations": {...}}, and the exit status is
0, except for code that does not compile: then the SyntaxError's traceback ends the run
and the grader reports it. Python 3.11 or newer.

A harness's checks record what they saw in OBSERVATIONS (mutate it, never rebind it) and
fail by raising Fail with the evidence.
"""

import asyncio
import importlib
import inspect
import json
import os
import sys
import threading
import time

if sys.version_info < (3, 11):  # TaskGroup, ExceptionGroup and Task.cancelling are used
    sys.stderr.write(f"harness needs Python 3.11 or newer, not {sys.version.split()[0]}\n")
    os._exit(2)  # an error of the grading environment, not a verdict on the answer

_HERE = os.path.dirname(os.path.abspath(__file__))  # the run directory, with solution.py
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)  # `python3 -I` leaves the script's directory off sys.path

BUDGET_SECONDS = 7.0  # all checks together; the grader's wall-time limit is about 10 s
_DEADLINE = time.monotonic() + BUDGET_SECONDS
_OUT = sys.stdout
_CHECKS = []
_NOT_RUN = []  # why the remaining checks cannot run (set when the solution does not import)
OBSERVATIONS = {}


class Fail(Exception):
    """A failed check; its message is the evidence."""


def describe(exc):
    """`TypeError: message`, with the solution.py line that raised it when there is one."""
    text = str(exc)
    where = ""
    tb = exc.__traceback__
    while tb is not None:
        if os.path.basename(tb.tb_frame.f_code.co_filename) == "solution.py":
            where = f" (solution.py line {tb.tb_lineno})"
        tb = tb.tb_next
    return type(exc).__name__ + (f": {text}" if text else "") + where


def plural(n, word):
    """`1 fetch`, `2 fetches`, `3 audits`."""
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith(("s", "sh", "ch", "x")) else "s")


def load_solution(defaults=None):
    """Import solution.py afresh, so every check starts from the module's initial state.
    `defaults` supplies module globals of the original code that a partial answer left out
    (name -> factory), since a fix may show only the function it changed."""
    sys.modules.pop("solution", None)
    mod = importlib.import_module("solution")
    for name, make in (defaults or {}).items():
        if not hasattr(mod, name):
            setattr(mod, name, make())
    return mod


def run_async(scenario):
    """Run `scenario()` on a fresh event loop (in the calling thread); cancel what it leaves."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(scenario())
    finally:
        try:
            left = asyncio.all_tasks(loop)
            for task in left:
                task.cancel()
            if left:
                loop.run_until_complete(asyncio.wait(left, timeout=0.2))
        finally:
            loop.close()


async def settle(tasks, timeout):
    """Wait up to `timeout` s for `tasks`; return (values, errors, pending), in task order,
    where errors are the exceptions raised (CancelledError included) and pending the count
    of tasks still running."""
    if tasks:
        await asyncio.wait(tasks, timeout=timeout)
    values, errors, pending = [], [], 0
    for task in tasks:
        if not task.done():
            pending += 1
        elif task.cancelled():
            errors.append(asyncio.CancelledError())
        elif task.exception() is not None:
            errors.append(task.exception())
        else:
            values.append(task.result())
    return values, errors, pending


def check(name, fn, timeout=1.5, blocked=None):
    """Run check `fn` in a daemon thread; it returns the evidence of a pass or raises Fail
    with the evidence of a failure. Past `timeout` seconds the check fails as blocked."""
    remaining = _DEADLINE - time.monotonic()
    if not _NOT_RUN and remaining < 0.1:
        _NOT_RUN.append(f"the harness's {BUDGET_SECONDS:g} s budget was used up by checks that blocked")
    if _NOT_RUN:
        _CHECKS.append({"name": name, "pass": False, "evidence": f"not run: {_NOT_RUN[0]}"})
        return False
    timeout = min(timeout, remaining)
    box = {}

    def target():
        try:
            box["pass"] = fn()
        except Fail as e:
            box["fail"] = str(e)
        except BaseException as e:  # noqa: BLE001 - any error of the solution fails the check
            box["fail"] = f"the check stopped on {describe(e)}"

    thread = threading.Thread(target=target, name=name, daemon=True)
    started = time.perf_counter()
    thread.start()
    thread.join(timeout)
    elapsed = time.perf_counter() - started
    if thread.is_alive():
        why = blocked or "the event loop or a thread is blocked (a deadlock?)"
        result = {"name": name, "pass": False,
                  "evidence": f"did not finish within {timeout:.3g} s: {why}"}
    elif "fail" in box:
        result = {"name": name, "pass": False, "evidence": box["fail"]}
    else:
        result = {"name": name, "pass": True, "evidence": str(box.get("pass", "passed"))}
    OBSERVATIONS.setdefault(name, {})["seconds"] = round(elapsed, 4)
    _CHECKS.append(result)
    return result["pass"]


def check_imports(names):
    """The first check: solution.py imports and defines `names`. On failure every later
    check is reported as not run, with the reason.

    Code that does not compile is the exception: the harness stops on its SyntaxError, with
    the traceback naming solution.py and the line, which grader-python-exec reports as
    `syntax error in solution.py line N: ...` (a grader-level reason, not a check)."""
    path = os.path.join(_HERE, "solution.py")
    with open(path, "rb") as f:
        compile(f.read(), path, "exec")  # a SyntaxError propagates: see above

    def run():
        try:
            mod = load_solution()
        except BaseException as e:  # noqa: BLE001
            raise Fail(f"importing solution.py raised {describe(e)}") from None
        missing = [n for n in names if not hasattr(mod, n)]
        if missing:
            raise Fail("solution.py does not define " + ", ".join(f"`{n}`" for n in missing))
        return "solution.py imports and defines " + ", ".join(f"`{n}`" for n in names)

    if not check("imports", run, timeout=2.0, blocked="importing solution.py hangs"):
        _NOT_RUN.append("the solution did not import (see the `imports` check)")


def check_signature(name, params, is_async, defaults=None):
    """`name` is (async) def name(params...): any further parameter has a default."""
    def run():
        fn = getattr(load_solution(defaults), name)
        kind = "async def" if is_async else "def"
        call = f"{name}({', '.join(params)})"
        want = f"{kind} {call}"
        coro = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))
        if is_async and not coro:
            raise Fail(f"`{name}` is not an `async def` function; the task keeps `{want}`")
        if not is_async and coro:
            raise Fail(f"`{name}` became an `async def` function; the task keeps `{want}`")
        try:
            sig = inspect.signature(fn)
        except (TypeError, ValueError) as e:
            raise Fail(f"the signature of `{name}` cannot be read: {e}") from None
        got = f"{kind} {name}{sig}"
        plist = list(sig.parameters.values())
        positional = [p for p in plist if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        names = [p.name for p in positional[:len(params)]]
        if names != list(params) and not any(p.kind == p.VAR_POSITIONAL for p in plist):
            raise Fail(f"`{name}` is `{got}`; callers use `{want}`")
        extra = [p.name for p in plist[len(params):]
                 if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        if extra:
            raise Fail(f"`{name}` is `{got}`: " + ", ".join(f"`{e}`" for e in extra)
                       + f" has no default, so existing calls `{call}` break")
        return f"`{name}` keeps the signature `{want}`"

    check("signature", run, timeout=1.0)


def finish():
    """Print the report as the last line of stdout and leave at once (stuck threads of a
    failed check must not keep the process alive)."""
    for _ in range(10):  # a check thread left running past its deadline may still write
        try:
            line = json.dumps({"checks": list(_CHECKS), "observations": OBSERVATIONS})
            break
        except RuntimeError:  # dictionary changed size during iteration
            time.sleep(0.001)
    else:
        line = json.dumps({"checks": list(_CHECKS), "observations": {}})
    try:
        _OUT.write("\n" + line + "\n")
        _OUT.flush()
    finally:
        os._exit(0)
