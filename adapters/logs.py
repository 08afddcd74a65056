"""Structured logging: one JSON object a line, safe by construction for a confidential-reporting bot.

``setup_logging(fmt, level)`` (called by ``policybot``'s entry point, so by ``policybot serve`` too, with
the values ``bot.settings.Settings`` read from the environment) configures the root logger:

* ``POLICYBOT_LOG_FORMAT``: ``json`` (one object a line, for containers and log shippers) or ``text``
  (default; ``asctime level name message`` lines).
* ``POLICYBOT_LOG_LEVEL``: ``DEBUG``, ``INFO``, ``WARNING`` (default) or ``ERROR``, for the
  application's loggers (``APP_LOGGERS``); other libraries stay at WARNING.

A JSON line looks like::

    {"ts": "2025-03-12T10:00:00.123Z", "level": "INFO", "logger": "policybot.http",
     "msg": "POST /chat/api/message 200 12.5 ms", "event": "http_request", "route": "/chat/api/message",
     "method": "POST", "status": 200, "ms": 12.5}

What a line may carry is limited on purpose: the message (callers never put report content or who
reported in it: see ``docs/CONTRIBUTING.md``), and only the ``extra=`` fields listed in
``SAFE_FIELDS`` (ids, routes, statuses, timings, counts), each a number, a boolean or a string of at
most ``MAX_FIELD_CHARS`` characters. Exceptions are logged as their type and the code locations of
the traceback (file, line, function), never the exception's message or a local value, because a
message can quote user input; the text format does the same. The formatter is this module's own
because general JSON formatters copy every ``extra`` field, the opposite of a whitelist.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from typing import IO

LOG_FORMAT_ENV = "POLICYBOT_LOG_FORMAT"
LOG_LEVEL_ENV = "POLICYBOT_LOG_LEVEL"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: loggers whose level ``POLICYBOT_LOG_LEVEL`` sets (the application's own modules)
APP_LOGGERS = ("policybot", "bot", "index", "knowledge", "adapters")
#: third-party loggers kept at ERROR (progress chatter, deprecation notes)
NOISY_LOGGERS = ("sentence_transformers", "transformers", "httpx", "huggingface_hub")
MAX_FIELD_CHARS = 200
MAX_FRAMES = 8  #: innermost traceback frames kept

#: ``extra=`` keys copied into a JSON line (anything else is dropped, so content cannot leak by accident)
SAFE_FIELDS = frozenset(
    {
        "event",
        "route",
        "method",
        "status",
        "ms",
        "seconds",
        "channel",
        "case_id",
        "event_id",
        "action_id",
        "kind",
        "count",
        "clauses",
        "outbox_id",
        "step",
        "mode",
        "files",
        "bytes",
    }
)


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def escape_for_log(text: str) -> str:
    """``text`` with every character that is not printable escaped repr-style (``\\n``, ``\\x1b``,
    ``\\u202e``), and backslashes doubled so an escape cannot be forged.

    What is escaped is what ``str.isprintable`` refuses: control characters (C0, C1, DEL), format
    characters (the bidirectional overrides and isolates U+202A–U+202E, U+2066–U+2069, zero-width
    characters, BOM), line and paragraph separators and non-ASCII spaces. A Slack or Teams id, a route or
    a file name that carries them cannot start a new log line, recolour a terminal or reorder what a
    reader sees. Printable text (ASCII and letters of any script) is returned unchanged.
    """
    if text.isprintable() and "\\" not in text:
        return text
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


def safe_message(record: logging.LogRecord) -> str:
    """The record's message with its arguments filled in, then escaped (``escape_for_log``); a message
    whose arguments do not fit its format gives the format and the argument count, not the arguments."""
    try:
        message = record.getMessage()
    except (TypeError, ValueError):
        message = f"{record.msg} (arguments did not fit: {len(record.args or ())})"
    return escape_for_log(str(message))


def _utc(created: float) -> str:
    secs = int(created)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{int((created - secs) * 1000):03d}Z"


def exception_summary(exc_info) -> tuple[str, list[str]]:
    """``(type name, ["file:line in function", ...])`` of an ``exc_info`` triple, innermost frame last and
    at most ``MAX_FRAMES`` frames; never the exception's message."""
    etype, _, tb = exc_info
    where = [f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}" for f in traceback.extract_tb(tb)]
    return etype.__name__, where[-MAX_FRAMES:]


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: ``ts`` (UTC ISO 8601, ms), ``level``, ``logger``, ``msg``,
    the whitelisted ``extra`` fields (``SAFE_FIELDS``) and, for an exception, ``exc_type`` and
    ``exc_where`` (``["file:line in function", ...]``, innermost last; never the exception message)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": _utc(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": safe_message(record),
        }
        for key in sorted(SAFE_FIELDS):
            value = record.__dict__.get(key)
            if value is None:
                continue
            if not isinstance(value, (int, float, bool)):
                value = escape_for_log(str(value)[:MAX_FIELD_CHARS])
            out[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["exc_type"], out["exc_where"] = exception_summary(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class SafeTextFormatter(logging.Formatter):
    """``TEXT_FORMAT`` lines, the message escaped (``escape_for_log``) so one record is one line; an
    exception is shown as its type and code locations, without its message."""

    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.msg, safe.args = safe_message(record), None
        return super().format(safe)

    def formatException(self, ei) -> str:  # noqa: N802 (logging's name)
        name, where = exception_summary(ei)
        return f"{name} at " + " <- ".join(reversed(where)) if where else name

    def formatStack(self, stack_info: str) -> str:  # noqa: N802
        return ""


def _level(value: str | int) -> int:
    if isinstance(value, int):
        return value
    name = value.strip().upper()
    level = logging.getLevelName(name)
    if not isinstance(level, int):
        raise ValueError(f"{LOG_LEVEL_ENV} must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
    return level


def setup_logging(
    fmt: str | None = None,
    level: str | int | None = None,
    stream: IO[str] | None = None,
    default_level: int | None = None,
) -> None:
    """Configure one root handler (replacing any) and the application loggers' level.

    Args:
        fmt: ``"json"`` or ``"text"`` (``POLICYBOT_LOG_FORMAT``); None: ``"text"``.
        level: a level name or number for ``APP_LOGGERS`` (``POLICYBOT_LOG_LEVEL``); None: ``default_level``.
        stream: where to write (default ``sys.stderr``).
        default_level: the level when ``level`` is not given (None: leave the application loggers'
            levels alone, i.e. WARNING from the root).

    Raises:
        ValueError: an unknown format or level name (the message names the variable).
    """
    fmt = (fmt or "text").strip().lower()
    if fmt not in ("json", "text"):
        raise ValueError(f"{LOG_FORMAT_ENV} must be 'json' or 'text', not {fmt!r}")
    if level is None or (isinstance(level, str) and not level.strip()):
        level = default_level
    level = _level(level) if level is not None else None
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else SafeTextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.ERROR)
    if level is not None:
        for name in APP_LOGGERS:
            logging.getLogger(name).setLevel(level)


__all__ = [
    "JsonFormatter",
    "SafeTextFormatter",
    "escape_for_log",
    "safe_message",
    "SAFE_FIELDS",
    "APP_LOGGERS",
    "setup_logging",
    "exception_summary",
    "LOG_FORMAT_ENV",
    "LOG_LEVEL_ENV",
]
