"""What answering from the asker's own organisation first does to retrieval, on every labelled question.

For each in-scope question of the bundled sets (``knowledge/eval/*.json``) and of the real-documents set
(``../shared/eval/realdocs_questions.json``), each organisation whose clauses contain one of its gold
snippets is taken in turn as the asker's organisation. The question is then ranked two ways over the
bundled policies plus the three real files:

* ``all``: as an asker with no organisation known (the whole knowledge base, as shipped);
* ``own``: only the asker's organisation's documents (``KnowledgeIndex.rank(docs=...)``), which is the
  "Your organisation's policy" section of an organisation-aware answer.

recall@3 counts a gold snippet of that organisation in the top 3 quotes; "abstained" is the share of
(question, organisation) pairs the abstention rule refused (its evidence is the question's own hits only,
so nothing was refitted). Nothing here was tuned: every figure is held out.

Usage (``../shared`` beside the repository)::

    HF_HUB_OFFLINE=1 .venv/bin/python bench/own_organisation.py

Prints one table per question set. About a minute on 2 cores with a warm embedding cache. Asserts nothing.
"""

from __future__ import annotations

import platform
import sys
import tempfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.answer import compose, split_by_documents  # noqa: E402
from bot.crossval import build_knowledge_base  # noqa: E402
from bot.evaluate import first_relevant_rank, load_questions  # noqa: E402
from index.retrieve import params_for  # noqa: E402
from knowledge.segment import normalise  # noqa: E402

SHARED = ROOT.parent / "shared"
REALDOCS = SHARED / "realdocs"
WAYS = ("all", "own alone", "own within")
SETS = {
    "dev": ROOT / "knowledge" / "eval" / "dev_questions.json",
    "staff": ROOT / "knowledge" / "eval" / "staff_questions.json",
    "holdout": ROOT / "knowledge" / "eval" / "holdout_questions.json",
    "holdout2": ROOT / "knowledge" / "eval" / "holdout2_questions.json",
    "realdocs": SHARED / "eval" / "realdocs_questions.json",
}


def _contains(text: str, gold: list[str]) -> bool:
    t = normalise(text).lower()
    return any(normalise(g).lower() in t for g in gold)


def main() -> int:
    files = sorted(p for p in REALDOCS.iterdir() if p.suffix in (".pdf", ".docx", ".txt"))
    with tempfile.TemporaryDirectory() as tmp:
        pb = build_knowledge_base(files, data_dir=Path(tmp) / "data")
        index = pb.index
        clauses = list(index.snapshot.clauses.values())
        docs_of: dict[str, set[str]] = {}
        for c in clauses:
            docs_of.setdefault(c.organisation, set()).add(c.doc_id)
        params = params_for(index.embedder.name)
        print(f"# own organisation first: {date.today()} on {platform.machine()} {platform.node()}")
        print(f"{'':15} recall@3 {'':24} abstained")
        print(
            f"{'set':9} {'pairs':>5}  " + " ".join(f"{w:>10}" for w in WAYS) + "  " + " ".join(f"{w:>10}" for w in WAYS)
        )
        for name, path in SETS.items():
            if not path.exists():
                continue
            pairs = 0
            hits = dict.fromkeys(WAYS, 0)
            abstained = dict.fromkeys(WAYS, 0)
            for item in load_questions(path):
                gold = [g for g in item.get("gold") or [] if g]
                if not gold:
                    continue
                owners = {c.organisation for c in clauses if _contains(c.text, gold)}
                if not owners:
                    continue
                everything = index.search(item["q"], k=20)  # as shipped, no organisation known
                for org in sorted(owners):
                    org_gold = [
                        g for g in gold if any(_contains(c.text, [g]) for c in clauses if c.organisation == org)
                    ]
                    docs = docs_of[org]
                    feats = index.features(item["q"], plain_keywords=not params.expand_keywords, docs=docs)
                    within, _ = split_by_documents(index.rank(feats, params, k=len(clauses)), docs)
                    results = {
                        "all": everything,
                        "own alone": index.rank(feats, params, k=20, docs=docs),
                        "own within": within,
                    }
                    pairs += 1
                    for way, result in results.items():
                        answer = compose(result, max_quotes=10, cutoff=None)
                        texts = [" \n ".join([q.text] + [a.text for a in q.also]) for q in answer.quotes]
                        rank = first_relevant_rank(texts, org_gold) if answer.answered else None
                        hits[way] += rank is not None and rank <= 3
                        abstained[way] += not result.answerable
            if pairs:
                print(
                    f"{name:9} {pairs:5}  "
                    + " ".join(f"{hits[w] / pairs:10.3f}" for w in WAYS)
                    + "  "
                    + " ".join(f"{abstained[w] / pairs:10.3f}" for w in WAYS)
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
