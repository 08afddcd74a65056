"""Organisation-aware answers and comparisons on the bundled policies (fake embedder, real SQLite and FAISS).

The five bundled policies come from five organisations; an asker of one of them gets their own
organisation's clauses first, marked as theirs, and the others under their own heading.
"""

from __future__ import annotations

import json

import pytest

from adapters.console import render
from bot.answer import OTHERS_HEADING, OWN_HEADING
from bot.engine import ConversationEngine, answer_message
from bot.messages import Action, Inbound
from bot.organisations import UnknownOrganisation
from bot.views import quote_sections

WFCS = "Westmorland & Furness Care Services"
QUESTION = "can I accept a friend request from a service user on facebook?"


def test_without_an_organisation_the_answer_is_as_before(fake_bot):
    plain = fake_bot.ask(QUESTION, record_gap=False)
    again = fake_bot.ask(QUESTION, record_gap=False, organisations=())
    assert [q.clause_id for q in plain.quotes] == [q.clause_id for q in again.quotes]
    assert again.organisations == () and again.own_answered is None
    assert all(q.own is None for q in again.quotes)
    assert [s.heading for s in quote_sections(answer_message(again))] == [None]


def test_the_askers_own_policy_comes_first_and_is_marked(fake_bot):
    answer = fake_bot.ask(QUESTION, record_gap=False, organisations=["wfcs"])
    assert answer.answered and answer.own_answered
    assert answer.organisations == (WFCS,)
    own = [q for q in answer.quotes if q.own]
    others = [q for q in answer.quotes if q.own is False]
    assert own and others
    assert answer.quotes[: len(own)] == own  # own first
    assert {q.citation.organisation for q in own} == {WFCS}
    assert WFCS not in {q.citation.organisation for q in others}
    msg = answer_message(answer)
    assert msg.text.startswith(f"Here is what your organisation's policy says ({WFCS})")
    sections = quote_sections(msg)
    assert [s.heading for s in sections] == [f"{OWN_HEADING} ({WFCS})", OTHERS_HEADING]
    text = render(msg)
    assert text.index(OWN_HEADING) < text.index(OTHERS_HEADING)
    data = answer.to_json()
    assert [q["own_organisation"] for q in data["quotes"]] == [True] * len(own) + [False] * len(others)
    assert data["organisations"] == [WFCS] and data["own_answered"] is True


def test_an_own_clause_far_below_the_best_is_not_passed_off_as_an_answer(fake_bot):
    """Medway's best clause for this question scores more than ``RELATIVE_CUTOFF`` below the best one (fake
    embedder): its policy is reported silent rather than quoted as if it answered."""
    answer = fake_bot.ask(QUESTION, record_gap=False, organisations=["Medway"])
    assert answer.answered and answer.own_answered is False
    assert answer.quotes and all(q.own is False for q in answer.quotes)
    assert answer_message(answer).text.startswith("Medway Council's policies don't cover this.")


def test_other_organisations_can_be_hidden(fake_bot):
    answer = fake_bot.ask(QUESTION, record_gap=False, organisations=["Westmorland & Furness"], others="hide")
    assert answer.quotes and all(q.own for q in answer.quotes)


def test_when_the_own_policy_is_silent_the_answer_says_so_before_quoting_others(fake_bot, tmp_path):
    path = tmp_path / "parking.md"
    path.write_text(
        "# Car Parking Policy\n\nNorthbrook Parish Council\n\n## Permits\n\n"
        "1. Staff must display a valid parking permit on the dashboard at all times.\n",
        encoding="utf-8",
    )
    admin = fake_bot.kb_admin()
    admin.commit(admin.preview_file(path, organisation="Northbrook Parish Council", title="Car Parking Policy"))
    answer = fake_bot.ask(QUESTION, record_gap=False, organisations=["Northbrook Parish Council"])
    assert answer.answered and answer.own_answered is False
    assert answer.quotes and all(q.own is False for q in answer.quotes)
    msg = answer_message(answer)
    assert msg.text.startswith("Northbrook Parish Council's policies don't cover this.")
    assert [s.heading for s in quote_sections(msg)] == [OTHERS_HEADING]
    hidden = fake_bot.ask(QUESTION, record_gap=False, organisations=["Northbrook Parish Council"], others="hide")
    assert not hidden.answered
    assert answer_message(hidden).text.startswith("I couldn't find anything in Northbrook Parish Council's policies")


def test_an_unknown_organisation_is_a_clear_error_only_when_strict(fake_bot):
    with pytest.raises(UnknownOrganisation) as caught:
        fake_bot.ask(QUESTION, record_gap=False, organisations=["Nowhere Trust"], strict=True)
    assert "Known organisations:" in str(caught.value) and "Medway Council" in str(caught.value)
    lenient = fake_bot.ask(QUESTION, record_gap=False, organisations=["Nowhere Trust"])
    assert lenient.organisations == ("Nowhere Trust",) and lenient.own_answered is False


def _engine(fake_bot, tmp_path, organisation=None):
    from bot.directory import Directory

    body = '[[person]]\nid = "olu"\nname = "Olu Okafor"\n'
    if organisation:
        body += f'organisation = "{organisation}"\n'
    path = tmp_path / "directory.toml"
    path.write_text(body, encoding="utf-8")
    return ConversationEngine(fake_bot, reporting=False, directory=Directory.load(path))


def test_the_engine_answers_a_person_from_their_directory_organisation(fake_bot, tmp_path):
    engine = _engine(fake_bot, tmp_path, "Westmorland & Furness Care Services")
    [msg] = engine.handle(Inbound(user_id="olu", text=QUESTION))
    assert msg.kind == "answer" and msg.organisations == ("Westmorland & Furness Care Services",)
    assert msg.quotes[0].own and msg.quotes[0].citation.organisation == "Westmorland & Furness Care Services"
    labels = [c.label for c in msg.choices]
    assert "Compare policies" in labels
    assert "compare" in msg.keep_choices  # pressing it leaves the answer's other buttons in place


def test_compare_in_chat_and_from_the_button(fake_bot, tmp_path):
    engine = _engine(fake_bot, tmp_path, "wfcs")
    [msg] = engine.handle(Inbound(user_id="olu", text="Compare policies on: friend requests from service users"))
    assert msg.kind == "comparison" and msg.comparison is not None
    assert msg.comparison.topic == "friend requests from service users"
    assert msg.text == msg.comparison.summary
    orgs = [p.organisation for p in msg.comparison.positions]
    assert len(orgs) == 5 and len(set(orgs)) == 5
    assert msg.comparison.positions[0].own and msg.comparison.positions[0].organisation == WFCS
    [pressed] = engine.handle(
        Inbound(
            user_id="olu",
            text="",
            source="action",
            action=Action("compare", "friend requests from service users"),
        )
    )
    assert pressed.kind == "comparison"
    assert [p.organisation for p in pressed.comparison.positions] == orgs
    [helpme] = engine.handle(Inbound(user_id="olu", text="compare"))
    assert helpme.kind == "text" and "Tell me what to compare" in helpme.text


def test_a_comparison_quotes_every_clause_verbatim(fake_bot):
    from bot.compare import compare
    from knowledge.stance import SAYS_NOTHING, STANCES

    result = compare(fake_bot.index, "accepting friend requests from service users")
    clauses = {c.clause_id: c for c in fake_bot.index.snapshot.clauses.values()}
    for p in result.positions:
        if p.quote is None:
            assert p.stance == SAYS_NOTHING
            continue
        assert p.stance in STANCES
        assert p.quote.text == clauses[p.quote.clause_id].text
        assert p.quote.citation.organisation == p.organisation
    data = json.loads(json.dumps(result.to_json()))
    assert data["topic"] == "accepting friend requests from service users"
    assert len(data["positions"]) == 5
    text = render(answer_message_for(result))
    for p in result.positions:
        assert p.organisation in text and p.stance in text


def answer_message_for(comparison):
    from bot.messages import Outbound

    return Outbound(kind="comparison", text=comparison.summary, comparison=comparison)


def test_ranking_within_documents_scores_every_clause_of_them(fake_bot):
    from index.retrieve import params_for

    index = fake_bot.index
    params = params_for(index.embedder.name)
    medway = {"medway"}
    plain = index.features(QUESTION, plain_keywords=True)
    wide = index.features(QUESTION, plain_keywords=True, docs=medway)
    medway_ids = {cid for cid, c in index.snapshot.clauses.items() if c.doc_id == "medway"}
    assert not medway_ids <= set(plain.typed)  # not every Medway clause is a candidate by itself
    assert medway_ids <= set(wide.typed)
    only = index.rank(wide, params, k=100, docs=medway)
    assert only.hits and {h.clause.doc_id for h in only.hits} == {"medway"}
    assert len(only.hits) == len(medway_ids)


def test_split_by_documents_keeps_one_ranking_and_the_answer_cutoff(fake_bot):
    from bot.answer import RELATIVE_CUTOFF, split_by_documents
    from index.retrieve import params_for

    index = fake_bot.index
    params = params_for(index.embedder.name)
    docs = {"wfcs"}
    ranked = index.rank(index.features(QUESTION, plain_keywords=True, docs=docs), params, k=10_000)
    inside, outside = split_by_documents(ranked, docs)
    assert [h.clause.id for h in inside.hits + outside.hits] != []
    assert sorted(h.clause.id for h in inside.hits + outside.hits) == sorted(h.clause.id for h in ranked.hits)
    assert all(h.clause.doc_id == "wfcs" for h in inside.hits)
    assert inside.answerable == (ranked.answerable and inside.hits[0].score >= ranked.hits[0].score - RELATIVE_CUTOFF)
    strict, _ = split_by_documents(ranked, docs, cutoff=-1.0)  # nothing can be within a negative margin
    assert not strict.answerable
    refused = type(ranked)(ranked.question, ranked.hits, False, ranked.best_cosine)
    assert not any(part.answerable for part in split_by_documents(refused, docs))


def test_the_compare_command_prints_json_and_refuses_bad_input(fake_bot, monkeypatch, capsys):
    from adapters.cli import main

    monkeypatch.setenv("POLICYBOT_FAKE_EMBEDDER", "1")
    base = ["--data-dir", str(fake_bot.data_dir), "compare"]
    assert main([*base, "--json", "--organisation", "wfcs", "friend request from a service user on facebook"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["positions"]) == 5 and data["positions"][0]["organisation"] == WFCS
    assert data["positions"][0]["own_organisation"] is True
    assert main([*base, "   "]) == 2
    assert "Please type a question" in capsys.readouterr().err
    assert main([*base, "--organisation", "Nowhere Trust", "friend requests"]) == 2
    assert "No organisation matches 'Nowhere Trust'" in capsys.readouterr().err


def test_the_snapshot_maps_documents_and_organisations_once(fake_bot):
    snap = fake_bot.index.snapshot
    assert snap.organisations["Medway Council"] == {"medway"}
    assert len(snap.organisations) == 5
    medway = snap.clause_ids_of(["medway"])
    assert medway == {cid for cid, c in snap.clauses.items() if c.doc_id == "medway"} and medway
    assert snap.clause_ids_of(["no-such-document"]) == set()
    assert fake_bot.organisations() is snap.organisations  # derived once per snapshot, not per question
