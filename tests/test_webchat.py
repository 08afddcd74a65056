"""The web chat on ``policybot serve``: the page, the three sign-in modes, request checks, answers with
quotes, the report flow through the JSON API, the handler's inbox and feedback.

Each test runs the real aiohttp server in-process on 127.0.0.1 (port 0) and talks to it with a real
aiohttp client, as the page does.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from pathlib import Path

import aiohttp
import pytest
from test_report_support import FLOW, RECEIPT_RE, WHAT, make_engine
from webchat_support import BASE_ENV, WebChatServer

from adapters.server import ConfigError, ServerSettings, build_app
from adapters.webchat import (
    COOKIE,
    MAX_BODY,
    MIN_SECRET_CHARS,
    new_anonymous_id,
    sign_session,
    verify_session,
    webchat_settings,
)
from bot.engine import ConversationEngine
from bot.login_throttle import MAX_LOGIN_FAILURES

ROOT = Path(__file__).resolve().parent.parent
POLICIES = ROOT / "knowledge" / "policies"
CLI = [sys.executable, "-m", "adapters.cli"]
SECRET = "correct-horse-battery-staple-42"
HEADER = "X-Forwarded-User"


def policy_text() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted(POLICIES.glob("*.txt")))


# ---- the page ---------------------------------------------------------------------------------------
async def test_page_and_static_files_with_security_headers(fake_bot):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        page = await c.get("/")
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        csp = page.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp
        assert page.headers["X-Frame-Options"] == "DENY"
        assert page.headers["X-Content-Type-Options"] == "nosniff"
        assert page.headers["Referrer-Policy"] == "no-referrer"
        assert page.headers["Cache-Control"] == "no-store"
        assert '<label for="message">' in page.text and 'aria-live="polite"' in page.text
        assert '<html lang="en-GB">' in page.text and "/chat/static/app.js" in page.text
        js = await c.get("/chat/static/app.js")
        assert js.status == 200 and js.headers["Content-Type"].startswith("text/javascript")
        assert js.headers["X-Content-Type-Options"] == "nosniff"
        assert "innerHTML" not in js.text.replace("never innerHTML", "")  # text goes in with textContent
        css = await c.get("/chat/static/style.css")
        assert css.status == 200 and css.headers["Content-Type"].startswith("text/css")
        base = await c.get("/chat/static/base.css")  # shared with the admin console's page
        assert base.status == 200 and "--focus" in base.text and "/chat/static/base.css" in page.text
        assert (await c.get("/chat/static/../webchat.py")).status == 404
        assert (await c.get("/chat/static/secret.txt")).status == 404
        assert "webchat" in srv.channel_names


async def test_api_answers_are_never_cached(fake_bot):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        me = await c.get("/chat/api/me")
        assert me.status == 200 and me.headers["Cache-Control"] == "no-store"
        assert me.headers["Content-Type"].startswith("application/json")
        cookie = me.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie


# ---- loopback mode ----------------------------------------------------------------------------------
async def test_loopback_mode_is_open_without_sign_in(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        c = srv.client()
        me = (await c.get("/chat/api/me")).json()
        assert me["mode"] == "loopback" and me["anonymous"] and me["can_switch"] and me["user_id"].startswith("web:")
        assert {"id": "alice", "name": "Alice Adams"} in me["people"] and me["reporting"] is True
        # the same anonymous id on the next request (the cookie), a new one for another browser
        assert (await c.get("/chat/api/me")).json()["user_id"] == me["user_id"]
        assert (await srv.client().get("/chat/api/me")).json()["user_id"] != me["user_id"]
        start = await c.post("/chat/api/start")
        assert start.status == 200 and "friend request" in start.json()["messages"][0]["text"]
        assert "Sign in as" in start.json()["messages"][0]["text"]
        # an anonymous person can ask but not report
        (msg,) = await c.say("report")
        assert "staff directory" in msg["text"]
        # "Sign in as" only a directory person
        assert (await c.post("/chat/api/identity", {"user_id": "mallory"})).status == 400
        await c.sign_in_as("alice")
        me = (await c.get("/chat/api/me")).json()
        assert me["user_id"] == "alice" and me["name"] == "Alice Adams" and not me["anonymous"]
        await c.post("/chat/api/identity", {"user_id": ""})
        assert (await c.get("/chat/api/me")).json()["anonymous"]


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "evil.example"},
        {"Host": "evil.example:3978"},
        {"Host": "127.0.0.1.evil.example"},
        {"X-Forwarded-For": "203.0.113.9"},
        {"Forwarded": "for=203.0.113.9"},
        {"X-Real-IP": "203.0.113.9"},
        {"X-Forwarded-Host": "chat.example.org"},
    ],
)
async def test_loopback_mode_refuses_other_hosts_and_proxies(fake_bot, headers):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        assert (await c.get("/")).status == 200
        assert (await c.get("/", headers=headers)).status == 403
        assert (await c.get("/chat/static/app.js", headers=headers)).status == 403
        r = await c.get("/chat/api/me", headers=headers)
        assert r.status == 403 and "error" in r.json() and COOKIE not in r.cookies
        r = await c.post("/chat/api/message", {"text": "hello"}, headers=headers)
        assert r.status == 403


async def test_loopback_mode_accepts_local_names(fake_bot):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        port = srv.url.rsplit(":", 1)[1]
        c = srv.client()
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost", f"[::1]:{port}"):
            assert (await c.get("/", headers={"Host": host})).status == 200, host


async def test_not_on_loopback_and_nothing_configured_the_web_chat_is_off(fake_bot):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False), host="0.0.0.0") as srv:
        c = srv.client()
        assert (await c.get("/")).status == 404
        assert (await c.get("/chat/static/app.js")).status == 404
        assert (await c.get("/chat/api/me")).status == 404
        assert (await c.post("/chat/api/message", {"text": "hi"})).status == 404
        assert "webchat" not in (await c.get("/healthz")).json()["channels"]


async def test_the_switch_turns_it_off_even_on_loopback(fake_bot):
    env = {"POLICYBOT_WEBCHAT": "off", "POLICYBOT_WEBCHAT_SECRET": SECRET}
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False), env=env) as srv:
        assert (await srv.client().get("/")).status == 404 and srv.channel_names == []


def test_settings_choose_the_mode():
    assert webchat_settings({}, "127.0.0.1")[0].mode == "loopback"
    assert webchat_settings({}, "localhost")[0].mode == "loopback"
    assert webchat_settings({}, "::1")[0].mode == "loopback"
    for host in ("0.0.0.0", "::", "", "192.168.1.10", "policybot.example.org"):
        settings, why = webchat_settings({}, host)
        assert settings is None and "POLICYBOT_WEBCHAT_SECRET" in why
    assert webchat_settings({"POLICYBOT_WEBCHAT_SECRET": SECRET}, "0.0.0.0")[0].mode == "secret"
    s = webchat_settings({"POLICYBOT_WEBCHAT_SECRET": SECRET, "POLICYBOT_WEBCHAT_IDENTITY_HEADER": HEADER}, "0.0.0.0")
    assert s[0].mode == "header" and s[0].header == HEADER and "ignored" in s[1]
    assert webchat_settings({"POLICYBOT_WEBCHAT": "off"}, "127.0.0.1")[0] is None


@pytest.mark.parametrize(
    "env,needle",
    [
        ({"POLICYBOT_WEBCHAT_SECRET": "x" * (MIN_SECRET_CHARS - 1)}, f"at least {MIN_SECRET_CHARS} characters"),
        ({"POLICYBOT_WEBCHAT_SECRET": "short"}, "POLICYBOT_WEBCHAT_SECRET"),
        ({"POLICYBOT_WEBCHAT_IDENTITY_HEADER": "X-User: alice"}, "HTTP header name"),
        ({"POLICYBOT_WEBCHAT_IDENTITY_HEADER": "X-Üser"}, "HTTP header name"),
    ],
)
def test_bad_sign_in_configuration_is_refused(fake_bot, env, needle):
    with pytest.raises(ConfigError) as info:
        webchat_settings(env, "0.0.0.0")
    assert needle in str(info.value)
    with pytest.raises(ConfigError):
        build_app(fake_bot, ConversationEngine(fake_bot, reporting=False), ServerSettings(env=dict(BASE_ENV, **env)))


def test_serve_refuses_a_short_secret(tmp_path):
    import subprocess

    env = dict(
        os.environ, POLICYBOT_DATA_DIR=str(tmp_path), POLICYBOT_FAKE_EMBEDDER="1", POLICYBOT_WEBCHAT_SECRET="too-short"
    )
    p = subprocess.run(CLI + ["serve", "--port", "0"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 2
    assert b"POLICYBOT_WEBCHAT_SECRET must be at least" in p.stderr and b"Traceback" not in p.stderr


# ---- secret mode -----------------------------------------------------------------------------------
def secret_server(bot, engine=None, host="0.0.0.0"):
    return WebChatServer(
        bot, engine or ConversationEngine(bot, reporting=False), env={"POLICYBOT_WEBCHAT_SECRET": SECRET}, host=host
    )


async def test_secret_mode_needs_the_access_code(fake_bot):
    async with secret_server(fake_bot, make_engine(fake_bot)) as srv:
        c = srv.client()
        assert (await c.get("/")).status == 200  # the page itself is public; it shows the sign-in form
        r = await c.get("/chat/api/me")
        assert r.status == 401 and r.json()["login"] == "secret"
        assert (await c.post("/chat/api/message", {"text": "hi"})).status == 401
        assert (await c.post("/chat/api/identity", {"user_id": "alice"})).status == 401
        r = await c.post("/chat/api/login", {"secret": SECRET + "x"})
        assert r.status == 401 and r.json()["error"] and COOKIE not in r.cookies
        r = await c.post("/chat/api/login", {"secret": SECRET})
        assert r.status == 200 and COOKIE in r.cookies and "HttpOnly" in r.headers["Set-Cookie"]
        me = (await c.get("/chat/api/me")).json()
        assert me["mode"] == "secret" and me["anonymous"] and not me["can_switch"] and me["people"] == []
        assert (await c.post("/chat/api/identity", {"user_id": "alice"})).status == 403  # no switching here
        start = (await c.post("/chat/api/start")).json()["messages"][0]["text"]
        assert "type `report`" not in start and "HR" in start
        (msg,) = await c.say("Can I post pictures of service users?")
        assert msg["kind"] == "answer" and msg["quotes"]
        assert (await c.post("/chat/api/logout")).status == 200
        assert (await c.get("/chat/api/me")).status == 401


async def test_secret_mode_locks_out_after_repeated_failures(fake_bot):
    async with secret_server(fake_bot) as srv:
        c = srv.client()
        for _ in range(MAX_LOGIN_FAILURES):
            assert (await c.post("/chat/api/login", {"secret": "wrong-code-wrong-code"})).status == 401
        r = await c.post("/chat/api/login", {"secret": SECRET})  # even the right code, for now
        assert r.status == 429 and "wait" in r.json()["error"] and COOKIE not in r.cookies


async def test_concurrent_guesses_cannot_slip_past_the_lockout(fake_bot):
    async with secret_server(fake_bot) as srv:
        c = srv.client()
        replies = await asyncio.gather(
            *[c.post("/chat/api/login", {"secret": f"guess-{i:020d}"}) for i in range(3 * MAX_LOGIN_FAILURES)]
        )
        statuses = [r.status for r in replies]
        assert statuses.count(401) == MAX_LOGIN_FAILURES and statuses.count(429) == 2 * MAX_LOGIN_FAILURES


async def test_secret_mode_cookie_is_signed(fake_bot):
    async with secret_server(fake_bot) as srv:
        c = srv.client()
        assert (await c.post("/chat/api/login", {"secret": SECRET})).status == 200
        good = c.cookie()
        user = (await c.get("/chat/api/me")).json()["user_id"]

        async def me_with(value: str) -> int:
            async with aiohttp.ClientSession() as s:  # no jar: exactly this cookie
                async with s.get(srv.url + "/chat/api/me", headers={"Cookie": f"{COOKIE}={value}"}) as r:
                    return r.status

        assert await me_with(good) == 200
        payload, stamp, mac = good.split(".")
        forged = base64.urlsafe_b64encode(json.dumps("alice").encode()).decode().rstrip("=")
        assert await me_with(f"{forged}.{stamp}.{mac}") == 401  # another user id under the old signature
        flipped = mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1]
        assert await me_with(f"{payload}.{stamp}.{flipped}") == 401
        assert await me_with(sign_session(b"k" * 32, user)) == 401  # signed with another key
        assert await me_with("garbage") == 401 and await me_with(f"{good}.x") == 401


def test_session_signatures_expire_and_resist_tampering():
    key = b"0123456789abcdef0123456789abcdef"
    user = new_anonymous_id()
    assert user.startswith("web:") and len(user) == 20
    value = sign_session(key, user, now=2_000_000_000)
    assert verify_session(key, value, 3600, now=2_000_000_000) == user
    assert verify_session(key, value, 3600, now=2_000_003_600) == user  # the last second of its hour
    assert verify_session(key, value, 3600, now=2_000_003_601) is None  # expired
    assert verify_session(key, value, 3600, now=1_999_999_999) is None  # stamped in the future
    assert verify_session(b"x" * 32, value, 3600, now=2_000_000_000) is None
    assert verify_session(key, None, 3600) is None and verify_session(key, "", 3600) is None
    assert verify_session(key, value.replace(".", ".."), 3600, now=2_000_000_000) is None


# ---- header mode (a trusted reverse proxy) ----------------------------------------------------------
async def test_header_mode_takes_the_user_from_the_proxy_header(fake_bot):
    env = {"POLICYBOT_WEBCHAT_IDENTITY_HEADER": HEADER}
    async with WebChatServer(fake_bot, make_engine(fake_bot), env=env, host="0.0.0.0") as srv:
        c = srv.client()
        r = await c.get("/chat/api/me")
        assert r.status == 401 and r.json()["login"] == "proxy"
        assert (await c.post("/chat/api/message", {"text": "hi"})).status == 401
        assert (await c.get("/chat/api/me", headers={HEADER: "   "})).status == 401
        me = (await c.get("/chat/api/me", headers={HEADER: "alice", "X-Forwarded-For": "10.0.0.1"})).json()
        assert (me["user_id"], me["name"], me["anonymous"], me["mode"]) == ("alice", "Alice Adams", False, "header")
        assert not me["can_switch"] and me["people"] == []
        me = (await c.get("/chat/api/me", headers={HEADER: "Bob.Baker@Example.org"})).json()
        assert me["user_id"] == "bob"  # by e-mail, case-insensitively
        me = (await c.get("/chat/api/me", headers={HEADER: "jdoe"})).json()
        assert (me["user_id"], me["name"], me["anonymous"]) == ("web:jdoe", "jdoe", True)
        # the header, not a cookie or a request field, says who is talking
        assert (await c.post("/chat/api/identity", {"user_id": "bob"}, headers={HEADER: "alice"})).status == 403
        msgs = (await c.post("/chat/api/message", {"text": "report"}, headers={HEADER: "alice"})).json()["messages"]
        assert any(m["choices"] and m["choices"][0]["action_id"].startswith("report:") for m in msgs)
        msgs = (await c.post("/chat/api/message", {"text": "report"}, headers={HEADER: "jdoe"})).json()["messages"]
        assert "staff directory" in msgs[0]["text"]


# ---- request checks ---------------------------------------------------------------------------------
async def test_state_changing_requests_must_be_json_from_the_same_origin(fake_bot):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        body = json.dumps({"text": "Can I post pictures of service users?"})
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            headers = {"Content-Type": ctype} if ctype else {}
            r = await c.request("POST", "/chat/api/message", data=body, headers=headers)
            assert r.status == 415 and "JSON" in r.json()["error"], ctype
        own = srv.url
        host = own.split("://")[1]
        cases = [
            ({"Origin": "http://evil.example"}, 403),
            ({"Origin": f"http://{host}.evil.example"}, 403),
            ({"Origin": "null"}, 403),
            ({"Origin": f"ftp://{host}"}, 403),
            ({"Sec-Fetch-Site": "cross-site"}, 403),
            ({"Sec-Fetch-Site": "same-site"}, 403),
            ({"Sec-Fetch-Site": "cross-site", "Origin": own}, 403),
            ({"Origin": own}, 200),
            ({"Sec-Fetch-Site": "same-origin", "Origin": own}, 200),
            ({"Sec-Fetch-Site": "same-origin"}, 200),
            ({}, 200),  # not a browser (curl, a script)
        ]
        for headers, status in cases:
            r = await c.request(
                "POST",
                "/chat/api/message",
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8", **headers},
            )
            assert r.status == status, (headers, r.text)
            if status == 403:
                assert "Cross-site" in r.json()["error"]
        for path in ("/chat/api/identity", "/chat/api/start", "/chat/api/feedback", "/chat/api/logout"):
            r = await c.request(
                "POST", path, data="{}", headers={"Content-Type": "application/json", "Origin": "http://evil.example"}
            )
            assert r.status in (403, 404), path
        assert (await c.get("/chat/api/message")).status == 405


async def test_oversized_and_malformed_bodies_get_clear_errors(fake_bot):
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        big = json.dumps({"text": "x" * (MAX_BODY + 10)})
        r = await c.request("POST", "/chat/api/message", data=big, headers={"Content-Type": "application/json"})
        assert r.status == 413 and "too large" in r.json()["error"]

        async def chunks(data: bytes, size: int, pause: float = 0.0):
            for i in range(0, len(data), size):
                yield data[i : i + size]
                if pause:
                    await asyncio.sleep(pause)

        # no Content-Length (chunked): counted while reading
        r = await c.request(
            "POST", "/chat/api/message", data=chunks(big.encode(), 8192), headers={"Content-Type": "application/json"}
        )
        assert r.status == 413
        # a body that arrives in several pieces is read whole
        slow = json.dumps({"text": "Can I post pictures of service users?", "pad": "y" * 30_000}).encode()
        r = await c.request(
            "POST",
            "/chat/api/message",
            data=chunks(slow, 4096, pause=0.01),
            headers={"Content-Type": "application/json"},
        )
        assert r.status == 200 and r.json()["messages"][0]["kind"] == "answer"
        for raw, needle in [
            (b"{not json", "not valid JSON"),
            (b'{"text": "caf\xe9"}', "not valid JSON"),
            (b'["a list"]', "JSON object"),
            (b'"text"', "JSON object"),
            (b'{"text": "\\ud800"}', "not valid text"),
            (b'{"nothing": 1}', "Send {"),
            (b'{"text": 12}', "Send {"),
            (b'{"action_id": "report:start", "value": 3}', "button"),
            (b'{"action_id": 7}', "button"),
        ]:
            r = await c.request("POST", "/chat/api/message", data=raw, headers={"Content-Type": "application/json"})
            assert r.status == 400 and needle in r.json()["error"], raw
        # empty and over-long questions: the engine's own one-line answers
        (msg,) = await c.say("   ")
        assert msg["kind"] == "error" and "Please type a question" in msg["text"]
        (msg,) = await c.say("y" * 4001)
        assert msg["kind"] == "error" and "4,000" in msg["text"]


# ---- answers ----------------------------------------------------------------------------------------
async def test_a_question_gets_verbatim_quotes_with_citations(fake_bot):
    question = "Can I post pictures of service users?"
    expected = fake_bot.ask(question)
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        (msg,) = await c.say(question)
    assert msg["kind"] == "answer" and len(msg["quotes"]) == len(expected.quotes) >= 1
    source = policy_text()
    for q, want in zip(msg["quotes"], expected.quotes):
        assert q["text"] == want.text and q["text"] in source  # word for word from the policy
        assert q["citation"] == want.citation.label() and q["organisation"] == want.citation.organisation
        assert q["document"] == want.citation.document and q["clause_id"] == want.clause_id
    first = msg["quotes"][0]
    assert first["text"].startswith("Never post pictures of service users")
    assert first["citation"].startswith("Westmorland & Furness Care Services")
    assert msg["feedback"] == {"question": question, "clause_ids": [q.clause_id for q in expected.quotes]}


async def test_a_question_with_no_guidance_says_so(fake_bot):
    question = "how do I bake sourdough bread?"
    assert not fake_bot.ask(question).answered
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        (msg,) = await c.say(question)
    assert msg["kind"] == "no_answer" and msg["quotes"] == [] and "line manager" in msg["text"]
    assert msg["feedback"] == {"question": question, "clause_ids": []}


async def test_feedback_is_recorded(fake_bot):
    question = "Can I post pictures of service users?"
    async with WebChatServer(fake_bot, ConversationEngine(fake_bot, reporting=False)) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        (msg,) = await c.say(question)
        fb = msg["feedback"]
        r = await c.post("/chat/api/feedback", {"helpful": True, **fb})
        assert r.status == 200 and r.json()["ok"]
        assert fake_bot.gaps.groups() == []  # a Helpful vote keeps nothing
        r = await c.post("/chat/api/feedback", {"helpful": False, **fb})
        assert r.status == 200 and "HR" in r.json()["text"]
        for bad in (
            {"helpful": "no", **fb},
            {"helpful": False, "question": "", "clause_ids": []},
            {"helpful": False, "question": question, "clause_ids": "wfcs:018"},
            {"helpful": False, "question": question, "clause_ids": [1, 2]},
        ):
            assert (await c.post("/chat/api/feedback", bad)).status == 400, bad
    (group,) = fake_bot.gaps.groups()
    assert group.question == question and group.not_helpful == 1 and group.users == 0


# ---- the report flow --------------------------------------------------------------------------------
def receipt_of(messages: list[dict]) -> str:
    for m in messages:
        found = RECEIPT_RE.search(m["text"])
        if found:
            return found.group(0)
    raise AssertionError(f"no receipt in {[m['text'] for m in messages]}")


async def test_whole_report_flow_ends_with_a_receipt_and_the_handler_is_told(fake_bot):
    engine = make_engine(fake_bot)
    async with WebChatServer(fake_bot, engine) as srv:
        alice, bob = srv.client(), srv.client()
        await alice.sign_in_as("alice")
        await bob.sign_in_as("bob")
        start = (await alice.post("/chat/api/start")).json()["messages"]
        assert "type `report`" in start[0]["text"]
        replies = [await alice.say(answer) for answer in FLOW]
        steps = [[m for m in r if m["kind"] == "prompt"] for r in replies[:-1]]
        assert all(steps), [r[-1]["text"] for r in replies]
        assert any(c["action_id"].startswith("report:") for c in steps[0][-1]["choices"])  # buttons offered
        receipt = receipt_of(replies[-1])
        assert engine.reporting.cases.load_draft("alice") is None
        assert all(m.get("kind") != "notification" for r in replies for m in r)  # bob's message is not alice's
        # bob's page polls its inbox and finds the notification, with the case actions
        inbox = (await bob.get("/chat/api/inbox")).json()["messages"]
        (note,) = [m for m in inbox if m["kind"] == "notification"]
        assert WHAT in note["text"] and "Alice" not in note["text"]  # reported confidentially
        assert [c["action_id"] for c in note["choices"]] == ["case:ack", "case:ask", "case:close"]
        assert (await bob.get("/chat/api/inbox")).json()["messages"] == []  # shown once
        # bob acknowledges with the button; alice is told, on her next poll
        ack = await bob.press("case:ack", note["choices"][0]["value"])
        assert ack and all(m["kind"] != "error" for m in ack)
        await asyncio.sleep(0)
        for _ in range(100):
            update = (await alice.get("/chat/api/inbox")).json()["messages"]
            if update:
                break
            await asyncio.sleep(0.02)
        assert update and "acknowledged" in " ".join(m["text"] for m in update).lower()
        (status,) = await alice.say(f"status {receipt}")
        assert "acknowledged" in status["text"].lower()
        # nobody else learns anything from the receipt
        (other,) = await bob.say(f"status {receipt}")
        assert WHAT not in other["text"]


async def test_an_unfinished_report_continues_when_the_page_reopens(fake_bot):
    async with WebChatServer(fake_bot, make_engine(fake_bot)) as srv:
        alice = srv.client()
        await alice.sign_in_as("alice")
        for answer in FLOW[:3]:
            await alice.say(answer)
        msgs = (await alice.post("/chat/api/start")).json()["messages"]
        assert any(m["kind"] == "prompt" for m in msgs[1:])


# ---- `policybot serve` ------------------------------------------------------------------------------
async def test_serve_prints_the_web_chat_url_and_serves_the_page(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "POLICYBOT_WEBCHAT"))}
    env.update(POLICYBOT_DATA_DIR=str(tmp_path), POLICYBOT_FAKE_EMBEDDER="1", POLICYBOT_TEAMS="off")
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", "0", "--dev", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("policybot serving on http://127.0.0.1:") and "webchat" in line
        url = line.split()[3]
        assert f"web chat: {url}/" in line and f"admin console: {url}/admin/" in line
        async with aiohttp.ClientSession() as s:
            async with s.get(url + "/") as r:
                assert r.status == 200 and "Policybot" in await r.text()
            async with s.get(url + "/admin/") as r:
                assert r.status == 200 and "Policybot admin" in await r.text()
            for _ in range(1500):
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.02)
            assert r.status == 200
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_an_outbox_that_cannot_be_read_is_a_503_on_the_poll_and_nothing_is_lost(fake_bot, monkeypatch):
    """A failed read used to look like an empty inbox; now the page is told to retry and the message waits."""
    import sqlite3

    engine = make_engine(fake_bot)
    async with WebChatServer(fake_bot, engine) as srv:
        alice, bob = srv.client(), srv.client()
        await alice.sign_in_as("alice")
        await bob.sign_in_as("bob")
        for answer in FLOW:
            await alice.say(answer)
        real = engine.take_pending

        def locked(user_id):
            raise sqlite3.OperationalError("database is locked")

        monkeypatch.setattr(engine, "take_pending", locked)
        r = await bob.get("/chat/api/inbox")
        assert r.status == 503 and r.headers.get("Retry-After") == "5" and "messages" not in r.json()
        monkeypatch.setattr(engine, "take_pending", real)
        inbox = (await bob.get("/chat/api/inbox")).json()["messages"]
        assert [m["kind"] for m in inbox] == ["notification"] and WHAT in inbox[0]["text"]
