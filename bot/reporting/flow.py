"""The guided report flow: an explicit state machine over a ``Draft``, with validation per step.

States (``Step``) and the allowed transitions (``TRANSITIONS``)::

    CATEGORY -> WHAT -> WHEN -> WHERE -> HANDLER [-> HANDLER_NAME] -> IDENTITY -> REVIEW -> SUBMITTED
    REVIEW -> any editable step -> REVIEW          (editing: the answer is changed, then back to review)
    CATEGORY/WHAT (editing) -> HANDLER              (the edit changed who must handle the report)
    any open state -> CANCELLED | EXPIRED

``Draft.move(to)`` enforces the table and the guards (a step is left forwards only once answered; a
draft reaches REVIEW only when complete; REVIEW is reached early only while editing) and raises
``IllegalTransition`` otherwise. ``ReportFlow`` renders the prompt of the current step and applies one
inbound message or button press to a draft; it knows nothing of storage (``bot.reporting.service`` persists
the draft after every step) and never puts report content in exceptions or logs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.directory import Directory, Person
from bot.messages import REPORT_ACTION_ID, Choice, Inbound, Outbound
from bot.reporting.routing import PolicyQuotes, Route, RoutingConfig

MAX_WHAT_CHARS = 4000  #: longest "what happened" answer, in characters
MAX_WHERE_CHARS = 2000  #: longest "where and links" answer, in characters
MAX_WHEN_CHARS = 200  #: longest "when" answer, in characters
FUTURE_TOLERANCE = timedelta(minutes=5)  #: a "when" this far after now still counts as now
REVIEW_TITLE = "Review your report"  #: the title of the review prompt (a Slack modal title: at most 24 characters)

UNKNOWN_WHEN = {
    "not sure",
    "unsure",
    "don't know",
    "dont know",
    "do not know",
    "unknown",
    "not known",
    "?",
    "no idea",
    "can't remember",
    "cant remember",
    "skip",
}
CANCEL_WORDS = {"cancel", "stop", "abort", "cancel report", "quit report"}

_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"']+", re.IGNORECASE)


class Step(str, Enum):
    """The states of a report draft."""

    CATEGORY = "category"
    WHAT = "what"
    WHEN = "when"
    WHERE = "where"
    HANDLER = "handler"
    HANDLER_NAME = "handler_name"
    IDENTITY = "identity"
    REVIEW = "review"
    SUBMITTED = "submitted"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


S = Step
#: the steps the reporter can go back to from the review, in review order
EDITABLE = (S.CATEGORY, S.WHAT, S.WHEN, S.WHERE, S.HANDLER, S.IDENTITY)
TERMINAL = frozenset({S.SUBMITTED, S.CANCELLED, S.EXPIRED})
OPEN = frozenset(Step) - TERMINAL

#: allowed transitions (besides any open state -> CANCELLED / EXPIRED)
TRANSITIONS: dict[Step, frozenset[Step]] = {
    S.CATEGORY: frozenset({S.WHAT, S.REVIEW, S.HANDLER}),
    S.WHAT: frozenset({S.WHEN, S.REVIEW, S.HANDLER}),
    S.WHEN: frozenset({S.WHERE, S.REVIEW}),
    S.WHERE: frozenset({S.HANDLER, S.REVIEW}),
    S.HANDLER: frozenset({S.HANDLER_NAME, S.IDENTITY, S.REVIEW}),
    S.HANDLER_NAME: frozenset({S.HANDLER, S.IDENTITY, S.REVIEW}),
    S.IDENTITY: frozenset({S.REVIEW}),
    S.REVIEW: frozenset({*EDITABLE, S.SUBMITTED}),
    S.SUBMITTED: frozenset(),
    S.CANCELLED: frozenset(),
    S.EXPIRED: frozenset(),
}
#: transitions that only happen while editing from the review
_EDIT_ONLY = frozenset(
    {
        (S.CATEGORY, S.REVIEW),
        (S.CATEGORY, S.HANDLER),
        (S.WHAT, S.REVIEW),
        (S.WHAT, S.HANDLER),
        (S.WHEN, S.REVIEW),
        (S.WHERE, S.REVIEW),
        (S.HANDLER, S.REVIEW),
        (S.HANDLER_NAME, S.REVIEW),
    }
)


class IllegalTransition(RuntimeError):
    """A move the state machine does not allow (names the two states only, never report content)."""


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="seconds")


@dataclass
class Draft:
    """A report being written, one per reporter. All fields are encrypted at rest.

    Attributes:
        reporter_id: directory id of the reporter.
        step: the current state.
        category: category key (see ``config/routing.toml``).
        what: what happened (<= ``MAX_WHAT_CHARS`` chars).
        when_text: the reporter's words for when; ``when`` the ISO 8601 reading (None: not known).
        where: platform and links (<= ``MAX_WHERE_CHARS`` chars).
        handler_id: directory id of the chosen handler; ``handler_role`` how it was chosen
            (``manager``, ``hr``, ``safeguarding_lead`` or ``named``).
        identity: ``named`` or ``confidential``.
        route_key: which route chose the handler (category key or ``rule:<name>``).
        editing: True while changing one answer from the review.
        hint: category suggested by the answer that offered "Report a concern", if any.
        created_at, updated_at: ISO 8601 UTC.
    """

    reporter_id: str
    step: Step = S.CATEGORY
    category: str | None = None
    what: str | None = None
    when: str | None = None
    when_text: str | None = None
    where: str | None = None
    handler_id: str | None = None
    handler_role: str | None = None
    identity: str | None = None
    route_key: str | None = None
    editing: bool = False
    hint: str | None = None
    created_at: str = ""
    updated_at: str = ""

    # ---- state machine -------------------------------------------------------------------
    def answered(self, step: Step) -> bool:
        """True when the answer ``step`` asks for is present."""
        return {
            S.CATEGORY: self.category is not None,
            S.WHAT: bool(self.what),
            S.WHEN: self.when_text is not None,
            S.WHERE: self.where is not None,
            S.HANDLER: self.handler_id is not None,
            S.HANDLER_NAME: self.handler_id is not None,
            S.IDENTITY: self.identity in ("named", "confidential"),
        }.get(step, True)

    def complete(self) -> bool:
        """True when every editable step is answered."""
        return all(self.answered(s) for s in EDITABLE)

    def can_move(self, to: Step) -> bool:
        """True when ``move(to)`` would succeed."""
        if self.step in TERMINAL:
            return False
        if to in (S.CANCELLED, S.EXPIRED):
            return True
        if to not in TRANSITIONS[self.step]:
            return False
        if (self.step, to) in _EDIT_ONLY and not self.editing:
            return False
        if self.step == S.REVIEW and to in EDITABLE:
            return True
        if (self.step, to) in ((S.HANDLER, S.HANDLER_NAME), (S.HANDLER_NAME, S.HANDLER)):
            return True
        if not self.answered(self.step):
            return False
        if to in (S.REVIEW, S.SUBMITTED) and not self.complete():
            return False
        return True

    def move(self, to: Step) -> None:
        """Go to state ``to``.

        Raises:
            IllegalTransition: the table or a guard forbids it (the message names the states only).
        """
        to = Step(to)
        if not self.can_move(to):
            raise IllegalTransition(f"cannot go from {self.step.value} to {to.value}")
        if self.step == S.REVIEW and to in EDITABLE:
            self.editing = True
        if to == S.REVIEW:
            self.editing = False
        self.step = to

    # ---- storage -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (for encryption at rest)."""
        d = asdict(self)
        d["step"] = self.step.value
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Draft:
        """The draft ``to_dict`` produced (unknown keys ignored)."""
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        known["step"] = Step(known.get("step", "category"))
        return cls(**known)


@dataclass
class FlowResult:
    """What applying one inbound did: messages for the reporter, and whether the draft changed,
    should be submitted now, or was cancelled (to be deleted)."""

    messages: list[Outbound] = field(default_factory=list)
    changed: bool = False
    submit: bool = False
    cancelled: bool = False


def fmt_when(iso: str | None, tz: ZoneInfo) -> str:
    """A human date for an ISO 8601 time, e.g. ``"Tue 11 Mar 2025, 15:00"``; ``"not known"`` for None."""
    if not iso:
        return "not known"
    dt = datetime.fromisoformat(iso)
    if dt.tzinfo is not None:
        dt = dt.astimezone(tz)
    return dt.strftime("%a %d %b %Y, %H:%M")


def load_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; UTC when unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _shorten(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _clean(text: str | None) -> str:
    return (text or "").strip()


def _normal(text: str) -> str:
    return " ".join(text.replace("\u2019", "'").split()).casefold().rstrip(".!")


class ReportFlow:
    """Prompts and per-step validation for the report flow (stateless; the draft holds the state).

    Args:
        directory: the staff directory (handlers, managers).
        routing: categories, routes and deadlines.
        quotes: finds the policy clauses routes and evidence guidance quote.
        clock: returns the current time (aware datetime); injectable for tests.
    """

    def __init__(
        self, directory: Directory, routing: RoutingConfig, quotes: PolicyQuotes, clock: Callable[[], datetime]
    ):
        self.directory = directory
        self.routing = routing
        self.quotes = quotes
        self.clock = clock
        self.tz = load_zone(routing.deadlines.timezone)

    # ---- routing ---------------------------------------------------------------------------
    def route(self, draft: Draft) -> tuple[Route | None, str | None]:
        """The route for the draft and its key (category key, or ``rule:<name>``)."""
        for rule in self.routing.rules:
            if rule.matches(draft.category, draft.what):
                return rule.route, f"rule:{rule.name}"
        cat = self.routing.category(draft.category)
        return (cat.route, cat.key) if cat else (None, None)

    def resolve_role(self, role: str, reporter_id: str) -> tuple[str | None, str]:
        """The handler for ``role`` for this reporter: ``(user id or None, role actually used)``.

        ``manager`` is the reporter's own manager. ``safeguarding_lead`` and ``hr`` take the reporter's
        organisations from the directory: when the reporter has some and someone with the role shares one
        of them (same name ignoring case and spacing), the first such person in file order is chosen; when
        the reporter has none, or no one with the role shares one, the first with the role of all (so people
        with no organisation in the directory serve an organisation only when it has no one of its own).
        HR is never the reporter themselves while another HR person exists (one of the reporter's
        organisation first, then any). A reporter without a manager, or no safeguarding lead at all, falls
        back to HR.
        """
        if role == "manager":
            m = self.directory.manager_of(reporter_id)
            if m:
                return m.user_id, "manager"
            role = "hr"
        organisations = self.directory.organisations_of(reporter_id)
        if role == "safeguarding_lead":
            lead = self.directory.safeguarding_lead(organisations=organisations)
            if lead:
                return lead.user_id, "safeguarding_lead"
            role = "hr"
        hr = (
            [p for p in self.directory.hr_people(organisations=organisations) if p.user_id != reporter_id]
            or [p for p in self.directory.hr_people() if p.user_id != reporter_id]
            or self.directory.hr_people()
        )
        return (hr[0].user_id if hr else None), "hr"

    def handler_ok(self, draft: Draft) -> bool:
        """True when the draft's handler is allowed by its route (a forced route needs its own handler)."""
        route, key = self.route(draft)
        if route is None or not draft.handler_id or self.directory.get(draft.handler_id) is None:
            return False
        if not route.choose_other:
            return draft.handler_id == self.resolve_role(route.handler, draft.reporter_id)[0]
        if draft.route_key == key:
            return True
        previous = self._route_by_key(draft.route_key)
        # the reporter chose freely before and may still: keep; a handler that was imposed: ask again
        return previous is not None and previous.choose_other

    def _route_by_key(self, key: str | None) -> Route | None:
        if key and key.startswith("rule:"):
            return next((r.route for r in self.routing.rules if f"rule:{r.name}" == key), None)
        cat = self.routing.category(key)
        return cat.route if cat else None

    # ---- prompts ---------------------------------------------------------------------------
    def intro(self, draft: Draft) -> list[Outbound]:
        """Messages that open a new report: what will happen, then the first prompt."""
        text = (
            "Reporting a concern. This conversation is private. I'll ask a few short questions; nothing is "
            "sent until you review and submit it. Type `cancel` at any time to stop and delete your draft."
        )
        return [Outbound(kind="text", text=text, flow="report")] + self.prompt(draft)

    def _cancel_choice(self) -> Choice:
        return Choice("Cancel", "report:cancel", "", "danger")

    def _prompt(
        self, draft: Draft, text: str, choices: list[Choice] | None = None, hint: str | None = None, cancel: bool = True
    ) -> Outbound:
        choices = list(choices or [])
        if cancel:
            choices.append(self._cancel_choice())
        review = draft.step is Step.REVIEW  # read over in a modal / a card with its heading where the channel has one
        return Outbound(
            kind="prompt",
            text=text,
            choices=choices,
            input_hint=hint,
            flow="report",
            step=draft.step.value,
            modal=review,
            title=REVIEW_TITLE if review else None,
        )

    def category_choices(self) -> list[Choice]:
        """One choice a category, in configured order."""
        return [Choice(c.label, "report:category", c.key) for c in self.routing.categories]

    def handler_choices(self, draft: Draft) -> list[Choice]:
        """The handler options for the draft's route (recommended first)."""
        route, _ = self.route(draft)
        if route is None:
            return []
        choices = []
        first_id, first_role = self.resolve_role(route.handler, draft.reporter_id)
        if first_id:
            name = self.directory.name_of(first_id)
            label = {
                "manager": f"Your manager, {name}",
                "hr": f"HR ({name})",
                "safeguarding_lead": f"The safeguarding lead, {name}",
            }[first_role]
            choices.append(Choice(label + " (recommended)", "report:handler", first_role))
        if route.choose_other:
            if first_role != "hr":
                hr_id, _ = self.resolve_role("hr", draft.reporter_id)
                if hr_id:
                    choices.append(Choice(f"HR ({self.directory.name_of(hr_id)})", "report:handler", "hr"))
            choices.append(Choice("Someone else (type their name)", "report:handler", "named"))
        return choices

    def identity_choices(self, draft: Draft) -> list[Choice]:
        """Named or confidential, with what each means for this handler."""
        name = self.directory.name_of(draft.handler_id)
        return [
            Choice(f"Named: {name} will see that the report is from you", "report:identity", "named"),
            Choice(
                f"Confidential: {name} sees what happened, but only HR can see who reported it",
                "report:identity",
                "confidential",
            ),
        ]

    def review_choices(self) -> list[Choice]:
        """Submit, one edit choice per editable step, then cancel."""
        labels = {
            S.CATEGORY: "category",
            S.WHAT: "what happened",
            S.WHEN: "when",
            S.WHERE: "where and links",
            S.HANDLER: "who handles it",
            S.IDENTITY: "named or confidential",
        }
        return [Choice("Submit", "report:submit", "", "primary")] + [
            Choice(f"Edit {labels[s]}", "report:edit", s.value) for s in EDITABLE
        ]

    def summary_lines(self, draft: Draft, what_limit: int | None = 600) -> list[str]:
        """The review summary: one numbered line per answer."""
        cat = self.routing.category(draft.category)
        when = fmt_when(draft.when, self.tz)
        if draft.when_text and draft.when:
            when += f" (you wrote: {_shorten(draft.when_text, 60)})"
        what = draft.what or ""
        if what_limit:
            what = _shorten(what, what_limit)
        handler = self.directory.name_of(draft.handler_id)
        role = {"manager": "your manager", "hr": "HR", "safeguarding_lead": "safeguarding lead"}.get(
            draft.handler_role or "", ""
        )
        identity = {
            "named": "named (the handler sees it is from you)",
            "confidential": "confidential (only HR can see who reported it)",
        }.get(draft.identity or "", "")
        return [
            f"1. Category: {cat.label if cat else ''}",
            f"2. What happened: {what}",
            f"3. When: {when}",
            f"4. Where and links: {draft.where or ''}",
            f"5. Handled by: {handler}" + (f" ({role})" if role else ""),
            f"6. Identity: {identity}",
        ]

    def guidance(self, route: Route | None, note: bool = True, reporter_id: str | None = None) -> list[Outbound]:
        """The route's note and verbatim policy quotes as one text message ([] when there are none).

        With ``reporter_id``, clauses of the reporter's organisation(s) in the directory come first
        (``PolicyQuotes.quotes``).
        """
        if route is None:
            return []
        quotes = self.quotes.quotes(route.quotes, self.directory.organisations_of(reporter_id))
        text = route.note if note else ""
        if not quotes and not text:
            return []
        return [Outbound(kind="text", text=text or "From the policies:", quotes=quotes, flow="report")]

    def prompt(self, draft: Draft, prefix: str = "") -> list[Outbound]:
        """The prompt for the draft's current step (with ``prefix`` text before it, if any)."""
        s = draft.step
        pre = (prefix + "\n") if prefix else ""
        if s == S.CATEGORY:
            text = "What is your concern about? Pick one."
            hinted = self.routing.category(draft.hint) if draft.hint else None
            if hinted:
                text = f"What is your concern about? (From your question it may be: {hinted.label}.) Pick one."
            return [self._prompt(draft, pre + text, self.category_choices())]
        if s == S.WHAT:
            return [
                self._prompt(
                    draft,
                    pre
                    + (
                        f"What happened? Describe it in your own words, in up to {MAX_WHAT_CHARS:,} characters. "
                        "Include only the personal details needed."
                    ),
                    hint="long_text",
                )
            ]
        if s == S.WHEN:
            return [
                self._prompt(
                    draft,
                    pre
                    + (
                        'When did it happen? For example: "yesterday 3pm", "last Monday", "2 days ago" or '
                        '"14/03/2025 09:30". Type "not sure" if you don\'t know.'
                    ),
                    [Choice("Not sure", "report:when", "unknown")],
                    hint="text",
                )
            ]
        if s == S.WHERE:
            msgs = []
            quotes = self.quotes.quotes(
                self.routing.evidence_quotes, self.directory.organisations_of(draft.reporter_id)
            )
            if quotes:
                msgs.append(
                    Outbound(
                        kind="text",
                        text=self.routing.evidence_intro or "From the policies:",
                        quotes=quotes,
                        flow="report",
                        step="where",
                    )
                )
            msgs.append(
                self._prompt(
                    draft,
                    pre
                    + (
                        "Where did it happen? Name the platform (for example Facebook, WhatsApp, a text message) and "
                        f"paste the full web address of anything relevant, in up to {MAX_WHERE_CHARS:,} characters. "
                        'Type "none" if there is nothing to add.'
                    ),
                    hint="long_text",
                )
            )
            return msgs
        if s == S.HANDLER:
            route, key = self.route(draft)
            msgs = []
            if key and key.startswith("rule:"):
                msgs += self.guidance(route, reporter_id=draft.reporter_id)
            choices = self.handler_choices(draft)
            if route is None or not choices:  # no route: no choices
                return msgs + [
                    self._prompt(
                        draft,
                        pre
                        + (
                            "No one is set up to handle this kind of report. Please contact HR directly. "
                            "Your draft is kept; type `cancel` to delete it."
                        ),
                    )
                ]
            text = "Who should handle this report?"
            if route and route.choose_other:
                text += " If the concern involves your manager, choose HR or someone else."
            else:
                text = (
                    "This report goes to "
                    + self.directory.name_of(self.resolve_role(route.handler, draft.reporter_id)[0])
                    + ". Press the option to continue."
                )
            return msgs + [self._prompt(draft, pre + text, choices)]
        if s == S.HANDLER_NAME:
            return [
                self._prompt(
                    draft,
                    pre
                    + (
                        "Type the name or user id of the person who should handle this report "
                        "(or `back` to see the options again)."
                    ),
                    hint="text",
                )
            ]
        if s == S.IDENTITY:
            return [
                self._prompt(
                    draft, pre + "Should the handler know the report is from you?", self.identity_choices(draft)
                )
            ]
        if s == S.REVIEW:
            text = "Please check your report before it is sent:\n" + "\n".join(self.summary_lines(draft))
            return [self._prompt(draft, pre + text, self.review_choices())]
        return []

    # ---- input -----------------------------------------------------------------------------
    def _pick(
        self, inbound: Inbound, choices: list[Choice], extra_words: dict[str, str] | None = None
    ) -> Choice | Literal["stale"] | None:
        """Match an inbound to one of ``choices``: a button press, a number, a label or a value.

        Returns the Choice, ``"stale"`` for a button from another step, or None (no match).
        """
        if inbound.source == "action" and inbound.action is not None:
            a = inbound.action
            for c in choices:
                if c.action_id == a.action_id and c.value == a.value:
                    return c
            return "stale"
        t = _normal(inbound.text or "")
        if not t:
            return None
        if t.isdigit():
            n = int(t)
            return choices[n - 1] if 1 <= n <= len(choices) else None
        for c in choices:
            if t in (_normal(c.label), _normal(c.value)):
                return c
        if extra_words and t in extra_words:
            value = extra_words[t]
            return next((c for c in choices if c.value == value), None)
        prefixed = [c for c in choices if len(t) >= 4 and _normal(c.label).startswith(t)]
        return prefixed[0] if len(prefixed) == 1 else None

    def _text(self, inbound: Inbound) -> str | None:
        if inbound.source == "action":
            return None
        return _clean(inbound.text)

    def apply(self, draft: Draft, inbound: Inbound) -> FlowResult:
        """Apply one message or button press to ``draft`` (mutating it when valid).

        Invalid input leaves the draft unchanged and re-prompts with the reason. A button from an
        earlier step is refused the same way. Never raises for user input.
        """
        a = inbound.action if inbound.source == "action" else None
        text = _normal(inbound.text or "") if a is None else ""
        if (a and a.action_id == "report:cancel") or text in CANCEL_WORDS:
            draft.move(S.CANCELLED)
            return FlowResult(
                [Outbound(kind="text", text="Report cancelled. Your draft has been deleted.", flow="report")],
                changed=True,
                cancelled=True,
            )
        if a and a.action_id == REPORT_ACTION_ID:
            return FlowResult(self.prompt(draft, "You already have a report in progress; let's continue."))
        handler: Callable[[Draft, Inbound], FlowResult] | None = getattr(self, f"_on_{draft.step.value}", None)
        if handler is None:  # pragma: no cover - terminal drafts are deleted, never applied to
            return FlowResult([Outbound(kind="error", text="This report is already finished.")])
        return handler(draft, inbound)

    def _refuse(self, draft: Draft, reason: str) -> FlowResult:
        return FlowResult(self.prompt(draft, reason))

    def _stale(self, draft: Draft) -> FlowResult:
        return self._refuse(draft, "That option belongs to another step. Here is where you are now:")

    def _advance(self, draft: Draft, forward: Step, before: list[Outbound] | None = None) -> FlowResult:
        """Go to ``forward`` (or back to the review when editing) and prompt."""
        draft.move(S.REVIEW if draft.editing else forward)
        return FlowResult((before or []) + self.prompt(draft), changed=True)

    def _reroute_if_needed(self, draft: Draft, forward: Step, before: list[Outbound]) -> FlowResult:
        """After an edit of category or what: re-ask the handler when the route changed."""
        if draft.editing and draft.handler_id and not self.handler_ok(draft):
            draft.handler_id = None
            draft.handler_role = None
            draft.move(S.HANDLER)
            note = Outbound(
                kind="text",
                text="That change affects who should handle the report; please choose again.",
                flow="report",
            )
            return FlowResult(before + [note] + self.prompt(draft), changed=True)
        return self._advance(draft, forward, before)

    def _on_category(self, draft: Draft, inbound: Inbound) -> FlowResult:
        c = self._pick(inbound, self.category_choices())
        if c == "stale":
            return self._stale(draft)
        if c is None or not isinstance(c, Choice):
            return self._refuse(draft, "Please pick one of the options (type its number or press it).")
        draft.category = c.value
        route, _ = self.route(draft)
        return self._reroute_if_needed(draft, S.WHAT, self.guidance(route, reporter_id=draft.reporter_id))

    def _on_what(self, draft: Draft, inbound: Inbound) -> FlowResult:
        t = self._text(inbound)
        if t is None:
            return self._stale(draft)
        if not t:
            return self._refuse(draft, "Please describe what happened.")
        if len(t) > MAX_WHAT_CHARS:
            return self._refuse(
                draft,
                f"That is {len(t):,} characters; please keep it under {MAX_WHAT_CHARS:,}. "
                "Nothing was saved from that message.",
            )
        if "\x00" in t:
            return self._refuse(draft, "That message contains characters I can't read; please retype it.")
        draft.what = t
        return self._reroute_if_needed(draft, S.WHEN, [])

    def parse_when(self, text: str) -> tuple[str | None, str | None]:
        """Read a time such as "yesterday 3pm": ``(ISO 8601 with offset, None)`` or ``(None, reason)``.

        Relative forms count back from ``clock()`` in the configured time zone (dateparser with
        ``PREFER_DATES_FROM="past"``, day-month order). Times in the future are refused.
        """
        import dateparser

        now = self.clock().astimezone(self.tz)
        settings = {
            "PREFER_DATES_FROM": "past",
            "RELATIVE_BASE": now.replace(tzinfo=None),
            "DATE_ORDER": "DMY",
            "RETURN_AS_TIMEZONE_AWARE": False,
        }
        try:
            dt = dateparser.parse(text, languages=["en"], settings=settings)
        except (ValueError, TypeError, OverflowError, LookupError, AttributeError):  # dateparser on odd input
            dt = None
        if dt is None:
            return None, (
                'I couldn\'t read that as a date or time. Try "yesterday 3pm", "last Monday" '
                'or "14/03/2025 09:30", or type "not sure".'
            )
        aware = dt.replace(tzinfo=self.tz)
        if aware > now + FUTURE_TOLERANCE:
            return None, "That time is in the future; please give when it happened."
        return _iso(aware), None

    def _on_when(self, draft: Draft, inbound: Inbound) -> FlowResult:
        if inbound.source == "action":
            c = self._pick(inbound, [Choice("Not sure", "report:when", "unknown")])
            if not isinstance(c, Choice):
                return self._stale(draft)
            draft.when, draft.when_text = None, "not sure"
            return self._advance(draft, S.WHERE)
        t = _clean(inbound.text)
        if not t:
            return self._refuse(draft, 'Please say when it happened, or type "not sure".')
        if len(t) > MAX_WHEN_CHARS:
            return self._refuse(draft, f"Please keep the time under {MAX_WHEN_CHARS} characters.")
        if _normal(t) in UNKNOWN_WHEN:
            draft.when, draft.when_text = None, "not sure"
            return self._advance(draft, S.WHERE)
        iso, reason = self.parse_when(t)
        if reason is not None:  # iso is None
            return self._refuse(draft, reason)
        draft.when, draft.when_text = iso, t
        return self._advance(
            draft, S.WHERE, [Outbound(kind="text", text=f"Noted: {fmt_when(iso, self.tz)}.", flow="report")]
        )

    def _on_where(self, draft: Draft, inbound: Inbound) -> FlowResult:
        t = self._text(inbound)
        if t is None:
            return self._stale(draft)
        if not t:
            return self._refuse(draft, 'Please name the platform and paste any links, or type "none".')
        if len(t) > MAX_WHERE_CHARS:
            return self._refuse(
                draft,
                f"That is {len(t):,} characters; please keep it under {MAX_WHERE_CHARS:,}. "
                "Nothing was saved from that message.",
            )
        if "\x00" in t:
            return self._refuse(draft, "That message contains characters I can't read; please retype it.")
        draft.where = t
        return self._advance(draft, S.HANDLER)

    def _set_handler(self, draft: Draft, user_id: str, role: str) -> FlowResult:
        draft.handler_id, draft.handler_role = user_id, role
        draft.route_key = self.route(draft)[1]
        draft.move(S.REVIEW if draft.editing else S.IDENTITY)
        return FlowResult(self.prompt(draft), changed=True)

    def _on_handler(self, draft: Draft, inbound: Inbound) -> FlowResult:
        choices = self.handler_choices(draft)
        c = self._pick(
            inbound,
            choices,
            {"manager": "manager", "my manager": "manager", "hr": "hr", "someone else": "named", "other": "named"},
        )
        if c == "stale":
            return self._stale(draft)
        if isinstance(c, Choice):
            if c.value == "named":
                draft.move(S.HANDLER_NAME)
                return FlowResult(self.prompt(draft), changed=True)
            user_id, role = self.resolve_role(c.value, draft.reporter_id)
            if not user_id:
                return self._refuse(draft, "No one is set up for that role; please pick another option.")
            return self._set_handler(draft, user_id, role)
        route, _ = self.route(draft)
        if route is not None and route.choose_other and inbound.source != "action":
            found = self._find_person(draft, inbound.text or "")
            if isinstance(found, str):
                for role in (route.handler, "hr"):
                    if self.resolve_role(role, draft.reporter_id) == (found, role):
                        return self._set_handler(draft, found, role)
                return self._set_handler(draft, found, "named")
        return self._refuse(draft, "Please pick one of the options.")

    def _find_person(self, draft: Draft, text: str) -> str | list[Person]:
        """A directory user id for a typed name, or a list of candidates (0 or several)."""
        people = [p for p in self.directory.find(text) if p.user_id != draft.reporter_id]
        return people[0].user_id if len(people) == 1 else people

    def _on_handler_name(self, draft: Draft, inbound: Inbound) -> FlowResult:
        t = self._text(inbound)
        if t is None:
            return self._stale(draft)
        if _normal(t) == "back":
            draft.move(S.HANDLER)
            return FlowResult(self.prompt(draft), changed=True)
        found = self._find_person(draft, t)
        if isinstance(found, str):
            return self._set_handler(draft, found, "named")
        if found:
            names = "; ".join(f"{p.name} ({p.user_id})" for p in found)
            return self._refuse(draft, f"More than one person matches: {names}. Type the user id.")
        return self._refuse(
            draft, "I can't find that person in the staff directory. Type their full name or user id, or `back`."
        )

    def _on_identity(self, draft: Draft, inbound: Inbound) -> FlowResult:
        c = self._pick(
            inbound,
            self.identity_choices(draft),
            {"named": "named", "confidential": "confidential", "anonymous": "confidential"},
        )
        if c == "stale":
            return self._stale(draft)
        if not isinstance(c, Choice):
            return self._refuse(draft, "Please choose named or confidential.")
        draft.identity = c.value
        draft.move(S.REVIEW)
        return FlowResult(self.prompt(draft), changed=True)

    def _on_review(self, draft: Draft, inbound: Inbound) -> FlowResult:
        edits = {f"edit {i}": s.value for i, s in enumerate(EDITABLE, start=1)}
        edits.update({f"edit {s.value}": s.value for s in EDITABLE})
        edits.update(
            {
                "edit what happened": "what",
                "edit where and links": "where",
                "edit who": "handler",
                "edit identity": "identity",
                "edit handler": "handler",
            }
        )
        t = _normal(inbound.text or "") if inbound.source != "action" else ""
        if t in edits:
            return self._edit(draft, Step(edits[t]))
        c = self._pick(inbound, self.review_choices(), {"send": "", "yes": ""})
        if c == "stale":
            return self._stale(draft)
        if not isinstance(c, Choice):
            return self._refuse(
                draft,
                "Type `submit` to send the report, `edit 2` (or press an edit option) "
                "to change an answer, or `cancel`.",
            )
        if c.action_id == "report:submit":
            if not self.handler_ok(draft):
                draft.handler_id = draft.handler_role = None
                draft.move(S.HANDLER)
                return FlowResult(
                    [Outbound(kind="text", text="Please choose who handles this report again.", flow="report")]
                    + self.prompt(draft),
                    changed=True,
                )
            return FlowResult([], changed=True, submit=True)
        return self._edit(draft, Step(c.value))

    def _edit(self, draft: Draft, step: Step) -> FlowResult:
        draft.move(step)
        return FlowResult(self.prompt(draft, "Current answer: " + self._current(draft, step)), changed=True)

    def _current(self, draft: Draft, step: Step) -> str:
        lines = self.summary_lines(draft, what_limit=None)
        return lines[EDITABLE.index(step)].split(": ", 1)[1]


def find_urls(text: str | None) -> list[str]:
    """The web addresses in ``text``, in order."""
    return _URL.findall(text or "")


def now_utc() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)
