"""``policybot eval``: retrieval quality on question sets, optionally on a throwaway knowledge base with more
documents (``--with-docs``) and leave-one-document-out (``--cross-validate``; ``bot.crossval``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from adapters.cli import embedder_for, open_from_args, settings_of


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
        return open_from_args(args, mode=mode)
    from bot.crossval import build_knowledge_base

    if getattr(args, "eval_dir", None) is None:
        args.eval_dir = build_knowledge_base(
            args.with_docs, data_dir=_throwaway_dir(), embedder=embedder_for(settings_of(args))
        ).data_dir
    return open_from_args(argparse.Namespace(data_dir=args.eval_dir, settings=settings_of(args)), mode=mode)


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
    from bot.crossval import build_knowledge_base, bundled_groups, cross_validate

    bundled_kb = build_knowledge_base([], data_dir=_throwaway_dir(), embedder=embedder_for(settings_of(args)))
    # Questions the embedder's adapter learnt are answered but never fitted on (``cross_validate``).
    groups, learnt = bundled_groups(bundled_kb.index)
    if sets:
        kb = _eval_kb(args) if args.with_docs else bundled_kb
        groups += [(Path(f).name, kb.index, qs) for f, qs in sets.items()]
    report = cross_validate(groups)
    print(json.dumps(report.to_json()) if args.json else report.summary())
    if learnt and not args.json:
        print(
            f"(the embedder's adapter was trained on the {' and '.join(sorted(learnt))} questions: their in-scope "
            "questions are answered above but no setting or abstention rule was fitted on them)"
        )
    return 0


def register(sub) -> None:
    """Add ``eval`` to the ``policybot`` parser's sub-commands ``sub``."""
    p = sub.add_parser("eval", help="measure retrieval quality on question sets")
    p.add_argument("files", nargs="*", help="question sets (default: the bundled dev and staff sets)")
    p.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    p.add_argument("--compare", action="store_true", help="run keyword-only, dense-only and hybrid")
    p.add_argument("--json", action="store_true")
    p.add_argument("--verbose", action="store_true", help="list the misses")
    p.add_argument(
        "--with-docs",
        nargs="+",
        metavar="DOC",
        default=[],
        help="ask a throwaway knowledge base: the bundled policies plus these files, added as a bare `kb add`",
    )
    p.add_argument(
        "--cross-validate",
        action="store_true",
        help="leave-one-document-out: tuning and held-out figures per set (bundled sets plus FILES)",
    )
    p.set_defaults(func=cmd_eval)
