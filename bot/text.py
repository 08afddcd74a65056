"""Fitting content to a channel's size limits the same way everywhere: shortening and splitting text
(characters), packing groups of items (blocks, card elements) into messages."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
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


def pack(groups: list[list[T]], tail: list[T], limit: int) -> list[list[T]]:
    """``groups`` then ``tail`` packed in order into messages of at most ``limit`` items each.

    A group (e.g. a quote's blocks) stays in one message unless it alone exceeds ``limit``, when it is
    spread over messages of its own; ``tail`` (e.g. buttons) follows the last group, split into chunks
    of ``limit``. Returns at least one message (``[[]]`` when there is nothing).
    """
    messages: list[list[T]] = [[]]
    for group in groups:
        while len(group) > limit:
            if messages[-1]:
                messages.append([])
            messages[-1] = group[:limit]
            group = group[limit:]
            messages.append([])
        if len(messages[-1]) + len(group) > limit:
            messages.append([])
        messages[-1].extend(group)
    for start in range(0, len(tail), limit):
        chunk = tail[start : start + limit]
        if len(messages[-1]) + len(chunk) > limit:
            messages.append([])
        messages[-1].extend(chunk)
    return [m for m in messages if m] or [[]]
