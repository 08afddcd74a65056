"""Operations commands: ``policybot backup DEST_DIR``.

A backup is a folder ``DEST_DIR/policybot-backup-<UTC time>/`` holding:

* a consistent snapshot of every SQLite database in the data dir (the knowledge store
  ``policybot.db`` with its embedding cache, ``cases.db``, ``teams.db``, whatever else is there),
  each taken with SQLite's online backup API (``sqlite3.Connection.backup``) while the server keeps
  running: a write in progress is either wholly in the copy or not at all. Each copy is a plain
  (rollback-journal) database that passed ``PRAGMA integrity_check``;
* the data dir's configuration files (``directory.toml``/``.yaml``, ``routing.toml``) when present;
* the report key (``report.key``) only with ``--include-key``; without it the encrypted cases in
  ``cases.db`` cannot be read from the backup alone, and the command says so;
* ``manifest.json``: when, from where, and each file's size and SHA-256.

The FAISS index (``clauses.faiss``) is not copied: it is rebuilt from the knowledge store, without
re-embedding (the vectors are cached in ``policybot.db``), by ``policybot --data-dir <backup> index
build`` or on the first question. The folder is written as ``.<name>.partial`` and renamed when
complete, so a half-written backup never looks finished. Files are mode 0600, the folder 0700.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

SQLITE_MAGIC = b"SQLite format 3\x00"
SIDE_FILE_SUFFIXES = ("-wal", "-shm", "-journal")
CONFIG_FILES = ("directory.toml", "directory.yaml", "directory.yml", "routing.toml")
KEY_NAME = "report.key"
MANIFEST = "manifest.json"
NOT_COPIED = ("clauses.faiss",)  #: rebuilt from the knowledge store


class BackupError(Exception):
    """A backup could not be made; ``status`` is the exit code (2 bad input, 1 failure)."""

    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


@dataclass
class BackupResult:
    """What ``backup`` wrote.

    Attributes:
        path: the finished backup folder.
        files: ``[(name, bytes)]`` in the order written (databases first).
        seconds: wall time taken.
        key_included: whether the report key was copied.
        has_cases: whether a ``cases.db`` was backed up (its reports need the key).
    """

    path: Path
    files: list[tuple[str, int]]
    seconds: float
    key_included: bool
    has_cases: bool

    @property
    def total_bytes(self) -> int:
        """Bytes written, all files together."""
        return sum(size for _, size in self.files)


def is_sqlite_file(path: Path) -> bool:
    """True when ``path`` is a regular file starting with the SQLite 3 header (not a -wal/-shm/-journal)."""
    if not path.is_file() or path.name.endswith(SIDE_FILE_SUFFIXES):
        return False
    try:
        with open(path, "rb") as f:
            return f.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    except OSError:
        return False


def find_databases(data_dir: Path, skip: Path | None = None) -> list[Path]:
    """Every SQLite database under ``data_dir`` (recursively, sorted, ``skip`` and its contents left out)."""
    found = []
    skip = skip.resolve() if skip is not None else None
    for path in sorted(data_dir.rglob("*")):
        if skip is not None and (path.resolve() == skip or skip in path.resolve().parents):
            continue
        if is_sqlite_file(path):
            found.append(path)
    return found


def snapshot_database(src_path: Path, dest_path: Path, timeout: float = 30.0) -> None:
    """Copy one live database with SQLite's backup API into ``dest_path`` (a new plain-journal file, 0600).

    The whole database is copied in one step under a read transaction, so the copy is the state of
    some committed transaction; writers in WAL mode are not blocked, writers in rollback mode wait
    at most for the copy. ``timeout`` (seconds) is how long to wait for a lock.

    Raises:
        sqlite3.DatabaseError: the source is not a readable database, or the copy failed its
            integrity check.
    """
    fd = os.open(str(dest_path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    src = sqlite3.connect(str(src_path), timeout=timeout)  # reads only; closing it tidies an idle -wal away
    try:
        dst = sqlite3.connect(str(dest_path))
        try:
            src.backup(dst)  # pages=-1: everything in one step
            dst.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
            (check,) = dst.execute("PRAGMA integrity_check").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"the copy of {src_path.name} failed its integrity check")
            dst.commit()
        finally:
            dst.close()
    finally:
        src.close()
    with open(dest_path, "rb") as f:
        os.fsync(f.fileno())


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _key_source(data_dir: Path, settings: Settings) -> tuple[str, Path | str] | None:
    """Where the report key is: ``("file", path)``, ``("env", key text)`` or None."""
    key = settings.report_key.get_secret_value().strip() if settings.report_key is not None else ""
    if key:
        return "env", key
    if settings.report_key_file is not None and str(settings.report_key_file).strip():
        return "file", settings.report_key_file
    if (data_dir / KEY_NAME).is_file():
        return "file", data_dir / KEY_NAME
    return None


def _check_dest(dest: Path) -> None:
    if dest.exists() and not dest.is_dir():
        raise BackupError(f"the destination {dest} is not a directory", 2)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"cannot create the destination {dest}: {exc.strerror or exc}", 2) from None
    probe = dest / f".policybot-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise BackupError(f"the destination {dest} is not writable: {exc.strerror or exc}", 2) from None


def backup(
    data_dir: str | Path,
    dest_dir: str | Path,
    include_key: bool = False,
    env=None,
    now: datetime | None = None,
    settings: Settings | None = None,
) -> BackupResult:
    """Write a backup of ``data_dir`` into a new timestamped folder under ``dest_dir``.

    Args:
        data_dir: the policybot data dir (must exist).
        dest_dir: where to put the backup folder (created if missing).
        include_key: also copy the report key (from ``POLICYBOT_REPORT_KEY``,
            ``POLICYBOT_REPORT_KEY_FILE`` or ``<data dir>/report.key``) as ``report.key``.
        env: the environment to read the key settings from when ``settings`` is None (default ``os.environ``).
        now: the time in the folder's name (default: UTC now).
        settings: the ``bot.settings.Settings`` read at the entry point (the report key settings).

    Returns:
        A ``BackupResult``.

    Raises:
        BackupError: ``status`` 2 for a missing data dir, an unwritable destination, or
            ``include_key`` without a key; 1 when a database could not be copied (nothing is left behind).
    """
    started = time.perf_counter()
    if settings is None:
        from bot.settings import Settings, SettingsError

        try:
            settings = Settings.from_env(os.environ if env is None else env)
        except SettingsError as exc:
            raise BackupError(str(exc), 2) from None
    data = Path(data_dir).expanduser()
    if not data.is_dir():
        raise BackupError(f"the data dir {data} does not exist", 2)
    dest = Path(dest_dir).expanduser()
    _check_dest(dest)
    key = _key_source(data, settings) if include_key else None
    if include_key and key is None:
        raise BackupError(
            "--include-key: no report key is configured (POLICYBOT_REPORT_KEY, "
            "POLICYBOT_REPORT_KEY_FILE or report.key in the data dir)",
            2,
        )
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    name, n = f"policybot-backup-{stamp}", 1
    while (dest / name).exists() or (dest / f".{name}.partial").exists():
        n += 1
        name = f"policybot-backup-{stamp}-{n}"
    partial = dest / f".{name}.partial"
    partial.mkdir(mode=0o700)
    files: list[tuple[str, int]] = []
    try:
        databases = find_databases(data, skip=dest)
        for src in databases:
            rel = src.relative_to(data)
            out = partial / rel
            out.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            try:
                snapshot_database(src, out)
            except sqlite3.Error as exc:
                raise BackupError(f"could not back up {rel}: {exc}") from None
            files.append((str(rel), out.stat().st_size))
        for cfg in CONFIG_FILES:
            if (data / cfg).is_file():
                shutil.copyfile(data / cfg, partial / cfg)
                os.chmod(partial / cfg, 0o600)
                files.append((cfg, (partial / cfg).stat().st_size))
        if key is not None:
            kind, where = key
            fd = os.open(str(partial / KEY_NAME), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write((where if kind == "env" else Path(where).read_text(encoding="ascii")).strip() + "\n")
            files.append((KEY_NAME, (partial / KEY_NAME).stat().st_size))
        manifest = {
            "format": 1,
            "created_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
            "data_dir": str(data.resolve()),
            "files": [{"name": f, "bytes": size, "sha256": _sha256(partial / f)} for f, size in files],
            "not_copied": [n for n in NOT_COPIED if (data / n).exists()],
            "key_included": key is not None,
            "restore": "copy these files into an empty data dir, then: policybot --data-dir DIR index build",
        }
        fd = os.open(str(partial / MANIFEST), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2)
            f.write("\n")
        files.append((MANIFEST, (partial / MANIFEST).stat().st_size))
        final = dest / name
        os.rename(partial, final)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return BackupResult(
        final, files, time.perf_counter() - started, key is not None, any(Path(f).name == "cases.db" for f, _ in files)
    )


def cmd_backup(args) -> int:
    """``policybot backup DEST_DIR [--include-key]``: exit 0 written, 1 a database could not be copied,
    2 bad input (missing data dir, unwritable destination, no key for ``--include-key``)."""
    from adapters.cli import settings_of

    settings = settings_of(args)
    data_dir = Path(args.data_dir) if args.data_dir else settings.default_data_dir()
    try:
        result = backup(data_dir, args.dest, include_key=args.include_key, settings=settings)
    except BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.status
    for name, size in result.files:
        print(f"  {name}  {size:,} bytes")
    print(
        f"backup written to {result.path} ({len(result.files)} files, {result.total_bytes:,} bytes, "
        f"{result.seconds:.2f} s)"
    )
    print(f"restore: policybot --data-dir {result.path} index build  (the search index is rebuilt, not copied)")
    if result.has_cases and not result.key_included:
        print(
            "warning: the report key is not in this backup; the encrypted cases in cases.db cannot be read "
            "without it. Keep the key safe separately, or run again with --include-key.",
            file=sys.stderr,
        )
    return 0


def register(subparsers) -> None:
    """Add ``backup`` to the ``policybot`` parser's ``subparsers``."""
    p = subparsers.add_parser("backup", help="write a consistent snapshot of the data dir's databases")
    p.add_argument("dest", metavar="DEST_DIR", help="folder to write the timestamped backup folder into")
    p.add_argument(
        "--include-key",
        action="store_true",
        help="also copy the report key (without it the encrypted cases cannot be read from the backup)",
    )
    p.set_defaults(func=cmd_backup)


__all__ = [
    "backup",
    "BackupError",
    "BackupResult",
    "find_databases",
    "snapshot_database",
    "is_sqlite_file",
    "cmd_backup",
    "register",
]
