"""Private messages for people on a pull channel, one whose client comes to fetch them (the web chat page
polls): kept in memory, per person, for the people who asked lately.

The reporting outbox is the durable queue; this one holds only what a push channel would have sent at once
(a notification, a status update) for someone whose client is likely to ask again soon.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

from cachetools import Cache, LRUCache

from bot.messages import Outbound

LIVE_SECONDS = 600.0  #: a user who asked within this many seconds can be queued messages
MAX_QUEUED = 100  #: most messages kept per user; the oldest go first
MAX_USERS_TRACKED = 10_000  #: users remembered (the least recent one is forgotten with their queue)


class RecentUsers(LRUCache[str, float]):
    """User id -> monotonic time of the user's last request, for the ``maxsize`` users who made one most
    recently. Reading a time (``peek``) does not count as a use; a user pushed out to make room is passed to
    ``on_evict``.

    Args:
        maxsize: users remembered.
        on_evict: called with the user id of each user forgotten for want of room.
    """

    def __init__(self, maxsize: int, on_evict: Callable[[str], object]):
        super().__init__(maxsize)
        self._on_evict = on_evict

    def peek(self, user_id: str) -> float | None:
        """The time of ``user_id``'s last request (None if not remembered), leaving the order alone."""
        return Cache.__getitem__(self, user_id) if user_id in self else None

    def popitem(self) -> tuple[str, float]:
        """Forget the user who made a request least recently and tell ``on_evict``; ``(user_id, time)``.

        Raises:
            KeyError: nobody is remembered.
        """
        user_id, seen = super().popitem()
        self._on_evict(user_id)
        return user_id, seen


class PullInbox:
    """Messages waiting for users of a pull channel.

    Args:
        max_users: users remembered (``MAX_USERS_TRACKED``); forgetting one drops their queue.
        max_queued: messages kept per user (``MAX_QUEUED``).
        live_seconds: how recently a user must have asked to be queued anything (``LIVE_SECONDS``).
        clock: monotonic seconds (default ``time.monotonic``).

    Attributes:
        seen: ``RecentUsers``, the time of each user's last request.
        queues: user id -> their waiting ``Outbound``s, oldest first.
    """

    def __init__(
        self,
        max_users: int = MAX_USERS_TRACKED,
        max_queued: int = MAX_QUEUED,
        live_seconds: float = LIVE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.queues: dict[str, deque[Outbound]] = {}
        self.seen = RecentUsers(max_users, lambda user: self.queues.pop(user, None))
        self.max_queued, self.live_seconds, self.clock = max_queued, live_seconds, clock

    def touch(self, user_id: str) -> None:
        """Note that ``user_id`` asked now (the least recent user is forgotten when there is no room)."""
        self.seen[user_id] = self.clock()

    def offer(self, user_id: str, outbound: Outbound) -> bool:
        """Queue ``outbound`` for ``user_id`` if they asked within ``live_seconds`` and it is not an outbox
        message (those stay in the outbox until the client reads them there); returns whether it was queued."""
        if outbound.outbox_id is not None:
            return False
        seen = self.seen.peek(user_id)
        if seen is None or self.clock() - seen > self.live_seconds:
            return False
        self.queues.setdefault(user_id, deque(maxlen=self.max_queued)).append(outbound)
        return True

    def take(self, user_id: str) -> list[Outbound]:
        """The messages queued for ``user_id``, oldest first, removed from the queue."""
        return list(self.queues.pop(user_id, None) or ())
