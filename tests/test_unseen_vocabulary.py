"""Lexicon entries per question and the unseen-vocabulary evaluation (fake embedder; the real-model
figures are in test_retrieval.py)."""

import pytest

import index.lexicon as lexicon
from bot.evaluate import evaluate, evaluate_unseen_vocabulary
from index.lexicon import entries_used, expand_query, rewrite_query, without_entries


# ---- lexicon: entries_used / without_entries ----------------------------------------------
def test_entries_used_lists_the_words_and_phrases_that_fire():
    used = entries_used("Can I add the people I support and my boss's wife on fb?")
    assert {("phrase", "people i support"), ("word", "boss"), ("word", "wife"), ("word", "add")} <= used
    assert ("word", "facebook") in used  # "fb" is spelt out first, then "facebook" fires
    assert entries_used("the and of") == set()


def test_without_entries_hides_them_and_restores_the_tables():
    question = "can I accept a colleague's friend request?"
    assert "people you work with" in rewrite_query(question)
    before = (dict(lexicon.RELATED), dict(lexicon.PHRASES))
    with without_entries({("word", "colleague")}):
        assert "people you work with" not in rewrite_query(question)
        assert "people you work with" not in expand_query(question)
    assert (lexicon.RELATED, lexicon.PHRASES) == before
    with pytest.raises(RuntimeError):
        with without_entries({("phrase", "people i support")}):
            assert "people i support" not in lexicon.PHRASES
            raise RuntimeError("boom")
    assert (lexicon.RELATED, lexicon.PHRASES) == before


def test_unseen_vocabulary_evaluation_drops_only_rare_entries(fake_bot):
    questions = [
        {"id": "a", "q": "can my boss see my facebook", "gold": ["Check your security settings"]},
        {"id": "b", "q": "is my boss allowed to add me", "gold": ["not advisable to accept people you work with"]},
        {"id": "c", "q": "How many days of annual leave do I get?", "gold": []},
    ]
    seen = []
    real_search = fake_bot.index.search

    def spy(question, k=10):
        seen.append((question, "boss" in lexicon.RELATED, "add" in lexicon.RELATED))
        return real_search(question, k=k)

    fake_bot.index.search = spy
    report = evaluate_unseen_vocabulary(fake_bot.index, questions, max_questions=1)
    # "boss" fires on two questions: kept at max_questions=1; "add" fires on one: dropped for it
    assert seen[1] == ("is my boss allowed to add me", True, False)
    assert seen[0][1] and seen[0][2]
    assert report.n_in_scope == 2 and report.n_out_of_scope == 1
    seen.clear()
    evaluate_unseen_vocabulary(fake_bot.index, questions, max_questions=2)
    assert seen[0][1] is False and seen[1][1] is False  # now "boss" counts as written for them
    assert "boss" in lexicon.RELATED and "add" in lexicon.RELATED
    with pytest.raises(ValueError):
        evaluate_unseen_vocabulary(fake_bot.index, questions, max_questions=0)
    assert evaluate(fake_bot.index, questions).n_in_scope == 2
