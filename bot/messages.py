"""Inbound and outbound message types shared by the engine and every adapter.

An adapter turns a platform payload into an ``Inbound`` and renders each ``Outbound`` it gets back
(Block Kit, Adaptive Card, HTML or plain text). ``Outbound.to_user`` set means "deliver privately to
that user" (a DM / personal chat), else the reply goes to the conversation the inbound came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.forms import Form

if TYPE_CHECKING:
    from bot.compare import Comparison

MAX_TEXT_CHARS = 4000  #: longest message the engine accepts; longer ones get a clear refusal
#: the action that starts (or resumes) the report flow, whoever offers it: the button under answers, Slack's
#: ``/policy report`` and shortcut, a home screen; its value is an optional category hint
REPORT_ACTION_ID = "report:start"
REPORT_LABEL = "Report a concern"  #: that button's label


@dataclass(frozen=True)
class Action:
    """A button press or card submit: ``action_id`` names the action, ``value`` carries its data."""

    action_id: str
    value: str = ""


@dataclass(frozen=True)
class InboundFile:
    """A file sent with a message (a Slack file share, a Teams attachment), already downloaded.

    Attributes:
        name: the file name as sent, e.g. ``"guidance.docx"`` (its extension picks the reader).
        data: the file's bytes (``b""`` when the adapter did not download it: see ``problem``).
        content_type: the MIME type the platform gave, if any (informational; the name decides).
        size: the size in bytes the platform declared (None when unknown); ``len(data)`` once downloaded.
        problem: why ``data`` is missing, set by the adapter instead of downloading: ``"too_large"``
            (declared or downloaded size over the upload limit), ``"download_failed"``, or
            ``"not_downloaded"`` (the engine said it would refuse the file anyway). None when ``data``
            holds the whole file.
    """

    name: str
    data: bytes = b""
    content_type: str | None = None
    size: int | None = None
    problem: str | None = None

    def __repr__(self) -> str:  # never the contents in a log or a traceback
        return (
            f"InboundFile(name={self.name!r}, bytes={len(self.data)}, content_type={self.content_type!r}, "
            f"size={self.size!r}, problem={self.problem!r})"
        )


@dataclass(frozen=True)
class Inbound:
    """One message or action from a user.

    Attributes:
        user_id: the person's directory id (adapters map platform ids to it).
        text: the message text ("" for a pure action).
        conversation_id: the platform conversation (DM, channel, console session).
        private: True in a DM / personal chat / console; False in a shared channel.
        source: ``"message"``, ``"mention"``, ``"command"`` (slash command) or ``"action"``.
        action: the button/card action, when ``source == "action"``.
        files: files sent with the message (``InboundFile``), in order; empty for a plain message.
    """

    user_id: str
    text: str = ""
    conversation_id: str = "console"
    private: bool = True
    source: str = "message"
    action: Action | None = None
    files: tuple[InboundFile, ...] = ()


@dataclass(frozen=True)
class Choice:
    """A button the user can press: shown as ``label``, sent back as ``Action(action_id, value)``."""

    label: str
    action_id: str
    value: str = ""
    style: str | None = None  # "primary" | "danger" | None


@dataclass(frozen=True)
class Citation:
    """Where a quote comes from: organisation, document title, section path and edition."""

    organisation: str
    document: str
    section: str | None
    edition: str | None = None
    clause_id: str = ""
    text: str = ""  #: the cited clause's own text (for near-duplicates listed under ``Quote.also``)

    def label(self) -> str:
        """One line, e.g. ``"WBC — Social Media Guidance (HRSM1) (v D3, December 2011), 8. Using … › 8.5"``."""
        doc = f"{self.document} ({self.edition})" if self.edition else self.document
        return f"{self.organisation} — {doc}" + (f", {self.section}" if self.section else "")


@dataclass(frozen=True)
class Quote:
    """A verbatim clause with its citation; ``also`` lists other policies that say the same."""

    clause_id: str
    text: str
    lead_in: str | None
    citation: Citation
    score: float
    also: tuple[Citation, ...] = ()
    own: bool | None = None  #: from the asker's own organisation (True), another one (False), or unknown (None)


@dataclass
class Outbound:
    """One message for an adapter to render.

    Every field is typed: adapters branch on these, never on the flow's internals.

    Attributes:
        kind: ``"answer"`` (quotes), ``"no_answer"``, ``"comparison"`` (``comparison``), ``"text"``,
            ``"prompt"`` (text + choices), ``"notification"`` (to a handler) or ``"error"``.
        text: the message text (always set, so a text-only adapter can show every message).
        quotes: for ``"answer"``.
        choices: buttons to offer.
        to_user: deliver privately to this user id instead of replying in the conversation.
        input_hint: for a prompt, what kind of free text is expected (``"text"``, ``"long_text"``, ``None``).
        question: for ``"answer"`` / ``"no_answer"``, the question answered (the feedback buttons carry it).
        case_id: the reference of the case the message is about (``"C-00001"``); logs may show it, never the text.
        flow: ``"report"`` for the messages of the report conversation, else None.
        step: for a report-flow prompt, the step it asks about (``bot.reporting.flow.Step`` value, e.g. ``"where"``).
        modal: the core would rather show this prompt in a modal / dialog where the channel has one
            (the report's review, a form); a channel without one posts it as a message.
        title: a short title for that modal or card (``"Policy upload"``), None for the channel's default.
        form: a form to fill in (``bot.forms.Form``), shown as a modal / card with inputs.
        choices_note: a warning shown beside the buttons (it is in ``text`` too).
        keep_choices: action ids of buttons that leave the message's buttons in place when pressed.
        event: what a queued private message is (``"reminder"``, ``"escalation"``, ``"draft_expired"``, ...).
        receipt: the reporter's receipt code, on the confirmation of a submitted report.
        document, document_version: the document (id) and version a change notice is about.
        outbox_id: the outbox row this message was queued as (``bot.reporting.outbox``), once queued; None otherwise.
        organisations: for ``"answer"`` / ``"no_answer"``, the asker's organisations as shown when known
            (quotes then carry ``Quote.own``); empty otherwise.
        comparison: for ``"comparison"``, every organisation's position on a topic (``bot.compare``);
            ``text`` is its one-line summary.
    """

    kind: str
    text: str
    quotes: list[Quote] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    to_user: str | None = None
    input_hint: str | None = None
    question: str | None = None
    case_id: str | None = None
    flow: str | None = None
    step: str | None = None
    modal: bool = False
    title: str | None = None
    form: Form | None = None
    choices_note: str | None = None
    keep_choices: tuple[str, ...] = ()
    event: str | None = None
    receipt: str | None = None
    document: str | None = None
    document_version: int | None = None
    outbox_id: int | None = None
    organisations: tuple[str, ...] = ()
    comparison: Comparison | None = None
