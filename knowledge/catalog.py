"""The policies bundled with the product and their metadata (``policies/catalog.toml``)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from knowledge.model import Document

POLICY_DIR = Path(__file__).resolve().parent / "policies"
EVAL_DIR = Path(__file__).resolve().parent / "eval"


def bundled_documents(policy_dir: Path = POLICY_DIR) -> list[Document]:
    """Load the documents listed in ``policy_dir/catalog.toml``, in catalogue order.

    Raises:
        FileNotFoundError: the catalogue or a file it lists is missing.
        KeyError: an entry lacks ``id``, ``file``, ``organisation`` or ``title``.
    """
    with open(policy_dir / "catalog.toml", "rb") as fh:
        catalog = tomllib.load(fh)
    docs = []
    for entry in catalog["document"]:
        text = (policy_dir / entry["file"]).read_text(encoding="utf-8")
        docs.append(
            Document(
                doc_id=entry["id"],
                organisation=entry["organisation"],
                title=entry["title"],
                text=text,
                version=entry.get("version"),
                date=entry.get("date"),
                source=entry["file"],
                drop=tuple(entry.get("drop", ())),
            )
        )
    return docs
