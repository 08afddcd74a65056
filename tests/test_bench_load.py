"""``bench/bench_load.py`` runs end to end on a small burst (figures are printed, never asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_load.py"


async def test_a_small_burst_is_answered_without_errors():
    spec = importlib.util.spec_from_file_location("bench_load", BENCH)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = await bench.run(10, real=False, timeout=120)
    assert out["errors"] == 0
    assert out["webchat"]["n"] == 5 and out["slack_ack"]["n"] == 5 and out["slack_answer"]["n"] == 5
    assert out["server_metrics"]["requests /chat/api/message 200"] >= 5
    assert out["peak_rss_mb"] > 0 and out["throughput_rps"] > 0
