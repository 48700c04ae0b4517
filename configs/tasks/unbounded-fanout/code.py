import asyncio

MAX_IN_FLIGHT = 10  # the API allows at most 10 requests in flight from this process

async def download_all(urls, fetch):
    """Download every URL with `fetch(url)` and return the bodies, in the order of `urls`.

    Called by many request handlers at once. If a download fails, download_all raises
    its error.
    """
    return await asyncio.gather(*(fetch(url) for url in urls))
