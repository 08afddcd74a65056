"""Run ``policybot serve``'s aiohttp app in-process on a loopback port, talking to a ``FakeSlackAPI``.

Used by the Slack/server tests and by ``bench/bench_slack.py``.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from fakes.loopback import serve_on_loopback
from fakes.slack_api import FakeSlackAPI, interactive, signed_headers

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@dataclass
class Reply:
    """An HTTP response from the server under test and how long it took (seconds)."""

    status: int
    text: str
    elapsed: float

    def json(self):
        return json.loads(self.text)


class ServerHarness:
    """The server under test (``adapters.server.build_app``) on 127.0.0.1:<free port>.

    Args:
        policybot, engine: what the server serves.
        fake: a started ``FakeSlackAPI`` (its ``api_url`` becomes ``SLACK_API_URL``).
        env: extra/overriding environment for the server (default: bot token, signing secret, API URL).
        directory: an optional directory for Slack id <-> user id mapping.
    """

    def __init__(
        self,
        policybot,
        engine,
        fake: FakeSlackAPI | None,
        env: dict | None = None,
        directory=None,
        socket_mode: bool = False,
        **settings,
    ):
        self.policybot = policybot
        self.engine = engine
        self.fake = fake
        self.env = (
            {"SLACK_BOT_TOKEN": TOKEN, "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": fake.api_url} if fake else {}
        )
        self.env.update(env or {})
        self.directory = directory
        self.socket_mode = socket_mode
        self.settings_kw = settings
        self.runner: web.AppRunner | None = None
        self.session: aiohttp.ClientSession | None = None
        self.url = ""
        self.app: web.Application | None = None

    async def start(self, wait_ready: bool = True, ready_timeout: float = 60.0) -> ServerHarness:
        from adapters.server import CTX_KEY, ServerSettings, build_app

        settings = ServerSettings(
            host="127.0.0.1",
            port=0,
            env=self.env,
            slack_socket_mode=self.socket_mode,
            directory=self.directory,
            **self.settings_kw,
        )
        self.app = build_app(self.policybot, self.engine, settings)
        self.ctx = self.app[CTX_KEY]
        self.runner, port = await serve_on_loopback(self.app)
        self.url = f"http://127.0.0.1:{port}"
        self.session = aiohttp.ClientSession()
        if wait_ready:
            try:
                await self.wait_ready(ready_timeout)
            except BaseException:
                await self.stop()
                raise
        return self

    async def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            r = await self.get("/healthz")
            if r.status == 200:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("server never became ready")

    async def stop(self) -> None:
        if self.session:
            await self.session.close()
        if self.runner:
            await self.runner.cleanup()

    async def get(self, path: str) -> Reply:
        t0 = time.perf_counter()
        async with self.session.get(self.url + path) as r:
            return Reply(r.status, await r.text(), time.perf_counter() - t0)

    async def post_raw(self, body: str, headers: dict, path: str = "/slack/events") -> Reply:
        t0 = time.perf_counter()
        async with self.session.post(self.url + path, data=body.encode(), headers=headers) as r:
            return Reply(r.status, await r.text(), time.perf_counter() - t0)

    async def event(
        self, body: dict, timestamp: int | None = None, secret: str = SECRET, headers: dict | None = None
    ) -> Reply:
        """POST an Events API body, signed (``timestamp`` defaults to now)."""
        raw = json.dumps(body)
        h = signed_headers(raw, secret, timestamp)
        h.update(headers or {})
        return await self.post_raw(raw, h)

    async def form(self, raw: str, timestamp: int | None = None) -> Reply:
        """POST a form-encoded body (slash command), signed."""
        return await self.post_raw(raw, signed_headers(raw, SECRET, timestamp, "application/x-www-form-urlencoded"))

    async def payload(self, payload: dict) -> Reply:
        """POST an interactivity payload (``payload=<json>``), signed."""
        return await self.form(interactive(payload))
