"""Harness for the `double-checked-locking` task: a lazily loaded, thread-shared singleton.

The answer's code runs in its own process, called from threads there; every load it makes
is served and counted here, and each load's settings carry their load number and this run's
token, so "the same object" is "the settings of the same load" (see harnesslib). Which
checks are required, and why, is in checks.md. A fix passes when:
- 8 threads released together on the first use cause exactly one load (2 rounds);
- all of them, and a later caller, get that one load's settings (never None, never another);
- when the load raises, the caller sees the error, nothing is kept, and the next call
  loads again and does not block (the lock is released on the error);
- `get_settings` keeps its signature `def get_settings(load)` (not async).
"""

import asyncio

from harnesslib import TOKEN, Fail, Harness, Raise, count, plural

THREADS = 8
LOAD_SECONDS = 0.02
JOIN_SECONDS = 1.0

h = Harness("get_settings", ["load"], is_async=False,
            defaults={"_settings": "_settings = None", "_lock": "import threading\n_lock = threading.Lock()"})


class Loader:
    """The `load` the answer is given (a blocking function in its process), served here:
    slow, counted, can fail."""

    def __init__(self, s, seconds=LOAD_SECONDS, fail=False):
        self.seconds, self.fail, self.calls = seconds, fail, 0
        self.proxy = s.proxy(self.load, kind="sync")

    async def load(self):
        self.calls += 1
        n = self.calls
        await asyncio.sleep(self.seconds)
        if self.fail:
            raise Raise("LoadError", f"config service unreachable (load #{n}) [{TOKEN}]")
        return settings(n)


def settings(n):
    return {"settings_from_load": n, "token": TOKEN}


async def first_use(s, loader):
    """THREADS threads call get_settings(load) at the same moment; their outcomes."""
    return await s.settle(s.calls("get_settings", [(loader.proxy,)] * THREADS, mode="thread"),
                          JOIN_SECONDS)


def summary(outcomes):
    _, raised, _, pending = count(outcomes)
    if raised or pending:
        return (f"; {len(pending)} were still blocked after {JOIN_SECONDS:g} s and {len(raised)} "
                f"raised" + (f" (one {raised[0].describe()})" if raised else ""))
    return ""


@h.check("loads-once", "the prompt: \"The config service logs several loads at every "
         "startup\"; the docstring: \"it must run once\"", timeout=2.5)
async def loads_once(s):
    for round_no in (1, 2):
        if round_no == 2:
            s = await h.fresh(s)
        loader = Loader(s)
        outcomes = await first_use(s, loader)
        h.observe("loads-once", round=round_no, threads=THREADS, loads=loader.calls)
        if loader.calls != 1:
            raise Fail(f"{THREADS} threads calling get_settings at once on first use caused "
                       f"{plural(loader.calls, 'load')} (round {round_no})" + summary(outcomes))
    return f"{THREADS} threads calling get_settings at once on first use caused 1 load (2 rounds)"


@h.check("same-object", "the prompt: \"some workers end up with a settings object that differs "
         "from the others'\"; the docstring: \"every caller must get the same settings object\"",
         timeout=2.5)
async def same_object(s):
    for round_no in (1, 2):
        if round_no == 2:
            s = await h.fresh(s)
        loader = Loader(s)
        outcomes = await first_use(s, loader)
        [later] = await s.settle([s.call("get_settings", Loader(s).proxy, mode="thread")], JOIN_SECONDS)
        values, _, _, _ = count(outcomes)
        nones = sum(1 for o in values if o.value is None)
        distinct = len({repr(o.value) for o in values if o.value is not None})
        h.observe("same-object", round=round_no, threads=THREADS, got_none=nones,
                  distinct_objects=distinct, loads=loader.calls)
        if nones:
            raise Fail(f"{nones} of {THREADS} threads calling get_settings at once on first use "
                       f"got None: the settings were handed out before they were loaded"
                       + summary(outcomes) + f" (round {round_no})")
        if distinct != 1 or len(values) != THREADS:
            raise Fail(f"{THREADS} threads calling get_settings at once on first use got "
                       f"{plural(distinct, 'different object')}" + summary(outcomes)
                       + f" (round {round_no})")
        if values[0].value != settings(1):
            raise Fail(f"threads calling get_settings {values[0].describe()}, not the settings of "
                       f"the first load")
        if later.kind != "value" or later.value != settings(1):
            raise Fail(f"after the first use, a later call {later.describe()} instead of the "
                       f"settings of the first load")
    return (f"all {THREADS} threads calling get_settings at once, and a later caller, got the "
            f"one loaded object (2 rounds)")


@h.check("load-failure-retries", "the docstring: `load()` \"may raise\"; the original code "
         "retries on the next call, and a fix must not block or keep the failure forever")
async def load_failure_retries(s):
    broken, working = Loader(s, fail=True), Loader(s)
    [first] = await s.settle([s.call("get_settings", broken.proxy, mode="thread")], 0.5)
    [second] = await s.settle([s.call("get_settings", working.proxy, mode="thread")], 0.5)
    h.observe("load-failure-retries", failed_loads=broken.calls,
              loads_after_failure=working.calls, second_call=second.kind)
    if not first.raised("LoadError", TOKEN):
        raise Fail(f"a call whose load raised LoadError did not raise it: it {first.describe()}")
    if second.kind == "pending":
        raise Fail("after a load raised, the next call was still blocked 0.5 s later "
                   "(the lock was not released when the load failed)")
    if working.calls != 1 or second.kind != "value" or second.value != settings(1):
        raise Fail(f"after a load raised, the next call made {plural(working.calls, 'load')} "
                   f"and {second.describe()} (expected 1 new load and its settings)")
    return "a failed load raised LoadError; the next call loaded again (1 load) and got its settings"


h.run()
