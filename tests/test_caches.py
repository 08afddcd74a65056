"""The bounded, expiring memories of the server and its channels (``cachetools`` caches): the event
deduper, the delivered-outbox ids, Slack's DM channel ids and the web chat's last-seen times."""

from __future__ import annotations

import types

from adapters import server
from adapters.server import EventDeduper, ServerContext, ServerSettings
from bot.messages import Outbound


# ---- EventDeduper -----------------------------------------------------------------------------------
def test_deduper_remembers_an_id_for_its_ttl_and_a_repeat_does_not_extend_it():
    d = EventDeduper(ttl=10, max_size=100)
    assert d.ttl == 10 and d.max_size == 100
    assert d.first_time("a", now=0)
    assert not d.first_time("a", now=5)
    assert not d.first_time("a", now=9.5)  # a repeat, and it must not restart the 10 s
    assert d.first_time("a", now=10.5)  # forgotten: 10 s after it was first seen
    assert not d.first_time("a", now=20)  # remembered again from 10.5


def test_deduper_keeps_at_most_max_size_ids_and_drops_the_oldest_first():
    d = EventDeduper(ttl=1000, max_size=3)
    for i, e in enumerate("abcd"):
        assert d.first_time(e, now=i)
    assert len(d._seen) <= 3
    assert not d.first_time("d", now=5) and not d.first_time("c", now=5) and not d.first_time("b", now=5)
    assert d.first_time("a", now=6)  # the oldest went to make room for "d" ...
    assert d.first_time("b", now=7)  # ... and "b" (the oldest then) for "a"; asking about it did not renew it
    assert len(d._seen) == 3


def test_deduper_reads_the_monotonic_clock_by_default():
    d = EventDeduper(ttl=3600)
    assert d.first_time("evt-1") and not d.first_time("evt-1") and d.first_time("evt-2")


# ---- delivered outbox ids -------------------------------------------------------------------------
async def test_delivered_outbox_ids_are_bounded_least_recently_marked_first(monkeypatch):
    monkeypatch.setattr(server, "OUTBOX_DONE_TRACKED", 3)
    marked, sent = [], []

    class Outbox:
        def mark_delivered(self, oid, when):
            marked.append(oid)

    class Channel:
        name = "fake"

        async def start(self):
            pass

        async def stop(self):
            pass

        async def deliver(self, user_id, outbound):
            sent.append(outbound.outbox_id)
            return True

    engine = types.SimpleNamespace(reporting=types.SimpleNamespace(outbox=Outbox()))
    ctx = ServerContext(types.SimpleNamespace(), engine, ServerSettings(env={}))
    ctx.channels.append(Channel())
    try:
        for oid in (1, 2, 3):
            await ctx.mark_delivered(oid)
        await ctx.mark_delivered(1)  # marked again: now the most recent
        await ctx.mark_delivered(4)  # makes room by forgetting 2

        def msg(oid):
            return Outbound(kind="text", text="x", to_user="u", outbox_id=oid)

        for oid in (1, 3, 4):
            assert await ctx.deliver(msg(oid))
        assert sent == []  # still known as delivered: not sent again
        assert await ctx.deliver(msg(2))
        assert sent == [2] and marked == [1, 2, 3, 1, 4, 2]
        assert len(ctx._outbox_done) == 3
    finally:
        ctx.close()


# ---- Slack DM channel ids ---------------------------------------------------------------------------
async def test_slack_dm_channel_ids_are_kept_for_the_most_recently_used_users(monkeypatch):
    from adapters import slack

    monkeypatch.setattr(slack, "DM_CACHE_SIZE", 2)
    settings = slack.slack_settings(
        {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "SLACK_API_URL": "http://127.0.0.1:9/api/"}
    )
    channel = slack.SlackChannel(types.SimpleNamespace(), settings)
    opened = []

    class Client:
        async def conversations_open(self, users):
            opened.append(users)
            return {"channel": {"id": "D" + users}}

    channel.client = Client()
    for user in ("U1", "U2", "U1", "U3", "U1", "U2"):
        assert await channel.open_dm(user) == "D" + user
    # U1 was used again before U3 came, so U2 (least recently used) made room; U1 stayed cached
    assert opened == ["U1", "U2", "U3", "U2"]


# ---- web chat: who made a request lately ----------------------------------------------------------
async def test_webchat_remembers_the_most_recent_users_and_drops_the_queue_of_one_it_forgets(monkeypatch):
    import time

    from adapters import webchat
    from bot import pull_inbox

    monkeypatch.setattr(webchat, "MAX_USERS_TRACKED", 2)
    channel = webchat.WebChatChannel(
        types.SimpleNamespace(), webchat.WebChatSettings("loopback"), pages={n: b"" for n in webchat.STATIC_FILES}
    )

    async def push(user):
        return await channel.deliver(user, Outbound(kind="text", text="hi", to_user=user))

    channel.inbox.touch("web:a")
    channel.inbox.touch("web:b")
    assert await push("web:b") and await push("web:a")  # both asked lately: their pages pick these up
    channel.inbox.touch("web:c")  # no room: "a" asked least recently (being pushed to does not count) ...
    assert "web:a" not in channel.inbox.queues and await push("web:a") is False  # ... so it is forgotten with its queue
    assert channel.inbox.queues["web:b"][0].text == "hi" and await push("web:c")
    channel.inbox.touch("web:b")  # "b" asks again: now "c" is the least recent
    channel.inbox.touch("web:d")
    assert "web:c" not in channel.inbox.queues and "web:b" in channel.inbox.queues
    # the time of the last request decides whether a push is queued at all
    channel.inbox.seen["web:d"] = time.monotonic() - pull_inbox.LIVE_SECONDS - 1
    assert await push("web:d") is False
    assert len(channel.inbox.seen) == 2
