"""Retrieval benchmark: prints figures, asserts nothing.

Measures, on this machine:
  * warm per-question latency (p50/p95/p99, ms) of ``Policybot.ask`` over the bundled eval questions
    (dev + staff, 98 questions, each asked ``--repeat`` times);
  * cold ``policybot ask`` wall time (a fresh process, index already built);
  * index build time for the five policies (empty data dir, real model);
  * synthetic clause sets of 10k and 100k clauses: build time (FTS5 insert + FAISS add; the 10k set
    is embedded with the real model, the 100k set uses random unit vectors and reports the embedding
    time extrapolated from the 10k rate) and search p95 (ms) with real question embeddings;
  * peak RSS (MiB) of this process.

Targets (issue "Foundation"): warm p95 <= 50 ms, cold ask <= 6 s, 100k-clause search p95 <= 30 ms.

Usage: python bench/bench_retrieval.py [--quick] [--latency-only] [--repeat N]
  (--quick skips the 100k set; --latency-only measures only the warm per-question latency)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from bot.app import open_policybot  # noqa: E402
from bot.evaluate import load_questions  # noqa: E402
from index.embed import SentenceEmbedder  # noqa: E402
from index.retrieve import KnowledgeIndex  # noqa: E402
from index.store import KnowledgeStore  # noqa: E402
from knowledge.catalog import EVAL_DIR  # noqa: E402
from knowledge.model import Document  # noqa: E402


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def synthetic_document(n_clauses: int, seed: int, doc_no: int) -> Document:
    """A document of ``n_clauses`` numbered clauses built from policy-like vocabulary."""
    rng = random.Random(seed)
    words = (
        "employees should not post images of service users colleagues council social networking sites privacy "
        "settings friend requests confidential information manager report bullying harassment press media "
        "disciplinary action safeguarding children vulnerable adults online contact professional boundaries "
        "personal devices working hours evidence screenshots passwords profile identity reputation"
    ).split()
    lines = [f"# Synthetic policy {doc_no}", ""]
    for i in range(1, n_clauses + 1):
        body = " ".join(rng.choice(words) for _ in range(rng.randint(12, 30)))
        lines.append(f"{doc_no}.{i}. {body.capitalize()} {i}.")
    return Document(f"synthetic-{doc_no}", "Synthetic Council", f"Synthetic policy {doc_no}", "\n".join(lines))


class RandomUnitEmbedder:
    """Random unit vectors with the real model's name and dimension (FAISS/FTS timing only)."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim
        self.rng = np.random.default_rng(0)

    def encode(self, texts, progress=False):
        v = self.rng.standard_normal((len(texts), self.dim)).astype(np.float32)
        return v / np.linalg.norm(v, axis=1, keepdims=True)


def bench_synthetic(n: int, real: SentenceEmbedder, questions: list[str], embed: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = KnowledgeStore(Path(tmp) / "kb.db")
        t0 = time.perf_counter()
        per_doc = 1000
        for d in range(n // per_doc):
            store.put_document(synthetic_document(per_doc, seed=d, doc_no=d + 1), origin="bench")
        t_store = time.perf_counter() - t0
        embedder = real if embed else RandomUnitEmbedder(real.name, real.dim)
        index = KnowledgeIndex(store, embedder, Path(tmp) / "v.faiss")
        t0 = time.perf_counter()
        stats = index.refresh()
        t_index = time.perf_counter() - t0
        # search latency with real query embeddings (the query encode is part of every search)
        index.embedder = real
        for q in questions[:5]:
            index.search(q)
        lat = []
        for q in questions:
            t = time.perf_counter()
            index.search(q)
            lat.append((time.perf_counter() - t) * 1000)
        return {
            "clauses": stats["total"],
            "vectors": len(index.snapshot.vectors),
            "store_s": round(t_store, 2),
            "index_s": round(t_index, 2),
            "embedded_for_real": embed,
            "search_p50_ms": round(pct(lat, 50), 2),
            "search_p95_ms": round(pct(lat, 95), 2),
            "search_p99_ms": round(pct(lat, 99), 2),
        }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="skip the 100k-clause set")
    parser.add_argument("--latency-only", action="store_true", help="only the warm per-question latency")
    parser.add_argument("--repeat", type=int, default=1, help="times each question is asked for the warm latency")
    args = parser.parse_args()
    results: dict = {}
    questions = [q["q"] for f in ("dev_questions.json", "staff_questions.json") for q in load_questions(EVAL_DIR / f)]

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        pb = open_policybot(tmp)
        stats = pb.index.refresh()
        results["build_five_policies_s"] = round(time.perf_counter() - t0, 2)
        results["five_policies"] = {"clauses": stats["total"], "vectors_embedded": stats["embedded"]}
        for q in questions[:5]:
            pb.ask(q)
        lat = []
        for _ in range(max(1, args.repeat)):
            for q in questions:
                t = time.perf_counter()
                pb.ask(q)
                lat.append((time.perf_counter() - t) * 1000)
        results["warm_ask_ms"] = {
            "n": len(lat),
            "p50": round(pct(lat, 50), 2),
            "p95": round(pct(lat, 95), 2),
            "p99": round(pct(lat, 99), 2),
        }
        if args.latency_only:
            print(json.dumps(results, indent=2))
            return 0

        cold = []
        for _ in range(3):
            t = time.perf_counter()
            p = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "adapters.cli",
                    "--data-dir",
                    tmp,
                    "ask",
                    "--json",
                    "can I accept a colleague's friend request?",
                ],
                cwd=ROOT,
                capture_output=True,
            )
            cold.append(time.perf_counter() - t)
            assert p.returncode == 0, p.stderr.decode()
        results["cold_ask_s"] = {"runs": [round(c, 2) for c in cold], "median": round(sorted(cold)[1], 2)}
        real = pb.index.embedder

    t0 = time.perf_counter()
    real.encode([f"warm up {i}" for i in range(8)])
    results["synthetic_10k"] = bench_synthetic(10_000, real, questions, embed=True)
    if not args.quick:
        r = bench_synthetic(100_000, real, questions, embed=False)
        rate = results["synthetic_10k"]["vectors"] / max(results["synthetic_10k"]["index_s"], 1e-9)
        r["embedding_s_estimated_from_10k_rate"] = round(r["vectors"] / rate, 1)
        results["synthetic_100k"] = r
    results["peak_rss_mib"] = round(peak_rss_mib(), 1)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
