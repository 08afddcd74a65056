"""Plain-text markup read as a person reads it: reStructuredText and Markdown structure as ``#`` lines.

``read_markup(text, kind)`` rewrites the structure of a ``.txt`` or ``.md`` file into the forms
``knowledge.segment`` reads and leaves everything else alone:

* Section titles with an underline, or an overline and underline, of one repeated punctuation
  character (``====``, ``----``, ``~~~~``, ``^^^^``, ...) become ``#`` heading lines. As in
  reStructuredText the level follows the order in which the adornment styles first appear (the first
  style met is ``#``, the next ``##``, ...), so Markdown's ``Title\\n=====`` / ``Sub\\n-----`` come out
  as ``#`` / ``##``. A rule line that adorns no title (a transition, a thematic break) is dropped.
* Only in text files (``.txt``, which may be reStructuredText saved under another name):
  directives and comments (``.. include::``, ``.. toctree::``, ``.. image::``, ``..`` comments, link
  targets, substitution definitions) are dropped with their indented bodies; admonitions
  (``.. note::``, ``.. warning::``, ...) keep their text; footnotes keep theirs as ``[1] text``;
  bibliographic fields right after the title (``:Author: ...``) go to the metadata; interpreted
  text and hyperlink references lose their markup (``:ref:`Scope``` -> ``Scope``). When the file
  has reStructuredText structure (a titled section or a directive), lines of one paragraph or list
  item are joined, since reStructuredText paragraphs end only at a blank line.
* Markdown (``.md``): YAML front matter (``---`` ... ``---`` at the top) goes to the metadata.
  Emphasis markers and ATX ``#`` headings are kept; a Markdown file without setext headings,
  rules or front matter comes out unchanged.
"""

from __future__ import annotations

import re

_ADORNMENT = re.compile(r"^([!-/:-@\[-`{-~])\1{2,}\s*$")  # one punctuation character, 3+ times
_DIRECTIVE = re.compile(r"^\.\.\s+([A-Za-z][\w:+.-]*)::(?:\s+(.*))?$")
_FOOTNOTE = re.compile(r"^\.\.\s+\[([^\]]+)\]\s*(.*)$")
_FIELD = re.compile(r"^:([^:]{1,40}):\s*(.*)$")
_LIST = re.compile(r"^(?:[-*+•]\s+|(?:\d+|[a-zA-Z]|#)[.)]\s+|\((?:\d+|[a-zA-Z])\)\s+)")
_ADMONITIONS = {
    "note",
    "warning",
    "important",
    "tip",
    "hint",
    "caution",
    "attention",
    "danger",
    "error",
    "admonition",
    "topic",
    "sidebar",
    "rubric",
    "epigraph",
    "highlights",
    "pull-quote",
    "compound",
    "container",
}
_ROLE = re.compile(r":[\w.+-]+:`([^`]+)`")
_LINK = re.compile(r"`([^`<]+?)\s*<([^>`]+)>`__?")
_REF = re.compile(r"`([^`]+)`__?")
_LITERAL = re.compile(r"``([^`]+)``")
_FOOTNOTE_REF = re.compile(r"\s?\[(?:#\w*|\d+|\*)\]_")


def read_markup(text: str, kind: str) -> tuple[str, str | None, dict[str, str]]:
    """Rewrite the markup of a text file into segmenter text.

    Args:
        text: the file's text, ``\\n`` line ends.
        kind: ``".txt"`` (reStructuredText understood) or ``".md"`` (setext headings, rules, front matter).

    Returns:
        ``(text, title, meta)``: the rewritten text (ends with ``\\n`` when the input did), the first
        top-level title found (None if none) and the fields found (lower-case keys: ``title``,
        ``author``, ``date``, ``version``, ``organisation``, ...; empty when none).
    """
    lines = text.split("\n")
    meta: dict[str, str] = {}
    if kind == ".md":
        lines, meta = _front_matter(lines)
    rst = kind != ".md"
    out, title, structured = _sections(lines, rst)
    if rst:
        out, fields = _directives(out)
        meta.update(fields)
        structured = structured or bool(fields) or any(_DIRECTIVE.match(l.strip()) for l in lines)
        if structured:
            out = [_inline(l) for l in _join_paragraphs(out)]
    result = "\n".join(out)
    if result == text or not any(l.strip() for l in out):
        return text, title, meta
    return result, title, meta


def _front_matter(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    if not lines or lines[0].strip() != "---":
        return lines, {}
    for end in range(1, min(len(lines), 60)):
        if lines[end].strip() in ("---", "..."):
            meta: dict[str, str] = {}
            for line in lines[1:end]:
                m = re.match(r"^([A-Za-z][\w -]{0,30}):\s*(.+?)\s*$", line)
                if m:
                    meta[m.group(1).strip().lower()] = m.group(2).strip().strip("\"'")
            return lines[end + 1 :], meta
    return lines, {}


def _sections(lines: list[str], rst: bool) -> tuple[list[str], str | None, bool]:
    """Adorned titles to ``#`` lines, lone rules dropped; ``(lines, first title, found a title)``."""
    styles: list[tuple[str, bool]] = []
    out: list[str] = []
    title = None
    i, n = 0, len(lines)

    def heading(text: str, style: tuple[str, bool]) -> None:
        nonlocal title
        if style not in styles:
            styles.append(style)
        level = min(styles.index(style) + 1, 6)
        out.append("#" * level + " " + text)
        if title is None and level == 1:
            title = text

    while i < n:
        line = lines[i].rstrip()
        stripped = line.strip()
        prev_blank = not out or not out[-1].strip() or out[-1].startswith("#")
        rule = _ADORNMENT.match(line)
        if rule and i + 2 < n and lines[i + 1].strip() and not _ADORNMENT.match(lines[i + 1].rstrip()):
            under = _ADORNMENT.match(lines[i + 2].rstrip())
            text = lines[i + 1].strip()
            if under and under.group(1) == rule.group(1) and len(text) <= 120:
                heading(text, (rule.group(1), True))
                i += 3
                continue
        if (
            stripped
            and not rule
            and prev_blank
            and i + 1 < n
            and not line.startswith((" ", "\t"))
            and len(stripped) <= 120
            and not _LIST.match(stripped)
        ):
            under = _ADORNMENT.match(lines[i + 1].rstrip())
            if under and len(lines[i + 1].strip()) >= min(len(stripped), max(3, int(0.7 * len(stripped)))):
                if rst or under.group(1) in "=-":
                    heading(stripped, (under.group(1), False))
                    i += 2
                    continue
        if rule and (prev_blank or i + 1 >= n or not lines[i + 1].strip()):
            i += 1  # a transition / thematic break
            continue
        out.append(lines[i])
        i += 1
    return out, title, bool(styles)


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _directives(lines: list[str]) -> tuple[list[str], dict[str, str]]:
    """Drop directives and comments with their bodies; keep admonition and footnote text; collect docinfo."""
    out: list[str] = []
    meta: dict[str, str] = {}
    body_seen = False
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        stripped = line.strip()
        if stripped.startswith("..") and _indent(line) == 0 and (stripped == ".." or stripped.startswith(".. ")):
            m = _DIRECTIVE.match(stripped)
            f = _FOOTNOTE.match(stripped)
            j = i + 1
            while j < n and (not lines[j].strip() or _indent(lines[j]) > 0):
                j += 1
            while j > i + 1 and not lines[j - 1].strip():
                j -= 1  # keep the blank lines after the block
            body = lines[i + 1 : j]
            keep_head = None
            if m and m.group(1).lower() in _ADMONITIONS:
                keep_head = (m.group(2) or "").strip() or None
                body = [b for b in body if not _FIELD.match(b.strip())]  # directive options
            elif f and not m:
                keep_head = f"[{f.group(1)}] {f.group(2)}".strip()
            else:
                body = []
            if keep_head:
                out.append(keep_head)
            out.extend(b.strip() for b in body)
            i = j
            continue
        fm = _FIELD.match(stripped)
        if fm and not body_seen and _indent(line) == 0:
            meta[fm.group(1).strip().lower()] = fm.group(2).strip()
            i += 1
            continue
        if stripped and not stripped.startswith("#"):
            body_seen = True
        out.append(line)
        i += 1
    if "organization" in meta and "organisation" not in meta:
        meta["organisation"] = meta["organization"]
    return out, meta


def _join_paragraphs(lines: list[str]) -> list[str]:
    """Join the lines of one paragraph or list item (reStructuredText wraps them freely)."""
    out: list[str] = []
    joinable = False  # the last output line is paragraph text a next line may continue
    item_indent = 0
    for line in lines:
        stripped = line.strip()
        if not stripped:
            out.append("")
            joinable = False
            continue
        if stripped.startswith("#") and re.match(r"^#{1,6}\s", stripped):
            out.append(stripped)
            joinable = False
            continue
        is_item = bool(_LIST.match(stripped))
        if joinable and not is_item:
            out[-1] = out[-1].rstrip() + " " + stripped
            continue
        if joinable and is_item and _indent(line) > item_indent:
            out[-1] = out[-1].rstrip() + " " + stripped  # "- " inside wrapped text is not a new item
            continue
        item_indent = _indent(line)
        out.append(stripped if stripped[0] not in "+" else "- " + stripped[1:].lstrip())
        joinable = not stripped.endswith("::")
    return out


def _inline(line: str) -> str:
    """Interpreted text, hyperlink references, literals and footnote references without their markup."""
    if "`" not in line and "]_" not in line:
        return line
    line = _ROLE.sub(r"\1", line)
    line = _LINK.sub(r"\1 (\2)", line)
    line = _LITERAL.sub(r"\1", line)
    line = _REF.sub(r"\1", line)
    return _FOOTNOTE_REF.sub("", line)
