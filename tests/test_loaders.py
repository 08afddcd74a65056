"""Reading uploads: real .txt/.md/.docx/.pdf files written in the tests, and every kind of bad file."""

import io

import pytest
from kb_helpers import NORTHBROOK_MD, encrypt_pdf, make_docx, make_pdf

from knowledge import loaders
from knowledge.loaders import BadUpload, extract, read_upload, title_from_filename
from knowledge.model import Document
from knowledge.segment import normalise, segment

MD = NORTHBROOK_MD.read_text(encoding="utf-8")


def clauses(text):
    return segment(Document("nb", "Org", "Title", text))


def texts(text):
    return [c.text for c in clauses(text)]


def test_markdown_is_kept_verbatim():
    e = extract(MD.encode(), "guidance.md")
    assert e.text == MD and e.kind == ".md"
    assert e.title == "Northbrook District Council: Social Media Guidance for Staff"
    cs = clauses(e.text)
    assert len(cs) == 12
    assert cs[1].section == "2. Live-streaming and filming at work"
    assert cs[5].lead_in == "Staff may use a WhatsApp group to arrange rota swaps and shift cover, provided that:"
    assert cs[5].kind == "item"


def test_docx_styles_become_headings_and_bullets_with_the_same_clauses_as_markdown():
    e = extract(make_docx(MD), "guidance.docx")
    assert e.kind == ".docx"
    assert e.title == "Northbrook District Council: Social Media Guidance for Staff"
    assert "# 2. Live-streaming and filming at work" in e.text.splitlines()
    assert "- messages are limited to shift times, swaps and cover requests;" in e.text.splitlines()
    md_clauses = clauses(MD)
    docx_clauses = clauses(e.text)
    assert [(c.text, c.heading, c.lead_in, c.kind) for c in docx_clauses] == [
        (c.text, c.heading, c.lead_in, c.kind) for c in md_clauses
    ]


def test_docx_bullets_from_numbering_without_a_list_style():
    """Word often marks bullets as 'List Paragraph' + a bullet numbering definition, not 'List Bullet'."""
    import docx
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document(io.BytesIO(make_docx("Intro paragraph that says something useful here.\n- seed bullet")))
    # the numId that the 'List Bullet' style uses in python-docx's template is a bullet definition
    num_id = d.styles["List Bullet"].element.pPr.numPr.numId.val
    lead = d.add_paragraph("Employees should tell their manager:")
    for text in ("if the press contacts them", "if a service user sends a friend request"):
        p = d.add_paragraph(text)
        numpr = OxmlElement("w:numPr")
        ilvl = OxmlElement("w:ilvl")
        ilvl.set(qn("w:val"), "0")
        nid = OxmlElement("w:numId")
        nid.set(qn("w:val"), str(num_id))
        numpr.append(ilvl)
        numpr.append(nid)
        p._p.get_or_add_pPr().append(numpr)
    assert lead.text
    buf = io.BytesIO()
    d.save(buf)
    e = extract(buf.getvalue(), "x.docx")
    cs = clauses(e.text)
    item = next(c for c in cs if c.text == "if the press contacts them")
    assert item.kind == "item" and item.lead_in == "Employees should tell their manager:"


def test_docx_tables_are_left_out_with_a_warning():
    e = extract(make_docx(MD, table_rows=[["Version", "2"], ["Owner", "HR Policy Team"]]), "g.docx")
    assert any("2 table row(s)" in w for w in e.warnings)
    assert "HR Policy Team" not in " ".join(texts(e.text))
    assert len(clauses(e.text)) == 12


def test_pdf_text_is_reflowed_across_lines_and_pages_and_footers_dropped():
    pdf = make_pdf(MD, lines_per_page=12, title="Northbrook social media guidance")
    e = extract(pdf, "guidance.pdf")
    assert e.kind == ".pdf" and e.pages >= 3
    assert e.title == "Northbrook social media guidance"
    assert "page 2" not in e.text
    assert any("header/footer" in w for w in e.warnings)
    pdf_texts = texts(e.text)
    assert pdf_texts == texts(MD)  # wrapped lines re-joined: one clause a paragraph / bullet
    for t in pdf_texts:
        assert normalise(t) in normalise(e.text)


def test_text_encodings():
    assert "café" in extract("Staff café rules apply to everyone here.".encode("utf-16"), "a.txt").text
    e = extract("Staff café rules apply to everyone here.".encode("cp1252"), "a.txt")
    assert "café" in e.text and any("Windows-1252" in w for w in e.warnings)
    assert extract(b"\xef\xbb\xbfHello there, this is text.", "a.txt").text.startswith("Hello")


@pytest.mark.parametrize(
    "name,data,code,needle",
    [
        ("policy.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1rest", "unsupported_type", "save it as .docx"),
        ("policy.exe", b"MZ...", "unsupported_type", "please upload .txt, .md, .docx or .pdf"),
        ("policy", b"text", "unsupported_type", "without an extension"),
        ("empty.txt", b"", "empty", "is empty"),
        ("blank.md", b"  \n\n\t \n", "empty", "contains no text"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "corrupt", "could not be read as a PDF"),
        ("fake.pdf", b"this is not a pdf at all", "corrupt", "not a valid PDF"),
        ("fake.docx", b"PK\x03\x04garbage-that-is-not-a-zip", "corrupt", "could not be read as a Word document"),
        ("text.docx", b"hello, plain text pretending to be Word", "corrupt", "not a valid Word"),
        ("locked.docx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "encrypted", "password-protected"),
        ("binary.txt", b"\x00\x01\x02\x03binary", "corrupt", "does not look like a text file"),
    ],
)
def test_bad_files_get_a_clear_message(name, data, code, needle):
    with pytest.raises(BadUpload) as exc:
        extract(data, name)
    assert exc.value.code == code
    assert needle in str(exc.value)


def test_encrypted_pdf_is_refused():
    with pytest.raises(BadUpload) as exc:
        extract(encrypt_pdf(make_pdf(MD)), "locked.pdf")
    assert exc.value.code == "encrypted"
    assert "encrypted PDF; please upload an unprotected copy" in str(exc.value)


def test_truncated_pdf_is_refused():
    pdf = make_pdf(MD)
    with pytest.raises(BadUpload) as exc:
        extract(pdf[: len(pdf) // 3], "cut.pdf")
    assert exc.value.code in ("corrupt", "no_text")


def test_pdf_without_text_is_refused_as_scanned():
    pdf = make_pdf("", footer=False)
    with pytest.raises(BadUpload) as exc:
        extract(pdf, "scan.pdf")
    assert exc.value.code == "no_text" and "scanned" in str(exc.value)


def test_a_50_mb_file_is_refused_before_it_is_read(tmp_path, monkeypatch):
    big = tmp_path / "huge.pdf"
    with open(big, "wb") as fh:
        fh.truncate(50 * 1024 * 1024)  # sparse: no disk used

    def no_reading(*a, **k):
        raise AssertionError("the file was opened")

    monkeypatch.setattr(loaders, "open", no_reading, raising=False)
    with pytest.raises(BadUpload) as exc:
        read_upload(big)
    assert exc.value.code == "too_large"
    assert "50 MB" in str(exc.value) and "10 MB" in str(exc.value)


def test_size_limit_is_configurable(tmp_path, monkeypatch):
    f = tmp_path / "g.md"
    f.write_text(MD)
    monkeypatch.setenv("POLICYBOT_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(BadUpload) as exc:
        read_upload(f)
    assert exc.value.code == "too_large"
    with pytest.raises(BadUpload):
        extract(MD.encode(), "g.md")
    monkeypatch.delenv("POLICYBOT_MAX_UPLOAD_MB")
    assert read_upload(f) == MD.encode()


def test_missing_file(tmp_path):
    with pytest.raises(BadUpload) as exc:
        read_upload(tmp_path / "nope.pdf")
    assert exc.value.code == "not_found"


def test_title_from_filename():
    assert title_from_filename("northbrook_social-media_guidance.v2.pdf") == "Northbrook social media guidance v2"
