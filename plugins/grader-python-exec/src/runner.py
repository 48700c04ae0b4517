"""The trusted runner of grader-python-exec's item-test mode (the `test` option).

It is the sandbox's first process (`python3 -I -S -B runner.py`; `-I` keeps the run
directory, which the answer can write to, off `sys.path`; as root, the grader's zygote,
`zygote.py`, runs it instead in a fresh sandbox it forked, with the same flags, imports and
descriptors) and it never imports or executes the answer's code. Before it reads anything it imports what it needs, makes itself
non-dumpable (1. below) and forks the answer's process (a copy of this one made before
anything of the item, the answer or the nonce is in it), which runs only the stub
`AnswerProcess.CHILD` and waits for a program on its request pipe: so the grader can keep
sandboxes started ahead, each waiting here for the one answer it is used for. It then reads
one JSON object from stdin: a one-time `nonce`, the descriptor
of its verdict pipe `verdict_fd` (bubblewrap's init closed its own copy: only this process
holds it), the item's `prompt`, `test` and `entry_point`, the answer's `code`, and the
limits (for messages). Then:

1. it makes itself non-dumpable, so that no other process of the sandbox (they all run as the
   same user) can read its memory, open its descriptors through /proc, or ptrace it;
2. it executes the item's prompt (for the helper functions a test may use, such as
   HumanEval/38's `encode_cyclic`) and the item's test (which defines `check(candidate)`) in
   its own namespace: both are trusted item data;
3. it compiles the program, `prompt + "\n" + code`, to report a syntax error, without
   running it;
4. it sends the program to the answer's process (the process forked above), which
   executes it and answers calls of the entry point over a pair of pipes, arguments and
   results as `repr` text;
5. it runs `check(candidate)` itself, `candidate` being a proxy that sends each call to the
   answer's process and reads the result back with `ast.literal_eval` (plus `inf` and
   `nan`): only plain data (numbers, strings, bytes, lists, tuples, dicts, sets, booleans,
   None) crosses, so no object with a forged `__eq__` can;
6. it writes ONE line on the verdict pipe, `<nonce> {"outcome": ..., "evidence": ...}`,
   and exits.

The answer's process gets neither the nonce, nor the test, nor the verdict pipe, nor this
process's stdin, stdout and stderr (its own output goes to pipes this process drains,
within `max-output-bytes`). So the answer can make its own process exit, lie, hang or
crash, and it can kill this process, but a pass needs `check` to return here, after at
least one call, with every call answered by plain data.
"""

import sys
import os

# 1. Everything this process needs is imported, and it protects itself, before it reads
# anything: a warm sandbox (the grader keeps a few started) waits here, with no item, code or
# nonce in it yet, until it is used for exactly one answer.
#
# The imports are the fewest that do the work, because every grading pays for them in CPU
# (start-up, not isolation, is what limits gradings per second): `_signal` and `_thread` (the
# C modules under `signal` and `threading`, which would import `enum` and more) and no
# `subprocess` (the answer's process is a fork of this one, see `AnswerProcess`). `ast` and
# `json` are needed by the answer's process's stub too: imported once here, before the fork,
# they cost one import for both processes.
import _signal  # noqa: E402
import _thread  # noqa: E402
import ast  # noqa: E402
import builtins  # noqa: E402
import ctypes  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

# Where the item's texts are compiled from: tracebacks name these, nothing on disk.
PROMPT_FILE = "<item prompt>"
TEST_FILE = "<item test>"
PROGRAM_FILE = "solution.py"
# The longest reply line read from the answer's process.
REPLY_LIMIT = 4 * 1024 * 1024
# How much of a value or a message is shown in evidence.
SHOWN_CHARS = 160
EVIDENCE_CHARS = 1500


def report(outcome, evidence):
    """Write the verdict line and exit at once (no atexit hook of item code runs)."""
    if len(evidence) > EVIDENCE_CHARS:
        evidence = evidence[:EVIDENCE_CHARS] + "…"
    # Text from the answer may hold lone surrogates, which are not Unicode: escaped.
    evidence = evidence.encode("utf-8", "backslashreplace").decode("utf-8")
    line = NONCE + " " + json.dumps({"outcome": outcome, "evidence": evidence}) + "\n"
    data = line.encode()
    while data:
        data = data[os.write(VERDICT_FD, data):]
    os._exit(0)


_LIBC = ctypes.CDLL(None, use_errno=True)
PR_GET_DUMPABLE, PR_SET_DUMPABLE = 3, 4


def _non_dumpable():
    """PR_SET_DUMPABLE 0, checked: /proc/<pid>/{mem,fd,environ} and ptrace then need
    CAP_SYS_PTRACE, which nothing in the sandbox has."""
    if _LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        return "prctl(PR_SET_DUMPABLE) failed: errno %d" % ctypes.get_errno()
    if _LIBC.prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0:
        return "prctl(PR_GET_DUMPABLE) says it is still dumpable"
    return None


# Reported once the payload (the nonce, the verdict pipe) has been read.
_PROBLEM = _non_dumpable()
# Python turns SIGINT into an exception that item code might swallow; the answer's process
# could send it. Ignored (other signals kill, which is a failed grade).
_signal.signal(_signal.SIGINT, _signal.SIG_IGN)

# Signal names, as `signal.Signals(n).name` gives them (without importing `signal`, which
# imports `enum`): the first of a number's names in this order wins over its aliases.
_ALIASES = ("SIGIOT", "SIGCLD", "SIGPOLL")
SIGNAL_NAMES = {}
for _name in sorted(dir(_signal), key=lambda n: n in _ALIASES):
    if _name.startswith("SIG") and not _name.startswith("SIG_"):
        SIGNAL_NAMES.setdefault(getattr(_signal, _name), _name)
del _name


class _NonFinite(ast.NodeTransformer):
    """`inf` and `nan`, as `repr` writes non-finite floats, read as floats."""

    def visit_Name(self, node):
        if node.id in ("inf", "nan"):
            return ast.Constant(float(node.id))
        return node


def plain(text):
    """The plain data `text` (a `repr`) holds: `ast.literal_eval`, and `inf`/`nan`."""
    return ast.literal_eval(_NonFinite().visit(ast.parse(text, mode="eval")))


def short(text, limit=SHOWN_CHARS):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


def call_text(entry, args, kwargs):
    parts = [repr(a) for a in args] + ["%s=%r" % (k, v) for k, v in kwargs.items()]
    return short("%s(%s)" % (entry, ", ".join(parts)))


def exception_text(e):
    message = str(e)
    return type(e).__name__ + (": " + short(message) if message else "")


def innermost_line(tb, filename):
    """The line number of the innermost traceback frame of `filename`, if any."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == filename:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def signal_name(number):
    return SIGNAL_NAMES.get(number, "signal %d" % number)


class AnswerFault(BaseException):
    """The answer's process can no longer be trusted to answer: it exited, sent something
    unreadable, or returned something that is not plain data. A BaseException, so that an
    item's `except Exception` does not swallow it (and the verdict is a fail anyway)."""


class ItemProblem(BaseException):
    """The item cannot be checked this way (not the answer's fault): an error grade."""


class AnswerError(Exception):
    """An exception of the answer's that is not a builtin exception type, relayed by name."""


def _answer_main(request_read, reply_write, stdout_write, stderr_write):
    """The answer's process, just forked from this one (before the payload was read): made
    what `python3 -E -S -B -c STUB REQUEST_FD REPLY_FD` would be, then running the stub. Its
    stdin is `/dev/null`, its stdout and stderr its own pipes, and it keeps no other
    descriptor of this process: not this process's stdin (the payload), stdout, stderr or the
    verdict pipe. It never returns: the stub's end (or the answer's `SystemExit`, or an
    uncaught exception) leaves the module as an interpreter's main script would, so the
    interpreter exits as it would have: atexit hooks, threads joined, the exception printed,
    the exit status."""
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(stdout_write, 1)
    os.dup2(stderr_write, 2)
    low = 3
    for fd in sorted((request_read, reply_write)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, os.sysconf("SC_OPEN_MAX"))
    # A fresh interpreter is dumpable (this process made itself non-dumpable before the fork,
    # and the flag is inherited): the answer's process may read its own /proc entries, as an
    # exec'd one could. Its memory holds nothing of the item or the nonce.
    _LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    # As under `-E -c`: the working directory first on sys.path and a `__main__` of its own.
    # Signal dispositions are already what a fresh interpreter started from here would have:
    # SIGINT ignored (inherited across exec too), SIGPIPE and SIGXFSZ ignored by Python.
    sys.path.insert(0, "")
    sys.argv[:] = ["-c", str(request_read), str(reply_write)]
    main = type(sys)("__main__")
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    exec(compile(AnswerProcess.CHILD, "<string>", "exec"), main.__dict__)
    sys.exit(0)


class AnswerProcess:
    """The answer's process and the two pipes to it."""

    CHILD = r"""
import ast, json, sys
class _NonFinite(ast.NodeTransformer):
    def visit_Name(self, node):
        if node.id in ("inf", "nan"):
            return ast.Constant(float(node.id))
        return node
def _serve(requests, replies):
    def send(message):
        replies.write(json.dumps(message).encode() + b"\n")
        replies.flush()
    def line_of(e):
        tb, line = e.__traceback__, None
        while tb is not None:
            if tb.tb_frame.f_code.co_filename == "solution.py":
                line = tb.tb_lineno
            tb = tb.tb_next
        return line
    def text(e):
        try:
            return str(e)[:300]
        except Exception:
            return "(unprintable)"
    first = json.loads(requests.readline())
    namespace = {"__name__": "solution", "__builtins__": __builtins__}
    try:
        exec(compile(first["program"], "solution.py", "exec"), namespace)
    except Exception as e:
        send({"load_error": type(e).__name__, "message": text(e), "line": line_of(e)})
        return
    function = namespace.get(first["entry"])
    if not callable(function):
        send({"missing": True})
        return
    send({"loaded": True})
    while True:
        line = requests.readline()
        if not line:
            return
        call = ast.parse(json.loads(line)["call"], mode="eval")
        args, kwargs = ast.literal_eval(_NonFinite().visit(call))
        try:
            value = function(*args, **kwargs)
        except Exception as e:
            send({"raised": type(e).__name__, "message": text(e), "line": line_of(e)})
            continue
        try:
            shown = repr(value)
        except Exception as e:
            send({"unrepresentable": type(e).__name__ + ": " + text(e)})
            continue
        send({"value": shown})
_serve(open(int(sys.argv[1]), "rb"), open(int(sys.argv[2]), "wb"))
"""

    def __init__(self):
        """Start the answer's process: before this process reads its payload (so that a warm
        sandbox waits with it started). It is a fork of this process, made before anything
        of the item, the answer or the nonce is in this process's memory, so there is nothing
        in its copy of it to find; a fork rather than a fresh interpreter because the start-up
        and the imports of one are most of a grading's CPU. Until `begin` sends it the
        program, it runs only the stub above, waiting on its request pipe; it never gets this
        process's stdin (its stdin is `/dev/null`), the verdict pipe or the nonce."""
        self.limits = None
        self.code_line = 1
        self.fault = None
        self.output = 0
        self.output_lock = _thread.allocate_lock()
        self.stderr_tail = b""
        # Held until the stderr drain reads the end of the answer's stderr: the evidence of a
        # process that died waits for its last words (`stderr_settled`).
        self.stderr_open = _thread.allocate_lock()
        self.stderr_open.acquire()
        self.pid = None
        self.returncode = None
        self.start_error = None
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        stdout_read, stdout_write = os.pipe()
        stderr_read, stderr_write = os.pipe()
        try:
            pid = os.fork()
        except OSError as e:
            pid = None
            self.start_error = e
        if pid == 0:
            # Outside any `try`: the child never comes back here (see `_answer_main`).
            _answer_main(request_read, reply_write, stdout_write, stderr_write)
        self.pid = pid
        for fd in (request_read, reply_write, stdout_write, stderr_write):
            os.close(fd)
        self.stdout_fd = stdout_read
        self.stderr_fd = stderr_read
        self.requests = open(request_write, "wb")
        self.replies = open(reply_read, "rb")

    def begin(self, limits, code_line):
        """The answer's grading starts: the limits are known; drain its output."""
        self.limits = limits
        self.code_line = code_line
        if self.start_error is not None:
            raise ItemProblem(
                "cannot start the answer's process (max-processes %d): %s"
                % (limits["max_processes"], exception_text(self.start_error))
            )
        for fd, keep_tail in ((self.stdout_fd, False), (self.stderr_fd, True)):
            _thread.start_new_thread(self._drain, (fd, keep_tail))

    def _drain(self, fd, keep_tail):
        """Read the answer's stdout or stderr; past `max-output-bytes` together, kill it."""
        try:
            self._drain_until_end(fd, keep_tail)
        finally:
            if keep_tail:
                self.stderr_open.release()

    def stderr_settled(self, timeout):
        """Wait at most `timeout` seconds for the drain to read the end of the answer's
        stderr (a process that exits may leave its last line in the pipe a moment longer
        than its exit status takes to arrive; a child of it may keep the pipe open)."""
        if self.stderr_open.acquire(True, timeout):
            self.stderr_open.release()

    def _drain_until_end(self, fd, keep_tail):
        cap = self.limits["max_output_bytes"]
        while True:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                return
            if not chunk:
                return
            if keep_tail:
                self.stderr_tail = (self.stderr_tail + chunk)[-4096:]
            with self.output_lock:
                self.output += len(chunk)
                over = self.output > cap
            if over:
                self.set_fault(
                    "output limit exceeded: the answer's process wrote more than %d bytes "
                    "on stdout and stderr; killed" % cap
                )
                self.kill()
                return

    def set_fault(self, reason):
        if self.fault is None:
            self.fault = reason

    def fail(self, reason):
        """Record `reason` (the first one stands), stop the process, raise."""
        self.set_fault(reason)
        self.kill()
        raise AnswerFault(self.fault)

    def kill(self):
        # Never once it is reaped: its pid may then be another process's.
        if self.pid is None or self.returncode is not None:
            return
        try:
            os.kill(self.pid, _signal.SIGKILL)
        except OSError:
            pass

    def wait(self, timeout):
        """Its exit code (negative: killed by that signal), waiting at most `timeout`
        seconds; None if it is still running."""
        if self.pid is None or self.returncode is not None:
            return self.returncode
        deadline = time.monotonic() + timeout
        while True:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                self.returncode = -_signal.SIGKILL
                return self.returncode
            if pid != 0:
                if os.WIFSIGNALED(status):
                    self.returncode = -os.WTERMSIG(status)
                else:
                    self.returncode = os.WEXITSTATUS(status)
                return self.returncode
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.001)

    def stop(self):
        self.kill()
        self.wait(2)

    def status(self):
        """How the process ended, waiting a little for it."""
        code = self.wait(2)
        if code is None:
            self.kill()
            return "closed its reply pipe"
        if code >= 0:
            return "exited with status %d" % code
        number = -code
        name = signal_name(number)
        if number == _signal.SIGXCPU:
            return "was killed by SIGXCPU (CPU time limit %d s)" % self.limits["cpu_seconds"]
        if number == _signal.SIGXFSZ:
            return "was killed by SIGXFSZ (file size limit)"
        if number == _signal.SIGKILL:
            return "was killed by SIGKILL (the CPU time limit is %d s)" % self.limits["cpu_seconds"]
        return "was killed by " + name

    def last_stderr_line(self):
        lines = [l.strip() for l in self.stderr_tail.decode("utf-8", "replace").splitlines()]
        lines = [l for l in lines if l]
        return short(lines[-1], 300) if lines else None

    def request(self, message, during):
        """Send one message, read one reply (a JSON object). `during` says what was asked,
        for the evidence when the process is gone."""
        if self.fault is not None:
            raise AnswerFault(self.fault)
        try:
            self.requests.write(json.dumps(message).encode() + b"\n")
            self.requests.flush()
        except OSError:
            pass  # gone: reading says how
        try:
            line = self.replies.readline(REPLY_LIMIT + 1)
        except OSError:
            line = b""
        if self.fault is not None:
            self.fail(self.fault)
        if not line.endswith(b"\n"):
            if len(line) > REPLY_LIMIT:
                self.fail(
                    "the answer's process sent a reply longer than %d bytes %s"
                    % (REPLY_LIMIT, during)
                )
            why = "the answer's process %s %s" % (self.status(), during)
            if self.fault is not None:  # the output limit killed it
                self.fail(self.fault)
            self.stderr_settled(1.0)
            tail = self.last_stderr_line()
            self.fail(why + (": " + tail if tail else ""))
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self.fail(
                "the answer's process sent an unreadable reply %s: %s" % (during, short(line))
            )
        return reply

    def where(self, line):
        """` (line N of the answer's code)` for a program line, if known."""
        if not isinstance(line, int):
            return ""
        if line >= self.code_line:
            return " (line %d of the answer's code)" % (line - self.code_line + 1)
        return " (line %d of the prompt)" % line


def relay(name, message):
    """The answer's exception as this process raises it: the builtin type of that name when
    there is one (an item may expect a ValueError), else AnswerError."""
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception):
        try:
            return cls(message)
        except Exception:
            pass
    return AnswerError("%s: %s" % (name, message))


class Proxy:
    """`candidate`: calls the entry point in the answer's process."""

    def __init__(self, process, entry):
        self.process = process
        self.entry = entry
        self.calls = 0
        self.last_call = None
        self.last_result = None
        self.relayed = None
        self.relayed_text = None

    def __call__(self, *args, **kwargs):
        shown = call_text(self.entry, args, kwargs)
        text = repr((args, kwargs))
        try:
            plain(text)
        except Exception:
            raise ItemProblem(
                "the test calls %s with a value that cannot be sent to the answer's process "
                "as plain data" % shown
            )
        self.calls += 1
        self.last_call, self.last_result = shown, None
        reply = self.process.request({"call": text}, "during " + shown)
        if isinstance(reply.get("value"), str):
            try:
                value = plain(reply["value"])
            except Exception:
                self.process.fail(
                    "%s returned a value that is not plain data (numbers, strings, bytes, "
                    "lists, tuples, dicts, sets, booleans, None): %s"
                    % (shown, short(reply["value"]))
                )
            self.last_result = short(reply["value"])
            return value
        if isinstance(reply.get("raised"), str):
            name, message = reply["raised"], str(reply.get("message", ""))
            limit = ""
            if name == "MemoryError":
                limit = " (memory limit %d MB)" % self.process.limits["memory_mb"]
            self.relayed = relay(name, message)
            self.relayed_text = "%s raised %s%s%s%s" % (
                shown,
                name,
                ": " + short(message) if message else "",
                limit,
                self.process.where(reply.get("line")),
            )
            raise self.relayed
        if "unrepresentable" in reply:
            self.process.fail(
                "%s returned a value whose repr() failed: %s"
                % (shown, short(reply["unrepresentable"]))
            )
        self.process.fail("the answer's process sent an unexpected reply to %s" % shown)


def syntax_evidence(e, code_line):
    line = e.lineno or 0
    what = "syntax error" if type(e) is SyntaxError else type(e).__name__
    if line >= code_line:
        place = "in the answer's code line %d" % (line - code_line + 1)
    else:
        place = "in the prompt line %d (with the answer's code appended)" % line
    return "%s %s: %s" % (what, place, short(e.msg, 200))


def failure_evidence(e, proxy):
    line = innermost_line(e.__traceback__, TEST_FILE)
    where = ""
    if line is not None:
        where = " at test line %d: %s" % (line, short(TEST_LINES[line - 1].strip(), 200))
    if isinstance(e, AnswerFault):
        return str(e) + where
    if e is proxy.relayed:
        return proxy.relayed_text + where
    if isinstance(e, AssertionError):
        message = str(e)
        text = "assertion failed" + where + (" (%s)" % short(message) if message else "")
    else:
        text = "the check raised %s%s" % (exception_text(e), where)
    if proxy.last_call is not None and proxy.last_result is not None:
        text += "; the last call %s returned %s" % (proxy.last_call, proxy.last_result)
    return text


def main(process):
    entry = PAYLOAD["entry_point"]
    prompt = PAYLOAD.get("prompt")
    namespace = {"__name__": "__item__", "__builtins__": builtins}
    if prompt:
        try:
            exec(compile(prompt, PROMPT_FILE, "exec"), namespace)
        except BaseException as e:  # noqa: BLE001 (trusted item data; any failure is the item's)
            report("error", "the item's prompt does not run: " + exception_text(e))
    try:
        exec(compile(PAYLOAD["test"], TEST_FILE, "exec"), namespace)
    except BaseException as e:  # noqa: BLE001
        report("error", "the item's test does not run: " + exception_text(e))
    check = namespace.get("check")
    if not callable(check):
        report("error", "the item's test defines no `check(candidate)` function")

    code = PAYLOAD["code"]
    if prompt:
        program = prompt + "\n" + code
        code_line = prompt.count("\n") + 2
    else:
        program, code_line = code, 1
    try:
        compile(program, PROGRAM_FILE, "exec")
    except SyntaxError as e:
        report("fail", syntax_evidence(e, code_line))
    except (ValueError, MemoryError, RecursionError) as e:
        report("fail", "the answer's code does not compile: " + exception_text(e))

    process.begin(PAYLOAD["limits"], code_line)
    proxy = Proxy(process, entry)
    try:
        try:
            reply = process.request(
                {"program": program, "entry": entry},
                "while loading its code, before answering any call",
            )
            if "load_error" in reply:
                message = str(reply.get("message", ""))
                limit = ""
                if reply["load_error"] == "MemoryError":
                    limit = " (memory limit %d MB)" % PAYLOAD["limits"]["memory_mb"]
                report(
                    "fail",
                    "loading the answer's code raised %s%s%s%s"
                    % (
                        short(reply["load_error"], 80),
                        ": " + short(message) if message else "",
                        limit,
                        process.where(reply.get("line")),
                    ),
                )
            if reply.get("missing") is True:
                report("fail", "the answer's code defines no function `%s`" % entry)
            if reply.get("loaded") is not True:
                process.fail("the answer's process sent an unexpected reply while loading")
        except AnswerFault as e:
            report("fail", str(e))
        namespace[entry] = proxy
        try:
            check(proxy)
        except ItemProblem as e:
            report("error", str(e))
        except BaseException as e:  # noqa: BLE001 (whatever stopped the check is a fail)
            report("fail", failure_evidence(e, proxy))
    finally:
        process.stop()
    if process.fault is not None:
        # The check went on (an item caught the fault): still not a pass.
        report("fail", process.fault)
    if proxy.calls == 0:
        report("error", "check(%s) never called the candidate: the item's test checks nothing" % entry)
    report("pass", "all assertions of check(%s) passed (%d calls)" % (entry, proxy.calls))


# 2. The answer's process is forked; then this process waits for its one payload (a warm
# sandbox waits here), reads it to the end, and leaves nothing readable on stdin for anyone
# else. No code of the answer's runs before this: the program reaches the answer's process
# only in `main`.
_ANSWER = AnswerProcess()
_RAW = sys.stdin.buffer.read()
_null = os.open(os.devnull, os.O_RDONLY)
os.dup2(_null, 0)
os.close(_null)
del _null

PAYLOAD = json.loads(_RAW)
del _RAW
NONCE = PAYLOAD["nonce"]
VERDICT_FD = PAYLOAD["verdict_fd"]
# Not passed on to any process this one starts (subprocess closes it anyway).
os.set_inheritable(VERDICT_FD, False)
if _PROBLEM is not None:
    _ANSWER.stop()
    report("error", "the runner cannot protect itself: " + _PROBLEM)
TEST_LINES = PAYLOAD["test"].splitlines() or [""]

try:
    main(_ANSWER)
except ItemProblem as e:
    report("error", str(e))
except BaseException as e:  # noqa: BLE001 (a failure of this runner is never a pass)
    report("fail", "the runner failed: " + exception_text(e))
