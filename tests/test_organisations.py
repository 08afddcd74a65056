"""Matching the organisation a person names to the documents' organisations (``bot.organisations``)."""

from __future__ import annotations

import pytest

from bot.organisations import UnknownOrganisation, matches, resolve


def organisations_of(docs):
    """``{organisation: {document ids}}`` for ``(doc_id, organisation)`` pairs, as ``Snapshot.organisations`` gives."""
    out = {}
    for doc_id, organisation in docs:
        out.setdefault(organisation, set()).add(doc_id)
    return out


MPWEC = "Meadow Pathways Wellbeing and Education Cornwall (MPWEC)"
KNOWN = organisations_of(
    [
        ("medway", "Medway Council"),
        ("mpwec-whistleblowing", MPWEC),
        ("wbc", "WBC"),
        ("cwm-taf", "Cwm Taf Safeguarding Children Board / Safeguarding Adult Board"),
        ("lexden", "Lexden Montessori"),
        ("lexden-2", "Lexden Montessori"),
    ]
)


@pytest.mark.parametrize(
    ("name", "organisation", "doc_id"),
    [
        ("Meadow Pathways", MPWEC, None),
        ("mpwec", MPWEC, None),
        ("  medway   council ", "Medway Council", None),
        ("MEDWAY", "Medway Council", None),
        ("medway", "Some Other Name", "medway"),
        ("cwm taf", "Cwm Taf Safeguarding Children Board / Safeguarding Adult Board", None),
    ],
)
def test_names_people_use_match_the_documents_organisation(name, organisation, doc_id):
    assert matches(name, organisation, doc_id)


@pytest.mark.parametrize(
    ("name", "organisation"),
    [
        ("Med", "Medway Council"),
        ("Pathways Meadow", MPWEC),
        ("", "Medway Council"),
        ("Council of Medway", "Medway Council"),
    ],
)
def test_part_words_reordered_words_and_blanks_do_not_match(name, organisation):
    assert not matches(name, organisation)


def test_resolve_gives_the_organisations_meant_and_names_the_known_ones_otherwise():
    assert resolve(["Meadow Pathways"], KNOWN) == {MPWEC}
    assert resolve(["lexden-2", "WBC"], KNOWN) == {"Lexden Montessori", "WBC"}
    assert resolve([], KNOWN) == frozenset()
    with pytest.raises(UnknownOrganisation) as caught:
        resolve(["Northbrook"], KNOWN)
    assert "No organisation matches 'Northbrook'" in str(caught.value)
    assert "Medway Council" in str(caught.value) and MPWEC in str(caught.value)
    assert resolve(["Northbrook", "medway"], KNOWN, strict=False) == {"Medway Council"}


def test_a_name_that_fits_several_organisations_is_refused_unless_one_is_exact():
    known = organisations_of([("a", "Safeguarding Board North"), ("b", "Safeguarding Board South")])
    with pytest.raises(UnknownOrganisation, match="matches several organisations"):
        resolve(["Safeguarding Board"], known)
    exact = organisations_of([("a", "Medway"), ("b", "Medway Council")])
    assert resolve(["medway"], exact) == {"Medway"}
