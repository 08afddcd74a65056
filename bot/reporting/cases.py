"""Durable, encrypted storage of report drafts, cases, case events, the audit log and the outbox.

One SQLite file, ``<data dir>/cases.db`` (mode 0600), through sqlite-utils, in WAL mode with
``PRAGMA synchronous=FULL`` so a committed case survives a crash or power cut. Every write is one
``BEGIN IMMEDIATE`` transaction (safe across threads and processes). Tables:

* ``drafts``: one row per reporter with a report in progress: ``owner_key`` (blind index of the
  reporter id), ``payload`` (the encrypted ``Draft``), ``created_at``, ``updated_at``.
* ``pending_inputs``: a handler or reporter who pressed "Ask for more information", "Close with
  outcome" or "Reply" and owes the text: ``user_key``, encrypted ``payload``, ``created_at``.
* ``cases``: ``id``; ``receipt_hash`` (blind index of the receipt, unique); ``handler_id``;
  ``status``; ``escalated``; times (ISO 8601 UTC) ``created_at``, ``ack_due``, ``acknowledged_at``,
  ``closed_at``, ``updated_at``; ``reminders_sent``; ``reporter`` and ``content`` (encrypted).
* ``case_events``: ``case_id``, ``at``, ``kind``, ``actor`` (a handler's id, ``"reporter"`` or
  ``"system"``, never the reporter's id), ``data`` (encrypted).
* ``audit_log``: every read of a case: ``at``, ``actor``, ``case_id``, ``action``, ``allowed``, ``via``.
* ``outbox``: see ``bot.reporting.outbox``.

Nothing a reporter typed, and no reporter id, is stored unencrypted.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any, cast

import sqlite_utils

from bot.reporting.crypto import ReportCipher
from bot.reporting.flow import Draft
from index.migrations import apply_migrations, enable_wal

CASES_DB_NAME = "cases.db"

# ---- receipts ---------------------------------------------------------------------------------
#: Crockford base32: no I, L, O or U, so a receipt read aloud or retyped is unambiguous
RECEIPT_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
RECEIPT_CHARS = 16  #: 16 symbols x 5 bits = 80 random bits
_RECEIPT_FIX = str.maketrans({"O": "0", "I": "1", "L": "1"})


def new_receipt() -> str:
    """A new receipt, ``"R-XXXX-XXXX-XXXX-XXXX"``: 80 bits from ``secrets``, Crockford base32."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(RECEIPT_CHARS))
    return "R-" + "-".join(raw[i : i + 4] for i in range(0, RECEIPT_CHARS, 4))


def normalize_receipt(text: str | None) -> str | None:
    """The 16 receipt symbols of ``text`` (case, dashes, spaces, ``R-`` prefix and O/I/L ignored), or None."""
    if not text:
        return None
    t = re.sub(r"[\s\-_]", "", text.upper())
    if t.startswith("R") and len(t) == RECEIPT_CHARS + 1:
        t = t[1:]
    t = t.translate(_RECEIPT_FIX)
    if len(t) != RECEIPT_CHARS or any(ch not in RECEIPT_ALPHABET for ch in t):
        return None
    return t


def format_receipt(symbols: str) -> str:
    """``"R-XXXX-XXXX-XXXX-XXXX"`` for 16 normalised receipt symbols."""
    return "R-" + "-".join(symbols[i : i + 4] for i in range(0, RECEIPT_CHARS, 4))


# ---- case ids and statuses --------------------------------------------------------------------
def case_ref(case_id: int) -> str:
    """The public case reference for a row id, e.g. ``"C-00012"``."""
    return f"C-{case_id:05d}"


def parse_case_ref(text: str | None) -> int | None:
    """The row id of ``"C-00012"``, ``"c-12"`` or ``"12"``; None when not a case reference."""
    m = re.fullmatch(r"\s*(?:[cC]-?)?0*(\d{1,9})\s*", text or "")
    return int(m.group(1)) if m else None


class CaseStatus(str, Enum):
    """Where a case stands."""

    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    INFO_REQUESTED = "info_requested"
    INFO_PROVIDED = "info_provided"
    CLOSED = "closed"


CS = CaseStatus
#: allowed status changes
CASE_TRANSITIONS: dict[CaseStatus, frozenset[CaseStatus]] = {
    CS.NEW: frozenset({CS.ACKNOWLEDGED, CS.INFO_REQUESTED, CS.CLOSED}),
    CS.ACKNOWLEDGED: frozenset({CS.INFO_REQUESTED, CS.CLOSED}),
    CS.INFO_REQUESTED: frozenset({CS.INFO_REQUESTED, CS.INFO_PROVIDED, CS.CLOSED}),
    CS.INFO_PROVIDED: frozenset({CS.INFO_REQUESTED, CS.CLOSED}),
    CS.CLOSED: frozenset(),
}
STATUS_TEXT = {
    CS.NEW: "waiting to be acknowledged",
    CS.ACKNOWLEDGED: "acknowledged",
    CS.INFO_REQUESTED: "more information requested from the reporter",
    CS.INFO_PROVIDED: "more information provided by the reporter",
    CS.CLOSED: "closed",
}


class IllegalStatusChange(RuntimeError):
    """A case status change the table forbids (names the two statuses only)."""


#: what a handler can do to a case, by the status it leads to (``CASE_TRANSITIONS`` decides which are open)
CASE_ACTIONS = (("acknowledge", CS.ACKNOWLEDGED), ("ask", CS.INFO_REQUESTED), ("close", CS.CLOSED))


def case_actions(status: CaseStatus | str) -> tuple[str, ...]:
    """The handler actions ``CASE_TRANSITIONS`` allows from ``status``, in ``CASE_ACTIONS`` order, e.g.
    ``("acknowledge", "ask", "close")`` for a new case and ``()`` for a closed one. Raises ``ValueError`` for an
    unknown status."""
    allowed = CASE_TRANSITIONS[CaseStatus(status)]
    return tuple(name for name, leads_to in CASE_ACTIONS if leads_to in allowed)


def check_status_change(old: CaseStatus | str, new: CaseStatus | str) -> None:
    """Raise ``IllegalStatusChange`` unless ``old -> new`` is in ``CASE_TRANSITIONS``."""
    old, new = CaseStatus(old), CaseStatus(new)
    if new not in CASE_TRANSITIONS[old]:
        raise IllegalStatusChange(f"a case cannot go from {old.value} to {new.value}")


def ts(dt: datetime) -> str:
    """ISO 8601 UTC to the second, e.g. ``"2025-03-12T10:00:00+00:00"`` (sorts as time)."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC).isoformat(timespec="seconds")


@dataclass
class CaseRecord:
    """One case, decrypted: row fields plus ``content`` (dict) and ``reporter_id``.

    ``content`` keys: category, category_label, what, when, when_text, where, identity, receipt,
    handler_role, route_key.
    """

    id: int
    handler_id: str
    status: CaseStatus
    escalated: bool
    created_at: str
    ack_due: str
    acknowledged_at: str | None
    closed_at: str | None
    reminders_sent: int
    reporter_id: str
    content: dict[str, Any]

    @property
    def ref(self) -> str:
        """The public reference, e.g. ``"C-00012"``."""
        return case_ref(self.id)


def _m001(db: sqlite_utils.Database) -> None:
    db.table("drafts").create(
        {"owner_key": str, "payload": bytes, "created_at": str, "updated_at": str}, pk="owner_key"
    )
    db.table("pending_inputs").create({"user_key": str, "payload": bytes, "created_at": str}, pk="user_key")
    db.table("cases").create(
        {
            "id": int,
            "receipt_hash": str,
            "handler_id": str,
            "status": str,
            "escalated": int,
            "created_at": str,
            "ack_due": str,
            "acknowledged_at": str,
            "closed_at": str,
            "updated_at": str,
            "reminders_sent": int,
            "reporter": bytes,
            "content": bytes,
        },
        pk="id",
    )
    db.table("cases").create_index(["receipt_hash"], unique=True)
    db.table("cases").create_index(["handler_id"])
    db.table("cases").create_index(["status"])
    db.table("case_events").create(
        {"id": int, "case_id": int, "at": str, "kind": str, "actor": str, "data": bytes},
        pk="id",
        foreign_keys=[("case_id", "cases", "id")],
    )
    db.table("case_events").create_index(["case_id"])
    db.table("audit_log").create(
        {"id": int, "at": str, "actor": str, "case_id": int, "action": str, "allowed": int, "via": str}, pk="id"
    )
    db.table("outbox").create(
        {"id": int, "recipient_key": str, "created_at": str, "delivered_at": str, "case_id": int, "payload": bytes},
        pk="id",
    )
    db.table("outbox").create_index(["recipient_key", "delivered_at"])


MIGRATIONS = [("001_initial", _m001)]


def open_cases_db(path: str | Path) -> sqlite_utils.Database:
    """Open (creating, mode 0600) the cases database: WAL, ``synchronous=FULL``, ``MIGRATIONS`` applied
    (``index.migrations.apply_migrations``: each in its own ``BEGIN IMMEDIATE`` transaction).

    The connection is in autocommit mode; write through ``CaseDB.tx()``.

    Raises:
        sqlite3.DatabaseError: the file is not a SQLite database.
        Exception: whatever a failing migration raised (it was rolled back; see ``apply_migrations``).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600))
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
    db = sqlite_utils.Database(conn)
    enable_wal(db)  # retried: another process may be opening the same new file
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    db.execute("PRAGMA secure_delete=ON")
    apply_migrations(db, MIGRATIONS)
    return db


class CaseDB:
    """The cases database with encryption applied: what ``ReportingService`` reads and writes.

    Thread-safe: one connection guarded by a re-entrant lock; writes in ``tx()`` transactions.

    Args:
        path: the database file.
        cipher: the ``ReportCipher`` for encryption and blind indexes.
    """

    def __init__(self, path: str | Path, cipher: ReportCipher):
        self.path = Path(path)
        self.cipher = cipher
        self.db = open_cases_db(self.path)
        self._lock = threading.RLock()
        self._depth = 0

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite_utils.Database]:
        """A write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``); nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            self.db.conn.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self._depth = 0
                self.db.conn.execute("ROLLBACK")
                raise
            self._depth = 0
            self.db.conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Rows of a read-only query as dicts."""
        with self._lock:
            return list(self.db.query(sql, params))

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self.db.conn.close()

    # ---- keys ---------------------------------------------------------------------------------
    def user_key(self, user_id: str) -> str:
        """Blind index of a user id (draft owner, outbox recipient)."""
        return self.cipher.blind("user", user_id)

    def receipt_hash(self, symbols: str) -> str:
        """Blind index of normalised receipt symbols."""
        return self.cipher.blind("receipt", symbols)

    # ---- drafts -------------------------------------------------------------------------------
    def load_draft(self, user_id: str) -> Draft | None:
        """The user's draft, or None."""
        key = self.user_key(user_id)
        rows = self.query("SELECT payload FROM drafts WHERE owner_key = ?", [key])
        if not rows:
            return None
        return Draft.from_dict(self.cipher.decrypt(rows[0]["payload"], f"drafts:{key}"))

    def save_draft(self, draft: Draft, now: datetime) -> None:
        """Store ``draft`` (encrypted), stamping ``updated_at`` (and ``created_at`` when new)."""
        key = self.user_key(draft.reporter_id)
        draft.updated_at = ts(now)
        draft.created_at = draft.created_at or draft.updated_at
        blob = self.cipher.encrypt(draft.to_dict(), f"drafts:{key}")
        with self.tx() as db:
            db.execute(
                "INSERT INTO drafts (owner_key, payload, created_at, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(owner_key) DO UPDATE SET payload = excluded.payload, updated_at = excluded.updated_at",
                [key, blob, draft.created_at, draft.updated_at],
            )

    def delete_draft(self, user_id: str) -> None:
        """Delete the user's draft (no error when there is none)."""
        with self.tx() as db:
            db.execute("DELETE FROM drafts WHERE owner_key = ?", [self.user_key(user_id)])

    def idle_drafts(self, before: datetime) -> list[tuple[str, Draft]]:
        """``(owner_key, draft)`` for drafts last changed before ``before``."""
        out = []
        for r in self.query("SELECT owner_key, payload FROM drafts WHERE updated_at < ?", [ts(before)]):
            out.append((r["owner_key"], Draft.from_dict(self.cipher.decrypt(r["payload"], f"drafts:{r['owner_key']}"))))
        return out

    def delete_draft_key(self, owner_key: str, updated_before: datetime) -> bool:
        """Delete the draft under ``owner_key`` if still unchanged since before ``updated_before``."""
        with self.tx() as db:
            cur = db.execute(
                "DELETE FROM drafts WHERE owner_key = ? AND updated_at < ?", [owner_key, ts(updated_before)]
            )
            return cur.rowcount > 0

    # ---- pending text inputs --------------------------------------------------------------------
    def get_pending(self, user_id: str) -> dict[str, Any] | None:
        """What text the user owes (``{"kind": "ask"|"close"|"reply", "case_id": int, "created_at": ...}``), or None."""
        key = self.user_key(user_id)
        rows = self.query("SELECT payload, created_at FROM pending_inputs WHERE user_key = ?", [key])
        if not rows:
            return None
        data: dict[str, Any] = self.cipher.decrypt(rows[0]["payload"], f"pending:{key}")
        data["created_at"] = rows[0]["created_at"]
        return data

    def set_pending(self, user_id: str, data: dict[str, Any], now: datetime) -> None:
        """Record that the user owes a text (replaces any earlier one)."""
        key = self.user_key(user_id)
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO pending_inputs (user_key, payload, created_at) VALUES (?, ?, ?)",
                [key, self.cipher.encrypt(data, f"pending:{key}"), ts(now)],
            )

    def clear_pending(self, user_id: str) -> None:
        """Forget what text the user owed."""
        with self.tx() as db:
            db.execute("DELETE FROM pending_inputs WHERE user_key = ?", [self.user_key(user_id)])

    def purge_pending(self, before: datetime) -> int:
        """Delete pending inputs older than ``before``; returns how many."""
        with self.tx() as db:
            return db.execute("DELETE FROM pending_inputs WHERE created_at < ?", [ts(before)]).rowcount

    # ---- cases --------------------------------------------------------------------------------
    def insert_case(
        self,
        receipt_symbols: str,
        reporter_id: str,
        handler_id: str,
        content: dict[str, Any],
        now: datetime,
        ack_due: datetime,
    ) -> int:
        """Insert a new case (inside the caller's transaction); returns its row id.

        Raises:
            sqlite3.IntegrityError: the receipt is already taken (the caller draws another).
        """
        rh = self.receipt_hash(receipt_symbols)
        with self.tx() as db:
            cur = db.execute(
                "INSERT INTO cases (receipt_hash, handler_id, status, escalated, created_at, ack_due, "
                "acknowledged_at, closed_at, updated_at, reminders_sent, reporter, content) "
                "VALUES (?, ?, ?, 0, ?, ?, NULL, NULL, ?, 0, ?, ?)",
                [
                    rh,
                    handler_id,
                    CS.NEW.value,
                    ts(now),
                    ts(ack_due),
                    ts(now),
                    self.cipher.encrypt({"reporter_id": reporter_id}, f"cases.reporter:{rh}"),
                    self.cipher.encrypt(content, f"cases.content:{rh}"),
                ],
            )
            return cast(int, cur.lastrowid)  # set by the INSERT

    def _record(self, row: dict[str, Any]) -> CaseRecord:
        rh = row["receipt_hash"]
        return CaseRecord(
            id=row["id"],
            handler_id=row["handler_id"],
            status=CaseStatus(row["status"]),
            escalated=bool(row["escalated"]),
            created_at=row["created_at"],
            ack_due=row["ack_due"],
            acknowledged_at=row["acknowledged_at"],
            closed_at=row["closed_at"],
            reminders_sent=row["reminders_sent"] or 0,
            reporter_id=self.cipher.decrypt(row["reporter"], f"cases.reporter:{rh}")["reporter_id"],
            content=self.cipher.decrypt(row["content"], f"cases.content:{rh}"),
        )

    def get_case(self, case_id: int) -> CaseRecord | None:
        """The case with row id ``case_id``, decrypted, or None. (Callers audit the read.)"""
        rows = self.query("SELECT * FROM cases WHERE id = ?", [case_id])
        return self._record(rows[0]) if rows else None

    def case_by_receipt(self, receipt_symbols: str) -> CaseRecord | None:
        """The case a receipt belongs to, decrypted, or None. (Callers check the reporter and audit.)"""
        rows = self.query("SELECT * FROM cases WHERE receipt_hash = ?", [self.receipt_hash(receipt_symbols)])
        return self._record(rows[0]) if rows else None

    def case_ids(self, handler_id: str | None = None) -> list[int]:
        """Ids of every case (``handler_id`` None) or of that handler's cases, oldest first."""
        if handler_id is None:
            return [r["id"] for r in self.query("SELECT id FROM cases ORDER BY id")]
        return [r["id"] for r in self.query("SELECT id FROM cases WHERE handler_id = ? ORDER BY id", [handler_id])]

    def case_meta(self, where: str = "1", params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Unencrypted case columns (id, handler_id, status, escalated, times, reminders_sent) for a filter."""
        return self.query(
            "SELECT id, handler_id, status, escalated, created_at, ack_due, acknowledged_at, closed_at, "
            f"reminders_sent FROM cases WHERE {where} ORDER BY id",
            params,
        )

    def update_case(self, case_id: int, **fields: object) -> None:
        """Set unencrypted columns of a case (status, escalated, times, reminders_sent, handler_id)."""
        allowed = {"status", "escalated", "acknowledged_at", "closed_at", "updated_at", "reminders_sent", "handler_id"}
        if set(fields) - allowed:
            raise ValueError(f"not updatable: {sorted(set(fields) - allowed)}")
        sets = ", ".join(f"{k} = ?" for k in fields)
        with self.tx() as db:
            db.execute(f"UPDATE cases SET {sets} WHERE id = ?", [*fields.values(), case_id])

    def add_event(self, case_id: int, kind: str, actor: str, data: dict[str, Any] | None, now: datetime) -> None:
        """Append an event to a case's history (``data`` encrypted)."""
        with self.tx() as db:
            db.execute(
                "INSERT INTO case_events (case_id, at, kind, actor, data) VALUES (?, ?, ?, ?, ?)",
                [case_id, ts(now), kind, actor, self.cipher.encrypt(data or {}, f"case_events:{case_id}")],
            )

    def events(self, case_id: int) -> list[dict[str, Any]]:
        """A case's events, oldest first: dicts with at, kind, actor, data (decrypted)."""
        out = []
        for r in self.query("SELECT at, kind, actor, data FROM case_events WHERE case_id = ? ORDER BY id", [case_id]):
            out.append(
                {
                    "at": r["at"],
                    "kind": r["kind"],
                    "actor": r["actor"],
                    "data": self.cipher.decrypt(r["data"], f"case_events:{case_id}"),
                }
            )
        return out

    # ---- audit --------------------------------------------------------------------------------
    def audit(self, actor: str, case_id: int | None, action: str, allowed: bool, via: str, now: datetime) -> None:
        """Record one read (or refused read) of a case: who (``actor``), when, which case, how."""
        with self.tx() as db:
            db.execute(
                "INSERT INTO audit_log (at, actor, case_id, action, allowed, via) VALUES (?, ?, ?, ?, ?, ?)",
                [ts(now), actor, case_id, action, int(allowed), via],
            )

    def audit_list(self, actor: str, case_ids: list[int], via: str, now: datetime, window: timedelta) -> int:
        """Record that ``actor`` was shown ``case_ids`` in a list (action ``"list"``), in one transaction, except
        the cases already recorded so for the same ``actor`` and ``via`` within ``window`` before ``now``: a
        screen that refreshes itself (a home screen after every case change) adds one row a case a window,
        not one a refresh. Returns the rows written."""
        with self.tx() as db:
            since = ts(now - window)
            seen = {
                r[0]
                for r in db.execute(
                    "SELECT DISTINCT case_id FROM audit_log WHERE actor = ? AND action = 'list' AND via = ? "
                    "AND allowed = 1 AND at >= ?",
                    [actor, via, since],
                ).fetchall()
            }
            rows = [[ts(now), actor, cid, "list", 1, via] for cid in case_ids if cid not in seen]
            db.conn.executemany(
                "INSERT INTO audit_log (at, actor, case_id, action, allowed, via) VALUES (?, ?, ?, ?, ?, ?)", rows
            )
        return len(rows)

    def audit_rows(self, case_id: int | None = None) -> list[dict[str, Any]]:
        """The audit log (optionally for one case), oldest first."""
        if case_id is None:
            return self.query("SELECT * FROM audit_log ORDER BY id")
        return self.query("SELECT * FROM audit_log WHERE case_id = ? ORDER BY id", [case_id])
