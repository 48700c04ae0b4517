"""Harness for the `cancellation-leak` task: a connection leaked by an error or a
cancellation in the middle of a query.

The answer's code runs in its own process. The pool is built there (the solution's `Pool`
if it defines one, a fix may add to it; else the original), but its connections are served
here: every query runs here, where the queries running at once, and a connection used by two
queries at once, are observed (see harnesslib). Cancellations are asked of the answer's
process, as a web framework cancels a handler. After each scenario a probe runs as many
concurrent queries as the pool has connections: the pool is whole when all of them run at
once, on distinct connections. Which checks are required, and why, is in checks.md. A fix
passes when:
- 9 concurrent queries on a pool of 3 return their rows, 3 at a time, never sharing a
  connection (a connection released twice fails here);
- queries that raise QueryError propagate it and leave the pool whole;
- queries cancelled in the middle of execute end cancelled and leave the pool whole (a
  release only on `except Exception` fails here, since CancelledError is not an Exception);
- queries cancelled while waiting for a connection end cancelled (not with another
  error) and leave the pool whole;
- `run_query` keeps its signature `async def run_query(pool, sql)`.
"""

import asyncio

from harnesslib import TOKEN, Fail, Gate, Harness, Raise, count, plural

QUERY_SECONDS = 0.005
# How long a query that should run may take to start or end, and how long the probe waits
# for a leaked connection: generous, since a loaded machine may stall the answer's process
# for a good fraction of a second, and only a wrong answer ever waits it out.
WAIT = 1.0
# Each check may wait WAIT twice (its queries, then the probe) and reloads the module first.
CHECK_SECONDS = 3.0

# The task's original Pool, for answers whose code shows only run_query.
REFERENCE_POOL = '''
import asyncio as _asyncio

class Pool:
    def __init__(self, connections):
        self._free = _asyncio.Queue()
        for conn in connections:
            self._free.put_nowait(conn)

    async def acquire(self):
        return await self._free.get()

    def release(self, conn):
        self._free.put_nowait(conn)
'''

h = Harness("run_query", ["pool", "sql"], is_async=True, defaults={"Pool": REFERENCE_POOL})


class Db:
    """The database, served here: its connections count queries running (and the peak),
    note a connection used by two queries at once, and behave by the SQL: "FAIL ..." raises
    QueryError, "BLOCK ..." waits until `gate` is set, anything else takes QUERY_SECONDS.
    After `reset(together=n)`, queries start behind a harnesslib Gate of n, so that the
    peak of queries at once is the pool's, not the machine's speed at delivering them."""

    def __init__(self, s, size):
        self.gate = asyncio.Event()
        self.conns = [Conn(self, i) for i in range(size)]
        self.proxies = [s.proxy(c, methods={"execute": "async"}, label=f"<conn {i}>", name="Connection")
                        for i, c in enumerate(self.conns)]
        self.reset()

    def reset(self, together=None):
        self.active = self.peak = self.conflicts = 0
        self.together = Gate(together) if together else None


class Conn:
    def __init__(self, db, n):
        self.db, self.n, self.users = db, n, 0

    async def execute(self, sql):
        db = self.db
        self.users += 1
        if self.users > 1:
            db.conflicts += 1
        db.active += 1
        db.peak = max(db.peak, db.active)
        try:
            sql = str(sql)
            if sql.startswith("FAIL"):
                await asyncio.sleep(0)
                raise Raise("QueryError", f"{sql}: deadlock detected [{TOKEN}]")
            if db.together is not None:
                await db.together.passage()
            if sql.startswith("BLOCK"):
                await db.gate.wait()
            else:
                await asyncio.sleep(QUERY_SECONDS)
            return f"rows of {sql!r} via conn {self.n}"
        finally:
            self.users -= 1
            db.active -= 1


async def setup(s, size):
    db = Db(s, size)
    pool = await s.new("Pool", db.proxies)
    return db, pool


def queries(s, pool, sqls):
    return s.calls("run_query", [(pool, sql) for sql in sqls])


async def probe(s, pool, db, size):
    """None when `size` concurrent queries run at once on distinct connections; else why not."""
    db.reset(together=size)
    outcomes = await s.settle(queries(s, pool, [f"SELECT probe {i}" for i in range(size)]), WAIT)
    _, raised, _, pending = count(outcomes)
    if db.conflicts:
        return (f"afterwards a connection was handed to two queries at once "
                f"({plural(db.conflicts, 'time')}): it was released while still in use, or twice")
    if raised:
        return f"afterwards a query on the pool {raised[0].describe()}"
    if pending or db.peak < size:
        if db.peak == 0:
            return f"afterwards no query could get a connection within {WAIT} s: all {size} leaked"
        return (f"afterwards only {db.peak} of the {size} connections could be used at once "
                f"({size - db.peak} leaked)")
    return None


@h.check("queries-work", "the original code runs queries; a fix must keep them working, one "
         "connection per query", timeout=CHECK_SECONDS)
async def queries_work(s):
    db, pool = await setup(s, 3)
    db.reset(together=3)
    sqls = [f"SELECT {i}" for i in range(9)]
    outcomes = await s.settle(queries(s, pool, sqls), WAIT)
    values, raised, _, pending = count(outcomes)
    peak, conflicts = db.peak, db.conflicts
    if conflicts:
        raise Fail(f"9 concurrent queries on a pool of 3 connections: a connection was "
                   f"handed to two queries at once ({plural(conflicts, 'time')}): it was "
                   f"released twice")
    if raised or pending:
        raise Fail(f"of 9 concurrent queries on a pool of 3 connections, {len(raised)} raised "
                   f"and {len(pending)} had not finished after {WAIT} s"
                   + (f"; the first {raised[0].describe()}" if raised else ""))
    wrong = [o for o, q in zip(outcomes, sqls) if not (isinstance(o.value, str) and repr(q) in o.value)]
    if wrong:
        raise Fail(f"a query {wrong[0].describe()}, not its rows")
    if peak != 3:
        raise Fail(f"9 concurrent queries on a pool of 3 connections ran at most {peak} at once")
    problem = await probe(s, pool, db, 3)
    if problem:
        raise Fail("9 queries on a pool of 3 succeeded; " + problem)
    return "9 concurrent queries on a pool of 3 connections returned their rows, 3 at a time"


@h.check("error-releases", "the prompt: connections run out until \"every request hangs in "
         "`pool.acquire()`\"; a query that fails leaks its connection the same way", timeout=CHECK_SECONDS)
async def error_releases(s):
    db, pool = await setup(s, 3)
    outcomes = await s.settle(queries(s, pool, [f"FAIL {i}" for i in range(3)]), WAIT)
    if sum(1 for o in outcomes if o.raised("QueryError", TOKEN)) != 3:
        odd = next(o for o in outcomes if not o.raised("QueryError", TOKEN))
        raise Fail(f"3 queries whose execute raised QueryError did not all raise it: one {odd.describe()}")
    problem = await probe(s, pool, db, 3)
    if problem:
        raise Fail("3 queries on a pool of 3 raised QueryError; " + problem)
    return "3 queries that raised QueryError propagated it and the pool of 3 stayed whole"


@h.check("cancel-mid-query-releases", "the prompt: \"The web framework cancels a request handler "
         "when its client disconnects or the request times out\"", timeout=CHECK_SECONDS)
async def cancel_mid_query(s):
    db, pool = await setup(s, 3)
    calls = queries(s, pool, [f"BLOCK {i}" for i in range(3)])
    if not await s.until(lambda: db.active == 3, WAIT):
        raise Fail(f"3 queries on a pool of 3 connections did not all start executing "
                   f"within {WAIT} s ({db.active} did)")
    for c in calls:
        await s.cancel(c)
    outcomes = await s.settle(calls, WAIT)
    if any(o.kind != "cancelled" for o in outcomes):
        odd = next(o for o in outcomes if o.kind != "cancelled")
        raise Fail(f"3 queries cancelled in the middle of execute did not end cancelled: one {odd.describe()}")
    problem = await probe(s, pool, db, 3)
    if problem:
        raise Fail("3 queries on a pool of 3 were cancelled in the middle of execute; " + problem)
    return "3 queries cancelled in the middle of execute ended cancelled and the pool of 3 stayed whole"


@h.check("cancel-while-waiting", "the prompt: requests time out while they wait in "
         "`pool.acquire()`, and the framework cancels them there", timeout=CHECK_SECONDS)
async def cancel_while_waiting(s):
    db, pool = await setup(s, 2)
    holders = queries(s, pool, ["BLOCK a", "BLOCK b"])
    if not await s.until(lambda: db.active == 2, WAIT):
        raise Fail(f"2 queries on a pool of 2 connections did not both start executing "
                   f"within {WAIT} s ({db.active} did)")
    waiters = queries(s, pool, [f"SELECT w{i}" for i in range(3)])
    await s.turns()  # they are now waiting for a connection
    for c in waiters:
        await s.cancel(c)
    outcomes = await s.settle(waiters, WAIT)
    if any(o.kind != "cancelled" for o in outcomes):
        odd = next(o for o in outcomes if o.kind != "cancelled")
        raise Fail(f"3 queries cancelled while waiting for a connection did not end cancelled: "
                   f"one {odd.describe()}")
    db.gate.set()
    held = await s.settle(holders, WAIT)
    if any(o.kind != "value" for o in held):
        odd = next(o for o in held if o.kind != "value")
        raise Fail("after 3 waiting queries were cancelled, the 2 queries holding the "
                   f"connections did not finish: one {odd.describe()}")
    problem = await probe(s, pool, db, 2)
    if problem:
        raise Fail("3 queries were cancelled while waiting for a connection of a pool of 2; " + problem)
    return ("3 queries cancelled while waiting for a connection ended cancelled, and the "
            "pool of 2 stayed whole")


h.run()
