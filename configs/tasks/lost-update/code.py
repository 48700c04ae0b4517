import asyncio

balances = {}

async def withdraw(account, amount, audit):
    """Take `amount` from `account` and return the new balance.

    Refuses to overdraw (raises ValueError). `audit(account, delta)` records the change
    in the ledger service; if it raises, the withdrawal does not happen. Withdrawals
    from different accounts are independent.
    """
    balance = balances[account]
    if amount > balance:
        raise ValueError(f"insufficient funds in {account!r}")
    await audit(account, -amount)
    balances[account] = balance - amount
    return balances[account]
