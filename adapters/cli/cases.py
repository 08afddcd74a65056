"""``policybot cases``: the handler's command line for confidential reports, and the deadline runner.

Sub-commands (``--as USER_ID`` is the directory id of the person running it; what they may see is
checked by that id: a handler sees their own cases, HR sees every case, anyone else sees nothing)::

    policybot cases list  --as bob [--json]
    policybot cases show  C-00001 --as bob [--json]
    policybot cases ack   C-00001 --as bob
    policybot cases ask   C-00001 --as bob --question "Which account sent it?"
    policybot cases close C-00001 --as bob --outcome "Blocked the account; advice given."
    policybot cases audit --as hana [C-00001]      (HR only: who read which case, when)
    policybot cases remind [--now 2025-03-20T09:00:00+00:00]   (for cron: reminders and escalations)
    policybot cases keygen                          (print a new report key)

Every sub-command takes ``--dev`` (or ``POLICYBOT_DEV=1``) for a local demo without a configured key.
Exit codes: 0 success, 1 reporting not configured or runtime failure, 2 bad usage, unknown or hidden case.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from datetime import UTC, datetime


def _service(args):
    from adapters.cli import settings_of
    from bot.engine import open_reporting

    settings = settings_of(args)
    data_dir = args.data_dir or settings.default_data_dir()
    return open_reporting(data_dir, dev=getattr(args, "dev", False) or None, settings=settings)


def _run(args, fn) -> int:
    from bot.reporting.crypto import ReportingNotConfigured
    from bot.reporting.service import AccessDenied, BadReportInput

    try:
        svc = _service(args)
    except ReportingNotConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        return fn(svc)
    except AccessDenied:
        ref = getattr(args, "case", "")
        print(f"error: no case {ref} that {args.as_user} can see", file=sys.stderr)
        return 2
    except BadReportInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        svc.close()


def _print_out(msgs) -> None:
    for m in msgs:
        if m.to_user:  # queued for someone else: say so without naming the reporter
            continue
        print(m.text)


def cmd_list(args) -> int:
    def go(svc):
        rows = svc.list_cases(args.as_user, via="cli")
        if args.json:
            print(json.dumps([asdict(r) for r in rows], ensure_ascii=False))
            return 0
        if not rows:
            print(f"no cases for {args.as_user}")
            return 0
        for r in rows:
            flag = " (escalated to HR)" if r.escalated else ""
            print(
                f"{r.ref}  {r.status}{flag}  |  {r.category}  |  handler: {r.handler}  |  "
                f"submitted {r.created_at}  |  acknowledge by {r.ack_due}"
            )
        return 0

    return _run(args, go)


def cmd_show(args) -> int:
    def go(svc):
        view = svc.show_case(args.as_user, args.case, via="cli")
        if args.json:
            print(json.dumps(asdict(view), ensure_ascii=False))
        else:
            print("\n".join(view.lines()))
        return 0

    return _run(args, go)


def cmd_ack(args) -> int:
    return _run(args, lambda svc: (_print_out(svc.acknowledge(args.as_user, args.case, via="cli")), 0)[1])


def cmd_ask(args) -> int:
    return _run(
        args, lambda svc: (_print_out(svc.request_info(args.as_user, args.case, args.question, via="cli")), 0)[1]
    )


def cmd_close(args) -> int:
    return _run(args, lambda svc: (_print_out(svc.close_case(args.as_user, args.case, args.outcome, via="cli")), 0)[1])


def cmd_audit(args) -> int:
    from bot.reporting.cases import case_ref, parse_case_ref

    def go(svc):
        if not svc.directory.is_hr(args.as_user):
            print("error: only HR can read the audit log", file=sys.stderr)
            return 2
        cid = parse_case_ref(args.case) if args.case else None
        for r in svc.cases.audit_rows(cid):
            ref = case_ref(r["case_id"]) if r["case_id"] is not None else "-"
            print(
                f"{r['at']}  {ref}  {r['actor']}  {r['action']}  {'allowed' if r['allowed'] else 'REFUSED'}  "
                f"via {r['via']}"
            )
        return 0

    return _run(args, go)


def cmd_remind(args) -> int:
    def go(svc):
        now = _parse_now(args.now)
        msgs = svc.tick(now)
        counts = {"reminder": 0, "escalation": 0, "draft_expired": 0}
        for m in msgs:
            counts[m.event or "reminder"] = counts.get(m.event or "reminder", 0) + 1
        print(
            f"queued {len(msgs)} message(s): {counts['reminder']} reminder(s), "
            f"{counts['escalation']} escalation message(s), {counts['draft_expired']} expired draft notice(s)"
        )
        return 0

    return _run(args, go)


def _parse_now(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise SystemExit(f"error: --now must be ISO 8601, e.g. 2025-03-20T09:00:00+00:00 (got {text!r})") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def cmd_keygen(args) -> int:
    from bot.reporting.crypto import generate_key

    print(generate_key())
    return 0


def register(subparsers) -> None:
    """Add ``policybot cases ...`` to the ``policybot`` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dev", action="store_true", help="dev mode: key in the data dir, sample directory")
    who = argparse.ArgumentParser(add_help=False)
    who.add_argument("--as", dest="as_user", required=True, help="your user id in the staff directory")

    p = subparsers.add_parser("cases", help="confidential report cases: list, show, acknowledge, close, remind")
    sub = p.add_subparsers(dest="cases_command", required=True)

    s = sub.add_parser("list", parents=[common, who], help="list the cases you may see")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_list)

    s = sub.add_parser("show", parents=[common, who], help="show one case")
    s.add_argument("case", help="case reference, e.g. C-00001")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_show)

    s = sub.add_parser("ack", parents=[common, who], help="acknowledge a case (the reporter is told)")
    s.add_argument("case")
    s.set_defaults(func=cmd_ack)

    s = sub.add_parser("ask", parents=[common, who], help="ask the reporter for more information")
    s.add_argument("case")
    s.add_argument("--question", required=True)
    s.set_defaults(func=cmd_ask)

    s = sub.add_parser("close", parents=[common, who], help="close a case with an outcome (the reporter is told)")
    s.add_argument("case")
    s.add_argument("--outcome", required=True)
    s.set_defaults(func=cmd_close)

    s = sub.add_parser("audit", parents=[common, who], help="HR only: the audit log of case reads")
    s.add_argument("case", nargs="?")
    s.set_defaults(func=cmd_audit)

    s = sub.add_parser("remind", parents=[common], help="send due reminders and escalations (run from cron)")
    s.add_argument("--now", help="pretend it is this ISO 8601 time (default: now)")
    s.set_defaults(func=cmd_remind)

    s = sub.add_parser("keygen", help="print a new report key for POLICYBOT_REPORT_KEY")
    s.set_defaults(func=cmd_keygen)
