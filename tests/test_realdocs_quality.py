"""Answer quality on three real policies nobody tuned for, added as a bare ``kb add`` (real model).

The files and questions are ``shared/realdocs`` and ``shared/eval/realdocs_questions.json`` beside the
repository (CI has them there). Floors are the figures in README "Evaluation" for the shipped settings.
"""

import pytest
from realdocs_support import DOCX, PDF, QUESTIONS, TXT, needs_realdocs

from bot.crossval import build_knowledge_base
from bot.evaluate import evaluate, load_questions

FILES = [PDF, DOCX, TXT]
pytestmark = [pytest.mark.model, needs_realdocs]


@pytest.fixture(scope="module")
def realdocs_bot(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("realdocs")
    return build_knowledge_base(FILES, data_dir=tmp / "data", cache_path=tmp / "cache.db")


def test_every_real_document_got_a_title_and_organisation(realdocs_bot):
    docs = [d for d in realdocs_bot.store.documents() if d["origin"] == "upload"]
    assert len(docs) == 3
    for d in docs:
        assert d["organisation"] != "Unspecified organisation" and d["title"].strip("=- ")


def test_quality_floors_on_the_real_documents(realdocs_bot):
    """Measured with the shipped adapter (which never saw these documents or questions): recall@3 0.583,
    MRR@10 0.522, 4 of 4 out of scope abstained, 1 of 24 in scope wrongly abstained (the plain model with
    its cross-validated settings: 0.542, 0.489, 4 of 4, 3 of 24; before cross-validation: 0.417, 0.318,
    4 of 4, 7 of 24)."""
    report = evaluate(realdocs_bot.index, load_questions(QUESTIONS))
    assert report.n_in_scope == 24 and report.n_out_of_scope == 4
    assert report.recall[3] >= 0.58, report.summary()
    assert report.mrr10 >= 0.52, report.summary()
    assert report.abstention_rate == 1.0, report.summary()
    assert report.false_abstention_rate <= 1 / 24, report.summary()


def test_the_colleague_question_still_quotes_cwm_taf_first_among_eight_documents(realdocs_bot):
    answer = realdocs_bot.ask("can I accept a colleague's friend request?", record_gap=False)
    assert answer.answered
    assert "not advisable to accept people you work with" in answer.quotes[0].text


# ---- whose policy applies: the acceptance checks of organisation-aware answers and comparisons ----------


def _run_cli(capsys, realdocs_bot, *argv):
    from adapters.cli import main

    code = main(["--data-dir", str(realdocs_bot.data_dir), *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_a_meadow_pathways_asker_gets_the_mpwec_policy_first_marked_as_theirs(realdocs_bot, capsys):
    import json

    code, out, _ = _run_cli(
        capsys,
        realdocs_bot,
        "ask",
        "--json",
        "--organisation",
        "Meadow Pathways",
        "who do I raise a whistleblowing concern with first?",
    )
    assert code == 0
    data = json.loads(out)
    first = data["quotes"][0]
    assert first["organisation"].startswith("Meadow Pathways Wellbeing and Education Cornwall")
    assert first["own_organisation"] is True and data["own_answered"] is True
    assert all(q["own_organisation"] is False for q in data["quotes"] if "Meadow" not in q["organisation"])
    code, out, _ = _run_cli(
        capsys, realdocs_bot, "ask", "--organisation", "mpwec", "who do I raise a whistleblowing concern with first?"
    )
    assert code == 0
    assert out.index("== Your organisation's policy (Meadow Pathways") < out.index("== Other organisations' guidance")


def test_an_unknown_organisation_lists_the_known_ones(realdocs_bot, capsys):
    code, out, err = _run_cli(capsys, realdocs_bot, "ask", "--organisation", "Nowhere Trust", "can I vape at work?")
    assert code == 2 and out == ""
    assert "No organisation matches 'Nowhere Trust'" in err and "Lexden Montessori" in err


def test_compare_friend_requests_from_service_users_across_at_least_four_organisations(realdocs_bot, capsys):
    import json

    from knowledge.stance import STANCES

    code, out, _ = _run_cli(capsys, realdocs_bot, "compare", "--json", "accepting friend requests from service users")
    assert code == 0
    data = json.loads(out)
    answering = [p for p in data["positions"] if p["quote"] is not None]
    assert len(answering) >= 4, data["summary"]
    clauses = {c.clause_id: c.text for c in realdocs_bot.index.snapshot.clauses.values()}
    for p in answering:
        assert p["quote"]["text"] == clauses[p["quote"]["clause_id"]]  # verbatim
        assert p["stance"] in STANCES
    assert len({p["organisation"] for p in data["positions"]}) == len(data["positions"]) == 8
