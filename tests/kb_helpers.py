"""Real .docx and .pdf files for the knowledge-base tests, written from simple Markdown-like text.

``make_docx`` uses python-docx with Word's own styles (Title, Heading N, List Bullet); ``make_pdf``
writes a small valid PDF by hand (Helvetica text objects, one per line, wrapped like a word processor
would), so the loader's PDF path sees what a real exported PDF gives it.
"""

from __future__ import annotations

import io
import re
import textwrap
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
NORTHBROOK_MD = DATA / "northbrook_social_media_guidance.md"


def md_blocks(md: str) -> list[tuple[str, str]]:
    """``[(kind, text)]`` with kind ``"h1"``..``"h6"``, ``"bullet"`` or ``"para"``."""
    out = []
    for line in md.splitlines():
        line = line.strip()
        if not line:
            continue
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        if m:
            out.append((f"h{len(m.group(1))}", m.group(2)))
        elif line.startswith(("- ", "* ")):
            out.append(("bullet", line[2:]))
        else:
            out.append(("para", line))
    return out


def make_docx(md: str, table_rows: list[list[str]] | None = None, bullet_style: str = "List Bullet") -> bytes:
    """A .docx with the blocks of ``md`` (``#`` -> Title, ``##`` -> Heading 1, ...), and optionally a table first."""
    import docx

    d = docx.Document()
    if table_rows:
        t = d.add_table(rows=len(table_rows), cols=len(table_rows[0]))
        for r, row in enumerate(table_rows):
            for c, val in enumerate(row):
                t.cell(r, c).text = val
    for kind, text in md_blocks(md):
        if kind == "h1":
            d.add_paragraph(text, style="Title")
        elif kind.startswith("h"):
            d.add_heading(text, level=int(kind[1]) - 1)
        elif kind == "bullet":
            d.add_paragraph(text, style=bullet_style)
        else:
            d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def _pdf_escape(s: str) -> bytes:
    b = s.encode("cp1252")
    return b.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def make_pdf(
    md: str, width: int = 88, lines_per_page: int = 40, title: str | None = None, footer: bool = True
) -> bytes:
    """A valid multi-page PDF of ``md``: paragraphs wrapped at ``width`` characters, bullets as "•",
    headings as their own lines, a running footer ``"Northbrook DC - page N"`` when ``footer``.
    """
    lines: list[str] = []
    for kind, text in md_blocks(md):
        if kind.startswith("h"):
            lines += ["", text]
        elif kind == "bullet":
            wrapped = textwrap.wrap(text, width - 2)
            lines += ["• " + wrapped[0]] + ["  " + w for w in wrapped[1:]]
        else:
            lines += [""] + textwrap.wrap(text, width)
    pages = [lines[i : i + lines_per_page] for i in range(0, len(lines), lines_per_page)] or [[]]
    objs: list[bytes] = []
    n_pages = len(pages)
    # 1 catalog, 2 pages, 3 font, then page/content pairs, then info
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, page in enumerate(pages):
        stream = io.BytesIO()
        y = 780
        for line in page:
            if line:
                stream.write(b"BT /F1 10 Tf 56 %d Td (" % y + _pdf_escape(line) + b") Tj ET\n")
            y -= 16 if line else 8
        if footer:
            stream.write(b"BT /F1 8 Tf 56 30 Td (" + _pdf_escape(f"Northbrook DC - page {i + 1}") + b") Tj ET\n")
        content = stream.getvalue()
        objs.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {5 + 2 * i} 0 R >>".encode()
        )
        objs.append(b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream")
    info_no = None
    if title:
        objs.append(b"<< /Title (" + _pdf_escape(title) + b") >>")
        info_no = len(objs)
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objs, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % n + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    trailer = f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R" + (f" /Info {info_no} 0 R" if info_no else "") + " >>\n"
    out.write(trailer.encode() + b"startxref\n%d\n%%%%EOF\n" % xref)
    return out.getvalue()


def encrypt_pdf(pdf: bytes, user_password: str = "secret") -> bytes:
    """``pdf`` encrypted with pypdf (AES-256), needing ``user_password`` to open."""
    from pypdf import PdfReader, PdfWriter

    w = PdfWriter()
    for page in PdfReader(io.BytesIO(pdf)).pages:
        w.add_page(page)
    w.encrypt(user_password=user_password, owner_password="owner-" + user_password, algorithm="AES-256")
    buf = io.BytesIO()
    w.write(buf)
    return buf.getvalue()
