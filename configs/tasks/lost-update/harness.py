"""Harness for the `lost-update` task: a read-modify-write of a balance across an await.

A fix passes when:
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

from harnesslib import (OBSERVATIONS, Fail, check, check_imports, check_signature, describe,
                        finish, load_solution, plural, run_async, settle)


AUDIT_SECONDS = 0  # one yield to the event loop: enough to interleave
SLOW_AUDIT_SECONDS = 0.02
TIMEOUT = 1.0
BLOCKED = "the event loop is blocked (a threading lock held across an await?)"
DEFAULTS = {"balances": dict}


class AuditError(Exception):
    """The fake ledger's failure."""


class Ledger:
    """A fake audit service: records each change, counts audits running at once, and can
    fail."""

    def __init__(self, seconds=AUDIT_SECONDS, fail=False):
        self.seconds = seconds
        self.fail = fail
        self.entries = []
        self.active = 0
        self.peak = 0

    async def audit(self, account, delta):
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(self.seconds)
            if self.fail:
                raise AuditError(f"ledger service unavailable ({account!r}, {delta})")
            self.entries.append((account, delta))
        finally:
            self.active -= 1


def solution(opening):
    mod = load_solution(DEFAULTS)
    mod.balances.clear()
    mod.balances.update(opening)
    return mod


async def call(fn, *args):
    return await fn(*args)


def spawn(mod, requests, ledger):
    return [asyncio.ensure_future(call(mod.withdraw, account, amount, ledger.audit))
            for account, amount in requests]


def no_lost_update():
    mod = solution({"alice": 1000})
    ledger = Ledger()

    async def scenario():
        return await settle(spawn(mod, [("alice", 1)] * 100, ledger), 0.5)

    values, errors, pending = run_async(scenario)
    final = mod.balances.get("alice")
    OBSERVATIONS["no-lost-update"] = {"withdrawals": 100, "succeeded": len(values),
                                      "errors": len(errors), "pending": pending,
                                      "final_balance": final}
    if errors or pending:
        raise Fail(f"of 100 concurrent withdrawals of 1 from 1000, {len(errors)} raised and "
                   f"{pending} were still waiting after 0.5 s"
                   + (f"; the first error: {describe(errors[0])}" if errors else ""))
    if final != 900:
        lost = f": {final - 900} withdrawals were lost" if isinstance(final, int) and final > 900 else ""
        raise Fail(f"100 concurrent withdrawals of 1 from a balance of 1000 all succeeded "
                   f"and left {final} (expected 900){lost}")
    return "100 concurrent withdrawals of 1 from a balance of 1000 left 900"


def no_overdraft():
    mod = solution({"bob": 100})
    ledger = Ledger()

    async def scenario():
        return await settle(spawn(mod, [("bob", 30)] * 10, ledger), 0.5)

    values, errors, pending = run_async(scenario)
    final = mod.balances.get("bob")
    refused = [e for e in errors if isinstance(e, ValueError)]
    other = [e for e in errors if not isinstance(e, ValueError)]
    audited = sum(delta for _, delta in ledger.entries)
    OBSERVATIONS["no-overdraft"] = {"withdrawals": 10, "succeeded": len(values),
                                    "refused": len(refused), "other_errors": len(other),
                                    "pending": pending, "final_balance": final,
                                    "audited_total": audited}
    if pending or other:
        raise Fail(f"of 10 concurrent withdrawals of 30 from 100, {pending} were still waiting "
                   f"after 0.5 s and {len(other)} raised something other than ValueError"
                   + (f" ({describe(other[0])})" if other else ""))
    if len(values) != 3 or final != 10:
        raise Fail(f"10 concurrent withdrawals of 30 from a balance of 100: {len(values)} "
                   f"succeeded and the balance ended at {final} (expected 3 to succeed, 7 to "
                   f"be refused and 10 to be left)")
    if audited != -90:
        raise Fail(f"3 of 10 withdrawals of 30 succeeded, but the ledger recorded {audited} "
                   f"instead of -90")
    return ("10 concurrent withdrawals of 30 from a balance of 100: 3 succeeded, 7 were "
            "refused, 10 was left and the ledger recorded -90")


def audit_failure():
    mod = solution({"carol": 100})
    broken, working = Ledger(fail=True), Ledger()

    async def scenario():
        out = []
        for ledger in (broken, working):
            try:
                out.append(("value", await asyncio.wait_for(
                    call(mod.withdraw, "carol", 30, ledger.audit), 0.5)))
            except asyncio.TimeoutError:
                out.append(("timeout", None))
            except Exception as e:  # noqa: BLE001
                out.append(("error", e))
            out.append(("balance", mod.balances.get("carol")))
        return out

    (k1, r1), (_, after_failure), (k2, r2), (_, after_retry) = run_async(scenario)
    OBSERVATIONS["audit-failure-keeps-balance"] = {"balance_after_failed_audit": after_failure,
                                                   "balance_after_next": after_retry}
    if k1 != "error" or not isinstance(r1, AuditError):
        got = repr(r1) if k1 == "value" else "it hung" if k1 == "timeout" else describe(r1)
        raise Fail(f"a withdrawal whose audit failed did not raise the AuditError: {got}")
    if after_failure != 100:
        raise Fail(f"a withdrawal of 30 whose audit failed left the balance at {after_failure} "
                   f"(expected 100: a withdrawal whose audit fails must not happen)")
    if k2 == "timeout":
        raise Fail("after a withdrawal whose audit failed, the next withdrawal was still waiting "
                   "0.5 s later (something stayed locked)")
    if k2 != "value" or after_retry != 70:
        got = repr(r2) if k2 == "value" else describe(r2)
        raise Fail(f"after a failed audit, the next withdrawal of 30 from 100 returned {got} "
                   f"and left {after_retry} (expected 70)")
    return ("a withdrawal whose audit failed raised AuditError and left 100; the next "
            "withdrawal of 30 left 70")


def accounts_independent():
    accounts = [f"acct-{i}" for i in range(10)]
    mod = solution({a: 100 for a in accounts})
    ledger = Ledger(seconds=SLOW_AUDIT_SECONDS)

    async def scenario():
        started = time.perf_counter()
        out = await settle(spawn(mod, [(a, 10) for a in accounts], ledger), 0.5)
        return out, time.perf_counter() - started

    (_, errors, pending), elapsed = run_async(scenario)
    OBSERVATIONS["accounts-independent"] = {"accounts": 10, "peak_concurrent_audits": ledger.peak,
                                            "elapsed_seconds": round(elapsed, 4)}
    if errors or pending:
        raise Fail(f"of 10 withdrawals from 10 different accounts, {len(errors)} raised and "
                   f"{pending} were still waiting after 0.5 s"
                   + (f"; the first error: {describe(errors[0])}" if errors else ""))
    if ledger.peak < 10:
        raise Fail(f"10 concurrent withdrawals from 10 different accounts ran at most "
                   f"{plural(ledger.peak, 'audit')} at once and took {elapsed:.2f} s (one audit takes "
                   f"{SLOW_AUDIT_SECONDS} s): withdrawals from different accounts wait for "
                   f"each other")
    return (f"10 concurrent withdrawals from 10 different accounts ran 10 audits at once and "
            f"took {elapsed:.3f} s (one audit takes {SLOW_AUDIT_SECONDS} s)")


check_imports(["withdraw"])
check_signature("withdraw", ["account", "amount", "audit"], True, DEFAULTS)
check("no-lost-update", no_lost_update, TIMEOUT, BLOCKED)
check("no-overdraft", no_overdraft, TIMEOUT, BLOCKED)
check("audit-failure-keeps-balance", audit_failure, TIMEOUT, BLOCKED)
check("accounts-independent", accounts_independent, TIMEOUT, BLOCKED)
finish()
