"""The App Home tab: the core's ``bot.home.home_view``, its Block Kit (``adapters.slack_home``), and end to
end over the fake Slack Web API with the real Bolt app: published when opened, republished when a
handler's cases change, and its "Report a concern" button starting the report in the DM."""

from __future__ import annotations

import json
import logging

import pytest
from fakes.harness import ServerHarness
from fakes.slack_api import block_actions, buttons_in, event_envelope, message_im_event, press
from test_report_support import FLOW, START, make_service

from bot.engine import ConversationEngine
from bot.home import OPEN_CASE_ACTION_ID, REPORT_ACTION_ID, home_view
from bot.reporting.flow import Draft

# people of config/directory.sample.toml and the DM channel ids the fake Slack gives them
ALICE, BOB, HANA, SAM = "U0ALICE001", "U0BOB00001", "U0HANA0001", "U0SAM00001"
ALICE_DM, BOB_DM = "D0ALICE001", "D0BOB00001"
WHAT_BOB = "Someone keeps sending unkind messages about my weight in the team chat."
WHAT_DAN = "A parent asked to follow my private Instagram account."
WHAT_SAM = "A pupil was sent a private message by a member of staff."
WHAT_CLOSED = "A colleague posted a photo from the office party."
BULLYING = "Cyber-bullying or harassment by a colleague"
CONTACT = "Contact or a friend request from a service user or their family"


def file_case(svc, reporter: str, handler: str, category: str, what: str, role: str = "manager") -> str:
    """Submit a confidential report through the core's API; returns its case reference."""
    draft = Draft(
        reporter_id=reporter,
        category=category,
        what=what,
        when=None,
        when_text="not sure",
        where="Teams chat",
        handler_id=handler,
        handler_role=role,
        identity="confidential",
        route_key=category,
    )
    confirm = svc.submit_draft(draft)[0]
    return confirm.case_id


@pytest.fixture
def svc(fake_bot, clock):
    """Reporting with four cases: alice -> bob (bullying), dan -> bob (contact), carol -> sam
    (safeguarding) and a closed one, dan -> bob."""
    s = make_service(fake_bot.data_dir, store=fake_bot.store, clock=clock)
    assert file_case(s, "alice", "bob", "bullying", WHAT_BOB) == "C-00001"
    clock.advance(hours=1)
    assert file_case(s, "dan", "bob", "service_user_contact", WHAT_DAN) == "C-00002"
    assert file_case(s, "carol", "sam", "safeguarding", WHAT_SAM, role="safeguarding_lead") == "C-00003"
    assert file_case(s, "dan", "bob", "colleague_post", WHAT_CLOSED) == "C-00004"
    s.close_case("bob", "C-00004", "Talked to the colleague; the photo is down.")
    yield s
    s.close()


def rendered(view) -> str:
    from adapters.slack_home import render_home

    return json.dumps(render_home(view), ensure_ascii=False)


# -- the core: home_view ---------------------------------------------------------------------------


def test_hr_sees_every_open_case_and_no_closed_one(svc):
    view = home_view("hana", None, svc, via="slack_home")
    assert view.role == "hr"
    assert [c.ref for c in view.cases] == ["C-00001", "C-00002", "C-00003"]
    assert {c.handler for c in view.cases} == {"Bob Baker", "Sam Singh"}  # HR sees whose they are
    assert view.count_line == "3 open cases."
    assert "C-00004" not in rendered(view)


def test_a_handler_sees_only_their_own_open_cases(svc):
    view = home_view("bob", None, svc)
    assert view.role == "handler"
    assert [(c.ref, c.category, c.status) for c in view.cases] == [
        ("C-00001", BULLYING, "waiting to be acknowledged"),
        ("C-00002", CONTACT, "waiting to be acknowledged"),
    ]
    assert view.cases[0].deadline == "acknowledge by 19 Mar 10:00"  # 7 days, shown in Europe/London
    assert not any(c.overdue or c.escalated or c.handler for c in view.cases)
    assert view.count_line == "You have 2 open cases to handle."
    sam = home_view("sam", None, svc)
    assert [c.ref for c in sam.cases] == ["C-00003"]
    assert sam.count_line == "You have 1 open case to handle."


def test_someone_without_cases_gets_tips_and_the_report_button_only(svc):
    view = home_view("alice", None, svc)
    assert view.role is None and view.cases == () and view.count_line == ""
    assert view.name == "Alice Adams" and view.examples and "direct message" in view.how_to_ask
    assert view.report is not None and view.report.label == "Report a concern"
    assert view.report.action_id == REPORT_ACTION_ID
    shown = rendered(view)
    assert "open cases" not in shown.lower() and "C-0000" not in shown


def test_the_report_button_is_the_one_under_answers(fake_bot, svc):
    """The engine's own "Report a concern" button carries the action the home's button carries."""
    from test_report_support import say

    engine = ConversationEngine(fake_bot, reporting=svc)
    (answer,) = say(engine, "alice", "Can I accept a friend request from a service user?")
    (choice,) = [c for c in answer.choices if c.label == "Report a concern"]
    assert choice.action_id == home_view("alice", None, svc).report.action_id


def test_not_in_the_directory_or_reporting_off(svc, directory):
    stranger = home_view("slack:U0NOBODY01", None, svc)
    assert stranger.report is None and "staff directory" in stranger.report_note and stranger.role is None
    off = home_view("hana", directory, None)
    assert off.report is None and off.report_note == "" and off.role is None and off.cases == ()
    assert off.name == "Hana Hughes"
    assert "Report a concern" not in rendered(off)


def test_overdue_and_escalated_cases_come_first_in_words(svc, clock):
    svc.acknowledge("bob", "C-00002")
    clock.advance(days=8)
    svc.tick()  # C-00001 and C-00003 were not acknowledged within 7 days: escalated to HR
    bob = home_view("bob", None, svc)
    first, second = bob.cases
    assert (first.ref, first.overdue, first.escalated) == ("C-00001", True, True)
    assert (second.ref, second.status, second.deadline, second.overdue) == ("C-00002", "acknowledged", "", False)
    assert bob.count_line == "You have 2 open cases to handle: 1 overdue, 1 escalated to HR."
    from adapters.slack_home import case_line

    assert case_line(first) == (
        f"*C-00001* · {BULLYING} · waiting to be acknowledged · acknowledge by 19 Mar 10:00 · "
        ":warning: overdue · escalated to HR"
    )
    hr = home_view("hana", None, svc)
    assert [c.ref for c in hr.cases] == ["C-00001", "C-00003", "C-00002"]
    assert hr.count_line == "3 open cases: 2 overdue, 2 escalated to HR."


def test_nothing_of_the_reports_but_what_the_list_shows(svc):
    receipts = [svc.cases.get_case(i).content["receipt"] for i in (1, 2, 3, 4)]
    for user in ("hana", "bob", "sam", "alice"):
        shown = rendered(home_view(user, None, svc))
        for secret in (WHAT_BOB, WHAT_DAN, WHAT_SAM, WHAT_CLOSED, "Teams chat", *receipts):
            assert secret not in shown, (user, secret)
        assert "Carol Clarke" not in shown and "Dan Davies" not in shown  # reporters, never shown
        assert "Alice Adams" not in shown or user == "alice"  # her own greeting only


def test_reads_are_audited_as_slack_home(svc):
    before = len(svc.cases.audit_rows())
    home_view("bob", None, svc, via="slack_home")
    rows = svc.cases.audit_rows()[before:]
    assert [(r["actor"], r["case_id"], r["action"], r["via"]) for r in rows] == [
        ("bob", 1, "list", "slack_home"),
        ("bob", 2, "list", "slack_home"),
        ("bob", 4, "list", "slack_home"),
    ]


def test_deadline_text_adds_the_year_only_when_it_is_not_this_one():
    from zoneinfo import ZoneInfo

    from bot.home import deadline_text

    london = ZoneInfo("Europe/London")
    assert deadline_text("2025-12-09T17:00:00+00:00", london, START) == "9 Dec 17:00"
    assert deadline_text("2025-07-01T08:30:00+00:00", london, START) == "1 Jul 09:30"  # BST
    assert deadline_text("2026-01-02T09:00:00+00:00", london, START) == "2 Jan 2026 09:00"
    assert deadline_text("", london, START) == ""


def test_open_shows_the_case_to_its_handler_and_hr_only(fake_bot, svc):
    from test_report_support import press as press_core

    engine = ConversationEngine(fake_bot, reporting=svc)
    (shown,) = press_core(engine, "bob", OPEN_CASE_ACTION_ID, "C-00001")
    assert shown.kind == "notification" and shown.case_id == "C-00001" and WHAT_BOB in shown.text
    assert [c.label for c in shown.choices] == ["Acknowledge", "Ask for more information", "Close with outcome"]
    for outsider, ref in (("alice", "C-00001"), ("bob", "C-00003"), ("bob", "nonsense")):
        (refused,) = press_core(engine, outsider, OPEN_CASE_ACTION_ID, ref)
        assert refused.text == "I can't find that case among the cases you can see."
        assert WHAT_BOB not in refused.text and WHAT_SAM not in refused.text


# -- Block Kit -----------------------------------------------------------------------------------


def many_cases_view(n: int):
    from bot.home import HomeCase, HomeView, count_line

    cases = tuple(
        HomeCase(f"C-{i:05d}", "A category " * 40, "waiting to be acknowledged", "new", "acknowledge by 9 Dec 17:00",
                 i % 2 == 0, i % 3 == 0, "Bob Baker")
        for i in range(1, n + 1)
    )  # fmt: skip
    return HomeView("hana", "Hana Hughes", "Intro.", ("Q?",), "DM me.", None, "", "hr", cases, count_line("hr", cases))


def test_block_kit_is_valid_and_bounded():
    from adapters.slack import MAX_BUTTON_TEXT, MAX_HEADER, MAX_MODAL_BLOCKS, MAX_TEXT, decode_action_id
    from adapters.slack_home import MAX_CASES, render_home

    view = render_home(many_cases_view(150))
    blocks = view["blocks"]
    assert view["type"] == "home" and len(blocks) <= MAX_MODAL_BLOCKS
    lines = [b for b in blocks if str(b.get("block_id", "")).startswith("pb_home_case_")]
    assert len(lines) == MAX_CASES == 20
    assert "and 130 more" in blocks[-1]["elements"][0]["text"] and "`cases`" in blocks[-1]["elements"][0]["text"]
    ids = [el["action_id"] for _, el, _ in buttons_in(blocks)]
    assert len(ids) == len(set(ids)) == 20 and {decode_action_id(i) for i in ids} == {OPEN_CASE_ACTION_ID}
    assert [el["value"] for _, el, _ in buttons_in(blocks)][:2] == ["C-00001", "C-00002"]
    for b in blocks:
        assert b["type"] in ("header", "section", "context", "divider", "actions")
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= MAX_HEADER and b["text"]["type"] == "plain_text"
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= MAX_TEXT
    assert all(len(el["text"]["text"]) <= MAX_BUTTON_TEXT for _, el, _ in buttons_in(blocks))
    assert len(render_home(many_cases_view(3))["blocks"]) < len(blocks)  # no "and N more" for a few


def test_report_button_decodes_to_the_core_report_action(svc):
    from adapters.slack import decode_action_id
    from adapters.slack_home import render_home

    view = render_home(home_view("alice", None, svc))
    ((label, button, _),) = buttons_in(view["blocks"])
    assert label == "Report a concern" and decode_action_id(button["action_id"]) == REPORT_ACTION_ID
    assert button["style"] == "primary"
    headers = [b["text"]["text"] for b in view["blocks"] if b["type"] == "header"]
    assert headers == ["Policybot"]
    assert "Hi Alice." in view["blocks"][1]["text"]["text"]


# -- end to end: the real Bolt app over the fake Slack ---------------------------------------------


@pytest.fixture
async def server(fake_bot, fake_slack, reporting):
    h = await ServerHarness(fake_bot, ConversationEngine(fake_bot, reporting=reporting), fake_slack).start()
    yield h
    await h.stop()


def home_opened(user: str, tab: str = "home") -> dict:
    """An ``app_home_opened`` event body, as Slack sends when ``user`` opens the app's ``tab``."""
    return event_envelope(
        {"type": "app_home_opened", "user": user, "channel": "D0HOME0001", "tab": tab, "event_ts": "1700000000.1"}
    )


def publishes(fake, user: str) -> list:
    return [c for c in fake.calls_to("views.publish") if c.params.get("user_id") == user]


def labels(blocks) -> list[str]:
    return [label for label, _, _ in buttons_in(blocks)]


def shown(call) -> str:
    return json.dumps(call.params["view"], ensure_ascii=False)


async def test_opening_the_home_tab_publishes_that_users_cases(server, fake_slack, reporting):
    assert file_case(reporting, "alice", "bob", "bullying", WHAT_BOB) == "C-00001"
    r = await server.event(home_opened(BOB))
    assert r.status == 200 and r.text == ""
    (call,) = await fake_slack.wait_for("views.publish")
    assert call.params["user_id"] == BOB and call.token == "xoxb-test-token"
    view = call.params["view"]
    assert view["type"] == "home" and "Your open cases" in shown(call)
    assert "*C-00001* · Cyber-bullying or harassment by a colleague · waiting to be acknowledged" in shown(call)
    assert WHAT_BOB not in shown(call)
    assert [r["via"] for r in reporting.cases.audit_rows() if r["action"] == "list"] == ["slack_home"]
    # alice: how to ask and the report button, no cases; the Messages tab publishes nothing
    await server.event(home_opened(ALICE))
    (alice,) = await fake_slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == ALICE)
    assert "Report a concern" in shown(alice) and "open cases" not in shown(alice).lower()
    await server.event(home_opened(ALICE, tab="messages"))
    await fake_slack.settle(0.3)
    assert len(fake_slack.calls_to("views.publish")) == 2


async def test_a_submitted_report_republishes_the_handlers_home(server, fake_slack, reporting):
    """alice reports through DMs; bob's notification reaches his DM and his Home shows the new case."""
    for answer in FLOW:
        seen = len(fake_slack.calls_to("chat.postMessage"))
        await server.event(message_im_event(answer, user=ALICE, channel=ALICE_DM))
        await fake_slack.wait_for("chat.postMessage", seen + 1)
        await fake_slack.settle(0.1)
    note = (await fake_slack.wait_for("chat.postMessage", where=lambda c: "New report C-00001" in c.params["text"]))[0]
    assert note.params["channel"] == BOB_DM
    (call,) = await fake_slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == BOB)
    assert f"*C-00001* · {CONTACT} · waiting to be acknowledged · acknowledge by " in shown(call)
    from test_report_support import WHAT

    assert WHAT not in shown(call)
    await fake_slack.settle(0.3)
    assert not publishes(fake_slack, ALICE)  # the reporter's home has no cases: left alone
    # bob acknowledges from his DM: his Home is republished with the new status
    await server.payload(press(note, "Acknowledge", user=BOB, response_url=fake_slack.response_url("n")))
    again = await fake_slack.wait_for("views.publish", 2, where=lambda c: c.params["user_id"] == BOB)
    assert f"*C-00001* · {CONTACT} · acknowledged" in shown(again[-1])
    assert "You have 1 open case to handle." in shown(again[-1])


async def test_hr_home_opened_earlier_is_refreshed_when_a_case_goes_to_another_handler(server, fake_slack):
    """HR gets no message when alice's report goes to bob, but the server says the case changed
    (``CaseWatcher``): the Home tabs opened since start of those who may see it are republished, HR's
    showing the new case; sam (a safeguarding lead, not this case's handler) is left alone."""
    await server.event(home_opened(SAM))
    await fake_slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == SAM)
    await server.event(home_opened(HANA))
    (first,) = await fake_slack.wait_for("views.publish", where=lambda c: c.params["user_id"] == HANA)
    assert "C-00001" not in shown(first)
    for answer in FLOW:
        seen = len(fake_slack.calls_to("chat.postMessage"))
        await server.event(message_im_event(answer, user=ALICE, channel=ALICE_DM))
        await fake_slack.wait_for("chat.postMessage", seen + 1)
    again = await fake_slack.wait_for(
        "views.publish", where=lambda c: c.params["user_id"] == HANA and "C-00001" in shown(c)
    )
    assert "Bob Baker" in shown(again[-1])  # HR sees whose case it is
    await fake_slack.settle(0.3)
    assert len(publishes(fake_slack, SAM)) == 1  # only when sam opened it


async def test_the_homes_report_button_starts_the_report_in_the_dm(server, fake_slack):
    await server.event(home_opened(ALICE))
    (call,) = await fake_slack.wait_for("views.publish")
    home = dict(call.params["view"], id=call.result["view"]["id"])
    ((_, button, block_id),) = buttons_in(home["blocks"])
    r = await server.payload(
        block_actions(button["action_id"], button.get("value", ""), user=ALICE, view=home, block_id=block_id)
    )
    assert r.status == 200 and r.elapsed < 3
    intro, prompt = await fake_slack.wait_for("chat.postMessage", 2)
    assert "This conversation is private" in intro.params["text"]
    assert prompt.params["channel"] == ALICE_DM and "Something else" in labels(prompt.params["blocks"])
    await fake_slack.settle(0.3)
    assert not fake_slack.calls_to("views.update")  # the Home tab is never replaced by a modal's view


async def test_open_on_the_home_posts_the_case_to_the_dm(server, fake_slack, reporting):
    file_case(reporting, "alice", "bob", "bullying", WHAT_BOB)
    await server.event(home_opened(BOB))
    (call,) = await fake_slack.wait_for("views.publish")
    home = dict(call.params["view"], id=call.result["view"]["id"])
    (open_button,) = [el for label, el, _ in buttons_in(home["blocks"]) if el["text"]["text"] == "Open"]
    await server.payload(block_actions(open_button["action_id"], open_button["value"], user=BOB, view=home))
    post = (await fake_slack.wait_for("chat.postMessage", where=lambda c: "Case C-00001" in c.params["text"]))[0]
    assert post.params["channel"] == BOB_DM and WHAT_BOB in post.params["text"]
    assert labels(post.params["blocks"]) == ["Acknowledge", "Ask for more information", "Close with outcome"]


async def test_publish_failures_are_logged_without_content_and_swallowed(server, fake_slack, reporting, caplog):
    caplog.set_level(logging.INFO)
    file_case(reporting, "alice", "bob", "bullying", WHAT_BOB)
    fake_slack.fail["views.publish"] = "not_enabled"
    r = await server.event(home_opened(BOB))
    assert r.status == 200
    await fake_slack.wait_for("views.publish")
    await fake_slack.settle(0.2)
    logged = [rec.getMessage() for rec in caplog.records if rec.name == "policybot.slack.home"]
    assert logged == ["Slack home not published: SlackApiError not_enabled"]
    assert not any("background" in rec.getMessage() for rec in caplog.records)  # nothing escaped
    assert WHAT_BOB not in "\n".join(rec.getMessage() for rec in caplog.records)
    del fake_slack.fail["views.publish"]
    await server.event(home_opened(BOB))  # the channel carries on
    await fake_slack.wait_for("views.publish", 2)


async def test_a_burst_of_changes_is_one_publish_and_one_more(server, fake_slack, reporting):
    file_case(reporting, "alice", "bob", "bullying", WHAT_BOB)
    (slack,) = [c for c in server.ctx.channels if c.name == "slack"]
    for _ in range(5):
        slack.home.touch("bob")
    await fake_slack.wait_for("views.publish")
    await fake_slack.settle(0.3)
    assert len(publishes(fake_slack, BOB)) == 2
    slack.home.touch("alice")  # no cases role: a change does not publish her home
    await fake_slack.settle(0.3)
    assert not publishes(fake_slack, ALICE)
