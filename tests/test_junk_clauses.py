"""Junk that real uploads turn into clauses unless the segmenter knows its shape: form lines (a label and a
fill-in leader), cells of picture tables and pieces of wrapped table headers (short fragments that are no
sentence and belong to no list), and a cover's ``Label: value`` fields read as a section heading.

Synthetic text, PDF and Word inputs are built here; the real files are read from ``shared/realdocs`` beside
the repository when it is there."""

import io
from pathlib import Path

import pytest
from realdocs_support import DOCX, PDF, TXT, gold_snippet_misses, needs_realdocs

from knowledge.loaders import extract
from knowledge.model import Document
from knowledge.segment import field_block_lines, is_form_line, is_fragment, normalise, segment


def clauses(text: str):
    return segment(Document("t", "Org", "Title", text))


def texts(text: str) -> list[str]:
    return [c.text for c in clauses(text)]


# ---- the rules on their own ----------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Date: …………………………………………..",
        "Signed (child):……………………………………………",
        "Name of pupil: _____",
        "Signed: ………",
        "Group .............................................................. Date ................................",
        "Name: ________ Date: ______",
        "Signature . . . . . . . . . .",
        "____________________",
    ],
)
def test_form_lines(line):
    assert is_form_line(line)


@pytest.mark.parametrize(
    "line",
    [
        "Scope ........ 4",  # a contents entry: the leader ends in a page number
        "Look out for features including Anti-spam, Anti-Virus and Anti-malware…",
        "We will ask for the following...",
        "Date: September 2025",
        "Please sign below if you agree to follow this class charter:",
        "The form asks for your name ______ and then explains why the information is needed in detail.",
    ],
)
def test_not_form_lines(line):
    assert not is_form_line(line)


def test_fragments():
    for t in [
        "responsibly",
        "and safely",
        "is not working.",
        "tidy and pack",
        "(Impact",
        "level (low, medium, high)",
        "passwords)",
        "in last 12 months",
    ]:
        assert is_fragment(t), t
    for t in [
        "Accurate",
        "I will not try to upload or download files or programs.",
        "are responsible for ensuring that:",
        "(see appendix)",
        "www.example.org/safety",
        "and this is a longer piece of a sentence here",
        "e-mail help@example.org",
    ]:
        assert not is_fragment(t), t


def test_field_block_needs_three_label_value_lines_in_a_row():
    lines = [
        "Owner: Jo Bloggs",
        "Applies to: All staff and volunteers.",
        "Version No: 2",
        "Introduction",
        "Purpose: why this exists",
        "Some sentence here.",
    ]
    assert field_block_lines(lines) == {0, 1, 2}
    assert field_block_lines(["- Owner: Jo", "- Version: 2", "- Date: May"]) == set()  # bullets are never fields


# ---- synthetic text ------------------------------------------------------------------------


def test_form_lines_are_dropped_and_open_no_section():
    text = "\n".join(
        [
            "Agreement",
            "I will keep my password safe and secure.",
            "Signed (child):……………………………………………",
            "Date: …………………………………………..",
            "Name of pupil: _____",
            "Group ........................ Date ........................",
            "Contents of the bag must be checked by staff before a trip.",
        ]
    )
    cs = clauses(text)
    assert [c.text for c in cs] == [
        "I will keep my password safe and secure.",
        "Contents of the bag must be checked by staff before a trip.",
    ]
    assert cs[1].section == "Agreement"  # the form lines did not become a heading


def test_sentence_with_an_ellipsis_stays():
    t = "Look out for features that keep your information safe, including Anti-spam and Anti-malware…"
    assert texts(f"Cloud services\n{t}\n") == [t]


PICTURE_TABLE = [
    "Our class charter",
    "Please sign below if you agree to follow this class charter, which your teacher will keep.",
    "Class:",
    "Using",
    "Technology",
    "responsibly",
    "and safely",
    "I will let my",
    "teacher or another",
    "adult know if",
    "school equipment",
    "is not working.",
    "I will leave the",
    "Computing suite",
    "tidy and pack",
    "away computing",
    "equipment",
    "carefully.",
    "Staff agreement",
    "Staff must lock their screens when they leave their desks.",
]


def test_picture_table_cells_are_not_clauses():
    cs = clauses("\n".join(PICTURE_TABLE))
    assert [c.text for c in cs] == [
        "Please sign below if you agree to follow this class charter, which your teacher will keep.",
        "Staff must lock their screens when they leave their desks.",
    ]
    assert cs[1].section == "Staff agreement"


def test_table_header_fragments_are_not_clauses():
    text = "\n".join(
        [
            "Risk assessments are an ongoing process and should result in an Information Risk Actions Form (example below):",
            "Risk ID Information Asset",
            "affected",
            "Protective",
            "Marking",
            "(Impact",
            "Level)",
            "Likelihood Overall risk",
            "level (low, medium, high)",
            "Action(s) to",
            "minimise risk",
            "Secure storage",
            "Access to protected data will be controlled according to the role of the user.",
        ]
    )
    assert texts(text) == [
        "Risk assessments are an ongoing process and should result in an Information Risk Actions Form (example below):",
        "Access to protected data will be controlled according to the role of the user.",
    ]


def test_a_list_without_bullets_keeps_its_short_items():
    text = "\n".join(
        [
            "Governors",
            "A member of the Governing Body has taken on the role of Online Safety Governor. The role will include:",
            "regular meetings",
            "monitoring of logs",
            "Other duties",
            "see the handbook",
        ]
    )
    assert texts(text) == [
        "A member of the Governing Body has taken on the role of Online Safety Governor. The role will include:",
        "regular meetings",
        "monitoring of logs",
    ]
    # after a heading-shaped line ending in ":" as well
    cs = clauses("The role of the Governor will include:\nregular meetings\nmonitoring of logs\n")
    assert [(c.text, c.section) for c in cs] == [
        ("regular meetings", "The role of the Governor will include"),
        ("monitoring of logs", "The role of the Governor will include"),
    ]


def test_short_bullets_and_links_stay():
    text = "\n".join(
        [
            "Useful links",
            "www.thinkuknow.co.uk",
            "The data must be:",
            "- accurate",
            "- secure",
        ]
    )
    cs = clauses(text)
    assert [(c.text, c.lead_in) for c in cs] == [
        ("www.thinkuknow.co.uk", None),
        ("accurate", "The data must be:"),
        ("secure", "The data must be:"),
    ]


COVER = [
    "# Whistleblowing Policy",
    "Responsibility to update: Jo Bloggs and Sam Smith",
    "Applies to: All staff, contractors and volunteers working with children (including online).",
    "Version No: 1",
    "Date: September 2025",
    "Review Date: September 2026",
    "Introduction",
    "This policy sets out how concerns are raised and handled.",
]


def test_cover_fields_open_no_section_and_sentences_stay_clauses():
    cs = clauses("\n".join(COVER))
    assert [c.text for c in cs] == [COVER[2], COVER[-1]]
    assert cs[0].section == "Whistleblowing Policy"
    assert cs[1].section == "Introduction"
    assert not any("Responsibility to update" in (c.section or "") for c in cs)


def test_a_lone_label_value_heading_is_still_a_heading():
    cs = clauses("Social media: personal use\nStaff must not post about pupils online.\n")
    assert cs[0].section == "Social media: personal use"


# ---- synthetic PDF and Word files ---------------------------------------------------------


def _pdf() -> bytes:
    fpdf = pytest.importorskip("fpdf")
    doc = fpdf.FPDF(format="A4")
    doc.set_auto_page_break(False)
    doc.add_page()
    doc.set_font("Helvetica", "B", 13)
    doc.set_xy(20, 20)
    doc.cell(0, 8, "Pupil Acceptable Use Agreement")
    doc.set_font("Helvetica", "", 11)
    doc.set_xy(20, 32)
    doc.multi_cell(170, 6, "I will keep my username and password safe and secure.")
    doc.set_xy(20, 44)
    doc.cell(0, 6, "Name of pupil: ______________________")
    doc.set_xy(20, 52)
    doc.cell(0, 6, "Signed: ..............................  Date: ..............................")
    # a picture table: three cells side by side, each a few short lines
    cells = [
        ["I will ask a", "teacher before", "using the", "computers."],
        ["I will keep", "my password", "secret and", "safe."],
        ["I will tell an", "adult if I see", "something that", "upsets me."],
    ]
    for k, lines in enumerate(cells):
        for n, line in enumerate(lines):
            doc.set_xy(20 + 60 * k, 70 + 6 * n)
            doc.cell(55, 6, line)
    doc.set_font("Helvetica", "B", 13)
    doc.set_xy(20, 110)
    doc.cell(0, 8, "Staff agreement")
    doc.set_font("Helvetica", "", 11)
    doc.set_xy(20, 122)
    doc.multi_cell(170, 6, "Staff must lock their screens whenever they leave their desks.")
    return bytes(doc.output())


def test_synthetic_pdf_form_lines_and_picture_cells_are_not_clauses():
    e = extract(_pdf(), "agreement.pdf")
    cs = segment(Document("a", "Org", "Agreement", e.text))
    assert [c.text for c in cs] == [
        "I will keep my username and password safe and secure.",
        "Staff must lock their screens whenever they leave their desks.",
    ]
    assert cs[1].section == "Staff agreement"


def _docx() -> bytes:
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.add_paragraph("Whistleblowing Policy", style="Title")
    for line in COVER[1:6]:
        d.add_paragraph(line)
    p = d.add_paragraph()
    p.add_run("Introduction").bold = True
    d.add_paragraph("This policy sets out how concerns are raised and handled.")
    p = d.add_paragraph()
    p.add_run("Declaration").bold = True
    d.add_paragraph("I confirm that I have read this policy.")
    d.add_paragraph("Name: ____________________")
    d.add_paragraph("Signed: ………………………………")
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_synthetic_docx_cover_fields_and_form_lines():
    e = extract(_docx(), "policy.docx")
    cs = segment(Document("w", "Org", "Whistleblowing Policy", e.text))
    assert [c.text for c in cs] == [COVER[2], COVER[-1], "I confirm that I have read this policy."]
    assert not any((c.section or "").startswith(("Responsibility", "Version", "Date", "Review")) for c in cs)
    assert cs[1].section == "Introduction"
    assert cs[2].section == "Declaration"


# ---- the real files ------------------------------------------------------------------------


def _real(path: Path):
    e = extract(path.read_bytes(), path.name)
    return e, segment(Document("r", "Org", "Title", e.text))


@pytest.fixture(scope="module")
def real_pdf():
    return _real(PDF)


@needs_realdocs
def test_real_pdf_has_no_form_lines_picture_cells_or_header_fragments(real_pdf):
    e, cs = real_pdf
    got = [c.text for c in cs]
    for junk in [
        "Date: …………………………………………..",
        "responsibly",
        "and safely",
        "tidy and pack",
        "is not working.",
        "(Impact",
        "level (low, medium, high)",
        "affected",
        "minimise risk",
        "need",
        "in last 12 months",
        "passwords)",
    ]:
        assert junk not in got, junk
    for c in cs:
        assert not is_form_line(c.text), c.text
        if c.kind == "paragraph":
            assert not is_fragment(c.text), c.text
        assert not (c.section or "").startswith("Signed (child)"), c.text
    # the real sentences around them stay
    assert "I will keep my username and password safe and secure." in got
    assert "I know that if I break the rules I might not be allowed to use a computer." in got
    assert any(t.startswith("New technologies have become integral to the lives of children") for t in got)
    assert len(cs) == 650  # 689 before: 2 form lines, 30 picture-table cells, 7 header/heading fragments


@needs_realdocs
def test_real_pdf_every_clause_is_verbatim(real_pdf):
    e, cs = real_pdf
    source = normalise(e.text)
    assert all(normalise(c.text) in source for c in cs)


@needs_realdocs
def test_real_docx_cover_field_is_not_a_section():
    e, cs = _real(DOCX)
    applies = [c for c in cs if c.text.startswith("Applies to:")]
    assert len(applies) == 1
    assert not any((c.section or "").startswith("Responsibility to update") for c in cs)
    assert len(cs) == 42


@needs_realdocs
def test_real_txt_is_unchanged():
    assert len(_real(TXT)[1]) == 16


@needs_realdocs
def test_every_gold_snippet_of_the_real_files_is_inside_a_clause(real_pdf):
    checked, misses = gold_snippet_misses({PDF.name: real_pdf, DOCX.name: _real(DOCX), TXT.name: _real(TXT)})
    assert not misses
    assert checked >= 50
