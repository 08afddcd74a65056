"""The platform-free knowledge-base API (bot.upkeep.admin) on the fake embedder: preview, commit, replace,
remove, incremental indexing, citations with editions, chat authorisation and notify-on-replace."""

import dataclasses

import pytest
from kb_helpers import NORTHBROOK_MD, encrypt_pdf, make_docx, make_pdf

from bot.upkeep.admin import DEFAULT_ORGANISATION, KnowledgeAdmin, NotAuthorised, clean_version, default_doc_id, slugify
from knowledge.loaders import BadUpload

MD = NORTHBROOK_MD.read_text(encoding="utf-8")
ORG = "Northbrook District Council"
ROTA_Q = "Can we use a WhatsApp group to arrange rota swaps?"


def snapshot_of(bot):
    return (bot.store.generation(), bot.store.documents(include_removed=True), sorted(bot.store.live_clauses()))


@pytest.fixture
def admin(fake_bot):
    fake_bot.index.refresh()
    return KnowledgeAdmin(fake_bot, is_hr=lambda uid: uid == "hana")


@pytest.mark.parametrize("kind", [".md", ".docx", ".pdf"])
def test_add_each_file_type_makes_its_clauses_answers(fake_bot, admin, kind):
    data = {".md": MD.encode(), ".docx": make_docx(MD), ".pdf": make_pdf(MD, lines_per_page=15)}[kind]
    before = fake_bot.ask(ROTA_Q, record_gap=False)
    assert not any(q.clause_id.startswith("northbrook") for q in before.quotes)
    p = admin.preview(data, "northbrook" + kind, organisation=ORG, doc_id="northbrook")
    assert len(p.clauses) == 12 and p.action == "add" and p.version_no == 1
    assert fake_bot.store.document("northbrook") is None  # a preview writes nothing
    result = admin.commit(p)
    assert result.action == "added" and result.clauses == 12
    assert result.index["added"] == 12 and result.index["total"] == 208 + 12
    answer = fake_bot.ask(ROTA_Q)
    assert answer.answered
    top = answer.quotes[0]
    assert top.clause_id.startswith("northbrook:")
    assert top.citation.organisation == ORG
    assert top.citation.edition.startswith("v 1, added ")


def test_defaults_title_organisation_and_id(fake_bot, admin):
    p = admin.preview(MD.encode(), "nb.md")
    assert p.document.organisation == ORG  # named in the title
    assert p.document.title == "Social Media Guidance for Staff"
    assert p.doc_id == "northbrook-social-media-guidance-for-staff"
    assert any("Organisation taken from the document" in w for w in p.warnings)
    plain = "Staff must not use personal email for council business.\n"
    q = admin.preview(plain.encode(), "email_rules.txt")
    assert q.document.organisation == DEFAULT_ORGANISATION
    assert q.document.title == "Email rules"
    assert any("No organisation given" in w for w in q.warnings)


def test_ids_are_unique_and_never_reused(fake_bot, admin):
    a = admin.commit(admin.preview(MD.encode(), "nb.md", title="Medway", organisation="Medway Council"))
    assert a.doc_id == "medway-2"  # "medway" is a bundled document
    admin.remove("medway-2")
    b = admin.commit(admin.preview(MD.encode(), "nb.md", title="Medway", organisation="Medway Council"))
    assert b.doc_id == "medway-3"
    with pytest.raises(BadUpload) as exc:
        admin.preview(b"Staff must not do other things.\n", "x.txt", doc_id="medway-2")
    assert exc.value.code == "id_taken"
    with pytest.raises(BadUpload) as exc:
        admin.preview(b"Staff must not do other things.\n", "x.txt", doc_id="Bad Id!")
    assert exc.value.code == "bad_id"


def test_preview_text_lists_every_clause(admin):
    p = admin.preview(MD.encode(), "nb.md", organisation=ORG)
    text = p.to_text()
    for c in p.clauses:
        assert c.text in text
    assert "[3. WhatsApp groups and rota swaps]" in text
    short = p.to_text(max_clauses=3, max_chars=40)
    assert "… and 9 more clause(s)." in short
    js = p.to_json()
    assert js["doc_id"] == p.doc_id and len(js["clauses"]) == 12 and js["diff"] is None
    assert js["sources"]["organisation"] == "given" and js["sources_in_words"]["organisation"] == "as given"


BAD = [
    ("policy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "unsupported_type"),
    ("empty.md", b"", "empty"),
    ("headings.md", b"# Title\n## Section\n## Another section\n", "no_clauses"),
    ("broken.pdf", b"%PDF-1.7\n%broken", "corrupt"),
    ("broken.docx", b"PK\x03\x04nonsense", "corrupt"),
]


@pytest.mark.parametrize("name,data,code", BAD)
def test_bad_input_leaves_the_knowledge_base_unchanged(fake_bot, admin, name, data, code):
    before = snapshot_of(fake_bot)
    with pytest.raises(BadUpload) as exc:
        admin.preview(data, name)
    assert exc.value.code == code
    assert snapshot_of(fake_bot) == before


def test_encrypted_pdf_and_oversized_upload_are_refused(fake_bot, admin):
    before = snapshot_of(fake_bot)
    with pytest.raises(BadUpload, match="encrypted PDF; please upload an unprotected copy"):
        admin.preview(encrypt_pdf(make_pdf(MD)), "locked.pdf")
    small = KnowledgeAdmin(fake_bot, max_bytes=1000)
    with pytest.raises(BadUpload) as exc:
        small.preview(MD.encode(), "nb.md")
    assert exc.value.code == "too_large"
    assert snapshot_of(fake_bot) == before


def test_the_same_file_twice_is_refused(fake_bot, admin):
    admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG))
    before = snapshot_of(fake_bot)
    with pytest.raises(BadUpload) as exc:
        admin.preview(MD.encode(), "nb-again.md", organisation="Someone else")
    assert exc.value.code == "duplicate"
    assert "already in the knowledge base as northbrook-social-media-guidance-for-staff (version 1" in str(exc.value)
    assert snapshot_of(fake_bot) == before


def test_a_bundled_policy_uploaded_again_is_a_duplicate(admin):
    from knowledge.catalog import POLICY_DIR

    data = (POLICY_DIR / "003_79f148c613570ebe.txt").read_bytes()
    with pytest.raises(BadUpload) as exc:
        admin.preview(data, "wbc.txt")
    assert exc.value.code == "duplicate" and "wbc" in str(exc.value)


def test_two_previews_of_one_file_commit_only_once(fake_bot, admin):
    p1 = admin.preview(MD.encode(), "nb.md", organisation=ORG)
    p2 = admin.preview(MD.encode(), "nb.md", organisation=ORG)
    admin.commit(p1)
    before = snapshot_of(fake_bot)
    with pytest.raises(BadUpload) as exc:
        admin.commit(p2)
    assert exc.value.code == "duplicate"
    assert snapshot_of(fake_bot) == before


REPLACED = (
    MD.replace("Staff must not live-stream", "Staff must never live-stream").replace(
        "Staff who leave the team must be removed from the group by the manager on their last working day.\n", ""
    )
    + "\nThis guidance is reviewed every year by the HR Policy Team.\n"
)


def test_replace_keeps_the_old_version_for_audit_and_embeds_only_changed_clauses(fake_bot, admin):
    added = admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    assert added.index["embedded"] > 0
    p = admin.preview(REPLACED.encode(), "nb-v2.md", replace="northbrook", version="Version 2.0")
    assert p.action == "replace" and p.version_no == 2
    assert p.document.organisation == ORG and p.document.title == "Social Media Guidance for Staff"
    assert (len(p.diff.added), len(p.diff.removed), len(p.diff.changed), p.diff.unchanged) == (1, 1, 1, 10)
    result = admin.commit(p)
    assert result.action == "replaced"
    # Only the changed and new clauses' texts are embedded; the other ten come from the cache.
    idx = result.index
    assert idx["added"] == 12 and idx["removed"] == 12 and idx["total"] == 220
    assert 0 < idx["embedded"] < added.index["embedded"] / 3
    live = [c for c in fake_bot.store.live_clauses().values() if c.doc_id == "northbrook"]
    assert {c.version_no for c in live} == {2} and {c.edition for c in live} == {f"v 2.0, {p.document.date}"}
    texts = {c.text for c in live}
    assert not any("must not live-stream" in t for t in texts)
    old = fake_bot.store.version_clauses("northbrook", 1)
    assert any("must not live-stream" in c["text"] for c in old) and all(c["live"] == 0 for c in old)
    hits = fake_bot.index.search("Staff must not live-stream from council buildings").hits
    assert all(h.clause.version_no == 2 for h in hits if h.clause.doc_id == "northbrook")
    assert admin.diff("northbrook").to_json()["changed"][0]["new"]["text"].startswith("Staff must never live-stream")


def test_replace_refusals(fake_bot, admin):
    admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    before = snapshot_of(fake_bot)
    with pytest.raises(BadUpload) as exc:
        admin.preview(MD.encode(), "nb.md", replace="northbrook")
    assert exc.value.code == "unchanged"
    with pytest.raises(BadUpload) as exc:
        admin.preview(REPLACED.encode(), "nb.md", replace="no-such-doc")
    assert exc.value.code == "not_found"
    p = admin.preview(REPLACED.encode(), "nb.md", replace="northbrook")
    admin.remove("northbrook")
    before = snapshot_of(fake_bot)
    with pytest.raises(BadUpload) as exc:
        admin.commit(p)
    assert exc.value.code == "not_found"
    assert snapshot_of(fake_bot) == before


def test_stale_preview_is_refused(fake_bot, admin):
    admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    p1 = admin.preview(REPLACED.encode(), "a.md", replace="northbrook")
    admin.commit(
        admin.preview((REPLACED + "\nAnother new paragraph for staff.\n").encode(), "b.md", replace="northbrook")
    )
    with pytest.raises(BadUpload) as exc:
        admin.commit(p1)
    assert exc.value.code == "stale"


def test_remove_takes_it_out_and_keeps_versions(fake_bot, admin):
    admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    assert fake_bot.ask(ROTA_Q).quotes[0].clause_id.startswith("northbrook:")
    r = admin.remove("northbrook")
    assert r.action == "removed" and r.clauses == 12 and r.index["removed"] == 12
    answer = fake_bot.ask(ROTA_Q)
    assert not any(q.clause_id.startswith("northbrook") for q in answer.quotes)
    assert fake_bot.store.document("northbrook")["status"] == "removed"
    assert len(fake_bot.store.versions("northbrook")) == 1
    with pytest.raises(BadUpload) as exc:
        admin.remove("northbrook")
    assert exc.value.code == "not_found"


def test_replacing_a_bundled_policy(fake_bot, admin):
    from knowledge.catalog import POLICY_DIR

    text = (POLICY_DIR / "000_28863f62fcc91165.txt").read_text(encoding="utf-8")
    new = text.replace("should not allow themselves", "must not allow themselves")
    p = admin.preview(new.encode(), "medway-2025.txt", replace="medway", version="2025")
    assert p.document.organisation == "Medway Council"
    assert len(p.diff.changed) == 1 and not p.diff.added and not p.diff.removed
    r = admin.commit(p)
    assert r.version_no == 2
    # a bundled policy HR replaced keeps HR's version when the data dir is opened again
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    generation = fake_bot.store.generation()
    again = open_policybot(fake_bot.data_dir, embedder=FakeEmbedder())
    assert again.store.document("medway")["version_no"] == 2
    assert again.store.document("medway")["origin"] == "upload"
    assert again.store.generation() == generation


# ---- chat: only HR, previews held for confirmation -----------------------------------------
def test_only_hr_may_preview_confirm_remove_or_see_gaps(fake_bot, admin):
    before = snapshot_of(fake_bot)
    for call in (
        lambda: admin.preview(MD.encode(), "nb.md", user_id="sam"),
        lambda: admin.remove("wbc", user_id="sam"),
        lambda: admin.gaps(user_id="sam"),
        lambda: admin.confirm("anything", user_id="sam"),
    ):
        with pytest.raises(NotAuthorised, match="Only HR"):
            call()
    nobody = KnowledgeAdmin(fake_bot)  # no directory: every chat user is refused
    with pytest.raises(NotAuthorised):
        nobody.preview(MD.encode(), "nb.md", user_id="hana")
    assert snapshot_of(fake_bot) == before


def test_directory_object_authorises(fake_bot):
    class Directory:
        def is_hr(self, uid):
            return uid == "hana"

    admin = KnowledgeAdmin(fake_bot, is_hr=Directory())
    assert admin.may_edit("hana") and not admin.may_edit("sam") and not admin.may_edit(None)


def test_chat_flow_preview_then_confirm(fake_bot, admin):
    p = admin.preview(make_docx(MD), "Northbrook guidance.docx", user_id="hana", organisation=ORG)
    with pytest.raises(BadUpload) as exc:  # somebody else's token
        KnowledgeAdmin(fake_bot, is_hr=lambda u: True).confirm(p.token, user_id="other-hr")
    assert exc.value.code == "expired"
    result = admin.confirm(p.token, user_id="hana")
    assert result.action == "added"
    assert fake_bot.store.versions(p.doc_id)[0]["added_by"] == "hana"
    with pytest.raises(BadUpload):  # a token confirms once
        admin.confirm(p.token, user_id="hana")
    q = admin.preview(REPLACED.encode(), "v2.md", replace=p.doc_id, user_id="hana")
    assert admin.cancel(q.token, user_id="hana") is True
    with pytest.raises(BadUpload):
        admin.confirm(q.token, user_id="hana")


def test_expired_preview(fake_bot, admin, monkeypatch):
    import bot.upkeep.admin as kb

    p = admin.preview(MD.encode(), "nb.md", user_id="hana", organisation=ORG)
    monkeypatch.setattr(kb, "PENDING_TTL_SECONDS", -1)
    with pytest.raises(BadUpload, match="expired"):
        admin.confirm(p.token, user_id="hana")
    assert fake_bot.store.document(p.doc_id) is None


# ---- notify-on-replace ----------------------------------------------------------------------
def _with_notify(bot, on: bool):
    bot.settings = dataclasses.replace(bot.settings, notify_changed_clauses=on)
    return bot


LIVE_Q = "Staff must not live-stream from council buildings"


def test_notify_on_replace_lists_people_answered_from_changed_clauses(fake_bot, admin):
    _with_notify(fake_bot, True)
    admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    a = fake_bot.ask(LIVE_Q, user_id="alice")
    assert a.quotes[0].clause_id == "northbrook:002"
    fake_bot.ask("Staff must not post photos of service users", user_id="bob")  # other documents
    fake_bot.ask(LIVE_Q)  # no user id: nothing logged
    result = admin.commit(admin.preview(REPLACED.encode(), "v2.md", replace="northbrook"))
    assert result.notify_users == ["alice"]
    assert "1 person(s) answered from a changed clause" in result.to_text()
    removed = admin.remove("northbrook")  # version 2: nobody answered from it yet
    assert removed.notify_users == []


def test_notify_is_off_by_default_and_logs_nothing(fake_bot, admin):
    assert fake_bot.settings.notify_changed_clauses is False
    admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    fake_bot.ask(LIVE_Q, user_id="alice")
    assert fake_bot.store.db.execute("SELECT count(*) FROM answers_log").fetchone()[0] == 0
    assert admin.commit(admin.preview(REPLACED.encode(), "v2.md", replace="northbrook")).notify_users == []


def test_helpers():
    assert (
        slugify("Northbrook District Council: Social Media Guidance for Staff (2025)")
        == "northbrook-district-council-social-media"
    )
    assert slugify("***") == "document"
    assert clean_version("v2.1") == "2.1" and clean_version("Version 3") == "3" and clean_version("D3") == "D3"
    assert clean_version("  ") is None
    assert (
        default_doc_id("Northbrook District Council", "Social Media Guidance for Staff")
        == "northbrook-social-media-guidance-for-staff"
    )
    assert default_doc_id(DEFAULT_ORGANISATION, "Email rules") == "email-rules"
    assert default_doc_id("Medway Council", "Medway code") == "medway-code"


def test_a_failed_index_refresh_does_not_undo_or_hide_the_committed_change(fake_bot, admin, monkeypatch):
    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(fake_bot.index, "refresh", broken)
    result = admin.commit(admin.preview(MD.encode(), "nb.md", organisation=ORG, doc_id="northbrook"))
    assert result.action == "added" and result.index is None
    assert "disk full" in result.index_error and "catches up" in result.to_text()
    assert fake_bot.store.document("northbrook")["status"] == "active"
    monkeypatch.undo()
    assert fake_bot.index.refresh()["added"] == 12
    assert fake_bot.ask(ROTA_Q).quotes[0].clause_id.startswith("northbrook:")


# ---- editing a held preview's details -------------------------------------------------------
def test_edit_preview_corrects_the_details_and_the_citations_follow(fake_bot, admin):
    p = admin.preview(MD.encode(), "nb.md", user_id="hana")
    assert p.sources == {
        "title": "document",
        "organisation": "document",
        "version": "version number",
        "date": "upload date",
    }
    q = admin.edit_preview(
        p.token, "hana", title=" Social  media rules ", organisation="Southfield Borough Council", date="March 2026"
    )
    assert q.token != p.token and q.action == "add" and q.version_no == 1
    assert (q.document.title, q.document.organisation, q.document.version, q.document.date) == (
        "Social media rules",
        "Southfield Borough Council",
        "1",
        "March 2026",
    )
    assert q.doc_id == "southfield-social-media-rules"
    assert [c.text for c in q.clauses] == [c.text for c in p.clauses]
    assert [c.clause_id for c in q.clauses][:2] == [
        "southfield-social-media-rules:001",
        "southfield-social-media-rules:002",
    ]
    assert q.sources == {"title": "edited", "organisation": "edited", "version": "version number", "date": "edited"}
    assert not any("Organisation taken from the document" in w for w in q.warnings)
    assert q.citation_line() == "Citations will read: Southfield Borough Council — Social media rules (v 1, March 2026)"
    with pytest.raises(BadUpload, match="expired"):  # the old token is gone
        admin.confirm(p.token, "hana")
    admin.confirm(q.token, "hana")
    top = fake_bot.ask(ROTA_Q).quotes[0]
    assert top.citation.organisation == "Southfield Borough Council" and top.citation.document == "Social media rules"


def test_edit_preview_keeps_a_given_id_and_a_replace_s_id(fake_bot, admin):
    p = admin.preview(MD.encode(), "nb.md", user_id="hana", doc_id="nb")
    q = admin.edit_preview(p.token, "hana", organisation="Southfield Borough Council")
    assert q.doc_id == "nb" and q.clauses[0].clause_id == "nb:001"
    admin.confirm(q.token, "hana")
    r = admin.preview(REPLACED.encode(), "v2.md", replace="nb", user_id="hana")
    s = admin.edit_preview(r.token, "hana", title="Social media rules", version="2026")
    assert (s.action, s.doc_id, s.version_no, s.diff) == ("replace", "nb", 2, r.diff)
    assert admin.confirm(s.token, "hana").action == "replaced"
    assert fake_bot.store.document("nb")["title"] == "Social media rules"


@pytest.mark.parametrize(
    "kw,field",
    [
        ({"title": ""}, "title"),
        ({"title": "  \t "}, "title"),
        ({"organisation": "x" * 500}, "organisation"),
        ({"version": "1\n2"}, "version"),
        ({"date": "March\x002026"}, "date"),
        ({"title": "a\u202eb"}, "title"),
    ],
)
def test_edit_preview_refuses_bad_values_and_changes_nothing(fake_bot, admin, kw, field):
    p = admin.preview(MD.encode(), "nb.md", user_id="hana")
    with pytest.raises(BadUpload) as exc:
        admin.edit_preview(p.token, "hana", **kw)
    assert exc.value.code == "bad_details" and set(exc.value.fields) == {field}
    assert str(exc.value) == exc.value.fields[field]
    assert admin.held(p.token, "hana") is p and p.document.organisation == ORG  # still held, unchanged


def test_edit_preview_has_confirm_s_rules(fake_bot, admin, monkeypatch):
    import bot.upkeep.admin as kb

    p = admin.preview(MD.encode(), "nb.md", user_id="hana")
    with pytest.raises(NotAuthorised):
        admin.edit_preview(p.token, "alice", title="Mine")
    with pytest.raises(BadUpload, match="expired"):  # another HR user's preview
        KnowledgeAdmin(fake_bot, is_hr=lambda u: True).edit_preview(p.token, "other-hr", title="Mine")
    monkeypatch.setattr(kb, "PENDING_TTL_SECONDS", -1)
    with pytest.raises(BadUpload, match="expired"):
        admin.edit_preview(p.token, "hana", title="Mine")
    assert p.document.title == "Social Media Guidance for Staff"


def test_a_failing_hr_check_denies_and_is_logged_with_its_traceback(fake_bot, caplog):
    def broken(user_id):
        raise ValueError("directory.toml no longer parses")

    admin = fake_bot.kb_admin(is_hr=broken)
    with caplog.at_level("ERROR"):
        assert admin.may_edit("hana") is False
    (record,) = [r for r in caplog.records if "HR check failed" in r.getMessage()]
    assert record.exc_info and record.exc_info[0] is ValueError
    assert "hana" not in record.getMessage()
