"""Commands load only what they use: no torch, ONNX Runtime, aiohttp or chat SDK where none is needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "sentence_transformers", "onnxruntime", "aiohttp", "botbuilder", "slack_bolt", "slack_sdk")


def _loaded_after(argv: list[str], tmp_path: Path) -> list[str]:
    script = (
        "import sys\n"
        "from adapters.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "POLICYBOT_DATA_DIR": str(tmp_path / "data")}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120, env=env
    )
    assert done.returncode == 0, done.stderr
    line = [x for x in done.stdout.splitlines() if x.startswith("LOADED=")][-1]
    return [m for m in line.removeprefix("LOADED=").split(",") if m]


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["kb", "list"], ["kb", "gaps"], ["cases", "--help"], ["serve", "--help"], ["teams", "--help"]],
    ids=" ".join,
)
def test_commands_that_answer_nothing_load_no_model_runtime_server_or_sdk(argv, tmp_path):
    assert _loaded_after(argv, tmp_path) == []
