"""A person's home screen (Slack's App Home tab, or any channel's start page), platform-free.

``home_view(user_id, directory, reporting)`` says what to show: how to ask a question (a few example
questions), the "Report a concern" button when reporting is available to the person, and for handlers
and HR (``ReportingService.role_of``) the cases still open that they may see (HR: every open case).

Only what ``ReportingService.list_cases`` already shows that person is used (reference, category,
status, deadline, handler, overdue, escalated): never what happened, never who reported. Every read is
audited by ``list_cases`` under the ``via`` the channel names (e.g. ``"slack_home"``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING

from bot.messages import REPORT_ACTION_ID, REPORT_LABEL, Choice

if TYPE_CHECKING:
    from bot.directory import Directory
    from bot.reporting.service import CaseSummary, ReportingService

#: a handler's "Open" on a case: the case as ``show C-00001`` gives it, posted privately (``ReportingService``)
OPEN_CASE_ACTION_ID = "case:show"
OPEN_CASE_LABEL = "Open"

INTRO = (
    "I answer questions about the social media policies by quoting them word for word, "
    "with the document and section each quote comes from."
)
EXAMPLE_QUESTIONS = (
    "Can I accept a friend request from a service user?",
    "Can I post photos from a work event?",
    "What should I do if a journalist contacts me about a post?",
    "compare friend requests from service users",
)
HOW_TO_ASK = "Send me a direct message with your question, or mention me in a channel."
REPORT_NOTE = (
    "Tell us in confidence about something that worries you, such as harassment online or contact from a "
    "service user. We'll continue in a private message; you choose whether the handler sees your name."
)
NOT_IN_DIRECTORY_NOTE = (
    "I can't find you in the staff directory, so I can't take a report here. Please contact HR directly."
)
CLOSED_STATE = "closed"
NEW_STATE = "new"


@dataclass(frozen=True)
class HomeCase:
    """One open case as its handler (or HR) sees it on the home screen.

    Attributes:
        ref: the case reference, e.g. ``"C-00001"``.
        category: the category's label, e.g. ``"Cyber-bullying or harassment by a colleague"``.
        status: the status in words, e.g. ``"waiting to be acknowledged"``.
        state: the status code (``bot.reporting.cases.CaseStatus`` value, e.g. ``"new"``).
        deadline: ``"acknowledge by 9 Dec 17:00"`` (the service's time zone; the year added when it is
            not this year) while waiting to be acknowledged, else ``""``.
        overdue: not acknowledged and the acknowledgement deadline has passed.
        escalated: escalated to HR.
        handler: the handler's name (shown to HR, who see everyone's cases).
    """

    ref: str
    category: str
    status: str
    state: str
    deadline: str
    overdue: bool
    escalated: bool
    handler: str = ""


@dataclass(frozen=True)
class HomeView:
    """What the home screen shows one person.

    Attributes:
        user_id: whose home it is (directory id, or ``"<platform>:<id>"`` for someone not in it).
        name: their name from the directory, or ``""``.
        intro: one sentence on what the bot does.
        examples: short example questions (plain text).
        how_to_ask: how to ask (a direct message, a mention).
        report: the "Report a concern" choice (action ``REPORT_ACTION_ID``, as every other entry point),
            or None when reporting is off or the person cannot report here.
        report_note: what reporting is (with ``report``), why they cannot report here, or ``""`` when
            reporting is off.
        role: ``"hr"``, ``"handler"`` or None (``ReportingService.role_of``); None shows no cases at all.
        cases: the open cases the person may see, most urgent first (overdue, then waiting to be
            acknowledged by deadline, then the rest oldest first); empty when ``role`` is None.
        count_line: e.g. ``"You have 2 open cases to handle: 1 overdue."``; ``""`` when ``role`` is None.
    """

    user_id: str
    name: str
    intro: str
    examples: tuple[str, ...]
    how_to_ask: str
    report: Choice | None
    report_note: str
    role: str | None
    cases: tuple[HomeCase, ...]
    count_line: str

    def open_choice(self, case: HomeCase) -> Choice:
        """The "Open" button of ``case``: posts the case to the person privately (``OPEN_CASE_ACTION_ID``)."""
        return Choice(OPEN_CASE_LABEL, OPEN_CASE_ACTION_ID, case.ref)


def home_view(
    user_id: str,
    directory: Directory | None,
    reporting: ReportingService | None,
    via: str = "home",
) -> HomeView:
    """The home screen of ``user_id``.

    Args:
        user_id: directory id, or ``"<platform>:<id>"`` for someone the directory does not know.
        directory: the staff directory (for the person's name), or None.
        reporting: the reporting service, or None when reporting is off (no button, no cases).
        via: the channel named in the audit of the case list read (e.g. ``"slack_home"``).

    Returns:
        ``HomeView``. Not thread-safe beyond what ``ReportingService`` is: a server calls it on its
        engine thread. Raises what ``ReportingService.list_cases`` raises (a database error).
    """
    people = reporting.directory if reporting is not None else directory
    person = people.get(user_id) if people is not None else None
    report: Choice | None = None
    note = ""
    role: str | None = None
    cases: tuple[HomeCase, ...] = ()
    if reporting is not None:
        if person is not None:
            report = Choice(REPORT_LABEL, REPORT_ACTION_ID, "", "primary")
            note = REPORT_NOTE
        else:
            note = NOT_IN_DIRECTORY_NOTE
        role = reporting.role_of(user_id)
        if role is not None:
            now = reporting.clock()
            rows = [r for r in reporting.list_cases(user_id, via=via) if r.state != CLOSED_STATE]
            cases = tuple(_case(r, reporting.tz, now, show_handler=role == "hr") for r in sorted(rows, key=_urgency))
    return HomeView(
        user_id=user_id,
        name=person.name if person is not None else "",
        intro=INTRO,
        examples=EXAMPLE_QUESTIONS,
        how_to_ask=HOW_TO_ASK,
        report=report,
        report_note=note,
        role=role,
        cases=cases,
        count_line=count_line(role, cases),
    )


def count_line(role: str | None, cases: tuple[HomeCase, ...]) -> str:
    """The line above the case list: how many open cases, how many overdue and escalated; ``""`` for
    ``role`` None. E.g. ``"3 open cases: 1 overdue, 1 escalated to HR."`` (HR),
    ``"You have 1 open case to handle."`` (a handler), ``"You have no open cases."``."""
    if role is None:
        return ""
    n = len(cases)
    if n == 0:
        return "There are no open cases." if role == "hr" else "You have no open cases."
    counted = f"{n} open case{'' if n == 1 else 's'}"
    head = counted if role == "hr" else f"You have {counted} to handle"
    notes = []
    overdue = sum(1 for c in cases if c.overdue)
    escalated = sum(1 for c in cases if c.escalated)
    if overdue:
        notes.append(f"{overdue} overdue")
    if escalated:
        notes.append(f"{escalated} escalated to HR")
    return head + (": " + ", ".join(notes) if notes else "") + "."


def deadline_text(iso: str, tz: tzinfo, now: datetime) -> str:
    """``"9 Dec 17:00"`` for an ISO 8601 time in ``tz``; ``"9 Dec 2026 17:00"`` when its year is not
    ``now``'s (in ``tz``). ``""`` for ``""``. Raises ``ValueError`` for a malformed time."""
    if not iso:
        return ""
    at = datetime.fromisoformat(iso).astimezone(tz)
    year = f" {at.year}" if at.year != now.astimezone(tz).year else ""
    return f"{at.day} {at:%b}{year} {at:%H:%M}"


def _urgency(r: CaseSummary) -> tuple[int, str, str]:
    if r.overdue:
        return (0, r.ack_due_iso, r.ref)
    if r.state == NEW_STATE:
        return (1, r.ack_due_iso, r.ref)
    return (2, r.created_iso, r.ref)


def _case(r: CaseSummary, tz: tzinfo, now: datetime, show_handler: bool) -> HomeCase:
    due = deadline_text(r.ack_due_iso, tz, now) if r.state == NEW_STATE else ""
    return HomeCase(
        ref=r.ref,
        category=r.category,
        status=r.status,
        state=r.state,
        deadline=f"acknowledge by {due}" if due else "",
        overdue=r.overdue,
        escalated=r.escalated,
        handler=r.handler if show_handler else "",
    )
