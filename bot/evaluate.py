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
from dataclasses import dataclass, field
from pathlib import Path

from bot.answer import compose
from knowledge.segment import normalise


def load_questions(path: str | Path) -> list[dict]:
    """Read a question set. Raises ``ValueError`` when it is not a list of objects with ``q`` and ``gold``."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, list) or not all(isinstance(d, dict) and "q" in d and "gold" in d for d in data):
        raise ValueError(f"{path}: expected a JSON list of {{'id', 'q', 'gold'}} objects")
    return data


@dataclass
class EvalReport:
    """Figures from one evaluation run; ``rows`` has one dict per question (rank, abstained, top clause)."""

    n_in_scope: int
    n_out_of_scope: int
    recall: dict[int, float]
    mrr10: float
    abstention_rate: float
    false_abstention_rate: float
    rows: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        """Human-readable lines with the figures."""
        return "\n".join(
            [
                f"questions: {self.n_in_scope} in scope, {self.n_out_of_scope} out of scope",
                "  ".join(f"recall@{k}: {v:.3f}" for k, v in sorted(self.recall.items())) + f"  MRR@10: {self.mrr10:.3f}",
                f"out-of-scope abstained: {self.abstention_rate:.1%}   in-scope wrongly abstained: {self.false_abstention_rate:.1%}",
            ]
        )

    def to_json(self) -> dict:
        """Figures as a JSON-ready dict (no per-question rows)."""
        return {
            "in_scope": self.n_in_scope, "out_of_scope": self.n_out_of_scope,
            **{f"recall@{k}": round(v, 4) for k, v in self.recall.items()},
            "mrr@10": round(self.mrr10, 4), "abstention_rate": round(self.abstention_rate, 4),
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


def evaluate(index, questions: list[dict], ks: tuple[int, ...] = (1, 3, 5)) -> EvalReport:
    """Run ``questions`` through ``index`` (a ``KnowledgeIndex``) and the answer composer."""
    rows = []
    hits_at = {k: 0 for k in ks}
    rr_sum = 0.0
    n_in = n_out = abstained_out = abstained_in = 0
    for item in questions:
        result = index.search(item["q"], k=20)
        answer = compose(result, max_quotes=10, cutoff=None)
        # A collapsed near-duplicate counts at its quote's rank: the quote cites it under "also".
        texts = [" \n ".join([q.text] + [a.text for a in q.also]) for q in answer.quotes]
        row = {"id": item.get("id"), "q": item["q"], "abstained": not answer.answered,
               "top": answer.quotes[0].clause_id if answer.quotes else None, "best_cosine": round(result.best_cosine, 3)}
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
