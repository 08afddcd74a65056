"""Change notices from the command line reach a running server: ``policybot kb replace`` (a real
subprocess) queues a private notice in the reporting outbox for each person answered from a changed
clause in the last 30 days, and the server (in-process, real Bolt adapter, fake Slack) sends it to
their DM. Off by default: then nothing is logged, queued or sent."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from fakes.harness import ServerHarness
from fakes.slack_api import message_im_event
from kb_helpers import NORTHBROOK_MD, make_docx

from bot.app import KbSettings, open_policybot
from bot.directory import Directory
from bot.engine import ConversationEngine
from bot.reporting.crypto import ReportCipher
from bot.reporting.routing import RoutingConfig
from bot.reporting.service import ReportingService
from index.embed import FakeEmbedder

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "config" / "directory.sample.toml"
MD = NORTHBROOK_MD.read_text(encoding="utf-8")
DOC_ID = "northbrook-social-media-guidance-for-staff"
LIVE_Q = "Staff must not live-stream from council buildings"
KEY = bytes(range(32))
ALICE, ALICE_DM = "U0ALICE001", "D0ALICE001"


def cli(args, data_dir, notify: bool):
    env = dict(
        os.environ,
        POLICYBOT_DATA_DIR=str(data_dir),
        HF_HUB_OFFLINE="1",
        POLICYBOT_FAKE_EMBEDDER="1",
        POLICYBOT_REPORT_KEY=base64.urlsafe_b64encode(KEY).decode(),
        POLICYBOT_DIRECTORY=str(SAMPLE),
    )
    env.pop("POLICYBOT_NOTIFY_CHANGED_CLAUSES", None)
    if notify:
        env["POLICYBOT_NOTIFY_CHANGED_CLAUSES"] = "1"
    p = subprocess.run(
        [sys.executable, "-m", "adapters.cli", *map(str, args)], capture_output=True, env=env, timeout=300
    )
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


async def run_scenario(tmp_path, fake_slack, notify: bool):
    """kb add (CLI) -> alice asks in Slack -> kb replace (CLI); returns (replace output, server, reporting)."""
    data = tmp_path / "data"
    bot = open_policybot(data, embedder=FakeEmbedder(), settings=KbSettings(notify_changed_clauses=notify))
    reporting = ReportingService(
        data,
        Directory.load(SAMPLE),
        ReportCipher(KEY),
        RoutingConfig.load(ROOT / "config" / "routing.toml"),
        policy_store=bot.store,
    )
    server = await ServerHarness(
        bot,
        ConversationEngine(bot, reporting=reporting),
        fake_slack,
        env={"POLICYBOT_TEAMS": "off", "POLICYBOT_WEBCHAT": "off"},
        watch_interval=0.1,
        outbox_interval=0.1,
    ).start()
    docx = tmp_path / "nb.docx"
    docx.write_bytes(make_docx(MD))
    cli(["kb", "add", docx], data, notify)
    for _ in range(100):  # the server's watcher picks the new document up
        if any(c.clause_id.startswith(DOC_ID) for c in bot.ask(LIVE_Q, record_gap=False).quotes):
            break
        await fake_slack.settle(0.05, timeout=0.2)
    await server.event(message_im_event(LIVE_Q, user=ALICE, channel=ALICE_DM))
    (answer,) = await fake_slack.wait_for("chat.postMessage")
    assert "Staff must not live-stream from council buildings" in json.dumps(answer.params["blocks"])
    v2 = tmp_path / "nb-v2.docx"
    v2.write_bytes(make_docx(MD.replace("Staff must not live-stream", "Staff must never live-stream")))
    out = cli(["kb", "replace", DOC_ID, v2, "--json"], data, notify)
    return json.loads(out), server, reporting


async def test_a_replace_on_the_command_line_is_told_to_staff_by_the_running_server(tmp_path, fake_slack):
    result, server, reporting = await run_scenario(tmp_path, fake_slack, notify=True)
    try:
        assert result["notify_users"] == ["alice"] and result["notices_queued"] == 1
        (notice,) = await fake_slack.wait_for(
            "chat.postMessage", where=lambda c: c.params["text"].startswith("Policy update")
        )
        assert notice.params["channel"] == ALICE_DM
        assert notice.params["text"].startswith(
            "Policy update: “Social Media Guidance for Staff” (Northbrook District "
            "Council) has a new version (v 2, added "
        )
        await fake_slack.settle(0.3)
        assert reporting.outbox.undelivered() == []  # sent once and marked delivered
        assert (
            len([c for c in fake_slack.calls_to("chat.postMessage") if c.params["text"].startswith("Policy update")])
            == 1
        )
    finally:
        await server.stop()
        reporting.close()


async def test_by_default_nobody_is_logged_queued_or_told(tmp_path, fake_slack):
    result, server, reporting = await run_scenario(tmp_path, fake_slack, notify=False)
    try:
        assert result["notify_users"] == [] and result["notices_queued"] == 0
        await fake_slack.settle(0.5)
        assert not [c for c in fake_slack.calls_to("chat.postMessage") if c.params["text"].startswith("Policy update")]
        assert reporting.outbox.undelivered() == [] and reporting.outbox.pending("alice") == []
        assert server.policybot.store.db.execute("SELECT count(*) FROM answers_log").fetchone()[0] == 0
    finally:
        await server.stop()
        reporting.close()
