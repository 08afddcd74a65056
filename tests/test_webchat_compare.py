"""The web chat's JSON for organisation-aware answers and comparisons: ``"sections"`` (the quotes under the
asker's own organisation's heading, then the others'), ``"comparison"`` (one row per organisation, its
stance and its clause verbatim) and the "Compare policies" button, through the real server (fake embedder).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from webchat_support import WebChatServer

from adapters.webchat import render_outbound
from bot.answer import OTHERS_HEADING, OWN_HEADING
from bot.compare import COMPARE_ACTION, COMPARE_LABEL
from bot.directory import Directory
from bot.engine import ConversationEngine
from bot.messages import Outbound
from bot.views import OWN_MARK
from knowledge.stance import SAYS_NOTHING, STANCES

ROOT = Path(__file__).resolve().parent.parent
WFCS = "Westmorland & Furness Care Services"
QUESTION = "can I accept a friend request from a service user on facebook?"
TOPIC = "friend requests from service users"


def policy_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "knowledge" / "policies").glob("*.txt")))


@pytest.fixture
def engine(fake_bot, tmp_path):
    """An engine without reporting whose directory has Olu, of Westmorland & Furness Care Services ("wfcs")."""
    path = tmp_path / "directory.toml"
    path.write_text('[[person]]\nid = "olu"\nname = "Olu Okafor"\norganisation = "wfcs"\n', encoding="utf-8")
    return ConversationEngine(fake_bot, reporting=False, directory=Directory.load(path))


async def test_an_answer_to_someone_of_an_organisation_comes_in_two_headed_sections(fake_bot, engine):
    async with WebChatServer(fake_bot, engine) as srv:
        c = srv.client()
        await c.sign_in_as("olu")
        (msg,) = await c.say(QUESTION)
    assert msg["kind"] == "answer"
    sections = msg["sections"]
    assert [s["heading"] for s in sections] == [f"{OWN_HEADING} ({WFCS})", OTHERS_HEADING]
    own, others = sections
    assert own["quotes"] and others["quotes"]
    assert all(q["own_organisation"] is True and q["organisation"] == WFCS for q in own["quotes"])
    assert all(q["own_organisation"] is False and q["organisation"] != WFCS for q in others["quotes"])
    # the flat list stays as it was: the same quotes, in the same order
    assert own["quotes"] + others["quotes"] == msg["quotes"]
    assert msg["comparison"] is None
    # the "Compare policies" button is an ordinary choice carrying the question
    assert {"label": COMPARE_LABEL, "action_id": COMPARE_ACTION, "value": QUESTION, "style": None} in msg["choices"]


async def test_without_an_organisation_there_is_one_section_without_a_heading(fake_bot, engine):
    async with WebChatServer(fake_bot, engine) as srv:
        c = srv.client()
        await c.get("/chat/api/me")  # anonymous: no organisation known
        (msg,) = await c.say(QUESTION)
        (none,) = await c.say("how do I bake sourdough bread?")
    assert msg["kind"] == "answer" and msg["quotes"]
    assert msg["sections"] == [{"heading": None, "quotes": msg["quotes"]}]
    assert all(q["own_organisation"] is None for q in msg["quotes"])
    assert none["kind"] == "no_answer" and none["sections"] == [] and none["comparison"] is None


async def test_compare_in_chat_gives_a_row_per_organisation(fake_bot, engine):
    organisations = {c.organisation for c in fake_bot.index.snapshot.clauses.values()}
    async with WebChatServer(fake_bot, engine) as srv:
        c = srv.client()
        await c.sign_in_as("olu")
        (msg,) = await c.say(f"compare {TOPIC}")
    assert msg["kind"] == "comparison" and msg["quotes"] == [] and msg["sections"] == []
    comparison = msg["comparison"]
    assert comparison["topic"] == TOPIC and comparison["summary"] == msg["text"]
    assert isinstance(comparison["differ"], bool)
    rows = comparison["rows"]
    assert len(rows) == len(organisations) == 5
    assert {r["organisation"].removesuffix(OWN_MARK) for r in rows} == organisations
    assert rows[0]["organisation"] == WFCS + OWN_MARK  # the asker's own organisation first
    for r in rows:  # the fake embedder finds nothing on this topic alone
        assert set(r) == {"organisation", "stance", "quote"}
        assert r["stance"] == SAYS_NOTHING and r["quote"] is None


async def test_the_compare_button_gives_each_organisations_clause_verbatim(fake_bot, engine):
    clauses = {c.clause_id: c for c in fake_bot.index.snapshot.clauses.values()}
    source = policy_text()
    async with WebChatServer(fake_bot, engine) as srv:
        c = srv.client()
        await c.sign_in_as("olu")
        (answer,) = await c.say(QUESTION)
        button = next(ch for ch in answer["choices"] if ch["action_id"] == COMPARE_ACTION)
        (msg,) = await c.press(button["action_id"], button["value"])
    assert msg["kind"] == "comparison"
    comparison = msg["comparison"]
    assert comparison["topic"] == QUESTION and comparison["summary"] == msg["text"]
    rows = comparison["rows"]
    quoted = [r for r in rows if r["quote"] is not None]
    silent = [r for r in rows if r["quote"] is None]
    assert len(rows) == 5 and len(quoted) >= 2 and silent
    assert rows.index(silent[0]) > rows.index(quoted[-1])  # those that answer first
    assert comparison["differ"] == (len({r["stance"] for r in quoted}) > 1)
    for r in quoted:
        q = r["quote"]
        assert r["stance"] in STANCES
        assert q["text"] == clauses[q["clause_id"]].text and q["text"] in source  # word for word
        assert r["organisation"].removesuffix(OWN_MARK) == q["organisation"]
        assert q["citation"].startswith(q["organisation"]) and q["source_prefix"] == "Source: "
    assert all(r["stance"] == SAYS_NOTHING for r in silent)
    assert [r["organisation"] for r in rows if r["organisation"].endswith(OWN_MARK)] == [WFCS + OWN_MARK]


def test_other_messages_carry_no_sections_or_comparison():
    out = render_outbound(Outbound(kind="text", text="hello"))
    assert out["quotes"] == [] and out["sections"] == [] and out["comparison"] is None
