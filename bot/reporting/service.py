"""Confidential reporting: the platform-free service behind every adapter.

``ReportingService`` runs the guided report flow (``bot.reporting.flow``), stores drafts and cases encrypted
(``bot.reporting.cases``), routes each case to its handler from configuration (``bot.reporting.routing``, ``bot.directory``),
queues private messages in the outbox (``bot.reporting.outbox``), enforces who may see what, audits every read,
and runs deadlines (``tick``).

Who sees what:

* the reporter: their draft, and their case through its receipt (``status <receipt>``) only;
* the handler: the content of their own cases; the reporter's name only when the report is named;
* HR: every case, including who reported it;
* anyone else: nothing, even holding a valid receipt or case reference.

Messages for the reporter that someone else's action causes (status changes, questions) go to the
outbox only, never into the acting user's reply, so a handler's client never learns who reported.
Logs carry case references and step names, never report content or the reporter's identity.
"""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.directory import ROLE_SAFEGUARDING, Directory, DirectoryError, Person, directory_path
from bot.messages import REPORT_ACTION_ID, Action, Choice, Inbound, Outbound
from bot.reporting.cases import (
    CASES_DB_NAME,
    CS,
    STATUS_TEXT,
    CaseDB,
    CaseRecord,
    CaseStatus,
    IllegalStatusChange,
    case_actions,
    case_ref,
    check_status_change,
    format_receipt,
    new_receipt,
    normalize_receipt,
    parse_case_ref,
    ts,
)
from bot.reporting.crypto import ReportCipher, ReportingNotConfigured, is_dev_mode, load_key
from bot.reporting.flow import (
    CANCEL_WORDS,
    MAX_WHAT_CHARS,
    Draft,
    ReportFlow,
    _normal,
    fmt_when,
    now_utc,
)
from bot.reporting.outbox import Outbox
from bot.reporting.reportable import is_report_request
from bot.reporting.routing import PolicyQuotes, RoutingConfig, RoutingError, routing_path

if TYPE_CHECKING:
    from bot.settings import Settings
    from index.store import KnowledgeStore

log = logging.getLogger("policybot.reporting")

NOT_FOUND_RECEIPT = (
    "I couldn't find a report with that receipt that belongs to you. Check the receipt "
    "(it looks like R-XXXX-XXXX-XXXX-XXXX)."
)
NOT_VISIBLE = "I can't find that case among the cases you can see."
#: a case shown again in the same person's list through the same channel within this time is not audited again
LIST_AUDIT_WINDOW = timedelta(hours=1)
PRIVATE_NOTE = "I've sent you a private message."
NOT_IN_DIRECTORY = "I can't find you in the staff directory, so I can't take a report here. Please contact HR directly."

_STATUS_CMD = re.compile(r"^status\b[:\s]*(.*)$", re.IGNORECASE | re.DOTALL)
_REPLY_CMD = re.compile(r"^reply\s+(\S+)\s*(.*)$", re.IGNORECASE | re.DOTALL)
_CASE_CMD = re.compile(r"^(ack|acknowledge|show|close|ask)\s+(c-?\d+)\b\s*(.*)$", re.IGNORECASE | re.DOTALL)
_RECEIPT_SHAPE = re.compile(r"[Rr]?[\s\-]*(?:[0-9A-Za-z]{4}[\s\-]*){4}")
_LIST_CMD = re.compile(r"^(my )?cases$", re.IGNORECASE)


class AccessDenied(LookupError):
    """The user may not see or act on that case; the same message whether or not the case exists."""


class BadReportInput(ValueError):
    """Text for a case action (question, outcome, reply) that cannot be taken; the message says why."""


@dataclass
class CaseView:
    """What one viewer may see of a case (no receipt; reporter only for HR or a named report).

    ``events``: ``[(ISO time, kind, actor name, text)]``, oldest first.
    """

    ref: str
    status: str
    status_text: str
    escalated: bool
    category: str
    what: str
    when: str
    where: str
    identity: str
    reporter: str
    handler_id: str
    handler: str
    created_at: str
    ack_due: str
    acknowledged_at: str | None
    closed_at: str | None
    events: list[tuple[str, str, str, str]] = field(default_factory=list)
    ack_due_iso: str = ""  #: ``ack_due`` as ISO 8601 UTC
    actions: tuple[str, ...] = ()  #: what its handler or HR can do now (``bot.reporting.cases.case_actions``)

    def lines(self) -> list[str]:
        """Plain-text lines for the CLI and the console."""
        out = [
            f"Case {self.ref}: {self.status_text}" + (" (escalated to HR)" if self.escalated else ""),
            f"Category: {self.category}",
            f"What happened: {self.what}",
            f"When: {self.when}",
            f"Where and links: {self.where}",
            f"Reported by: {self.reporter}",
            f"Handler: {self.handler}",
            f"Submitted: {self.created_at}; acknowledge by: {self.ack_due}",
        ]
        if self.events:
            out.append("History:")
            out += [
                f"  {at}  {kind} by {actor}" + (f": {text}" if text else "") for at, kind, actor, text in self.events
            ]
        return out


@dataclass
class CaseSummary:
    """One line of ``cases list``: reference, status, category, handler, times (display form), and the same
    facts for screens that compute with them: ``state`` (``CaseStatus`` value, e.g. ``"new"``), the handler's
    directory id, ISO 8601 UTC times (None when not yet) and ``overdue`` (not acknowledged, not closed, and
    the acknowledgement deadline has passed by the service's clock)."""

    ref: str
    status: str
    escalated: bool
    category: str
    handler: str
    created_at: str
    ack_due: str
    state: str = ""
    handler_id: str = ""
    created_iso: str = ""
    ack_due_iso: str = ""
    acknowledged_iso: str | None = None
    closed_iso: str | None = None
    overdue: bool = False


class ReportingService:
    """Confidential reporting for every adapter. Thread-safe.

    Args:
        data_dir: where ``cases.db`` lives.
        directory: the staff directory.
        cipher: encryption and blind indexes (``ReportCipher``).
        routing: categories, routes and deadlines.
        policy_store: the knowledge store, for quoting clauses (None: no quotes).
        clock: returns the current aware datetime (default: UTC now); injectable for tests.

    Raises:
        sqlite3.DatabaseError: ``cases.db`` is not a database.
    """

    def __init__(
        self,
        data_dir: str | Path,
        directory: Directory,
        cipher: ReportCipher,
        routing: RoutingConfig,
        policy_store: KnowledgeStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.directory = directory
        self.routing = routing
        self.clock = clock or now_utc
        self.cases = CaseDB(self.data_dir / CASES_DB_NAME, cipher)
        self.outbox = Outbox(self.cases)
        self.flow = ReportFlow(directory, routing, PolicyQuotes(policy_store), lambda: self.clock())
        self.tz = self.flow.tz
        self._lock = threading.RLock()

    @classmethod
    def open(
        cls,
        data_dir: str | Path,
        policy_store: KnowledgeStore | None = None,
        dev: bool | None = None,
        clock: Callable[[], datetime] | None = None,
        settings: Settings | None = None,
    ) -> ReportingService:
        """Open reporting for a data dir: key, directory and routing from ``settings`` (the
        ``bot.settings.Settings`` read at the entry point; None: the process environment, read now) and config.

        Raises:
            ReportingNotConfigured: no key (outside dev mode), a bad key, no directory, or a bad
                directory or routing file.
        """
        dev = is_dev_mode(dev, settings)
        key = load_key(data_dir, dev=dev, settings=settings)
        dpath = directory_path(data_dir, dev=dev, settings=settings)
        if dpath is None:
            raise ReportingNotConfigured(
                "confidential reporting needs a staff directory: set POLICYBOT_DIRECTORY or put directory.toml "
                "in the data dir (see config/directory.sample.toml)"
            )
        try:
            directory = Directory.load(dpath)
            routing = RoutingConfig.load(routing_path(data_dir, settings=settings))
        except (DirectoryError, RoutingError) as exc:
            raise ReportingNotConfigured(str(exc)) from None
        return cls(data_dir, directory, ReportCipher(key), routing, policy_store=policy_store, clock=clock)

    def close(self) -> None:
        """Close the database connection."""
        self.cases.close()

    # ---- helpers ---------------------------------------------------------------------------------
    def _now(self) -> datetime:
        return self.clock()

    def _fmt(self, iso: str | None) -> str:
        return fmt_when(iso, self.tz) if iso else "-"

    @property
    def idle_limit(self) -> timedelta:
        """How long a draft may sit unanswered before it expires."""
        return timedelta(hours=self.routing.deadlines.draft_idle_hours)

    def _privately(self, inbound: Inbound, msgs: list[Outbound]) -> list[Outbound]:
        """In a shared channel, say only a neutral note there and address every message to the user."""
        if inbound.private:
            return msgs
        return [Outbound(kind="text", text=PRIVATE_NOTE)] + [
            m if m.to_user else replace(m, to_user=inbound.user_id) for m in msgs
        ]

    def _text_check(self, text: str | None, what: str) -> str:
        t = (text or "").strip()
        if not t:
            raise BadReportInput(f"Please type the {what}.")
        if len(t) > MAX_WHAT_CHARS:
            raise BadReportInput(f"That is {len(t):,} characters; please keep the {what} under {MAX_WHAT_CHARS:,}.")
        if "\x00" in t:
            raise BadReportInput("That message contains characters I can't read; please retype it.")
        return t

    # ---- entry point -----------------------------------------------------------------------------
    def expire_idle_draft(self, user_id: str) -> list[Outbound]:
        """Delete the user's draft if idle longer than the limit; returns the notice (or [])."""
        draft = self.cases.load_draft(user_id)
        if draft is None:
            return []
        now = self._now()
        if not draft.updated_at or datetime.fromisoformat(draft.updated_at) >= now - self.idle_limit:
            return []
        if self.cases.delete_draft_key(self.cases.user_key(user_id), now - self.idle_limit):
            log.info("report draft expired")
            return [self._expired_notice()]
        return []

    def _expired_notice(self, to_user: str | None = None) -> Outbound:
        hours = self.routing.deadlines.draft_idle_hours
        return Outbound(
            kind="text",
            to_user=to_user,
            flow="report",
            text=(
                f"Your unfinished report was left for {hours:g} hours, so it has been deleted and nothing was sent. "
                "Type `report` to start again."
            ),
        )

    def handle(self, inbound: Inbound) -> list[Outbound] | None:
        """Handle ``inbound`` if it belongs to reporting; None when it is not (e.g. a policy question).

        Reporting covers: ``report:*`` and ``case:*`` buttons; in a private conversation, any text
        while a draft or a pending question/outcome/reply is open; "report" requests and the
        ``report`` command; ``status <receipt>``; ``reply <receipt> <text>``; handler commands
        (``cases``, ``show|ack C-1``, ``ask|close C-1 <text>``). Never raises for user input.
        """
        with self._lock:
            a = inbound.action if inbound.source == "action" else None
            if a is not None:
                if a.action_id.startswith("report:"):
                    return self._privately(inbound, self._report_action(inbound, a))
                if a.action_id.startswith("case:"):
                    return self._privately(inbound, self._case_action(inbound.user_id, a))
                return None
            text = (inbound.text or "").strip()
            norm = _normal(text)
            user = inbound.user_id
            m = _STATUS_CMD.match(text)
            if m and (
                normalize_receipt(m.group(1))
                or not m.group(1).strip()
                and not self._busy(user)
                or _RECEIPT_SHAPE.fullmatch(m.group(1).strip())
                and not self._busy(user)
            ):
                return self._privately(inbound, self.status(user, m.group(1)))
            if inbound.private:
                pending = self.cases.get_pending(user)
                if pending is not None:
                    return self._pending_input(user, pending, text)
                draft = self.cases.load_draft(user)
                if draft is not None:
                    if is_report_request(text) or (inbound.source == "command" and norm == "report"):
                        return self.flow.prompt(
                            draft, "You have a report in progress; let's continue where you left off."
                        )
                    return self._step(draft, inbound)
            if (inbound.source == "command" and norm == "report") or is_report_request(text):
                return self._privately(inbound, self._start(user))
            m = _REPLY_CMD.match(text)
            if m and normalize_receipt(m.group(1)):
                return self._privately(inbound, self._reply_by_receipt(user, m.group(1), m.group(2)))
            m = _CASE_CMD.match(text)
            if m:
                return self._privately(inbound, self._case_command(user, m.group(1).lower(), m.group(2), m.group(3)))
            if _LIST_CMD.match(norm):
                return self._privately(inbound, self._list_text(user))
            if norm in CANCEL_WORDS:
                return [Outbound(kind="text", text="There is no report in progress.")]
            return None

    def _busy(self, user: str) -> bool:
        return self.cases.load_draft(user) is not None or self.cases.get_pending(user) is not None

    # ---- the report flow -------------------------------------------------------------------------
    def start(self, user_id: str, hint: str | None = None) -> list[Outbound]:
        """Start (or resume) the user's report: the intro and first prompt, or the current prompt."""
        with self._lock:
            return self._start(user_id, hint)

    def _start(self, user: str, hint: str | None = None) -> list[Outbound]:
        if self.directory.get(user) is None:
            return [Outbound(kind="text", text=NOT_IN_DIRECTORY)]
        draft = self.cases.load_draft(user)
        if draft is not None:
            return self.flow.prompt(draft, "You have a report in progress; let's continue where you left off.")
        draft = Draft(reporter_id=user, hint=hint if self.routing.category(hint) else None)
        self.cases.save_draft(draft, self._now())
        log.info("report draft started")
        return self.flow.intro(draft)

    def _report_action(self, inbound: Inbound, a: Action) -> list[Outbound]:
        if a.action_id == REPORT_ACTION_ID:
            return self._start(inbound.user_id, a.value or None)
        draft = self.cases.load_draft(inbound.user_id)
        if draft is None:
            return [Outbound(kind="text", text="There is no report in progress. Type `report` to start one.")]
        return self._step(draft, inbound)

    def _step(self, draft: Draft, inbound: Inbound) -> list[Outbound]:
        before = draft.step
        res = self.flow.apply(draft, inbound)
        if res.cancelled:
            self.cases.delete_draft(draft.reporter_id)
            log.info("report draft cancelled at step %s", before.value)
            return res.messages
        if res.submit:
            return res.messages + self._submit(draft)
        if res.changed:
            self.cases.save_draft(draft, self._now())
            log.debug("report draft step %s -> %s", before.value, draft.step.value)
        return res.messages

    def current_prompt(self, user_id: str) -> list[Outbound]:
        """The prompt of the user's open draft (to resume after a restart), or []."""
        draft = self.cases.load_draft(user_id)
        if draft is None:
            return []
        return self.flow.prompt(draft, "You have an unfinished report; let's continue where you left off.")

    def submit_draft(self, draft: Draft) -> list[Outbound]:
        """Commit a complete draft as a case (core API; the flow calls it on "Submit").

        The case, its first event, the handler's notification (outbox) and the deletion of the draft
        are one durable transaction, committed before anything is returned. Returns the reporter's
        confirmation (with the receipt) and the handler's notification (``to_user`` = handler).

        Raises:
            ValueError: the draft is incomplete or its handler is not allowed by its route.
        """
        with self._lock:
            return self._submit(draft)

    def _submit(self, draft: Draft) -> list[Outbound]:
        handler_id = draft.handler_id
        if not draft.complete() or not self.flow.handler_ok(draft) or handler_id is None:  # handler_ok needs one
            raise ValueError("the draft is not complete")
        now = self._now()
        due = now + timedelta(days=self.routing.deadlines.acknowledge_days)
        cat = self.routing.category(draft.category)
        content = {
            "category": draft.category,
            "category_label": cat.label if cat else draft.category,
            "what": draft.what,
            "when": draft.when,
            "when_text": draft.when_text,
            "where": draft.where,
            "identity": draft.identity,
            "handler_role": draft.handler_role,
            "route_key": draft.route_key,
        }
        for _attempt in range(5):
            receipt = new_receipt()
            symbols = normalize_receipt(receipt)
            assert symbols is not None  # a new receipt is well formed
            try:
                with self.cases.tx():
                    case_id = self.cases.insert_case(
                        symbols, draft.reporter_id, handler_id, dict(content, receipt=receipt), now, due
                    )
                    self.cases.add_event(case_id, "submitted", "reporter", {}, now)
                    self.cases.delete_draft(draft.reporter_id)
                    case = CaseRecord(
                        case_id,
                        handler_id,
                        CS.NEW,
                        False,
                        ts(now),
                        ts(due),
                        None,
                        None,
                        0,
                        draft.reporter_id,
                        dict(content, receipt=receipt),
                    )
                    note = self._handler_notification(case, f"New report {case.ref} for you to handle.")
                    self.outbox.put(note, now, case_id)
                    self.cases.audit("system", case_id, "notify_handler", True, "submit", now)
                break
            except sqlite3.IntegrityError:  # receipt collision (astronomically rare): draw again
                continue
        else:  # pragma: no cover
            raise RuntimeError("could not allocate a receipt")
        ref = case_ref(case_id)
        log.info("case %s submitted", ref)
        handler = self.directory.name_of(draft.handler_id)
        confirm = Outbound(
            kind="text",
            flow="report",
            case_id=ref,
            receipt=receipt,
            text=(
                f"Your report has been submitted. Your receipt is {receipt}\n"
                f"Keep it safe: type `status {receipt}` at any time to see where your report stands; it works "
                f"for you only. {handler} has been told privately and should acknowledge it by {self._fmt(ts(due))}. "
                "You'll get a message here whenever its status changes."
            ),
        )
        return [confirm, note]

    # ---- notifications -------------------------------------------------------------------------
    def _case_choices(self, ref: str) -> list[Choice]:
        return [
            Choice("Acknowledge", "case:ack", ref, "primary"),
            Choice("Ask for more information", "case:ask", ref),
            Choice("Close with outcome", "case:close", ref, "danger"),
        ]

    def _reporter_label(self, case: CaseRecord, viewer: str | None) -> str:
        name = self.directory.name_of(case.reporter_id)
        if case.content.get("identity") == "named":
            return name
        if viewer is not None and self.directory.is_hr(viewer):
            return f"{name} (confidential: hidden from the handler)"
        return "confidential (only HR can see who reported it)"

    def _handler_notification(
        self, case: CaseRecord, headline: str, to_user: str | None = None, viewer: str | None = None
    ) -> Outbound:
        c = case.content
        ref = case.ref
        to = to_user or case.handler_id
        when = fmt_when(c.get("when"), self.tz)
        lines = [
            headline,
            f"Category: {c.get('category_label')}",
            f"What happened: {c.get('what')}",
            f"When: {when}",
            f"Where and links: {c.get('where')}",
            f"Reported by: {self._reporter_label(case, viewer or to)}",
        ]
        if case.status == CS.NEW:
            lines.append(f"Please acknowledge it by {self._fmt(case.ack_due)}.")
        return Outbound(
            kind="notification", text="\n".join(lines), to_user=to, choices=self._case_choices(ref), case_id=ref
        )

    def _to_reporter(self, case: CaseRecord, text: str, now: datetime, choices: list[Choice] | None = None) -> None:
        """Queue a private message for the reporter (outbox only; never returned to the acting user)."""
        msg = Outbound(
            kind="prompt" if choices else "text",
            to_user=case.reporter_id,
            choices=list(choices or []),
            text=f"Update on your report {case.content.get('receipt')}: {text}",
            case_id=case.ref,
        )
        self.outbox.put(msg, now, case.id)

    # ---- access ------------------------------------------------------------------------------------
    def _audit_actor(self, user_id: str, case: CaseRecord | None, allowed: bool) -> str:
        """Who to record for a receipt look-up: ``"reporter"`` for the reporter; the user id for someone
        refused on a real case (they are not its reporter); a pseudonym (``"user#"`` + 12 hex of the
        blind index) when no case matched, since a reporter mistyping their own receipt must not be named."""
        if allowed:
            return "reporter"
        if case is not None:
            return user_id
        return "user#" + self.cases.user_key(user_id)[:12]

    def role_of(self, user_id: str | None) -> str | None:
        """What ``user_id`` may do with cases: ``"hr"`` (every case), ``"handler"`` (their own: anyone who
        has been assigned a case, is a safeguarding lead or manages someone, so could be assigned one), or
        None (not in the directory, or none of these). Raises nothing."""
        person = self.directory.get(user_id) if user_id else None
        if person is None:
            return None
        if person.is_hr:
            return "hr"
        if ROLE_SAFEGUARDING in person.roles or any(p.manager == person.user_id for p in self.directory.people()):
            return "handler"
        with self._lock:
            return "handler" if self.cases.case_ids(person.user_id) else None

    def people_concerned(self, refs: Iterable[str]) -> set[str]:
        """Who may see the cases ``refs`` (references such as ``"C-00001"``) in their case lists: each case's
        handler and everyone in HR. Unknown references are skipped. Reads no report content; raises nothing
        but a database error."""
        people = {p.user_id for p in self.directory.hr_people()}
        with self._lock:
            for ref in refs:
                cid = parse_case_ref(ref)
                case = self.cases.case_meta("id = ?", [cid]) if cid is not None else []
                people |= {row["handler_id"] for row in case}
        return people

    def can_handle(self, user_id: str, case: CaseRecord) -> bool:
        """True when ``user_id`` is the case's handler or in HR."""
        return case.handler_id == user_id or self.directory.is_hr(user_id)

    def _authorised(self, actor: str, case_id: int | None, action: str, via: str) -> CaseRecord:
        """The case if ``actor`` may act on it (audited either way); raises ``AccessDenied``."""
        case = self.cases.get_case(case_id) if case_id is not None else None
        allowed = case is not None and self.can_handle(actor, case)
        self.cases.audit(actor, case_id, action, allowed, via, self._now())
        if case is None or not allowed:
            log.info("case access refused (%s)", action)
            raise AccessDenied(NOT_VISIBLE)
        return case

    # ---- handler API (chat and CLI) -----------------------------------------------------------
    def list_cases(self, actor: str, via: str = "cli") -> list[CaseSummary]:
        """Cases ``actor`` may see: all for HR, their own for a handler, none for anyone else.

        Audited as ``"list"`` reads, one row a case, except a case this actor was already shown in a list
        through the same ``via`` within ``LIST_AUDIT_WINDOW`` (a home screen refreshes itself on every case
        change; ``show`` and every action are always audited)."""
        with self._lock:
            if self.directory.get(actor) is None:
                return []
            ids = self.cases.case_ids(None if self.directory.is_hr(actor) else actor)
            out = []
            now = self._now()
            self.cases.audit_list(actor, ids, via, now, LIST_AUDIT_WINDOW)
            for cid in ids:
                case = self.cases.get_case(cid)
                assert case is not None  # an id from case_ids
                out.append(
                    CaseSummary(
                        case.ref,
                        STATUS_TEXT[case.status],
                        case.escalated,
                        case.content.get("category_label", ""),
                        self.directory.name_of(case.handler_id),
                        self._fmt(case.created_at),
                        self._fmt(case.ack_due),
                        state=case.status.value,
                        handler_id=case.handler_id,
                        created_iso=case.created_at,
                        ack_due_iso=case.ack_due,
                        acknowledged_iso=case.acknowledged_at,
                        closed_iso=case.closed_at,
                        overdue=case.status == CaseStatus.NEW and case.ack_due < ts(now),
                    )
                )
            return out

    def show_case(self, actor: str, case_id: int | str | None, via: str = "cli") -> CaseView:
        """The case as ``actor`` may see it (audited).

        Raises:
            AccessDenied: no such case, or ``actor`` is neither its handler nor HR.
        """
        with self._lock:
            case = self._authorised(actor, _cid(case_id), "show", via)
            return self._view(case, actor)

    def _view(self, case: CaseRecord, viewer: str) -> CaseView:
        c = case.content
        names = {"reporter": "the reporter", "system": "the system"}
        events = []
        for e in self.cases.events(case.id):
            text = e["data"].get("text", "")
            events.append(
                (self._fmt(e["at"]), e["kind"], names.get(e["actor"], self.directory.name_of(e["actor"])), text)
            )
        when = fmt_when(c.get("when"), self.tz)
        if c.get("when") and c.get("when_text"):
            when += f" (reporter wrote: {c['when_text']})"
        return CaseView(
            ref=case.ref,
            status=case.status.value,
            status_text=STATUS_TEXT[case.status],
            escalated=case.escalated,
            category=c.get("category_label", ""),
            what=c.get("what", ""),
            when=when,
            where=c.get("where", ""),
            identity=c.get("identity", ""),
            reporter=self._reporter_label(case, viewer),
            handler_id=case.handler_id,
            handler=self.directory.name_of(case.handler_id),
            created_at=self._fmt(case.created_at),
            ack_due=self._fmt(case.ack_due),
            acknowledged_at=case.acknowledged_at,
            closed_at=case.closed_at,
            events=events,
            ack_due_iso=case.ack_due,
            actions=case_actions(case.status),
        )

    def acknowledge(self, actor: str, case_id: int | str | None, via: str = "cli") -> list[Outbound]:
        """Acknowledge a case: status ``acknowledged``, the reporter told (outbox).

        Returns the message for ``actor``: with ``case_id`` set when the case changed, without it when the
        case's state refused the action (nothing changed; the text says why), as for ``request_info`` and
        ``close_case``. Raises ``AccessDenied`` (not handler/HR, or no such case).
        """
        with self._lock:
            case = self._authorised(actor, _cid(case_id), "acknowledge", via)
            if case.status != CS.NEW:
                return [Outbound(kind="text", text=f"Case {case.ref} is already {STATUS_TEXT[case.status]}.")]
            now = self._now()
            with self.cases.tx():
                check_status_change(case.status, CS.ACKNOWLEDGED)
                self.cases.update_case(
                    case.id, status=CS.ACKNOWLEDGED.value, acknowledged_at=ts(now), updated_at=ts(now)
                )
                self.cases.add_event(case.id, "acknowledged", actor, {}, now)
                self._to_reporter(case, f"{self.directory.name_of(actor)} has acknowledged it.", now)
            log.info("case %s acknowledged", case.ref)
            return [
                Outbound(
                    kind="text", case_id=case.ref, text=f"Case {case.ref} acknowledged. The reporter has been told."
                )
            ]

    def request_info(self, actor: str, case_id: int | str | None, question: str, via: str = "cli") -> list[Outbound]:
        """Ask the reporter a question (status ``info_requested``; counts as acknowledgement).

        Raises:
            AccessDenied: not the handler or HR, or no such case.
            BadReportInput: empty or too long (> 4000 characters) question.
        """
        with self._lock:
            question = self._text_check(question, "question")
            case = self._authorised(actor, _cid(case_id), "ask", via)
            if case.status == CS.CLOSED:
                return [Outbound(kind="text", text=f"Case {case.ref} is closed.")]
            now = self._now()
            with self.cases.tx():
                check_status_change(case.status, CS.INFO_REQUESTED)
                self.cases.update_case(
                    case.id,
                    status=CS.INFO_REQUESTED.value,
                    updated_at=ts(now),
                    acknowledged_at=case.acknowledged_at or ts(now),
                )
                self.cases.add_event(case.id, "info_requested", actor, {"text": question}, now)
                self._to_reporter(
                    case,
                    f"{self.directory.name_of(actor)} asks for more information:\n“{question}”\n"
                    f"Press Reply (or type `reply {case.content.get('receipt')} <your answer>`) to answer.",
                    now,
                    [Choice("Reply", "case:reply", case.ref, "primary")],
                )
                self.cases.clear_pending(actor)
            log.info("case %s: more information requested", case.ref)
            return [
                Outbound(
                    kind="text",
                    case_id=case.ref,
                    text=(
                        f"Your question has been sent to the reporter of case {case.ref}. You'll be told when they reply."
                    ),
                )
            ]

    def close_case(self, actor: str, case_id: int | str | None, outcome: str, via: str = "cli") -> list[Outbound]:
        """Close a case with an outcome the reporter is told.

        Raises:
            AccessDenied: not the handler or HR, or no such case.
            BadReportInput: empty or too long (> 4000 characters) outcome.
        """
        with self._lock:
            outcome = self._text_check(outcome, "outcome")
            case = self._authorised(actor, _cid(case_id), "close", via)
            if case.status == CS.CLOSED:
                return [Outbound(kind="text", text=f"Case {case.ref} is already closed.")]
            now = self._now()
            with self.cases.tx():
                check_status_change(case.status, CS.CLOSED)
                self.cases.update_case(
                    case.id,
                    status=CS.CLOSED.value,
                    closed_at=ts(now),
                    updated_at=ts(now),
                    acknowledged_at=case.acknowledged_at or ts(now),
                )
                self.cases.add_event(case.id, "closed", actor, {"text": outcome}, now)
                self._to_reporter(case, f"{self.directory.name_of(actor)} has closed it. Outcome:\n“{outcome}”", now)
                self.cases.clear_pending(actor)
            log.info("case %s closed", case.ref)
            return [
                Outbound(
                    kind="text",
                    case_id=case.ref,
                    text=f"Case {case.ref} closed. The reporter has been told the outcome.",
                )
            ]

    # ---- reporter API --------------------------------------------------------------------------
    def status(self, user_id: str, receipt: str, via: str = "chat") -> list[Outbound]:
        """Where the report with ``receipt`` stands, for its reporter only (audited either way)."""
        with self._lock:
            symbols = normalize_receipt(receipt)
            if not (receipt or "").strip():
                return [
                    Outbound(
                        kind="text", text="Type `status` followed by your receipt, e.g. `status R-XXXX-XXXX-XXXX-XXXX`."
                    )
                ]
            case = self.cases.case_by_receipt(symbols) if symbols else None
            allowed = case is not None and case.reporter_id == user_id
            self.cases.audit(
                self._audit_actor(user_id, case, allowed),
                case.id if case else None,
                "status",
                allowed,
                via,
                self._now(),
            )
            if case is None or not allowed:
                return [Outbound(kind="text", text=NOT_FOUND_RECEIPT)]
            c = case.content
            lines = [
                f"Report {c.get('receipt')}, submitted {self._fmt(case.created_at)}",
                f"Category: {c.get('category_label')}",
                f"Handled by: {self.directory.name_of(case.handler_id)}",
                f"Status: {STATUS_TEXT[case.status]}" + (" (escalated to HR)" if case.escalated else ""),
            ]
            if case.status == CS.NEW:
                lines.append(f"Acknowledgement due by: {self._fmt(case.ack_due)}")
            for e in self.cases.events(case.id):
                if e["kind"] in ("info_requested", "closed", "reporter_replied"):
                    label = {"info_requested": "Question", "closed": "Outcome", "reporter_replied": "Your reply"}
                    lines.append(f"{label[e['kind']]} ({self._fmt(e['at'])}): {e['data'].get('text', '')}")
            choices = [Choice("Reply", "case:reply", case.ref, "primary")] if case.status == CS.INFO_REQUESTED else []
            return [
                Outbound(kind="prompt" if choices else "text", text="\n".join(lines), choices=choices, case_id=case.ref)
            ]

    def reply(self, user_id: str, case_id: int | str | None, text: str, via: str = "chat") -> list[Outbound]:
        """The reporter answers the handler's question: status ``info_provided``, the handler notified.

        Returns the confirmation and the handler's notification. Anyone but the reporter gets the
        not-found message. Raises ``BadReportInput`` for an empty or too long reply.
        """
        with self._lock:
            text = self._text_check(text, "reply")
            cid = _cid(case_id)
            case = self.cases.get_case(cid) if cid is not None else None
            return self._reply(user_id, case, text, via)

    def _reply(self, user_id: str, case: CaseRecord | None, text: str, via: str) -> list[Outbound]:
        allowed = case is not None and case.reporter_id == user_id
        now = self._now()
        self.cases.audit(
            self._audit_actor(user_id, case, allowed), case.id if case else None, "reply", allowed, via, now
        )
        if case is None or not allowed:
            return [Outbound(kind="text", text=NOT_FOUND_RECEIPT)]
        if case.status != CS.INFO_REQUESTED:
            self.cases.clear_pending(user_id)
            return [Outbound(kind="text", text="There is no open question on that report.")]
        with self.cases.tx():
            check_status_change(case.status, CS.INFO_PROVIDED)
            self.cases.update_case(case.id, status=CS.INFO_PROVIDED.value, updated_at=ts(now))
            self.cases.add_event(case.id, "reporter_replied", "reporter", {"text": text}, now)
            case.status = CS.INFO_PROVIDED
            note = self._handler_notification(
                case, f"The reporter of case {case.ref} has replied:\n“{text}”\n\nThe report:"
            )
            self.outbox.put(note, now, case.id)
            self.cases.clear_pending(user_id)
        log.info("case %s: reporter replied", case.ref)
        return [
            Outbound(
                kind="text",
                case_id=case.ref,
                text=f"Your reply has been sent to {self.directory.name_of(case.handler_id)}.",
            ),
            note,
        ]

    def _reply_by_receipt(self, user: str, receipt: str, text: str) -> list[Outbound]:
        try:
            text = self._text_check(text, "reply")
        except BadReportInput as exc:
            return [Outbound(kind="error", text=str(exc))]
        symbols = normalize_receipt(receipt)
        case = self.cases.case_by_receipt(symbols) if symbols else None
        return self._reply(user, case, text, "chat")

    # ---- chat wrappers for handler actions -------------------------------------------------------
    def _case_action(self, user: str, a: Action) -> list[Outbound]:
        kind = a.action_id.split(":", 1)[1]
        cid = _cid(a.value)
        case: CaseRecord | None
        try:
            if kind == "ack":
                return self.acknowledge(user, cid, via="chat")
            if kind == "show":  # "Open" on a home screen: the case as ``show C-00001`` gives it
                return self._case_command(user, "show", a.value, "")
            if kind in ("ask", "close"):
                case = self._authorised(user, cid, f"{kind}_start", "chat")
                if case.status == CS.CLOSED:
                    return [Outbound(kind="text", text=f"Case {case.ref} is closed.")]
                self.cases.set_pending(user, {"kind": kind, "case_id": case.id}, self._now())
                what = (
                    "your question for the reporter"
                    if kind == "ask"
                    else "the outcome to close the case with (the reporter will see it)"
                )
                return [
                    Outbound(
                        kind="prompt",
                        input_hint="long_text",
                        case_id=case.ref,
                        text=f"Case {case.ref}: type {what}, or `cancel`.",
                    )
                ]
            if kind == "reply":
                case = self.cases.get_case(cid) if cid is not None else None
                allowed = case is not None and case.reporter_id == user
                self.cases.audit(
                    self._audit_actor(user, case, allowed),
                    cid if case else None,
                    "reply_start",
                    allowed,
                    "chat",
                    self._now(),
                )
                if case is None or not allowed:
                    return [Outbound(kind="text", text=NOT_FOUND_RECEIPT)]
                if case.status != CS.INFO_REQUESTED:
                    return [Outbound(kind="text", text="There is no open question on that report.")]
                self.cases.set_pending(user, {"kind": "reply", "case_id": case.id}, self._now())
                return [Outbound(kind="prompt", input_hint="long_text", text="Type your reply, or `cancel`.")]
        except AccessDenied:
            return [Outbound(kind="text", text=NOT_VISIBLE)]
        return [Outbound(kind="error", text="That button is no longer available.")]

    def _pending_input(self, user: str, pending: dict[str, Any], text: str) -> list[Outbound]:
        if _normal(text) in CANCEL_WORDS:
            self.cases.clear_pending(user)
            return [Outbound(kind="text", text="Cancelled; nothing was sent.")]
        kind, cid = pending.get("kind"), pending.get("case_id")
        try:
            if kind == "ask":
                return self.request_info(user, cid, text, via="chat")
            if kind == "close":
                return self.close_case(user, cid, text, via="chat")
            if kind == "reply":
                return self.reply(user, cid, text, via="chat")
        except BadReportInput as exc:
            return [Outbound(kind="error", text=str(exc) + " Or type `cancel`.")]
        except AccessDenied:
            self.cases.clear_pending(user)
            return [Outbound(kind="text", text=NOT_VISIBLE)]
        self.cases.clear_pending(user)
        return [Outbound(kind="error", text="That request has expired.")]

    def _case_command(self, user: str, verb: str, ref: str, rest: str) -> list[Outbound]:
        cid = parse_case_ref(ref)
        try:
            if verb == "show":
                view = self.show_case(user, cid, via="chat")
                return [
                    Outbound(
                        kind="notification",
                        text="\n".join(view.lines()),
                        choices=(self._case_choices(view.ref) if view.status != CS.CLOSED.value else []),
                        case_id=view.ref,
                    )
                ]
            if verb in ("ack", "acknowledge"):
                return self.acknowledge(user, cid, via="chat")
            if verb == "ask":
                if not rest.strip():
                    return self._case_action(user, _action("case:ask", ref))
                return self.request_info(user, cid, rest, via="chat")
            if verb == "close":
                if not rest.strip():
                    return self._case_action(user, _action("case:close", ref))
                return self.close_case(user, cid, rest, via="chat")
        except AccessDenied:
            return [Outbound(kind="text", text=NOT_VISIBLE)]
        except BadReportInput as exc:
            return [Outbound(kind="error", text=str(exc))]
        return []  # pragma: no cover

    def _list_text(self, user: str) -> list[Outbound]:
        rows = self.list_cases(user, via="chat")
        if not rows:
            return [Outbound(kind="text", text="You have no cases to handle.")]
        lines = ["Your cases:" if not self.directory.is_hr(user) else "All cases:"]
        for r in rows:
            lines.append(
                f"  {r.ref}  {r.status}{' (escalated)' if r.escalated else ''}  {r.category}  "
                f"handler: {r.handler}  submitted {r.created_at}"
            )
        lines.append("Type `show C-00001` to see one.")
        return [Outbound(kind="text", text="\n".join(lines))]

    # ---- deliveries ----------------------------------------------------------------------------
    def take_pending(self, user_id: str) -> list[Outbound]:
        """Undelivered outbox messages for ``user_id``, marked delivered (for pull adapters such as the console)."""
        return self.outbox.take(user_id, self._now())

    # ---- deadlines -----------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> list[Outbound]:
        """Run deadlines once; call it periodically (server) or from cron (``policybot cases remind``).

        Expires drafts idle longer than ``draft_idle_hours`` (telling the reporter), sends the
        handler a reminder ``remind_days_before_due`` days before the acknowledgement is due, and
        escalates unacknowledged cases to HR once due (telling HR, the handler and the reporter; HR of the
        reporter's organisation where the directory gives one with HR of its own: ``_escalation_hr``).
        Idempotent: a second call at the same time sends nothing new. Returns the messages queued
        (each in the outbox, with ``outbox_id`` and ``to_user``).
        """
        with self._lock:
            now = now or self._now()
            out: list[Outbound] = []
            idle = now - self.idle_limit
            for key, draft in self.cases.idle_drafts(idle):
                with self.cases.tx():
                    if self.cases.delete_draft_key(key, idle):
                        msg = self._expired_notice(to_user=draft.reporter_id)
                        msg.event = "draft_expired"
                        self.outbox.put(msg, now)
                        out.append(msg)
                        log.info("report draft expired")
            self.cases.purge_pending(idle)
            d = self.routing.deadlines
            offsets = sorted(d.remind_days_before_due, reverse=True)
            for row in self.cases.case_meta("status = ?", [CS.NEW.value]):
                due = datetime.fromisoformat(row["ack_due"])
                if now >= due:
                    if not row["escalated"]:
                        out += self._escalate(row["id"], now)
                    continue
                owed = sum(1 for off in offsets if now >= due - timedelta(days=off))
                if owed > (row["reminders_sent"] or 0):
                    out += self._remind(row["id"], owed, now)
            return out

    def _remind(self, case_id: int, owed: int, now: datetime) -> list[Outbound]:
        with self.cases.tx() as db:
            cur = db.execute(
                "UPDATE cases SET reminders_sent = ? WHERE id = ? AND reminders_sent < ? AND status = ?",
                [owed, case_id, owed, CS.NEW.value],
            )
            if cur.rowcount == 0:
                return []
            case = self.cases.get_case(case_id)
            assert case is not None  # the UPDATE above matched it
            self.cases.audit("system", case_id, "remind", True, "tick", now)
            msg = self._handler_notification(case, f"Reminder: report {case.ref} is waiting for you to acknowledge it.")
            msg.event = "reminder"
            self.outbox.put(msg, now, case_id)
            self.cases.add_event(case_id, "reminder_sent", "system", {}, now)
        log.info("case %s: reminder sent", case.ref)
        return [msg]

    def _escalation_hr(self, reporter_id: str) -> list[Person]:
        """Who is told of an escalation: the HR people of the reporter's organisation(s) in the directory
        (``Directory.hr_people``) other than the reporter; when there are none (no organisation given, none
        with HR of its own, or the reporter is its only HR person), every HR person but the reporter."""
        organisations = self.directory.organisations_of(reporter_id)
        return [p for p in self.directory.hr_people(organisations=organisations) if p.user_id != reporter_id] or [
            p for p in self.directory.hr_people() if p.user_id != reporter_id
        ]

    def _escalate(self, case_id: int, now: datetime) -> list[Outbound]:
        out = []
        with self.cases.tx() as db:
            cur = db.execute(
                "UPDATE cases SET escalated = 1, updated_at = ? WHERE id = ? AND escalated = 0", [ts(now), case_id]
            )
            if cur.rowcount == 0:
                return []
            case = self.cases.get_case(case_id)
            assert case is not None  # the UPDATE above matched it
            self.cases.audit("system", case_id, "escalate", True, "tick", now)
            days = self.routing.deadlines.acknowledge_days
            for hr in self._escalation_hr(case.reporter_id):
                msg = self._handler_notification(
                    case,
                    f"Escalated: report {case.ref} was not acknowledged within {days:g} days by "
                    f"{self.directory.name_of(case.handler_id)}. HR can acknowledge and handle it.",
                    to_user=hr.user_id,
                )
                msg.event = "escalation"
                self.outbox.put(msg, now, case_id)
                out.append(msg)
            if not self.directory.is_hr(case.handler_id):
                msg = Outbound(
                    kind="text",
                    to_user=case.handler_id,
                    case_id=case.ref,
                    text=(
                        f"Report {case.ref} was not acknowledged by {self._fmt(case.ack_due)} and has been escalated "
                        "to HR. You can still acknowledge it."
                    ),
                    choices=self._case_choices(case.ref),
                )
                msg.event = "escalation"
                self.outbox.put(msg, now, case_id)
                out.append(msg)
            receipt_msg = Outbound(
                kind="text",
                to_user=case.reporter_id,
                case_id=case.ref,
                event="escalation",
                text=(
                    f"Update on your report {case.content.get('receipt')}: it was not acknowledged within {days:g} days, "
                    "so it has been escalated to HR."
                ),
            )
            self.outbox.put(receipt_msg, now, case_id)
            out.append(receipt_msg)
            self.cases.add_event(case_id, "escalated", "system", {}, now)
        log.info("case %s escalated to HR", case.ref)
        return out


def _cid(value: int | str | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, int):
        return value
    return parse_case_ref(str(value))


def _action(action_id: str, value: str) -> Action:
    return Action(action_id, value)


def is_reporting_request(inbound: Inbound) -> bool:
    """True for a report entry point or reporting button (used when reporting is not configured)."""
    if inbound.source == "action" and inbound.action is not None:
        return inbound.action.action_id.startswith(("report:", "case:"))
    text = (inbound.text or "").strip()
    if inbound.source == "command" and _normal(text) == "report":
        return True
    m = _STATUS_CMD.match(text)
    status = m is not None and (not m.group(1).strip() or bool(_RECEIPT_SHAPE.fullmatch(m.group(1).strip())))
    return is_report_request(text) or status or bool(_CASE_CMD.match(text))


def open_reporting(
    data_dir: str | Path,
    policy_store: KnowledgeStore | None = None,
    dev: bool | None = None,
    clock: Callable[[], datetime] | None = None,
) -> ReportingService:
    """``ReportingService.open``: reporting for a data dir. Raises ``ReportingNotConfigured``."""
    return ReportingService.open(data_dir, policy_store=policy_store, dev=dev, clock=clock)


__all__ = [
    "AccessDenied",
    "BadReportInput",
    "CaseSummary",
    "CaseView",
    "IllegalStatusChange",
    "ReportingNotConfigured",
    "ReportingService",
    "is_reporting_request",
    "open_reporting",
    "format_receipt",
    "CaseStatus",
]
