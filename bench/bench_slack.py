"""Slack ack latency and time to answer: 20 concurrent signed ``message.im`` events at a time.

Runs the real server app (Bolt, aiohttp, slack_sdk) in-process on a loopback port against the fake Slack
Web API from the tests, and prints:

* ack latency (HTTP round trip of ``POST /slack/events``) p50 / p99 / max, in ms;
* time from sending an event until its ``chat.postMessage`` reaches the fake Slack, p50 / p99 / max, in ms.

Usage: ``python bench/bench_slack.py [--rounds 5] [--concurrency 20] [--real]`` (``--real`` uses the
all-MiniLM-L6-v2 model; the default fake embedder isolates the adapter's own cost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
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


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


async def main(rounds: int, concurrency: int, real: bool) -> None:
    from fakes.harness import ServerHarness
    from fakes.slack_api import FakeSlackAPI, message_im_event

    from bot.app import open_policybot
    from bot.engine import ConversationEngine

    embedder = None
    if not real:
        from index.embed import FakeEmbedder

        embedder = FakeEmbedder()
    with tempfile.TemporaryDirectory() as data:
        bot = open_policybot(data, embedder=embedder)
        fake = await FakeSlackAPI().start()
        h = await ServerHarness(bot, ConversationEngine(bot), fake).start(ready_timeout=600)
        acks: list[float] = []
        answers: list[float] = []
        try:
            n = 0
            for rnd in range(rounds + 1):  # round 0 warms up
                sent = {}
                batch = []
                for _ in range(concurrency):
                    n += 1
                    channel = f"D{n:08d}"
                    batch.append(
                        (channel, message_im_event(QUESTIONS[n % len(QUESTIONS)], user=f"U{n:08d}", channel=channel))
                    )

                async def one(channel, body):
                    sent[channel] = time.perf_counter()
                    r = await h.event(body)
                    assert r.status == 200, r.status
                    return r.elapsed

                elapsed = await asyncio.gather(*(one(c, b) for c, b in batch))
                channels = set(sent)
                await fake.wait_for(
                    "chat.postMessage",
                    count=len(channels),
                    timeout=120,
                    where=lambda c: c.params.get("channel") in channels,
                )
                if rnd == 0:
                    continue
                acks += elapsed
                first = {}
                for c in fake.calls_to("chat.postMessage"):
                    ch = c.params.get("channel")
                    if ch in channels and ch not in first:
                        first[ch] = c.at
                answers += [first[ch] - sent[ch] for ch in channels]
        finally:
            await h.stop()
            await fake.stop()
    ms = lambda v: f"{v * 1000:.1f}"
    print(
        f"Slack benchmark: {rounds} rounds x {concurrency} concurrent signed message.im events "
        f"({'real model' if real else 'fake embedder'}), {len(acks)} events"
    )
    print(f"  ack latency      p50 {ms(pct(acks, 50))} ms   p99 {ms(pct(acks, 99))} ms   max {ms(max(acks))} ms")
    print(
        f"  to postMessage   p50 {ms(pct(answers, 50))} ms   p99 {ms(pct(answers, 99))} ms   max {ms(max(answers))} ms"
        f"   (mean {ms(statistics.mean(answers))} ms)"
    )


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--real", action="store_true", help="use the real embedding model")
    a = ap.parse_args()
    asyncio.run(main(a.rounds, a.concurrency, a.real))
