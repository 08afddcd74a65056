"""Turn a policy document's text into clauses.

The segmenter works line by line on text as exported from Word, PDF or Markdown:

* ``[bookmark: ...]`` markers are removed; tab-separated lines (document-control tables,
  contents pages) and the document's listed title-page lines are dropped.
* Contents lists are dropped, found by their structure (``contents_lines``): a run of short entries
  most of which end in a page number or dot leader, or most of which come back later as headings.
* Short lines without sentence punctuation, ALL-CAPS lines, ``N. Title`` / ``2.0 Title`` /
  ``3.4 Title`` lines, ``Section 5 – Title`` / ``Part 2`` / ``Appendix B ...`` lines and Markdown
  ``#`` lines are headings; they become the clause's section. Numbered headings nest: a clause
  under ``3.4 Untrue Allegations`` inside ``Section 3 – Procedure`` has the heading
  ``"Section 3 – Procedure › 3.4 Untrue Allegations"``.
* Bullets are ``-``, ``*``, ``•`` and the like, and private-use glyphs (U+E000-U+F8FF, how symbol-font
  bullets such as U+F0B7 come out of PDFs) at the start of a line.
* A line ending with ``:`` (or ``;`` before a quotation) is a *lead-in*: the bullets, deeper-numbered
  clauses or quotations that follow complete it, and each carries it as ``lead_in``.
* Table rows, as the readers write them: a line of cells joined by ``" | "`` ending with ``:`` and
  followed by bullets is the table's header (a lead-in, never a clause); each following bullet line
  of cells is one clause, the whole row, carrying the header as ``lead_in``.
* Form lines are dropped (``is_form_line``): labels each followed by a fill-in leader of dots, ellipses or
  underscores and nothing else (``Date: ……``, ``Name of pupil: _____``, ``Group ..... Date .....``).
* A block of at least 3 consecutive ``Label: value`` lines (``field_block_lines``, a cover's fields) opens no
  section: its heading-shaped fields (``Version No: 1``) are dropped, its sentences stay clauses.
* A *fragment* (``is_fragment``: at most 5 words beginning in lower case or inside an unclosed bracket, not a
  lead-in, no link) is a cell of a picture table or a piece of a wrapped table header; it becomes a clause
  only as an item of a list without bullets (after a line ending in ``:``, or after such an item).
* Everything else is a clause: a paragraph, a numbered clause (``8.5``) or a list item.

A clause's text is always a verbatim slice of one source line.
"""

from __future__ import annotations

import re

from knowledge.model import Clause, Document

_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_BULLET = re.compile(r"^(?:(?:[-•·▪●◦–]|\*(?=\s))\s+|[\ue000-\uf8ff]\s*)(.*)$")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.\s+(.*)$|^(\d+(?:\.\d+)+)\s+(\S.*)$")  # "8. x", "8.5. x", "8.5 x"
_LABELLED = re.compile(  # "Section 5 – Reporting", "Part 2", "Appendix B: Forms", "Annex 3.1 Contacts"
    r"^(?:Section|Part|Chapter|Appendix|Annexe?|Schedule)\s+([A-Z]|\d+(?:\.\d+)*|[IVXLC]+)(?![\w.])\s*[.:–—-]?\s*(.*)$",
    re.I,
)
_PAGE_REF = re.compile(r"(?:\s*(?:\.\s*){2,}|\s*…+\s*|\s+)(\d{1,4})(?:\s*[-–]\s*\d{1,4})?$")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_FOOTNOTE = re.compile(r"^[¹²³⁴⁵⁶⁷⁸⁹⁰]")
_QUOTE_OPENERS = ("'", '"', "‘", "“")
_WS = re.compile(r"\s+")
_CELL_SEP = " | "  #: how readers join the cells of a table row
_LEADER_RUN = re.compile(r"[.…_](?:\s?[.…_])*")  # dots, ellipses, underscores (single spaces between allowed)
_LEADER_WEIGHT = {".": 1, "…": 3, "_": 2}  # a fill-in leader weighs at least 4: "....", "……", "__"
_FIELD = re.compile(r"^([A-Z][^:]{0,40}):\s+(\S.*)$")  # "Version No: 1", "Applies to: All staff ..."
_LINK = re.compile(r"://|\bwww\.|@")


def normalise(text: str) -> str:
    """Fold curly quotes to straight ones, dashes to ``-`` and runs of white space to one space.

    This is the comparison the verbatim rule allows: a quote is verbatim when its normalised
    form occurs in the normalised source.
    """
    table = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "\u00a0": " "})
    return _WS.sub(" ", text.translate(table)).strip()


def _is_heading(content: str, numbered: bool) -> bool:
    """True when a (non-bullet) line reads as a heading rather than a sentence."""
    if not content or content[0] in "[(" + "".join(_QUOTE_OPENERS) or _FOOTNOTE.match(content):
        return False
    letters = [c for c in content if c.isalpha()]
    if letters and all(c.isupper() for c in letters) and len(content) <= 120:
        return True
    if not (content[0].isupper() or content[0].isdigit()):
        return False
    body = content.rstrip(":").rstrip()
    if "." in body or body.endswith((",", ";", "!", "?")):
        return False
    return len(body.split()) <= (16 if numbered else 12)


def is_form_line(line: str) -> bool:
    """True when ``line`` is a blank in a form: only labels, each followed by a fill-in leader.

    ``"Date: ……………"``, ``"Signed (child):………"``, ``"Name of pupil: _____"``, ``"Group ....... Date ......."``
    and a bare leader line are form lines. A leader is a run of dots, ellipses or underscores at least as
    long as four dots; each label has at most 6 words and no sentence punctuation. A contents entry
    (``"Scope ...... 4"``: the leader is followed by a page number) and a sentence ending in ``...`` or ``…``
    are not form lines.
    """
    labels, start = [], 0
    for m in _LEADER_RUN.finditer(line):
        if sum(_LEADER_WEIGHT.get(ch, 0) for ch in m.group()) >= 4:
            labels.append(line[start : m.start()])
            start = m.end()
    if not labels or line[start:].strip():
        return False
    return all(len(label.split()) <= 6 and not re.search(r"[.!?;…_]", label) for label in labels)


def is_fragment(text: str) -> bool:
    """True when ``text`` (a line without bullet or number) is a piece of a sentence, not a sentence.

    A fragment has at most 5 words, begins with a lower-case letter or opens a bracket it does not close
    (``"and safely"``, ``"is not working."``, ``"(Impact"``, ``"level (low, medium, high)"``), does not end
    with ``:`` (a lead-in) and holds no link or e-mail address.
    """
    words = text.split()
    if not words or len(words) > 5 or text.endswith(":") or _LINK.search(text):
        return False
    return text[0].islower() or (text[0] == "(" and text.count("(") > text.count(")"))


def field_block_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines of ``lines`` that are cover fields: runs of at least 3 consecutive ``Label: value`` lines.

    A field line has a label of at most 4 words starting with a capital, ``": "`` and a value
    (``"Responsibility to update: Zoe Waitz"``, ``"Version No: 1"``, ``"Applies to: All staff ..."``). Bullets,
    numbered lines and table rows are never fields. Returns an empty set when there is no such run.
    """

    def is_field(line: str) -> bool:
        m = _FIELD.match(line)
        return (
            m is not None
            and len(m.group(1).split()) <= 4
            and not _BULLET.match(line)
            and _CELL_SEP not in line
            and _split_number(line)[0] is None
        )

    out: set[int] = set()
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and is_field(lines[j]):
            j += 1
        if j - i >= 3:
            out.update(range(i, j))
        i = max(j, i + 1)
    return out


def _clean(line: str) -> str:
    return _BOOKMARK.sub("", line).strip()


def _split_number(content: str) -> tuple[str | None, str]:
    """``("8.5", "It is ...")`` for ``"8.5. It is ..."`` or ``"8.5 It is ..."``; ``(None, content)`` when unnumbered."""
    m = _NUMBER.match(content)
    if not m:
        return None, content
    if m.group(1) is not None:
        return m.group(1), m.group(2).strip()
    return m.group(3), m.group(4).strip()


def _number_key(number: str) -> tuple[str, ...]:
    """The nesting key of a section number: ``"3.4"`` -> ``("3", "4")``, ``"2.0"`` -> ``("2",)``, ``"b"`` -> ``("B",)``."""
    parts = number.upper().split(".")
    while len(parts) > 1 and parts[-1].strip("0") == "":
        parts.pop()
    return tuple(parts)


def _entry_key(line: str) -> str:
    """A contents entry or heading reduced for comparison: no bullet, number, page reference or punctuation, case folded."""
    bullet = _BULLET.match(line)
    text = bullet.group(1) if bullet else line
    text = _PAGE_REF.sub("", text)
    number, text = _split_number(text)
    return re.sub(r"[^\w]+", " ", normalise(text).casefold()).strip()


def _is_entry(line: str) -> bool:
    """True when ``line`` could be a contents entry: short, not a sentence, ``:`` only after a few words."""
    if _CELL_SEP in line:  # a table row or header, never a contents entry
        return False
    bullet = _BULLET.match(line)
    text = _PAGE_REF.sub("", bullet.group(1) if bullet else line).strip()
    words = text.split()
    if not words or len(words) > 12 or text.endswith((".", ";", ",", "?", "!")):
        return False
    return not text.endswith(":") or len(words) <= 4


def contents_lines(lines: list[str]) -> set[int]:
    """Indexes of the lines of ``lines`` that belong to a contents list (table of contents, list of appendices).

    A contents list is a run of consecutive short entries (``_is_entry``) that either

    * has at least 3 entries ending in a page number, page range or dot leader (``Scope .... 4``,
      ``Glossary 48``, ``Forms 20-21``), these being at least half of the run with page numbers mostly
      rising; the lines from the first to the last such entry are dropped; or
    * has at least 4 entries of which at least 3, and at least 40%, come back after the run as
      headings (the same words, ignoring case, bullets, numbers and punctuation); the lines from the
      run's start to the last entry that comes back are dropped.

    A run of the second kind that a sentence introduces (the line before ends with ``:`` after more than
    4 words) is a list, not contents; page numbers are evidence enough for the first kind.
    Only structure is used, never particular words. Returns an empty set when there is no contents list.
    """
    drop: set[int] = set()
    later_headings: dict[str, int] = {}  # key -> last index where a non-bullet heading-like line has it
    for i, line in enumerate(lines):
        if not _BULLET.match(line) and _is_entry(line):
            later_headings[_entry_key(line)] = i
    i = 0
    while i < len(lines):
        if not _is_entry(lines[i]):
            i += 1
            continue
        j = i
        while j < len(lines) and _is_entry(lines[j]):
            j += 1
        run = range(i, j)
        prev = lines[i - 1] if i > 0 else ""
        introduced = prev.endswith(":") and len(prev.split()) > 4
        if len(run) >= 3:
            refs = [k for k in run if _PAGE_REF.search(bm.group(1) if (bm := _BULLET.match(lines[k])) else lines[k])]
            # a page reference at the end of a bullet's text is one at the end of its line: every k in refs matches
            pages = [int(pm.group(1)) for k in refs if (pm := _PAGE_REF.search(lines[k]))]
            rising = (
                sum(a <= b for a, b in zip(pages, pages[1:])) >= 0.8 * (len(pages) - 1) if len(pages) > 1 else False
            )
            if len(refs) >= 3 and len(refs) >= 0.5 * len(run) and rising:
                drop.update(range(refs[0], refs[-1] + 1))
            elif len(run) >= 4 and not introduced:
                back = [k for k in run if later_headings.get(_entry_key(lines[k]), -1) >= j]
                if len(back) >= 3 and len(back) >= 0.4 * len(run):
                    drop.update(range(i, back[-1] + 1))
        i = j
    return drop


def segment(doc: Document) -> list[Clause]:
    """Cut ``doc`` into clauses, in document order.

    Args:
        doc: the document; only ``doc_id``, ``text`` and ``drop`` are read.

    Returns:
        The clauses, ordinals 1..n. An empty list when the text holds no clause (e.g. only headings).
    """
    drop = {normalise(d) for d in doc.drop}
    lines = []
    for raw in doc.text.splitlines():
        if "\t" in raw:  # table rows: document control, contents pages
            continue
        line = _clean(raw)
        if not line or normalise(line) in drop:
            continue
        lines.append(line)
    fields = {k for k in field_block_lines(lines) if _is_heading(lines[k], numbered=False)}
    contents = contents_lines(lines)
    lines = [line for k, line in enumerate(lines) if k not in contents | fields and not is_form_line(line)]

    clauses: list[Clause] = []
    heading: str | None = None
    heading_number: str | None = None
    stack: list[tuple[tuple[str, ...] | None, str]] = []  # the open headings, outermost first: (number key, text)

    def open_heading(text: str, number: str | None) -> None:
        """Make ``text`` the current heading; a numbered one nests inside the numbered headings that contain it."""
        nonlocal heading, heading_number
        if number is None:
            stack[:] = [(None, text)]
        else:
            key = _number_key(number)
            while stack and not (
                stack[-1][0] and len(stack[-1][0]) < len(key) and key[: len(stack[-1][0])] == stack[-1][0]
            ):
                stack.pop()
            stack.append((key, text))
        heading = " › ".join(t for _, t in stack)
        heading_number = number

    lead_in: str | None = None  # the active lead-in text
    lead_number: str | None = None  # its clause number, if it has one
    lead_quotes_only = False  # a ';' lead-in ("... states;") takes quotations only

    def emit(text: str, number: str | None, kind: str, with_lead: str | None) -> None:
        clauses.append(
            Clause(
                clause_id=f"{doc.doc_id}:{len(clauses) + 1:03d}",
                doc_id=doc.doc_id,
                ordinal=len(clauses) + 1,
                text=text,
                heading=heading,
                number=number,
                lead_in=with_lead,
                kind=kind,
            )
        )

    def opens_list(i: int) -> bool:
        return i + 1 < len(lines) and bool(_BULLET.match(lines[i + 1]))

    def deeper(number: str | None) -> bool:
        return bool(number and lead_number and number.startswith(lead_number + "."))

    bare_list = False  # the previous line ended in ":" or was an item of a list without bullets
    for i, line in enumerate(lines):
        after_bare, bare_list = bare_list, False
        md = _MD_HEADING.match(line)
        if md:
            open_heading(md.group(1).strip(), None)
            lead_in = lead_number = None
            continue

        bullet = _BULLET.match(line)
        content = bullet.group(1).strip() if bullet else line
        if not content:
            continue
        labelled = None if bullet else _LABELLED.match(content)
        if (
            labelled
            and content[0].isupper()
            and (not labelled.group(2) or _is_heading(labelled.group(2), numbered=True))
        ):
            open_heading(content.rstrip(":").rstrip(), labelled.group(1))
            lead_in = lead_number = None
            continue
        if bullet and lead_in and _CELL_SEP in lead_in and _CELL_SEP in content:
            emit(content, None, "item", lead_in)  # a table row under its header, numbered or not
            continue
        if not bullet and _CELL_SEP in content and content.endswith(":") and opens_list(i):
            lead_in, lead_number, lead_quotes_only = content, None, False  # a table's header line
            continue
        number, body = _split_number(content)
        ends_lead = body.endswith(":") or body.endswith(";")

        if bullet and number is None:
            # A plain bullet completes the active lead-in, if any.
            emit(body, None if lead_quotes_only else lead_number, "item", None if lead_quotes_only else lead_in)
            continue

        if number is not None:
            if deeper(number):
                emit(body, number, "item", lead_in)
                if ends_lead:
                    lead_in, lead_number, lead_quotes_only = body, number, body.endswith(";")
                continue
            if (
                lead_in
                and not lead_number
                and not lead_quotes_only
                and not body.endswith(".")
                and len(body.split()) <= 16
            ):
                # "1. Bringing the County Council into disrepute" under "... these may include:"
                emit(body, number, "item", lead_in)
                continue
            if not bullet and _is_heading(body, numbered=True) and ("." not in number or not ends_lead):
                # a sub-numbered line ending in ":" ("4.4. The rules give these examples:") is a lead-in
                sep = ". " if content.startswith(number + ".") else " "  # "8. Title" / "2.0 Title", as written
                open_heading(f"{number}{sep}{body.rstrip(':').rstrip()}", number)
                lead_in = lead_number = None
                continue
            if (
                "." not in number
                and heading_number
                and heading_number.isdigit()
                and int(number) == int(heading_number) + 1
            ):
                # "5. What action you can take. You can report ..." opens section 5 as well.
                first = body.split(". ", 1)[0]
                if len(first.split()) <= 8:
                    open_heading(f"{number}. {first.rstrip('.')}", number)
            emit(body, number, "numbered", None)
            if ends_lead:
                lead_in, lead_number, lead_quotes_only = body, number, body.endswith(";")
            else:
                lead_in = lead_number = None
            continue

        # An unnumbered, non-bullet line.
        if _is_heading(body, numbered=False):
            if body.endswith(":") and opens_list(i):
                lead_in, lead_number, lead_quotes_only = body, None, False
            else:
                open_heading(body.rstrip(":").rstrip(), None)
                lead_in = lead_number = None
            bare_list = body.endswith(":")  # "The role will include:" may introduce items without bullets
            continue
        if _FOOTNOTE.match(body):
            emit(body, None, "paragraph", None)  # footnotes do not break the list around them
            continue
        if lead_in and body.startswith(_QUOTE_OPENERS):
            emit(body, lead_number, "item", lead_in)
            continue
        if is_fragment(body):
            if not (lead_in or after_bare):
                continue  # a picture-table cell or a wrapped table header: no sentence and no list
            bare_list = True
        emit(body, None, "paragraph", None)
        if ends_lead:
            lead_in, lead_number, lead_quotes_only = body, None, body.endswith(";")
            bare_list = True
        else:
            lead_in = lead_number = None
    return clauses
