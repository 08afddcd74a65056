"""Compose an answer from retrieval results: verbatim quotes with citations, or an honest "no guidance".

The answer never contains policy text that is not a clause (or its lead-in) exactly as stored.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field, replace

from bot.messages import Citation, Quote
from index.retrieve import Hit, SearchResult

DEFAULT_QUOTES = 3  #: quotes shown per answer
RELATIVE_CUTOFF = 0.22  #: quotes scoring this far below the best one are left out of a shown answer
DUPLICATE_JACCARD = 0.6  #: word-set Jaccard at or above which two clauses count as saying the same thing

ASK_SOMEONE = "Please ask your line manager, or contact HR, who can advise."  #: where to go without an answer
NO_ANSWER_TEXT = "I couldn't find anything in the policies I know that answers this. " + ASK_SOMEONE
OWN_HEADING = "Your organisation's policy"  #: heading of the asker's own organisation's quotes
OTHERS_HEADING = "Other organisations' guidance"  #: heading of the other organisations' quotes

_WORDS = re.compile(r"[a-z0-9]+")


@dataclass
class Answer:
    """The answer to one question.

    Attributes:
        question: the question as asked.
        answered: False when the abstention rule found nothing relevant enough.
        quotes: best first; empty when ``answered`` is False.
        best_cosine: the retrieval's best dense score (for diagnostics and gap reports).
        organisations: the asker's organisations as shown (the documents' organisations they resolved to, or
            the names given when none did); empty when the asker's organisation is not known.
        own_answered: whether the asker's own organisation's policies answer (their quotes come first, with
            ``Quote.own`` True); None when ``organisations`` is empty.
    """

    question: str
    answered: bool
    quotes: list[Quote] = field(default_factory=list)
    best_cosine: float = 0.0
    organisations: tuple[str, ...] = ()
    own_answered: bool | None = None

    def to_json(self) -> dict[str, object]:
        """The ``policybot ask --json`` object (see README); each quote's ``own_organisation`` is
        ``Quote.own`` (true, false, or null when the asker's organisation is not known)."""
        return {
            "question": self.question,
            "answered": self.answered,
            "organisations": list(self.organisations),
            "own_answered": self.own_answered,
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
                    "own_organisation": q.own,
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
    whose quote then lists the others under ``also``. Quotes are ordered best first (renderers show
    them in ``bot.views.quote_sections``). ``cutoff=None`` keeps every hit (evaluation).
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


def split_by_documents(
    result: SearchResult, docs: Collection[str], cutoff: float = RELATIVE_CUTOFF
) -> tuple[SearchResult, SearchResult]:
    """Split one ranking into the hits of ``docs`` (the asker's organisation's) and the rest.

    Each part keeps its hits in rank order (scores stay comparable: one ranking) and is answerable when
    the whole ranking is (the abstention rule judged the question against the whole knowledge base) and
    its best hit scores at most ``cutoff`` below the best hit overall: the same margin within which
    ``compose`` shows a quote. Rank ``result`` with every clause of ``docs`` among the candidates
    (``KnowledgeIndex.features(docs=...)``) and a large ``k``, so the part has its best clauses.

    Returns:
        ``(inside, outside)`` ``SearchResult``s.
    """
    best = result.hits[0].score if result.hits else 0.0

    def part(hits: list[Hit]) -> SearchResult:
        ok = result.answerable and bool(hits) and hits[0].score >= best - cutoff
        return replace(result, hits=hits, answerable=ok)

    inside = [h for h in result.hits if h.clause.doc_id in docs]
    return part(inside), part([h for h in result.hits if h.clause.doc_id not in docs])


def compose_own_first(
    question: str,
    own: SearchResult | None,
    others: SearchResult | None,
    organisations: tuple[str, ...],
    max_quotes: int = DEFAULT_QUOTES,
) -> Answer:
    """The answer for an asker whose organisation is known: their organisation's quotes first.

    Args:
        question: the question as asked.
        own: the asker's organisation's part of the ranking (``split_by_documents``); None when the
            knowledge base holds none of their documents.
        others: every other document's part; None to leave other organisations out
            (``POLICYBOT_OTHER_ORGANISATIONS=hide``).
        organisations: the asker's organisations as shown (``Answer.organisations``), not empty.
        max_quotes: most quotes from each of the two groups.

    Returns:
        An ``Answer`` whose quotes are the own quotes (``own=True``), then the others' (``own=False``);
        ``own_answered`` says whether the own group answered, and ``answered`` whether either did.
    """
    mine = compose(own, max_quotes) if own is not None else None
    rest = compose(others, max_quotes) if others is not None else None
    quotes = [replace(q, own=True) for q in (mine.quotes if mine else [])]
    quotes += [replace(q, own=False) for q in (rest.quotes if rest else [])]
    best = max((r.best_cosine for r in (own, others) if r is not None), default=0.0)
    return Answer(question, bool(quotes), quotes, best, organisations, bool(mine and mine.answered))
