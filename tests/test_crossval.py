"""Leave-one-document-out evaluation (bot.crossval) and ``policybot eval --with-docs / --cross-validate``.

The fake embedder keeps these fast; the real-model figures are in README "Evaluation".
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.crossval import (
    PARAM_GRID,
    build_knowledge_base,
    cross_validate,
    fit_abstainer,
    home_documents,
    relevant_clauses,
)
from bot.evaluate import load_questions
from index.embed import FakeEmbedder
from index.retrieve import ABSTENTION_FEATURES, Abstainer
from knowledge.catalog import EVAL_DIR

DATA = Path(__file__).parent / "data"
MD = DATA / "northbrook_social_media_guidance.md"


def _ev(best, typed=None, mean=None, cov=0.5):
    return {
        "best_cosine": best,
        "best_typed": best if typed is None else typed,
        "mean_top10": best - 0.1 if mean is None else mean,
        "coverage": cov,
    }


def test_fit_abstainer_separates_in_scope_from_out_of_scope():
    evidence = [_ev(0.5 + 0.02 * i) for i in range(10)] + [_ev(0.2 + 0.02 * i) for i in range(10)]
    labels = [True] * 10 + [False] * 10
    rule = fit_abstainer(evidence, labels)
    assert isinstance(rule, Abstainer) and len(rule.weights) == len(ABSTENTION_FEATURES)
    assert rule.score(_ev(0.7)) > 0 > rule.score(_ev(0.2))
    assert rule.score(_ev(0.6)) > rule.score(_ev(0.4))  # monotone in the best cosine


def test_fit_abstainer_needs_both_classes():
    with pytest.raises(ValueError, match="in-scope and out-of-scope"):
        fit_abstainer([_ev(0.5), _ev(0.6)], [True, True])


def test_home_documents_from_gold_and_from_the_doc_field(fake_bot):
    index = fake_bot.index
    wbc = next(c for c in index.snapshot.clauses.values() if c.doc_id == "wbc")
    medway = next(c for c in index.snapshot.clauses.values() if c.doc_id == "medway")
    questions = [
        {"q": "a", "gold": [wbc.text[:40]]},
        {"q": "b", "gold": [medway.text[:40]]},
        {"q": "c", "gold": []},
        {"q": "d", "gold": [wbc.text[:40]], "doc": "000_28863f62fcc91165.txt"},  # the Medway file: doc field wins
    ]
    assert relevant_clauses(questions[0], index.snapshot.clauses) >= {wbc.id}
    assert home_documents(questions, index) == ["wbc", "medway", None, "medway"]


def test_cross_validate_holds_each_question_out_once(fake_bot):
    dev = load_questions(EVAL_DIR / "dev_questions.json")
    staff = load_questions(EVAL_DIR / "staff_questions.json")
    report = cross_validate([("dev", fake_bot.index, dev), ("staff", fake_bot.index, staff)])
    assert list(report.tuning) == list(report.held_out) == ["dev", "staff", "all"]
    assert report.held_out["all"].n_in_scope + report.held_out["all"].n_out_of_scope == len(dev) + len(staff)
    assert report.held_out["dev"].n_in_scope == sum(1 for q in dev if q["gold"])
    held_out_docs = [doc for doc, _, _ in report.folds]
    assert set(held_out_docs) <= {"medway", "forest-federation", "cwm-taf", "wbc", "wfcs"} and len(held_out_docs) >= 4
    assert sum(n for _, n, _ in report.folds) == len(dev) + len(staff)
    assert {
        "keyword_weight": report.params.keyword_weight,
        "expand_keywords": report.params.expand_keywords,
    } in PARAM_GRID
    assert report.params.abstainer is not None
    text = report.summary()
    assert "held-out" in text and "tuning" in text and "held out wbc" in text
    assert set(json.loads(json.dumps(report.to_json()))) == {"tuning", "held_out", "params"}


def test_questions_the_embedder_learnt_are_answered_but_never_fitted_on(fake_bot):
    """A set marked ``fit=False`` (what an adapter was trained on) is still reported, but the settings are
    those fitted on the other set alone, and its out-of-scope questions (no training saw them) still count."""
    dev = load_questions(EVAL_DIR / "dev_questions.json")
    staff = load_questions(EVAL_DIR / "staff_questions.json")
    alone = cross_validate([("staff", fake_bot.index, staff)])
    learnt = cross_validate(
        [("dev", fake_bot.index, [q for q in dev if q["gold"]], False), ("staff", fake_bot.index, staff)]
    )
    fitted_on_both = cross_validate(
        [("dev", fake_bot.index, [q for q in dev if q["gold"]]), ("staff", fake_bot.index, staff)]
    )
    assert learnt.params == alone.params != fitted_on_both.params
    assert learnt.held_out["dev"].n_in_scope == sum(1 for q in dev if q["gold"])  # answered all the same
    with_oos = cross_validate([("dev", fake_bot.index, dev, False), ("staff", fake_bot.index, staff)])
    assert with_oos.params.abstainer != alone.params.abstainer  # dev's out-of-scope questions were fitted on


def test_build_knowledge_base_adds_files_bare_and_reuses_the_embedding_cache(tmp_path):
    cache = tmp_path / "cache" / "embeddings.db"
    pb = build_knowledge_base([MD], data_dir=tmp_path / "kb1", embedder=FakeEmbedder(), cache_path=cache)
    docs = {d["doc_id"]: d for d in pb.store.documents()}
    assert len(docs) == 6
    added = next(d for d in docs.values() if d["source"] == MD.name)
    assert added["title"] and added["organisation"]  # inferred, as a bare `kb add` would
    assert cache.exists()
    again = build_knowledge_base([MD], data_dir=tmp_path / "kb2", embedder=FakeEmbedder(), cache_path=cache)
    # Every vector came from the shared cache: nothing left to embed.
    stats = again.index.refresh()
    assert stats["embedded"] == 0 and stats["total"] == len(pb.index.snapshot.clauses)


def _run(args, tmp_path):
    env = dict(
        os.environ,
        POLICYBOT_FAKE_EMBEDDER="1",
        HF_HUB_OFFLINE="1",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        POLICYBOT_DATA_DIR=str(tmp_path / "data"),
    )
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "eval", *args], capture_output=True, text=True, env=env, timeout=300
    )


def test_eval_with_docs_asks_a_throwaway_knowledge_base(tmp_path):
    qfile = tmp_path / "q.json"
    qfile.write_text(
        json.dumps(
            [
                {"id": "n1", "q": "can I post photos of residents?", "gold": ["photos"]},
                {"id": "n2", "q": "when is payday", "gold": []},
            ]
        )
    )
    p = _run([str(qfile), "--with-docs", str(MD)], tmp_path)
    assert p.returncode == 0, p.stderr
    assert "[hybrid + 1 document(s)] q.json" in p.stdout and "questions: 1 in scope, 1 out of scope" in p.stdout
    assert not (tmp_path / "data").exists()  # the data dir is not touched


def test_eval_with_a_bad_document_exits_2(tmp_path):
    bad = tmp_path / "policy.pdf"
    bad.write_bytes(b"not a pdf at all")
    p = _run(["--with-docs", str(bad)], tmp_path)
    assert p.returncode == 2
    assert "policy.pdf" in p.stderr and "Traceback" not in p.stderr


def test_eval_cross_validate_prints_tuning_and_held_out(tmp_path):
    p = _run(["--cross-validate"], tmp_path)
    assert p.returncode == 0, p.stderr
    for name in ("tuning (dev + staff)", "held-out 1", "held-out 2", "all"):
        assert f"{name} " in p.stdout
    assert p.stdout.count(" held-out ") >= 4 and "fitted on all" in p.stdout
