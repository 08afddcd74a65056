"""Does adapting MiniLM to policy text help on documents it was not trained on? Document-level cross-validation.

The eight documents of a knowledge base (five bundled policies + three real uploads) are split into folds
(``FOLDS``). For each fold a copy of the bundled model is fine-tuned (``index.adapt``) only on pairs mined
from the OTHER documents' clauses and, for the ``+labelled`` variants, on the labelled questions whose
relevant clauses all lie in those documents. Then, for the base and the adapted model:

* held-out: dense recall@1, recall@3 and MRR@10 on the in-scope questions whose home document is in the fold;
* in-sample: the same on the other in-scope questions (the training documents' questions; for ``shipped``
  only the dev and staff ones were trained on);
* out-of-scope separation: the top cosine of each empty-gold question vs that of the held-out in-scope
  questions (share of in-scope questions above the highest out-of-scope score, and the ROC AUC).

Dense ranking mirrors retrieval: each clause is embedded as its ``clause_views``; each question as
``expand_query(q)`` (the typed question, spelling-fixed) and ``rewrite_query(q)``; a clause's score is
the best cosine over its views and both queries. The search runs over ALL live clauses of the knowledge
base (every fold shares one pool). A question's home document is its ``doc`` field (real documents),
else the document holding most of its relevant clauses. Relevance: normalised lower-cased clause text
contains a gold snippet (``bot.evaluate`` rule); near-duplicate collapsing and keyword fusion are left out.

Embeddings of the base model are cached in ``--cache-dir`` (keyed by model path and texts); per-fold
results are cached there too, so a rerun with another ``--variants`` only trains what is missing.
Models are never written into a data dir (the store's vector cache is keyed by the model name only).

Usage (knowledge base with all eight documents, as in the README's real-document section)::

    HF_HUB_OFFLINE=1 python bench/adapt_crossval.py --db /tmp/ft/kb/policybot.db \\
        [--variants mined labelled labelled-2ep] [--cache-dir /tmp/adapt-cache] [--fresh]

Prints a table; writes the figures to ``<cache-dir>/results.json``. Asserts nothing.

Cost (measured, 2 CPU cores shared with another job): base embeddings of ~3,400 texts ~70 s (cached
afterwards); per fold and variant ~280 s of training (~800 pairs, batch 32, 64 tokens, ~11 s/step)
plus ~85 s to embed every view with the adapted model. One variant over four folds: ~25 min.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from index.adapt import SHIPPED_RECIPE, fine_tune, labelled_pairs, mine_pairs, relevant_clause_ids  # noqa: E402
from index.embed import bundled_model_path  # noqa: E402
from index.lexicon import expand_query, rewrite_query  # noqa: E402
from index.retrieve import clause_views  # noqa: E402
from index.store import KnowledgeStore  # noqa: E402

QUESTION_SETS = [ROOT / "knowledge/eval" / f"{n}_questions.json" for n in ("dev", "staff", "holdout", "holdout2")]
REAL_QUESTIONS = ROOT.parent / "shared/eval/realdocs_questions.json"
#: real document file name -> document id it gets on ``kb add``
REAL_FILES = {
    "decoy_school_online_safety_policy_2018.pdf": "decoy-school-online-safety-policy",
    "mpwec_whistleblowing_policy_2025.docx": "meadow-pathways-whistleblowing-policy",
    "lexden_montessori_whistle_blowing.txt": "lexden-montessori-whistle-blowing",
}
FOLDS = {
    "F1 online-safety": ["decoy-school-online-safety-policy"],
    "F2 mpwec+lexden": ["meadow-pathways-whistleblowing-policy", "lexden-montessori-whistle-blowing"],
    "F3 cwm-taf+wfcs": ["cwm-taf", "wfcs"],
    "F4 medway+forest+wbc": ["medway", "forest-federation", "wbc"],
}
#: name -> (labelled question sets to train on: None none, () all, else their names; epochs; LoRA rank (0: every
#: weight); learning rate). "shipped" is ``index.adapt.SHIPPED_RECIPE`` (the dev and staff questions only).
VARIANTS = {
    "mined": (None, 1, 0, 2e-5),
    "labelled": ((), 1, 0, 2e-5),
    "labelled-2ep": ((), 2, 0, 2e-5),
    "shipped": (
        tuple(SHIPPED_RECIPE["question_sets"]),
        SHIPPED_RECIPE["epochs"],
        SHIPPED_RECIPE["lora_rank"],
        SHIPPED_RECIPE["lr"],
    ),
}
SEED = 0


def load_questions(clauses) -> list[dict]:
    """All question sets with ``rel`` (relevant clause ids), ``home`` (doc id or None) and ``set`` added."""
    out = []
    for path in [*QUESTION_SETS, REAL_QUESTIONS]:
        for item in json.loads(path.read_text(encoding="utf-8")):
            rel = relevant_clause_ids(clauses, item["gold"])
            home = REAL_FILES.get(item.get("doc", ""))
            if home is None and rel:
                counts: dict[str, int] = {}
                for i in rel:
                    counts[clauses[i].doc_id] = counts.get(clauses[i].doc_id, 0) + 1
                home = max(sorted(counts), key=counts.get)
            out.append({**item, "rel": rel, "home": home, "set": path.stem.replace("_questions", "")})
    return out


class Encoded:
    """Unit vectors of every clause view and every query for one model.

    ``view_vecs`` (n_views, 384) with ``view_clause`` (n_views,) the row index of the clause in
    ``clause_ids``; ``query_vecs`` maps a query text to its (384,) vector.
    """

    def __init__(self, model, clause_ids, views_per_clause, queries, cache: Path | None):
        texts = sorted({v for vs in views_per_clause for v in vs} | set(queries))
        vecs = None
        if cache is not None:
            key = hashlib.sha1(("\x00".join(texts)).encode()).hexdigest()[:16]
            path = cache / f"base-{key}.npy"
            if path.exists():
                vecs = np.load(path)
        t0 = time.perf_counter()
        if vecs is None:
            vecs = model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True).astype(
                np.float32
            )
            if cache is not None:
                np.save(path, vecs)
        self.encode_seconds = time.perf_counter() - t0
        row = {t: n for n, t in enumerate(texts)}
        pairs = [(ci, row[v]) for ci, vs in enumerate(views_per_clause) for v in vs]
        self.view_clause = np.array([p[0] for p in pairs])
        self.view_vecs = vecs[[p[1] for p in pairs]]
        self.query_vecs = {q: vecs[row[q]] for q in queries}
        self.n_clauses = len(clause_ids)

    def clause_scores(self, queries: list[str]) -> np.ndarray:
        """Best cosine per clause over its views and ``queries``: float32 (n_clauses,)."""
        sims = self.view_vecs @ np.stack([self.query_vecs[q] for q in queries]).T  # (n_views, n_queries)
        best = np.full(self.n_clauses, -1.0, dtype=np.float32)
        np.maximum.at(best, self.view_clause, sims.max(axis=1))
        return best


def queries_of(q: str) -> list[str]:
    expanded, rewrite = expand_query(q), rewrite_query(q)
    return [expanded] if rewrite == expanded else [expanded, rewrite]


def score_questions(enc: Encoded, clause_row: dict[int, int], questions: list[dict]) -> list[dict]:
    """Per question: ``rank`` of the first relevant clause (1-based, None when none) and ``top`` cosine."""
    out = []
    for item in questions:
        s = enc.clause_scores(queries_of(item["q"]))
        order = np.argsort(-s, kind="stable")
        rank = None
        if item["rel"]:
            rel_rows = np.array([clause_row[i] for i in item["rel"]])
            positions = np.nonzero(np.isin(order, rel_rows))[0]
            rank = int(positions[0]) + 1 if len(positions) else None
        out.append({"id": item["id"], "rank": rank, "top": float(s[order[0]])})
    return out


def metrics(rows: list[dict]) -> dict:
    """recall@1, recall@3, MRR@10 over rows (in-scope only) and their count ``n``."""
    n = len(rows)
    if not n:
        return {"n": 0, "r1": float("nan"), "r3": float("nan"), "mrr": float("nan")}
    ranks = [r["rank"] for r in rows]
    return {
        "n": n,
        "r1": sum(1 for r in ranks if r and r <= 1) / n,
        "r3": sum(1 for r in ranks if r and r <= 3) / n,
        "mrr": sum(1.0 / r for r in ranks if r and r <= 10) / n,
    }


def separation(in_tops: list[float], out_tops: list[float]) -> dict:
    """Share of in-scope top cosines above the highest out-of-scope one, and ROC AUC (in > out)."""
    if not in_tops or not out_tops:
        return {"above_max_oos": float("nan"), "auc": float("nan"), "max_oos": float("nan"), "median_in": float("nan")}
    a, b = np.array(in_tops), np.array(out_tops)
    auc = float(((a[:, None] > b[None, :]).sum() + 0.5 * (a[:, None] == b[None, :]).sum()) / (len(a) * len(b)))
    return {
        "above_max_oos": float((a > b.max()).mean()),
        "auc": auc,
        "max_oos": float(b.max()),
        "median_in": float(np.median(a)),
        "median_oos": float(np.median(b)),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", default="/tmp/ft/kb/policybot.db", help="knowledge store holding all eight documents")
    ap.add_argument("--variants", nargs="*", default=["mined", "labelled"], choices=sorted(VARIANTS))
    ap.add_argument("--cache-dir", default="/tmp/adapt-cache")
    ap.add_argument("--max-per-doc", type=int, default=80, help="cap on mined pairs per document")
    ap.add_argument("--max-seq-length", type=int, default=64, help="tokens per text while training")
    ap.add_argument("--fresh", action="store_true", help="ignore cached per-fold results")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    transformers.logging.set_verbosity_error()
    torch.set_num_threads(args.threads)
    cache = Path(args.cache_dir)
    cache.mkdir(parents=True, exist_ok=True)

    clauses = KnowledgeStore(args.db).live_clauses()
    docs = {c.doc_id for c in clauses.values()}
    missing = {d for ds in FOLDS.values() for d in ds} - docs
    if missing:
        print(f"the knowledge base lacks {sorted(missing)}: add the real documents first (see module docstring)")
        return 2
    clause_ids = sorted(clauses)
    clause_row = {cid: n for n, cid in enumerate(clause_ids)}
    views = [clause_views(clauses[cid]) for cid in clause_ids]
    questions = load_questions(clauses)
    queries = sorted({q for item in questions for q in queries_of(item["q"])})
    in_scope = [q for q in questions if q["rel"]]
    oos = [q for q in questions if not q["gold"]]
    unlabelled = [q for q in questions if q["gold"] and not q["rel"]]
    print(
        f"{len(clauses)} clauses, {sum(map(len, views))} views, {len(questions)} questions "
        f"({len(in_scope)} in scope, {len(oos)} out of scope, {len(unlabelled)} with gold matching no clause)"
    )
    for name, fold_docs in FOLDS.items():
        n = sum(1 for q in in_scope if q["home"] in fold_docs)
        print(f"  {name}: {sum(1 for c in clauses.values() if c.doc_id in fold_docs)} clauses, {n} held-out questions")

    base_path = bundled_model_path()
    base = SentenceTransformer(base_path, device="cpu", local_files_only=True)
    base_enc = Encoded(base, clause_ids, views, queries, cache)
    print(f"base embeddings: {base_enc.encode_seconds:.1f} s (0 when cached)")
    base_rows = {r["id"]: r for r in score_questions(base_enc, clause_row, questions)}
    del base

    results: dict = {}
    results_path = cache / "results.json"
    if results_path.exists() and not args.fresh:
        results = json.loads(results_path.read_text())
    for variant in args.variants:
        label_sets, epochs, lora_rank, lr = VARIANTS[variant]
        for fold, fold_docs in FOLDS.items():
            key = f"{variant}|{fold}|{args.max_per_doc}|{args.max_seq_length}|{SEED}"
            if key in results:
                continue
            train_docs = docs - set(fold_docs)
            train_clauses = [c for c in clauses.values() if c.doc_id in train_docs]
            pairs = mine_pairs(train_clauses, args.max_per_doc, SEED)
            if label_sets is not None:
                pairs += labelled_pairs(
                    [q for q in questions if q["rel"] and (not label_sets or q["set"] in label_sets)],
                    clauses,
                    allowed_docs=train_docs,
                )
            print(f"[{variant}] {fold}: training on {len(pairs)} pairs, {epochs} epoch(s)...", flush=True)
            model, stats = fine_tune(
                pairs,
                None,
                base_path,
                epochs=epochs,
                seed=SEED,
                threads=args.threads,
                max_seq_length=args.max_seq_length,
                log_every=5,
                lr=lr,
                lora_rank=lora_rank,
            )
            enc = Encoded(model, clause_ids, views, queries, None)
            rows = score_questions(enc, clause_row, questions)
            print(
                f"   trained {stats['seconds']} s ({stats['steps']} steps, loss {stats['first_loss']} -> "
                f"{stats['last_loss']}), embedded {enc.encode_seconds:.1f} s",
                flush=True,
            )
            results[key] = {"stats": stats, "encode_s": round(enc.encode_seconds, 1), "rows": rows}
            results_path.write_text(json.dumps(results))
            del model, enc

    report(results, args, questions, base_rows, in_scope, oos)
    return 0


def fmt(m: dict) -> str:
    return f"{m['r1']:.2f} {m['r3']:.2f} {m['mrr']:.2f}"


def report(results, args, questions, base_rows, in_scope, oos) -> None:
    """Print per fold and pooled figures for every variant in ``results``."""
    home = {q["id"]: q["home"] for q in questions}
    real_ids = {q["id"] for q in questions if q["set"] == "realdocs"}
    oos_ids = [q["id"] for q in oos]
    for variant in args.variants:
        print(
            f"\n== variant {variant!r} (labelled={VARIANTS[variant][0]}, epochs={VARIANTS[variant][1]}); "
            f"R@1 R@3 MRR@10, base -> adapted"
        )
        print(
            f"{'fold':22} {'n':>3} {'held-out base':>14} {'held-out adapted':>17} | {'n':>4} "
            f"{'in-sample base':>14} {'in-sample adapted':>17} | {'pairs':>5} {'train s':>7}"
        )
        pool = {"hb": [], "ha": [], "ib": [], "ia": [], "rb": [], "ra": []}
        sep = {"b_in": [], "a_in": [], "b_out": [], "a_out": []}
        total_s = 0.0
        for fold, fold_docs in FOLDS.items():
            key = f"{variant}|{fold}|{args.max_per_doc}|{args.max_seq_length}|{SEED}"
            if key not in results:
                continue
            rows = {r["id"]: r for r in results[key]["rows"]}
            held = [q["id"] for q in in_scope if home[q["id"]] in fold_docs]
            ins = [q["id"] for q in in_scope if home[q["id"]] not in fold_docs]
            hb, ha = [base_rows[i] for i in held], [rows[i] for i in held]
            ib, ia = [base_rows[i] for i in ins], [rows[i] for i in ins]
            pool["hb"] += hb
            pool["ha"] += ha
            pool["ib"] += ib
            pool["ia"] += ia
            pool["rb"] += [base_rows[i] for i in held if i in real_ids]
            pool["ra"] += [rows[i] for i in held if i in real_ids]
            sep["b_in"] += [r["top"] for r in hb]
            sep["a_in"] += [r["top"] for r in ha]
            sep["b_out"].append([base_rows[i]["top"] for i in oos_ids])
            sep["a_out"].append([rows[i]["top"] for i in oos_ids])
            st = results[key]["stats"]
            total_s += st["seconds"]
            print(
                f"{fold:22} {len(held):>3} {fmt(metrics(hb)):>14} {fmt(metrics(ha)):>17} | {len(ins):>4} "
                f"{fmt(metrics(ib)):>14} {fmt(metrics(ia)):>17} | {st['pairs']:>5} {st['seconds']:>7.0f}"
            )
            sb = separation([r["top"] for r in hb], sep["b_out"][-1])
            sa = separation([r["top"] for r in ha], sep["a_out"][-1])
            print(
                f"{'':22}     OOS sep: base above-max {sb['above_max_oos']:.2f} AUC {sb['auc']:.2f} "
                f"(max oos {sb['max_oos']:.2f}, med in {sb['median_in']:.2f}) | adapted above-max "
                f"{sa['above_max_oos']:.2f} AUC {sa['auc']:.2f} (max oos {sa['max_oos']:.2f}, med in {sa['median_in']:.2f})"
            )
        if not pool["hb"]:
            continue
        print(
            f"{'pooled':22} {len(pool['hb']):>3} {fmt(metrics(pool['hb'])):>14} {fmt(metrics(pool['ha'])):>17} | "
            f"{len(pool['ib']):>4} {fmt(metrics(pool['ib'])):>14} {fmt(metrics(pool['ia'])):>17} | "
            f"{'':>5} {total_s:>7.0f}"
        )
        print(
            f"{'  real docs only':22} {len(pool['rb']):>3} {fmt(metrics(pool['rb'])):>14} {fmt(metrics(pool['ra'])):>17}"
        )
        # pooled OOS separation: each fold's held-out in-scope tops vs the same model's OOS tops
        above_b = above_a = 0
        aucs_b, aucs_a = [], []
        start = 0
        n_folds = len(sep["b_out"])
        idx = 0
        for fold, fold_docs in FOLDS.items():
            key = f"{variant}|{fold}|{args.max_per_doc}|{args.max_seq_length}|{SEED}"
            if key not in results:
                continue
            n = sum(1 for q in in_scope if home[q["id"]] in fold_docs)
            b_in = sep["b_in"][start : start + n]
            a_in = sep["a_in"][start : start + n]
            above_b += sum(t > max(sep["b_out"][idx]) for t in b_in)
            above_a += sum(t > max(sep["a_out"][idx]) for t in a_in)
            aucs_b.append((separation(b_in, sep["b_out"][idx])["auc"], n))
            aucs_a.append((separation(a_in, sep["a_out"][idx])["auc"], n))
            start += n
            idx += 1
        n_in = len(sep["b_in"])
        wauc = lambda xs: sum(a * n for a, n in xs) / sum(n for _, n in xs)  # noqa: E731
        print(
            f"{'pooled OOS separation':22} base: {above_b / n_in:.2f} of held-out in-scope above max OOS, "
            f"AUC {wauc(aucs_b):.2f} | adapted: {above_a / n_in:.2f}, AUC {wauc(aucs_a):.2f}  "
            f"({len(oos_ids)} OOS questions, {n_folds} folds)"
        )
    print(f"\nresults: {args.cache_dir}/results.json")


if __name__ == "__main__":
    raise SystemExit(main())
