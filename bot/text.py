"""Shortening and splitting text to a channel's size limits (characters), the same way everywhere."""

from __future__ import annotations

import re
from collections.abc import Callable

_TOKEN = re.compile(r"\S+\s*|\s+")


def truncate(text: str, limit: int) -> str:
    """``text`` when at most ``limit`` characters, else its first ``limit - 1`` characters and ``"…"``."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def split_text(text: str, limit: int, fmt: Callable[[str], str] = lambda s: s) -> list[str]:
    """``text`` cut at whitespace into pieces whose ``fmt(piece)`` holds at most ``limit`` characters.

    ``fmt`` is how a piece is shown (e.g. escaped or quoted, which may lengthen it); the result holds the
    formatted pieces, stripped, never empty (``[fmt("")]`` for blank text). A word too long for one piece is
    hard-cut into pieces of ``limit // 6`` characters (room for escaping that grows text fivefold).
    """
    out: list[str] = []
    current = ""
    for token in _TOKEN.findall(text):
        while len(fmt(token)) > limit:
            if current:
                out.append(current)
                current = ""
            cut = max(1, limit // 6)
            out.append(token[:cut])
            token = token[cut:]
        if len(fmt(current + token)) > limit:
            out.append(current)
            current = token
        else:
            current += token
    if current.strip() or not out:
        out.append(current)
    return [fmt(p.strip()) for p in out if p.strip()] or [fmt("")]
