"""Reading untrusted HTTP bodies: JSON and form payloads that fail with a 4xx, never a 500.

Every channel's route reads a body someone else wrote. ``json.loads`` alone lets three kinds of bad input
escape as exceptions that are not ``ValueError``: nesting deeper than the interpreter's recursion limit
(``"[" * 5000`` raises ``RecursionError``), bytes that are not UTF-8 (``UnicodeDecodeError`` is a
``ValueError``, but a declared charset Python does not know raises ``LookupError``), and numbers too long
to convert. ``parse_json`` turns all of them into ``BadPayload`` with the HTTP status to answer.
"""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs

_CHARSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,39}")  #: an IANA charset name's shape (RFC 2978)
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
MAX_DEPTH = 64  #: deepest nesting of arrays/objects accepted; real activities and Slack payloads nest < 15


class BadPayload(ValueError):
    """A body that cannot be read as what the route expects.

    Attributes:
        status: the HTTP status to answer (400 malformed, 413 too large, 415 wrong media type).
        reason: a short, fixed description safe to return and to log (never quotes the body).
    """

    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def _depth_ok(text: str, limit: int) -> bool:
    """True when no array/object in ``text`` nests deeper than ``limit`` (brackets inside strings ignored)."""
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def decode_text(raw: bytes, charset: str | None = None) -> str:
    """``raw`` decoded with ``charset`` (default UTF-8).

    Raises:
        BadPayload: 400 for bytes that are not valid in the charset; 415 for a charset Python does not know
            or a name that is not shaped like one (non-ASCII, NUL, longer than 40 characters).
    """
    if charset is not None and not _CHARSET.fullmatch(charset):
        raise BadPayload("unknown charset", status=415)
    try:
        return raw.decode(charset or "utf-8")
    except LookupError:
        raise BadPayload("unknown charset", status=415) from None
    except ValueError:  # UnicodeDecodeError, and codecs that refuse their input in other ways
        raise BadPayload("body is not valid text in its charset") from None


def parse_json(raw: bytes | str, charset: str | None = None, max_depth: int = MAX_DEPTH) -> object:
    """The JSON value in ``raw`` (bytes are decoded with ``charset``, default UTF-8).

    Raises:
        BadPayload: 400 for text that is not JSON, nests deeper than ``max_depth``, holds a number too
            long to convert or a lone surrogate (``"\\ud800"``); 415 for an unknown charset.
    """
    text = raw if isinstance(raw, str) else decode_text(raw, charset)
    if not _depth_ok(text, max_depth):
        raise BadPayload("JSON nested too deeply")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BadPayload("invalid JSON") from None
    if _SURROGATE_ESCAPE.search(text):  # "\ud800" alone parses to a str no encoder downstream accepts
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise BadPayload("JSON holds characters that are not valid text (lone surrogates)") from None
    return value


def parse_json_object(raw: bytes | str, charset: str | None = None) -> dict:
    """``parse_json`` for routes that take an object; raises ``BadPayload`` (400) for any other value."""
    value = parse_json(raw, charset)
    if not isinstance(value, dict):
        raise BadPayload("expected a JSON object")
    return value


def object_or_empty(text) -> dict:
    """The JSON object in ``text`` (a button value, a modal's ``private_metadata``: strings the bot wrote
    and gets back), or ``{}`` for anything else: not a string, not JSON, not an object, too deep."""
    if not isinstance(text, (str, bytes)) or not text:
        return {}
    try:
        return parse_json_object(text)
    except BadPayload:
        return {}


def parse_form(raw: bytes | str, charset: str | None = None) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as ``{name: first value}``.

    Raises:
        BadPayload: 400 for bytes that are not text in ``charset``; 415 for an unknown charset.
    """
    text = raw if isinstance(raw, str) else decode_text(raw, charset)
    try:
        fields = parse_qs(text, keep_blank_values=True, strict_parsing=False, max_num_fields=1000)
    except ValueError:
        raise BadPayload("invalid form body") from None
    return {k: v[0] for k, v in fields.items()}
