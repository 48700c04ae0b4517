"""Harness for the `unbounded-fanout` task: a fan-out that must stay under 10 requests in
flight for the whole process.

The answer's code runs in its own process; every request it makes is served here, where the
requests in flight are counted (see harnesslib). Which checks are required, and why, is in
checks.md. A fix passes when:
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

from harnesslib import TOKEN, Fail, Gate, Harness, Raise, count, plural, short

LIMIT = 10
REQUEST_SECONDS = 0.002  # long enough for requests sent together to overlap here
WAIT = 1.0

h = Harness("download_all", ["urls", "fetch"], is_async=True,
            defaults={"MAX_IN_FLIGHT": "MAX_IN_FLIGHT = 10"})


class Api:
    """The `fetch` the answer is given, served here: counts requests in flight (and the
    peak); the URLs in `failing` fail. With `gate` (a harnesslib Gate), requests start
    together behind it: a peak measured that way does not depend on how fast a loaded
    machine starts the answer's requests."""

    def __init__(self, s, seconds=REQUEST_SECONDS, failing=(), delays=None, gate=None):
        self.seconds, self.delays, self.failing = seconds, delays or {}, set(failing)
        self.gate = gate
        self.active = self.peak = self.requests = 0
        self.proxy = s.proxy(self.fetch)

    async def fetch(self, url):
        self.requests += 1
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.passage()
            await asyncio.sleep(self.delays.get(url, self.seconds))
            if url in self.failing:
                raise Raise("FetchError", f"GET {url}: 500 Internal Server Error [{TOKEN}]")
            return f"body of {url}"
        finally:
            self.active -= 1


def urls(n, prefix="u"):
    return [f"https://partner.example.test/{prefix}/{i}" for i in range(n)]


async def calls(s, api, batches, timeout=WAIT):
    """download_all once per batch, concurrently: (outcomes, seconds)."""
    started = time.perf_counter()
    outcomes = await s.settle(s.calls("download_all", [(b, api.proxy) for b in batches]), timeout)
    return outcomes, time.perf_counter() - started


def incomplete(what, outcomes):
    values, raised, cancelled, pending = count(outcomes)
    if pending:
        return f"{what}: {len(pending)} call(s) had not finished after {WAIT:g} s"
    if raised or cancelled:
        return f"{what}: download_all {(raised or cancelled)[0].describe()}"
    return None


@h.check("returns-in-order", "the docstring: \"return the bodies, in the order of `urls`\"")
async def returns_in_order(s):
    batch = urls(30)
    api = Api(s, delays={u: (30 - i) * 0.0005 for i, u in enumerate(batch)})
    outcomes, _ = await calls(s, api, [batch])
    problem = incomplete("download_all of 30 URLs that all succeed", outcomes)
    if problem:
        raise Fail(problem)
    want = [f"body of {u}" for u in batch]
    got = outcomes[0].value
    if not isinstance(got, (list, tuple)) or list(got) != want:
        raise Fail(f"download_all of 30 URLs did not return the bodies in the order of the URLs: "
                   f"it returned {short(repr(got), 100)}")
    return "download_all of 30 URLs finishing in reverse order returned the bodies in URL order"


@h.check("limit-holds", "the prompt: a few thousand URLs get \"429 Too Many Requests\"; the code: "
         "\"the API allows at most 10 requests in flight\"")
async def limit_holds(s):
    api = Api(s)
    outcomes, _ = await calls(s, api, [urls(200)])
    h.observe("limit-holds", urls=200, peak_in_flight=api.peak)
    if api.peak > LIMIT:
        raise Fail(f"download_all of 200 URLs had {api.peak} requests in flight at once "
                   f"(the limit is {LIMIT})")
    problem = incomplete("download_all of 200 URLs", outcomes)
    if problem:
        raise Fail(problem)
    return f"download_all of 200 URLs had at most {api.peak} requests in flight (the limit is {LIMIT})"


@h.check("limit-holds-across-calls", "the code: \"at most 10 requests in flight from this "
         "process\"; the docstring: \"Called by many request handlers at once\"")
async def limit_across_calls(s):
    api = Api(s)
    outcomes, _ = await calls(s, api, [urls(40, p) for p in "abc"])
    h.observe("limit-holds-across-calls", calls=3, urls_each=40, peak_in_flight=api.peak)
    if api.peak > LIMIT:
        raise Fail(f"3 concurrent calls of download_all with 40 URLs each had {api.peak} requests "
                   f"in flight together (the limit of {LIMIT} is for the whole process)")
    problem = incomplete("3 concurrent calls of download_all", outcomes)
    if problem:
        raise Fail(problem)
    return (f"3 concurrent calls of download_all with 40 URLs each had at most {api.peak} "
            f"requests in flight together")


@h.check("uses-full-limit", "the original code downloads concurrently and the API allows 10 "
         "in flight: a sequential fix is a tenfold slowdown of the normal path")
async def uses_full_limit(s):
    api = Api(s, seconds=0.005)
    outcomes, seconds = await calls(s, api, [urls(50)])
    h.observe("uses-full-limit", urls=50, peak_in_flight=api.peak, seconds=round(seconds, 4))
    problem = incomplete("download_all of 50 URLs", outcomes)
    if problem:
        raise Fail(problem)
    if api.peak < LIMIT:
        raise Fail(f"download_all of 50 URLs had at most {plural(api.peak, 'request')} in flight and took "
                   f"{seconds:.2f} s (one request takes 0.005 s, so {LIMIT} in flight take about "
                   f"{50 / LIMIT * 0.005:.3f} s): it does not use the {LIMIT} allowed")
    return (f"download_all of 50 URLs reached {api.peak} requests in flight and took "
            f"{seconds:.3f} s (one request takes 0.005 s)")


@h.check("permits-released-on-error", "the docstring: \"If a download fails, download_all raises "
         "its error\"; a permit leaked per failure shrinks the limit until nothing runs")
async def permits_released(s):
    first = urls(20, "f")
    failing, after = Api(s, failing=first[:5]), Api(s, gate=Gate(LIMIT))
    [o1], _ = await calls(s, failing, [first])
    for _ in range(100):  # let requests the failed call left running finish
        if failing.active == 0:
            break
        await asyncio.sleep(0.005)
    outcomes2, _ = await calls(s, after, [urls(40, "g")], 0.5)
    o2 = outcomes2[0]
    h.observe("permits-released-on-error", peak_in_flight_after=after.peak)
    if o1.kind == "pending":
        raise Fail(f"a call in which 5 of 20 requests fail had not finished after {WAIT:g} s")
    if not o1.raised("FetchError", TOKEN):
        raise Fail(f"a call in which 5 of 20 requests fail {o1.describe()} instead of raising their FetchError")
    if o2.kind == "pending":
        raise Fail(f"after a call in which 5 requests failed, the next call of 40 URLs had not "
                   f"finished 0.5 s later, with at most {plural(after.peak, 'request')} in flight "
                   f"(permits were not released when a request failed)")
    if o2.kind != "value":
        raise Fail(f"after a call in which 5 requests failed, the next call {o2.describe()}")
    if after.peak < LIMIT:
        raise Fail(f"after a call in which 5 requests failed, the next call had at most "
                   f"{after.peak} requests in flight instead of {LIMIT} "
                   f"({LIMIT - after.peak} permits leaked by the failed requests)")
    return (f"a call in which 5 requests failed raised their FetchError; the next call "
            f"still reached {LIMIT} requests in flight")


h.run()
