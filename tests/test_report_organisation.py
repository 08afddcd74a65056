"""The report flow and handler routing use the reporter's organisation where the directory gives one:
HR and the safeguarding lead of the reporter's own organisation, that organisation's policy clauses first,
escalation to that organisation's HR; everyone else is routed as before."""

from __future__ import annotations

import logging

import pytest
from test_report_support import WHAT, WHERE, make_service

from bot.directory import Directory, Person
from bot.messages import Inbound

#: two organisations, each with its own HR person and safeguarding lead (organisation A's listed first,
#: so "today's choice", the first with the role in file order, is always organisation A's)
DIRECTORY = """
[[person]]
id = "mgr_a"
name = "Mona Marsh"
organisation = "Medway Council"

[[person]]
id = "hr_a"
name = "Harriet Avery"
roles = ["hr"]
organisation = "Medway Council"

[[person]]
id = "lead_a"
name = "Leon Archer"
roles = ["safeguarding_lead"]
organisation = "Medway Council"

[[person]]
id = "hr_b"
name = "Hugo Blake"
roles = ["hr"]
organisation = "Cwm Taf"

[[person]]
id = "lead_b"
name = "Lena Bright"
roles = ["safeguarding_lead"]
organisation = "Cwm Taf"

[[person]]
id = "hr_free"
name = "Fran Free"
roles = ["hr"]

[[person]]
id = "rep_b"
name = "Rita Rowe"
organisation = ["Somewhere Else", "  CWM   taf "]

[[person]]
id = "rep_b_managed"
name = "Ravi Reed"
manager = "mgr_a"
organisation = "Cwm Taf"

[[person]]
id = "rep_none"
name = "Nora Nolan"

[[person]]
id = "rep_c"
name = "Colin Cole"
organisation = "Lexden Montessori"

[[person]]
id = "rep_hr_b"
name = "Holly Hart"
roles = ["hr"]
organisation = "Cwm Taf"
"""


@pytest.fixture
def two_orgs(tmp_path):
    path = tmp_path / "directory.toml"
    path.write_text(DIRECTORY, encoding="utf-8")
    return Directory.load(path)


@pytest.fixture
def svc(fake_bot, two_orgs, clock):
    """The real reporting service (SQLite cases db, fake-embedder knowledge base) on the two-organisation directory."""
    s = make_service(fake_bot.data_dir, store=fake_bot.store, clock=clock, directory=two_orgs)
    yield s
    s.close()


def say(svc, user, text):
    return svc.handle(Inbound(user_id=user, text=text, private=True))


def submit(svc, user, category):
    """Report in ``category`` (its number) taking the recommended handler; the handler notification's recipient."""
    out = []
    for answer in ["report", category, WHAT, "yesterday 3pm", WHERE, "1", "confidential", "submit"]:
        out = say(svc, user, answer)
    notes = [m.to_user for m in out if m.kind == "notification"]
    assert len(notes) == 1, [m.text for m in out]
    return notes[0]


# ---- directory look-ups ----------------------------------------------------------------------------
def test_directory_look_ups_prefer_the_same_organisation(two_orgs):
    d = two_orgs
    assert [p.user_id for p in d.hr_people()] == ["hr_a", "hr_b", "hr_free", "rep_hr_b"]
    assert [p.user_id for p in d.hr_people(organisations=("cwm  TAF",))] == ["hr_b", "rep_hr_b"]
    assert [p.user_id for p in d.hr_people(organisations=("Nowhere", "Medway Council"))] == ["hr_a"]
    # no one of that organisation: everyone with the role, as without organisations
    assert [p.user_id for p in d.hr_people(organisations=("Lexden Montessori",))] == [p.user_id for p in d.hr_people()]
    assert d.safeguarding_lead().user_id == "lead_a"
    assert d.safeguarding_lead(organisations=("Cwm Taf",)).user_id == "lead_b"
    assert d.safeguarding_lead(organisations=("Lexden Montessori",)).user_id == "lead_a"
    assert d.safeguarding_lead(organisations=()).user_id == "lead_a"


# ---- handler choice --------------------------------------------------------------------------------
def test_reporter_of_organisation_b_gets_b_s_safeguarding_lead(svc):
    assert svc.flow.resolve_role("safeguarding_lead", "rep_b") == ("lead_b", "safeguarding_lead")
    assert submit(svc, "rep_b", "6") == "lead_b"


def test_reporter_of_organisation_b_without_a_manager_gets_b_s_hr(svc):
    assert svc.flow.resolve_role("manager", "rep_b") == ("hr_b", "hr")
    assert submit(svc, "rep_b", "2") == "hr_b"


def test_the_manager_route_is_unchanged_and_the_hr_alternative_is_b_s(svc):
    say(svc, "rep_b_managed", "report")
    for answer in ["2", WHAT, "yesterday 3pm"]:
        say(svc, "rep_b_managed", answer)
    out = say(svc, "rep_b_managed", WHERE)
    labels = [c.label for c in out[-1].choices]
    assert labels[:2] == ["Your manager, Mona Marsh (recommended)", "HR (Hugo Blake)"]


def test_an_hr_reporter_is_not_their_own_handler(svc):
    # rep_hr_b is HR of Cwm Taf: the other Cwm Taf HR person, not themselves
    assert svc.flow.resolve_role("hr", "rep_hr_b") == ("hr_b", "hr")
    assert svc.flow.resolve_role("hr", "hr_b") == ("rep_hr_b", "hr")


@pytest.mark.parametrize("reporter", ["rep_none", "rep_c"])
def test_reporter_without_organisation_or_of_one_without_hr_gets_today_s_choice(svc, reporter):
    assert svc.flow.resolve_role("manager", reporter) == ("hr_a", "hr")
    assert svc.flow.resolve_role("safeguarding_lead", reporter) == ("lead_a", "safeguarding_lead")
    assert submit(svc, reporter, "6") == "lead_a"


def test_escalation_goes_to_the_reporter_s_organisation_s_hr(svc, clock):
    assert submit(svc, "rep_b_managed", "2") == "mgr_a"
    clock.advance(days=8)
    out = svc.tick()
    escalations = {m.to_user for m in out if m.event == "escalation"}
    assert escalations == {"hr_b", "rep_hr_b", "mgr_a", "rep_b_managed"}  # B's HR, the handler, the reporter


def test_escalation_without_organisation_goes_to_all_hr(svc, clock):
    assert submit(svc, "rep_none", "6") == "lead_a"
    clock.advance(days=8)
    escalations = {m.to_user for m in svc.tick() if m.event == "escalation"}
    assert escalations == {"hr_a", "hr_b", "hr_free", "rep_hr_b", "lead_a", "rep_none"}


def test_escalation_skips_the_reporter_even_as_their_organisation_s_only_hr(svc):
    assert [p.user_id for p in svc._escalation_hr("rep_hr_b")] == ["hr_b"]
    lone = Directory([Person("solo", "Sol Solo", roles=("hr",), organisations=("Lexden",)), *svc.directory.people()])
    svc.directory = lone
    assert [p.user_id for p in svc._escalation_hr("solo")] == ["hr_a", "hr_b", "hr_free", "rep_hr_b"]


# ---- policy quotes ---------------------------------------------------------------------------------
def orgs_of(out):
    return [q.citation.organisation for m in out for q in m.quotes]


def test_the_reporter_s_organisation_s_clauses_come_first(svc):
    say(svc, "rep_none", "report")
    today = orgs_of(say(svc, "rep_none", "1"))  # bullying: Forest Federation, then Cwm Taf
    assert today[0].startswith("The Forest Federation") and today[-1].startswith("Cwm Taf")
    say(svc, "rep_b", "report")
    own_first = orgs_of(say(svc, "rep_b", "1"))
    assert sorted(own_first) == sorted(today)
    assert own_first[0].startswith("Cwm Taf") and own_first[-1].startswith("The Forest Federation")


def test_quotes_of_a_single_organisation_are_unchanged(svc):
    for user in ("rep_none", "rep_b"):
        for answer in ["report", "1", WHAT]:
            say(svc, user, answer)
    evidence = {user: say(svc, user, "yesterday") for user in ("rep_none", "rep_b")}
    assert [q.text for m in evidence["rep_b"] for q in m.quotes] == [
        q.text for m in evidence["rep_none"] for q in m.quotes
    ]
    assert any(m.quotes for m in evidence["rep_b"])


def test_nothing_about_the_reporter_or_organisation_is_logged(svc, caplog):
    caplog.set_level(logging.DEBUG)
    submit(svc, "rep_b", "1")
    logged = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for secret in ("rep_b", "Rita", "Cwm Taf", "CWM", "Quimby", "hr_b", "Hugo"):
        assert secret not in logged


def test_quotes_follow_the_order_of_the_reporter_s_organisations(fake_bot):
    from test_report_support import ROUTING

    from bot.reporting.routing import PolicyQuotes, RoutingConfig

    refs = RoutingConfig.load(ROUTING).category("bullying").route.quotes
    pq = PolicyQuotes(fake_bot.store)
    configured = [q.citation.organisation for q in pq.quotes(refs)]
    assert configured[0].startswith("The Forest") and configured[-1].startswith("Cwm Taf")
    # short forms: a document id, a whole-word part of the organisation; a name matching nothing is ignored
    for names in (["cwm-taf"], ["Nowhere", "cwm taf", "Forest Federation"], ["Safeguarding Adult Board"]):
        assert [q.citation.organisation for q in pq.quotes(refs, names)] == configured[::-1], names
    assert [q.citation.organisation for q in pq.quotes(refs, ["Forest Federation", "Cwm Taf"])] == configured
    assert [q.citation.organisation for q in pq.quotes(refs, ["Forest"])] == configured
    assert [q.citation.organisation for q in pq.quotes(refs, ["Nowhere", " "])] == configured
