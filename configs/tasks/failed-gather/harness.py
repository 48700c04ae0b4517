"""Harness for the `failed-gather` task: fetches left running after a failed gather.

The answer's code runs in its own process; every fetch it makes is served here, where its
running, cancellation and cleanup are observed by this process's clock (see harnesslib).
Which checks are required, and why, is in checks.md. A fix passes when:
- 8 fetches run concurrently and the bodies come back in the order of the URLs;
- when a fetch fails, fetch_all raises its FetchError (or an ExceptionGroup holding it,
  as asyncio.TaskGroup does) instead of returning;
- it raises as soon as the fetch fails (0.005 s), not after the others (2 s);
- at the moment it raises, no other fetch is still running: each was cancelled and its
  cleanup finished (cancelling without awaiting fails here), and none completes later;
- `fetch_all` keeps its signature `async def fetch_all(urls, fetch)`.
"""

import asyncio
import time

from harnesslib import TOKEN, Fail, Gate, Harness, Raise, plural

N = 8
URLS = [f"https://api.example.test/items/{i}" for i in range(N)]
BAD = URLS[3]
FAIL_AFTER = 0.005
SLOW_SECONDS = 2.0
# Long enough that a cleanup still running when fetch_all ends is seen running here even
# when a loaded machine delays the child's next message by tens of milliseconds.
CLOSE_SECONDS = 0.05
WAIT = 1.0

h = Harness("fetch_all", ["urls", "fetch"], is_async=True)


class Web:
    """The `fetch` the answer is given, served here: each URL succeeds or fails after a set
    time; counts fetches running at once, and on cancellation takes CLOSE_SECONDS to close
    its connection. With `gate` (a harnesslib Gate), fetches start together behind it."""

    def __init__(self, s, plan, gate=None):
        self.plan, self.gate = plan, gate
        self.active = self.peak = self.cancelled = self.closed = self.completed_late = 0
        self.finished = False  # set once fetch_all has returned or raised
        self.proxy = s.proxy(self.fetch)

    async def fetch(self, url):
        kind, seconds = self.plan.get(url, ("fail", 0))
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.passage()
            await asyncio.sleep(seconds)
            if kind == "fail":
                raise Raise("FetchError", f"GET {url}: 503 Service Unavailable [{TOKEN}]")
            if self.finished:
                self.completed_late += 1
            return f"body of {url} [{TOKEN}]"
        except asyncio.CancelledError:
            self.cancelled += 1
            await asyncio.sleep(CLOSE_SECONDS)  # closing the connection takes a moment
            self.closed += 1
            raise
        finally:
            self.active -= 1


def snapshot(web):
    return {"running": web.active, "cancelled": web.cancelled, "closed": web.closed}


async def observe(s, web, timeout=WAIT):
    """Run fetch_all: (outcome, seconds, snapshot when this process saw it end)."""
    started = time.perf_counter()
    call = s.call("fetch_all", URLS, web.proxy)
    [o] = await s.settle([call], timeout)
    seconds = time.perf_counter() - started
    web.finished = True
    return o, seconds, snapshot(web)


def plan(default, bad=None):
    p = {url: default for url in URLS}
    if bad:
        p[BAD] = bad
    return p


def failing_plan():
    return plan(("ok", SLOW_SECONDS), ("fail", FAIL_AFTER))


def holds_fetch_error(o):
    return o.raised("FetchError", TOKEN)


@h.check("returns-in-order", "the docstring: \"return the bodies, in the order of `urls`\"")
async def returns_in_order(s):
    web = Web(s, {url: ("ok", (N - i) * 0.002) for i, url in enumerate(URLS)})
    o, _, _ = await observe(s, web)
    want = [f"body of {url} [{TOKEN}]" for url in URLS]
    if o.kind == "pending":
        raise Fail(f"fetch_all of {N} URLs (each under 0.02 s) had not returned after {WAIT} s")
    if o.kind != "value":
        raise Fail(f"fetch_all of {N} URLs that all succeed {o.describe()}")
    if not isinstance(o.value, (list, tuple)) or list(o.value) != want:
        raise Fail(f"fetch_all {o.describe()}, not the {N} bodies in the order of the URLs")
    return f"fetch_all of {N} URLs finishing in reverse order returned the bodies in URL order"


@h.check("fetches-concurrent", "the docstring: \"Fetch every URL concurrently\"")
async def fetches_concurrent(s):
    web = Web(s, plan(("ok", 0.02)), gate=Gate(N))
    o, seconds, _ = await observe(s, web)
    h.observe("fetches-concurrent", urls=N, peak_concurrent_fetches=web.peak, seconds=round(seconds, 4))
    if web.peak < N:
        raise Fail(f"fetch_all of {N} URLs ran at most {plural(web.peak, 'fetch')} at once "
                   f"(one takes 0.02 s; " + (f"not finished after {WAIT} s" if o.kind == "pending" else f"took {seconds:.2f} s") + "): "
                   f"the fetches do not run concurrently")
    return f"fetch_all of {N} URLs ran {N} fetches at once and took {seconds:.3f} s"


@h.check("error-propagates", "the docstring: \"If any fetch fails, fetch_all raises its error\"")
async def error_propagates(s):
    web = Web(s, plan(("ok", 0.01), ("fail", FAIL_AFTER)))
    o, _, _ = await observe(s, web)
    if o.kind == "pending":
        raise Fail(f"fetch_all had not returned or raised {WAIT} s after one of {N} fetches "
                   f"failed (the others take 0.01 s)")
    if o.kind == "value":
        raise Fail(f"one of {N} fetches failed but fetch_all {o.describe()} instead of raising: "
                   f"the error was swallowed")
    if not holds_fetch_error(o):
        raise Fail(f"one of {N} fetches raised FetchError but fetch_all {o.describe()} instead")
    how = "its FetchError" if o.error == "FetchError" else f"an {o.error} holding its FetchError"
    return f"one of {N} fetches failed and fetch_all raised {how}"


@h.check("fails-fast", "the prompt: \"After a batch fails, our HTTP client keeps sending requests "
         "for that batch for several seconds\": a fix that waits for the batch keeps that")
async def fails_fast(s):
    web = Web(s, failing_plan())
    o, seconds, _ = await observe(s, web)
    h.observe("fails-fast", raised_after_seconds=round(seconds, 4) if o.kind != "pending" else None)
    if o.kind == "pending":
        raise Fail(f"one of {N} fetches failed after {FAIL_AFTER} s, but fetch_all had not "
                   f"raised {WAIT} s later (the other fetches take {SLOW_SECONDS:g} s): it waits "
                   f"for them instead of failing")
    if not holds_fetch_error(o):
        raise Fail(f"one of {N} fetches failed and fetch_all {o.describe()} instead of raising its error")
    return f"one of {N} fetches failed after {FAIL_AFTER} s and fetch_all raised {seconds:.3f} s after it started"


@h.check("no-orphans", "the prompt: the batch's requests keep running after it failed, the "
         "connection pool runs dry")
async def no_orphans(s):
    web = Web(s, failing_plan())
    o, _, at_end = await observe(s, web)
    await asyncio.sleep(0.05)
    running_later, completed_late = web.active, web.completed_late
    others = N - 1
    running, cancelled = at_end["running"], at_end["cancelled"]
    h.observe("no-orphans", when_it_ended=at_end, running_later=running_later,
              completed_after_it_ended=completed_late)
    if o.kind == "pending":
        raise Fail(f"fetch_all had not raised {WAIT} s after a fetch failed; {running} of the "
                   f"other {others} fetches were still running")
    if running:
        how = (f"{cancelled} had been cancelled but not awaited, so their cleanup ran after "
               f"fetch_all had raised" if cancelled else "none had been cancelled")
        which = f"all {others} other fetches were" if running == others else f"{running} of the other {others} fetches were"
        raise Fail(f"when fetch_all raised, {which} still running ({how})")
    if completed_late or running_later:
        raise Fail(f"after fetch_all raised, {completed_late} fetches still completed and "
                   f"{running_later} were running 0.05 s later")
    return (f"when fetch_all raised, none of the other {others} fetches was running: "
            f"{at_end['closed']} were cancelled and closed before it raised")


h.run()
