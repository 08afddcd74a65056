"""Wiring: open a data dir into a ready ``Policybot`` (knowledge base, index, engine)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index.embed import Embedder, SentenceEmbedder
from index.retrieve import KnowledgeIndex
from index.store import KnowledgeStore
from knowledge.catalog import bundled_documents

DB_NAME = "policybot.db"
VECTORS_NAME = "clauses.faiss"


def default_data_dir() -> Path:
    """``$POLICYBOT_DATA_DIR``, else ``$XDG_DATA_HOME/policybot``, else ``~/.local/share/policybot``."""
    env = os.environ.get("POLICYBOT_DATA_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "policybot"


@dataclass
class Policybot:
    """Everything a front end needs: the store, the searchable index and the data dir."""

    data_dir: Path
    store: KnowledgeStore
    index: KnowledgeIndex

    def ask(self, question: str, max_quotes: int = 3):
        """Answer one question: returns ``bot.answer.Answer``. Raises ``ValueError`` for bad input."""
        from bot.answer import compose
        from bot.engine import validate_question

        question = validate_question(question)
        return compose(self.index.search(question, k=10), max_quotes=max_quotes)


def open_policybot(
    data_dir: str | Path | None = None,
    embedder: Embedder | None = None,
    seed_bundled: bool = True,
    mode: str = "hybrid",
) -> Policybot:
    """Open (creating if needed) the data dir and its knowledge base.

    On first use the five bundled policies are added (``seed_bundled``); later, a bundled policy whose
    text changed in a new release gets a new version, while one HR removed stays removed. The vector
    index is loaded or built lazily on the first search (``index.refresh()`` to build it now).

    Raises:
        OSError: the data dir cannot be created.
    """
    data = Path(data_dir) if data_dir else default_data_dir()
    data.mkdir(parents=True, exist_ok=True)
    store = KnowledgeStore(data / DB_NAME)
    if seed_bundled:
        store.sync_bundled(bundled_documents())
    index = KnowledgeIndex(store, embedder or SentenceEmbedder(), data / VECTORS_NAME, mode=mode)
    return Policybot(data, store, index)
