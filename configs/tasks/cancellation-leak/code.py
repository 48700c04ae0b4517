import asyncio

class Pool:
    """A fixed set of database connections shared by request handlers."""

    def __init__(self, connections):
        self._free = asyncio.Queue()
        for conn in connections:
            self._free.put_nowait(conn)

    async def acquire(self):
        """Wait for a free connection and take it."""
        return await self._free.get()

    def release(self, conn):
        """Give a connection back."""
        self._free.put_nowait(conn)

async def run_query(pool, sql):
    conn = await pool.acquire()
    rows = await conn.execute(sql)
    pool.release(conn)
    return rows
