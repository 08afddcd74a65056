"""``policybot serve``: the chat server (``adapters.server``) on the command line."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TYPE_CHECKING

from adapters import DEFAULT_HOST, DEFAULT_PORT
from adapters.cli import open_from_args, settings_of

if TYPE_CHECKING:
    from adapters.server import ServerContext


def cmd_serve(args) -> int:
    """The ``policybot serve`` command; exit 0 after a clean shutdown, 2 on a configuration error."""
    from adapters.server import CTX_KEY, ConfigError, build_app, check_settings, make_engine, serve, settings_from_args

    config = settings_of(args)
    settings = settings_from_args(args, config=config)
    try:
        check_settings(settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.port < 0 or args.port > 65535:
        print(f"error: --port must be between 0 and 65535, not {args.port}", file=sys.stderr)
        return 2
    from adapters.logs import APP_LOGGERS

    level = config.log_level_number or (logging.INFO if args.verbose else logging.WARNING)  # POLICYBOT_LOG_LEVEL wins
    for name in APP_LOGGERS:
        logging.getLogger(name).setLevel(level)
    policybot = open_from_args(args)
    engine = make_engine(policybot, dev=getattr(args, "dev", False) or None, config=config)
    if getattr(engine, "reporting", None) is None and getattr(engine, "reporting_error", None):
        print(f"note: confidential reporting is off: {engine.reporting_error}", file=sys.stderr, flush=True)
    try:
        app = build_app(policybot, engine, settings)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    ctx: ServerContext = app[CTX_KEY]
    from adapters.admin import ADMIN_KEY

    def ready(url: str) -> None:
        names = ", ".join(c.name for c in ctx.channels) or "none configured"
        line = f"policybot serving on {url} (channels: {names}; health: {url}/healthz)"
        if any(c.name == "webchat" for c in ctx.channels):
            line += f"; web chat: {url}/"
        if ADMIN_KEY in app:
            line += f"; admin console: {url}/admin/"
        print(line, flush=True)
        if not ctx.channels:
            print(
                "note: no chat channel configured; set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable Slack",
                file=sys.stderr,
                flush=True,
            )

    try:
        asyncio.run(serve(app, settings.host, settings.port, ready=ready))
    except OSError as exc:
        print(f"error: cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    finally:
        reporting = getattr(engine, "reporting", None)
        if reporting is not None and hasattr(reporting, "close"):
            reporting.close()
    return 0


def register(subparsers) -> None:
    """Add the ``serve`` sub-command to the ``policybot`` parser."""
    p = subparsers.add_parser("serve", help="run the chat server (Slack, Teams and the web chat, as configured)")
    p.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST})")
    p.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port to bind (default {DEFAULT_PORT}; 0 = any free)"
    )
    p.add_argument(
        "--slack-socket-mode",
        action="store_true",
        help="connect to Slack over Socket Mode (needs SLACK_APP_TOKEN) instead of a public URL",
    )
    p.add_argument(
        "--dev",
        action="store_true",
        help="dev mode for reporting: generate a report key in the data dir and use the sample directory",
    )
    p.set_defaults(func=cmd_serve)
