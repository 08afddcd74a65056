"""HR keeps the knowledge base current from Teams: a real .docx / .pdf attached in the personal chat
(``file.download.info`` with a ``downloadUrl``, or the Emulator's ``contentUrl``), downloaded by the
real botbuilder adapter from the fake Bot Connector's port, previewed as an Adaptive Card, published
with its button; everyone else and every bad file leave the knowledge base unchanged."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from fakes.bot_connector import file_message, message, submit
from fakes.harness import ServerHarness
from kb_helpers import NORTHBROOK_MD, encrypt_pdf, make_docx, make_pdf

from adapters.teams_files import file_attachments, inbound_files
from bot.engine import ConversationEngine

ROOT = Path(__file__).resolve().parent.parent
MD = NORTHBROOK_MD.read_text(encoding="utf-8")
DOC_ID = "northbrook-social-media-guidance-for-staff"
ROTA_Q = "Can we use a WhatsApp group to arrange rota swaps?"
LIVE_Q = "Staff must not live-stream from council buildings"
# people of config/directory.sample.toml (their Teams ids) and their personal chats with the bot
HANA, ALICE = "29:1hanaHughesTeamsId", "29:1aliceAdamsTeamsId"
HANA_CHAT, ALICE_CHAT = f"a:1on1-{HANA}", f"a:1on1-{ALICE}"
JSON = {"Content-Type": "application/json"}


def kb_state(bot):
    return (bot.store.generation(), bot.store.documents(include_removed=True), sorted(bot.store.live_clauses()))


class TeamsServer(ServerHarness):
    async def activity(self, body: dict):
        return await self.post_raw(json.dumps(body), JSON, path="/api/messages")


async def start_server(bot, directory):
    bot.index.refresh()
    engine = ConversationEngine(bot, reporting=False, directory=directory)
    return await TeamsServer(bot, engine, None, env={"POLICYBOT_WEBCHAT": "off"}).start()


@pytest.fixture
async def server(fake_bot, connector, directory):
    h = await start_server(fake_bot, directory)
    yield h
    await h.stop()


def in_chat(conv):
    return lambda p: p.conversation_id == conv


async def attach(server, connector, name, data, user=HANA, text="", emulator=False, n=1):
    url = connector.add_file(name, data)
    r = await server.activity(
        file_message(connector.service_url, [(name, url)], user=user, text=text, emulator=emulator)
    )
    assert r.status in (200, 201)
    return (await connector.wait_for(in_chat(f"a:1on1-{user}"), count=n))[-1]


async def test_hr_attaches_a_docx_previews_publishes_and_staff_get_it_as_the_answer(fake_bot, connector, server):
    before = kb_state(fake_bot)
    prompt = await attach(server, connector, "Northbrook guidance.docx", make_docx(MD))
    assert connector.downloads == [{"file": "f0001", "authorization": None}]  # a pre-authenticated link
    assert "12 clause(s)" in prompt.text and f"id: {DOC_ID}" in prompt.text
    assert "Staff must not live-stream from council buildings" in prompt.text
    assert prompt.buttons == ["Publish", "Edit details", "Cancel"]
    assert kb_state(fake_bot) == before

    await server.activity(submit(connector.service_url, prompt.data("Publish"), user=HANA, reply_to=prompt.id))
    (done,) = await connector.wait_for(lambda p: p.text.startswith("Published"))
    assert done.conversation_id == HANA_CHAT
    assert f"is live: {DOC_ID}, version 1, 12 clause(s), edition v 1, added " in done.text

    await server.activity(message(connector.service_url, ROTA_Q, user=ALICE))
    (answer,) = await connector.wait_for(in_chat(ALICE_CHAT))
    assert "WhatsApp group to arrange rota swaps" in answer.text
    assert "Source: Northbrook District Council — Social Media Guidance for Staff (v 1, added" in answer.text


async def test_the_emulator_s_content_url_attachment_works_too(fake_bot, connector, server):
    prompt = await attach(server, connector, "nb.pdf", make_pdf(MD), emulator=True)
    assert prompt.buttons == ["Publish", "Edit details", "Cancel"] and "12 clause(s)" in prompt.text
    await server.activity(submit(connector.service_url, prompt.data("Cancel"), user=HANA, reply_to=prompt.id))
    (reply,) = await connector.wait_for(lambda p: "Cancelled" in p.text)
    assert reply.text == "Cancelled: nothing was changed."
    assert fake_bot.store.document(DOC_ID) is None


async def test_staff_are_refused_and_their_file_is_never_downloaded(fake_bot, connector, server):
    before = kb_state(fake_bot)
    reply = await attach(server, connector, "nb.docx", make_docx(MD), user=ALICE)
    assert reply.text.startswith("Only HR can add or change") and not reply.buttons
    assert connector.downloads == []
    assert kb_state(fake_bot) == before


BAD = [
    ("policy.exe", b"MZ\x90\x00", "files are not supported"),
    ("locked.pdf", None, "encrypted PDF; please upload an unprotected copy"),
    ("broken.pdf", b"%PDF-1.7\n%broken", "could not be read as a PDF"),
    ("blank.docx", "empty", "contains no text"),
]


@pytest.mark.parametrize("name,data,message_text", BAD)
async def test_bad_files_get_a_clear_message_and_change_nothing(fake_bot, connector, server, name, data, message_text):
    if data is None:
        data = encrypt_pdf(make_pdf(MD))
    elif data == "empty":
        data = make_docx("")
    before = kb_state(fake_bot)
    reply = await attach(server, connector, name, data)
    assert message_text in reply.text and not reply.buttons
    assert kb_state(fake_bot) == before


async def test_a_file_over_the_limit_is_cut_off_while_downloading(fake_bot, connector, directory):
    fake_bot.settings = dataclasses.replace(fake_bot.settings, max_upload_bytes=1024 * 1024)
    h = await start_server(fake_bot, directory)
    try:
        before = kb_state(fake_bot)
        reply = await attach(h, connector, "big.txt", b"Staff must be kind online.\n" * 80_000)
        assert reply.text == "big.txt is larger than the limit of 1 MB. Please upload a smaller file."
        assert kb_state(fake_bot) == before
    finally:
        await h.stop()


async def test_the_same_file_twice_is_refused_the_second_time(fake_bot, connector, server):
    prompt = await attach(server, connector, "nb.docx", make_docx(MD))
    await server.activity(submit(connector.service_url, prompt.data("Publish"), user=HANA, reply_to=prompt.id))
    await connector.wait_for(lambda p: p.text.startswith("Published"))
    before = kb_state(fake_bot)
    again = await attach(server, connector, "nb (1).docx", make_docx(MD), n=3)
    assert f"already in the knowledge base as {DOC_ID} (version 1" in again.text
    assert kb_state(fake_bot) == before


async def test_gaps_and_kb_list_for_hr_only(fake_bot, connector, server):
    await server.activity(message(connector.service_url, "kb list", user=HANA))
    (docs,) = await connector.wait_for(in_chat(HANA_CHAT))
    assert docs.text.startswith("5 document(s) I answer from:")
    await server.activity(message(connector.service_url, "kb list", user=ALICE))
    (staff,) = await connector.wait_for(in_chat(ALICE_CHAT))
    assert "document(s) I answer from" not in staff.text and staff.buttons[-2:] == ["Helpful", "Not helpful"]


async def test_a_replace_notice_reaches_staff_in_their_personal_chat(fake_bot, connector, directory):
    fake_bot.settings = dataclasses.replace(fake_bot.settings, notify_changed_clauses=True)
    h = await start_server(fake_bot, directory)
    try:
        prompt = await attach(h, connector, "nb.docx", make_docx(MD))
        await h.activity(submit(connector.service_url, prompt.data("Publish"), user=HANA, reply_to=prompt.id))
        await connector.wait_for(lambda p: p.text.startswith("Published"))
        await h.activity(message(connector.service_url, LIVE_Q, user=ALICE))  # alice's chat becomes known
        await connector.wait_for(in_chat(ALICE_CHAT))
        replaced = make_docx(MD.replace("Staff must not live-stream", "Staff must never live-stream"))
        prompt = await attach(h, connector, "nb-2026.docx", replaced, n=3)
        assert prompt.buttons == ["Publish as a new version", "Add as a separate document", "Edit details", "Cancel"]
        await h.activity(
            submit(connector.service_url, prompt.data("Publish as a new version"), user=HANA, reply_to=prompt.id)
        )
        (notice,) = await connector.wait_for(lambda p: p.text.startswith("Policy update"))
        assert notice.conversation_id == ALICE_CHAT and notice.kind == "send"  # proactive, not a reply
        assert "has a new version (v 2, added " in notice.text
    finally:
        await h.stop()


# -- which attachments are files, and which URLs are fetched ------------------------------------------


class _Engine:
    def accepts_files(self, user_id, private):
        return True


class _Ctx:
    engine = _Engine()
    policybot = None


def test_only_named_file_attachments_count():
    from botbuilder.schema import Activity

    body = file_message("http://127.0.0.1:1/", [("a.docx", "https://x.example/a")], text="hi")
    body["attachments"] += [
        {"contentType": "application/vnd.microsoft.card.adaptive", "content": {}},
        {"contentType": "image/png", "contentUrl": "https://x.example/pasted.png"},
    ]
    activity = Activity().deserialize(body)
    assert file_attachments(activity) == [("a.docx", "https://x.example/a", None)]
    assert file_attachments(Activity().deserialize(message("http://127.0.0.1:1/", "hello"))) == []


async def test_with_an_app_id_only_https_links_are_fetched(connector):
    from botbuilder.schema import Activity

    url = connector.add_file("nb.md", MD.encode())
    for bad in (url, "file:///etc/passwd", "ftp://x.example/nb.md", "/relative/nb.md"):
        activity = Activity().deserialize(file_message(connector.service_url, [("nb.md", bad)]))
        (f,) = await inbound_files(_Ctx(), activity, "hana", True, https_only=True)
        assert f.problem == "download_failed" and f.data == b"", bad
    assert connector.downloads == []
    activity = Activity().deserialize(file_message(connector.service_url, [("nb.md", url)]))
    (f,) = await inbound_files(_Ctx(), activity, "hana", True, https_only=False)  # Emulator mode: loopback http
    assert f.problem is None and f.data == MD.encode() and f.size == len(MD.encode())


# -- Edit details --------------------------------------------------------------------------------------


async def open_edit_card(server, connector, prompt, n=2):
    await server.activity(submit(connector.service_url, prompt.data("Edit details"), user=HANA, reply_to=prompt.id))
    return (await connector.wait_for(in_chat(HANA_CHAT), count=n))[-1]


async def test_hr_edits_the_details_on_a_card_publishes_and_answers_cite_the_new_organisation(
    fake_bot, connector, server
):
    before = kb_state(fake_bot)
    prompt = await attach(server, connector, "Northbrook guidance.docx", make_docx(MD))
    assert prompt.text.startswith(
        "Citations will read: Northbrook District Council — Social Media Guidance for Staff (v 1, added "
    )
    form = await open_edit_card(server, connector, prompt)
    fields = form.inputs
    assert list(fields) == ["pb_f_title", "pb_f_organisation", "pb_f_version", "pb_f_date"]
    assert fields["pb_f_title"] == "Social Media Guidance for Staff"
    assert fields["pb_f_organisation"] == "Northbrook District Council" and fields["pb_f_version"] == "1"
    assert form.buttons == ["Save"]
    assert kb_state(fake_bot) == before

    typed = dict(fields, pb_f_organisation="Southfield Borough Council")
    await server.activity(submit(connector.service_url, form.data("Save"), user=HANA, reply_to=form.id, inputs=typed))
    updated = (await connector.wait_for(in_chat(HANA_CHAT), count=3))[-1]
    assert updated.text.startswith(
        "Citations will read: Southfield Borough Council — Social Media Guidance for Staff (v 1, added "
    )
    assert updated.buttons == ["Publish", "Edit details", "Cancel"]
    assert kb_state(fake_bot) == before

    await server.activity(submit(connector.service_url, updated.data("Publish"), user=HANA, reply_to=updated.id))
    (done,) = await connector.wait_for(lambda p: p.text.startswith("Published"))
    assert "is live: southfield-social-media-guidance-for-staff, version 1" in done.text
    await server.activity(message(connector.service_url, ROTA_Q, user=ALICE))
    (answer,) = await connector.wait_for(in_chat(ALICE_CHAT))
    assert "Source: Southfield Borough Council — Social Media Guidance for Staff (v 1, added" in answer.text


@pytest.mark.parametrize(
    "field,typed,error",
    [
        ("pb_f_title", "", "Title cannot be empty."),
        ("pb_f_organisation", "N" * 500, "Organisation is 500 characters; the most is 200."),
    ],
)
async def test_invalid_details_show_the_card_again_with_the_field_s_error_and_change_nothing(
    fake_bot, connector, server, field, typed, error
):
    before = kb_state(fake_bot)
    prompt = await attach(server, connector, "Northbrook guidance.docx", make_docx(MD))
    form = await open_edit_card(server, connector, prompt)
    await server.activity(
        submit(
            connector.service_url,
            form.data("Save"),
            user=HANA,
            reply_to=form.id,
            inputs=dict(form.inputs, **{field: typed}),
        )
    )
    again = (await connector.wait_for(in_chat(HANA_CHAT), count=3))[-1]
    assert again.buttons == ["Save"] and again.inputs[field] == typed  # as typed, to correct
    body = again.cards[-1]["body"]
    at = next(i for i, el in enumerate(body) if el.get("id") == field)
    assert body[at + 1] == {
        "type": "TextBlock",
        "text": error,
        "color": "Attention",
        "wrap": True,
        "size": "Small",
        "spacing": "Small",
    }
    assert kb_state(fake_bot) == before
    await server.activity(submit(connector.service_url, prompt.data("Publish"), user=HANA, reply_to=prompt.id))
    (done,) = await connector.wait_for(lambda p: p.text.startswith("Published"))
    assert f"is live: {DOC_ID}, version 1" in done.text
    assert fake_bot.store.document(DOC_ID)["organisation"] == "Northbrook District Council"


async def test_someone_who_is_not_hr_cannot_edit(fake_bot, connector, server):
    prompt = await attach(server, connector, "Northbrook guidance.docx", make_docx(MD))
    form = await open_edit_card(server, connector, prompt)
    await server.activity(submit(connector.service_url, prompt.data("Edit details"), user=ALICE))
    (refused,) = await connector.wait_for(in_chat(ALICE_CHAT))
    assert refused.text.startswith("Only HR") and not refused.inputs
    await server.activity(
        submit(
            connector.service_url,
            form.data("Save"),
            user=ALICE,
            inputs=dict(form.inputs, pb_f_organisation="Alice's Council"),
        )
    )
    refused = (await connector.wait_for(in_chat(ALICE_CHAT), count=2))[-1]
    assert refused.text.startswith("Only HR")
    await server.activity(submit(connector.service_url, prompt.data("Publish"), user=HANA, reply_to=prompt.id))
    await connector.wait_for(lambda p: p.text.startswith("Published"))
    assert fake_bot.store.document(DOC_ID)["organisation"] == "Northbrook District Council"


async def test_a_default_organisation_is_a_warning_beside_publish(fake_bot, connector, server):
    prompt = await attach(
        server, connector, "email rules.txt", b"Staff must not use personal email for council business.\n"
    )
    body = prompt.cards[-1]["body"]
    at = next(i for i, el in enumerate(body) if el["type"] == "ActionSet")
    assert body[at - 1]["color"] == "Warning" and "no organisation was found" in body[at - 1]["text"]
