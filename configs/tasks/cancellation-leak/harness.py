"""Harness for the `cancellation-leak` task: a connection leaked by an error or a
cancellation in the middle of a query.

The solution's `Pool` is used if it defines one (a fix may add to it), else the original.
After each scenario a probe runs as many concurrent queries as the pool has connections:
the pool is whole when all of them run at once, on distinct connections. A fix passes when:
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
import time

from harnesslib import (Fail, check, check_imports, check_signature, describe, finish,
                        load_solution, plural, run_async, settle)


QUERY_SECONDS = 0.005
WAIT = 0.3


class QueryError(Exception):
    """The fake database's failure."""


class ReferencePool:
    """The task's original Pool, for answers whose code shows only run_query."""

    def __init__(self, connections):
        self._free = asyncio.Queue()
        for conn in connections:
            self._free.put_nowait(conn)

    async def acquire(self):
        return await self._free.get()

    def release(self, conn):
        self._free.put_nowait(conn)


class Db:
    """Fake connections: count queries running (and the peak), note a connection used by
    two queries at once, and behave by the SQL: "FAIL ..." raises QueryError, "BLOCK ..."
    waits until `gate` is set, anything else takes QUERY_SECONDS."""

    def __init__(self, size):
        self.conns = [Conn(self, i) for i in range(size)]
        self.gate = asyncio.Event()
        self.reset()

    def reset(self):
        self.active = 0
        self.peak = 0
        self.conflicts = 0
        self.used = set()


class Conn:
    def __init__(self, db, n):
        self.db = db
        self.n = n
        self.users = 0

    def __repr__(self):
        return f"<conn {self.n}>"

    async def execute(self, sql):
        db = self.db
        self.users += 1
        if self.users > 1:
            db.conflicts += 1
        db.active += 1
        db.peak = max(db.peak, db.active)
        db.used.add(self.n)
        try:
            if sql.startswith("FAIL"):
                await asyncio.sleep(0)
                raise QueryError(f"{sql}: deadlock detected")
            if sql.startswith("BLOCK"):
                await db.gate.wait()
            else:
                await asyncio.sleep(QUERY_SECONDS)
            return f"rows of {sql!r} via conn {self.n}"
        finally:
            self.users -= 1
            db.active -= 1


def setup(size):
    mod = load_solution()
    db = Db(size)
    pool_class = getattr(mod, "Pool", ReferencePool)
    return mod, db, pool_class(list(db.conns))


def spawn(mod, pool, sqls):
    async def one(sql):
        return await mod.run_query(pool, sql)
    return [asyncio.ensure_future(one(sql)) for sql in sqls]


async def probe(mod, pool, db, size):
    """None when `size` concurrent queries run at once on distinct connections; else why not."""
    db.reset()
    _, errors, pending = await settle(spawn(mod, pool, [f"SELECT probe {i}" for i in range(size)]), WAIT)
    if db.conflicts:
        return (f"afterwards a connection was handed to two queries at once "
                f"({plural(db.conflicts, 'time')}): it was released while still in use, or twice")
    if errors:
        return f"afterwards a query on the pool raised {describe(errors[0])}"
    if pending or db.peak < size:
        if db.peak == 0:
            return f"afterwards no query could get a connection within {WAIT} s: all {size} leaked"
        return (f"afterwards only {db.peak} of the {size} connections could be used at once "
                f"({size - db.peak} leaked)")
    return None


async def until(condition, timeout=WAIT):
    deadline = time.perf_counter() + timeout
    while not condition() and time.perf_counter() < deadline:
        await asyncio.sleep(0.001)
    return condition()


def queries_work():
    mod, db, pool = setup(3)

    async def scenario():
        sqls = [f"SELECT {i}" for i in range(9)]
        values, errors, pending = await settle(spawn(mod, pool, sqls), WAIT)
        peak, conflicts = db.peak, db.conflicts
        if conflicts:
            raise Fail(f"9 concurrent queries on a pool of 3 connections: a connection was "
                       f"handed to two queries at once ({plural(conflicts, 'time')}): it was "
                       f"released twice")
        if errors or pending:
            raise Fail(f"of 9 concurrent queries on a pool of 3 connections, {len(errors)} raised "
                       f"and {pending} had not finished after {WAIT} s"
                       + (f"; the first error: {describe(errors[0])}" if errors else ""))
        wrong = [v for v, s in zip(values, sqls) if not (isinstance(v, str) and repr(s) in v)]
        if wrong:
            raise Fail(f"a query returned {wrong[0]!r}, not its rows")
        if peak != 3:
            raise Fail(f"9 concurrent queries on a pool of 3 connections ran at most {peak} at once")
        problem = await probe(mod, pool, db, 3)
        if problem:
            raise Fail("9 queries on a pool of 3 succeeded; " + problem)
        return "9 concurrent queries on a pool of 3 connections returned their rows, 3 at a time"

    return run_async(scenario)


def error_releases():
    mod, db, pool = setup(3)

    async def scenario():
        values, errors, pending = await settle(spawn(mod, pool, [f"FAIL {i}" for i in range(3)]), WAIT)
        raised = [e for e in errors if isinstance(e, QueryError)]
        if len(raised) != 3:
            got = (f"{pending} had not finished" if pending else
                   f"{len(values)} returned" if values else describe(errors[0]))
            raise Fail(f"3 queries whose execute raised QueryError did not all raise it: {got}")
        problem = await probe(mod, pool, db, 3)
        if problem:
            raise Fail("3 queries on a pool of 3 raised QueryError; " + problem)
        return "3 queries that raised QueryError propagated it and the pool of 3 stayed whole"

    return run_async(scenario)


def cancel_mid_query():
    mod, db, pool = setup(3)

    async def scenario():
        tasks = spawn(mod, pool, [f"BLOCK {i}" for i in range(3)])
        if not await until(lambda: db.active == 3):
            raise Fail(f"3 queries on a pool of 3 connections did not all start executing "
                       f"within {WAIT} s ({db.active} did)")
        for t in tasks:
            t.cancel()
        values, errors, pending = await settle(tasks, WAIT)
        odd = [e for e in errors if not isinstance(e, asyncio.CancelledError)]
        if pending or values or odd:
            got = (f"{pending} were still running" if pending else f"{len(values)} returned rows"
                   if values else f"{len(odd)} raised {describe(odd[0])}")
            raise Fail(f"3 queries cancelled in the middle of execute did not end cancelled: {got}")
        problem = await probe(mod, pool, db, 3)
        if problem:
            raise Fail("3 queries on a pool of 3 were cancelled in the middle of execute; " + problem)
        return "3 queries cancelled in the middle of execute ended cancelled and the pool of 3 stayed whole"

    return run_async(scenario)


def cancel_while_waiting():
    mod, db, pool = setup(2)

    async def scenario():
        holders = spawn(mod, pool, ["BLOCK a", "BLOCK b"])
        if not await until(lambda: db.active == 2):
            raise Fail(f"2 queries on a pool of 2 connections did not both start executing "
                       f"within {WAIT} s ({db.active} did)")
        waiters = spawn(mod, pool, [f"SELECT w{i}" for i in range(3)])
        await asyncio.sleep(0.005)  # they are now waiting for a connection
        for t in waiters:
            t.cancel()
        values, errors, pending = await settle(waiters, WAIT)
        odd = [e for e in errors if not isinstance(e, asyncio.CancelledError)]
        if pending or values or odd:
            got = (f"{pending} were still waiting" if pending else f"{len(values)} returned rows"
                   if values else f"{len(odd)} ended with {describe(odd[0])} instead of being cancelled")
            raise Fail(f"3 queries cancelled while waiting for a connection: {got}")
        db.gate.set()
        values, errors, pending = await settle(holders, WAIT)
        if len(values) != 2:
            raise Fail("after 3 waiting queries were cancelled, the 2 queries holding the "
                       "connections did not finish: "
                       + (describe(errors[0]) if errors else f"{pending} still running"))
        problem = await probe(mod, pool, db, 2)
        if problem:
            raise Fail("3 queries were cancelled while waiting for a connection of a pool of 2; " + problem)
        return ("3 queries cancelled while waiting for a connection ended cancelled, and the "
                "pool of 2 stayed whole")

    return run_async(scenario)


check_imports(["run_query"])
check_signature("run_query", ["pool", "sql"], True)
check("queries-work", queries_work)
check("error-releases", error_releases)
check("cancel-mid-query-releases", cancel_mid_query)
check("cancel-while-waiting", cancel_while_waiting)
finish()
