"""Retrieval and answers with the real all-MiniLM-L6-v2 model, plus index mechanics on the fake embedder."""

import json

import numpy as np
import pytest

import index.retrieve as retrieve
from bot.answer import compose
from bot.evaluate import evaluate, evaluate_unseen_vocabulary, load_questions
from index.embed import FakeEmbedder
from index.lexicon import expand_query, rewrite_query
from index.retrieve import KnowledgeIndex, clause_views, fts_query
from index.vectors import VectorIndex
from knowledge.catalog import EVAL_DIR, bundled_documents
from knowledge.segment import normalise

SOURCES = {d.doc_id: normalise(d.text) for d in bundled_documents()}
EVAL_SETS = [EVAL_DIR / "dev_questions.json", EVAL_DIR / "staff_questions.json"]


# ---- real model -------------------------------------------------------------------------
@pytest.mark.model
def test_colleague_friend_request_quotes_cwm_taf(real_bot):
    answer = real_bot.ask("can I accept a colleague's friend request?")
    assert answer.answered
    cwm = [q for q in answer.quotes if "not advisable to accept people you work with as 'friends'" in q.text]
    assert cwm, [q.text for q in answer.quotes]
    assert cwm[0].citation.organisation.startswith("Cwm Taf")
    assert cwm[0].citation.section == "OFFICIAL USE OF SOCIAL NETWORKING SITES"


@pytest.mark.model
def test_every_quote_for_every_eval_question_is_verbatim(real_bot):
    questions = [q for f in EVAL_SETS for q in load_questions(f)]
    checked = 0
    for item in questions:
        answer = real_bot.ask(item["q"])
        for q in answer.quotes:
            doc_id = q.clause_id.split(":")[0]
            assert normalise(q.text) in SOURCES[doc_id], q.clause_id
            if q.lead_in:
                assert normalise(q.lead_in) in SOURCES[doc_id]
            checked += 1
    assert checked > 150


@pytest.mark.model
def test_quality_targets_on_the_bundled_eval_sets(real_bot):
    """Floors on the tuning sets at the figures of the shipped adapter and settings (README "Evaluation":
    recall@3 0.947, MRR@10 0.858, 82.6% out-of-scope abstained, 1.3% in-scope wrongly abstained; the adapter
    was trained on these questions, so they are in-sample. The plain model with its cross-validated settings:
    0.920 / 0.821 / 91.3% / 2.7%; the foundation issue asked for 0.90 / 0.80 / 90% / 5%)."""
    report = evaluate(real_bot.index, [q for f in EVAL_SETS for q in load_questions(f)])
    assert report.n_in_scope >= 70 and report.n_out_of_scope >= 20
    assert report.recall[3] >= 0.94, report.summary()
    assert report.mrr10 >= 0.85, report.summary()
    assert report.abstention_rate >= 0.82, report.summary()
    assert report.false_abstention_rate <= 0.02, report.summary()


#: sentences that say nothing about the policies, added to the tuning questions to make them longer
PADDING = [
    "Sorry if this is a silly question, I'm new here and not sure who else to ask.",
    "I've worked here for about six years and never had this come up before.",
    "Something happened this week and it's been on my mind.",
]


def padded(questions):
    """Each question with one padding sentence, before it (even positions) or after it (odd)."""
    out = []
    for n, item in enumerate(questions):
        pad = PADDING[n % len(PADDING)]
        out.append({**item, "q": f"{pad} {item['q']}" if n % 2 == 0 else f"{item['q']} {pad}"})
    return out


@pytest.mark.model
def test_padding_sentences_do_not_break_abstention(real_bot):
    """Longer questions: the tuning sets with a padding sentence each. Measured recall@3 0.880, 87.0%
    out-of-scope abstained, 4.0% in-scope wrongly abstained with the shipped adapter and settings (the plain
    model: 0.907, 95.7%, 2.7%; the rule before the scope score: 0.867, 82.6% and 6.7%)."""
    report = evaluate(real_bot.index, padded([q for f in EVAL_SETS for q in load_questions(f)]))
    assert report.recall[3] >= 0.88, report.summary()
    assert report.abstention_rate >= 0.86, report.summary()
    assert report.false_abstention_rate <= 0.04, report.summary()


@pytest.mark.model
def test_quality_on_unseen_vocabulary(real_bot):
    """Tuning sets without the lexicon entries written for each question (``evaluate_unseen_vocabulary``).
    Measured recall@3 0.880, MRR@10 0.779, 82.6% / 2.7% with the shipped adapter and settings (the plain model
    with its cross-validated settings: 0.773, 0.693, 91.3% / 6.7%; before the scope rule: 0.760, 0.691, 91.3% / 8.0%)."""
    report = evaluate_unseen_vocabulary(real_bot.index, [q for f in EVAL_SETS for q in load_questions(f)], 1)
    assert report.recall[3] >= 0.88, report.summary()
    assert report.mrr10 >= 0.77, report.summary()
    assert report.abstention_rate >= 0.82, report.summary()
    assert report.false_abstention_rate <= 0.03, report.summary()


@pytest.mark.model
@pytest.mark.parametrize(
    "question",
    [
        "How do I change my bank details for payroll?",
        "Where is the nearest car park to the civic centre?",
        "How many days of annual leave do I get a year?",
    ],
)
def test_out_of_scope_questions_are_abstained(real_bot, question):
    answer = real_bot.ask(question)
    assert not answer.answered and answer.quotes == []


@pytest.mark.model
def test_chat_spelling(real_bot):
    answer = real_bot.ask("cn i add a service user on fb")
    assert answer.answered
    assert any("decline any request from an existing or previous service user" in q.text for q in answer.quotes)


# ---- mechanics on the fake embedder --------------------------------------------------------
def test_index_persists_and_rebuilds_only_what_changed(unindexed_fake_bot, tmp_path):
    fake_bot = unindexed_fake_bot
    stats = fake_bot.index.refresh()
    assert stats["total"] == 208 and stats["added"] == 208 and stats["embedded"] > 208
    # a new KnowledgeIndex over the same files loads the saved FAISS index: nothing to embed
    again = KnowledgeIndex(fake_bot.store, FakeEmbedder(), fake_bot.index.vector_path)
    assert again.refresh() == {"added": 0, "removed": 0, "embedded": 0, "total": 208}
    # a changed document: only its clauses are re-added, and unchanged texts come from the cache
    doc = next(d for d in bundled_documents() if d.doc_id == "wfcs")
    from dataclasses import replace

    fake_bot.store.put_document(replace(doc, text=doc.text + "\n7. Staff must not live-stream from care homes.\n"))
    stats = again.refresh()
    assert stats["added"] == 30 and stats["removed"] == 29
    assert stats["embedded"] <= 3  # only the new clause's views were embedded


def test_model_mismatch_forces_a_rebuild(fake_bot):
    fake_bot.index.refresh()
    path = fake_bot.index.vector_path
    assert VectorIndex.load(path, "fake-hash", 256, views=retrieve.VIEWS_VERSION) is not None
    assert VectorIndex.load(path, "other-model", 256, views=retrieve.VIEWS_VERSION) is None
    assert VectorIndex.load(path, "fake-hash", 384, views=retrieve.VIEWS_VERSION) is None
    other = KnowledgeIndex(fake_bot.store, FakeEmbedder(dim=128), path)
    other.embedder.name = "fake-hash-128"
    assert other.refresh()["added"] == 208
    header = json.loads(path.with_name(path.name + ".json").read_text())
    assert header == {
        "model": "fake-hash-128",
        "dim": 128,
        "ntotal": len(other.snapshot.vectors),
        "views": retrieve.VIEWS_VERSION,
    }


def test_faiss_keys_are_clause_ids(fake_bot):
    fake_bot.index.refresh()
    snap = fake_bot.index.snapshot
    assert snap.vectors.ids() == set(snap.clauses)
    views = sum(len(clause_views(c)) for c in snap.clauses.values())
    assert len(snap.vectors) == views


def test_search_rejects_empty_and_ranks_best_first(fake_bot):
    with pytest.raises(ValueError):
        fake_bot.index.search("   ")
    result = fake_bot.index.search("Never post pictures of service users or colleagues")
    scores = [h.score for h in result.hits]
    assert scores == sorted(scores, reverse=True)
    assert result.hits[0].clause.clause_id == "wfcs:018"


def test_near_duplicates_collapse_across_organisations(fake_bot):
    result = fake_bot.index.search("Put your name into an internet search engine to see what people can find out")
    answer = compose(result)
    texts = [q.text for q in answer.quotes]
    assert sum("Put your name into an" in t for t in texts) == 1
    quote = next(q for q in answer.quotes if "Put your name into an" in q.text)
    assert {quote.citation.organisation, *(c.organisation for c in quote.also)} >= {
        "Westmorland & Furness Care Services",
        "Cwm Taf Safeguarding Children Board / Safeguarding Adult Board",
    }


def test_lexicon_and_fts_query():
    assert expand_query("cn i add sum1 on fb").startswith("can i add someone on facebook")
    assert "people you work with" in rewrite_query("can I accept a colleague's friend request?")
    assert fts_query("Can I post pics?") == '"post" OR "pics"'
    assert fts_query("the and of") == ""


def test_fake_embedder_is_deterministic_and_normalised():
    a = FakeEmbedder().encode(["hello world", "hello world", ""])
    assert np.allclose(a[0], a[1]) and abs(np.linalg.norm(a[0]) - 1) < 1e-5
    assert not a[2].any()


def test_large_indexes_switch_to_ivf_and_keep_their_keys(unindexed_fake_bot, monkeypatch):
    fake_bot = unindexed_fake_bot
    monkeypatch.setattr(retrieve, "IVF_MIN_VECTORS", 300)
    fake_bot.index.refresh()
    vectors = fake_bot.index.snapshot.vectors
    assert vectors.is_ivf
    assert vectors.ids() == set(fake_bot.index.snapshot.clauses)
    result = fake_bot.index.search("Never post pictures of service users or colleagues")
    assert result.hits[0].clause.clause_id == "wfcs:018"
    # persisted as IVF and reloaded as IVF; removal still works
    loaded = VectorIndex.load(fake_bot.index.vector_path, "fake-hash", 256, views=retrieve.VIEWS_VERSION)
    assert loaded.is_ivf and len(loaded) == len(vectors)
    some = sorted(loaded.ids())[:5]
    assert loaded.remove(some) > 0 and not (loaded.ids() & set(some))


def test_common_keywords_are_dropped_on_large_collections(fake_bot, monkeypatch):
    store = fake_bot.store
    assert store.common_term_cap() == 500
    assert store.keyword_search('"service"', 5)
    monkeypatch.setattr(type(store), "common_term_cap", lambda self: 3)
    assert store.keyword_search('"service"', 5) == []  # in far more than 3 clauses
    assert store.keyword_search('"linkedin"', 5)  # rare: kept


def test_keyword_search_counts_terms_only_when_the_index_could_hold_a_common_one(fake_bot, monkeypatch):
    """Below the cap no term can be common: the same hits, without one count query per term."""
    store = fake_bot.store
    match = '"friend" OR "request" OR "service" OR "user" OR "facebook" OR "linkedin"'
    statements: list[str] = []
    store.db.conn.set_trace_callback(statements.append)
    fast = store.keyword_search(match, 20)
    counted_fast = sum("count(*)" in s for s in statements)
    monkeypatch.setattr(type(store), "_fts_size", lambda self: 10**9)  # as if huge: every term is counted
    statements.clear()
    slow = store.keyword_search(match, 20)
    store.db.conn.set_trace_callback(None)
    assert fast == slow and fast
    assert counted_fast == 0 and sum("count(*)" in s for s in statements) == 6
