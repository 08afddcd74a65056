"""``policybot serve``: one aiohttp server for every chat channel (Slack, Teams, web chat).

Routes:

* ``GET /healthz``: 200 ``{"status": "ok", ...}`` once the search index is loaded, 503 before (or if
  loading failed). The port opens at once; the index loads in a background task.
* ``GET /metrics``: Prometheus metrics (``adapters.metrics``; ``POLICYBOT_METRICS_TOKEN`` protects it).
* whatever each channel module attaches (``POST /slack/events`` for Slack over HTTP).
* ``/admin/``: the admin console (``adapters.admin``), attached after the channels when the web chat is on.

Channel modules are listed in ``CHANNEL_MODULES``; each exposes ``check_config(settings)`` (raises
``ConfigError`` when that channel is half-configured) and ``attach(app, ctx) -> Channel | None`` (``None``
when that channel is not configured). A ``Channel`` (the Protocol below) has a ``name``, ``async start()``
and ``async stop()`` (called once each with the server's lifecycle) and ``async deliver(user_id, outbound)
-> bool`` (True when it delivered a private message to that directory user).

Periodic work, attached only when the core offers it: the reporting deadlines (``engine.tick(now)`` or
``engine.reporting.tick(now)``) every ``tick_interval`` seconds, the reporting outbox (messages for
someone other than the user being answered: handler notifications, status updates) after every
inbound and every ``outbox_interval`` seconds, and ``KnowledgeWatcher.check()`` every
``watch_interval`` seconds. Delivered outbox messages are marked delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import ipaddress
import logging
import os
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiohttp import web
from cachetools import LRUCache, TTLCache

from adapters import DEFAULT_HOST, DEFAULT_PORT

if TYPE_CHECKING:
    from bot.settings import Settings


log = logging.getLogger("policybot.server")


OUTBOX_BATCH = 1000  #: most outbox messages read per sweep (oldest first)
OUTBOX_DONE_TRACKED = 10_000  #: delivered outbox ids remembered by this process (least recently marked forgotten first)
_PLAIN_KINDS = ("answer", "no_answer", "error")  #: replies that never queue outbox messages

#: modules that attach a chat channel to the server (missing modules are skipped)
CHANNEL_MODULES = ("adapters.slack", "adapters.teams", "adapters.webchat")

CTX_KEY = web.AppKey("policybot_ctx", object)


_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` (and its usual aliases) and loopback addresses (``127.0.0.0/8``, ``::1``,
    IPv4-mapped ``::ffff:127.x``, brackets allowed); False for ``0.0.0.0``, ``""`` (every interface),
    other names and other addresses. Decides what may run unauthenticated (Teams' Emulator mode, the
    open web chat) and checks the web chat's ``Host`` and peer."""
    h = (host or "").strip().strip("[]").lower()
    if h in _LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(h)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


class EventDeduper:
    """Remembers event or activity ids for ``ttl`` seconds (at most ``max_size``), so a platform's
    redelivery of the same event (Slack's retries, a Bot Framework redelivery) is handled once.

    A ``cachetools.TTLCache``: an id is forgotten once ``ttl`` seconds have passed since it was first
    seen (a repeat does not extend that), and when ``max_size`` ids are held the oldest goes first.

    Args:
        ttl: seconds an id is remembered.
        max_size: most ids remembered at once.
    """

    def __init__(self, ttl: float = 3600.0, max_size: int = 10_000):
        self._now = 0.0  # the clock reading of the current ``first_time`` call
        self._seen: TTLCache[str, bool] = TTLCache(maxsize=max_size, ttl=ttl, timer=lambda: self._now)

    @property
    def ttl(self) -> float:
        """Seconds an id is remembered."""
        return self._seen.ttl

    @property
    def max_size(self) -> int:
        """Most ids remembered at once."""
        return int(self._seen.maxsize)

    def first_time(self, event_id: str, now: float | None = None) -> bool:
        """True the first time ``event_id`` is seen (and records it); False for a repeat within ``ttl``.

        ``now`` is monotonic seconds (default ``time.monotonic()``; tests pass their own clock).
        """
        self._now = time.monotonic() if now is None else now
        if event_id in self._seen:
            return False
        self._seen[event_id] = True
        return True


class ConfigError(ValueError):
    """The server's configuration is incomplete or contradictory; the message says what to set."""


@runtime_checkable
class Channel(Protocol):
    """A chat platform attached to the server: what the server may ask of every channel, and nothing else."""

    name: str  #: short lower-case name ("slack", "teams", "webchat"), shown by /healthz and in metrics

    async def start(self) -> None:
        """Called once when the server starts, after the routes are attached (connect, warm caches)."""
        ...

    async def stop(self) -> None:
        """Called once on shutdown, after in-flight work drained (close connections)."""
        ...

    async def deliver(self, user_id: str, outbound) -> bool:
        """Send ``outbound`` privately to directory user ``user_id``; False when not reachable here."""
        ...


@runtime_checkable
class CaseWatcher(Protocol):
    """A channel that shows people their cases outside conversations (Slack's App Home) and so wants to
    hear when cases may have changed: a report submitted, a case acted on (in chat or the admin
    console), a reminder or escalation sent."""

    async def cases_changed(self, refs: frozenset[str]) -> None:
        """Refresh what shows the cases ``refs`` (e.g. ``{"C-00001"}``); called in the background, it must
        not raise."""
        ...


@dataclass
class ServerSettings:
    """How to run the server.

    Attributes:
        host, port: the bind address (port 0 picks a free port).
        env: the environment the channels read their credentials from (``SLACK_*``, ...).
        config: the ``bot.settings.Settings`` read once at the entry point (None: read from ``env`` when
            needed, ``config_of``).
        slack_socket_mode: connect to Slack over Socket Mode (needs ``SLACK_APP_TOKEN``).
        directory: an explicit ``bot.directory.Directory`` (else the engine's or the policybot's, if any).
        engine_workers: threads running the engine; 1 keeps each user's messages in order and the core
            free of concurrency (retrieval is CPU-bound, so more threads buy little).
        tick_interval: seconds between ``tick(now)`` calls (reporting deadlines).
        watch_interval: seconds between knowledge-watcher checks.
        outbox_interval: seconds between sweeps of the reporting outbox (it is also swept after
            every inbound, so this only catches messages queued by other processes or left over).
        outbox_retry: seconds before retrying an outbox message no channel could deliver.
        drain_timeout: seconds to let in-flight work finish on shutdown.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    config: Settings | None = None
    slack_socket_mode: bool = False
    directory: Any = None
    engine_workers: int = 1
    tick_interval: float = 60.0
    watch_interval: float = 5.0
    outbox_interval: float = 15.0
    outbox_retry: float = 300.0
    drain_timeout: float = 10.0


class ServerContext:
    """What channels share: the engine, the policybot, settings, readiness, delivery and background work.

    Args:
        policybot: an opened ``bot.app.Policybot``.
        engine: a ``bot.engine.ConversationEngine`` (anything with ``handle(inbound) -> list[Outbound]``).
        settings: ``ServerSettings``.
    """

    def __init__(self, policybot, engine, settings: ServerSettings):
        self.policybot = policybot
        self.engine = engine
        self.settings = settings
        self.channels: list[Channel] = []
        self.ready = asyncio.Event()
        self.index_error: str | None = None
        self.index_stats: dict | None = None
        self.watcher = _make_watcher(policybot, settings.watch_interval)
        self._executor = ThreadPoolExecutor(max_workers=max(1, settings.engine_workers), thread_name_prefix="engine")
        self._tasks: set[asyncio.Task] = set()
        self._outbox_busy: set = set()  # outbox ids being delivered now
        self._outbox_done: LRUCache = LRUCache(maxsize=OUTBOX_DONE_TRACKED)  # outbox ids delivered by this process
        self._outbox_retry: dict = {}  # outbox id -> monotonic time before which not to try again
        self._pump_lock = asyncio.Lock()

    # -- engine -------------------------------------------------------------------------------------

    @property
    def is_ready(self) -> bool:
        """True once the index has loaded (``/healthz`` answers 200)."""
        return self.ready.is_set()

    async def run_blocking(self, func: Callable, *args):
        """Run ``func(*args)`` on the engine thread(s) and return its result (exceptions propagate)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, func, *args)

    async def handle(self, inbound) -> list:
        """Pass one ``Inbound`` to the engine off the event loop, after the index is ready.

        Returns the engine's ``list[Outbound]``; an unexpected engine failure is logged (type only) and
        turned into one ``Outbound(kind="error")`` so the user is never left without a reply. Afterwards
        the outbox is pumped in the background (an action may have queued messages for someone else).
        """
        await self.ready.wait()
        await self._prefetch(inbound)
        try:
            out = await self.run_blocking(self.engine.handle, inbound)
        except (
            Exception
        ) as exc:  # the engine promises not to raise; belt and braces (never the message: it may quote the inbound)
            log.error("engine failed on a %s inbound: %s at %s", inbound.source, *_type_and_place(exc))
            from bot.messages import Outbound

            return [Outbound(kind="error", text="Sorry, something went wrong on my side. Please try again.")]
        if self.outbox is not None and any(o.kind not in _PLAIN_KINDS for o in out):
            self.spawn(self.pump_outbox(), "outbox")  # a report step or case action may have queued messages
        self.cases_changed(o.case_id for o in out)  # a report submitted or a case acted on
        return out

    def cases_changed(self, refs: Iterable[str | None]) -> None:
        """Tell every ``CaseWatcher`` channel, in the background, that the cases ``refs`` (references such as
        ``"C-00001"``; None and repeats ignored) may have changed; nothing when there are none."""
        changed = frozenset(r for r in refs if r)
        if not changed:
            return
        for channel in self.channels:
            if isinstance(channel, CaseWatcher):
                self.spawn(channel.cases_changed(changed), f"{channel.name} cases changed")

    async def _prefetch(self, inbound) -> None:
        """Encode a typed message on the encoder thread, batched with others arriving meanwhile, while the
        engine thread answers earlier ones (``index.retrieve.KnowledgeIndex.prefetch``); if it is a
        question, the engine then takes the vectors instead of encoding. Errors are left to the engine."""
        index = getattr(self.policybot, "index", None)
        prefetch = getattr(index, "prefetch", None)
        if prefetch is None or inbound.source == "action" or inbound.files or not inbound.text:
            return
        future = prefetch(inbound.text.strip())
        if future is not None:
            with contextlib.suppress(Exception):  # the batcher logged it; the engine encodes for itself
                await asyncio.wrap_future(future)

    @property
    def reporting(self):
        """The engine's ``bot.reporting.service.ReportingService``, or None when reporting is off."""
        return getattr(self.engine, "reporting", None)

    @property
    def outbox(self):
        """The reporting outbox (``bot.reporting.outbox.Outbox``), or None."""
        return getattr(self.reporting, "outbox", None)

    @property
    def directory(self):
        """The people directory (``bot.directory.Directory``) if one is available, else None."""
        for owner in (self.settings, self.engine, self.reporting, self.policybot):
            d = getattr(owner, "directory", None) if owner is not None else None
            if d is not None:
                return d
        return None

    # -- delivery -----------------------------------------------------------------------------------

    async def deliver(self, outbound) -> bool:
        """Deliver a private ``outbound`` (``to_user`` set) through the first channel that reaches that user.

        An outbox message (``outbound.outbox_id`` set) is sent at most once by this process and marked
        delivered in the outbox afterwards. Returns False when no channel reached the user: an outbox message
        then stays queued for a pull channel or a later retry (logged at info), any other is lost (a
        warning); neither log names more than the kind and the case.
        """
        user = outbound.to_user
        if not user:
            return False
        oid = outbound.outbox_id
        if oid is not None:
            if oid in self._outbox_busy or oid in self._outbox_done:
                return True
            self._outbox_busy.add(oid)
        try:
            for channel in self.channels:
                try:
                    delivered = await channel.deliver(user, outbound)
                except Exception as exc:  # any channel SDK's error; never its message (it may quote the outbound)
                    log.warning(
                        "channel %s failed to deliver a %s: %s at %s",
                        channel.name,
                        outbound.kind,
                        *_type_and_place(exc),
                    )
                    continue
                if delivered:
                    if oid is not None:
                        await self.mark_delivered(oid)
                    return True
            if oid is not None:  # kept in the outbox: retried, and the web chat shows it when that person opens it
                self._outbox_retry[oid] = time.monotonic() + self.settings.outbox_retry
                log.info(
                    "a %s message (case %s) waits in the outbox: no channel reaches that user now",
                    outbound.kind,
                    outbound.case_id or "-",
                )
                return False
            log.warning(
                "could not deliver a %s message (case %s): no channel reaches that user",
                outbound.kind,
                outbound.case_id or "-",
            )
            return False
        finally:
            if oid is not None:
                self._outbox_busy.discard(oid)

    async def mark_delivered(self, oid) -> None:
        """Record outbox message ``oid`` as delivered, in the outbox and in this process, so the outbox
        pump never sends it again through another channel (for a message a channel showed itself,
        such as the web chat's reply to its own user). Errors are logged by type, not raised."""
        self._outbox_done[oid] = True
        self._outbox_retry.pop(oid, None)
        try:
            await self.run_blocking(self.outbox.mark_delivered, oid, datetime.now(UTC))
        except Exception as exc:  # sqlite3 or a custom outbox; logged, the pump retries
            log.error("could not mark outbox message %s delivered: %s", oid, type(exc).__name__, exc_info=True)

    async def pump_outbox(self) -> int:
        """Send every undelivered outbox message some channel can reach; returns how many were sent.

        Messages no channel reaches are retried after ``settings.outbox_retry`` seconds (meanwhile a pull
        channel such as the web chat may take them).
        """
        outbox = self.outbox
        if outbox is None or not self.channels:
            return 0
        async with self._pump_lock:
            msgs = await self.run_blocking(outbox.undelivered, OUTBOX_BATCH)
            if len(msgs) < OUTBOX_BATCH:  # the whole queue: forget retry times of messages taken elsewhere
                queued = {m.outbox_id for m in msgs}
                for oid in [o for o in self._outbox_retry if o not in queued]:
                    del self._outbox_retry[oid]
            now = time.monotonic()
            sent = 0
            for msg in msgs:
                oid = msg.outbox_id
                if oid in self._outbox_done or oid in self._outbox_busy or self._outbox_retry.get(oid, 0) > now:
                    continue
                if await self.deliver(msg):
                    sent += 1
            return sent

    # -- feedback -----------------------------------------------------------------------------------

    async def record_feedback(
        self, *, helpful: bool, question: str, clause_ids: list[str], user_id: str | None = None
    ) -> bool:
        """Record a Helpful / Not helpful vote through ``Policybot.record_feedback`` (a Not helpful vote
        becomes a knowledge gap HR can list). Returns True when something was kept."""
        hook = getattr(self.policybot, "record_feedback", None)
        if not callable(hook):
            log.info("feedback not recorded: this policybot keeps no feedback")
            return False
        return bool(await self.run_blocking(lambda: hook(question, helpful, clause_ids, user_id)))

    # -- background work ----------------------------------------------------------------------------

    def spawn(self, coro: Awaitable, what: str = "work") -> asyncio.Task:
        """Run ``coro`` in the background, tracked so shutdown can let it finish; errors are logged by type."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task):
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                log.error(
                    "background %s failed: %s",
                    what,
                    type(exc).__name__,
                    exc_info=exc if log.isEnabledFor(logging.DEBUG) else None,
                )

        task.add_done_callback(done)
        return task

    async def drain(self, timeout: float | None = None) -> None:
        """Wait up to ``timeout`` seconds (default ``settings.drain_timeout``) for background work to finish."""
        deadline = time.monotonic() + (self.settings.drain_timeout if timeout is None else timeout)
        while True:  # work may spawn more work (a reply, then an outbox pump)
            pending = [t for t in self._tasks if not t.done()]
            left = deadline - time.monotonic()
            if not pending or left <= 0:
                return
            await asyncio.wait(pending, timeout=left)

    async def load_index(self) -> None:
        """Load (or build) the search index and the embedding model on the engine thread, then mark
        the server ready.

        Goes through the knowledge watcher when there is one, so its later checks start from here.
        """
        started = time.perf_counter()
        load = self.watcher.check if self.watcher is not None else self.policybot.index.refresh
        try:
            stats = await self.run_blocking(load)
            self.index_stats = stats or await self.run_blocking(self.policybot.index.refresh)
            # questions through ONNX Runtime (exported once per data dir), not torch
            await self.run_blocking(self.policybot.prepare_query_encoder)
            # an index loaded from disk needs no model, which would then load on the first question
            # (seconds): load it now, so "ready" means ready to answer at full speed
            await self.run_blocking(self.policybot.index.embed_query, "warm-up")
        except Exception as exc:
            self.index_error = f"{type(exc).__name__}: {exc}"
            log.error("index failed to load: %s", self.index_error, exc_info=True)
            return
        log.info("index ready in %.1f s", time.perf_counter() - started)
        self.ready.set()

    def close(self) -> None:
        """Stop the engine threads (waits for the running call)."""
        self._executor.shutdown(wait=True, cancel_futures=True)


def _type_and_place(exc: BaseException) -> tuple[str, str]:
    """``(type name, "file:line in function")`` of ``exc``'s innermost frame; never its message."""
    from adapters.logs import exception_summary

    name, where = exception_summary((type(exc), exc, exc.__traceback__))
    return name, (where[-1] if where else "?")


def _make_watcher(policybot, interval: float):
    """The policybot's ``index.watch.KnowledgeWatcher`` when the core has one, else None."""
    make = getattr(policybot, "watcher", None)
    if make is not None and callable(getattr(make, "check", None)):
        return make  # already a watcher
    if callable(make):
        try:
            return make(interval=interval)
        except Exception as exc:  # a core without a watcher, or one that cannot start
            log.warning("knowledge watcher not available: %s", type(exc).__name__, exc_info=True)
    return None


async def _every(seconds: float, job: Callable[[], Awaitable[None]], name: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a periodic job must not stop the others
            log.error("%s failed: %s", name, type(exc).__name__, exc_info=True)


def _periodic_jobs(ctx: ServerContext) -> list[tuple[float, Callable[[], Awaitable[None]], str]]:
    """Background jobs for what the core offers: deadlines (``tick``), the outbox, the knowledge watcher."""
    jobs = []
    tick = getattr(ctx.engine, "tick", None)
    if not callable(tick):
        tick = getattr(ctx.reporting, "tick", None)
    if callable(tick):

        async def run_tick():
            await ctx.ready.wait()
            outs = await ctx.run_blocking(tick, datetime.now(UTC)) or []
            for ob in outs:
                if ob.to_user:
                    await ctx.deliver(ob)
            ctx.cases_changed(ob.case_id for ob in outs)  # reminders, escalations

        jobs.append((ctx.settings.tick_interval, run_tick, "deadline tick"))
    if ctx.outbox is not None:

        async def run_pump():
            await ctx.ready.wait()
            await ctx.pump_outbox()

        jobs.append((ctx.settings.outbox_interval, run_pump, "outbox"))
    watcher = ctx.watcher
    if watcher is not None:

        async def run_watch():
            await ctx.ready.wait()
            await ctx.run_blocking(watcher.check)

        jobs.append((ctx.settings.watch_interval, run_watch, "knowledge watch"))
    return jobs


async def healthz(request: web.Request) -> web.Response:
    """200 with index and channel facts once the index is loaded; 503 while loading or after a failure."""
    ctx: ServerContext = request.app[CTX_KEY]
    channels = [c.name for c in ctx.channels]
    if ctx.is_ready:
        body = {"status": "ok", "clauses": (ctx.index_stats or {}).get("total"), "channels": channels}
        return web.json_response(body)
    status = "error" if ctx.index_error else "loading"
    return web.json_response({"status": status, "channels": channels}, status=503)


def channel_modules(names: tuple[str, ...] = CHANNEL_MODULES) -> Iterator[ModuleType]:
    """Import and yield each channel module of ``names`` in order, skipping those that do not exist (a build
    without that channel).

    Raises:
        ImportError: a module exists but fails to import (a missing dependency inside it is a bug, not an
            absent channel, so it is not hidden).
    """
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        yield module


def attach_channels(app: web.Application, ctx: ServerContext, modules: tuple[str, ...] = CHANNEL_MODULES) -> None:
    """Import each channel module and call its ``attach(app, ctx)``; configured channels join ``ctx.channels``.

    Raises:
        ConfigError: a channel is half-configured (from that module's ``attach``).
        TypeError: ``attach`` returned something that is not a ``Channel`` (a programming error).
    """
    for module in channel_modules(modules):
        channel = module.attach(app, ctx)
        if channel is None:
            continue
        if not isinstance(channel, Channel):
            raise TypeError(
                f"{module.__name__}.attach returned {type(channel).__name__}, which is not a Channel "
                "(it needs name, start, stop and deliver)"
            )
        ctx.channels.append(channel)


def build_app(
    policybot, engine, settings: ServerSettings | None = None, modules: tuple[str, ...] = CHANNEL_MODULES
) -> web.Application:
    """The aiohttp application: ``/healthz``, every configured channel, the admin console (``adapters.admin``,
    with the web chat) and the background work.

    Args:
        policybot: an opened ``bot.app.Policybot`` (its index is loaded in the background on startup).
        engine: the conversation engine.
        settings: ``ServerSettings`` (defaults read the process environment).
        modules: channel modules to try (default ``CHANNEL_MODULES``).

    Returns:
        A ``web.Application``; ``app[CTX_KEY]`` is its ``ServerContext``.

    Raises:
        ConfigError: a channel's credentials are half-set.
    """
    settings = settings or ServerSettings()
    app = web.Application(client_max_size=2 * 1024 * 1024)
    ctx = ServerContext(policybot, engine, settings)
    app[CTX_KEY] = ctx
    app.router.add_get("/healthz", healthz)
    from adapters import metrics

    metrics.install(app, ctx)  # before the channels: the middleware is outermost, the engine is measured
    attach_channels(app, ctx, modules)
    from adapters import admin

    admin.attach(app, ctx)  # the admin console: the web chat's sign-in, not a channel of its own

    async def lifecycle(app: web.Application):
        loader = asyncio.create_task(ctx.load_index())
        periodic = [asyncio.create_task(_every(s, job, name)) for s, job, name in _periodic_jobs(ctx)]
        for channel in ctx.channels:
            await channel.start()
        yield
        for t in periodic:
            t.cancel()
        await ctx.drain()
        for channel in ctx.channels:
            try:
                await channel.stop()
            except Exception:
                log.warning("channel %s did not stop cleanly", channel.name, exc_info=True)
        if not loader.done():
            loader.cancel()
        await asyncio.gather(loader, *periodic, return_exceptions=True)
        await asyncio.to_thread(ctx.close)

    app.cleanup_ctx.append(lifecycle)
    return app


def make_engine(policybot, dev: bool | None = None, config: Settings | None = None):
    """The conversation engine for ``policybot`` (``bot.engine.ConversationEngine``); reporting is on when
    a report key and directory are configured, or in dev mode (``dev`` or ``POLICYBOT_DEV=1``), as
    ``config`` (default: the policybot's own ``config``) says."""
    from bot.engine import ConversationEngine

    return ConversationEngine(policybot, dev=dev, settings=config)


async def serve(
    app: web.Application,
    host: str,
    port: int,
    ready: Callable[[str], None] | None = None,
    stop: asyncio.Event | None = None,
) -> None:
    """Run ``app`` on ``host:port`` until SIGTERM/SIGINT (or ``stop`` is set), then shut down gracefully:
    the port closes, requests being handled finish (at most ``drain_timeout`` seconds), background work
    drains (at most ``drain_timeout`` more), the channels stop.

    ``ready(url)`` is called once the port is open (the URL carries the real port when ``port`` is 0).
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread / not supported
            pass
    ctx = app.get(CTX_KEY)
    grace = ctx.settings.drain_timeout if ctx is not None else 10.0
    # on shutdown, requests being handled get ``grace`` seconds to finish (aiohttp stops reading new
    # bytes, so a client still sending its body is cut off then rather than holding the process)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=grace)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1] if runner.addresses else port
        shown = f"[{host}]" if ":" in host else host
        if ready:
            ready(f"http://{shown}:{bound}")
        await stop.wait()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        await runner.cleanup()


def settings_from_args(args, env: Mapping[str, str] | None = None, config: Settings | None = None) -> ServerSettings:
    """``ServerSettings`` from the parsed ``serve`` arguments, ``env`` (default: the process environment)
    and ``config`` (the ``bot.settings.Settings`` read at the entry point; None: read from ``env`` later)."""
    return ServerSettings(
        host=args.host,
        port=args.port,
        env=dict(os.environ if env is None else env),
        slack_socket_mode=args.slack_socket_mode,
        config=config,
    )


def config_of(settings: ServerSettings) -> Settings:
    """``settings.config``, else the ``bot.settings.Settings`` read from ``settings.env``.

    Raises:
        ConfigError: a ``POLICYBOT_*`` variable in ``settings.env`` has a bad value (the message names it).
    """
    if settings.config is not None:
        return settings.config
    from bot.settings import Settings, SettingsError

    try:
        return Settings.from_env(settings.env)
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None


def check_settings(settings: ServerSettings) -> None:
    """Validate the ``POLICYBOT_*`` settings and every channel's configuration without building anything.

    Raises:
        ConfigError: a bad ``POLICYBOT_*`` value, or a channel is half-configured.
    """
    config_of(settings)
    for module in channel_modules():
        module.check_config(settings)
