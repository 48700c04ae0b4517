"""Harness for the `unbounded-fanout` task: a fan-out that must stay under 10 requests in
flight for the whole process.

A fix passes when:
- the bodies come back in the order of the URLs;
- one call with 200 URLs never has more than 10 requests in flight;
- 3 concurrent calls with 40 URLs each never have more than 10 in flight together (a
  semaphore created per call fails here);
- a call with 50 URLs does reach 10 in flight (a sequential fix fails here, with timing);
- after a call in which 5 requests fail (it raises their error), the next call still gets
  10 requests in flight (permits are not leaked on errors);
- `download_all` keeps its signature `async def download_all(urls, fetch)`.
"""

import asyncio
import time

from harnesslib import (OBSERVATIONS, Fail, check, check_imports, check_signature, describe,
                        finish, load_solution, plural, run_async, settle)


LIMIT = 10
REQUEST_SECONDS = 0  # one yield to the event loop: a request stays in flight across it
WAIT = 1.0
DEFAULTS = {"MAX_IN_FLIGHT": lambda: LIMIT}


class FetchError(Exception):
    """The fake API's failure."""


class Api:
    """A fake `fetch`: counts requests in flight (and the peak); the URLs in `failing`
    fail."""

    def __init__(self, seconds=REQUEST_SECONDS, failing=(), delays=None):
        self.seconds = seconds
        self.delays = delays or {}
        self.failing = set(failing)
        self.active = 0
        self.peak = 0
        self.requests = 0

    async def fetch(self, url):
        self.requests += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.delays.get(url, self.seconds))
            if url in self.failing:
                raise FetchError(f"GET {url}: 500 Internal Server Error")
            return f"body of {url}"
        finally:
            self.active -= 1


def urls(n, prefix="u"):
    return [f"https://partner.example.test/{prefix}/{i}" for i in range(n)]


def holds_fetch_error(e):
    if isinstance(e, FetchError):
        return True
    return isinstance(e, BaseExceptionGroup) and e.subgroup(FetchError) is not None


async def calls(mod, api, batches, timeout=WAIT):
    """Run download_all once per batch, concurrently; (values, errors, pending, seconds)."""
    started = time.perf_counter()

    async def one(batch):
        return await mod.download_all(batch, api.fetch)

    out = await settle([asyncio.ensure_future(one(b)) for b in batches], timeout)
    return out + (time.perf_counter() - started,)


def run(batches, api):
    mod = load_solution(DEFAULTS)
    return run_async(lambda: calls(mod, api, batches))


def incomplete(what, values, errors, pending):
    if pending:
        return f"{what}: {pending} call(s) had not finished after {WAIT:g} s"
    if errors:
        return f"{what}: download_all raised {describe(errors[0])}"
    return None


def returns_in_order():
    batch = urls(30)
    api = Api(delays={u: (30 - i) * 0.0005 for i, u in enumerate(batch)})  # later URLs finish first
    values, errors, pending, _ = run([batch], api)
    problem = incomplete("download_all of 30 URLs that all succeed", values, errors, pending)
    if problem:
        raise Fail(problem)
    want = [f"body of {u}" for u in batch]
    if list(values[0]) != want:
        raise Fail(f"download_all of 30 URLs did not return the bodies in the order of the URLs: "
                   f"it began {list(values[0])[:3]!r}")
    return "download_all of 30 URLs finishing in reverse order returned the bodies in URL order"


def limit_holds():
    api = Api()
    values, errors, pending, _ = run([urls(200)], api)
    OBSERVATIONS["limit-holds"] = {"urls": 200, "peak_in_flight": api.peak}
    problem = incomplete("download_all of 200 URLs", values, errors, pending)
    if api.peak > LIMIT:
        raise Fail(f"download_all of 200 URLs had {api.peak} requests in flight at once "
                   f"(the limit is {LIMIT})")
    if problem:
        raise Fail(problem)
    return f"download_all of 200 URLs had at most {api.peak} requests in flight (the limit is {LIMIT})"


def limit_across_calls():
    api = Api()
    values, errors, pending, _ = run([urls(40, p) for p in "abc"], api)
    OBSERVATIONS["limit-holds-across-calls"] = {"calls": 3, "urls_each": 40, "peak_in_flight": api.peak}
    problem = incomplete("3 concurrent calls of download_all", values, errors, pending)
    if api.peak > LIMIT:
        raise Fail(f"3 concurrent calls of download_all with 40 URLs each had {api.peak} requests "
                   f"in flight together (the limit of {LIMIT} is for the whole process)")
    if problem:
        raise Fail(problem)
    return (f"3 concurrent calls of download_all with 40 URLs each had at most {api.peak} "
            f"requests in flight together")


def uses_full_limit():
    api = Api(seconds=0.005)
    values, errors, pending, seconds = run([urls(50)], api)
    OBSERVATIONS["uses-full-limit"] = {"urls": 50, "peak_in_flight": api.peak,
                                       "seconds": round(seconds, 4)}
    problem = incomplete("download_all of 50 URLs", values, errors, pending)
    if problem:
        raise Fail(problem)
    if api.peak < LIMIT:
        raise Fail(f"download_all of 50 URLs had at most {plural(api.peak, 'request')} in flight and took "
                   f"{seconds:.2f} s (one request takes 0.005 s, so {LIMIT} in flight take about "
                   f"{50 / LIMIT * 0.005:.3f} s): it does not use the {LIMIT} allowed")
    return (f"download_all of 50 URLs reached {api.peak} requests in flight and took "
            f"{seconds:.3f} s (one request takes 0.005 s)")


def permits_released():
    mod = load_solution(DEFAULTS)
    first = urls(20, "f")
    failing = Api(failing=first[:5])
    after = Api()

    async def scenario():
        v1, e1, p1, _ = await calls(mod, failing, [first])
        for _ in range(100):  # let requests the failed call left running finish
            if failing.active == 0:
                break
            await asyncio.sleep(0.005)
        out2 = await calls(mod, after, [urls(40, "g")], 0.5)
        return (v1, e1, p1), out2

    (v1, e1, p1), (_, e2, p2, _) = run_async(scenario)
    OBSERVATIONS["permits-released-on-error"] = {"peak_in_flight_after": after.peak}
    if p1:
        raise Fail(f"a call in which 5 of 20 requests fail had not finished after {WAIT:g} s")
    if not e1 or not holds_fetch_error(e1[0]):
        got = "returned" if v1 else f"raised {describe(e1[0])}"
        raise Fail(f"a call in which 5 of 20 requests fail {got} instead of raising their FetchError")
    if p2:
        raise Fail(f"after a call in which 5 requests failed, the next call of 40 URLs had not "
                   f"finished 0.5 s later, with at most {plural(after.peak, 'request')} in flight "
                   f"(permits were not released when a request failed)")
    if e2:
        raise Fail(f"after a call in which 5 requests failed, the next call raised {describe(e2[0])}")
    if after.peak < LIMIT:
        raise Fail(f"after a call in which 5 requests failed, the next call had at most "
                   f"{after.peak} requests in flight instead of {LIMIT} "
                   f"({LIMIT - after.peak} permits leaked by the failed requests)")
    return (f"a call in which 5 requests failed raised their FetchError; the next call "
            f"still reached {LIMIT} requests in flight")


check_imports(["download_all"])
check_signature("download_all", ["urls", "fetch"], True, DEFAULTS)
check("returns-in-order", returns_in_order)
check("limit-holds", limit_holds)
check("limit-holds-across-calls", limit_across_calls)
check("uses-full-limit", uses_full_limit)
check("permits-released-on-error", permits_released)
finish()
