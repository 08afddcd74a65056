"""Hybrid retrieval: dense cosine (FAISS) fused with FTS5 BM25, plus the abstention rule.

``KnowledgeIndex`` owns the store, the embedder and the vector index. It serves searches from an
immutable ``Snapshot`` (live clauses + FAISS index); ``refresh()`` builds the next snapshot beside
the current one and swaps the reference, so a running server never answers from a half-built index.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from index.embed import Embedder
from index.lexicon import expand_query
from index.store import ClauseRecord, KnowledgeStore
from index.vectors import VectorIndex

# Fusion and abstention settings, chosen on the bundled evaluation set (see README "Evaluation").
DENSE_K = 40  #: dense candidates per question
SPARSE_K = 40  #: keyword candidates per question
KEYWORD_WEIGHT = 0.25  #: weight of the normalised BM25 score added to the cosine
MIN_COSINE = 0.42  #: below this best cosine the question is abstained on
MIN_COSINE_WITH_KEYWORDS = 0.34  #: ... unless keywords match well (see ``ANSWER_MIN_KEYWORD``)
ANSWER_MIN_KEYWORD = 0.5  #: fraction of the question's content words the best clause must contain

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")

STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can cannot could did do does doing down during each few for from further had has
    have having he her here hers herself him himself his how i if in into is it its itself just me more
    most my myself no nor not now of off on once only or other our ours ourselves out over own same she
    should so some such than that the their theirs them themselves then there these they this those
    through to too under until up very was we were what when where which while who whom why will with
    would you your yours yourself yourselves ok okay allowed allow alright im i'm i've ive dont don't
    can't cant it's get got want wanted need needs ask asked tell say says said anything something
    someone thing things really also please policy policies rule rules guidance""".split()
)


def content_words(text: str) -> list[str]:
    """Lower-cased words of ``text`` that are not stopwords, in order, without repeats."""
    seen: dict[str, None] = {}
    for w in _WORD.findall(text.lower()):
        w = w.replace("'s", "")
        if w not in STOPWORDS and len(w) > 1:
            seen.setdefault(w, None)
    return list(seen)


def fts_query(text: str) -> str:
    """An FTS5 MATCH string that ORs the quoted content words of ``text`` ("" when none)."""
    return " OR ".join(f'"{w}"' for w in content_words(text))


@dataclass(frozen=True)
class Hit:
    """One retrieved clause with its scores.

    ``score`` = ``dense`` + KEYWORD_WEIGHT x ``keyword`` (cosine in [-1, 1]; keyword is BM25
    divided by the best BM25 among the candidates, in [0, 1]).
    """

    clause: ClauseRecord
    score: float
    dense: float
    keyword: float


@dataclass
class SearchResult:
    """Ranked hits for one question and whether the abstention rule lets it be answered."""

    question: str
    hits: list[Hit]
    answerable: bool
    best_cosine: float
    keyword_coverage: float = 0.0
    expanded: str = ""


@dataclass
class Snapshot:
    """An immutable view used to serve searches: live clauses and the vector index over them."""

    clauses: dict[int, ClauseRecord]
    vectors: VectorIndex
    generation: int = 0
    doc_hashes: dict[str, str] = field(default_factory=dict)


class KnowledgeIndex:
    """The searchable knowledge base in one data dir.

    Args:
        store: the SQLite knowledge store.
        embedder: the embedder (``SentenceEmbedder`` in production, ``FakeEmbedder`` in unit tests).
        vector_path: where the FAISS index is persisted (``<data dir>/clauses.faiss``).
        mode: ``"hybrid"`` (shipped), ``"dense"`` or ``"keyword"`` (for comparison in ``policybot eval``).
    """

    def __init__(self, store: KnowledgeStore, embedder: Embedder, vector_path: str | Path, mode: str = "hybrid"):
        if mode not in {"hybrid", "dense", "keyword"}:
            raise ValueError(f"unknown retrieval mode {mode!r}")
        self.store = store
        self.embedder = embedder
        self.vector_path = Path(vector_path)
        self.mode = mode
        self._snapshot: Snapshot | None = None
        self._build_lock = threading.Lock()

    @property
    def snapshot(self) -> Snapshot:
        """The snapshot in service; built (or loaded) on first use."""
        if self._snapshot is None:
            self.refresh()
        assert self._snapshot is not None
        return self._snapshot

    def refresh(self, progress: Callable[[int, int], None] | None = None) -> dict:
        """Bring the vector index in line with the live clauses, then swap it in.

        Only clauses missing from the index are embedded (and only those whose text is not in the
        embedding cache); clauses no longer live are removed. ``progress(done, total)`` is called
        while embedding. Returns ``{"added": n, "removed": n, "embedded": n, "total": n}``.
        """
        with self._build_lock:
            clauses = self.store.live_clauses()
            current = self._snapshot.vectors if self._snapshot else None
            if current is None:
                current = VectorIndex.load(self.vector_path, self.embedder.name, self.embedder.dim)
            vectors = current.copy() if current is not None else VectorIndex(self.embedder.name, self.embedder.dim)
            have = vectors.ids()
            stale = sorted(have - clauses.keys())
            missing = [cid for cid in clauses if cid not in have]
            vectors.remove(stale)
            embedded = 0
            if missing:
                records = [clauses[i] for i in missing]
                from index.store import text_hash

                hashes = [text_hash(r.context) for r in records]
                cached = self.store.cached_vectors(hashes, self.embedder.name)
                todo = [(h, r.context) for h, r in zip(hashes, records) if h not in cached]
                fresh: dict[str, np.ndarray] = {}
                batch = 256
                for start in range(0, len(todo), batch):
                    chunk = todo[start : start + batch]
                    vecs = self.embedder.encode([t for _, t in chunk])
                    fresh.update({h: v for (h, _), v in zip(chunk, vecs)})
                    if progress:
                        progress(min(start + batch, len(todo)), len(todo))
                if fresh:
                    self.store.cache_vectors(fresh, self.embedder.name)
                embedded = len(fresh)
                cached.update(fresh)
                vectors.add(missing, np.stack([cached[h] for h in hashes]))
            if stale or missing or not self.vector_path.exists():
                vectors.save(self.vector_path)
            generation = (self._snapshot.generation + 1) if self._snapshot else 1
            self._snapshot = Snapshot(clauses=clauses, vectors=vectors, generation=generation)
            return {"added": len(missing), "removed": len(stale), "embedded": embedded, "total": len(clauses)}

    def embed_query(self, question: str) -> np.ndarray:
        """Embedding of one (expanded) question: float32 ``(dim,)``."""
        return self.embedder.encode([question])[0]

    def search(self, question: str, k: int = 10) -> SearchResult:
        """Rank live clauses for ``question``; returns the top ``k`` hits and the abstention verdict.

        Raises ``ValueError`` for an empty question.
        """
        if not question or not question.strip():
            raise ValueError("the question is empty")
        snap = self.snapshot
        expanded = expand_query(question)
        dense: dict[int, float] = {}
        qvec = None
        if self.mode in ("hybrid", "dense"):
            qvec = self.embed_query(expanded)
            dense = dict(snap.vectors.search(qvec, DENSE_K))
        keyword: dict[int, float] = {}
        if self.mode in ("hybrid", "keyword"):
            keyword = {i: s for i, s in self.store.keyword_search(fts_query(expanded), SPARSE_K) if i in snap.clauses}
        top_kw = max(keyword.values(), default=0.0)
        if qvec is not None:
            for cid in keyword:
                if cid not in dense:
                    dense[cid] = float(np.dot(snap.vectors.reconstruct(cid), qvec))
        hits = []
        for cid in set(dense) | set(keyword):
            clause = snap.clauses.get(cid)
            if clause is None:
                continue
            kw = keyword.get(cid, 0.0) / top_kw if top_kw > 0 else 0.0
            d = dense.get(cid, 0.0)
            if self.mode == "keyword":
                score = kw
            elif self.mode == "dense":
                score = d
            else:
                score = d + KEYWORD_WEIGHT * kw
            hits.append(Hit(clause=clause, score=score, dense=d, keyword=kw))
        hits.sort(key=lambda h: (-h.score, h.clause.id))
        hits = hits[:k]
        best_cos = max((h.dense for h in hits[:3]), default=0.0)
        coverage = _coverage(expanded, hits[0].clause.context) if hits else 0.0
        if self.mode == "keyword":
            answerable = bool(hits) and coverage >= ANSWER_MIN_KEYWORD
        else:
            answerable = bool(hits) and (
                best_cos >= MIN_COSINE or (best_cos >= MIN_COSINE_WITH_KEYWORDS and coverage >= ANSWER_MIN_KEYWORD)
            )
        return SearchResult(question, hits, answerable, best_cos, coverage, expanded)


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _coverage(question: str, text: str) -> float:
    """Fraction of the question's content words (crudely stemmed) that occur in ``text``."""
    q = {_stem(w) for w in content_words(question)}
    if not q:
        return 0.0
    t = {_stem(w) for w in _WORD.findall(text.lower())}
    return len(q & t) / len(q)
