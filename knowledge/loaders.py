"""Read an uploaded policy file (.txt, .md, .docx, .pdf) into plain text the segmenter understands.

The text keeps the document's structure in the forms ``knowledge.segment`` reads:

* ``.txt`` and ``.md`` are kept as they are (UTF-8; a UTF-16 byte-order mark or, failing UTF-8,
  Windows-1252 is accepted) except for their markup (``knowledge.markup``): underlined section
  titles (reStructuredText, Markdown setext) become ``#`` lines, reStructuredText directives and
  comments are dropped. The segmenter reads ``#`` headings and ``-`` / ``*`` / ``•`` bullets.
* ``.docx`` (``knowledge.docx``, python-docx): paragraphs in body order; ``Title`` and ``Heading N``
  styles, and bold or underlined run-in headings, become ``#`` heading lines, bulleted paragraphs
  (``List Bullet`` styles or bullet numbering) become ``- `` lines, numbered paragraphs keep their
  text. A policy table becomes a header line (``Heading | Heading:``) and one ``- `` line per row, so
  each row is a clause with the column headings as its lead-in; document-control and contents tables
  are left out (a warning says how many rows). Core properties go into ``Extracted.meta``.
* ``.pdf``: read by ``knowledge.pdf`` (running headers/footers, page numbers and private-use
  bullet glyphs handled there; tick-box tables rebuilt as rows under their rotated headings; wrapped
  lines joined again, so a clause is a paragraph, not a line).

Every problem raises ``BadUpload`` with a message meant for the person who uploaded the file and a
short ``code`` (``"unsupported_type"``, ``"too_large"``, ``"empty"``, ``"encrypted"``, ``"corrupt"``,
``"no_text"``, ...). Nothing here touches the knowledge base.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
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
        meta: the file's own properties, lower-case keys, string values, only those present:
            ``title``, ``subject``, ``author`` (PDF Info/XMP; Word core properties), and for Word also
            ``company``, ``template``, ``keywords``, ``category``, ``created``/``modified`` (ISO 8601).
        first_page: the text of the first page or cover, as read (PDF: page 1; Word: the text
            before the first page break, or ``""`` when there is none; text files: ``""``).
    """

    text: str
    kind: str
    title: str | None = None
    warnings: list[str] = field(default_factory=list)
    pages: int | None = None
    meta: dict[str, str] = field(default_factory=dict)
    first_page: str = ""


def max_upload_bytes(env: Mapping[str, str] | None = None) -> int:
    """The upload size limit in bytes: ``POLICYBOT_MAX_UPLOAD_MB`` in ``env`` (a number of MB) or 10 MB.

    The fallback for callers that were given no limit; entry points read the limit once
    (``bot.settings.Settings.max_upload_bytes``, which refuses a bad value) and pass it down as ``max_bytes``.

    Args:
        env: the environment mapping to read (default ``os.environ``); a value that is not a positive
            number is ignored here.
    """
    raw = (os.environ if env is None else env).get("POLICYBOT_MAX_UPLOAD_MB")
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
        from knowledge.pdf import read_pdf  # here, not at the top: knowledge.pdf imports this module

        out = read_pdf(data, name)
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
            warnings.append(
                "The file is not UTF-8; it was read as Windows-1252. Check accented letters in the preview."
            )
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    from knowledge.markup import read_markup

    text, title, meta = read_markup(text, kind)
    if kind == ".md":
        m = re.search(r"^#{1,2}\s+(.+?)\s*#*\s*$", text, re.M)
        title = m.group(1).strip() if m else None
    return Extracted(text=text, kind=kind, title=title, warnings=warnings, meta=meta)


def _first_line_title(text: str) -> str | None:
    """The first non-empty line when it reads like a title (short, no closing full stop)."""
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if not line:
            continue
        if (
            len(line) <= 120
            and len(line.split()) <= 16
            and not line.endswith((".", ":", ";", ","))
            and "\t" not in line
        ):
            return line
        return None
    return None


# ---- Word ----------------------------------------------------------------------------------
def _read_docx(data: bytes, name: str) -> Extracted:
    from knowledge.docx import read_docx  # here, not at the top: knowledge.docx imports this module

    return read_docx(data, name)
