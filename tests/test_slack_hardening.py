"""Slack's ``POST /slack/events`` under hostile or odd input: the real server and Bolt on loopback against
the fake Slack Web API.

* The signature is checked on the raw bytes before anything is parsed: unsigned or forged requests get 401
  whatever their body, headers or charset, and never an error line.
* Signed bodies of the wrong shape get a 4xx (or a polite 200), never a 500; failures inside Bolt's
  dispatcher are answered without a 500 and logged without payload content.
* Request timestamps: accepted while within 299 whole seconds of the server's clock, both directions.
* Replays of a signed slash command, button press, shortcut or modal submission have one effect.
* Bolt's "Unhandled request" warning does not print payload fields.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.parse

import pytest
from fakes.harness import SECRET, ServerHarness
from fakes.slack_api import (
    TEAM,
    block_actions,
    event_envelope,
    global_shortcut,
    interactive,
    message_im_event,
    press,
    slash_command,
    view_submission,
)

from bot.engine import ConversationEngine

QUESTION = "Can I post pictures of service users?"
REPORT_QUESTION = "Can I accept a friend request from a service user?"
ALICE, ALICE_DM = "U0ALICE001", "D0ALICE001"
MARK = "Zebra-Quokka-7781"  #: a distinctive string that must never reach a log record
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"


@pytest.fixture
async def server(fake_bot, fake_slack):
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot), fake_slack).start()
    yield h
    await h.stop()


@pytest.fixture
async def report_server(fake_bot, fake_slack, reporting):
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot, reporting=reporting), fake_slack).start()
    yield h
    await h.stop()


def slack_of(h: ServerHarness):
    """The server's ``SlackChannel``."""
    return next(c for c in h.ctx.channels if c.name == "slack")


def sign(raw: bytes, timestamp: int | str | None = None, content_type: str = JSON, secret: str = SECRET) -> dict:
    """Slack's v0 headers for the exact bytes ``raw`` (HMAC-SHA256 of ``b"v0:" + ts + b":" + raw``)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}", "Content-Type": content_type}


async def post(h: ServerHarness, raw: bytes, headers: dict) -> tuple[int, str]:
    """POST the exact bytes ``raw`` to ``/slack/events``; ``(status, text)``."""
    async with h.session.post(h.url + "/slack/events", data=raw, headers=headers) as r:
        return r.status, await r.text()


def errors(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


def logged(caplog) -> str:
    out = []
    for r in caplog.records:
        out.append(r.getMessage())
        if r.exc_info and r.exc_info[1] is not None:
            out.append(repr(r.exc_info[1]))
        if r.exc_text:
            out.append(r.exc_text)
    return "\n".join(out)


def form(fields: dict) -> bytes:
    return urllib.parse.urlencode(fields).encode()


def payload_body(payload) -> bytes:
    return form({"payload": json.dumps(payload)})


# -- D2: verify before parsing -----------------------------------------------------------------------------

MALFORMED = [
    (b"{bad", JSON),
    (b"payload=x", FORM),
    (b"[1]", JSON),
    (b"\xff\xfe{}", JSON),
    (b'{"type": "url_verification", "challenge": "\xe9"}', JSON),  # latin-1, not UTF-8
    (b"{}", "application/json; charset=x-nope"),
    (b"payload=%7B%7D", "application/x-www-form-urlencoded; charset=x-nope"),
    (b"[" * 5000, JSON),
    (b"", FORM),
]


@pytest.mark.parametrize("raw,content_type", MALFORMED)
async def test_unsigned_malformed_bodies_get_401_without_an_error_line(server, caplog, raw, content_type):
    caplog.set_level(logging.DEBUG)
    fresh = str(int(time.time()))
    unsigned = {"X-Slack-Request-Timestamp": fresh, "Content-Type": content_type}
    forged = dict(sign(raw, content_type=content_type, secret="not-the-secret"))
    for headers in (unsigned, forged):
        status, _ = await post(server, raw, headers)
        assert status == 401, (raw[:20], headers)
    assert errors(caplog) == []


FORGED_HEADERS = {
    "non-ASCII signature": {"X-Slack-Signature": "v0=" + "é" * 64},
    "non-ASCII hex digits": {"X-Slack-Signature": "v0=" + "０" * 64},
    "signature with a v1 prefix": {"X-Slack-Signature": "v1=" + "0" * 64},
    "empty signature": {"X-Slack-Signature": "v0="},
    "superscript-two timestamp": {"X-Slack-Request-Timestamp": "²"},
    "Arabic-Indic digits": {"X-Slack-Request-Timestamp": "١٧٠٠٠٠٠٠٠٠"},
    "exponent": {"X-Slack-Request-Timestamp": "1e9"},
    "leading space": {"X-Slack-Request-Timestamp": " 1"},
    "forty nines": {"X-Slack-Request-Timestamp": "9" * 40},
    "negative": {"X-Slack-Request-Timestamp": "-1"},
}


@pytest.mark.parametrize("name", FORGED_HEADERS)
async def test_odd_signature_and_timestamp_headers_get_401(server, caplog, name):
    caplog.set_level(logging.DEBUG)
    raw = json.dumps(message_im_event(QUESTION)).encode()
    headers = dict(sign(raw), **FORGED_HEADERS[name])
    status, _ = await post(server, raw, headers)
    assert status == 401
    assert errors(caplog) == []


SIGNED_MALFORMED = [
    (b"{bad", JSON),
    (b"[1]", JSON),
    (b"null", JSON),
    (b'"just a string"', JSON),
    (b"[" * 5000, JSON),
    (b"\xff\xfe{}", JSON),
    (b"{}", "application/json; charset=x-nope"),
    (b'{"type": 5}', JSON),
    (b'{"type": "event_callback", "event": "x", "event_id": "Ev1"}', JSON),
    (b'{"type": "event_callback", "event": {"type": 7}, "event_id": "Ev2"}', JSON),
    (b'{"type": "url_verification", "challenge": {"a": 1}}', JSON),
    (b'{"type": "url_verification", "challenge": "c", "authorizations": {"a": 1}}', JSON),
    (b'{"type": "url_verification", "challenge": "c", "team_id": ["T1"]}', JSON),
    (b"payload=x", FORM),
    (b"payload=%5B1%5D", FORM),
    (b"payload=" + urllib.parse.quote('{"type": 5}').encode(), FORM),
    (b"payload=" + urllib.parse.quote('{"type": "block_actions"}').encode() + b"&payload=junk", FORM),
    (b"command=", FORM),
    (b"text=hello", FORM),
    (b"", FORM),
    (b"\xff\xfe", FORM),
]


@pytest.mark.parametrize("raw,content_type", SIGNED_MALFORMED)
async def test_signed_malformed_bodies_get_4xx_not_500(server, caplog, raw, content_type):
    caplog.set_level(logging.DEBUG)
    status, text = await post(server, raw, sign(raw, content_type=content_type))
    assert 400 <= status < 500 or (status == 200 and text == ""), (raw[:40], status)
    assert status != 401  # the signature over the exact bytes (UTF-8 or not) was accepted; the body was not
    assert errors(caplog) == []


def odd_payloads() -> dict[str, tuple[bytes, str]]:
    """Signed, well-formed JSON of surprising shapes, each carrying ``MARK`` somewhere."""
    ev = lambda event: (json.dumps(event_envelope(event)).encode(), JSON)
    pay = lambda p: (payload_body(p), FORM)
    user = {"id": "U0000042", "team_id": TEAM}
    return {
        "message without user or channel": ev({"type": "message", "channel_type": "im", "text": MARK}),
        "message with a list for a channel": ev(
            {"type": "message", "channel_type": "im", "user": "U0000042", "channel": [MARK], "text": MARK}
        ),
        "mention with a number for a channel": ev(
            {"type": "app_mention", "user": "U0000042", "channel": 5, "text": MARK}
        ),
        "mention with a dict for a user": ev(
            {"type": "app_mention", "user": {"id": MARK}, "channel": "C1", "text": MARK}
        ),
        "unknown event type": ev({"type": "x_" + MARK.lower().replace("-", "_"), "user": [MARK], "channel": {}}),
        "event with odd authorizations": (
            json.dumps(dict(event_envelope({"type": "message", "text": MARK}), authorizations=MARK)).encode(),
            JSON,
        ),
        "block_actions without actions": pay(
            {"type": "block_actions", "user": user, "trigger_id": "t1", "message": {"text": MARK}}
        ),
        "block_actions with empty actions": pay(
            {"type": "block_actions", "user": user, "actions": [], "trigger_id": "t2", "message": {"text": MARK}}
        ),
        "block_actions with a number action": pay(
            {"type": "block_actions", "user": user, "actions": [5], "trigger_id": "t3", "message": {"text": MARK}}
        ),
        "block_actions without user": pay(
            {"type": "block_actions", "trigger_id": "t4", "actions": [{"action_id": "x", "value": MARK}]}
        ),
        "block_actions with a string user": pay(
            {"type": "block_actions", "user": MARK, "trigger_id": "t5", "actions": [{"action_id": "x", "value": MARK}]}
        ),
        "view_submission without view": pay({"type": "view_submission", "user": user, "trigger_id": "t6", "x": MARK}),
        "view_submission with a string view": pay(
            {"type": "view_submission", "user": user, "view": MARK, "trigger_id": "t7"}
        ),
        "view_closed with a list view": pay({"type": "view_closed", "user": user, "view": [MARK]}),
        "view_submission with a list container": pay(
            {
                "type": "view_submission",
                "user": user,
                "container": [None],
                "view": {"callback_id": "pb_modal", "title": MARK},
            }
        ),
        "view_submission without a callback_id": pay(
            {"type": "view_submission", "user": user, "trigger_id": "t12", "view": {"id": "V1", "title": MARK}}
        ),
        "shortcut without user": pay({"type": "shortcut", "callback_id": MARK, "trigger_id": "t8"}),
        "shortcut with a number user": pay({"type": "shortcut", "user": 7, "callback_id": MARK, "trigger_id": "t9"}),
        "block_suggestion": pay({"type": "block_suggestion", "user": user, "value": MARK, "action_id": MARK}),
        "unknown payload type": pay({"type": "x", "user": user, "callback_id": MARK, "value": MARK}),
        "slash command without user_id": (form({"command": "/policy", "text": MARK, "trigger_id": "t10"}), FORM),
        "slash command with user_id but no text": (
            form({"command": "/policy", "user_id": "U0000042", "trigger_id": "t11", "x": MARK}),
            FORM,
        ),
    }


ODD = odd_payloads()


@pytest.mark.parametrize("name", ODD)
async def test_signed_odd_payloads_never_get_500_nor_log_their_content(server, fake_slack, caplog, name):
    caplog.set_level(logging.DEBUG)
    raw, content_type = ODD[name]
    status, _ = await post(server, raw, sign(raw, content_type=content_type))
    assert status < 500
    await fake_slack.settle(0.2)
    assert MARK not in logged(caplog)
    assert MARK.lower().replace("-", "_") not in logged(caplog)
    assert errors(caplog) == []


async def test_a_failure_inside_bolt_is_answered_without_500_or_content(server, caplog, monkeypatch):
    """Whatever Bolt's dispatcher raises or answers with 5xx, Slack gets no 500 and the log line names only
    the request type."""
    from slack_bolt.response import BoltResponse

    caplog.set_level(logging.DEBUG)
    bolt = slack_of(server).bolt
    raw = json.dumps(message_im_event(QUESTION)).encode()

    async def explode(req):
        raise RuntimeError(MARK)

    monkeypatch.setattr(bolt, "async_dispatch", explode)
    status, _ = await post(server, raw, sign(raw))
    assert status in (200, 400)

    async def five_hundred(req):
        return BoltResponse(status=500, body=MARK)

    monkeypatch.setattr(bolt, "async_dispatch", five_hundred)
    status, text = await post(server, raw, sign(raw))
    assert status in (200, 400) and MARK not in text
    assert MARK not in logged(caplog)
    assert any("event_callback" in r.getMessage() for r in caplog.records if r.name.startswith("policybot.slack"))


async def test_a_slash_command_mentioning_payload_is_still_answered(server, fake_slack):
    """A command whose text contains the word "payload" is a command, not an interactivity body."""
    raw = slash_command("what is a payload?", fake_slack.response_url("cmd")).encode()
    status, _ = await post(server, raw, sign(raw, content_type=FORM))
    assert status == 200
    (reply,) = await fake_slack.wait_for("response_url", timeout=5)
    assert reply.params["response_type"] == "ephemeral"


async def test_signed_events_and_commands_still_work_after_the_checks(server, fake_slack):
    raw = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "legacy"}).encode()
    status, text = await post(server, raw, sign(raw))
    assert status == 200 and "abc123" in text
    raw = json.dumps(message_im_event(QUESTION)).encode()
    assert (await post(server, raw, sign(raw)))[0] == 200
    await fake_slack.wait_for("chat.postMessage")
    non_ascii = json.dumps(message_im_event("Puis-je publier des photos? é ü 日本"), ensure_ascii=False).encode()
    assert (await post(server, non_ascii, sign(non_ascii)))[0] == 200
    await fake_slack.wait_for("chat.postMessage", 2)
    raw = json.dumps(message_im_event(QUESTION)).encode()
    assert (await post(server, raw, sign(raw, content_type="application/json; charset=utf-8")))[0] == 200
    await fake_slack.wait_for("chat.postMessage", 3)


# -- D10: request age, whole seconds, both directions --------------------------------------------------------


async def test_request_age_is_checked_in_whole_seconds_in_both_directions(server, fake_slack):
    """Accepted while ``|now - ts| < 300`` with ``now`` the clock's whole seconds: +/-299 pass, +/-300 and
    beyond get 401, whatever the fraction of the current second."""
    channel = slack_of(server)
    now = int(time.time())
    for fraction in (0.0, 0.5, 0.999):
        channel.clock = lambda f=fraction: now + f
        for offset, expected in ((299, 200), (-299, 200), (300, 401), (-300, 401), (301, 401), (-301, 401)):
            raw = json.dumps(message_im_event(QUESTION)).encode()
            status, _ = await post(server, raw, sign(raw, now + offset))
            assert status == expected, (fraction, offset)
    channel.clock = lambda: now + 10_000.0  # the injected clock decides, not the wall clock
    raw = json.dumps(message_im_event(QUESTION)).encode()
    assert (await post(server, raw, sign(raw, now)))[0] == 401
    assert (await post(server, raw, sign(raw, now + 10_000 - 299)))[0] == 200


# -- D6: replays of interactive requests ------------------------------------------------------------------


async def test_a_replayed_slash_command_is_answered_once(server, fake_slack):
    raw = slash_command(QUESTION, fake_slack.response_url("cmd")).encode()
    headers = sign(raw, content_type=FORM)
    statuses = [(await post(server, raw, headers))[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    await fake_slack.wait_for("response_url")
    await fake_slack.settle(0.4)
    assert len(fake_slack.calls_to("response_url")) == 1


async def test_a_replayed_button_press_has_one_effect(report_server, fake_slack):
    srv, fake = report_server, fake_slack
    await srv.event(message_im_event(REPORT_QUESTION, user=ALICE, channel=ALICE_DM))
    (answer,) = await fake.wait_for("chat.postMessage")
    raw = payload_body(press(answer, "Report a concern", user=ALICE, response_url=fake.response_url("ans")))
    headers = sign(raw, content_type=FORM)
    replies = [await post(srv, raw, headers) for _ in range(3)]
    assert [s for s, _ in replies] == [200, 200, 200] and replies[1][1] == replies[2][1] == ""
    await fake.wait_for("chat.postMessage", 3)  # the answer, then the report's intro and its first question
    await fake.settle(0.5)
    assert len(fake.calls_to("chat.postMessage")) == 3
    assert len(fake.calls_to("response_url")) == 1  # the button marked as chosen once


async def _three_times(srv, fake, raw: str, posts_after: int) -> None:
    """Send the signed form body ``raw`` three times; then exactly ``posts_after`` messages were posted."""
    headers = sign(raw, content_type=FORM)
    for _ in range(3):
        assert (await post(srv, raw, headers))[0] == 200
    await fake.wait_for("chat.postMessage", posts_after)
    await fake.settle(0.4)
    assert len(fake.calls_to("chat.postMessage")) == posts_after


async def test_replayed_shortcut_and_modal_submission_have_one_effect(report_server, fake_slack):
    from adapters.slack import input_modal

    await _three_times(report_server, fake_slack, payload_body(global_shortcut(user=ALICE)), 2)
    view = dict(input_modal("What happened?", ALICE_DM), id="V0000001")
    await _three_times(
        report_server, fake_slack, payload_body(view_submission(view, "Something happened", user=ALICE)), 3
    )


async def test_distinct_presses_of_the_same_button_are_each_processed(server, fake_slack, fake_bot):
    """De-duplication is by ``trigger_id``: two real presses (two trigger ids) are two votes."""
    await server.event(message_im_event(QUESTION))
    (answer,) = await fake_slack.wait_for("chat.postMessage")
    for name in ("v1", "v2"):
        raw = payload_body(press(answer, "Helpful", response_url=fake_slack.response_url(name)))
        assert (await post(server, raw, sign(raw, content_type=FORM)))[0] == 200
    await fake_slack.wait_for("response_url", 2)
    # a payload without a trigger_id is keyed by its action_ts (and user, action, message, value)
    action = block_actions(
        "pb_feedback_helpful", json.dumps({"q": QUESTION, "c": []}), response_url=fake_slack.response_url("v3")
    )
    del action["trigger_id"]
    raw = payload_body(action)
    headers = sign(raw, content_type=FORM)
    for _ in range(2):
        assert (await post(server, raw, headers))[0] == 200
    await fake_slack.wait_for("response_url", 3)
    await fake_slack.settle(0.4)
    assert len(fake_slack.calls_to("response_url")) == 3


# -- D9: Bolt's own log lines --------------------------------------------------------------------------------


async def test_an_unhandled_request_is_logged_by_its_type_only(server, caplog):
    caplog.set_level(logging.DEBUG)
    for p in (
        {
            "type": "interactive_message",
            "callback_id": MARK,
            "user": {"id": "U0000042"},
            "actions": [{"name": MARK, "value": MARK}],
            "trigger_id": "tu1",
        },
        {"type": "dialog_submission", "callback_id": MARK, "submission": {"why": MARK}, "user": {"id": "U0000042"}},
        {"type": "block_suggestion", "action_id": MARK, "block_id": MARK, "value": MARK, "user": {"id": "U0000042"}},
        {"type": "x_" + MARK.lower().replace("-", "_"), "callback_id": MARK, "user": {"id": "U0000042"}},
    ):
        raw = payload_body(p)
        status, _ = await post(server, raw, sign(raw, content_type=FORM))
        assert status < 500
    assert MARK not in logged(caplog)


async def test_bolt_unhandled_warning_is_replaced_by_a_line_with_the_type(server, caplog):
    """Bolt's dispatcher itself, given a request no listener takes: one line, the request type, no fields."""
    from slack_bolt.request.async_request import AsyncBoltRequest

    caplog.set_level(logging.DEBUG)
    p = {
        "type": "block_suggestion",
        "action_id": MARK,
        "block_id": MARK,
        "value": MARK,
        "user": {"id": "U0000042"},
        "team": {"id": TEAM},
    }
    raw = interactive(p)
    req = AsyncBoltRequest(body=raw, headers=sign(raw.encode(), content_type=FORM))
    await slack_of(server).bolt.async_dispatch(req)
    assert MARK not in logged(caplog)
    lines = [r.getMessage() for r in caplog.records if "nhandled" in r.getMessage()]
    assert lines and all("block_suggestion" in line for line in lines)
