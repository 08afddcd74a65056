"""The conversation engine: one inbound message or action in, outbound messages out.

Policy questions get verbatim answers (unchanged by reporting). When confidential reporting is
available (``bot.reporting.service.ReportingService``), the engine also routes report entry points, the
report flow, ``status <receipt>``, handler actions and commands to it, and offers a
"Report a concern" choice under answers about reportable matters.

Knowledge-base upkeep in chat (``bot.upkeep.chat``): a message with files, ``kb:*`` actions, and, for HR
in a private conversation, the ``gaps`` / ``kb list`` commands. HR is whoever has the ``hr`` role in
the staff directory: reporting's directory, else one given to the engine, else the one found for the
data dir (``bot.directory.directory_path``).
"""

from __future__ import annotations

import logging
import re
import traceback
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from bot.answer import ASK_SOMEONE, NO_ANSWER_TEXT, Answer
from bot.messages import MAX_TEXT_CHARS, REPORT_ACTION_ID, REPORT_LABEL, Choice, Inbound, Outbound

if TYPE_CHECKING:
    from bot.app import Policybot
    from bot.directory import Directory
    from bot.reporting.service import ReportingService
    from bot.settings import Settings
    from index.store import KnowledgeStore

log = logging.getLogger("policybot.engine")

REPORTING_NOT_CONFIGURED = (
    "Confidential reporting is not set up here yet, so I can't take a report. "
    "Please speak to your line manager or HR directly."
)
MAX_TOPIC_CHARS = 1900  #: a "Compare policies" button carries the question, cut to this (Slack's value limit is 2,000)
COMPARE_HELP = (
    "Tell me what to compare, for example: compare accepting friend requests from service users. "
    "I'll show what each organisation's policy says about it."
)
#: "compare TOPIC", "compare policies on TOPIC", "compare: TOPIC" (any case)
_COMPARE = re.compile(
    r"^\s*compare(?:\s+(?:the\s+)?polic(?:y|ies))?(?:\s+(?:on|about|for))?\s*:?(?:\s+|$)(?P<topic>.*)$", re.I | re.S
)


class BadInput(ValueError):
    """A message the bot cannot take (empty, too long, not text); the message says why."""


def validate_question(text: str) -> str:
    """Strip ``text`` and check it can be asked.

    Raises:
        BadInput: empty, longer than ``MAX_TEXT_CHARS`` characters, or containing NUL bytes.
    """
    if text is None or not str(text).strip():
        raise BadInput("Please type a question, for example: can I accept a colleague's friend request?")
    text = str(text).strip()
    if len(text) > MAX_TEXT_CHARS:
        raise BadInput(
            f"That message is {len(text):,} characters long; please ask in under {MAX_TEXT_CHARS:,} characters."
        )
    if "\x00" in text:
        raise BadInput("That message contains characters I can't read; please retype it.")
    return text


def answer_message(answer: Answer) -> Outbound:
    """The outbound message for an answer (quotes) or an abstention (no guidance found).

    When the asker's organisation is known (``Answer.organisations``), the text says whose policy answers
    and, when theirs is silent, says so before any other organisation's quotes; renderers head the quotes
    with ``bot.views.quote_sections``.
    """
    own = " / ".join(answer.organisations)
    if not answer.answered:
        text = NO_ANSWER_TEXT
        if answer.organisations:
            text = f"I couldn't find anything in {own}'s policies that answers this. {ASK_SOMEONE}"
        return Outbound(kind="no_answer", text=text, question=answer.question, organisations=answer.organisations)
    if answer.own_answered:
        text = f"Here is what your organisation's policy says ({own}):"
    elif answer.organisations:
        text = (
            f"{own}'s policies don't cover this. Here is what other organisations' policies say; "
            "they may not apply to you, so check with your line manager or HR:"
        )
    else:
        text = "Here is what the policies say:"
    return Outbound(
        kind="answer",
        text=text,
        quotes=list(answer.quotes),
        question=answer.question,
        organisations=answer.organisations,
    )


class ConversationEngine:
    """Routes inbound messages: questions get answers; report flow, status and handler actions go to reporting.

    Args:
        bot: an opened ``bot.app.Policybot``.
        reporting: a ``bot.reporting.service.ReportingService``; None opens one for ``bot.data_dir`` when a
            report key is configured (or in dev mode), else reporting is off and its entry points say
            so; False turns reporting off.
        dev: dev mode for opening reporting (None: ``POLICYBOT_DEV``): generates a key into the
            data dir and falls back to the sample directory.
        directory: the staff directory (``bot.directory.Directory``) to use when reporting is off
            (default: the one found for the data dir, if any; a broken file is logged and ignored).
        settings: the ``bot.settings.Settings`` read at the entry point (default ``bot.config``; None:
            reporting reads the process environment when it opens).
    """

    def __init__(
        self,
        bot: Policybot,
        reporting: ReportingService | Literal[False] | None = None,
        dev: bool | None = None,
        directory: Directory | None = None,
        settings: Settings | None = None,
    ):
        self.bot = bot
        self.reporting_error: str | None = None
        settings = settings or getattr(bot, "config", None)
        self.settings = settings
        if reporting is None:
            from bot.reporting.crypto import ReportingNotConfigured

            try:
                reporting = open_reporting(bot.data_dir, getattr(bot, "store", None), dev=dev, settings=settings)
            except ReportingNotConfigured as exc:
                self.reporting_error = str(exc)
                log.info("confidential reporting is off: %s", exc)
                reporting = None
        self.reporting: ReportingService | None = reporting or None
        if directory is None and self.reporting is None:
            directory = _find_directory(getattr(bot, "data_dir", None), dev, settings)
        self._directory = directory
        from bot.upkeep.chat import KbChat

        self.kb = KbChat(bot, lambda: self.directory, lambda: getattr(self.reporting, "outbox", None))

    @property
    def directory(self) -> Directory | None:
        """The staff directory (``bot.directory.Directory``): reporting's when reporting is on, else the
        one given or found for the data dir, else None."""
        return self.reporting.directory if self.reporting is not None else self._directory

    def organisations_of(self, user_id: str | None) -> tuple[str, ...]:
        """The organisation(s) whose policies apply to ``user_id``, as named: their ``organisation`` in the
        staff directory, else ``POLICYBOT_ORGANISATION`` (``Settings.organisation``), else ``()``."""
        mine = self.directory.organisations_of(user_id) if self.directory is not None else ()
        if mine:
            return mine
        return tuple(self.settings.organisation) if self.settings is not None else ()

    def _compare(self, inbound: Inbound) -> Outbound | None:
        """The comparison for a "compare TOPIC" message or a "Compare policies" press; None for anything else."""
        from bot.compare import COMPARE_ACTION, compare

        if inbound.source == "action" and inbound.action is not None:
            if inbound.action.action_id != COMPARE_ACTION:
                return None
            topic = inbound.action.value
        else:
            m = _COMPARE.match(inbound.text or "")
            if m is None:
                return None
            topic = m.group("topic")
        if not topic.strip():
            return Outbound(kind="text", text=COMPARE_HELP)
        from bot.organisations import resolve

        try:
            own = resolve(self.organisations_of(inbound.user_id), self.bot.organisations(), strict=False)
            comparison = compare(self.bot.index, topic, own)
        except BadInput as exc:
            return Outbound(kind="error", text=str(exc))
        return Outbound(kind="comparison", text=comparison.summary, comparison=comparison, question=comparison.topic)

    def check_form(self, action_id: str, fields: dict[str, str]) -> dict[str, str]:
        """Field errors for a form submit (``bot.forms``) before it is handled: ``{field: message}``,
        empty when ``handle`` would accept the values. Pure and quick (no engine thread needed), for an
        adapter that must answer a form at once (a Slack modal's ``response_action: errors``)."""
        return self.kb.check_form(action_id, fields)

    def accepts_files(self, user_id: str, private: bool) -> bool:
        """True when files sent by ``user_id`` here would be previewed (an HR user in a private chat).

        Adapters call this before downloading; for anyone else they pass the files undownloaded and
        ``handle`` answers with the refusal.
        """
        return self.kb.accepts_files(user_id, private)

    def tick(self, now: datetime | None = None) -> list[Outbound]:
        """Run reporting deadlines once (``ReportingService.tick``); [] when reporting is off.

        Returns the messages queued in the outbox (each with ``to_user`` and ``outbox_id``).
        """
        if self.reporting is None:
            return []
        return self.reporting.tick(now)

    def session_start(self, user_id: str) -> list[Outbound]:
        """Messages for a user opening a pull session (console, web chat): queued private messages
        (marked delivered) and, if they have an unfinished report, its current prompt."""
        if self.reporting is None:
            return []
        out = list(self.reporting.expire_idle_draft(user_id))
        out += self.reporting.take_pending(user_id)
        out += self.reporting.current_prompt(user_id)
        return out

    def take_pending(self, user_id: str) -> list[Outbound]:
        """Queued private messages for ``user_id`` that arrived since, marked delivered ([] without reporting)."""
        if self.reporting is None:
            return []
        return self.reporting.take_pending(user_id)

    def handle(self, inbound: Inbound) -> list[Outbound]:
        """Process one inbound; returns the messages to send, in order. Never raises for user input."""
        try:
            if inbound.files:
                return self.kb.handle_files(inbound)
            if inbound.source == "action" and inbound.action is not None:
                kb_out = self.kb.handle_action(inbound)
                if kb_out is not None:
                    return kb_out
        except Exception as exc:  # last resort: type and code location only, never the message (it may quote a report)
            log.error("knowledge-base upkeep failed handling an inbound (%s at %s)", type(exc).__name__, _where(exc))
            return [
                Outbound(
                    kind="error",
                    text="Sorry, something went wrong with that document. Nothing was changed; "
                    "please try again in a moment.",
                )
            ]
        notices: list[Outbound] = []
        if self.reporting is not None:
            try:
                notices = self.reporting.expire_idle_draft(inbound.user_id)
                out = self.reporting.handle(inbound)
            except (
                Exception
            ) as exc:  # last resort: type and code location only, never the message (it may quote a report)
                log.error("reporting failed handling an inbound (%s at %s)", type(exc).__name__, _where(exc))
                return [
                    Outbound(
                        kind="error",
                        text=(
                            "Sorry, something went wrong with the report system. Anything you had already answered "
                            "is saved; please try again in a moment."
                        ),
                    )
                ]
            if out is not None:
                return notices + out
        else:
            from bot.reporting.service import is_reporting_request

            if is_reporting_request(inbound):
                return [Outbound(kind="text", text=REPORTING_NOT_CONFIGURED)]
        try:
            kb_out = self.kb.handle_command(inbound)
        except Exception as exc:  # last resort: type and code location only, never the message (it may quote a report)
            log.error("knowledge-base command failed (%s at %s)", type(exc).__name__, _where(exc))
            kb_out = [Outbound(kind="error", text="Sorry, something went wrong; please try again in a moment.")]
        if kb_out is not None:
            return notices + kb_out
        compared = self._compare(inbound)
        if compared is not None:
            return notices + [compared]
        from bot import smalltalk

        chat = smalltalk.reply(inbound.text or "", reporting=self.reporting is not None)
        if chat is not None:  # "hello", "thanks", "help": not a question, and not a knowledge gap
            return notices + [Outbound(kind="text", text=chat)]
        try:
            answer = self.bot.ask(
                inbound.text, user_id=inbound.user_id, organisations=self.organisations_of(inbound.user_id)
            )
        except BadInput as exc:
            return notices + [Outbound(kind="error", text=str(exc))]
        msg = answer_message(answer)
        if self.reporting is not None and answer.answered:
            from bot.reporting.reportable import reportable_category

            hint = reportable_category(inbound.text)
            if hint is not None:
                msg.choices.append(Choice(REPORT_LABEL, REPORT_ACTION_ID, hint))
        if answer.answered and len({q.citation.organisation for q in answer.quotes}) > 1:
            from bot.compare import COMPARE_ACTION, COMPARE_LABEL

            msg.choices.append(Choice(COMPARE_LABEL, COMPARE_ACTION, answer.question[:MAX_TOPIC_CHARS]))
            msg.keep_choices += (COMPARE_ACTION,)  # comparing leaves "Report a concern" and the rest in place
        return notices + [msg]


def _where(exc: BaseException) -> str:
    """Where ``exc`` was raised, as ``file:line in function`` (innermost frame); never its message."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    f = frames[-1]
    return f"{Path(f.filename).name}:{f.lineno} in {f.name}"


def open_reporting(
    data_dir: str | Path,
    policy_store: KnowledgeStore | None = None,
    dev: bool | None = None,
    settings: Settings | None = None,
) -> ReportingService:
    """Open confidential reporting for ``data_dir`` with the key, directory and routing file ``settings``
    name (``bot.reporting.service.ReportingService.open``; None: the process environment).

    Raises:
        ReportingNotConfigured: no key (outside dev mode), a bad key, no directory, or a bad directory or
            routing file.
    """
    from bot.reporting.service import ReportingService

    return ReportingService.open(data_dir, policy_store=policy_store, dev=dev, settings=settings)


def _find_directory(
    data_dir: str | Path | None, dev: bool | None, settings: Settings | None = None
) -> Directory | None:
    """The staff directory for ``data_dir`` (``bot.directory.directory_path``), or None when there is
    none or it cannot be read (logged, without its contents)."""
    from bot.directory import Directory, DirectoryError, directory_path
    from bot.reporting.crypto import is_dev_mode
    from bot.settings import SettingsError

    try:
        path = directory_path(data_dir, dev=is_dev_mode(dev, settings), settings=settings)
    except SettingsError as exc:
        log.warning("staff directory not looked for (%s)", exc)
        return None
    if path is None:
        return None
    try:
        return Directory.load(path)
    except (DirectoryError, OSError) as exc:
        log.warning(
            "staff directory not loaded (%s): nobody can change the knowledge base from chat", type(exc).__name__
        )
        return None
