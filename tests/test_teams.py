"""Teams end to end: the real botbuilder ``CloudAdapter`` in ``policybot serve`` over loopback, replying
to a fake Bot Connector (the activities' ``serviceUrl``) that records what the bot POSTs."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import subprocess
import sys
from datetime import UTC
from pathlib import Path

import pytest
from fakes.bot_connector import (
    BOT_ID,
    CHANNEL_CONV,
    TENANT,
    installed,
    mention,
    message,
    submit,
)
from fakes.harness import ServerHarness

from adapters.server import ConfigError, ServerSettings, build_app
from bot.engine import ConversationEngine

ROOT = Path(__file__).resolve().parent.parent

QUESTION = "Can I post pictures of service users?"
CLAUSE = "Never post pictures of service users or colleagues even if they ask you to do so"
REPORT_QUESTION = "Can I accept a friend request from a service user?"
WHAT = "The mother of a young man I support sent me a friend request and two messages."
WHERE = "Facebook Messenger, see https://facebook.example/msg/123"

# people of config/directory.sample.toml (their Teams ids)
ALICE, BOB, CAROL = "29:1aliceAdamsTeamsId", "29:1bobBakerTeamsId", "29:1carolClarkeTeamsId"
ALICE_CHAT, BOB_CHAT = f"a:1on1-{ALICE}", f"a:1on1-{BOB}"
APP_ID = "11111111-2222-3333-4444-555555555555"
JSON = {"Content-Type": "application/json"}


class Recording(ConversationEngine):
    """The real engine, remembering each inbound it was given."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.inbounds = []

    def handle(self, inbound):
        self.inbounds.append(inbound)
        return super().handle(inbound)


class TeamsServer(ServerHarness):
    """``ServerHarness`` posting Bot Framework activities to ``/api/messages``."""

    async def activity(self, body: dict, headers: dict | None = None):
        return await self.post_raw(json.dumps(body), dict(JSON, **(headers or {})), path="/api/messages")


@pytest.fixture
async def server(fake_bot, connector):
    h = await TeamsServer(fake_bot, Recording(fake_bot, reporting=False), None, env={}).start()
    yield h
    await h.stop()


@pytest.fixture
async def report_server(fake_bot, connector, reporting):
    h = await TeamsServer(fake_bot, Recording(fake_bot, reporting=reporting), None, env={}).start()
    yield h
    await h.stop()


def in_chat(conversation: str):
    return lambda p: p.conversation_id == conversation


# -- guidance ------------------------------------------------------------------------------------


async def test_personal_message_gets_an_adaptive_card_with_quotes_citations_and_feedback(server, connector):
    body = message(connector.service_url, QUESTION)
    r = await server.activity(body)
    assert r.status in (200, 201)
    (reply,) = await connector.wait_for()
    assert reply.kind == "reply" and reply.reply_to_id == body["id"]
    assert reply.conversation_id == body["conversation"]["id"]
    assert reply.authorization is None  # Emulator mode: no token asked for, none sent
    (card,) = reply.cards
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.2"
    quote = next(c for c in card["body"] if c["type"] == "Container" and CLAUSE in json.dumps(c))
    runs = [el["inlines"][0]["text"] for el in quote["items"] if el["type"] == "RichTextBlock"]
    assert any(CLAUSE in text for text in runs)  # verbatim, as a TextRun (no Markdown)
    cite = quote["items"][-1] if quote["items"][-1]["text"].startswith("Source: ") else quote["items"][-2]
    assert cite["type"] == "TextBlock" and cite["isSubtle"] and cite["text"].startswith("Source: ")
    assert reply.buttons[-2:] == ["Helpful", "Not helpful"]
    assert reply.data("Helpful")["action_id"] == "pb_feedback_helpful"
    assert reply.body["from"]["id"] == BOT_ID and reply.body["recipient"]["id"] == "29:1staffMember"


async def test_channel_mention_is_stripped_and_answered_in_its_thread(server, connector):
    body = mention(connector.service_url, QUESTION, thread="1700000000042")
    await server.activity(body)
    (reply,) = await connector.wait_for()
    assert reply.conversation_id == f"{CHANNEL_CONV};messageid=1700000000042"
    assert reply.kind == "reply" and reply.reply_to_id == body["id"]
    assert CLAUSE in reply.text
    (inbound,) = server.engine.inbounds
    assert inbound.text == QUESTION and inbound.source == "mention" and not inbound.private


async def test_feedback_is_recorded_and_thanked_in_the_personal_chat(server, connector, fake_bot):
    await server.activity(message(connector.service_url, QUESTION))
    (answer,) = await connector.wait_for()
    await server.activity(submit(connector.service_url, answer.data("Not helpful"), reply_to=answer.id))
    (thanks,) = await connector.wait_for(lambda p: "Thanks" in p.text)
    assert "HR will see" in thanks.text
    (gap,) = fake_bot.gaps.groups()
    assert gap.to_json()["question"] == QUESTION
    assert [i.source for i in server.engine.inbounds] == ["message"]  # the vote never reaches the engine


def comparison_table(post) -> list[list[str]]:
    """The texts of each column of each three-column row (the comparison's table) in a reply's cards."""
    from fakes.bot_connector import card_texts

    return [
        [" ".join(card_texts(col)) for col in el["columns"]]
        for card in post.cards
        for el in card["body"]
        if el["type"] == "ColumnSet" and len(el["columns"]) == 3
    ]


async def test_compare_in_the_personal_chat_gets_a_card_with_the_table(server, connector, fake_bot):
    from bot.compare import compare

    await server.activity(message(connector.service_url, "compare friend requests from service users"))
    (reply,) = await connector.wait_for()
    expected = compare(fake_bot.index, "friend requests from service users")
    header, *rows = comparison_table(reply)
    assert header == ["Organisation", "Stance", "What the policy says"]
    assert [r[:2] for r in rows] == [[p.organisation, p.stance] for p in expected.positions]
    assert expected.summary in reply.text


async def test_compare_policies_button_under_an_answer_gets_the_comparison(server, connector, fake_bot):
    from bot.compare import compare

    await server.activity(message(connector.service_url, REPORT_QUESTION))
    (answer,) = await connector.wait_for()
    assert answer.data("Compare policies")["action_id"] == "compare"
    await server.activity(submit(connector.service_url, answer.data("Compare policies"), reply_to=answer.id))
    (_, reply) = await connector.wait_for(count=2)
    expected = compare(fake_bot.index, REPORT_QUESTION)
    assert [i.action.action_id for i in server.engine.inbounds if i.action] == ["compare"]
    _, *rows = comparison_table(reply)
    assert [r[:2] for r in rows] == [[p.organisation, p.stance] for p in expected.positions]
    quoted = [p for p in expected.positions if p.quote is not None]
    assert quoted
    for p in quoted:
        assert p.quote.text in reply.text  # verbatim, in a TextRun
        assert "Source: " + p.quote.citation.label() in reply.text


class Held(Recording):
    """The real engine, held at each ``handle`` until ``release`` is set (an engine busy under load)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        import threading

        self.release = threading.Event()

    def handle(self, inbound):
        assert self.release.wait(20), "never released"
        return super().handle(inbound)


async def test_the_request_is_answered_before_the_engine_and_the_reply_follows(fake_bot, connector):
    engine = Held(fake_bot, reporting=False)
    h = await TeamsServer(fake_bot, engine, None, env={}).start()
    try:
        body = mention(connector.service_url, QUESTION, thread="1700000000077")
        r = await asyncio.wait_for(h.activity(body), 5)  # the engine is still held: only the ack came back
        assert r.status in (200, 201) and connector.messages() == []
        engine.release.set()
        (reply,) = await connector.wait_for()
        assert reply.reply_to_id == body["id"] and reply.conversation_id.endswith(";messageid=1700000000077")
        assert CLAUSE in reply.text
    finally:
        engine.release.set()
        await h.stop()


async def test_a_redelivered_activity_is_answered_once(server, connector):
    body = message(connector.service_url, QUESTION)
    assert (await server.activity(body)).status in (200, 201)
    assert (await server.activity(body)).status in (200, 201)
    await connector.wait_for()
    await connector.settle(0.2)
    assert len(connector.messages()) == 1


async def test_install_stores_the_reference_and_welcomes(server, connector, fake_bot):
    await server.activity(installed(connector.service_url, user=CAROL))
    (welcome,) = await connector.wait_for()
    assert welcome.conversation_id == f"a:1on1-{CAROL}" and "report" in welcome.text
    db = sqlite3.connect(fake_bot.data_dir / "teams.db")
    (row,) = db.execute("SELECT user_id, teams_user_id, tenant_id, personal FROM contacts").fetchall()
    assert row[:3] == ("teams:" + CAROL, CAROL, TENANT) and f"a:1on1-{CAROL}" in row[3]


async def test_bad_requests_are_refused_without_a_turn(server, connector):
    assert (await server.post_raw("hello", {"Content-Type": "text/plain"}, path="/api/messages")).status == 415
    assert (await server.post_raw("{not json", JSON, path="/api/messages")).status == 400
    assert (await server.post_raw("[1, 2]", JSON, path="/api/messages")).status == 400
    assert (await server.post_raw("{}", JSON, path="/api/messages")).status == 400
    await connector.settle(0.1)
    assert not connector.posts and not server.engine.inbounds


# -- authentication and configuration -------------------------------------------------------------


async def test_with_an_app_id_unauthenticated_requests_get_401_without_the_network(fake_bot, connector, monkeypatch):
    import jwt
    import requests

    def no_network(*a, **kw):
        raise AssertionError("the Bot Framework SDK tried to use the network")

    monkeypatch.setattr(requests.Session, "request", no_network)
    env = {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "not-a-real-secret", "POLICYBOT_WEBCHAT": "off"}
    h = await TeamsServer(fake_bot, Recording(fake_bot, reporting=False), None, env=env).start()
    try:
        assert [c.name for c in h.ctx.channels] == ["teams"]
        foreign = jwt.encode({"iss": "https://issuer.example", "aud": APP_ID}, "k" * 32, algorithm="HS256")
        for headers in (
            {},
            {"Authorization": "Bearer not-a-jwt"},
            {"Authorization": "Basic dXNlcjpwYXNz"},
            {"Authorization": f"Bearer {foreign}"},
        ):
            r = await h.activity(message(connector.service_url, QUESTION), headers)
            assert r.status == 401, headers
        await connector.settle(0.2)
        assert not connector.posts and not h.engine.inbounds
    finally:
        await h.stop()


@pytest.mark.parametrize(
    "env,host,needle",
    [
        ({}, "0.0.0.0", "only on a loopback address"),
        ({}, "", "every interface"),
        ({"MicrosoftAppId": APP_ID}, "127.0.0.1", "set MicrosoftAppPassword"),
        ({"MicrosoftAppPassword": "s"}, "127.0.0.1", "MicrosoftAppId is not"),
        ({"MicrosoftAppTenantId": TENANT}, "0.0.0.0", "MicrosoftAppId is not"),
        (
            {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "s", "MicrosoftAppType": "SingleTenant"},
            "0.0.0.0",
            "set MicrosoftAppTenantId",
        ),
        ({"MicrosoftAppId": APP_ID, "MicrosoftAppType": "UserAssignedMSI"}, "0.0.0.0", "set MicrosoftAppTenantId"),
        ({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "s", "MicrosoftAppType": "Guest"}, "::1", "MultiTenant"),
    ],
)
def test_unsafe_or_half_set_teams_configuration_is_refused(env, host, needle):
    from adapters.teams import teams_settings

    with pytest.raises(ConfigError) as info:
        teams_settings(env, host)
    assert needle in str(info.value)


def test_teams_configuration():
    from adapters.server import is_loopback_host as is_loopback
    from adapters.teams import teams_settings

    assert teams_settings({}, "127.0.0.1").emulator
    assert teams_settings({"MicrosoftAppType": "MultiTenant", "MicrosoftAppId": ""}, "localhost").emulator
    assert teams_settings({"POLICYBOT_TEAMS": "off"}, "0.0.0.0") is None
    s = teams_settings({"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "s"}, "0.0.0.0")
    assert not s.emulator and s.app_type == "MultiTenant"
    s = teams_settings(
        {
            "MicrosoftAppId": APP_ID,
            "MicrosoftAppPassword": "s",
            "MicrosoftAppTenantId": TENANT,
            "MicrosoftAppType": "singletenant",
        },
        "10.0.0.5",
    )
    assert s.app_type == "SingleTenant" and s.tenant_id == TENANT
    s = teams_settings(
        {"MicrosoftAppId": APP_ID, "MicrosoftAppTenantId": TENANT, "MicrosoftAppType": "UserAssignedMSI"}, "0.0.0.0"
    )
    assert s.app_type == "UserAssignedMSI" and s.app_password == ""
    s = teams_settings(
        {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "s", "MicrosoftAppTenantId": TENANT}, "0.0.0.0"
    )
    assert s.app_type == "SingleTenant"  # a tenant id without a type: a single-tenant bot, as Azure now creates
    assert [
        is_loopback(h)
        for h in ("127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "0.0.0.0", "", "::", "10.0.0.1", "example.org")
    ] == [True] * 5 + [False] * 5


def test_build_app_refuses_teams_without_an_app_id_off_loopback(fake_bot):
    with pytest.raises(ConfigError, match="loopback"):
        build_app(fake_bot, ConversationEngine(fake_bot, reporting=False), ServerSettings(host="0.0.0.0", env={}))
    app = build_app(
        fake_bot,
        ConversationEngine(fake_bot, reporting=False),
        ServerSettings(host="0.0.0.0", env={"POLICYBOT_TEAMS": "off"}),
    )
    assert not any(r.resource.canonical == "/api/messages" for r in app.router.routes() if r.resource)


def test_serve_refuses_to_start_off_loopback_without_an_app_id(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("Microsoft", "SLACK_", "POLICYBOT_TEAMS"))}
    env.update(POLICYBOT_DATA_DIR=str(tmp_path), POLICYBOT_FAKE_EMBEDDER="1")
    p = subprocess.run(
        [sys.executable, "-m", "adapters.cli", "serve", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert p.returncode == 2
    assert b"MicrosoftAppId is not set" in p.stderr and b"Traceback" not in p.stderr


# -- reporting -------------------------------------------------------------------------------------


async def test_full_report_flow_with_card_submits_and_proactive_messages(report_server, connector, reporting, caplog):
    """Alice reports through card submits in her personal chat; Bob (who installed the app) gets the
    notification proactively, acknowledges it with a card button, and Alice gets the status update."""
    caplog.set_level(logging.DEBUG)
    srv, fake, url = report_server, connector, connector.service_url
    await srv.activity(installed(url, user=BOB))
    await fake.wait_for(in_chat(BOB_CHAT))  # welcome
    await srv.activity(installed(url, user=ALICE))
    await fake.wait_for(in_chat(ALICE_CHAT))
    alice = lambda where, n=1: fake.wait_for(lambda p: in_chat(ALICE_CHAT)(p) and where(p), n)

    async def press(post, label):
        await srv.activity(submit(url, post.data(label), user=ALICE, reply_to=post.id))

    # 1. a question about a reportable matter: the answer offers "Report a concern"
    await srv.activity(message(url, REPORT_QUESTION, user=ALICE))
    (answer,) = await alice(lambda p: "Report a concern" in p.buttons)
    assert answer.data("Report a concern") == {
        "action_id": "report:start",
        "value": answer.data("Report a concern")["value"],
    }
    # 2. pressing it starts the flow: intro, then the category choices
    await press(answer, "Report a concern")
    (category,) = await alice(lambda p: "Something else" in p.buttons)
    assert any("This conversation is private" in p.text for p in fake.messages(in_chat(ALICE_CHAT)))
    # 3. the category; "What happened?" comes with a multi-line input and a Send button
    await press(category, "Contact or a friend request")
    (what,) = await alice(lambda p: "What happened?" in p.text)
    (field,) = [el for el in what.cards[-1]["body"] if el["type"] == "Input.Text"]
    assert field["isMultiline"] and "Send" in what.buttons
    await srv.activity(submit(url, what.data("Send"), user=ALICE, reply_to=what.id, inputs={field["id"]: WHAT}))
    (when,) = await alice(lambda p: "When did it happen?" in p.text)
    # 4. "Not sure"; then "where", answered by typing in the chat
    await press(when, "Not sure")
    await alice(lambda p: p.text.startswith("Where did it happen?") or "\nWhere did it happen?" in p.text)
    await srv.activity(message(url, WHERE, user=ALICE))
    (handler,) = await alice(lambda p: "Who should handle" in p.text)
    # 5. the handler and the identity (labels too long for a button: shown in full with "Choose")
    await press(handler, "Your manager, Bob Baker")
    (identity,) = await alice(lambda p: "Should the handler know" in p.text)
    assert any(el["type"] == "ColumnSet" for el in identity.cards[-1]["body"])
    await press(identity, "Confidential: Bob Baker sees what happened")
    # 6. the review card, then Submit
    (review,) = await alice(lambda p: "Review your report" in p.text)
    assert WHAT in review.text and "Facebook Messenger" in review.text
    assert review.buttons[0] == "Submit" and "Cancel" in review.buttons
    await press(review, "Submit")
    (confirm,) = await alice(lambda p: "has been submitted" in p.text)
    receipt = confirm.text.split("Your receipt is ")[1].split()[0]
    # 7. Bob's notification: proactive (a new message, not a reply) in his stored personal chat
    (note,) = await fake.wait_for(lambda p: in_chat(BOB_CHAT)(p) and "New report C-00001" in p.text)
    assert note.kind == "send" and note.body.get("summary") == "Policybot sent you a private message"
    assert note.buttons == ["Acknowledge", "Ask for more information", "Close with outcome"]
    assert WHAT in note.text and "confidential" in note.text and "Alice" not in note.text
    # 8. Bob acknowledges; Alice's status update arrives proactively in her chat
    await srv.activity(submit(url, note.data("Acknowledge"), user=BOB, reply_to=note.id))
    (done,) = await fake.wait_for(lambda p: in_chat(BOB_CHAT)(p) and "acknowledged" in p.text)
    assert done.kind == "reply" and "The reporter has been told" in done.text
    (update,) = await alice(lambda p: p.text.startswith("Update on your report"))
    assert update.kind == "send" and receipt in update.text and "acknowledged" in update.text
    await fake.settle(0.3)
    assert reporting.outbox.undelivered() == []
    assert len(fake.messages(lambda p: "New report" in p.text)) == 1
    assert len(fake.messages(lambda p: p.text.startswith("Update on"))) == 1
    assert not fake.messages(lambda p: p.conversation_id.startswith("19:"))  # nothing in any channel
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert WHAT not in logged and "Facebook Messenger" not in logged
    stored = (Path(reporting.data_dir) / "teams.db").read_bytes()
    assert WHAT.encode() not in stored and b"Messenger" not in stored and receipt.encode() not in stored


async def test_report_button_under_a_channel_answer_continues_in_a_new_personal_chat(report_server, connector):
    """Alice never opened the app: pressing "Report a concern" under a channel answer opens her personal
    chat (POST /v3/conversations) and the flow continues there; the channel sees nothing more."""
    srv, fake, url = report_server, connector, connector.service_url
    await srv.activity(mention(url, REPORT_QUESTION, user=ALICE))
    (answer,) = await fake.wait_for()
    assert answer.conversation_id.startswith(CHANNEL_CONV) and "Report a concern" in answer.buttons
    await srv.activity(
        submit(
            url,
            answer.data("Report a concern"),
            user=ALICE,
            reply_to=answer.id,
            conversation=answer.body["conversation"],
        )
    )
    (prompt,) = await fake.wait_for(lambda p: "Something else" in p.buttons)
    (create,) = [p for p in fake.posts if p.kind == "create"]
    assert create.body["members"] == [{"id": ALICE}] and create.body["isGroup"] is False
    assert create.body["tenantID"] == TENANT and create.body["bot"]["id"] == BOT_ID
    assert prompt.conversation_id == f"a:personal-{ALICE}"
    await fake.settle(0.2)
    assert len(fake.messages(lambda p: p.conversation_id.startswith(CHANNEL_CONV))) == 1
    # the next press in the personal chat carries on there (the chat is remembered)
    await srv.activity(
        submit(
            url,
            prompt.data("Cancel"),
            user=ALICE,
            reply_to=prompt.id,
            conversation={"id": prompt.conversation_id, "conversationType": "personal"},
        )
    )
    (cancelled,) = await fake.wait_for(lambda p: "Report cancelled" in p.text)
    assert cancelled.conversation_id == f"a:personal-{ALICE}"
    assert len([p for p in fake.posts if p.kind == "create"]) == 1


async def test_report_typed_in_a_channel_mention_goes_private(report_server, connector):
    srv, fake, url = report_server, connector, connector.service_url
    await srv.activity(installed(url, user=ALICE))
    await srv.activity(mention(url, "report", user=ALICE))
    (prompt,) = await fake.wait_for(lambda p: "Something else" in p.buttons)
    assert prompt.conversation_id == ALICE_CHAT
    public = fake.messages(lambda p: p.conversation_id.startswith(CHANNEL_CONV))
    assert [p.text for p in public] == ["I've sent you a private message."]


async def test_proactive_delivery_reaches_stored_and_new_chats_and_survives_a_restart(fake_bot, connector, reporting):
    from bot.messages import Outbound

    url = connector.service_url
    engine = ConversationEngine(fake_bot, reporting=reporting)
    h = await TeamsServer(fake_bot, engine, None, env={}).start()
    try:
        await h.activity(installed(url, user=BOB))
        await connector.wait_for(in_chat(BOB_CHAT))
        assert await h.ctx.deliver(Outbound(kind="text", text="Reminder: case C-7 is due.", to_user="bob"))
        (post,) = await connector.wait_for(lambda p: "case C-7" in p.text)
        assert post.conversation_id == BOB_CHAT and post.kind == "send"
        # Carol never used the app: her personal chat is opened from her directory Teams id
        assert await h.ctx.deliver(Outbound(kind="text", text="For Carol.", to_user="carol"))
        (post,) = await connector.wait_for(lambda p: p.text == "For Carol.")
        assert post.conversation_id == f"a:personal-{CAROL}"
        assert not await h.ctx.deliver(Outbound(kind="text", text="x", to_user="nobody"))
        connector.fail[BOB_CHAT] = 403  # the app was removed: not delivered (the outbox keeps it)
        assert not await h.ctx.deliver(Outbound(kind="text", text="refused", to_user="bob"))
        del connector.fail[BOB_CHAT]
    finally:
        await h.stop()
    h = await TeamsServer(fake_bot, engine, None, env={}).start()
    try:
        assert await h.ctx.deliver(Outbound(kind="text", text="After the restart.", to_user="bob"))
        (post,) = await connector.wait_for(lambda p: p.text == "After the restart.")
        assert post.conversation_id == BOB_CHAT
    finally:
        await h.stop()


async def test_queued_messages_are_sent_when_the_person_installs_the_app(fake_bot, connector, reporting):
    from datetime import datetime

    from bot.messages import Outbound

    reporting.outbox.put(Outbound(kind="text", text="Update on your report: closed.", to_user="dan"), datetime.now(UTC))
    h = await TeamsServer(fake_bot, ConversationEngine(fake_bot, reporting=reporting), None, env={}).start()
    try:
        await connector.settle(0.1)
        assert reporting.outbox.undelivered()  # nobody knows where Dan is yet
        await h.activity(installed(connector.service_url, user="29:1danDaviesTeamsId"))
        (post,) = await connector.wait_for(lambda p: "closed" in p.text)
        assert post.conversation_id == "a:1on1-29:1danDaviesTeamsId"
        await connector.settle(0.2)
        assert reporting.outbox.undelivered() == []
    finally:
        await h.stop()


# -- the acceptance test, with the real model --------------------------------------------------------


@pytest.mark.model
async def test_done_when_real_model_emulator_reply_quotes_cwm_taf_and_app_id_server_gives_401(real_bot, connector):
    """The issue's "Done when": an unauthenticated message activity to a loopback server with no app id
    gets a reply POSTed to its serviceUrl quoting the Cwm Taf clause; the same POST to a server with
    ``MicrosoftAppId`` and ``MicrosoftAppPassword`` set gets 401."""
    body = message(connector.service_url, "can I accept a colleague's friend request?")
    h = TeamsServer(real_bot, ConversationEngine(real_bot, reporting=False), None, env={})
    await h.start()
    try:
        r = await h.activity(body)
        assert r.status in (200, 201)
        (reply,) = await connector.wait_for(timeout=30)
        assert reply.kind == "reply" and reply.conversation_id == body["conversation"]["id"]
        assert "it is not advisable to accept people you work with as 'friends'" in reply.text
        assert "Cwm Taf" in reply.text
    finally:
        await h.stop()
    env = {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "not-a-real-secret"}
    h = TeamsServer(real_bot, ConversationEngine(real_bot, reporting=False), None, env=env)
    await h.start()
    try:
        assert (await h.activity(body)).status == 401
        await connector.settle(0.2)
        assert len(connector.messages()) == 1
    finally:
        await h.stop()


# -- the bot's @mention is removed, and nothing else ---------------------------------------------------


@pytest.mark.parametrize(
    "question",
    [
        "what is Policybot?",
        "Does Policybot keep my report confidential?",
        "can I post (pictures) of service users? [policybot]",
    ],
)
async def test_only_the_mention_of_the_bot_is_removed_from_a_channel_question(server, connector, question):
    await server.activity(mention(connector.service_url, question))
    await connector.wait_for()
    (inbound,) = server.engine.inbounds
    assert inbound.text == question


def test_clean_text_removes_the_bot_mention_keeps_other_people_and_decodes_entities():
    from botbuilder.schema import Activity

    from adapters.teams import clean_text

    body = mention("http://127.0.0.1:1/", "ask <at>Bob Baker</at> about Policybot&nbsp;&amp; Facebook")
    body["entities"].append(
        {"type": "mention", "text": "<at>Bob Baker</at>", "mentioned": {"id": BOB, "name": "Bob Baker"}}
    )
    body["entities"].append({"type": "clientInfo", "locale": "en-GB"})
    assert clean_text(Activity().deserialize(body)) == "ask Bob Baker about Policybot & Facebook"
    # a mention tag without its entity is still recognised by the bot's name
    bare = message("http://127.0.0.1:1/", "<at>Policybot</at> what is Policybot?")
    assert clean_text(Activity().deserialize(bare)) == "what is Policybot?"


# -- Adaptive Cards stay under Teams' size limit ---------------------------------------------------------


@pytest.mark.parametrize("char", ["a", "é", "€", "😀"])
def test_every_card_including_its_fallback_text_fits_the_size_limit(char):
    from adapters.teams_cards import MAX_CARD_BYTES, render_cards
    from bot.messages import Choice, Outbound

    line = " ".join([char * 9] * 1200)  # one long line: long typed answers arrive like this
    msg = Outbound(
        kind="prompt",
        text=f"Review your report\n{line}\n{line[:3000]}",
        choices=[Choice("Submit", "report:submit"), Choice("Cancel", "report:cancel")],
    )
    cards = render_cards(msg)
    sizes = [len(json.dumps(c, ensure_ascii=False).encode("utf-8")) for c in cards]
    assert all(s <= MAX_CARD_BYTES for s in sizes), sizes
    runs = [el["inlines"][0]["text"] for c in cards for el in c["body"] if el["type"] == "RichTextBlock"]
    assert "".join(runs) == "Review your report" + line + line[:3000]  # nothing lost, nothing added
    assert [a["title"] for a in cards[-1]["body"][-1]["actions"]] == ["Submit", "Cancel"]
    assert all(el["type"] == "RichTextBlock" for c in cards[:-1] for el in c["body"])


# -- the Teams app package ---------------------------------------------------------------------------------

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_header(data: bytes) -> tuple[int, int, int, int]:
    """``(width, height, bit depth, colour type)`` from a PNG's signature and IHDR chunk.

    Raises:
        AssertionError: ``data`` is not a PNG.
    """
    import struct

    assert data[:8] == PNG_SIGNATURE, data[:8]
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height, depth, colour = struct.unpack(">IIBB", data[16:26])
    return width, height, depth, colour


def png_rgba_pixels(data: bytes) -> list[tuple[int, int, int, int]]:
    """Every pixel of an 8-bit RGBA, non-interlaced PNG (the PNG filters undone with zlib alone)."""
    import struct
    import zlib

    width, height, depth, colour = png_header(data)
    assert (depth, colour, data[28]) == (8, 6, 0), "expected 8-bit RGBA, not interlaced"
    pos, idat = 8, b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw, stride, prev, pixels = zlib.decompress(idat), width * 4, bytearray(width * 4), []
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a, b, c = line[i - 4] if i >= 4 else 0, prev[i], prev[i - 4] if i >= 4 else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        pixels += [tuple(line[i : i + 4]) for i in range(0, stride, 4)]
        prev = line
    return pixels


def package(tmp_path, capsys, *args):
    """Run ``policybot teams package ARGS`` in-process; returns (exit code, stdout, stderr)."""
    from adapters.cli import main

    code = main(["teams", "package", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_teams_package_is_a_zip_an_admin_can_upload(tmp_path, capsys, monkeypatch):
    import zipfile

    monkeypatch.delenv("MicrosoftAppId", raising=False)
    out = tmp_path / "policybot-teams.zip"
    code, stdout, _ = package(
        tmp_path,
        capsys,
        "--app-id",
        APP_ID.upper(),
        "--out",
        str(out),
        "--base-url",
        "https://intranet.example.gov.uk/policybot/",
    )
    assert code == 0 and str(out) in stdout
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == ["color.png", "manifest.json", "outline.png"]  # at the root
        text = z.read("manifest.json").decode("utf-8")
        icons = {name: z.read(name) for name in ("color.png", "outline.png")}
    manifest = json.loads(text)
    (bot,) = manifest["bots"]
    assert bot["botId"] == APP_ID  # the bot's Microsoft App ID, in canonical (lower-case) form
    assert "00000000-0000-0000-0000-000000000000" not in text and "policybot.example.org" not in text
    assert manifest["developer"]["websiteUrl"] == "https://intranet.example.gov.uk/policybot"
    assert manifest["developer"]["privacyUrl"] == "https://intranet.example.gov.uk/policybot/privacy"
    assert manifest == json.loads(
        (ROOT / "teams" / "manifest.json")
        .read_text(encoding="utf-8")
        .replace("00000000-0000-0000-0000-000000000000", APP_ID)
        .replace("https://policybot.example.org", "https://intranet.example.gov.uk/policybot")
    )  # nothing else changed
    # what the Teams admin center checks before it accepts the upload
    assert manifest["id"] != APP_ID and len(manifest["id"]) == 36 and manifest["manifestVersion"] == "1.17"
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"}
    assert len(manifest["name"]["short"]) <= 30 and len(manifest["name"]["full"]) <= 100
    assert manifest["name"]["short"] != manifest["name"]["full"]
    assert len(manifest["description"]["short"]) <= 80 and len(manifest["description"]["full"]) <= 4000
    for command in (c for lst in bot["commandLists"] for c in lst["commands"]):
        assert len(command["title"]) <= 32 and len(command["description"]) <= 128
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}
    assert png_header(icons["color.png"])[:2] == (192, 192)
    assert png_header(icons["outline.png"])[:2] == (32, 32)
    outline = png_rgba_pixels(icons["outline.png"])
    assert len(outline) == 32 * 32
    assert all(a == 0 or (r, g, b) == (255, 255, 255) for r, g, b, a in outline)  # white on transparent
    assert any(a == 255 for *_, a in outline) and any(a == 0 for *_, a in outline)


def test_teams_package_takes_the_app_id_from_the_environment(tmp_path, capsys, monkeypatch):
    import zipfile

    monkeypatch.setenv("MicrosoftAppId", APP_ID)
    out = tmp_path / "from-env.zip"
    assert package(tmp_path, capsys, "--out", str(out))[0] == 0
    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
    assert manifest["bots"][0]["botId"] == APP_ID
    assert manifest["developer"]["websiteUrl"] == "https://policybot.example.org"  # no --base-url: unchanged


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--app-id", "not-a-guid"], "GUID"),
        (["--app-id", "11111111-2222-3333-4444-55555555555"], "GUID"),  # one digit short
        (["--app-id", "00000000-0000-0000-0000-000000000000"], "GUID"),  # the placeholder itself
        (["--app-id", "28:11111111-2222-3333-4444-555555555555"], "GUID"),  # the bot's Teams id, not its app id
        ([], "--app-id"),
        (["--app-id", APP_ID, "--base-url", "http://intranet.example.gov.uk"], "https://"),
    ],
)
def test_teams_package_refuses_a_bad_app_id_or_url_with_exit_code_2(tmp_path, capsys, monkeypatch, args, needle):
    monkeypatch.delenv("MicrosoftAppId", raising=False)
    out = tmp_path / "bad.zip"
    code, stdout, stderr = package(tmp_path, capsys, *args, "--out", str(out))
    assert code == 2
    assert stderr.startswith("error: ") and needle in stderr and "Traceback" not in stderr
    assert stdout == ""
    assert not out.exists()


def test_teams_package_command_line_exit_codes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("Microsoft")}
    run = lambda *a: subprocess.run(
        [sys.executable, "-m", "adapters.cli", "teams", "package", *a],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
    )
    bad = run("--app-id", "nope", "--out", str(tmp_path / "bad.zip"))
    assert bad.returncode == 2 and b"GUID" in bad.stderr and b"Traceback" not in bad.stderr
    good = run("--app-id", APP_ID, "--out", str(tmp_path / "good.zip"))
    assert good.returncode == 0 and (tmp_path / "good.zip").stat().st_size > 0
