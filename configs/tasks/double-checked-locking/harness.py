"""Harness for the `double-checked-locking` task: a lazily loaded, thread-shared singleton.

A fix passes when:
- 8 threads released together on the first use cause exactly one load (2 rounds);
- all of them, and a later caller, get that one loaded object (never None, never another);
- when the load raises, the caller sees the error, nothing is kept, and the next call
  loads again and does not block (the lock is released on the error);
- `get_settings` keeps its signature `def get_settings(load)` (not async).
"""

import threading
import time

from harnesslib import (OBSERVATIONS, Fail, check, check_imports, check_signature, describe,
                        finish, load_solution, plural)


THREADS = 8
LOAD_SECONDS = 0.02
JOIN_SECONDS = 1.0
DEFAULTS = {"_settings": lambda: None, "_lock": threading.Lock}


class LoadError(Exception):
    """The fake config service's failure."""


class Settings:
    """What a load returns: a distinct object per load."""

    def __init__(self, n):
        self.load_number = n

    def __repr__(self):
        return f"<Settings from load #{self.load_number}>"


class Loader:
    """A fake `load`: slow, counted, can fail; remembers what it returned."""

    def __init__(self, seconds=LOAD_SECONDS, fail=False):
        self.seconds = seconds
        self.fail = fail
        self.calls = 0
        self.returned = []
        self._count = threading.Lock()

    def __call__(self):
        with self._count:
            self.calls += 1
            n = self.calls
        time.sleep(self.seconds)
        if self.fail:
            raise LoadError(f"config service unreachable (load #{n})")
        settings = Settings(n)
        self.returned.append(settings)
        return settings


def in_thread(fn, timeout):
    """Call fn() in a daemon thread: ("value", v), ("error", e) or ("blocked", None)."""
    box = {}

    def target():
        try:
            box["out"] = ("value", fn())
        except BaseException as e:  # noqa: BLE001
            box["out"] = ("error", e)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(timeout)
    return box.get("out", ("blocked", None))


def first_use(mod, loader):
    """THREADS threads call get_settings(loader) at the same moment; their outcomes."""
    barrier = threading.Barrier(THREADS)
    outcomes = [("blocked", None)] * THREADS

    def worker(i):
        try:
            barrier.wait(JOIN_SECONDS)
        except threading.BrokenBarrierError:
            pass
        try:
            outcomes[i] = ("value", mod.get_settings(loader))
        except BaseException as e:  # noqa: BLE001
            outcomes[i] = ("error", e)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + JOIN_SECONDS
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return outcomes


def summary(outcomes):
    blocked = sum(1 for kind, _ in outcomes if kind == "blocked")
    errors = [v for kind, v in outcomes if kind == "error"]
    if blocked or errors:
        return (f"; {blocked} were still blocked after {JOIN_SECONDS:g} s and {len(errors)} "
                f"raised" + (f" ({describe(errors[0])})" if errors else ""))
    return ""


def loads_once():
    for round_no in (1, 2):
        mod = load_solution(DEFAULTS)
        loader = Loader()
        outcomes = first_use(mod, loader)
        OBSERVATIONS["loads-once"] = {"round": round_no, "threads": THREADS, "loads": loader.calls}
        if loader.calls != 1:
            raise Fail(f"{THREADS} threads calling get_settings at once on first use caused "
                       f"{plural(loader.calls, 'load')} (round {round_no})" + summary(outcomes))
    return f"{THREADS} threads calling get_settings at once on first use caused 1 load (2 rounds)"


def same_object():
    for round_no in (1, 2):
        mod = load_solution(DEFAULTS)
        loader = Loader()
        outcomes = first_use(mod, loader)
        later = in_thread(lambda: mod.get_settings(Loader()), JOIN_SECONDS)
        values = [v for kind, v in outcomes if kind == "value"]
        nones = sum(1 for v in values if v is None)
        distinct = len({id(v) for v in values if v is not None})
        first = loader.returned[0] if loader.returned else None
        OBSERVATIONS["same-object"] = {"round": round_no, "threads": THREADS,
                                       "got_none": nones, "distinct_objects": distinct,
                                       "loads": loader.calls}
        if nones:
            raise Fail(f"{nones} of {THREADS} threads calling get_settings at once on first use "
                       f"got None: the settings were handed out before they were loaded"
                       + summary(outcomes) + f" (round {round_no})")
        if distinct != 1 or len(values) != THREADS:
            raise Fail(f"{THREADS} threads calling get_settings at once on first use got "
                       f"{plural(distinct, 'different object')}" + summary(outcomes)
                       + f" (round {round_no})")
        if first is None or values[0] is not first:
            raise Fail(f"threads calling get_settings got {values[0]!r}, not the object the "
                       f"load returned ({first!r})")
        if later != ("value", first):
            got = repr(later[1]) if later[0] == "value" else later[0] if later[0] == "blocked" else describe(later[1])
            raise Fail(f"after the first use, a later call got {got} instead of {first!r}")
    return (f"all {THREADS} threads calling get_settings at once, and a later caller, got the "
            f"one loaded object (2 rounds)")


def load_failure_retries():
    mod = load_solution(DEFAULTS)
    broken, working = Loader(fail=True), Loader()
    first = in_thread(lambda: mod.get_settings(broken), 0.5)
    second = in_thread(lambda: mod.get_settings(working), 0.5)
    OBSERVATIONS["load-failure-retries"] = {"failed_loads": broken.calls,
                                            "loads_after_failure": working.calls,
                                            "second_call": second[0]}
    if first[0] != "error" or not isinstance(first[1], LoadError):
        got = repr(first[1]) if first[0] == "value" else first[0] if first[0] == "blocked" else describe(first[1])
        raise Fail(f"a call whose load raised LoadError did not raise it: got {got}")
    if second[0] == "blocked":
        raise Fail("after a load raised, the next call was still blocked 0.5 s later "
                   "(the lock was not released when the load failed)")
    if working.calls != 1 or second != ("value", working.returned[0] if working.returned else None):
        got = repr(second[1]) if second[0] == "value" else describe(second[1])
        raise Fail(f"after a load raised, the next call made {plural(working.calls, 'load')} "
                   f"and got {got} (expected 1 new load and its settings)")
    return "a failed load raised LoadError; the next call loaded again (1 load) and got its settings"


check_imports(["get_settings"])
check_signature("get_settings", ["load"], False, DEFAULTS)
check("loads-once", loads_once, 2.5)
check("same-object", same_object, 2.5)
check("load-failure-retries", load_failure_retries, 1.5)
finish()
