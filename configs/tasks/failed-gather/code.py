import asyncio

async def fetch_all(urls, fetch):
    """Fetch every URL concurrently and return the bodies, in the order of `urls`.

    If any fetch fails, fetch_all raises its error.
    """
    tasks = [asyncio.create_task(fetch(url)) for url in urls]
    return await asyncio.gather(*tasks)
