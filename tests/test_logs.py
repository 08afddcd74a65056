"""Structured logs: JSON lines, the whitelist of extra fields, exceptions without their message, and a
whole report through the real ``policybot serve`` at DEBUG leaving no report text or reporter id."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import signal
import sys

import aiohttp
import pytest
from test_report_support import FLOW, WHAT, WHERE

from adapters.logs import SAFE_FIELDS, JsonFormatter, setup_logging

CLI = [sys.executable, "-m", "adapters.cli"]


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_lines_parse_and_carry_the_safe_fields(restore_logging):
    buf = io.StringIO()
    setup_logging(fmt="json", level="DEBUG", stream=buf)
    log = logging.getLogger("policybot.test")
    log.info("case %s acknowledged", "C-00001", extra={"event": "case_ack", "case_id": "C-00001", "ms": 1.5})
    log.debug("plain")
    logging.getLogger("bot.app").debug("core module")  # the core's loggers follow POLICYBOT_LOG_LEVEL too
    logging.getLogger("somelibrary").info("library chatter")  # other libraries stay at WARNING
    lines = json_lines(buf.getvalue())
    assert [ln["msg"] for ln in lines] == ["case C-00001 acknowledged", "plain", "core module"]
    first = lines[0]
    assert first["level"] == "INFO" and first["logger"] == "policybot.test"
    assert first["event"] == "case_ack" and first["case_id"] == "C-00001" and first["ms"] == 1.5
    assert first["ts"].endswith("Z") and first["ts"][10] == "T"
    assert set(lines[1]) == {"ts", "level", "logger", "msg"}


def test_unsafe_extras_are_dropped_and_long_values_cut(restore_logging):
    buf = io.StringIO()
    setup_logging(fmt="json", level="INFO", stream=buf)
    logging.getLogger("policybot.test").warning(
        "report step",
        extra={
            "event": "report_step",
            "text": WHAT,
            "user_id": "alice",
            "reporter": "alice",
            "what": WHAT,
            "step": "x" * 500,
            "count": 3,
        },
    )
    (line,) = json_lines(buf.getvalue())
    assert set(line) == {"ts", "level", "logger", "msg", "event", "step", "count"}
    assert len(line["step"]) == 200 and line["count"] == 3
    raw = buf.getvalue()
    assert "alice" not in raw and "Quimby" not in raw
    assert {"text", "user_id", "reporter", "what", "message", "body"}.isdisjoint(SAFE_FIELDS)


def test_exceptions_are_logged_without_their_message(restore_logging):
    for fmt in ("json", "text"):
        buf = io.StringIO()
        setup_logging(fmt=fmt, level="DEBUG", stream=buf)
        try:
            raise ValueError(f"could not parse {WHAT!r} from alice")
        except ValueError:
            logging.getLogger("policybot.test").exception("parsing failed")
        out = buf.getvalue()
        assert "Quimby" not in out and "alice" not in out and "could not parse" not in out, out
        assert "ValueError" in out and "test_logs.py" in out
        if fmt == "json":
            (line,) = json_lines(out)
            assert line["exc_type"] == "ValueError"
            assert line["exc_where"][-1].startswith("test_logs.py:") and "in test_exceptions" in line["exc_where"][-1]


def test_bad_settings_are_refused(restore_logging, monkeypatch, capsys):
    with pytest.raises(ValueError, match="POLICYBOT_LOG_FORMAT"):
        setup_logging(fmt="xml")
    with pytest.raises(ValueError, match="POLICYBOT_LOG_LEVEL"):
        setup_logging(fmt="json", level="LOUD")
    from adapters.cli import main

    monkeypatch.setenv("POLICYBOT_LOG_FORMAT", "xml")
    assert main(["ask", "anything"]) == 2
    assert "POLICYBOT_LOG_FORMAT" in capsys.readouterr().err


def test_json_formatter_is_one_line_per_record():
    rec = logging.LogRecord("policybot.x", logging.INFO, __file__, 1, "two\nlines", (), None)
    out = JsonFormatter().format(rec)
    assert "\n" not in out and json.loads(out)["msg"] == "two\\nlines"


#: ids as a forger would send them: a new line with a fake record, a terminal escape, bidi overrides,
#: a zero-width joiner, a line separator, a NUL and a backslash escape that would read as a newline
HOSTILE_IDS = [
    "U123\n2026-12-02 10:00:00,000 INFO policybot.slack HR signed in",
    "U1\x1b[31mred",
    "U1\u202egnp.exe",
    "U1\u2066x\u2069",
    "U\u200d1",
    "U1\u2028next",
    "U1\x00",
    "U1\\nfake",
]


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_hostile_ids_cannot_forge_lines_or_hide_text(restore_logging, fmt):
    buf = io.StringIO()
    setup_logging(fmt=fmt, level="INFO", stream=buf)
    for uid in HOSTILE_IDS:
        logging.getLogger("policybot.slack").info("message from %s in %s", uid, "D1", extra={"event_id": uid})
    raw = buf.getvalue()
    assert raw.count("\n") == len(HOSTILE_IDS)  # one line a record
    assert raw.replace("\n", "").isprintable()
    for bad in ("\x1b", "\u202e", "\u2066", "\u200d", "\u2028", "\x00"):
        assert bad not in raw
    lines = raw.splitlines()
    msgs = [json.loads(line)["msg"] for line in lines] if fmt == "json" else lines
    assert "from U123\\n2026-12-02" in msgs[0]
    assert "\\x1b[31mred" in msgs[1] and "\\u202egnp.exe" in msgs[2]
    assert "U1\\\\nfake" in msgs[-1]  # a literal backslash-n is doubled, so it cannot pass for an escape
    if fmt == "json":
        assert json.loads(lines[0])["event_id"].startswith("U123\\n2026")


def test_escape_leaves_printable_text_of_any_script_alone():
    from adapters.logs import escape_for_log

    for text in ("POST /chat/api/message 200 12.5 ms", "Zoë Ångström", "Доклад", "報告", "C-00001"):
        assert escape_for_log(text) == text


def test_a_message_whose_arguments_do_not_fit_is_logged_without_them(restore_logging):
    buf = io.StringIO()
    setup_logging(fmt="text", level="INFO", stream=buf)
    logging.getLogger("policybot.test").info("only %s here", "secret-1", "secret-2")
    out = buf.getvalue()
    assert "secret" not in out and "arguments did not fit: 2" in out


async def test_a_whole_report_through_the_server_logs_no_content_or_reporter(tmp_path):
    """``policybot serve --dev`` with JSON logs at DEBUG: alice reports through the web chat, bob
    acknowledges, the server stops; every stderr line is JSON and none carries the report or alice."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "Microsoft", "POLICYBOT_"))}
    env.update(
        POLICYBOT_DATA_DIR=str(tmp_path),
        POLICYBOT_FAKE_EMBEDDER="1",
        POLICYBOT_TEAMS="off",
        POLICYBOT_LOG_FORMAT="json",
        POLICYBOT_LOG_LEVEL="DEBUG",
    )
    proc = await asyncio.create_subprocess_exec(
        *CLI, "serve", "--port", "0", "--dev", env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        url = line.split()[3]
        jar = aiohttp.CookieJar(unsafe=True)
        async with aiohttp.ClientSession(cookie_jar=jar) as s:
            for _ in range(500):
                async with s.get(url + "/healthz") as r:
                    if r.status == 200:
                        break
                await asyncio.sleep(0.02)

            async def call(path, body=None, method="POST"):
                async with s.request(method, url + path, json=body) as r:
                    assert r.status == 200, await r.text()
                    return await r.json()

            await call("/chat/api/me", method="GET")
            await call("/chat/api/identity", {"user_id": "alice"})
            texts = []
            for answer in FLOW:
                texts += [m["text"] for m in (await call("/chat/api/message", {"text": answer}))["messages"]]
            receipt = next(t for t in texts if "R-" in t).split("R-", 1)[1][:19]
            await call("/chat/api/message", {"text": f"status R-{receipt}"})
            await call("/chat/api/identity", {"user_id": "bob"})
            out = await call("/chat/api/message", {"action_id": "case:ack", "value": "C-00001"})
            assert any("acknowledged" in m["text"] for m in out["messages"])
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        err = (await proc.stderr.read()).decode()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    lines = json_lines(err)
    assert lines, "DEBUG with JSON logs wrote nothing"
    assert any(ln.get("event") == "http_request" and ln.get("route") == "/chat/api/message" for ln in lines)
    for needle in (WHAT[:25], "Quimby", "facebook", WHERE[:15], receipt, "alice", "Alice", "Adams"):
        assert needle not in err, needle
