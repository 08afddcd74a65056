"""``index.migrations.apply_migrations`` on real SQLite files: order, once only, all or nothing, two
openers at once, and databases written by the earlier per-module runners opening unchanged."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlite_utils

from index.migrations import applied_migrations, apply_migrations, enable_wal


def connect(path: Path, timeout: float = 30) -> sqlite_utils.Database:
    return sqlite_utils.Database(sqlite3.connect(str(path), timeout=timeout, check_same_thread=False))


def schema(path: Path) -> list[tuple]:
    con = sqlite3.connect(str(path))
    try:
        return con.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        con.close()


def recording(calls: list, name: str, body=None):
    def fn(db):
        calls.append(name)
        if body:
            body(db)

    return fn


def never(db):
    raise AssertionError("an applied migration ran again")


# ---- order, once, all or nothing ---------------------------------------------------------------
def test_applies_pending_migrations_in_order_once_and_records_them(tmp_path):
    path = tmp_path / "a.db"
    calls: list[str] = []
    migrations = [
        ("001_a", recording(calls, "001_a", lambda db: db["a"].create({"id": int, "x": str}, pk="id"))),
        ("002_b", recording(calls, "002_b", lambda db: db["a"].add_column("y", int))),
        ("003_c", recording(calls, "003_c", lambda db: db["a"].insert({"id": 1, "x": "one", "y": 2}))),
    ]
    db = connect(path)
    assert apply_migrations(db, migrations) == ["001_a", "002_b", "003_c"]
    assert calls == ["001_a", "002_b", "003_c"]
    assert not db.conn.in_transaction
    db.conn.close()

    con = sqlite3.connect(str(path))
    # the layout both earlier runners created: name TEXT PRIMARY KEY, applied_at TEXT
    assert [r[1:] for r in con.execute("PRAGMA table_info(_migrations)")] == [
        ("name", "TEXT", 0, None, 1),
        ("applied_at", "TEXT", 0, None, 0),
    ]
    rows = con.execute("SELECT name, applied_at FROM _migrations ORDER BY rowid").fetchall()
    assert [n for n, _ in rows] == ["001_a", "002_b", "003_c"]
    assert all(datetime.fromisoformat(at).utcoffset().total_seconds() == 0 for _, at in rows)
    assert con.execute("SELECT id, x, y FROM a").fetchall() == [(1, "one", 2)]
    con.close()

    again = connect(path)
    assert apply_migrations(again, migrations) == []
    assert calls == ["001_a", "002_b", "003_c"]
    # a later release adds one: only that one runs
    assert apply_migrations(again, migrations + [("004_d", recording(calls, "004_d"))]) == ["004_d"]
    assert calls == ["001_a", "002_b", "003_c", "004_d"]
    assert applied_migrations(again) == ["001_a", "002_b", "003_c", "004_d"]


def test_a_failing_migration_leaves_nothing_behind_and_its_error_propagates(tmp_path):
    path = tmp_path / "f.db"
    calls: list[str] = []

    def half_then_fail(db):
        db["b"].create({"id": int}, pk="id")
        db["b"].insert({"id": 1})
        db["a"].add_column("z", str)
        raise ValueError("boom in 002")

    migrations = [
        ("001_a", lambda db: db["a"].create({"id": int}, pk="id")),
        ("002_b", half_then_fail),
        ("003_c", recording(calls, "003_c")),
    ]
    db = connect(path)
    with pytest.raises(ValueError, match="boom in 002"):
        apply_migrations(db, migrations)
    assert not db.conn.in_transaction
    db.conn.close()

    con = sqlite3.connect(str(path))
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "b" not in tables and "a" in tables
    assert [r[1] for r in con.execute("PRAGMA table_info(a)")] == ["id"]
    assert [r[0] for r in con.execute("SELECT name FROM _migrations")] == ["001_a"]
    con.close()
    assert calls == []  # nothing after the failure was tried

    fixed = [migrations[0], ("002_b", lambda db: db["b"].create({"id": int}, pk="id")), migrations[2]]
    assert apply_migrations(connect(path), fixed) == ["002_b", "003_c"]


def test_a_failing_sql_statement_rolls_back_the_whole_migration(tmp_path):
    path = tmp_path / "s.db"

    def bad_sql(db):
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
        db.execute("INSERT INTO t VALUES (1)")
        db.execute("INSERT INTO no_such_table VALUES (1)")

    with pytest.raises(sqlite3.OperationalError, match="no_such_table"):
        apply_migrations(connect(path), [("001_t", bad_sql)])
    assert {r[1] for r in schema(path)} == {"_migrations", "sqlite_autoindex__migrations_1"}
    assert applied_migrations(connect(path)) == []


def test_misuse_is_refused(tmp_path):
    db = connect(tmp_path / "m.db")
    with pytest.raises(ValueError, match="repeated: 001_a"):
        apply_migrations(db, [("001_a", never), ("001_a", never)])
    db.conn.execute("BEGIN")
    with pytest.raises(RuntimeError, match="outside any transaction"):
        apply_migrations(db, [("001_a", never)])
    db.conn.execute("ROLLBACK")

    def commits(db):
        db["c"].create({"id": int}, pk="id")
        db.conn.execute("COMMIT")

    with pytest.raises(RuntimeError, match="'001_c' ended the migration transaction"):
        apply_migrations(db, [("001_c", commits)])
    assert applied_migrations(db) == []


def test_names_recorded_by_a_newer_program_do_not_stop_an_older_one(tmp_path):
    path = tmp_path / "n.db"
    apply_migrations(connect(path), [("001_a", lambda db: None), ("002_future", lambda db: None)])
    assert apply_migrations(connect(path), [("001_a", never)]) == []
    assert applied_migrations(connect(path)) == ["001_a", "002_future"]


# ---- two openers at once -----------------------------------------------------------------------
def test_two_connections_opening_a_new_file_at_once_apply_each_migration_once(tmp_path):
    """The second opener reads "nothing applied" while the first is inside its migration, then waits
    for the write lock: it must see, inside its own transaction, that the migration is now applied."""
    path = tmp_path / "race.db"
    calls: list[str] = []
    first_inside, second_waits = threading.Event(), threading.Event()

    def m1(db):
        calls.append("001_a")
        first_inside.set()
        assert second_waits.wait(30), "the second opener never asked for the write lock"
        time.sleep(0.2)  # it is now blocked in BEGIN IMMEDIATE behind this transaction
        db["a"].create({"id": int}, pk="id")

    def m2(db):
        calls.append("002_b")
        db["b"].create({"id": int}, pk="id")

    migrations = [("001_a", m1), ("002_b", m2)]
    results: dict = {}

    def opener(key, before=None):
        db = connect(path)
        if before:
            before(db)
        try:
            results[key] = apply_migrations(db, migrations)
        except BaseException as e:  # noqa: BLE001 - reported below
            results[key] = e
            first_inside.set()
            second_waits.set()
        finally:
            db.conn.close()

    def second_setup(db):
        assert first_inside.wait(30)
        db.conn.set_trace_callback(lambda sql: sql.startswith("BEGIN") and second_waits.set())

    threads = [
        threading.Thread(target=opener, args=("first",)),
        threading.Thread(target=opener, args=("second", second_setup)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {"first": ["001_a", "002_b"], "second": []}, results
    assert calls == ["001_a", "002_b"]
    assert applied_migrations(connect(path)) == ["001_a", "002_b"]


def _slow_migrations(log: Path, inside=None):
    def mark(name):
        with open(log, "a") as f:
            f.write(f"{os.getpid()} {name}\n")

    def m1(db):
        mark("001_a")
        if inside is not None:
            inside.set()
        time.sleep(1.0)  # hold the write lock while the other process reads what is applied
        db["a"].create({"id": int}, pk="id")

    def m2(db):
        mark("002_b")
        db["b"].create({"id": int}, pk="id")

    return [("001_a", m1), ("002_b", m2)]


def _process_opener(path: str, log: str, start, inside, wait_for_inside: bool, out) -> None:
    db = connect(Path(path))
    start.wait()
    if wait_for_inside:
        inside.wait(60)
    try:
        out.put(("ok", apply_migrations(db, _slow_migrations(Path(log), inside))))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        out.put(("error", repr(e)))


def test_two_processes_opening_a_new_file_at_once_apply_each_migration_once(tmp_path):
    path, log = tmp_path / "procs.db", tmp_path / "calls.log"
    ctx = multiprocessing.get_context("spawn")
    start, inside, out = ctx.Barrier(2), ctx.Event(), ctx.Queue()
    # the second starts once the first is inside 001_a, so it reads "nothing applied" and then waits
    procs = [
        ctx.Process(target=_process_opener, args=(str(path), str(log), start, inside, second, out))
        for second in (False, True)
    ]
    for p in procs:
        p.start()
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert all(kind == "ok" for kind, _ in results), results
    assert sorted(results[0][1] + results[1][1]) == ["001_a", "002_b"]
    lines = log.read_text().split()
    assert sorted(lines[1::2]) == ["001_a", "002_b"]
    assert applied_migrations(connect(path)) == ["001_a", "002_b"]


def test_an_up_to_date_database_opens_while_another_process_writes(tmp_path):
    path = tmp_path / "busy.db"
    migrations = [("001_a", lambda db: db["a"].create({"id": int}, pk="id"))]
    apply_migrations(connect(path), migrations)
    writer = sqlite3.connect(str(path), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO a (id) VALUES (1)")
    try:
        assert apply_migrations(connect(path, timeout=0.1), migrations) == []  # no write lock needed
    finally:
        writer.execute("ROLLBACK")
        writer.close()


# ---- the real databases: what they record, and files from before this runner -------------------
def _old_store_open(path: Path) -> None:
    """What ``index.store.open_db`` did before the shared runner (its migration loop, verbatim)."""
    from index import store

    db = connect(path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute('CREATE TABLE IF NOT EXISTS "_migrations" ("name" TEXT PRIMARY KEY, "applied_at" TEXT)')
    done = {r["name"] for r in db["_migrations"].rows}
    for name, fn in store.MIGRATIONS:
        if name in done:
            continue
        with store._immediate(db):
            if list(db.query("SELECT 1 FROM _migrations WHERE name = ?", [name])):
                continue
            fn(db)
            db["_migrations"].insert({"name": name, "applied_at": "2025-01-01T00:00:00+00:00"})
    db.execute("INSERT INTO meta (key, value) VALUES ('marker', 'kept')")
    db.conn.commit()
    db.conn.close()


def test_the_knowledge_store_applies_its_migrations_through_the_runner(tmp_path):
    from index import store

    db = store.open_db(tmp_path / "policybot.db")
    assert applied_migrations(db) == [n for n, _ in store.MIGRATIONS] == ["001_initial", "002_kb_upkeep"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    db.conn.close()


def test_a_knowledge_store_written_by_the_earlier_runner_opens_unchanged(tmp_path, monkeypatch):
    from index import store

    path = tmp_path / "policybot.db"
    _old_store_open(path)
    before = schema(path)
    monkeypatch.setattr(store, "MIGRATIONS", [(n, never) for n, _ in store.MIGRATIONS])
    db = store.open_db(path)
    assert db.execute("SELECT value FROM meta WHERE key = 'marker'").fetchone() == ("kept",)
    assert db.execute("SELECT applied_at FROM _migrations").fetchall() == [("2025-01-01T00:00:00+00:00",)] * 2
    db.conn.close()
    assert schema(path) == before


def _old_cases_open(path: Path) -> None:
    """What ``bot.reporting.cases.open_cases_db`` did before the shared runner (its migration loop, verbatim)."""
    from bot.reporting import cases

    db = sqlite_utils.Database(sqlite3.connect(str(path), isolation_level=None))
    db.execute("PRAGMA journal_mode=WAL")
    db.conn.execute("BEGIN IMMEDIATE")
    if "_migrations" not in db.table_names():
        db["_migrations"].create({"name": str, "applied_at": str}, pk="name")
    done = {r["name"] for r in db["_migrations"].rows}
    for name, fn in cases.MIGRATIONS:
        if name not in done:
            fn(db)
            db["_migrations"].insert({"name": name, "applied_at": "2025-01-01T00:00:00+00:00"})
    db.conn.execute("COMMIT")
    db.execute("INSERT INTO audit_log (at, actor, action) VALUES ('t', 'marker', 'kept')")
    db.conn.close()


def test_the_cases_database_applies_its_migrations_through_the_runner(tmp_path):
    from bot.reporting import cases

    path = tmp_path / "cases.db"
    db = cases.open_cases_db(path)
    assert applied_migrations(db) == [n for n, _ in cases.MIGRATIONS] == ["001_initial"]
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert db.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert not db.conn.in_transaction and db.conn.isolation_level is None  # autocommit, for CaseDB.tx()
    assert path.stat().st_mode & 0o777 == 0o600
    db.conn.close()


def test_a_cases_database_written_by_the_earlier_runner_opens_unchanged(tmp_path, monkeypatch):
    from bot.reporting import cases

    path = tmp_path / "cases.db"
    _old_cases_open(path)
    before = schema(path)
    monkeypatch.setattr(cases, "MIGRATIONS", [(n, never) for n, _ in cases.MIGRATIONS])
    db = cases.open_cases_db(path)
    assert db.execute("SELECT action FROM audit_log WHERE actor = 'marker'").fetchone() == ("kept",)
    assert db.execute("SELECT applied_at FROM _migrations").fetchall() == [("2025-01-01T00:00:00+00:00",)]
    db.conn.close()
    assert schema(path) == before


def test_the_teams_contact_store_applies_its_migrations_through_the_runner(tmp_path):
    from adapters.teams import Contact, ContactStore

    path = tmp_path / "teams.db"
    store = ContactStore(path)
    assert applied_migrations(store._db) == ["001_contacts"]
    store.put(Contact("bob", teams_user_id="29:b"))
    store.close()
    assert path.stat().st_mode & 0o777 == 0o600
    again = ContactStore(path)
    assert again.get("bob").teams_user_id == "29:b" and applied_migrations(again._db) == ["001_contacts"]
    again.close()
    assert len(ContactStore(None)) == 0  # memory only: migrated the same way


def test_a_teams_contact_store_from_before_migrations_keeps_its_contacts(tmp_path):
    from adapters.teams import Contact, ContactStore

    path = tmp_path / "teams.db"
    old = sqlite_utils.Database(sqlite3.connect(str(path)))  # what ContactStore created before: the table only
    old["contacts"].create(
        {f: (int if f == "authenticated" else str) for f in Contact.__dataclass_fields__},
        pk="user_id",
        if_not_exists=True,
    )
    old["contacts"].insert(
        {"user_id": "alice", "teams_user_id": "29:a", "authenticated": 1, "updated_at": "2025-01-01T00:00:00+00:00"}
    )
    old.conn.commit()
    old.conn.close()
    contacts_sql = [r for r in schema(path) if r[2] == "contacts"]

    store = ContactStore(path)
    assert store.get("alice").teams_user_id == "29:a" and store.get("alice").authenticated is True
    assert applied_migrations(store._db) == ["001_contacts"]
    store.close()
    assert [r for r in schema(path) if r[2] == "contacts"] == contacts_sql
    again = ContactStore(path)
    assert len(again) == 1 and applied_migrations(again._db) == ["001_contacts"]
    again.close()


# ---- two openers of the real databases at once -------------------------------------------------
@pytest.mark.parametrize("name", ["policybot.db", "cases.db", "teams.db"])
def test_two_openers_of_a_new_real_database_at_once_both_succeed(tmp_path, name):
    """Both open; each migration is recorded once. (Switching a new file to WAL at the same moment
    used to fail one of them at times with "database is locked"; a few files make that likely.)"""
    from adapters.teams import ContactStore
    from bot.reporting.cases import open_cases_db
    from index.store import open_db

    opener = {"policybot.db": open_db, "cases.db": open_cases_db, "teams.db": lambda p: ContactStore(p)._db}[name]
    for attempt in range(8):
        path = tmp_path / str(attempt) / name
        path.parent.mkdir()
        start = threading.Barrier(2)
        results: list = []

        def run(start=start, path=path, results=results):
            start.wait()
            try:
                db = opener(path)
                results.append(db.execute("PRAGMA journal_mode").fetchone()[0])
                db.conn.close()
            except BaseException as e:  # noqa: BLE001 - reported below
                results.append(e)

        threads = [threading.Thread(target=run) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(results) == 2 and not any(isinstance(r, BaseException) for r in results), (attempt, results)
        names = applied_migrations(connect(path))
        assert names and len(names) == len(set(names)), names


@pytest.mark.parametrize("name", ["policybot.db", "cases.db"])
def test_opening_waits_to_switch_to_wal_while_another_opener_holds_the_write_lock(tmp_path, name):
    """SQLite refuses the switch to WAL at once (no busy wait) while another connection holds the
    write lock of a file still in rollback-journal mode: the open functions must try again."""
    from bot.reporting.cases import open_cases_db
    from index.store import open_db

    path = tmp_path / name
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE first_opener (x)")
    other.execute("BEGIN IMMEDIATE")
    release = threading.Timer(0.3, lambda: other.execute("COMMIT"))
    release.start()
    try:
        db = {"policybot.db": open_db, "cases.db": open_cases_db}[name](path)
    finally:
        release.join()
        other.close()
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert applied_migrations(db)
    db.conn.close()


def test_enable_wal_gives_up_after_its_timeout(tmp_path):
    path = tmp_path / "held.db"
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            enable_wal(connect(path), timeout=0.2)
        assert 0.2 <= time.monotonic() - started < 5
    finally:
        other.execute("ROLLBACK")
        other.close()
    db = connect(path)
    enable_wal(db, timeout=0.2)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
