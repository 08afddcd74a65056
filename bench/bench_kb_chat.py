"""Upload-in-chat figures with the real model, through the real Slack adapter against a fake Slack:
an HR user shares a .docx in a DM; how long until the preview is posted, how long from pressing
Publish until "Published" is posted, and until a staff member's question is answered from it.

    .venv/bin/python bench/bench_kb_chat.py [--rounds N]

Prints JSON. Each round uses a fresh data dir (the five policies' vectors are copied from a first,
warm data dir, so only the new document's clauses are embedded), and a different document text.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
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

HANA, HANA_DM, ALICE, ALICE_DM = "U0HANA0001", "D0HANA0001", "U0ALICE001", "D0ALICE001"
QUESTION = "Can we use a WhatsApp group to arrange rota swaps?"


async def one_round(n: int, warm, embedder) -> dict:
    from fakes.harness import ServerHarness
    from fakes.slack_api import FakeSlackAPI, file_share_event, message_im_event, press
    from kb_helpers import NORTHBROOK_MD, make_docx

    from bot.app import KbSettings, open_policybot
    from bot.directory import Directory
    from bot.engine import ConversationEngine

    with tempfile.TemporaryDirectory() as tmp:
        bot = open_policybot(Path(tmp) / "data", embedder=embedder, settings=KbSettings())
        rows = list(warm.store.db.query("SELECT text_hash, model, dim, vector FROM embeddings"))
        with bot.store.db.conn:
            bot.store.db["embeddings"].upsert_all(rows, pk=("text_hash", "model"))
        bot.index.refresh()
        directory = Directory.load(ROOT / "config" / "directory.sample.toml")
        fake = await FakeSlackAPI().start()
        server = await ServerHarness(
            bot,
            ConversationEngine(bot, reporting=False, directory=directory),
            fake,
            env={"POLICYBOT_TEAMS": "off", "POLICYBOT_WEBCHAT": "off"},
        ).start()
        try:
            md = NORTHBROOK_MD.read_text(encoding="utf-8") + f"\nThis guidance was reissued as edition {n}.\n"
            entry = fake.add_file("Northbrook guidance.docx", make_docx(md))
            t0 = time.perf_counter()
            await server.event(file_share_event([entry], user=HANA, channel=HANA_DM))
            (prompt,) = await fake.wait_for("chat.postMessage", timeout=120)
            t_preview = time.perf_counter()
            await server.payload(press(prompt, "Publish", user=HANA))
            await fake.wait_for(
                "chat.postMessage", where=lambda c: c.params["text"].startswith("Published"), timeout=120
            )
            t_published = time.perf_counter()
            await server.event(message_im_event(QUESTION, user=ALICE, channel=ALICE_DM))
            (answer,) = await fake.wait_for(
                "chat.postMessage", where=lambda c: c.params["channel"] == ALICE_DM, timeout=120
            )
            t_answer = time.perf_counter()
            assert "Northbrook District Council" in json.dumps(answer.params["blocks"])
        finally:
            await server.stop()
            await fake.stop()
    return {
        "preview_s": t_preview - t0,
        "publish_to_published_s": t_published - t_preview,
        "publish_to_live_answer_s": t_answer - t_preview,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from bot.app import KbSettings, open_policybot
    from index.embed import SentenceEmbedder

    embedder = SentenceEmbedder()
    with tempfile.TemporaryDirectory() as tmp:
        warm = open_policybot(Path(tmp) / "warm", embedder=embedder, settings=KbSettings())
        warm.index.refresh()
        rounds = [asyncio.run(one_round(n, warm, embedder)) for n in range(args.rounds)]
    out = {"rounds": len(rounds)}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        out[key] = {"median": round(statistics.median(values), 3), "max": round(max(values), 3)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
