"""HR keeps the knowledge base current from Slack: a real .docx / .pdf shared in a DM, downloaded by the
real Bolt adapter from a fake Slack (bearer token checked), previewed as Block Kit, published with a
button; staff are refused without a download; bad files change nothing; change notices reach the DM."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest
from fakes.harness import TOKEN, ServerHarness
from fakes.slack_api import app_mention_event, buttons_in, file_share_event, form_submission, message_im_event, press
from kb_helpers import NORTHBROOK_MD, encrypt_pdf, make_docx, make_pdf

from bot.engine import ConversationEngine

ROOT = Path(__file__).resolve().parent.parent
MD = NORTHBROOK_MD.read_text(encoding="utf-8")
DOC_ID = "northbrook-social-media-guidance-for-staff"
ROTA_Q = "Can we use a WhatsApp group to arrange rota swaps?"
LIVE_Q = "Staff must not live-stream from council buildings"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
# people of config/directory.sample.toml and their DMs with the bot (as the fake Slack names them)
HANA, ALICE = "U0HANA0001", "U0ALICE001"
HANA_DM, ALICE_DM = "D0HANA0001", "D0ALICE001"


def kb_state(bot):
    return (bot.store.generation(), bot.store.documents(include_removed=True), sorted(bot.store.live_clauses()))


def texts(blocks) -> str:
    out = []
    for b in blocks or []:
        if isinstance(b.get("text"), dict):
            out.append(b["text"]["text"])
        for el in b.get("elements", []):
            if isinstance(el, dict) and isinstance(el.get("text"), (str, dict)):
                out.append(el["text"] if isinstance(el["text"], str) else el["text"]["text"])
    return "\n".join(out)


async def start_server(bot, fake, directory, reporting=False):
    bot.index.refresh()
    engine = ConversationEngine(bot, reporting=reporting, directory=directory)
    return await ServerHarness(bot, engine, fake, env={"POLICYBOT_TEAMS": "off", "POLICYBOT_WEBCHAT": "off"}).start()


@pytest.fixture
async def server(fake_bot, fake_slack, directory):
    h = await start_server(fake_bot, fake_slack, directory)
    yield h
    await h.stop()


def in_dm(dm):
    return lambda c: c.params.get("channel") == dm


async def share(server, fake, name, data, mimetype=DOCX, user=HANA, dm=HANA_DM, text="", **kw):
    entry = fake.add_file(name, data, mimetype, **kw)
    r = await server.event(file_share_event([entry], text=text, user=user, channel=dm))
    assert r.status == 200
    return entry


async def preview_and_publish(server, fake, data=None, name="Northbrook guidance.docx", label="Publish", n=1):
    await share(server, fake, name, data or make_docx(MD))
    prompt = (await fake.wait_for("chat.postMessage", n, where=in_dm(HANA_DM)))[-1]
    await server.payload(press(prompt, label, user=HANA, response_url=fake.response_url(f"p{n}")))
    done = (await fake.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Published")))[-1]
    return prompt, done


async def test_hr_shares_a_docx_previews_publishes_and_staff_get_it_as_the_answer(fake_bot, fake_slack, server, caplog):
    caplog.set_level(logging.DEBUG)
    before = kb_state(fake_bot)
    await share(server, fake_slack, "Northbrook guidance.docx", make_docx(MD))
    (download,) = await fake_slack.wait_for("file_download")
    assert download.token == TOKEN and download.result == {"ok": True}  # the bot token, as a bearer header
    (prompt,) = await fake_slack.wait_for("chat.postMessage")
    assert prompt.params["channel"] == HANA_DM
    shown = texts(prompt.params["blocks"])
    assert "12 clause(s)" in shown and f"id: {DOC_ID}" in shown
    assert "Staff must not live-stream from council buildings" in shown
    assert [label for label, _, _ in buttons_in(prompt.params["blocks"])] == ["Publish", "Edit details", "Cancel"]
    assert kb_state(fake_bot) == before

    await server.payload(press(prompt, "Publish", user=HANA, response_url=fake_slack.response_url("pub")))
    done = (await fake_slack.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Published")))[0]
    assert done.params["channel"] == HANA_DM
    assert f"is live: {DOC_ID}, version 1, 12 clause(s), edition v 1, added " in done.params["text"]
    (mark,) = await fake_slack.wait_for("response_url")
    assert "✓ Publish" in texts(mark.params["blocks"])  # the buttons cannot be pressed twice

    await server.event(message_im_event(ROTA_Q, user=ALICE, channel=ALICE_DM))
    (answer,) = await fake_slack.wait_for("chat.postMessage", where=in_dm(ALICE_DM))
    assert "WhatsApp group to arrange rota swaps" in texts(answer.params["blocks"])
    assert "Source: Northbrook District Council — Social Media Guidance for Staff (v 1, added" in texts(
        answer.params["blocks"]
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "live-stream" not in logged and "WhatsApp" not in logged  # neither the document nor the question


async def test_cancel_changes_nothing(fake_bot, fake_slack, server):
    before = kb_state(fake_bot)
    await share(server, fake_slack, "nb.pdf", make_pdf(MD), "application/pdf")
    (prompt,) = await fake_slack.wait_for("chat.postMessage")
    await server.payload(press(prompt, "Cancel", user=HANA))
    (reply,) = await fake_slack.wait_for("chat.postMessage", where=lambda c: "Cancelled" in c.params["text"])
    assert reply.params["text"] == "Cancelled: nothing was changed."
    assert kb_state(fake_bot) == before


async def test_staff_are_refused_and_their_file_is_never_downloaded(fake_bot, fake_slack, server):
    before = kb_state(fake_bot)
    await share(server, fake_slack, "nb.docx", make_docx(MD), user=ALICE, dm=ALICE_DM)
    (reply,) = await fake_slack.wait_for("chat.postMessage")
    assert reply.params["channel"] == ALICE_DM and reply.params["text"].startswith("Only HR can add or change")
    assert not buttons_in(reply.params["blocks"])
    await fake_slack.settle(0.2)
    assert fake_slack.calls_to("file_download") == []
    assert kb_state(fake_bot) == before


async def test_a_file_shared_with_a_mention_in_a_channel_is_refused_there_without_a_download(
    fake_bot, fake_slack, server
):
    before = kb_state(fake_bot)
    entry = fake_slack.add_file("nb.docx", make_docx(MD), DOCX)
    body = app_mention_event("here is the new policy", user=HANA, channel="C0000007", ts="1700000000.000100")
    body["event"]["files"] = [entry]
    await server.event(body)
    (reply,) = await fake_slack.wait_for("chat.postMessage")
    assert reply.params["channel"] == "C0000007" and reply.params["thread_ts"] == "1700000000.000100"
    assert reply.params["text"].startswith("Please send policy documents to me in a private chat")
    await fake_slack.settle(0.2)
    assert fake_slack.calls_to("file_download") == [] and kb_state(fake_bot) == before


async def test_a_50_mb_file_is_refused_before_downloading(fake_bot, fake_slack, server):
    before = kb_state(fake_bot)
    await share(server, fake_slack, "big.pdf", b"%PDF-1.4\n", "application/pdf", size=50 * 1024 * 1024)
    (reply,) = await fake_slack.wait_for("chat.postMessage")
    assert reply.params["text"] == "big.pdf is 50 MB; the limit is 10 MB. Please upload a smaller file."
    await fake_slack.settle(0.2)
    assert fake_slack.calls_to("file_download") == []
    assert kb_state(fake_bot) == before


async def test_a_file_larger_than_it_claims_is_cut_off_at_the_limit(fake_bot, fake_slack, directory):
    fake_bot.settings = dataclasses.replace(fake_bot.settings, max_upload_bytes=1024 * 1024)
    h = await start_server(fake_bot, fake_slack, directory)
    try:
        before = kb_state(fake_bot)
        await share(h, fake_slack, "padded.txt", b"Staff must be kind online.\n" * 80_000, "text/plain", size=1000)
        (reply,) = await fake_slack.wait_for("chat.postMessage")
        assert reply.params["text"] == "padded.txt is larger than the limit of 1 MB. Please upload a smaller file."
        assert (await fake_slack.wait_for("file_download"))[0].token == TOKEN
        assert kb_state(fake_bot) == before
    finally:
        await h.stop()


async def test_the_token_is_never_sent_outside_slack(fake_bot, fake_slack, server):
    entry = {
        "id": "F1",
        "name": "nb.docx",
        "mimetype": DOCX,
        "size": 1000,
        "url_private_download": "https://files.example.org/nb.docx",
    }
    await server.event(file_share_event([entry], user=HANA, channel=HANA_DM))
    (reply,) = await fake_slack.wait_for("chat.postMessage")
    assert reply.params["text"] == "I couldn't download nb.docx, so nothing was changed. Please send it again."


BAD = [
    ("policy.exe", b"MZ\x90\x00", "application/octet-stream", "files are not supported"),
    ("locked.pdf", None, "application/pdf", "encrypted PDF; please upload an unprotected copy"),
    ("broken.pdf", b"%PDF-1.7\n%broken", "application/pdf", "could not be read as a PDF"),
    ("blank.docx", "empty", DOCX, "contains no text"),
    ("empty.txt", b"", "text/plain", "empty.txt is empty."),
]


@pytest.mark.parametrize("name,data,mimetype,message", BAD)
async def test_bad_files_get_a_clear_message_and_change_nothing(
    fake_bot, fake_slack, server, name, data, mimetype, message
):
    if data is None:
        data = encrypt_pdf(make_pdf(MD))
    elif data == "empty":
        data = make_docx("")
    before = kb_state(fake_bot)
    await share(server, fake_slack, name, data, mimetype)
    (reply,) = await fake_slack.wait_for("chat.postMessage")
    assert message in reply.params["text"] and not buttons_in(reply.params["blocks"])
    assert kb_state(fake_bot) == before


async def test_the_same_file_twice_is_refused_the_second_time(fake_bot, fake_slack, server):
    await preview_and_publish(server, fake_slack)
    before = kb_state(fake_bot)
    await share(server, fake_slack, "Northbrook guidance (1).docx", make_docx(MD))
    again = (await fake_slack.wait_for("chat.postMessage", 3, where=in_dm(HANA_DM)))[-1]
    assert f"already in the knowledge base as {DOC_ID} (version 1" in again.params["text"]
    assert len(fake_bot.store.documents()) == 6 and kb_state(fake_bot) == before


async def test_gaps_for_hr_and_an_ordinary_answer_for_staff(fake_bot, fake_slack, server):
    await server.event(message_im_event("How do I book annual leave?", user=ALICE, channel=ALICE_DM))
    await fake_slack.wait_for("chat.postMessage", where=in_dm(ALICE_DM))
    await server.event(message_im_event("gaps", user=HANA, channel=HANA_DM))
    (gaps,) = await fake_slack.wait_for("chat.postMessage", where=in_dm(HANA_DM))
    assert "1×  How do I book annual leave?  (1 no answer" in texts(gaps.params["blocks"])
    await server.event(message_im_event("gaps", user=ALICE, channel=ALICE_DM))
    staff = (await fake_slack.wait_for("chat.postMessage", 2, where=in_dm(ALICE_DM)))[-1]
    assert "Questions the policies" not in texts(staff.params["blocks"])
    assert [label for label, _, _ in buttons_in(staff.params["blocks"])][-2:] == ["Helpful", "Not helpful"]


async def test_a_replace_tells_staff_answered_from_a_changed_clause_in_their_dm(fake_bot, fake_slack, directory):
    fake_bot.settings = dataclasses.replace(fake_bot.settings, notify_changed_clauses=True)
    h = await start_server(fake_bot, fake_slack, directory)
    try:
        await preview_and_publish(h, fake_slack)
        await h.event(message_im_event(LIVE_Q, user=ALICE, channel=ALICE_DM))
        await fake_slack.wait_for("chat.postMessage", where=in_dm(ALICE_DM))
        replaced = MD.replace("Staff must not live-stream", "Staff must never live-stream")
        await share(h, fake_slack, "nb-2026.docx", make_docx(replaced))
        prompt = (await fake_slack.wait_for("chat.postMessage", 3, where=in_dm(HANA_DM)))[-1]
        assert "This looks like a new version of" in prompt.params["text"]
        await h.payload(press(prompt, "Publish as a new version", user=HANA))
        notice = (
            await fake_slack.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Policy update"))
        )[0]
        assert notice.params["channel"] == ALICE_DM and "has a new version (v 2, added " in notice.params["text"]
        await fake_slack.settle(0.3)
        assert not [
            c
            for c in fake_slack.calls_to("chat.postMessage")
            if c.params["text"].startswith("Policy update") and c.params["channel"] != ALICE_DM
        ]
    finally:
        await h.stop()


async def test_without_the_setting_nobody_is_told(fake_bot, fake_slack, server):
    await preview_and_publish(server, fake_slack)
    await server.event(message_im_event(LIVE_Q, user=ALICE, channel=ALICE_DM))
    await fake_slack.wait_for("chat.postMessage", where=in_dm(ALICE_DM))
    await share(
        server,
        fake_slack,
        "nb-2026.docx",
        make_docx(MD.replace("Staff must not live-stream", "Staff must never live-stream")),
    )
    prompt = (await fake_slack.wait_for("chat.postMessage", 3, where=in_dm(HANA_DM)))[-1]
    await server.payload(press(prompt, "Publish as a new version", user=HANA))
    await fake_slack.wait_for("chat.postMessage", 2, where=lambda c: c.params["text"].startswith("Published"))
    await fake_slack.settle(0.3)
    assert not [c for c in fake_slack.calls_to("chat.postMessage") if c.params["text"].startswith("Policy update")]
    assert fake_bot.store.document(DOC_ID)["version_no"] == 2


# -- Edit details ----------------------------------------------------------------------------------------


def inputs_of(view) -> dict:
    return {b["block_id"]: b["element"].get("initial_value") for b in view["blocks"] if b.get("type") == "input"}


async def open_edit_form(server, fake, prompt, user=HANA):
    pressed = press(prompt, "Edit details", user=user, response_url=fake.response_url("edit"))
    await server.payload(pressed)
    (opened,) = await fake.wait_for("views.open")
    assert opened.params["trigger_id"] == pressed["trigger_id"]  # opened with the press's trigger, at once
    return opened.result["view"]


async def test_hr_edits_the_details_in_a_modal_publishes_and_answers_cite_the_new_organisation(
    fake_bot, fake_slack, server
):
    before = kb_state(fake_bot)
    await share(server, fake_slack, "Northbrook guidance.docx", make_docx(MD))
    (prompt,) = await fake_slack.wait_for("chat.postMessage")
    shown = texts(prompt.params["blocks"])
    assert shown.startswith("Citations will read: Northbrook District Council — Social Media Guidance for Staff (v 1, ")
    assert "Organisation: Northbrook District Council (from the document)" in shown

    view = await open_edit_form(server, fake_slack, prompt)
    assert view["callback_id"] == "pb_form" and view["submit"]["text"] == "Save"
    fields = inputs_of(view)
    assert list(fields) == ["pb_f_title", "pb_f_organisation", "pb_f_version", "pb_f_date"]
    assert fields["pb_f_title"] == "Social Media Guidance for Staff"
    assert fields["pb_f_organisation"] == "Northbrook District Council" and fields["pb_f_version"] == "1"
    assert fields["pb_f_date"].startswith("added ")
    await fake_slack.settle(0.2)
    assert fake_slack.calls_to("response_url") == []  # the preview keeps its buttons (the modal may be closed)

    r = await server.payload(form_submission(view, {"pb_f_organisation": "Southfield Borough Council"}, user=HANA))
    assert r.status == 200 and "errors" not in r.text  # the modal closes
    updated = (await fake_slack.wait_for("chat.postMessage", 2, where=in_dm(HANA_DM)))[-1]
    shown = texts(updated.params["blocks"])
    assert shown.startswith("Citations will read: Southfield Borough Council — Social Media Guidance for Staff (v 1, ")
    assert "Organisation: Southfield Borough Council (as edited)" in shown
    assert [label for label, _, _ in buttons_in(updated.params["blocks"])] == ["Publish", "Edit details", "Cancel"]
    assert kb_state(fake_bot) == before

    await server.payload(press(updated, "Publish", user=HANA))
    done = (await fake_slack.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Published")))[0]
    assert "is live: southfield-social-media-guidance-for-staff, version 1" in done.params["text"]
    await server.event(message_im_event(ROTA_Q, user=ALICE, channel=ALICE_DM))
    (answer,) = await fake_slack.wait_for("chat.postMessage", where=in_dm(ALICE_DM))
    assert "Source: Southfield Borough Council — Social Media Guidance for Staff (v 1, added" in texts(
        answer.params["blocks"]
    )


@pytest.mark.parametrize(
    "values,errors",
    [
        ({"pb_f_title": "   "}, {"pb_f_title": "Title cannot be empty."}),
        ({"pb_f_organisation": "N" * 500}, {"pb_f_organisation": "Organisation is 500 characters; the most is 200."}),
    ],
)
async def test_invalid_details_come_back_on_the_field_and_change_nothing(fake_bot, fake_slack, server, values, errors):
    before = kb_state(fake_bot)
    await share(server, fake_slack, "Northbrook guidance.docx", make_docx(MD))
    (prompt,) = await fake_slack.wait_for("chat.postMessage")
    view = await open_edit_form(server, fake_slack, prompt)
    r = await server.payload(form_submission(view, values, user=HANA))
    assert r.status == 200 and r.json() == {"response_action": "errors", "errors": errors}
    await fake_slack.settle(0.3)
    assert len(fake_slack.calls_to("chat.postMessage")) == 1 and kb_state(fake_bot) == before
    await server.payload(press(prompt, "Publish", user=HANA))  # the preview is still open, as it was
    done = (await fake_slack.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Published")))[0]
    assert f"is live: {DOC_ID}, version 1" in done.params["text"]
    assert fake_bot.store.document(DOC_ID)["organisation"] == "Northbrook District Council"


async def test_someone_who_is_not_hr_cannot_edit(fake_bot, fake_slack, server):
    await share(server, fake_slack, "Northbrook guidance.docx", make_docx(MD))
    (prompt,) = await fake_slack.wait_for("chat.postMessage")
    view = await open_edit_form(server, fake_slack, prompt)
    await server.payload(press(prompt, "Edit details", user=ALICE))
    refused = (await fake_slack.wait_for("chat.postMessage", 2))[-1]
    assert refused.params["text"].startswith("Only HR")
    r = await server.payload(form_submission(view, {"pb_f_organisation": "Alice's Council"}, user=ALICE))
    assert r.status == 200 and "errors" not in r.text
    refused = (await fake_slack.wait_for("chat.postMessage", 3))[-1]
    assert refused.params["text"].startswith("Only HR")
    assert len(fake_slack.calls_to("views.open")) == 1  # no form for Alice
    await server.payload(press(prompt, "Publish", user=HANA))
    await fake_slack.wait_for("chat.postMessage", where=lambda c: c.params["text"].startswith("Published"))
    assert fake_bot.store.document(DOC_ID)["organisation"] == "Northbrook District Council"


async def test_a_default_organisation_is_a_warning_beside_publish(fake_bot, fake_slack, server):
    await share(
        server,
        fake_slack,
        "email rules.txt",
        b"Staff must not use personal email for council business.\n",
        "text/plain",
    )
    (prompt,) = await fake_slack.wait_for("chat.postMessage")
    blocks = prompt.params["blocks"]
    at = next(i for i, b in enumerate(blocks) if b["type"] == "actions")
    assert blocks[at - 1]["type"] == "context" and "no organisation was found" in texts([blocks[at - 1]])
