"""The web chat against hostile or malformed input: bodies that would crash a JSON parser, open loopback
mode reached through a proxy or from another site, and access-code guessing spread over many clients.

Server tests run the real aiohttp server in-process on 127.0.0.1 (port 0, ``webchat_support``); malformed
requests that a client library would refuse to send go over a raw socket. Lockout timing uses an injected
clock: nothing sleeps and no test measures elapsed time.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from unittest import mock

import pytest
from aiohttp.test_utils import make_mocked_request
from test_report_support import make_engine
from webchat_support import WebChatServer

import adapters.webchat as webchat
from adapters.server import ServerSettings
from adapters.webchat import COOKIE, WebChatChannel, WebChatSettings
from bot import login_throttle, session_tokens
from bot.engine import ConversationEngine
from bot.login_throttle import MAX_LOGIN_FAILURES

SECRET = "correct-horse-battery-staple-42"
HEADER = "X-Forwarded-User"
DEEP_ARRAY = b"[" * 5000
DEEP_OBJECT = b'{"a":' * 5000


class FakeClock:
    """A monotonic clock that moves only when told (seconds)."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def channel_of(srv: WebChatServer) -> WebChatChannel:
    (channel,) = [c for c in srv.ctx.channels if c.name == "webchat"]
    return channel


def open_server(bot, engine=None) -> WebChatServer:
    return WebChatServer(bot, engine or ConversationEngine(bot, reporting=False))


def secret_server(bot, engine=None) -> WebChatServer:
    return WebChatServer(
        bot,
        engine or ConversationEngine(bot, reporting=False),
        env={"POLICYBOT_WEBCHAT_SECRET": SECRET},
        host="0.0.0.0",
    )


def header_server(bot, engine=None) -> WebChatServer:
    return WebChatServer(
        bot,
        engine or ConversationEngine(bot, reporting=False),
        env={"POLICYBOT_WEBCHAT_IDENTITY_HEADER": HEADER},
        host="0.0.0.0",
    )


def port_of(srv: WebChatServer) -> int:
    return int(srv.url.rsplit(":", 1)[1])


async def raw_request(
    port: int, method: str, path: str, headers: list[tuple[bytes, bytes]] = (), body: bytes = b""
) -> int:
    """Send one HTTP/1.1 request byte for byte (headers as given, plus Host when missing, Content-Length and
    Connection: close); returns the status code."""
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {path} HTTP/1.1".encode()]
    if b"host" not in names:
        lines.append(f"Host: 127.0.0.1:{port}".encode())
    lines += [k + b": " + v for k, v in headers]
    lines += [f"Content-Length: {len(body)}".encode(), b"Connection: close"]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    return int(status_line.split()[1])


# ---- D3: bodies that used to escape as exceptions -------------------------------------------------------
BODY_ROUTES = ["/chat/api/logout", "/chat/api/identity", "/chat/api/start", "/chat/api/message", "/chat/api/feedback"]


@pytest.mark.parametrize("path", BODY_ROUTES)
@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_deeply_nested_json_is_a_400_not_a_crash(fake_bot, path, body):
    async with open_server(fake_bot) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        r = await c.request("POST", path, data=body, headers={"Content-Type": "application/json"})
        assert r.status == 400 and "not valid JSON" in r.json()["error"], (r.status, r.text[:200])


@pytest.mark.parametrize("body", [DEEP_ARRAY, DEEP_OBJECT], ids=["array", "object"])
async def test_deeply_nested_json_to_login_and_logout_without_sign_in(fake_bot, body):
    async with secret_server(fake_bot) as srv:
        c = srv.client()
        for path in ("/chat/api/login", "/chat/api/logout"):
            r = await c.request("POST", path, data=body, headers={"Content-Type": "application/json"})
            assert r.status == 400 and "error" in r.json(), (path, r.status, r.text[:200])
        # the nesting error is not a failed guess: the right code still works
        assert (await c.post("/chat/api/login", {"secret": SECRET})).status == 200


async def test_charsets_bad_bytes_and_other_json_values(fake_bot):
    async with open_server(fake_bot) as srv:
        c = srv.client()
        await c.get("/chat/api/me")
        cases = [
            (b'{"text": "hi"}', "application/json; charset=x-no-such-charset", 415, "UTF-8"),
            (b'{"text": "caf\xc3"}', "application/json", 400, "not valid JSON"),
            (b"\xff\xfe\x00{", "application/json", 400, "not valid JSON"),
            (b"[1, 2]", "application/json", 400, "JSON object"),
            (b"null", "application/json", 400, "JSON object"),
            (b"1" * 5000, "application/json", 400, "not valid JSON"),
            ('{"text": "caf\u00e9"}'.encode("latin-1"), "application/json; charset=latin-1", 200, None),
        ]
        for body, ctype, status, needle in cases:
            r = await c.request("POST", "/chat/api/message", data=body, headers={"Content-Type": ctype})
            assert r.status == status, (body[:40], ctype, r.status, r.text[:200])
            if needle:
                assert needle in r.json()["error"], (body[:40], r.text)


# ---- D4: open loopback mode only for direct use on this computer -------------------------------------------
# Every proxy / forwarding header the server must refuse in open mode (an independent copy of the list).
PROXY_HEADERS = [
    ("Forwarded", "for=192.0.2.60;proto=http;by=203.0.113.43"),
    ("Via", "1.1 nginx"),
    ("X-Forwarded-For", "192.0.2.60"),
    ("X-Forwarded-Host", "chat.example.org"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-Port", "443"),
    ("X-Forwarded-Prefix", "/chat"),
    ("X-Forwarded-Server", "proxy1"),
    ("X-Forwarded-Ssl", "on"),
    ("X-Forwarded-Scheme", "https"),
    ("X-Forwarded", "for=192.0.2.60"),
    ("X-Real-IP", "192.0.2.60"),
    ("X-Client-IP", "192.0.2.60"),
    ("X-Cluster-Client-IP", "192.0.2.60"),
    ("True-Client-IP", "192.0.2.60"),
    ("CF-Connecting-IP", "192.0.2.60"),
    ("CF-Ray", "8a1b2c3d4e5f6-LHR"),
    ("Fastly-Client-IP", "192.0.2.60"),
    ("X-ProxyUser-Ip", "192.0.2.60"),
    ("X-Original-Forwarded-For", "192.0.2.60"),
    ("X-Original-URL", "/chat"),
    ("X-Rewrite-URL", "/chat"),
    ("Client-IP", "192.0.2.60"),
    ("X-Envoy-External-Address", "192.0.2.60"),
    ("X-Azure-ClientIP", "192.0.2.60"),
    ("X-Azure-SocketIP", "192.0.2.60"),
    ("X-AppEngine-User-IP", "192.0.2.60"),
    ("X-Originating-IP", "192.0.2.60"),
    ("X-Remote-Addr", "192.0.2.60"),
    ("Proxy-Client-IP", "192.0.2.60"),
    ("WL-Proxy-Client-IP", "192.0.2.60"),
    ("X-Amzn-Trace-Id", "Root=1-67891233-abcdef012345678912345678"),
    ("X-Forwarded-Anything-New", "1"),
]


async def test_open_mode_refuses_every_proxy_header(fake_bot):
    async with open_server(fake_bot) as srv:
        c = srv.client()
        assert (await c.get("/")).status == 200
        refused = []
        for name, value in PROXY_HEADERS:
            statuses = [
                (await c.get("/", headers={name: value})).status,
                (await c.get("/chat/api/me", headers={name: value})).status,
                (await c.post("/chat/api/identity", {"user_id": "alice"}, headers={name: value})).status,
            ]
            if statuses == [403, 403, 403]:
                refused.append(name)
        assert refused == [n for n, _ in PROXY_HEADERS]
        r = await c.get("/chat/api/me", headers={"Via": "1.1 proxy"})
        assert "proxy" in r.json()["error"] and COOKIE not in r.cookies


async def test_open_mode_host_must_be_the_bound_loopback_port(fake_bot):
    async with open_server(fake_bot) as srv:
        port = port_of(srv)
        c = srv.client()
        for host, status in [
            (f"127.0.0.1:{port}", 200),
            (f"localhost:{port}", 200),
            (f"[::1]:{port}", 200),
            (f"LOCALHOST:{port}", 200),
            (f"127.0.0.1:{port + 1}", 403),
            ("127.0.0.1:3978" if port != 3978 else "127.0.0.1:1", 403),
            (f"127.0.0.2:{port}", 403),
            (f"localhost.localdomain:{port}", 403),
            (f"127.0.0.1:{port}.evil.example", 403),
            (f"[::1]x:{port}", 403),
            (f"127.0.0.1:{port}:{port}", 403),
            ("", 403),
        ]:
            assert (await c.get("/chat/api/me", headers={"Host": host})).status == status, host


async def test_open_mode_refuses_requests_from_other_sites(fake_bot):
    async with open_server(fake_bot) as srv:
        port = port_of(srv)
        own = f"http://127.0.0.1:{port}"
        c = srv.client()
        cases = [
            ({"Sec-Fetch-Site": "cross-site"}, 403),
            ({"Origin": "https://evil.example"}, 403),
            ({"Origin": "null"}, 403),
            ({"Origin": "http://[::1"}, 403),  # malformed
            ({"Referer": "https://evil.example/page"}, 403),
            ({"Referer": "https://127.0.0.1.evil.example/"}, 403),
            ({"Referer": "http://["}, 403),
            ({"Referer": "not a url"}, 403),
            ({"Sec-Fetch-Site": "none"}, 200),  # typed into the address bar
            ({"Sec-Fetch-Site": "same-origin", "Origin": own}, 200),
            ({"Referer": own + "/"}, 200),
            ({"Referer": f"http://localhost:{port}/?q=1"}, 200),
        ]
        for headers, status in cases:
            got = [(await c.get("/", headers=headers)).status, (await c.get("/chat/api/me", headers=headers)).status]
            assert got == [status, status], (headers, got)


async def test_a_same_machine_proxy_with_nginx_defaults(fake_bot):
    """What open mode can and cannot tell about a proxy on the same machine that rewrites ``Host`` to the
    upstream and adds no forwarding header, speaking HTTP/1.1 (nginx's ``proxy_pass http://127.0.0.1:<port>;``
    with ``proxy_http_version 1.1``; with nginx's default 1.0 it is refused outright, see the next test):
    README "Web chat" states the same."""
    async with open_server(fake_bot, make_engine(fake_bot)) as srv:
        upstream = {"Host": f"127.0.0.1:{port_of(srv)}"}
        browser = srv.client()
        assert (await browser.get("/chat/api/me", headers={**upstream, "Sec-Fetch-Site": "same-origin"})).status == 200
        r = await browser.post(
            "/chat/api/identity", {"user_id": "alice"}, headers={**upstream, "Origin": "https://chat.example.org"}
        )
        assert r.status == 403  # a browser names the proxy's origin on every state-changing request
        script = srv.client()  # HTTP/1.1, neither Origin nor Referer: indistinguishable from a local client
        assert (await script.get("/chat/api/me", headers=upstream)).status == 200
        assert (await script.post("/chat/api/identity", {"user_id": "alice"}, headers=upstream)).status == 200


async def test_http_1_0_is_refused_in_open_mode(fake_bot):
    """nginx speaks HTTP/1.0 to an upstream unless told otherwise (``proxy_http_version``): with its defaults
    even a script that sends no Origin is refused; HTTP/1.1 from the same place is served."""
    async with open_server(fake_bot, make_engine(fake_bot)) as srv:
        port = port_of(srv)

        async def status(version: str) -> int:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(f"GET /chat/api/me {version}\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            line = await reader.readline()
            writer.close()
            return int(line.split()[1])

        assert await status("HTTP/1.0") == 403
        assert await status("HTTP/1.1") == 200


def _mocked(headers: dict, peer=("127.0.0.1", 50000), sock=("127.0.0.1", 3978)):
    transport = mock.Mock()
    transport.get_extra_info.side_effect = lambda name, default=None: {"peername": peer, "sockname": sock}.get(
        name, default
    )
    return make_mocked_request("GET", "/chat/api/me", headers=headers, transport=transport)


def test_open_mode_refuses_a_peer_that_is_not_loopback():
    ctx = SimpleNamespace(settings=ServerSettings(host="127.0.0.1", port=3978))
    channel = WebChatChannel(ctx, WebChatSettings("loopback"), pages={n: b"" for n in webchat.STATIC_FILES})
    channel._check_loopback(_mocked({"Host": "127.0.0.1:3978"}))  # passes
    channel._check_loopback(_mocked({"Host": "[::1]:3978"}, peer=("::1", 50000, 0, 0), sock=("::1", 3978, 0, 0)))
    for request in (
        _mocked({"Host": "127.0.0.1:3978"}, peer=("192.0.2.7", 50000)),
        _mocked({"Host": "127.0.0.1:3978"}, peer=("10.0.0.1", 50000)),
        _mocked({"Host": "127.0.0.1:8080"}),
        _mocked({"Host": "127.0.0.1:3978", "Via": "1.0 fred"}),
    ):
        with pytest.raises(webchat._Refused) as info:
            channel._check_loopback(request)
        assert info.value.status == 403


async def test_other_modes_still_work_behind_a_proxy(fake_bot):
    async with header_server(fake_bot, make_engine(fake_bot)) as srv:
        r = await srv.client().get(
            "/chat/api/me", headers={HEADER: "alice", "Via": "1.1 nginx", "X-Forwarded-For": "192.0.2.60"}
        )
        assert r.status == 200 and r.json()["user_id"] == "alice"
    async with secret_server(fake_bot) as srv:
        c = srv.client()
        r = await c.post("/chat/api/login", {"secret": SECRET}, headers={"Via": "1.1 nginx", "Referer": "https://x/"})
        assert r.status == 200


# ---- D5: access-code guessing ----------------------------------------------------------------------
def _via(addr: str) -> dict:
    """Headers of a request that a reverse proxy forwarded for the client at ``addr``."""
    return {"X-Forwarded-For": addr}


async def test_one_guesser_behind_a_proxy_does_not_lock_out_colleagues(fake_bot):
    async with secret_server(fake_bot) as srv:
        guesser, colleague = srv.client(), srv.client()
        for i in range(MAX_LOGIN_FAILURES):
            r = await guesser.post("/chat/api/login", {"secret": f"guess-{i:020d}"}, headers=_via("198.51.100.7"))
            assert r.status == 401
        r = await guesser.post("/chat/api/login", {"secret": SECRET}, headers=_via("198.51.100.7"))
        assert r.status == 429 and int(r.headers["Retry-After"]) >= 1
        r = await colleague.post("/chat/api/login", {"secret": SECRET}, headers=_via("198.51.100.8"))
        assert r.status == 200 and COOKIE in r.cookies


async def test_guesses_spread_over_many_addresses_lock_out_the_code(fake_bot):
    async with secret_server(fake_bot) as srv:
        c = srv.client()
        limit = login_throttle.MAX_CODE_FAILURES
        statuses = []
        for i in range(limit):  # two guesses from each of limit / 2 addresses: no address reaches its own limit
            addr = f"198.51.{100 + i // 2 // 250}.{i // 2 % 250 + 1}"
            statuses.append((await c.post("/chat/api/login", {"secret": f"guess-{i:020d}"}, headers=_via(addr))).status)
        assert statuses == [401] * limit
        r = await c.post("/chat/api/login", {"secret": SECRET}, headers=_via("203.0.113.99"))  # a new address
        assert r.status == 429 and int(r.headers["Retry-After"]) >= login_throttle.LOCKOUT_BASE


async def test_lockout_backs_off_exponentially_with_retry_after(fake_bot):
    clock = FakeClock()
    async with secret_server(fake_bot) as srv:
        channel_of(srv).throttle = login_throttle.LoginThrottle(clock=clock)
        c = srv.client()

        async def login(code: str):
            r = await c.post("/chat/api/login", {"secret": code})
            return r.status, r.headers.get("Retry-After")

        for i in range(MAX_LOGIN_FAILURES):
            assert await login(f"wrong-{i:020d}") == (401, None)
        base = login_throttle.LOCKOUT_BASE
        assert await login(SECRET) == (429, str(int(base)))
        clock.advance(base - 1)
        assert await login(SECRET) == (429, "1")
        clock.advance(1)
        assert await login("wrong-again-wrong-again") == (401, None)  # one more try, then twice as long
        assert await login(SECRET) == (429, str(int(2 * base)))
        clock.advance(2 * base)
        assert (await login(SECRET))[0] == 200  # the right code clears this client's record
        assert await login("wrong-after-success-x") == (401, None)


def test_backoff_doubles_up_to_the_cap_and_is_forgotten():
    clock = FakeClock()
    t = login_throttle.LoginThrottle(clock=clock)
    for i in range(MAX_LOGIN_FAILURES - 1):
        t.failed("a", f"code-{i}")
        assert t.retry_after("a") == 0
    waits = []
    for i in range(8):
        t.failed("a", f"more-{i}")
        waits.append(t.retry_after("a"))
        clock.advance(waits[-1])
        assert t.retry_after("a") == 0
    base, cap = login_throttle.LOCKOUT_BASE, login_throttle.LOCKOUT_MAX
    assert waits == [min(base * 2**k, cap) for k in range(8)] and waits[-1] == cap
    assert t.retry_after("b") == 0  # another client is not affected
    clock.advance(login_throttle.FAILURE_MEMORY + 1)  # an hour without failures: a fresh start
    t.failed("a", "once-more")
    assert t.retry_after("a") == 0


def test_the_code_is_locked_after_many_distinct_wrong_codes_from_anywhere():
    clock = FakeClock()
    t = login_throttle.LoginThrottle(clock=clock)
    limit = login_throttle.MAX_CODE_FAILURES
    for i in range(limit - 1):
        t.failed(f"client-{i}", f"distinct-{i}")
    assert t.retry_after("anyone") == 0
    for i in range(limit):  # a colleague retrying an old code is one wrong code, not many
        t.failed(f"typo-{i % 3}", "last-year's-code")
    assert t.retry_after("anyone") == login_throttle.LOCKOUT_BASE
    clock.advance(login_throttle.LOCKOUT_BASE)
    assert t.retry_after("anyone") == 0
    t.failed("client-x", "yet-another-code")
    assert t.retry_after("anyone") == 2 * login_throttle.LOCKOUT_BASE


# ---- signed session cookies (itsdangerous) -----------------------------------------------------------
KEY = b"0123456789abcdef0123456789abcdef"
T0 = 2_000_000_000  #: a fixed Unix time: cookies are stamped and checked against given clocks, nothing sleeps


def test_a_session_cookie_edited_in_any_one_character_is_refused():
    value = webchat.sign_session(KEY, "web:abcdefghijklmnop", now=T0)
    assert webchat.verify_session(KEY, value, 3600, now=T0 + 1) == "web:abcdefghijklmnop"
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, ch in enumerate(value):
        for other in {alphabet[(alphabet.index(ch) + 1) % len(alphabet)], "=", "%"}:
            edited = value[:i] + other + value[i + 1 :]
            if edited != value:
                assert webchat.verify_session(KEY, edited, 3600, now=T0 + 1) is None, (i, other)
    assert webchat.verify_session(KEY, value[:-1], 3600, now=T0 + 1) is None  # one character short
    assert webchat.verify_session(KEY, value + "A", 3600, now=T0 + 1) is None  # one too many


def test_a_session_cookie_from_another_key_salt_or_time_is_refused():
    from itsdangerous import URLSafeTimedSerializer

    value = webchat.sign_session(KEY, "web:abcdefghijklmnop", now=T0)
    assert webchat.verify_session(b"another key, same length, really", value, 3600, now=T0) is None
    assert webchat.verify_session(KEY, URLSafeTimedSerializer(KEY, salt="other").dumps("web:x"), 3600) is None
    assert (
        webchat.verify_session(KEY, URLSafeTimedSerializer(KEY, salt=session_tokens.SESSION_SALT).dumps("web:x"), 3600)
        is None
    )  # the same salt but itsdangerous' default HMAC-SHA1
    assert webchat.verify_session(KEY, value, 3600, now=T0 + 3600) == "web:abcdefghijklmnop"
    assert webchat.verify_session(KEY, value, 3600, now=T0 + 3601) is None  # expired
    assert webchat.verify_session(KEY, value, 3600, now=T0 - 1) is None  # not made yet
    not_a_name = URLSafeTimedSerializer(KEY, salt=session_tokens.SESSION_SALT, signer=session_tokens.SessionSigner)
    assert webchat.verify_session(KEY, not_a_name.dumps({"u": "alice"}), 3600) is None  # signed, but no user id
    assert webchat.verify_session(KEY, "\udcff.\udcfe.x", 3600) is None  # undecodable bytes (surrogateescape)
    assert webchat.verify_session(KEY, "A" * (session_tokens.MAX_TOKEN_CHARS + 1), 3600) is None


async def test_secret_mode_accepts_a_session_cookie_for_session_hours_and_no_longer(fake_bot):
    import time

    async with secret_server(fake_bot) as srv:
        channel = channel_of(srv)
        lifetime = webchat.SESSION_HOURS * 3600

        async def me_with(value: str) -> int:
            return (await srv.client().get("/chat/api/me", headers={"Cookie": f"{COOKIE}={value}"})).status

        user = webchat.new_anonymous_id()
        assert await me_with(webchat.sign_session(SECRET.encode(), user)) == 200  # the key comes from the secret
        assert await me_with(webchat.sign_session(channel._key, user, now=time.time() - lifetime + 120)) == 200
        assert await me_with(webchat.sign_session(channel._key, user, now=time.time() - lifetime - 120)) == 401
        assert await me_with(webchat.sign_session(b"another-secret-of-enough-length", user)) == 401
        r = await srv.client().post("/chat/api/login", {"secret": SECRET})
        assert r.status == 200 and f"Max-Age={lifetime}" in r.headers["Set-Cookie"]


async def test_open_mode_cookies_last_the_demo_lifetime(fake_bot):
    import time

    async with open_server(fake_bot) as srv:
        channel = channel_of(srv)
        lifetime = webchat.LOOPBACK_SESSION_DAYS * 86400

        async def me_with(value: str):
            return await srv.client().get("/chat/api/me", headers={"Cookie": f"{COOKIE}={value}"})

        user = webchat.new_anonymous_id()
        r = await me_with(webchat.sign_session(channel._key, user, now=time.time() - lifetime + 120))
        assert r.status == 200 and r.json()["user_id"] == user
        r = await me_with(webchat.sign_session(channel._key, user, now=time.time() - lifetime - 120))
        assert r.status == 200 and r.json()["user_id"] != user  # expired: a new anonymous id instead
        r = await srv.client().get("/chat/api/me")  # no cookie: a new anonymous id and its cookie
        assert r.status == 200 and f"Max-Age={lifetime}" in r.headers["Set-Cookie"]


# ---- no route answers 500 for bad input ---------------------------------------------------------------
LONG_DIGITS = b'{"text": ' + b"1" * 5000 + b"}"
JSON = (b"Content-Type", b"application/json")
CASES = [
    # (mode, method, path, extra headers, body, signed in)
    ("open", "POST", "/chat/api/message", [JSON], DEEP_ARRAY, True),
    ("open", "POST", "/chat/api/message", [JSON], DEEP_OBJECT, True),
    ("open", "POST", "/chat/api/start", [JSON], DEEP_ARRAY, True),
    ("open", "POST", "/chat/api/identity", [JSON], DEEP_OBJECT, True),
    ("open", "POST", "/chat/api/feedback", [JSON], DEEP_ARRAY, True),
    ("open", "POST", "/chat/api/logout", [JSON], DEEP_ARRAY, False),
    ("open", "POST", "/chat/api/message", [JSON], b"\xff\xfe{\x00", True),
    ("open", "POST", "/chat/api/message", [(b"Content-Type", b"application/json; charset=x-nope")], b"{}", True),
    (
        "open",
        "POST",
        "/chat/api/message",
        [(b"Content-Type", b"application/json; charset=utf-16")],
        b'{"text": "hi"}',
        True,
    ),
    ("open", "POST", "/chat/api/message", [(b"Content-Type", b'application/json; charset="')], b"{}", True),
    ("open", "POST", "/chat/api/message", [(b"Content-Type", b"application/json; charset=caf\xe9")], b"{}", True),
    ("open", "POST", "/chat/api/message", [(b"Content-Type", b"application/json; charset=rot13")], b"{}", True),
    ("open", "POST", "/chat/api/message", [(b"Content-Type", b"application/json;;;=;charset")], b"{}", True),
    ("open", "POST", "/chat/api/message", [JSON], LONG_DIGITS, True),
    ("open", "POST", "/chat/api/message", [JSON], b"null", True),
    ("open", "POST", "/chat/api/message", [JSON], b"", True),
    ("open", "POST", "/chat/api/message", [JSON], b'{"text": {"a": [1]}}', True),
    ("open", "POST", "/chat/api/message", [JSON], b'{"action_id": ["x"], "value": null}', True),
    ("open", "POST", "/chat/api/message", [JSON], b'{"action_id": "report:start", "value": {"x": 1}}', True),
    ("open", "POST", "/chat/api/message", [JSON], b'{"text": "\\u0000\\u001b[2J"}', True),
    ("open", "POST", "/chat/api/message", [JSON], b'{"text": "\\udfff"}', True),
    ("open", "POST", "/chat/api/feedback", [JSON], b'{"helpful": true, "question": ["x"], "clause_ids": {}}', True),
    ("open", "POST", "/chat/api/feedback", [JSON], b'{"helpful": null, "question": "q", "clause_ids": [null]}', True),
    ("open", "POST", "/chat/api/identity", [JSON], b'{"user_id": {"a": 1}}', True),
    ("open", "POST", "/chat/api/identity", [JSON], b'{"user_id": "\\u0000"}', True),
    ("open", "POST", "/chat/api/message", [JSON], b'{"text": "' + b"x" * 70_000 + b'"}', True),
    ("open", "GET", "/chat/api/me", [(b"Cookie", COOKIE.encode() + b"=..%%;;==")], b"", False),
    ("open", "GET", "/chat/api/me", [(b"Cookie", COOKIE.encode() + b"=caf\xe9.\xff")], b"", False),
    ("open", "GET", "/chat/api/inbox", [(b"Cookie", COOKIE.encode() + b"=" + b"A" * 2000 + b".x")], b"", False),
    ("open", "PUT", "/chat/api/message", [JSON], b"{}", True),
    ("open", "DELETE", "/chat/api/me", [], b"", True),
    ("open", "GET", "/chat/api/login", [], b"", False),
    ("open", "OPTIONS", "/chat/api/start", [], b"", True),
    ("open", "POST", "/chat/api/inbox", [JSON], b"{}", True),
    ("open", "GET", "/chat/api/me", [(b"Host", b"[::1")], b"", True),
    ("open", "GET", "/chat/api/me", [(b"Host", b":::::")], b"", True),
    ("open", "GET", "/chat/api/me", [(b"Host", b"127.0.0.1:notaport")], b"", True),
    ("open", "GET", "/chat/api/me", [(b"Host", b"127.0.0.1:99999999999999999999")], b"", True),
    ("open", "GET", "/chat/api/me", [(b"Origin", b"http://[::1")], b"", True),
    ("open", "GET", "/chat/api/me", [(b"Referer", b"http://[")], b"", True),
    ("open", "GET", "/chat/api/me", [(b"Referer", b"http://caf\xe9:1/")], b"", True),
    ("secret", "POST", "/chat/api/login", [JSON], DEEP_ARRAY, False),
    ("secret", "POST", "/chat/api/login", [JSON], b'{"secret": ["x"]}', False),
    ("secret", "POST", "/chat/api/login", [JSON], b'{"secret": "\\ud800"}', False),
    ("secret", "POST", "/chat/api/login", [JSON], b'{"secret": "caf\xe9"}', False),
    ("secret", "POST", "/chat/api/login", [JSON, (b"X-Forwarded-For", b"caf\xe9, ,,")], b'{"secret": "x"}', False),
    ("secret", "GET", "/chat/api/me", [(b"Cookie", COOKIE.encode() + b"=x.y")], b"", False),
    ("secret", "GET", "/chat/api/me", [(b"Cookie", COOKIE.encode() + b"=.eJzLSM3JyQcABiwCFQ.AAAA.x")], b"", False),
    ("secret", "GET", "/chat/api/me", [(b"Cookie", COOKIE.encode() + b"=Im4i.\xff\xfe.\xe9")], b"", False),
    ("secret", "GET", "/chat/api/me", [(b"Cookie", COOKIE.encode() + b"=Im4i.________________.x")], b"", False),
    ("secret", "POST", "/chat/api/login", [JSON, (b"Forwarded", b'for=;;for="[::1, by')], b'{"secret": "x"}', False),
    ("header", "POST", "/chat/api/message", [JSON, (HEADER.encode(), b"caf\xe9")], b'{"text": "hi"}', False),
    (
        "header",
        "POST",
        "/chat/api/feedback",
        [JSON, (HEADER.encode(), b"\xff\xfe")],
        b'{"helpful": false, "question": "q", "clause_ids": []}',
        False,
    ),
    ("header", "GET", "/chat/api/me", [(HEADER.encode(), b"x" * 5000)], b"", False),
    ("header", "POST", "/chat/api/identity", [JSON, (HEADER.encode(), b"alice")], DEEP_ARRAY, False),
]


@pytest.mark.parametrize(
    "mode,method,path,headers,body,signed_in",
    CASES,
    ids=[f"{i:02d}-{c[0]}-{c[1]}-{c[2].rsplit('/', 1)[1]}" for i, c in enumerate(CASES)],
)
async def test_no_web_chat_route_answers_500_to_bad_input(fake_bot, mode, method, path, headers, body, signed_in):
    make = {"open": open_server, "secret": secret_server, "header": header_server}[mode]
    async with make(fake_bot, make_engine(fake_bot)) as srv:
        headers = list(headers)
        if signed_in:
            c = srv.client()
            if mode == "secret":
                assert (await c.post("/chat/api/login", {"secret": SECRET})).status == 200
            else:
                await c.sign_in_as("alice")
            headers.append((b"Cookie", f"{COOKIE}={c.cookie()}".encode()))
        status = await raw_request(port_of(srv), method, path, headers, body)
        assert 400 <= status < 500 or status == 200, status
        assert (await srv.client().get("/healthz")).status == 200
