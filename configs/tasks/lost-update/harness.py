"""Harness for the `lost-update` task: a read-modify-write of a balance across an await.

The answer's code runs in its own process; every audit it makes is served and counted here,
and the balances are read back through the answer's own module (see harnesslib). Which
checks are required, and why, is in checks.md. A fix passes when:
- 100 concurrent withdrawals of 1 from 1000 leave 900 (no update is lost);
- 10 concurrent withdrawals of 30 from 100: 3 succeed, 7 raise ValueError, 10 is left and
  the ledger records exactly the 3 (no overdraft: the check and the write are one step);
- a withdrawal whose audit fails raises the audit's error and leaves the balance as it
  was, and the next withdrawal still goes through (nothing is left locked);
- withdrawals from 10 different accounts audit concurrently (a global lock fails here);
- `withdraw` keeps its signature `async def withdraw(account, amount, audit)`.
"""

import asyncio
import time

from harnesslib import TOKEN, Fail, Gate, Harness, Raise, count, plural

AUDIT_SECONDS = 0.001
SLOW_AUDIT_SECONDS = 0.02
WAIT = 1.0
BLOCKED = "the answer's event loop is blocked (a threading lock held across an await?)"

h = Harness("withdraw", ["account", "amount", "audit"], is_async=True,
            defaults={"balances": "balances = {}"})
# Test helpers run in the answer's process on its own module: they set and read balances.
SETUP = "def _llmbench_set(opening):\n    balances.clear()\n    balances.update(opening)\n"
READ = "def _llmbench_get(account):\n    return balances.get(account)\n"
h.defaults["_llmbench_set"] = SETUP
h.defaults["_llmbench_get"] = READ


class Ledger:
    """The audit service the answer is given, served here: records each change, counts
    audits running at once, and can fail. With `gate` (a harnesslib Gate), audits start
    together behind it."""

    def __init__(self, s, seconds=AUDIT_SECONDS, fail=False, gate=None):
        self.seconds, self.fail, self.gate = seconds, fail, gate
        self.entries = []
        self.active = self.peak = 0
        self.proxy = s.proxy(self.audit)

    async def audit(self, account, delta):
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.gate is not None:
                await self.gate.passage()
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise Raise("AuditError", f"ledger service unavailable ({account!r}, {delta}) [{TOKEN}]")
            self.entries.append((account, delta))
        finally:
            self.active -= 1


async def opening(s, balances):
    [o] = await s.settle([s.call("_llmbench_set", balances)], 0.5)
    if o.kind != "value":
        raise Fail(f"setting the opening balances {o.describe()}")


async def reported(s, account):
    """What the answer's module says the balance is: evidence only, never the verdict."""
    [o] = await s.settle([s.call("_llmbench_get", account)], 0.5)
    return o.value if o.kind == "value" else None


async def holds(s, account, amount):
    """Whether the account holds exactly `amount`, shown through `withdraw` itself (the
    balance lives in the answer's process; only its behaviour counts): withdrawing
    amount + 1 is refused with ValueError, and withdrawing `amount` returns 0."""
    ledger = Ledger(s)
    [over] = await s.settle([s.call("withdraw", account, amount + 1, ledger.proxy)], 0.5)
    if over.kind != "raised" or over.error != "ValueError":
        return False
    [exact] = await s.settle([s.call("withdraw", account, amount, ledger.proxy)], 0.5)
    return exact.kind == "value" and exact.value == 0


@h.check("no-lost-update", "the prompt: \"Some withdrawals leave no trace in the balance\"",
         timeout=WAIT, blocked=BLOCKED)
async def no_lost_update(s):
    await opening(s, {"alice": 1000})
    ledger = Ledger(s)
    outcomes = await s.settle(s.calls("withdraw", [("alice", 1, ledger.proxy)] * 100), 0.5)
    values, raised, _, pending = count(outcomes)
    final = await reported(s, "alice")
    h.observe("no-lost-update", withdrawals=100, succeeded=len(values), errors=len(raised),
              pending=len(pending), final_balance=final)
    if raised or pending:
        raise Fail(f"of 100 concurrent withdrawals of 1 from 1000, {len(raised)} raised and "
                   f"{len(pending)} were still waiting after 0.5 s"
                   + (f"; the first {raised[0].describe()}" if raised else ""))
    if final != 900 or not await holds(s, "alice", 900):
        lost = f": {final - 900} withdrawals were lost" if isinstance(final, int) and final > 900 else ""
        raise Fail(f"100 concurrent withdrawals of 1 from a balance of 1000 all succeeded "
                   f"and left {final!r} (expected 900){lost}")
    return "100 concurrent withdrawals of 1 from a balance of 1000 left 900"


@h.check("no-overdraft", "the prompt: \"a few accounts were overdrawn\"; the docstring: "
         "\"Refuses to overdraw (raises ValueError)\"", timeout=WAIT, blocked=BLOCKED)
async def no_overdraft(s):
    await opening(s, {"bob": 100})
    ledger = Ledger(s)
    outcomes = await s.settle(s.calls("withdraw", [("bob", 30, ledger.proxy)] * 10), 0.5)
    values, raised, _, pending = count(outcomes)
    final = await reported(s, "bob")
    refused = [o for o in raised if o.error == "ValueError"]
    other = [o for o in raised if o.error != "ValueError"]
    audited = sum(delta for _, delta in ledger.entries)
    h.observe("no-overdraft", withdrawals=10, succeeded=len(values), refused=len(refused),
              other_errors=len(other), pending=len(pending), final_balance=final,
              audited_total=audited)
    if pending or other:
        raise Fail(f"of 10 concurrent withdrawals of 30 from 100, {len(pending)} were still waiting "
                   f"after 0.5 s and {len(other)} raised something other than ValueError"
                   + (f" (one {other[0].describe()})" if other else ""))
    if len(values) != 3 or final != 10:
        raise Fail(f"10 concurrent withdrawals of 30 from a balance of 100: {len(values)} "
                   f"succeeded and the balance ended at {final!r} (expected 3 to succeed, 7 to "
                   f"be refused and 10 to be left)")
    if not await holds(s, "bob", 10):
        raise Fail("10 concurrent withdrawals of 30 from a balance of 100: 3 succeeded and 7 were "
                   "refused, but the account does not behave as holding 10 (withdrawing 11 is not "
                   "refused, or withdrawing 10 does not leave 0)")
    if audited != -90:
        raise Fail(f"3 of 10 withdrawals of 30 succeeded, but the ledger recorded {audited} "
                   f"instead of -90")
    return ("10 concurrent withdrawals of 30 from a balance of 100: 3 succeeded, 7 were "
            "refused, 10 was left and the ledger recorded -90")


@h.check("audit-failure-keeps-balance", "the docstring: \"if it raises, the withdrawal does not "
         "happen\"", timeout=WAIT, blocked=BLOCKED)
async def audit_failure(s):
    await opening(s, {"carol": 100})
    broken, working = Ledger(s, fail=True), Ledger(s)
    [first] = await s.settle([s.call("withdraw", "carol", 30, broken.proxy)], 0.5)
    after_failure = await reported(s, "carol")
    [over] = await s.settle([s.call("withdraw", "carol", 101, working.proxy)], 0.5)
    [second] = await s.settle([s.call("withdraw", "carol", 30, working.proxy)], 0.5)
    after_retry = await reported(s, "carol")
    h.observe("audit-failure-keeps-balance", balance_after_failed_audit=after_failure,
              balance_after_next=after_retry)
    if not first.raised("AuditError", TOKEN):
        raise Fail(f"a withdrawal whose audit failed did not raise the AuditError: it {first.describe()}")
    if after_failure != 100 or over.kind == "pending":
        raise Fail(f"a withdrawal of 30 whose audit failed left the balance at {after_failure!r} "
                   f"(expected 100: a withdrawal whose audit fails must not happen)")
    if second.kind == "pending":
        raise Fail("after a withdrawal whose audit failed, the next withdrawal was still waiting "
                   "0.5 s later (something stayed locked)")
    if second.kind != "value" or second.value != 70 or after_retry != 70:
        raise Fail(f"after a failed audit, the next withdrawal of 30 from 100 {second.describe()} "
                   f"and left {after_retry!r} (expected 70)")
    return ("a withdrawal whose audit failed raised AuditError and left 100; the next "
            "withdrawal of 30 left 70")


@h.check("accounts-independent", "the docstring: \"Withdrawals from different accounts are "
         "independent\"", timeout=WAIT, blocked=BLOCKED)
async def accounts_independent(s):
    accounts = [f"acct-{i}" for i in range(10)]
    await opening(s, {a: 100 for a in accounts})
    ledger = Ledger(s, seconds=SLOW_AUDIT_SECONDS, gate=Gate(10))
    started = time.perf_counter()
    outcomes = await s.settle(s.calls("withdraw", [(a, 10, ledger.proxy) for a in accounts]), 0.5)
    elapsed = time.perf_counter() - started
    _, raised, _, pending = count(outcomes)
    h.observe("accounts-independent", accounts=10, peak_concurrent_audits=ledger.peak,
              elapsed_seconds=round(elapsed, 4))
    if raised or pending:
        raise Fail(f"of 10 withdrawals from 10 different accounts, {len(raised)} raised and "
                   f"{len(pending)} were still waiting after 0.5 s"
                   + (f"; the first {raised[0].describe()}" if raised else ""))
    if ledger.peak < 10:
        raise Fail(f"10 concurrent withdrawals from 10 different accounts ran at most "
                   f"{plural(ledger.peak, 'audit')} at once and took {elapsed:.2f} s (one audit takes "
                   f"{SLOW_AUDIT_SECONDS} s): withdrawals from different accounts wait for "
                   f"each other")
    return (f"10 concurrent withdrawals from 10 different accounts ran 10 audits at once and "
            f"took {elapsed:.3f} s (one audit takes {SLOW_AUDIT_SECONDS} s)")


h.run()
