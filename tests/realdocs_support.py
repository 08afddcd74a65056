"""The three real published policies beside the repository (``../shared/realdocs``) and their questions.

CI has ``shared/`` beside the clone; tests that need it skip where it is absent (``needs_realdocs``).
"""

import json
from pathlib import Path

import pytest

from knowledge.segment import normalise

SHARED = Path(__file__).resolve().parents[2] / "shared"
REALDOCS = SHARED / "realdocs"
QUESTIONS = SHARED / "eval" / "realdocs_questions.json"
PDF = REALDOCS / "decoy_school_online_safety_policy_2018.pdf"
DOCX = REALDOCS / "mpwec_whistleblowing_policy_2025.docx"
TXT = REALDOCS / "lexden_montessori_whistle_blowing.txt"

needs_realdocs = pytest.mark.skipif(
    not (PDF.exists() and DOCX.exists() and TXT.exists() and QUESTIONS.exists()),
    reason="shared/realdocs and shared/eval are not beside the repository",
)


def gold_snippet_misses(by_name: dict) -> tuple[int, list[tuple[str, str]]]:
    """Check the questions' gold snippets against clauses.

    Args:
        by_name: ``{file name: (Extracted, clauses)}`` for the real files read.

    Returns:
        ``(checked, misses)``: how many gold snippets of questions about those files occur in their
        extracted text (gold may also name clauses of the bundled policies; those are not counted), and
        ``[(question id, snippet)]`` for each of them that no clause contains.
    """
    checked, misses = 0, []
    for q in json.loads(QUESTIONS.read_text(encoding="utf-8")):
        if q.get("doc") not in by_name:
            continue
        extracted, clauses = by_name[q["doc"]]
        source = normalise(extracted.text)
        texts = [normalise(c.text) for c in clauses]
        for gold in q["gold"]:
            g = normalise(gold)
            if g in source:
                checked += 1
                if not any(g in t for t in texts):
                    misses.append((q["id"], gold))
    return checked, misses
