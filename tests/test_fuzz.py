"""Bounded fuzz test of the HTTP routes: no input, forged or malformed, makes the server answer 5xx.

One real server (``adapters.server.build_app``: Slack with a signing secret against the fake Slack API,
Teams in Emulator mode against the fake Bot Connector, the web chat in open loopback mode, reporting in
dev mode) runs on a loopback port in a background thread. Hypothesis generates a few hundred requests per
route, derandomised so a failure reproduces: unsigned and validly signed Slack bodies (Events API
envelopes, slash commands, interactivity payloads shaped like real ones with fields of the wrong type),
Bot Framework activities (messages, card submits, invokes, conversation updates, odd ``serviceUrl``s),
and web chat API bodies with and without a session. Every answer must be below 500.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
import time
import urllib.parse

import pytest
from fakes.bot_connector import FakeBotConnector
from fakes.harness import SECRET, TOKEN
from fakes.slack_api import FakeSlackAPI, signed_headers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 150  #: per test; about a second of requests each on 2 cores
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

ACTION_IDS = [
    "report:start",
    "report:handler",
    "report:when",
    "report:submit",
    "report:identity",
    "report:cancel",
    "report:edit",
    "report:category",
    "case:ack",
    "case:ask",
    "case:close",
    "case:reply",
    "kb:edit",
    "kb:save_details",
    "kb:publish",
    "kb:cancel",
    "pb_feedback_helpful",
    "pb_feedback_not_helpful",
    "pb_f",
    "pb_text",
    "x",
]
CALLBACKS = ["pb_modal", "pb_input_modal", "pb_done", "pb_form", "x", ""]

scalars = st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    scalars,
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=10), kids, max_size=3),
    max_leaves=12,
)
texts = st.sampled_from(
    [
        "report a concern",
        "help",
        "status R-0000-0000-0000-0000",
        "cancel",
        "hi",
        "kb list",
        "Can I accept a friend request from a pupil?",
        "",
        "yes",
        "1",
    ]
) | st.text(max_size=60)
ids = st.sampled_from(["U0000042", "U0000043", "D0000042", "C0000001", "alice", "bob", "hana"]) | json_values


def maybe(strategy):
    """``strategy``, or a value of the wrong type, or nothing (the key left out: see ``shaped``)."""
    return st.one_of(strategy, json_values)


def shaped(required: dict, optional: dict):
    return st.fixed_dictionaries(
        {k: maybe(v) for k, v in required.items()}, optional={k: maybe(v) for k, v in optional.items()}
    )


# -- the server, in its own thread --------------------------------------------------------------------


class LiveServer:
    """The server under test and its fakes on loopback ports, in a background event loop."""

    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def call(self, coro, timeout: float = 120):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def start(self) -> LiveServer:
        self.thread.start()
        self.call(self._start())
        for _ in range(3000):
            if self.request("GET", "/healthz")[0] == 200:
                return self
            time.sleep(0.02)
        raise TimeoutError("server never became ready")

    async def _start(self) -> None:
        from fakes.loopback import serve_on_loopback

        from adapters.server import ServerSettings, build_app, make_engine
        from bot.app import open_policybot
        from index.embed import FakeEmbedder

        self.slack = await FakeSlackAPI().start()
        self.connector = await FakeBotConnector().start()
        pb = open_policybot(self.data_dir, embedder=FakeEmbedder())
        env = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": self.slack.api_url}
        app = build_app(pb, make_engine(pb, dev=True), ServerSettings(host="127.0.0.1", port=0, env=env))
        self.runner, self.port = await serve_on_loopback(app)

    def request(self, method: str, path: str, body: bytes = b"", headers: dict | None = None) -> tuple[int, bytes]:
        """One request on a new connection; ``(status, body)``."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.putrequest(method, path, skip_accept_encoding=True)
            for name, value in (headers or {}).items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body)
            resp = conn.getresponse()
            return resp.status, resp.read()
        finally:
            conn.close()

    def stop(self) -> None:
        async def _stop():
            await self.runner.cleanup()
            await self.slack.stop()
            await self.connector.stop()

        self.call(_stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("fuzz") / "data").start()
    yield server
    server.stop()


def assert_no_5xx(status: int, what) -> None:
    assert 100 <= status < 500, f"{status} for {what!r}"


# -- Slack ----------------------------------------------------------------------------------------

events = shaped(
    {"type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited", "x"])},
    {
        "token": st.text(max_size=5),
        "team_id": ids,
        "api_app_id": ids,
        "challenge": st.text(max_size=20),
        "event_id": st.text(min_size=1, max_size=12),
        "event_time": st.integers(0, 2**34),
        "authorizations": json_values,
        "event": shaped(
            {
                "type": st.sampled_from(
                    [
                        "message",
                        "app_mention",
                        "app_home_opened",
                        "member_joined_channel",
                        "file_shared",
                        "reaction_added",
                        "x",
                    ]
                )
            },
            {
                "user": ids,
                "channel": ids,
                "text": texts,
                "ts": st.sampled_from(["1700000000.000100", "x", ""]),
                "channel_type": st.sampled_from(["im", "channel", "group", "mpim", "app_home"]),
                "subtype": st.sampled_from(["bot_message", "message_changed", "file_share", "thread_broadcast"]),
                "thread_ts": st.sampled_from(["1700000000.000100", ""]),
                "bot_id": ids,
                "files": json_values,
                "tab": st.sampled_from(["home", "messages"]),
                "blocks": json_values,
            },
        ),
    },
)
actions = shaped(
    {"action_id": st.sampled_from(ACTION_IDS)},
    {
        "value": st.text(max_size=40) | st.sampled_from(["C-00001", "R-0000-0000-0000-0000", "yes", "no"]),
        "type": st.sampled_from(["button", "static_select", "plain_text_input"]),
        "block_id": st.text(max_size=8),
        "selected_option": json_values,
        "action_ts": st.text(max_size=20),
    },
)
view = shaped(
    {"callback_id": st.sampled_from(CALLBACKS)},
    {
        "id": st.text(max_size=8),
        "private_metadata": st.text(max_size=60) | st.just('{"kind": "report"}'),
        "state": st.fixed_dictionaries(
            {
                "values": st.dictionaries(
                    st.text(max_size=5),
                    st.dictionaries(st.sampled_from(ACTION_IDS), json_values, max_size=2),
                    max_size=3,
                )
            }
        ),
        "blocks": json_values,
    },
)
interactive = shaped(
    {
        "type": st.sampled_from(
            ["block_actions", "view_submission", "view_closed", "shortcut", "message_action", "block_suggestion", "x"]
        )
    },
    {
        "user": st.fixed_dictionaries({"id": ids}),
        "team": st.fixed_dictionaries({"id": ids}),
        "trigger_id": st.text(min_size=1, max_size=12),
        "actions": st.lists(actions, max_size=2),
        "view": view,
        "callback_id": st.sampled_from(CALLBACKS),
        "container": json_values,
        "channel": st.fixed_dictionaries({"id": ids}),
        "message": json_values,
        "response_url": st.just("http://127.0.0.1:9/hook"),
        "api_app_id": ids,
    },
)
commands = st.fixed_dictionaries(
    {"command": st.sampled_from(["/policy", "/report", "/policybot", "/x", ""])},
    optional={
        "text": texts,
        "user_id": st.sampled_from(["U0000042", "U0000043", ""]),
        "channel_id": st.sampled_from(["D0000042", "C0000001", ""]),
        "trigger_id": st.text(max_size=12),
        "team_id": st.text(max_size=8),
        "channel_name": st.sampled_from(["directmessage", "general"]),
        "response_url": st.just("http://127.0.0.1:9/hook"),
    },
)


def _form(fields: dict) -> bytes:
    return urllib.parse.urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}).encode()


slack_bodies = st.one_of(
    events.map(lambda b: (json.dumps(b).encode(), "application/json")),
    interactive.map(lambda p: (_form({"payload": p}), "application/x-www-form-urlencoded")),
    commands.map(lambda c: (_form(c), "application/x-www-form-urlencoded")),
    st.binary(max_size=200).map(lambda b: (b, "application/json")),
    st.sampled_from(
        [
            b"{bad",
            b"payload=x",
            b"[1]",
            b"\xff\xfe",
            b"[" * 5000,
            b"payload=%5B1%5D",
            b"payload=" + urllib.parse.quote('{"type": 5}').encode(),
            b"command=",
            b"",
            b"null",
        ]
    ).map(lambda b: (b, "application/x-www-form-urlencoded")),
)


@FUZZ
@given(slack_bodies)
def test_signed_slack_bodies_never_get_5xx(live, body_and_type):
    body, content_type = body_and_type
    headers = signed_headers(body, SECRET, None, content_type)
    status, _ = live.request("POST", "/slack/events", body, headers)
    assert_no_5xx(status, body[:200])


forged_headers = st.fixed_dictionaries(
    {},
    optional={
        "X-Slack-Request-Timestamp": st.sampled_from(["²", "1e9", "-1", " 1", "00", "9" * 40])
        | st.integers(-(10**6), 10**6).map(lambda d: str(int(time.time()) + d))
        | st.text(max_size=12),
        "X-Slack-Signature": st.sampled_from(["v0=", "v0=zz", "v0=" + "é" * 64, "v1=" + "0" * 64])
        | st.text(max_size=70),
        "Content-Type": st.sampled_from(
            [
                "application/json",
                "application/x-www-form-urlencoded",
                "application/json; charset=x-nope",
                "text/plain",
                "multipart/form-data",
            ]
        ),
    },
)


@FUZZ
@given(slack_bodies, forged_headers)
def test_unsigned_or_forged_slack_requests_are_refused(live, body_and_type, headers):
    body, _ = body_and_type
    headers = {k: v.encode("utf-8") for k, v in headers.items()}  # raw bytes: non-ASCII values too
    status, _ = live.request("POST", "/slack/events", body, headers)
    assert status in (400, 401, 403, 415), f"{status} for {body[:100]!r} with {headers!r}"


# -- Teams (Emulator mode) ----------------------------------------------------------------------------


def activities(service_url: str):
    return shaped(
        {
            "type": st.sampled_from(
                [
                    "message",
                    "invoke",
                    "conversationUpdate",
                    "messageReaction",
                    "installationUpdate",
                    "event",
                    "typing",
                    "endOfConversation",
                    "x",
                ]
            )
        },
        {
            "id": st.text(min_size=1, max_size=10),
            "text": texts,
            "serviceUrl": st.just(service_url)
            | st.sampled_from(["", "not a url", "ftp://x", "http://", "http://example.invalid/"]),
            "channelId": st.sampled_from(["msteams", "emulator", "webchat"]),
            "from": shaped({"id": ids}, {"name": st.text(max_size=10), "aadObjectId": st.text(max_size=10)}),
            "recipient": shaped({"id": st.just("bot")}, {"name": st.text(max_size=5)}),
            "conversation": shaped(
                {"id": st.sampled_from(["conv-1", "a:1", ""])},
                {
                    "conversationType": st.sampled_from(["personal", "channel", "groupChat"]),
                    "tenantId": st.text(max_size=8),
                    "isGroup": st.booleans(),
                },
            ),
            "value": json_values
            | st.fixed_dictionaries(
                {"action": st.sampled_from(ACTION_IDS)}, optional={"value": st.text(max_size=20), "pb_text": texts}
            ),
            "name": st.sampled_from(["adaptiveCard/action", "task/fetch", "task/submit", "x"]),
            "replyToId": st.text(max_size=8),
            "membersAdded": st.lists(st.fixed_dictionaries({"id": ids}), max_size=2),
            "attachments": json_values,
            "entities": json_values,
            "channelData": json_values,
            "locale": st.text(max_size=6),
            "timestamp": st.sampled_from(["2026-12-02T10:00:00Z", "x"]),
        },
    )


@FUZZ
@given(st.data())
def test_teams_activities_never_get_5xx(live, data):
    activity = data.draw(activities(live.connector.service_url))
    status, _ = live.request(
        "POST", "/api/messages", json.dumps(activity).encode(), {"Content-Type": "application/json"}
    )
    assert_no_5xx(status, activity)


@FUZZ
@given(
    st.binary(max_size=300) | st.sampled_from([b"[" * 5000, b'{"type": "message"', b"\xff", b"[]", b"{}"]),
    st.sampled_from(["application/json", "application/json; charset=x-nope", "text/plain", ""]),
)
def test_malformed_teams_bodies_get_4xx(live, body, content_type):
    status, _ = live.request("POST", "/api/messages", body, {"Content-Type": content_type} if content_type else {})
    assert 400 <= status < 500 or status in (200, 201), f"{status} for {body[:100]!r}"


# -- web chat -----------------------------------------------------------------------------------------

WEBCHAT_ROUTES = [
    ("GET", "/chat/api/me"),
    ("POST", "/chat/api/login"),
    ("POST", "/chat/api/logout"),
    ("POST", "/chat/api/identity"),
    ("POST", "/chat/api/start"),
    ("POST", "/chat/api/message"),
    ("GET", "/chat/api/inbox"),
    ("POST", "/chat/api/feedback"),
]
webchat_bodies = st.one_of(
    shaped(
        {},
        {
            "text": texts,
            "action_id": st.sampled_from(ACTION_IDS),
            "value": st.text(max_size=30),
            "user_id": ids,
            "code": st.text(max_size=10),
            "helpful": st.booleans(),
            "question": texts,
            "clause_ids": json_values,
            "form": json_values,
        },
    ).map(lambda b: json.dumps(b).encode()),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe", b"1" * 5000]),
)


@pytest.fixture(scope="module")
def session_cookie(live):
    """A web chat session cookie signed in as alice (open loopback mode's "Sign in as")."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=60)
    conn.request("GET", "/chat/api/me", headers={"Host": f"127.0.0.1:{live.port}"})
    resp = conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie", "").split(";", 1)[0]
    conn.close()
    origin = f"http://127.0.0.1:{live.port}"
    status, _ = live.request(
        "POST",
        "/chat/api/identity",
        json.dumps({"user_id": "alice"}).encode(),
        {"Content-Type": "application/json", "Cookie": cookie, "Origin": origin},
    )
    assert cookie and status == 200
    return cookie


@FUZZ
@given(
    st.sampled_from(WEBCHAT_ROUTES),
    webchat_bodies,
    st.booleans(),
    st.sampled_from(["application/json", "application/json; charset=x-nope", "text/plain"]),
)
def test_webchat_api_never_gets_5xx(live, session_cookie, route, body, signed_in, content_type):
    method, path = route
    headers = {"Content-Type": content_type, "Origin": f"http://127.0.0.1:{live.port}"}
    if signed_in:
        headers["Cookie"] = session_cookie
    status, _ = live.request(method, path, body, headers)
    assert_no_5xx(status, (path, body[:100]))


# -- admin console ------------------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("GET", "/admin/api/me"),
    ("GET", "/admin/api/documents"),
    ("POST", "/admin/api/documents"),
    ("POST", "/admin/api/documents/publish"),
    ("DELETE", "/admin/api/documents/no-such-document"),
    ("GET", "/admin/api/documents/wbc/diff"),
    ("GET", "/admin/api/gaps"),
    ("GET", "/admin/api/gaps/closest"),
    ("POST", "/admin/api/gaps/dismiss"),
    ("GET", "/admin/api/cases"),
    ("GET", "/admin/api/cases/C-00001"),
    ("POST", "/admin/api/cases/C-00001/acknowledge"),
    ("POST", "/admin/api/cases/C-00001/ask"),
    ("POST", "/admin/api/cases/C-00001/close"),
]
admin_queries = st.one_of(
    st.just(""),
    st.fixed_dictionaries(
        {},
        optional={
            "days": st.sampled_from(["90", "0", "-1", "nan", "inf", "1e309", "x", ""]),
            "q": texts | st.text(max_size=50),
            "from": st.sampled_from(["1", "2", "0", "-1", "x", "99999999"]),
            "to": st.sampled_from(["1", "2", "x"]),
        },
    ).map(lambda q: "?" + urllib.parse.urlencode(q) if q else ""),
)
admin_bodies = st.one_of(
    shaped(
        {},
        {
            "preview_token": st.text(max_size=20),
            "title": texts,
            "organisation": texts,
            "version": texts,
            "date": texts,
            "question": texts,
            "outcome": texts,
        },
    ).map(lambda b: json.dumps(b).encode()),
    st.binary(max_size=200),
    st.sampled_from(
        [
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n\r\nStaff must not.\r\n--b--\r\n',
            b"--b\r\nnot a header\r\n\r\n",
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.exe"\r\n\r\nMZ\r\n--b--\r\n',
            b"[" * 5000,
        ]
    ),
)


@pytest.fixture(scope="module")
def hr_session(live):
    """``(cookie, csrf)`` of a web chat session signed in as hana (HR), for the admin console."""
    conn = http.client.HTTPConnection("127.0.0.1", live.port, timeout=60)
    conn.request("GET", "/chat/api/me", headers={"Host": f"127.0.0.1:{live.port}"})
    resp = conn.getresponse()
    resp.read()
    first = resp.getheader("Set-Cookie", "").split(";", 1)[0]
    conn.request(
        "POST",
        "/chat/api/identity",
        json.dumps({"user_id": "hana"}).encode(),
        {"Content-Type": "application/json", "Cookie": first, "Host": f"127.0.0.1:{live.port}"},
    )
    resp = conn.getresponse()
    resp.read()
    cookie = resp.getheader("Set-Cookie", "").split(";", 1)[0]
    conn.request("GET", "/admin/api/me", headers={"Cookie": cookie, "Host": f"127.0.0.1:{live.port}"})
    resp = conn.getresponse()
    csrf = json.loads(resp.read())["csrf"]
    conn.close()
    return cookie, csrf


@FUZZ
@given(
    st.sampled_from(ADMIN_ROUTES),
    admin_queries,
    admin_bodies,
    st.booleans(),
    st.sampled_from(["application/json", "multipart/form-data; boundary=b", "multipart/form-data", "text/plain"]),
)
def test_admin_api_never_gets_5xx(live, hr_session, route, query, body, signed_in, content_type):
    method, path = route
    headers = {"Content-Type": content_type, "Origin": f"http://127.0.0.1:{live.port}"}
    if signed_in:
        headers["Cookie"], headers["X-CSRF-Token"] = hr_session
    status, _ = live.request(method, path + query, body, headers)
    assert_no_5xx(status, (method, path + query, body[:100]))
