"""Read a Word (.docx) upload into the text form ``knowledge.segment`` reads, as a person reads the page.

* ``Title`` and ``Heading N`` styles become ``#`` heading lines (``Subtitle``: ``##``).
* Headings typed as formatting rather than styles are found too: a paragraph, or one line of it
  between manual line breaks (``<w:br/>``), whose text is all bold or underlined, short and not a
  sentence (no closing ``.``/``,``/``;``/``:``, not a ``Label: value`` line) becomes a heading line:
  ``#`` when its font is clearly larger than the body text (a cover title), else ``##``. The rest
  of the paragraph after the break stays an ordinary line, so a run-in heading is never glued to
  the clause that follows it. Numbered headings (``"3. Scope"``) keep their number.
* Bulleted paragraphs (``List Bullet`` styles or bullet numbering) become ``- `` lines; numbered
  paragraphs keep their text. Tables (``table_lines``): a policy table becomes a header line naming
  its columns (``"Technology | Staff: Allowed | Staff: Not allowed:"``) followed by one ``- `` line per
  row, the row's cells verbatim joined by ``" | "``, so each row is a clause with its column headings
  as lead-in; document-control and contents tables, found by structure, are left out with a warning
  saying how many rows.
* The core properties (title, subject, author, ...) and the extended properties (company,
  template) go into ``Extracted.meta``; the text before the first page break into ``first_page``.
"""

from __future__ import annotations

import html
import io
import logging
import re
import zipfile
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from knowledge.loaders import _OLE_MAGIC, BadUpload, Extracted

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from docx.document import Document as DocumentObject
    from docx.styles.style import CharacterStyle
    from docx.table import Table
    from docx.text.paragraph import Paragraph
    from docx.text.run import Run

_LABEL_VALUE = re.compile(r"^[^:]{1,40}:\s+\S")
_MAX_HEADING_WORDS = 12
_LARGER = 1.2  # a heading whose font is this many times the body size is a title-level heading


def read_docx(data: bytes, name: str) -> Extracted:
    """The text, title hint, warnings, properties and cover text of the Word file ``data`` named ``name``.

    Raises:
        BadUpload: ``"encrypted"`` (a password-protected or old-format Word file), ``"corrupt"``
            (not a readable .docx).
    """
    if data.startswith(_OLE_MAGIC):
        raise BadUpload(
            "encrypted",
            f"{name} is password-protected or an old-format Word file; please upload an unprotected .docx copy.",
        )
    if not data.startswith(b"PK"):
        raise BadUpload(
            "corrupt", f"{name} is not a valid Word (.docx) file; it may be damaged. Please re-save it and try again."
        )
    try:
        import docx  # python-docx

        document = docx.Document(io.BytesIO(data))
        reader = _DocxReader(document)
        reader.read()
        meta = _properties(document, data)
    except BadUpload:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, AttributeError, TypeError) as exc:
        raise BadUpload(
            "corrupt",
            f"{name} could not be read as a Word document ({type(exc).__name__}); it may be damaged. "
            "Please re-save it as .docx and try again.",
        ) from None
    except Exception as exc:  # lxml and python-docx raise a variety of errors on broken files
        log.info("%s: unreadable Word document", name, exc_info=True)
        raise BadUpload("corrupt", f"{name} could not be read as a Word document ({type(exc).__name__}).") from None
    warnings = []
    if reader.table_rows:
        warnings.append(
            f"{reader.table_rows} table row(s) were left out: document-control and contents tables are not cut into clauses."
        )
    lines = reader.lines
    first_page = "\n".join(lines[: reader.cover_end]) if reader.cover_end is not None else ""
    return Extracted(
        text="\n".join(lines) + "\n",
        kind=".docx",
        title=reader.title,
        warnings=warnings,
        meta=meta,
        first_page=first_page,
    )


def looks_like_run_in_heading(text: str) -> bool:
    """True when ``text`` (one line, already known to be all bold or underlined) reads as a heading.

    A heading is short (at most 12 words, 120 characters), starts with a capital or a digit, has a
    letter, and is not a sentence or a field: it does not end with ``.``, ``,``, ``;`` or ``:`` and is
    not a ``Label: value`` line.
    """
    text = text.strip()
    if not text or len(text) > 120 or len(text.split()) > _MAX_HEADING_WORDS:
        return False
    if not any(c.isalpha() for c in text) or not (text[0].isupper() or text[0].isdigit()):
        return False
    if text.endswith((".", ",", ";", ":")) or _LABEL_VALUE.match(text):
        return False
    return True


_FIELD = re.compile(  # a page number, version, date or year: what document-control and contents tables hold
    r"^(?:v\s*)?\d+(?:[./-]\d+)*\.?$"
    r"|^\d{1,2}(?:st|nd|rd|th)?\s+[A-Za-z]{3,9}\.?,?\s+\d{2,4}$"
    r"|^[A-Za-z]{3,9}\.?,?\s+(?:\d{1,2},?\s+)?\d{4}$",
    re.I,
)
_CONTROL_WORDS = 6  #: cells of a document-control or contents row are at most this many words
_SENTENCE_WORDS = 12  #: a cell longer than this is running text: the table holds policy content


def _is_header_row(cells: list[tuple[str, int]]) -> bool:
    """True when a row reads as column headings: two or more short labels (at most 5 words, or 10 when
    a cell spans columns), none a sentence, a field value or starting with a number."""
    texts = [t for t, _ in cells if t]
    spanning = any(span > 1 for _, span in cells)
    if len(cells) < 2 or len(texts) < 2 and not spanning:
        return False
    limit = 10 if spanning else 5
    return all(
        len(t.split()) <= limit and not t.endswith((".", ";", ",")) and not _FIELD.match(t) and not t[0].isdigit()
        for t in texts
    )


def table_lines(rows: list[list[tuple[str, int]]], header_rows: int = 0) -> list[str] | None:
    """The text lines of one Word table, in the forms ``knowledge.segment`` reads.

    Args:
        rows: the table's rows that hold text, top to bottom; each row its cells left to right as
            ``(text, grid columns spanned)``, text with white space collapsed.
        header_rows: leading rows Word marks as repeating header rows; 0 lets the structure decide.

    Returns:
        ``None`` for a document-control or contents table, found by structure: no cell is running text
        (over 12 words) and at least half of the rows are short cells (at most 6 words each) one of which
        is a page number, version, date or year. Otherwise the lines: for a one-column table each cell
        as a line; for a table with column headings (the rows Word marks as headers, else a first row of
        short labels, and the next rows of labels while the one above spans columns) one header line,
        the columns' headings joined by ``" | "`` (a column under a spanning heading reads
        ``"Group: Column"``) and ending in ``":"``, then one ``"- "`` line per row, its cells verbatim
        joined by ``" | "``; without headings only the ``"- "`` rows. Never raises.
    """
    if not rows:
        return []
    texts = [t for row in rows for t, _ in row if t]
    if all(len(t.split()) <= _SENTENCE_WORDS for t in texts):
        control = sum(
            all(len(t.split()) <= _CONTROL_WORDS for t, _ in row) and any(_FIELD.match(t) for t, _ in row if t)
            for row in rows
        )
        if 2 * control >= len(rows):
            return None
    if all(len(row) == 1 for row in rows):
        return [row[0][0] for row in rows if row[0][0]]
    heads = header_rows
    if heads == 0 and len(rows) >= 2 and _is_header_row(rows[0]):
        heads = 1
        while heads < len(rows) - 1 and any(span > 1 for _, span in rows[heads - 1]) and _is_header_row(rows[heads]):
            heads += 1
    heads = min(heads, len(rows) - 1)
    out: list[str] = []
    if heads:
        width = max(sum(span for _, span in row) for row in rows)
        columns: list[list[str]] = [[] for _ in range(width)]
        for row in rows[:heads]:
            col = 0
            for text, span in row:
                for c in range(col, min(col + span, width)):
                    if text and (not columns[c] or columns[c][-1] != text):
                        columns[c].append(text)
                col += span
        out.append(" | ".join(": ".join(parts) for parts in columns).rstrip(": |") + ":")
    for row in rows[heads:]:
        out.append("- " + " | ".join(t for t, _ in row))
    return out


class _DocxReader:
    """Walks the body of one python-docx ``Document`` and collects text lines."""

    def __init__(self, document: DocumentObject) -> None:
        from docx.oxml.ns import qn

        self.document = document
        self.qn: Callable[[str], str] = qn
        self.bullets = _bullet_numbering(document)
        self.lines: list[str] = []
        self.title: str | None = None
        self.table_rows = 0
        self.cover_end: int | None = None
        self.default_size = _default_size(document)
        self._style_cache: dict[tuple[int, str], object] = {}

    # ---- the walk ------------------------------------------------------------------------
    def read(self) -> None:
        from docx.table import Table
        from docx.text.paragraph import Paragraph

        qn = self.qn
        paragraphs: list[Paragraph | Table] = []
        for child in self.document.element.body.iterchildren():
            if child.tag == qn("w:p"):
                paragraphs.append(Paragraph(child, self.document))
            elif child.tag == qn("w:tbl"):
                paragraphs.append(Table(child, self.document))
        body = self._body_size([p for p in paragraphs if isinstance(p, Paragraph)])
        for item in paragraphs:
            if isinstance(item, Table):
                self._table(item)
                continue
            before = len(self.lines)
            break_before, break_after = self._paragraph(item, body)
            if self.cover_end is None and (break_before or self._breaks_before(item)):
                self.cover_end = before
            elif self.cover_end is None and break_after:
                self.cover_end = len(self.lines)

    def _table(self, table: Table) -> None:
        """Append a table's rows: policy tables as a header line and ``- `` rows (``table_lines``), others left out."""
        rows: list[list[tuple[str, int]]] = []
        for row in table.rows:
            cells: list[tuple[str, int]] = []
            last = None
            for cell in row.cells:  # one per grid column; a cell merged across columns comes back for each
                if last is not None and cell._tc is last:
                    text, span = cells[-1]
                    cells[-1] = (text, span + 1)
                    continue
                last = cell._tc
                cells.append((" ".join(cell.text.split()), 1))
            if any(text for text, _ in cells):
                rows.append(cells)
        lines = table_lines(rows, header_rows=self._header_rows(table))
        if lines is None:
            self.table_rows += len(rows)
            return
        self.lines.extend(lines)

    def _header_rows(self, table: Table) -> int:
        """How many leading rows Word marks as repeating header rows (``w:tblHeader``)."""
        n = 0
        for row in table.rows:
            trpr = row._tr.trPr
            flag = trpr.find(self.qn("w:tblHeader")) if trpr is not None else None
            if flag is None or flag.get(self.qn("w:val")) in ("0", "false", "off"):
                break
            n += 1
        return n

    def _paragraph(self, para: Paragraph, body_size: float) -> tuple[bool, bool]:
        """Append the lines of ``para``; ``(a page starts before it, a page ends within or after it)``."""
        split, breaks = self._split_lines(para)
        texts = [t for t, _, _ in split]
        if not any(texts):
            return breaks
        style = _style_name(para).lower()
        whole = " ".join(t for t in texts if t)
        if style == "title":
            self._add("# " + whole, title=True)
            return breaks
        m = re.match(r"heading\s*(\d)", style)
        if m:
            level = max(1, min(int(m.group(1)), 6))
            self._add("#" * level + " " + whole, title=level == 1)
            return breaks
        if style == "subtitle":
            self._add("## " + whole)
            return breaks
        if self._is_bullet(para, style):
            kept = [t for t in texts if t]
            self._add("- " + kept[0])
            for t in kept[1:]:
                self._add(t)
            return breaks
        for text, emphasised, size in split:
            if not text:
                continue
            if emphasised and looks_like_run_in_heading(text):
                large = size is not None and size >= _LARGER * body_size
                self._add(("# " if large else "## ") + text)
            else:
                self._add(text)
        return breaks

    def _add(self, line: str, title: bool = False) -> None:
        if title and self.title is None:
            self.title = line.lstrip("#").strip()
        self.lines.append(line)

    # ---- lines and their formatting -------------------------------------------------------
    def _split_lines(self, para: Paragraph) -> tuple[list[tuple[str, bool, float | None]], tuple[bool, bool]]:
        """The paragraph's lines between manual breaks: ``[(text, all emphasised, smallest font pt)]``,
        and ``(a page starts before its text, a page break within or after it)``."""
        from docx.text.run import Run

        qn = self.qn
        lines: list[list[tuple[str, bool, float | None]]] = [[]]
        page_break = break_before = False
        for r in para._p.xpath(
            "./w:r | ./w:hyperlink/w:r | ./w:ins/w:r | ./w:smartTag/w:r | ./w:fldSimple/w:r | ./w:sdt/w:sdtContent/w:r"
        ):
            run = None
            for el in r.iterchildren():
                tag = el.tag
                if tag == qn("w:t"):
                    if run is None:
                        run = Run(r, para)
                        fmt = (self._emphasised(run, para), self._size(run, para))
                    lines[-1].append((el.text or "", *fmt))
                elif tag in (qn("w:tab"), qn("w:ptab")):
                    lines[-1].append((" ", True, None))
                elif tag == qn("w:noBreakHyphen"):
                    lines[-1].append(("-", True, None))
                elif tag in (qn("w:br"), qn("w:cr")):
                    if el.get(qn("w:type")) == "page":
                        page_break = True
                    lines.append([])
                elif tag == qn("w:lastRenderedPageBreak"):
                    if "".join(t for line in lines for t, _, _ in line).strip():
                        page_break = True
                    else:
                        break_before = True
        ppr = para._p.pPr
        if ppr is not None and ppr.find(qn("w:sectPr")) is not None:
            page_break = True
        out = []
        for pieces in lines:
            text = "".join(t for t, _, _ in pieces).replace("\u00a0", " ")
            text = " ".join(text.split())
            visible = [(t, e, s) for t, e, s in pieces if t.strip()]
            emphasised = bool(visible) and all(e for _, e, _ in visible)
            sizes = [s for _, _, s in visible if s is not None]
            out.append((text, emphasised, min(sizes) if sizes else None))
        return out, (break_before, page_break)

    def _breaks_before(self, para: Paragraph) -> bool:
        ppr = para._p.pPr
        if ppr is None:
            return False
        pb = ppr.find(self.qn("w:pageBreakBefore"))
        return pb is not None and pb.get(self.qn("w:val")) not in ("0", "false", "off")

    def _emphasised(self, run: Run, para: Paragraph) -> bool:
        return bool(self._font_attr(run, para, "bold")) or bool(self._font_attr(run, para, "underline"))

    def _size(self, run: Run, para: Paragraph) -> float:
        size = self._font_attr(run, para, "size")
        return size.pt if size is not None else self.default_size

    def _font_attr(self, run: Run, para: Paragraph, attr: str) -> Any:
        """The run's font attribute, else its character style's, else its paragraph style's (None: unset)."""
        value = getattr(run.font, attr)
        if value is not None:
            return value
        for style in (_safe_style(run), _safe_style(para)):
            while style is not None:
                value = getattr(style.font, attr, None)
                if value is not None:
                    return value
                style = getattr(style, "base_style", None)
        return None

    def _body_size(self, paragraphs: list[Paragraph]) -> float:
        """The font size (pt) most of the document's text is set in."""
        from collections import Counter

        from docx.text.run import Run

        counts: Counter[float] = Counter()
        for para in paragraphs[:400]:
            for r in para._p.xpath("./w:r | ./w:hyperlink/w:r"):
                run = Run(r, para)
                n = len(run.text.strip())
                if n:
                    counts[self._size(run, para)] += n
        return counts.most_common(1)[0][0] if counts else self.default_size

    def _is_bullet(self, para: Paragraph, style_lower: str) -> bool:
        if "list bullet" in style_lower:
            return True
        qn = self.qn
        ppr = para._p.pPr
        numpr = ppr.find(qn("w:numPr")) if ppr is not None else None
        if numpr is None:
            return False
        num_id = numpr.find(qn("w:numId"))
        ilvl = numpr.find(qn("w:ilvl"))
        key = (
            num_id.get(qn("w:val")) if num_id is not None else None,
            ilvl.get(qn("w:val")) if ilvl is not None else "0",
        )
        return key in self.bullets


def _safe_style(obj: Paragraph | Run) -> CharacterStyle | None:
    try:
        return obj.style
    except (KeyError, AttributeError, ValueError):
        return None


def _style_name(para: Paragraph) -> str:
    style = _safe_style(para)
    try:
        return (style.name or "") if style is not None else ""
    except (KeyError, AttributeError):
        return ""


def _default_size(document: DocumentObject) -> float:
    """The document's default font size in points (``w:docDefaults``), 11 when it sets none."""
    try:
        from docx.oxml.ns import qn

        el = document.styles.element.find(qn("w:docDefaults"))
        for tag in ("w:rPrDefault", "w:rPr", "w:sz"):
            el = el.find(qn(tag)) if el is not None else None
        if el is not None:
            return int(el.get(qn("w:val"))) / 2
    except (KeyError, ValueError, TypeError, AttributeError):
        pass
    return 11.0


def _bullet_numbering(document: DocumentObject) -> set[tuple[str, str]]:
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


_CORE = ("title", "subject", "author", "keywords", "category", "comments", "last_modified_by", "version")
_APP = {"Company": "company", "Template": "template", "Manager": "manager"}


def _properties(document: DocumentObject, data: bytes) -> dict[str, str]:
    """Core properties (python-docx) and the extended ones Word writes (``docProps/app.xml``)."""
    meta: dict[str, str] = {}
    try:
        cp = document.core_properties
        for key in _CORE:
            value = getattr(cp, key, None)
            if isinstance(value, str) and value.strip():
                meta[key] = " ".join(value.split())
        for key in ("created", "modified"):
            value = getattr(cp, key, None)
            if value is not None:
                meta[key] = value.isoformat()
    except (KeyError, ValueError, AttributeError, TypeError):
        pass
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            app = zf.read("docProps/app.xml")[:200_000].decode("utf-8", "replace")
    except (KeyError, zipfile.BadZipFile, OSError):
        return meta
    for tag, key in _APP.items():
        m = re.search(rf"<(?:\w+:)?{tag}>([^<]*)</(?:\w+:)?{tag}>", app)
        if m and m.group(1).strip():
            meta[key] = " ".join(html.unescape(m.group(1)).split())
    return meta
