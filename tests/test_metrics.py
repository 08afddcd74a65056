"""``GET /metrics``: the real server on a loopback port, real questions, real submitted reports."""

from __future__ import annotations

import aiohttp
import pytest
from fakes.harness import ServerHarness
from prometheus_client.parser import text_string_to_metric_families
from test_report_support import FLOW, WHAT, WHERE, make_engine, receipt_in

from adapters.metrics import LATENCY_BUCKETS, METRICS_TOKEN_ENV, metrics_of

WEBCHAT_ONLY = {"POLICYBOT_TEAMS": "off"}  #: no Slack credentials: web chat (loopback mode) only
ANSWERED = "Can I post pictures of service users?"
ABSTAINED = "How do I bake sourdough bread?"


def parse(text: str) -> dict[tuple, float]:
    """Every sample of an exposition: ``(name, frozenset(labels.items())) -> value``."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


class WebChat:
    """A web chat client on the harness: a cookie jar that accepts cookies from 127.0.0.1."""

    def __init__(self, harness: ServerHarness):
        self.h = harness
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))

    async def close(self):
        await self.session.close()

    async def call(self, method: str, path: str, body: dict | None = None, status: int = 200) -> dict:
        kw = {"json": body} if body is not None else {}
        async with self.session.request(method, self.h.url + path, **kw) as r:
            assert r.status == status, (path, r.status, await r.text())
            return await r.json()

    async def sign_in(self, user: str | None = None) -> None:
        await self.call("GET", "/chat/api/me")
        if user:
            await self.call("POST", "/chat/api/identity", {"user_id": user})

    async def say(self, text: str) -> list[dict]:
        return (await self.call("POST", "/chat/api/message", {"text": text}))["messages"]

    async def press(self, action_id: str, value: str = "") -> list[dict]:
        return (await self.call("POST", "/chat/api/message", {"action_id": action_id, "value": value}))["messages"]


async def scrape(h: ServerHarness, token: str | None = None, status: int = 200) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with h.session.get(h.url + "/metrics", headers=headers) as r:
        text = await r.text()
        assert r.status == status, text
        if status == 200:
            assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return text


@pytest.fixture
async def server(fake_bot, clock):
    engine = make_engine(fake_bot, clock=clock)
    h = await ServerHarness(fake_bot, engine, None, env=WEBCHAT_ONLY).start()
    chat = WebChat(h)
    yield h, chat, clock
    await chat.close()
    await h.stop()


async def test_requests_are_counted_by_route_template_with_latency_buckets(server):
    h, chat, _ = server
    for _ in range(3):
        assert (await h.get("/healthz")).status == 200
    assert (await h.get("/chat/static/app.js")).status == 200
    assert (await h.get("/no/such/page-alice-secret")).status == 404
    samples = parse(await scrape(h))
    assert value(samples, "policybot_http_requests_total", route="/healthz", method="GET", status="200") >= 3
    assert value(samples, "policybot_http_requests_total", route="/chat/static/app.js", method="GET", status="200") == 1
    assert value(samples, "policybot_http_requests_total", route="unmatched", method="GET", status="404") == 1
    routes = {dict(labels).get("route") for (name, labels) in samples if name == "policybot_http_requests_total"}
    assert not any("page-alice-secret" in r for r in routes)

    buckets = [
        (float(dict(lb)["le"]), v)
        for (name, lb), v in samples.items()
        if name == "policybot_http_request_duration_seconds_bucket" and dict(lb)["route"] == "/healthz"
    ]
    buckets.sort()
    assert [b for b, _ in buckets] == [*LATENCY_BUCKETS, float("inf")]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)  # cumulative
    total = value(samples, "policybot_http_request_duration_seconds_count", route="/healthz")
    assert counts[-1] == total >= 3
    assert value(samples, "policybot_http_request_duration_seconds_sum", route="/healthz") > 0
    assert value(samples, "policybot_http_requests_in_flight") == 1  # the scrape itself
    assert value(samples, "policybot_index_ready") == 1
    assert value(samples, "policybot_index_clauses") > 100
    assert value(samples, "policybot_channel_up", channel="webchat") == 1
    assert value(samples, "process_resident_memory_bytes") > 0
    # The peak (VmHWM) is read a moment before prometheus_client reads the current RSS; the process may grow
    # by a few pages in between, so the peak is compared with 1 MiB of slack.
    assert (
        value(samples, "policybot_process_peak_resident_memory_bytes") + 2**20
        >= value(samples, "process_resident_memory_bytes")
        > 0
    )


async def test_answers_and_abstentions_after_real_questions(server):
    h, chat, _ = server
    await chat.sign_in()
    kinds = [[m["kind"] for m in await chat.say(q)] for q in (ANSWERED, ANSWERED, ABSTAINED)]
    assert kinds == [["answer"], ["answer"], ["no_answer"]]
    samples = parse(await scrape(h))
    assert value(samples, "policybot_answers_total") == 2
    assert value(samples, "policybot_abstentions_total") == 1
    assert value(samples, "policybot_messages_total", kind="answer") == 2
    assert value(samples, "policybot_messages_total", kind="no_answer") == 1
    assert value(samples, "policybot_engine_duration_seconds_count") == 3
    assert value(samples, "policybot_http_requests_total", route="/chat/api/message", method="POST", status="200") == 3
    assert value(samples, "policybot_http_request_duration_seconds_count", route="/chat/api/message") == 3


async def test_reports_opened_and_overdue_after_real_submitted_cases(server):
    h, chat, clock = server
    samples = parse(await scrape(h))
    assert value(samples, "policybot_reports_opened_total") == 0
    assert ("policybot_reports_overdue", frozenset()) in samples

    await chat.sign_in("alice")
    receipts = []
    for _ in range(2):
        for answer in FLOW:
            msgs = await chat.say(answer)
        receipts.append(receipt_in_json(msgs))
    assert len(set(receipts)) == 2
    samples = parse(await scrape(h))
    assert value(samples, "policybot_reports_opened_total") == 2
    assert value(samples, "policybot_reports_open") == 2
    assert value(samples, "policybot_reports_overdue") == 0

    clock.advance(days=7, minutes=1)  # past the 7-day acknowledgement deadline
    samples = parse(await scrape(h))
    assert value(samples, "policybot_reports_overdue") == 2
    assert value(samples, "policybot_reports_escalated") == 0  # the deadline tick has not run yet

    bob = WebChat(h)
    try:
        await bob.sign_in("bob")
        out = await bob.press("case:ack", "C-00001")
        assert any("acknowledged" in m["text"] for m in out)
    finally:
        await bob.close()
    samples = parse(await scrape(h))
    assert value(samples, "policybot_reports_overdue") == 1
    assert value(samples, "policybot_reports_open") == 2
    assert value(samples, "policybot_reports_opened_total") == 2


def receipt_in_json(msgs: list[dict]) -> str:
    from bot.messages import Outbound

    return receipt_in([Outbound(kind=m["kind"], text=m.get("text") or "") for m in msgs])


async def test_no_label_or_value_carries_message_text_or_user_ids(server):
    h, chat, _ = server
    await chat.sign_in("alice")
    for answer in FLOW:
        msgs = await chat.say(answer)
    receipt = receipt_in_json(msgs)
    anon = WebChat(h)
    try:
        await anon.sign_in()
        me = await anon.call("GET", "/chat/api/me")
        await anon.say(ANSWERED)
        await anon.say(ABSTAINED)
    finally:
        await anon.close()
    text = await scrape(h)
    labels = []
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels += s.labels.items()
    needles = [
        WHAT[:30],
        "Quimby",
        "facebook.com",
        WHERE[:20],
        receipt,
        receipt[2:],
        "alice",
        "Alice",
        "bob",
        me["user_id"],
        me["user_id"].split(":")[-1],
        "sourdough",
        "pictures of service users",
    ]
    for needle in needles:
        assert needle not in text, needle
    routes = {r.resource.canonical for r in h.app.router.routes() if r.resource is not None} | {"unmatched"}
    allowed = {
        "route": routes,
        "method": {"GET", "POST", "HEAD"},
        "channel": {"webchat"},
        "kind": {"answer", "no_answer", "prompt", "text", "notification", "error"},
    }
    for name, v in labels:
        if name == "status":
            assert v.isdigit(), v
        elif name == "le":
            assert v == "+Inf" or float(v) in LATENCY_BUCKETS, v
        else:
            assert v in allowed[name], (name, v)
    assert {name for name, _ in labels} <= {"route", "method", "status", "le", "channel", "kind"}


async def test_metrics_token_protects_the_endpoint(fake_bot, clock):
    engine = make_engine(fake_bot, clock=clock)
    h = await ServerHarness(fake_bot, engine, None, env={**WEBCHAT_ONLY, METRICS_TOKEN_ENV: "s3cret-token"}).start()
    try:
        assert "policybot" not in await scrape(h, status=401)
        await scrape(h, token="wrong", status=401)
        assert "policybot_http_requests_total" in await scrape(h, token="s3cret-token")
        assert (await h.get("/healthz")).status == 200  # only /metrics needs the token
    finally:
        await h.stop()


async def test_each_app_has_its_own_registry(fake_bot, clock):
    one = await ServerHarness(fake_bot, make_engine(fake_bot, clock=clock), None, env=WEBCHAT_ONLY).start()
    two = await ServerHarness(fake_bot, make_engine(fake_bot, clock=clock), None, env=WEBCHAT_ONLY).start()
    try:
        for _ in range(4):
            await one.get("/healthz")
        a = parse(await scrape(one))
        b = parse(await scrape(two))
        assert metrics_of(one.app).registry is not metrics_of(two.app).registry
        assert value(a, "policybot_http_requests_total", route="/healthz", method="GET", status="200") >= 5
        assert value(b, "policybot_http_requests_total", route="/healthz", method="GET", status="200") <= 2
    finally:
        await one.stop()
        await two.stop()
