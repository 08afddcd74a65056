"""Run an aiohttp application on 127.0.0.1 at a free port (the fakes' and the servers' under test)."""

from __future__ import annotations

from aiohttp import web


async def serve_on_loopback(app: web.Application) -> tuple[web.AppRunner, int]:
    """Start ``app`` on 127.0.0.1, port 0 (the OS picks a free one), without an access log.

    Returns:
        ``(runner, port)``: ``await runner.cleanup()`` stops it; ``port`` is the bound port (int).

    Raises:
        OSError: the socket cannot be bound.
    """
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner, runner.addresses[0][1]
