"""Teams under hostile input: forged tokens refused without the network and a stalled key endpoint that
never holds up other requests, service URLs the bot would post to, replayed card submits, and malformed
bodies and headers that must never give a 5xx.

The server is the real one (``policybot serve``'s app, the real botbuilder ``CloudAdapter``) on loopback.
Tokens are signed here with a throwaway RSA key; where the SDK must verify one, ``requests.get`` (what
fetches the OpenID metadata and keys) is replaced by a fake that publishes that key.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid

import pytest
from fakes.bot_connector import BOT_ID, message, submit
from fakes.harness import ServerHarness

APP_ID = "11111111-2222-3333-4444-555555555555"
CHANNEL_ISSUER = "https://api.botframework.com"
AAD_ISSUER = "https://login.microsoftonline.com/d6d49420-f39b-4df7-a1dc-d59a935871db/v2.0"
KID = "test-signing-key"
SECURE_URL = "https://127.0.0.1:1/"  #: an https serviceUrl nothing listens on (replies fail at once)
JSON = {"Content-Type": "application/json"}
QUESTION = "Can I post pictures of service users?"


class TeamsServer(ServerHarness):
    """``ServerHarness`` posting Bot Framework activities to ``/api/messages``."""

    async def activity(self, body: dict, headers: dict | None = None):
        return await self.post_raw(json.dumps(body), dict(JSON, **(headers or {})), path="/api/messages")


# -- keys and tokens ------------------------------------------------------------------------------------


def _rsa():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def keys():
    """``(published, foreign)``: the key the fake metadata publishes, and one nobody publishes."""
    return _rsa(), _rsa()


def jwk_of(private_key, kid: str = KID) -> dict:
    from jwt.algorithms import RSAAlgorithm

    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update(kid=kid, use="sig", endorsements=["msteams"])
    return jwk


def token(key, alg: str = "RS256", kid: str | None = KID, **claims) -> str:
    """A JWT for a Teams channel request to ``APP_ID`` (claims overridable; ``None`` removes one)."""
    import jwt

    now = int(time.time())
    body = {"iss": CHANNEL_ISSUER, "aud": APP_ID, "serviceurl": SECURE_URL, "nbf": now - 60, "exp": now + 3600}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    headers = {"kid": kid} if kid else {}
    return jwt.encode(body, key, algorithm=alg, headers=headers)


def alg_none_token(**claims) -> str:
    import base64

    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    now = int(time.time())
    body = {"iss": CHANNEL_ISSUER, "aud": APP_ID, "serviceurl": SECURE_URL, "exp": now + 3600, **claims}
    return f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': KID})}.{b64(body)}."


def bearer(t: str) -> dict:
    return {"Authorization": f"Bearer {t}"}


class FakeOpenId:
    """Stands in for ``requests.get``: the OpenID metadata document and a key set holding ``jwk``;
    counts the calls."""

    def __init__(self, jwk: dict):
        self.jwk = jwk
        self.calls: list[str] = []

    def __call__(self, url, *args, **kwargs):
        self.calls.append(url)
        doc = {"jwks_uri": "https://keys.example/keys"} if "keys" not in url else {"keys": [self.jwk]}

        class Response:
            status_code = 200

            def raise_for_status(self):
                pass

            def json(self):
                return doc

        return Response()


@pytest.fixture(autouse=True)
def fresh_key_cache():
    """Each test starts and ends with no fetched keys or remembered failure (the SDK's cache is global)."""
    from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor

    JwtTokenExtractor.metadataCache.clear()
    yield
    JwtTokenExtractor.metadataCache.clear()


@pytest.fixture
def no_outbound_token(monkeypatch):
    """Replies in authenticated mode would ask Entra ID for a token: give a made-up one instead."""
    from botframework.connector.auth import MicrosoftAppCredentials

    monkeypatch.setattr(MicrosoftAppCredentials, "get_access_token", lambda self, force_refresh=False: "out-token")


AUTH_ENV = {"MicrosoftAppId": APP_ID, "MicrosoftAppPassword": "not-a-real-secret", "POLICYBOT_WEBCHAT": "off"}


@pytest.fixture
async def auth_server(fake_bot, no_outbound_token):
    """A server with an app id whose engine records each inbound and answers nothing (its replies would
    go to ``SECURE_URL``, where the SDK's retries only slow the test down)."""
    from test_teams import Recording

    class Silent(Recording):
        def handle(self, inbound):
            self.inbounds.append(inbound)
            return []

    h = await TeamsServer(fake_bot, Silent(fake_bot, reporting=False), None, env=AUTH_ENV).start()
    yield h
    await h.stop()


@pytest.fixture
async def emu_server(fake_bot, connector):
    from test_teams import Recording

    h = await TeamsServer(fake_bot, Recording(fake_bot, reporting=False), None, env={}).start()
    yield h
    await h.stop()


# -- a key endpoint that never answers ---------------------------------------------------------------------


class StalledEndpoint:
    """A TCP listener on 127.0.0.1, on its own thread, that accepts, reads and never answers (used as
    ``HTTPS_PROXY``: every HTTPS fetch stalls there). Each connection is closed after ``hold`` seconds or
    at ``stop()``; ``connections`` counts them."""

    def __init__(self, hold: float = 8.0):
        self.hold = hold
        self.connections = 0
        self._stop = threading.Event()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self._sock.settimeout(0.1)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        deadline = time.monotonic() + self.hold
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if conn.recv(4096) == b"":
                    break
            except OSError:
                pass
        conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._sock.close()


@pytest.fixture
def stalled(monkeypatch):
    """Every HTTPS request ``requests`` makes goes to a ``StalledEndpoint`` (through ``HTTPS_PROXY``)."""
    endpoint = StalledEndpoint()
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, endpoint.url)
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    yield endpoint
    endpoint.stop()


# -- D1: forged tokens, stalled key endpoint --------------------------------------------------------------


def forged_tokens(keys) -> dict[str, str]:
    """Tokens that can never be valid for ``APP_ID``, each with an issuer the SDK knows."""
    import jwt

    published, foreign = keys
    now = int(time.time())
    return {
        "alg none": alg_none_token(),
        "HS256": jwt.encode(
            {"iss": CHANNEL_ISSUER, "aud": APP_ID, "serviceurl": SECURE_URL, "exp": now + 3600},
            "k" * 32,
            algorithm="HS256",
            headers={"kid": KID},
        ),
        "RS384": token(published, alg="RS384"),
        "expired": token(foreign, exp=now - 3600, nbf=now - 7200),
        "no expiry": token(foreign, exp=None),
        "not valid for an hour": token(foreign, nbf=now + 3600),
        "wrong audience": token(foreign, aud="99999999-2222-3333-4444-555555555555"),
        "audience list": token(foreign, aud=[APP_ID]),
        "wrong issuer": token(foreign, iss="https://api.botframework.com.evil.example"),
        "no key id": token(foreign, kid=None),
        "other service url": token(foreign, serviceurl="https://smba.evil.example/"),
        "skill token": token(foreign, iss=AAD_ISSUER, ver="2.0", azp="99999999-0000-0000-0000-000000000000"),
        "aad token for another app": token(foreign, iss=AAD_ISSUER, ver="2.0", azp="someone-else"),
        "aad token without ver": token(foreign, iss=AAD_ISSUER, appid=APP_ID, serviceurl=None),
    }


async def test_forged_tokens_get_401_without_any_key_fetch_and_healthz_stays_up(auth_server, stalled, keys):
    forged = forged_tokens(keys)
    body = message(SECURE_URL, QUESTION)

    async def send(t: str):
        return (await auth_server.activity(body, bearer(t))).status

    statuses, health = await asyncio.wait_for(
        asyncio.gather(asyncio.gather(*(send(t) for t in forged.values())), auth_server.get("/healthz")), 3
    )
    assert dict(zip(forged, statuses)) == {name: 401 for name in forged}
    assert health.status == 200
    await asyncio.sleep(0.3)
    assert stalled.connections == 0  # nothing reached for the keys
    assert auth_server.engine.inbounds == []


async def test_a_stalled_key_endpoint_never_delays_other_requests_and_gives_503(auth_server, stalled, keys):
    """Plausible tokens (right shape, unknown signer) need the keys: one fetch, off the event loop,
    shared by every waiting request; /healthz answers meanwhile; then 503, and 503 at once while the
    failure is remembered."""
    _, foreign = keys
    body = message(SECURE_URL, QUESTION)
    pending = [asyncio.ensure_future(auth_server.activity(body, bearer(token(foreign)))) for _ in range(3)]
    for _ in range(200):  # until the fetch has reached the endpoint
        if stalled.connections:
            break
        await asyncio.sleep(0.02)
    assert stalled.connections == 1
    health = await asyncio.wait_for(auth_server.get("/healthz"), 3)
    assert health.status == 200
    assert not any(t.done() for t in pending)  # healthz answered while those still wait for the keys
    replies = await asyncio.wait_for(asyncio.gather(*pending), 30)
    assert [r.status for r in replies] == [503] * 3
    again = await asyncio.wait_for(auth_server.activity(body, bearer(token(foreign))), 3)
    assert again.status == 503
    assert stalled.connections == 1  # one fetch for all of them; the failure is remembered
    assert auth_server.engine.inbounds == []


async def test_a_token_signed_with_a_published_key_is_accepted_and_others_are_not(auth_server, keys, monkeypatch):
    import requests

    published, foreign = keys
    fake = FakeOpenId(jwk_of(published))
    monkeypatch.setattr(requests, "get", fake)
    body = message(SECURE_URL, QUESTION)
    ok = await auth_server.activity(body, bearer(token(published)))
    assert ok.status in (200, 201)
    for _ in range(250):
        if auth_server.engine.inbounds:
            break
        await asyncio.sleep(0.02)
    (inbound,) = auth_server.engine.inbounds
    assert inbound.text == QUESTION
    assert len(fake.calls) == 2  # metadata, then the key set: fetched once, then cached
    assert (await auth_server.activity(body, bearer(token(foreign)))).status == 401  # unknown signer
    assert (await auth_server.activity(body, bearer(token(foreign, kid=KID + "-x")))).status == 401
    assert (await auth_server.activity(message(SECURE_URL, QUESTION), bearer(token(published)))).status in (200, 201)
    assert len(fake.calls) == 2


def test_token_refusal_names_what_can_never_be_valid(keys):
    from adapters.teams_auth import token_refusal

    published, _ = keys
    for name, t in forged_tokens(keys).items():
        assert token_refusal(f"Bearer {t}", APP_ID, SECURE_URL) is not None, name
    assert token_refusal(f"Bearer {token(published)}", APP_ID, SECURE_URL) is None
    assert token_refusal(f"Bearer {token(published)}", APP_ID, "https://other.example/") is not None
    assert token_refusal(f"Bearer {token(published)}", "", SECURE_URL) is not None  # Emulator mode: none valid
    v1 = token(
        published,
        iss="https://sts.windows.net/d6d49420-f39b-4df7-a1dc-d59a935871db/",
        ver="1.0",
        appid=APP_ID,
        serviceurl=None,
    )
    assert token_refusal(f"Bearer {v1}", APP_ID, SECURE_URL) is None  # an Emulator (Azure AD) token
    now = time.time()
    assert token_refusal(f"Bearer {token(published, exp=int(now) - 60)}", APP_ID, SECURE_URL, now) is None  # skew
    for bad in (
        "",
        "Bearer",
        "Bearer a.b.c",
        "Basic x",
        f"bearer {token(published)}",
        "Bearer ..",
        f"Bearer {token(published)} extra",
    ):
        assert token_refusal(bad, APP_ID, SECURE_URL) is not None, bad


# -- D7: service URLs ---------------------------------------------------------------------------------------


@pytest.fixture
def dns(monkeypatch):
    """Records every name looked up (``socket.getaddrinfo``); only loopback names resolve."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def getaddrinfo(host, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name not in ("127.0.0.1", "localhost", "::1"):
            looked_up.append(name)
            raise socket.gaierror(socket.EAI_NONAME, "blocked by the test")
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return looked_up


BAD_EMULATOR_URLS = [
    "",
    None,
    "not a url",
    "ftp://127.0.0.1/",
    "http://",
    "http:///x",
    "//127.0.0.1/",
    "http://example.invalid/",
    "https://smba.example.invalid/amer/",
    "http://10.255.0.1:9/",
    "http://127.0.0.1:99999/",
    "http://[::1/",
    5,
    ["http://127.0.0.1/"],
]


@pytest.mark.parametrize("url", BAD_EMULATOR_URLS, ids=repr)
async def test_emulator_mode_refuses_a_service_url_off_loopback(emu_server, connector, dns, url):
    body = message(connector.service_url, QUESTION)
    if url is None:
        del body["serviceUrl"]
    else:
        body["serviceUrl"] = url
    r = await emu_server.activity(body)
    assert r.status == 400
    await connector.settle(0.3)
    assert dns == [] and connector.posts == [] and emu_server.engine.inbounds == []


async def test_emulator_mode_still_answers_on_loopback(emu_server, connector, dns):
    for url in (connector.service_url, connector.service_url.replace("127.0.0.1", "localhost")):
        assert (await emu_server.activity(message(url, QUESTION))).status in (200, 201)
    await connector.wait_for(count=2)
    assert dns == []


@pytest.mark.parametrize("url", ["", None, "http://127.0.0.1:1/", "ftp://x/", "https://", "not a url"], ids=repr)
async def test_authenticated_mode_requires_an_https_service_url(auth_server, keys, monkeypatch, dns, url):
    import requests

    published, _ = keys
    monkeypatch.setattr(requests, "get", FakeOpenId(jwk_of(published)))
    body = message(SECURE_URL, QUESTION)
    if url is None:
        del body["serviceUrl"]
    else:
        body["serviceUrl"] = url
    r = await auth_server.activity(body, bearer(token(published, serviceurl=url)))
    assert r.status == 400
    await asyncio.sleep(0.3)
    assert dns == [] and auth_server.engine.inbounds == []


# -- D6: replayed card submits -------------------------------------------------------------------------------


async def _answer(server, connector):
    await server.activity(message(connector.service_url, QUESTION))
    (answer,) = await connector.wait_for()
    return answer


async def test_a_replayed_card_submit_has_one_effect(emu_server, connector, fake_bot):
    """The same press sent three times with fresh activity ids (same card, person and data): one vote."""
    answer = await _answer(emu_server, connector)
    press = answer.data("Not helpful")
    for _ in range(3):
        r = await emu_server.activity(submit(connector.service_url, press, reply_to=answer.id))
        assert r.status in (200, 201)
    await connector.wait_for(lambda p: "Thanks" in p.text)
    await connector.settle(0.4)
    assert len(connector.messages(lambda p: "Thanks" in p.text)) == 1
    (gap,) = fake_bot.gaps.groups()
    assert gap.not_helpful == 1


async def test_the_same_submit_activity_replayed_is_processed_once(emu_server, connector):
    answer = await _answer(emu_server, connector)
    body = submit(connector.service_url, answer.data("Helpful"), reply_to=answer.id)
    for _ in range(3):
        assert (await emu_server.activity(body)).status in (200, 201)
    await connector.wait_for(lambda p: "Thanks" in p.text)
    await connector.settle(0.4)
    assert len(connector.messages(lambda p: "Thanks" in p.text)) == 1


async def test_different_presses_on_the_same_card_are_each_processed(emu_server, connector):
    answer = await _answer(emu_server, connector)
    for label in ("Helpful", "Not helpful"):
        await emu_server.activity(submit(connector.service_url, answer.data(label), reply_to=answer.id))
    await connector.wait_for(lambda p: "Thanks" in p.text, count=2)


def execute(service_url: str, data: dict, reply_to: str | None = None, activity_id: str | None = None) -> dict:
    """An ``adaptiveCard/action`` invoke (``Action.Execute``) carrying ``data``."""
    body = submit(service_url, {}, reply_to=reply_to)
    body.update(
        type="invoke",
        name="adaptiveCard/action",
        value={"action": {"type": "Action.Execute", "verb": "submit", "data": data}, "trigger": "manual"},
    )
    if activity_id:
        body["id"] = activity_id
    return body


async def test_an_action_execute_invoke_is_handled_and_a_replay_has_no_second_effect(emu_server, connector):
    answer = await _answer(emu_server, connector)
    body = execute(connector.service_url, answer.data("Helpful"), reply_to=answer.id)
    replies = [await emu_server.activity(body) for _ in range(3)]
    assert [r.status for r in replies] == [200] * 3
    # a replay under a fresh activity id (same card, person and data) is recognised too
    fresh = dict(body, id=f"1:{uuid.uuid4().hex[:16]}")
    assert (await emu_server.activity(fresh)).status == 200
    await connector.wait_for(lambda p: "Thanks" in p.text)
    await connector.settle(0.4)
    assert len(connector.messages(lambda p: "Thanks" in p.text)) == 1


@pytest.mark.parametrize("name", [None, "", "composeExtension/query", "task/fetch", "signin/verifyState", "x"])
async def test_an_invoke_this_bot_does_not_offer_gets_400_not_501(emu_server, connector, name):
    body = submit(connector.service_url, {})
    body.update(type="invoke", name=name)
    reply = await emu_server.activity({k: v for k, v in body.items() if v is not None})
    assert reply.status == 400, reply.text


# -- malformed input never gives a 5xx ---------------------------------------------------------------------


def _activity(su, **fields) -> bytes:
    body = {
        "type": "message",
        "id": "1:x",
        "channelId": "msteams",
        "serviceUrl": su,
        "from": {"id": "29:1staffMember"},
        "recipient": {"id": BOT_ID},
        "conversation": {"id": "a:1on1-29:1staffMember"},
    }
    body.update(fields)
    return json.dumps({k: v for k, v in body.items() if v is not None}).encode()


MALFORMED = {
    "deep nesting": lambda su: b"[" * 5000,
    "deep nesting in an activity": lambda su: _activity(su)[:-1] + b', "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    "invalid utf-8": lambda su: b'{"type": "message", "text": "\xff\xfe"}',
    "empty": lambda su: b"",
    "null": lambda su: b"null",
    "number": lambda su: b"123",
    "string": lambda su: b'"message"',
    "list": lambda su: b'[{"type": "message"}]',
    "type number": lambda su: b'{"type": 5}',
    "type empty": lambda su: b'{"type": ""}',
    "huge number": lambda su: _activity(su)[:-1] + b', "x": 1' + b"1" * 5000 + b"}",
    "from a number": lambda su: _activity(su, **{"from": 5}),
    "conversation a string": lambda su: _activity(su, conversation="x"),
    "no conversation": lambda su: _activity(su, conversation=None),
    "no sender": lambda su: _activity(su, **{"from": None}),
    "recipient a list": lambda su: _activity(su, recipient=[1]),
    "bad timestamp": lambda su: _activity(su, timestamp="not a date"),
    "entities a number": lambda su: _activity(su, entities=5),
    "attachments of numbers": lambda su: _activity(su, attachments=[5, "x"]),
    "text an object": lambda su: _activity(su, text={"a": 1}),
    "channelData a list": lambda su: _activity(su, channelData=[1, 2]),
    "value a string": lambda su: _activity(su, value="[[[", replyToId="1:card"),
    "value with odd fields": lambda su: _activity(su, value={"action_id": 5, "form": [], "fields": "x"}),
    "form submit with odd fields": lambda su: _activity(
        su, value={"action_id": "pb_form", "form": "f", "fields": [{"a": 1}, None]}
    ),
    "invoke without value": lambda su: _activity(su, type="invoke", name="adaptiveCard/action"),
    "invoke value a number": lambda su: _activity(su, type="invoke", name="adaptiveCard/action", value=5),
    "invoke action a string": lambda su: _activity(
        su, type="invoke", name="adaptiveCard/action", value={"action": "x"}
    ),
    "invoke unknown field": lambda su: _activity(
        su, type="invoke", name="adaptiveCard/action", value={"action": {"type": "Action.Execute"}, "zz": 1}
    ),
    "invoke data a number": lambda su: _activity(
        su, type="invoke", name="adaptiveCard/action", value={"action": {"type": "Action.Execute", "data": 5}}
    ),
    "invoke Action.Submit": lambda su: _activity(
        su, type="invoke", name="adaptiveCard/action", value={"action": {"type": "Action.Submit", "data": {}}}
    ),
    "members added a number": lambda su: _activity(su, type="conversationUpdate", membersAdded=5),
    "members without ids": lambda su: _activity(su, type="conversationUpdate", membersAdded=[{"id": 5}, {}]),
    "installation odd": lambda su: _activity(su, type="installationUpdate", action=5),
    "unknown type": lambda su: _activity(su, type="zzz"),
    "service url a number": lambda su: _activity(su, serviceUrl=5),
    "bot sender": lambda su: _activity(su, **{"from": {"id": "28:other", "role": "bot"}}),
}

BAD_TYPES = {
    "text/plain": "text/plain",
    "no content type": None,
    "unknown charset": "application/json; charset=klingon",
    "utf-16 declared": "application/json; charset=utf-16",
    "json-ish type": "application/json-patch+json",
}


async def _post(server, raw: bytes, content_type: str | None, headers: dict | None = None) -> int:
    h = dict(headers or {})
    if content_type is not None:
        h["Content-Type"] = content_type
    async with server.session.post(
        server.url + "/api/messages", data=raw, headers=h, skip_auto_headers=["Content-Type"]
    ) as r:
        await r.read()
        return r.status


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_bodies_never_give_a_5xx_in_emulator_mode(emu_server, connector, name):
    status = await _post(emu_server, MALFORMED[name](connector.service_url), "application/json")
    assert status < 500, (name, status)
    await connector.settle(0.05)
    assert (await emu_server.get("/healthz")).status == 200


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_bodies_never_give_a_5xx_with_a_valid_token(auth_server, keys, monkeypatch, name):
    import requests

    published, _ = keys
    monkeypatch.setattr(requests, "get", FakeOpenId(jwk_of(published)))
    status = await _post(auth_server, MALFORMED[name](SECURE_URL), "application/json", bearer(token(published)))
    assert status < 500, (name, status)


@pytest.mark.parametrize("name", list(BAD_TYPES))
async def test_bad_content_types_never_give_a_5xx(emu_server, connector, name):
    raw = _activity(connector.service_url)
    assert await _post(emu_server, raw, BAD_TYPES[name]) in (400, 415)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer a.b.c",
        "Bearer ...",
        "Bearer e30.e30.",
        "Bearer e30.bm90anNvbg.",
        "Basic e30=",
        "Bearer eyJhbGciOiJSUzI1NiJ9." + "A" * 6000 + ".x",
        "bearer e30.e30.x",
        "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6MX0.eyJpc3MiOjF9.x",  # kid and iss numbers
        "Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIiwiZXhwIjoic29vbiJ9.x",
    ],
)
async def test_malformed_authorization_headers_get_401(auth_server, stalled, header):
    raw = _activity(SECURE_URL)
    status = await _post(auth_server, raw, "application/json", {"Authorization": header})
    assert status == 401, header
    assert stalled.connections == 0
