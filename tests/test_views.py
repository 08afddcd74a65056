"""The display rules every channel shares (``bot.views``): quotes, where replies go, feedback.

Fast: hand-made outbounds, no model, no server, no network.
"""

from __future__ import annotations

import json

import pytest

from bot.messages import Choice, Citation, Outbound, Quote
from bot.views import (
    FEEDBACK_BUTTONS,
    FEEDBACK_HELPFUL,
    FEEDBACK_NOT_HELPFUL,
    LEAD_IN_MAX_CHARS,
    POINTER_TEXT,
    QuoteView,
    display_lead_in,
    feedback_token,
    parse_vote,
    route,
    thanks_text,
    wants_feedback,
)

LONG_LEAD_IN = (
    "Employees must take care with everything they publish online, including on personal accounts, "
    "because what they write can reflect on the council and its services. In particular, staff "
    "should never:"
)
SHORT = "… In particular, staff should never:"
CLAUSE = "post photographs of service users, even with their consent, on any social networking site."


def quote(lead_in: str | None = LONG_LEAD_IN) -> Quote:
    cite = Citation("WBC", "Social Media Guidance", "8. Use › 8.5", "v D3", "wbc:8.5")
    also = Citation("Cwm Taf", "Social Media Policy", "4", None, "ct:4")
    return Quote("wbc:8.5", CLAUSE, lead_in, cite, 0.9, (also,))


def answer(**kw) -> Outbound:
    return Outbound(
        kind="answer",
        text="Here is what the policies say:",
        quotes=[quote()],
        question="Can I post photos of service users?",
        **kw,
    )


# -- quotes ------------------------------------------------------------------------------------------


def test_quote_view_shortens_a_long_lead_in_and_keeps_the_clause_verbatim():
    assert len(LONG_LEAD_IN) > LEAD_IN_MAX_CHARS
    view = QuoteView.of(quote())
    assert view.lead_in == SHORT == display_lead_in(LONG_LEAD_IN)
    assert view.text == CLAUSE
    assert view.source_line == "Source: WBC — Social Media Guidance (v D3), 8. Use › 8.5"
    assert view.also_lines == ("Also in: Cwm Taf — Social Media Policy, 4",)
    assert QuoteView.of(quote("Staff should:")).lead_in == "Staff should:"
    assert QuoteView.of(quote(None)).lead_in is None


def _slack_texts(msg):
    from adapters.slack import render_messages

    return [
        e["text"]
        for p in render_messages(msg)
        for b in p["blocks"]
        for e in b.get("elements", [])
        if isinstance(e, dict) and e.get("type") == "mrkdwn"
    ] + [b["text"]["text"] for p in render_messages(msg) for b in p["blocks"] if isinstance(b.get("text"), dict)]


def _teams_texts(msg):
    from adapters.teams_cards import render_cards

    def walk(node):
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                yield node["text"]
            for v in node.values():
                yield from walk(v)
        elif isinstance(node, list):
            for v in node:
                yield from walk(v)

    return list(walk([c["body"] for c in render_cards(msg)]))


def test_every_renderer_shows_the_same_shortened_lead_in_and_citation_lines():
    from adapters.console import render
    from adapters.webchat import render_outbound

    msg = answer()
    slack, teams, console = _slack_texts(msg), _teams_texts(msg), render(msg)
    web = render_outbound(msg)["quotes"][0]
    for shown in (slack, teams):
        assert SHORT in shown and LONG_LEAD_IN not in " ".join(shown)
        assert "Source: WBC — Social Media Guidance (v D3), 8. Use › 8.5" in shown
        assert "Also in: Cwm Taf — Social Media Policy, 4" in shown
    assert f"  {SHORT}\n" in console and LONG_LEAD_IN not in console
    assert "    Source: WBC — Social Media Guidance (v D3), 8. Use › 8.5" in console
    assert "    Also in: Cwm Taf — Social Media Policy, 4" in console
    assert web["lead_in"] == SHORT and web["text"] == CLAUSE
    assert web["source_prefix"] + web["citation"] == "Source: WBC — Social Media Guidance (v D3), 8. Use › 8.5"
    assert [web["also_prefix"] + a for a in web["also"]] == ["Also in: Cwm Taf — Social Media Policy, 4"]
    assert "> " + CLAUSE in slack and CLAUSE in teams  # the clause itself is never shortened


# -- privacy: where replies go ---------------------------------------------------------------------------


def prompt(**kw) -> Outbound:
    return Outbound(kind="prompt", text="What happened?", choices=[Choice("Cancel", "report:cancel")], **kw)


def test_an_interactive_reply_in_a_channel_goes_private_with_one_pointer():
    outs = [answer(), prompt()]
    r = route(outs, "alice", private=False)
    assert r.private == outs and r.here == [] and r.others == []
    assert r.pointer == POINTER_TEXT == "I've sent you a private message."


def test_an_answer_with_buttons_stays_in_the_channel():
    reply = answer(choices=[Choice("Report a concern", "report:start", "harassment")])
    r = route([reply], "alice", private=False)
    assert r.here == [reply] and r.private == [] and r.pointer is None


def test_private_conversations_show_everything_and_others_are_delivered():
    note = Outbound(kind="notification", text="New report", to_user="bob")
    mine = [prompt(), Outbound(kind="text", text="Saved.", to_user="alice")]
    r = route([mine[0], note, mine[1]], "alice", private=True)
    assert r.here == mine and r.others == [note] and r.private == [] and r.pointer is None


def test_in_a_channel_messages_addressed_to_the_user_go_private_without_a_pointer():
    neutral = Outbound(kind="text", text=POINTER_TEXT)
    flow = prompt(to_user="alice")
    r = route([neutral, flow], "alice", private=False)
    assert r.here == [neutral] and r.private == [flow] and r.pointer is None


def test_a_press_in_a_channel_posts_nothing_there():
    outs = [prompt()]
    r = route(outs, "alice", private=False, post_here=False)
    assert r.private == outs and r.here == [] and r.pointer is None


# -- feedback -----------------------------------------------------------------------------------------


def test_feedback_is_offered_on_answers_and_abstentions_only():
    assert wants_feedback(answer())
    assert wants_feedback(Outbound(kind="no_answer", text="No guidance.", question="q?"))
    assert not wants_feedback(Outbound(kind="answer", text="x", quotes=[quote()]))  # no question to vote on
    assert not wants_feedback(prompt(question="q?"))  # the report flow
    assert not wants_feedback(Outbound(kind="notification", text="New report", case_id="C-1"))
    assert not wants_feedback(Outbound(kind="text", text="Thanks"))


def test_every_renderer_offers_feedback_from_the_same_rule():
    from adapters.slack import render_messages
    from adapters.teams_cards import render_cards
    from adapters.webchat import render_outbound

    for msg, wanted in ((answer(), True), (prompt(question="q?"), False)):
        slack = json.dumps(render_messages(msg))
        teams = json.dumps(render_cards(msg))
        assert (FEEDBACK_HELPFUL in slack and FEEDBACK_NOT_HELPFUL in slack) is wanted
        assert (FEEDBACK_HELPFUL in teams and FEEDBACK_NOT_HELPFUL in teams) is wanted
        web = render_outbound(msg)
        assert (web["feedback"] is not None) is wanted
        assert web.get("feedback_buttons", []) == (
            [{"label": b.label, "helpful": b.helpful} for b in FEEDBACK_BUTTONS] if wanted else []
        )


def test_a_vote_reads_back_its_token():
    msg = answer()
    token = feedback_token(msg)
    vote = parse_vote(FEEDBACK_NOT_HELPFUL, token)
    assert vote.helpful is False and vote.question == "Can I post photos of service users?"
    assert vote.clause_ids == ("wbc:8.5",)
    assert parse_vote(FEEDBACK_HELPFUL, token).helpful is True
    assert parse_vote("report:start", token) is None
    assert parse_vote(FEEDBACK_HELPFUL, "not json").question == ""
    assert parse_vote(FEEDBACK_HELPFUL, "[" * 100_000).clause_ids == ()


def test_a_feedback_token_fits_a_button_value():
    msg = answer()
    msg.question = "q" * 5000
    token = feedback_token(msg)
    assert len(token) <= 2000 and parse_vote(FEEDBACK_HELPFUL, token).question == "q" * 1500


@pytest.mark.parametrize(
    "helpful, text", [(True, "Thanks for your feedback."), (False, "Thanks, noted: HR will see that this didn't help.")]
)
def test_thanks_text(helpful, text):
    assert thanks_text(helpful) == text


def test_feedback_buttons():
    assert [(b.label, b.action_id, b.helpful) for b in FEEDBACK_BUTTONS] == [
        ("Helpful", FEEDBACK_HELPFUL, True),
        ("Not helpful", FEEDBACK_NOT_HELPFUL, False),
    ]
