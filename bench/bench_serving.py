"""Serving cost against its floors, in one run: prints figures, asserts nothing.

On a data dir prepared by ``policybot index build`` (the five bundled policies, index and ONNX question
encoder ready, as after an install), side by side:

* cold ``policybot ask`` (a new process; median of ``--cold`` runs): wall seconds and peak RSS (MiB),
  against the floor ``python -c "import onnxruntime"``, and whether torch was imported;
* warm ``Policybot.ask`` over the labelled questions (dev, staff, holdout, holdout2; each asked
  ``--repeat`` times): p50 / p95 / p99 in ms, against one encoder pass of the same questions' texts;
* the server (``bench_load.py --real --server-process``: ``policybot serve`` in its own process, 200
  different questions at once, half web chat, half Slack): RSS after start, after warm-up and peak;
  throughput; web chat p99; Slack ack p99 and answer p99.

Usage: ``python bench/bench_serving.py [--cold 5] [--repeat 3] [--no-load]``; for min–median–max over
runs, ``python bench/repeat.py -n 3 bench/bench_serving.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "tests")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``argv``; returns (wall seconds, peak RSS in MiB from ``wait4``, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = proc.stdout.read() if proc.stdout else ""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv[:3]} failed")
    return wall, usage.ru_maxrss / 1024, out


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cold", type=int, default=5, help="cold asks (a new process each)")
    ap.add_argument("--repeat", type=int, default=3, help="times each labelled question is asked warm")
    ap.add_argument("--no-load", action="store_true", help="skip the server load run")
    a = ap.parse_args()
    exe = str(Path(sys.executable).with_name("policybot"))
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": tmp,
            "HF_HUB_OFFLINE": "1",
            "POLICYBOT_DATA_DIR": str(Path(tmp) / "data"),
        }
        subprocess.run([exe, "index", "build"], env=env, check=True, stdout=subprocess.DEVNULL)

        floor = [timed_child([sys.executable, "-c", "import onnxruntime"], env) for _ in range(a.cold)]
        probe = (
            "import sys\nfrom adapters.cli import main\n"
            "main(['ask', '--json', sys.argv[1]])\nprint('TORCH=' + str('torch' in sys.modules))\n"
        )
        cold = [
            timed_child([sys.executable, "-c", probe, "can I accept a friend request from a pupil?"], env)
            for _ in range(a.cold)
        ]
        torch_loaded = {c[2].strip().splitlines()[-1] for c in cold}

        from bot.app import open_policybot
        from bot.evaluate import load_questions

        pb = open_policybot(Path(tmp) / "data")
        assert pb.prepare_query_encoder(), "no ONNX encoder"
        questions = [
            q["q"]
            for name in ("dev", "staff", "holdout", "holdout2")
            for q in load_questions(ROOT / "knowledge" / "eval" / f"{name}_questions.json")
        ]
        for q in questions[:20]:
            pb.ask(q, record_gap=False)
        encoder = pb.index.query_encoder
        ask_ms: list[float] = []
        pass_ms: list[float] = []
        for _ in range(a.repeat):
            for q in questions:
                texts = pb.index.query_texts(q)
                t = time.perf_counter()
                encoder.encode(texts)
                pass_ms.append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                pb.ask(q, record_gap=False)
                ask_ms.append((time.perf_counter() - t) * 1000)

    result: dict[str, object] = {
        "benchmark": "serving",
        "cold_ask_s": round(statistics.median(c[0] for c in cold), 2),
        "cold_ask_peak_rss_mb": round(statistics.median(c[1] for c in cold), 1),
        "cold_ask_imports_torch": sorted(torch_loaded),
        "floor_import_onnxruntime_s": round(statistics.median(f[0] for f in floor), 2),
        "floor_import_onnxruntime_rss_mb": round(statistics.median(f[1] for f in floor), 1),
        "warm_ask_ms": {p: round(pct(ask_ms, int(p[1:])), 2) for p in ("p50", "p95", "p99")},
        "encoder_pass_ms": {p: round(pct(pass_ms, int(p[1:])), 2) for p in ("p50", "p95", "p99")},
        "warm_questions": len(ask_ms),
    }
    if not a.no_load:
        from bench_load import run

        load = asyncio.run(run(200, True, 600.0, server_process=True))
        result["server"] = {
            "rss_mb_after_start": load["server_rss_mb_after_start"],
            "rss_mb_after_warmup": load["rss_mb_before"],
            "peak_rss_mb": load["peak_rss_mb"],
            "throughput_rps": load["throughput_rps"],
            "errors": load["errors"],
            "webchat_p99_ms": load["webchat"].get("p99_ms"),
            "slack_ack_p99_ms": load["slack_ack"].get("p99_ms"),
            "slack_answer_p99_ms": load["slack_answer"].get("p99_ms"),
        }
    result["cpus"] = os.cpu_count()
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
