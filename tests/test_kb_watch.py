"""A running server's index follows knowledge-base changes made elsewhere (the CLI in another process)
without a restart and without a failed question (fake embedder)."""

import os
import subprocess
import sys
import threading
import time

from kb_helpers import NORTHBROOK_MD

from bot.app import open_policybot
from index.embed import FakeEmbedder

ROTA_Q = "Can we use a WhatsApp group to arrange rota swaps?"
FIVE_Q = "Never post pictures of service users or colleagues"


def cli(args, data_dir):
    env = dict(os.environ, POLICYBOT_DATA_DIR=str(data_dir), POLICYBOT_FAKE_EMBEDDER="1", HF_HUB_OFFLINE="1")
    p = subprocess.run(
        [sys.executable, "-m", "adapters.cli", *map(str, args)], capture_output=True, env=env, timeout=180
    )
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def from_northbrook(answer):
    return [q.clause_id for q in answer.quotes if q.clause_id.startswith("northbrook")]


def test_cli_changes_reach_the_running_index_through_the_watcher(tmp_path):
    data = tmp_path / "data"
    server = open_policybot(data, embedder=FakeEmbedder())
    index = server.index  # the object a server answers from; never recreated below
    watcher = server.watcher()
    assert watcher.check()["total"] == 208  # first check builds / loads the index
    assert watcher.check() is None  # nothing changed
    assert not from_northbrook(server.ask(ROTA_Q))

    cli(["kb", "add", NORTHBROOK_MD, "--organisation", "Northbrook District Council", "--id", "northbrook"], data)
    assert not from_northbrook(server.ask(ROTA_Q))  # still the old snapshot until the watcher looks
    stats = watcher.check()
    assert stats["added"] == 12 and stats["removed"] == 0 and stats["total"] == 220
    assert stats["embedded"] == 0  # the CLI embedded them; the server takes the vectors from the cache
    answer = server.ask(ROTA_Q)
    assert answer.answered and from_northbrook(answer)
    assert answer.quotes[0].citation.organisation == "Northbrook District Council"
    assert server.ask(FIVE_Q).answered

    cli(["kb", "remove", "northbrook"], data)
    stats = watcher.check()
    assert stats["removed"] == 12 and stats["total"] == 208
    assert not from_northbrook(server.ask(ROTA_Q))
    assert server.index is index and watcher.check() is None


def test_background_watcher_thread(tmp_path):
    data = tmp_path / "data"
    server = open_policybot(data, embedder=FakeEmbedder())
    server.index.refresh()
    other = open_policybot(data, embedder=FakeEmbedder())  # another process's view of the same data dir
    with server.watcher(interval=0.05) as watcher:
        admin = other.kb_admin()
        admin.commit(admin.preview(NORTHBROOK_MD.read_bytes(), "nb.md", doc_id="northbrook"), refresh=False)
        deadline = time.monotonic() + 20
        while not from_northbrook(server.ask(ROTA_Q, record_gap=False)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert from_northbrook(server.ask(ROTA_Q, record_gap=False))
        assert watcher.errors == 0
    assert watcher._thread is None


def test_questions_never_fail_while_the_knowledge_base_changes(tmp_path):
    data = tmp_path / "data"
    server = open_policybot(data, embedder=FakeEmbedder())
    server.index.refresh()
    watcher = server.watcher(interval=0.01).start()
    errors, answers = [], []
    stop = threading.Event()

    def asker():
        while not stop.is_set():
            try:
                a = server.ask(FIVE_Q, record_gap=False)
                answers.append(a.answered)
                server.ask(ROTA_Q, record_gap=False)
            except Exception as exc:  # any failure is a bug
                errors.append(repr(exc))

    threads = [threading.Thread(target=asker) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        other = open_policybot(data, embedder=FakeEmbedder())
        admin = other.kb_admin()
        text = NORTHBROOK_MD.read_text(encoding="utf-8")
        for i in range(4):
            admin.commit(admin.preview(text.encode(), "nb.md", doc_id=f"northbrook-{i}"))
            admin.commit(
                admin.preview(
                    (text + f"\nReview number {i} of this guidance is due.\n").encode(),
                    "nb2.md",
                    replace=f"northbrook-{i}",
                )
            )
            admin.remove(f"northbrook-{i}")
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join()
        watcher.stop()
    assert errors == []
    assert answers and all(answers)
    assert watcher.errors == 0
    watcher.check()
    assert len(server.index.snapshot.clauses) == 208
