"""The store's versioning: generation counter, all-or-nothing writes, versions, diff, migration 002."""

import pytest

from index import store as store_mod
from index.store import DocumentExists, DuplicateDocument, KnowledgeStore, diff_clauses, text_hash
from knowledge.model import Document

TEXT_V1 = """# Rules
Staff must not post photographs of residents.
Staff must not share passwords with anyone.
Staff should report press contact to their manager.
"""
TEXT_V2 = """# Rules
Staff should report press contact to their manager.
Staff must never post photographs of residents or their families.
Staff may use approved messaging apps for rota swaps.
"""


def doc(text, doc_id="rules", **kw):
    return Document(doc_id, kw.pop("organisation", "Test Council"), kw.pop("title", "Rules"), text, **kw)


@pytest.fixture
def store(tmp_path):
    return KnowledgeStore(tmp_path / "kb.db")


def test_generation_moves_only_on_change(store):
    g0 = store.generation()
    assert store.put_document(doc(TEXT_V1)) == "added"
    g1 = store.generation()
    assert g1 == g0 + 1
    assert store.put_document(doc(TEXT_V1)) == "unchanged"
    assert store.generation() == g1
    assert store.put_document(doc(TEXT_V2)) == "updated"
    assert store.generation() == g1 + 1
    assert store.remove_document("rules") == 3
    assert store.generation() == g1 + 2
    # seen from a second connection (another process)
    assert KnowledgeStore(store.path).generation() == g1 + 2


def test_a_failed_write_changes_nothing(store, monkeypatch):
    store.put_document(doc(TEXT_V1))
    before = (store.generation(), store.documents(), sorted(store.live_clauses()))

    def boom():
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "_bump_generation", boom)  # fails after every other write of the version
    with pytest.raises(RuntimeError):
        store.put_document(doc(TEXT_V2))
    with pytest.raises(RuntimeError):
        store.remove_document("rules")
    monkeypatch.undo()
    assert (store.generation(), store.documents(), sorted(store.live_clauses())) == before
    assert [v["version_no"] for v in store.versions("rules")] == [1]


def test_expect_new_and_existing_and_duplicates(store):
    store.put_document(doc(TEXT_V1), expect="new", file_hash="f" * 64)
    with pytest.raises(DocumentExists):
        store.put_document(doc(TEXT_V2), expect="new")
    with pytest.raises(DuplicateDocument) as exc:
        store.put_document(doc(TEXT_V1, doc_id="copy", title="Copy"), expect="new")
    assert exc.value.doc_id == "rules" and exc.value.version_no == 1
    with pytest.raises(KeyError):
        store.put_document(doc(TEXT_V2, doc_id="nobody"), expect="existing")
    assert store.put_document(doc(TEXT_V2), expect="existing") == "updated"
    store.remove_document("rules")
    with pytest.raises(KeyError):
        store.put_document(doc(TEXT_V1), expect="existing")
    # a removed document's text is no longer "live": it may be added again under a new id
    assert store.put_document(doc(TEXT_V2, doc_id="rules-2"), expect="new") == "added"
    assert store.find_by_text_hash(text_hash(TEXT_V2))["doc_id"] == "rules-2"


def test_versions_are_kept_and_only_the_current_one_is_live(store):
    store.put_document(doc(TEXT_V1, version="1"))
    store.put_document(doc(TEXT_V2, version="2"))
    vs = store.versions("rules")
    assert [(v["version_no"], v["current"], v["clauses"]) for v in vs] == [(1, False, 3), (2, True, 3)]
    assert store.version_text("rules", 1) == TEXT_V1
    live = store.live_clauses().values()
    assert {c.version_no for c in live} == {2}
    assert all(c["live"] == 0 for c in store.version_clauses("rules", 1))
    assert {c.edition for c in live} == {"v 2"}


def test_diff_between_versions(store):
    store.put_document(doc(TEXT_V1))
    store.put_document(doc(TEXT_V2))
    d = store.diff("rules")
    assert (d.from_version, d.to_version) == (1, 2)
    assert d.unchanged == 1  # press contact: moved, not changed
    assert [(a["text"], b["text"]) for a, b in d.changed] == [
        (
            "Staff must not post photographs of residents.",
            "Staff must never post photographs of residents or their families.",
        )
    ]
    assert [c["text"] for c in d.removed] == ["Staff must not share passwords with anyone."]
    assert [c["text"] for c in d.added] == ["Staff may use approved messaging apps for rota swaps."]
    assert store.diff("rules", 2, 1).added[0]["text"] == "Staff must not share passwords with anyone."
    with pytest.raises(ValueError):
        store.diff("rules", 1, 7)
    with pytest.raises(KeyError):
        store.diff("nobody")


def test_diff_of_a_single_version_says_so(store):
    store.put_document(doc(TEXT_V1))
    with pytest.raises(ValueError, match="no version before"):
        store.diff("rules")


def test_diff_clauses_pairs_best_matches_and_ignores_white_space():
    old = [{"text": "A b c d e f."}, {"text": "Quite different text here."}, {"text": "Same “quoted” text."}]
    new = [{"text": 'Same "quoted"   text.'}, {"text": "A b c d e f g."}, {"text": "Brand new."}]
    added, removed, changed, unchanged = diff_clauses(old, new)
    assert unchanged == 1
    assert changed == [(old[0], new[1])]
    assert removed == [old[1]] and added == [new[2]]


def test_migration_002_upgrades_an_existing_database(tmp_path, monkeypatch):
    path = tmp_path / "old.db"
    monkeypatch.setattr(store_mod, "MIGRATIONS", store_mod.MIGRATIONS[:1])
    old = KnowledgeStore(path)
    old.db["documents"].insert(
        {"doc_id": "x", "status": "active", "current_version": 1, "created_at": "t", "updated_at": "t"}
    )
    old.db["document_versions"].insert(
        {"doc_id": "x", "version_no": 1, "organisation": "O", "title": "T", "text": "Some text."}
    )
    old.db.conn.commit()
    assert "gaps" not in old.db.table_names()
    monkeypatch.undo()
    new = KnowledgeStore(path)
    assert {"gaps", "answers_log"} <= set(new.db.table_names())
    assert new.find_by_text_hash(text_hash("Some text."))["doc_id"] == "x"
    assert new.generation() == 0
    KnowledgeStore(path)  # opening again applies nothing twice


def test_answers_log_window_and_lookup(store):
    store.log_answer("alice", [("rules", 1, "rules:001"), ("rules", 1, "rules:001"), ("rules", 1, "rules:002")])
    store.log_answer("bob", [("rules", 1, "rules:003")])
    store.db.execute("UPDATE answers_log SET created_at = '2000-01-01T00:00:00+00:00' WHERE user_id = 'bob'")
    store.db.conn.commit()
    assert store.users_answered_from("rules", 1, ["rules:001", "rules:003"]) == ["alice"]
    assert store.users_answered_from("rules", 2, ["rules:001"]) == []
    store.log_answer("carol", [("rules", 1, "rules:002")])  # prunes rows older than the window
    assert store.db.execute("SELECT count(*) FROM answers_log WHERE user_id = 'bob'").fetchone()[0] == 0
