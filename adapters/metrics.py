"""``GET /metrics`` in the Prometheus text format, on the ``prometheus_client`` library.

``install(app, ctx)`` (called by ``adapters.server.build_app``; idempotent) adds:

* an aiohttp middleware that counts every request by route template, method and status and times it;
* a wrapper around the engine (``InstrumentedEngine``) that counts outbound messages by kind (answers,
  abstentions, prompts...) and times each ``handle`` call;
* ``GET /metrics``; when ``POLICYBOT_METRICS_TOKEN`` is set in the server's environment it needs
  ``Authorization: Bearer <token>`` (401 otherwise).

Each app has its own ``prometheus_client.CollectorRegistry`` (never the library's global one), so
several apps in one process (tests, benchmarks) keep separate counts. Values read from the cases
database, the outbox and the index are computed at scrape time by a custom collector.

Series (counts since the process started, unless read from the cases database):

==============================================  =========  ==========================================
``policybot_http_requests_total``               counter    ``route`` (the route template, never the
                                                            raw path), ``method``, ``status``
``policybot_http_request_duration_seconds``     histogram  ``route``; buckets ``LATENCY_BUCKETS``
``policybot_http_requests_in_flight``           gauge      requests being served now
``policybot_engine_duration_seconds``           histogram  one engine ``handle`` call
``policybot_messages_total``                    counter    ``kind`` of each outbound the engine produced
``policybot_answers_total``                     counter    answers with quotes
``policybot_abstentions_total``                 counter    "no guidance found" answers
``policybot_reports_opened_total``              counter    cases ever submitted (read from ``cases.db``)
``policybot_reports_open``                      gauge      cases not closed
``policybot_reports_overdue``                   gauge      cases still ``new`` past their
                                                            acknowledgement deadline
``policybot_reports_escalated``                 gauge      open cases escalated to HR
``policybot_outbox_undelivered``                gauge      private messages waiting for delivery
``policybot_index_ready``                       gauge      1 once the index is loaded
``policybot_index_clauses``                     gauge      clauses in the index
``policybot_channel_up``                        gauge      ``channel``: 1 for each attached channel
``policybot_process_peak_resident_memory_bytes`` gauge     peak RSS (``VmHWM``)
``policybot_metrics_scrape_errors_total``       counter    scrapes where the cases database could not
                                                            be read
``process_*``                                   various    ``prometheus_client.ProcessCollector``:
                                                            ``process_resident_memory_bytes``,
                                                            ``process_cpu_seconds_total``,
                                                            ``process_start_time_seconds``...
==============================================  =========  ==========================================

The reporting series are absent when reporting is off. No label ever carries a user id, message text
or anything about a report beyond these counts: label values are route templates, HTTP methods,
status codes, outbound kinds and channel names only.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import sqlite3
import time
from datetime import UTC, datetime

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

log = logging.getLogger("policybot.metrics")
http_log = logging.getLogger("policybot.http")

METRICS_PATH = "/metrics"
METRICS_TOKEN_ENV = "POLICYBOT_METRICS_TOKEN"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  #: ``text/plain; version=0.0.4; charset=utf-8``
#: latency buckets in seconds (upper bounds; +Inf is implied)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SCRAPE_DB_TIMEOUT = 5.0  #: seconds a scrape waits for the cases database

METRICS_KEY = web.AppKey("policybot_metrics", object)


def _peak_rss_bytes() -> int | None:
    """``VmHWM`` of this process in bytes (Linux), else None."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


class _StateCollector:
    """A ``prometheus_client`` custom collector: index, channels, memory peak and the report counts,
    read when ``/metrics`` is scraped. ``collect()`` runs on a worker thread (it reads SQLite)."""

    def __init__(self, metrics: ServerMetrics):
        self.metrics = metrics

    def describe(self):
        return []  # values are only known at scrape time; no duplicate-name check needed

    def _report_counts(self) -> dict | None:
        ctx = self.metrics.ctx
        reporting = getattr(ctx, "reporting", None)
        cases = getattr(reporting, "cases", None)
        if cases is None or not hasattr(cases, "query"):
            return None
        clock = getattr(reporting, "clock", None)
        now = clock() if callable(clock) else datetime.now(UTC)
        now = now.astimezone(UTC).isoformat(timespec="seconds")  # ack_due is stored this way
        row = cases.query(
            "SELECT COUNT(*) AS total, "
            "COALESCE(SUM(status != 'closed'), 0) AS open, "
            "COALESCE(SUM(status = 'new' AND ack_due <= ?), 0) AS overdue, "
            "COALESCE(SUM(escalated = 1 AND status != 'closed'), 0) AS escalated FROM cases",
            [now],
        )[0]
        row["outbox"] = cases.query("SELECT COUNT(*) AS n FROM outbox WHERE delivered_at IS NULL")[0]["n"]
        return row

    def collect(self):
        ctx = self.metrics.ctx
        yield GaugeMetricFamily(
            "policybot_index_ready", "1 once the search index is loaded.", value=1 if ctx.is_ready else 0
        )
        yield GaugeMetricFamily(
            "policybot_index_clauses",
            "Clauses in the search index.",
            value=int((ctx.index_stats or {}).get("total") or 0),
        )
        up = GaugeMetricFamily("policybot_channel_up", "1 for each attached chat channel.", labels=["channel"])
        for ch in ctx.channels:
            up.add_metric([str(ch.name)], 1)
        yield up
        peak = _peak_rss_bytes()
        if peak is not None:
            yield GaugeMetricFamily(
                "policybot_process_peak_resident_memory_bytes",
                "Peak resident memory of the server process (VmHWM), in bytes.",
                value=peak,
            )
        try:
            counts = self._report_counts()
        except sqlite3.Error as exc:  # locked, closed or damaged cases database
            self.metrics.scrape_errors.inc()
            log.warning(
                "metrics: could not read the cases database: %s",
                type(exc).__name__,
                extra={"event": "metrics_scrape_error"},
            )
            return
        if counts is None:
            return
        yield CounterMetricFamily(
            "policybot_reports_opened", "Confidential reports ever submitted (cases.db).", value=int(counts["total"])
        )
        yield GaugeMetricFamily("policybot_reports_open", "Confidential reports not closed.", value=int(counts["open"]))
        yield GaugeMetricFamily(
            "policybot_reports_overdue",
            "Reports still waiting for acknowledgement past their deadline.",
            value=int(counts["overdue"]),
        )
        yield GaugeMetricFamily(
            "policybot_reports_escalated", "Open reports escalated to HR.", value=int(counts["escalated"])
        )
        yield GaugeMetricFamily(
            "policybot_outbox_undelivered", "Private messages waiting to be delivered.", value=int(counts["outbox"])
        )


class ServerMetrics:
    """The metrics of one ``policybot serve`` app, in their own ``CollectorRegistry``.

    Args:
        ctx: the ``adapters.server.ServerContext`` (index readiness, channels, reporting).

    Attributes:
        registry: the app's ``prometheus_client.CollectorRegistry``.
        requests, latency, in_flight, engine_latency, messages, answers, abstentions, scrape_errors:
            the ``prometheus_client`` metrics the server updates as it works.
    """

    def __init__(self, ctx):
        self.ctx = ctx
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "policybot_http_requests",
            "HTTP requests by route template, method and status.",
            ("route", "method", "status"),
            registry=r,
        )
        self.latency = Histogram(
            "policybot_http_request_duration_seconds",
            "HTTP request latency by route template, in seconds.",
            ("route",),
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge("policybot_http_requests_in_flight", "HTTP requests being served now.", registry=r)
        self.engine_latency = Histogram(
            "policybot_engine_duration_seconds",
            "Time the conversation engine took for one inbound, in seconds.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.messages = Counter(
            "policybot_messages", "Outbound messages the engine produced, by kind.", ("kind",), registry=r
        )
        self.answers = Counter("policybot_answers", "Questions answered with policy quotes.", registry=r)
        self.abstentions = Counter(
            "policybot_abstentions", "Questions the policies did not answer (no guidance found).", registry=r
        )
        self.scrape_errors = Counter(
            "policybot_metrics_scrape_errors", "Scrapes where the cases database could not be read.", registry=r
        )
        ProcessCollector(registry=r)
        r.register(_StateCollector(self))

    def observe_engine(self, seconds: float, outbounds) -> None:
        """Record one engine call: its duration (seconds) and the kind of each ``Outbound`` it produced."""
        self.engine_latency.observe(seconds)
        for ob in outbounds or ():
            kind = str(getattr(ob, "kind", "unknown"))
            self.messages.labels(kind=kind).inc()
            if kind == "answer":
                self.answers.inc()
            elif kind == "no_answer":
                self.abstentions.inc()

    def render_sync(self) -> bytes:
        """The whole exposition (text format 0.0.4) as bytes; reads the cases database, so call it off the
        event loop."""
        return generate_latest(self.registry)

    async def render(self) -> bytes:
        """``render_sync()`` on a worker thread, at most ``SCRAPE_DB_TIMEOUT`` seconds.

        Raises:
            asyncio.TimeoutError: the database stayed locked for longer.
        """
        return await asyncio.wait_for(asyncio.to_thread(self.render_sync), SCRAPE_DB_TIMEOUT)


class InstrumentedEngine:
    """Wraps a conversation engine so each ``handle`` call is timed and its outbounds counted.

    Every other attribute (``reporting``, ``tick``, ``session_start``...) is the wrapped engine's own.
    """

    def __init__(self, engine, metrics: ServerMetrics):
        self._engine = engine
        self._metrics = metrics

    @property
    def wrapped(self):
        """The engine being measured."""
        return self._engine

    def handle(self, inbound):
        """``engine.handle(inbound)`` (a ``list[Outbound]``), measured; exceptions propagate unmeasured."""
        t0 = time.perf_counter()
        out = self._engine.handle(inbound)
        self._metrics.observe_engine(time.perf_counter() - t0, out)
        return out

    def __getattr__(self, name):
        return getattr(self._engine, name)


def route_label(request: web.Request) -> str:
    """The route template that matched (``/chat/api/message``, ``/chat/static/{name}``) or ``unmatched``:
    never the raw path, so label values stay few and carry no user data."""
    try:
        resource = request.match_info.route.resource
    except (AttributeError, RuntimeError):  # no route resolved (yet)
        resource = None
    if resource is None:
        return "unmatched"
    return getattr(resource, "canonical", None) or "unmatched"


def _middleware(metrics: ServerMetrics):
    @web.middleware
    async def measure(request: web.Request, handler):
        t0 = time.perf_counter()
        metrics.in_flight.inc()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away
            raise
        finally:
            elapsed = time.perf_counter() - t0
            metrics.in_flight.dec()
            route = route_label(request)
            metrics.requests.labels(route=route, method=request.method, status=str(status)).inc()
            metrics.latency.labels(route=route).observe(elapsed)
            if http_log.isEnabledFor(logging.INFO):
                http_log.info(
                    "%s %s %s %.1f ms",
                    request.method,
                    route,
                    status,
                    elapsed * 1000,
                    extra={
                        "event": "http_request",
                        "method": request.method,
                        "route": route,
                        "status": status,
                        "ms": round(elapsed * 1000, 1),
                    },
                )

    return measure


def _metrics_handler(metrics: ServerMetrics, token: str | None):
    async def handle(request: web.Request) -> web.Response:
        if token:
            got = request.headers.get("Authorization", "")
            if not hmac.compare_digest(got.encode(), f"Bearer {token}".encode()):
                return web.Response(
                    status=401,
                    text="metrics need Authorization: Bearer <token>\n",
                    headers={"WWW-Authenticate": "Bearer"},
                )
        try:
            body = await metrics.render()
        except TimeoutError:
            return web.Response(status=503, text="metrics: the cases database is busy\n")
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})

    return handle


def install(app: web.Application, ctx) -> ServerMetrics:
    """Add the metrics middleware, the engine wrapper and ``GET /metrics`` to ``app`` (once; later calls
    return the same ``ServerMetrics``). Call it before the app starts, before the channels attach.

    Returns:
        The app's ``ServerMetrics`` (also ``app[METRICS_KEY]``).
    """
    existing = app.get(METRICS_KEY)
    if existing is not None:
        return existing
    metrics = ServerMetrics(ctx)
    app[METRICS_KEY] = metrics
    app.middlewares.append(_middleware(metrics))
    if not isinstance(ctx.engine, InstrumentedEngine):
        ctx.engine = InstrumentedEngine(ctx.engine, metrics)
    from adapters.server import config_of

    secret = config_of(ctx.settings).metrics_token
    token = (secret.get_secret_value() if secret is not None else "").strip() or None
    app.router.add_get(METRICS_PATH, _metrics_handler(metrics, token))
    return metrics


def metrics_of(app: web.Application) -> ServerMetrics | None:
    """The ``ServerMetrics`` installed on ``app``, or None."""
    return app.get(METRICS_KEY)


__all__ = [
    "ServerMetrics",
    "InstrumentedEngine",
    "install",
    "metrics_of",
    "route_label",
    "CONTENT_TYPE",
    "METRICS_PATH",
    "METRICS_TOKEN_ENV",
    "LATENCY_BUCKETS",
]
