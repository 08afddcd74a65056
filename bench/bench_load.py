"""Load benchmark: concurrent web chat and Slack requests against ``policybot serve`` on loopback.

Runs the real server app in-process on a 127.0.0.1 port (web chat in loopback mode, Slack over HTTP
against the fake Slack Web API from the tests, Teams off), warms it up, then sends ``--requests``
requests at once (default 200), each a different question (``POOL``): half ``POST /chat/api/message`` from
distinct web chat users (the
answer is in the response), half signed Slack ``message.im`` events from distinct Slack users (acknowledged
at once; the answer arrives later as ``chat.postMessage`` at the fake). Prints one JSON object:

* ``throughput_rps``: requests answered per second of wall time (from the first request sent until
  the last answer: the web chat response, or the Slack answer's ``chat.postMessage``);
* ``webchat``: HTTP round trip in ms (p50 / p99 / max); ``slack_ack``: the events' HTTP round trip;
  ``slack_answer``: from sending an event until its answer reached the fake Slack;
* ``server_metrics``: what the server's own ``/metrics`` counted (requests, answers, abstentions);
* ``rss_mb_before`` / ``peak_rss_mb``: this process's resident memory after warm-up and its peak
  (``VmHWM``, or ``ru_maxrss``), in MiB. The process holds the server, the clients and the fake
  Slack, so the peak is an upper bound for the server.

With ``--server-process`` the server runs as ``policybot serve`` in its own process (over a data dir
prepared by ``policybot index build``), as deployed: the clients and the fake Slack then no longer share
its event loop and CPU time, and the RSS figures (``server_rss_mb_after_start``, after warm-up, peak) are
the server's alone.

Usage: ``python bench/bench_load.py [--requests 200] [--real] [--server-process]`` (``--real`` uses the all-MiniLM-L6-v2
model; the default fake embedder measures the server without the model's cost). Every request goes
to 127.0.0.1 only; the run is bounded by ``--timeout`` seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
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
    "cn i add a service user on fb",
    "How do I bake sourdough bread?",  # out of scope: an abstention
]


#: every request asks a different question (the labelled sets' questions, then the ones above): concurrent
#: identical questions would be encoded once in a batch, which real traffic rarely offers
POOL = list(
    dict.fromkeys(
        [
            q["q"]
            for name in ("dev", "staff", "holdout", "holdout2")
            for q in json.loads((ROOT / "knowledge" / "eval" / f"{name}_questions.json").read_text())
        ]
        + QUESTIONS
    )
)


def pct(values: list[float], p: float) -> float:
    """The ``p``-th percentile (nearest rank) of ``values``."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def summary_ms(values: list[float]) -> dict:
    """``{"n", "p50_ms", "p99_ms", "max_ms"}`` of durations in seconds."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(pct(values, 50) * 1000, 1),
        "p99_ms": round(pct(values, 99) * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def rss_mb() -> tuple[float | None, float]:
    """(current RSS, peak RSS) of this process in MiB (``/proc`` VmRSS / VmHWM; peak falls back to ru_maxrss)."""
    cur = peak = None
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                cur = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024
    except OSError:
        pass
    if peak is None:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return cur, peak


class ServerProcess:
    """``policybot serve`` in its own process on a free 127.0.0.1 port, over a data dir prepared by
    ``policybot index build`` (index and question encoder ready, as after an install), Slack pointed at
    the fake Web API, Teams off, the web chat in loopback mode. ``url`` as ``ServerHarness.url``."""

    def __init__(self, data_dir: str, slack_api_url: str, real: bool) -> None:
        from fakes.harness import SECRET, TOKEN

        self.env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": data_dir,
            "HF_HUB_OFFLINE": "1",
            "POLICYBOT_DATA_DIR": str(Path(data_dir) / "data"),
            "POLICYBOT_TEAMS": "off",
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_URL": slack_api_url,
        }
        if os.environ.get("PYTHONPATH"):  # e.g. an older checkout's code, for a before/after comparison
            self.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        if not real:
            self.env["POLICYBOT_FAKE_EMBEDDER"] = "1"
        self.proc: asyncio.subprocess.Process | None = None
        self.url = ""

    async def start(self, timeout: float) -> ServerProcess:
        import socket

        import aiohttp

        exe = str(Path(sys.executable).with_name("policybot"))
        build = await asyncio.create_subprocess_exec(
            exe, "index", "build", env=self.env, stdout=asyncio.subprocess.DEVNULL
        )
        if await build.wait() != 0:
            raise RuntimeError("policybot index build failed")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.proc = await asyncio.create_subprocess_exec(
            exe, "serve", "--host", "127.0.0.1", "--port", str(port), env=self.env, stdout=asyncio.subprocess.DEVNULL
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(self.url + "/healthz") as r:
                        if r.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.2)
        raise RuntimeError("the server did not become ready")

    def rss(self) -> tuple[float | None, float]:
        """(current RSS, peak RSS) of the server process in MiB (``/proc/<pid>/status``)."""
        assert self.proc is not None
        values = {}
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(("VmRSS:", "VmHWM:")):
                values[line.split(":")[0]] = int(line.split()[1]) / 1024
        return values.get("VmRSS"), values.get("VmHWM", 0.0)

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


async def run(requests: int, real: bool, timeout: float, server_process: bool = False) -> dict:
    import aiohttp
    from fakes.harness import SECRET, ServerHarness
    from fakes.slack_api import FakeSlackAPI, message_im_event, signed_headers
    from prometheus_client.parser import text_string_to_metric_families

    from bot.app import open_policybot
    from bot.engine import ConversationEngine

    embedder = None
    if not real:
        from index.embed import FakeEmbedder

        embedder = FakeEmbedder()
    n_web = requests // 2
    n_slack = requests - n_web
    with tempfile.TemporaryDirectory() as data:
        fake = await FakeSlackAPI().start()
        server: ServerProcess | None = None
        if server_process:
            server = await ServerProcess(data, fake.api_url, real).start(timeout)
            h = server
        else:
            bot = open_policybot(data, embedder=embedder)
            h = await ServerHarness(bot, ConversationEngine(bot), fake, env={"POLICYBOT_TEAMS": "off"}).start(
                ready_timeout=600
            )
        server_start_mb = server.rss()[0] if server else None
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=timeout),
        )
        try:

            async def new_web_user() -> str:
                async with session.get(h.url + "/chat/api/me") as r:
                    assert r.status == 200, r.status
                    return "; ".join(f"{k}={m.value}" for k, m in r.cookies.items())

            async def web(cookie: str, text: str) -> float:
                t0 = time.perf_counter()
                async with session.post(
                    h.url + "/chat/api/message", json={"text": text}, headers={"Cookie": cookie}
                ) as r:
                    body = await r.json()
                    assert r.status == 200 and body["messages"], (r.status, body)
                return time.perf_counter() - t0

            async def slack(n: int, text: str, sent: dict) -> float:
                channel = f"D{n:08d}"
                raw = json.dumps(message_im_event(text, user=f"U{n:08d}", channel=channel))
                sent[channel] = time.perf_counter()
                async with session.post(
                    h.url + "/slack/events", data=raw.encode(), headers=signed_headers(raw, SECRET)
                ) as r:
                    assert r.status == 200, r.status
                return time.perf_counter() - sent[channel]

            cookies = await asyncio.gather(*(new_web_user() for _ in range(n_web)))
            # warm up: each kind a few times (model, tokenizer, Bolt, first connections)
            warm: dict = {}
            await asyncio.gather(*(web(cookies[i % n_web], q) for i, q in enumerate(QUESTIONS)))
            await asyncio.gather(*(slack(90_000_000 + i, q, warm) for i, q in enumerate(QUESTIONS)))
            await fake.wait_for(
                "chat.postMessage", count=len(warm), timeout=timeout, where=lambda c: c.params.get("channel") in warm
            )
            before, _ = server.rss() if server else rss_mb()

            sent: dict = {}
            started = time.perf_counter()
            jobs = []  # (kind, coroutine), web chat and Slack interleaved
            for i in range(max(n_web, n_slack)):
                if i < n_web:
                    jobs.append(("web", web(cookies[i], POOL[(2 * i) % len(POOL)])))
                if i < n_slack:
                    jobs.append(("slack", slack(i, POOL[(2 * i + 1) % len(POOL)], sent)))
            results = await asyncio.gather(*(c for _, c in jobs), return_exceptions=True)
            kinds = [k for k, _ in jobs]
            errors = [r for r in results if isinstance(r, BaseException)]
            web_done = time.perf_counter()
            await fake.wait_for(
                "chat.postMessage", count=len(sent), timeout=timeout, where=lambda c: c.params.get("channel") in sent
            )
            first: dict = {}
            for c in fake.calls_to("chat.postMessage"):
                ch = c.params.get("channel")
                if ch in sent and ch not in first:
                    first[ch] = c.at
            finished = max([web_done, *first.values()])
            wall = finished - started
            _, peak = server.rss() if server else rss_mb()

            web_lat = [r for k, r in zip(kinds, results) if k == "web" and not isinstance(r, BaseException)]
            ack_lat = [r for k, r in zip(kinds, results) if k == "slack" and not isinstance(r, BaseException)]
            answer_lat = [first[ch] - sent[ch] for ch in sent if ch in first]

            async with session.get(h.url + "/metrics") as r:
                exposition = await r.text()
            counted = {}
            for fam in text_string_to_metric_families(exposition):
                for s in fam.samples:
                    if s.name in ("policybot_answers_total", "policybot_abstentions_total"):
                        counted[s.name] = int(s.value)
                    elif s.name == "policybot_http_requests_total" and s.labels.get("route") in (
                        "/chat/api/message",
                        "/slack/events",
                    ):
                        key = f"requests {s.labels['route']} {s.labels['status']}"
                        counted[key] = counted.get(key, 0) + int(s.value)
        finally:
            await session.close()
            await h.stop()
            await fake.stop()
    return {
        "benchmark": "load",
        "embedder": "all-MiniLM-L6-v2" if real else "fake",
        "requests": requests,
        "concurrent": requests,
        "webchat_requests": n_web,
        "slack_requests": n_slack,
        "errors": len(errors),
        "error_types": sorted({type(e).__name__ for e in errors}),
        "wall_s": round(wall, 3),
        "throughput_rps": round(requests / wall, 1),
        "webchat": summary_ms(web_lat),
        "slack_ack": summary_ms(ack_lat),
        "slack_answer": summary_ms(answer_lat),
        "server_metrics": counted,
        "server": "separate process" if server_process else "in this process",
        "server_rss_mb_after_start": round(server_start_mb, 1) if server_start_mb else None,
        "rss_mb_before": round(before, 1) if before else None,
        "peak_rss_mb": round(peak, 1),
        "cpus": os.cpu_count(),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=200, help="requests sent at once, half web chat, half Slack")
    ap.add_argument("--real", action="store_true", help="use the real embedding model")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds before the run gives up")
    ap.add_argument(
        "--server-process",
        action="store_true",
        help="run `policybot serve` in its own process (RSS figures are then the server's alone)",
    )
    a = ap.parse_args()
    if a.requests < 2:
        ap.error("--requests must be at least 2")
    print(json.dumps(asyncio.run(run(a.requests, a.real, a.timeout, a.server_process)), indent=2))


if __name__ == "__main__":
    main()
