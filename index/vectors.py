"""A FAISS inner-product index keyed by clause id, persisted beside a JSON header.

The header (``<path>.json``) records the embedding model's name, the dimension and the version of the
clause views embedded; a header that does not match the embedder (or views) in use makes
``VectorIndex.load`` return None, which forces a rebuild (cached vectors are reused).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import cast

import faiss
import numpy as np

#: OpenMP threads FAISS may use. One: a question's searches take well under a millisecond, and after each
#: parallel one OpenMP's idle workers spin, taking the cores the question encoder and the server need
#: (measured: warm ``ask`` p50 10.5 -> 7.6 ms, p95 17.0 -> 9.9 ms on 2 cores; README "Serving without torch").
FAISS_THREADS = 1
faiss.omp_set_num_threads(FAISS_THREADS)

IVF_MIN_VECTORS = 50_000  #: from this many vectors on, exact search gives way to IVF (see ``to_ivf``)
IVF_NPROBE = 16  #: inverted lists scanned per query once the index is IVF


class VectorIndex:
    """Normalised vectors keyed by clause id; inner product = cosine.

    Small collections use exact search, ``faiss.IndexIDMap(IndexFlatIP(dim))``; from
    ``IVF_MIN_VECTORS`` vectors on (about 25k clauses) ``to_ivf`` turns it into an
    ``IndexIVFFlat`` (inner product, ``sqrt(n)`` lists, ``IVF_NPROBE`` probed), which keeps a
    100k-clause search within a few milliseconds. Both support ``add_with_ids`` and ``remove_ids``.

    A clause may have several vectors (its views); all carry the clause's id, so ``remove`` drops
    them together and ``search`` may return an id more than once (callers keep the best).

    Args:
        model: the embedding model's name, recorded in the header.
        dim: vector dimension (384 for all-MiniLM-L6-v2).
        index: an existing FAISS index to wrap (else an empty one).
        views: version of the clause views the vectors were made from (``index.retrieve.VIEWS_VERSION``);
            a header without it is version 1.
    """

    def __init__(self, model: str, dim: int, index: faiss.Index | None = None, views: int = 1):
        self.model = model
        self.dim = dim
        self.views = views
        self.index = index if index is not None else faiss.IndexIDMap(faiss.IndexFlatIP(dim))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    @property
    def is_ivf(self) -> bool:
        """True once the index is an IVF index (approximate search)."""
        return isinstance(faiss.downcast_index(self.index), faiss.IndexIVF)

    def ids(self) -> set[int]:
        """The distinct clause ids held."""
        if not len(self):
            return set()
        if not self.is_ivf:
            return set(faiss.vector_to_array(self._id_map().id_map).tolist())
        ivf = faiss.extract_index_ivf(self.index)
        invlists = _invlists(ivf)
        out: set[int] = set()
        for lst in range(ivf.nlist):
            n = invlists.list_size(lst)
            if n:
                out.update(faiss.rev_swig_ptr(invlists.get_ids(lst), n).tolist())
        return out

    def _id_map(self) -> faiss.IndexIDMap:
        """The index as what a flat one is, ``IndexIDMap(IndexFlatIP)`` (only while not ``is_ivf``)."""
        return cast(faiss.IndexIDMap, self.index)

    def to_ivf(self) -> VectorIndex:
        """An IVF copy of this (flat) index with the same ids and vectors; k-means trained on 64 vectors a list."""
        id_map = self._id_map()
        flat = faiss.downcast_index(id_map.index)
        n = len(self)
        vectors = flat.reconstruct_n(0, n)
        ids = faiss.vector_to_array(id_map.id_map).astype(np.int64)
        nlist = max(16, int(np.sqrt(n)))
        quantizer = faiss.IndexFlatIP(self.dim)
        ivf = faiss.IndexIVFFlat(quantizer, self.dim, nlist, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).permutation(n)[: 64 * nlist]]
        ivf.train(sample)
        ivf.add_with_ids(vectors, ids)
        ivf.nprobe = IVF_NPROBE
        ivf.own_fields = True
        quantizer.this.disown()  # type: ignore[attr-defined]  # the SWIG proxy's handle, not in faiss's stub
        return VectorIndex(self.model, self.dim, ivf, self.views)

    def add(self, ids: list[int], vectors: np.ndarray) -> None:
        """Add ``vectors`` (float32, shape ``(len(ids), dim)``) under ``ids``."""
        if len(ids):
            self.index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))

    def remove(self, ids: list[int]) -> int:
        """Remove ``ids``; returns how many were removed."""
        if not ids:
            return 0
        # faiss's Python wrapper takes an id array on every index; its stub lists that only for some
        return int(self.index.remove_ids(np.asarray(sorted(ids), dtype=np.int64)))  # type: ignore[arg-type]

    def search(self, vector: np.ndarray, k: int) -> list[tuple[int, float]]:
        """Top ``k`` by cosine for one query vector (shape ``(dim,)``): ``[(clause id, cosine)]``, best first."""
        if not len(self):
            return []
        scores, ids = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), min(k, len(self)))
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i != -1]

    def search_among(self, vector: np.ndarray, ids: list[int]) -> dict[int, float]:
        """Best cosine per clause for one query vector, restricted to ``ids``: ``{clause id: cosine}``.

        Uses a FAISS ``IDSelectorBatch``, so only those clauses' vectors are scored.
        """
        if not ids or not len(self):
            return {}
        sel = faiss.IDSelectorBatch(np.asarray(ids, dtype=np.int64))
        # faiss's Python wrapper sets keyword arguments as fields (and keeps ``sel`` alive); its stub has no arguments
        params = (
            faiss.SearchParametersIVF(sel=sel, nprobe=IVF_NPROBE)  # type: ignore[call-arg]
            if self.is_ivf
            else faiss.SearchParameters(sel=sel)  # type: ignore[call-arg]
        )
        k = min(len(self), len(ids) * 8)
        scores, found = self.index.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k, params=params)
        best: dict[int, float] = {}
        for i, sc in zip(found[0], scores[0]):
            if i != -1 and sc > best.get(int(i), -2.0):
                best[int(i)] = float(sc)
        return best

    def centroid(self, chunk: int = 8192) -> np.ndarray:
        """Mean of every stored vector (all views of all clauses): float32 ``(dim,)``; zeros when empty.

        For unit vectors, ``q @ centroid()`` is the mean cosine of ``q`` to the whole collection, the
        "is this about what the knowledge base covers at all" part of the abstention rule
        (``index.retrieve.SCOPE_MIN``). Read in chunks of ``chunk`` vectors (flat) or one inverted list
        at a time (IVF), so memory stays bounded on 100k-clause collections.
        """
        total = np.zeros(self.dim, dtype=np.float64)
        n = len(self)
        if not n:
            return total.astype(np.float32)
        if self.is_ivf:
            ivf = faiss.extract_index_ivf(self.index)
            invlists = _invlists(ivf)
            for lst in range(ivf.nlist):
                size = invlists.list_size(lst)
                if size:
                    codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * ivf.code_size)
                    total += np.frombuffer(codes, dtype=np.float32).reshape(size, self.dim).sum(axis=0)
        else:
            flat = faiss.downcast_index(self._id_map().index)
            for start in range(0, n, chunk):
                total += flat.reconstruct_n(start, min(chunk, n - start)).sum(axis=0)
        return (total / n).astype(np.float32)

    def copy(self) -> VectorIndex:
        """A deep copy (to build a new version while the old one serves searches)."""
        clone = faiss.clone_index(self.index)
        if isinstance(faiss.downcast_index(clone), faiss.IndexIVF):
            faiss.extract_index_ivf(clone).nprobe = IVF_NPROBE
        return VectorIndex(self.model, self.dim, clone, self.views)

    def save(self, path: str | Path) -> None:
        """Write the index and its header atomically (temporary files, then rename)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = f".{os.getpid()}.{threading.get_ident()}.tmp"  # unique per writer: no collisions
        tmp = Path(str(path) + suffix)
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, path)
        header = {"model": self.model, "dim": self.dim, "ntotal": len(self), "views": self.views}
        hdr_tmp = Path(str(path) + ".json" + suffix)
        hdr_tmp.write_text(json.dumps(header))
        os.replace(hdr_tmp, str(path) + ".json")

    @classmethod
    def load(cls, path: str | Path, model: str, dim: int, views: int = 1) -> VectorIndex | None:
        """Load the index at ``path`` if it exists and was built by ``model`` with ``dim`` from ``views``; else None.

        A missing, unreadable or mismatched file returns None (the caller rebuilds); raises nothing.
        """
        path = Path(path)
        header_path = Path(str(path) + ".json")
        try:
            header = json.loads(header_path.read_text())
            if (
                header.get("model") != model
                or int(header.get("dim", -1)) != dim
                or int(header.get("views", 1)) != views
            ):
                return None
            index = faiss.read_index(str(path))
        except (OSError, ValueError, RuntimeError):
            return None
        if index.d != dim:
            return None
        if isinstance(faiss.downcast_index(index), faiss.IndexIVF):
            faiss.extract_index_ivf(index).nprobe = IVF_NPROBE
        return cls(model, dim, index, views)


def _invlists(ivf: faiss.IndexIVF) -> faiss.InvertedLists:
    """The inverted lists of ``ivf``; an IVF index always has them (the stub allows None)."""
    invlists = ivf.invlists
    if invlists is None:  # pragma: no cover - not a state faiss leaves an IVF index in
        raise RuntimeError("IVF index without inverted lists")
    return invlists
