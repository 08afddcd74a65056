"""Compare what each organisation's policy says about one topic, side by side.

``compare(index, topic)`` ranks every clause for ``topic`` once, all of them scored, and splits the
ranking by organisation (``bot.answer.split_by_documents``): an organisation says something about the
topic when the abstention rule lets the topic be answered at all and its best clause scores within
``bot.answer.RELATIVE_CUTOFF`` of the best clause overall, the margin within which an answer shows a
quote (judging each organisation's documents alone refused 19-53% of questions that their gold clauses
answer: ``bench/own_organisation.py``). For each organisation that does, the best clause is quoted verbatim with its citation and labelled with the
stance its own wording takes (``knowledge.stance``: prohibits, requires, advises against, permits,
describes); the others are listed as "says nothing". ``Comparison.summary`` says in one line whether the
stances differ. Nothing here writes policy text of its own: the labels and the summary name stances, the
quotes are the clauses as stored.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bot.messages import Citation, Quote
from knowledge.stance import SAYS_NOTHING, stance_evidence

if TYPE_CHECKING:
    from index.retrieve import KnowledgeIndex

COMPARE_ACTION = "compare"  #: action id of the "Compare policies" button (its value is the topic)
COMPARE_LABEL = "Compare policies"


@dataclass(frozen=True)
class Position:
    """What one organisation's policy says about the topic.

    Attributes:
        organisation: as the documents give it.
        stance: one of ``knowledge.stance.STANCES``, or ``SAYS_NOTHING`` when its policies do not answer.
        quote: the best clause, verbatim with its citation; None when it says nothing.
        evidence: the sentence of the clause (or its lead-in) whose wording decided ``stance``; None when
            none did ("describes") or there is no clause.
        own: True for the asker's own organisation, None when not known.
    """

    organisation: str
    stance: str
    quote: Quote | None = None
    evidence: str | None = None
    own: bool | None = None


@dataclass
class Comparison:
    """Every organisation's position on ``topic``: those that answer first (best match first), then the
    ones whose policies say nothing about it, by name."""

    topic: str
    positions: list[Position] = field(default_factory=list)

    @property
    def answering(self) -> list[Position]:
        """The positions with a clause."""
        return [p for p in self.positions if p.quote is not None]

    @property
    def differ(self) -> bool:
        """True when the organisations that answer take more than one stance."""
        return len({p.stance for p in self.answering}) > 1

    @property
    def summary(self) -> str:
        """One line: whether the stances differ, each organisation's stance, and who says nothing."""
        answering = self.answering
        silent = [p.organisation for p in self.positions if p.quote is None]
        if not answering:
            return f"None of the {len(self.positions)} organisations' policies I hold covers this."
        stances = "; ".join(f"{p.organisation} {p.stance}" for p in answering)
        if len(answering) == 1:
            line = f"Only one organisation's policy covers this: {stances}."
        elif self.differ:
            line = f"These policies differ: {stances}."
        else:
            line = (
                f"These policies agree ({answering[0].stance}): " + "; ".join(p.organisation for p in answering) + "."
            )
        if silent:
            line += " Nothing on this from: " + "; ".join(silent) + "."
        return line

    def to_json(self) -> dict[str, object]:
        """The ``policybot compare --json`` object: ``topic``, ``differ``, ``summary`` and ``positions``, each
        ``{organisation, stance, evidence, own_organisation, quote}`` (``quote`` null when it says nothing,
        else ``{clause_id, text, lead_in, document, section, edition, score}``)."""
        return {
            "topic": self.topic,
            "differ": self.differ,
            "summary": self.summary,
            "positions": [
                {
                    "organisation": p.organisation,
                    "stance": p.stance,
                    "evidence": p.evidence,
                    "own_organisation": p.own,
                    "quote": None
                    if p.quote is None
                    else {
                        "clause_id": p.quote.clause_id,
                        "text": p.quote.text,
                        "lead_in": p.quote.lead_in,
                        "document": p.quote.citation.document,
                        "section": p.quote.citation.section,
                        "edition": p.quote.citation.edition,
                        "score": round(p.quote.score, 4),
                    },
                }
                for p in self.positions
            ],
        }


def compare(index: KnowledgeIndex, topic: str, own: Collection[str] = ()) -> Comparison:
    """Each organisation's position on ``topic``.

    Args:
        index: the knowledge index (the positions and the ranking come from the one snapshot ``features`` read).
        topic: a question or topic, e.g. ``"accepting friend requests from service users"``.
        own: the asker's organisations as resolved (``bot.organisations.resolve``); their positions are
            marked ``own=True`` and come first among those that answer.

    Returns:
        A ``Comparison`` over every organisation with live documents.

    Raises:
        bot.engine.BadInput (a ``ValueError``): an empty, too long or unreadable topic.
    """
    from bot.answer import split_by_documents
    from bot.engine import validate_question
    from index.retrieve import params_for

    topic = validate_question(topic)
    params = params_for(index.embedder.name)
    every = set(index.snapshot.clause_ids_by_doc)  # every live document: each clause gets a dense score
    feats = index.features(topic, plain_keywords=not params.expand_keywords, docs=every)
    known = feats.snapshot.organisations  # a refresh meanwhile: the organisations of the snapshot ranked
    ranked = index.rank(feats, params, k=len(feats.snapshot.clauses))
    answering: list[tuple[float, Position]] = []
    silent: list[Position] = []
    for organisation, ids in known.items():
        mine = (organisation in own) if own else None
        result, _ = split_by_documents(ranked, ids)
        if not (result.answerable and result.hits):
            silent.append(Position(organisation, SAYS_NOTHING, own=mine))
            continue
        hit = result.hits[0]
        c = hit.clause
        cite = Citation(c.organisation, c.document, c.section, c.edition, c.clause_id, c.text)
        stance, evidence = stance_evidence(c.text, c.lead_in, topic)
        quote = Quote(c.clause_id, c.text, c.lead_in, cite, hit.score, own=mine)
        answering.append((hit.score, Position(organisation, stance, quote, evidence, mine)))
    answering.sort(key=lambda sp: (not sp[1].own, -sp[0], sp[1].organisation))
    silent.sort(key=lambda p: (not p.own, p.organisation.casefold()))
    return Comparison(topic, [p for _, p in answering] + silent)


__all__ = ["COMPARE_ACTION", "COMPARE_LABEL", "Comparison", "Position", "compare"]
