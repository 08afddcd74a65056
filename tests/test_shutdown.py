"""Graceful shutdown of the real ``policybot serve`` process: SIGTERM while work is in flight.

1. A web chat request the engine is working on when SIGTERM comes: the listening socket closes
   (new connections are refused) but that request is still answered, then the process exits 0.
   A client still sending its request body then is cut off after the drain timeout instead.
2. A Slack DM acknowledged before SIGTERM whose answer is still being posted (the fake Slack Web API
   holds ``chat.postMessage``): the answer is delivered during the drain, then the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import aiohttp
from fakes.harness import SECRET
from fakes.slack_api import FakeSlackAPI, message_im_event, signed_headers

CLI = [sys.executable, "-m", "adapters.cli"]
QUESTION = "Can I post pictures of service users?"


def server_env(tmp_path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft", "POLICYBOT_"))}
    env.update(POLICYBOT_DATA_DIR=str(tmp_path), POLICYBOT_FAKE_EMBEDDER="1", POLICYBOT_TEAMS="off", **extra)
    return env


#: ``policybot serve`` through its real entry point, with the engine slowed for messages containing
#: ``SLOW``: it touches ``$SLOW_MARK`` when such a message starts and takes ``$SLOW_SECONDS`` over it
SLOW_SERVE = """
import os, sys, time
from pathlib import Path
from bot.engine import ConversationEngine
_handle = ConversationEngine.handle
def handle(self, inbound):
    if "SLOW" in (inbound.text or ""):
        Path(os.environ["SLOW_MARK"]).touch()
        time.sleep(float(os.environ["SLOW_SECONDS"]))
    return _handle(self, inbound)
ConversationEngine.handle = handle
from adapters.cli import main
sys.exit(main(sys.argv[1:]))
"""


async def start_server(env: dict, slow: bool = False):
    argv = [sys.executable, "-c", SLOW_SERVE] if slow else CLI
    proc = await asyncio.create_subprocess_exec(
        *argv, "serve", "--port", "0", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
    assert "policybot serving on http://127.0.0.1:" in line, line
    url = line.split()[3]
    async with aiohttp.ClientSession() as s:
        for _ in range(1000):
            async with s.get(url + "/healthz") as r:
                if r.status == 200:
                    return proc, url
            await asyncio.sleep(0.02)
    raise TimeoutError("server never became ready")


async def stop(proc) -> None:
    if proc.returncode is None:
        proc.kill()
        await proc.wait()


async def refused(host: str, port: int) -> bool:
    try:
        _, w = await asyncio.open_connection(host, port)
    except OSError:
        return True
    w.close()
    return False


async def cookie_for(url: str) -> str:
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as s:
        async with s.get(url + "/chat/api/me") as r:
            assert r.status == 200
    return "; ".join(f"{c.key}={c.value}" for c in jar)


async def send_message(url: str, cookie: str, text: str, body_cut: int | None = None):
    """Open a connection and send a web chat message (all of it, or only ``body_cut`` bytes of the body);
    returns ``(reader, writer, rest_of_body)``."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = json.dumps({"text": text}).encode()
    cut = len(body) if body_cut is None else body_cut
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(
        (
            f"POST /chat/api/message HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            f"Cookie: {cookie}\r\nConnection: close\r\n\r\n"
        ).encode()
        + body[:cut]
    )
    await writer.drain()
    return reader, writer, body[cut:]


async def port_closes(url: str) -> None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    for _ in range(200):
        if await refused(host, int(port)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the server kept listening after SIGTERM")


async def test_sigterm_lets_a_web_chat_request_in_flight_finish(tmp_path):
    mark = tmp_path / "slow-started"
    proc, url = await start_server(server_env(tmp_path, SLOW_MARK=str(mark), SLOW_SECONDS="2"), slow=True)
    try:
        cookie = await cookie_for(url)
        reader, writer, _ = await send_message(url, cookie, "SLOW " + QUESTION)
        for _ in range(500):  # the engine is now working on it
            if mark.exists():
                break
            await asyncio.sleep(0.01)
        assert mark.exists()
        proc.send_signal(signal.SIGTERM)
        await port_closes(url)  # shutdown has begun
        assert proc.returncode is None  # still finishing our request
        raw = await asyncio.wait_for(reader.read(), 30)
        writer.close()
        head, _, payload = raw.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        messages = json.loads(payload)["messages"]
        assert [m["kind"] for m in messages] == ["answer"]
        assert "Never post pictures of service users" in json.dumps(messages)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await stop(proc)


async def test_a_client_stalled_mid_request_does_not_hold_shutdown(tmp_path):
    """aiohttp reads nothing more once shutdown begins, so a request whose body is still arriving cannot
    finish: it is cut after the drain timeout (10 s) and the process still exits 0, well inside
    the container's stop grace period."""
    proc, url = await start_server(server_env(tmp_path))
    try:
        reader, writer, rest = await send_message(url, await cookie_for(url), QUESTION, body_cut=10)
        await asyncio.sleep(0.3)
        t0 = asyncio.get_running_loop().time()
        proc.send_signal(signal.SIGTERM)
        await port_closes(url)
        writer.write(rest)
        assert await asyncio.wait_for(proc.wait(), 40) == 0
        assert asyncio.get_running_loop().time() - t0 < 25
        writer.close()
    finally:
        await stop(proc)


class SlowSlack(FakeSlackAPI):
    """A fake Slack whose ``chat.postMessage`` waits for ``release`` before answering."""

    def __init__(self):
        super().__init__()
        self.release = asyncio.Event()
        self.posting = asyncio.Event()

    async def _api(self, request):
        if request.match_info["method"] == "chat.postMessage":
            self.posting.set()
            await self.release.wait()
        return await super()._api(request)


async def test_sigterm_lets_a_slack_answer_being_posted_finish(tmp_path):
    fake = await SlowSlack().start()
    proc, url = await start_server(
        server_env(tmp_path, SLACK_BOT_TOKEN="xoxb-test-token", SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake.api_url)
    )
    try:
        body = json.dumps(message_im_event(QUESTION))
        async with aiohttp.ClientSession() as s:
            async with s.post(url + "/slack/events", data=body, headers=signed_headers(body, SECRET)) as r:
                assert r.status == 200  # acknowledged; the answer follows in the background
        await asyncio.wait_for(fake.posting.wait(), 30)
        proc.send_signal(signal.SIGTERM)
        await asyncio.sleep(1.0)
        assert proc.returncode is None  # draining: the answer is not posted yet
        fake.release.set()
        (post,) = await fake.wait_for("chat.postMessage", timeout=30)
        assert "Never post pictures of service users" in json.dumps(post.params["blocks"])
        assert await asyncio.wait_for(proc.wait(), 30) == 0
    finally:
        await stop(proc)
        await fake.stop()
