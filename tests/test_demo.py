"""The local demo's data (``bot.demo``, ``policybot demo --dev``): cases through the real report flow, once."""

from __future__ import annotations

from test_report_support import FakeClock, make_engine

from adapters.cli import main
from bot.demo import DEMO_CASES, MARKER, seed_demo


def test_demo_cases_go_through_the_report_flow_once(fake_bot):
    clock = FakeClock()
    engine = make_engine(fake_bot, clock=clock)
    result = seed_demo(engine, fake_bot.data_dir)
    svc = engine.reporting
    assert result.cases == [f"C-0000{n}" for n in range(1, len(DEMO_CASES) + 1)] and not result.skipped
    rows = {r.ref: r for r in svc.list_cases("hana")}
    states = [(r.state, r.escalated, r.overdue) for r in rows.values()]
    # never acknowledged and 9 days old: overdue and escalated by the deadline runner; the rest on time
    assert states[0] == ("new", True, True)
    assert [s for s, _, _ in states[1:]] == ["acknowledged", "new", "acknowledged", "closed"]
    assert {r.handler_id for r in rows.values()} == {"bob", "sam", "carol"}  # managers and the safeguarding lead
    assert rows["C-00001"].created_iso < rows["C-00002"].created_iso  # backdated as the demo says
    assert svc.clock is clock  # the service's clock is given back
    assert result.gaps >= 1 and fake_bot.gaps.groups()
    assert (fake_bot.data_dir / MARKER).is_file()
    again = seed_demo(engine, fake_bot.data_dir)
    assert again.skipped and len(svc.list_cases("hana")) == len(DEMO_CASES)


def test_demo_command_needs_dev_mode(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("POLICYBOT_FAKE_EMBEDDER", "1")
    monkeypatch.delenv("POLICYBOT_DEV", raising=False)
    assert main(["--data-dir", str(tmp_path / "d"), "demo"]) == 2
    assert "--dev" in capsys.readouterr().err
    assert not (tmp_path / "d" / MARKER).exists()


def test_demo_questions_are_spread_over_the_weeks(fake_bot):
    from datetime import UTC, datetime

    from bot.upkeep.console import gap_weeks

    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
    seed_demo(make_engine(fake_bot, clock=FakeClock(now)), fake_bot.data_dir)
    weeks = gap_weeks(fake_bot.store, today=now.date())
    busy = [w for w in weeks if w["abstained"] or w["not_helpful"]]
    assert len(busy) >= 4 and sum(w["not_helpful"] for w in weeks) == 1  # a trend, not one bar
