"""Signed, expiring session tokens that carry a user id (the web chat's session cookie), made with itsdangerous.

A token is ``<payload>.<timestamp>.<signature>`` (``URLSafeTimedSerializer``, HMAC-SHA256 under a key the
caller keeps, salted with ``SESSION_SALT``). Platform-free: the channel decides where the token travels.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer, want_bytes

SESSION_SALT = "policybot-webchat-session-v1"  #: separates these signatures from any other use of the key
MAX_TOKEN_CHARS = 1024  #: a longer token is not even checked


class SessionSigner(TimestampSigner):
    """itsdangerous' ``TimestampSigner`` with HMAC-SHA256, reading the time from ``clock`` (Unix seconds), that
    accepts a signature only in its one canonical base64 spelling."""

    default_digest_method = staticmethod(hashlib.sha256)

    def __init__(self, *args: Any, clock: Callable[[], float] = time.time, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        """Whole Unix seconds now, by ``clock``."""
        return int(self.clock())

    def verify_signature(self, value: str | bytes, sig: str | bytes) -> bool:
        """True when ``sig`` is exactly the text ``get_signature(value)`` makes. itsdangerous itself compares the
        decoded bytes, so the last base64 character has spellings that decode alike; this way a token edited
        in any one character is refused."""
        return hmac.compare_digest(want_bytes(sig), self.get_signature(value))


def _serializer(key: bytes, now: float | None) -> URLSafeTimedSerializer:
    clock = time.time if now is None else (lambda: now)
    return URLSafeTimedSerializer(key, salt=SESSION_SALT, signer=SessionSigner, signer_kwargs={"clock": clock})


def sign_session(key: bytes, user_id: str, now: float | None = None) -> str:
    """A token for ``user_id`` signed under ``key``, stamped with ``now`` (Unix seconds; default ``time.time()``)."""
    return _serializer(key, now).dumps(user_id)


def verify_session(key: bytes, value: str | None, max_age: int, now: float | None = None) -> str | None:
    """The user id in a token ``sign_session`` made with ``key`` at most ``max_age`` seconds before ``now``
    (Unix seconds; default ``time.time()``). None, never an exception, when the value is missing, longer than
    ``MAX_TOKEN_CHARS``, malformed, forged, expired, stamped later than ``now`` or holds no string."""
    if not value or len(value) > MAX_TOKEN_CHARS:
        return None
    try:
        user = _serializer(key, now).loads(value, max_age=max_age)
    except (BadData, UnicodeError):  # UnicodeError: a value that is not text (lone surrogates)
        return None
    return user if isinstance(user, str) else None
