"""Confidentiality: nothing a reporter typed reaches logs or disk unencrypted; keys; dev mode; tampering."""

from __future__ import annotations

import logging
import os
import stat

import pytest
from test_report_support import (
    FLOW,
    KEY,
    SAMPLE_DIRECTORY,
    make_engine,
    make_service,
    press,
    receipt_in,
    say,
)

from bot.reporting.crypto import (
    DecryptError,
    ReportCipher,
    ReportingNotConfigured,
    decode_key,
    generate_key,
    load_key,
)

SECRET_WHAT = "Zanzibar-Quokka-7731 sent me a friend request from the account of her son"
SECRET_WHERE = "https://example.net/profile/zanzibar-quokka-7731"
SECRET_WHEN = "yesterday 3pm"
SECRET_QUESTION = "Quixotic-Marmalade-4412: which device did you use?"
SECRET_REPLY = "Vermilion-Ocelot-9090 was the phone"
SECRET_OUTCOME = "Obsidian-Pelican-5151 outcome recorded"
MARKERS = ["Zanzibar-Quokka-7731", "zanzibar-quokka-7731", "Quixotic-Marmalade", "Vermilion-Ocelot", "Obsidian-Pelican"]


def _all_bytes(data_dir):
    out = {}
    for root, _dirs, files in os.walk(data_dir):
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[p] = fh.read()
    return out


def _assert_nowhere(blobs: dict, needles):
    for path, data in blobs.items():
        for n in needles:
            for enc in ("utf-8", "utf-16-le"):
                assert n.encode(enc) not in data, f"{n!r} found in {path} ({enc})"


def test_no_plaintext_in_logs_or_database_files(fake_bot, caplog):
    caplog.set_level(logging.DEBUG)
    engine = make_engine(fake_bot)
    answers = ["report", "2", SECRET_WHAT, SECRET_WHEN, SECRET_WHERE, "1", "confidential"]
    for a in answers:
        say(engine, "alice", a)
    # the draft in progress, WAL included, is already encrypted
    assert os.path.exists(fake_bot.data_dir / "cases.db-wal")
    _assert_nowhere(_all_bytes(fake_bot.data_dir), MARKERS)
    receipt = receipt_in(say(engine, "alice", "submit"))
    engine.session_start("bob")
    press(engine, "bob", "case:ask", "C-00001")
    say(engine, "bob", SECRET_QUESTION)
    press(engine, "alice", "case:reply", "C-00001")
    say(engine, "alice", SECRET_REPLY)
    say(engine, "alice", f"status {receipt}")
    engine.reporting.show_case("bob", 1)
    engine.reporting.show_case("hana", 1)
    say(engine, "bob", f"close C-00001 {SECRET_OUTCOME}")
    engine.take_pending("alice")
    blobs = _all_bytes(fake_bot.data_dir)
    assert any(p.endswith("cases.db-wal") for p in blobs)
    _assert_nowhere(blobs, MARKERS + ["Alice Adams", receipt, receipt.replace("-", "")[1:]])
    cases_files = {p: b for p, b in blobs.items() if os.path.basename(p).startswith("cases.db")}
    _assert_nowhere(cases_files, ["alice"])  # the reporter's id is not stored in the clear either
    log_text = caplog.text + "\n".join(str(r.args) for r in caplog.records)
    for n in MARKERS + [SECRET_WHERE, "alice", "Alice", receipt]:
        assert n not in log_text, n
    assert "case C-00001 submitted" in caplog.text  # logs carry case ids


def test_database_file_is_private(fake_bot):
    make_engine(fake_bot)
    mode = stat.S_IMODE(os.stat(fake_bot.data_dir / "cases.db").st_mode)
    assert mode & 0o077 == 0


def test_another_key_cannot_read_cases(fake_bot):
    engine = make_engine(fake_bot)
    for a in FLOW:
        out = say(engine, "alice", a)
    receipt = receipt_in(out)
    other = make_service(fake_bot.data_dir, key=bytes(32))
    with pytest.raises(DecryptError) as exc:
        other.cases.get_case(1)
    assert "friend" not in str(exc.value)
    assert other.status("alice", receipt)[0].text.startswith("I couldn't find")  # the receipt index differs too


def test_ciphertext_is_bound_to_its_context():
    c = ReportCipher(KEY)
    blob = c.encrypt({"what": "x"}, "cases.content:1")
    assert c.decrypt(blob, "cases.content:1") == {"what": "x"}
    with pytest.raises(DecryptError):
        c.decrypt(blob, "cases.content:2")
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(DecryptError):
        c.decrypt(tampered, "cases.content:1")
    assert c.encrypt("same", "x") != c.encrypt("same", "x")  # random nonces
    assert c.blind("user", "alice") == c.blind("user", "alice") != ReportCipher(bytes(32)).blind("user", "alice")


# ---- keys -----------------------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch):
    for var in (
        "POLICYBOT_REPORT_KEY",
        "POLICYBOT_REPORT_KEY_FILE",
        "POLICYBOT_DEV",
        "POLICYBOT_DIRECTORY",
        "POLICYBOT_ROUTING",
    ):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_without_a_key_reporting_refuses_to_start(tmp_path, clean_env):
    from bot.reporting.service import ReportingService

    with pytest.raises(ReportingNotConfigured) as exc:
        ReportingService.open(tmp_path)
    assert "POLICYBOT_REPORT_KEY" in str(exc.value) and "--dev" in str(exc.value)
    assert not (tmp_path / "report.key").exists()


def test_dev_mode_generates_a_private_key(tmp_path, clean_env):
    from bot.reporting.service import ReportingService

    clean_env.setenv("POLICYBOT_DEV", "1")
    svc = ReportingService.open(tmp_path)
    key_file = tmp_path / "report.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert svc.directory.get("alice") is not None  # falls back to the sample directory
    assert load_key(tmp_path, dev=True) == decode_key(key_file.read_text())  # stable across opens
    clean_env.delenv("POLICYBOT_DEV")
    with pytest.raises(ReportingNotConfigured):
        ReportingService.open(tmp_path)  # a dev key is not used outside dev mode
    ReportingService.open(tmp_path, dev=True)  # the --dev flag


def test_key_from_environment_or_file(tmp_path, clean_env):
    key = generate_key()
    clean_env.setenv("POLICYBOT_REPORT_KEY", key)
    assert load_key(tmp_path) == decode_key(key) and len(decode_key(key)) == 32
    clean_env.delenv("POLICYBOT_REPORT_KEY")
    f = tmp_path / "k"
    f.write_text(key + "\n")
    f.chmod(0o600)
    clean_env.setenv("POLICYBOT_REPORT_KEY_FILE", str(f))
    assert load_key(None) == decode_key(key)
    clean_env.setenv("POLICYBOT_REPORT_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ReportingNotConfigured):
        load_key(None)


@pytest.mark.parametrize("bad", ["short", "!" * 44, generate_key()[:40]])
def test_malformed_keys_are_refused(clean_env, bad):
    clean_env.setenv("POLICYBOT_REPORT_KEY", bad)
    with pytest.raises(ReportingNotConfigured) as exc:
        load_key(None)
    assert "keygen" in str(exc.value) and bad not in str(exc.value)


def test_fernet_key_is_accepted(clean_env):
    from cryptography.fernet import Fernet

    clean_env.setenv("POLICYBOT_REPORT_KEY", Fernet.generate_key().decode())
    assert len(load_key(None)) == 32


def test_no_directory_outside_dev_mode_refuses(tmp_path, clean_env):
    from bot.reporting.service import ReportingService

    clean_env.setenv("POLICYBOT_REPORT_KEY", generate_key())
    with pytest.raises(ReportingNotConfigured) as exc:
        ReportingService.open(tmp_path)
    assert "directory" in str(exc.value)
    clean_env.setenv("POLICYBOT_DIRECTORY", str(SAMPLE_DIRECTORY))
    assert ReportingService.open(tmp_path).directory.safeguarding_lead().user_id == "sam"


def test_errors_in_reporting_do_not_leak_content(fake_bot, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    engine = make_engine(fake_bot)
    say(engine, "alice", "report")
    say(engine, "alice", "1")

    def boom(*a, **k):
        raise RuntimeError("Zanzibar-Quokka-7731 should never be logged")

    monkeypatch.setattr(engine.reporting.cases, "save_draft", boom)
    out = say(engine, "alice", SECRET_WHAT)
    assert out[0].kind == "error" and "Zanzibar" not in out[0].text
    assert "Zanzibar" not in caplog.text and "RuntimeError" in caplog.text
