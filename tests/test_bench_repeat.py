"""bench/repeat.py: figures of several runs as min–median–max at the same place in the output."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from repeat import combine  # noqa: E402


def test_numbers_become_min_median_max_in_place():
    runs = [
        '{\n  "p50_ms": 5.8,\n  "rps": 81\n}\nack p50 12 ms p99 20 ms',
        '{\n  "p50_ms": 6.4,\n  "rps": 77\n}\nack p50 10 ms p99 31 ms',
        '{\n  "p50_ms": 5.1,\n  "rps": 90\n}\nack p50 11 ms p99 25 ms',
    ]
    assert combine(runs).splitlines() == [
        "{",
        '  "p50_ms": 5.1–5.8–6.4,',
        '  "rps": 77–81–90',
        "}",
        "ack p50 10–11–12 ms p99 20–25–31 ms",
    ]


def test_lines_that_differ_between_runs_are_marked():
    out = combine(["a 1\nonly here 3", "a 2\nsomething else 4"])
    assert out.splitlines() == ["a 1–2–2", "only here 3  (run 1 only)"]


def test_runs_a_script_three_times(tmp_path):
    script = tmp_path / "b.py"
    script.write_text("import os\nprint('pid-free figure', 42)\n")
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "repeat.py"), str(script)], capture_output=True, text=True, check=True
    ).stdout
    assert "3 runs" in out and "CPUs" in out and "pid-free figure 42–42–42" in out
