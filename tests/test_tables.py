"""Tables in uploaded policies: each row of a policy table is one clause carrying its column headings.

Word files are generated here with python-docx; the PDF is the real published policy beside the
repository (``shared/realdocs``), whose tables have rotated column headings and ``x`` marks.
"""

import io
import re
from pathlib import Path

import pytest
from realdocs_support import gold_snippet_misses

from knowledge.loaders import extract
from knowledge.model import Document
from knowledge.segment import normalise, segment

REALDOCS = Path(__file__).resolve().parents[2] / "shared" / "realdocs"
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "realdocs_questions.json"
PDF_NAME = "decoy_school_online_safety_policy_2018.pdf"
PDF = REALDOCS / PDF_NAME


def _policy_docx() -> bytes:
    """A Word policy with a contents table, a two-row-header policy table and a version table."""
    import docx

    d = docx.Document()
    d.add_paragraph("Online Safety Policy", style="Title")
    contents = d.add_table(rows=3, cols=2)
    for r, (entry, page) in enumerate([("Introduction", "3"), ("Use of technology", "4"), ("Sanctions", "7")]):
        contents.cell(r, 0).text, contents.cell(r, 1).text = entry, page
    d.add_heading("Use of technology", level=1)
    d.add_paragraph("The table shows when staff and pupils may use each technology.")
    t = d.add_table(rows=4, cols=5)
    t.cell(0, 0).merge(t.cell(1, 0)).text = "Communication technology"
    t.cell(0, 1).merge(t.cell(0, 2)).text = "Staff & other adults"
    t.cell(0, 3).merge(t.cell(0, 4)).text = "Students/Pupils"
    for k, head in enumerate(["Allowed", "Not allowed", "Allowed", "Not allowed"]):
        t.cell(1, k + 1).text = head
    body = [
        ["Mobile phones may be brought to school", "x", "", "", "x"],
        ["Use of personal email addresses in school", "", "x", "", "x"],
    ]
    for r, row in enumerate(body):
        for k, value in enumerate(row):
            t.cell(r + 2, k).text = value
    d.add_paragraph("Staff must report any misuse to the headteacher.")
    control = d.add_table(rows=3, cols=2)
    for r, (label, value) in enumerate(
        [("Version", "1.2"), ("Approved", "12 March 2024"), ("Owner", "Governing body")]
    ):
        control.cell(r, 0).text, control.cell(r, 1).text = label, value
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_docx_policy_table_rows_are_clauses_with_their_headers():
    e = extract(_policy_docx(), "online-safety.docx")
    clauses = segment(Document("os", "School", "Online Safety Policy", e.text))
    rows = [c for c in clauses if " | " in c.text]
    assert [c.text for c in rows] == [
        "Mobile phones may be brought to school | x |  |  | x",
        "Use of personal email addresses in school |  | x |  | x",
    ]
    header = (
        "Communication technology | Staff & other adults: Allowed | Staff & other adults: Not allowed"
        " | Students/Pupils: Allowed | Students/Pupils: Not allowed:"
    )
    source = normalise(e.text)
    for c in rows:
        assert c.lead_in == header and c.kind == "item" and c.section == "Use of technology"
        assert normalise(c.text) in source and normalise(c.lead_in) in source  # the verbatim rule
    assert not any(c.text.startswith("Communication technology") for c in clauses)  # the header is no clause
    texts = [c.text for c in clauses]
    assert "Staff must report any misuse to the headteacher." in texts


def test_docx_contents_and_document_control_tables_are_left_out():
    e = extract(_policy_docx(), "online-safety.docx")
    clauses = segment(Document("os", "School", "Online Safety Policy", e.text))
    joined = " ".join(c.text + " " + (c.lead_in or "") for c in clauses)
    for gone in ("Introduction", "Sanctions", "1.2", "12 March 2024", "Governing body"):
        assert gone not in joined
    assert any("6 table row(s)" in w for w in e.warnings)
    assert len(clauses) == 4


def test_docx_table_rows_numbered_or_without_headers():
    import docx

    d = docx.Document()
    d.add_paragraph("Sanctions are applied as follows:")
    t = d.add_table(rows=2, cols=2)
    rows = [
        ("1.1 Careless use of personal data", "Warning from the line manager"),
        ("1.2 Deliberate breach of data protection", "Disciplinary action"),
    ]
    for r, (a, b) in enumerate(rows):
        t.cell(r, 0).text, t.cell(r, 1).text = a, b
    buf = io.BytesIO()
    d.save(buf)
    e = extract(buf.getvalue(), "s.docx")
    assert not e.warnings
    clauses = segment(Document("s", "Org", "T", e.text))
    # the sentence before the table is its lead-in; a row's leading number is the clause number
    assert [(c.number, c.text, c.lead_in) for c in clauses] == [
        ("1.1", "Careless use of personal data | Warning from the line manager", "Sanctions are applied as follows:"),
        ("1.2", "Deliberate breach of data protection | Disciplinary action", "Sanctions are applied as follows:"),
    ]


needs_pdf = pytest.mark.skipif(not PDF.exists(), reason="shared/realdocs is not beside the repository")


@pytest.fixture(scope="module")
def pdf_clauses():
    e = extract(PDF.read_bytes(), PDF_NAME)
    return e, segment(Document("dos", "Decoy", "Online Safety Policy", e.text))


@needs_pdf
def test_pdf_marks_and_rotated_header_pieces_are_not_clauses(pdf_clauses):
    _, clauses = pdf_clauses
    for c in clauses:
        words = re.sub(r"[|()]", " ", c.text).split()
        assert not all(len(w) == 1 for w in words), c.clause_id  # "x x X", a lone "x"
        assert not re.search(r"(?:\s\(?[xX]\)?){2,}$", c.text), c.clause_id  # marks glued to a row's text
    texts = {c.text for c in clauses}
    for piece in ("certain times", "nominated", "users", "and illegal", "of Year / other", "rights", "exclusion"):
        assert piece not in texts


@needs_pdf
def test_pdf_tick_box_rows_carry_their_rotated_column_headers(pdf_clauses):
    e, clauses = pdf_clauses
    row = next(c for c in clauses if c.text.startswith("Unauthorised use of mobile phone / digital camera"))
    assert (
        row.text
        == "Unauthorised use of mobile phone / digital camera / other mobile device | x | | | | | (x) | | x | x"
    )
    assert row.lead_in.startswith(
        "Incidents | Refer to class teacher / tutor | Refer to Head of Department / Head of Year / other |"
    )
    assert row.lead_in.count("|") == row.text.count("|")  # one heading per column
    staff = next(c for c in clauses if c.text.startswith("Breaching copyright or licensing regulations"))
    assert staff.lead_in.startswith("Incidents | Refer to line manager")
    source = normalise(e.text)
    assert normalise(row.text) in source and normalise(row.lead_in) in source


@needs_pdf
@pytest.mark.skipif(not EVAL.exists(), reason="shared/eval is not beside the repository")
def test_pdf_gold_snippets_are_still_inside_clauses(pdf_clauses):
    checked, misses = gold_snippet_misses({PDF_NAME: pdf_clauses})
    assert not misses and checked >= 20
