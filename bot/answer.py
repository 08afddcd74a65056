"""Compose an answer from retrieval results: verbatim quotes with citations, or an honest "no guidance".

The answer never contains policy text that is not a clause (or its lead-in) exactly as stored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.messages import Citation, Quote
from index.retrieve import SearchResult

DEFAULT_QUOTES = 3  #: quotes shown per answer
RELATIVE_CUTOFF = 0.22  #: quotes scoring this far below the best one are left out of a shown answer
DUPLICATE_JACCARD = 0.6  #: word-set Jaccard at or above which two clauses count as saying the same thing

NO_ANSWER_TEXT = (
    "I couldn't find anything in the policies I know that answers this. "
    "Please ask your line manager, or contact HR, who can advise."
)

_WORDS = re.compile(r"[a-z0-9]+")


@dataclass
class Answer:
    """The answer to one question.

    Attributes:
        question: the question as asked.
        answered: False when the abstention rule found nothing relevant enough.
        quotes: best first; empty when ``answered`` is False.
        best_cosine: the retrieval's best dense score (for diagnostics and gap reports).
    """

    question: str
    answered: bool
    quotes: list[Quote] = field(default_factory=list)
    best_cosine: float = 0.0

    def to_json(self) -> dict[str, object]:
        """The ``policybot ask --json`` object (see README)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "quotes": [
                {
                    "clause_id": q.clause_id,
                    "text": q.text,
                    "lead_in": q.lead_in,
                    "organisation": q.citation.organisation,
                    "document": q.citation.document,
                    "section": q.citation.section,
                    "edition": q.citation.edition,
                    "score": round(q.score, 4),
                    "also_in": [
                        {
                            "clause_id": c.clause_id,
                            "organisation": c.organisation,
                            "document": c.document,
                            "section": c.section,
                        }
                        for c in q.also
                    ],
                }
                for q in self.quotes
            ],
        }


def _wordset(text: str) -> set[str]:
    return set(_WORDS.findall(text.lower()))


def _similar(a: set[str], b: set[str]) -> bool:
    if not a or not b:
        return False
    return len(a & b) / len(a | b) >= DUPLICATE_JACCARD


def compose(result: SearchResult, max_quotes: int = DEFAULT_QUOTES, cutoff: float | None = RELATIVE_CUTOFF) -> Answer:
    """Build the answer for ``result``.

    Near-duplicate clauses (Jaccard >= ``DUPLICATE_JACCARD``) are collapsed into the better-ranked one,
    whose quote then lists the others under ``also``. Quotes are ordered best first (renderers group
    them by organisation with ``group_by_organisation``). ``cutoff=None`` keeps every hit (evaluation).
    """
    if not result.answerable or not result.hits:
        return Answer(result.question, False, [], result.best_cosine)
    best = result.hits[0].score
    kept: list[tuple[set[str], Quote]] = []
    for hit in result.hits:
        if cutoff is not None and hit.score < best - cutoff:
            break
        c = hit.clause
        cite = Citation(c.organisation, c.document, c.section, c.edition, c.clause_id, c.text)
        words = _wordset(c.text)
        for i, (other_words, other) in enumerate(kept):
            if _similar(words, other_words):
                if cite.organisation != other.citation.organisation:
                    kept[i] = (
                        other_words,
                        Quote(
                            other.clause_id,
                            other.text,
                            other.lead_in,
                            other.citation,
                            other.score,
                            other.also + (cite,),
                        ),
                    )
                break
        else:
            if len(kept) < max_quotes:
                kept.append((words, Quote(c.clause_id, c.text, c.lead_in, cite, hit.score)))
    return Answer(result.question, True, [q for _, q in kept], result.best_cosine)


def group_by_organisation(quotes: list[Quote]) -> list[tuple[str, list[Quote]]]:
    """Quotes grouped for display: ``[(organisation, quotes)]``, groups in order of their best quote."""
    groups: dict[str, list[Quote]] = {}
    for q in quotes:
        groups.setdefault(q.citation.organisation, []).append(q)
    return list(groups.items())
