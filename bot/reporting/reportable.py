"""Spotting questions about reportable matters, and messages that ask to start a report.

``reportable_category(text)`` decides whether an answered question touches something staff may want
to report (a service user's friend request or contact, bullying or harassment, impersonation, press
contact); the engine then offers a "Report a concern" choice. ``is_report_request(text)`` recognises
"report", "I want to report something" and the like (not "how do I report bullying?", which is a
question to answer).
"""

from __future__ import annotations

import re

_FLAGS = re.IGNORECASE

#: (category key, patterns that must all match), most specific first
_PATTERNS: list[tuple[str, tuple[re.Pattern[str], ...]]] = [
    (
        "service_user_contact",
        (
            re.compile(
                r"\b(service[- ]?users?|clients?|residents?|patients?|pupils?|parents?|famil(y|ies)|carers?|"
                r"young (person|people)|children|child)\b",
                _FLAGS,
            ),
            re.compile(
                r"\b(friend(ed|s|ing)?( request)?|contact(ed|ing|s)?|messag(e|ed|es|ing)|follow(ed|s|ing)?|"
                r"add(ed|s)? me|dm(ed|'d)?|approach(ed)?|sought)\b",
                _FLAGS,
            ),
        ),
    ),
    (
        "impersonation",
        (
            re.compile(
                r"\b(impersonat\w*|clon(e|ed|ing)|fake (profile|account|page)|pretend(ing|s)? to be|"
                r"posing as|copied my (profile|account|photos?))\b",
                _FLAGS,
            ),
        ),
    ),
    (
        "press",
        (
            re.compile(
                r"\b(press|journalists?|reporters?|media contact|newspapers?|news ?paper|the media|"
                r"tv|radio|broadcaster)\b",
                _FLAGS,
            ),
        ),
    ),
    (
        "bullying",
        (
            re.compile(
                r"\b(bull(y|ied|ies|ying)|cyber[- ]?bull\w*|harass\w*|troll(s|ed|ing)?|abus(e|ed|ive)|"
                r"threaten\w*|intimidat\w*)\b",
                _FLAGS,
            ),
        ),
    ),
]

_REQUEST = re.compile(
    r"^(?:(?:i|we)\s+(?:want|would like|'d like|need|wish)\s+to\s+|i'd\s+like\s+to\s+|can\s+i\s+|"
    r"i\s+(?:want|need)\s+to\s+|please\s+(?:let\s+me\s+)?)?"
    r"(?:make\s+a\s+)?report(?:\s+(?:something|a\s+concern|an?\s+(?:incident|issue|problem)|a\s+problem|"
    r"concern|an\s+issue))?(?:\s+(?:privately|confidentially))?[.!]*$",
    _FLAGS,
)


def reportable_category(text: str | None) -> str | None:
    """The report category key a question touches (see ``config/routing.toml``), or None."""
    if not text:
        return None
    for key, patterns in _PATTERNS:
        if all(p.search(text) for p in patterns):
            return key
    return None


def is_report_request(text: str | None) -> bool:
    """True for a request to start a report: "report", "I want to report something", "report a concern"."""
    if not text:
        return False
    t = " ".join(text.replace("\u2019", "'").split())
    return bool(_REQUEST.match(t))
