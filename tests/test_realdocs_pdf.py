"""PDF uploads read like a person reads them: a real published policy PDF, and small PDFs written here.

The real file is ``shared/realdocs/decoy_school_online_safety_policy_2018.pdf`` beside the repository
(51 pages, a contents page, a running header, a two-line footer and a page number on every page,
symbol-font bullets). The PDFs written here (fpdf2) check the same rules on layouts nobody tuned for.
"""

import re
from pathlib import Path

import pytest
from realdocs_support import gold_snippet_misses

from knowledge.loaders import extract
from knowledge.model import Document
from knowledge.pdf import page_text_lines, strip_running_lines
from knowledge.segment import contents_lines, normalise, segment

REALDOCS = Path(__file__).resolve().parents[2] / "shared" / "realdocs"
EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval" / "realdocs_questions.json"
PDF_NAME = "decoy_school_online_safety_policy_2018.pdf"
PDF = REALDOCS / PDF_NAME

needs_realdocs = pytest.mark.skipif(not PDF.exists(), reason="shared/realdocs is not beside the repository")


@pytest.fixture(scope="module")
def real():
    """(extracted, clauses) of the real PDF, read once."""
    e = extract(PDF.read_bytes(), PDF_NAME)
    return e, segment(Document("dos", "Decoy", "Online Safety Policy", e.text))


def _raw_pages():
    from pypdf import PdfReader

    return [page_text_lines(p.extract_text() or "") for p in PdfReader(str(PDF)).pages]


# ---- the real PDF --------------------------------------------------------------------------
@needs_realdocs
def test_running_header_footer_and_page_numbers_are_not_clauses(real):
    e, clauses = real
    raw = _raw_pages()
    # what a person sees at the edges of every page: the first lines of page 10 as extracted
    edge = {line for line in raw[9][:8] if line}
    assert "SWGfL Online Safety Policies" in edge and "10" in edge  # the file is as described
    for c in clauses:
        assert not re.fullmatch(r"\d{1,3}", c.text), c.clause_id
        assert c.text not in edge, c.clause_id
        assert "Belvedere House" not in c.text and "All rights reserved" not in c.text, c.clause_id
        assert c.text != "SWGfL Online Safety Policies", c.clause_id
    assert "SWGfL Online Safety Policies" not in e.text.splitlines()
    assert any("running header/footer" in w for w in e.warnings)


@needs_realdocs
def test_contents_page_lines_are_not_clauses(real):
    _, clauses = real
    page2 = [line for line in _raw_pages()[1] if line]
    entries = {re.sub(r"^•\s*", "", line) for line in page2[page2.index("Contents") + 1 :]}
    assert len(entries) > 30
    for c in clauses:
        assert not (c.text in entries and c.lead_in is None), c.clause_id  # a bullet of a real list may share words
        assert not re.search(r"\s\d{1,2}(?:-\d{1,2})?$", c.text) or len(c.text.split()) > 12, c.clause_id
    assert clauses[0].text.startswith("This online safety policy has been developed by a working group")


@needs_realdocs
def test_private_use_bullets_become_bullets(real):
    e, clauses = real
    assert any("\uf0b7" in line for page in _raw_pages_text() for line in page.splitlines())  # the file has them
    assert "\uf0b7" not in e.text
    for c in clauses:
        assert "\uf0b7" not in c.text and "\uf0b7" not in (c.lead_in or ""), c.clause_id
        assert not re.match(r"[\ue000-\uf8ff•]", c.text), c.clause_id


def _raw_pages_text():
    from pypdf import PdfReader

    return [p.extract_text() or "" for p in PdfReader(str(PDF)).pages]


@needs_realdocs
def test_known_clauses_are_verbatim_with_their_section(real):
    e, clauses = real
    source = normalise(e.text)
    for c in clauses:
        assert normalise(c.text) in source, c.clause_id
    by_start = {c.text[:60]: c for c in clauses}

    def find(start):
        hits = [c for c in clauses if c.text.startswith(start)]
        assert len(hits) == 1, (start, len(hits))
        return hits[0]

    comms = find("Any digital communication between staff and pupils or parents / carers")
    assert "Personal email addresses, text messaging or social media must not be used for these" in comms.text
    assert comms.section == "Communications"
    scope = find("This policy applies to all members of the school community")
    assert scope.section == "Scope of the Policy"
    item = find("that users may only access the networks and devices through a properly enforced password")
    assert item.lead_in == "Technical Staff and Co-ordinator for Computing are responsible for ensuring:"
    assert by_start


@needs_realdocs
def test_metadata_and_first_page(real):
    e, _ = real
    assert e.meta.get("author") == "Ron Richards"
    assert e.first_page.splitlines()[0] == "Online Safety"
    assert "DATE OF REVIEW: January 2018" in e.first_page
    assert e.pages == 51


@needs_realdocs
@pytest.mark.skipif(not EVAL.exists(), reason="shared/eval is not beside the repository")
def test_gold_snippets_from_the_pdf_are_inside_clauses(real):
    checked, misses = gold_snippet_misses({PDF_NAME: real})
    assert not misses
    assert checked >= 20


# ---- PDFs written here ---------------------------------------------------------------------
fpdf = pytest.importorskip("fpdf")

BODY = [
    ("h", "Section 1 - Purpose"),
    ("p", "This handbook sets out what the Trust expects of every member of staff who uses its computers."),
    ("h", "1.1 Who it covers"),
    ("p", "It covers employees, agency workers and volunteers whether they work on site or at home."),
    ("h", "Section 2 - Acceptable use"),
    ("h", "2.1 Passwords"),
    ("p", "Staff must never share a password with a colleague, even for a short time."),
    ("h", "2.2 Email"),
    ("p", "Work email must not be forwarded automatically to a personal account."),
    ("b", "Report a lost laptop to the service desk on the same day."),
    ("b", "Lock the screen whenever you leave your desk."),
    ("h", "Appendix A Contacts"),
    ("p", "The service desk can be reached by telephone during office hours."),
]
CONTENTS = [
    ("Section 1 - Purpose", 2),
    ("1.1 Who it covers", 2),
    ("Section 2 - Acceptable use", 3),
    ("2.1 Passwords", 3),
    ("2.2 Email", 3),
    ("Appendix A Contacts", 4),
]


def _pdf(pages: list[list[tuple[str, str]]], header: str | None, footer: str | None, vary: bool = False) -> bytes:
    """A PDF with one page per list of ``(kind, text)``; ``header``/``footer`` on every page, ``{n}`` the page number."""
    doc = fpdf.FPDF(format="A4")
    doc.set_auto_page_break(False)
    for n, blocks in enumerate(pages, start=1):
        doc.add_page()
        if header:
            doc.set_font("Helvetica", "", 9)
            text = header.format(n=n) + (" (draft)" if vary and n == 2 else "")
            doc.set_xy(20, 10)
            doc.cell(0, 5, text)
        doc.set_xy(20, 30)
        for kind, text in blocks:
            doc.set_x(20)
            if kind == "h":
                doc.set_font("Helvetica", "B", 12)
                doc.multi_cell(170, 7, text)
            elif kind == "b":
                doc.set_font("Helvetica", "", 11)
                doc.multi_cell(170, 6, "- " + text)
            elif kind == "toc":
                doc.set_font("Helvetica", "", 11)
                doc.multi_cell(170, 6, text)
            else:
                doc.set_font("Helvetica", "", 11)
                doc.multi_cell(170, 6, text)
            doc.ln(3)
        if footer:
            doc.set_font("Helvetica", "", 8)
            for k, line in enumerate(footer.format(n=n, total=len(pages)).split("\n")):
                doc.set_xy(20, 275 + 4 * k)
                doc.cell(0, 4, line)
    return bytes(doc.output())


def _pages_with_contents():
    toc = [("h", "Contents")] + [("toc", f"{title} {'.' * 20} {page}") for title, page in CONTENTS]
    return [toc, BODY[:4], BODY[4:11], BODY[11:]]


FOOTER = "Acme Learning Trust, 1 Mill Lane, Anytown AN1 2BC. Registered charity 123456\nPage {n} of {total}"


def test_synthetic_header_footer_and_contents_are_not_clauses():
    e = extract(
        _pdf(_pages_with_contents(), "Acme Learning Trust - Staff ICT Handbook v{n}", FOOTER, vary=True), "h.pdf"
    )
    clauses = segment(Document("acme", "Acme", "Handbook", e.text))
    texts = [c.text for c in clauses]
    assert texts[0] == "This handbook sets out what the Trust expects of every member of staff who uses its computers."
    assert "Staff must never share a password with a colleague, even for a short time." in texts
    for t in texts:
        assert "Acme Learning Trust" not in t and "Page " not in t and "ICT Handbook" not in t, t
        assert "....." not in t, t
        assert not re.fullmatch(r"\d+", t), t
    assert "Anytown" not in e.text and "(draft)" not in e.text  # a small variation of the header is still the header
    assert e.first_page.splitlines()[0] == "Contents"


def test_synthetic_numbered_headings_become_section_paths():
    e = extract(_pdf(_pages_with_contents(), None, FOOTER), "n.pdf")
    clauses = segment(Document("acme", "Acme", "Handbook", e.text))
    by_text = {c.text: c for c in clauses}
    assert by_text["Staff must never share a password with a colleague, even for a short time."].section == (
        "Section 2 - Acceptable use › 2.1 Passwords"
    )
    assert by_text["Lock the screen whenever you leave your desk."].section == "Section 2 - Acceptable use › 2.2 Email"
    assert by_text[
        "It covers employees, agency workers and volunteers whether they work on site or at home."
    ].section == ("Section 1 - Purpose › 1.1 Who it covers")
    assert by_text["The service desk can be reached by telephone during office hours."].section == "Appendix A Contacts"
    assert not any(c.text.startswith(("2.1", "Section", "Appendix")) for c in clauses)


def test_pdf_without_running_lines_keeps_its_first_and_last_lines():
    words = ["Passwords are personal.", "Screens are locked at lunch.", "Visitors sign in.", "Laptops go home in bags."]
    pages = [[("p", w)] for w in words]
    e = extract(_pdf(pages, None, None), "plain.pdf")
    texts = [c.text for c in segment(Document("p", "O", "T", e.text))]
    assert texts == words
    assert not e.warnings


# ---- the rules on their own ----------------------------------------------------------------
def test_running_lines_are_found_at_page_edges_with_digits_folded():
    pages = [
        ["Northbrook DC Policy 2024", f"Body line {w} about the rules.", f"Another {w} sentence.", f"Page {n}"]
        for n, w in enumerate(["one", "two", "three", "four", "five"], start=1)
    ]
    pages[2][0] = "Northbrook DC  Policy 2025"  # digits and spacing vary
    kept, dropped = strip_running_lines(pages)
    assert dropped == 10
    assert kept[2] == ["Body line three about the rules.", "Another three sentence."]
    # a sentence repeated in the middle of pages is not a running line
    pages = [
        ["Header A", *[f"{w} {k}" for k in "abcde"], "Keep it locked.", *[f"{w} {k}" for k in "fghij"], "Footer B"]
        for w in ("north", "south", "east", "west")
    ]
    kept, _ = strip_running_lines(pages)
    assert all("Keep it locked." in p for p in kept) and not any("Header A" in p for p in kept)


def test_private_use_bullet_glyphs_at_line_start():
    assert page_text_lines("\uf0b7 first\n\uf0a7second\n\uf076  third\nplain \uf0b7 inside") == [
        "• first",
        "• second",
        "• third",
        "plain \uf0b7 inside",
    ]
    doc = Document("t", "O", "T", "Staff must:\n\uf0b7 lock screens\n\ue001 report losses\n")
    cs = segment(doc)
    assert [(c.text, c.lead_in) for c in cs] == [("lock screens", "Staff must:"), ("report losses", "Staff must:")]


def test_contents_with_page_numbers_and_with_repeated_headings():
    text = [
        "Contents",
        "Introduction ........ 2",
        "Use of email ........ 3",
        "Social media ........ 4",
        "Introduction",
        "This policy explains the rules for staff.",
        "Use of email",
        "Keep work email for work.",
    ]
    assert contents_lines(text) == {1, 2, 3}
    no_numbers = [
        "Contents",
        "Scope",
        "Roles",
        "Reporting",
        "Glossary",
        "Scope",
        "This policy covers all staff.",
        "Roles",
        "Managers approve access.",
        "Reporting",
        "Report incidents at once.",
        "Glossary",
        "A term is a word.",
    ]
    assert contents_lines(no_numbers) == {0, 1, 2, 3, 4}  # up to the last entry that comes back later
    # a list a sentence introduces is content, even when its items are headings too
    lst = [
        "This policy has three parts, which are set out below:",
        "Scope",
        "Roles",
        "Reporting",
        "Scope",
        "This policy covers all staff.",
        "Roles",
        "Managers approve.",
        "Reporting",
        "Report at once.",
    ]
    assert contents_lines(lst) == set()
