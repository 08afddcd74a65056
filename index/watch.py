"""Keep a running server's index in step with the knowledge base without a restart.

Another process (``policybot kb add`` on the command line, a second server) changes the SQLite
store; each change bumps the store's generation counter (``KnowledgeStore.generation()``).
``KnowledgeWatcher.check()`` compares it with the last generation it saw and, when it moved, calls
``KnowledgeIndex.refresh()``, which builds the next snapshot beside the one in service and swaps the
reference: questions asked meanwhile are answered from the old snapshot, never failed.

A server either calls ``check()`` now and then (cheap: one indexed read when nothing changed) or
runs ``start()`` to check every ``interval`` seconds in a daemon thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from index.retrieve import KnowledgeIndex

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _refresh_lock(vector_path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<vector file>.lock`` (POSIX ``flock``; a no-op elsewhere).

    Refreshes from different processes (the CLI and a server) would otherwise write the FAISS file
    at the same moment. The lock is on the file, not the process, so two indexes in one process
    also take turns. Searches never take it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = Path(str(vector_path) + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def refresh_index(index: KnowledgeIndex, progress: Callable[[int, int], object] | None = None) -> dict[str, int]:
    """``index.refresh(progress)`` while holding the data dir's refresh lock; returns its stats.

    Use this (not ``index.refresh()`` directly) wherever another process may refresh the same data
    dir at the same time. Errors propagate; the snapshot in service is then left as it was.
    """
    with _refresh_lock(index.vector_path):
        return index.refresh(progress) if progress is not None else index.refresh()


class KnowledgeWatcher:
    """Refresh ``index`` when the knowledge base changed.

    Args:
        index: the ``index.retrieve.KnowledgeIndex`` a server answers from (the same object).
        interval: seconds between checks in the background thread (``start()``).
    """

    def __init__(self, index: KnowledgeIndex, interval: float = 2.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive (seconds)")
        self.index = index
        self.interval = interval
        self.seen: int | None = None  #: the store generation the index was last refreshed for
        self.last_stats: dict[str, int] | None = None
        self.errors = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> dict[str, int] | None:
        """Refresh the index if the store's generation differs from the last one seen.

        The first call always refreshes (the watcher cannot know what the index was built from).
        Returns ``index.refresh()``'s stats (``{"added", "removed", "embedded", "total"}``) after a
        refresh, None when nothing changed. Errors from the store or the embedder propagate; the
        index in service is left as it was.
        """
        with self._lock:
            generation = self.index.store.generation()
            if generation == self.seen:
                return None
            stats = refresh_index(self.index)  # reads live clauses at >= generation; a later change bumps again
            self.seen = generation
            self.last_stats = stats
            if stats.get("added") or stats.get("removed"):
                log.info(
                    "knowledge base generation %s: index refreshed (%s added, %s removed, %s embedded, %s live)",
                    generation,
                    stats.get("added"),
                    stats.get("removed"),
                    stats.get("embedded"),
                    stats.get("total"),
                )
            return stats

    def start(self) -> KnowledgeWatcher:
        """Check every ``interval`` seconds in a daemon thread until ``stop()``; returns self.

        Errors are logged (type only) and counted in ``errors``; the thread keeps going.
        """
        if self._thread is not None and self._thread.is_alive():
            return self
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="policybot-kb-watcher", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.check()
            except Exception:  # keep serving from the current snapshot
                self.errors += 1
                log.warning("knowledge base watcher: refresh failed; will retry", exc_info=True)
            self._stop.wait(self.interval)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the background thread (waits up to ``timeout`` seconds for a refresh in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> KnowledgeWatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
