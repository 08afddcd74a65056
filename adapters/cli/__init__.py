"""The ``policybot`` command line: ask, chat, eval, index build (and, from other modules, more).

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("policybot")
PRIVATE_UMASK = 0o077  #: the process umask: what the bot creates (data dir, databases, WAL files, index) is owner-only


def open_from_args(args, mode: str = "hybrid"):
    """Open the Policybot for the parsed ``args`` (``--data-dir``); honours ``POLICYBOT_FAKE_EMBEDDER=1``."""
    return _open(args, mode)


def _open(args, mode: str = "hybrid"):
    from bot.app import open_policybot

    return open_policybot(args.data_dir, embedder=_embedder(), mode=mode)


def _embedder():
    """None (the bundled model), or with ``POLICYBOT_FAKE_EMBEDDER=1`` (a test hook) the deterministic fake."""
    if os.environ.get("POLICYBOT_FAKE_EMBEDDER") == "1":
        from index.embed import FakeEmbedder

        return FakeEmbedder()
    return None


def _render_text(answer) -> str:
    from adapters.console import render_answer

    return render_answer(answer)


def cmd_ask(args) -> int:
    from bot.engine import BadInput

    pb = _open(args)
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
                    print(json.dumps({"question": line[:200], "answered": False, "quotes": [], "error": str(exc)},
                                     ensure_ascii=False), flush=True)
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

    pb = _open(args)
    return run_console(pb, user_id=args.as_user, dev=getattr(args, "dev", False) or None)


def cmd_eval(args) -> int:
    from bot.evaluate import evaluate, load_questions
    from knowledge.catalog import EVAL_DIR
    from knowledge.loaders import BadUpload

    bundled = [str(EVAL_DIR / n) for n in ("dev_questions.json", "staff_questions.json")]
    files = args.files or ([] if args.cross_validate else bundled)
    sets: dict[str, list[dict]] = {}
    for f in files:
        try:
            sets[f] = load_questions(f)
        except (OSError, ValueError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    questions = [q for qs in sets.values() for q in qs]
    try:
        if args.cross_validate:
            return _eval_cross_validated(args, sets)
        modes = ["keyword", "dense", "hybrid"] if args.compare else [args.mode]
        results = {}
        for mode in modes:
            pb = _eval_kb(args, mode)
            report = evaluate(pb.index, questions)
            results[mode] = report
            if not args.json:
                docs = f" + {len(args.with_docs)} document(s)" if args.with_docs else ""
                print(f"[{mode}{docs}] " + ", ".join(Path(f).name for f in files))
                print(report.summary())
                if args.verbose:
                    for row in report.rows:
                        if row.get("rank") != 1 and ("rank" in row or not row["abstained"]):
                            print("  miss:", json.dumps(row, ensure_ascii=False))
    except BadUpload as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({m: r.to_json() for m, r in results.items()}))
    return 0


def _eval_kb(args, mode: str = "hybrid"):
    """The knowledge base ``eval`` asks: the data dir's, or with ``--with-docs`` a throwaway one (built once)."""
    if not args.with_docs:
        return _open(args, mode=mode)
    from bot.crossval import build_knowledge_base

    if getattr(args, "eval_dir", None) is None:
        args.eval_dir = build_knowledge_base(args.with_docs, data_dir=_throwaway_dir(), embedder=_embedder()).data_dir
    return _open(argparse.Namespace(data_dir=args.eval_dir), mode=mode)


def _throwaway_dir() -> str:
    """A new temporary directory, removed when the command exits."""
    import atexit
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="policybot-eval-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _eval_cross_validated(args, sets: dict[str, list[dict]]) -> int:
    """``eval --cross-validate``: the bundled sets on the bundled policies, ``FILES`` on them plus ``--with-docs``."""
    from bot.crossval import build_knowledge_base, cross_validate
    from bot.evaluate import load_questions
    from knowledge.catalog import EVAL_DIR

    from index.embed import SentenceEmbedder, adapter_question_sets

    bundled_kb = build_knowledge_base([], data_dir=_throwaway_dir(), embedder=_embedder())
    embedder = bundled_kb.index.embedder
    # Questions the embedder's adapter learnt are answered but never fitted on (``cross_validate``).
    learnt = adapter_question_sets(embedder.adapter) if isinstance(embedder, SentenceEmbedder) else frozenset()
    groups = [
        ("tuning (dev + staff)", bundled_kb.index,
         load_questions(EVAL_DIR / "dev_questions.json") + load_questions(EVAL_DIR / "staff_questions.json"),
         not {"dev", "staff"} & learnt),
        ("held-out 1", bundled_kb.index, load_questions(EVAL_DIR / "holdout_questions.json")),
        ("held-out 2", bundled_kb.index, load_questions(EVAL_DIR / "holdout2_questions.json")),
    ]
    if sets:
        kb = _eval_kb(args) if args.with_docs else bundled_kb
        groups += [(Path(f).name, kb.index, qs) for f, qs in sets.items()]
    report = cross_validate(groups)
    print(json.dumps(report.to_json()) if args.json else report.summary())
    if learnt and not args.json:
        print(f"(the embedder's adapter was trained on the {' and '.join(sorted(learnt))} questions: their in-scope "
              "questions are answered above but no setting or abstention rule was fitted on them)")
    return 0


def cmd_index_build(args) -> int:
    from rich.progress import Progress

    pb = _open(args)
    with Progress(transient=True) as progress:
        task = progress.add_task("Embedding clauses", total=None)

        def tick(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        stats = pb.index.refresh(progress=tick)
    docs = pb.store.documents()
    print(
        f"index ready: {stats['total']} clauses from {len(docs)} documents "
        f"({stats['added']} added, {stats['removed']} removed, {stats['embedded']} embedded)"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="policybot", description="Policy guidance and confidential reporting bot.")
    parser.add_argument("--data-dir", default=None, help="data directory (default: $POLICYBOT_DATA_DIR or ~/.local/share/policybot)")
    parser.add_argument("-v", "--verbose", action="store_true", help="more output")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ask", help="answer one question (or '-' for one question a line on stdin)")
    p.add_argument("question", help="the question, or '-' to read questions from standard input")
    p.add_argument("--json", action="store_true", help="print JSON (JSON Lines with '-')")
    p.add_argument("--quotes", type=int, default=3, help="most quotes per answer (default 3)")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="chat with the bot in the terminal")
    p.add_argument("--as", dest="as_user", default="console", help="your user id in the directory")
    p.add_argument("--dev", action="store_true",
                   help="dev mode: generate a report key in the data dir and use the sample directory")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("eval", help="measure retrieval quality on question sets")
    p.add_argument("files", nargs="*", help="question sets (default: the bundled dev and staff sets)")
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    p.add_argument("--compare", action="store_true", help="run keyword-only, dense-only and hybrid")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="list the misses")
    p.add_argument("--with-docs", nargs="+", metavar="DOC", default=[],
                   help="ask a throwaway knowledge base: the bundled policies plus these files, added as a bare `kb add`")
    p.add_argument("--cross-validate", action="store_true",
                   help="leave-one-document-out: tuning and held-out figures per set (bundled sets plus FILES)")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("index", help="manage the search index")
    isub = p.add_subparsers(dest="index_command", required=True)
    b = isub.add_parser("build", help="build or update the index now (with a progress bar)")
    b.set_defaults(func=cmd_index_build)

    # Feature modules add their own sub-commands (each module has ``register(subparsers)``).
    from adapters.plugins import optional_modules

    for module in optional_modules(FEATURE_MODULES):
        module.register(sub)
    return parser


#: modules that contribute sub-commands: reporting cases, knowledge-base upkeep, the server, Teams packaging, backups
FEATURE_MODULES = ("adapters.cli_cases", "adapters.cli_kb", "adapters.server", "adapters.teams", "adapters.cli_ops")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``policybot`` console script; returns the exit code.

    Sets the process umask to ``PRIVATE_UMASK`` first, so every file the bot creates later
    (databases and their WAL files, index snapshots, backups) is readable by its owner only.
    """
    from adapters.logs import setup_logging
    os.umask(PRIVATE_UMASK)

    try:  # POLICYBOT_LOG_FORMAT (text / json) and POLICYBOT_LOG_LEVEL
        setup_logging()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: a clear line, not a traceback
        log.debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
