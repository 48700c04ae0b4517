"""Harness for the `race-condition` task: a cache-stampede fix for `get_or_fetch`.

The task is the founding article's ("Benchmark: Python race-condition diagnosis across
Claude", aigentic.blog, 2026-05-22). The answer's code runs in its own process; every fetch
it makes is served and counted here (see harnesslib). Which checks are required, and why,
is in checks.md. A fix passes when:
- 200 concurrent callers of one missing key cause exactly one fetch and all get its value;
- a later call is served from the cache, with no new fetch;
- callers of distinct keys are not serialized (a global lock fails here);
- when the fetch fails, every concurrent caller raises its error, none hangs;
- a failed fetch is not cached: the next call fetches again;
- the function keeps its signature `async def get_or_fetch(key, fetcher)`.
Advisory: when the fetch fails, the concurrent callers share that one failed fetch instead
of fetching again one after another (a lock per key with a re-check does not).
"""

import asyncio
import time

from harnesslib import TOKEN, Fail, Gate, Harness, Raise, count, plural

KEY = "user:42"
CALLERS = 200
DISTINCT = 10
FETCH_SECONDS = 0.01
SLOW_FETCH_SECONDS = 0.02

h = Harness("get_or_fetch", ["key", "fetcher"], is_async=True, defaults={"cache": "cache = {}"})


class Backend:
    """The fetcher the answer is given, served here: counts fetches and how many run at
    once; each fetch returns a new value naming its key, its number and this run's token,
    or raises FetchError. With `gate` (a harnesslib Gate), fetches start together behind it."""

    def __init__(self, s, seconds=FETCH_SECONDS, fail=False, gate=None):
        self.seconds, self.fail, self.gate = seconds, fail, gate
        self.calls = self.active = self.peak = 0
        self.proxy = s.proxy(self.fetch)

    async def fetch(self, key):
        self.calls += 1
        n = self.calls
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.passage()
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise Raise("FetchError", f"backend unavailable (fetch #{n} of {key!r}) [{TOKEN}]")
            return {"key": key, "fetch": n, "token": TOKEN}
        finally:
            self.active -= 1


def value(key, n):
    return {"key": key, "fetch": n, "token": TOKEN}


def fetch_error(o):
    return o.raised("FetchError", TOKEN)


@h.check("single-flight", "the prompt: the function \"intermittently returns stale data\"")
async def single_flight(s):
    for round_no in (1, 2):
        if round_no == 2:
            s = await h.fresh(s)
        backend = Backend(s)
        outcomes = await s.settle(s.calls("get_or_fetch", [(KEY, backend.proxy)] * CALLERS), 1.0)
        values, raised, _, pending = count(outcomes)
        right = sum(1 for o in values if o.value == value(KEY, 1))
        h.observe("single-flight", round=round_no, callers=CALLERS, fetches=backend.calls,
                  right_values=right, raised=len(raised), pending=len(pending))
        if backend.calls != 1 or right != CALLERS:
            distinct = len({repr(o.value) for o in values})
            msg = (f"{CALLERS} concurrent callers of one missing key caused "
                   f"{plural(backend.calls, 'fetch')} and got {plural(distinct, 'different value')}")
            if raised:
                msg += f"; {len(raised)} raised, the first {raised[0].describe()}"
            if pending:
                msg += f"; {len(pending)} were still waiting after 1 s"
            raise Fail(msg + f" (round {round_no})")
    return f"{CALLERS} concurrent callers of one missing key caused 1 fetch and all got its value (2 rounds)"


@h.check("served-from-cache", "the original code caches: a corrected version keeps caching")
async def served_from_cache(s):
    first, later = Backend(s), Backend(s)
    got = []
    for backend in (first, later, later):
        [o] = await s.settle([s.call("get_or_fetch", KEY, backend.proxy)], 0.5)
        got.append(o)
    h.observe("served-from-cache", first_fetches=first.calls, later_fetches=later.calls)
    if later.calls:
        raise Fail(f"2 later calls for a key already fetched caused {plural(later.calls, 'fetch')} "
                   f"(the value was not kept in the cache)")
    if first.calls != 1 or any(o.kind != "value" or o.value != value(KEY, 1) for o in got):
        raise Fail(f"a key fetched once ({plural(first.calls, 'fetch')}) then read twice: the calls "
                   + ", ".join(o.describe() for o in got) + "; later calls did not return the fetched value")
    return "after 1 fetch, 2 later calls returned the cached value with no new fetch"


@h.check("distinct-keys-concurrent",
         "the original code fetches distinct keys concurrently: serializing every fetch of the "
         "process is a new bug on the normal path, not a correction")
async def distinct_keys(s):
    backend = Backend(s, seconds=SLOW_FETCH_SECONDS, gate=Gate(DISTINCT))
    keys = [f"key:{i}" for i in range(DISTINCT)]
    started = time.perf_counter()
    outcomes = await s.settle(s.calls("get_or_fetch", [(k, backend.proxy) for k in keys]), 1.0)
    elapsed = time.perf_counter() - started
    values, raised, _, pending = count(outcomes)
    h.observe("distinct-keys-concurrent", keys=DISTINCT, fetches=backend.calls,
              peak_concurrent_fetches=backend.peak, elapsed_seconds=round(elapsed, 4))
    if raised or pending:
        raise Fail(f"of {DISTINCT} callers of distinct keys, {len(raised)} raised and {len(pending)} "
                   f"were still waiting after 1 s" + (f"; the first {raised[0].describe()}" if raised else ""))
    wrong = [o for o, k in zip(outcomes, keys) if not (isinstance(o.value, dict) and o.value.get("key") == k
                                                       and o.value.get("token") == TOKEN)]
    if wrong:
        raise Fail(f"{len(wrong)} of {DISTINCT} callers of distinct keys did not get their key's "
                   f"value, e.g. one {wrong[0].describe()}")
    if backend.peak < DISTINCT:
        raise Fail(f"{DISTINCT} concurrent callers of {DISTINCT} distinct keys ran at most "
                   f"{plural(backend.peak, 'fetch')} at once and took {elapsed:.2f} s (one fetch takes "
                   f"{SLOW_FETCH_SECONDS} s): callers of different keys wait for each other")
    return (f"{DISTINCT} concurrent callers of {DISTINCT} distinct keys ran {DISTINCT} fetches at "
            f"once and took {elapsed:.3f} s (one fetch takes {SLOW_FETCH_SECONDS} s)")


_FAILING = []


async def failing_stampede(s, n):
    """n concurrent callers of a failing fetch; run once, read by two checks."""
    if not _FAILING:
        backend = Backend(s, fail=True)
        started = time.perf_counter()
        outcomes = await s.settle(s.calls("get_or_fetch", [(KEY, backend.proxy)] * n), 1.5)
        _FAILING.append((backend, outcomes, time.perf_counter() - started))
    return _FAILING[0]


@h.check("failure-reaches-waiters",
         "the original code never hangs and never hands out a value it did not fetch: when the "
         "fetch fails, every caller must get an error, not a hang", timeout=2.5)
async def failure_reaches_waiters(s):
    n = 50
    backend, outcomes, elapsed = await failing_stampede(s, n)
    values, raised, cancelled, pending = count(outcomes)
    errors = [o for o in raised if fetch_error(o)]
    h.observe("failure-reaches-waiters", callers=n, fetches=backend.calls,
              raised_fetch_error=len(errors), got_value=len(values), pending=len(pending),
              elapsed_seconds=round(elapsed, 4))
    if pending:
        raise Fail(f"{len(pending)} of {n} concurrent callers were still waiting 1.5 s after the "
                   f"fetch failed (its error never reached them)")
    if values:
        raise Fail(f"{len(values)} of {n} concurrent callers of a failing fetch got a value "
                   f"(one {values[0].describe()}) instead of its error")
    if len(errors) != n:
        other = [o for o in outcomes if not fetch_error(o)]
        raise Fail(f"{len(other)} of {n} concurrent callers of a failing fetch did not raise the "
                   f"fetch's FetchError: one {other[0].describe()}")
    return f"{n} concurrent callers of a failing fetch all raised a FetchError ({plural(backend.calls, 'fetch')})"


@h.check("failure-coalesced",
         "not asked by the prompt (stale data on success); the waiters of a failed fetch sharing "
         "its error is a quality difference, reported", required=False, timeout=2.5)
async def failure_coalesced(s):
    n = 50
    backend, outcomes, elapsed = await failing_stampede(s, n)
    h.observe("failure-coalesced", callers=n, fetches=backend.calls,
              peak_concurrent_fetches=backend.peak, elapsed_seconds=round(elapsed, 4))
    shared = sum(1 for o in outcomes if o.raised("FetchError", f"fetch #1 of {KEY!r}"))
    if backend.calls == 0:
        raise Fail(f"{n} concurrent callers of a failing fetch made no fetch")
    if backend.calls == 1 and shared != n:
        raise Fail(f"{n} concurrent callers of a failing fetch caused 1 fetch, but only {shared} "
                   f"of them raised its FetchError")
    if backend.calls != 1:
        how = "one after another" if backend.peak == 1 else "concurrently"
        raise Fail(f"{n} concurrent callers of a failing fetch caused {plural(backend.calls, 'fetch')}, "
                   f"{how}, in {elapsed:.2f} s (one fetch takes {FETCH_SECONDS} s): the waiters "
                   f"fetched again instead of receiving the failed fetch's error")
    return f"{n} concurrent callers of a failing fetch all raised its FetchError, after 1 fetch"


@h.check("failure-not-cached", "the original code does not cache failures: a corrected version "
         "must not make one failed fetch permanent")
async def failure_not_cached(s):
    bad, good = Backend(s, fail=True), Backend(s)
    [first] = await s.settle([s.call("get_or_fetch", KEY, bad.proxy)], 0.5)
    [second] = await s.settle([s.call("get_or_fetch", KEY, good.proxy)], 0.5)
    h.observe("failure-not-cached", failing_fetches=bad.calls, retry_fetches=good.calls)
    if not fetch_error(first):
        raise Fail(f"a call whose fetch failed did not raise its FetchError: it {first.describe()}")
    if second.kind == "pending":
        raise Fail("after a failed fetch, the next call was still waiting 0.5 s later")
    if good.calls == 0:
        raise Fail(f"after a failed fetch, the next call did not fetch again and {second.describe()}: "
                   f"the failure was cached")
    if second.kind != "value" or second.value != value(KEY, 1):
        raise Fail(f"after a failed fetch, the next call fetched again but {second.describe()} "
                   f"instead of the new value")
    return "a failed fetch raised its error; the next call fetched again (1 fetch) and got the new value"


h.run()
