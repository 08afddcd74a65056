"""What the browser admin console computes, platform-free: weekly counts, word-level diffs, the closest clause.

The web layer (``adapters/admin.py``) fetches rows from the knowledge store and the reporting service and
shapes them with these functions; nothing here touches HTTP, and nothing here writes.

* ``week_starts`` / ``weekly_gap_counts`` / ``gap_weeks``: unanswered questions a week, the last N weeks.
* ``word_diff`` / ``diff_with_words``: a changed clause pair as word operations for highlighting.
* ``closest_clause``: the best-ranked clause for a question, also when the bot abstains on it.
* ``case_counts`` / ``case_chart``: the cases screen's totals and its chart series, from ``CaseSummary`` rows.

Weeks start on Monday and are calendar weeks in UTC unless a ``tz`` is given; every series has one entry a
week, zeros included, oldest first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.reporting.service import CaseSummary
    from index.retrieve import KnowledgeIndex
    from index.store import ClauseDiff, KnowledgeStore

DEFAULT_WEEKS = 12  #: weeks the console's charts show
MAX_WEEKS = 520  #: most weeks a series may ask for (ten years)
_TOKEN = re.compile(r"\s*\S+")  #: a word with the white space before it


def week_start(day: date) -> date:
    """The Monday of ``day``'s week (``day`` itself when it is a Monday)."""
    return day - timedelta(days=day.weekday())


def week_starts(weeks: int = DEFAULT_WEEKS, today: date | None = None) -> list[date]:
    """The Mondays of the last ``weeks`` weeks, oldest first; the last is the Monday of ``today``'s week.

    Args:
        weeks: how many weeks (1 to ``MAX_WEEKS``).
        today: the current date (default: today in UTC).

    Raises:
        ValueError: ``weeks`` outside 1..``MAX_WEEKS``.
    """
    if not 1 <= weeks <= MAX_WEEKS:
        raise ValueError(f"weeks must be between 1 and {MAX_WEEKS}, not {weeks}")
    last = week_start(today or datetime.now(UTC).date())
    return [last - timedelta(weeks=weeks - 1 - i) for i in range(weeks)]


def weekly_gap_counts(
    rows: Iterable[Mapping[str, Any]], weeks: int = DEFAULT_WEEKS, today: date | None = None
) -> list[dict[str, Any]]:
    """Unanswered questions a week: the rows of ``KnowledgeStore.gap_counts_by_day`` summed by Monday-start week.

    Args:
        rows: dicts with ``day`` (``"YYYY-MM-DD"``), ``reason`` (``"abstained"`` or ``"not_helpful"``) and
            ``count`` (int). Rows outside the weeks shown, with another reason or an unreadable day are ignored.
        weeks: how many weeks (1 to ``MAX_WEEKS``).
        today: the current date (default: today in UTC).

    Returns:
        ``[{"week": "YYYY-MM-DD" (the Monday), "abstained": int, "not_helpful": int}]``, one entry a week,
        oldest first, zeros included.

    Raises:
        ValueError: ``weeks`` outside 1..``MAX_WEEKS``.
    """
    starts = week_starts(weeks, today)
    counts: dict[date, dict[str, int]] = {s: {"abstained": 0, "not_helpful": 0} for s in starts}
    for row in rows:
        reason = row.get("reason")
        if reason not in ("abstained", "not_helpful"):
            continue
        try:
            bucket = counts.get(week_start(date.fromisoformat(str(row.get("day")))))
        except ValueError:
            continue
        if bucket is not None:
            bucket[reason] += int(row.get("count") or 0)
    return [{"week": s.isoformat(), **n} for s, n in counts.items()]


def gap_weeks(store: KnowledgeStore, weeks: int = DEFAULT_WEEKS, today: date | None = None) -> list[dict[str, Any]]:
    """``weekly_gap_counts`` of the questions kept in ``store`` (an ``index.store.KnowledgeStore``) since the
    first Monday shown. Same shape and errors; ``sqlite3.Error`` when the store cannot be read."""
    first = week_starts(weeks, today)[0]
    return weekly_gap_counts(store.gap_counts_by_day(since=first.isoformat()), weeks, today)


def word_diff(old: str, new: str) -> list[dict[str, str]]:
    """A word-level diff of two clause texts (``difflib.SequenceMatcher`` on their words).

    Words are compared as written (case and punctuation count); the white space between them does not.
    Each operation's ``text`` keeps the white space before its words, so joining the ``"equal"`` and
    ``"insert"`` texts gives ``new`` and joining the ``"equal"`` and ``"delete"`` texts gives ``old`` (both
    without trailing white space). A replaced run is a ``"delete"`` followed by an ``"insert"``.

    Returns:
        ``[{"op": "equal" | "insert" | "delete", "text": str}]`` in reading order, no empty texts; ``[]``
        when both texts are empty or blank.
    """
    a, b = _TOKEN.findall(old or ""), _TOKEN.findall(new or "")
    matcher = difflib.SequenceMatcher(None, [t.strip() for t in a], [t.strip() for t in b], autojunk=False)
    ops: list[dict[str, str]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            ops.append({"op": "equal", "text": "".join(b[j1:j2])})
            continue
        if tag in ("delete", "replace"):
            ops.append({"op": "delete", "text": "".join(a[i1:i2])})
        if tag in ("insert", "replace"):
            ops.append({"op": "insert", "text": "".join(b[j1:j2])})
    return ops


def diff_with_words(diff: ClauseDiff) -> dict[str, Any]:
    """``ClauseDiff.to_json()`` with ``"words"`` (``word_diff`` of the old and new clause text) added to each
    item of ``"changed"``: ``{"old": {...}, "new": {...}, "words": [{"op", "text"}]}``."""
    out = diff.to_json()
    for item, (old, new) in zip(out["changed"], diff.changed, strict=True):
        item["words"] = word_diff(str(old.get("text") or ""), str(new.get("text") or ""))
    return out


def closest_clause(index: KnowledgeIndex, question: str) -> dict[str, Any] | None:
    """The live clause that ranks first for ``question``, whether or not the bot would answer it.

    Ranks as the bot does (``KnowledgeIndex.search`` with the embedder's shipped settings) but ignores the
    abstention verdict, so HR can see what came nearest to an unanswered question. Reads the index only;
    call it where the index may be used (the engine thread).

    Returns:
        ``{"doc_id", "organisation", "title", "section" (str | None), "clause_id", "text", "score"}`` (score:
        the fused ranking score, cosine plus weighted keyword score, rounded to 4 places), or None when the
        index has no clause to offer.

    Raises:
        ValueError: ``question`` is empty or blank.
    """
    result = index.search((question or "").strip(), k=1)  # ValueError for an empty question
    if not result.hits:
        return None
    hit = result.hits[0]
    c = hit.clause
    return {
        "doc_id": c.doc_id,
        "organisation": c.organisation,
        "title": c.document,
        "section": c.section,
        "clause_id": c.clause_id,
        "text": c.text,
        "score": round(float(hit.score), 4),
    }


def _is_closed(case: CaseSummary) -> bool:
    return case.state == "closed" or bool(case.closed_iso)


def case_counts(cases: Iterable[CaseSummary]) -> dict[str, int]:
    """Totals for the cases screen.

    Returns:
        ``{"open", "overdue", "escalated", "closed"}``: cases not closed; open cases whose acknowledgement
        is overdue (``CaseSummary.overdue``); open cases escalated to HR; closed cases.
    """
    counts = {"open": 0, "overdue": 0, "escalated": 0, "closed": 0}
    for c in cases:
        if _is_closed(c):
            counts["closed"] += 1
            continue
        counts["open"] += 1
        counts["overdue"] += int(bool(c.overdue))
        counts["escalated"] += int(bool(c.escalated))
    return counts


def case_chart(
    cases: Sequence[CaseSummary], weeks: int = DEFAULT_WEEKS, today: date | None = None, tz: tzinfo = UTC
) -> dict[str, Any]:
    """Cases submitted a week, split by category and by whether each case is now open or closed.

    Args:
        cases: ``CaseSummary`` rows (``created_iso`` an ISO 8601 time; a row without a readable one, or
            submitted outside the weeks shown, is left out of the chart).
        weeks: how many weeks (1 to ``MAX_WEEKS``).
        today: the current date in ``tz`` (default: today in ``tz``; pass the reporting service's clock).
        tz: the time zone whose calendar weeks are counted (default UTC).

    Returns:
        ``{"weeks": ["YYYY-MM-DD" (Mondays), ...], "series": [{"label": "<category> — <state>", "category",
        "state": "open" | "closed", "counts": [int a week]}]}``: weeks oldest first; one series for each
        category and state with at least one case in those weeks, by category then open before closed.

    Raises:
        ValueError: ``weeks`` outside 1..``MAX_WEEKS``.
    """
    starts = week_starts(weeks, today or datetime.now(tz).date())
    slot = {s: i for i, s in enumerate(starts)}
    series: dict[tuple[str, str], list[int]] = {}
    for c in cases:
        try:
            created = datetime.fromisoformat(c.created_iso)
        except (TypeError, ValueError):
            continue
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        i = slot.get(week_start(created.astimezone(tz).date()))
        if i is None:
            continue
        key = (c.category or "Uncategorised", "closed" if _is_closed(c) else "open")
        series.setdefault(key, [0] * len(starts))[i] += 1
    return {
        "weeks": [s.isoformat() for s in starts],
        "series": [
            {"label": f"{cat} — {state}", "category": cat, "state": state, "counts": counts}
            for (cat, state), counts in sorted(series.items(), key=lambda kv: (kv[0][0], kv[0][1] != "open"))
        ],
    }


__all__ = [
    "DEFAULT_WEEKS",
    "case_chart",
    "case_counts",
    "closest_clause",
    "diff_with_words",
    "gap_weeks",
    "week_start",
    "week_starts",
    "weekly_gap_counts",
    "word_diff",
]
