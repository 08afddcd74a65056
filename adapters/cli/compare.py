"""``policybot compare [--json] TOPIC``: what each organisation's policy says about one topic."""

from __future__ import annotations

import json
import sys

from adapters.cli import open_from_args


def cmd_compare(args) -> int:
    """The ``policybot compare`` command: 0, or 2 for an empty or too long topic, an unknown organisation or
    an unknown ``--as`` person (one line on stderr)."""
    from adapters.cli.ask import asker_organisations
    from adapters.console import render
    from bot.compare import compare
    from bot.directory import DirectoryError
    from bot.engine import BadInput
    from bot.messages import Outbound
    from bot.organisations import resolve

    pb = open_from_args(args)
    try:
        own = resolve(asker_organisations(args, pb), pb.organisations())
        comparison = compare(pb.index, args.topic, own)
    except (BadInput, ValueError, LookupError, DirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(comparison.to_json(), ensure_ascii=False))
    else:
        print(render(Outbound(kind="comparison", text=comparison.summary, comparison=comparison)))
    return 0


def register(sub) -> None:
    """Add ``compare`` to the ``policybot`` parser's sub-commands ``sub``."""
    from adapters.cli.ask import add_asker_arguments

    p = sub.add_parser("compare", help="what each organisation's policy says about a topic, side by side")
    p.add_argument("topic", help='e.g. "accepting friend requests from service users"')
    p.add_argument("--json", action="store_true", help="print JSON")
    add_asker_arguments(p, others=False)
    p.set_defaults(func=cmd_compare)
