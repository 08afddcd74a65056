"""Failed sign-ins with a shared access code, counted per client and for the code, with exponential back-off.

Platform-free: a channel that signs people in with a shared code (the web chat) asks ``retry_after`` before
checking a code and reports the outcome with ``failed`` or ``succeeded``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable

from cachetools import TTLCache

MAX_LOGIN_FAILURES = 10  #: failed sign-ins from one client before it is locked out
MAX_CODE_FAILURES = 100  #: distinct wrong codes, from all clients together, before every sign-in is locked out
LOCKOUT_BASE = 60.0  #: seconds of the first lockout; each further failure doubles it ...
LOCKOUT_MAX = 900.0  #: ... up to this many seconds
FAILURE_MEMORY = 3600.0  #: seconds after its last failure that a client's (or a wrong code's) record is forgotten
MAX_CLIENTS_TRACKED = 10_000  #: clients remembered
MAX_CODES_TRACKED = 10_000  #: distinct wrong codes remembered (as keyed hashes)


def backoff(level: int) -> float:
    """Seconds of the lockout ``level`` failures past the limit: ``LOCKOUT_BASE * 2**level``, at most ``LOCKOUT_MAX``."""
    return min(LOCKOUT_BASE * (1 << min(max(level, 0), 30)), LOCKOUT_MAX)


class LoginThrottle:
    """Failed access-code sign-ins, per client and for the shared code as a whole, with exponential back-off.

    A client (any string key, e.g. the peer address and the client a proxy forwards for) is locked out after
    ``per_client`` failures; the code, for every client, after ``per_code`` *distinct* wrong codes from
    anywhere (the same wrong code again, such as last year's code, says nothing new). A lockout lasts
    ``backoff(failures past the limit)`` seconds. Records live in cachetools ``TTLCache``s and are forgotten
    ``FAILURE_MEMORY`` seconds after their last failure; a successful sign-in clears the client's record (not
    the code's). Wrong codes are kept only as HMACs under a per-process random key. Not thread-safe: use it
    from one event loop, with no ``await`` between ``retry_after`` and ``failed``.

    Args:
        clock: monotonic seconds (default ``time.monotonic``; tests pass a fake).
        per_client: failures before a client is locked out.
        per_code: distinct wrong codes before the code is locked out.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        per_client: int = MAX_LOGIN_FAILURES,
        per_code: int = MAX_CODE_FAILURES,
    ):
        self.clock = clock
        self.per_client, self.per_code = per_client, per_code
        # client -> (failures, monotonic time until which it is locked out)
        self._clients: TTLCache[str, tuple[int, float]] = TTLCache(MAX_CLIENTS_TRACKED, FAILURE_MEMORY, timer=clock)
        self._codes: TTLCache[bytes, bool] = TTLCache(MAX_CODES_TRACKED, FAILURE_MEMORY, timer=clock)
        self._code_locked_until = 0.0
        self._salt = secrets.token_bytes(32)

    def retry_after(self, client: str) -> float:
        """Seconds until ``client`` may try a code again (0.0 when it may now)."""
        now = self.clock()
        _, until = self._clients.get(client, (0, 0.0))
        return max(until - now, self._code_locked_until - now, 0.0)

    def failed(self, client: str, attempted: str) -> None:
        """Count a wrong code ``attempted`` by ``client``."""
        now = self.clock()
        count, until = self._clients.get(client, (0, 0.0))
        count += 1
        if count >= self.per_client:
            until = now + backoff(count - self.per_client)
        self._clients[client] = (count, until)
        digest = hmac.new(self._salt, attempted.encode("utf-8", "surrogatepass"), hashlib.sha256).digest()
        new = digest not in self._codes
        self._codes[digest] = True  # (re)starts its FAILURE_MEMORY
        if new:
            self._codes.expire()
            distinct = len(self._codes)
            if distinct >= self.per_code:
                self._code_locked_until = now + backoff(distinct - self.per_code)

    def check(self, client: str, given: str, code: str) -> bool:
        """Whether ``given`` is ``code`` (compared in constant time), counted as ``failed`` or ``succeeded`` for
        ``client``. Ask ``retry_after`` first: this does not refuse a locked-out client itself."""
        given_hash, code_hash = (hashlib.sha256(t.encode("utf-8", "surrogatepass")).digest() for t in (given, code))
        if hmac.compare_digest(given_hash, code_hash):
            self.succeeded(client)
            return True
        self.failed(client, given)
        return False

    def succeeded(self, client: str) -> None:
        """Forget ``client``'s failures (it knew the code)."""
        self._clients.pop(client, None)
