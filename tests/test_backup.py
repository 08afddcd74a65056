"""``policybot backup``: real databases, writes in progress, restore by rebuilding the index, the key."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from test_report_support import KEY, WHAT, make_engine, make_service, receipt_in, report_through

from adapters.cli import main
from adapters.cli.backup import BackupError, backup, find_databases
from bot.app import open_policybot
from index.embed import FakeEmbedder

QUESTION = "Can I post pictures of service users?"


@pytest.fixture
def live(fake_bot, clock, monkeypatch):
    """A data dir in use: the index built, one submitted report, a Teams contact store, a directory file."""
    from adapters.teams import ContactStore

    for var in ("POLICYBOT_REPORT_KEY", "POLICYBOT_REPORT_KEY_FILE", "POLICYBOT_DATA_DIR"):
        monkeypatch.delenv(var, raising=False)
    fake_bot.index.refresh()
    engine = make_engine(fake_bot, clock=clock)
    receipt = receipt_in(report_through(engine)[-1])
    ContactStore(fake_bot.data_dir / "teams.db").close()
    (fake_bot.data_dir / "directory.toml").write_text("# staff directory\n")
    yield fake_bot, engine, receipt
    engine.reporting.close()


def only_backup(dest: Path) -> Path:
    (folder,) = [p for p in dest.iterdir()]
    assert folder.name.startswith("policybot-backup-") and not folder.name.endswith(".partial")
    return folder


def test_backup_copies_every_database_and_says_what_it_wrote(live, tmp_path, capsys):
    bot, _, _ = live
    dest = tmp_path / "backups"
    assert main(["--data-dir", str(bot.data_dir), "backup", str(dest)]) == 0
    out, err = capsys.readouterr()
    folder = only_backup(dest)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["cases.db", "directory.toml", "manifest.json", "policybot.db", "teams.db"]
    assert (bot.data_dir / "clauses.faiss").exists()  # the live index exists but is not copied
    for name in ("cases.db", "policybot.db", "teams.db", "directory.toml", "manifest.json"):
        assert f"  {name}  " in out
    assert str(folder) in out and "index build" in out
    assert "report key is not in this backup" in err and "cannot be read" in err
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    for p in folder.iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p.name
    for db in ("cases.db", "policybot.db", "teams.db"):
        assert not (folder / f"{db}-wal").exists()
        con = sqlite3.connect(folder / db)
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        con.close()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["key_included"] is False and manifest["not_copied"] == ["clauses.faiss"]
    assert {f["name"] for f in manifest["files"]} == {"cases.db", "policybot.db", "teams.db", "directory.toml"}
    assert all(len(f["sha256"]) == 64 and f["bytes"] > 0 for f in manifest["files"])


def test_restore_rebuilds_the_index_and_answers_the_same(live, tmp_path, capsys, monkeypatch):
    bot, _, receipt = live
    before = bot.ask(QUESTION)
    result = backup(bot.data_dir, tmp_path / "b")
    restored = open_policybot(result.path, embedder=FakeEmbedder())
    stats = restored.index.refresh()
    assert stats["total"] == bot.index.refresh()["total"]
    assert stats["embedded"] == 0  # the vectors come from the cache in policybot.db
    after = restored.ask(QUESTION)
    assert after.answered and [q.clause_id for q in after.quotes] == [q.clause_id for q in before.quotes]
    assert [q.text for q in after.quotes] == [q.text for q in before.quotes]
    # the same through the CLI, as the README says
    monkeypatch.setenv("POLICYBOT_FAKE_EMBEDDER", "1")
    other = backup(bot.data_dir, tmp_path / "c").path
    assert main(["--data-dir", str(other), "index", "build"]) == 0
    assert main(["--data-dir", str(other), "ask", "--json", QUESTION]) == 0
    answer = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [q["clause_id"] for q in answer["quotes"]] == [q.clause_id for q in before.quotes]


def test_cases_are_readable_from_the_backup_with_the_key_only(live, tmp_path, clock):
    from bot.reporting.cases import normalize_receipt
    from bot.reporting.crypto import DecryptError

    bot, _, receipt = live
    folder = backup(bot.data_dir, tmp_path / "b").path
    svc = make_service(folder, clock=clock)
    try:
        case = svc.cases.case_by_receipt(normalize_receipt(receipt))
        assert case.reporter_id == "alice" and case.content["what"] == WHAT
    finally:
        svc.close()
    wrong = make_service(folder, clock=clock, key=bytes(32))
    try:
        with pytest.raises(DecryptError):
            wrong.cases.get_case(1)
    finally:
        wrong.close()
    raw = b"".join(p.read_bytes() for p in folder.iterdir())
    assert b"Quimby" not in raw and WHAT.encode()[:30] not in raw


def test_include_key_copies_the_key(live, tmp_path, monkeypatch, capsys):
    from bot.reporting.crypto import KEY_FILE_ENV, load_key

    bot, _, _ = live
    key_text = base64.urlsafe_b64encode(KEY).decode()
    key_file = tmp_path / "secret" / "report.key"
    key_file.parent.mkdir()
    key_file.write_text(key_text + "\n")
    monkeypatch.setenv(KEY_FILE_ENV, str(key_file))
    assert main(["--data-dir", str(bot.data_dir), "backup", "--include-key", str(tmp_path / "b")]) == 0
    assert "report key is not in this backup" not in capsys.readouterr().err
    folder = only_backup(tmp_path / "b")
    assert stat.S_IMODE((folder / "report.key").stat().st_mode) == 0o600
    monkeypatch.setenv(KEY_FILE_ENV, str(folder / "report.key"))
    assert load_key(folder) == KEY
    assert json.loads((folder / "manifest.json").read_text())["key_included"] is True


def test_bad_input_exits_2(live, tmp_path, capsys, monkeypatch):
    bot, _, _ = live
    assert main(["--data-dir", str(tmp_path / "missing"), "backup", str(tmp_path / "b")]) == 2
    assert "does not exist" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    assert main(["--data-dir", str(bot.data_dir), "backup", str(blocker)]) == 2
    assert main(["--data-dir", str(bot.data_dir), "backup", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and "cannot create" in err and "Traceback" not in err
    assert main(["--data-dir", str(bot.data_dir), "backup", "--include-key", str(tmp_path / "k")]) == 2
    assert "no report key" in capsys.readouterr().err
    assert not (tmp_path / "k").exists() or not any((tmp_path / "k").iterdir())


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_destination_exits_2(live, tmp_path, capsys):
    bot, _, _ = live
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    assert main(["--data-dir", str(bot.data_dir), "backup", str(ro)]) == 2
    assert "not writable" in capsys.readouterr().err


def test_a_failed_backup_leaves_nothing_behind(live, tmp_path, capsys):
    bot, _, _ = live
    (bot.data_dir / "broken.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 4000)
    dest = tmp_path / "b"
    assert main(["--data-dir", str(bot.data_dir), "backup", str(dest)]) == 1
    assert "broken.db" in capsys.readouterr().err
    assert list(dest.iterdir()) == []


def test_the_backup_is_outside_the_backup_when_dest_is_in_the_data_dir(live):
    bot, _, _ = live
    first = backup(bot.data_dir, bot.data_dir / "backups").path
    second = backup(bot.data_dir, bot.data_dir / "backups").path
    assert first != second
    assert not any("backups" in str(p.relative_to(second)) for p in second.rglob("*"))
    assert all(
        bot.data_dir / "backups" not in p.parents for p in find_databases(bot.data_dir, skip=bot.data_dir / "backups")
    )


@pytest.mark.parametrize("journal", ["wal", "delete"])
def test_snapshots_are_consistent_while_writes_are_in_progress(tmp_path, journal):
    """A writer commits pairs of rows (never one alone) and holds each transaction open a moment;
    every backup taken meanwhile has an even row count, passes its integrity check, and never holds
    the pending row of an open transaction."""
    data = tmp_path / "data"
    data.mkdir()
    path = data / "busy.db"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute(f"PRAGMA journal_mode={journal}")
    con.execute("CREATE TABLE t (n INTEGER, pad TEXT)")
    con.close()
    stop = threading.Event()
    in_tx = threading.Event()
    written = [0]

    def writer():
        w = sqlite3.connect(path, isolation_level=None, timeout=30)
        i = 0
        while not stop.is_set():
            w.execute("BEGIN IMMEDIATE")
            w.execute("INSERT INTO t VALUES (?, ?)", (i, "x" * 3000))
            in_tx.set()
            time.sleep(0.002)  # a backup may start now, mid-transaction
            w.execute("INSERT INTO t VALUES (?, ?)", (i, "y" * 3000))
            w.execute("COMMIT")
            written[0] += 2
            i += 1
        w.close()

    t = threading.Thread(target=writer)
    t.start()
    counts = []
    try:
        in_tx.wait(10)
        for k in range(12):
            folder = backup(data, tmp_path / "out", now=None).path
            copy = sqlite3.connect(folder / "busy.db")
            assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            (n,) = copy.execute("SELECT COUNT(*) FROM t").fetchone()
            pairs = copy.execute("SELECT n FROM t GROUP BY n HAVING COUNT(*) != 2").fetchall()
            copy.close()
            assert n % 2 == 0 and pairs == [], (k, n, pairs)
            counts.append(n)
    finally:
        stop.set()
        t.join()
    assert counts == sorted(counts) and counts[-1] > 0
    assert written[0] >= counts[-1]

    # a transaction left open during the whole backup: the copy is not blocked and has none of it
    w = sqlite3.connect(path, isolation_level=None)
    (before,) = w.execute("SELECT COUNT(*) FROM t").fetchone()
    w.execute("BEGIN IMMEDIATE")
    w.execute("INSERT INTO t VALUES (-1, 'pending')")
    try:
        folder = backup(data, tmp_path / "open").path
    finally:
        w.execute("ROLLBACK")
        w.close()
    copy = sqlite3.connect(folder / "busy.db")
    assert copy.execute("SELECT COUNT(*) FROM t").fetchone() == (before,)
    copy.close()


def test_backup_error_carries_the_exit_status(tmp_path):
    with pytest.raises(BackupError) as info:
        backup(tmp_path / "nope", tmp_path / "dest")
    assert info.value.status == 2
