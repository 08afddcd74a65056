"""Comparisons and organisation-headed answers in Slack (Block Kit) and Teams (Adaptive Cards), rendered
from real engine messages (fake embedder) and from hand-made ones at the channels' limits."""

from __future__ import annotations

import json
import re

import pytest

from adapters.slack import MAX_BLOCKS, MAX_TEXT, escape, render_messages
from adapters.teams_cards import MAX_CARD_BYTES, render_cards
from bot.answer import OTHERS_HEADING, OWN_HEADING
from bot.compare import Comparison, Position
from bot.engine import ConversationEngine, answer_message
from bot.messages import Citation, Inbound, Outbound, Quote
from bot.views import OWN_MARK, comparison_rows

TOPIC = "Can I accept a friend request from a service user?"  # four organisations answer (fake embedder)
WFCS = "Westmorland & Furness Care Services"
QUESTION = "can I accept a friend request from a service user on facebook?"

squash = lambda s: re.sub(r"\s+", " ", s).strip()


@pytest.fixture
def comparison(fake_bot) -> Outbound:
    engine = ConversationEngine(fake_bot, reporting=False)
    [msg] = engine.handle(Inbound(user_id="u", text=f"compare {TOPIC}"))
    assert msg.kind == "comparison"
    quoted = [p for p in msg.comparison.positions if p.quote is not None]
    assert len(quoted) >= 2 and len(quoted) < len(msg.comparison.positions)  # some quote, some say nothing
    return msg


def made_up(n: int, clause: str = "Staff must not accept friend requests from service users.") -> Outbound:
    """A comparison of ``n`` organisations, every other one saying nothing."""
    positions = []
    for i in range(n):
        org = f"Organisation {i:02d}"
        if i % 2:
            positions.append(Position(org, "says nothing"))
            continue
        cite = Citation(org, "Social Media Policy", f"4.{i}", "v1", f"c{i}")
        quote = Quote(f"c{i}", f"{clause} ({i})", "Staff should:", cite, 0.9)
        positions.append(Position(org, "prohibits", quote))
    comparison = Comparison("friend requests", positions)
    return Outbound(kind="comparison", text=comparison.summary, comparison=comparison, question="friend requests")


# -- Slack --------------------------------------------------------------------------------------------


def slack_blocks(msg: Outbound) -> list[dict]:
    return [b for p in render_messages(msg) for b in p["blocks"]]


def field_rows(blocks: list[dict]) -> list[tuple[int, list[str]]]:
    """``(index, [field texts])`` of each section made of fields."""
    return [(i, [f["text"] for f in b["fields"]]) for i, b in enumerate(blocks) if b.get("fields")]


def quoted_text(blocks: list[dict]) -> str:
    """The ``>`` quote sections of ``blocks``, unquoted and joined."""
    parts = [
        "\n".join(line[2:] if line.startswith("> ") else line[1:] for line in b["text"]["text"].split("\n"))
        for b in blocks
        if b["type"] == "section" and isinstance(b.get("text"), dict) and b["text"]["text"].startswith(">")
    ]
    return " ".join(parts)


def test_slack_comparison_has_the_summary_then_a_row_per_organisation_with_its_quote(comparison):
    payloads = render_messages(comparison)
    assert len(payloads) == 1 and payloads[0]["text"] == comparison.text
    blocks = payloads[0]["blocks"]
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": f"Compare: {TOPIC}", "emoji": True}}
    assert blocks[1]["text"]["text"] == escape(comparison.text)
    rows = field_rows(blocks)
    expected = comparison_rows(comparison)
    assert [fields for _, fields in rows] == [
        [f"*Organisation*\n{escape(r.organisation)}", f"*Stance*\n{r.stance}"] for r in expected
    ]
    for (i, _), row in zip(rows, expected, strict=True):
        following = blocks[i + 1 : next((j for j, _ in rows if j > i), len(blocks))]
        if row.quote is None:
            assert row.stance == "says nothing" and following == []
            continue
        if row.quote.lead_in:
            lead, *following = following
            assert lead["type"] == "context" and lead["elements"][0]["text"] == escape(row.quote.lead_in)
        *quote, source = following
        assert squash(quoted_text(quote)) == squash(escape(row.quote.text))  # verbatim
        assert source["type"] == "context" and source["elements"][0]["text"] == escape(row.quote.source_line)


def test_slack_comparison_of_many_organisations_is_split_within_block_kit_limits():
    long_clause = "Staff must not accept friend requests from service users or their families. " * 60
    msg = made_up(30, long_clause)  # 15 quotes of ~4,600 characters (two sections each), 15 silent rows
    payloads = render_messages(msg)
    assert len(payloads) > 1
    blocks = []
    for p in payloads:
        assert 1 <= len(p["blocks"]) <= MAX_BLOCKS
        for b in p["blocks"]:
            assert len(b.get("fields", [])) <= 10 and all(len(f["text"]) <= 2000 for f in b.get("fields", []))
            if isinstance(b.get("text"), dict):
                assert len(b["text"]["text"]) <= MAX_TEXT
        # a row never leaves its quote behind in the next message
        last = p["blocks"][-1]
        assert last["type"] == "context" or last.get("fields") and "says nothing" in last["fields"][1]["text"]
        blocks += p["blocks"]
    rows = field_rows(blocks)
    assert [f[0] for _, f in rows] == [f"*Organisation*\nOrganisation {i:02d}" for i in range(30)]
    for p in msg.comparison.positions:
        if p.quote is not None:
            assert squash(escape(p.quote.text)) in squash(quoted_text(blocks))


def test_slack_marks_the_askers_own_organisation_in_a_comparison():
    msg = made_up(3)
    msg.comparison.positions[0] = Position("Organisation 00", "prohibits", msg.comparison.positions[0].quote, own=True)
    (payload,) = render_messages(msg)
    assert field_rows(payload["blocks"])[0][1][0] == f"*Organisation*\nOrganisation 00{OWN_MARK}"


def test_slack_answer_heads_own_and_other_organisations_quotes_in_order(fake_bot):
    msg = answer_message(fake_bot.ask(QUESTION, record_gap=False, organisations=["wfcs"]))
    (payload,) = render_messages(msg)
    blocks = payload["blocks"]
    heads = [i for i, b in enumerate(blocks) if b["type"] == "header"]
    assert [blocks[i]["text"]["text"] for i in heads] == [f"{OWN_HEADING} ({WFCS})", OTHERS_HEADING]
    sources = [
        (i, b["elements"][0]["text"])
        for i, b in enumerate(blocks)
        if b["type"] == "context" and b["elements"][0]["text"].startswith("Source: ")
    ]
    own = [i for i, s in sources if s.startswith("Source: " + escape(WFCS))]
    other = [i for i, s in sources if not s.startswith("Source: " + escape(WFCS))]
    assert own and other
    assert heads[0] < min(own) and max(own) < heads[1] < min(other)


def test_slack_answer_without_a_known_organisation_has_no_headings(fake_bot):
    msg = answer_message(fake_bot.ask(QUESTION, record_gap=False))
    (payload,) = render_messages(msg)
    shown = json.dumps(payload)
    assert not any(b["type"] == "header" for b in payload["blocks"])
    assert OWN_HEADING not in shown and OTHERS_HEADING not in shown


# -- Teams --------------------------------------------------------------------------------------------


def texts_of(element) -> list[str]:
    """Every text (TextBlock, TextRun) inside ``element``, in order."""
    if isinstance(element, list):
        return [t for e in element for t in texts_of(e)]
    if not isinstance(element, dict):
        return []
    out = [element["text"]] if element.get("type") in ("TextBlock", "TextRun") else []
    for key in ("body", "items", "inlines", "columns"):
        out += texts_of(element.get(key) or [])
    return out


def table_rows(cards: list[dict]) -> list[list[dict]]:
    """The comparison's rows: the columns of each three-column ``ColumnSet``, header first."""
    return [el["columns"] for c in cards for el in c["body"] if el["type"] == "ColumnSet" and len(el["columns"]) == 3]


def test_teams_comparison_is_a_table_of_organisation_stance_and_the_clause(comparison):
    (card,) = render_cards(comparison)
    assert card["version"] == "1.2" and "Table" not in json.dumps(card)  # 1.2: a ColumnSet a row
    assert texts_of(card["body"][0]) == [f"Compare: {TOPIC}"]
    assert comparison.text in texts_of(card["body"][1])
    header, *rows = table_rows([card])
    assert [texts_of(c) for c in header] == [["Organisation"], ["Stance"], ["What the policy says"]]
    assert all(c["items"][0]["weight"] == "Bolder" for c in header)
    expected = comparison_rows(comparison)
    assert len(rows) == len(expected)
    for (org, stance, said), row in zip(rows, expected, strict=True):
        assert texts_of(org) == [row.organisation]
        assert texts_of(stance) == [row.stance]  # the stance is a word, never only a colour
        if row.quote is None:
            assert texts_of(said) == []
            continue
        runs = [i["inlines"][0] for i in said["items"] if i["type"] == "RichTextBlock"]
        if row.quote.lead_in:
            lead, *runs = runs
            assert lead["text"] == row.quote.lead_in and lead["italic"]
        assert [r["text"] for r in runs] == [row.quote.text]  # verbatim, as typed (no Markdown)
        cite = said["items"][len(runs) + bool(row.quote.lead_in)]
        assert cite["type"] == "TextBlock" and cite["isSubtle"] and cite["text"] == row.quote.source_line


def test_teams_comparison_with_a_huge_clause_fits_the_card_size_limit():
    clause = "Staff must not accept friend requests from service users or their families. " * 700  # ~54 KB
    msg = made_up(4, clause)
    cards = render_cards(msg)
    assert len(cards) > 1
    for card in cards:
        assert len(json.dumps(card, ensure_ascii=False).encode("utf-8")) <= MAX_CARD_BYTES
    rows = table_rows(cards)
    assert [texts_of(c) for c in rows[0]] == [["Organisation"], ["Stance"], ["What the policy says"]]
    shown = "".join(t for r in rows[1:] for t in texts_of(r[2]))
    for p in msg.comparison.positions:
        if p.quote is not None:
            assert p.quote.text in shown
    assert [texts_of(r[0]) for r in rows[1:] if texts_of(r[0])] == [[f"Organisation {i:02d}"] for i in range(4)]


def headings(cards: list[dict]) -> list[str]:
    return [
        el["text"]
        for c in cards
        for el in c["body"]
        if el["type"] == "TextBlock" and el.get("weight") == "Bolder" and el.get("size") == "Medium"
    ]


def test_teams_answer_heads_own_and_other_organisations_quotes_in_order(fake_bot):
    msg = answer_message(fake_bot.ask(QUESTION, record_gap=False, organisations=["wfcs"]))
    (card,) = render_cards(msg)
    assert headings([card]) == [f"{OWN_HEADING} ({WFCS})", OTHERS_HEADING]
    body = card["body"]
    heads = [i for i, el in enumerate(body) if el["type"] == "TextBlock" and el.get("size") == "Medium"]
    quotes = [
        (i, next(t for t in texts_of(el) if t.startswith("Source: ")))
        for i, el in enumerate(body)
        if el["type"] == "Container"
    ]
    own = [i for i, _ in quotes if i < heads[1]]
    assert own and all(heads[0] < i for i in own)
    assert all(WFCS not in t for i, t in quotes if i > heads[1])
    assert any(WFCS in t for i, t in quotes if i < heads[1])


def test_teams_answer_without_a_known_organisation_has_no_headings(fake_bot):
    msg = answer_message(fake_bot.ask(QUESTION, record_gap=False))
    cards = render_cards(msg)
    assert headings(cards) == []
    assert OWN_HEADING not in json.dumps(cards) and OTHERS_HEADING not in json.dumps(cards)
