"""The whole report flow through the console adapter, and the Done-when scenario as real
``policybot chat`` processes: alice reports, bob (her manager) acknowledges, alice sees the status."""

from __future__ import annotations

import io
import os
import subprocess
import sys

from test_report_support import FLOW, RECEIPT_RE, SAMPLE_DIRECTORY, WHAT, make_engine

from adapters.console import render, run_console
from bot.messages import Choice, Outbound
from bot.reporting.reportable import is_report_request, reportable_category

CLI = [sys.executable, "-m", "adapters.cli"]


def chat(bot, engine, user, lines) -> str:
    out = io.StringIO()
    run_console(bot, user_id=user, stdin=io.StringIO("".join(l + "\n" for l in lines)), stdout=out, engine=engine)
    return out.getvalue()


def test_done_when_scenario_through_the_console_adapter(fake_bot):
    engine = make_engine(fake_bot)
    alice = chat(fake_bot, engine, "alice", FLOW[:2] + [WHAT, "yesterday 3pm", FLOW[4], "1", "2", "1"])
    assert "type 'report' to report a concern" in alice
    assert "[7] Something else" in alice and "(or type: not sure | cancel)" in alice
    assert "logging any incidents" in alice and "It is important they are not deleted." in alice
    receipt = RECEIPT_RE.search(alice).group(0)
    assert "[sent privately to Bob Baker]" in alice
    assert "New report C-00001" not in alice  # the notification itself is not shown to the reporter

    bob = chat(fake_bot, engine, "bob", ["1"])
    assert "You have 1 new message(s):" in bob and "New report C-00001 for you to handle." in bob
    assert WHAT in bob and "Reported by: confidential" in bob and "Alice" not in bob
    assert "[1] Acknowledge" in bob and "[2] Ask for more information" in bob and "[3] Close with outcome" in bob
    assert "Case C-00001 acknowledged. The reporter has been told." in bob

    alice2 = chat(fake_bot, engine, "alice", [f"status {receipt}"])
    assert "You have 1 new message(s):" in alice2
    assert f"Update on your report {receipt}: Bob Baker has acknowledged it." in alice2
    assert "Status: acknowledged" in alice2


def test_console_numbers_are_text_in_free_text_steps(fake_bot):
    engine = make_engine(fake_bot)
    chat(fake_bot, engine, "alice", ["report", "1", "1"])  # "1" as what happened, not "cancel"
    d = engine.reporting.cases.load_draft("alice")
    assert d.what == "1" and d.step.value == "when"


def test_console_resumes_an_unfinished_report(fake_bot):
    engine = make_engine(fake_bot)
    chat(fake_bot, engine, "alice", ["report", "2"])
    again = chat(fake_bot, make_engine(fake_bot), "alice", [WHAT])
    assert "You have an unfinished report" in again and "What happened?" in again
    assert "When did it happen?" in again


def test_render_of_free_text_prompt_and_choices():
    msg = Outbound(
        kind="prompt",
        text="When?",
        input_hint="text",
        choices=[Choice("Not sure", "report:when", "unknown"), Choice("Cancel", "report:cancel")],
    )
    assert render(msg) == "When?\n  (or type: not sure | cancel)"
    msg.input_hint = None
    assert render(msg) == "When?\n  [1] Not sure\n  [2] Cancel"


def test_reportable_detection():
    assert reportable_category("A service user's mum sent me a friend request") == "service_user_contact"
    assert reportable_category("Someone set up a fake profile with my photos") == "impersonation"
    assert reportable_category("A journalist rang me about my tweet") == "press"
    assert reportable_category("My colleague keeps harassing me on WhatsApp") == "bullying"
    assert reportable_category("What is LinkedIn?") is None
    assert is_report_request("I want to report something") and is_report_request("report")
    assert not is_report_request("How do I report bullying?") and not is_report_request("reporting lines")


# ---- the real command line --------------------------------------------------------------------------
def run_chat(data_dir, user, stdin, dev=True):
    env = dict(os.environ, POLICYBOT_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", POLICYBOT_FAKE_EMBEDDER="1")
    for var in ("POLICYBOT_REPORT_KEY", "POLICYBOT_REPORT_KEY_FILE", "POLICYBOT_DEV", "POLICYBOT_DIRECTORY"):
        env.pop(var, None)
    args = ["chat", "--as", user] + (["--dev"] if dev else [])
    p = subprocess.run(CLI + args, input=stdin.encode(), capture_output=True, env=env, timeout=120)
    assert p.returncode == 0, p.stderr
    assert b"Traceback" not in p.stderr
    return p.stdout.decode()


def test_done_when_scenario_as_policybot_chat_processes(tmp_path):
    answers = [
        "report",
        "2",
        WHAT,
        "yesterday 3pm",
        "Facebook https://www.facebook.com/x",
        "1",
        "confidential",
        "submit",
        "quit",
    ]
    alice = run_chat(tmp_path, "alice", "\n".join(answers) + "\n")
    receipt = RECEIPT_RE.search(alice).group(0)
    assert (tmp_path / "report.key").exists()
    bob = run_chat(tmp_path, "bob", "1\nquit\n")
    assert "New report C-00001 for you to handle." in bob and "acknowledged" in bob
    alice2 = run_chat(tmp_path, "alice", f"status {receipt}\n")
    assert "Bob Baker has acknowledged it." in alice2 and "Status: acknowledged" in alice2
    plain = run_chat(tmp_path, "alice", "report\n", dev=False)
    assert "not set up" in plain
    assert SAMPLE_DIRECTORY.exists()
