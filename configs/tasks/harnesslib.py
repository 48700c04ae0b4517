"""What every task's harness shares: a trusted checker that never runs the answer's code.

The harness (`<task>/harness.py` with this module) is the sandbox's first process. It never
imports `solution`. The answer's code runs in a separate process, the CHILD (a fresh
interpreter running the stub `CHILD` below, which loads solution.py as a module), and the
harness drives every scenario over a pair of pipes:

    parent (harness.py + harnesslib)                    child (stub + solution.py)
    "load a fresh solution module"          ------->    exec solution.py in a new module
    "call get_or_fetch(KEY, <proxy 3>)"      ------->    task: await get_or_fetch(KEY, p3)
                                             <-------    "proxy 3 called with ('user:42',)"
    counts the fetch, sleeps, answers with a
    value carrying a token only it knows     ------->    the proxy returns that value
                                             <-------    "call 1 returned {...}" (repr)

Every resource a check counts (the fetcher, the ledger, the loader, the database) is a
proxy served here: the parent counts its calls, measures how many run at once and how long
things take with its own clock, and decides what each returns or raises. Results come back
as plain data (`repr`, read with `ast.literal_eval`), so no object with a forged `__eq__`
crosses. The child may lie in any way it likes; it can only pass by making the parent
observe correct behaviour.

The verdict: the parent reads a one-time nonce and the number of its verdict descriptor
from its stdin (grader-python-exec writes them; stdin is then replaced by /dev/null),
makes itself non-dumpable (no other process of the sandbox can read its memory, open its
descriptors through /proc, or ptrace it), and writes ONE line on that descriptor,
`<nonce> {"checks": [...], "observations": {...}}`, or `<nonce> {"outcome": "fail",
"evidence": "syntax error in solution.py line N: ..."}` when the code does not compile. The
child never holds the descriptor, the nonce or the parent's stdin; its stdout and stderr go
to pipes the parent drains (within the output limit) and are only evidence. Run by hand
with an empty stdin, the harness prints the verdict JSON on stdout instead.

A harness declares its checks and runs them:

    from harnesslib import Harness, Fail, plural
    h = Harness("get_or_fetch", ["key", "fetcher"], is_async=True,
                defaults={"cache": "cache = {}"})

    @h.check("single-flight", "the prompt: ... (why it is required)")
    async def single_flight(s):            # s: a Scenario on a freshly loaded module
        backend = Backend(s)               # a parent-served resource (s.proxy(...))
        calls = [s.call("get_or_fetch", KEY, backend.proxy) for _ in range(200)]
        outcomes = await s.settle(calls, 1.0)
        ...                                # raise Fail("evidence") or return the evidence

    h.run()

`@h.check(name, why, required=False)` makes an advisory check: its failure lowers the score
and is shown, but does not fail the answer (unless the grader's `strict` option is set).
Every harness runs `imports` and `signature` first. Python 3.11 or newer.
"""

import ast
import asyncio
import builtins
import json
import os
import secrets
import signal
import subprocess
import sys
import time

if sys.version_info < (3, 11):  # TaskGroup, ExceptionGroup and Task.cancelling are used
    sys.stderr.write(f"harness needs Python 3.11 or newer, not {sys.version.split()[0]}\n")
    os._exit(2)  # an error of the grading environment, not a verdict on the answer

_HERE = os.path.dirname(os.path.abspath(__file__))  # the run directory, with solution.py
BUDGET_SECONDS = 7.0  # all checks together; the grader's wall-time limit is about 10 s
EVIDENCE_CHARS = 300  # grader-python-exec cuts each check's evidence there
REPLY_LIMIT = 4 * 1024 * 1024  # the longest line read from the child
SHOWN_CHARS = 120
# A token only this process knows: values the resources hand out carry it, so a value the
# child returns can be traced to the call that produced it.
TOKEN = secrets.token_hex(8)


class Fail(Exception):
    """A failed check; its message is the evidence."""


class Raise(Exception):
    """Raised by a resource handler: the child's proxy raises `name(message)` there (a
    builtin exception of that name, else an Exception subclass of that name)."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name
        self.message = message


class ChildGone(Exception):
    """The answer's process ended, or broke the protocol: no answer will come."""


def plural(n, word):
    """`1 fetch`, `2 fetches`, `3 audits`."""
    return f"{n} {word}" + ("" if n == 1 else "es" if word.endswith(("s", "sh", "ch", "x")) else "s")


def short(text, limit=SHOWN_CHARS):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + "…"


class _NonFinite(ast.NodeTransformer):
    def visit_Name(self, node):
        if node.id in ("inf", "nan"):
            return ast.Constant(float(node.id))
        return node


def plain(text):
    """The plain data a `repr` holds (numbers, strings, bytes, lists, tuples, dicts, sets,
    booleans, None, inf, nan); ValueError when it holds anything else."""
    try:
        return ast.literal_eval(_NonFinite().visit(ast.parse(text, mode="eval")))
    except (SyntaxError, ValueError, TypeError, MemoryError, RecursionError) as e:
        raise ValueError(f"not plain data: {short(text)}") from e


# ---- outcomes ---------------------------------------------------------------------------


class Outcome:
    """How one call in the child ended, as the parent saw it: `kind` is "value", "raised",
    "cancelled" or "pending" (no answer yet); `seconds` is by the parent's clock."""

    def __init__(self, kind, value=None, error=None, message="", leaves=(), line=None,
                 seconds=None):
        self.kind, self.value, self.error, self.message = kind, value, error, message
        self.leaves, self.line, self.seconds = tuple(leaves), line, seconds

    def raised(self, name, contains=None):
        """It raised `name` (or an exception group holding one), its message containing
        `contains` when given."""
        if self.kind != "raised":
            return False
        found = [(self.error, self.message)] + list(self.leaves)
        return any(n == name and (contains is None or contains in m) for n, m in found)

    def describe(self):
        if self.kind == "value":
            return f"returned {short(repr(self.value))}"
        if self.kind == "cancelled":
            return "ended cancelled"
        if self.kind == "pending":
            return "had not finished"
        where = f" (solution.py line {self.line})" if self.line else ""
        return f"raised {self.error}" + (f": {short(self.message)}" if self.message else "") + where

    def __repr__(self):
        return f"<Outcome {self.describe()}>"


def count(outcomes):
    """(values, raised, cancelled, pending) lists of the outcomes."""
    by = {"value": [], "raised": [], "cancelled": [], "pending": []}
    for o in outcomes:
        by[o.kind].append(o)
    return by["value"], by["raised"], by["cancelled"], by["pending"]


# ---- the answer's process ---------------------------------------------------------------

# The child: loads solution.py as a module and serves the parent's requests. It is the
# answer's process: nothing in it is trusted, and nothing the parent decides depends on it
# telling the truth.
CHILD = r'''
import ast, asyncio, builtins, inspect, json, os, sys, threading, traceback, types
_req, _rep = int(sys.argv[1]), int(sys.argv[2])
_out = open(_rep, "wb", buffering=0)
_wlock = threading.Lock()
def send(m):
    data = json.dumps(m).encode() + b"\n"
    with _wlock:
        _out.write(data)
def text(e):
    try:
        return str(e)[:300]
    except Exception:
        return "(unprintable)"
def line_of(e):
    tb, line = e.__traceback__, None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "solution.py":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
def leaves(e):
    out = []
    if isinstance(e, BaseExceptionGroup):
        for x in e.exceptions:
            out.extend(leaves(x) if isinstance(x, BaseExceptionGroup) else [[type(x).__name__, text(x)]])
    return out
_classes = {}
def exc_class(name):
    c = getattr(builtins, name, None)
    if isinstance(c, type) and issubclass(c, Exception):
        return c
    if name not in _classes:
        _classes[name] = type(name, (Exception,), {})
    return _classes[name]
_loop = asyncio.new_event_loop()
asyncio.set_event_loop(_loop)
_calls = {}       # pending proxy calls: k -> (future, loop) or [event, reply]
_next = [0]
_tasks = {}
_objects = {}
_module = [None]
def _proxy_call(pid, method, args, kwargs):
    _next[0] += 1
    k = _next[0]
    try:
        shown = repr((args, kwargs))
    except Exception as e:
        shown = "<unrepresentable %s>" % type(e).__name__
    return k, {"pc": k, "p": pid, "m": method, "a": shown}
def _result(reply):
    if "e" in reply:
        raise exc_class(reply["e"][0])(reply["e"][1])
    return reply.get("v")
_proxies = {}
def make_proxy(spec):
    pid = spec["$proxy"]
    if pid not in _proxies:  # one proxy, one object (identity, hashing, caches)
        _proxies[pid] = _make_proxy(spec)
    return _proxies[pid]
def _make_proxy(spec):
    pid, kind = spec["$proxy"], spec.get("kind", "async")
    def async_fn(method):
        async def call(*args, **kwargs):
            k, m = _proxy_call(pid, method, args, kwargs)
            fut = asyncio.get_running_loop().create_future()
            _calls[k] = fut
            send(m)
            try:
                return _result(await fut)
            except asyncio.CancelledError:
                if fut.cancelled() or not fut.done():  # no reply came: the call was cut
                    # Cancelled: the resource cleans up (in the parent) before this ends,
                    # as a real call's cleanup would run before its task is done.
                    ack = asyncio.get_running_loop().create_future()
                    _calls[k] = ack
                    send({"pcancel": k})
                    try:
                        await ack
                    except BaseException:
                        pass
                raise
            finally:
                _calls.pop(k, None)
        return call
    def sync_fn(method):
        def call(*args, **kwargs):
            k, m = _proxy_call(pid, method, args, kwargs)
            box = [threading.Event(), None]
            _calls[k] = box
            send(m)
            box[0].wait()
            _calls.pop(k, None)
            return _result(box[1])
        return call
    make = async_fn if kind == "async" else sync_fn
    methods = spec.get("methods")
    if methods is None:
        return make(None)
    ns = {name: (lambda f: (lambda self, *a, **k: f(*a, **k)))(
        (async_fn if how == "async" else sync_fn)(name)) for name, how in methods.items()}
    label = spec.get("repr", "<proxy %d>" % pid)
    ns["__repr__"] = lambda self: label
    return type(spec.get("name", "Proxy"), (), ns)()
def decode(v):
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        if "$proxy" in v:
            return make_proxy(v)
        if "$obj" in v:
            return _objects[v["$obj"]]
        if "$tuple" in v:
            return tuple(decode(x) for x in v["$tuple"])
        return {k: decode(x) for k, x in v.items()}
    return v
def finish(rid, fn):
    try:
        value = fn()
    except BaseException as e:
        if isinstance(e, asyncio.CancelledError):
            send({"re": rid, "cancelled": True})
        else:
            send({"re": rid, "raised": type(e).__name__, "msg": text(e), "line": line_of(e),
                  "leaves": leaves(e)})
        return
    try:
        shown = repr(value)
    except BaseException as e:
        send({"re": rid, "unrepr": type(e).__name__ + ": " + text(e)})
        return
    send({"re": rid, "v": shown})
def target(m):
    mod = _module[0]
    if m.get("obj") is not None:
        return getattr(_objects[m["obj"]], m["fn"])
    return getattr(mod, m["fn"])
def op_load(m):
    for t in list(_tasks.values()):
        if hasattr(t, "cancel"):
            t.cancel()
    _tasks.clear()
    _objects.clear()
    mod = types.ModuleType("solution")
    mod.__file__ = "solution.py"
    sys.modules["solution"] = mod
    try:
        exec(CODE, mod.__dict__)
        for name, source in m.get("defaults", {}).items():
            if name not in mod.__dict__:
                exec(source, mod.__dict__)
    except BaseException as e:
        send({"re": m["id"], "raised": type(e).__name__, "msg": text(e), "line": line_of(e)})
        return
    _module[0] = mod
    send({"re": m["id"], "ok": True, "missing": [n for n in m.get("need", []) if not hasattr(mod, n)]})
def op_sig(m):
    fn = getattr(_module[0], m["fn"])
    coro = inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(inspect.unwrap(fn))
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as e:
        send({"re": m["id"], "coro": coro, "error": text(e)})
        return
    params = [[p.name, p.kind.name, p.default is not p.empty] for p in sig.parameters.values()]
    send({"re": m["id"], "coro": coro, "sig": str(sig), "params": params})
def op_new(m):
    rid = m["id"]
    def build():
        obj = getattr(_module[0], m["fn"])(*decode(m["args"]))
        _objects[rid] = obj
        return None
    finish(rid, build)
def op_call(m):
    rid = m["id"]
    if m.get("mode") == "thread":
        barrier = m.get("_barrier")
        def run():
            if barrier is not None:
                try:
                    barrier.wait(2.0)
                except threading.BrokenBarrierError:
                    pass
            finish(rid, lambda: target(m)(*decode(m["args"])))
        t = threading.Thread(target=run, daemon=True)
        _tasks[rid] = t
        t.start()
        return
    async def run():
        value = target(m)(*decode(m["args"]))
        if inspect.isawaitable(value):
            value = await value
        return value
    task = _loop.create_task(run())
    _tasks[rid] = task
    def done(t):
        finish(rid, t.result)
    task.add_done_callback(done)
def op_cancel(m):
    t = _tasks.get(m["target"])
    if t is not None and hasattr(t, "cancel"):
        t.cancel()
    send({"re": m["id"], "ok": True})
def op_batch(m):
    barrier = threading.Barrier(len(m["ops"])) if m.get("barrier") else None
    for sub in m["ops"]:
        sub["_barrier"] = barrier
        OPS[sub["op"]](sub)
def op_turns(m):
    async def run():
        for _ in range(m["n"]):
            await asyncio.sleep(0)
        send({"re": m["id"], "ok": True})
    _loop.create_task(run())
OPS = {"batch": op_batch, "load": op_load, "sig": op_sig, "new": op_new, "call": op_call,
       "cancel": op_cancel, "turns": op_turns}
def on_loop(m):
    try:
        OPS[m["op"]](m)
    except BaseException as e:
        send({"re": m.get("id"), "raised": type(e).__name__, "msg": text(e), "line": line_of(e)})
def reader():
    f = open(_req, "rb")
    while True:
        line = f.readline()
        if not line:
            os._exit(0)
        m = json.loads(line)
        if "pr" in m:
            slot = _calls.get(m["pr"])
            if isinstance(slot, list):
                slot[1] = m
                slot[0].set()
            elif slot is not None:
                fut = slot
                _loop.call_soon_threadsafe(lambda f=fut, m=m: f.done() or f.set_result(m))
        elif m["op"] in ("call", "batch") and m.get("mode") == "thread":
            on_loop(m)
        else:
            _loop.call_soon_threadsafe(on_loop, m)
with open("solution.py", "rb") as _f:
    CODE = compile(_f.read(), "solution.py", "exec")
threading.Thread(target=reader, daemon=True).start()
_loop.run_forever()
'''


class Child:
    """The answer's process and the protocol to it. Everything it says is checked."""

    def __init__(self, harness):
        self.harness = harness
        self.proc = None
        self.pending = {}  # request id -> future of its reply
        self.handlers = {}  # proxy id -> (handler, scenario)
        self.running = {}  # proxy call k -> task serving it
        self.next_id = 0
        self.gone = None  # why it can no longer answer
        self.output = 0
        self.stderr_tail = b""
        self.stdout_tail = b""
        self.tasks = []

    async def start(self):
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-E", "-S", "-B", "-c", CHILD, str(req_r), str(rep_w),
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                pass_fds=(req_r, rep_w), cwd=_HERE)
        finally:
            os.close(req_r)
            os.close(rep_w)
        loop = asyncio.get_running_loop()
        self.reader = asyncio.StreamReader(limit=REPLY_LIMIT)
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(self.reader),
                                     os.fdopen(rep_r, "rb", buffering=0))
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(req_w, "wb", buffering=0))
        self.writer = asyncio.StreamWriter(transport, protocol, None, loop)
        self.tasks = [asyncio.ensure_future(self._read()),
                      asyncio.ensure_future(self._drain(self.proc.stdout, "stdout_tail")),
                      asyncio.ensure_future(self._drain(self.proc.stderr, "stderr_tail"))]

    def alive(self):
        return self.proc is not None and self.gone is None

    async def _drain(self, stream, tail):
        cap = self.harness.limits.get("max_output_bytes", 1 << 20)
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            setattr(self, tail, (getattr(self, tail) + chunk)[-4096:])
            self.output += len(chunk)
            if self.output > cap:
                self._lose(f"the answer's process wrote more than {cap} bytes on stdout and "
                           f"stderr (the output limit) and was killed")
                return

    def last_output(self):
        for tail in (self.stderr_tail, self.stdout_tail):
            lines = [l.strip() for l in tail.decode("utf-8", "replace").splitlines() if l.strip()]
            if lines:
                return short(lines[-1])
        return None

    def _lose(self, why):
        if self.gone is None:
            self.gone = why
        self.kill()
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ChildGone(self.gone))
        self.pending.clear()
        for task in self.running.values():
            task.cancel()

    def kill(self):
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    async def status(self):
        """How the process ended, for the evidence."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), 1.0)
        except asyncio.TimeoutError:
            self.kill()
            return "closed its pipe to the harness"
        if code >= 0:
            return f"exited with status {code}"
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name}"

    async def _read(self):
        try:
            while self.gone is None:
                try:
                    line = await self.reader.readline()
                except (ValueError, asyncio.LimitOverrunError):
                    self._lose(f"the answer's process sent a message longer than {REPLY_LIMIT} bytes")
                    return
                if not line:
                    status = await self.status()
                    tail = self.last_output()
                    self._lose(f"the answer's process {status}" + (f" (its last output: {tail})" if tail else ""))
                    return
                try:
                    m = json.loads(line)
                    if not isinstance(m, dict):
                        raise ValueError
                    self._dispatch(m)
                except (ValueError, KeyError, TypeError):
                    self._lose(f"the answer's process broke the protocol: {short(line)}")
                    return
        except asyncio.CancelledError:
            pass

    def _dispatch(self, m):
        if "re" in m:
            fut = self.pending.pop(m["re"], None)
            if fut is not None and not fut.done():
                fut.set_result(m)
        elif "pc" in m:
            k = m["pc"]
            handler = self.handlers.get(m["p"])
            self.running[k] = asyncio.ensure_future(self._serve(k, handler, m))
        elif "pcancel" in m:
            k = m["pcancel"]
            task = self.running.get(k)
            if task is not None:
                task.cancel()  # _serve acknowledges once the handler's cleanup has run
            else:
                # Answered already: the reply and the child's cancellation crossed (the child
                # cancels a call whose reply it has read but not yet handed to the waiting
                # task). The child still waits for an acknowledgement; without one the
                # cancelled task, and whatever awaits it, would hang.
                self.send({"pr": k, "cancelled": True})
        else:
            raise ValueError

    async def _serve(self, k, handler, m):
        try:
            if handler is None:
                raise Raise("RuntimeError", "this resource belongs to a scenario that is over")
            fn, scenario = handler
            if scenario.over:
                raise Raise("RuntimeError", "this resource belongs to a scenario that is over")
            try:
                args, kwargs = plain(m["a"])
                if not isinstance(args, tuple) or not isinstance(kwargs, dict):
                    raise ValueError
            except ValueError:
                raise Raise("TypeError", f"arguments that are not plain data: {short(m['a'])}") from None
            method = m.get("m")
            target = getattr(fn, method) if method else fn
            reply = {"pr": k, "v": await target(*args, **kwargs)}
        except Raise as e:
            reply = {"pr": k, "e": [e.name, e.message]}
        except asyncio.CancelledError:
            # Cancelled by the child (its call was cancelled): acknowledge once the handler's
            # own cleanup has run, which is now.
            self.running.pop(k, None)
            self.send({"pr": k, "cancelled": True})
            return
        except Exception as e:  # noqa: BLE001 - a handler's TypeError on bad arguments
            reply = {"pr": k, "e": ["TypeError", short(str(e))]}
        self.running.pop(k, None)
        self.send(reply)

    def send(self, m):
        if self.gone is None:
            self.writer.write(json.dumps(m).encode() + b"\n")

    def submit(self, m):
        """Send `m` with a fresh id at once: (id, future of its reply)."""
        self.next_id += 1
        rid = m["id"] = self.next_id
        fut = asyncio.get_running_loop().create_future()
        if self.gone is not None:
            fut.set_exception(ChildGone(self.gone))
        else:
            self.pending[rid] = fut
            self.send(m)
        return rid, fut

    def submit_batch(self, ops, **extra):
        """Send the requests `ops` in one message, so that the child starts them together
        (in one turn of its event loop, or its threads released by one barrier)."""
        futures = []
        for m in ops:
            self.next_id += 1
            m["id"] = self.next_id
            fut = asyncio.get_running_loop().create_future()
            if self.gone is not None:
                fut.set_exception(ChildGone(self.gone))
            else:
                self.pending[m["id"]] = fut
            futures.append((m["id"], fut))
        self.send({"op": "batch", "ops": ops, **extra})
        return futures

    async def request(self, m):
        """Send `m`; its reply (a dict). ChildGone when none will come."""
        return await self.submit(m)[1]

    async def close(self):
        self._lose("closed")
        for task in self.tasks:
            task.cancel()
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 1.0)
            except asyncio.TimeoutError:
                pass


class Call:
    """A call running in the child; settle a list of them with `Scenario.settle`."""

    def __init__(self, scenario, rid, future, shown):
        self.scenario, self.rid, self.future, self.shown = scenario, rid, future, shown
        self.started = time.perf_counter()
        self.ended = None
        future.add_done_callback(self._end)

    def _end(self, fut):
        self.ended = time.perf_counter()
        if not fut.cancelled():
            fut.exception()  # retrieved: a ChildGone is reported as "pending"

    def outcome(self):
        if not self.future.done() or self.future.cancelled() or self.future.exception() is not None:
            return Outcome("pending")  # not yet, or the child is gone: no answer
        r = self.future.result()
        seconds = (self.ended or time.perf_counter()) - self.started
        if r.get("cancelled") is True:
            return Outcome("cancelled", seconds=seconds)
        if isinstance(r.get("raised"), str):
            leaves = [tuple(x) for x in r.get("leaves") or [] if isinstance(x, list) and len(x) == 2]
            return Outcome("raised", error=r["raised"], message=str(r.get("msg", "")),
                           leaves=leaves, line=r.get("line"), seconds=seconds)
        if isinstance(r.get("v"), str):
            try:
                return Outcome("value", plain(r["v"]), seconds=seconds)
            except ValueError:
                raise Fail(f"{self.shown} returned a value that is not plain data: {short(r['v'])}") from None
        if "unrepr" in r:
            raise Fail(f"{self.shown} returned a value whose repr() failed: {short(r['unrepr'])}")
        raise Fail(f"the answer's process sent an unexpected reply to {self.shown}")


def encode(v):
    if isinstance(v, tuple):
        return {"$tuple": [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, dict) and not ({"$proxy", "$obj"} & set(v)):
        return {k: encode(x) for k, x in v.items()}
    return v


class Gate:
    """Holds the calls of a served resource that reach it until `size` of them have arrived,
    or `seconds` have passed since the first did; then it stays open. A peak of calls in
    flight measured behind it does not depend on how fast a loaded machine delivers calls
    the answer starts together (they all arrive within `seconds`), and an answer that runs
    them one at a time pays `seconds` once, not once per call. Await `passage()` after
    counting the call as in flight."""

    def __init__(self, size, seconds=0.25):
        self.size, self.seconds = size, seconds
        self.arrived = 0
        self.opened = asyncio.Event()

    async def passage(self):
        if self.opened.is_set():
            return
        self.arrived += 1
        if self.arrived == 1:
            asyncio.get_running_loop().call_later(self.seconds, self.opened.set)
        if self.arrived >= self.size:
            self.opened.set()
        await self.opened.wait()


class Scenario:
    """One check's run: a freshly loaded solution module in the child, and the resources
    (proxies) the check serves to it."""

    def __init__(self, harness, child):
        self.harness, self.child = harness, child
        self.over = False
        self.proxies = []

    def proxy(self, handler, kind="async", methods=None, label=None, name=None):
        """A marker to pass as an argument: in the child it becomes a function (`kind`
        "async" or "sync") calling `handler` here, or, with `methods` ({name: kind}), an
        object whose methods call `handler`'s methods of those names."""
        self.harness.proxy_ids += 1
        pid = self.harness.proxy_ids
        self.child.handlers[pid] = (handler, self)
        self.proxies.append(pid)
        spec = {"$proxy": pid, "kind": kind}
        if methods is not None:
            spec["methods"] = methods
            spec["repr"] = label or f"<proxy {pid}>"
            spec["name"] = name or "Proxy"
        return spec

    def call(self, fn, *args, mode="task", obj=None):
        """Start `fn(*args)` in the child (a solution function, or `obj`'s method): "task"
        runs it on the child's event loop (awaiting it when it returns an awaitable),
        "thread" in a new thread of the child. Returns a Call."""
        shown = f"{fn}({', '.join(short(repr(a), 40) for a in args if not isinstance(a, dict) or '$proxy' not in a)})"
        rid, fut = self.child.submit(
            {"op": "call", "fn": fn, "obj": obj, "args": encode(list(args)), "mode": mode})
        return Call(self, rid, fut, shown)

    def calls(self, fn, arglists, mode="task", obj=None, together=True):
        """Start `fn(*args)` for each of `arglists`, all at once: in one turn of the child's
        event loop ("task"), or in threads released together by a barrier ("thread")."""
        ops = [{"op": "call", "fn": fn, "obj": obj, "args": encode(list(args)), "mode": mode}
               for args in arglists]
        extra = {"mode": mode, "barrier": mode == "thread" and together}
        return [Call(self, rid, fut, f"{fn}(...)")
                for rid, fut in self.child.submit_batch(ops, **extra)]

    async def new(self, cls, *args):
        """Construct the module's `cls(*args)` in the child; a marker for it, to pass as an
        argument (`{"$obj": id}`), or Fail."""
        reply = await self.child.request({"op": "new", "fn": cls, "args": encode(list(args))})
        if "raised" in reply:
            raise Fail(f"{cls}(...) raised {reply['raised']}: {short(reply.get('msg', ''))}")
        return {"$obj": reply["re"]}

    async def cancel(self, call):
        """Ask the child to cancel `call` (a task), and wait until it has been told."""
        await self.child.request({"op": "cancel", "target": call.rid})

    async def turns(self, n=20):
        """Wait until the child's event loop has gone round `n` times since the calls started
        before: by then each of those tasks has run until it waits on something outside the
        loop's ready queue (a lock, a queue, a timer, a call served here), however slowly a
        loaded machine schedules the child. Counting turns, not sleeping, is what makes "they
        are now waiting" true on any machine."""
        await self.child.request({"op": "turns", "n": n})

    async def settle(self, calls, timeout):
        """Wait up to `timeout` s for `calls`; their outcomes, in order."""
        futures = [c.future for c in calls if not c.future.done()]
        if futures:
            await asyncio.wait(futures, timeout=timeout)
        return [c.outcome() for c in calls]

    async def until(self, condition, timeout):
        deadline = time.perf_counter() + timeout
        while not condition() and time.perf_counter() < deadline:
            await asyncio.sleep(0.001)
        return condition()


# ---- the harness ------------------------------------------------------------------------


class Harness:
    """The checks of one task, run against the answer's process; see the module doc."""

    def __init__(self, entry, params, is_async, defaults=None, need=None):
        self.entry, self.params, self.is_async = entry, list(params), is_async
        self.defaults = dict(defaults or {})
        self.need = list(need or [entry])
        self.checks = []  # (name, fn, required, why, timeout, blocked)
        self.results = []
        self.observations = {}
        self.limits = {}
        self.proxy_ids = 0
        self.child = None
        self.not_run = None

    def check(self, name, why, required=True, timeout=1.5, blocked=None):
        """Decorator: register `fn(scenario)` (async) as the check `name`. It returns the
        evidence of a pass or raises Fail with the evidence of a failure."""
        def register(fn):
            self.checks.append((name, fn, required, why, timeout, blocked))
            return fn
        return register

    async def fresh(self, scenario):
        """A new Scenario on a freshly loaded module (for a check that runs two rounds)."""
        scenario.over = True
        child, reply = await self._load(1.0)
        if "ok" not in reply or reply.get("missing"):
            raise Fail("the solution no longer loads in a fresh module")
        return Scenario(self, child)

    def observe(self, name, **values):
        self.observations.setdefault(name, {}).update(values)

    # -- running

    def run(self):
        """Read the nonce, protect this process, run every check, write the verdict, exit."""
        _protect()
        self.deadline = time.monotonic() + BUDGET_SECONDS
        self.limits = _PAYLOAD.get("limits") or {}
        try:
            with open(os.path.join(_HERE, "solution.py"), "rb") as f:
                source = f.read()
            compile(source, "solution.py", "exec")
        except SyntaxError as e:
            what = "syntax error" if type(e) is SyntaxError else type(e).__name__
            _verdict({"outcome": "fail",
                      "evidence": f"{what} in solution.py line {e.lineno or 0}: {short(e.msg, 200)}"})
        except (ValueError, MemoryError, RecursionError) as e:
            _verdict({"outcome": "fail", "evidence": f"solution.py does not compile: {type(e).__name__}: {short(e)}"})
        try:
            asyncio.run(self._run_all())
        except BaseException as e:  # noqa: BLE001 - a failure of the harness is never a pass
            _verdict({"outcome": "error", "evidence": f"the harness failed: {type(e).__name__}: {short(e, 300)}"})
        _verdict({"checks": self.results, "observations": self.observations})

    async def _child(self):
        if self.child is None or not self.child.alive():
            if self.child is not None:
                await self.child.close()
            self.child = Child(self)
            await self.child.start()
        return self.child

    async def _load(self, scenario_timeout):
        child = await self._child()
        reply = await asyncio.wait_for(
            child.request({"op": "load", "defaults": self.defaults, "need": self.need}),
            scenario_timeout)
        return child, reply

    def _record(self, name, required, passed, evidence, seconds):
        evidence = str(evidence) or ("passed" if passed else "failed")
        if len(evidence) > EVIDENCE_CHARS:
            evidence = evidence[:EVIDENCE_CHARS - 1] + "…"
        self.results.append({"name": name, "pass": bool(passed), "required": required,
                             "evidence": evidence})
        self.observe(name, seconds=round(seconds, 4))

    async def _run_all(self):
        await self._run_one("imports", self._imports, True, 2.0,
                            "loading solution.py hangs")
        await self._run_one("signature", self._signature, True, 1.0, None)
        for name, fn, required, _why, timeout, blocked in self.checks:
            await self._run_one(name, fn, required, timeout, blocked, scenario=True)
        if self.child is not None:
            await self.child.close()

    async def _run_one(self, name, fn, required, timeout, blocked, scenario=False):
        remaining = self.deadline - time.monotonic()
        if self.not_run is None and remaining < 0.1:
            self.not_run = f"the harness's {BUDGET_SECONDS:g} s budget was used up by checks that blocked"
        if self.not_run is not None:
            self._record(name, required, False, f"not run: {self.not_run}", 0.0)
            return
        timeout = min(timeout, remaining)
        started = time.perf_counter()
        sc = None
        try:
            async with asyncio.timeout(timeout):
                if scenario:
                    child, reply = await self._load(timeout)
                    if "ok" not in reply or reply.get("missing"):
                        raise Fail("the solution no longer loads in a fresh module: "
                                   + (reply.get("raised") or "missing names"))
                    sc = Scenario(self, child)
                    evidence = await fn(sc)
                else:
                    evidence = await fn()
            passed = True
        except Fail as e:
            passed, evidence = False, str(e)
        except TimeoutError:
            why = blocked or "the answer's event loop or a thread is blocked (a deadlock?)"
            passed, evidence = False, f"did not finish within {timeout:.3g} s: {why}"
            if self.child is not None:
                self.child._lose("killed: a check timed out")
        except ChildGone as e:
            passed, evidence = False, f"{e} during the check"
        finally:
            if sc is not None:
                sc.over = True
        self._record(name, required, passed, evidence, time.perf_counter() - started)

    async def _imports(self):
        try:
            child, reply = await self._load(2.0)
        except ChildGone as e:
            self.not_run = "the solution did not import"
            raise Fail(f"{e} while importing solution.py") from None
        except TimeoutError:
            self.not_run = "the solution did not import"
            raise
        if "ok" not in reply:
            self.not_run = "the solution did not import"
            where = f" (solution.py line {reply['line']})" if reply.get("line") else ""
            msg = reply.get("msg")
            if reply.get("raised") == "MemoryError" and "memory_mb" in self.limits:
                where += f" (memory limit {self.limits['memory_mb']} MB)"
            raise Fail(f"importing solution.py raised {short(reply.get('raised'), 60)}"
                       + (f": {short(msg, 250)}" if msg else "") + where)
        missing = reply.get("missing") or []
        if missing:
            self.not_run = "the solution did not import"
            raise Fail("solution.py does not define " + ", ".join(f"`{short(n, 40)}`" for n in missing))
        return "solution.py imports and defines " + ", ".join(f"`{n}`" for n in self.need)

    async def _signature(self):
        child = await self._child()
        reply = await child.request({"op": "sig", "fn": self.entry})
        name, params = self.entry, self.params
        kind = "async def" if self.is_async else "def"
        call = f"{name}({', '.join(params)})"
        want = f"{kind} {call}"
        coro = reply.get("coro") is True
        if self.is_async and not coro:
            raise Fail(f"`{name}` is not an `async def` function; the task keeps `{want}`")
        if not self.is_async and coro:
            raise Fail(f"`{name}` became an `async def` function; the task keeps `{want}`")
        if "raised" in reply or "error" in reply:
            raise Fail(f"the signature of `{name}` cannot be read: {short(reply.get('error') or reply.get('msg'))}")
        got = f"{kind} {name}{short(reply.get('sig'), 100)}"
        plist = reply.get("params") or []
        positional = [p for p in plist if p[1] in ("POSITIONAL_ONLY", "POSITIONAL_OR_KEYWORD")]
        names = [p[0] for p in positional[:len(params)]]
        if names != params and not any(p[1] == "VAR_POSITIONAL" for p in plist):
            raise Fail(f"`{name}` is `{got}`; callers use `{want}`")
        extra = [p[0] for p in plist[len(params):]
                 if not p[2] and p[1] not in ("VAR_POSITIONAL", "VAR_KEYWORD")]
        if extra:
            raise Fail(f"`{name}` is `{got}`: " + ", ".join(f"`{short(e, 40)}`" for e in extra)
                       + f" has no default, so existing calls `{call}` break")
        return f"`{name}` keeps the signature `{want}`"


# ---- the verdict ------------------------------------------------------------------------

_PAYLOAD = {}
_NONCE = [None]
_VERDICT_FD = [None]


def _protect():
    """Read the payload (nonce, verdict descriptor, limits) from stdin, leave nothing there,
    make this process non-dumpable, and keep the run directory (which the answer's process
    can write to) off the import path: everything this process imports is imported already."""
    raw = sys.stdin.buffer.read()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    if raw.strip():
        payload = json.loads(raw)
        _PAYLOAD.update(payload)
        _NONCE[0] = payload["nonce"]
        _VERDICT_FD[0] = payload["verdict_fd"]
        os.set_inheritable(_VERDICT_FD[0], False)
    import ctypes  # noqa: PLC0415 - imported here, before the answer's process exists

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(4, 0, 0, 0, 0) != 0 or libc.prctl(3, 0, 0, 0, 0) != 0:  # PR_SET/GET_DUMPABLE
        _verdict({"outcome": "error", "evidence": "the harness cannot make itself non-dumpable"})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Python turns it into an exception
    sys.path[:] = [p for p in sys.path if p not in ("", ".", _HERE)]
    sys.dont_write_bytecode = True


def _verdict(report):
    """Write the verdict line and leave at once."""
    text = json.dumps(report, ensure_ascii=False)
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    try:
        if _NONCE[0] is None:
            sys.stdout.write("\n" + text + "\n")
            sys.stdout.flush()
        else:
            data = (_NONCE[0] + " " + text + "\n").encode()
            while data:
                data = data[os.write(_VERDICT_FD[0], data):]
    finally:
        os._exit(0)


__all__ = ["BUDGET_SECONDS", "TOKEN", "Fail", "Harness", "Outcome", "Raise", "Scenario",
           "count", "plain", "plural", "short"]
