"""Run a benchmark script several times and print its figures as min–median–max, with the date and machine.

    .venv/bin/python bench/repeat.py [-n 3] bench/bench_load.py --real

Each run is a fresh process (``sys.executable SCRIPT ARGS``), one after another. The first run's output is
printed with every number replaced by ``min–median–max`` over the runs at the same place (the same line,
the same position in the line), so JSON and text outputs both work; a line whose words differ between runs
(a figure that appears in one run only) is printed from the first run, marked ``(run 1 only)``. The header
gives the UTC date, the CPU model and count, the memory, Python's version and the load average before the
first run (a busy machine gives slower, wider figures: README figures come from an otherwise idle machine).

Exit status: 0, or the first failing run's status (its stderr is printed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import statistics
import subprocess
import sys
from pathlib import Path

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.])")


def machine() -> str:
    """``"<cpu model>, <n> CPUs, <GiB> GiB, Python <version>, Linux <release>"`` of this machine."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        kib = int(
            next(ln.split()[1] for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
        )
        memory = f"{kib / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        memory = "? GiB"
    return (
        f"{model}, {os.cpu_count()} CPUs, {memory}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}"
    )


def _fmt(values: list[float], sample: str) -> str:
    decimals = len(sample.split(".", 1)[1]) if "." in sample and "e" not in sample.lower() else 0
    lo, mid, hi = min(values), statistics.median(values), max(values)
    return "–".join(f"{v:.{decimals}f}" for v in (lo, mid, hi))


def combine(outputs: list[str]) -> str:
    """The first output with each number replaced by min–median–max over ``outputs`` at the same place.

    Lines are matched by position; a line whose text around its numbers differs between runs is kept
    from the first run and marked ``(run 1 only)``.
    """
    split = [out.splitlines() for out in outputs]
    lines = []
    for i, first in enumerate(split[0]):
        same = [s[i] for s in split if i < len(s)]
        shapes = {NUMBER.sub("#", line) for line in same}
        if len(same) < len(split) or len(shapes) != 1:
            lines.append(first + "  (run 1 only)")
            continue
        columns = list(zip(*[[float(m.group()) for m in NUMBER.finditer(line)] for line in same]))
        it = iter(columns)
        lines.append(NUMBER.sub(lambda m: _fmt(list(next(it)), m.group()), first))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--runs", type=int, default=3, help="runs (default 3)")
    ap.add_argument("script", help="the benchmark script")
    ap.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    a = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"# {a.script} {' '.join(a.args)}".rstrip())
    print(
        f"# {a.runs} runs, {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {machine()}, "
        f"load average {load:.2f} before the first run; figures are min–median–max"
    )
    outputs = []
    for _ in range(a.runs):
        proc = subprocess.run([sys.executable, a.script, *a.args], capture_output=True, text=True)
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr)
            return proc.returncode
        outputs.append(proc.stdout)
    print(combine(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
