"""``policybot ask`` (one question, or one a line on stdin) and ``policybot chat`` (the console)."""

from __future__ import annotations

import json
import sys

from adapters.cli import open_from_args


def _render_text(answer) -> str:
    from adapters.console import render_answer

    return render_answer(answer)


def asker_organisations(args, pb) -> tuple[str, ...]:
    """The organisations to answer for: ``--organisation`` (repeatable), else the ``organisation`` of the
    ``--as`` person in the staff directory, else ``POLICYBOT_ORGANISATION``; ``()`` when none says. The
    names as given: ``bot.organisations.resolve`` them against the documents' organisations.

    Raises:
        LookupError: ``--as`` names nobody, or there is no staff directory to look in.
        bot.directory.DirectoryError: the staff directory cannot be read.
    """
    from adapters.cli import settings_of

    settings = settings_of(args)
    names: tuple[str, ...] = tuple(getattr(args, "organisation", None) or ())
    who = getattr(args, "as_user", None)
    if not names and who:
        from bot.directory import Directory, directory_path

        path = directory_path(pb.data_dir, dev=settings.dev, settings=settings)
        if path is None:
            raise LookupError(
                "--as needs a staff directory: set POLICYBOT_DIRECTORY or put directory.toml in the data dir"
            )
        person = Directory.load(path).get(who)
        if person is None:
            raise LookupError(f"--as {who!r}: nobody with that id in the staff directory {path}")
        names = person.organisations
    return names or tuple(settings.organisation)


def cmd_ask(args) -> int:
    from bot.directory import DirectoryError
    from bot.engine import BadInput
    from bot.organisations import resolve

    pb = open_from_args(args)
    try:
        orgs = asker_organisations(args, pb)
        resolve(orgs, pb.organisations())  # an unknown organisation is a clear error now, before any question
    except (ValueError, LookupError, DirectoryError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    others = getattr(args, "others", None)
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
                answer = pb.ask(line, max_quotes=args.quotes, organisations=orgs, others=others)
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
        answer = pb.ask(args.question, max_quotes=args.quotes, organisations=orgs, others=others)
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


def add_asker_arguments(p, others: bool = True) -> None:
    """``--organisation``, ``--as`` and (with ``others``) ``--other-organisations``: whose policy applies to
    the asker."""
    p.add_argument(
        "--organisation",
        action="append",
        metavar="ORG",
        help="the asker's organisation (a document's organisation or id, any case; repeat for several): "
        "its policy is quoted first",
    )
    p.add_argument("--as", dest="as_user", help="answer as this person of the staff directory (their organisation)")
    if not others:
        return
    p.add_argument(
        "--other-organisations",
        dest="others",
        choices=("show", "hide"),
        help="show or hide other organisations' clauses under the asker's own (default POLICYBOT_OTHER_ORGANISATIONS)",
    )


def register(sub) -> None:
    """Add ``ask`` and ``chat`` to the ``policybot`` parser's sub-commands ``sub``."""
    p = sub.add_parser("ask", help="answer one question (or '-' for one question a line on stdin)")
    p.add_argument("question", help="the question, or '-' to read questions from standard input")
    p.add_argument("--json", action="store_true", help="print JSON (JSON Lines with '-')")
    p.add_argument("--quotes", type=int, default=3, help="most quotes per answer (default 3)")
    add_asker_arguments(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="chat with the bot in the terminal")
    p.add_argument("--as", dest="as_user", default="console", help="your user id in the directory")
    p.add_argument(
        "--dev",
        action="store_true",
        help="dev mode: generate a report key in the data dir and use the sample directory",
    )
    p.set_defaults(func=cmd_chat)
