"""HR's upkeep of the knowledge base, platform-free: preview, commit, replace, remove, diff, gaps.

The command line (``adapters/cli/kb.py``) and the chat adapters (an HR user sends a file in a DM,
sees the preview, confirms) share this API::

    admin = KnowledgeAdmin(bot, is_hr=directory.is_hr)
    preview = admin.preview(data, "guidance.docx", user_id="hana")   # raises NotAuthorised / BadUpload
    show(preview.to_text(max_clauses=30)); offer buttons with preview.token
    result = admin.confirm(preview.token, user_id="hana")           # live: the index is refreshed
    for uid in result.notify_users: tell them a clause they were answered from has changed

A preview holds the parsed document; nothing is written until ``commit``/``confirm``. Every refusal
raises ``knowledge.loaders.BadUpload`` (a ``ValueError``) whose message can be shown to the uploader
as it is, and leaves the knowledge base unchanged. The command line passes no ``user_id`` (access to
the data dir is its authority); chat adapters always pass one, and only HR users get through.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import re
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from index.store import ClauseDiff, DocumentExists, DuplicateDocument, diff_clauses, text_hash
from knowledge.loaders import BadUpload, extract, read_upload, title_from_filename
from knowledge.metadata import infer_details
from knowledge.model import Clause, Document
from knowledge.segment import segment

if TYPE_CHECKING:
    from bot.app import Policybot
    from bot.upkeep.gaps import GapGroup

log = logging.getLogger(__name__)

DEFAULT_ORGANISATION = "Unspecified organisation"
PENDING_TTL_SECONDS = 30 * 60  #: how long a chat preview waits for its confirmation
MAX_PENDING = 50  #: previews held at once (oldest dropped first)
DOC_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
MAX_DETAIL_CHARS = 200  #: longest title, organisation, version or date HR may give
DETAIL_FIELDS = ("title", "organisation", "version", "date")  #: what ``edit_preview`` can correct
DETAIL_LABELS = {"title": "Title", "organisation": "Organisation", "version": "Version", "date": "Date"}
#: where a preview's title / organisation / version / date came from (``Preview.sources``), as words
SOURCE_WORDS = {
    "given": "as given",
    "edited": "as edited",
    "document": "from the document",
    "file name": "from the file name",
    "current version": "kept from the current version",
    "default": "default: none found",
    "version number": "default: the version number",
    "upload date": "default: the upload date",
}
#: ``knowledge.metadata`` sources as the warnings say them
_INFERRED_FROM = {
    "file properties": "the document's properties",
    "first page": "the document's first page",
    "text": "the document's text",
    "file name": "the file name",
}


class NotAuthorised(PermissionError):
    """The user may not change the knowledge base (only HR may); ``str(exc)`` is the reply to show."""


class BadDetails(BadUpload):
    """``BadUpload`` with code ``"bad_details"``: refused document details; ``fields`` = ``{field: message}``."""

    def __init__(self, fields: dict[str, str]):
        super().__init__("bad_details", " ".join(fields.values()))
        self.fields = fields


class HrCheck(Protocol):
    """An object that says who is HR (e.g. ``bot.directory.Directory``)."""

    def is_hr(self, user_id: str) -> bool: ...


#: who may change the knowledge base from chat: ``user_id -> bool``, an ``HrCheck``, or None (nobody)
IsHr = Callable[[str], bool] | HrCheck | None


def slugify(text: str, max_len: int = 48) -> str:
    """A document id from a title: ASCII lower case, digits and ``-``, at most ``max_len`` characters, cut at a word."""
    s = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    s = re.sub(r"[^a-z0-9]+", "-", s).strip("-")
    if len(s) > max_len:
        s = s[:max_len].rsplit("-", 1)[0] if "-" in s[:max_len] else s[:max_len]
    return s or "document"


_GENERIC_ORG_WORDS = {
    "the",
    "of",
    "and",
    "for",
    "council",
    "district",
    "county",
    "borough",
    "city",
    "town",
    "parish",
    "metropolitan",
    "board",
    "trust",
    "authority",
    "federation",
    "services",
    "service",
    "nhs",
    "care",
}


def default_doc_id(organisation: str | None, title: str) -> str:
    """A readable id: the organisation's distinctive words, then the title, e.g. ``"northbrook-social-media-guidance-for-staff"``."""
    short = [w for w in re.findall(r"[\w'&-]+", organisation or "") if w.lower() not in _GENERIC_ORG_WORDS][:2]
    head = slugify(" ".join(short)) if short and organisation != DEFAULT_ORGANISATION else ""
    base = slugify(title)
    if head and head != "document" and not base.startswith(head):
        base = slugify(f"{head} {title}")
    return base


def clean_version(label: str | None) -> str | None:
    """A version label without a leading ``v``/``version`` before a number (citations add ``v ``): ``"v2.1"`` -> ``"2.1"``."""
    if label is None or not str(label).strip():
        return None
    return re.sub(r"^(?:version|ver\.?|v\.?)\s*(?=\d)", "", str(label).strip(), flags=re.I) or str(label).strip()


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def check_details(**values: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """Check corrected document details (``title``, ``organisation``, ``version``, ``date``; None = unchanged).

    Each given value is trimmed (inner runs of spaces become one) and must then be non-empty, at most
    ``MAX_DETAIL_CHARS`` characters and free of control characters (line breaks, tabs, ...).

    Returns:
        ``(cleaned, errors)``: ``{field: cleaned text}`` for the given fields that pass, and
        ``{field: message for the uploader}`` for those that do not (empty when all pass).

    Raises:
        KeyError: an unknown field name (a programming error, not user input).
    """
    cleaned: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name, raw in values.items():
        label = DETAIL_LABELS[name]
        if raw is None:
            continue
        text = str(raw)
        if any(
            unicodedata.category(ch) in ("Cc", "Zl", "Zp", "Cs", "Co") or ch in _BIDI_CONTROLS for ch in text.strip()
        ):
            errors[name] = f"{label} must be one line of plain text (no line breaks, tabs or control characters)."
            continue
        text = " ".join(text.split())
        if not text:
            errors[name] = f"{label} cannot be empty."
        elif len(text) > MAX_DETAIL_CHARS:
            errors[name] = f"{label} is {len(text)} characters; the most is {MAX_DETAIL_CHARS}."
        else:
            cleaned[name] = text
    return cleaned, errors


def _sources(
    given: dict[str, str | None], doc: Document, current: dict[str, Any] | None, filename: str, version_no: int
) -> dict[str, str]:
    """Where each of ``doc``'s title / organisation / version / date came from (keys of ``SOURCE_WORDS``)."""

    def was_given(name: str) -> bool:
        v = given.get(name)
        return v is not None and bool(str(v).strip())

    title = (
        "given"
        if was_given("title")
        else "current version"
        if current and doc.title == current["title"]
        else "file name"
        if doc.title == title_from_filename(filename)
        else "document"
    )
    org = (
        "given"
        if was_given("organisation")
        else "default"
        if doc.organisation == DEFAULT_ORGANISATION
        else "current version"
        if current and doc.organisation == current["organisation"]
        else "document"
    )
    version = "given" if was_given("version") else "version number" if doc.version == str(version_no) else "document"
    date = "given" if was_given("date") else "upload date" if (doc.date or "").startswith("added ") else "document"
    return {"title": title, "organisation": org, "version": version, "date": date}


def _clause_dict(c: Clause) -> dict[str, Any]:
    return {
        "clause_id": c.clause_id,
        "ordinal": c.ordinal,
        "text": c.text,
        "heading": c.heading,
        "number": c.number,
        "lead_in": c.lead_in,
        "kind": c.kind,
    }


def _today_label() -> str:
    d = datetime.now()
    return f"added {d.day} {d:%B %Y}"


@dataclass
class Preview:
    """What an upload would do, before anything is written.

    Attributes:
        token: a random id for confirming this preview later (``KnowledgeAdmin.confirm``).
        action: ``"add"`` (a new document) or ``"replace"`` (a new version of ``doc_id``).
        doc_id: the document id it would get (or replace).
        version_no: the version number it would get (1 for a new document).
        document: the parsed document (organisation, title, version label, date, text).
        clauses: the clauses it would create, in order.
        file_name, file_hash, size_bytes, kind: the upload (SHA-256 hex of the bytes; bytes; e.g. ``".pdf"``).
        warnings: things the uploader should check (defaults used, tables left out, ...).
        diff: for a replace, the change against the current version; else None.
        user_id: who asked for the preview (chat), else None.
    """

    token: str
    action: str
    doc_id: str
    version_no: int
    document: Document
    clauses: list[Clause]
    file_name: str
    file_hash: str
    size_bytes: int
    kind: str
    warnings: list[str] = field(default_factory=list)
    diff: ClauseDiff | None = None
    user_id: str | None = None
    created: float = field(default_factory=time.monotonic)
    sources: dict[str, str] = field(default_factory=dict)
    id_given: bool = False
    metadata_warnings: list[str] = field(default_factory=list)

    @property
    def edition(self) -> str | None:
        """The edition citations will show, e.g. ``"v 2, added 3 March 2026"``."""
        return self.document.edition

    def citation_line(self) -> str:
        """``"Citations will read: <organisation> — <title> (<edition>)"``, as answers will cite it."""
        d = self.document
        return f"Citations will read: {d.organisation} — {d.title} ({self.edition or '-'})"

    def details_lines(self) -> list[str]:
        """The inferred or given title, organisation, version and date, one a line, each with where it
        came from (``Preview.sources`` in words), e.g. ``"Organisation: Northbrook District Council (from the document)"``."""
        d = self.document
        values = {"title": d.title, "organisation": d.organisation, "version": d.version or "-", "date": d.date or "-"}
        lines = []
        for name in DETAIL_FIELDS:
            src = SOURCE_WORDS.get(self.sources.get(name, ""), "")
            lines.append(f"{DETAIL_LABELS[name]}: {values[name]}" + (f" ({src})" if src else ""))
        return lines

    def to_text(self, max_clauses: int | None = None, max_chars: int | None = None) -> str:
        """The preview as plain text: header, warnings, the change (replace) and the clauses by section.

        ``max_clauses`` / ``max_chars`` (per clause) shorten it for chat; None shows everything.
        """
        d = self.document
        verb = "Add" if self.action == "add" else f"Replace {self.doc_id} with"
        lines = [
            f"{verb} “{d.title}” ({self.kind}, {self.size_bytes / 1024:.1f} KB from {self.file_name})",
            f"  id: {self.doc_id}   version: {self.version_no}   edition: {self.edition or '-'}",
            f"  organisation: {d.organisation}",
            f"  {len(self.clauses)} clause(s)",
        ]
        if self.diff is not None:
            lines.append(
                f"  change from version {self.diff.from_version}: {len(self.diff.added)} added, "
                f"{len(self.diff.removed)} removed, {len(self.diff.changed)} changed, {self.diff.unchanged} unchanged"
            )
        for w in self.warnings:
            lines.append(f"  warning: {w}")
        lines.append("")
        shown = self.clauses if max_clauses is None else self.clauses[:max_clauses]
        lines += render_clauses(shown, max_chars=max_chars)
        if len(shown) < len(self.clauses):
            lines.append(f"  … and {len(self.clauses) - len(shown)} more clause(s).")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``policybot kb add --dry-run --json``)."""
        d = self.document
        return {
            "token": self.token,
            "action": self.action,
            "doc_id": self.doc_id,
            "version_no": self.version_no,
            "organisation": d.organisation,
            "title": d.title,
            "version": d.version,
            "date": d.date,
            "edition": self.edition,
            "file": self.file_name,
            "kind": self.kind,
            "size_bytes": self.size_bytes,
            "warnings": list(self.warnings),
            "sources": dict(self.sources),
            "sources_in_words": {k: SOURCE_WORDS[v] for k, v in self.sources.items() if v in SOURCE_WORDS},
            "clauses": [_clause_dict(c) | {"section": c.section} for c in self.clauses],
            "diff": self.diff.to_json() if self.diff else None,
        }


def render_clauses(clauses: Iterable[Clause | dict[str, Any]], max_chars: int | None = None) -> list[str]:
    """Clauses (``Clause`` objects or dicts) as text lines, a section line whenever the section changes.

    Each clause line is ``"  <ordinal>  <text>"``; a list item shows its lead-in once, above it.
    """
    lines: list[str] = []
    section = lead = object()
    previous_text = None
    for c in clauses:
        get: Callable[[str], Any] = c.get if isinstance(c, dict) else functools.partial(getattr, c)
        sec = get("heading")
        if sec != section:
            section, lead = sec, object()
            lines.append(f"[{sec}]" if sec else "[no heading]")
        if get("lead_in") and get("lead_in") != lead:
            lead = get("lead_in")
            if lead != previous_text:  # the lead-in is usually the clause just shown
                lines.append(f"      {lead}")
        elif not get("lead_in"):
            lead = object()
        previous_text = get("text")
        text = get("text")
        if max_chars is not None and len(text) > max_chars:
            text = text[: max_chars - 1].rstrip() + "…"
        num = f"{get('number')}. " if get("number") and get("kind") != "item" else ""
        bullet = "- " if get("kind") == "item" else ""
        ordinal = get("ordinal")
        lines.append(f"  {ordinal:>3}  {bullet}{num}{text}")
    return lines


@dataclass
class CommitResult:
    """What a commit or removal did.

    Attributes:
        action: ``"added"``, ``"replaced"`` or ``"removed"``.
        doc_id, version_no: the document and its (new or last) version.
        clauses: clauses now live from it (0 after a removal) or, for a removal, withdrawn.
        index: ``KnowledgeIndex.refresh()`` stats (``added``/``removed``/``embedded``/``total``), or None
            when the index was not refreshed in this process.
        diff: for a replace, the change against the previous version.
        notify_users: user ids answered from a changed or removed clause in the last 30 days (only
            when ``settings.notify_changed_clauses``; else empty). The chat adapters tell them.
        seconds: wall time of the commit including the index refresh.
        index_error: why refreshing this process's index failed (the change is committed and every
            index catches up on its next refresh), else None.
    """

    action: str
    doc_id: str
    version_no: int
    clauses: int
    index: dict[str, Any] | None = None
    diff: ClauseDiff | None = None
    notify_users: list[str] = field(default_factory=list)
    seconds: float = 0.0
    index_error: str | None = None

    def to_text(self) -> str:
        """One or two lines for the uploader."""
        if self.action == "removed":
            head = f"Removed {self.doc_id}: its {self.clauses} clause(s) are no longer cited (all versions kept for audit)."
        else:
            verb = "Added" if self.action == "added" else "Replaced"
            head = f"{verb} {self.doc_id} version {self.version_no}: {self.clauses} clause(s) live."
        parts = [head]
        if self.diff is not None:
            parts.append(
                f"Changes from version {self.diff.from_version}: {len(self.diff.added)} added, "
                f"{len(self.diff.removed)} removed, {len(self.diff.changed)} changed, {self.diff.unchanged} unchanged."
            )
        if self.index is not None:
            parts.append(
                f"Index: {self.index.get('total')} live clauses ({self.index.get('added')} added, "
                f"{self.index.get('removed')} removed, {self.index.get('embedded')} new vector(s) embedded)."
            )
        if self.index_error:
            parts.append(
                f"Note: the search index here was not refreshed ({self.index_error}); it catches up on the next question."
            )
        if self.notify_users:
            parts.append(
                f"{len(self.notify_users)} person(s) answered from a changed clause in the last 30 days can be told."
            )
        return "\n".join(parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "action": self.action,
            "doc_id": self.doc_id,
            "version_no": self.version_no,
            "clauses": self.clauses,
            "index": self.index,
            "diff": self.diff.to_json() if self.diff else None,
            "notify_users": list(self.notify_users),
            "seconds": round(self.seconds, 3),
            "index_error": self.index_error,
        }


class KnowledgeAdmin:
    """HR operations on one ``bot.app.Policybot``'s knowledge base.

    Args:
        bot: the opened Policybot (its store, index and settings are used).
        is_hr: who may change the knowledge base from chat: a callable ``user_id -> bool`` or an object
            with ``is_hr(user_id)`` (e.g. ``bot.directory.Directory``). None refuses every chat user.
        max_bytes: the upload limit (default ``bot.settings.max_upload_bytes``).
    """

    def __init__(self, bot: Policybot, is_hr: IsHr = None, max_bytes: int | None = None) -> None:
        self.bot = bot
        self.store = bot.store
        check: Any = getattr(is_hr, "is_hr", is_hr)  # an HrCheck's method, else the callable (or None)
        self._is_hr: Callable[[str], object] | None = check
        self.max_bytes = max_bytes if max_bytes is not None else bot.settings.max_upload_bytes
        self._pending: dict[str, Preview] = {}
        self._lock = threading.Lock()

    # ---- authorisation -------------------------------------------------------------------
    def may_edit(self, user_id: str | None) -> bool:
        """True when ``user_id`` is an HR user per the directory (False for None or without a directory).

        A failing check (e.g. a directory file that no longer parses) denies, and is logged with its traceback
        so the operator sees why HR was refused."""
        if not user_id or self._is_hr is None:
            return False
        try:
            return bool(self._is_hr(user_id))
        except Exception:
            log.error("the HR check failed; treating the user as not HR", exc_info=True)
            return False

    def authorise(self, user_id: str) -> None:
        """Raise ``NotAuthorised`` unless ``user_id`` may change the knowledge base."""
        if not self.may_edit(user_id):
            raise NotAuthorised(
                "Only HR can change the policies I answer from. If a policy is missing or out of date, please tell HR."
            )

    # ---- preview -------------------------------------------------------------------------
    def preview_file(self, path: str | Path, **kwargs: str | None) -> Preview:
        """``preview`` of the file at ``path``; its size is checked before it is read. Same errors as ``preview``."""
        data = read_upload(path, max_bytes=self.max_bytes)
        return self.preview(data, Path(path).name, **kwargs)

    def preview(
        self,
        data: bytes,
        filename: str,
        organisation: str | None = None,
        title: str | None = None,
        version: str | None = None,
        date: str | None = None,
        doc_id: str | None = None,
        replace: str | None = None,
        user_id: str | None = None,
    ) -> Preview:
        """Parse an upload into the document and clauses it would create; writes nothing.

        Args:
            data: the file's bytes; filename: its name (the extension picks the reader).
            organisation: who issued it (default: the current version's for a replace, else one named
                in the title or first lines, else ``DEFAULT_ORGANISATION``, with a warning).
            title: default: the current title for a replace, else the file's first heading/line, else the file name.
            version: the version label citations show (default: the version number).
            date: the date citations show (default: ``"added <today>"``).
            doc_id: the id for a new document (default: from the title, made unique).
            replace: the id of the active document this is a new version of.
            user_id: the chat user asking (checked with ``authorise``); None on the command line.

        Returns:
            A ``Preview``, also held (30 minutes) for ``confirm(preview.token, user_id)``.

        Raises:
            NotAuthorised: ``user_id`` given and not HR.
            BadUpload: unsupported type, too large, empty, encrypted or corrupt file, no clauses,
                the same text already live (``"duplicate"``), identical to the version it would replace
                (``"unchanged"``), unknown document to replace (``"not_found"``), bad or taken ``doc_id``.
        """
        if user_id is not None:
            self.authorise(user_id)
        given: dict[str, str | None] = {"title": title, "organisation": organisation, "version": version, "date": date}
        name = Path(filename or "").name or "upload"
        extracted = extract(data, name, max_bytes=self.max_bytes)
        warnings = list(extracted.warnings)
        body_hash = text_hash(extracted.text)

        current = None
        if replace is not None:
            current = self.store.document(replace)
            if current is None or current["status"] != "active":
                raise BadUpload(
                    "not_found", f"There is no active document {replace!r} to replace (see `policybot kb list`)."
                )
        dup = self.store.find_by_text_hash(body_hash)
        if dup is not None:
            if replace is not None and dup["doc_id"] == replace:
                raise BadUpload(
                    "unchanged",
                    f"{name} is identical to the current version {dup['version_no']} of {replace}; nothing to change.",
                )
            raise BadUpload(
                "duplicate",
                f"{name} is already in the knowledge base as {dup['doc_id']} (version {dup['version_no']}, "
                f"added {dup['added_at'][:10]}). Nothing was changed; to update a document use `kb replace`.",
            )

        details = infer_details(extracted, name)
        inferred: dict[str, str] = {}  # detail -> where in the file it came from (knowledge.metadata sources)
        title_given = bool(title and title.strip())
        if title is None or not title.strip():  # not title_given
            if current:
                title = current["title"]
            else:
                title = details.title
                inferred["title"] = details.sources.get("title") or "file name"
        title = " ".join(title.split())
        if organisation is None or not organisation.strip():
            if current:
                organisation = current["organisation"]
            else:
                organisation = details.organisation
                if organisation:
                    src = details.sources.get("organisation") or "text"
                    inferred["organisation"] = src
                    warnings.append(
                        f"Organisation taken from {_INFERRED_FROM.get(src, 'the document')}: “{organisation}”. "
                        "Give it explicitly to change it."
                    )
                else:
                    organisation = DEFAULT_ORGANISATION
                    warnings.append(
                        f"No organisation given; citations will say “{DEFAULT_ORGANISATION}”. "
                        "Give the organisation (--organisation) so staff know whose policy it is."
                    )
        organisation = " ".join(organisation.split())
        found = []
        for detail, value in (("version", details.version), ("date", details.date)):
            if value and not (given[detail] and str(given[detail]).strip()):
                inferred[detail] = details.sources.get(detail) or "first page"
                found.append(f"{detail} “{value}”")
        version = version if "version" not in inferred else details.version
        date = date if "date" not in inferred else details.date
        if found:
            srcs = {_INFERRED_FROM.get(inferred[d], "the document") for d in ("version", "date") if d in inferred}
            said, them = " and ".join(found), "them" if len(found) > 1 else "it"
            warnings.append(
                f"{said[:1].upper()}{said[1:]} taken from {' and '.join(sorted(srcs))}. Give {them} explicitly to change {them}."
            )
        if not title_given and current is None:
            # "Northbrook District Council: Social Media Guidance" -> "Social Media Guidance"
            m = re.match(re.escape(organisation) + r"\s*[:–—-]\s*(\S.*)$", title)
            if m:
                title = m.group(1)

        if replace is not None:
            the_id = replace
        elif doc_id is not None:
            the_id = doc_id.strip()
            if not DOC_ID_PATTERN.match(the_id):
                raise BadUpload(
                    "bad_id", f"{the_id!r} is not a valid document id (lower-case letters, digits and '-', up to 64)."
                )
            if the_id in self.store.doc_ids():
                raise BadUpload(
                    "id_taken", f"The id {the_id!r} is already used (ids are never reused, even after removal)."
                )
        else:
            the_id = self._unique_id(default_doc_id(organisation, title))
        version_no = self.store.next_version_no(the_id)

        doc = Document(
            doc_id=the_id,
            organisation=organisation,
            title=title,
            text=extracted.text,
            version=clean_version(version) or str(version_no),
            date=(date.strip() if date and date.strip() else _today_label()),
            source=name,
        )
        clauses = segment(doc)
        if not clauses:
            raise BadUpload(
                "no_clauses",
                f"{name} has no policy text that could be cut into clauses (only headings, tables or very short lines?).",
            )
        diff = None
        if current is not None:
            added, removed, changed, unchanged = diff_clauses(
                self.store.version_clauses(the_id, current["version_no"]), [_clause_dict(c) for c in clauses]
            )
            diff = ClauseDiff(the_id, current["version_no"], version_no, added, removed, changed, unchanged)
        preview = Preview(
            token=secrets.token_urlsafe(9),
            action="replace" if replace is not None else "add",
            doc_id=the_id,
            version_no=version_no,
            document=doc,
            clauses=clauses,
            file_name=name,
            file_hash=hashlib.sha256(data).hexdigest(),
            size_bytes=len(data),
            kind=extracted.kind,
            warnings=warnings,
            diff=diff,
            user_id=user_id,
            sources=_sources(given, doc, current, name, version_no)
            | {k: "file name" if v == "file name" else "document" for k, v in inferred.items()},
            id_given=doc_id is not None,
            metadata_warnings=warnings[len(extracted.warnings) :],
        )
        self._hold(preview)
        return preview

    def _unique_id(self, base: str) -> str:
        taken = self.store.doc_ids()
        if base not in taken:
            return base
        n = 2
        while f"{base}-{n}" in taken:
            n += 1
        return f"{base}-{n}"

    def _hold(self, preview: Preview) -> None:
        with self._lock:
            now = time.monotonic()
            for tok in [t for t, p in self._pending.items() if now - p.created > PENDING_TTL_SECONDS]:
                del self._pending[tok]
            while len(self._pending) >= MAX_PENDING:
                del self._pending[next(iter(self._pending))]
            self._pending[preview.token] = preview

    # ---- commit ---------------------------------------------------------------------------
    def confirm(self, token: str, user_id: str, refresh: bool = True) -> CommitResult:
        """Commit the preview ``token`` that ``user_id`` asked for (the chat "Confirm" button).

        Raises:
            NotAuthorised: the user is not HR.
            BadUpload: ``"expired"`` (unknown, expired or another user's preview), or as ``commit``.
        """
        self.authorise(user_id)
        with self._lock:
            preview = self._held(token, user_id)
            del self._pending[token]
        return self.commit(preview, added_by=user_id, refresh=refresh)

    def cancel(self, token: str, user_id: str | None = None) -> bool:
        """Drop a held preview (the chat "Cancel" button). Returns True when one was dropped."""
        with self._lock:
            p = self._pending.get(token)
            if p is None or (user_id is not None and p.user_id != user_id):
                return False
            del self._pending[token]
            return True

    def held(self, token: str, user_id: str) -> Preview:
        """The preview ``token`` held for ``user_id`` (to show it again, e.g. in an edit form); keeps it held.

        Raises:
            NotAuthorised: the user is not HR.
            BadUpload: ``"expired"`` (unknown, expired or another user's preview).
        """
        self.authorise(user_id)
        with self._lock:
            return self._held(token, user_id)

    def _held(self, token: str, user_id: str) -> Preview:
        """``held`` without the HR check; the caller holds ``self._lock``.

        Raises:
            BadUpload: ``"expired"`` (unknown, expired or another user's preview).
        """
        preview = self._pending.get(token)
        if preview is None or preview.user_id != user_id or time.monotonic() - preview.created > PENDING_TTL_SECONDS:
            raise BadUpload("expired", "That preview has expired or is not yours; please send the file again.")
        return preview

    def edit_preview(
        self,
        token: str,
        user_id: str,
        title: str | None = None,
        organisation: str | None = None,
        version: str | None = None,
        date: str | None = None,
    ) -> Preview:
        """Correct the title, organisation, version label or date of the held preview ``token`` (chat "Edit details").

        Same authorisation and expiry rules as ``confirm``. Each given value is checked with
        ``check_details`` (None leaves that detail as it is). The clauses keep their text; for a new
        document whose id was not given, the id follows the new organisation and title (so clause ids
        change with it); citations show the new details. The old token is dropped.

        Returns:
            A new ``Preview`` (new token, held like any preview, its ``created`` time renewed), with
            ``sources`` ``"edited"`` for each changed detail and the warnings about the replaced
            inferred values dropped.

        Raises:
            NotAuthorised: the user is not HR.
            BadUpload: ``"expired"`` as in ``confirm``; ``"bad_details"`` when a value is refused, with
                ``exc.fields`` = ``{field: message}`` (nothing changes: the old preview stays held).
        """
        old = self.held(token, user_id)
        cleaned, errors = check_details(title=title, organisation=organisation, version=version, date=date)
        if errors:
            raise BadDetails(errors)
        d = old.document
        if "version" in cleaned:
            cleaned["version"] = clean_version(cleaned["version"]) or cleaned["version"]
        changed: dict[str, Any] = {k: v for k, v in cleaned.items() if v != getattr(d, k)}  # str fields of Document
        doc = dataclasses.replace(d, **changed)
        the_id = old.doc_id
        if old.action == "add" and not old.id_given and ("title" in changed or "organisation" in changed):
            base = default_doc_id(doc.organisation, doc.title)
            the_id = old.doc_id if base == default_doc_id(d.organisation, d.title) else self._unique_id(base)
        clauses = old.clauses
        if the_id != old.doc_id:
            doc = dataclasses.replace(doc, doc_id=the_id)
            clauses = [dataclasses.replace(c, doc_id=the_id, clause_id=f"{the_id}:{c.ordinal:03d}") for c in clauses]
        replaced = [str(getattr(d, k) or "") for k in changed]
        dropped = [w for w in old.metadata_warnings if any(v and v in w for v in replaced)]
        preview = dataclasses.replace(
            old,
            token=secrets.token_urlsafe(9),
            doc_id=the_id,
            document=doc,
            clauses=clauses,
            version_no=self.store.next_version_no(the_id) if the_id != old.doc_id else old.version_no,
            warnings=[w for w in old.warnings if w not in dropped],
            metadata_warnings=[w for w in old.metadata_warnings if w not in dropped],
            sources=dict(old.sources, **{k: "edited" for k in changed}),
            created=time.monotonic(),
        )
        with self._lock:
            if self._pending.pop(token, None) is None:  # published or cancelled meanwhile
                raise BadUpload("expired", "That preview has expired or is not yours; please send the file again.")
        self._hold(preview)
        log.info("preview details edited: %s (%s)", preview.doc_id, ", ".join(sorted(changed)) or "no change")
        return preview

    def commit(
        self,
        preview: Preview,
        added_by: str | None = None,
        refresh: bool = True,
        progress: Callable[[int, int], object] | None = None,
    ) -> CommitResult:
        """Write the previewed document (a new document or a new version) and make it live.

        With ``refresh`` the index of this process is refreshed at once (only new or changed clause
        texts are embedded; the rest come from the embedding cache) and swapped in; other processes
        pick the change up through their ``KnowledgeWatcher``. ``progress(done, total)`` is called
        while embedding (texts).

        Raises:
            BadUpload: ``"duplicate"``/``"unchanged"`` (the same text went live since the preview),
                ``"stale"`` (the document got another version since the preview), ``"id_taken"``,
                ``"not_found"`` (the document to replace was removed meanwhile).
        """
        start = time.perf_counter()
        if preview.action == "replace" and self.store.next_version_no(preview.doc_id) != preview.version_no:
            raise BadUpload("stale", f"{preview.doc_id} changed since this preview; please upload the file again.")
        try:
            status = self.store.put_document(
                preview.document,
                origin="upload",
                added_by=added_by,
                file_hash=preview.file_hash,
                expect="existing" if preview.action == "replace" else "new",
            )
        except DuplicateDocument as exc:
            code = "unchanged" if preview.action == "replace" and exc.doc_id == preview.doc_id else "duplicate"
            raise BadUpload(
                code,
                f"{preview.file_name} is already live as {exc.doc_id} (version {exc.version_no}); nothing was changed.",
            ) from None
        except DocumentExists:
            raise BadUpload(
                "id_taken", f"The id {preview.doc_id!r} was taken meanwhile; please upload the file again."
            ) from None
        except KeyError:
            raise BadUpload(
                "not_found", f"{preview.doc_id} is no longer an active document; nothing was changed."
            ) from None
        if status == "unchanged":  # pragma: no cover - the text-hash check above catches it first
            raise BadUpload(
                "unchanged", f"{preview.file_name} is identical to the current version; nothing was changed."
            )
        with self._lock:
            self._pending.pop(preview.token, None)
        notify: list[str] = []
        if preview.diff is not None and self.bot.settings.notify_changed_clauses:
            old_ids = [c["clause_id"] for c in preview.diff.removed] + [a["clause_id"] for a, _ in preview.diff.changed]
            notify = self.store.users_answered_from(
                preview.doc_id, preview.diff.from_version, old_ids, days=self.bot.settings.notify_window_days
            )
        stats, index_error = self._refresh(progress) if refresh else (None, None)
        return CommitResult(
            action="added" if preview.action == "add" else "replaced",
            doc_id=preview.doc_id,
            version_no=preview.version_no,
            clauses=len(preview.clauses),
            index=stats,
            diff=preview.diff,
            notify_users=notify,
            seconds=time.perf_counter() - start,
            index_error=index_error,
        )

    def _refresh(
        self, progress: Callable[[int, int], object] | None = None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Refresh this process's index after a committed change; a failure is reported, not raised.

        The change is already in the knowledge base; every index catches up on its next refresh
        (a server's watcher retries), so the uploader is told, not shown an error.
        """
        from index.watch import refresh_index

        try:
            return refresh_index(self.bot.index, progress), None
        except Exception as exc:  # the change is saved; the watcher retries the refresh
            log.warning("index refresh after a knowledge-base change failed", exc_info=True)
            return None, f"{type(exc).__name__}: {exc}"

    def remove(self, doc_id: str, user_id: str | None = None, refresh: bool = True) -> CommitResult:
        """Withdraw a document: it is no longer cited; its versions stay for audit.

        ``notify_users`` lists who was answered from it in the last 30 days (notify setting on).

        Raises:
            NotAuthorised: ``user_id`` given and not HR.
            BadUpload: ``"not_found"`` when no active document has that id.
        """
        if user_id is not None:
            self.authorise(user_id)
        start = time.perf_counter()
        doc = self.store.document(doc_id)
        if doc is None or doc["status"] != "active":
            raise BadUpload("not_found", f"There is no active document {doc_id!r} (see `policybot kb list`).")
        old_ids = [c["clause_id"] for c in self.store.version_clauses(doc_id, doc["version_no"])]
        try:
            n = self.store.remove_document(doc_id)
        except KeyError:
            raise BadUpload("not_found", f"There is no active document {doc_id!r}.") from None
        notify: list[str] = []
        if self.bot.settings.notify_changed_clauses:
            notify = self.store.users_answered_from(
                doc_id, doc["version_no"], old_ids, days=self.bot.settings.notify_window_days
            )
        stats, index_error = self._refresh() if refresh else (None, None)
        return CommitResult(
            "removed", doc_id, doc["version_no"], n, stats, None, notify, time.perf_counter() - start, index_error
        )

    # ---- reading ---------------------------------------------------------------------------
    def documents(self, include_removed: bool = False) -> list[dict[str, Any]]:
        """The documents (see ``KnowledgeStore.documents``)."""
        return self.store.documents(include_removed=include_removed)

    def diff(self, doc_id: str, from_version: int | None = None, to_version: int | None = None) -> ClauseDiff:
        """Clauses added, removed and changed between two versions (default: previous -> current).

        Raises:
            BadUpload: ``"not_found"`` for an unknown document, ``"bad_version"`` for a missing version
                or a document with a single version.
        """
        try:
            return self.store.diff(doc_id, from_version, to_version)
        except KeyError:
            raise BadUpload("not_found", f"There is no document {doc_id!r} (see `policybot kb list --all`).") from None
        except ValueError as exc:
            raise BadUpload("bad_version", str(exc)) from None

    def gaps(
        self, since_days: float | None = None, limit: int | None = 20, user_id: str | None = None
    ) -> list[GapGroup]:
        """Unanswered questions grouped with counts, most frequent first (``bot.upkeep.gaps.GapGroup`` list).

        Raises ``NotAuthorised`` when ``user_id`` is given and is not HR.
        """
        if user_id is not None:
            self.authorise(user_id)
        return self.bot.gaps.groups(since_days=since_days, limit=limit)

    def gaps_text(self, since_days: float | None = None, limit: int = 20, user_id: str | None = None) -> str:
        """``gaps`` as plain text for HR in chat or on the terminal."""
        from bot.upkeep.gaps import format_gaps

        groups = self.gaps(since_days=since_days, limit=None, user_id=user_id)
        return format_gaps(groups[:limit], total_groups=len(groups))
