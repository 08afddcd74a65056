"""The conversation engine: one inbound message or action in, outbound messages out."""

from __future__ import annotations

from bot.answer import NO_ANSWER_TEXT, Answer
from bot.messages import MAX_TEXT_CHARS, Inbound, Outbound


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
    """The outbound message for an answer (quotes) or an abstention (no guidance found)."""
    if not answer.answered:
        return Outbound(kind="no_answer", text=NO_ANSWER_TEXT, meta={"question": answer.question})
    lines = ["Here is what the policies say:"]
    return Outbound(kind="answer", text="\n".join(lines), quotes=list(answer.quotes), meta={"question": answer.question})


class ConversationEngine:
    """Routes inbound messages: questions get answers; (later) report flow, status and handler actions.

    Args:
        bot: an opened ``bot.app.Policybot``.
    """

    def __init__(self, bot):
        self.bot = bot

    def handle(self, inbound: Inbound) -> list[Outbound]:
        """Process one inbound; returns the messages to send, in order. Never raises for user input."""
        try:
            answer = self.bot.ask(inbound.text)
        except BadInput as exc:
            return [Outbound(kind="error", text=str(exc))]
        return [answer_message(answer)]
