"""Greetings, thanks and help requests get a help text, are not searched and are not knowledge gaps."""

from __future__ import annotations

import pytest

from bot import smalltalk
from bot.engine import ConversationEngine
from bot.messages import Inbound


@pytest.mark.parametrize(
    "text,kind",
    [
        ("hello", "greeting"),
        ("Hi!", "greeting"),
        ("hey policybot", "greeting"),
        ("Good morning :)", "greeting"),
        ("help", "help"),
        ("What can you do?", "help"),
        ("thanks", "thanks"),
        ("Thank you!!", "thanks"),
        ("cheers", "thanks"),
        ("bye", "goodbye"),
    ],
)
def test_whole_phrases_are_recognised(text, kind):
    assert smalltalk.kind_of(text) == kind


@pytest.mark.parametrize(
    "text",
    [
        "hi, can I accept a colleague's friend request?",
        "help me report a fake profile of me",
        "thanks for nothing, can I post photos of residents?",
        "hello " * 20,
        "",
        "hi-vis jacket photos",
    ],
)
def test_questions_are_not_small_talk(text):
    assert smalltalk.kind_of(text) is None


def test_a_greeting_gets_help_and_is_not_a_gap(fake_bot):
    engine = ConversationEngine(fake_bot, reporting=False)
    (out,) = engine.handle(Inbound(user_id="u1", text="Hello!"))
    assert out.kind == "text" and out.text.startswith("Hello.")
    assert "can I accept a colleague's friend request?" in out.text
    assert "report" not in out.text  # reporting is off here
    (thanks,) = engine.handle(Inbound(user_id="u1", text="thanks"))
    assert thanks.text.startswith("You're welcome")
    assert fake_bot.gaps.groups() == []


def test_with_reporting_the_help_names_report_and_status(fake_bot, reporting):
    engine = ConversationEngine(fake_bot, reporting=reporting)
    (out,) = engine.handle(Inbound(user_id="alice", text="help"))
    assert "`report`" in out.text and "`status <receipt>`" in out.text


def test_a_question_that_starts_with_hello_is_still_answered(fake_bot):
    engine = ConversationEngine(fake_bot, reporting=False)
    (out,) = engine.handle(Inbound(user_id="u1", text="hello, can I post pictures of service users?"))
    assert out.kind == "answer" and out.quotes


def test_inside_a_report_small_talk_is_an_answer_to_the_step(fake_bot, reporting):
    engine = ConversationEngine(fake_bot, reporting=reporting)
    engine.handle(Inbound(user_id="alice", text="report"))
    engine.handle(Inbound(user_id="alice", text="2"))
    out = engine.handle(Inbound(user_id="alice", text="thanks"))  # the "what happened" step takes it
    assert all("You're welcome" not in o.text for o in out)
