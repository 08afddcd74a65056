"""Retrieval settings judged on documents they were not tuned on: leave-one-document-out cross-validation.

A rule fitted to the documents it is measured on says little about the next document HR uploads. Here
every labelled question gets a *home* document (the real-document set names it; otherwise the document
holding most of its relevant clauses), and each document in turn is held out:

1. on the questions of the other documents, choose the ranking settings (``PARAM_GRID``: keyword weight,
   keyword query with or without the related policy words) by MRR@10, then fit the abstention rule (``fit_abstainer``) on them;
2. answer the held-out document's questions with those settings and that rule.

Out-of-scope questions have no home; they are dealt to the folds in turn, so each is held out once. The
held-out figures pool every question's held-out answer; the tuning figures answer every question with
settings fitted on all of them (what ships). Both come per question set, side by side.

``build_knowledge_base`` makes the throwaway knowledge base this needs: the bundled policies plus files
added as a bare ``kb add`` would (title, organisation and edition inferred).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from bot.evaluate import EvalReport, score_results
from index.retrieve import ABSTENTION_FEATURES, Abstainer, RetrievalParams
from knowledge.segment import normalise

if TYPE_CHECKING:
    from bot.app import Policybot
    from index.embed import Embedder
    from index.retrieve import KnowledgeIndex, SearchResult
    from index.store import ClauseRecord

#: a question set as ``cross_validate`` takes it: ``(set name, KnowledgeIndex, questions[, fit])``
QuestionGroup = (
    tuple[str, "KnowledgeIndex", list[dict[str, Any]]] | tuple[str, "KnowledgeIndex", list[dict[str, Any]], bool]
)


class GridPoint(TypedDict):
    """One point of ``PARAM_GRID``: ``RetrievalParams`` keyword arguments."""

    keyword_weight: float
    expand_keywords: bool


#: the ranking settings cross-validation chooses among (``RetrievalParams`` fields)
PARAM_GRID: tuple[GridPoint, ...] = tuple(
    GridPoint(keyword_weight=w, expand_keywords=e) for e in (True, False) for w in (0.0, 0.05, 0.1, 0.15, 0.25, 0.4)
)


def default_cache_path() -> Path:
    """Where throwaway evaluation knowledge bases keep embeddings between runs:
    ``$XDG_CACHE_HOME/policybot/eval-embeddings.db`` (default ``~/.cache``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "policybot" / "eval-embeddings.db"


def _copy_embeddings(src: Path, dst: Path) -> None:
    """Copy the ``embeddings`` rows of SQLite file ``src`` into ``dst`` (both must have the table)."""
    with sqlite3.connect(dst) as db:
        db.execute("ATTACH DATABASE ? AS src", (str(src),))
        db.execute(
            "INSERT OR IGNORE INTO embeddings (text_hash, model, dim, vector) "
            "SELECT text_hash, model, dim, vector FROM src.embeddings"
        )
        db.commit()
        db.execute("DETACH DATABASE src")


def build_knowledge_base(
    files: Sequence[str | Path],
    data_dir: str | Path | None = None,
    embedder: Embedder | None = None,
    cache_path: Path | None = None,
) -> Policybot:
    """A knowledge base of the bundled policies plus ``files``, each added as a bare ``kb add`` would.

    Args:
        files: policy files (.txt, .md, .docx, .pdf); title, organisation and edition are inferred.
        data_dir: where to build it (default: a new temporary directory, left for the caller).
        embedder: default the bundled model.
        cache_path: an SQLite file of cached embeddings shared between runs (None: ``default_cache_path()``);
            created when missing.

    Returns:
        The opened ``bot.app.Policybot`` with its index built.

    Raises:
        knowledge.loaders.BadUpload: a file cannot be read (unsupported, corrupt, empty...).
    """
    from bot.app import DB_NAME, open_policybot

    data = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="policybot-eval-"))
    cache = cache_path or default_cache_path()
    pb = open_policybot(data, embedder=embedder)
    if cache.exists():
        _copy_embeddings(cache, data / DB_NAME)
    admin = pb.kb_admin()
    for path in files:
        preview = admin.preview_file(path)
        admin.commit(preview, refresh=False)
    pb.index.refresh()
    cache.parent.mkdir(parents=True, exist_ok=True)
    if not cache.exists():
        with sqlite3.connect(cache) as db:
            db.execute(
                "CREATE TABLE embeddings (text_hash TEXT, model TEXT, dim INTEGER, vector BLOB, "
                "PRIMARY KEY (text_hash, model))"
            )
    _copy_embeddings(data / DB_NAME, cache)
    return pb


def bundled_groups(index: KnowledgeIndex) -> tuple[list[QuestionGroup], frozenset[str]]:
    """The bundled question sets as ``cross_validate`` groups, each asked of ``index`` (the bundled policies):
    the dev + staff tuning set, held-out 1 and held-out 2.

    Returns ``(groups, learnt)``: ``learnt`` names the sets the index's embedder adapter was trained on
    (``index.embed.adapter_question_sets``; empty for other embedders), whose in-scope questions are answered
    but never fitted on.
    """
    from bot.evaluate import load_questions
    from index.embed import SentenceEmbedder, adapter_question_sets
    from knowledge.catalog import EVAL_DIR

    embedder = index.embedder
    learnt = adapter_question_sets(embedder.adapter) if isinstance(embedder, SentenceEmbedder) else frozenset()
    tuning = load_questions(EVAL_DIR / "dev_questions.json") + load_questions(EVAL_DIR / "staff_questions.json")
    groups: list[QuestionGroup] = [
        ("tuning (dev + staff)", index, tuning, not {"dev", "staff"} & learnt),
        ("held-out 1", index, load_questions(EVAL_DIR / "holdout_questions.json")),
        ("held-out 2", index, load_questions(EVAL_DIR / "holdout2_questions.json")),
    ]
    return groups, learnt


def relevant_clauses(question: dict[str, Any], clauses: dict[int, ClauseRecord]) -> set[int]:
    """Ids of the clauses (``{id: ClauseRecord}``) whose text contains one of the question's gold strings."""
    golds = [normalise(g).lower() for g in question["gold"]]
    return {cid for cid, c in clauses.items() if any(g in normalise(c.text).lower() for g in golds)}


def home_documents(questions: list[dict[str, Any]], index: KnowledgeIndex) -> list[str | None]:
    """The home document id of each question: its ``doc`` (a file name) when the knowledge base has a
    document from that file, else the document holding most of its relevant clauses; None out of scope
    (or when no clause is relevant)."""
    clauses = index.snapshot.clauses
    by_source = {d["source"]: d["doc_id"] for d in index.store.documents() if d.get("source")}
    homes: list[str | None] = []
    for q in questions:
        if not q["gold"]:
            homes.append(None)
        elif q.get("doc") in by_source:
            homes.append(by_source[q["doc"]])
        else:
            docs = Counter(clauses[c].doc_id for c in relevant_clauses(q, clauses))
            homes.append(docs.most_common(1)[0][0] if docs else None)
    return homes


def fit_abstainer(evidence: list[dict[str, float]], in_scope: list[bool], C: float = 1.0) -> Abstainer:
    """Fit the abstention rule: logistic regression (scikit-learn; features standardised, balanced class
    weights, inverse regularisation ``C``) of "in scope" on the ``ABSTENTION_FEATURES`` of each question's
    ranked hits; the standardisation is folded into the returned weights.

    Raises ``ValueError`` unless both classes are present.
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(set(in_scope)) < 2:
        raise ValueError("fitting the abstention rule needs in-scope and out-of-scope questions")
    x = np.array([[ev[f] for f in ABSTENTION_FEATURES] for ev in evidence], dtype=np.float64)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(class_weight="balanced", C=C, max_iter=1000).fit(scaler.transform(x), in_scope)
    # Fold the standardisation into the weights: w' = w / sd, b' = b - sum(w * mean / sd).
    weights = model.coef_[0] / scaler.scale_
    bias = float(model.intercept_[0] - np.sum(model.coef_[0] * scaler.mean_ / scaler.scale_))
    return Abstainer(tuple(round(float(w), 4) for w in weights), round(bias, 4))


@dataclass
class CrossValReport:
    """Tuning and held-out figures per question set.

    Attributes:
        tuning: ``{set name: EvalReport}`` with settings fitted on every question (the shipped kind).
        held_out: ``{set name: EvalReport}`` with each question answered by settings fitted without its document.
        params: the settings fitted on every question.
        folds: ``[(held-out doc id, n questions, chosen settings)]``.
    """

    tuning: dict[str, EvalReport]
    held_out: dict[str, EvalReport]
    params: RetrievalParams
    folds: list[tuple[str, int, RetrievalParams]] = field(default_factory=list)

    def summary(self) -> str:
        """A table: one line per set and kind (tuning / held-out)."""
        lines = [f"{'set':<28} {'kind':<9} {'n':>7}  r@1   r@3   r@5   MRR@10  oos abst.  in wrongly abst."]
        for name in self.tuning:
            for kind, rep in (("tuning", self.tuning[name]), ("held-out", self.held_out[name])):
                lines.append(
                    f"{name:<28} {kind:<9} {rep.n_in_scope:>3}+{rep.n_out_of_scope:<3} "
                    + " ".join(f"{rep.recall[k]:.3f}" for k in (1, 3, 5))
                    + f"  {rep.mrr10:.3f}   {rep.abstention_rate:6.1%}     {rep.false_abstention_rate:6.1%}"
                )
        p = self.params
        lines.append(
            f"fitted on all: keyword_weight={p.keyword_weight} expand_keywords={p.expand_keywords} "
            f"abstainer={p.abstainer}"
        )
        for doc, n, fp in self.folds:
            lines.append(
                f"  held out {doc} ({n} questions): keyword_weight={fp.keyword_weight} "
                f"expand_keywords={fp.expand_keywords}"
            )
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Figures as a JSON-ready dict."""
        return {
            "tuning": {k: v.to_json() for k, v in self.tuning.items()},
            "held_out": {k: v.to_json() for k, v in self.held_out.items()},
            "params": {
                "keyword_weight": self.params.keyword_weight,
                "expand_keywords": self.params.expand_keywords,
                "abstainer": dataclasses.asdict(self.params.abstainer) if self.params.abstainer else None,
            },
        }


def _fit(results: list[list[SearchResult]], members: list[int], questions: list[dict[str, Any]]) -> RetrievalParams:
    """Settings fitted on the questions at ``members``: the grid point with the best MRR@10, then its abstainer.

    ``results[g][i]`` is question i ranked with ``PARAM_GRID[g]``.
    """
    best, best_mrr = 0, -1.0
    sub = [questions[i] for i in members]
    for g in range(len(PARAM_GRID)):
        ranked = [dataclasses.replace(results[g][i], answerable=True) for i in members]
        mrr = score_results(sub, ranked).mrr10
        if mrr > best_mrr + 1e-9:
            best, best_mrr = g, mrr
    abstainer = fit_abstainer(
        [results[best][i].evidence for i in members], [bool(questions[i]["gold"]) for i in members]
    )
    return RetrievalParams(**PARAM_GRID[best], abstention="learned", abstainer=abstainer)


def _answers(results: list[list[SearchResult]], members: list[int], params: RetrievalParams) -> dict[int, SearchResult]:
    """The results at ``members`` ranked with ``params``' grid point, answerable as its abstainer says."""
    g = PARAM_GRID.index({"keyword_weight": params.keyword_weight, "expand_keywords": params.expand_keywords})
    assert params.abstainer is not None
    return {
        i: dataclasses.replace(
            results[g][i], answerable=bool(results[g][i].hits) and params.abstainer.score(results[g][i].evidence) >= 0
        )
        for i in members
    }


def cross_validate(groups: Sequence[QuestionGroup]) -> CrossValReport:
    """Leave-one-document-out figures for question sets, each asked of its own knowledge base.

    Args:
        groups: ``[(set name, KnowledgeIndex, questions)]`` or ``[(set name, KnowledgeIndex, questions,
            fit)]``. A set is asked of the index it was written for (out-of-scope labels hold only for the
            documents the set's author had: the bundled sets' "how do I reset my password?" is answered by
            an online-safety policy). Sets may share a name and an index. Each question is embedded and
            searched once; ranking with each ``PARAM_GRID`` point reuses that work. ``fit`` False (default
            True) keeps the set's in-scope questions out of every fit while still answering them: for
            questions the embedder was trained on (the shipped adapter learnt the dev and staff sets), whose
            inflated cosines would teach the abstention rule thresholds that unseen questions never reach.
            Their out-of-scope questions, which no training saw, are still used.

    Raises:
        ValueError: no out-of-scope or no in-scope question.
    """
    questions: list[dict[str, Any]] = []
    set_names: list[str] = []
    homes: list[str | None] = []
    fittable: list[bool] = []
    results: list[list[SearchResult]] = [[] for _ in PARAM_GRID]
    for name, index, qs, *rest in groups:
        fit = rest[0] if rest else True
        fittable += [bool(fit or not q["gold"]) for q in qs]
        feats = [index.features(q["q"], plain_keywords=True) for q in qs]
        for g, point in enumerate(PARAM_GRID):
            params = RetrievalParams(**point, abstention="learned")
            results[g] += [index.rank(f, params, k=20) for f in feats]
        homes += home_documents(qs, index)
        questions += qs
        set_names += [name] * len(qs)
    docs = sorted({h for h in homes if h})
    if not docs:
        raise ValueError("no in-scope question has a relevant clause")
    fold_of = list(homes)
    n_out = 0
    for i, h in enumerate(homes):
        if h is None and not questions[i]["gold"]:
            fold_of[i] = docs[n_out % len(docs)]
            n_out += 1
    everyone = [i for i in range(len(questions)) if fold_of[i] is not None]
    shipped = _fit(results, [i for i in everyone if fittable[i]], questions)
    tuned = _answers(results, everyone, shipped)
    held: dict[int, SearchResult] = {}
    folds = []
    for doc in docs:
        test = [i for i in everyone if fold_of[i] == doc]
        fp = _fit(results, [i for i in everyone if fold_of[i] != doc and fittable[i]], questions)
        held.update(_answers(results, test, fp))
        folds.append((doc, len(test), fp))
    tuning: dict[str, EvalReport] = {}
    held_out: dict[str, EvalReport] = {}
    for name in [*dict.fromkeys(set_names), "all"]:
        members = [i for i in everyone if name in ("all", set_names[i])]
        qs = [questions[i] for i in members]
        tuning[name] = score_results(qs, [tuned[i] for i in members])
        held_out[name] = score_results(qs, [held[i] for i in members])
    return CrossValReport(tuning, held_out, shipped, folds)
