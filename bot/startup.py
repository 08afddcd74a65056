"""Answering while the server starts: a message waits a little for the index, then gets "starting up".

Platform-free: any channel that must reply within a deadline (Teams' 15 seconds, Slack's 3) passes
its ``Inbound`` through ``when_ready`` instead of waiting for the index without limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from bot.messages import Inbound, Outbound

READY_WAIT = 10.0  #: seconds a message waits for the index before getting ``STARTING_TEXT``
STARTING_TEXT = "I'm just starting up and can't answer yet. Please try again in a minute."


async def when_ready(
    ready: asyncio.Event,
    handle: Callable[[Inbound], Awaitable[list[Outbound]]],
    inbound: Inbound,
    wait: float = READY_WAIT,
) -> list[Outbound]:
    """``await handle(inbound)`` once ``ready`` is set; ``[Outbound(kind="text", text=STARTING_TEXT)]``
    (``handle`` not called) when it is not set within ``wait`` seconds."""
    if not ready.is_set():
        try:
            await asyncio.wait_for(ready.wait(), wait)
        except TimeoutError:
            return [Outbound(kind="text", text=STARTING_TEXT)]
    return await handle(inbound)
