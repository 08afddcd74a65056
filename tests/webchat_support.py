"""Helpers shared by the web chat tests (imported by them; holds no tests itself): the real server
in-process on 127.0.0.1 and browser-like aiohttp clients."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from fakes.loopback import serve_on_loopback

from adapters.server import CTX_KEY, ServerSettings, build_app
from adapters.webchat import COOKIE

BASE_ENV = {"POLICYBOT_TEAMS": "off"}  #: the web chat alone (Teams is also on by default on loopback)


@dataclass
class Reply:
    """One HTTP response: status, headers, body text, cookies set."""

    status: int
    headers: dict
    text: str
    cookies: dict

    def json(self):
        return json.loads(self.text)


class WebChatServer:
    """``build_app`` served on 127.0.0.1:<free port>; ``host`` is the address the server believes it is bound
    to (so the non-loopback rules can be tested without listening on a public interface).

    ``client()`` opens a browser-like client with its own cookie jar (each one a separate person).
    """

    def __init__(self, bot, engine, env: dict | None = None, host: str = "127.0.0.1"):
        self.bot, self.engine = bot, engine
        self.env = dict(BASE_ENV, **(env or {}))
        self.host = host
        self.runner: web.AppRunner | None = None
        self.clients: list[Client] = []
        self.url = ""

    async def __aenter__(self) -> WebChatServer:
        self.app = build_app(self.bot, self.engine, ServerSettings(host=self.host, port=0, env=self.env))
        self.ctx = self.app[CTX_KEY]
        self.runner, port = await serve_on_loopback(self.app)
        self.url = f"http://127.0.0.1:{port}"
        probe = self.client()
        for _ in range(3000):
            if (await probe.get("/healthz")).status == 200:
                break
            await asyncio.sleep(0.02)
        else:
            raise TimeoutError("server never became ready")
        return self

    async def __aexit__(self, *exc) -> None:
        for c in self.clients:
            await c.session.close()
        await self.runner.cleanup()

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.ctx.channels]

    def client(self) -> Client:
        c = Client(self.url)
        self.clients.append(c)
        return c


class Client:
    """A real aiohttp client session with a cookie jar that accepts cookies from 127.0.0.1."""

    def __init__(self, url: str):
        self.url = url
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def request(self, method: str, path: str, **kw) -> Reply:
        async with self.session.request(method, self.url + path, **kw) as r:
            return Reply(r.status, dict(r.headers), await r.text(), {k: m.value for k, m in r.cookies.items()})

    async def get(self, path: str, **kw) -> Reply:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, body=None, **kw) -> Reply:
        """POST ``body`` as JSON (``Content-Type: application/json``, no Origin header, like curl)."""
        return await self.request("POST", path, json={} if body is None else body, **kw)

    async def say(self, text: str) -> list[dict]:
        r = await self.post("/chat/api/message", {"text": text})
        assert r.status == 200, r.text
        return r.json()["messages"]

    async def press(self, action_id: str, value: str = "") -> list[dict]:
        r = await self.post("/chat/api/message", {"action_id": action_id, "value": value})
        assert r.status == 200, r.text
        return r.json()["messages"]

    async def sign_in_as(self, user_id: str) -> None:
        """Loopback demo: "Sign in as" a directory person."""
        assert (await self.get("/chat/api/me")).status == 200
        r = await self.post("/chat/api/identity", {"user_id": user_id})
        assert r.status == 200 and r.json()["user_id"] == user_id, r.text

    def cookie(self) -> str | None:
        for m in self.session.cookie_jar:
            if m.key == COOKIE:
                return m.value
        return None
