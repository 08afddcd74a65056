"""The segmenter on each bundled policy: counts, sections, lead-ins, artefacts and the verbatim rule."""

import pytest

from knowledge.catalog import bundled_documents
from knowledge.model import Document
from knowledge.segment import normalise, segment

DOCS = {d.doc_id: d for d in bundled_documents()}


def clauses_of(doc_id):
    return segment(DOCS[doc_id])


def find(doc_id, start):
    matches = [c for c in clauses_of(doc_id) if c.text.startswith(start)]
    assert len(matches) == 1, f"{start!r}: {len(matches)} matches"
    return matches[0]


@pytest.mark.parametrize(
    "doc_id,count", [("medway", 24), ("forest-federation", 46), ("cwm-taf", 46), ("wbc", 63), ("wfcs", 29)]
)
def test_clause_counts(doc_id, count):
    assert len(clauses_of(doc_id)) == count


@pytest.mark.parametrize("doc_id", sorted(DOCS))
def test_every_clause_and_lead_in_is_verbatim(doc_id):
    source = normalise(DOCS[doc_id].text)
    for c in clauses_of(doc_id):
        assert normalise(c.text) in source, c.clause_id
        if c.lead_in:
            assert normalise(c.lead_in) in source, c.clause_id


@pytest.mark.parametrize("doc_id", sorted(DOCS))
def test_no_export_artefacts(doc_id):
    for c in clauses_of(doc_id):
        assert "[bookmark" not in c.text
        assert "\t" not in c.text
        assert not c.text.startswith(("- ", "· "))


def test_numbered_clause_with_section_path():
    c = find("wbc", "It is recommended that Council employees should not be 'friends' with service users")
    assert c.number == "8.5"
    assert c.section == "8. Using social media outside work › 8.5"
    assert c.kind == "numbered"


def test_bullet_carries_its_lead_in():
    c = find("cwm-taf", "If they receive press or media contact")
    assert c.lead_in == "Employees should notify their manager:"
    assert c.section == "PERSONAL USE OF SOCIAL NETWORKING SITES"
    assert c.kind == "item"


def test_sub_numbered_items_complete_their_parent():
    c = find("wbc", "Safeguard the privacy of service users.")
    assert c.number == "1.1.3"
    assert c.lead_in.startswith("The purpose of this document is to provide guidance")


def test_quoted_items_after_semicolon_lead_in():
    c = find("wbc", "'Omission or conduct liable to lead to serious loss")
    assert c.lead_in == "The Disciplinary Rules give the following as examples of gross misconduct:"
    assert c.section == "4. The reputation of the Council › 4.4"


def test_bullets_after_footnote_keep_the_list_lead_in():
    c = find("wbc", "Setting up or accepting vulnerable adults or children who are service users")
    assert c.lead_in.startswith("The following list provides examples of behaviour")


def test_middle_dot_bullets_and_bookmarks():
    c = find("wfcs", "Never post pictures of service users or colleagues")
    assert c.section == "Procedure › 5"
    assert c.lead_in.endswith("Things to consider:")


def test_numbered_list_items_under_a_lead_in_are_not_headings():
    c = find("forest-federation", "Political restrictions")
    assert c.kind == "item"
    assert c.section == "6. Code of Conduct › 3"


def test_numbered_paragraph_opens_its_section():
    c = find("forest-federation", "What action you can take. You can report any incidents")
    assert c.section == "5. What action you can take"
    nxt = find("forest-federation", "noting the dates, times and content of messages")
    assert nxt.section == "5. What action you can take"


def test_tables_contents_and_title_lines_are_dropped():
    texts = [c.text for c in clauses_of("wbc")] + [c.text for c in clauses_of("cwm-taf")]
    assert not any("Katie Penlington" in t or t.startswith("INTRODUCTION") for t in texts)
    assert not any("Safeguarding Children Board\tDate" in t for t in texts)
    assert not any(c.text == "THE FOREST FEDERATION" for c in clauses_of("forest-federation"))


def test_markdown_headings_and_empty_documents():
    doc = Document("md", "Org", "T", "# Use of phones\n\nStaff must not:\n\n* film residents\n* share passwords\n")
    cs = segment(doc)
    assert [c.text for c in cs] == ["film residents", "share passwords"]
    assert all(c.heading == "Use of phones" and c.lead_in == "Staff must not:" for c in cs)
    assert segment(Document("e", "Org", "T", "\n\n[bookmark: x]\n")) == []


def test_clause_ids_are_unique_and_stable():
    a = [c.clause_id for d in DOCS.values() for c in segment(d)]
    b = [c.clause_id for d in bundled_documents() for c in segment(d)]
    assert a == b and len(set(a)) == len(a)
