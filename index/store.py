"""The knowledge base on disk: documents, their versions and clauses in SQLite (sqlite-utils),
with an FTS5 keyword index over the clauses and a cache of clause embeddings.

Schema (migrations in ``MIGRATIONS``, applied in order, recorded in ``_migrations``):

* ``documents``: one row a document id: ``status`` (``active``/``removed``), ``current_version``.
* ``document_versions``: every version ever added, text and metadata, kept for audit and diff.
* ``clauses``: the clauses of every version; ``live = 1`` only for the current version of an
  active document. The integer ``id`` is the key of the clause's vector in the FAISS index.
* ``clauses_fts``: FTS5 (porter stemming) over ``context`` (heading, lead-in and clause text).
* ``embeddings``: vectors by ``(text_hash, model)`` so unchanged text is never embedded twice.
* ``meta``: settings; ``generation`` counts changes to the live knowledge base (see ``generation()``),
  so another process (a server's ``index.watch.KnowledgeWatcher``) can notice a change and refresh.
* ``gaps`` (002): questions the bot could not answer or whose answer was voted Not helpful
  (question text only; a user id only when the operator opts in).
* ``answers_log`` (002): which user was answered from which clause version, kept 30 days and only
  when notify-on-replace is switched on, so staff can be told when such a clause changes.

Every write runs in one ``BEGIN IMMEDIATE`` transaction: a change is all or nothing, and a reader in
another process never sees a document half replaced.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import numpy as np
import sqlite_utils

from index.migrations import apply_migrations, enable_wal
from knowledge.model import Clause, Document
from knowledge.segment import segment


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def text_hash(text: str) -> str:
    """SHA-256 hex digest of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _m001_initial(db: sqlite_utils.Database) -> None:
    db.table("documents").create(
        {"doc_id": str, "status": str, "current_version": int, "created_at": str, "updated_at": str},
        pk="doc_id",
    )
    db.table("document_versions").create(
        {
            "id": int,
            "doc_id": str,
            "version_no": int,
            "organisation": str,
            "title": str,
            "version_label": str,
            "date": str,
            "source": str,
            "origin": str,
            "content_hash": str,
            "text": str,
            "drop_lines": str,
            "added_at": str,
            "added_by": str,
        },
        pk="id",
    )
    db.table("document_versions").create_index(["doc_id", "version_no"], unique=True)
    db.table("clauses").create(
        {
            "id": int,
            "version_id": int,
            "doc_id": str,
            "clause_id": str,
            "ordinal": int,
            "text": str,
            "heading": str,
            "number": str,
            "lead_in": str,
            "kind": str,
            "context": str,
            "text_hash": str,
            "live": int,
        },
        pk="id",
    )
    db.table("clauses").create_index(["version_id"])
    db.table("clauses").create_index(["live"])
    db.table("clauses").enable_fts(["context"], fts_version="FTS5", create_triggers=True, tokenize="porter")
    db.table("embeddings").create(
        {"text_hash": str, "model": str, "dim": int, "vector": bytes}, pk=("text_hash", "model")
    )
    db.table("meta").create({"key": str, "value": str}, pk="key")


def _m002_kb_upkeep(db: sqlite_utils.Database) -> None:
    versions = db.table("document_versions")
    versions.add_column("text_hash", str)
    versions.add_column("file_hash", str)
    for row in list(db.query("SELECT id, text FROM document_versions")):
        db.execute("UPDATE document_versions SET text_hash = ? WHERE id = ?", [text_hash(row["text"]), row["id"]])
    versions.create_index(["text_hash"])
    db.table("gaps").create(
        {
            "id": int,
            "question": str,
            "question_key": str,
            "reason": str,
            "created_at": str,
            "user_id": str,
            "clause_ids": str,
        },
        pk="id",
    )
    db.table("gaps").create_index(["question_key"])
    db.table("gaps").create_index(["created_at"])
    db.table("answers_log").create(
        {"id": int, "user_id": str, "doc_id": str, "version_no": int, "clause_id": str, "created_at": str},
        pk="id",
    )
    db.table("answers_log").create_index(["doc_id", "version_no", "clause_id"])
    db.table("answers_log").create_index(["created_at"])
    db.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('generation', '0')")


MIGRATIONS = [("001_initial", _m001_initial), ("002_kb_upkeep", _m002_kb_upkeep)]


def open_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating if needed) the SQLite database at ``path`` in WAL mode and apply ``MIGRATIONS``.

    Migrations go through ``index.migrations.apply_migrations``: each in its own ``BEGIN IMMEDIATE``
    transaction, so two processes opening the same new data dir at once do not apply one twice.

    Raises:
        sqlite3.DatabaseError: the file exists but is not a SQLite database.
        Exception: whatever a failing migration raised (it was rolled back; see ``apply_migrations``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30)
    db = sqlite_utils.Database(conn)
    enable_wal(db)  # retried: another process may be opening the same new file
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    apply_migrations(db, MIGRATIONS)
    return db


@contextlib.contextmanager
def _immediate(db: sqlite_utils.Database) -> Iterator[sqlite_utils.Database]:
    """One write transaction (``BEGIN IMMEDIATE``): committed on success, rolled back on any error.

    Nested use joins the open transaction (sqlite-utils uses savepoints inside it).
    """
    if db.conn.in_transaction:
        yield db
        return
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        yield db
    except BaseException:
        if db.conn.in_transaction:
            db.conn.rollback()
        raise
    else:
        db.conn.commit()


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


class DuplicateDocument(ValueError):
    """The text is already the current version of an active document (nothing was written).

    Attributes: ``doc_id``, ``version_no`` and ``added_at`` (ISO 8601, UTC) of that version.
    """

    def __init__(self, doc_id: str, version_no: int, added_at: str | None):
        self.doc_id, self.version_no, self.added_at = doc_id, version_no, added_at
        super().__init__(f"the same text is already document {doc_id!r} (version {version_no})")


class DocumentExists(ValueError):
    """A new document was asked for under an id that is already taken (active or removed)."""


@dataclass
class ClauseDiff:
    """Clauses added, removed and changed between two versions of one document.

    Each clause is a dict with ``clause_id``, ``ordinal``, ``text``, ``lead_in``, ``heading``, ``number``.
    ``changed`` pairs ``(old, new)``. Clauses whose text and lead-in are the same in both versions
    (even if moved or renumbered) count as ``unchanged`` (a number).
    """

    doc_id: str
    from_version: int
    to_version: int
    added: list[dict[str, Any]] = field(default_factory=list)
    removed: list[dict[str, Any]] = field(default_factory=list)
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=list)
    unchanged: int = 0

    @property
    def empty(self) -> bool:
        """True when nothing was added, removed or changed."""
        return not (self.added or self.removed or self.changed)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``policybot kb diff --json``)."""

        def brief(c: dict[str, Any]) -> dict[str, Any]:
            return {k: c.get(k) for k in ("clause_id", "number", "heading", "lead_in", "text")}

        return {
            "doc_id": self.doc_id,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "added": [brief(c) for c in self.added],
            "removed": [brief(c) for c in self.removed],
            "changed": [{"old": brief(a), "new": brief(b)} for a, b in self.changed],
            "unchanged": self.unchanged,
        }


CHANGED_MIN_SIMILARITY = 0.5  #: word-sequence similarity at or above which a removed+added pair is "changed"


def _diff_key(c: dict[str, Any]) -> tuple[str, str]:
    from knowledge.segment import normalise

    return normalise(c.get("lead_in") or ""), normalise(c["text"])


def diff_clauses(
    old: list[dict[str, Any]], new: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[tuple[dict[str, Any], dict[str, Any]]], int]:
    """Compare two clause lists (dicts with ``text`` and ``lead_in``).

    Identical clauses (text and lead-in, white space and quotes normalised) are matched first,
    wherever they stand; the rest are paired as *changed* when their word sequences are at least
    ``CHANGED_MIN_SIMILARITY`` alike (best pairs first). Returns ``(added, removed, changed, unchanged)``:
    new clauses, old clauses, ``(old, new)`` pairs in document order, and the count of identical ones.
    """
    by_key: dict[tuple[str, str], list[int]] = {}
    for i, c in enumerate(new):
        by_key.setdefault(_diff_key(c), []).append(i)
    used_new: set[int] = set()
    rest_old: list[int] = []
    unchanged = 0
    for i, c in enumerate(old):
        slots = by_key.get(_diff_key(c))
        if slots:
            used_new.add(slots.pop(0))
            unchanged += 1
        else:
            rest_old.append(i)
    rest_new = [j for j in range(len(new)) if j not in used_new]
    words_old = {i: " ".join(_diff_key(old[i])).lower().split() for i in rest_old}
    words_new = {j: " ".join(_diff_key(new[j])).lower().split() for j in rest_new}
    pairs = []
    for i in rest_old:
        for j in rest_new:
            sm = difflib.SequenceMatcher(None, words_old[i], words_new[j], autojunk=False)
            if sm.real_quick_ratio() < CHANGED_MIN_SIMILARITY or sm.quick_ratio() < CHANGED_MIN_SIMILARITY:
                continue
            r = sm.ratio()
            if r >= CHANGED_MIN_SIMILARITY:
                pairs.append((-r, abs(i - j), i, j))
    pairs.sort()
    paired_old: dict[int, int] = {}
    paired_new: set[int] = set()
    for _, _, i, j in pairs:
        if i not in paired_old and j not in paired_new:
            paired_old[i] = j
            paired_new.add(j)
    changed = [(old[i], new[paired_old[i]]) for i in sorted(paired_old)]
    removed = [old[i] for i in rest_old if i not in paired_old]
    added = [new[j] for j in rest_new if j not in paired_new]
    return added, removed, changed, unchanged


class KnowledgeStore:
    """Documents and clauses in one SQLite file. Thread-safe for the calls below (one lock).

    Args:
        path: the database file (created with its folders if missing).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.db = open_db(self.path)
        self._lock = threading.RLock()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        with self._lock, _immediate(self.db):
            yield self.db

    def _rows(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.db.query(sql, params or []))

    # ---- change counter ----------------------------------------------------------------
    def generation(self) -> int:
        """How many times the live knowledge base has changed (an integer that only grows).

        Bumped in the same transaction as every document added, replaced or removed, so a process
        that sees a new value also sees the change. Cheap: one indexed read.
        """
        rows = self._rows("SELECT value FROM meta WHERE key = 'generation'")
        return int(rows[0]["value"]) if rows else 0

    def _bump_generation(self) -> None:
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1') "
            "ON CONFLICT(key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT)"
        )

    # ---- documents -------------------------------------------------------------------
    def put_document(
        self,
        doc: Document,
        origin: str = "upload",
        added_by: str | None = None,
        file_hash: str | None = None,
        expect: str | None = None,
    ) -> str:
        """Add ``doc`` as a new document, or as a new version of the document with its id.

        Args:
            doc: the document (its clauses are cut with ``knowledge.segment.segment``).
            origin: ``"bundled"`` or ``"upload"`` (kept for audit).
            added_by: who added it (kept for audit), if known.
            file_hash: SHA-256 of the uploaded file's bytes, if any (kept for audit).
            expect: ``None`` (add or update, as the bundled sync does); ``"new"``: the id must be
                unused and the text must not already be live; ``"existing"``: the id must be an
                active document and the text must not already be live.

        Returns ``"added"``, ``"updated"`` or ``"unchanged"`` (same content hash as the current
        version: nothing is written).

        Raises:
            ValueError: the text yields no clause.
            DocumentExists: ``expect="new"`` and the id is taken.
            KeyError: ``expect="existing"`` and no active document has the id.
            DuplicateDocument: ``expect`` set and the same text is the current version of an active document.
        """
        clauses = segment(doc)
        if not clauses:
            raise ValueError(f"document {doc.doc_id!r} has no policy text that could be cut into clauses")
        body_hash = text_hash(doc.text)
        with self._write():
            row = self.db.table("documents").get(doc.doc_id) if self._has_doc(doc.doc_id) else None
            if expect is not None:
                dup = self.find_by_text_hash(body_hash)
                if dup is not None:
                    raise DuplicateDocument(dup["doc_id"], dup["version_no"], dup["added_at"])
            if expect == "new" and row is not None:
                raise DocumentExists(f"a document with id {doc.doc_id!r} already exists")
            if expect == "existing" and (row is None or row["status"] != "active"):
                raise KeyError(doc.doc_id)
            current = self._current_version(doc.doc_id)
            if (
                current is not None
                and row is not None
                and row["status"] == "active"
                and current["content_hash"] == doc.content_hash
            ):
                return "unchanged"
            version_no = (self._max_version(doc.doc_id) or 0) + 1
            version_id = (
                self.db.table("document_versions")
                .insert(
                    {
                        "doc_id": doc.doc_id,
                        "version_no": version_no,
                        "organisation": doc.organisation,
                        "title": doc.title,
                        "version_label": doc.version,
                        "date": doc.date,
                        "source": doc.source,
                        "origin": origin,
                        "content_hash": doc.content_hash,
                        "text": doc.text,
                        "drop_lines": json.dumps(list(doc.drop)),
                        "added_at": _now(),
                        "added_by": added_by,
                        "text_hash": body_hash,
                        "file_hash": file_hash,
                    }
                )
                .last_pk
            )
            self.db.execute("UPDATE clauses SET live = 0 WHERE doc_id = ? AND live = 1", [doc.doc_id])
            self.db.table("clauses").insert_all(
                {
                    "version_id": version_id,
                    "doc_id": doc.doc_id,
                    "clause_id": c.clause_id,
                    "ordinal": c.ordinal,
                    "text": c.text,
                    "heading": c.heading,
                    "number": c.number,
                    "lead_in": c.lead_in,
                    "kind": c.kind,
                    "context": c.context_text,
                    "text_hash": text_hash(c.context_text),
                    "live": 1,
                }
                for c in clauses
            )
            status = "updated" if row is not None and row["status"] == "active" else "added"
            self.db.table("documents").upsert(
                {
                    "doc_id": doc.doc_id,
                    "status": "active",
                    "current_version": version_no,
                    "created_at": row["created_at"] if row else _now(),
                    "updated_at": _now(),
                },
                pk="doc_id",
            )
            self._bump_generation()
            return status

    def remove_document(self, doc_id: str) -> int:
        """Withdraw a document: its clauses stop being cited; its versions stay for audit.

        Returns how many clauses stopped being live. Raises ``KeyError`` when no active document has that id.
        """
        with self._write():
            if not self._has_doc(doc_id) or self.db.table("documents").get(doc_id)["status"] != "active":
                raise KeyError(doc_id)
            cur = self.db.execute("UPDATE clauses SET live = 0 WHERE doc_id = ? AND live = 1", [doc_id])
            self.db.table("documents").update(doc_id, {"status": "removed", "updated_at": _now()})
            self._bump_generation()
            return cur.rowcount

    def sync_bundled(self, docs: list[Document]) -> SyncReport:
        """Seed or refresh the bundled policies: add new ones, add a version where the text changed.

        A bundled document HR has removed stays removed, and one HR has replaced with an upload keeps
        HR's version (it is reported as unchanged). Returns what changed.
        """
        report = SyncReport([], [], [], [])
        for doc in docs:
            if self._has_doc(doc.doc_id) and self.db.table("documents").get(doc.doc_id)["status"] == "removed":
                continue
            current = self._current_version(doc.doc_id)
            if current is not None and current["origin"] != "bundled":
                report.unchanged.append(doc.doc_id)
                continue
            result = self.put_document(doc, origin="bundled")
            {"added": report.added, "updated": report.updated, "unchanged": report.unchanged}[result].append(doc.doc_id)
        return report

    _DOC_SQL = """
        SELECT d.doc_id, d.status, d.current_version AS version_no, v.organisation, v.title,
               v.version_label, v.date, v.source, v.origin, v.added_at, v.added_by, v.content_hash,
               v.text_hash, v.file_hash, d.created_at, d.updated_at,
               (SELECT count(*) FROM clauses c WHERE c.version_id = v.id) AS clauses
        FROM documents d JOIN document_versions v
          ON v.doc_id = d.doc_id AND v.version_no = d.current_version
    """

    def documents(self, include_removed: bool = False) -> list[dict[str, Any]]:
        """Current documents: dicts with doc_id, status, version_no, organisation, title, edition fields, clause count."""
        sql = self._DOC_SQL
        if not include_removed:
            sql += " WHERE d.status = 'active'"
        return self._rows(sql + " ORDER BY d.doc_id")

    def document(self, doc_id: str) -> dict[str, Any] | None:
        """One document (active or removed) as in ``documents()``, or None when the id is unknown."""
        rows = self._rows(self._DOC_SQL + " WHERE d.doc_id = ?", [doc_id])
        return rows[0] if rows else None

    def doc_ids(self) -> set[str]:
        """Every document id ever used, active or removed (ids are never reused)."""
        return {r["doc_id"] for r in self._rows("SELECT doc_id FROM documents")}

    def next_version_no(self, doc_id: str) -> int:
        """The version number the next ``put_document`` for ``doc_id`` would get (1 for a new id)."""
        with self._lock:
            return (self._max_version(doc_id) or 0) + 1

    def find_by_text_hash(self, body_hash: str) -> dict[str, Any] | None:
        """The active document whose current version has text with SHA-256 ``body_hash``, or None.

        Returns a dict with ``doc_id``, ``version_no``, ``title`` and ``added_at``.
        """
        rows = self._rows(
            "SELECT d.doc_id, v.version_no, v.title, v.added_at FROM documents d JOIN document_versions v "
            "ON v.doc_id = d.doc_id AND v.version_no = d.current_version "
            "WHERE d.status = 'active' AND v.text_hash = ? ORDER BY d.doc_id LIMIT 1",
            [body_hash],
        )
        return rows[0] if rows else None

    def versions(self, doc_id: str) -> list[dict[str, Any]]:
        """Every version of ``doc_id``, oldest first, without the text.

        Dicts with ``version_no``, ``organisation``, ``title``, ``version_label``, ``date``, ``source``,
        ``origin``, ``added_at``, ``added_by``, ``text_hash``, ``file_hash``, ``clauses`` (count) and
        ``current`` (bool: the version cited while the document is active). Empty for an unknown id.
        """
        rows = self._rows(
            """
            SELECT v.version_no, v.organisation, v.title, v.version_label, v.date, v.source, v.origin,
                   v.added_at, v.added_by, v.text_hash, v.file_hash,
                   (SELECT count(*) FROM clauses c WHERE c.version_id = v.id) AS clauses,
                   (v.version_no = d.current_version) AS current
            FROM document_versions v JOIN documents d ON d.doc_id = v.doc_id
            WHERE v.doc_id = ? ORDER BY v.version_no
            """,
            [doc_id],
        )
        for r in rows:
            r["current"] = bool(r["current"])
        return rows

    def version_text(self, doc_id: str, version_no: int) -> str | None:
        """The full text of one version, or None when it does not exist."""
        rows = self._rows(
            "SELECT text FROM document_versions WHERE doc_id = ? AND version_no = ?", [doc_id, version_no]
        )
        return rows[0]["text"] if rows else None

    def version_clauses(self, doc_id: str, version_no: int | None = None) -> list[dict[str, Any]]:
        """The clauses of one version (default: the current one), in order.

        Dicts with ``id``, ``clause_id``, ``ordinal``, ``text``, ``heading``, ``number``, ``lead_in``,
        ``kind``, ``live``. Empty when the document or version does not exist.
        """
        if version_no is None:
            doc = self.document(doc_id)
            if doc is None:
                return []
            version_no = doc["version_no"]
        return self._rows(
            """
            SELECT c.id, c.clause_id, c.ordinal, c.text, c.heading, c.number, c.lead_in, c.kind, c.live
            FROM clauses c JOIN document_versions v ON v.id = c.version_id
            WHERE v.doc_id = ? AND v.version_no = ? ORDER BY c.ordinal
            """,
            [doc_id, version_no],
        )

    def diff(self, doc_id: str, from_version: int | None = None, to_version: int | None = None) -> ClauseDiff:
        """Clauses added, removed and changed from ``from_version`` to ``to_version`` of ``doc_id``.

        Defaults: ``to_version`` is the current version, ``from_version`` the one before it.

        Raises:
            KeyError: unknown document.
            ValueError: a version does not exist, or the document has only one version and none was named.
        """
        doc = self.document(doc_id)
        if doc is None:
            raise KeyError(doc_id)
        have = {v["version_no"] for v in self.versions(doc_id)}
        to_version = doc["version_no"] if to_version is None else to_version
        if from_version is None:
            earlier = [v for v in have if v < to_version]
            if not earlier:
                raise ValueError(f"document {doc_id!r} has no version before version {to_version} to compare with")
            from_version = max(earlier)
        for v in (from_version, to_version):
            if v not in have:
                raise ValueError(f"document {doc_id!r} has no version {v} (versions: {sorted(have)})")
        added, removed, changed, unchanged = diff_clauses(
            self.version_clauses(doc_id, from_version), self.version_clauses(doc_id, to_version)
        )
        return ClauseDiff(doc_id, from_version, to_version, added, removed, changed, unchanged)

    def _has_doc(self, doc_id: str) -> bool:
        with self._lock:
            return bool(list(self.db.query("SELECT 1 FROM documents WHERE doc_id = ?", [doc_id])))

    def _current_version(self, doc_id: str) -> dict[str, Any] | None:
        rows = self._rows(
            "SELECT v.* FROM documents d JOIN document_versions v ON v.doc_id = d.doc_id "
            "AND v.version_no = d.current_version WHERE d.doc_id = ?",
            [doc_id],
        )
        return rows[0] if rows else None

    def _max_version(self, doc_id: str) -> int | None:
        rows = self._rows("SELECT max(version_no) AS m FROM document_versions WHERE doc_id = ?", [doc_id])
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
        for r in self._rows(sql):
            edition = Document(r["doc_id"], r["organisation"], r["title"], "", r["version_label"], r["date"]).edition
            out[r["id"]] = ClauseRecord(
                id=r["id"],
                clause_id=r["clause_id"],
                doc_id=r["doc_id"],
                text=r["text"],
                heading=r["heading"],
                number=r["number"],
                lead_in=r["lead_in"],
                kind=r["kind"],
                context=r["context"],
                organisation=r["organisation"],
                document=r["title"],
                edition=edition,
                version_no=r["version_no"],
            )
        return out

    def keyword_search(self, match: str, limit: int = 50) -> list[tuple[int, float]]:
        """FTS5 search over live clauses: ``[(clause id, bm25 score)]``, best first.

        ``match`` is an FTS5 query string of quoted terms joined by ``OR`` (see
        ``index.retrieve.fts_query``). Terms found in more than ``common_term_cap()`` clauses are
        dropped first: they barely rank, and scoring every clause that holds them is what makes
        keyword search slow on large collections (100k clauses). Scores are SQLite's ``bm25()``
        negated, so larger is better. An empty ``match`` (or only common terms) returns ``[]``.
        """
        if not match:
            return []
        terms = [t.strip() for t in match.split(" OR ") if t.strip()]
        cap = self.common_term_cap()
        few = self._fts_size() <= cap  # no term can be in more clauses than the index holds: nothing to count
        kept = list(terms) if few else []
        for term in () if few else terms:
            rows = self._rows(
                "SELECT count(*) AS n FROM (SELECT rowid FROM clauses_fts WHERE clauses_fts MATCH ? LIMIT ?)",
                [term, cap + 1],
            )
            if rows and rows[0]["n"] <= cap:
                kept.append(term)
        if not kept:
            return []
        sql = """
            SELECT c.id AS id, -bm25(clauses_fts) AS score
            FROM clauses_fts JOIN clauses c ON c.id = clauses_fts.rowid
            WHERE clauses_fts MATCH ? AND c.live = 1
            ORDER BY bm25(clauses_fts) LIMIT ?
        """
        return [(r["id"], r["score"]) for r in self._rows(sql, [" OR ".join(kept), limit])]

    def common_term_cap(self) -> int:
        """Most clauses a keyword may occur in and still be searched: max(500, 2% of all clauses)."""
        return max(500, self._fts_size() // 50)

    def _fts_size(self) -> int:
        """The keyword index's highest row id: at least the number of clauses it holds (live or not)."""
        rows = self._rows("SELECT max(rowid) AS n FROM clauses_fts", [])
        return int((rows[0]["n"] or 0) if rows else 0)

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
        with self._write():
            self.db.table("embeddings").upsert_all(
                (
                    {"text_hash": h, "model": model, "dim": int(v.shape[0]), "vector": v.astype(np.float32).tobytes()}
                    for h, v in items.items()
                ),
                pk=("text_hash", "model"),
            )

    def get_meta(self, key: str) -> str | None:
        """A value from the ``meta`` table, or None."""
        rows = self._rows("SELECT value FROM meta WHERE key = ?", [key])
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        """Set a value in the ``meta`` table."""
        with self._write():
            self.db.table("meta").upsert({"key": key, "value": value}, pk="key")

    # ---- gaps: questions the knowledge base did not answer ------------------------------
    def add_gap(
        self,
        question: str,
        question_key: str,
        reason: str,
        user_id: str | None = None,
        clause_ids: tuple[str, ...] = (),
        at: datetime | None = None,
    ) -> int:
        """Keep one unanswered question. ``reason`` is ``"abstained"`` or ``"not_helpful"``.

        ``question_key`` is the grouping key (``bot.upkeep.gaps.question_key``); ``user_id`` is stored as given
        (the caller decides whether to keep it); ``clause_ids`` are the quoted clauses of a Not helpful answer;
        ``at`` is when it was asked (an aware datetime; default now). Returns the row id. Raises ``ValueError``
        for another reason or a naive ``at``.
        """
        if at is not None and at.tzinfo is None:
            raise ValueError("at must be an aware datetime")
        if reason not in ("abstained", "not_helpful"):
            raise ValueError(f"unknown gap reason {reason!r}")
        with self._write():
            return cast(
                int,
                self.db.table("gaps")
                .insert(  # last_pk: the new row's integer id
                    {
                        "question": question,
                        "question_key": question_key,
                        "reason": reason,
                        "created_at": at.astimezone(UTC).isoformat(timespec="seconds") if at else _now(),
                        "user_id": user_id,
                        "clause_ids": json.dumps(list(clause_ids)) if clause_ids else None,
                    }
                )
                .last_pk,
            )

    def gap_groups(self, since_days: float | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Kept questions grouped by ``question_key``, most frequent first (then most recent).

        Dicts with ``key``, ``question`` (the latest wording), ``count``, ``abstained``, ``not_helpful``
        (counts by reason), ``users`` (distinct user ids kept; 0 when none are kept), ``first_seen`` and
        ``last_seen`` (ISO 8601, UTC). ``since_days`` keeps only questions from the last so many days.
        """
        where = ""
        params: list[str | int] = []
        if since_days is not None:
            where = "WHERE created_at >= ?"
            params.append((datetime.now(UTC) - timedelta(days=since_days)).isoformat(timespec="seconds"))
        sql = f"""
            SELECT question_key AS key, count(*) AS count,
                   sum(reason = 'abstained') AS abstained, sum(reason = 'not_helpful') AS not_helpful,
                   count(DISTINCT user_id) AS users, min(created_at) AS first_seen, max(created_at) AS last_seen,
                   (SELECT g2.question FROM gaps g2 WHERE g2.question_key = g.question_key
                    ORDER BY g2.created_at DESC, g2.id DESC LIMIT 1) AS question
            FROM gaps g {where}
            GROUP BY question_key ORDER BY count DESC, last_seen DESC, key
        """
        if limit is not None:
            sql += " LIMIT ?"
            params.append(int(limit))
        return self._rows(sql, params)

    def gap_counts_by_day(self, since: str | None = None) -> list[dict[str, Any]]:
        """Kept questions counted by UTC day and reason, oldest day first.

        Args:
            since: an ISO 8601 UTC date or timestamp (``"2025-03-03"``); only questions kept on or after it
                are counted (None: all).

        Returns:
            Dicts with ``day`` (``"YYYY-MM-DD"``, the UTC date the question was kept), ``reason``
            (``"abstained"`` or ``"not_helpful"``) and ``count`` (int > 0); days without questions are absent.
        """
        where, params = "", []
        if since is not None:
            where, params = "WHERE created_at >= ?", [since]
        return self._rows(
            f"SELECT substr(created_at, 1, 10) AS day, reason, count(*) AS count FROM gaps {where} "
            "GROUP BY day, reason ORDER BY day, reason",
            params,
        )

    def clear_gaps(self, keys: list[str] | None = None) -> int:
        """Delete kept questions: those with the given ``question_key`` values, or all. Returns rows deleted."""
        with self._write():
            if keys is None:
                return self.db.execute("DELETE FROM gaps").rowcount
            n = 0
            for k in keys:
                n += self.db.execute("DELETE FROM gaps WHERE question_key = ?", [k]).rowcount
            return n

    # ---- who was answered from which clause (notify-on-replace) --------------------------
    def log_answer(self, user_id: str, clauses: list[tuple[str, int, str]], keep_days: float = 30) -> None:
        """Record that ``user_id`` was answered from ``clauses`` (``(doc_id, version_no, clause_id)``).

        Rows older than ``keep_days`` are deleted at the same time, so the log never holds more
        than that window.
        """
        if not clauses:
            return
        now = _now()
        cutoff = (datetime.now(UTC) - timedelta(days=keep_days)).isoformat(timespec="seconds")
        with self._write():
            self.db.execute("DELETE FROM answers_log WHERE created_at < ?", [cutoff])
            self.db.table("answers_log").insert_all(
                {"user_id": user_id, "doc_id": d, "version_no": v, "clause_id": c, "created_at": now}
                for d, v, c in dict.fromkeys(clauses)
            )

    def users_answered_from(self, doc_id: str, version_no: int, clause_ids: list[str], days: float = 30) -> list[str]:
        """Distinct user ids answered from any of ``clause_ids`` of that version in the last ``days`` days, sorted."""
        if not clause_ids:
            return []
        cutoff = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
        users: set[str] = set()
        for i in range(0, len(clause_ids), 500):
            chunk = clause_ids[i : i + 500]
            marks = ",".join("?" * len(chunk))
            users.update(
                r["user_id"]
                for r in self._rows(
                    f"SELECT DISTINCT user_id FROM answers_log WHERE doc_id = ? AND version_no = ? "
                    f"AND created_at >= ? AND clause_id IN ({marks})",
                    [doc_id, version_no, cutoff, *chunk],
                )
            )
        return sorted(users)
