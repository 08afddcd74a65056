"""``policybot demo --dev``: add the local demo's cases and unanswered questions once (``bot.demo``).

``make run`` calls it before serving, so the admin console, ``cases list`` and the App Home show something
on a fresh data directory. It refuses outside dev mode (a real deployment never gets demo cases) and does
nothing the second time (a marker file in the data dir). Exit codes: 0 done or already done, 2 not dev mode,
1 reporting could not be opened.
"""

from __future__ import annotations

import sys


def cmd_demo(args) -> int:
    """The ``policybot demo`` command."""
    from adapters.cli import open_from_args, settings_of
    from bot.demo import seed_demo
    from bot.engine import ConversationEngine

    settings = settings_of(args)
    if not (args.dev or settings.dev):
        print("error: demo data is for the local demo only: add --dev (or set POLICYBOT_DEV=1)", file=sys.stderr)
        return 2
    policybot = open_from_args(args)
    engine = ConversationEngine(policybot, dev=True, settings=settings)
    try:
        if engine.reporting is None:
            print(f"error: confidential reporting is off: {engine.reporting_error}", file=sys.stderr)
            return 1
        result = seed_demo(engine, policybot.data_dir)
    finally:
        if engine.reporting is not None:
            engine.reporting.close()
    if result.skipped:
        print("demo data already added (delete demo-seeded in the data dir to add it again)")
    else:
        print(f"demo data added: cases {', '.join(result.cases)}; {result.gaps} unanswered question(s)")
    return 0


def register(subparsers) -> None:
    """Add ``policybot demo`` to the ``policybot`` parser."""
    p = subparsers.add_parser("demo", help="local demo only: add sample cases and unanswered questions once")
    p.add_argument("--dev", action="store_true", help="required: the demo's report key and sample directory")
    p.set_defaults(func=cmd_demo)
