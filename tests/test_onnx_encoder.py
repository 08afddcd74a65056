"""Questions encoded with ONNX Runtime instead of torch (``index.onnx_encoder``).

The export is the model the index was embedded with (adapter merged); its vectors must agree with
sentence-transformers' on real questions, padded batches and truncated texts, and answering must not
import torch.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index.embed import FakeEmbedder, bundled_model_path
from index.onnx_encoder import META_NAME, encoder_dir, load_encoder
from index.retrieve import KnowledgeIndex

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT / "knowledge" / "eval"


def _questions() -> list[str]:
    qs = [
        q["q"]
        for name in ("dev", "staff", "holdout")
        for q in json.loads((EVAL / f"{name}_questions.json").read_text())
    ]
    return qs + ["", "a", " ".join(["friend"] * 400)]  # empty, one word, longer than the model's 256 tokens


@pytest.fixture(scope="module")
def exported(real_bot):
    """The session's real bot with its model exported to ONNX and questions going through it."""
    assert real_bot.prepare_query_encoder()
    return real_bot


@pytest.mark.model
def test_onnx_vectors_agree_with_sentence_transformers(exported):
    questions = _questions()
    reference = exported.index.embedder.encode(questions)
    batch = exported.index.query_encoder.encode(questions)
    single = np.stack([exported.index.query_encoder.encode([q])[0] for q in questions])
    assert batch.shape == reference.shape == (len(questions), 384) and batch.dtype == np.float32
    assert float((reference * batch).sum(1).min()) >= 0.99999
    assert float((reference * single).sum(1).min()) >= 0.99999


@pytest.mark.model
def test_rankings_are_the_same_through_onnx(exported):
    from bot.evaluate import evaluate, load_questions

    questions = load_questions(EVAL / "dev_questions.json")
    through_onnx = evaluate(exported.index, questions).to_json()
    encoder = exported.index.query_encoder
    exported.index.query_encoder = None
    try:
        through_torch = evaluate(exported.index, questions).to_json()
    finally:
        exported.index.query_encoder = encoder
    assert through_onnx == through_torch


@pytest.mark.model
def test_policybot_ask_does_not_import_torch(exported):
    script = (
        "import sys\n"
        "from adapters.cli import main\n"
        f"code = main(['--data-dir', {str(exported.data_dir)!r}, 'ask', '--json', 'can I accept a friend request from a pupil?'])\n"
        "heavy = sorted(m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules)\n"
        "print('HEAVY=' + ','.join(heavy))\n"
        "sys.exit(code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    answer_line, heavy = done.stdout.strip().splitlines()[-2:]
    assert json.loads(answer_line)["answered"]
    assert heavy == "HEAVY="


def test_an_export_of_another_model_is_ignored(tmp_path):
    folder = encoder_dir(tmp_path)
    folder.mkdir()
    (folder / META_NAME).write_text(json.dumps({"name": "some-other-model", "dim": 384, "max_seq_length": 256}))
    assert load_encoder(tmp_path, "sentence-transformers/all-MiniLM-L6-v2") is None
    assert load_encoder(tmp_path / "nothing-here", "x") is None


def test_an_unreadable_export_is_logged_and_ignored(tmp_path, caplog):
    folder = encoder_dir(tmp_path)
    folder.mkdir()
    (folder / META_NAME).write_text(json.dumps({"name": "m", "dim": 384, "max_seq_length": 256}))
    (folder / "tokenizer.json").write_text("{}")
    (folder / "model.onnx").write_bytes(b"not a model")
    assert load_encoder(tmp_path, "m") is None  # a bad tokenizer
    assert "is not a tokenizer" in caplog.text
    shutil.copyfile(Path(bundled_model_path()) / "tokenizer.json", folder / "tokenizer.json")
    caplog.clear()
    assert load_encoder(tmp_path, "m") is None  # a bad model file
    assert "cannot be loaded" in caplog.text and "is not a tokenizer" not in caplog.text


def test_the_query_encoder_must_be_the_index_model(fake_bot):
    index: KnowledgeIndex = fake_bot.index
    assert index.query_encoder is index.embedder
    with pytest.raises(ValueError, match="is not the index's"):
        index.query_encoder = FakeEmbedder(dim=128)

    class Same(FakeEmbedder):
        calls = 0

        def encode(self, texts, progress=False):
            Same.calls += 1
            return super().encode(texts)

    index.query_encoder = Same()
    fake_bot.ask("can I post photos of pupils?", record_gap=False)
    assert Same.calls == 1  # the question went through the query encoder, once
