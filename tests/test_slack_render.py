"""Block Kit rendering and the small Slack helpers, on hand-made outbounds (no server)."""

from __future__ import annotations

import json
import re

import pytest

from adapters.slack import (
    MAX_BLOCKS,
    MAX_TEXT,
    EventDeduper,
    decode_action_id,
    encode_action_id,
    escape,
    input_modal,
    mark_chosen,
    render_messages,
    render_modal,
    slack_to_plain,
    wants_modal,
)
from bot.messages import Choice, Citation, Outbound, Quote


def quote(n: int, text: str, lead_in: str | None = None, also=()) -> Quote:
    cite = Citation("WBC", "Social Media Guidance", f"8.{n}", "v D3", f"c{n}")
    return Quote(f"c{n}", text, lead_in, cite, 0.9 - n / 100, tuple(also))


def all_text_objects(blocks):
    for b in blocks:
        if isinstance(b.get("text"), dict):
            yield b["text"]
        for el in b.get("elements", []):
            if isinstance(el, dict) and "type" in el and el["type"] in ("mrkdwn", "plain_text"):
                yield el
            elif isinstance(el, dict) and isinstance(el.get("text"), dict):
                yield el["text"]


def unquote(section_text: str) -> str:
    return "\n".join(line[2:] if line.startswith("> ") else line[1:] for line in section_text.split("\n"))


def test_answer_blocks_quote_citation_lead_in_and_buttons():
    also = Citation("Cwm Taf", "Social Media Policy", "4", None, "x1")
    msg = Outbound(
        kind="answer",
        text="Here is what the policies say:",
        quotes=[quote(1, "Use <b>care</b> & think.", lead_in="Staff should:", also=[also])],
        choices=[Choice("Report a concern", "report_start", "", "danger")],
        question="q?",
    )
    (payload,) = render_messages(msg)
    types = [b["type"] for b in payload["blocks"]]
    assert types == ["section", "context", "section", "context", "actions", "actions"]
    assert payload["blocks"][1]["elements"][0]["text"] == "Staff should:"
    assert payload["blocks"][2]["text"]["text"] == "> Use &lt;b&gt;care&lt;/b&gt; &amp; think."
    cites = [e["text"] for e in payload["blocks"][3]["elements"]]
    assert cites == ["Source: WBC — Social Media Guidance (v D3), 8.1", "Also in: Cwm Taf — Social Media Policy, 4"]
    report = payload["blocks"][4]["elements"][0]
    assert report["style"] == "danger" and decode_action_id(report["action_id"]) == "report_start"
    helpful = payload["blocks"][5]["elements"][0]
    assert json.loads(helpful["value"]) == {"q": "q?", "c": ["c1"]}
    assert payload["text"] == "Here is what the policies say:"


def test_long_answers_are_split_within_block_kit_limits():
    long_clause = ("All staff must take care online. " * 200).strip()  # ~6,600 characters
    quotes = [
        quote(i, f"Clause {i}: " + (long_clause if i % 5 == 0 else "short text & more <here>"), lead_in=f"Lead {i}")
        for i in range(30)
    ]
    msg = Outbound(
        kind="answer",
        text="Intro " * 900,
        quotes=quotes,
        question="q",
        choices=[Choice(f"Option {i}", "pick", str(i)) for i in range(30)],
    )
    payloads = render_messages(msg)
    assert len(payloads) > 1
    for p in payloads:
        assert 1 <= len(p["blocks"]) <= MAX_BLOCKS
        assert all(len(t["text"]) <= MAX_TEXT for t in all_text_objects(p["blocks"]))
        assert len(p["text"]) <= 3000
        for b in p["blocks"]:
            if b["type"] == "actions":
                assert len(b["elements"]) <= 25
                ids = [e["action_id"] for e in b["elements"]]
                assert len(ids) == len(set(ids))
    blocks = [b for p in payloads for b in p["blocks"]]
    # every clause is there, verbatim, in order, each followed (eventually) by its citation
    quoted = "".join(
        unquote(b["text"]["text"]) + " " for b in blocks if b["type"] == "section" and b["text"]["text"].startswith(">")
    )
    squash = lambda s: re.sub(r"\s+", " ", s).strip()
    for q in quotes:
        assert squash(escape(q.text)) in squash(quoted)
    assert [b["text"]["text"] for b in blocks if b["type"] == "section"][0].startswith("Intro")
    # buttons and feedback come last
    assert payloads[-1]["blocks"][-1]["block_id"] == "pb_feedback"
    assert sum(len(b["elements"]) for b in blocks if b["type"] == "actions" and b["block_id"] != "pb_feedback") == 30


def test_a_quote_group_is_never_split_across_messages():
    quotes = [quote(i, f"Clause {i}", lead_in="Lead") for i in range(20)]  # 3 blocks a quote
    payloads = render_messages(Outbound(kind="answer", text="Intro", quotes=quotes))
    for p in payloads:
        for i, b in enumerate(p["blocks"]):
            if b["type"] == "section" and b["text"]["text"].startswith("> Clause"):
                assert p["blocks"][i - 1]["type"] == "context" and p["blocks"][i + 1]["type"] == "context"


def test_action_ids_round_trip_and_stay_unique():
    choices = [Choice("A", "category", "a"), Choice("B", "category", "b"), Choice("C", "x|pb3", "c")]
    (payload,) = render_messages(Outbound(kind="prompt", text="Pick", choices=choices))
    ids = [e["action_id"] for e in payload["blocks"][-1]["elements"]]
    assert len(set(ids)) == 3
    assert [decode_action_id(i) for i in ids] == ["category", "category", "x|pb3"]
    assert decode_action_id("plain") == "plain"
    assert len(encode_action_id("y" * 400, 7)) <= 255


def test_prompt_for_long_text_offers_a_form_and_review_prompts_want_a_modal():
    (p,) = render_messages(Outbound(kind="prompt", text="Describe it", input_hint="long_text"))
    assert p["blocks"][-1]["elements"][0]["action_id"] == "pb_open_input"
    review = Outbound(kind="prompt", text="Review", choices=[Choice("Submit", "submit")], step="review", modal=True)
    assert wants_modal(review) and not wants_modal(Outbound(kind="prompt", text="x"))
    view = render_modal(review, {"dm": "D1"})
    assert view["type"] == "modal" and len(view["title"]["text"]) <= 24 and "submit" not in view
    assert json.loads(view["private_metadata"]) == {"dm": "D1"}
    ask = render_modal(Outbound(kind="prompt", text="More?", input_hint="text"), {"dm": "D1"})
    assert ask["submit"]["text"] == "Send" and ask["blocks"][-1]["type"] == "input"
    assert ask["blocks"][-1]["element"]["multiline"] is False
    huge = render_modal(Outbound(kind="prompt", text="w " * 200_000, choices=[Choice("OK", "ok")]), {})
    assert len(huge["blocks"]) <= 100 and huge["blocks"][-1]["type"] == "actions"
    form = input_modal("Describe it", "D1")
    assert form["blocks"][-1]["element"]["multiline"] is True


def test_notification_renders_its_buttons_and_no_feedback():
    msg = Outbound(
        kind="notification",
        text="New report C1",
        to_user="h1",
        choices=[Choice("Acknowledge", "ack", "C1", "primary"), Choice("Close", "close", "C1", "danger")],
    )
    (p,) = render_messages(msg)
    assert [b["type"] for b in p["blocks"]] == ["section", "actions"]
    assert [e["value"] for e in p["blocks"][1]["elements"]] == ["C1", "C1"]


def test_mark_chosen_replaces_only_the_pressed_block():
    blocks = [
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}},
        {"type": "actions", "block_id": "pb_choices_0", "elements": []},
        {"type": "actions", "block_id": "pb_feedback", "elements": []},
    ]
    out = mark_chosen(blocks, "pb_choices_0", "Yes <really>")
    assert out[1]["type"] == "context" and out[1]["elements"][0]["text"] == "✓ Yes &lt;really&gt;"
    assert out[2] == blocks[2]


@pytest.mark.parametrize(
    "raw,plain",
    [
        ("<@UBOT> can I post?", "can I post?"),
        ("ask <@U123|sam> &amp; <#C1|general> about <https://x.test|this> &lt;3", "ask @sam & #general about this <3"),
        ("<!here> hello", "@here hello"),
    ],
)
def test_slack_text_to_plain(raw, plain):
    assert slack_to_plain(raw, "UBOT") == plain


def test_deduper_forgets_after_its_ttl_and_stays_bounded():
    d = EventDeduper(ttl=10, max_size=3)
    assert d.first_time("a", now=0) and not d.first_time("a", now=5)
    assert d.first_time("a", now=20)
    for i, e in enumerate("bcdef"):
        d.first_time(e, now=21 + i)
    assert len(d._seen) <= 4
