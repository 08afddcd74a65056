"""Demo data for the local demo (``make run``): a few confidential-report cases and unanswered questions, so
the admin console, the case lists and the App Home have something to show on a fresh data directory.

Everything goes through the real paths: each case is reported by typing the report conversation into the
engine as its (fictional, sample-directory) reporter, with the reporting clock set back to when it
happened, then acknowledged, asked about or closed by its handler; the deadline runner then sends the
reminders and escalations that would have been due. The unanswered questions are asked of the bot and
kept as gaps, backdated over the last weeks, when it abstains (as it keeps them itself), or voted Not
helpful. Nothing here runs outside dev mode: the command refuses without it, and a marker file in the data
dir makes seeding happen once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.messages import Inbound

MARKER = "demo-seeded"  #: file in the data dir written once the demo data is in

#: (reporter, category number in the bundled routing, what happened, when, where, identity, days ago,
#: then the handler's actions as (days after the report, action, text))
DEMO_CASES: tuple[tuple[str, str, str, str, str, str, float, tuple[tuple[float, str, str], ...]], ...] = (
    (
        "alice",
        "2",
        "The father of a young person I support sent me a friend request and a message on Facebook.",
        "last Monday",
        "Facebook Messenger",
        "confidential",
        9.0,
        (),  # never acknowledged: overdue, escalated to HR by the deadline runner
    ),
    (
        "dan",
        "1",
        "A colleague keeps posting mocking comments about my work in the team's WhatsApp group.",
        "4 days ago",
        "Team WhatsApp group",
        "named",
        3.0,
        ((1.0, "acknowledge", ""),),
    ),
    (
        "alice",
        "5",
        "A colleague posted a photo from a service user's birthday party on their public Instagram.",
        "yesterday 3pm",
        "Instagram, public profile",
        "confidential",
        1.0,
        (),
    ),
    (
        "dan",
        "6",
        "A young person I support said an adult they met in an online game keeps asking them to chat privately.",
        "yesterday 3pm",
        "An online game's chat",
        "named",
        5.0,
        ((0.5, "acknowledge", ""),),
    ),
    (
        "bob",
        "1",
        "Anonymous messages about a colleague's appearance were sent to our team email list.",
        "2 days ago",
        "Team email list",
        "confidential",
        24.0,
        ((1.0, "acknowledge", ""), (2.0, "ask", "Do you still have the messages?"), (9.0, "close", "Resolved.")),
    ),
)

#: (question, days ago) the bundled policies do not answer: asked of the bot, kept as gaps when it abstains
DEMO_UNANSWERED = (
    ("How many days of annual leave do I get?", 40.0),
    ("How many days of annual leave do I get?", 26.0),
    ("Can I claim mileage for home visits?", 19.0),
    ("What is the dress code on training days?", 12.0),
    ("How many days of annual leave do I get?", 9.0),
    ("Can I use my own laptop for work emails?", 4.0),
    ("Can I claim mileage for home visits?", 1.0),
)
#: (question, days ago) voted Not helpful after the bot answered
DEMO_NOT_HELPFUL = (("can I post photos from the staff Christmas party?", 6.0),)


@dataclass
class DemoResult:
    """What ``seed_demo`` added: ``cases`` (references), ``gaps`` (questions kept), ``skipped`` (True when the
    marker said it had been done)."""

    cases: list[str]
    gaps: int
    skipped: bool = False


def seed_demo(engine: Any, data_dir: str | Path, now: Callable[[], datetime] | None = None) -> DemoResult:
    """Add the demo cases and unanswered questions once to ``data_dir``.

    Args:
        engine: a ``bot.engine.ConversationEngine`` with reporting on (``engine.reporting``) and the sample
            directory; its Policybot answers the questions.
        data_dir: where the marker file goes.
        now: the current time (default: the reporting service's clock).

    Returns:
        ``DemoResult``; ``skipped`` when the marker exists (nothing added).

    Raises:
        RuntimeError: reporting is off, or a demo report did not end in a case (a changed report flow).
    """
    marker = Path(data_dir) / MARKER
    if marker.exists():
        return DemoResult([], 0, skipped=True)
    svc = engine.reporting
    if svc is None:
        raise RuntimeError("reporting is off: the demo needs it (dev mode)")
    real_clock = svc.clock
    at = now() if now is not None else real_clock()
    refs: list[str] = []
    try:
        for reporter, category, what, when, where, identity, days_ago, actions in DEMO_CASES:
            reported = at - timedelta(days=days_ago)
            svc.clock = lambda t=reported: t
            before = set(svc.cases.case_ids())
            for text in ("report", category, what, when, where, "1", identity, "submit"):
                engine.handle(Inbound(user_id=reporter, text=text, conversation_id="demo", private=True))
            new = sorted(set(svc.cases.case_ids()) - before)
            if len(new) != 1:
                raise RuntimeError("a demo report did not end in a case")
            case = svc.cases.get_case(new[0])
            refs.append(case.ref)
            for after, action, text in actions:
                svc.clock = lambda t=reported + timedelta(days=after): t
                if action == "acknowledge":
                    svc.acknowledge(case.handler_id, case.id, via="demo")
                elif action == "ask":
                    svc.request_info(case.handler_id, case.id, text, via="demo")
                else:
                    svc.close_case(case.handler_id, case.id, text, via="demo")
        svc.clock = lambda: at
        svc.tick(at)  # the reminders and escalations due by now
    finally:
        svc.clock = real_clock
    bot = engine.bot
    kept = 0
    for q, days_ago in DEMO_UNANSWERED:  # kept when asked (backdated), as the bot keeps them when it abstains
        if not bot.ask(q, record_gap=False).answered:
            kept += bot.gaps.record(q, "abstained", at=at - timedelta(days=days_ago))
    for q, days_ago in DEMO_NOT_HELPFUL:
        answer = bot.ask(q, record_gap=False)
        clauses = tuple(c.clause_id for c in answer.quotes)
        kept += bot.gaps.record(q, "not_helpful", clause_ids=clauses, at=at - timedelta(days=days_ago))
    marker.write_text("demo cases and unanswered questions added; delete this file to add them again\n")
    return DemoResult(refs, kept)


__all__ = ["DEMO_CASES", "DEMO_NOT_HELPFUL", "DEMO_UNANSWERED", "MARKER", "DemoResult", "seed_demo"]
