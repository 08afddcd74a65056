"""The three real policy files as their organisations published them, added without any flags:
read like a person reads them (headings, no markup as clauses) and cited with a sensible title,
organisation and edition."""

import json
import re

import pytest
from realdocs_support import DOCX, PDF, QUESTIONS, REALDOCS, TXT

from bot.upkeep.admin import DEFAULT_ORGANISATION, KnowledgeAdmin
from knowledge.loaders import extract
from knowledge.model import Document
from knowledge.segment import normalise, segment

pytestmark = pytest.mark.skipif(not REALDOCS.is_dir(), reason="the real documents are not beside this clone")

#: headings of the MPWEC policy, typed as bold + underlined Normal paragraphs (no heading styles)
MPWEC_HEADINGS = [
    "Introduction",
    "Principles",
    "What to Report",
    "How to Raise a Concern",
    "Investigation Procedure",
    "Protection and Support",
    "Roles and Responsibilities",
    "Record Keeping and Review",
    "Communication",
    "Declaration",
]


def clauses_of(path):
    e = extract(path.read_bytes(), path.name)
    return e, segment(Document("doc", "Org", "Title", e.text))


@pytest.fixture(scope="module")
def docx_clauses():
    return clauses_of(DOCX)


@pytest.fixture(scope="module")
def txt_clauses():
    return clauses_of(TXT)


def test_every_gold_snippet_for_the_word_and_text_files_is_in_a_clause(docx_clauses, txt_clauses):
    questions = json.loads(QUESTIONS.read_text(encoding="utf-8"))
    texts = [normalise(c.text) for c in docx_clauses[1] + txt_clauses[1]]
    checked = 0
    for q in questions:
        if q.get("doc") not in (DOCX.name, TXT.name):
            continue
        for snippet in q["gold"]:
            assert any(normalise(snippet) in t for t in texts), (q["id"], snippet)
            checked += 1
    assert checked >= 30


def test_mpwec_run_in_headings_are_sections_not_glued_to_clauses(docx_clauses):
    e, cs = docx_clauses
    lines = e.text.splitlines()
    for h in MPWEC_HEADINGS:
        assert f"## {h}" in lines
    headings = {c.heading for c in cs}
    assert set(MPWEC_HEADINGS) <= headings
    for c in cs:
        for h in MPWEC_HEADINGS:
            assert not c.text.startswith(h + " ") and not c.text.endswith(" " + h), c.text
    declaration = next(c for c in cs if c.text.startswith("All staff, volunteers, contractors, and trustees must read"))
    assert declaration.heading == "Declaration"
    ack = next(c for c in cs if "acknowledged within five working days" in c.text)
    assert ack.heading == "Investigation Procedure"


def test_lexden_rst_markup_is_neither_a_clause_nor_a_title(txt_clauses):
    e, cs = txt_clauses
    assert e.title == "Whistle-blowing"
    assert "# Whistle-blowing" in e.text.splitlines() and "## Reporting wrongdoing" in e.text.splitlines()
    for c in cs:
        assert not re.fullmatch(r"\s*([=\-~^])\1{2,}\s*", c.text), c.text
        assert not c.text.lstrip().startswith(".."), c.text
        assert "::" not in c.text
    assert {c.heading for c in cs} == {"Policy", "Reporting wrongdoing", "Investigations", "Raising concerns"}


@pytest.fixture
def admin(fake_bot):
    return KnowledgeAdmin(fake_bot)


def test_bare_kb_add_of_the_word_file(admin):
    p = admin.preview_file(DOCX)
    d = p.document
    assert d.title.startswith("Whistleblowing Policy")
    assert d.organisation.startswith("Meadow Pathways Wellbeing and Education Cornwall")
    assert p.edition == "v 1, September 2025"
    assert any("Organisation taken from the document's first page" in w for w in p.warnings)


def test_bare_kb_add_of_the_text_file(admin):
    p = admin.preview_file(TXT)
    assert p.document.title == "Whistle-blowing"
    assert p.document.organisation == "Lexden Montessori"
    assert any("Organisation taken from the file name" in w for w in p.warnings)
    assert p.sources["organisation"] == "file name"


def test_bare_kb_add_of_the_pdf(admin):
    p = admin.preview_file(PDF)
    d = p.document
    assert d.title == "Online Safety Policy"
    # the school's full name is in no text or property of the file, only "decoy" and "school" in its name
    assert d.organisation != DEFAULT_ORGANISATION and d.organisation.startswith("Decoy")
    assert d.date == "reviewed January 2018"
    assert not any(re.fullmatch(r"[=\-_.]{3,}", c.text) for c in p.clauses)
