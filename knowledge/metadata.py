"""Infer a document's title, organisation, version and date from the uploaded file itself.

``infer_details(extracted, filename)`` looks, in order of trust, at:

1. the file's own properties (``Extracted.meta``: PDF Info/XMP, Word core properties), used only
   when they look real: a title that is not a file name, not ``"Microsoft Word - x.docx"``, not a
   template name, and whose words appear in the text; a company that appears in the text;
2. the first page or cover (``Extracted.first_page``, else the first lines of the text): field lines
   (``"Council Name: X"`` gives ``X``; ``"Policy Date: January 2016"``; ``"Version No: 1"``), the
   title line (a heading, a line naming a kind of document such as "... Policy", lines of one title
   broken over two lines joined), an organisation line ("X Council", "X School", "X Academy",
   "X NHS Foundation Trust", "Name (ABBR)"), version and date patterns;
3. the text: an organisation named with its abbreviation in brackets ("Meadow Pathways Wellbeing and
   Education Cornwall (MPWEC)"), or an organisation name that shares a word with the file name;
4. the file name: its words that are not the title's (``lexden_montessori_whistle_blowing.txt``
   titled "Whistle-blowing" -> "Lexden Montessori"), and as a last resort the title.

Rule lines, field labels, date lines, URLs and e-mail addresses are never a title. Only generic
patterns are used (kinds of organisation and of document, month names), no per-document lists.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from knowledge.loaders import Extracted

#: where a detail came from (``Details.sources`` values)
FROM_PROPERTIES, FROM_FIRST_PAGE, FROM_TEXT, FROM_FILE_NAME = "file properties", "first page", "text", "file name"

_MONTH = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|"
    r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)
_DATE = (
    rf"(?:(?:\d{{1,2}}(?:st|nd|rd|th)?\s+)?{_MONTH}\.?,?\s+(?:\d{{1,2}}(?:st|nd|rd|th)?,?\s+)?(?:19|20)\d\d"
    r"|\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})\b|(?:19|20)\d\d-\d\d-\d\d"
    r"|(?:Spring|Summer|Autumn|Winter)(?:\s+Term)?\s+(?:19|20)\d\d)"
)
_DATE_RE = re.compile(_DATE, re.I)
_DATE_LINE = re.compile(rf"^(?:dated?\s*:?\s*)?{_DATE}\.?$|^(?:19|20)\d\d$", re.I)
_DATED_EVENT = re.compile(
    rf"\b(reviewed|updated|revised|approved|adopted|issued|published|ratified|effective)(?:\s+(?:on|from|in))?\s*:?\s*({_DATE})",
    re.I,
)
_VERSION_RE = re.compile(
    r"(?:\b(?:version|ver\.?|issue|revision|rev\.?|edition)\s*(?:no\.?|number|#)?\s*[:.]?\s*|\bv\.?\s?)"
    r"(\d+(?:\.\d+)*[a-z]?)\b",
    re.I,
)
_LABEL = re.compile(r"^([A-Za-z][A-Za-z /&'’().-]{0,45}?)\s*(?::|\t)\s*(.*)$")
_RULE = re.compile(r"^[\W_]+$")
_URLISH = re.compile(r"https?://|www\.|@|\.(?:com|org|uk|net|gov)\b", re.I)
_PHONE = re.compile(r"\d{3,}[\d ]{5,}")

_ORG_SUFFIX = (
    r"(?:Council|School|Academy|College|University|Trust|Federation|Authority|Board|Nursery|Pre-?school|"
    r"Preschool|Partnership|Foundation|Service|Services|Group|Charity|Society|Association|"
    r"Ltd\.?|Limited|plc|PLC|LLP|CIC|Inc\.?|Diocese|Church|Hospital|Practice|Surgery|Centre|Center)"
)
_ORG_WORD = r"(?:[A-Z][\w'’&.-]*|[A-Z]{2,}|St\.?|of|and|for|the|&|on|upon|in|de|la)"
_ORG_LINE = re.compile(rf"^(?:The\s+)?((?:{_ORG_WORD}\s+){{0,9}}{_ORG_SUFFIX})(?:\s*\(([A-Z][A-Za-z&]{{1,9}})\))?$")
_ORG_IN_TEXT = re.compile(
    rf"\b((?:[A-Z][\w'’&.-]*\s+)(?:(?:of|and|for|the|&|upon|on)\s+|[A-Z][\w'’&.-]*\s+){{0,6}}?{_ORG_SUFFIX})\b"
)
_NAMED_ABBR = re.compile(
    r"\b((?:[A-Z][\w'’&-]*|of|and|for|the|&|in|on)(?:\s+(?:[A-Z][\w'’&-]*|of|and|for|the|&|in|on)){1,9})\s+\(([A-Z][A-Za-z&]{1,9})\)"
)
_DOC_KIND = re.compile(
    r"\b(?:polic(?:y|ies)|procedures?|guidance|guidelines?|guide|codes? of (?:conduct|practice)|handbook|protocol|"
    r"statement|framework|strategy|charter|rules|standards|agreement|plan|arrangements)\b",
    re.I,
)
_GENERIC_NAME_WORDS = {
    "the",
    "of",
    "and",
    "for",
    "a",
    "an",
    "on",
    "in",
    "to",
    "policy",
    "policies",
    "procedure",
    "procedures",
    "guidance",
    "guide",
    "final",
    "draft",
    "copy",
    "new",
    "updated",
    "update",
    "version",
    "ver",
    "rev",
    "revised",
    "amended",
    "approved",
    "signed",
    "latest",
    "current",
    "doc",
    "docx",
    "pdf",
    "txt",
    "md",
    "document",
    "file",
    "staff",
    "employee",
    "employees",
    "handbook",
    "section",
    "template",
    "website",
    "web",
    "public",
    "issue",
    "edition",
    "uk",
    "gb",
    "en",
    "reviewed",
    "review",
    "ratified",
    "adopted",
    "agreed",
    "clean",
    "tracked",
    "v",
}
_GENERIC_TITLES = {
    "untitled",
    "document",
    "title",
    "normal",
    "template",
    "word document",
    "pdf document",
    "presentation",
    "slide 1",
    "microsoft word document",
    "new document",
    "blank",
    "draft",
    "untitled document",
}
_ORG_LABEL = (
    r"(?:council|school|academy|college|organi[sz]ation|company|employer|trust|federation|authority|setting|"
    r"establishment|nursery|business|charity|provider|institution|issuing body|issued by|owner organi[sz]ation)"
)
#: last words of a bracketed name that make it a law, a role or a group of people, not an organisation
_NOT_ORG_LAST = re.compile(
    r"^(?:Acts?|Regulations?|Bill|Order|Directive|Convention|Code|Rules|Standards?|Lead|Leads|Officers?|Managers?|"
    r"Persons?|People|Coordinators?|Co-ordinators?|Directors?|Governors?|Leaders?|Advisers?|Advisors?|Workers?|"
    r"Practitioners?|Plans?|Assessments?|Needs|Disabilities|Children|Pupils|Students|Staff|Users?|Schools?)$"
)
_LEADING_WORDS = ("This", "That", "Our", "Your", "Their", "A", "An", "Each", "Every", "Any", "All", "At", "By", "In")


@dataclass
class Details:
    """What the file says about itself.

    Attributes:
        title: the title (never None: the file name when nothing better is found).
        organisation: who issued it, or None when nothing names it.
        version: the version label as stated, without a ``v``/``version`` prefix (e.g. ``"1.2"``), or None.
        date: the date as stated (e.g. ``"September 2025"``, ``"reviewed January 2018"``), or None.
        sources: for each detail found, where it came from: ``"file properties"``, ``"first page"``,
            ``"text"`` or ``"file name"`` (keys ``"title"``, ``"organisation"``, ``"version"``, ``"date"``).
    """

    title: str
    organisation: str | None = None
    version: str | None = None
    date: str | None = None
    sources: dict[str, str] = field(default_factory=dict)


@dataclass
class _Line:
    text: str
    level: int  # 1..6 for a "#" heading, 0 for a plain line
    index: int


def infer_details(extracted: Extracted, filename: str) -> Details:
    """The title, organisation, version and date of an uploaded file, and where each came from.

    Args:
        extracted: a ``knowledge.loaders.Extracted`` (``text``, ``title``, ``meta``, ``first_page`` are read).
        filename: the uploaded file's name (used last, and to check organisations found in the text).

    Returns:
        A ``Details``; never raises for odd input (unknown details are None, the title falls back
        to the file name).
    """
    meta = {k: str(v) for k, v in (getattr(extracted, "meta", None) or {}).items() if v is not None}
    text = extracted.text or ""
    head = _head_lines(getattr(extracted, "first_page", "") or "", text)
    fields = _fields(head)
    details = Details(title="")

    # ---- title
    title, title_src, org_from_title = None, None, None
    meta_title = _real_meta_title(meta, text)
    if meta_title:
        title, title_src = meta_title, FROM_PROPERTIES
    elif fields.get("title"):
        title, title_src = fields["title"], FROM_FIRST_PAGE
    else:
        title = _title_from_lines(head)
        title_src = FROM_FIRST_PAGE if title else None
    if title is None:
        hint = (extracted.title or "").strip()
        if hint and _title_like(hint):
            title, title_src = hint, FROM_FIRST_PAGE
    if title:
        split = re.match(r"^(.+?)\s*[:–—|]\s+(\S.*)$", title) or re.match(r"^(.+?)\s+[-–—]\s+(\S.*)$", title)
        if split and _org_name(split.group(1)) and _DOC_KIND.search(split.group(2)):
            org_from_title, title = _org_name(split.group(1)), split.group(2).strip()
    if not title:
        from knowledge.loaders import title_from_filename

        title, title_src = title_from_filename(filename), FROM_FILE_NAME
    details.title = " ".join(title.split())
    if title_src is not None:  # always set once a title is
        details.sources["title"] = title_src

    # ---- organisation
    org, org_src = None, None
    if fields.get("organisation"):
        org, org_src = fields["organisation"], FROM_FIRST_PAGE
    elif org_from_title:
        org, org_src = org_from_title, FROM_FIRST_PAGE
    else:
        company = meta.get("company") or meta.get("organisation") or meta.get("organization")
        if company and _org_name(company) and _in_text(company, text):
            org, org_src = _org_name(company), FROM_PROPERTIES
    if org is None:
        org = _org_from_lines(head, details.title)
        org_src = FROM_FIRST_PAGE if org else None
    if org is None:
        org = _org_from_text(text, filename)
        org_src = FROM_TEXT if org else None
    if org is None:
        org = _org_from_filename(filename, details.title)
        org_src = FROM_FILE_NAME if org else None
    if org:
        details.organisation = org
        if org_src is not None:  # always set once an organisation is
            details.sources["organisation"] = org_src

    # ---- version and date
    version = fields.get("version") or _version_from_lines(head) or _clean_version(meta.get("version"))
    if version:
        details.version = version
        details.sources["version"] = (
            FROM_PROPERTIES
            if version == _clean_version(meta.get("version"))
            and not (fields.get("version") or _version_from_lines(head))
            else FROM_FIRST_PAGE
        )
    date = fields.get("date") or _date_from_lines(head)
    if date:
        details.date, details.sources["date"] = date, FROM_FIRST_PAGE
    return details


# ---- the first page ----------------------------------------------------------------------
def _head_lines(first_page: str, text: str, limit: int = 40) -> list[_Line]:
    """The cover's lines (``first_page``, else the start of ``text``) with their heading levels."""
    source = first_page if first_page.strip() else text
    out: list[_Line] = []
    for raw in source.splitlines():
        line = raw.strip()
        if not line:
            continue
        if "\t" in line:  # a table row: "Version<TAB>2" reads as "Version: 2"
            cells = [c.strip() for c in line.split("\t") if c.strip()]
            if len(cells) != 2:
                continue
            line = f"{cells[0].rstrip(':')}: {cells[1]}"
        m = re.match(r"^(#{1,6})\s+(.*)$", line)
        level = len(m.group(1)) if m else 0
        line = (m.group(2) if m else line).strip().strip("*_").strip()
        if not line or _RULE.match(line):
            continue
        out.append(_Line(" ".join(line.split()), level, len(out)))
        if len(out) >= limit:
            break
    return out


def _label_kind(label: str) -> tuple[str, int] | None:
    """What a field label names: ``("title"|"organisation"|"version"|"date", rank)``; None if nothing useful."""
    low = label.lower().strip(" .")
    if len(low.split()) > 6:
        return None
    if re.search(r"\b(?:next|due|expir\w*|renewal|until|deadline)\b", low) or re.fullmatch(
        r"review date|date for review", low
    ):
        return None
    if re.search(r"\b(?:title|policy name|document name|name of (?:the )?(?:policy|document|procedure))\b", low):
        return ("title", 1)
    if re.fullmatch(rf"(?:(?:name of (?:the )?)?{_ORG_LABEL}(?: name)?|{_ORG_LABEL} name|name)", low):
        return ("organisation", 1)
    if re.search(r"\b(?:version|ver|issue|revision|edition)\b", low) and "date" not in low:
        return ("version", 1)
    if re.search(r"\b(?:date of (?:last )?review|reviewed|last review|updated|revised|amended)\b", low):
        return ("date", 2)
    if re.search(r"\b(?:date|dated|issued|approved|adopted|effective|published|ratified|agreed)\b", low):
        return ("date", 1)
    return None


def _fields(head: list[_Line]) -> dict[str, str]:
    """Values of the cover's field lines (``"Label: value"``, or a label line followed by its value)."""
    found: dict[str, tuple[int, str]] = {}
    for i, line in enumerate(head):
        m = _LABEL.match(line.text)
        if not m:
            continue
        label, value = m.group(1).strip(), m.group(2).strip()
        kind = _label_kind(label)
        if kind is None:
            continue
        if not value and i + 1 < len(head) and not _LABEL.match(head[i + 1].text):
            value = head[i + 1].text
        name, rank = kind
        cleaned = _field_value(name, value, label)
        if cleaned and (name not in found or rank < found[name][0]):
            found[name] = (rank, cleaned)
    return {k: v for k, (_, v) in found.items()}


def _field_value(name: str, value: str, label: str) -> str | None:
    value = value.strip().strip(".;,")
    if not value or _URLISH.search(value):
        return None
    if name == "date":
        m = _DATE_RE.search(value) or re.search(r"\b(?:19|20)\d\d\b", value)
        if not m:
            return None
        date = m.group(0).strip().rstrip(".,")
        kind = _label_kind(label)
        return f"reviewed {date}" if kind and kind[1] == 2 else date
    if name == "version":
        m = re.search(r"\d+(?:\.\d+)*[a-z]?", value)
        if m and len(value) <= 20:
            return m.group(0)
        return value if len(value) <= 12 and not _DATE_RE.search(value) else None
    if name == "organisation":
        return value if 1 <= len(value.split()) <= 12 and value[0].isupper() and not _DATE_RE.search(value) else None
    if name == "title":
        return value if _title_like(value) else None
    return None


def _title_like(text: str) -> bool:
    """True when ``text`` could be a title: short, has letters, not a sentence, label, date, URL or rule."""
    t = text.strip()
    if not t or len(t) > 150 or len(t.split()) > 16 or _RULE.match(t):
        return False
    if _URLISH.search(t) or _PHONE.search(t) or _DATE_LINE.match(t) or _VERSION_RE.fullmatch(t):
        return False
    if sum(c.isalpha() for c in t) < 3 or not (t[0].isupper() or t[0].isdigit()):
        return False
    label = _LABEL.match(t)
    if t.endswith((".", ",", ";", ":")) or (label and _label_kind(label.group(1))):
        return False
    if label and len(label.group(1).split()) <= 3 and not _DOC_KIND.search(t):
        return False  # "Applies to: all staff", "Owner: HR"
    return True


def _title_from_lines(head: list[_Line]) -> str | None:
    """The cover's title line: the best heading-like line, preferring one that names a kind of document."""
    best, best_score = None, 0.0
    for i, line in enumerate(head):
        t = line.text
        if not _title_like(t) or _org_name(t) or _DATED_EVENT.search(t):
            continue
        if not [w for w in re.findall(r"[a-z]+", _DOC_KIND.sub(" ", t.lower())) if w not in _GENERIC_NAME_WORDS]:
            continue  # "Policy", "Procedures": a section heading, not the document's title
        score = 1.0
        kind = bool(_DOC_KIND.search(t))
        joined = t
        if not kind and i + 1 < len(head):  # "Online Safety" / "Policy"
            nxt = head[i + 1]
            if (
                nxt.level == line.level
                and len(nxt.text.split()) <= 4
                and _DOC_KIND.search(nxt.text)
                and _title_like(nxt.text)
                and not _org_name(nxt.text)
            ):
                joined, kind = f"{t} {nxt.text}", True
        if kind:
            score += 3
        if line.level:
            score += 3 - min(line.level, 3)
        if len(t.split()) > 10:
            score -= 1
        score -= 0.05 * i
        if not kind and not line.level and i > 2:
            continue
        if score > best_score:
            best, best_score = joined, score
    return best


def _org_name(text: str) -> str | None:
    """``text`` as an organisation name when the whole of it reads as one ("Northbrook District Council",
    "Meadow Pathways Wellbeing and Education Cornwall (MPWEC)"), else None."""
    t = " ".join(text.strip().strip(".,;:").split())
    if not t or len(t.split()) > 12 or _DOC_KIND.search(t):
        return None
    m = _ORG_LINE.match(t)
    if m and len(m.group(1).split()) >= 2:
        return t[4:] if t.startswith("The ") else t
    m = re.fullmatch(r"(.+?)\s*\(([A-Z][A-Za-z&]{1,9})\)", t)
    if m and _initials_match(m.group(1), m.group(2)):
        return t
    return None


def _initials_match(name: str, abbr: str) -> bool:
    """True when ``abbr`` is built from the capitalised words of ``name`` (MPWEC, NHS, SWGfL)."""
    words = [w for w in re.findall(r"[\w'’&-]+", name) if w[:1].isupper()]
    initials = "".join(w[0] for w in words).upper()
    caps = "".join(c for c in abbr if c.isupper() or c == "&").replace("&", "")
    return (
        len(caps) >= 2
        and len(words) >= 2
        and (initials == caps or (caps in initials and len(caps) >= len(initials) - 1))
    )


def _org_from_lines(head: list[_Line], title: str) -> str | None:
    """An organisation line on the cover, else an organisation named within a cover line."""
    for line in head:
        name = _org_name(line.text)
        if name and name != title:
            return name
    for line in head[:12]:
        if _LABEL.match(line.text) or line.text == title:
            continue
        for m in _NAMED_ABBR.finditer(line.text):
            name = _trim_org(m.group(1))
            if name and _initials_match(name, m.group(2)):
                return f"{name} ({m.group(2)})"
        found = _ORG_IN_TEXT.search(line.text)
        if found:
            name = _trim_org(found.group(1))
            if name:
                return name
    return None


def _trim_org(name: str) -> str | None:
    words = name.split()
    while words and (words[0] in _LEADING_WORDS or words[0].lower() in ("of", "and", "for", "the", "&", "on", "in")):
        words = words[1:]
    return " ".join(words) if len(words) >= 2 else None


def _org_from_text(text: str, filename: str) -> str | None:
    """An organisation the text names with its abbreviation in brackets, or an organisation name that
    shares a distinctive word with the file name."""
    body = text[:60_000]
    stem_words = {w for w in re.split(r"[^a-z0-9]+", Path(filename).stem.lower()) if len(w) >= 3} - _GENERIC_NAME_WORDS
    found = []
    for m in _NAMED_ABBR.finditer(body):
        name, abbr = _trim_org(m.group(1)), m.group(2)
        if not name or not _initials_match(name, abbr) or _NOT_ORG_LAST.match(name.split()[-1]):
            continue
        named_in_file = abbr.lower() in stem_words or bool({w.lower() for w in name.split()} & stem_words)
        suffix = bool(re.search(rf"\b{_ORG_SUFFIX}$", name))
        lead = " ".join(name.split()[:2])
        used = body.count(lead) >= 3 or len(re.findall(rf"\b{re.escape(abbr)}\b", body)) >= 3
        if named_in_file or suffix or used:
            found.append((not named_in_file, not suffix, m.start(), f"{name} ({abbr})"))
    if found:
        return min(found)[3]
    if stem_words:
        for m in _ORG_IN_TEXT.finditer(body):
            name = _trim_org(m.group(1))
            if name and {w.lower().strip("'’") for w in name.split()} & stem_words:
                return name
    return None


def _org_from_filename(filename: str, title: str) -> str | None:
    """The file name's words that are not the title's, years, versions or generic words, title-cased."""
    stem = Path(filename).stem
    words = [w for w in re.split(r"[^A-Za-z0-9&]+", stem) if w]
    title_words = {w.lower() for w in re.findall(r"[A-Za-z0-9]+", title)}
    title_joined = "".join(sorted(title_words, key=len))  # for "whistleblowing" vs "whistle blowing"
    title_flat = re.sub(r"[^a-z0-9]", "", title.lower())
    kept = []
    for w in words:
        low = w.lower()
        if low in title_words or low in _GENERIC_NAME_WORDS or re.fullmatch(r"v?\d+[a-z]?|\d{4}\w*", low):
            continue
        if len(low) >= 4 and (low in title_flat or low in title_joined):
            continue
        kept.append(w)
    if not kept or not any(len(w) >= 3 for w in kept):
        return None
    return " ".join(w if (w.isupper() and len(w) > 1) else w[:1].upper() + w[1:] for w in kept)


def _version_from_lines(head: list[_Line]) -> str | None:
    for line in head:
        if _URLISH.search(line.text):
            continue
        m = _VERSION_RE.search(line.text)
        if m:
            return m.group(1)
    return None


def _date_from_lines(head: list[_Line]) -> str | None:
    for line in head:
        m = _DATED_EVENT.search(line.text)
        if m and not re.search(r"\bnext\b|\bdue\b", line.text, re.I):
            word = m.group(1).lower()
            return f"{word} {m.group(2)}" if word in ("reviewed", "updated", "revised") else m.group(2)
    for line in head:
        if _DATE_LINE.match(line.text):
            m = _DATE_RE.search(line.text)
            if m:
                return m.group(0)
    return None


def _clean_version(value: str | None) -> str | None:
    if not value or not str(value).strip():
        return None
    m = re.search(r"\d+(?:\.\d+)*[a-z]?", str(value))
    return m.group(0) if m else None


# ---- the file's properties -------------------------------------------------------------------
def _real_meta_title(meta: dict[str, str], text: str) -> str | None:
    """``meta["title"]`` when it looks like a real title of this text, else None."""
    raw = " ".join((meta.get("title") or "").split())
    if not raw:
        return None
    t = re.sub(r"^Microsoft\s+\w+\s*-\s*", "", raw)
    if (
        t != raw
        or re.search(r"\.(?:docx?|dotx?|pdf|rtf|odt|txt|md|pages)$", t, re.I)
        or "\\" in t
        or "/" in t
        and " " not in t
    ):
        return None  # "Microsoft Word - policy.docx", a file name or a path
    low = t.lower().strip()
    template = re.sub(r"\.\w+$", "", meta.get("template") or "").lower()
    if low in _GENERIC_TITLES or (template and low == template) or re.search(r"\btemplate\b", low):
        return None
    if re.fullmatch(r"(?:document|untitled|slide|presentation)\s*\d*", low) or "_" in t:
        return None
    if not _title_like(t) or low == (meta.get("author") or "").lower():
        return None
    words = {w for w in re.findall(r"[a-z]{4,}", low) if w not in _GENERIC_NAME_WORDS}
    body = text[:20_000].lower()
    if words and not any(w in body for w in words):
        return None  # a title left over from another document
    return t


def _in_text(name: str, text: str) -> bool:
    return " ".join(name.split()).lower() in " ".join(text[:60_000].split()).lower()
