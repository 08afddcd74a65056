"""What the related-words lexicon is worth on documents it was and was not written for.

``index/lexicon.py``'s ``RELATED`` and ``PHRASES`` tables were written against the five bundled policies.
Retrieval uses them twice: appended to the dense (and optionally keyword) query (``expand_query``) and as a
second dense query, the question rewritten in them (``rewrite_query``). This runs the leave-one-document-out
cross-validation of ``policybot eval --cross-validate`` (``bot.crossval``; bundled sets on the bundled
policies, the real-documents set on the bundled policies plus the three real files) with one variant:

* ``on``: as shipped;
* ``off``: both tables empty (spelling fixes kept), so there is one dense query, the question as typed;
* ``append``: appended words only, no rewritten query;
* ``rewrite``: the rewritten query only, nothing appended to the typed one.

Usage (``../shared`` beside the repository, as ``make eval`` expects)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/lexicon_ablation.py off [--realdocs DIR] [--questions FILE]

Prints the cross-validation table (tuning and held-out per set) and the real-documents figures with the
shipped settings. About 2.5 minutes on 2 cores with a warm embedding cache. Asserts nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.crossval import build_knowledge_base, bundled_groups, cross_validate  # noqa: E402
from bot.evaluate import evaluate, load_questions  # noqa: E402
from index import (
    lexicon,  # noqa: E402
    retrieve,  # noqa: E402
)
from index.embed import SentenceEmbedder  # noqa: E402

VARIANTS = ("on", "off", "append", "rewrite")


def main() -> int:
    """Run one variant; returns the exit status (2 when the real documents are missing)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant", choices=VARIANTS)
    ap.add_argument("--realdocs", default=str(ROOT.parent / "shared" / "realdocs"))
    ap.add_argument("--questions", default=str(ROOT.parent / "shared" / "eval" / "realdocs_questions.json"))
    args = ap.parse_args()
    docs = sorted(str(p) for p in Path(args.realdocs).glob("*") if p.suffix in (".pdf", ".docx", ".txt"))
    if not docs or not Path(args.questions).exists():
        print(f"error: no real documents in {args.realdocs} or no {args.questions}", file=sys.stderr)
        return 2
    embedder = SentenceEmbedder()
    bundled = build_knowledge_base([], data_dir=tempfile.mkdtemp(prefix="policybot-lex-"), embedder=embedder)
    real_kb = build_knowledge_base(docs, data_dir=tempfile.mkdtemp(prefix="policybot-lex-"), embedder=embedder)
    groups, _ = bundled_groups(bundled.index)
    groups.append(("real documents", real_kb.index, load_questions(args.questions)))
    # Module state of an offline run only: the tables are read at query time.
    if args.variant == "off":
        lexicon.RELATED.clear()
        lexicon.PHRASES.clear()
    elif args.variant == "append":
        retrieve.rewrite_query = lexicon.expand_query  # the second query equals the first: not embedded
    elif args.variant == "rewrite":
        retrieve.expand_query = lexicon.fix_spelling
    print(f"lexicon: {args.variant}")
    print(cross_validate(groups).summary())
    print("real documents, shipped settings:")
    print(evaluate(real_kb.index, groups[-1][2]).summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
