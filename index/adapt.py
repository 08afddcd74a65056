"""Domain adaptation of the sentence embedder: mine (query, clause) pairs from policy clauses, fine-tune.

Pairs need no labels, so they can be mined from any uploaded document:

* ``heading``   section heading (with the lead-in's last sentence when there is one) -> clause text;
* ``lead_in``   the lead-in a list item completes ("Employees should not:") -> the item;
* ``question``  an obligation sentence as a first-person question (``index.retrieve.question_form``) -> clause;
* ``sentence``  one sentence of a multi-sentence clause -> the whole clause.

Labelled questions (``{"q": str, "gold": [str, ...]}``, the eval format) add ``labelled`` pairs: the
question -> each clause whose normalised, lower-cased text contains a gold snippet.

Training is in-batch-negatives contrastive learning (``MultipleNegativesRankingLoss``, scale 20) with a
plain PyTorch loop on the CPU (no ``datasets``/``accelerate`` dependency); batches never hold the same
anchor or positive text twice, so a clause is never its own negative. A fixed ``seed`` fixes pair
sampling, batch order, dropout and initialisation of nothing else (no new layers): two runs with the same
inputs, seed and torch build give the same weights.

With ``lora_rank`` set, only low-rank adapters (LoRA, through ``peft``) on the encoder's linear layers
are trained and saved (``adapter_config.json`` + ``adapter_model.safetensors``, 2.6 MiB at rank 16): that
is the form the project ships (``index/tuned/``, merged into the base weights at load by
``index.embed.merge_lora``, so serving needs no ``peft``). ``train_shipped_adapter`` rebuilds it.

Command line (train on the clauses of a data dir, optionally with question sets, save the model)::

    python -m index.adapt --db DATA_DIR/policybot.db --out DIR [--questions FILE.json ...] [--epochs 1] [--lora 16]
    python -m index.adapt --shipped --out index/tuned     # the shipped adapter, from the bundled data only

Without ``--lora`` the saved directory is a whole sentence-transformers model (~87 MiB of float32 weights).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from index.embed import MODEL_NAME, bundled_model_path
from index.retrieve import _SENTENCE_END, last_sentence, question_form
from index.store import ClauseRecord, KnowledgeStore
from knowledge.segment import normalise

if TYPE_CHECKING:
    import torch
    from sentence_transformers import SentenceTransformer

PAIR_KINDS = ("heading", "lead_in", "question", "sentence", "labelled")
#: the linear layers LoRA adapts: attention query/key/value/output and both feed-forward layers of every
#: encoder layer (the pooler is not used by mean pooling, so it is left out)
LORA_TARGETS = r".*encoder\.layer\.\d+\..*\.(query|key|value|dense)"


class Recipe(TypedDict):
    """A training recipe: ``fine_tune`` settings, the ``mine_pairs`` cap and seed, the labelled question sets used."""

    lora_rank: int
    epochs: int
    lr: float
    batch_size: int
    max_per_doc: int
    seed: int
    question_sets: tuple[str, ...]


#: the shipped adapter's recipe (``train_shipped_adapter``): chosen on the bundled held-out question sets,
#: checked on the real documents (README "Evaluation")
SHIPPED_RECIPE: Recipe = {
    "lora_rank": 16,
    "epochs": 4,
    "lr": 2e-4,
    "batch_size": 32,
    "max_per_doc": 80,
    "seed": 0,
    "question_sets": ("dev", "staff"),
}


@dataclass(frozen=True)
class Pair:
    """One training example: ``anchor`` (query-like text) should embed near ``positive`` (a clause text).

    ``kind`` is one of ``PAIR_KINDS``; ``doc_id`` is the document the positive comes from.
    """

    anchor: str
    positive: str
    kind: str
    doc_id: str


def _sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE_END.split(text.strip()) if len(s.split()) >= 3]


def clause_pairs(clause: ClauseRecord) -> list[Pair]:
    """Unlabelled pairs for one clause (see the module docstring); trivial pairs (anchor == clause) dropped.

    Returns a list of ``Pair`` (possibly empty); raises nothing.
    """
    text = clause.text.strip()
    out: list[Pair] = []

    def add(anchor: str | None, kind: str) -> None:
        if (
            anchor
            and anchor.strip()
            and normalise(anchor).lower() != normalise(text).lower()
            and len(anchor.split()) >= 2
        ):
            out.append(Pair(anchor.strip(), text, kind, clause.doc_id))

    lead = last_sentence(clause.lead_in)
    if clause.heading:
        add(f"{clause.heading} {lead}".strip() if lead else clause.heading, "heading")
    if lead and len(lead.split()) >= 3:
        add(lead, "lead_in")
    sentences = _sentences(text)
    joined = lead.rstrip(" :") if lead.rstrip().endswith(":") else ""
    for n, sent in enumerate(sentences):
        q = question_form(sent)
        if q is None and joined and n == 0:
            q = question_form(f"{joined} {sent[:1].lower()}{sent[1:]}")
        add(q, "question")
        if len(sentences) > 1:
            add(sent, "sentence")
    return out


def mine_pairs(clauses: Iterable[ClauseRecord], max_per_doc: int | None = 80, seed: int = 0) -> list[Pair]:
    """Unlabelled pairs from ``clauses``, at most ``max_per_doc`` per document (a seeded sample).

    The cap keeps one long document (a 680-clause PDF) from dominating training. Pairs are sampled
    kind by kind in turn (round robin) so every kind is represented. Returns pairs in a deterministic order.
    """
    rng = random.Random(seed)
    by_doc: dict[str, list[Pair]] = defaultdict(list)
    for c in sorted(clauses, key=lambda c: c.id):
        by_doc[c.doc_id].extend(clause_pairs(c))
    out: list[Pair] = []
    for doc_id in sorted(by_doc):
        pairs = by_doc[doc_id]
        if max_per_doc is None or len(pairs) <= max_per_doc:
            out.extend(pairs)
            continue
        by_kind: dict[str, list[Pair]] = defaultdict(list)
        for p in pairs:
            by_kind[p.kind].append(p)
        for kind in by_kind:
            rng.shuffle(by_kind[kind])
        kinds = sorted(by_kind)
        taken: list[Pair] = []
        while len(taken) < max_per_doc:
            for kind in kinds:
                if by_kind[kind] and len(taken) < max_per_doc:
                    taken.append(by_kind[kind].pop())
        out.extend(taken)
    return out


def relevant_clause_ids(clauses: Mapping[int, ClauseRecord], gold: list[str]) -> list[int]:
    """Ids of the clauses whose normalised lower-cased text contains any gold snippet (sorted; [] for no gold)."""
    golds = [normalise(g).lower() for g in gold if g.strip()]
    if not golds:
        return []
    return sorted(i for i, c in clauses.items() if any(g in normalise(c.text).lower() for g in golds))


def labelled_pairs(
    questions: Iterable[Mapping[str, Any]],
    clauses: Mapping[int, ClauseRecord],
    allowed_docs: set[str] | None = None,
    max_per_question: int = 3,
) -> list[Pair]:
    """``labelled`` pairs: each in-scope question -> up to ``max_per_question`` of its relevant clauses.

    Args:
        questions: eval-format dicts with ``q`` (str) and ``gold`` (list of str); empty gold is skipped.
        clauses: the knowledge base, id -> ``ClauseRecord``.
        allowed_docs: when given, a question is skipped entirely if any relevant clause lies in a
            document outside this set (so held-out documents never leak into training).
        max_per_question: cap on pairs per question (first clauses by id).

    Returns a list of ``Pair``; raises ``KeyError`` when a question lacks ``q`` or ``gold``.
    """
    out: list[Pair] = []
    for item in questions:
        ids = relevant_clause_ids(clauses, item["gold"])
        if not ids:
            continue
        if allowed_docs is not None and any(clauses[i].doc_id not in allowed_docs for i in ids):
            continue
        for i in ids[:max_per_question]:
            out.append(Pair(item["q"].strip(), clauses[i].text.strip(), "labelled", clauses[i].doc_id))
    return out


def _batches(pairs: list[Pair], batch_size: int, rng: random.Random) -> list[list[Pair]]:
    """Shuffle ``pairs`` into batches with no repeated anchor or positive text inside a batch."""
    pending = list(pairs)
    rng.shuffle(pending)
    batches: list[list[Pair]] = []
    while pending:
        batch: list[Pair] = []
        seen: set[str] = set()
        rest: list[Pair] = []
        for p in pending:
            if len(batch) < batch_size and p.anchor not in seen and p.positive not in seen:
                batch.append(p)
                seen.update((p.anchor, p.positive))
            else:
                rest.append(p)
        if len(batch) < 2:  # only duplicates left: nothing contrastive to learn from them
            break
        batches.append(batch)
        pending = rest
    return batches


def fine_tune(
    pairs: list[Pair],
    out_dir: str | Path | None = None,
    base_model: str | None = None,
    epochs: int = 1,
    batch_size: int = 32,
    lr: float = 2e-5,
    warmup: float = 0.1,
    max_seq_length: int = 64,
    seed: int = 0,
    threads: int | None = None,
    log_every: int = 0,
    lora_rank: int = 0,
) -> tuple[SentenceTransformer, dict[str, Any]]:
    """Fine-tune the sentence embedder on ``pairs`` with in-batch negatives; optionally save it.

    Args:
        pairs: training pairs (at least ``2``); duplicates are allowed but never share a batch.
        out_dir: directory to save the model to (created; existing model files overwritten), or None.
        base_model: path of the starting model; default ``index.embed.bundled_model_path()``.
        epochs: passes over ``pairs``; batch_size: pairs per step (each pair's positive is a negative
            for the other anchors); lr: peak AdamW learning rate, linear warm-up over ``warmup`` (a
            fraction of the steps) then linear decay to 0; max_seq_length: tokens per text during
            training (clauses longer than that are truncated; the saved model keeps the base limit).
        seed: seeds Python, NumPy and torch (sampling, batch order, dropout).
        threads: torch intra-op threads (default: leave torch's choice).
        log_every: print the mean loss every this many steps (0: silent).
        lora_rank: 0 trains every weight; r > 0 trains only rank-r LoRA adapters (``LORA_TARGETS``, alpha 2r,
            dropout 0.1) and ``out_dir`` receives the adapter alone (peft's format), not the whole model.

    Returns:
        ``(model, stats)``: the trained ``SentenceTransformer`` (eval mode, CPU) and a dict with
        ``pairs``, ``steps``, ``epochs``, ``seconds`` (wall time of the training loop), ``first_loss``,
        ``last_loss`` (mean loss of the first/last 10 steps) and ``kinds`` (pairs per kind).

    Raises:
        ValueError: fewer than 2 pairs, or ``epochs`` < 1.
        OSError: the base model cannot be read or ``out_dir`` cannot be written.
    """
    if len(pairs) < 2:
        raise ValueError("need at least 2 training pairs")
    if epochs < 1:
        raise ValueError("epochs must be >= 1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # sentence_transformers.losses: sentence-transformers 6 makes it an alias at import time (the class now lives
    # in sentence_transformers.sentence_transformer.losses, which earlier releases lack), so mypy cannot find it
    import numpy as np
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss  # type: ignore[import-not-found]

    transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]  # unannotated in transformers
    if threads:
        torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

    model = SentenceTransformer(base_model or bundled_model_path(), device="cpu", local_files_only=True)
    keep_len = model.max_seq_length
    model.max_seq_length = max_seq_length
    peft_model = None
    if lora_rank:
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=lora_rank, lora_alpha=2 * lora_rank, target_modules=LORA_TARGETS, lora_dropout=0.1)
        # the first module is sentence-transformers' Transformer; auto_model its transformers BertModel
        peft_model = get_peft_model(cast("torch.nn.Module", model[0].auto_model), config)
        model[0].auto_model = peft_model
    loss_fn = MultipleNegativesRankingLoss(model, scale=20.0)
    rng = random.Random(seed)
    plan = [_batches(pairs, batch_size, rng) for _ in range(epochs)]
    total = sum(len(b) for b in plan)
    trained = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trained, lr=lr, weight_decay=0.01)
    schedule = transformers.get_linear_schedule_with_warmup(  # type: ignore[no-untyped-call]  # unannotated in transformers
        optimiser, int(total * warmup), total
    )
    losses: list[float] = []
    model.train()
    t0 = time.perf_counter()
    for epoch_batches in plan:
        for batch in epoch_batches:
            features = [model.preprocess([p.anchor for p in batch]), model.preprocess([p.positive for p in batch])]
            loss = loss_fn(features, None)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, 1.0)
            optimiser.step()
            schedule.step()
            optimiser.zero_grad()
            losses.append(float(loss.detach()))
            if log_every and len(losses) % log_every == 0:
                print(f"  step {len(losses)}/{total}  loss {np.mean(losses[-log_every:]):.4f}", flush=True)
    seconds = time.perf_counter() - t0
    model.eval()
    model.max_seq_length = keep_len
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        if peft_model is not None:
            peft_model.peft_config["default"].base_model_name_or_path = MODEL_NAME  # not this machine's path
            peft_model.save_pretrained(str(out_dir))
        else:
            model.save(str(out_dir))
    if peft_model is not None:
        model[0].auto_model = peft_model.merge_and_unload()
    stats: dict[str, Any] = {
        "pairs": len(pairs),
        "steps": total,
        "epochs": epochs,
        "seconds": round(seconds, 1),
        "first_loss": round(float(np.mean(losses[:10])), 4),
        "last_loss": round(float(np.mean(losses[-10:])), 4),
        "kinds": dict(Counter(p.kind for p in pairs)),
        "trained_parameters": sum(p.numel() for p in trained),
    }
    return model, stats


def train_shipped_adapter(
    out_dir: str | Path, data_dir: str | Path | None = None, log_every: int = 0
) -> dict[str, Any]:
    """Rebuild the shipped LoRA adapter (``SHIPPED_RECIPE``) from the bundled data only.

    Pairs: mined from the five bundled policies (``mine_pairs``) plus the bundled ``dev`` and ``staff``
    question sets (``labelled_pairs``); the bundled ``holdout`` sets and every uploaded or shared document
    stay unseen, so they measure it. About 2.5 minutes on 2 cores. With the same torch build the result is
    the same file (fixed seed).

    Args:
        out_dir: where ``adapter_config.json``, ``adapter_model.safetensors`` and ``training.json`` go.
        data_dir: scratch directory for the bundled knowledge base (default: a new temporary directory).
        log_every: print the mean loss every this many steps (0: silent).

    Returns:
        The training statistics written to ``training.json`` (``fine_tune``'s, plus the recipe).

    Raises:
        OSError: ``out_dir`` cannot be written. ImportError: ``peft`` is not installed (``pip install -e '.[dev]'``).
    """
    import tempfile

    from bot.crossval import build_knowledge_base
    from index.embed import SentenceEmbedder

    recipe = SHIPPED_RECIPE.copy()
    scratch = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="policybot-adapt-"))
    pb = build_knowledge_base([], scratch, embedder=SentenceEmbedder(adapter=None))
    clauses = pb.store.live_clauses()
    pairs = mine_pairs(clauses.values(), recipe["max_per_doc"], recipe["seed"])
    eval_dir = Path(__file__).resolve().parent.parent / "knowledge" / "eval"
    for name in recipe["question_sets"]:
        pairs += labelled_pairs(json.loads((eval_dir / f"{name}_questions.json").read_text(encoding="utf-8")), clauses)
    _, stats = fine_tune(
        pairs,
        out_dir,
        epochs=recipe["epochs"],
        batch_size=recipe["batch_size"],
        lr=recipe["lr"],
        seed=recipe["seed"],
        lora_rank=recipe["lora_rank"],
        log_every=log_every,
    )
    stats["recipe"] = {k: list(v) if isinstance(v, tuple) else v for k, v in recipe.items()}
    stats.pop("seconds", None)  # keep the file the same from run to run
    (Path(out_dir) / "README.md").unlink(missing_ok=True)  # peft's empty model-card template
    (Path(out_dir) / "training.json").write_text(json.dumps(stats, indent=2) + "\n", encoding="utf-8")
    return stats


def main(argv: list[str] | None = None) -> int:
    """CLI: mine pairs from a knowledge store (+ question sets), fine-tune, save. Exit 0; 2 on bad input."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--db", help="knowledge store (DATA_DIR/policybot.db)")
    ap.add_argument("--shipped", action="store_true", help="rebuild the shipped adapter from the bundled data only")
    ap.add_argument(
        "--lora", type=int, default=0, help="train rank-R LoRA adapters only and save them (0: every weight)"
    )
    ap.add_argument("--out", required=True, help="directory to save the adapted model to")
    ap.add_argument("--questions", nargs="*", default=[], help="labelled question sets (eval JSON format)")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--max-per-doc", type=int, default=80)
    ap.add_argument("--max-seq-length", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if args.shipped:
        print(json.dumps(train_shipped_adapter(args.out, log_every=10)))
        return 0
    if not args.db or not Path(args.db).exists():
        print(f"no knowledge store at {args.db}")
        return 2
    clauses = KnowledgeStore(args.db).live_clauses()
    pairs = mine_pairs(clauses.values(), args.max_per_doc, args.seed)
    for path in args.questions:
        pairs += labelled_pairs(json.loads(Path(path).read_text(encoding="utf-8")), clauses)
    _, stats = fine_tune(
        pairs,
        args.out,
        epochs=args.epochs,
        seed=args.seed,
        max_seq_length=args.max_seq_length,
        log_every=20,
        lora_rank=args.lora,
    )
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
