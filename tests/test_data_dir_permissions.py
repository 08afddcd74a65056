"""The data dir is owner-only: 0700, every file 0600, also files created after start-up (issue D8)."""

import os
import stat
import subprocess
import sys
from pathlib import Path

from bot.app import open_policybot, secure_data_dir
from index.embed import FakeEmbedder

REPO = Path(__file__).resolve().parent.parent


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _loose_entries(data: Path) -> list[str]:
    """Entries under ``data`` (itself included) that group or others may read, write or enter."""
    loose = [] if _mode(data) == 0o700 else ["."]
    for entry in data.rglob("*"):
        if not entry.is_symlink() and _mode(entry) & 0o077:
            loose.append(f"{entry.relative_to(data)} {oct(_mode(entry))}")
    return loose


def test_an_existing_loose_data_dir_is_tightened(tmp_path):
    data = tmp_path / "data"
    (data / "snapshots").mkdir(parents=True)
    os.chmod(data, 0o755)
    os.chmod(data / "snapshots", 0o755)
    for name in ("policybot.db", "teams.db", "snapshots/clauses.faiss"):
        (data / name).write_bytes(b"")
        os.chmod(data / name, 0o644)
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("x")
    os.chmod(outside, 0o644)
    (data / "link").symlink_to(outside)

    secure_data_dir(data)

    assert _loose_entries(data) == []
    assert _mode(outside) == 0o644  # a link's target outside the data dir is not touched


def test_open_policybot_creates_an_owner_only_dir(tmp_path):
    data = tmp_path / "new" / "data"
    pb = open_policybot(data, embedder=FakeEmbedder())
    pb.index.refresh()
    assert _mode(data) == 0o700
    assert (data / "policybot.db").exists()


def test_files_created_later_by_the_cli_are_owner_only(tmp_path):
    """A loose umask in the caller's shell does not leak into the data dir: the entry point sets its own."""
    data = tmp_path / "data"
    env = dict(os.environ, POLICYBOT_FAKE_EMBEDDER="1", POLICYBOT_DATA_DIR=str(data))
    for argv in (["index", "build"], ["kb", "list"], ["ask", "Can I accept a friend request from a pupil?"]):
        subprocess.run(
            [
                sys.executable,
                "-c",
                "import os, sys; os.umask(0o022);from adapters.cli import main; sys.exit(main(sys.argv[1:]))",
                *argv,
            ],
            cwd=REPO,
            env=env,
            check=True,
            capture_output=True,
            timeout=300,
        )
    created = [p for p in data.rglob("*") if p.is_file()]
    assert any(p.name == "policybot.db" for p in created)
    assert len(created) >= 2  # the database and the index snapshot at least
    assert _loose_entries(data) == []
