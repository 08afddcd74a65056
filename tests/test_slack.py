"""Slack end to end: the real Bolt app and slack_sdk client over loopback against a fake Slack Web API.

Requests are signed with Slack's v0 algorithm; replies are read from what the fake Web API recorded.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC
from pathlib import Path

import pytest
from fakes.harness import SECRET, ServerHarness
from fakes.slack_api import (
    BOT_ID,
    BOT_USER,
    app_mention_event,
    block_actions,
    buttons_in,
    global_shortcut,
    message_im_event,
    press,
    signed_headers,
    slash_command,
    view_submission,
)

from bot.engine import ConversationEngine

ROOT = Path(__file__).resolve().parent.parent

QUESTION = "Can I post pictures of service users?"
CLAUSE = "Never post pictures of service users or colleagues even if they ask you to do so"


@pytest.fixture
async def server(fake_bot, fake_slack):
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot), fake_slack).start()
    yield h
    await h.stop()


# people of config/directory.sample.toml, and the DM channel ids the fake Slack gives them
ALICE, BOB = "U0ALICE001", "U0BOB00001"
ALICE_DM, BOB_DM = "D0ALICE001", "D0BOB00001"
REPORT_QUESTION = "Can I accept a friend request from a service user?"
WHAT = "The mother of a young man I support sent me a friend request and two messages."


@pytest.fixture
async def report_server(fake_bot, fake_slack, reporting):
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot, reporting=reporting), fake_slack).start()
    yield h
    await h.stop()


def texts(blocks) -> str:
    """All visible text in ``blocks``, one line a text object."""
    out = []
    for b in blocks or []:
        if "text" in b and isinstance(b["text"], dict):
            out.append(b["text"]["text"])
        for el in b.get("elements", []):
            if isinstance(el, dict) and isinstance(el.get("text"), (str, dict)):
                out.append(el["text"] if isinstance(el["text"], str) else el["text"]["text"])
    return "\n".join(out)


def buttons(blocks) -> list[str]:
    """Button labels (a section's text for a section's button)."""
    return [label for label, _, _ in buttons_in(blocks)]


def no_channel_posts(fake):
    """True when nothing was posted (publicly) to a shared channel."""
    return all(not str(c.params.get("channel", "")).startswith("C") for c in fake.calls_to("chat.postMessage"))


# -- guidance ----------------------------------------------------------------------------------------


async def test_dm_question_is_acked_then_answered_with_quote_blocks(server, fake_slack):
    r = await server.event(message_im_event(QUESTION))
    assert r.status == 200 and r.elapsed < 3
    (post,) = await fake_slack.wait_for("chat.postMessage")
    assert post.token == "xoxb-test-token"
    assert post.params["channel"] == "D0000042"
    blocks = post.params["blocks"]
    quotes = [b["text"]["text"] for b in blocks if b["type"] == "section" and b["text"]["text"].startswith(">")]
    assert any(CLAUSE in q for q in quotes)
    # each quote is followed by its citation context line
    i = next(i for i, b in enumerate(blocks) if b["type"] == "section" and CLAUSE in b["text"]["text"])
    assert blocks[i + 1]["type"] == "context" and blocks[i + 1]["elements"][0]["text"].startswith("Source: ")
    assert buttons(blocks)[-2:] == ["Helpful", "Not helpful"]
    assert post.params["text"]  # fallback text for notifications
    assert fake_slack.calls_to("auth.test"), "Bolt's authorization (and the startup check) use auth.test"


async def test_an_event_is_acked_while_the_engine_is_still_busy(fake_bot, fake_slack):
    import threading

    gate = threading.Event()

    class Busy(ConversationEngine):
        def handle(self, inbound):
            assert gate.wait(30)
            return super().handle(inbound)

    h = await ServerHarness(fake_bot, Busy(fake_bot), fake_slack).start()
    try:
        r = await h.event(message_im_event(QUESTION))
        assert r.status == 200 and not gate.is_set()  # acknowledged before the engine could answer
        assert not fake_slack.calls_to("chat.postMessage")
        gate.set()
        (post,) = await fake_slack.wait_for("chat.postMessage")
        assert any(CLAUSE in b["text"]["text"] for b in post.params["blocks"] if b["type"] == "section")
    finally:
        gate.set()
        await h.stop()


async def test_mention_is_answered_in_the_thread(server, fake_slack):
    body = app_mention_event(QUESTION, ts="1700000000.000100")
    r = await server.event(body)
    assert r.status == 200
    (post,) = await fake_slack.wait_for("chat.postMessage")
    assert post.params["channel"] == "C0000007"
    assert post.params["thread_ts"] == "1700000000.000100"
    assert CLAUSE in texts(post.params["blocks"])


async def test_slash_command_answers_ephemerally_through_response_url(server, fake_slack):
    r = await server.form(slash_command(QUESTION, fake_slack.response_url("cmd")))
    assert r.status == 200 and r.elapsed < 3
    (reply,) = await fake_slack.wait_for("response_url")
    assert reply.path == "/response/cmd"
    assert reply.params["response_type"] == "ephemeral"
    assert CLAUSE in texts(reply.params["blocks"])
    await fake_slack.settle(0.2)
    assert not fake_slack.calls_to("chat.postMessage")


async def test_slash_command_without_text_shows_help_in_the_ack(server, fake_slack):
    r = await server.form(slash_command("", fake_slack.response_url()))
    assert r.status == 200
    assert "/policy report" in r.json()["text"] and r.json()["response_type"] == "ephemeral"


async def test_feedback_votes_are_recorded_for_hr(server, fake_slack, fake_bot):
    await server.event(message_im_event(QUESTION))
    (post,) = await fake_slack.wait_for("chat.postMessage")
    r = await server.payload(press(post, "Not helpful", response_url=fake_slack.response_url("vote")))
    assert r.status == 200
    (update,) = await fake_slack.wait_for("response_url")
    assert update.params["replace_original"] is True
    assert "Helpful" not in buttons(update.params["blocks"])  # the vote buttons are gone
    assert CLAUSE in texts(update.params["blocks"])  # the answer stays
    (gap,) = fake_bot.gaps.groups()  # a Not helpful vote is a knowledge gap HR can list
    assert gap.to_json()["question"] == QUESTION


def shown_with_fields(blocks) -> str:
    """``texts(blocks)`` plus the text of every section field."""
    return texts(blocks) + "\n" + "\n".join(f["text"] for b in blocks or [] for f in b.get("fields", []))


async def test_compare_in_a_dm_posts_each_organisations_stance(server, fake_slack, fake_bot):
    from adapters.slack import escape
    from bot.compare import compare

    await server.event(message_im_event("compare friend requests from service users"))
    (post,) = await fake_slack.wait_for("chat.postMessage")
    expected = compare(fake_bot.index, "friend requests from service users")
    assert post.params["text"] == expected.summary
    rows = [[f["text"] for f in b["fields"]] for b in post.params["blocks"] if b.get("fields")]
    assert rows == [[f"*Organisation*\n{escape(p.organisation)}", f"*Stance*\n{p.stance}"] for p in expected.positions]


async def test_compare_policies_button_under_an_answer_posts_the_comparison(server, fake_slack, fake_bot):
    from adapters.slack import escape
    from bot.compare import compare

    await server.event(message_im_event(REPORT_QUESTION))
    (answer,) = await fake_slack.wait_for("chat.postMessage")
    await server.payload(press(answer, "Compare policies", response_url=fake_slack.response_url("cmp")))
    (_, post) = await fake_slack.wait_for("chat.postMessage", 2)
    expected = compare(fake_bot.index, REPORT_QUESTION)
    assert post.params["channel"] == "D0000042" and post.params["text"] == expected.summary
    shown = " ".join(shown_with_fields(post.params["blocks"]).split())
    quoted = [p for p in expected.positions if p.quote is not None]
    assert quoted
    for p in expected.positions:
        assert f"*Organisation* {escape(p.organisation)}" in shown and f"*Stance* {p.stance}" in shown
    quotes = [
        line[1:].strip()
        for b in post.params["blocks"]
        if b["type"] == "section" and (b.get("text") or {}).get("text", "").startswith(">")
        for line in b["text"]["text"].split("\n")
    ]
    for p in quoted:
        assert " ".join(escape(p.quote.text).split()) in " ".join(" ".join(quotes).split())  # verbatim


# -- security and robustness -------------------------------------------------------------------------


async def test_unsigned_tampered_and_stale_requests_get_401(server, fake_slack):
    body = json.dumps(message_im_event(QUESTION))
    now = int(time.time())
    cases = {
        "unsigned": {"Content-Type": "application/json"},
        "wrong secret": signed_headers(body, "not-the-secret"),
        "five minutes old": signed_headers(body, SECRET, now - 300),
        "an hour old": signed_headers(body, SECRET, now - 3600),
        "from the future": signed_headers(body, SECRET, now + 600),
        "bad timestamp": dict(signed_headers(body, SECRET), **{"X-Slack-Request-Timestamp": "soon"}),
    }
    for name, headers in cases.items():
        r = await server.post_raw(body, headers)
        assert r.status == 401, name
    tampered = signed_headers(body, SECRET)
    r = await server.post_raw(body.replace("pictures", "pics"), tampered)
    assert r.status == 401
    await fake_slack.settle(0.3)
    assert not fake_slack.calls_to("chat.postMessage")


async def test_retries_of_one_event_get_one_answer(server, fake_slack):
    body = message_im_event(QUESTION, event_id="EvRETRY01")
    first = await server.event(body)
    again = [
        await server.event(body, headers={"X-Slack-Retry-Num": str(n), "X-Slack-Retry-Reason": "http_timeout"})
        for n in (1, 2, 3)
    ]
    assert first.status == 200 and all(r.status == 200 for r in again)
    await fake_slack.wait_for("chat.postMessage")
    await fake_slack.settle(0.4)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1


async def test_own_and_other_bots_messages_and_edits_are_ignored(server, fake_slack):
    await server.event(message_im_event(QUESTION, user=BOT_USER))
    await server.event(message_im_event(QUESTION, user="U0000077", bot_id="BOTHER01"))
    await server.event(message_im_event(QUESTION, subtype="bot_message", bot_id=BOT_ID))
    await server.event(message_im_event(QUESTION, subtype="message_changed"))
    await server.event(message_im_event(QUESTION, channel="C0000007", channel_type="channel"))
    await fake_slack.settle(0.4)
    assert not fake_slack.calls_to("chat.postMessage")
    await server.event(message_im_event(QUESTION))  # and a person still gets an answer
    await fake_slack.wait_for("chat.postMessage")


async def test_url_verification_challenge(server):
    r = await server.event({"type": "url_verification", "challenge": "abc123", "token": "legacy"})
    assert r.status == 200 and "abc123" in r.text


async def test_bad_input_gets_a_clear_reply_not_an_error(server, fake_slack):
    await server.event(message_im_event("x" * 5000))
    (post,) = await fake_slack.wait_for("chat.postMessage")
    assert "under 4,000 characters" in post.params["text"]


# -- reporting ---------------------------------------------------------------------------------------


async def test_full_report_flow_through_interactivity(report_server, fake_slack, reporting, caplog):
    """The real report flow, driven by DMs and interactivity payloads, from the answer's button to the
    handler's acknowledgement reaching the reporter."""
    caplog.set_level(logging.DEBUG)
    srv, fake = report_server, fake_slack
    posts = lambda n: fake.wait_for("chat.postMessage", n)
    # 1. a question about a reportable matter: the answer offers "Report a concern"
    await srv.event(message_im_event(REPORT_QUESTION, user=ALICE, channel=ALICE_DM))
    (answer,) = await posts(1)
    assert "Report a concern" in buttons(answer.params["blocks"])
    # 2. pressing it marks the button as chosen and starts the flow in the DM: intro, then categories
    await srv.payload(press(answer, "Report a concern", user=ALICE, response_url=fake.response_url("ans")))
    intro, category = (await posts(3))[1:]
    assert "This conversation is private" in intro.params["text"]
    assert category.params["channel"] == ALICE_DM
    assert "Contact or a friend request from a service user or their family" in buttons(category.params["blocks"])
    mark = (await fake.wait_for("response_url"))[0]
    assert "✓ Report a concern" in texts(mark.params["blocks"])
    # 3. the category; the "what happened" prompt asks for long text and offers a form
    await srv.payload(press(category, "Contact or a friend request", user=ALICE))
    what = (await fake.wait_for("chat.postMessage", where=lambda c: "What happened?" in c.params["text"]))[0]
    assert "Write in a form" in buttons(what.params["blocks"])
    # 4. the form: a modal with a multi-line input, submitted
    await srv.payload(press(what, "Write in a form", user=ALICE))
    (form,) = await fake.wait_for("views.open")
    view = dict(form.params["view"], id=form.result["view"]["id"])
    await srv.payload(view_submission(view, WHAT, user=ALICE))
    when = (await fake.wait_for("chat.postMessage", where=lambda c: "When did it happen?" in c.params["text"]))[0]
    # 5. "Not sure"; then the "where" prompt, answered by a DM
    await srv.payload(press(when, "Not sure", user=ALICE))
    await fake.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Where did it happen?"))
    await srv.event(message_im_event("Facebook Messenger", user=ALICE, channel=ALICE_DM))
    handler = (await fake.wait_for("chat.postMessage", where=lambda c: "Who should handle" in c.params["text"]))[0]
    # 6. the handler and the identity (labels too long for buttons become sections with "Choose")
    await srv.payload(press(handler, "Your manager, Bob Baker", user=ALICE))
    identity = (await fake.wait_for("chat.postMessage", where=lambda c: "Should the handler know" in c.params["text"]))[
        0
    ]
    assert any(b.get("accessory") for b in identity.params["blocks"])
    await srv.payload(press(identity, "Confidential: Bob Baker sees what happened", user=ALICE))
    # 7. the review step opens as a modal (the button press brought a trigger_id); submit inside it
    opened = await fake.wait_for("views.open", 2)
    review = dict(opened[1].params["view"], id=opened[1].result["view"]["id"])
    assert "Please check your report" in texts(review["blocks"]) and WHAT in texts(review["blocks"])
    submit = next(el for _, el, _ in buttons_in(review["blocks"]) if el["text"]["text"] == "Submit")
    await srv.payload(
        block_actions(submit["action_id"], submit.get("value", ""), user=ALICE, view=review, label="Submit")
    )
    (closed,) = await fake.wait_for("views.update")
    assert closed.params["view_id"] == review["id"] and not buttons_in(closed.params["view"]["blocks"])
    confirm = (await fake.wait_for("chat.postMessage", where=lambda c: "has been submitted" in c.params["text"]))[0]
    assert confirm.params["channel"] == ALICE_DM
    # 8. the handler's notification: a DM with Acknowledge / Ask for more information / Close
    note = (await fake.wait_for("chat.postMessage", where=lambda c: "New report C-00001" in c.params["text"]))[0]
    assert note.params["channel"] == BOB_DM
    assert buttons(note.params["blocks"]) == ["Acknowledge", "Ask for more information", "Close with outcome"]
    # 9. the handler acknowledges; the status change reaches the reporter's DM (through the outbox)
    await srv.payload(press(note, "Acknowledge", user=BOB, response_url=fake.response_url("note")))
    done = (
        await fake.wait_for(
            "chat.postMessage", where=lambda c: "acknowledged" in c.params["text"] and c.params["channel"] == BOB_DM
        )
    )[0]
    assert "The reporter has been told" in done.params["text"]
    status = (
        await fake.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Update on your report"))
    )[0]
    assert status.params["channel"] == ALICE_DM and "acknowledged" in status.params["text"]
    await fake.settle(0.3)
    assert reporting.outbox.undelivered() == []  # both queued messages were delivered once and marked
    assert len([c for c in fake.calls_to("chat.postMessage") if c.params["text"].startswith("Update on")]) == 1
    assert len([c for c in fake.calls_to("chat.postMessage") if "New report" in c.params["text"]]) == 1
    assert no_channel_posts(fake)
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert WHAT not in logged and "Facebook Messenger" not in logged  # never log report text


async def test_report_command_in_a_channel_runs_in_the_dm(report_server, fake_slack):
    srv, fake = report_server, fake_slack
    r = await srv.form(slash_command("report", fake.response_url("cmd"), user=ALICE, channel="C0000007"))
    assert r.status == 200
    (pointer,) = await fake.wait_for("response_url")
    assert (
        pointer.params["text"] == "I've sent you a private message." and pointer.params["response_type"] == "ephemeral"
    )
    intro, prompt = await fake.wait_for("chat.postMessage", 2)
    assert {intro.params["channel"], prompt.params["channel"]} == {ALICE_DM}
    assert "Something else" in buttons(prompt.params["blocks"])
    assert no_channel_posts(fake)


async def test_global_shortcut_starts_the_report_in_the_dm(report_server, fake_slack):
    r = await report_server.payload(global_shortcut(user=ALICE))
    assert r.status == 200 and r.elapsed < 3
    _, prompt = await fake_slack.wait_for("chat.postMessage", 2)
    assert prompt.params["channel"] == ALICE_DM and "Something else" in buttons(prompt.params["blocks"])


async def test_report_button_under_a_channel_answer_moves_to_the_dm(report_server, fake_slack):
    srv, fake = report_server, fake_slack
    await srv.event(app_mention_event(REPORT_QUESTION, user=ALICE))
    (answer,) = await fake.wait_for("chat.postMessage")
    assert answer.params["channel"] == "C0000007" and "Report a concern" in buttons(answer.params["blocks"])
    await srv.payload(press(answer, "Report a concern", user=ALICE, response_url=fake.response_url("chan")))
    _, prompt = await fake.wait_for("chat.postMessage", 2, where=lambda c: c.params["channel"].startswith("D"))
    assert prompt.params["channel"] == ALICE_DM and "Something else" in buttons(prompt.params["blocks"])
    assert len([c for c in fake.calls_to("chat.postMessage") if c.params["channel"].startswith("C")]) == 1
    # the channel's copy of the answer is left alone: nobody there sees that a report was started
    await fake.settle(0.2)
    assert not fake.calls_to("response_url") and not fake.calls_to("chat.update")


async def test_feedback_in_a_channel_is_thanked_privately(server, fake_slack):
    await server.event(app_mention_event(QUESTION))
    (answer,) = await fake_slack.wait_for("chat.postMessage")
    await server.payload(press(answer, "Helpful", response_url=fake_slack.response_url("v")))
    (thanks,) = await fake_slack.wait_for("response_url")
    assert thanks.params["response_type"] == "ephemeral" and thanks.params["replace_original"] is False


async def test_report_typed_in_a_channel_mention_goes_private(report_server, fake_slack):
    """The core answers a channel "report" with a neutral note there and the flow addressed to the user."""
    srv, fake = report_server, fake_slack
    await srv.event(app_mention_event("report", user=ALICE, ts="1700000000.000200"))
    await fake.wait_for("chat.postMessage", 3)
    public = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"].startswith("C")]
    assert [c.params["text"] for c in public] == ["I've sent you a private message."]
    assert public[0].params["thread_ts"] == "1700000000.000200"
    private = [c for c in fake.calls_to("chat.postMessage") if c.params["channel"] == ALICE_DM]
    assert any("Something else" in buttons(c.params["blocks"]) for c in private)


async def test_outbox_messages_queued_elsewhere_are_swept_and_marked(fake_bot, fake_slack, reporting):
    """A message another process queued (e.g. ``policybot cases ack`` on the command line) reaches its
    recipient's DM by the periodic sweep; one for someone no channel reaches stays queued for later."""
    from datetime import datetime

    from bot.messages import Outbound

    now = datetime.now(UTC)
    reporting.outbox.put(Outbound(kind="text", text="Update on your report: closed.", to_user="carol"), now)
    reporting.outbox.put(Outbound(kind="text", text="For someone not on Slack.", to_user="nobody"), now)
    h = await ServerHarness(
        fake_bot, ConversationEngine(fake_bot, reporting=reporting), fake_slack, outbox_interval=0.05
    ).start()
    try:
        (post,) = await fake_slack.wait_for("chat.postMessage")
        assert post.params["channel"] == "D0CAROL001" and post.params["text"] == "Update on your report: closed."
        await fake_slack.settle(0.3)
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
        assert [m.to_user for m in reporting.outbox.undelivered()] == ["nobody"]
    finally:
        await h.stop()


async def test_mention_that_starts_a_flow_is_moved_to_the_dm(fake_bot, fake_slack):
    class PromptEngine:
        def handle(self, inbound):
            from bot.messages import Choice, Outbound

            return [
                Outbound(kind="text", text="Let's do this privately."),
                Outbound(kind="prompt", text="Which team?", choices=[Choice("Care", "team", "care")]),
            ]

    h = await ServerHarness(fake_bot, PromptEngine(), fake_slack).start()
    try:
        await h.event(app_mention_event("report something", user="U0000042"))
        posts = await fake_slack.wait_for("chat.postMessage", 2)
        assert {p.params["channel"] for p in posts} == {"D0000042"}
        (pointer,) = await fake_slack.wait_for("chat.postEphemeral")
        assert pointer.params["channel"] == "C0000007" and pointer.params["user"] == "U0000042"
    finally:
        await h.stop()


async def test_closing_a_prompt_modal_puts_the_prompt_back_in_the_dm(report_server, fake_slack):
    from adapters.slack import render_modal
    from bot.messages import Choice, Outbound

    view = render_modal(
        Outbound(
            kind="prompt", text="Please review", choices=[Choice("Submit", "report_submit")], step="review", modal=True
        ),
        {"dm": "D0000042", "repost": True},
    )
    await report_server.payload(
        {
            "type": "view_closed",
            "user": {"id": ALICE},
            "team": {"id": "T0000001"},
            "view": dict(view, id="V9"),
            "is_cleared": False,
        }
    )
    (post,) = await fake_slack.wait_for("chat.postMessage")
    assert post.params["channel"] == "D0000042" and buttons(post.params["blocks"]) == ["Submit"]


async def test_proactive_delivery_and_tick(fake_bot, fake_slack):
    from bot.directory import Directory
    from bot.messages import Outbound

    class TickEngine(ConversationEngine):
        def __init__(self, bot):
            super().__init__(bot, reporting=False)
            self.ticks = 0

        def tick(self, now):
            self.ticks += 1
            return [Outbound(kind="text", text="Reminder: case C-7 is due.", to_user="bob")] if self.ticks == 1 else []

    directory = Directory.load(ROOT / "config" / "directory.sample.toml")
    h = await ServerHarness(fake_bot, TickEngine(fake_bot), fake_slack, directory=directory, tick_interval=0.05).start()
    try:
        (post,) = await fake_slack.wait_for("chat.postMessage")
        assert post.params["channel"] == BOB_DM and "case C-7" in post.params["text"]
        assert await h.ctx.deliver(Outbound(kind="text", text="hi", to_user="slack:U0000555"))
        assert not await h.ctx.deliver(Outbound(kind="text", text="hi", to_user="nobody"))
        fake_slack.fail["conversations.open"] = "user_not_found"
        assert not await h.ctx.deliver(Outbound(kind="text", text="hi", to_user="carol"))
    finally:
        await h.stop()


# -- Socket Mode -------------------------------------------------------------------------------------


async def test_socket_mode_receives_events_and_acks(fake_bot, fake_slack):
    env = {"SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "xapp-test-token"}
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot), fake_slack, env=env, socket_mode=True).start()
    try:
        (conn,) = await fake_slack.wait_for("apps.connections.open")
        assert conn.token == "xapp-test-token"
        await fake_slack.socket_send(
            {
                "envelope_id": "env-1",
                "type": "events_api",
                "accepts_response_payload": False,
                "payload": message_im_event(QUESTION),
            }
        )
        (ack,) = await fake_slack.wait_for("socket_ack")
        assert ack.params["envelope_id"] == "env-1"
        (post,) = await fake_slack.wait_for("chat.postMessage")
        assert CLAUSE in texts(post.params["blocks"])
        r = await h.event(message_im_event(QUESTION))
        assert r.status == 404  # no HTTP endpoint without a signing secret
    finally:
        await h.stop()


# -- the acceptance test, with the real model --------------------------------------------------------


@pytest.mark.model
async def test_done_when_real_model_dm_quotes_the_cwm_taf_clause(real_bot, fake_slack):
    """The issue's "Done when": only the three Slack variables set; a signed message.im is acked in
    under 3 s and answered with a chat.postMessage quoting the Cwm Taf clause; unsigned / five-minute-old
    requests get 401."""
    env = {"SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake_slack.api_url}
    h = ServerHarness(real_bot, ConversationEngine(real_bot), None, env=env)
    await h.start()
    try:
        r = await h.event(message_im_event("can I accept a colleague's friend request?"))
        assert r.status == 200 and r.elapsed < 3
        (post,) = await fake_slack.wait_for("chat.postMessage", timeout=30)
        shown = texts(post.params["blocks"])
        assert "it is not advisable to accept people you work with as 'friends'" in shown
        assert "Cwm Taf" in shown
        body = json.dumps(message_im_event("can I accept a colleague's friend request?"))
        assert (await h.post_raw(body, {"Content-Type": "application/json"})).status == 401
        assert (await h.post_raw(body, signed_headers(body, SECRET, int(time.time()) - 300))).status == 401
    finally:
        await h.stop()
