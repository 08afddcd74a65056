"""knowledge.metadata.infer_details on small files written here: Word covers, PDF properties, Markdown,
field lines; and knowledge.markup / knowledge.docx on the structures they exist for."""

import io

from kb_helpers import NORTHBROOK_MD, make_pdf

from knowledge.loaders import Extracted, extract
from knowledge.markup import read_markup
from knowledge.metadata import infer_details

MD = NORTHBROOK_MD.read_text(encoding="utf-8")
BODY = (
    "Staff must report concerns to their manager without delay.\n\nManagers must record every concern they receive.\n"
)


def cover_docx(cover: list[tuple[str, bool, int | None]], body: list[str], **props) -> bytes:
    """A .docx without heading styles: cover lines ``(text, bold, size pt)``, then body paragraphs."""
    import docx
    from docx.shared import Pt

    d = docx.Document()
    for text, bold, size in cover:
        run = d.add_paragraph().add_run(text)
        run.bold = bold
        if size:
            run.font.size = Pt(size)
    for text in body:
        d.add_paragraph(text)
    for k, v in props.items():
        setattr(d.core_properties, k, v)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def details(data: bytes, name: str):
    return infer_details(extract(data, name), name)


def test_docx_cover_with_a_council_name_and_edition():
    data = cover_docx(
        [
            ("Northbrook District Council", True, 20),
            ("Lone Working Policy", True, 20),
            ("Version 2.1", False, None),
            ("Approved: 14 March 2024", False, None),
        ],
        ["Staff who work alone must tell a colleague where they are going and when they will be back."],
    )
    d = details(data, "lone_working.docx")
    assert (d.title, d.organisation, d.version, d.date) == (
        "Lone Working Policy",
        "Northbrook District Council",
        "2.1",
        "14 March 2024",
    )
    assert d.sources == {
        "title": "first page",
        "organisation": "first page",
        "version": "first page",
        "date": "first page",
    }


def test_docx_core_properties_give_the_title_unless_it_is_a_file_or_template_name():
    body = ["Staff must keep lone working logs up to date.", "Managers check the lone working log weekly."]
    good = cover_docx([], body, title="Lone Working Procedure", author="HR")
    e = extract(good, "x.docx")
    assert e.meta["title"] == "Lone Working Procedure" and e.meta["author"] == "HR"
    assert infer_details(e, "x.docx").sources["title"] == "file properties"
    for bad in ("Microsoft Word - lone_working_v3.docx", "Normal", "Document1", "Policy template"):
        d = details(cover_docx([], body, title=bad), "x.docx")
        assert d.title != bad and d.sources["title"] != "file properties", bad


def test_pdf_info_title_is_used():
    pdf = make_pdf(MD, title="Social Media Guidance for Staff")
    d = details(pdf, "upload.pdf")
    assert d.title == "Social Media Guidance for Staff" and d.sources["title"] == "file properties"
    assert d.organisation == "Northbrook District Council"


def test_pdf_info_title_that_is_a_word_file_name_is_not_used():
    d = details(make_pdf(MD, title="Microsoft Word - SM guidance FINAL.docx"), "upload.pdf")
    assert "Microsoft Word" not in d.title and "docx" not in d.title


def test_markdown_title_with_the_organisation_before_a_colon():
    d = details(MD.encode(), "guidance.md")
    assert d.title == "Social Media Guidance for Staff"
    assert d.organisation == "Northbrook District Council"


def test_field_labels_give_values_not_titles():
    text = (
        "Policy Date: January 2016\nCouncil Name: Caerwent Community Council\nVersion: 3\n\n"
        "Code of Conduct for Councillors\n\nMembers must treat others with respect at all times.\n"
    )
    d = details(text.encode(), "code.txt")
    assert d.organisation == "Caerwent Community Council"
    assert d.title == "Code of Conduct for Councillors"
    assert (d.version, d.date) == ("3", "January 2016")
    assert "Policy Date" not in d.title and "Council Name" not in d.title


def test_next_review_dates_and_rule_lines_are_not_the_date_or_title():
    text = "==========\n\nNext review date: May 2027\nAnti-Fraud Policy\nReviewed September 2024\n\n" + BODY
    d = details(text.encode(), "fraud.txt")
    assert d.title == "Anti-Fraud Policy" and d.date == "reviewed September 2024"


def test_organisation_named_with_its_abbreviation_in_the_body():
    filler = "".join(f"Records of type {i} are kept in the records room.\n\n" for i in range(14))
    text = (
        "# Data Retention\n\n" + filler + "This procedure explains how Riverside Care Services (RCS) keeps records.\n\n"
        "RCS staff must keep records for six years. The Data Protection Act (DPA) applies.\n"
    )
    d = details(text.encode(), "retention.md")
    assert d.organisation == "Riverside Care Services (RCS)" and d.sources["organisation"] == "text"


def test_organisation_from_the_file_name_words_that_are_not_the_title():
    d = details(b"Whistle-blowing\n===============\n\n" + BODY.encode(), "lexden_montessori_whistle_blowing.txt")
    assert d.title == "Whistle-blowing" and d.organisation == "Lexden Montessori"
    assert d.sources["organisation"] == "file name"
    nothing = details(BODY.encode(), "whistle_blowing_policy_2019_final.txt")
    assert nothing.organisation is None


def test_nothing_found_leaves_the_organisation_empty():
    d = infer_details(Extracted(text=BODY, kind=".txt"), "notes.txt")
    assert d.organisation is None and d.version is None and d.date is None and d.title == "Notes"


def test_rst_titles_directives_and_wrapped_paragraphs():
    rst = (
        "=======\nConduct\n=======\n\n.. include:: meta.rst\n\n.. comment that\n   goes on\n\nGifts\n-----\n\n"
        "Staff must not accept gifts\nworth more than 25 pounds.\n\n.. note:: Record every gift.\n\n"
        "Hospitality\n~~~~~~~~~~~\n\n- declare it\n  within a week\n"
    )
    text, title, _ = read_markup(rst, ".txt")
    lines = [l for l in text.splitlines() if l]
    assert title == "Conduct"
    assert lines == [
        "# Conduct",
        "## Gifts",
        "Staff must not accept gifts worth more than 25 pounds.",
        "Record every gift.",
        "### Hospitality",
        "- declare it within a week",
    ]


def test_markdown_setext_headings_and_unchanged_plain_markdown():
    text, title, _ = read_markup(
        "Lone Working\n============\n\nIntro text here.\n\nScope\n-----\n\nAll staff.\n", ".md"
    )
    assert text.splitlines()[0] == "# Lone Working" and "## Scope" in text.splitlines()
    assert read_markup(MD, ".md")[0] == MD


def test_docx_bold_line_before_a_manual_break_is_a_heading():
    import docx

    d = docx.Document()
    p = d.add_paragraph()
    p.add_run("3. Gifts").bold = True
    p.add_run().add_break()
    p.add_run("Staff must not accept gifts worth more than 25 pounds.")
    q = d.add_paragraph()
    q.add_run("Owner:").bold = True
    q.add_run(" HR team")
    buf = io.BytesIO()
    d.save(buf)
    lines = extract(buf.getvalue(), "g.docx").text.splitlines()
    assert lines[:2] == ["## 3. Gifts", "Staff must not accept gifts worth more than 25 pounds."]
    assert "Owner: HR team" in lines
