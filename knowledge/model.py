"""Value types of the knowledge base: policy documents and the clauses cut from them."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Document:
    """One policy document, its text verbatim as received.

    Attributes:
        doc_id: short stable id, e.g. ``"cwm-taf"`` (letters, digits and ``-``).
        organisation: the organisation that issued the policy.
        title: the document's title.
        text: the full text, verbatim (a ``str``; line breaks kept).
        version: the version the text states, if any (e.g. ``"D3"``).
        date: the issue date the text states, if any (e.g. ``"December 2011"``).
        source: the file the text came from (name only), if any.
        drop: lines (whitespace-normalised) that are title-page matter, not policy text.
    """

    doc_id: str
    organisation: str
    title: str
    text: str
    version: str | None = None
    date: str | None = None
    source: str | None = None
    drop: tuple[str, ...] = field(default_factory=tuple)

    @property
    def content_hash(self) -> str:
        """SHA-256 (hex, 64 chars) of the text and the metadata that citations show."""
        h = hashlib.sha256()
        for part in (self.organisation, self.title, self.version or "", self.date or "", self.text):
            h.update(part.encode("utf-8"))
            h.update(b"\0")
        return h.hexdigest()

    @property
    def edition(self) -> str | None:
        """Version and date as one label for citations, e.g. ``"v D3, December 2011"``; None if neither."""
        parts = []
        if self.version:
            parts.append(f"v {self.version}")
        if self.date:
            parts.append(self.date)
        return ", ".join(parts) or None


@dataclass(frozen=True)
class Clause:
    """The smallest quotable unit of a policy: a paragraph, a numbered clause or one bullet.

    Attributes:
        clause_id: stable id ``"<doc_id>:<ordinal, 3 digits>"``, e.g. ``"cwm-taf:031"``.
        doc_id: id of the document the clause comes from.
        ordinal: position of the clause within its document, from 1.
        text: the clause, verbatim from the source (bullet marker and number stripped).
        heading: the heading the clause stands under, if any (e.g. ``"8. Using social media outside work"``).
        number: the clause number the source gives, if any (e.g. ``"8.5"``).
        lead_in: for a bullet or list item, the sentence it completes, verbatim
            (e.g. ``"Employees should notify their manager:"``); else None.
        kind: ``"paragraph"``, ``"numbered"`` or ``"item"``.
    """

    clause_id: str
    doc_id: str
    ordinal: int
    text: str
    heading: str | None = None
    number: str | None = None
    lead_in: str | None = None
    kind: str = "paragraph"

    @property
    def section(self) -> str | None:
        """Section path for the citation, e.g. ``"8. Using social media outside work › 8.5"``; None if none."""
        parts = [p for p in (self.heading,) if p]
        if self.number and not (self.heading and self.heading.startswith(f"{self.number}. ")):
            parts.append(self.number)
        return " › ".join(parts) or None

    @property
    def context_text(self) -> str:
        """Text used for retrieval: heading, lead-in and clause joined with spaces (not for quoting)."""
        return " ".join(p for p in (self.heading, self.lead_in, self.text) if p)
