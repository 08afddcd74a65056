"""Read a PDF upload into text the segmenter understands, the way a person reads the printed pages.

Library: pypdf. It reads a 51-page published policy (tagged Word export, tables with rotated
column headers) in about 1.6 s on an idle core (3 s with both shared cores busy), and gives the
rotated header text as readable lines. pdfplumber was measured on the same file at about 4.7 s for
its text and 5.3 s for ``find_tables`` (idle), split a running header word ("SWG fL"), merged a
two-column contents page into one line per row, and returned the rotated headers as one or two
letters a line in reverse order; it was not clearly better, so it is not used. Should positions or
fonts be needed (table columns, bold headings), pypdf's ``extract_text(visitor_text=...)`` gives
each fragment's matrix and font in the same pass.

What a reader ignores is left out, by structure, never by the words of one document:

* Running headers and footers: on every page the first and last few lines are compared with the
  other pages' (digits folded to ``#``, case and spacing ignored, and a close-enough match allowed
  for small variations); what recurs on a good share of the pages, and page numbers in those places
  (``7``, ``Page 7``, ``7 of 51``, ``- 7 -``), are dropped.
* Bullet glyphs from symbol fonts, which extract as private-use characters (U+F0B7, U+F0A7, ... any
  of U+E000-U+F8FF) at the start of a line, become ``•``.
* Lines a PDF wrapped inside one paragraph or list item are joined again.
* Tables whose cells are marks (``x``, ``(x)``, ``✓``) under column headings (often rotated) are
  rebuilt from the fragments' positions (``rebuild_mark_table``): a header line naming the columns,
  ending in ``:``, then one ``- `` line per row, ``label | mark | | mark``, so each row is one clause
  with its headings as lead-in; stray marks and rotated heading pieces never become clauses.
"""

from __future__ import annotations

import difflib
import io
import logging
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from knowledge.loaders import BadUpload, Extracted

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from pypdf import PageObject, PdfReader

EDGE_LINES = 5  #: lines at the top and at the bottom of a page that may be a running header/footer
RUNNING_SHARE = 0.5  #: a line is running when it recurs at the page edges of at least this share of pages
_FUZZY = 0.85  #: difflib ratio at which an edge line counts as a small variation of a running line

_PAGE_NUMBER = re.compile(
    r"^(?:page\s*)?[-–(\[]?\s*(?:\d{1,4}|[ivxlc]{1,6})\s*[-–)\]]?(?:\s*(?:of|/)\s*\d{1,4})?$", re.I
)
_PUA_BULLET = re.compile(r"^[\ue000-\uf8ff]\s*")
_LIST_START = re.compile(r"^(?:[-•·▪●◦–*]\s|\d+(?:\.\d+)*\.?\s|\(?[a-z]\)\s|\(?[ivx]+\)\s)")
_SENTENCE_END = (".", "!", "?", ":", ";", "”", '"', "’", "'", ")")


def read_pdf(data: bytes, name: str) -> Extracted:
    """Read the PDF ``data`` (file name ``name``, for messages) into an ``Extracted``.

    Returns:
        ``Extracted`` with ``kind=".pdf"``, ``text`` (running headers/footers and page numbers left
        out, paragraphs re-joined), ``title`` from the PDF's Info/XMP title if it has one, ``pages``,
        ``meta`` (``"title"``, ``"author"``, ``"subject"`` where the file states them) and
        ``first_page`` (the first page's lines after header/footer removal, joined by newlines).

    Raises:
        BadUpload: ``"corrupt"`` (not a PDF, damaged, no pages), ``"encrypted"`` (needs a password),
            ``"no_text"`` (no extractable text, e.g. a scan).
    """
    if b"%PDF" not in data[:1024]:
        raise BadUpload("corrupt", f"{name} is not a valid PDF file; it may be damaged or mis-named.")
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    warnings: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            opened: int  # a pypdf PasswordType (an IntEnum); 0 is not decrypted
            try:
                opened = reader.decrypt("")
            except Exception:  # missing crypto backend, unknown algorithm
                log.info("%s: could not try an empty password", name, exc_info=True)
                opened = 0
            if not opened:
                raise BadUpload("encrypted", f"{name} is an encrypted PDF; please upload an unprotected copy.")
        pages = [page_text_with_tables(page) for page in reader.pages]
        meta = pdf_metadata(reader)
    except BadUpload:
        raise
    except (
        PdfReadError,
        PyPdfError,
        ValueError,
        KeyError,
        TypeError,
        AttributeError,
        IndexError,
        OSError,
        RecursionError,
    ) as exc:
        raise BadUpload(
            "corrupt",
            f"{name} could not be read as a PDF ({type(exc).__name__}); it may be damaged. "
            "Please export it again and retry.",
        ) from None
    except Exception as exc:  # pypdf raises a variety of errors on broken files
        log.info("%s: unreadable PDF", name, exc_info=True)
        raise BadUpload("corrupt", f"{name} could not be read as a PDF ({type(exc).__name__}).") from None
    if not pages:
        raise BadUpload("corrupt", f"{name} has no pages.")
    if not any(p.strip() for p in pages):
        raise BadUpload(
            "no_text",
            f"{name} has no text that can be copied (is it a scanned image?). Please upload the original Word file or a text PDF.",
        )
    page_lines = [page_text_lines(p) for p in pages]
    kept_pages, dropped = strip_running_lines(page_lines)
    text = reflow([line for page in kept_pages for line in [*page, None]])
    if dropped:
        warnings.append(f"{dropped} running header/footer or page-number line(s) were left out.")
    title = meta.get("title") if meta.get("title") and len(meta["title"]) <= 200 else None
    first_page = "\n".join(line for line in next((p for p in kept_pages if any(p)), []) if line)
    return Extracted(
        text=text, kind=".pdf", title=title, warnings=warnings, pages=len(pages), meta=meta, first_page=first_page
    )


def pdf_metadata(reader: PdfReader) -> dict[str, str]:
    """``{"title", "author", "subject"}`` (only those stated, white space collapsed) from a pypdf reader.

    The document Info dictionary wins; the XMP packet (``dc:title``, ``dc:creator``,
    ``dc:description``) fills what Info leaves out. Unreadable metadata gives ``{}``; never raises.
    """
    out: dict[str, str] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, dict):  # XMP language alternatives: {"x-default": "..."}
            value = value.get("x-default") or next(iter(value.values()), None)
        if isinstance(value, (list, tuple)):
            value = "; ".join(str(v) for v in value if v)
        if isinstance(value, str) and value.strip() and key not in out:
            out[key] = " ".join(value.split())

    try:
        info: dict[Any, Any] = reader.metadata or {}
        put("title", info.get("/Title"))
        put("author", info.get("/Author"))
        put("subject", info.get("/Subject"))
    except Exception:  # a broken Info dictionary: the text is still read
        log.info("unreadable PDF Info dictionary", exc_info=True)
    try:
        xmp = reader.xmp_metadata
        if xmp is not None:
            put("title", xmp.dc_title)
            put("author", xmp.dc_creator)
            put("subject", xmp.dc_description)
    except Exception:  # broken XMP: the text is still read
        log.info("unreadable PDF XMP metadata", exc_info=True)
    return out


def page_text_lines(page_text: str) -> list[str]:
    """The lines of one page's text: white space collapsed, a private-use bullet glyph at the start made ``•``."""
    out = []
    for raw in page_text.splitlines():
        line = " ".join(raw.split())
        if _PUA_BULLET.match(line):
            rest = _PUA_BULLET.sub("", line)
            line = "• " + rest if rest else ""
        out.append(line)
    return out


def _fold(line: str) -> str:
    """The comparison key of a possible header/footer line: digits as ``#``, only letters, digits and ``#``."""
    return re.sub(r"[^\w#]+", "", re.sub(r"\d+", "#", line.casefold()))


def _edges(lines: list[str]) -> list[int]:
    """Indexes of the first and last ``EDGE_LINES`` non-empty lines of a page."""
    filled = [i for i, line in enumerate(lines) if line]
    return sorted(set(filled[:EDGE_LINES] + filled[-EDGE_LINES:]))


def strip_running_lines(page_lines: list[list[str]]) -> tuple[list[list[str]], int]:
    """Drop running headers/footers and page numbers from the page edges.

    Args:
        page_lines: each page's lines (as ``page_text_lines`` gives them).

    Returns:
        ``(pages, dropped)``: each page's remaining lines, and how many lines were dropped.

    A line at a page edge is running when its folded form (``_fold``) occurs at the edges of at least
    ``RUNNING_SHARE`` of the pages (and at least 3), or is close to such a form (small variations such as
    a changed date or a word split by the extractor). A page number is dropped only at a page edge of a
    document of two or more pages. Documents of one or two pages keep their edge lines except page numbers.
    """
    n = len(page_lines)
    counts: Counter[str] = Counter()
    for lines in page_lines:
        counts.update({_fold(lines[i]) for i in _edges(lines)} - {""})
    threshold = max(3, RUNNING_SHARE * n)
    running = {k for k, c in counts.items() if c >= threshold and len(k) <= 200}

    def is_running(line: str) -> bool:
        key = _fold(line)
        if not key:
            return False
        if key in running:
            return True
        return any(
            abs(len(k) - len(key)) <= 0.2 * len(k) and difflib.SequenceMatcher(None, k, key).ratio() >= _FUZZY
            for k in running
        )

    dropped = 0
    out: list[list[str]] = []
    for lines in page_lines:
        drop = set()
        for i in _edges(lines):
            if (n >= 2 and _PAGE_NUMBER.match(lines[i])) or (running and is_running(lines[i])):
                drop.add(i)
        dropped += len(drop)
        out.append([line for i, line in enumerate(lines) if i not in drop])
    return out, dropped


def reflow(lines: list[str | None]) -> str:
    """Re-join lines a PDF wrapped inside one paragraph or list item.

    Args:
        lines: text lines, ``""`` for a blank line (always a paragraph break) and ``None`` for a page
            break (a paragraph may continue across it).

    Returns:
        The text, one paragraph or list item a line, blank lines between paragraphs, ending in ``"\\n"``.

    A line continues the previous one when the previous one is long (at least 60% of the typical full
    line) and does not end a sentence, or when it starts with a lower-case letter after a long line or
    a comma. Bullets and numbered lines always start a new line.
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


_MARK = re.compile(r"^\(?(?:[^\W\d_]|[✓✔✗✘])\)?$")  #: a tick-box cell: one letter or tick, maybe in brackets
_MIN_MARK_ROWS = 3  #: lines ending in marks a page needs before its marks are read as a table
_WRAP_GAP = 14.0  #: at most this many points (x1.2) between the baselines of two lines of one rotated heading


def page_text_with_tables(page: PageObject) -> str:
    """One pypdf page's text (``page.extract_text()``), with its tick-box tables rebuilt.

    The text is the same as ``extract_text()`` (one pass, positions from ``visitor_text``) except on
    a page where at least 3 lines end in marks: there ``rebuild_mark_table`` replaces the table.
    Returns ``""`` for a page without text. Raises what pypdf raises on a broken page.
    """
    lines: list[list[tuple[str, float, float, bool]]] = [[]]

    def visit(text: str, cm: list[float], tm: list[float], font_dict: Any, font_size: float) -> None:
        a, b, c, d, e, f = tm
        x = e * cm[0] + f * cm[2] + cm[4]
        y = e * cm[1] + f * cm[3] + cm[5]
        rotated = abs(a * cm[1] + b * cm[3]) > 1e-3 * (abs(a) + abs(b) + 1e-9) * (abs(cm[0]) + abs(cm[1]) + 1e-9) * 10
        for k, piece in enumerate(text.split("\n")):
            if k:
                lines.append([])
            if piece:
                lines[-1].append((piece, x, y, rotated))

    text = page.extract_text(visitor_text=visit) or ""
    if "".join(p for line in lines for p, *_ in line) != text.replace("\n", ""):
        return text  # positions do not line up with the text: leave the page as it is
    return rebuild_mark_table(lines) or text


def _trailing_marks(frags: list[tuple[str, float, float, bool]]) -> int:
    """How many fragments at the end of a line (white space between them aside) are tick-box marks."""
    n = 0
    for k in range(len(frags) - 1, -1, -1):
        piece = frags[k][0].strip()
        if not piece:
            continue
        if not _MARK.match(piece) or frags[k][3]:
            break
        n = len(frags) - k
    return n


def rebuild_mark_table(lines: list[list[tuple[str, float, float, bool]]]) -> str | None:
    """The page text with its tick-box table rebuilt, or ``None`` when the page has none.

    Args:
        lines: the page's lines in text order, each a list of ``(text, x, y, rotated)`` fragments
            (points; ``rotated`` for text not set horizontally), as ``page_text_with_tables`` reads them.

    Returns:
        ``None`` when fewer than 3 lines end in marks (one letter or tick, maybe bracketed). Otherwise
        the page text: the lines before the table as they were; the table as a header line (the
        short line just before the rotated headings as first column, then each rotated heading,
        its wrapped lines joined, left to right, ``" | "`` between, ending in ``":"``) and one
        ``"- label | cell | ..."`` line per row, a cell holding the row's mark in the column whose
        heading is nearest, blank lines around it; text spanning several rows at another indent
        (a merged cell) comes before the header as one line; then the lines after the table.
        Without rotated headings the marks are only taken off the rows' lines.
    """
    texts = ["".join(p for p, *_ in line) for line in lines]
    marked = [k for k, line in enumerate(lines) if _trailing_marks(line)]
    if len(marked) < _MIN_MARK_ROWS:
        return None
    rotated = [
        k
        for k, line in enumerate(lines)
        if line and any(p.strip() for p, *_ in line) and all(r for p, _, _, r in line if p.strip()) and k < marked[-1]
    ]
    first, last = (rotated[0] if rotated else marked[0]), marked[-1]
    if not rotated:
        out = texts[:first]
        for k in range(first, len(lines)):
            n = _trailing_marks(lines[k]) if k <= last else 0
            kept = "".join(p for p, *_ in lines[k][: len(lines[k]) - n]).rstrip() if n else texts[k]
            if kept.strip():
                out.append(kept)
        return "\n".join(out)
    # column headings: rotated lines grouped by how close their baselines are
    heads: list[list[tuple[str, float]]] = []
    xs = [next(f[1] for f in lines[k] if f[0].strip()) for k in rotated]
    steps = [abs(b - a) for a, b in zip(xs, xs[1:]) if abs(b - a) > 1]
    wrap = min(_WRAP_GAP, min(steps)) * 1.2 if steps else _WRAP_GAP
    for k, x in zip(rotated, xs):
        piece = " ".join(" ".join(p.split()) for p, *_ in lines[k] if p.strip())
        if heads and abs(x - heads[-1][-1][1]) <= wrap:
            heads[-1].append((piece, x))
        else:
            heads.append([(piece, x)])
    heads.sort(key=lambda h: h[0][1])
    names = [" ".join(p for p, _ in h) for h in heads]
    centres = [sum(x for _, x in h) / len(h) for h in heads]
    before = texts[:first]
    corner = ""
    k = len(before) - 1
    while k >= 0 and not before[k].strip():
        k -= 1
    if k >= 0 and len(before[k].split()) <= 6 and not before[k].strip().endswith("."):
        corner = " ".join(before[k].split()).rstrip(":").strip()
        before = before[:k]
    header = " | ".join([corner, *names]) + ":"
    block: list[str] = []
    rows: list[tuple[list[tuple[str, float]], dict[int, list[str]]]] = []
    cur_labels: list[tuple[str, float]] = []
    cur_marks: dict[int, list[str]] = {}
    prev_y = None

    def close() -> None:
        nonlocal cur_labels, cur_marks
        if cur_labels or cur_marks:
            rows.append((cur_labels, cur_marks))
        cur_labels, cur_marks = [], {}

    rotated_set = set(rotated)
    for k in range(first, last + 1):
        if k in rotated_set:
            continue
        line = lines[k]
        n = _trailing_marks(line)
        label_frags = line[: len(line) - n] if n else line
        label = " ".join("".join(p for p, *_ in label_frags).split())
        if label:
            y = next(f[2] for f in label_frags if f[0].strip())
            if cur_marks or (prev_y is not None and cur_labels and prev_y - y > 1.4 * _row_gap(lines, first, last)):
                close()
            cur_labels.append((label, next(f[1] for f in label_frags if f[0].strip())))
            prev_y = y
        for piece, x, _, _ in line[len(line) - n :] if n else []:
            if piece.strip():
                col = min(range(len(centres)), key=lambda c: abs(x + 3 - (centres[c] - 4)))
                cur_marks.setdefault(col, []).append(piece.strip())
    close()
    spanning: list[str] = []
    for labels, marks in rows:
        if not labels:
            continue
        indent = labels[-1][1]
        own = [t for t, x in labels if abs(x - indent) <= 15]
        spanning += [t for t, x in labels if abs(x - indent) > 15]
        cells = [" ".join(own)] + [" ".join(marks.get(c, [])) for c in range(len(names))]
        block.append("- " + " | ".join(cells))
    after = texts[last + 1 :]
    lead = [" ".join(spanning)] if spanning else []
    return "\n".join([*before, "", *lead, header, *block, "", *after])


def _row_gap(lines: list[list[tuple[str, float, float, bool]]], first: int, last: int) -> float:
    """The usual distance (points) between two wrapped lines of one cell: the smallest baseline step in the table."""
    ys = [
        next(f[2] for f in line if f[0].strip())
        for line in lines[first : last + 1]
        if line and any(f[0].strip() for f in line) and not line[0][3]
    ]
    steps = [a - b for a, b in zip(ys, ys[1:]) if a - b > 1]
    return min(steps) if steps else 12.0
