"""The knowledge base on disk: documents, their versions and clauses in SQLite (sqlite-utils),
with an FTS5 keyword index over the clauses and a cache of clause embeddings.

Schema (migrations in ``MIGRATIONS``, applied in order, recorded in ``_migrations``):

* ``documents``: one row a document id: ``status`` (``active``/``removed``), ``current_version``.
* ``document_versions``: every version ever added, text and metadata, kept for audit and diff.
* ``clauses``: the clauses of every version; ``live = 1`` only for the current version of an
  active document. The integer ``id`` is the key of the clause's vector in the FAISS index.
* ``clauses_fts``: FTS5 (porter stemming) over ``context`` (heading, lead-in and clause text).
* ``embeddings``: vectors by ``(text_hash, model)`` so unchanged text is never embedded twice.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import sqlite_utils

from knowledge.model import Clause, Document
from knowledge.segment import segment


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def text_hash(text: str) -> str:
    """SHA-256 hex digest of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _m001_initial(db: sqlite_utils.Database) -> None:
    db["documents"].create(
        {"doc_id": str, "status": str, "current_version": int, "created_at": str, "updated_at": str},
        pk="doc_id",
    )
    db["document_versions"].create(
        {
            "id": int, "doc_id": str, "version_no": int, "organisation": str, "title": str,
            "version_label": str, "date": str, "source": str, "origin": str, "content_hash": str,
            "text": str, "drop_lines": str, "added_at": str, "added_by": str,
        },
        pk="id",
    )
    db["document_versions"].create_index(["doc_id", "version_no"], unique=True)
    db["clauses"].create(
        {
            "id": int, "version_id": int, "doc_id": str, "clause_id": str, "ordinal": int,
            "text": str, "heading": str, "number": str, "lead_in": str, "kind": str,
            "context": str, "text_hash": str, "live": int,
        },
        pk="id",
    )
    db["clauses"].create_index(["version_id"])
    db["clauses"].create_index(["live"])
    db["clauses"].enable_fts(["context"], fts_version="FTS5", create_triggers=True, tokenize="porter")
    db["embeddings"].create({"text_hash": str, "model": str, "dim": int, "vector": bytes}, pk=("text_hash", "model"))
    db["meta"].create({"key": str, "value": str}, pk="key")


MIGRATIONS = [("001_initial", _m001_initial)]


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite database at ``path`` in WAL mode and apply migrations.

    Raises:
        sqlite3.DatabaseError: the file exists but is not a SQLite database.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    db = sqlite_utils.Database(conn)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {r["name"] for r in db["_migrations"].rows}
    for name, fn in MIGRATIONS:
        if name not in done:
            with db.conn:
                fn(db)
                db["_migrations"].insert({"name": name, "applied_at": _now()})
    return db


@dataclass(frozen=True)
class ClauseRecord:
    """A live clause with everything a citation needs (what retrieval returns).

    ``id`` is the FAISS key; ``clause_id`` the public id (``"cwm-taf:043"``).
    """

    id: int
    clause_id: str
    doc_id: str
    text: str
    heading: str | None
    number: str | None
    lead_in: str | None
    kind: str
    context: str
    organisation: str
    document: str
    edition: str | None
    version_no: int

    @property
    def section(self) -> str | None:
        """Section path, e.g. ``"8. Using social media outside work › 8.5"``."""
        return Clause(self.clause_id, self.doc_id, 0, self.text, self.heading, self.number).section


@dataclass
class SyncReport:
    """What a change to the knowledge base did: document ids added, updated (new version), removed, unchanged."""

    added: list[str]
    updated: list[str]
    removed: list[str]
    unchanged: list[str]


class KnowledgeStore:
    """Documents and clauses in one SQLite file. Thread-safe for the calls below (one lock).

    Args:
        path: the database file (created with its folders if missing).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = open_db(self.path)
        self._lock = threading.RLock()

    # ---- documents -------------------------------------------------------------------
    def put_document(self, doc: Document, origin: str = "upload", added_by: str | None = None) -> str:
        """Add ``doc`` as a new document, or as a new version of the document with its id.

        Returns ``"added"``, ``"updated"`` or ``"unchanged"`` (same content hash as the current
        version: nothing is written). Raises ``ValueError`` when the text yields no clause.
        """
        clauses = segment(doc)
        if not clauses:
            raise ValueError(f"document {doc.doc_id!r} has no policy text that could be cut into clauses")
        with self._lock, self.db.conn:
            current = self._current_version(doc.doc_id)
            row = self.db["documents"].get(doc.doc_id) if self._has_doc(doc.doc_id) else None
            if current is not None and row["status"] == "active" and current["content_hash"] == doc.content_hash:
                return "unchanged"
            version_no = (self._max_version(doc.doc_id) or 0) + 1
            version_id = self.db["document_versions"].insert(
                {
                    "doc_id": doc.doc_id, "version_no": version_no, "organisation": doc.organisation,
                    "title": doc.title, "version_label": doc.version, "date": doc.date, "source": doc.source,
                    "origin": origin, "content_hash": doc.content_hash, "text": doc.text,
                    "drop_lines": json.dumps(list(doc.drop)), "added_at": _now(), "added_by": added_by,
                }
            ).last_pk
            self.db.execute("UPDATE clauses SET live = 0 WHERE doc_id = ? AND live = 1", [doc.doc_id])
            self.db["clauses"].insert_all(
                {
                    "version_id": version_id, "doc_id": doc.doc_id, "clause_id": c.clause_id,
                    "ordinal": c.ordinal, "text": c.text, "heading": c.heading, "number": c.number,
                    "lead_in": c.lead_in, "kind": c.kind, "context": c.context_text,
                    "text_hash": text_hash(c.context_text), "live": 1,
                }
                for c in clauses
            )
            status = "updated" if row is not None and row["status"] == "active" else "added"
            self.db["documents"].upsert(
                {
                    "doc_id": doc.doc_id, "status": "active", "current_version": version_no,
                    "created_at": row["created_at"] if row else _now(), "updated_at": _now(),
                },
                pk="doc_id",
            )
            return status

    def remove_document(self, doc_id: str) -> None:
        """Withdraw a document: its clauses stop being cited; its versions stay for audit.

        Raises ``KeyError`` when no active document has that id.
        """
        with self._lock, self.db.conn:
            if not self._has_doc(doc_id) or self.db["documents"].get(doc_id)["status"] != "active":
                raise KeyError(doc_id)
            self.db.execute("UPDATE clauses SET live = 0 WHERE doc_id = ?", [doc_id])
            self.db["documents"].update(doc_id, {"status": "removed", "updated_at": _now()})

    def sync_bundled(self, docs: list[Document]) -> SyncReport:
        """Seed or refresh the bundled policies: add new ones, add a version where the text changed.

        A bundled document HR has removed stays removed. Returns what changed.
        """
        report = SyncReport([], [], [], [])
        for doc in docs:
            if self._has_doc(doc.doc_id) and self.db["documents"].get(doc.doc_id)["status"] == "removed":
                continue
            result = self.put_document(doc, origin="bundled")
            {"added": report.added, "updated": report.updated, "unchanged": report.unchanged}[result].append(doc.doc_id)
        return report

    def documents(self, include_removed: bool = False) -> list[dict]:
        """Current documents: dicts with doc_id, status, version_no, organisation, title, edition fields, clause count."""
        sql = """
            SELECT d.doc_id, d.status, d.current_version AS version_no, v.organisation, v.title,
                   v.version_label, v.date, v.source, v.origin, v.added_at, v.content_hash,
                   (SELECT count(*) FROM clauses c WHERE c.version_id = v.id) AS clauses
            FROM documents d JOIN document_versions v
              ON v.doc_id = d.doc_id AND v.version_no = d.current_version
        """
        if not include_removed:
            sql += " WHERE d.status = 'active'"
        return list(self.db.query(sql + " ORDER BY d.doc_id"))

    def _has_doc(self, doc_id: str) -> bool:
        return bool(list(self.db.query("SELECT 1 FROM documents WHERE doc_id = ?", [doc_id])))

    def _current_version(self, doc_id: str) -> dict | None:
        rows = list(
            self.db.query(
                "SELECT v.* FROM documents d JOIN document_versions v ON v.doc_id = d.doc_id "
                "AND v.version_no = d.current_version WHERE d.doc_id = ?",
                [doc_id],
            )
        )
        return rows[0] if rows else None

    def _max_version(self, doc_id: str) -> int | None:
        rows = list(self.db.query("SELECT max(version_no) AS m FROM document_versions WHERE doc_id = ?", [doc_id]))
        return rows[0]["m"] if rows else None

    # ---- clauses ---------------------------------------------------------------------
    def live_clauses(self) -> dict[int, ClauseRecord]:
        """All live clauses keyed by their integer id (the FAISS key)."""
        sql = """
            SELECT c.id, c.clause_id, c.doc_id, c.text, c.heading, c.number, c.lead_in, c.kind, c.context,
                   v.organisation, v.title, v.version_label, v.date, v.version_no
            FROM clauses c JOIN document_versions v ON v.id = c.version_id
            WHERE c.live = 1 ORDER BY c.id
        """
        out = {}
        for r in self.db.query(sql):
            edition = Document(r["doc_id"], r["organisation"], r["title"], "", r["version_label"], r["date"]).edition
            out[r["id"]] = ClauseRecord(
                id=r["id"], clause_id=r["clause_id"], doc_id=r["doc_id"], text=r["text"], heading=r["heading"],
                number=r["number"], lead_in=r["lead_in"], kind=r["kind"], context=r["context"],
                organisation=r["organisation"], document=r["title"], edition=edition, version_no=r["version_no"],
            )
        return out

    def keyword_search(self, match: str, limit: int = 50) -> list[tuple[int, float]]:
        """FTS5 search over live clauses: ``[(clause id, bm25 score)]``, best first.

        ``match`` is an FTS5 query string (see ``index.retrieve.fts_query``). Scores are SQLite's
        ``bm25()`` negated, so larger is better. An empty ``match`` returns ``[]``.
        """
        if not match:
            return []
        sql = """
            SELECT c.id AS id, -bm25(clauses_fts) AS score
            FROM clauses_fts JOIN clauses c ON c.id = clauses_fts.rowid
            WHERE clauses_fts MATCH ? AND c.live = 1
            ORDER BY bm25(clauses_fts) LIMIT ?
        """
        with self._lock:
            return [(r["id"], r["score"]) for r in self.db.query(sql, [match, limit])]

    # ---- embeddings cache ------------------------------------------------------------
    def cached_vectors(self, hashes: list[str], model: str) -> dict[str, np.ndarray]:
        """Stored vectors for ``hashes`` under ``model``: ``{text_hash: float32 vector}`` (missing ones absent)."""
        out = {}
        with self._lock:
            for i in range(0, len(hashes), 500):
                chunk = hashes[i : i + 500]
                marks = ",".join("?" * len(chunk))
                for r in self.db.query(
                    f"SELECT text_hash, dim, vector FROM embeddings WHERE model = ? AND text_hash IN ({marks})",
                    [model, *chunk],
                ):
                    out[r["text_hash"]] = np.frombuffer(r["vector"], dtype=np.float32, count=r["dim"])
        return out

    def cache_vectors(self, items: dict[str, np.ndarray], model: str) -> None:
        """Store vectors ``{text_hash: vector}`` for ``model``."""
        with self._lock, self.db.conn:
            self.db["embeddings"].upsert_all(
                ({"text_hash": h, "model": model, "dim": int(v.shape[0]), "vector": v.astype(np.float32).tobytes()}
                 for h, v in items.items()),
                pk=("text_hash", "model"),
            )

    def get_meta(self, key: str) -> str | None:
        """A value from the ``meta`` table, or None."""
        rows = list(self.db.query("SELECT value FROM meta WHERE key = ?", [key]))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        with self._lock, self.db.conn:
            self.db["meta"].upsert({"key": key, "value": value}, pk="key")
