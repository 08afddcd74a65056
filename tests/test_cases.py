"""Cases after submission: receipts, status, handler actions, access checks, deadlines, concurrency, CLI."""

from __future__ import annotations

import itertools
import re
import threading

import pytest
from test_report_support import (
    FLOW,  # noqa: F401
    RECEIPT_RE,
    ROUTING,
    SAMPLE_DIRECTORY,
    WHAT,
    make_engine,
    make_service,
    press,
    receipt_in,
    report_through,
    say,
)

from bot.directory import Directory, Person
from bot.reporting.cases import (
    CASE_TRANSITIONS,
    RECEIPT_ALPHABET,
    CaseStatus,
    IllegalStatusChange,
    check_status_change,
    new_receipt,
    normalize_receipt,
    parse_case_ref,
)
from bot.reporting.flow import Draft
from bot.reporting.service import AccessDenied, BadReportInput


@pytest.fixture
def engine(fake_bot, clock):
    return make_engine(fake_bot, clock=clock)


@pytest.fixture
def submitted(engine):
    """(engine, receipt) after alice's confidential report to bob."""
    outs = report_through(engine)
    return engine, receipt_in(outs[-1])


# ---- receipts ----------------------------------------------------------------------------------
def test_receipts_are_80_bit_typable_and_distinct():
    assert len(RECEIPT_ALPHABET) == 32  # 5 bits a symbol, 16 symbols: 80 bits
    rs = {new_receipt() for _ in range(2000)}
    assert len(rs) == 2000
    assert all(RECEIPT_RE.fullmatch(r) for r in rs)
    assert not any(ch in r[2:] for r in rs for ch in "ILOU")


def test_receipt_normalisation():
    r = "R-7K3F-9QX2-M4TB-0A1Z"
    sym = "7K3F9QX2M4TB0A1Z"
    for typed in (
        r,
        r.lower(),
        "r 7k3f 9qx2 m4tb 0a1z",
        "7K3F9QX2M4TB0A1Z",
        "R-7K3F-9QX2-M4TB-OA1Z",
        " R-7K3F-9QX2-M4TB-0AIZ ",
    ):
        assert normalize_receipt(typed) == sym, typed
    for bad in ("", "R-7K3F-9QX2-M4TB", "R-7K3F-9QX2-M4TB-0A1U", "C-00001", None):
        assert normalize_receipt(bad) is None


def test_case_refs():
    assert parse_case_ref("C-00012") == 12 and parse_case_ref("c-12") == 12 and parse_case_ref("12") == 12
    assert parse_case_ref("R-7K3F") is None and parse_case_ref("") is None


# ---- case status machine ---------------------------------------------------------------------------
@pytest.mark.parametrize("old,new", list(itertools.product(list(CaseStatus), list(CaseStatus))))
def test_every_case_status_change(old, new):
    if new in CASE_TRANSITIONS[old]:
        check_status_change(old, new)
    else:
        with pytest.raises(IllegalStatusChange):
            check_status_change(old, new)


# ---- submit ----------------------------------------------------------------------------------------
def test_submit_is_committed_before_the_reporter_is_told(fake_bot, clock):
    engine = make_engine(fake_bot, clock=clock)
    outs = report_through(engine)
    receipt = receipt_in(outs[-1])
    # a separate connection (another process) sees the committed case, the event and the queued notification
    other = make_service(fake_bot.data_dir, clock=clock)
    case = other.cases.case_by_receipt(normalize_receipt(receipt))
    assert case is not None and case.status == CaseStatus.NEW and case.handler_id == "bob"
    assert case.ack_due == "2025-03-19T10:00:00+00:00"  # 7 days
    assert [e["kind"] for e in other.cases.events(case.id)] == ["submitted"]
    assert len(other.outbox.pending("bob")) == 1
    assert other.cases.query("PRAGMA journal_mode")[0]["journal_mode"] == "wal"
    assert other.cases.query("PRAGMA synchronous")[0]["synchronous"] == 2  # FULL
    assert other.cases.load_draft("alice") is None


def test_bob_sees_the_notification_and_acknowledges_it_alice_sees_the_status(submitted):
    engine, receipt = submitted
    start = engine.session_start("bob")
    assert len(start) == 1 and start[0].kind == "notification" and start[0].outbox_id
    assert engine.session_start("bob") == []  # delivered once
    ack = start[0].choices[0]
    out = press(engine, "bob", ack.action_id, ack.value)
    assert "acknowledged" in out[0].text
    assert all(m.to_user is None for m in out)  # nothing addressed to the reporter in bob's reply
    updates = engine.take_pending("alice")
    assert len(updates) == 1 and updates[0].to_user == "alice"
    assert receipt in updates[0].text and "Bob Baker has acknowledged it" in updates[0].text
    out = say(engine, "alice", f"status {receipt}")
    assert "Status: acknowledged" in out[0].text and "Handled by: Bob Baker" in out[0].text
    out = press(engine, "bob", ack.action_id, ack.value)
    assert "already acknowledged" in out[0].text
    assert engine.take_pending("alice") == []


def test_ask_reply_and_close_through_buttons(submitted):
    engine, receipt = submitted
    assert len(engine.take_pending("bob")) == 1
    out = press(engine, "bob", "case:ask", "C-00001")
    assert out[0].kind == "prompt" and out[0].input_hint == "long_text"
    out = say(engine, "bob", "Which account sent the request?")
    assert "sent to the reporter" in out[0].text and all(m.to_user is None for m in out)
    [q] = engine.take_pending("alice")
    assert "Which account sent the request?" in q.text and q.choices[0].action_id == "case:reply"
    out = press(engine, "alice", "case:reply", q.choices[0].value)
    out = say(engine, "alice", "The account is called QuimbyFam.")
    assert "sent to Bob Baker" in out[0].text
    [note] = engine.take_pending("bob")
    assert "QuimbyFam" in note.text and note.kind == "notification" and "confidential" in note.text
    out = press(engine, "bob", "case:close", "C-00001")
    out = say(engine, "bob", "I have spoken to the family; please decline and block.")
    assert "closed" in out[0].text
    [closed] = engine.take_pending("alice")
    assert "closed" in closed.text and "decline and block" in closed.text
    out = say(engine, "alice", f"status {receipt.lower()}")
    text = out[0].text
    assert "Status: closed" in text and "Question" in text and "Your reply" in text and "Outcome" in text
    out = press(engine, "bob", "case:ack", "C-00001")
    assert "already closed" in out[0].text


def test_typed_handler_commands(submitted):
    engine, receipt = submitted
    out = say(engine, "bob", "cases")
    assert "C-00001" in out[0].text
    out = say(engine, "bob", "show C-00001")
    assert WHAT in out[0].text and "Reported by: confidential" in out[0].text and receipt not in out[0].text
    out = say(engine, "bob", "ask C-1 When exactly?")
    assert "sent to the reporter" in out[0].text
    [q] = engine.take_pending("alice")
    out = say(engine, "alice", f"reply {receipt} Around 3pm.")
    assert "sent to Bob Baker" in out[0].text
    out = say(engine, "bob", "close C-00001 Advice given.")
    assert "closed" in out[0].text


def test_pending_handler_input_can_be_cancelled_and_is_validated(submitted):
    engine, _ = submitted
    press(engine, "bob", "case:close", "C-00001")
    out = say(engine, "bob", "x" * 4001)
    assert out[0].kind == "error" and "4,000" in out[0].text
    out = say(engine, "bob", "cancel")
    assert "nothing was sent" in out[0].text
    assert engine.reporting.cases.get_case(1).status == CaseStatus.NEW


# ---- access ------------------------------------------------------------------------------------
def test_status_shows_nothing_to_anyone_but_the_reporter(submitted):
    engine, receipt = submitted
    for user in ("bob", "hana", "dan", "sam", "mallory"):
        out = say(engine, user, f"status {receipt}")
        assert out[0].text.startswith("I couldn't find a report with that receipt"), user
        assert "Bob" not in out[0].text and "friend" not in out[0].text
    fake = "R-0000-0000-0000-0000"
    assert say(engine, "alice", f"status {fake}")[0].text == say(engine, "dan", f"status {receipt}")[0].text
    out = say(engine, "alice", f"status {receipt}")
    assert "Contact or a friend request" in out[0].text
    audit = engine.reporting.cases.audit_rows(1)
    refused = [(r["actor"], r["action"]) for r in audit if not r["allowed"]]
    assert ("dan", "status") in refused and ("bob", "status") in refused
    assert ("reporter", "status") in [(r["actor"], r["action"]) for r in audit if r["allowed"]]
    assert "alice" not in {r["actor"] for r in engine.reporting.cases.audit_rows()}


def test_outsiders_get_nothing_even_with_a_valid_receipt(submitted):
    engine, receipt = submitted
    svc = engine.reporting
    for user in ("dan", "carol", "sam", "alice", "mallory"):  # alice is the reporter, not a handler
        assert svc.list_cases(user) == []
        with pytest.raises(AccessDenied):
            svc.show_case(user, "C-00001")
        with pytest.raises(AccessDenied):
            svc.acknowledge(user, "C-00001")
        with pytest.raises(AccessDenied):
            svc.close_case(user, "C-00001", "done")
        out = press(engine, user, "case:ack", "C-00001")
        assert out[0].text == "I can't find that case among the cases you can see."
        out = say(engine, user, "show C-00001")
        assert out[0].text == "I can't find that case among the cases you can see."
        out = say(engine, user, f"reply {receipt} hello") if user != "alice" else [None]
        if user != "alice":
            assert out[0].text.startswith("I couldn't find a report")
    # a made-up case id gives the same answer as a hidden one
    with pytest.raises(AccessDenied) as exc:
        svc.show_case("dan", "C-99999")
    assert str(exc.value) == "I can't find that case among the cases you can see."
    assert svc.cases.get_case(1).status == CaseStatus.NEW


def test_handler_sees_content_hr_also_sees_the_reporter(submitted):
    engine, _ = submitted
    svc = engine.reporting
    bob = svc.show_case("bob", 1)
    assert bob.what == WHAT and bob.reporter.startswith("confidential")
    hana = svc.show_case("hana", 1)
    assert hana.reporter.startswith("Alice Adams") and hana.what == WHAT
    assert [r.ref for r in svc.list_cases("hana")] == ["C-00001"]
    assert [r.ref for r in svc.list_cases("bob")] == ["C-00001"]


def test_named_report_shows_the_reporter_to_the_handler(engine):
    answers = list(FLOW)
    answers[6] = "named"
    outs = report_through(engine, answers=answers)
    note = [m for m in outs[-1] if m.kind == "notification"][0]
    assert "Reported by: Alice Adams" in note.text
    assert engine.reporting.show_case("bob", 1).reporter == "Alice Adams"


def test_every_read_is_audited(submitted):
    engine, receipt = submitted
    svc = engine.reporting
    svc.show_case("bob", 1, via="cli")
    svc.list_cases("hana", via="cli")
    with pytest.raises(AccessDenied):
        svc.show_case("dan", 1, via="cli")
    rows = [(r["actor"], r["case_id"], r["action"], r["allowed"], r["via"]) for r in svc.cases.audit_rows()]
    assert ("bob", 1, "show", 1, "cli") in rows
    assert ("hana", 1, "list", 1, "cli") in rows
    assert ("dan", 1, "show", 0, "cli") in rows
    assert all(r["at"] for r in svc.cases.audit_rows())


# ---- deadlines ---------------------------------------------------------------------------------
def test_reminder_then_escalation_to_hr(submitted, clock):
    engine, receipt = submitted
    svc = engine.reporting
    engine.take_pending("bob")
    assert svc.tick() == []
    clock.advance(days=4, hours=23)
    assert svc.tick() == []
    clock.advance(hours=1)  # 2 days before due
    [reminder] = svc.tick()
    assert reminder.to_user == "bob" and "Reminder" in reminder.text and reminder.outbox_id
    assert [c.action_id for c in reminder.choices] == ["case:ack", "case:ask", "case:close"]
    assert svc.tick() == []  # idempotent
    clock.advance(days=2)  # due
    out = svc.tick()
    assert {m.to_user for m in out} == {"hana", "bob", "alice"}
    hr = [m for m in out if m.to_user == "hana"][0]
    assert "Escalated" in hr.text and "Alice Adams" in hr.text  # HR sees who reported
    bob = [m for m in out if m.to_user == "bob"][0]
    assert "Alice" not in bob.text
    assert "escalated to HR" in [m for m in out if m.to_user == "alice"][0].text
    assert svc.tick() == []
    case = svc.cases.get_case(1)
    assert case.escalated and case.status == CaseStatus.NEW
    out = press(engine, "hana", "case:ack", "C-00001")  # HR can act on it
    assert "acknowledged" in out[0].text
    assert svc.show_case("hana", 1).escalated


def test_acknowledged_cases_get_no_reminders(submitted, clock):
    engine, _ = submitted
    press(engine, "bob", "case:ack", "C-00001")
    clock.advance(days=30)
    assert engine.reporting.tick() == []


def test_acknowledgement_deadline_is_configurable(fake_bot, clock, tmp_path):
    text = ROUTING.read_text().replace("acknowledge_days = 7", "acknowledge_days = 3")
    (fake_bot.data_dir / "routing.toml").write_text(text)
    from bot.reporting.routing import RoutingConfig, routing_path

    routing = RoutingConfig.load(routing_path(fake_bot.data_dir))
    assert routing.deadlines.acknowledge_days == 3
    engine = make_engine(fake_bot, clock=clock, routing=routing)
    report_through(engine)
    assert engine.reporting.cases.get_case(1).ack_due == "2025-03-15T10:00:00+00:00"


# ---- concurrency ----------------------------------------------------------------------------
def test_fifty_concurrent_submissions(fake_bot, clock):
    people = [Person("boss", "Boss Person"), Person("hr1", "Hr Person", roles=("hr",))]
    people += [Person(f"u{i:02d}", f"User {i:02d}", manager="boss") for i in range(50)]
    svc = make_service(fake_bot.data_dir, store=fake_bot.store, clock=clock, directory=Directory(people))
    drafts = [
        Draft(
            reporter_id=f"u{i:02d}",
            category="bullying",
            what=f"Incident number {i}",
            when=None,
            when_text="not sure",
            where="Teams chat",
            handler_id="boss",
            handler_role="manager",
            identity="confidential",
            route_key="bullying",
        )
        for i in range(50)
    ]
    results, errors = [None] * 50, []
    barrier = threading.Barrier(50)

    def go(i):
        try:
            barrier.wait()
            results[i] = receipt_in(svc.submit_draft(drafts[i]))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(set(results)) == 50
    rows = svc.cases.query("SELECT count(*) AS n, count(DISTINCT receipt_hash) AS r FROM cases")[0]
    assert rows == {"n": 50, "r": 50}
    assert len(svc.outbox.pending("boss")) == 50
    for i, receipt in enumerate(results):
        case = svc.cases.case_by_receipt(normalize_receipt(receipt))
        assert case.reporter_id == f"u{i:02d}" and case.content["what"] == f"Incident number {i}"


# ---- CLI (in process) ---------------------------------------------------------------------------
def cli(capsys, *argv):
    from adapters.cli import main

    code = main(list(argv))
    cap = capsys.readouterr()
    return code, cap.out, cap.err


@pytest.fixture
def cli_env(fake_bot, monkeypatch, clock):
    """A submitted case in the fake bot's data dir, opened by the CLI in dev mode with the same key."""
    from bot.reporting.crypto import generate_key

    monkeypatch.setenv("POLICYBOT_REPORT_KEY", generate_key())
    monkeypatch.setenv("POLICYBOT_DIRECTORY", str(SAMPLE_DIRECTORY))
    monkeypatch.delenv("POLICYBOT_DEV", raising=False)
    from bot.engine import ConversationEngine
    from bot.reporting.service import ReportingService

    engine = ConversationEngine(
        fake_bot, reporting=ReportingService.open(fake_bot.data_dir, fake_bot.store, clock=clock)
    )
    receipt = receipt_in(report_through(engine)[-1])
    return str(fake_bot.data_dir), receipt


def test_cli_cases_role_checks(cli_env, capsys):
    data, receipt = cli_env
    code, out, err = cli(capsys, "--data-dir", data, "cases", "list", "--as", "bob")
    assert code == 0 and "C-00001" in out and "waiting to be acknowledged" in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "list", "--as", "dan")
    assert code == 0 and "C-00001" not in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "show", "C-00001", "--as", "dan")
    assert code == 2 and out == "" and "no case C-00001" in err
    code, out, err = cli(capsys, "--data-dir", data, "cases", "show", "C-00001", "--as", "bob")
    assert code == 0 and WHAT in out and "Reported by: confidential" in out and receipt not in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "show", "C-00001", "--as", "hana")
    assert code == 0 and "Alice Adams" in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "ack", "C-00001", "--as", "dan")
    assert code == 2
    code, out, err = cli(capsys, "--data-dir", data, "cases", "ack", "C-00001", "--as", "bob")
    assert code == 0 and "acknowledged" in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "close", "C-00001", "--as", "bob", "--outcome", "")
    assert code == 2 and "outcome" in err
    code, out, err = cli(
        capsys, "--data-dir", data, "cases", "close", "C-00001", "--as", "bob", "--outcome", "Advice given"
    )
    assert code == 0 and "closed" in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "audit", "--as", "bob")
    assert code == 2
    code, out, err = cli(capsys, "--data-dir", data, "cases", "audit", "--as", "hana")
    assert code == 0 and "REFUSED" in out and "dan" in out


def test_cli_cases_remind_for_cron(cli_env, capsys):
    data, _ = cli_env
    code, out, err = cli(capsys, "--data-dir", data, "cases", "remind", "--now", "2025-03-17T10:00:00+00:00")
    assert code == 0 and "1 reminder(s)" in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "remind", "--now", "2025-03-19T10:00:00+00:00")
    assert code == 0 and "0 reminder(s), 3 escalation message(s)" in out
    code, out, err = cli(capsys, "--data-dir", data, "cases", "remind", "--now", "2025-03-19T10:00:00+00:00")
    assert "queued 0 message(s)" in out


def test_cli_refuses_without_a_key(tmp_path, capsys, monkeypatch):
    for var in ("POLICYBOT_REPORT_KEY", "POLICYBOT_REPORT_KEY_FILE", "POLICYBOT_DEV"):
        monkeypatch.delenv(var, raising=False)
    code, out, err = cli(capsys, "--data-dir", str(tmp_path), "cases", "list", "--as", "bob")
    assert code == 1 and "POLICYBOT_REPORT_KEY" in err
    code, out, err = cli(capsys, "--data-dir", str(tmp_path), "cases", "keygen")
    assert code == 0 and re.fullmatch(r"[A-Za-z0-9_\-]{43}=\n", out)
    code, out, err = cli(capsys, "--data-dir", str(tmp_path), "cases", "list", "--as", "bob", "--dev")
    assert code == 0 and "no cases" in out


def test_bad_report_input_for_core_api(submitted):
    engine, _ = submitted
    with pytest.raises(BadReportInput):
        engine.reporting.request_info("bob", 1, "   ")
    assert engine.reporting.cases.get_case(1).status == CaseStatus.NEW


def test_engine_tick_and_directory(submitted, clock, fake_bot, monkeypatch):
    engine, _ = submitted
    assert engine.directory.get("alice").name == "Alice Adams"
    clock.advance(days=5)
    assert [m.to_user for m in engine.tick()] == ["bob"]
    from bot.engine import ConversationEngine

    assert ConversationEngine(fake_bot, reporting=False).tick() == []


def test_status_in_a_shared_channel_is_answered_privately(submitted):
    engine, receipt = submitted
    out = say(engine, "alice", f"status {receipt}", private=False, source="mention")
    assert out[0].to_user is None and out[0].text == "I've sent you a private message."
    assert receipt not in out[0].text
    assert out[1].to_user == "alice" and "Status:" in out[1].text


def test_typed_ask_without_text_waits_for_the_question(submitted):
    engine, _ = submitted
    out = say(engine, "bob", "ask C-00001")
    assert out[0].kind == "prompt" and "question for the reporter" in out[0].text
    say(engine, "bob", "Could you forward the screenshots?")
    assert engine.reporting.cases.get_case(1).status == CaseStatus.INFO_REQUESTED


def test_a_question_that_starts_with_status_is_still_a_question(engine):
    out = say(engine, "dan", "status updates about work on Facebook")
    assert out[0].kind in ("answer", "no_answer")


def test_case_summaries_carry_machine_readable_state_times_and_overdue(submitted, clock):
    engine, _ = submitted
    svc = engine.reporting
    [row] = svc.list_cases("bob")
    assert (row.state, row.handler_id, row.overdue) == ("new", "bob", False)
    assert row.created_iso < row.ack_due_iso and row.acknowledged_iso is None and row.closed_iso is None
    clock.advance(days=8)  # past the acknowledgement deadline
    assert svc.list_cases("bob")[0].overdue
    press(engine, "bob", "case:ack", "C-00001")
    [row] = svc.list_cases("hana")
    assert (row.state, row.overdue) == ("acknowledged", False) and row.acknowledged_iso


def test_role_of_says_who_may_work_on_cases(engine):
    svc = engine.reporting
    assert [svc.role_of(u) for u in ("hana", "bob", "carol", "sam", "alice", "dan", "nobody", None)] == [
        "hr",
        "handler",  # manages alice and dan
        "handler",  # manages bob, hana and sam
        "handler",  # safeguarding lead
        None,
        None,
        None,
        None,
    ]


def test_a_list_shown_again_within_the_hour_is_audited_once_per_case_and_channel(submitted, clock):
    """A home screen refreshes itself on every case change: the audit keeps one "list" row a case an hour
    for each person and channel, and every ``show`` still gets its own."""
    engine, _ = submitted
    svc = engine.reporting

    def lists():
        return [(r["actor"], r["case_id"], r["via"]) for r in svc.cases.audit_rows() if r["action"] == "list"]

    for _ in range(3):
        svc.list_cases("hana", via="slack_home")
    svc.list_cases("hana", via="admin")
    svc.list_cases("bob", via="slack_home")
    assert lists() == [("hana", 1, "slack_home"), ("hana", 1, "admin"), ("bob", 1, "slack_home")]
    svc.show_case("hana", 1, via="admin")
    svc.show_case("hana", 1, via="admin")
    assert sum(r["action"] == "show" for r in svc.cases.audit_rows()) == 2
    clock.advance(hours=1, minutes=1)
    svc.list_cases("hana", via="slack_home")
    assert lists()[-1] == ("hana", 1, "slack_home") and len(lists()) == 4


def test_case_actions_follow_the_transition_table():
    from bot.reporting.cases import case_actions

    assert case_actions("new") == ("acknowledge", "ask", "close")
    assert case_actions(CaseStatus.ACKNOWLEDGED) == case_actions("info_provided") == ("ask", "close")
    assert case_actions("info_requested") == ("ask", "close")
    assert case_actions("closed") == ()
    with pytest.raises(ValueError):
        case_actions("lost")


def test_people_concerned_by_a_case_are_its_handler_and_hr(submitted):
    engine, _ = submitted
    svc = engine.reporting
    assert svc.people_concerned(["C-00001"]) == {"bob", "hana"}
    assert svc.people_concerned(["C-99999", "not a ref"]) == {"hana"}  # HR sees every case
