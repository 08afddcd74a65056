"""Read an uploaded policy file (.txt, .md, .docx, .pdf) into plain text the segmenter understands.

The text keeps the document's structure in the forms ``knowledge.segment`` reads:

* ``.txt`` and ``.md`` are kept as they are (UTF-8; a UTF-16 byte-order mark or, failing UTF-8,
  Windows-1252 is accepted). The segmenter reads ``#`` headings and ``-`` / ``*`` / ``•`` bullets.
* ``.docx`` (python-docx): paragraphs in body order; ``Title`` and ``Heading N`` styles become
  ``#`` heading lines, bulleted paragraphs (``List Bullet`` styles or bullet numbering) become
  ``- `` lines, numbered paragraphs keep their text. Table rows become tab-separated lines, which
  the segmenter leaves out (as for the bundled Word exports); a warning says how many.
* ``.pdf`` (pypdf): text page by page; running headers/footers and page numbers are dropped and
  lines wrapped inside a paragraph are joined again, so a clause is a paragraph, not a line.

Every problem raises ``BadUpload`` with a message meant for the person who uploaded the file and a
short ``code`` (``"unsupported_type"``, ``"too_large"``, ``"empty"``, ``"encrypted"``, ``"corrupt"``,
``"no_text"``, ...). Nothing here touches the knowledge base.
"""

from __future__ import annotations

import io
import os
import re
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

SUPPORTED_TYPES = (".txt", ".md", ".docx", ".pdf")
DEFAULT_MAX_BYTES = 10 * 1024 * 1024  #: largest upload accepted unless ``POLICYBOT_MAX_UPLOAD_MB`` says otherwise

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .doc, and password-protected Office files


class BadUpload(ValueError):
    """A file that cannot become a policy document; ``str(exc)`` says why and what to do.

    Attributes:
        code: a short machine-readable reason, e.g. ``"too_large"``, ``"encrypted"``, ``"duplicate"``.
    """

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass
class Extracted:
    """Text read from one file.

    Attributes:
        text: the document text, ready for ``knowledge.segment.segment``.
        kind: the file type, e.g. ``".pdf"``.
        title: a title found in the file (first heading or short first line), or None.
        warnings: things the uploader should know (e.g. tables left out), in plain words.
        pages: number of pages (PDF only), else None.
    """

    text: str
    kind: str
    title: str | None = None
    warnings: list[str] = field(default_factory=list)
    pages: int | None = None


def max_upload_bytes() -> int:
    """The upload size limit in bytes: ``$POLICYBOT_MAX_UPLOAD_MB`` (a number of MB) or 10 MB."""
    raw = os.environ.get("POLICYBOT_MAX_UPLOAD_MB")
    if raw:
        try:
            mb = float(raw)
            if mb > 0:
                return int(mb * 1024 * 1024)
        except ValueError:
            pass
    return DEFAULT_MAX_BYTES


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB" if n % (1024 * 1024) else f"{n // (1024 * 1024)} MB"


def too_large(name: str, size: int | None, limit: int) -> BadUpload:
    """The ``"too_large"`` refusal for file ``name`` of ``size`` bytes (None: unknown, only "over") against ``limit`` bytes.

    Returned, not raised, so a chat adapter that refuses before downloading shows the same words.
    """
    if size is None:
        return BadUpload("too_large", f"{name} is larger than the limit of {_mb(limit)}. Please upload a smaller file.")
    return BadUpload("too_large", f"{name} is {_mb(size)}; the limit is {_mb(limit)}. Please upload a smaller file.")


def file_kind(filename: str) -> str:
    """The lower-cased extension of ``filename`` if it is supported.

    Raises:
        BadUpload: ``"unsupported_type"``, naming the supported types (and advice for .doc/.rtf/.odt).
    """
    ext = Path(filename or "").suffix.lower()
    if ext in SUPPORTED_TYPES:
        return ext
    hint = ""
    if ext in (".doc", ".rtf", ".odt", ".pages"):
        hint = " Please save it as .docx (Word: File > Save As > Word Document) or PDF and upload that."
    shown = ext or "a file without an extension"
    raise BadUpload(
        "unsupported_type",
        f"{Path(filename or '?').name}: {shown} files are not supported; please upload .txt, .md, .docx or .pdf.{hint}",
    )


def read_upload(path: str | Path, max_bytes: int | None = None) -> bytes:
    """Read the file at ``path``, refusing it before reading when it is larger than ``max_bytes``.

    Args:
        path: the file.
        max_bytes: the size limit (default ``max_upload_bytes()``).

    Raises:
        BadUpload: ``"not_found"`` (missing or not a regular file), ``"unsupported_type"``,
            ``"too_large"`` (checked from the file size, before reading), ``"empty"`` (0 bytes).
    """
    path = Path(path)
    limit = max_upload_bytes() if max_bytes is None else max_bytes
    try:
        st = path.stat()
    except OSError:
        raise BadUpload("not_found", f"{path}: no such file") from None
    if not path.is_file():
        raise BadUpload("not_found", f"{path}: not a file")
    file_kind(path.name)
    if st.st_size > limit:
        raise BadUpload(
            "too_large", f"{path.name} is {_mb(st.st_size)}; the limit is {_mb(limit)}. Please upload a smaller file."
        )
    if st.st_size == 0:
        raise BadUpload("empty", f"{path.name} is empty.")
    try:
        with open(path, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise BadUpload("not_found", f"{path}: cannot be read ({exc.strerror or exc})") from None
    if len(data) > limit:  # the file grew while we looked
        raise BadUpload("too_large", f"{path.name} is larger than the limit of {_mb(limit)}.")
    return data


def extract(data: bytes, filename: str, max_bytes: int | None = None) -> Extracted:
    """Turn the bytes of an uploaded file into text for the segmenter.

    Args:
        data: the file's bytes.
        filename: its name (the extension picks the reader).
        max_bytes: the size limit (default ``max_upload_bytes()``).

    Returns:
        The text, with a title hint and warnings.

    Raises:
        BadUpload: ``"unsupported_type"``, ``"too_large"``, ``"empty"`` (no bytes, or no text at all),
            ``"encrypted"`` (a PDF that needs a password, a password-protected Word file),
            ``"corrupt"`` (not a readable file of its type), ``"no_text"`` (e.g. a scanned PDF).
    """
    kind = file_kind(filename)
    name = Path(filename).name
    limit = max_upload_bytes() if max_bytes is None else max_bytes
    if len(data) > limit:
        raise too_large(name, len(data), limit)
    if not data:
        raise BadUpload("empty", f"{name} is empty.")
    if kind in (".txt", ".md"):
        out = _read_text(data, name, kind)
    elif kind == ".docx":
        out = _read_docx(data, name)
    else:
        out = _read_pdf(data, name)
    if not out.text.strip():
        raise BadUpload("empty", f"{name} contains no text.")
    if out.title is None:
        out.title = _first_line_title(out.text)
    return out


def title_from_filename(filename: str) -> str:
    """A readable title from a file name: ``"northbrook_social-media_guidance.pdf"`` -> ``"Northbrook social media guidance"``."""
    stem = re.sub(r"[_\-.]+", " ", Path(filename).stem).strip()
    stem = re.sub(r"\s+", " ", stem)
    return (stem[:1].upper() + stem[1:]) if stem else "Untitled document"


# ---- plain text and Markdown ---------------------------------------------------------------
def _read_text(data: bytes, name: str, kind: str) -> Extracted:
    warnings = []
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise BadUpload("corrupt", f"{name} is not readable text (broken UTF-16).") from None
    else:
        if b"\x00" in data[:4096] or data.startswith((b"%PDF", b"PK\x03\x04", _OLE_MAGIC)):
            raise BadUpload("corrupt", f"{name} does not look like a text file; is the extension right?")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = data.decode("cp1252", errors="replace")
            warnings.append("The file is not UTF-8; it was read as Windows-1252. Check accented letters in the preview.")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    title = None
    if kind == ".md":
        m = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", text, re.M)
        title = m.group(1).strip() if m else None
    return Extracted(text=text, kind=kind, title=title, warnings=warnings)


def _first_line_title(text: str) -> str | None:
    """The first non-empty line when it reads like a title (short, no closing full stop)."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if not line:
            continue
        if len(line) <= 120 and len(line.split()) <= 16 and not line.endswith((".", ":", ";", ",")) and "\t" not in line:
            return line
        return None
    return None


# ---- Word ----------------------------------------------------------------------------------
def _read_docx(data: bytes, name: str) -> Extracted:
    if data.startswith(_OLE_MAGIC):
        raise BadUpload(
            "encrypted",
            f"{name} is password-protected or an old-format Word file; please upload an unprotected .docx copy.",
        )
    if not data.startswith(b"PK"):
        raise BadUpload("corrupt", f"{name} is not a valid Word (.docx) file; it may be damaged. Please re-save it and try again.")
    try:
        import docx
        from docx.oxml.ns import qn
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        document = docx.Document(io.BytesIO(data))
        bullets = _bullet_numbering(document)
        lines: list[str] = []
        title = None
        table_rows = 0
        for child in document.element.body.iterchildren():
            if child.tag == qn("w:p"):
                para = Paragraph(child, document)
                line, is_title = _docx_line(para, bullets)
                if line is None:
                    continue
                if is_title and title is None:
                    title = line.lstrip("#").strip()
                lines.append(line)
            elif child.tag == qn("w:tbl"):
                for row in Table(child, document).rows:
                    cells = []
                    for cell in row.cells:
                        t = " ".join(cell.text.split())
                        if not cells or cells[-1] != t:  # merged cells repeat their text
                            cells.append(t)
                    if any(cells):
                        lines.append("\t".join(cells) if len(cells) > 1 else cells[0] + "\t")
                        table_rows += 1
    except BadUpload:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError, TypeError) as exc:
        raise BadUpload(
            "corrupt", f"{name} could not be read as a Word document ({type(exc).__name__}); it may be damaged. "
            "Please re-save it as .docx and try again."
        ) from None
    except Exception as exc:  # lxml and python-docx raise a variety of errors on broken files
        raise BadUpload("corrupt", f"{name} could not be read as a Word document ({type(exc).__name__}).") from None
    warnings = []
    if table_rows:
        warnings.append(
            f"{table_rows} table row(s) were left out: tables (document control, contents) are not cut into clauses. "
            "If a table holds policy text, put it in ordinary paragraphs."
        )
    return Extracted(text="\n".join(lines) + "\n", kind=".docx", title=title, warnings=warnings)


def _bullet_numbering(document) -> set[tuple[str, str]]:
    """``(numId, ilvl)`` pairs whose numbering format is a bullet, from the document's numbering part."""
    out: set[tuple[str, str]] = set()
    try:
        from docx.oxml.ns import qn

        numbering = document.part.numbering_part.element
    except (KeyError, NotImplementedError, AttributeError):
        return out
    abstract_bullets: dict[str, set[str]] = {}
    for absnum in numbering.findall(qn("w:abstractNum")):
        aid = absnum.get(qn("w:abstractNumId"))
        for lvl in absnum.findall(qn("w:lvl")):
            fmt = lvl.find(qn("w:numFmt"))
            if fmt is not None and fmt.get(qn("w:val")) == "bullet":
                abstract_bullets.setdefault(aid, set()).add(lvl.get(qn("w:ilvl")))
    for num in numbering.findall(qn("w:num")):
        ref = num.find(qn("w:abstractNumId"))
        if ref is None:
            continue
        for ilvl in abstract_bullets.get(ref.get(qn("w:val")), ()):
            out.add((num.get(qn("w:numId")), ilvl))
    return out


def _docx_line(para, bullets: set[tuple[str, str]]) -> tuple[str | None, bool]:
    """One paragraph as a text line (``#`` heading, ``- `` bullet or plain); ``(None, False)`` when empty."""
    from docx.oxml.ns import qn

    text = para.text.replace("\t", " ").replace("\u00a0", " ")
    text = "\n".join(" ".join(part.split()) for part in text.split("\n"))
    text = "\n".join(t for t in text.split("\n") if t)
    if not text:
        return None, False
    try:
        style = (para.style.name or "") if para.style is not None else ""
    except (KeyError, AttributeError):
        style = ""
    low = style.lower()
    if low == "title":
        return "# " + text.replace("\n", " "), True
    m = re.match(r"heading\s*(\d)", low)
    if m:
        level = max(1, min(int(m.group(1)), 6))
        return "#" * level + " " + text.replace("\n", " "), level == 1
    if low == "subtitle":
        return "## " + text.replace("\n", " "), False
    is_bullet = "list bullet" in low
    if not is_bullet:
        ppr = para._p.pPr
        numpr = ppr.find(qn("w:numPr")) if ppr is not None else None
        if numpr is not None:
            num_id = numpr.find(qn("w:numId"))
            ilvl = numpr.find(qn("w:ilvl"))
            key = (num_id.get(qn("w:val")) if num_id is not None else None, ilvl.get(qn("w:val")) if ilvl is not None else "0")
            is_bullet = key in bullets
    if is_bullet:
        first, *rest = text.split("\n")
        return "\n".join(["- " + first, *rest]), False
    return text, False


# ---- PDF -----------------------------------------------------------------------------------
_PAGE_NUMBER = re.compile(r"^(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?$", re.I)
_LIST_START = re.compile(r"^(?:[-•·▪●◦–*]\s|\d+(?:\.\d+)*\.?\s|\(?[a-z]\)\s|\(?[ivx]+\)\s)")
_SENTENCE_END = (".", "!", "?", ":", ";", "”", '"', "’", "'", ")")


def _read_pdf(data: bytes, name: str) -> Extracted:
    if b"%PDF" not in data[:1024]:
        raise BadUpload("corrupt", f"{name} is not a valid PDF file; it may be damaged or mis-named.")
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # missing crypto backend, unknown algorithm
                opened = 0
            if not opened:
                raise BadUpload("encrypted", f"{name} is an encrypted PDF; please upload an unprotected copy.")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = None
        try:
            meta_title = (reader.metadata or {}).get("/Title")
            if isinstance(meta_title, str) and meta_title.strip() and len(meta_title) <= 200:
                title = " ".join(meta_title.split())
        except Exception:
            title = None
    except BadUpload:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, OSError, RecursionError) as exc:
        raise BadUpload(
            "corrupt", f"{name} could not be read as a PDF ({type(exc).__name__}); it may be damaged. "
            "Please export it again and retry."
        ) from None
    except Exception as exc:
        raise BadUpload("corrupt", f"{name} could not be read as a PDF ({type(exc).__name__}).") from None
    if not pages:
        raise BadUpload("corrupt", f"{name} has no pages.")
    if not any(p.strip() for p in pages):
        raise BadUpload(
            "no_text",
            f"{name} has no text that can be copied (is it a scanned image?). Please upload the original Word file or a text PDF.",
        )
    text, dropped = _pdf_text(pages)
    if dropped:
        warnings.append(f"{dropped} running header/footer or page-number line(s) were left out.")
    return Extracted(text=text, kind=".pdf", title=title, warnings=warnings, pages=len(pages))


def _pdf_text(pages: list[str]) -> tuple[str, int]:
    """Join page texts: drop running headers/footers and page numbers, re-join wrapped lines."""
    page_lines = [[" ".join(l.split()) for l in p.splitlines()] for p in pages]
    def shape(line: str) -> str:  # "Northbrook DC - page 3" and "... page 4" are one running footer
        return re.sub(r"\d+", "#", line)

    repeated: set[str] = set()
    if len(pages) >= 3:
        counts = Counter(s for lines in page_lines for s in {shape(l) for l in lines if l})
        repeated = {s for s, n in counts.items() if n >= max(3, 0.6 * len(pages)) and len(s) <= 100}
    dropped = 0
    kept: list[str | None] = []
    for lines in page_lines:
        for line in lines:
            if line and (shape(line) in repeated or _PAGE_NUMBER.match(line)):
                dropped += 1
                continue
            kept.append(line)
        kept.append(None)  # a page break: a paragraph may run on to the next page
    return _reflow(kept), dropped


def _reflow(lines: list[str | None]) -> str:
    """Re-join lines a PDF wrapped inside one paragraph or list item.

    ``lines`` holds text lines, ``""`` for a blank line (always a paragraph break) and ``None`` for a
    page break (a paragraph may continue across it). A line continues the previous one when the
    previous one is long (at least 60% of the typical full line) and does not end a sentence, or when
    it starts with a lower-case letter after a long line or a comma. Bullets and numbered lines
    always start a new line.
    """
    lengths = sorted(len(l) for l in lines if l)
    if not lengths:
        return ""
    full = lengths[int(0.9 * (len(lengths) - 1))]
    out: list[str] = []
    blank = True  # a blank line since the last text line
    for line in lines:
        if line is None:
            continue
        if not line:
            blank = True
            continue
        if out and not blank and not _LIST_START.match(line):
            prev = out[-1]
            long_prev = len(prev) >= 0.6 * full
            wrapped = long_prev and not prev.endswith(_SENTENCE_END)
            lower_cont = line[:1].islower() and (long_prev or prev.endswith(","))
            if wrapped or lower_cont:
                if prev.endswith("-") and len(prev) > 1 and prev[-2].isalpha() and line[:1].islower():
                    out[-1] = prev + line
                else:
                    out[-1] = prev + " " + line
                continue
        if blank and out:
            out.append("")
        out.append(line)
        blank = False
    return "\n".join(out) + "\n"
