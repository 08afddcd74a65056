"""Knowledge-base upkeep figures with the real model: time to add, replace and remove a document in
a data dir whose index is built, and how many texts are embedded for each (vs the total).

    .venv/bin/python bench/bench_kb.py [--data-dir DIR]

Prints one line a step. The first step builds the index of the five bundled policies (slow once).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    from kb_helpers import NORTHBROOK_MD, make_docx, make_pdf

    from bot.app import open_policybot
    from index.embed import SentenceEmbedder

    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    args = ap.parse_args()
    data = Path(args.data_dir or tempfile.mkdtemp(prefix="policybot-bench-kb-"))
    md = NORTHBROOK_MD.read_text(encoding="utf-8")

    t = time.perf_counter()
    bot = open_policybot(data, embedder=SentenceEmbedder())
    stats = bot.index.refresh()
    views_total = len(bot.index.snapshot.vectors)
    print(
        f"build index (five policies, incl. model load): {time.perf_counter() - t:.1f} s, "
        f"{stats['total']} clauses, {stats['embedded']} texts embedded, {views_total} vectors"
    )
    admin = bot.kb_admin()

    for name, data_bytes in (("docx", make_docx(md)), ("pdf", make_pdf(md))):
        t = time.perf_counter()
        p = admin.preview(
            data_bytes, f"northbrook.{name}", organisation="Northbrook District Council", doc_id=f"nb-{name}"
        )
        t_prev = time.perf_counter() - t
        r = admin.commit(p)
        print(
            f"add .{name}: preview {t_prev * 1000:.0f} ms, commit+index {r.seconds:.2f} s; {r.clauses} clauses, "
            f"{r.index['embedded']} texts embedded (new), index {r.index['total']} clauses"
        )
        if name == "pdf":
            break
        admin.remove(f"nb-{name}")

    changed = (
        md.replace("Staff must not live-stream", "Staff must never live-stream")
        + "\nThis guidance is reviewed every year.\n"
    )
    t = time.perf_counter()
    p = admin.preview(changed.encode(), "northbrook-v2.md", replace="nb-pdf")
    r = admin.commit(p)
    print(
        f"replace: {time.perf_counter() - t:.2f} s; {len(p.diff.changed)} changed + {len(p.diff.added)} added of "
        f"{len(p.clauses)} clauses; {r.index['embedded']} texts embedded; index {r.index['total']} clauses"
    )

    t = time.perf_counter()
    r = admin.remove("nb-pdf")
    print(f"remove: {r.seconds:.2f} s; {r.clauses} clauses withdrawn; {r.index['embedded']} embedded")

    watcher = bot.watcher()
    watcher.check()
    t = time.perf_counter()
    for _ in range(1000):
        watcher.check()
    print(f"watcher.check() with nothing changed: {(time.perf_counter() - t) * 1000 / 1000:.3f} ms each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
