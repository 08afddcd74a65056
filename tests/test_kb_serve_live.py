"""The issue's "done when", end to end with the real model and a running server: ``policybot serve`` (a
real subprocess, Slack against a fake Slack Web API in this test) on an empty data dir answers in
Slack DMs; ``policybot kb add`` (another process, same data dir) of a council's guidance that is not
among the five makes its clauses the answers to questions only it covers, the five policies still
answer their questions, and ``kb remove`` takes it out again, all without restarting the server."""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import signal
import sys
import time

import aiohttp
import pytest
from fakes.harness import SECRET, TOKEN
from fakes.slack_api import FakeSlackAPI, message_im_event, signed_headers
from kb_helpers import NORTHBROOK_MD, make_docx

from knowledge.catalog import EVAL_DIR
from knowledge.segment import normalise

DOC_ID = "northbrook-social-media-guidance-for-staff"
ONLY_NORTHBROOK = {
    "Can I live-stream from a council building?": "Staff must not live-stream from council buildings",
    "Can we use a WhatsApp group to swap shifts?": "WhatsApp group to arrange rota swaps",
}
FIVE = ("d01", "d03", "d07", "d08")  # dev questions the five bundled policies answer
USER, DM = "U0000042", "D0000042"


def _env(data_dir, fake: FakeSlackAPI) -> dict:
    env = dict(
        os.environ,
        POLICYBOT_DATA_DIR=str(data_dir),
        HF_HUB_OFFLINE="1",
        SLACK_BOT_TOKEN=TOKEN,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.api_url,
        POLICYBOT_TEAMS="off",
        POLICYBOT_WEBCHAT="off",
    )
    for name in (
        "POLICYBOT_FAKE_EMBEDDER",
        "POLICYBOT_REPORT_KEY",
        "POLICYBOT_REPORT_KEY_FILE",
        "POLICYBOT_DEV",
        "POLICYBOT_DIRECTORY",
    ):
        env.pop(name, None)
    return env


async def _cli(args, env) -> tuple[str, float]:
    """Run ``policybot ARGS`` as its own process; returns (stdout, the moment it exited)."""
    p = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        *map(str, args),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(p.communicate(), 600)
    assert p.returncode == 0, err.decode()
    return out.decode(), time.perf_counter()


class Asker:
    """Asks the server questions as a Slack DM and reads the answers from the fake Slack."""

    def __init__(self, url: str, fake: FakeSlackAPI, session: aiohttp.ClientSession):
        self.url, self.fake, self.session = url, fake, session

    async def ask(self, question: str) -> str:
        """The answer's quoted text (unescaped, normalised), "" when the bot found no guidance."""
        n = len(self.fake.calls_to("chat.postMessage"))
        raw = json.dumps(message_im_event(question, user=USER, channel=DM))
        async with self.session.post(
            self.url + "/slack/events", data=raw.encode(), headers=signed_headers(raw, SECRET)
        ) as r:
            assert r.status == 200
        posts = await self.fake.wait_for("chat.postMessage", n + 1, timeout=60)
        blocks = posts[n].params.get("blocks") or []
        quotes = [b["text"]["text"] for b in blocks if b.get("type") == "section" and b["text"]["text"].startswith(">")]
        sources = [
            el["text"]
            for b in blocks
            if b.get("type") == "context"
            for el in b.get("elements", [])
            if el.get("text", "").startswith("Source: ")
        ]
        text = " ".join(re.sub(r"^> ?", "", line) for q in quotes for line in q.split("\n"))
        return normalise(html.unescape(text) + " " + " ".join(html.unescape(s) for s in sources)).lower()

    async def until(self, question: str, test, timeout: float = 60.0) -> float:
        """Ask ``question`` every half second until ``test(answer)``; returns the moment it held."""
        deadline = time.perf_counter() + timeout
        while True:
            answer = await self.ask(question)
            if test(answer):
                return time.perf_counter()
            assert time.perf_counter() < deadline, f"{question!r} never changed: {answer[:300]}"
            await asyncio.sleep(0.5)


@pytest.mark.model
async def test_done_when_through_a_running_policybot_serve(tmp_path):
    data = tmp_path / "data"
    assert not data.exists()
    fake = await FakeSlackAPI().start()
    env = _env(data, fake)
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "adapters.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    session = aiohttp.ClientSession()
    try:
        line = (await asyncio.wait_for(server.stdout.readline(), 120)).decode()
        url = re.search(r"serving on (http://\S+) ", line).group(1)
        started = time.perf_counter()
        while True:  # the first start embeds the five policies
            async with session.get(url + "/healthz") as r:
                if r.status == 200:
                    assert (await r.json())["clauses"] == 208
                    break
            assert time.perf_counter() - started < 600, "the server never became ready"
            await asyncio.sleep(0.5)
        asker = Asker(url, fake, session)
        five = {q["id"]: q for q in json.loads((EVAL_DIR / "dev_questions.json").read_text()) if q["id"] in FIVE}

        def northbrook(answer: str) -> bool:
            return "northbrook district council - social media guidance for staff" in answer  # normalised dash

        for q in ONLY_NORTHBROOK:
            assert not northbrook(await asker.ask(q)), q

        docx = tmp_path / "Northbrook social media guidance.docx"
        docx.write_bytes(make_docx(NORTHBROOK_MD.read_text(encoding="utf-8")))
        out, added_at = await _cli(["kb", "add", docx, "--organisation", "Northbrook District Council"], env)
        assert f"Added {DOC_ID} version 1: 12 clause(s) live." in out
        first = next(iter(ONLY_NORTHBROOK))
        live_at = await asker.until(first, northbrook)
        for q, needle in ONLY_NORTHBROOK.items():
            answer = await asker.ask(q)
            assert northbrook(answer) and normalise(needle).lower() in answer, q
            assert "(v 1, added " in answer
        for qid, q in five.items():
            answer = await asker.ask(q["q"])
            assert any(normalise(g).lower() in answer for g in q["gold"]), qid

        out, removed_at = await _cli(["kb", "remove", DOC_ID], env)
        assert "no longer cited" in out
        gone_at = await asker.until(first, lambda a: not northbrook(a))
        for q in ONLY_NORTHBROOK:
            assert not northbrook(await asker.ask(q)), q
        for qid, q in five.items():
            answer = await asker.ask(q["q"])
            assert any(normalise(g).lower() in answer for g in q["gold"]), qid
        assert server.returncode is None  # the same server process throughout
        print(f"\nkb add -> live answer: {live_at - added_at:.2f} s; kb remove -> gone: {gone_at - removed_at:.2f} s")
    finally:
        await session.close()
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(server.wait(), 30)
            except TimeoutError:
                server.kill()
                await server.wait()
        await fake.stop()
