"""Turn a policy document's text into clauses.

The segmenter works line by line on text as exported from Word, PDF or Markdown:

* ``[bookmark: ...]`` markers are removed; tab-separated lines (document-control tables,
  contents pages) and the document's listed title-page lines are dropped.
* Short lines without sentence punctuation, ALL-CAPS lines, ``N. Title`` lines and Markdown
  ``#`` lines are headings; they become the clause's section.
* A line ending with ``:`` (or ``;`` before a quotation) is a *lead-in*: the bullets, deeper-numbered
  clauses or quotations that follow complete it, and each carries it as ``lead_in``.
* Everything else is a clause: a paragraph, a numbered clause (``8.5``) or a list item.

A clause's text is always a verbatim slice of one source line.
"""

from __future__ import annotations

import re

from knowledge.model import Clause, Document

_BOOKMARK = re.compile(r"\[bookmark:[^\]]*\]")
_BULLET = re.compile(r"^(?:[-•·▪●◦–]|\*(?=\s))\s+(.*)$")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)*)\.\s+(.*)$")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.*)$")
_FOOTNOTE = re.compile(r"^[¹²³⁴⁵⁶⁷⁸⁹⁰]")
_QUOTE_OPENERS = ("'", '"', "‘", "“")
_WS = re.compile(r"\s+")


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


def _clean(line: str) -> str:
    return _BOOKMARK.sub("", line).strip()


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

    clauses: list[Clause] = []
    heading: str | None = None
    heading_number: str | None = None
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

    for i, line in enumerate(lines):
        md = _MD_HEADING.match(line)
        if md:
            heading, heading_number, lead_in, lead_number = md.group(1).strip(), None, None, None
            continue

        bullet = _BULLET.match(line)
        content = bullet.group(1).strip() if bullet else line
        num_match = _NUMBER.match(content)
        number = num_match.group(1) if num_match else None
        body = num_match.group(2).strip() if num_match else content
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
            if lead_in and not lead_number and not lead_quotes_only and not body.endswith(".") and len(body.split()) <= 16:
                # "1. Bringing the County Council into disrepute" under "... these may include:"
                emit(body, number, "item", lead_in)
                continue
            if not bullet and "." not in number and _is_heading(body, numbered=True):
                heading, heading_number = f"{number}. {body.rstrip(':').rstrip()}", number
                lead_in = lead_number = None
                continue
            if "." not in number and heading_number and heading_number.isdigit() and int(number) == int(heading_number) + 1:
                # "5. What action you can take. You can report ..." opens section 5 as well.
                first = body.split(". ", 1)[0]
                if len(first.split()) <= 8:
                    heading, heading_number = f"{number}. {first.rstrip('.')}", number
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
                heading, heading_number = body.rstrip(":").rstrip(), None
                lead_in = lead_number = None
            continue
        if _FOOTNOTE.match(body):
            emit(body, None, "paragraph", None)  # footnotes do not break the list around them
            continue
        if lead_in and body.startswith(_QUOTE_OPENERS):
            emit(body, lead_number, "item", lead_in)
            continue
        emit(body, None, "paragraph", None)
        if ends_lead:
            lead_in, lead_number, lead_quotes_only = body, None, body.endswith(";")
        else:
            lead_in = lead_number = None
    return clauses
