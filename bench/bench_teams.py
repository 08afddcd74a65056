"""Teams reply latency: rounds of 20 concurrent message activities POSTed to ``/api/messages``.

Runs the real server app (botbuilder ``CloudAdapter``, aiohttp) in-process on a loopback port in
Emulator mode (no app id, unauthenticated), with every activity's ``serviceUrl`` pointing at the fake
Bot Connector from the tests, and prints one JSON object:

* ``http_ms``: HTTP round trip of ``POST /api/messages`` (the turn runs inside the request, so this
  includes answering), p50 / p99 / max / mean, in ms;
* ``reply_ms``: time from starting the POST until the fake Bot Connector receives the reply
  (``POST /v3/conversations/{id}/activities/{replyToId}``), p50 / p99 / max / mean, in ms;
* ``throughput_per_s``: activities answered per second of wall time over the measured rounds.

Each of the ``concurrency`` senders has its own personal chat, reused across rounds (their conversation
references are stored once, during the warm-up round, as in steady use). Round 0 warms up and is not
counted.

Usage: ``python bench/bench_teams.py [--rounds 5] [--concurrency 20] [--real]`` (``--real`` uses the
all-MiniLM-L6-v2 model, the ``open_policybot(data_dir)`` default; the default fake embedder isolates
the adapter's own cost).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

QUESTIONS = [
    "Can I post pictures of service users?",
    "can I accept a colleague's friend request?",
    "What is LinkedIn?",
    "Who do I tell about press contact?",
    "Can I use social media at work?",
]
JSON_HEADERS = {"Content-Type": "application/json"}


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values`` (a non-empty list, any unit)."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def summary_ms(values: list[float]) -> dict:
    """``{"p50", "p99", "max", "mean"}`` of ``values`` (seconds) in milliseconds, one decimal."""
    return {
        k: round(v * 1000, 1)
        for k, v in (
            ("p50", pct(values, 50)),
            ("p99", pct(values, 99)),
            ("max", max(values)),
            ("mean", statistics.mean(values)),
        )
    }


async def run(rounds: int, concurrency: int, real: bool) -> dict:
    """Run the benchmark; returns the figures printed by ``main`` (see the module docstring).

    Raises:
        AssertionError: a POST was not answered 201, or a reply carried no Adaptive Card.
        TimeoutError: replies did not all reach the fake Bot Connector within 300 s.
    """
    from fakes.bot_connector import FakeBotConnector, message
    from fakes.harness import ServerHarness

    from bot.app import open_policybot
    from bot.engine import ConversationEngine

    embedder = None
    if not real:
        from index.embed import FakeEmbedder

        embedder = FakeEmbedder()
    http: list[float] = []
    replies: list[float] = []
    wall = 0.0
    with tempfile.TemporaryDirectory() as data:
        t_open = time.perf_counter()
        bot = open_policybot(data, embedder=embedder)
        fake = await FakeBotConnector().start()
        env = {"POLICYBOT_WEBCHAT": "off"}  # Teams alone, Emulator mode (no MicrosoftAppId)
        h = await ServerHarness(bot, ConversationEngine(bot, reporting=False), None, env=env).start(ready_timeout=600)
        startup = time.perf_counter() - t_open
        try:
            users = [f"29:1benchUser{i:04d}" for i in range(concurrency)]
            for rnd in range(rounds + 1):  # round 0 warms up
                batch = [
                    message(fake.service_url, QUESTIONS[(rnd * concurrency + i) % len(QUESTIONS)], user=u)
                    for i, u in enumerate(users)
                ]
                ids = {b["id"] for b in batch}
                sent: dict[str, float] = {}

                async def one(body: dict) -> float:
                    sent[body["id"]] = time.perf_counter()
                    r = await h.post_raw(json.dumps(body), JSON_HEADERS, path="/api/messages")
                    assert r.status == 201, (r.status, r.text)
                    return r.elapsed

                t0 = time.perf_counter()
                elapsed = await asyncio.gather(*(one(b) for b in batch))
                got = await fake.wait_for(lambda p: p.reply_to_id in ids, count=len(ids), timeout=300)
                t1 = time.perf_counter()
                first: dict[str, float] = {}
                for p in got:
                    assert p.cards, "a reply without an Adaptive Card"
                    first.setdefault(p.reply_to_id, p.at)
                if rnd == 0:
                    continue
                wall += t1 - t0
                http += elapsed
                replies += [first[i] - sent[i] for i in ids]
        finally:
            await h.stop()
            await fake.stop()
    return {
        "benchmark": "teams",
        "model": "all-MiniLM-L6-v2" if real else "fake embedder",
        "rounds": rounds,
        "concurrency": concurrency,
        "activities": len(http),
        "http_ms": summary_ms(http),
        "reply_ms": summary_ms(replies),
        "throughput_per_s": round(len(http) / wall, 1),
        "startup_s": round(startup, 1),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark and print its figures as one JSON object; exit 0."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--real", action="store_true", help="use the real embedding model")
    a = ap.parse_args(argv)
    print(json.dumps(asyncio.run(run(a.rounds, a.concurrency, a.real)), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
