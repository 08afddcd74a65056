"""Knowledge-base upkeep in chat through the real engine (bot.engine + bot.upkeep.chat): an HR user sends a
real .docx / .pdf in a private chat, sees its clauses, publishes or cancels; everyone else is refused;
bad files change nothing; ``gaps`` and ``kb list`` for HR only; change notices off by default."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from kb_helpers import NORTHBROOK_MD, encrypt_pdf, make_docx, make_pdf

from bot.directory import Directory
from bot.engine import ConversationEngine
from bot.forms import submit_value
from bot.messages import Action, Inbound, InboundFile
from bot.upkeep.chat import (
    ACTION_CANCEL,
    ACTION_EDIT,
    ACTION_PUBLISH,
    ACTION_SAVE_DETAILS,
    NOT_HR_TEXT,
    NOT_OPEN_TEXT,
    NOT_PRIVATE_TEXT,
    UNSPECIFIED_ORG_WARNING,
)

ROOT = Path(__file__).resolve().parent.parent
MD = NORTHBROOK_MD.read_text(encoding="utf-8")
DOC_ID = "northbrook-social-media-guidance-for-staff"
LIVE_Q = "Staff must not live-stream from council buildings"
ROTA_Q = "Can we use a WhatsApp group to arrange rota swaps?"
REPLACED = (
    MD.replace("Staff must not live-stream", "Staff must never live-stream").replace(
        "Staff who leave the team must be removed from the group by the manager on their last working day.\n", ""
    )
    + "\nThis guidance is reviewed every year by the HR Policy Team.\n"
)


@pytest.fixture
def engine(fake_bot, directory):
    fake_bot.index.refresh()
    return ConversationEngine(fake_bot, reporting=False, directory=directory)


def kb_state(bot):
    """What must not move when an upload is refused: generation, documents (with versions), live clauses."""
    return (bot.store.generation(), bot.store.documents(include_removed=True), sorted(bot.store.live_clauses()))


def upload(engine, data: bytes, name: str, user="hana", private=True, caption="", **file_kw):
    f = InboundFile(name=name, data=data, content_type=None, size=len(data), **file_kw)
    return engine.handle(Inbound(user_id=user, text=caption, conversation_id="dm", private=private, files=(f,)))


def press(engine, msg, label: str, user="hana"):
    choice = next(c for c in msg.choices if c.label == label)
    return engine.handle(
        Inbound(user_id=user, conversation_id="dm", source="action", action=Action(choice.action_id, choice.value))
    )


def say(engine, text: str, user="hana", private=True):
    return engine.handle(Inbound(user_id=user, text=text, conversation_id="dm", private=private))


# -- the happy path ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [".docx", ".pdf"])
def test_hr_uploads_previews_publishes_and_it_answers_at_once(fake_bot, engine, kind):
    data = make_docx(MD) if kind == ".docx" else make_pdf(MD, lines_per_page=15)
    before = kb_state(fake_bot)
    assert not any(q.clause_id.startswith("northbrook") for q in fake_bot.ask(ROTA_Q, record_gap=False).quotes)

    (prompt,) = upload(engine, data, "Northbrook guidance" + kind)
    assert prompt.kind == "prompt"
    assert [c.label for c in prompt.choices] == ["Publish", "Edit details", "Cancel"]
    assert {c.action_id for c in prompt.choices} == {ACTION_PUBLISH, ACTION_EDIT, ACTION_CANCEL}
    assert "12 clause(s)" in prompt.text and f"id: {DOC_ID}" in prompt.text
    assert "Staff must not live-stream from council buildings" in prompt.text  # the clauses are shown
    assert kb_state(fake_bot) == before  # a preview writes nothing

    (done,) = press(engine, prompt, "Publish")
    assert done.kind == "text"
    assert f"is live: {DOC_ID}, version 1, 12 clause(s), edition v 1, added " in done.text
    assert "Citations will read: Northbrook District Council — Social Media Guidance for Staff (v 1, added" in done.text
    doc = fake_bot.store.document(DOC_ID)
    assert doc["status"] == "active" and doc["clauses"] == 12 and doc["added_by"] == "hana"
    assert doc["origin"] == "upload"

    (answer,) = say(engine, ROTA_Q, user="alice")  # the same index object, refreshed before the reply
    assert answer.kind == "answer"
    assert answer.quotes[0].clause_id.startswith(DOC_ID + ":")
    assert answer.quotes[0].citation.edition.startswith("v 1, added ")


def test_cancel_changes_nothing_and_the_preview_cannot_be_published_afterwards(fake_bot, engine):
    before = kb_state(fake_bot)
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    (cancelled,) = press(engine, prompt, "Cancel")
    assert cancelled.text == "Cancelled: nothing was changed."
    (late,) = press(engine, prompt, "Publish")
    assert "no longer open" in late.text
    assert kb_state(fake_bot) == before
    assert not engine.kb.admin._pending


# -- who may ------------------------------------------------------------------------------------------


def test_staff_who_are_not_hr_are_refused_and_nothing_is_kept(fake_bot, engine):
    before = kb_state(fake_bot)
    (reply,) = upload(engine, make_docx(MD), "nb.docx", user="alice")
    assert reply.text == NOT_HR_TEXT and not reply.choices
    (reply,) = upload(engine, make_docx(MD), "nb.docx", user="slack:U0STRANGER")
    assert reply.text == NOT_HR_TEXT
    assert kb_state(fake_bot) == before and not engine.kb.admin._pending


def test_hr_in_a_shared_channel_is_asked_to_use_a_private_chat(fake_bot, engine):
    before = kb_state(fake_bot)
    (reply,) = upload(engine, make_docx(MD), "nb.docx", private=False)
    assert reply.text == NOT_PRIVATE_TEXT
    assert kb_state(fake_bot) == before and not engine.kb.admin._pending


def test_without_a_directory_nobody_can_upload(fake_bot):
    engine = ConversationEngine(fake_bot, reporting=False)
    assert engine.directory is None
    (reply,) = upload(engine, make_docx(MD), "nb.docx")
    assert reply.text == NOT_HR_TEXT


def test_a_directory_in_the_data_dir_is_found_without_reporting(fake_bot, monkeypatch):
    monkeypatch.delenv("POLICYBOT_DIRECTORY", raising=False)
    (fake_bot.data_dir / "directory.toml").write_text((ROOT / "config" / "directory.sample.toml").read_text())
    engine = ConversationEngine(fake_bot, reporting=False)
    assert engine.directory is not None and engine.accepts_files("hana", True)
    assert not engine.accepts_files("hana", False) and not engine.accepts_files("alice", True)
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    assert prompt.kind == "prompt"


def test_someone_else_cannot_publish_hr_s_preview(fake_bot, engine):
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    before = kb_state(fake_bot)
    (reply,) = press(engine, prompt, "Publish", user="alice")
    assert "Only HR can change the policies" in reply.text
    (reply,) = press(engine, prompt, "Publish", user="sam")  # in the directory, not HR
    assert "Only HR" in reply.text
    assert kb_state(fake_bot) == before
    (done,) = press(engine, prompt, "Publish")  # still hana's to publish
    assert "is live" in done.text


# -- bad input ---------------------------------------------------------------------------------------

BAD = [
    ("policy.exe", b"MZ\x90\x00", "files are not supported; please upload .txt, .md, .docx or .pdf"),
    ("policy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "Please save it as .docx"),
    ("broken.pdf", b"%PDF-1.7\n%broken", "could not be read as a PDF"),
    ("renamed.pdf", b"just some text, not a PDF", "is not a valid PDF file"),
    ("broken.docx", b"PK\x03\x04nonsense", "could not be read as a Word document"),
    ("empty.txt", b"", "empty.txt is empty."),
    ("blank.docx", None, "contains no text"),
    ("headings.md", b"# Title\n## Section\n", "no policy text that could be cut into clauses"),
]


@pytest.mark.parametrize("name,data,message", BAD)
def test_bad_files_are_refused_with_a_clear_message_and_change_nothing(fake_bot, engine, name, data, message):
    if data is None:
        data = make_docx("")
    before = kb_state(fake_bot)
    (reply,) = upload(engine, data, name)
    assert reply.kind == "error" and message in reply.text
    assert not reply.choices
    assert kb_state(fake_bot) == before and not engine.kb.admin._pending


def test_an_encrypted_pdf_is_refused(fake_bot, engine):
    before = kb_state(fake_bot)
    (reply,) = upload(engine, encrypt_pdf(make_pdf(MD)), "locked.pdf")
    assert reply.kind == "error" and "encrypted PDF; please upload an unprotected copy" in reply.text
    assert kb_state(fake_bot) == before


def test_a_50_mb_file_is_refused_whether_or_not_it_was_downloaded(fake_bot, engine):
    before = kb_state(fake_bot)
    big = 50 * 1024 * 1024
    f = InboundFile("big.pdf", b"", "application/pdf", size=big, problem="too_large")
    (reply,) = engine.handle(Inbound(user_id="hana", conversation_id="dm", files=(f,)))
    assert reply.kind == "error" and reply.text == "big.pdf is 50 MB; the limit is 10 MB. Please upload a smaller file."
    (reply,) = upload(engine, b"%PDF-1.4\n" + b"0" * (11 * 1024 * 1024), "big.pdf")  # bytes arrived anyway
    assert "the limit is 10 MB" in reply.text
    assert kb_state(fake_bot) == before


def test_a_download_that_failed_is_reported(fake_bot, engine):
    f = InboundFile("nb.docx", b"", None, size=1000, problem="download_failed")
    (reply,) = engine.handle(Inbound(user_id="hana", conversation_id="dm", files=(f,)))
    assert reply.text == "I couldn't download nb.docx, so nothing was changed. Please send it again."


def test_the_same_file_twice_is_refused_the_second_time(fake_bot, engine):
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    before = kb_state(fake_bot)
    (reply,) = upload(engine, make_docx(MD), "nb (1).docx")
    assert reply.kind == "error" and f"already in the knowledge base as {DOC_ID} (version 1" in reply.text
    assert kb_state(fake_bot) == before


def test_two_previews_of_one_file_publish_only_once(fake_bot, engine):
    (first,) = upload(engine, make_docx(MD), "nb.docx")
    (second,) = upload(engine, make_docx(MD), "nb.docx")
    press(engine, first, "Publish")
    before = kb_state(fake_bot)
    (reply,) = press(engine, second, "Publish")
    assert reply.kind == "error" and "already live" in reply.text
    assert kb_state(fake_bot) == before


# -- a new version of a live document ------------------------------------------------------------------


def test_a_file_with_the_same_title_is_offered_as_a_new_version(fake_bot, engine):
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    (prompt,) = upload(engine, make_docx(REPLACED), "nb-2026.docx")
    assert [c.label for c in prompt.choices] == [
        "Publish as a new version",
        "Add as a separate document",
        "Edit details",
        "Cancel",
    ]
    assert f"This looks like a new version of {DOC_ID}" in prompt.text
    assert "1 added, 1 removed, 1 changed" in prompt.text  # the change against version 1
    (done,) = press(engine, prompt, "Publish as a new version")
    assert f"is live as the new version: {DOC_ID}, version 2, 12 clause(s), edition v 2, added " in done.text
    assert "Changes from version 1: 1 added, 1 removed, 1 changed" in done.text
    versions = fake_bot.store.versions(DOC_ID)
    assert [v["version_no"] for v in versions] == [1, 2] and [v["current"] for v in versions] == [0, 1]
    assert len(fake_bot.store.documents()) == 6
    assert not engine.kb.admin._pending  # the other choice's preview was dropped
    (answer,) = say(engine, LIVE_Q, user="alice")
    assert answer.quotes[0].text.startswith("Staff must never live-stream")
    assert answer.quotes[0].citation.edition.startswith("v 2, added ")


def test_the_same_title_can_still_be_added_as_a_separate_document(fake_bot, engine):
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    (prompt,) = upload(engine, make_docx(REPLACED), "nb-2026.docx")
    (done,) = press(engine, prompt, "Add as a separate document")
    assert f"is live: {DOC_ID}-2, version 1" in done.text
    assert fake_bot.store.document(DOC_ID)["version_no"] == 1
    assert not engine.kb.admin._pending


def test_cancel_drops_both_previews_of_a_new_version_prompt(fake_bot, engine):
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    before = kb_state(fake_bot)
    (prompt,) = upload(engine, make_docx(REPLACED), "nb-2026.docx")
    assert len(engine.kb.admin._pending) == 2
    (reply,) = press(engine, prompt, "Cancel")
    assert reply.text == "Cancelled: nothing was changed."
    assert not engine.kb.admin._pending and kb_state(fake_bot) == before


def test_a_replace_caption_names_the_document(fake_bot, engine):
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    (prompt,) = upload(engine, REPLACED.encode(), "anything.md", caption=f"replace {DOC_ID}")
    assert [c.label for c in prompt.choices] == ["Publish", "Edit details", "Cancel"]
    assert f"Here is the new version of {DOC_ID}" in prompt.text
    (done,) = press(engine, prompt, "Publish")
    assert f"{DOC_ID}, version 2" in done.text
    (reply,) = upload(engine, b"Staff must be kind online.\n", "x.md", caption="replace no-such-doc")
    assert reply.kind == "error" and "There is no active document 'no-such-doc'" in reply.text


# -- HR commands ----------------------------------------------------------------------------------------


def test_gaps_and_kb_list_for_hr_in_a_private_chat(fake_bot, engine):
    assert say(engine, "How do I book annual leave??", user="alice")[0].kind == "no_answer"
    say(engine, "how do I book  annual leave", user="bob")
    fake_bot.record_feedback("What about Mastodon?", helpful=False)
    (gaps,) = say(engine, "gaps")
    assert gaps.kind == "text" and gaps.text.startswith("Questions the policies did not answer well")
    assert "2×  how do I book  annual leave  (2 no answer" in gaps.text
    assert "1×  What about Mastodon?  (1 not helpful" in gaps.text
    (docs,) = say(engine, "kb list")
    assert docs.text.startswith("5 document(s) I answer from:")
    assert "• wbc  v1" in docs.text and "Social Media Guidance (HRSM1)" in docs.text
    (help_,) = say(engine, "kb")
    assert "Send me a policy document" in help_.text


@pytest.mark.parametrize("text", ["gaps", "kb list", "kb"])
def test_hr_commands_are_ordinary_questions_for_everyone_else(fake_bot, engine, text):
    for reply in say(engine, text, user="alice") + say(engine, text, private=False):
        assert reply.kind in ("answer", "no_answer")
        assert "Questions the policies" not in reply.text and "document(s) I answer from" not in reply.text
        assert "policy document" not in reply.text


# -- change notices ----------------------------------------------------------------------------------------


def _notify(bot, on: bool):
    bot.settings = dataclasses.replace(bot.settings, notify_changed_clauses=on)


def test_change_notices_are_off_by_default(fake_bot, engine):
    assert fake_bot.settings.notify_changed_clauses is False
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    say(engine, LIVE_Q, user="alice")
    out = press(engine, upload(engine, make_docx(REPLACED), "v2.docx")[0], "Publish as a new version")
    assert len(out) == 1 and not any(o.to_user for o in out)
    assert "will be told" not in out[0].text
    assert fake_bot.store.db.execute("SELECT count(*) FROM answers_log").fetchone()[0] == 0


def test_change_notices_go_privately_to_people_answered_from_a_changed_clause(fake_bot, engine):
    _notify(fake_bot, True)
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    (a,) = say(engine, LIVE_Q, user="alice")
    assert a.quotes[0].clause_id == f"{DOC_ID}:002"
    say(engine, "Staff must not post photos of service users", user="bob")  # other documents
    say(engine, LIVE_Q)  # hana herself: the uploader is not told
    out = press(engine, upload(engine, make_docx(REPLACED), "v2.docx")[0], "Publish as a new version")
    done, notice = out
    assert "1 person(s) answered from a changed clause in the last 30 days will be told privately." in done.text
    assert notice.to_user == "alice" and notice.kind == "text"
    assert notice.text.startswith(
        "Policy update: “Social Media Guidance for Staff” (Northbrook District Council) has a new version (v 2, added "
    )
    assert (notice.document, notice.document_version) == (DOC_ID, 2)


def test_change_notices_are_queued_in_the_outbox_when_reporting_is_on(fake_bot):
    from bot.reporting.crypto import ReportCipher
    from bot.reporting.routing import RoutingConfig
    from bot.reporting.service import ReportingService

    svc = ReportingService(
        fake_bot.data_dir,
        Directory.load(ROOT / "config" / "directory.sample.toml"),
        ReportCipher(bytes(range(32))),
        RoutingConfig.load(ROOT / "config" / "routing.toml"),
        policy_store=fake_bot.store,
    )
    try:
        fake_bot.index.refresh()
        engine = ConversationEngine(fake_bot, reporting=svc)
        _notify(fake_bot, True)
        press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
        say(engine, LIVE_Q, user="alice")
        out = press(engine, upload(engine, make_docx(REPLACED), "v2.docx")[0], "Publish as a new version")
        assert len(out) == 1 and "will be told privately" in out[0].text  # queued, not in hana's reply
        (queued,) = svc.outbox.pending("alice")
        assert queued.to_user == "alice" and queued.text.startswith("Policy update: ")
        assert queued.document == DOC_ID and queued.outbox_id
        assert not svc.outbox.pending("hana")
    finally:
        svc.close()


# -- Edit details --------------------------------------------------------------------------------------


def save(engine, form_msg, user="hana", **fields):
    form = form_msg.form
    values = {f.name: f.value for f in form.fields} | fields
    return engine.handle(
        Inbound(
            user_id=user,
            conversation_id="dm",
            source="action",
            action=Action(form.action_id, submit_value(form.value, values)),
        )
    )


def test_the_preview_says_how_citations_will_read_and_where_each_detail_came_from(fake_bot, engine):
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    head = prompt.text.split("\n")
    assert head[0].startswith(
        "Citations will read: Northbrook District Council — Social Media Guidance for Staff (v 1, added "
    )
    assert head[1:4] == [
        "Title: Social Media Guidance for Staff (from the document)",
        "Organisation: Northbrook District Council (from the document)",
        "Version: 1 (default: the version number)",
    ]
    assert head[4].startswith("Date: added ") and head[4].endswith("(default: the upload date)")
    assert prompt.choices_note is None and UNSPECIFIED_ORG_WARNING not in prompt.text
    assert prompt.keep_choices == (ACTION_EDIT,)


def test_a_default_organisation_is_a_warning_beside_publish(fake_bot, engine):
    (prompt,) = upload(engine, b"Staff must not use personal email for council business.\n", "email_rules.txt")
    assert prompt.text.startswith("Citations will read: Unspecified organisation — Email rules (v 1, added ")
    assert "Organisation: Unspecified organisation (default: none found)" in prompt.text
    assert prompt.choices_note == UNSPECIFIED_ORG_WARNING and UNSPECIFIED_ORG_WARNING in prompt.text
    (form,) = press(engine, prompt, "Edit details")
    (fixed,) = save(engine, form, organisation="Northbrook District Council")
    assert fixed.choices_note is None and UNSPECIFIED_ORG_WARNING not in fixed.text
    assert "No organisation given" not in fixed.text  # the warning about the default went with it
    assert "Organisation: Northbrook District Council (as edited)" in fixed.text


def test_hr_edits_the_organisation_publishes_and_answers_cite_it(fake_bot, engine):
    before = kb_state(fake_bot)
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    (form_msg,) = press(engine, prompt, "Edit details")
    form = form_msg.form
    assert form.action_id == ACTION_SAVE_DETAILS and form.submit == "Save"
    assert {f.name: f.value for f in form.fields} == {
        "title": "Social Media Guidance for Staff",
        "organisation": "Northbrook District Council",
        "version": "1",
        "date": form.fields[3].value,
    }
    assert form.fields[3].value.startswith("added ")
    assert kb_state(fake_bot) == before  # opening the form changes nothing

    (edited,) = save(engine, form_msg, organisation="  Southfield   Borough Council ", version="v2.1")
    assert edited.kind == "prompt" and [c.label for c in edited.choices] == ["Publish", "Edit details", "Cancel"]
    assert edited.text.startswith(
        "Citations will read: Southfield Borough Council — Social Media Guidance for Staff (v 2.1, added "
    )
    assert "id: southfield-social-media-guidance-for-staff" in edited.text  # the id follows the organisation
    assert LIVE_Q in edited.text  # the clauses keep their text
    assert kb_state(fake_bot) == before
    assert press(engine, prompt, "Publish")[0].text == NOT_OPEN_TEXT  # the old preview was replaced

    (done,) = press(engine, edited, "Publish")
    assert "is live: southfield-social-media-guidance-for-staff, version 1, 12 clause(s), edition v 2.1" in done.text
    top = fake_bot.ask(ROTA_Q).quotes[0]
    assert top.clause_id.startswith("southfield-social-media-guidance-for-staff:")
    assert top.citation.organisation == "Southfield Borough Council"
    assert top.citation.edition.startswith("v 2.1, added ")


@pytest.mark.parametrize(
    "fields,field,message",
    [
        ({"title": "   "}, "title", "Title cannot be empty."),
        ({"organisation": "x" * 500}, "organisation", "Organisation is 500 characters; the most is 200."),
        ({"date": "March\n2026"}, "date", "Date must be one line of plain text"),
    ],
)
def test_invalid_details_show_the_form_again_and_change_nothing(fake_bot, engine, fields, field, message):
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    (form_msg,) = press(engine, prompt, "Edit details")
    assert engine.check_form(ACTION_SAVE_DETAILS, fields)[field].startswith(message)
    (again,) = save(engine, form_msg, **fields)
    form = again.form
    assert form is not None and form.errors[field].startswith(message)
    assert {f.name: f.value for f in form.fields}[field] == fields[field]  # as typed, to correct
    assert f"Not saved: {message}" in again.text
    (done,) = press(engine, prompt, "Publish")  # the preview is still open, unchanged
    assert f"is live: {DOC_ID}, version 1" in done.text
    assert fake_bot.store.document(DOC_ID)["organisation"] == "Northbrook District Council"


def test_someone_who_is_not_hr_cannot_edit_hr_s_preview(fake_bot, engine):
    (prompt,) = upload(engine, make_docx(MD), "nb.docx")
    (form_msg,) = press(engine, prompt, "Edit details")
    (refused,) = press(engine, prompt, "Edit details", user="alice")
    assert refused.form is None and "Only HR" in refused.text
    (refused,) = save(engine, form_msg, user="alice", organisation="Alice's Council")
    assert refused.form is None and "Only HR" in refused.text
    (done,) = press(engine, prompt, "Publish")
    assert f"is live: {DOC_ID}" in done.text
    assert fake_bot.store.document(DOC_ID)["organisation"] == "Northbrook District Council"


def test_editing_a_new_version_prompt_edits_both_choices(fake_bot, engine):
    press(engine, upload(engine, make_docx(MD), "nb.docx")[0], "Publish")
    (prompt,) = upload(engine, make_docx(REPLACED), "nb-2026.docx")
    (form_msg,) = press(engine, prompt, "Edit details")
    (edited,) = save(engine, form_msg, version="2026", date="January 2026")
    assert [c.label for c in edited.choices][:2] == ["Publish as a new version", "Add as a separate document"]
    assert edited.text.startswith(
        "Citations will read: Northbrook District Council — Social Media Guidance for Staff (v 2026, January 2026)."
    )
    (done,) = press(engine, edited, "Publish as a new version")
    assert f"is live as the new version: {DOC_ID}, version 2, 12 clause(s), edition v 2026, January 2026." in done.text
