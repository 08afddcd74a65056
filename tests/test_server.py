"""``policybot serve``: health, configuration, the channel registry, background work and the real CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import threading
import types

import pytest
from fakes.harness import SECRET, ServerHarness
from fakes.slack_api import FakeSlackAPI, message_im_event, signed_headers

from adapters.server import ConfigError, ServerSettings, build_app
from adapters.slack import slack_settings
from bot.engine import ConversationEngine

CLI = [sys.executable, "-m", "adapters.cli"]
NO_CHANNELS = {
    "POLICYBOT_TEAMS": "off",
    "POLICYBOT_WEBCHAT": "off",
}  #: Teams and web chat are on by default on loopback


class SlowIndex:
    """Wraps an index so ``refresh()`` waits for ``release`` (or raises ``fail``)."""

    def __init__(self, inner, fail: Exception | None = None):
        self.inner = inner
        self.release = threading.Event()
        self.fail = fail

    def refresh(self, *a, **kw):
        self.release.wait(10)
        if self.fail:
            raise self.fail
        return self.inner.refresh(*a, **kw)

    def __getattr__(self, name):
        return getattr(self.inner, name)


async def test_healthz_is_503_until_the_index_is_loaded(fake_bot):
    slow = SlowIndex(fake_bot.index)
    fake_bot.index = slow
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot), None, env=NO_CHANNELS).start(wait_ready=False)
    try:
        r = await h.get("/healthz")
        assert r.status == 503 and r.json()["status"] == "loading"
        slow.release.set()
        await h.wait_ready()
        r = await h.get("/healthz")
        assert r.status == 200 and r.json() == {"status": "ok", "clauses": 208, "channels": []}
    finally:
        await h.stop()


async def test_healthz_reports_an_index_failure(fake_bot):
    slow = SlowIndex(fake_bot.index, fail=OSError("disk gone"))
    slow.release.set()
    fake_bot.index = slow
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot), None, env=NO_CHANNELS).start(wait_ready=False)
    try:
        for _ in range(100):
            r = await h.get("/healthz")
            if r.json()["status"] != "loading":
                break
            await asyncio.sleep(0.02)
        assert r.status == 503 and r.json()["status"] == "error"
    finally:
        await h.stop()


async def test_without_slack_credentials_there_is_no_slack_route(fake_bot):
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot), None, env=NO_CHANNELS).start()
    try:
        assert (await h.post_raw("{}", {"Content-Type": "application/json"})).status == 404
        assert (await h.get("/healthz")).json()["channels"] == []
    finally:
        await h.stop()


@pytest.mark.parametrize(
    "env,socket,needle",
    [
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, False, "set SLACK_SIGNING_SECRET"),
        ({"SLACK_SIGNING_SECRET": "s"}, False, "set SLACK_BOT_TOKEN"),
        ({"SLACK_APP_TOKEN": "xapp-1", "SLACK_BOT_TOKEN": "xoxb-1"}, False, "--slack-socket-mode"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, True, "set SLACK_APP_TOKEN"),
        ({}, True, "SLACK_BOT_TOKEN and SLACK_APP_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xapp-1", "SLACK_SIGNING_SECRET": "s"}, False, "starting with 'xoxb-'"),
        ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"}, True, "starting with 'xapp-'"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "slack.local"},
            False,
            "http(s) URL",
        ),
    ],
)
def test_half_set_slack_configuration_is_refused(env, socket, needle):
    with pytest.raises(ConfigError, match=".*") as info:
        slack_settings(env, socket)
    assert needle in str(info.value)


def test_slack_configuration():
    assert slack_settings({}) is None
    assert slack_settings({"SLACK_API_URL": "http://x/api"}) is None
    s = slack_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://x/api"})
    assert s.api_url == "http://x/api/" and not s.socket_mode
    assert (
        slack_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}).api_url == "https://slack.com/api/"
    )
    s = slack_settings({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, socket_mode=True)
    assert s.socket_mode and s.signing_secret is None


def test_build_app_refuses_a_half_set_configuration(fake_bot):
    with pytest.raises(ConfigError):
        build_app(fake_bot, ConversationEngine(fake_bot), ServerSettings(env={"SLACK_BOT_TOKEN": "xoxb-1"}))


async def test_channel_registry_start_stop_and_fan_out(fake_bot, monkeypatch):
    from bot.messages import Outbound

    events = []

    class Channel:
        def __init__(self, name, reaches):
            self.name, self.reaches = name, reaches

        async def start(self):
            events.append(("start", self.name))

        async def stop(self):
            events.append(("stop", self.name))

        async def deliver(self, user_id, outbound):
            events.append(("deliver", self.name, user_id))
            return user_id in self.reaches

    module = types.ModuleType("fake_channels_for_test")
    module.attach = lambda app, ctx: Channel("one", {"a"})
    module2 = types.ModuleType("fake_channels_for_test2")
    module2.attach = lambda app, ctx: Channel("two", {"b"})
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(sys.modules, module2.__name__, module2)

    class Watcher:
        checks = 0

        def check(self):
            Watcher.checks += 1

    fake_bot.watcher = Watcher()
    app = build_app(
        fake_bot,
        ConversationEngine(fake_bot),
        ServerSettings(env={}, watch_interval=0.02),
        modules=(module.__name__, "no_such_channel_module", module2.__name__),
    )
    from aiohttp.test_utils import TestClient, TestServer

    async with TestClient(TestServer(app)) as client:
        ctx = app[__import__("adapters.server").server.CTX_KEY]
        await asyncio.wait_for(ctx.ready.wait(), 10)
        assert (await client.get("/healthz")).status == 200
        assert await ctx.deliver(Outbound(kind="text", text="x", to_user="b"))
        assert not await ctx.deliver(Outbound(kind="text", text="x", to_user="c"))
        await asyncio.sleep(0.1)
        assert Watcher.checks >= 1
    assert events[:2] == [("start", "one"), ("start", "two")]
    assert ("deliver", "one", "b") in events and ("deliver", "two", "b") in events
    assert events[-2:] == [("stop", "one"), ("stop", "two")]


def test_a_channel_without_the_protocol_is_refused_when_attached(fake_bot, monkeypatch):
    class DeliverOnly:  # no start/stop: the server would have had to guess what it can do
        name = "half"

        async def deliver(self, user_id, outbound):
            return True

    module = types.ModuleType("fake_half_channel_for_test")
    module.attach = lambda app, ctx: DeliverOnly()
    monkeypatch.setitem(sys.modules, module.__name__, module)
    with pytest.raises(TypeError, match="fake_half_channel_for_test.attach returned DeliverOnly"):
        build_app(fake_bot, ConversationEngine(fake_bot), ServerSettings(env={}), modules=(module.__name__,))


def test_every_channel_module_checks_its_config_and_attaches_a_channel(fake_bot):
    """The shipped channels all meet the Protocol (the web chat too, which has nothing to start)."""
    import importlib

    from adapters.server import CHANNEL_MODULES, Channel, ServerContext

    for name in CHANNEL_MODULES:
        module = importlib.import_module(name)
        assert callable(module.check_config) and callable(module.attach), name
    from adapters.webchat import WebChatChannel, WebChatSettings

    ctx = ServerContext(fake_bot, ConversationEngine(fake_bot), ServerSettings(env={}))
    assert isinstance(WebChatChannel(ctx, WebChatSettings(mode="loopback")), Channel)


def test_serve_refuses_half_set_slack_config(tmp_path):
    import subprocess

    env = dict(os.environ, POLICYBOT_DATA_DIR=str(tmp_path), POLICYBOT_FAKE_EMBEDDER="1", SLACK_BOT_TOKEN="xoxb-1")
    env.pop("SLACK_SIGNING_SECRET", None)
    env.pop("SLACK_APP_TOKEN", None)
    p = subprocess.run(CLI + ["serve", "--port", "0"], env=env, capture_output=True, timeout=60)
    assert p.returncode == 2
    assert b"set SLACK_SIGNING_SECRET" in p.stderr and b"Traceback" not in p.stderr


async def test_serve_cli_answers_a_signed_dm_and_stops_on_sigterm(tmp_path):
    """The real ``policybot serve`` process: prints its URL, serves /healthz and /slack/events, exits 0 on SIGTERM."""
    import aiohttp

    fake = await FakeSlackAPI().start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLACK_")}
    env.update(
        POLICYBOT_DATA_DIR=str(tmp_path),
        POLICYBOT_FAKE_EMBEDDER="1",
        SLACK_BOT_TOKEN="xoxb-test-token",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.api_url,
    )
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", "0", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert "policybot serving on http://127.0.0.1:" in line and "slack" in line
        url = line.split()[3]
        async with aiohttp.ClientSession() as s:
            for _ in range(500):
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.02)
            body = json.dumps(message_im_event("Can I post pictures of service users?"))
            async with s.post(url + "/slack/events", data=body, headers=signed_headers(body, SECRET)) as r:
                assert r.status == 200
            async with s.post(url + "/slack/events", data=body, headers={"Content-Type": "application/json"}) as r:
                assert r.status == 401
        (post,) = await fake.wait_for("chat.postMessage", timeout=30)
        assert "Never post pictures of service users" in json.dumps(post.params["blocks"])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await fake.stop()


async def test_the_model_is_loaded_before_the_server_says_ready(fake_bot):
    """An index loaded from disk needs no model; the server loads it anyway before /healthz turns 200,
    so the first question is not the one that waits for it."""
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    fake_bot.index.refresh()  # built and saved: a second open loads it without embedding anything

    class Counting(FakeEmbedder):
        calls = 0

        def encode(self, texts, progress=False):
            Counting.calls += 1
            return super().encode(texts, progress)

    bot = open_policybot(fake_bot.data_dir, embedder=Counting())
    h = await ServerHarness(bot, ConversationEngine(bot, reporting=False), None, env=NO_CHANNELS).start()
    try:
        assert (await h.get("/healthz")).status == 200
        assert Counting.calls == 1  # the warm-up query, nothing re-embedded
    finally:
        await h.stop()


async def test_an_undeliverable_outbox_message_waits_quietly_and_another_is_a_warning(fake_bot, caplog):
    """An outbox message nobody can be pushed now stays queued (the web chat shows it when that person opens
    it): info, not a warning on every start of the demo; a message without the outbox is lost: a warning."""
    from adapters.server import ServerContext
    from bot.messages import Outbound

    ctx = ServerContext(fake_bot, ConversationEngine(fake_bot), ServerSettings(env={}))
    caplog.set_level(logging.INFO, logger="policybot.server")
    assert not await ctx.deliver(Outbound(kind="notification", text="x", to_user="bob", case_id="C-00001", outbox_id=7))
    assert not await ctx.deliver(Outbound(kind="text", text="y", to_user="bob", case_id="C-00002"))
    levels = {r.getMessage(): r.levelno for r in caplog.records if r.name == "policybot.server"}
    assert levels == {
        "a notification message (case C-00001) waits in the outbox: no channel reaches that user now": logging.INFO,
        "could not deliver a text message (case C-00002): no channel reaches that user": logging.WARNING,
    }
