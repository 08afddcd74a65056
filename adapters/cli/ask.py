"""``policybot ask`` (one question, or one a line on stdin) and ``policybot chat`` (the console)."""

from __future__ import annotations

import json
import sys

from adapters.cli import open_from_args


def _render_text(answer) -> str:
    from adapters.console import render_answer

    return render_answer(answer)


def cmd_ask(args) -> int:
    from bot.engine import BadInput

    pb = open_from_args(args)
    if args.question == "-":
        status = 0
        for n, raw in enumerate(sys.stdin.buffer, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as exc:
                err = f"line {n} is not valid UTF-8 (byte {exc.start}); it was skipped"
                status = 2
                if args.json:
                    print(json.dumps({"question": None, "answered": False, "quotes": [], "error": err}), flush=True)
                print(f"error: {err}", file=sys.stderr)
                continue
            if not line.strip():
                continue
            try:
                answer = pb.ask(line, max_quotes=args.quotes)
            except BadInput as exc:
                status = 2
                if args.json:
                    print(
                        json.dumps(
                            {"question": line[:200], "answered": False, "quotes": [], "error": str(exc)},
                            ensure_ascii=False,
                        ),
                        flush=True,
                    )
                print(f"error: line {n}: {exc}", file=sys.stderr)
                continue
            if args.json:
                print(json.dumps(answer.to_json(), ensure_ascii=False), flush=True)
            else:
                print(_render_text(answer) + "\n", flush=True)
        return status
    try:
        answer = pb.ask(args.question, max_quotes=args.quotes)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        print(_render_text(answer))
    return 0


def cmd_chat(args) -> int:
    from adapters.console import run_console

    pb = open_from_args(args)
    return run_console(pb, user_id=args.as_user, dev=getattr(args, "dev", False) or None)


def register(sub) -> None:
    """Add ``ask`` and ``chat`` to the ``policybot`` parser's sub-commands ``sub``."""
    p = sub.add_parser("ask", help="answer one question (or '-' for one question a line on stdin)")
    p.add_argument("question", help="the question, or '-' to read questions from standard input")
    p.add_argument("--json", action="store_true", help="print JSON (JSON Lines with '-')")
    p.add_argument("--quotes", type=int, default=3, help="most quotes per answer (default 3)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="chat with the bot in the terminal")
    p.add_argument("--as", dest="as_user", default="console", help="your user id in the directory")
    p.add_argument(
        "--dev",
        action="store_true",
        help="dev mode: generate a report key in the data dir and use the sample directory",
    )
    p.set_defaults(func=cmd_chat)
