"""One schema migration runner for every SQLite database of the policybot.

A migration is a ``(name, fn)`` pair: ``name`` a unique string (by convention ``"001_initial"``,
``"002_..."``), ``fn(db)`` a function that changes the schema or data of a ``sqlite_utils.Database``.
Applied names are recorded in the table

    ``_migrations(name TEXT PRIMARY KEY, applied_at TEXT)``  (``applied_at``: ISO 8601 UTC, seconds)

which is the layout both earlier runners (``index.store``, ``bot.reporting.cases``) created, so existing data
dirs open unchanged and nothing already recorded runs again.

Each pending migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the insert of
its ``_migrations`` row: it is applied completely or not at all. Inside the transaction the runner
checks again whether the name is recorded, so when two processes (or two connections) open the same
new file at once, each migration runs exactly once and the other side waits (the connection's busy
timeout) and then skips it.

Names recorded in ``_migrations`` that ``migrations`` does not list (a database already opened by a
newer program) are left alone and do not stop the database from opening: neither earlier runner
refused such a database and nothing documented it, so this runner does not either.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import sqlite_utils

Migration = tuple[str, Callable[[sqlite_utils.Database], None]]

MIGRATIONS_TABLE = "_migrations"
_CREATE_TABLE = 'CREATE TABLE IF NOT EXISTS "_migrations" ("name" TEXT PRIMARY KEY, "applied_at" TEXT)'


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def enable_wal(db: sqlite_utils.Database, timeout: float = 30.0) -> None:
    """``PRAGMA journal_mode=WAL``, tried again while another connection holds a lock, up to ``timeout`` s.

    Switching a new file to WAL needs an exclusive lock, and SQLite may answer ``SQLITE_BUSY`` at once
    (without waiting through the busy timeout) when another process opens the same new file at the
    same moment. Once the file is in WAL mode the pragma needs no lock.

    Raises:
        sqlite3.OperationalError: still locked after ``timeout`` seconds, or any other error.
    """
    deadline = time.monotonic() + timeout
    delay = 0.005
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if getattr(e, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.1)


def applied_migrations(db: sqlite_utils.Database) -> list[str]:
    """The names recorded in ``_migrations``, in the order they were recorded ([] without the table)."""
    if MIGRATIONS_TABLE not in db.table_names():
        return []
    return [r[0] for r in db.execute('SELECT name FROM "_migrations" ORDER BY rowid').fetchall()]


def apply_migrations(db: sqlite_utils.Database, migrations: Sequence[Migration]) -> list[str]:
    """Apply the migrations of ``migrations`` not yet recorded in ``db``, in list order.

    Args:
        db: an open database whose connection is not inside a transaction. It may be in either
            transaction mode of ``sqlite3`` (default or ``isolation_level=None``).
        migrations: ``[(name, fn), ...]``; ``fn(db)`` must do its work on ``db`` inside the
            transaction the runner opened (sqlite-utils methods do) and must not commit or roll back.

    Returns:
        The names applied by this call, in order ([] when the database was up to date, including
        when another process applied the pending ones first).

    Raises:
        ValueError: two migrations share a name.
        RuntimeError: ``db`` is already inside a transaction; or a migration committed or rolled
            back the runner's transaction itself (its name is then not recorded).
        sqlite3.OperationalError: the database stayed locked by another writer beyond the
            connection's busy timeout (``database is locked``).
        Exception: whatever a migration raised, unchanged, after its transaction was rolled back:
            none of that migration's changes and no ``_migrations`` row for it are kept. Migrations
            before it in the list stay applied; those after it are not tried.
    """
    names = [name for name, _ in migrations]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"migration names must be unique; repeated: {', '.join(dupes)}")
    conn = db.conn
    if conn.in_transaction:
        raise RuntimeError("apply_migrations needs a connection outside any transaction")
    conn.execute(_CREATE_TABLE)
    done = set(applied_migrations(db))
    applied: list[str] = []
    for name, fn in migrations:
        if name in done:
            continue
        conn.execute("BEGIN IMMEDIATE")
        try:
            if conn.execute('SELECT 1 FROM "_migrations" WHERE name = ?', [name]).fetchone():
                conn.execute("COMMIT")
                continue  # another process applied it meanwhile
            fn(db)
            if not conn.in_transaction:
                raise RuntimeError(f"migration {name!r} ended the migration transaction itself; not recorded")
            conn.execute('INSERT INTO "_migrations" (name, applied_at) VALUES (?, ?)', [name, _now()])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        applied.append(name)
    return applied
