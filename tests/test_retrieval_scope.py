"""The scope (abstention) score and the collection centroid, on the fake embedder (real-model figures
are in test_retrieval.py)."""

import numpy as np
import pytest

import index.retrieve as retrieve
from index.lexicon import expand_query, rewrite_query
from index.retrieve import clause_views, scope_score
from index.store import text_hash
from index.vectors import VectorIndex


def _unit(rng, n, dim=16):
    v = rng.standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# ---- scope_score --------------------------------------------------------------------------
def test_scope_score_adds_the_cosine_to_the_centroid():
    q = np.array([0.6, 0.8, 0.0], np.float32)
    centroid = np.array([0.5, 0.0, 0.1], np.float32)
    assert scope_score(0.4, q, centroid) == pytest.approx(0.4 + 0.3)
    assert scope_score(0.4, q, None) == pytest.approx(0.4)
    assert scope_score(0.4, q, -centroid) == pytest.approx(0.4 - 0.3)


# ---- VectorIndex.centroid -----------------------------------------------------------------
def test_centroid_is_the_mean_of_all_vectors_flat_and_ivf():
    rng = np.random.default_rng(3)
    vecs = _unit(rng, 1200, dim=32)
    ids = [i // 3 for i in range(len(vecs))]  # three views per clause
    index = VectorIndex("m", 32)
    assert not index.centroid().any() and index.centroid().shape == (32,)
    index.add(ids, vecs)
    mean = vecs.astype(np.float64).mean(axis=0)
    assert np.allclose(index.centroid(chunk=500), mean, atol=1e-6)  # several chunks
    ivf = index.to_ivf()
    assert ivf.is_ivf
    assert np.allclose(ivf.centroid(), mean, atol=1e-6)
    index.remove(list(range(100)))  # the first 300 vectors
    assert np.allclose(index.centroid(), vecs[300:].astype(np.float64).mean(axis=0), atol=1e-6)


def test_snapshot_centroid_matches_its_vectors(fake_bot):
    fake_bot.index.refresh()
    snap = fake_bot.index.snapshot
    assert snap.centroid is not None
    assert np.allclose(snap.centroid, snap.vectors.centroid(), atol=1e-6)
    assert float(np.linalg.norm(snap.centroid)) > 0


# ---- search: dense scores and abstention ------------------------------------------------------
def _view_matrix(bot, clause):
    hashes = [text_hash(v) for v in clause_views(clause)]
    cached = bot.store.cached_vectors(hashes, bot.index.embedder.name)
    return np.stack([cached[h] for h in hashes])


def test_search_scores_the_best_view_cosine(fake_bot):
    question = "Can I post pictures of colleagues on Facebook?"
    result = fake_bot.index.search(question)
    qvecs = fake_bot.index.embedder.encode([expand_query(question), rewrite_query(question)])
    for hit in result.hits[:5]:
        expected = float((_view_matrix(fake_bot, hit.clause) @ qvecs.T).max())
        assert hit.dense == pytest.approx(expected, abs=1e-5)


SCOPE_RULE = retrieve.RetrievalParams(abstention="scope")  #: the rule before the learned one, kept for comparison


def test_best_cosine_is_over_both_query_embeddings_and_scope_adds_the_centroid(fake_bot):
    question = "my mum wants to add a resident on fb"  # the rewritten query matches better than the typed one
    result = fake_bot.index.search(question, params=SCOPE_RULE)
    snap = fake_bot.index.snapshot
    qvecs = fake_bot.index.embedder.encode([expand_query(question), rewrite_query(question)])
    both = max(float((_view_matrix(fake_bot, h.clause) @ qvecs.T).max()) for h in result.hits[:3])
    typed = max(float((_view_matrix(fake_bot, h.clause) @ qvecs[0]).max()) for h in result.hits[:3])
    assert both > typed + 0.05
    assert result.best_cosine == pytest.approx(both, abs=1e-5)
    assert result.scope_score == pytest.approx(both + float(qvecs[0] @ snap.centroid), abs=1e-5)


def test_scope_min_decides_abstention_for_a_calibrated_model(fake_bot, monkeypatch):
    monkeypatch.setattr(retrieve, "SCOPE_CALIBRATED", frozenset({"fake-hash"}))
    monkeypatch.setattr(retrieve, "MIN_COSINE", 5.0)  # not consulted for a calibrated model
    question = "Never post pictures of service users or colleagues"
    score = fake_bot.index.search(question, params=SCOPE_RULE).scope_score
    monkeypatch.setattr(retrieve, "SCOPE_MIN", score + 1e-3)
    assert not fake_bot.index.search(question, params=SCOPE_RULE).answerable
    monkeypatch.setattr(retrieve, "SCOPE_MIN", score - 1e-3)
    assert fake_bot.index.search(question, params=SCOPE_RULE).answerable


def test_the_learned_rule_decides_for_a_calibrated_model(fake_bot, monkeypatch):
    monkeypatch.setattr(retrieve, "SCOPE_CALIBRATED", frozenset({"fake-hash"}))
    monkeypatch.setattr(retrieve, "MIN_COSINE", 5.0)  # not consulted for a calibrated model
    question = "Never post pictures of service users or colleagues"
    evidence = fake_bot.index.search(question).evidence
    assert set(evidence) == set(retrieve.ABSTENTION_FEATURES)
    weights = (1.0, 0.0, 0.0, 0.0)  # the logit is best_cosine + bias
    for bias, answered in ((-evidence["best_cosine"] - 1e-3, False), (-evidence["best_cosine"] + 1e-3, True)):
        params = retrieve.RetrievalParams(abstainer=retrieve.Abstainer(weights, bias))
        result = fake_bot.index.search(question, params=params)
        assert result.answerable is answered
        assert result.scope_score == pytest.approx(evidence["best_cosine"] + bias, abs=1e-6)


def test_the_learned_rule_does_not_move_when_an_unrelated_document_is_added(fake_bot, monkeypatch):
    monkeypatch.setattr(retrieve, "SCOPE_CALIBRATED", frozenset({"fake-hash"}))
    question = "Never post pictures of service users or colleagues"
    before = fake_bot.index.search(question)
    before_scope = fake_bot.index.search(question, params=SCOPE_RULE).scope_score
    admin = fake_bot.kb_admin()
    text = "# Car parking\n\nPermits for the staff car park are renewed every April through the facilities desk.\n" * 1
    admin.commit(
        admin.preview(
            text.encode() + b"Pension contributions change in the payroll system.\n",
            "parking.md",
            organisation="Northbrook Council",
            title="Parking",
        )
    )
    after = fake_bot.index.search(question)
    assert [h.clause.clause_id for h in after.hits[:10]] == [h.clause.clause_id for h in before.hits[:10]]
    assert after.evidence == pytest.approx(before.evidence) and after.scope_score == pytest.approx(before.scope_score)
    # the centroid rule it replaced moves with every upload
    assert fake_bot.index.search(question, params=SCOPE_RULE).scope_score != pytest.approx(before_scope, abs=1e-6)


def test_uncalibrated_models_keep_the_best_cosine_rule(fake_bot, monkeypatch):
    assert "fake-hash" not in retrieve.SCOPE_CALIBRATED
    assert retrieve.MODEL_NAME in retrieve.SCOPE_CALIBRATED
    monkeypatch.setattr(retrieve, "SCOPE_MIN", 5.0)  # not consulted for an uncalibrated model
    question = "my mum wants to add a resident on fb"  # typed cosine well below the rewritten one
    result = fake_bot.index.search(question)
    typed = fake_bot.index.embedder.encode([expand_query(question)])[0]
    best_typed = max(float((_view_matrix(fake_bot, h.clause) @ typed).max()) for h in result.hits[:3])
    monkeypatch.setattr(retrieve, "MIN_COSINE", best_typed + 1e-3)
    assert not fake_bot.index.search(question).answerable
    monkeypatch.setattr(retrieve, "MIN_COSINE", best_typed - 1e-3)
    assert fake_bot.index.search(question).answerable


def test_keyword_mode_has_no_scope_score(fake_bot):
    from index.retrieve import KnowledgeIndex

    kw = KnowledgeIndex(fake_bot.store, fake_bot.index.embedder, fake_bot.index.vector_path, mode="keyword")
    result = kw.search("Never post pictures of service users or colleagues")
    assert result.answerable and result.scope_score == 0.0


def test_the_plain_keyword_search_runs_only_when_asked_for(fake_bot):
    question = "cn i add a service user on fb"
    shipped = fake_bot.index.features(question)
    assert shipped.keyword_plain is None  # one keyword search per question on the answering path
    with pytest.raises(ValueError, match="plain_keywords"):
        fake_bot.index.rank(shipped, retrieve.RetrievalParams(expand_keywords=False))
    both = fake_bot.index.features(question, plain_keywords=True)
    assert both.keyword_plain and both.keyword_plain != both.keyword
    plain = retrieve.RetrievalParams(expand_keywords=False)
    assert [h.clause.id for h in fake_bot.index.search(question, params=plain).hits] == [
        h.clause.id for h in fake_bot.index.rank(both, plain).hits
    ]
