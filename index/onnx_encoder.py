"""Query encoding without torch: the same embedding model exported once to ONNX and run with ONNX Runtime.

Documents are embedded with ``index.embed.SentenceEmbedder`` (sentence-transformers and torch, with the
shipped LoRA adapter merged), which only ``policybot index build``, the server's start and knowledge-base
changes need. Answering a question needs one short encoder pass, and loading torch for it cost about 6 s
and 600 MiB a cold ``policybot ask``. So ``export_encoder`` writes the very model the index was embedded
with (its merged weights, mean pooling and L2 normalisation included in the graph) with
``torch.onnx.export`` (the TorchScript exporter: it needs only the ``onnx`` package, where the newer
exporter needs ``onnxscript`` too and gives the same graph for this model), and ``OnnxEncoder`` runs it
with ``onnxruntime`` and the model's own ``tokenizer.json`` through the ``tokenizers`` library: neither
imports torch. fp32, no quantisation: vectors agree with sentence-transformers' to a cosine of at least
0.99999 on the evaluation questions (``tests/test_onnx_encoder.py``), so rankings do not change.

Layout of an export (``<data dir>/encoder/``): ``model.onnx``, ``tokenizer.json`` and ``encoder.json``
(``name`` (the embedder name, with the adapter's hash), ``dim``, ``max_seq_length``). An export made for
another model or adapter is ignored (``load_encoder`` returns None) and replaced by the next
``export_encoder``.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from index.embed import Embedder, SentenceEmbedder

log = logging.getLogger("policybot.index")

ENCODER_DIR = "encoder"  #: the export's folder in the data dir
META_NAME = "encoder.json"
MODEL_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
CHUNK = 8  #: texts per ONNX Runtime call (sorted by length first: ``OnnxEncoder.encode``)


class OnnxEncoder:
    """An exported embedding model run with ONNX Runtime: the ``index.embed.Embedder`` protocol, no torch.

    Args:
        path: an export folder (``export_encoder``).
        threads: ONNX Runtime intra-op threads (default: 2, or 1 on a one-core machine); idle ones sleep.

    Raises:
        OSError: a file of the export cannot be read.
        ValueError: ``encoder.json`` is not an export's, or the tokenizer or model file is not usable.
    """

    def __init__(self, path: str | Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.path = Path(path)
        meta = json.loads((self.path / META_NAME).read_text(encoding="utf-8"))
        try:
            self.name: str = str(meta["name"])
            self.dim: int = int(meta["dim"])
            max_len = int(meta["max_seq_length"])
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{self.path / META_NAME} is not an encoder export") from exc
        try:
            self._tokenizer = Tokenizer.from_file(str(self.path / TOKENIZER_FILE))
        except Exception as exc:  # the tokenizers library raises a bare Exception for a bad file
            raise ValueError(f"{self.path / TOKENIZER_FILE} is not a tokenizer: {exc}") from exc
        self._tokenizer.enable_truncation(max_len)
        self._tokenizer.no_padding()  # the file may ask for fixed-length padding: ``encode`` pads each chunk itself
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
        options.inter_op_num_threads = 1
        # idle pool threads sleep instead of spinning: the engine and the event loop need those cores too
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self._session = ort.InferenceSession(
                str(self.path / MODEL_FILE), options, providers=["CPUExecutionProvider"]
            )
        except (
            Exception
        ) as exc:  # onnxruntime's errors (InvalidProtobuf, NoSuchFile, Fail...) derive from Exception only
            raise ValueError(f"{self.path / MODEL_FILE} is not a usable ONNX model: {exc}") from exc

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed ``texts``: float32 ``(len(texts), dim)`` with unit rows (``(0, dim)`` for no texts).

        Texts are run shortest first in chunks of ``CHUNK``, each padded only to its own longest text:
        one batch padded to its longest text cost 6.6 ms a question text on 2 cores, one text at a time
        5.3 ms, sorted chunks of 8 3.2 ms (128 texts of the labelled questions, 7 to 46 tokens).
        """
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), CHUNK):
            rows = order[start : start + CHUNK]
            width = max(len(encodings[i].ids) for i in rows)
            ids = np.zeros((len(rows), width), dtype=np.int64)  # 0 is [PAD]
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                n = len(encodings[i].ids)
                ids[r, :n] = encodings[i].ids
                mask[r, :n] = 1
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            (vectors,) = self._session.run(["embedding"], feeds)
            out[rows] = np.asarray(vectors, dtype=np.float32).reshape(len(rows), self.dim)
        return out


def encoder_dir(data_dir: str | Path) -> Path:
    """Where the data dir keeps its export: ``<data dir>/encoder``."""
    return Path(data_dir) / ENCODER_DIR


def load_encoder(data_dir: str | Path, name: str) -> OnnxEncoder | None:
    """The data dir's export when it is of the embedder called ``name``; None when there is none, it is of
    another model or adapter, ``onnxruntime`` is not installed, or it cannot be read (logged)."""
    folder = encoder_dir(data_dir)
    if export_name(data_dir) != name:
        return None
    try:
        return OnnxEncoder(folder)
    except ImportError:
        log.warning("onnxruntime is not installed: questions are encoded with sentence-transformers")
    except (OSError, ValueError) as exc:
        log.warning("the ONNX encoder in %s cannot be loaded (%s); using sentence-transformers", folder, exc)
    return None


def export_name(data_dir: str | Path) -> str | None:
    """The embedder name of the data dir's export (from ``encoder.json``, nothing loaded), or None."""
    try:
        name = json.loads((encoder_dir(data_dir) / META_NAME).read_text(encoding="utf-8")).get("name")
    except (OSError, ValueError, AttributeError):
        return None
    return name if isinstance(name, str) else None


class QueryEncoder:
    """Encodes questions through the data dir's export, loaded on the first question (so commands that ask
    nothing never load ONNX Runtime), or through ``fallback`` when the export cannot be loaded (logged once).

    Args:
        data_dir: the data dir holding the export.
        fallback: the index's embedder (``SentenceEmbedder``); ``name`` and ``dim`` are its.
    """

    def __init__(self, data_dir: str | Path, fallback: Embedder) -> None:
        self.data_dir = Path(data_dir)
        self.fallback = fallback
        self.name = fallback.name
        self.dim = fallback.dim
        self._encoder: OnnxEncoder | None = None
        self._tried = False
        self._lock = threading.Lock()

    def load(self) -> bool:
        """Load the export now (once); True when questions go through ONNX Runtime."""
        with self._lock:
            if not self._tried:
                self._tried = True
                self._encoder = load_encoder(self.data_dir, self.name)
            return self._encoder is not None

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Embed ``texts`` like ``fallback`` would: float32 ``(len(texts), dim)`` with unit rows."""
        self.load()
        return (self._encoder or self.fallback).encode(texts)


def export_encoder(embedder: SentenceEmbedder, data_dir: str | Path) -> Path:
    """Export ``embedder``'s model (adapter merged, pooling and normalisation included) to ``<data dir>/encoder``.

    Written into a temporary folder beside it and renamed into place, so a reader never sees half an
    export. About 4 s and 90 MB on 2 cores. Returns the folder.

    Raises:
        ImportError: ``torch``, ``sentence-transformers`` or ``onnx`` is not installed.
        OSError: the folder cannot be written.
    """
    import torch

    model = embedder.model  # loads it (and merges the adapter) when not loaded yet
    transformer: Any = model[0]
    bert = transformer.auto_model

    class Pooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2, dim=1)

    target = encoder_dir(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".encoder-", dir=target.parent))
    try:
        sample = torch.ones((2, 8), dtype=torch.long)
        axes = {name: {0: "batch", 1: "tokens"} for name in INPUTS}
        with torch.no_grad(), warnings.catch_warnings():
            # the tracer's notes on shape checks it freezes: the export is checked against sentence-transformers
            # on padded and truncated batches instead (tests/test_onnx_encoder.py)
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Pooled().eval(),
                (sample, sample, torch.zeros_like(sample)),
                str(staging / MODEL_FILE),
                input_names=list(INPUTS),
                output_names=["embedding"],
                dynamic_axes={**axes, "embedding": {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
        shutil.copyfile(Path(embedder.model_path) / TOKENIZER_FILE, staging / TOKENIZER_FILE)
        meta = {"name": embedder.name, "dim": embedder.dim, "max_seq_length": int(model.max_seq_length or 256)}
        (staging / META_NAME).write_text(json.dumps(meta, indent=1), encoding="utf-8")
        old = target.with_name(f".encoder-old-{os.getpid()}")
        if target.exists():
            target.rename(old)
        staging.rename(target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


__all__ = ["ENCODER_DIR", "OnnxEncoder", "QueryEncoder", "encoder_dir", "export_encoder", "export_name", "load_encoder"]
