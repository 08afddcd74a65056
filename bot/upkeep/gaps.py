"""Gaps in the knowledge base: questions the bot abstained on and answers voted Not helpful.

Only the question text is kept (plus the quoted clause ids for a Not helpful vote). A user id is
kept only when the operator sets ``POLICYBOT_GAPS_KEEP_USERS=1``. HR sees the questions grouped by
``question_key`` (lower case, punctuation and extra spaces removed) with counts, most frequent first
(``policybot kb gaps``, or in chat through ``bot.upkeep.admin.KnowledgeAdmin.gaps``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datetime import datetime

    from bot.settings import Settings
    from index.store import KnowledgeStore

log = logging.getLogger(__name__)

REASONS = ("abstained", "not_helpful")
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)*")


def keep_user_ids(settings: Settings | None = None) -> bool:
    """True when ``POLICYBOT_GAPS_KEEP_USERS`` is on (``settings.gaps_keep_users``; off by default).

    Args:
        settings: the settings read at the entry point (None: read the process environment now).

    Raises:
        bot.settings.SettingsError: ``settings`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    from bot.settings import load_settings

    return (settings or load_settings()).gaps_keep_users


def question_key(question: str) -> str:
    """The grouping key of a question: its words, lower-cased, joined by single spaces.

    ``"Can I live-stream at work??"`` and ``"can i live stream at work"`` share the key
    ``"can i live stream at work"``. Curly apostrophes count as straight ones.
    """
    return " ".join(w.replace("’", "'") for w in _WORDS.findall(question.lower()))


@dataclass(frozen=True)
class GapGroup:
    """One group of kept questions.

    Attributes:
        key: the grouping key (``question_key``).
        question: the latest wording asked.
        count: how many times it was kept; ``abstained`` and ``not_helpful`` split it by reason.
        users: distinct user ids kept (0 unless user ids are kept).
        first_seen, last_seen: ISO 8601 timestamps (UTC).
    """

    key: str
    question: str
    count: int
    abstained: int
    not_helpful: int
    users: int
    first_seen: str
    last_seen: str

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return dict(self.__dict__)


class GapLog:
    """Records and reports gaps in one knowledge store.

    Args:
        store: the ``index.store.KnowledgeStore``.
        keep_users: keep user ids with the questions (default: ``keep_user_ids()``).
    """

    def __init__(self, store: KnowledgeStore, keep_users: bool | None = None) -> None:
        self.store = store
        self.keep_users = keep_user_ids() if keep_users is None else keep_users

    def record(
        self,
        question: str,
        reason: str,
        user_id: str | None = None,
        clause_ids: Iterable[str] | None = (),
        at: datetime | None = None,
    ) -> bool:
        """Keep ``question`` with ``reason`` (``"abstained"`` or ``"not_helpful"``), asked ``at`` (an aware
        datetime; default now).

        ``user_id`` is dropped unless user ids are kept. A database error is logged (without the
        question) and swallowed, so answering never fails because of gap keeping. Returns True when kept.

        Raises:
            ValueError: unknown ``reason``.
        """
        if reason not in REASONS:
            raise ValueError(f"unknown gap reason {reason!r}; expected one of {REASONS}")
        text = (question or "").strip()
        key = question_key(text)
        if not key:
            return False
        try:
            self.store.add_gap(text, key, reason, user_id if self.keep_users else None, tuple(clause_ids or ()), at)
        except sqlite3.Error as exc:
            log.warning("could not keep an unanswered question: %s", type(exc).__name__)
            return False
        return True

    def groups(self, since_days: float | None = None, limit: int | None = None) -> list[GapGroup]:
        """Kept questions grouped, most frequent first; ``since_days`` limits to the recent ones."""
        return [
            GapGroup(
                key=r["key"],
                question=r["question"],
                count=r["count"],
                abstained=r["abstained"] or 0,
                not_helpful=r["not_helpful"] or 0,
                users=r["users"] or 0,
                first_seen=r["first_seen"],
                last_seen=r["last_seen"],
            )
            for r in self.store.gap_groups(since_days=since_days, limit=limit)
        ]

    def clear(self, keys: list[str] | None = None) -> int:
        """Forget kept questions (the groups with ``keys``, or all). Returns rows deleted."""
        return self.store.clear_gaps(keys)


def format_gaps(groups: list[GapGroup], total_groups: int | None = None) -> str:
    """Plain text for HR: one line a group, count first, e.g. ``"  3×  can I live-stream ... (2 no answer, 1 not helpful)"``."""
    if not groups:
        return "No unanswered questions have been kept."
    lines = ["Questions the policies did not answer well (most asked first):"]
    for g in groups:
        why = []
        if g.abstained:
            why.append(f"{g.abstained} no answer")
        if g.not_helpful:
            why.append(f"{g.not_helpful} not helpful")
        lines.append(f"{g.count:>4}×  {g.question}  ({', '.join(why)}; last {g.last_seen[:10]})")
    if total_groups is not None and total_groups > len(groups):
        lines.append(f"… and {total_groups - len(groups)} more.")
    return "\n".join(lines)
