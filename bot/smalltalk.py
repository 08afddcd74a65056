"""Greetings, thanks and requests for help: answered with a short help text, not searched.

Without this, "hello" would get "I couldn't find anything in the policies" and be kept as a knowledge
gap for HR. Only a whole message that is nothing but such a phrase matches ("hi, can I post photos of
residents?" is a question and is searched as usual).
"""

from __future__ import annotations

import re

_NAMES = ("policybot", "bot")
GREETINGS = frozenset(
    {
        "hi",
        "hello",
        "hey",
        "hiya",
        "hi there",
        "hello there",
        "hey there",
        "morning",
        "good morning",
        "good afternoon",
        "good evening",
        "afternoon",
        "evening",
        "yo",
        "howdy",
        "greetings",
    }
)
HELP = frozenset(
    {
        "help",
        "help me",
        "what can you do",
        "what do you do",
        "how does this work",
        "how do i use this",
        "commands",
        "menu",
        "start",
        "get started",
        "options",
        "what are you",
        "who are you",
    }
)
THANKS = frozenset(
    {
        "thanks",
        "thank you",
        "thank you very much",
        "thanks a lot",
        "many thanks",
        "cheers",
        "ta",
        "thx",
        "ty",
        "ok thanks",
        "okay thanks",
        "great thanks",
        "brilliant thanks",
        "perfect thanks",
        "thanks so much",
    }
)
GOODBYES = frozenset({"bye", "goodbye", "bye bye", "see you", "see ya", "cya"})

EXAMPLES = (
    "can I accept a colleague's friend request?",
    "can I post photos from work?",
    "what should I do if a service user contacts me on Facebook?",
)


def _normalise(text: str) -> str:
    words = re.sub(r"[^a-z' ]+", " ", text.lower().replace("’", "'")).split()
    while words and words[-1] in _NAMES:
        words.pop()
    return " ".join(words)


def kind_of(text: str) -> str | None:
    """``"greeting"``, ``"help"``, ``"thanks"``, ``"goodbye"`` when the whole of ``text`` is such a phrase
    (case, punctuation, emoji and a trailing "policybot" ignored), else None. Messages over 60
    characters never match."""
    if not text or len(text) > 60:
        return None
    norm = _normalise(text)
    for kind, phrases in (("greeting", GREETINGS), ("help", HELP), ("thanks", THANKS), ("goodbye", GOODBYES)):
        if norm in phrases:
            return kind
    return None


def help_text(reporting: bool) -> str:
    """What the bot does and how to use it; mentions reporting only when ``reporting`` is on."""
    lines = [
        "I answer questions about the social media policies with the policies' own words, and say which "
        "policy and section each quote comes from. Try, for example:",
        *[f"• {q}" for q in EXAMPLES],
    ]
    if reporting:
        lines.append(
            "To report a concern in confidence, type `report`: I'll ask a few questions privately, "
            "and you'll get a receipt. `status <receipt>` shows where your report stands."
        )
    lines.append("If the policies don't cover something, I'll say so and point you to your line manager or HR.")
    return "\n".join(lines)


def reply(text: str, reporting: bool) -> str | None:
    """The reply to a greeting, thanks, goodbye or request for help (see ``kind_of``), else None."""
    kind = kind_of(text)
    if kind is None:
        return None
    if kind == "thanks":
        return "You're welcome. Ask me anything else about the social media policies."
    if kind == "goodbye":
        return "Goodbye. I'm here whenever you have a question about the social media policies."
    prefix = "Hello. " if kind == "greeting" else ""
    return prefix + help_text(reporting)
