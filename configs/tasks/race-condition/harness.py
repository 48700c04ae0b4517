"""Harness for the `race-condition` task: a cache-stampede fix for `get_or_fetch`.

The task is the founding article's ("Benchmark: Python race-condition diagnosis across
Claude", aigentic.blog, 2026-05-22). A fix passes when:
- 200 concurrent callers of one missing key cause exactly one fetch and all get its value;
- a later call is served from the cache, with no new fetch;
- callers of distinct keys are not serialized (a global lock fails here);
- when the fetch fails, every concurrent caller sees its error, from that one fetch;
- a failed fetch is not cached: the next call fetches again;
- the function keeps its signature `async def get_or_fetch(key, fetcher)`.
"""

import asyncio
import time

from harnesslib import (OBSERVATIONS, Fail, check, check_imports, check_signature, describe,
                        finish, load_solution, plural, run_async, settle)


KEY = "user:42"
CALLERS = 200
DISTINCT = 10
FETCH_SECONDS = 0.01
SLOW_FETCH_SECONDS = 0.02
DEFAULTS = {"cache": dict}


class FetchError(Exception):
    """The fake backend's failure."""


class Backend:
    """A fake fetcher: counts fetches and how many run at once; each fetch returns a new
    value naming its key and its number, or raises FetchError."""

    def __init__(self, seconds=FETCH_SECONDS, fail=False):
        self.seconds = seconds
        self.fail = fail
        self.calls = 0
        self.active = 0
        self.peak = 0

    async def fetch(self, key):
        self.calls += 1
        n = self.calls
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise FetchError(f"backend unavailable (fetch #{n} of {key!r})")
            return {"key": key, "fetch": n}
        finally:
            self.active -= 1


def solution():
    return load_solution(DEFAULTS)


async def call(fn, key, fetcher):
    return await fn(key, fetcher)


def spawn(fn, keys, fetcher):
    return [asyncio.ensure_future(call(fn, key, fetcher)) for key in keys]


def single_flight():
    for round_no in (1, 2):
        mod = solution()
        backend = Backend()

        async def scenario():
            return await settle(spawn(mod.get_or_fetch, [KEY] * CALLERS, backend.fetch), 1.0)

        values, errors, pending = run_async(scenario)
        distinct = {v["fetch"] if isinstance(v, dict) and "fetch" in v else repr(v) for v in values}
        OBSERVATIONS["single-flight"] = {"round": round_no, "callers": CALLERS,
                                         "fetches": backend.calls, "distinct_values": len(distinct),
                                         "errors": len(errors), "pending": pending}
        if backend.calls != 1 or len(values) != CALLERS or len(distinct) != 1:
            msg = (f"{CALLERS} concurrent callers of one missing key caused "
                   f"{plural(backend.calls, 'fetch')} and got {len(distinct)} different values")
            if errors:
                msg += f"; {len(errors)} raised, the first {describe(errors[0])}"
            if pending:
                msg += f"; {pending} were still waiting after 1 s"
            raise Fail(msg + f" (round {round_no})")
    return (f"{CALLERS} concurrent callers of one missing key caused 1 fetch and all got "
            f"its value (2 rounds)")


def served_from_cache():
    mod = solution()
    first, later = Backend(), Backend()

    async def scenario():
        a = await asyncio.wait_for(call(mod.get_or_fetch, KEY, first.fetch), 0.5)
        b = await asyncio.wait_for(call(mod.get_or_fetch, KEY, later.fetch), 0.5)
        c = await asyncio.wait_for(call(mod.get_or_fetch, KEY, later.fetch), 0.5)
        return a, b, c

    a, b, c = run_async(scenario)
    OBSERVATIONS["served-from-cache"] = {"first_fetches": first.calls, "later_fetches": later.calls}
    if later.calls:
        raise Fail(f"2 later calls for a key already fetched caused {plural(later.calls, 'fetch')} "
                   f"(the value was not kept in the cache)")
    if not (a == b == c) or first.calls != 1:
        raise Fail(f"a key fetched once ({plural(first.calls, 'fetch')}) then read twice gave "
                   f"{a!r}, {b!r}, {c!r}: later calls did not return the fetched value")
    return "after 1 fetch, 2 later calls returned the cached value with no new fetch"


def distinct_keys():
    mod = solution()
    backend = Backend(seconds=SLOW_FETCH_SECONDS)
    keys = [f"key:{i}" for i in range(DISTINCT)]

    async def scenario():
        started = time.perf_counter()
        out = await settle(spawn(mod.get_or_fetch, keys, backend.fetch), 1.0)
        return out, time.perf_counter() - started

    (values, errors, pending), elapsed = run_async(scenario)
    OBSERVATIONS["distinct-keys-concurrent"] = {"keys": DISTINCT, "fetches": backend.calls,
                                                "peak_concurrent_fetches": backend.peak,
                                                "elapsed_seconds": round(elapsed, 4)}
    if errors or pending:
        raise Fail(f"of {DISTINCT} callers of distinct keys, {len(errors)} raised and {pending} "
                   f"were still waiting after 1 s" + (f"; first error {describe(errors[0])}" if errors else ""))
    wrong = [v for v, k in zip(values, keys) if not (isinstance(v, dict) and v.get("key") == k)]
    if wrong:
        raise Fail(f"{len(wrong)} of {DISTINCT} callers of distinct keys got another key's value, "
                   f"e.g. {wrong[0]!r}")
    if backend.peak < DISTINCT:
        raise Fail(f"{DISTINCT} concurrent callers of {DISTINCT} distinct keys ran at most "
                   f"{plural(backend.peak, 'fetch')} at once and took {elapsed:.2f} s (one fetch takes "
                   f"{SLOW_FETCH_SECONDS} s): callers of different keys wait for each other")
    return (f"{DISTINCT} concurrent callers of {DISTINCT} distinct keys ran {DISTINCT} fetches at "
            f"once and took {elapsed:.3f} s (one fetch takes {SLOW_FETCH_SECONDS} s)")


def failure_reaches_waiters():
    mod = solution()
    backend = Backend(fail=True)
    n = 50

    async def scenario():
        started = time.perf_counter()
        out = await settle(spawn(mod.get_or_fetch, [KEY] * n, backend.fetch), 1.0)
        return out, time.perf_counter() - started

    (values, errors, pending), elapsed = run_async(scenario)
    fetch_errors = [e for e in errors if isinstance(e, FetchError)]
    OBSERVATIONS["failure-reaches-waiters"] = {"callers": n, "fetches": backend.calls,
                                               "peak_concurrent_fetches": backend.peak,
                                               "raised_fetch_error": len(fetch_errors),
                                               "got_value": len(values), "pending": pending,
                                               "elapsed_seconds": round(elapsed, 4)}
    if pending:
        raise Fail(f"{pending} of {n} concurrent callers were still waiting 1 s after the "
                   f"fetch failed (its error never reached them)")
    if values:
        raise Fail(f"{len(values)} of {n} concurrent callers of a failing fetch got a value "
                   f"({values[0]!r}) instead of its error")
    if len(fetch_errors) != n:
        other = [e for e in errors if not isinstance(e, FetchError)]
        raise Fail(f"{len(other)} of {n} concurrent callers of a failing fetch raised "
                   f"{describe(other[0])} instead of the fetch's FetchError")
    if backend.calls != 1:
        how = "one after another" if backend.peak == 1 else "concurrently"
        raise Fail(f"{n} concurrent callers of a failing fetch caused {backend.calls} fetches, "
                   f"{how}, in {elapsed:.2f} s (one fetch takes {FETCH_SECONDS} s): the waiters "
                   f"fetched again instead of seeing the failed fetch's error")
    return f"{n} concurrent callers of a failing fetch all raised its FetchError, after 1 fetch"


def failure_not_cached():
    mod = solution()
    bad, good = Backend(fail=True), Backend()

    async def scenario():
        outcomes = []
        for backend in (bad, good):
            try:
                outcomes.append(("value", await asyncio.wait_for(
                    call(mod.get_or_fetch, KEY, backend.fetch), 0.5)))
            except asyncio.TimeoutError:
                outcomes.append(("timeout", None))
            except Exception as e:  # noqa: BLE001
                outcomes.append(("error", e))
        return outcomes

    (k1, r1), (k2, r2) = run_async(scenario)
    OBSERVATIONS["failure-not-cached"] = {"failing_fetches": bad.calls, "retry_fetches": good.calls}
    if k1 != "error" or not isinstance(r1, FetchError):
        raise Fail(f"a call whose fetch failed did not raise its FetchError: "
                   + (f"got {r1!r}" if k1 == "value" else "it hung" if k1 == "timeout" else describe(r1)))
    if k2 == "timeout":
        raise Fail("after a failed fetch, the next call was still waiting 0.5 s later")
    if good.calls == 0:
        got = describe(r2) if k2 == "error" else repr(r2)
        raise Fail(f"after a failed fetch, the next call did not fetch again and got {got}: "
                   f"the failure was cached")
    if k2 != "value" or r2 != {"key": KEY, "fetch": 1}:
        got = describe(r2) if k2 == "error" else repr(r2)
        raise Fail(f"after a failed fetch, the next call fetched again but got {got} "
                   f"instead of the new value")
    return ("a failed fetch raised its error; the next call fetched again (1 fetch) and "
            "got the new value")


check_imports(["get_or_fetch"])
check_signature("get_or_fetch", ["key", "fetcher"], True, DEFAULTS)
check("single-flight", single_flight)
check("served-from-cache", served_from_cache)
check("distinct-keys-concurrent", distinct_keys)
check("failure-reaches-waiters", failure_reaches_waiters)
check("failure-not-cached", failure_not_cached)
finish()
