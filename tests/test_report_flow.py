"""The guided report flow through the core API: state machine, every step's validation, routing
and guidance quotes, editing, cancel, expiry, crash-resume and the entry points."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from test_report_support import (
    FLOW,  # noqa: F401 (clock: fixture)
    WHAT,
    WHERE,
    FakeClock,
    last_prompt,
    make_engine,
    make_service,
    press,
    receipt_in,
    say,
    step_of,
)

from bot.messages import Inbound
from bot.reporting.flow import (
    EDITABLE,
    MAX_WHAT_CHARS,
    MAX_WHERE_CHARS,
    TERMINAL,
    TRANSITIONS,
    Draft,
    IllegalTransition,
)
from bot.reporting.flow import Step as S


@pytest.fixture
def engine(fake_bot):
    return make_engine(fake_bot)


def draft_of(engine, user="alice"):
    return engine.reporting.cases.load_draft(user)


def complete_draft(step=S.REVIEW, editing=False) -> Draft:
    return Draft(
        reporter_id="alice",
        step=step,
        category="bullying",
        what="x",
        when=None,
        when_text="not sure",
        where="none",
        handler_id="bob",
        handler_role="manager",
        identity="named",
        route_key="bullying",
        editing=editing,
    )


# ---- the state machine -------------------------------------------------------------------------
EDIT_ONLY = {
    (S.CATEGORY, S.REVIEW),
    (S.CATEGORY, S.HANDLER),
    (S.WHAT, S.REVIEW),
    (S.WHAT, S.HANDLER),
    (S.WHEN, S.REVIEW),
    (S.WHERE, S.REVIEW),
    (S.HANDLER, S.REVIEW),
    (S.HANDLER_NAME, S.REVIEW),
}


@pytest.mark.parametrize("src,dst", list(itertools.product(list(S), list(S))))
@pytest.mark.parametrize("editing", [False, True])
def test_every_transition_legal_or_illegal(src, dst, editing):
    d = complete_draft(src, editing)
    if src in TERMINAL:
        expected = False
    elif dst in (S.CANCELLED, S.EXPIRED):
        expected = True
    elif dst not in TRANSITIONS[src]:
        expected = False
    else:
        expected = editing or (src, dst) not in EDIT_ONLY
    assert d.can_move(dst) is expected
    if expected:
        d.move(dst)
        assert d.step == dst
        if dst == S.REVIEW:
            assert d.editing is False
    else:
        with pytest.raises(IllegalTransition) as exc:
            d.move(dst)
        assert str(exc.value) == f"cannot go from {src.value} to {dst.value}"
        assert d.step == src


@pytest.mark.parametrize(
    "step,nxt",
    [
        (S.CATEGORY, S.WHAT),
        (S.WHAT, S.WHEN),
        (S.WHEN, S.WHERE),
        (S.WHERE, S.HANDLER),
        (S.HANDLER, S.IDENTITY),
        (S.IDENTITY, S.REVIEW),
    ],
)
def test_a_step_cannot_be_left_unanswered(step, nxt):
    d = Draft(reporter_id="alice", step=step)
    with pytest.raises(IllegalTransition):
        d.move(nxt)


def test_review_and_submit_need_a_complete_draft():
    d = complete_draft(S.IDENTITY)
    d.where = None
    with pytest.raises(IllegalTransition):
        d.move(S.REVIEW)
    d = complete_draft(S.REVIEW)
    d.what = ""
    with pytest.raises(IllegalTransition):
        d.move(S.SUBMITTED)


def test_draft_round_trips_through_a_dict():
    d = complete_draft(S.WHERE, editing=True)
    assert Draft.from_dict(d.to_dict()) == d


# ---- the whole flow through the core API --------------------------------------------------------
def test_whole_flow_through_the_core_api(engine):
    steps = []
    outs = []
    for answer in FLOW:
        out = say(engine, "alice", answer)
        outs.append(out)
        d = draft_of(engine)
        steps.append(d.step.value if d else None)
    assert steps == ["category", "what", "when", "where", "handler", "identity", "review", None]
    assert [step_of(o) for o in outs[:-1]] == ["category", "what", "when", "where", "handler", "identity", "review"]
    receipt = receipt_in(outs[-1])
    note = [m for m in outs[-1] if m.kind == "notification"]
    assert len(note) == 1 and note[0].to_user == "bob"
    assert [c.action_id for c in note[0].choices] == ["case:ack", "case:ask", "case:close"]
    assert {c.value for c in note[0].choices} == {"C-00001"}
    assert WHAT in note[0].text and "confidential" in note[0].text and "Alice" not in note[0].text
    case = engine.reporting.cases.case_by_receipt(receipt.removeprefix("R-").replace("-", ""))
    assert case.content["when"] == "2025-03-11T15:00:00+00:00"
    assert case.content["what"] == WHAT and case.content["where"] == WHERE
    assert case.handler_id == "bob" and case.reporter_id == "alice" and case.content["identity"] == "confidential"


def test_buttons_work_as_well_as_typing(engine):
    press(engine, "alice", "report:start", "service_user_contact")
    out = press(engine, "alice", "report:category", "service_user_contact")
    assert step_of(out) == "what"
    say(engine, "alice", WHAT)
    out = press(engine, "alice", "report:when", "unknown")
    assert step_of(out) == "where"
    say(engine, "alice", WHERE)
    out = press(engine, "alice", "report:handler", "hr")
    assert step_of(out) == "identity"
    out = press(engine, "alice", "report:identity", "named")
    assert step_of(out) == "review"
    assert "When: not known" in last_prompt(out).text and "Handled by: Hana Hughes (HR)" in last_prompt(out).text
    out = press(engine, "alice", "report:submit")
    receipt_in(out)
    assert [m.to_user for m in out if m.kind == "notification"] == ["hana"]


def test_category_accepts_number_label_and_key(engine):
    for typed in ("2", "contact or a friend request from a service user or their family", "service_user_contact"):
        say(engine, "alice", "report")
        out = say(engine, "alice", typed)
        assert draft_of(engine).category == "service_user_contact", typed
        assert step_of(out) == "what"
        say(engine, "alice", "cancel")


def test_unknown_category_is_refused_and_draft_unchanged(engine):
    say(engine, "alice", "report")
    out = say(engine, "alice", "purple elephants")
    assert "pick one of the options" in last_prompt(out).text
    assert draft_of(engine).step == S.CATEGORY and draft_of(engine).category is None
    out = say(engine, "alice", "99")
    assert draft_of(engine).category is None


def test_a_button_from_another_step_is_refused(engine):
    say(engine, "alice", "report")
    say(engine, "alice", "2")
    before = draft_of(engine)
    out = press(engine, "alice", "report:category", "bullying")
    assert "belongs to another step" in last_prompt(out).text
    assert draft_of(engine) == before
    out = press(engine, "alice", "report:submit")
    assert draft_of(engine) == before and step_of(out) == "what"


def test_what_happened_limits(engine):
    say(engine, "alice", "report")
    say(engine, "alice", "1")
    before = draft_of(engine)
    out = say(engine, "alice", "x" * (MAX_WHAT_CHARS + 1))
    assert "4,001 characters" in last_prompt(out).text and "under 4,000" in last_prompt(out).text
    assert draft_of(engine) == before
    out = say(engine, "alice", "   ")
    assert draft_of(engine) == before
    out = say(engine, "alice", "bad\x00byte")
    assert draft_of(engine) == before
    out = say(engine, "alice", "y" * MAX_WHAT_CHARS)
    assert draft_of(engine).what == "y" * MAX_WHAT_CHARS and step_of(out) == "when"
    assert "4,000 characters" in [m for m in report_prompt(engine, S.WHAT)][-1].text


def report_prompt(engine, step):
    d = draft_of(engine)
    d.step = step
    return engine.reporting.flow.prompt(d)


def test_links_limit(engine):
    for a in ["report", "1", WHAT, "not sure"]:
        say(engine, "alice", a)
    before = draft_of(engine)
    out = say(engine, "alice", "h" * (MAX_WHERE_CHARS + 1))
    assert "under 2,000" in last_prompt(out).text
    assert draft_of(engine) == before
    out = say(engine, "alice", "w" * MAX_WHERE_CHARS)
    assert step_of(out) == "handler"


@pytest.mark.parametrize(
    "typed,iso",
    [
        ("yesterday 3pm", "2025-03-11T15:00:00+00:00"),
        ("2 days ago", "2025-03-10T10:00:00+00:00"),
        ("11/03/2025 09:30", "2025-03-11T09:30:00+00:00"),
        ("this morning", None),  # any reading is fine, as long as it is today and not in the future
    ],
)
def test_when_reads_natural_forms_against_the_injected_now(engine, typed, iso):
    for a in ["report", "1", WHAT]:
        say(engine, "alice", a)
    out = say(engine, "alice", typed)
    d = draft_of(engine)
    assert step_of(out) == "where" and d.when_text == typed
    when = datetime.fromisoformat(d.when)
    if iso:
        assert d.when == iso
    assert when <= datetime(2025, 3, 12, 10, 0, tzinfo=UTC)


def test_when_summer_time_uses_the_configured_zone(fake_bot):
    clock = FakeClock(datetime(2025, 7, 2, 9, 0, tzinfo=UTC))  # 10:00 in London (BST)
    engine = make_engine(fake_bot, clock=clock)
    for a in ["report", "1", WHAT, "yesterday 3pm"]:
        say(engine, "alice", a)
    assert draft_of(engine).when == "2025-07-01T15:00:00+01:00"


@pytest.mark.parametrize("typed,needle", [("banana split", "couldn't read"), ("tomorrow at noon", "future")])
def test_when_refuses_unreadable_or_future(engine, typed, needle):
    for a in ["report", "1", WHAT]:
        say(engine, "alice", a)
    before = draft_of(engine)
    out = say(engine, "alice", typed)
    assert needle in last_prompt(out).text
    assert draft_of(engine) == before


def test_when_not_sure(engine):
    for a in ["report", "1", WHAT, "Not sure"]:
        say(engine, "alice", a)
    d = draft_of(engine)
    assert d.when is None and d.when_text == "not sure" and d.step == S.WHERE


# ---- guidance quotes and routing -----------------------------------------------------------------
def live_texts(bot):
    return {c.text for c in bot.store.live_clauses().values()}


def test_evidence_guidance_is_quoted_verbatim_from_the_store(engine, fake_bot):
    for a in ["report", "1", WHAT]:
        say(engine, "alice", a)
    out = say(engine, "alice", "yesterday")
    quotes = [q for m in out for q in m.quotes]
    texts = [q.text for q in quotes]
    assert "logging any incidents" in texts
    assert (
        "noting the dates, times and content of messages and, where possible, the sender’s identity or web address."
    ) in texts
    assert any(
        t.startswith("Taking an accurate copy of the whole web page address")
        and "Saving evidence of texts and images on the device itself is useful. It is important they are not deleted."
        in t
        for t in texts
    )
    assert set(texts) <= live_texts(fake_bot)
    assert all(q.citation.organisation.startswith("The Forest Federation") for q in quotes)
    assert all(q.citation.section == "5. What action you can take" for q in quotes)


LADO = (
    "Some cases may raise allegations against staff and in such cases, immediate referral should be made via "
    "the First Response Team to one of the Local Authority Designated Officers (LADO) who will provide initial "
    "advice and guidance."
)


def test_safeguarding_concern_quotes_lado_and_goes_to_the_safeguarding_lead(engine):
    say(engine, "alice", "report")
    out = say(engine, "alice", "6")
    assert LADO in [q.text for m in out for q in m.quotes]
    for a in [WHAT, "yesterday", WHERE]:
        out = say(engine, "alice", a)
    choices = last_prompt(out).choices
    assert [c.value for c in choices] == ["safeguarding_lead", ""]  # the lead, then cancel: no other handler
    out = say(engine, "alice", "hr")
    assert draft_of(engine).handler_id is None
    out = say(engine, "alice", "1")
    assert draft_of(engine).handler_id == "sam"
    for a in ["named", "submit"]:
        out = say(engine, "alice", a)
    assert [m.to_user for m in out if m.kind == "notification"] == ["sam"]


def test_allegation_against_staff_involving_children_is_rerouted(engine):
    for a in ["report", "5", "A colleague posted photos of the children in her class on Instagram.", "yesterday"]:
        say(engine, "alice", a)
    out = say(engine, "alice", "Instagram")
    assert LADO in [q.text for m in out for q in m.quotes]
    assert "safeguarding lead" in " ".join(m.text for m in out)
    assert [c.value for c in last_prompt(out).choices] == ["safeguarding_lead", ""]


def test_press_contact_quotes_cwm_taf_with_its_lead_in(engine):
    say(engine, "alice", "report")
    out = say(engine, "alice", "4")
    q = [q for m in out for q in m.quotes]
    assert q[0].text.startswith(
        "If they receive press or media contact regarding the content of their personal web page"
    )
    assert q[0].lead_in == "Employees should notify their manager:"
    assert q[0].citation.organisation.startswith("Cwm Taf")
    for a in [WHAT, "yesterday", WHERE]:
        out = say(engine, "alice", a)
    assert last_prompt(out).choices[0].value == "manager" and "Bob Baker" in last_prompt(out).choices[0].label


def test_bullying_points_to_the_harassment_and_bullying_route(engine):
    say(engine, "alice", "report")
    out = say(engine, "alice", "1")
    texts = [q.text for m in out for q in m.quotes]
    assert any("Harassment and Bullying policy" in t for t in texts)
    forest = [q for m in out for q in m.quotes if q.citation.organisation.startswith("The Forest Federation")]
    assert forest[0].citation.section == "5. What action you can take"


def test_reporter_can_choose_hr_or_someone_else_when_it_involves_the_manager(engine):
    for a in ["report", "1", "My manager keeps posting mocking memes about me.", "last week", "WhatsApp group"]:
        out = say(engine, "alice", a)
    labels = [c.label for c in last_prompt(out).choices]
    assert labels[:3] == ["Your manager, Bob Baker (recommended)", "HR (Hana Hughes)", "Someone else (type their name)"]
    out = say(engine, "alice", "3")
    assert step_of(out) == "handler_name"
    out = say(engine, "alice", "Nobody Known")
    assert "can't find" in last_prompt(out).text and draft_of(engine).step == S.HANDLER_NAME
    out = say(engine, "alice", "alice")  # not yourself
    assert draft_of(engine).handler_id is None
    out = say(engine, "alice", "back")
    assert step_of(out) == "handler"
    say(engine, "alice", "3")
    out = say(engine, "alice", "Carol Clarke")
    d = draft_of(engine)
    assert d.handler_id == "carol" and d.handler_role == "named" and step_of(out) == "identity"


def test_reporter_without_a_manager_is_offered_hr_first(engine):
    for a in ["report", "1", WHAT, "yesterday", WHERE]:
        out = say(engine, "carol", a)
    assert last_prompt(out).choices[0].value == "hr"


# ---- review and editing --------------------------------------------------------------------------
def to_review(engine, user="alice"):
    for a in FLOW[:-1]:
        out = say(engine, user, a)
    return out


def test_only_the_review_asks_channels_for_a_modal_with_its_title(engine):
    """Slack opens a modal and Teams heads the card from these flags; neither reads the flow's step names."""
    from bot.reporting.flow import REVIEW_TITLE

    prompts = [last_prompt(say(engine, "alice", a)) for a in FLOW[:-1]]
    assert [(p.step, p.modal, p.title) for p in prompts][-1] == ("review", True, REVIEW_TITLE)
    assert not any(p.modal or p.title for p in prompts[:-1])
    assert len(REVIEW_TITLE) <= 24  # a Slack modal title


def test_review_summary_and_each_answer_editable(engine):
    out = to_review(engine)
    text = last_prompt(out).text
    assert "Category: Contact or a friend request" in text and WHAT in text and WHERE in text
    assert "Tue 11 Mar 2025, 15:00 (you wrote: yesterday 3pm)" in text
    assert "Handled by: Bob Baker (your manager)" in text and "Identity: confidential" in text
    assert [c.value for c in last_prompt(out).choices if c.action_id == "report:edit"] == [s.value for s in EDITABLE]
    edits = {
        S.WHAT: ("Edited description of the events.", lambda d: d.what == "Edited description of the events."),
        S.WHEN: ("2 days ago", lambda d: d.when == "2025-03-10T10:00:00+00:00"),
        S.WHERE: ("Text message", lambda d: d.where == "Text message"),
        S.HANDLER: ("2", lambda d: d.handler_id == "hana"),
        S.IDENTITY: ("named", lambda d: d.identity == "named"),
        S.CATEGORY: ("1", lambda d: d.category == "bullying"),
    }
    for step, (answer, check) in edits.items():
        out = press(engine, "alice", "report:edit", step.value)
        assert step_of(out) == step.value and "Current answer:" in last_prompt(out).text
        assert draft_of(engine).editing
        out = say(engine, "alice", answer)
        d = draft_of(engine)
        assert d.step == S.REVIEW and not d.editing and check(d), step
    out = say(engine, "alice", "submit")
    receipt_in(out)


def test_typed_edit_commands(engine):
    to_review(engine)
    out = say(engine, "alice", "edit 2")
    assert step_of(out) == "what"
    say(engine, "alice", "Changed text.")
    assert draft_of(engine).step == S.REVIEW
    out = say(engine, "alice", "what now?")
    assert "submit" in last_prompt(out).text and draft_of(engine).step == S.REVIEW


def test_editing_the_category_to_safeguarding_re_asks_the_handler(engine):
    to_review(engine)
    press(engine, "alice", "report:edit", "category")
    out = say(engine, "alice", "6")
    assert step_of(out) == "handler" and draft_of(engine).editing
    assert "choose again" in " ".join(m.text for m in out)
    out = say(engine, "alice", "1")
    d = draft_of(engine)
    assert d.handler_id == "sam" and d.step == S.REVIEW


# ---- cancel, expiry, resume ----------------------------------------------------------------------
@pytest.mark.parametrize("at", range(1, 8))
def test_cancel_at_any_step_deletes_the_draft(engine, at):
    for a in FLOW[:at]:
        say(engine, "alice", a)
    assert draft_of(engine) is not None
    out = say(engine, "alice", "cancel") if at % 2 else press(engine, "alice", "report:cancel")
    assert "cancelled" in out[0].text.lower()
    assert draft_of(engine) is None
    assert engine.reporting.cases.query("SELECT count(*) AS n FROM drafts")[0]["n"] == 0
    assert engine.reporting.cases.query("SELECT count(*) AS n FROM cases")[0]["n"] == 0


def test_idle_draft_expires_and_reporter_is_told(fake_bot, clock):
    engine = make_engine(fake_bot, clock=clock)
    for a in FLOW[:3]:
        say(engine, "alice", a)
    clock.advance(hours=23, minutes=59)
    out = say(engine, "alice", "yesterday")
    assert step_of(out) == "where"
    clock.advance(hours=24, minutes=1)
    out = say(engine, "alice", "Facebook")
    assert "deleted" in out[0].text and "24 hours" in out[0].text
    assert draft_of(engine) is None


def test_tick_expires_idle_drafts_into_the_outbox(fake_bot, clock):
    engine = make_engine(fake_bot, clock=clock)
    say(engine, "alice", "report")
    say(engine, "dan", "report")
    clock.advance(hours=12)
    say(engine, "dan", "1")
    clock.advance(hours=12, seconds=1)
    out = engine.reporting.tick()
    assert [m.to_user for m in out] == ["alice"] and "deleted" in out[0].text
    assert draft_of(engine) is None and draft_of(engine, "dan") is not None
    assert engine.reporting.tick() == []
    pending = engine.take_pending("alice")
    assert len(pending) == 1 and "deleted" in pending[0].text


@pytest.mark.parametrize("crash_after", range(1, 8))
def test_resume_after_a_crash_between_steps(fake_bot, clock, crash_after):
    engine = make_engine(fake_bot, clock=clock)
    for a in FLOW[:crash_after]:
        say(engine, "alice", a)
    step_before = draft_of(engine).step
    engine.reporting.close()
    del engine  # "crash": a new engine object on the same data dir
    engine = make_engine(fake_bot, clock=clock)
    resumed = engine.session_start("alice")
    assert step_of(resumed) == step_before.value and "continue where you left off" in last_prompt(resumed).text
    out = say(engine, "alice", "report")
    assert step_of(out) == step_before.value
    for a in FLOW[crash_after:]:
        out = say(engine, "alice", a)
    receipt_in(out)


# ---- entry points ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text", ["report", "Report", "I want to report something", "report a concern", "I'd like to report something."]
)
def test_entry_phrases_start_the_flow(engine, text):
    out = say(engine, "alice", text)
    assert step_of(out) == "category"


def test_slash_command_report_starts_the_flow(engine):
    out = say(engine, "alice", "report", source="command")
    assert step_of(out) == "category"


def test_shared_channel_moves_to_private(engine):
    out = say(engine, "alice", "report", private=False, source="mention")
    assert out[0].to_user is None and out[0].text == "I've sent you a private message."
    assert "report" not in out[0].text.lower() or out[0].text == "I've sent you a private message."
    assert all(m.to_user == "alice" for m in out[1:]) and step_of(out) == "category"
    # typing in the channel collects nothing into the draft
    out = say(engine, "alice", "2", private=False, source="mention")
    assert draft_of(engine).category is None
    say(engine, "alice", "2")  # in the DM
    assert draft_of(engine).category == "service_user_contact"


def test_command_in_a_channel_goes_private(engine):
    out = say(engine, "alice", "report", private=False, source="command")
    assert out[0].text == "I've sent you a private message." and out[1].to_user == "alice"


def test_how_do_i_report_is_a_question_with_a_report_choice(engine):
    out = say(engine, "alice", "How should I report cyber bullying in the work environment?")
    assert out[0].kind == "answer"
    assert [(c.label, c.action_id) for c in out[0].choices] == [("Report a concern", "report:start")]
    assert draft_of(engine) is None
    out = press(engine, "alice", out[0].choices[0].action_id, out[0].choices[0].value)
    assert step_of(out) == "category" and "may be: Cyber-bullying" in last_prompt(out).text


@pytest.mark.parametrize(
    "question,hint",
    [
        ("A service user sent me a friend request on facebook, what should I do?", "service_user_contact"),
        ("A service user is seeking to clone my profile", "impersonation"),
        ("A journalist contacted me about my Facebook posts", "press"),
        ("What action can I take about cyber bullying?", "bullying"),
    ],
)
def test_report_choice_on_reportable_answers(engine, question, hint):
    out = say(engine, "alice", question)
    assert out[0].kind == "answer"
    # "Report a concern" first; "Compare policies" follows when the answer quotes several organisations
    assert [(c.action_id, c.value) for c in out[0].choices][:1] == [("report:start", hint)]
    assert {c.action_id for c in out[0].choices[1:]} <= {"compare"}


def test_no_report_choice_on_ordinary_answers(engine):
    out = say(engine, "alice", "What is LinkedIn?")
    assert out[0].kind == "answer" and out[0].choices == []


def test_someone_not_in_the_directory_cannot_report(engine):
    out = say(engine, "mallory", "report")
    assert "staff directory" in out[0].text
    assert draft_of(engine, "mallory") is None


def test_without_a_key_reporting_says_it_is_not_configured(fake_bot, monkeypatch):
    from bot.engine import ConversationEngine

    for var in ("POLICYBOT_REPORT_KEY", "POLICYBOT_REPORT_KEY_FILE", "POLICYBOT_DEV", "POLICYBOT_DIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    engine = ConversationEngine(fake_bot)
    assert engine.reporting is None and "POLICYBOT_REPORT_KEY" in engine.reporting_error
    out = say(engine, "alice", "report")
    assert "not set up" in out[0].text
    out = press(engine, "alice", "report:start")
    assert "not set up" in out[0].text
    out = say(engine, "alice", "A service user sent me a friend request, should I accept?")
    assert out[0].kind in ("answer", "no_answer") and out[0].choices == []


def test_questions_are_answered_exactly_as_before(fake_bot, engine):
    from bot.engine import answer_message

    q = "Can I post pictures of service users?"
    out = say(engine, "dan", q)
    expected = answer_message(fake_bot.ask(q))
    assert out[0].kind == expected.kind and out[0].text == expected.text and out[0].quotes == expected.quotes
    out = say(engine, "dan", "")
    assert out[0].kind == "error" and "Please type a question" in out[0].text


def test_submit_draft_core_api_refuses_incomplete(fake_bot):
    svc = make_service(fake_bot.data_dir, store=fake_bot.store)
    with pytest.raises(ValueError):
        svc.submit_draft(Draft(reporter_id="alice", category="bullying"))
    d = complete_draft()
    out = svc.submit_draft(d)
    receipt_in(out)


def test_inbound_with_unknown_action_keeps_old_behaviour(engine):
    from bot.messages import Action

    out = engine.handle(Inbound(user_id="alice", source="action", action=Action("feedback:up", "x")))
    assert out[0].kind == "error"
