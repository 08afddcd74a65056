"""Helpers shared by the reporting tests (imported by them; holds no tests itself)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_DIRECTORY = ROOT / "config" / "directory.sample.toml"
ROUTING = ROOT / "config" / "routing.toml"
START = datetime(2025, 3, 12, 10, 0, tzinfo=UTC)  # a Wednesday; London is on GMT (UTC+0)
KEY = bytes(range(32))
RECEIPT_RE = re.compile(r"R-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}")

WHAT = "Mrs Quimby, the mother of a young man I support, sent me a friend request and two messages on Facebook."
WHERE = "Facebook Messenger, https://www.facebook.com/quimby.family.page"
#: the typed answers of the Done-when report (a friend request from a service user's family)
FLOW = ["report", "2", WHAT, "yesterday 3pm", WHERE, "1", "confidential", "submit"]


class FakeClock:
    """A settable clock: call it for the time; ``advance(hours=...)`` moves it on."""

    def __init__(self, start: datetime = START):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kw) -> None:
        self.now += timedelta(**kw)


def make_service(data_dir, store=None, clock=None, directory=None, routing=None, key: bytes = KEY):
    """A ReportingService on ``data_dir`` with the sample directory, bundled routing and a fixed key."""
    from bot.directory import Directory
    from bot.reporting.crypto import ReportCipher
    from bot.reporting.routing import RoutingConfig
    from bot.reporting.service import ReportingService

    return ReportingService(
        data_dir,
        directory or Directory.load(SAMPLE_DIRECTORY),
        ReportCipher(key),
        routing or RoutingConfig.load(ROUTING),
        policy_store=store,
        clock=clock or FakeClock(),
    )


def make_engine(bot, clock=None, **kw):
    """A ConversationEngine over ``bot`` with a reporting service on the bot's data dir."""
    from bot.engine import ConversationEngine

    return ConversationEngine(bot, reporting=make_service(bot.data_dir, store=bot.store, clock=clock, **kw))


def say(engine, user, text, private=True, source="message"):
    """Send text as ``user``; returns the outbound list."""
    from bot.messages import Inbound

    return engine.handle(Inbound(user_id=user, text=text, private=private, source=source))


def press(engine, user, action_id, value="", private=True):
    """Press a button as ``user``; returns the outbound list."""
    from bot.messages import Action, Inbound

    return engine.handle(Inbound(user_id=user, source="action", action=Action(action_id, value), private=private))


def last_prompt(msgs):
    """The last prompt in ``msgs``."""
    prompts = [m for m in msgs if m.kind == "prompt"]
    assert prompts, [m.text for m in msgs]
    return prompts[-1]


def step_of(msgs) -> str | None:
    """The step named by the last prompt's meta."""
    return last_prompt(msgs).step


def receipt_in(msgs) -> str:
    """The receipt in a submit confirmation."""
    for m in msgs:
        found = RECEIPT_RE.search(m.text)
        if found:
            return found.group(0)
    raise AssertionError("no receipt in " + repr([m.text for m in msgs]))


def report_through(engine, user="alice", answers=FLOW):
    """Type every answer in turn; returns the outbound lists, one per answer."""
    return [say(engine, user, a) for a in answers]
