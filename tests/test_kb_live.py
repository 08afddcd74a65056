"""The issue's "done when", with the real model: into an empty data dir, ``policybot kb add`` (a real
subprocess) of a council's guidance that is not among the five makes its clauses the answers to
questions only it covers, the five still answer theirs, and ``kb remove`` takes it out again, all
picked up by a running server's index (the same object, never recreated) through its watcher."""

import json
import os
import subprocess
import sys

import pytest
from kb_helpers import NORTHBROOK_MD, make_docx

from bot.app import open_policybot
from knowledge.catalog import EVAL_DIR
from knowledge.segment import normalise

ONLY_NORTHBROOK = {
    "Can I live-stream from a council building?": "Staff must not live-stream from council buildings",
    "Can we use a WhatsApp group to swap shifts?": "WhatsApp group to arrange rota swaps",
}
FIVE = ("d01", "d03", "d07", "d08")  # dev questions the five bundled policies answer


def _cli(args, data_dir):
    env = dict(os.environ, POLICYBOT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1")
    env.pop("POLICYBOT_FAKE_EMBEDDER", None)
    p = subprocess.run(
        [sys.executable, "-m", "adapters.cli", *map(str, args)], capture_output=True, env=env, timeout=600
    )
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def _seed_embedding_cache(src_store, dst_store, model):
    """Copy the five policies' cached vectors (speed only: the result is the same without it)."""
    rows = list(src_store.db.query("SELECT text_hash, model, dim, vector FROM embeddings WHERE model = ?", [model]))
    with dst_store.db.conn:
        dst_store.db["embeddings"].upsert_all(rows, pk=("text_hash", "model"))


def _quoted(answer, gold):
    return any(any(normalise(g).lower() in normalise(q.text).lower() for g in gold) for q in answer.quotes)


@pytest.mark.model
def test_done_when_kb_add_and_remove_reach_a_running_server(tmp_path, real_bot):
    data = tmp_path / "data"
    assert not data.exists()
    server = open_policybot(data, embedder=real_bot.index.embedder)  # the real model, already loaded
    _seed_embedding_cache(real_bot.store, server.store, server.index.embedder.name)
    watcher = server.watcher()
    index = server.index
    assert watcher.check()["total"] == 208
    five = {q["id"]: q for q in json.loads((EVAL_DIR / "dev_questions.json").read_text()) if q["id"] in FIVE}

    for q in ONLY_NORTHBROOK:
        assert not any("northbrook" in c.clause_id for c in server.ask(q, record_gap=False).quotes)
    assert not server.ask("Can we use a WhatsApp group to swap shifts?", record_gap=False).answered

    docx = tmp_path / "Northbrook social media guidance.docx"
    docx.write_bytes(make_docx(NORTHBROOK_MD.read_text(encoding="utf-8")))
    out = _cli(["kb", "add", docx, "--organisation", "Northbrook District Council"], data)
    assert "Added northbrook-social-media-guidance-for-staff version 1: 12 clause(s) live." in out

    stats = watcher.check()  # what a server's watcher thread does every few seconds
    assert stats["added"] == 12 and stats["total"] == 220
    assert stats["embedded"] == 0  # the CLI embedded the new clauses; the server reuses the cached vectors
    for q, needle in ONLY_NORTHBROOK.items():
        a = server.ask(q, record_gap=False)
        assert a.answered, q
        top = a.quotes[0]
        assert top.clause_id.startswith("northbrook-social-media-guidance-for-staff:"), (q, top.clause_id)
        assert any(needle in x.text or needle in (x.lead_in or "") for x in a.quotes), q
        assert top.citation.organisation == "Northbrook District Council"
        assert top.citation.edition.startswith("v 1, added ")
    for qid, q in five.items():
        assert _quoted(server.ask(q["q"], record_gap=False), q["gold"]), qid

    out = _cli(["kb", "remove", "northbrook-social-media-guidance-for-staff"], data)
    assert "no longer cited" in out
    stats = watcher.check()
    assert stats["removed"] == 12 and stats["total"] == 208
    for q in ONLY_NORTHBROOK:
        assert not any("northbrook" in c.clause_id for c in server.ask(q, record_gap=False).quotes)
    for qid, q in five.items():
        assert _quoted(server.ask(q["q"], record_gap=False), q["gold"]), qid
    assert server.index is index
