"""Retrieval quality on a question set: recall@k, MRR@10 and abstention.

A question set is a JSON list of ``{"id": str, "q": str, "gold": [str, ...]}``. A returned quote is
relevant when its text contains one of the question's gold strings (both normalised: quotes, dashes,
white space, case). Questions with empty ``gold`` are out of scope: the bot should abstain on them.

Metrics (in-scope questions only for recall and MRR; an abstention counts as a miss):

* recall@k: share of questions with a relevant quote among the first k.
* MRR@10: mean of 1/rank of the first relevant quote within the first 10 (0 if none).
* abstention rate: share of out-of-scope questions abstained on.
* false abstentions: share of in-scope questions abstained on.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from bot.answer import compose
from index.lexicon import entries_used, without_entries
from knowledge.segment import normalise

if TYPE_CHECKING:
    from index.retrieve import RetrievalParams, SearchResult


class Searchable(Protocol):
    """What ``evaluate`` asks questions of: a ``KnowledgeIndex`` or a wrapper with its ``search``."""

    def search(self, question: str, k: int = ...) -> SearchResult: ...


def load_questions(path: str | Path) -> list[dict[str, Any]]:
    """Read a question set. Raises ``ValueError`` when it is not a list of objects with ``q`` and ``gold``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(d, dict) and "q" in d and "gold" in d for d in data):
        raise ValueError(f"{path}: expected a JSON list of {{'id', 'q', 'gold'}} objects")
    questions: list[dict[str, Any]] = data
    return questions


@dataclass
class EvalReport:
    """Figures from one evaluation run; ``rows`` has one dict per question (rank, abstained, top clause)."""

    n_in_scope: int
    n_out_of_scope: int
    recall: dict[int, float]
    mrr10: float
    abstention_rate: float
    false_abstention_rate: float
    rows: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable lines with the figures."""
        return "\n".join(
            [
                f"questions: {self.n_in_scope} in scope, {self.n_out_of_scope} out of scope",
                "  ".join(f"recall@{k}: {v:.3f}" for k, v in sorted(self.recall.items()))
                + f"  MRR@10: {self.mrr10:.3f}",
                f"out-of-scope abstained: {self.abstention_rate:.1%}   in-scope wrongly abstained: {self.false_abstention_rate:.1%}",
            ]
        )

    def to_json(self) -> dict[str, Any]:
        """Figures as a JSON-ready dict (no per-question rows)."""
        return {
            "in_scope": self.n_in_scope,
            "out_of_scope": self.n_out_of_scope,
            **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
            "mrr@10": round(self.mrr10, 4),
            "abstention_rate": round(self.abstention_rate, 4),
            "false_abstention_rate": round(self.false_abstention_rate, 4),
        }


def first_relevant_rank(texts: list[str], gold: list[str]) -> int | None:
    """1-based rank of the first text containing any gold string (normalised, case-folded), else None."""
    golds = [normalise(g).lower() for g in gold]
    for rank, text in enumerate(texts, start=1):
        t = normalise(text).lower()
        if any(g in t for g in golds):
            return rank
    return None


def evaluate(
    index: Searchable,
    questions: list[dict[str, Any]],
    ks: tuple[int, ...] = (1, 3, 5),
    params: RetrievalParams | None = None,
) -> EvalReport:
    """Run ``questions`` through ``index`` (a ``KnowledgeIndex``, ranked with ``params``) and the answer composer."""
    results = [
        index.search(item["q"], k=20, **({"params": params} if params is not None else {})) for item in questions
    ]
    return score_results(questions, results, ks)


def score_results(
    questions: list[dict[str, Any]], results: Sequence[SearchResult], ks: tuple[int, ...] = (1, 3, 5)
) -> EvalReport:
    """The figures for ``questions`` given one ``SearchResult`` each (same order), as ``evaluate`` reports them.

    Each result goes through ``bot.answer.compose`` (near-duplicates collapsed, up to 10 quotes, no cutoff);
    an abstention (``result.answerable`` False) counts as a miss for an in-scope question.
    """
    rows = []
    hits_at = {k: 0 for k in ks}
    rr_sum = 0.0
    n_in = n_out = abstained_out = abstained_in = 0
    for item, result in zip(questions, results):
        answer = compose(result, max_quotes=10, cutoff=None)
        # A collapsed near-duplicate counts at its quote's rank: the quote cites it under "also".
        texts = [" \n ".join([q.text] + [a.text for a in q.also]) for q in answer.quotes]
        row = {
            "id": item.get("id"),
            "q": item["q"],
            "abstained": not answer.answered,
            "top": answer.quotes[0].clause_id if answer.quotes else None,
            "best_cosine": round(result.best_cosine, 3),
        }
        if item["gold"]:
            n_in += 1
            rank = first_relevant_rank(texts, item["gold"]) if answer.answered else None
            row["rank"] = rank
            if not answer.answered:
                abstained_in += 1
            if rank:
                rr_sum += 1.0 / rank if rank <= 10 else 0.0
                for k in ks:
                    hits_at[k] += rank <= k
        else:
            n_out += 1
            abstained_out += not answer.answered
        rows.append(row)
    return EvalReport(
        n_in_scope=n_in,
        n_out_of_scope=n_out,
        recall={k: hits_at[k] / n_in if n_in else 0.0 for k in ks},
        mrr10=rr_sum / n_in if n_in else 0.0,
        abstention_rate=abstained_out / n_out if n_out else 0.0,
        false_abstention_rate=abstained_in / n_in if n_in else 0.0,
        rows=rows,
    )


class _UnseenVocabularyIndex:
    """Wraps a ``KnowledgeIndex``: each question is searched without the lexicon entries written for it."""

    def __init__(self, index: Searchable, counts: Counter[tuple[str, str]], max_questions: int) -> None:
        self.index, self.counts, self.max_questions = index, counts, max_questions

    def search(self, question: str, k: int = 10) -> SearchResult:
        own = {e for e in entries_used(question) if self.counts[e] <= self.max_questions}
        with without_entries(own):
            return self.index.search(question, k=k)


def evaluate_unseen_vocabulary(
    index: Searchable, questions: list[dict[str, Any]], max_questions: int = 1, ks: tuple[int, ...] = (1, 3, 5)
) -> EvalReport:
    """``evaluate``, with each question asked as if the lexicon had not been written with it in view.

    The policy-vocabulary tables (``index.lexicon.RELATED`` and ``PHRASES``) were built while reading
    the tuning sets, so many entries fire on one tuning question only. Here each question is searched
    without the entries that fire on it and on at most ``max_questions - 1`` other questions of
    ``questions`` (``max_questions=1``: entries unique to it). The figures estimate how retrieval fares
    on new wording, using the tuning sets alone; they are what retrieval changes were decided on
    (README "Evaluation"). Raises ``ValueError`` when ``max_questions < 1``.
    """
    if max_questions < 1:
        raise ValueError("max_questions must be at least 1")
    counts = Counter(e for item in questions for e in entries_used(item["q"]))
    return evaluate(_UnseenVocabularyIndex(index, counts, max_questions), questions, ks)


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.evaluate [FILES] [--unseen-vocabulary N] [--mode M] [--data-dir D]``: print the figures.

    Without files, the tuning sets (dev + staff). Returns the exit status (2 for an unreadable set).
    """
    import argparse

    from bot.app import default_data_dir, open_policybot
    from knowledge.catalog import EVAL_DIR

    parser = argparse.ArgumentParser(prog="python -m bot.evaluate")
    parser.add_argument("files", nargs="*")
    parser.add_argument(
        "--unseen-vocabulary",
        type=int,
        default=0,
        metavar="N",
        help="drop, per question, the lexicon entries firing on at most N questions of the set",
    )
    parser.add_argument("--mode", choices=["hybrid", "dense", "keyword"], default="hybrid")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    files = args.files or [str(EVAL_DIR / "dev_questions.json"), str(EVAL_DIR / "staff_questions.json")]
    try:
        questions = [q for f in files for q in load_questions(f)]
    except (OSError, ValueError) as exc:
        print(f"error: {exc}")
        return 2
    pb = open_policybot(args.data_dir or default_data_dir(), mode=args.mode)
    if args.unseen_vocabulary:
        report = evaluate_unseen_vocabulary(pb.index, questions, args.unseen_vocabulary)
    else:
        report = evaluate(pb.index, questions)
    unseen = f", unseen vocabulary <= {args.unseen_vocabulary}" if args.unseen_vocabulary else ""
    label = f"[{args.mode}{unseen}]"
    print(label, ", ".join(Path(f).name for f in files))
    print(report.summary())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
