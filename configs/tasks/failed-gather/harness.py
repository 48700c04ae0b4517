"""Harness for the `failed-gather` task: fetches left running after a failed gather.

A fix passes when:
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

from harnesslib import (OBSERVATIONS, Fail, check, check_imports, check_signature, describe,
                        finish, load_solution, plural, run_async)


N = 8
URLS = [f"https://api.example.test/items/{i}" for i in range(N)]
BAD = URLS[3]
FAIL_AFTER = 0.005
SLOW_SECONDS = 2.0
CLOSE_SECONDS = 0.01
WAIT = 0.5


class FetchError(Exception):
    """The fake HTTP client's failure."""


class Web:
    """A fake `fetch`: each URL succeeds or fails after a set time; counts fetches running
    at once, and on cancellation takes CLOSE_SECONDS to close its connection."""

    def __init__(self, plan):
        self.plan = plan
        self.active = 0
        self.peak = 0
        self.cancelled = 0
        self.closed = 0
        self.completed_late = 0
        self.tasks = []  # the task running each fetch
        self.finished = False  # set once fetch_all has returned or raised

    async def fetch(self, url):
        kind, seconds = self.plan[url]
        self.tasks.append(asyncio.current_task())
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(seconds)
            if kind == "fail":
                raise FetchError(f"GET {url}: 503 Service Unavailable")
            if self.finished:
                self.completed_late += 1
            return f"body of {url}"
        except asyncio.CancelledError:
            self.cancelled += 1
            await asyncio.sleep(CLOSE_SECONDS)  # closing the connection takes a moment
            self.closed += 1
            raise
        finally:
            self.active -= 1


def holds_fetch_error(e):
    if isinstance(e, FetchError):
        return True
    return isinstance(e, BaseExceptionGroup) and e.subgroup(FetchError) is not None


async def observe(mod, web, timeout=WAIT):
    """Run fetch_all; ("value"|"error"|"timeout", result, seconds, snapshot) where the
    snapshot counts the fetches running, cancelled and closed when fetch_all ended."""
    started = time.perf_counter()

    async def run():
        try:
            out = ("value", await mod.fetch_all(URLS, web.fetch))
        except BaseException as e:  # noqa: BLE001
            out = ("error", e)
        web.finished = True
        return out + (time.perf_counter() - started, snapshot(web))

    task = asyncio.ensure_future(run())
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        return ("timeout", None, timeout, snapshot(web))
    return task.result()


def snapshot(web):
    requested = sum(1 for t in web.tasks if t is not None and not t.done() and t.cancelling())
    return {"running": web.active, "cancel_requested": requested, "cancelled": web.cancelled,
            "closed": web.closed}


def plan(default, bad=None):
    p = {url: default for url in URLS}
    if bad:
        p[BAD] = bad
    return p


def failing_plan():
    return plan(("ok", SLOW_SECONDS), ("fail", FAIL_AFTER))


def returns_in_order():
    mod = load_solution()
    web = Web({url: ("ok", (N - i) * 0.002) for i, url in enumerate(URLS)})
    kind, result, _, _ = run_async(lambda: observe(mod, web))
    want = [f"body of {url}" for url in URLS]
    if kind == "timeout":
        raise Fail(f"fetch_all of {N} URLs (each under 0.02 s) had not returned after {WAIT} s")
    if kind == "error":
        raise Fail(f"fetch_all of {N} URLs that all succeed raised {describe(result)}")
    if list(result) != want:
        raise Fail(f"fetch_all returned {result!r}, not the {N} bodies in the order of the URLs")
    return f"fetch_all of {N} URLs finishing in reverse order returned the bodies in URL order"


def fetches_concurrent():
    mod = load_solution()
    web = Web(plan(("ok", 0.02)))
    kind, _, seconds, _ = run_async(lambda: observe(mod, web))
    OBSERVATIONS["fetches-concurrent"] = {"urls": N, "peak_concurrent_fetches": web.peak,
                                          "seconds": round(seconds, 4)}
    if web.peak < N:
        raise Fail(f"fetch_all of {N} URLs ran at most {plural(web.peak, 'fetch')} at once "
                   f"(one takes 0.02 s; " + (f"not finished after {WAIT} s" if kind == "timeout" else f"took {seconds:.2f} s") + "): "
                   f"the fetches do not run concurrently")
    return f"fetch_all of {N} URLs ran {N} fetches at once and took {seconds:.3f} s"


def error_propagates():
    mod = load_solution()
    web = Web(plan(("ok", 0.01), ("fail", FAIL_AFTER)))
    kind, result, _, _ = run_async(lambda: observe(mod, web))
    if kind == "timeout":
        raise Fail(f"fetch_all had not returned or raised {WAIT} s after one of {N} fetches "
                   f"failed (the others take 0.01 s)")
    if kind == "value":
        errors = sum(1 for r in result if isinstance(r, BaseException)) if isinstance(result, list) else 0
        raise Fail(f"one of {N} fetches failed but fetch_all returned a list holding "
                   f"{plural(errors, 'exception')} instead of raising: the error was swallowed")
    if not holds_fetch_error(result):
        raise Fail(f"one of {N} fetches raised FetchError but fetch_all raised "
                   f"{describe(result)} instead")
    how = "its FetchError" if isinstance(result, FetchError) else f"an {type(result).__name__} holding its FetchError"
    return f"one of {N} fetches failed and fetch_all raised {how}"


def fails_fast():
    mod = load_solution()
    web = Web(failing_plan())
    kind, result, seconds, _ = run_async(lambda: observe(mod, web))
    OBSERVATIONS["fails-fast"] = {"raised_after_seconds": round(seconds, 4) if kind != "timeout" else None}
    if kind == "timeout":
        raise Fail(f"one of {N} fetches failed after {FAIL_AFTER} s, but fetch_all had not "
                   f"raised {WAIT} s later (the other fetches take {SLOW_SECONDS:g} s): it waits "
                   f"for them instead of failing")
    if kind == "value" or not holds_fetch_error(result):
        got = "returned" if kind == "value" else f"raised {describe(result)}"
        raise Fail(f"one of {N} fetches failed and fetch_all {got} instead of raising its error")
    return f"one of {N} fetches failed after {FAIL_AFTER} s and fetch_all raised {seconds:.3f} s after it started"


def no_orphans():
    mod = load_solution()
    web = Web(failing_plan())

    async def scenario():
        out = await observe(mod, web)
        await asyncio.sleep(0.05)
        return out + (web.active, web.completed_late)

    kind, _, _, at_end, running_later, completed_late = run_async(scenario)
    others = N - 1
    running, cancelled = at_end["running"], max(at_end["cancelled"], at_end["cancel_requested"])
    OBSERVATIONS["no-orphans"] = {"when_it_ended": at_end, "running_0.05s_later": running_later,
                                  "completed_after_it_ended": completed_late}
    if kind == "timeout":
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


check_imports(["fetch_all"])
check_signature("fetch_all", ["urls", "fetch"], True)
check("returns-in-order", returns_in_order)
check("fetches-concurrent", fetches_concurrent)
check("error-propagates", error_propagates)
check("fails-fast", fails_fast)
check("no-orphans", no_orphans)
finish()
