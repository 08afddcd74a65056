"""The admin console's platform-free core (``bot.upkeep.console``): weekly gap counts, word-level clause diffs,
the closest clause for an unanswered question, and the cases screen's counts and chart."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from bot.reporting.service import CaseSummary
from bot.upkeep.console import (
    case_chart,
    case_counts,
    closest_clause,
    diff_with_words,
    gap_weeks,
    week_start,
    week_starts,
    weekly_gap_counts,
    word_diff,
)
from index.store import ClauseDiff

WED = date(2025, 3, 12)  # a Wednesday
MON = date(2025, 3, 10)


# ---- weeks ----------------------------------------------------------------------------------------
def test_weeks_start_on_monday_oldest_first():
    assert week_start(WED) == MON and week_start(MON) == MON and week_start(date(2025, 3, 16)) == MON
    starts = week_starts(12, WED)
    assert len(starts) == 12 and starts[-1] == MON and starts[0] == MON - timedelta(weeks=11)
    assert all(s.weekday() == 0 for s in starts) and starts == sorted(starts)
    assert week_starts(1, date(2025, 3, 16)) == [MON]  # a Sunday belongs to the week before it
    for bad in (0, -1, 10_000):
        with pytest.raises(ValueError):
            week_starts(bad, WED)


def test_weekly_gap_counts_sums_days_into_weeks_with_zeros():
    rows = [
        {"day": "2025-03-10", "reason": "abstained", "count": 2},
        {"day": "2025-03-12", "reason": "abstained", "count": 1},
        {"day": "2025-03-16", "reason": "not_helpful", "count": 4},  # Sunday: still this week
        {"day": "2025-03-09", "reason": "not_helpful", "count": 5},  # the Sunday before: last week
        {"day": "2024-01-01", "reason": "abstained", "count": 9},  # long before the weeks shown
        {"day": "garbage", "reason": "abstained", "count": 9},
        {"day": "2025-03-11", "reason": "other", "count": 9},
    ]
    weeks = weekly_gap_counts(rows, 3, WED)
    assert weeks == [
        {"week": "2025-02-24", "abstained": 0, "not_helpful": 0},
        {"week": "2025-03-03", "abstained": 0, "not_helpful": 5},
        {"week": "2025-03-10", "abstained": 3, "not_helpful": 4},
    ]


def test_gap_weeks_reads_the_store(fake_bot):
    store = fake_bot.store
    fake_bot.gaps.record("Where do I park at night?", "abstained")
    fake_bot.gaps.record("Where do I park at night?", "abstained")
    fake_bot.gaps.record("Can I post photos?", "not_helpful", clause_ids=["wbc:001"])
    old = store.add_gap("An old question?", "an old question", "abstained")
    with store._write():
        store.db.execute("UPDATE gaps SET created_at = '2020-01-06T09:00:00+00:00' WHERE id = ?", [old])
    today = datetime.now(UTC).date()
    weeks = gap_weeks(store, 12, today)
    assert len(weeks) == 12 and weeks[-1]["week"] == week_start(today).isoformat()
    assert weeks[-1]["abstained"] == 2 and weeks[-1]["not_helpful"] == 1
    assert sum(w["abstained"] for w in weeks) == 2  # the 2020 question is outside the 12 weeks
    by_day = store.gap_counts_by_day()
    assert {"day": "2020-01-06", "reason": "abstained", "count": 1} in by_day
    assert store.gap_counts_by_day(since="2021-01-01") == [r for r in by_day if r["day"] >= "2021"]


# ---- word diff ------------------------------------------------------------------------------------
def _side(ops, keep):
    return "".join(o["text"] for o in ops if o["op"] in ("equal", keep))


def test_word_diff_marks_changed_words_and_rebuilds_both_texts():
    old = "Staff must not accept friend requests from service users."
    new = "Staff should not accept friend requests from service users or their families."
    ops = word_diff(old, new)
    assert ops == [
        {"op": "equal", "text": "Staff"},
        {"op": "delete", "text": " must"},
        {"op": "insert", "text": " should"},
        {"op": "equal", "text": " not accept friend requests from service"},
        {"op": "delete", "text": " users."},  # words compare with their punctuation
        {"op": "insert", "text": " users or their families."},
    ]
    assert _side(ops, "insert") == new and _side(ops, "delete") == old


def test_word_diff_edge_cases():
    assert word_diff("", "") == []
    assert word_diff("same words here", "same   words here") == [{"op": "equal", "text": "same   words here"}]
    assert word_diff("", "all new") == [{"op": "insert", "text": "all new"}]
    assert word_diff("all gone", "") == [{"op": "delete", "text": "all gone"}]
    assert [o["op"] for o in word_diff("Do not post.", "Do post.")] == ["equal", "delete", "equal"]


def test_diff_with_words_adds_words_to_changed_pairs():
    a = {"clause_id": "x:001", "text": "You must check the settings.", "lead_in": None, "heading": "H", "number": "1"}
    b = dict(a, clause_id="x:001", text="You must check the privacy settings.")
    d = ClauseDiff("x", 1, 2, added=[dict(a, text="New.")], removed=[], changed=[(a, b)], unchanged=3)
    out = diff_with_words(d)
    assert out["unchanged"] == 3 and len(out["added"]) == 1
    (item,) = out["changed"]
    assert item["old"]["text"] == a["text"] and item["new"]["text"] == b["text"]
    assert {"op": "insert", "text": " privacy"} in item["words"]


# ---- closest clause -------------------------------------------------------------------------------
def test_closest_clause_even_when_the_bot_abstains(fake_bot):
    question = "How much is the car parking allowance for night shifts?"
    assert not fake_bot.ask(question, record_gap=False).answered
    best = closest_clause(fake_bot.index, question)
    assert best is not None and set(best) == {
        "doc_id",
        "organisation",
        "title",
        "section",
        "clause_id",
        "text",
        "score",
    }
    assert best["doc_id"] in {d["doc_id"] for d in fake_bot.store.documents()}
    assert isinstance(best["score"], float)
    # a clause's own words find that clause
    clause = sorted(fake_bot.index.snapshot.clauses.values(), key=lambda c: c.id)[30]
    found = closest_clause(fake_bot.index, clause.text)
    assert found is not None and found["clause_id"] == clause.clause_id and found["text"] == clause.text
    assert found["title"] == clause.document and found["organisation"] == clause.organisation
    with pytest.raises(ValueError):
        closest_clause(fake_bot.index, "   ")


# ---- cases ----------------------------------------------------------------------------------------
def _case(n, created, category="Online contact", state="new", overdue=False, escalated=False):
    return CaseSummary(
        ref=f"C-{n:05d}",
        status=state,
        escalated=escalated,
        category=category,
        handler="Bob Baker",
        created_at="-",
        ack_due="-",
        state=state,
        handler_id="bob",
        created_iso=created,
        ack_due_iso=created,
        closed_iso="2025-03-12T00:00:00+00:00" if state == "closed" else None,
        overdue=overdue,
    )


CASES = [
    _case(1, "2025-03-10T09:00:00+00:00"),
    _case(2, "2025-03-11T09:00:00+00:00", state="closed"),
    _case(3, "2025-03-02T23:30:00+00:00", category="Bullying", overdue=True, escalated=True),  # a Sunday
    _case(4, "2025-03-12T09:00:00+00:00", category="Bullying", state="acknowledged"),
    _case(5, "2024-01-01T09:00:00+00:00", state="closed"),  # outside the weeks shown
    _case(6, "not a date"),
]


def test_case_counts():
    assert case_counts(CASES) == {"open": 4, "overdue": 1, "escalated": 1, "closed": 2}
    assert case_counts([]) == {"open": 0, "overdue": 0, "escalated": 0, "closed": 0}


def test_case_chart_counts_submissions_a_week_by_category_and_state():
    chart = case_chart(CASES, 3, WED)
    assert chart["weeks"] == ["2025-02-24", "2025-03-03", "2025-03-10"]
    assert chart["series"] == [
        {"label": "Bullying — open", "category": "Bullying", "state": "open", "counts": [1, 0, 1]},
        {"label": "Online contact — open", "category": "Online contact", "state": "open", "counts": [0, 0, 1]},
        {"label": "Online contact — closed", "category": "Online contact", "state": "closed", "counts": [0, 0, 1]},
    ]
    assert case_chart([], 12, WED) == {"weeks": [s.isoformat() for s in week_starts(12, WED)], "series": []}


def test_case_chart_weeks_follow_the_time_zone():
    from zoneinfo import ZoneInfo

    late_sunday = [_case(1, "2025-03-09T23:30:00+00:00")]  # Monday 00:30 in Helsinki
    assert case_chart(late_sunday, 2, WED)["series"][0]["counts"] == [1, 0]
    assert case_chart(late_sunday, 2, WED, tz=ZoneInfo("Europe/Helsinki"))["series"][0]["counts"] == [0, 1]
