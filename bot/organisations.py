"""Whose policy is whose: matching the organisation a person works for to the documents' organisations.

People name their employer loosely ("Meadow Pathways", "MPWEC", "medway"); documents carry the
organisation as inferred or typed at upload ("Meadow Pathways Wellbeing and Education Cornwall (MPWEC)",
"Medway Council"). ``matches`` is the one rule, used by answers, comparisons and report routing. A name
matches a document's organisation when, ignoring case, spacing and punctuation, it

* equals the organisation or the document id (``"medway"``),
* is a whole-word part of the organisation (``"Meadow Pathways"``, ``"Medway"``), or
* equals an abbreviation given in brackets in the organisation (``"MPWEC"``).

``resolve`` turns the names of one asker (``--organisation``, the directory, ``POLICYBOT_ORGANISATION``)
into the set of document organisations they mean, or raises ``UnknownOrganisation`` listing the known ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

_WORDS = re.compile(r"[^\W_]+")
_BRACKETED = re.compile(r"\(([^()]+)\)")


class UnknownOrganisation(ValueError):
    """A name matches no organisation, or several; ``known`` lists the organisations there are.

    Attributes:
        name: the name as given.
        known: the organisations of the live documents, sorted.
    """

    def __init__(self, name: str, known: Iterable[str], candidates: Iterable[str] = ()):
        self.name = name
        self.known = sorted(set(known))
        several = sorted(set(candidates))
        if several:
            message = f"{name!r} matches several organisations: " + "; ".join(several) + ". Please be more specific."
        else:
            listed = "; ".join(self.known) if self.known else "none (the knowledge base is empty)"
            message = f"No organisation matches {name!r}. Known organisations: {listed}."
        super().__init__(message)


def _words(text: str) -> list[str]:
    return _WORDS.findall(text.casefold())


def matches(name: str, organisation: str, doc_id: str | None = None) -> bool:
    """True when ``name`` (as a person gives it) names ``organisation`` (a document's), by the module's rule.

    Args:
        name: e.g. ``"Meadow Pathways"``, ``"MPWEC"``, ``"medway"``.
        organisation: a document's organisation, e.g. ``"Meadow Pathways Wellbeing and Education Cornwall (MPWEC)"``.
        doc_id: the document's id (``"medway"``), also accepted as a name.
    """
    wanted = _words(name)
    if not wanted:
        return False
    if doc_id is not None and wanted == _words(doc_id):
        return True
    words = _words(organisation)
    n = len(wanted)
    if any(words[i : i + n] == wanted for i in range(len(words) - n + 1)):
        return True
    return any(_words(abbr) == wanted for abbr in _BRACKETED.findall(organisation))


def resolve(names: Iterable[str], known: Mapping[str, set[str]], strict: bool = True) -> frozenset[str]:
    """The document organisations that ``names`` mean.

    Each name must mean exactly one organisation: an exact match (organisation or document id, any case)
    wins; else the organisations it ``matches``.

    Args:
        names: the asker's organisations as given (blank ones are ignored).
        known: ``{organisation: {document ids}}`` (``index.retrieve.Snapshot.organisations``).
        strict: raise for a name that matches none or several; False skips it instead.

    Returns:
        The organisations (keys of ``known``), empty when ``names`` is.

    Raises:
        UnknownOrganisation: with ``strict``, a name that matches no organisation or several.
    """
    found: set[str] = set()
    for name in names:
        if not name.strip():
            continue
        key = _words(name)
        exact = {org for org, ids in known.items() if key == _words(org) or any(key == _words(i) for i in ids)}
        hits = exact or {org for org, ids in known.items() if any(matches(name, org, i) for i in ids)}
        if len(hits) == 1:
            found |= hits
        elif strict:
            raise UnknownOrganisation(name, known, hits)
    return frozenset(found)


__all__ = ["UnknownOrganisation", "matches", "resolve"]
