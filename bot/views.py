"""How outbound messages are shown, decided once for every channel (Slack, Teams, web chat, console).

Three rules live here so that no renderer keeps its own copy:

* quotes (``QuoteView``): the lead-in as shown (a long one shortened to its last sentence), the clause
  verbatim, the "Source: …" citation and the "Also in: …" lines;
* privacy (``route``): which replies go privately to the person, and the one pointer text posted where
  they asked when an interactive reply (a prompt, a notification) had to leave a shared conversation;
* feedback (``wants_feedback``, ``FEEDBACK_BUTTONS``, ``feedback_token``, ``parse_vote``,
  ``thanks_text``): which messages get Helpful / Not helpful buttons, the buttons' action ids and
  labels, the data they carry and the thank-you line after a vote.

Renderers only turn these into Block Kit, Adaptive Cards, HTML/JSON or text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import ClassVar

from bot.messages import Outbound, Quote

# -- quotes -----------------------------------------------------------------------------------------

LEAD_IN_MAX_CHARS = 160  #: longer lead-ins are shown as "… " + their last sentence
SOURCE_PREFIX = "Source: "
ALSO_PREFIX = "Also in: "


def display_lead_in(lead_in: str | None, max_chars: int = LEAD_IN_MAX_CHARS) -> str | None:
    """The lead-in as shown above a quote: ``lead_in`` whole when at most ``max_chars`` characters (None
    and "" as given), else ``"… "`` + its last sentence, which is still the policy's own words."""
    if not lead_in or len(lead_in) <= max_chars:
        return lead_in
    from index.retrieve import last_sentence

    return "… " + last_sentence(lead_in)


@dataclass(frozen=True)
class QuoteView:
    """One quote as every channel shows it.

    Attributes:
        clause_id: the quoted clause's id.
        text: the clause, verbatim (never shortened or reworded).
        lead_in: the lead-in it completes as shown (``display_lead_in``), or None.
        citation: the citation label (``Citation.label()``).
        also: labels of other policies that say the same, in order.
        organisation, document, section: the citation's parts (for renderers that show them apart).
    """

    source_prefix: ClassVar[str] = SOURCE_PREFIX  #: put before ``citation`` ("Source: ")
    also_prefix: ClassVar[str] = ALSO_PREFIX  #: put before each of ``also`` ("Also in: ")

    clause_id: str
    text: str
    lead_in: str | None
    citation: str
    also: tuple[str, ...] = ()
    organisation: str = ""
    document: str = ""
    section: str | None = None
    own: bool | None = None

    @classmethod
    def of(cls, quote: Quote) -> QuoteView:
        """The view of a ``bot.messages.Quote`` (its text unchanged, its lead-in shortened as shown)."""
        c = quote.citation
        return cls(
            quote.clause_id,
            quote.text,
            display_lead_in(quote.lead_in),
            c.label(),
            tuple(o.label() for o in quote.also),
            c.organisation,
            c.document,
            c.section,
            quote.own,
        )

    @property
    def source_line(self) -> str:
        """``"Source: <citation>"``."""
        return self.source_prefix + self.citation

    @property
    def also_lines(self) -> tuple[str, ...]:
        """``("Also in: <label>", ...)``, one a policy in ``also``."""
        return tuple(self.also_prefix + a for a in self.also)

    def to_json(self) -> dict[str, object]:
        """A JSON-able dict: every field (``also`` as a list) plus ``source_prefix`` and ``also_prefix``."""
        return {
            "text": self.text,
            "lead_in": self.lead_in,
            "citation": self.citation,
            "organisation": self.organisation,
            "document": self.document,
            "section": self.section,
            "clause_id": self.clause_id,
            "also": list(self.also),
            "own_organisation": self.own,
            "source_prefix": self.source_prefix,
            "also_prefix": self.also_prefix,
        }


def quote_views(msg: Outbound) -> list[QuoteView]:
    """``QuoteView.of`` each of ``msg.quotes``, in order."""
    return [QuoteView.of(q) for q in msg.quotes]


@dataclass(frozen=True)
class QuoteSection:
    """A run of quotes under one heading: ``heading`` None when the answer has no sections."""

    heading: str | None
    quotes: list[QuoteView]


def quote_sections(msg: Outbound) -> list[QuoteSection]:
    """The quotes of ``msg`` in the sections every channel shows.

    With the asker's organisation unknown (no quote has ``own`` set): one section without a heading.
    Otherwise the asker's own organisation's quotes under ``"Your organisation's policy (<organisations>)"``,
    then the others under ``"Other organisations' guidance"``; an empty section is left out. Order is kept.
    """
    from bot.answer import OTHERS_HEADING, OWN_HEADING

    views = quote_views(msg)
    if all(v.own is None for v in views):
        return [QuoteSection(None, views)] if views else []
    own = [v for v in views if v.own]
    rest = [v for v in views if not v.own]
    mine = f"{OWN_HEADING} ({' / '.join(msg.organisations)})" if msg.organisations else OWN_HEADING
    return [QuoteSection(h, vs) for h, vs in ((mine, own), (OTHERS_HEADING, rest)) if vs]


OWN_MARK = " (your organisation)"  #: added to the asker's own organisation's name in a comparison


@dataclass(frozen=True)
class PositionView:
    """One organisation's row in a comparison as every channel shows it.

    Attributes:
        organisation: the organisation, with ``OWN_MARK`` when it is the asker's own.
        stance: ``knowledge.stance`` label or ``"says nothing"``.
        quote: the clause (``QuoteView``), None when the organisation says nothing.
    """

    organisation: str
    stance: str
    quote: QuoteView | None

    def to_json(self) -> dict[str, object]:
        """``{"organisation", "stance", "quote": QuoteView.to_json() or None}``."""
        return {
            "organisation": self.organisation,
            "stance": self.stance,
            "quote": self.quote.to_json() if self.quote is not None else None,
        }


def comparison_rows(msg: Outbound) -> list[PositionView]:
    """The rows of a ``"comparison"`` message (``Outbound.comparison``) in order; [] for any other message."""
    if msg.comparison is None:
        return []
    return [
        PositionView(
            p.organisation + (OWN_MARK if p.own else ""),
            p.stance,
            QuoteView.of(p.quote) if p.quote is not None else None,
        )
        for p in msg.comparison.positions
    ]


def wants_modal(msg: Outbound) -> bool:
    """True for a prompt the core marks as better shown in a dialog (``Outbound.modal``) than in the
    conversation; a channel that cannot open one (or fails to) posts it as a message instead."""
    return msg.kind == "prompt" and msg.modal


# -- privacy: where replies go ------------------------------------------------------------------------

POINTER_TEXT = "I've sent you a private message."  #: posted where someone asked when the reply went private


def is_interactive(msg: Outbound) -> bool:
    """True for a prompt, a notification or anything asking for typed input: those belong in a private
    conversation, never in a shared one."""
    return msg.kind in ("prompt", "notification") or msg.input_hint is not None


@dataclass(frozen=True)
class Routing:
    """Where the replies to one inbound go (see ``route``).

    Attributes:
        here: post in the conversation the inbound came from, in order.
        private: send privately to the person who sent it (DM / personal chat), in order.
        others: addressed to someone else (``to_user``): deliver to them privately.
        pointer: the text to post where the inbound came from because its reply went private, or None.
    """

    here: list[Outbound] = field(default_factory=list)
    private: list[Outbound] = field(default_factory=list)
    others: list[Outbound] = field(default_factory=list)
    pointer: str | None = None


def route(outs: list[Outbound], user_id: str, private: bool, post_here: bool = True) -> Routing:
    """The one privacy rule: which of ``outs`` (the engine's replies to ``user_id``) go where.

    Args:
        outs: the engine's outbounds, in order.
        user_id: the person who sent the inbound.
        private: the inbound came from a private conversation (a DM, a personal chat, the web chat or
            console page); everything for ``user_id`` is then shown there.
        post_here: False when nothing may be posted in the shared conversation (e.g. a button pressed
            there): every reply for ``user_id`` goes privately, without a pointer.

    Returns:
        ``Routing``. In a shared conversation, messages addressed to ``user_id`` go privately and the
        rest are posted there; but when any of the rest is interactive (``is_interactive``) the whole
        reply goes privately and only ``POINTER_TEXT`` is posted there.
    """
    others = [o for o in outs if o.to_user and o.to_user != user_id]
    mine = [o for o in outs if not (o.to_user and o.to_user != user_id)]
    if private:
        return Routing(here=mine, others=others)
    if not post_here:
        return Routing(private=mine, others=others)
    here = [o for o in mine if not o.to_user]
    if any(is_interactive(o) for o in here):
        return Routing(private=mine, others=others, pointer=POINTER_TEXT)
    return Routing(here=here, private=[o for o in mine if o.to_user], others=others)


# -- feedback -----------------------------------------------------------------------------------------

FEEDBACK_HELPFUL = "pb_feedback_helpful"  #: action id of the Helpful button (handled by the channel)
FEEDBACK_NOT_HELPFUL = "pb_feedback_not_helpful"  #: action id of the Not helpful button
THANKS_HELPFUL = "Thanks for your feedback."
THANKS_NOT_HELPFUL = "Thanks, noted: HR will see that this didn't help."
MAX_FEEDBACK_TOKEN = 2000  #: characters of a button's data (Slack's button value limit)


@dataclass(frozen=True)
class FeedbackButton:
    """One feedback button: shown as ``label``, pressed as ``action_id``; ``helpful`` is the vote."""

    label: str
    action_id: str
    helpful: bool


FEEDBACK_BUTTONS = (
    FeedbackButton("Helpful", FEEDBACK_HELPFUL, True),
    FeedbackButton("Not helpful", FEEDBACK_NOT_HELPFUL, False),
)


@dataclass(frozen=True)
class Vote:
    """A feedback vote: ``helpful``, the ``question`` voted on ("" when unknown) and the quoted ``clause_ids``."""

    helpful: bool
    question: str = ""
    clause_ids: tuple[str, ...] = ()


def wants_feedback(msg: Outbound) -> bool:
    """True for answers and abstentions that carry their question (``Outbound.question``): those get the
    Helpful / Not helpful buttons. Prompts, report-flow and other messages never do."""
    return msg.kind in ("answer", "no_answer") and bool(msg.question)


def feedback_of(msg: Outbound) -> Vote | None:
    """What a vote on ``msg`` is about: a ``Vote`` (``helpful`` False, to be set by the press) with the
    question and the quoted clause ids; None when ``msg`` gets no buttons (``wants_feedback``)."""
    if not wants_feedback(msg):
        return None
    return Vote(False, str(msg.question), tuple(q.clause_id for q in msg.quotes))


def feedback_token(msg: Outbound, limit: int = MAX_FEEDBACK_TOKEN) -> str:
    """The data the feedback buttons carry: JSON ``{"q": question, "c": [clause ids]}`` of at most
    ``limit`` characters (the question cut to 1,500 characters, shorter when needed; ``{"q": "", "c": []}``
    when even the ids do not fit). ``parse_vote`` reads it back."""
    question = msg.question or ""
    clauses = [q.clause_id for q in msg.quotes]
    for size in (1500, 1000, 500, 200, 0):
        value = json.dumps({"q": question[:size], "c": clauses}, ensure_ascii=False)
        if len(value) <= limit:
            return value
    return json.dumps({"q": "", "c": []})


def is_feedback_action(action_id: str) -> bool:
    """True for the action id of a feedback button (``FEEDBACK_HELPFUL`` / ``FEEDBACK_NOT_HELPFUL``)."""
    return action_id in (FEEDBACK_HELPFUL, FEEDBACK_NOT_HELPFUL)


def parse_vote(action_id: str, token: object) -> Vote | None:
    """The vote of a feedback button press: ``action_id`` the button's, ``token`` its data
    (``feedback_token``'s JSON; anything unreadable gives an empty question and no clause ids).

    Returns None when ``action_id`` is not a feedback button's. Never raises.
    """
    if not is_feedback_action(action_id):
        return None
    try:
        data = json.loads(token) if isinstance(token, (str, bytes)) and token else token
    except (ValueError, RecursionError):  # not JSON, or nested too deep to read
        data = None
    if not isinstance(data, dict):
        data = {}
    clauses = data.get("c")
    return Vote(
        action_id == FEEDBACK_HELPFUL,
        str(data.get("q") or ""),
        tuple(str(c) for c in clauses) if isinstance(clauses, list) else (),
    )


def thanks_text(helpful: bool) -> str:
    """The thank-you line shown to the voter after a vote."""
    return THANKS_HELPFUL if helpful else THANKS_NOT_HELPFUL
