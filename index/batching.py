"""Micro-batching of question encodes: questions that arrive together are encoded together, off the engine.

The server hands each incoming message to ``EncodeBatcher.submit`` before it queues it for the engine
thread. One worker thread takes everything submitted since its last pass and encodes it in one call;
meanwhile the engine thread ranks and answers earlier questions, so on two cores encoding and answering
overlap instead of queueing behind each other on one thread. When the engine then encodes the same texts,
``take`` hands it the vectors.

Vectors wait at most ``ttl`` seconds, keyed by the SHA-256 of their text (a message that was not a question,
e.g. a step of a confidential report, leaves no text behind), and are removed when taken.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

import numpy as np
from cachetools import TTLCache

from index.embed import Embedder

log = logging.getLogger("policybot.index")

MAX_BATCH = 64  #: most texts per encoder call
TTL_SECONDS = 30.0  #: how long an encoded text waits to be taken
MAX_WAITING = 4096  #: most encoded texts kept waiting


def _key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class EncodeBatcher:
    """Encodes texts submitted from any thread in batches on one worker thread (started on first use).

    Args:
        encoder: the question encoder (``KnowledgeIndex.query_encoder``).
        max_batch: most texts per ``encoder.encode`` call.
        ttl: seconds an encoded text waits for ``take``.
        timer: the clock ``ttl`` is measured on (seconds).

    Attributes:
        batches, texts: how many encoder calls the worker made and how many texts they held (for benchmarks).
    """

    def __init__(
        self,
        encoder: Embedder,
        max_batch: int = MAX_BATCH,
        ttl: float = TTL_SECONDS,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.encoder = encoder
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[tuple[list[str], Future[None]] | None] = queue.SimpleQueue()
        self._ready: TTLCache[str, np.ndarray] = TTLCache(maxsize=MAX_WAITING, ttl=ttl, timer=timer)
        self._lock = threading.Lock()
        self._worker: threading.Thread | None = None
        self.batches = 0
        self.texts = 0

    def submit(self, texts: list[str]) -> Future[None]:
        """Queue ``texts`` for encoding; the future completes (with None, or the encoder's exception) once
        their vectors are ready to ``take``."""
        done: Future[None] = Future()
        with self._lock:
            if self._worker is None:
                self._worker = threading.Thread(target=self._run, name="encoder", daemon=True)
                self._worker.start()
        self._queue.put((list(texts), done))
        return done

    def take(self, texts: list[str]) -> np.ndarray | None:
        """The vectors of ``texts`` (float32 ``(len(texts), dim)``) when all are ready, removing them; else None."""
        keys = [_key(t) for t in texts]
        with self._lock:
            if not all(k in self._ready for k in keys):
                return None
            rows = [self._ready.pop(k) for k in keys]
        return np.stack(rows)

    def close(self) -> None:
        """Stop the worker after what is queued (idempotent)."""
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            count = len(first[0])
            while count < self.max_batch:  # everything that arrived meanwhile: no waiting, so no added latency
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    self._queue.put(None)
                    break
                jobs.append(job)
                count += len(job[0])
            self._encode(jobs)

    def _encode(self, jobs: list[tuple[list[str], Future[None]]]) -> None:
        texts = list(dict.fromkeys(t for texts, _ in jobs for t in texts))
        try:
            vectors = self.encoder.encode(texts)
        except Exception as exc:  # handed to every waiter; the engine then encodes for itself
            log.warning("batched question encoding failed (%s); questions are encoded one by one", type(exc).__name__)
            for _, done in jobs:
                done.set_exception(exc)
            return
        with self._lock:
            for text, vector in zip(texts, vectors):
                self._ready[_key(text)] = vector
            self.batches += 1
            self.texts += len(texts)
        for _, done in jobs:
            done.set_result(None)


__all__ = ["EncodeBatcher", "MAX_BATCH", "TTL_SECONDS"]
