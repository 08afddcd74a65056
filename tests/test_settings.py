"""``bot.settings.Settings``: every ``POLICYBOT_*`` variable parsed as the modules parsed it, bad values
refused with the variable named, secrets hidden, and the command line's exit code 2 for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings, SettingsError, parse_flag

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024

FLAGS = ("dev", "gaps_keep_users", "notify_changed_clauses")

#: (variable, value, field or property, expected)
PARSED = [
    ("POLICYBOT_DATA_DIR", "/srv/policybot", "data_dir", Path("/srv/policybot")),
    ("POLICYBOT_DATA_DIR", "", "data_dir", None),
    ("POLICYBOT_MAX_UPLOAD_MB", "25", "max_upload_bytes", 25 * MB),
    ("POLICYBOT_MAX_UPLOAD_MB", "0.5", "max_upload_bytes", MB // 2),
    ("POLICYBOT_MAX_UPLOAD_MB", " 2 ", "max_upload_bytes", 2 * MB),
    ("POLICYBOT_MAX_UPLOAD_MB", "", "max_upload_bytes", 10 * MB),
    ("POLICYBOT_MODEL_PATH", "/models/minilm", "model_path", "/models/minilm"),
    ("POLICYBOT_MODEL_PATH", "", "model_path", None),
    ("POLICYBOT_ADAPTER", "/adapters/a1", "adapter", "/adapters/a1"),
    ("POLICYBOT_REPORT_KEY_FILE", "/run/secrets/key", "report_key_file", Path("/run/secrets/key")),
    ("POLICYBOT_REPORT_KEY_FILE", "", "report_key_file", None),
    ("POLICYBOT_DIRECTORY", "/data/directory.toml", "directory", Path("/data/directory.toml")),
    ("POLICYBOT_ROUTING", "/data/routing.toml", "routing", Path("/data/routing.toml")),
    ("POLICYBOT_LOG_FORMAT", "json", "log_format", "json"),
    ("POLICYBOT_LOG_FORMAT", " JSON ", "log_format", "json"),
    ("POLICYBOT_LOG_FORMAT", "", "log_format", "text"),
    ("POLICYBOT_LOG_LEVEL", "info", "log_level", "INFO"),
    ("POLICYBOT_LOG_LEVEL", "DEBUG", "log_level_number", 10),
    ("POLICYBOT_LOG_LEVEL", "", "log_level", None),
    ("POLICYBOT_LOG_LEVEL", "critical", "log_level_number", 50),  # any name logging knows, as before
    ("POLICYBOT_FAKE_EMBEDDER", "1", "fake_embedder", True),
    ("POLICYBOT_FAKE_EMBEDDER", "0", "fake_embedder", False),
    ("POLICYBOT_FAKE_EMBEDDER", "yes", "fake_embedder", False),  # the test hook is exactly "1", as before
]
PARSED += [(f"POLICYBOT_{f.upper()}", v, f, True) for f in FLAGS for v in ("1", "true", "yes", "on", " TRUE ", "On")]
PARSED += [(f"POLICYBOT_{f.upper()}", v, f, False) for f in FLAGS for v in ("", "0", "false", "no", "off", "OFF")]

BAD = [
    ("POLICYBOT_MAX_UPLOAD_MB", "ten"),
    ("POLICYBOT_MAX_UPLOAD_MB", "0"),
    ("POLICYBOT_MAX_UPLOAD_MB", "-3"),
    ("POLICYBOT_MAX_UPLOAD_MB", "inf"),
    ("POLICYBOT_MAX_UPLOAD_MB", "nan"),
    ("POLICYBOT_LOG_FORMAT", "xml"),
    ("POLICYBOT_LOG_LEVEL", "loud"),
    ("POLICYBOT_DEV", "maybe"),
    ("POLICYBOT_GAPS_KEEP_USERS", "2"),
    ("POLICYBOT_NOTIFY_CHANGED_CLAUSES", "enabled"),
    ("POLICYBOT_OTHER_ORGANISATIONS", "sometimes"),
]


@pytest.mark.parametrize(("name", "value", "attr", "expected"), PARSED)
def test_each_variable_is_parsed_as_before(name, value, attr, expected):
    assert getattr(Settings.from_env({name: value}), attr) == expected


def test_defaults_when_nothing_is_set():
    s = Settings.from_env({})
    assert (s.dev, s.gaps_keep_users, s.notify_changed_clauses, s.fake_embedder) == (False, False, False, False)
    assert s.max_upload_bytes == 10 * MB
    assert s.data_dir is None and s.model_path is None and s.adapter is None and s.report_key is None
    assert s.log_format == "text" and s.log_level is None and s.metrics_token is None


def test_the_environment_is_read_only_through_the_mapping_given():
    s = Settings.from_env({"POLICYBOT_DEV": "1", "OTHER": "x", "policybot_gaps_keep_users": "1"})
    assert s.dev and not s.gaps_keep_users  # names are exact, as os.environ.get was


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_value_is_refused_naming_the_variable(name, value):
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({name: value})
    assert str(caught.value).startswith(name + " ")
    assert repr(value) in str(caught.value)


def test_every_bad_variable_is_named_at_once():
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"POLICYBOT_DEV": "maybe", "POLICYBOT_LOG_FORMAT": "xml"})
    assert "POLICYBOT_DEV" in str(caught.value) and "POLICYBOT_LOG_FORMAT" in str(caught.value)


@pytest.mark.parametrize("flag", ["1", "true", "yes", "on"])
def test_parse_flag_matches_the_words_the_modules_accepted(flag):
    assert parse_flag(flag) and not parse_flag("")


def test_secrets_are_not_in_repr_or_str():
    key, token = "k" * 43 + "=", "metrics-token-value-123"
    s = Settings.from_env({"POLICYBOT_REPORT_KEY": key, "POLICYBOT_METRICS_TOKEN": token})
    for text in (repr(s), str(s), repr(s.report_key), str(s.metrics_token), s.model_dump_json()):
        assert key not in text and token not in text
    assert s.report_key is not None and s.report_key.get_secret_value() == key
    assert s.metrics_token is not None and s.metrics_token.get_secret_value() == token


def test_an_empty_secret_is_unset():
    s = Settings.from_env({"POLICYBOT_REPORT_KEY": "", "POLICYBOT_METRICS_TOKEN": ""})
    assert s.report_key is None and s.metrics_token is None


def test_adapter_none_or_off_means_the_plain_model(tmp_path):
    for word in ("none", "NONE", "off", ""):
        assert Settings.from_env({"POLICYBOT_ADAPTER": word}).adapter_dir() is None
    assert Settings.from_env({"POLICYBOT_ADAPTER": str(tmp_path)}).adapter_dir() == tmp_path


def test_kb_settings_and_data_dir(tmp_path):
    s = Settings.from_env({"POLICYBOT_GAPS_KEEP_USERS": "1", "POLICYBOT_MAX_UPLOAD_MB": "3"})
    kb = s.kb()
    assert kb.gaps_keep_users and not kb.notify_changed_clauses and kb.max_upload_bytes == 3 * MB
    assert s.default_data_dir({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "policybot"
    assert Settings.from_env({"POLICYBOT_DATA_DIR": str(tmp_path)}).default_data_dir({}) == tmp_path


def run_cli(args, env_extra, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLICYBOT_")}
    env.update({"POLICYBOT_FAKE_EMBEDDER": "1", "POLICYBOT_DATA_DIR": str(tmp_path / "data"), **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
    )


@pytest.mark.parametrize(
    ("name", "value"), [("POLICYBOT_MAX_UPLOAD_MB", "ten"), ("POLICYBOT_DEV", "maybe"), ("POLICYBOT_LOG_LEVEL", "loud")]
)
def test_the_cli_exits_2_naming_the_variable(tmp_path, name, value):
    p = run_cli(["kb", "list"], {name: value}, tmp_path)
    assert p.returncode == 2, p.stderr
    assert name in p.stderr and "Traceback" not in p.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was opened


# ---- passed down: the modules use the Settings they are given, not the process environment ----------


@pytest.fixture
def no_policybot_env(monkeypatch):
    """The process environment without POLICYBOT_* (so only the Settings passed in can configure anything)."""
    for name in [k for k in os.environ if k.startswith("POLICYBOT_")]:
        monkeypatch.delenv(name)


def test_the_engine_opens_reporting_from_the_settings_given(tmp_path, no_policybot_env):
    from bot.app import open_policybot
    from bot.directory import SAMPLE_DIRECTORY
    from bot.engine import ConversationEngine
    from bot.reporting.crypto import generate_key
    from index.embed import FakeEmbedder

    config = Settings.from_env(
        {
            "POLICYBOT_REPORT_KEY": generate_key(),
            "POLICYBOT_DIRECTORY": str(SAMPLE_DIRECTORY),
            "POLICYBOT_GAPS_KEEP_USERS": "yes",
            "POLICYBOT_MAX_UPLOAD_MB": "2",
        }
    )
    bot = open_policybot(tmp_path / "data", embedder=FakeEmbedder(), seed_bundled=False, config=config)
    assert bot.config is config and bot.settings.gaps_keep_users and bot.settings.max_upload_bytes == 2 * MB
    engine = ConversationEngine(bot)
    try:
        assert engine.reporting is not None and engine.reporting_error is None
    finally:
        engine.reporting.close()
    assert ConversationEngine(bot, settings=Settings.from_env({})).reporting is None  # no key in these settings


def test_the_data_dir_comes_from_the_settings(tmp_path, no_policybot_env):
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    config = Settings.from_env({"POLICYBOT_DATA_DIR": str(tmp_path / "from-settings")})
    bot = open_policybot(embedder=FakeEmbedder(), seed_bundled=False, config=config)
    assert bot.data_dir == tmp_path / "from-settings"


def test_lookups_take_the_settings(tmp_path, no_policybot_env):
    from bot.directory import directory_path
    from bot.reporting.crypto import ReportingNotConfigured, is_dev_mode, load_key
    from bot.reporting.routing import routing_path
    from bot.upkeep.gaps import keep_user_ids

    key_file = tmp_path / "key"
    key_file.write_text("x" * 3)
    s = Settings.from_env(
        {
            "POLICYBOT_DEV": "on",
            "POLICYBOT_DIRECTORY": "/d.toml",
            "POLICYBOT_ROUTING": "/r.toml",
            "POLICYBOT_GAPS_KEEP_USERS": "1",
            "POLICYBOT_REPORT_KEY_FILE": str(key_file),
        }
    )
    assert is_dev_mode(None, s) and not is_dev_mode(None, Settings.from_env({}))
    assert directory_path(tmp_path, settings=s) == Path("/d.toml")
    assert routing_path(tmp_path, settings=s) == Path("/r.toml")
    assert keep_user_ids(s) and not keep_user_ids(Settings.from_env({}))
    with pytest.raises(ReportingNotConfigured, match="32 bytes"):  # the key file named, not the environment
        load_key(tmp_path, settings=s)


def test_the_server_refuses_a_bad_value_in_its_environment():
    from adapters.server import ConfigError, ServerSettings, check_settings, config_of

    with pytest.raises(ConfigError, match="POLICYBOT_MAX_UPLOAD_MB"):
        check_settings(ServerSettings(env={"POLICYBOT_MAX_UPLOAD_MB": "lots", "POLICYBOT_TEAMS": "off"}))
    token = config_of(ServerSettings(env={"POLICYBOT_METRICS_TOKEN": "t0ken"})).metrics_token
    assert token is not None and token.get_secret_value() == "t0ken"


def test_backup_reads_the_key_from_the_settings_given(tmp_path):
    from adapters.cli.backup import BackupError, backup

    (tmp_path / "data").mkdir()
    with pytest.raises(BackupError, match="POLICYBOT_DEV"):
        backup(tmp_path / "data", tmp_path / "out", env={"POLICYBOT_DEV": "perhaps"})
    result = backup(
        tmp_path / "data",
        tmp_path / "out",
        include_key=True,
        settings=Settings.from_env({"POLICYBOT_REPORT_KEY": "k" * 43 + "="}),
    )
    assert result.key_included


def test_organisations_are_one_name_or_several_separated_by_semicolons():
    assert Settings.from_env({}).organisation == ()
    assert Settings.from_env({}).other_organisations == "show"
    one = Settings.from_env({"POLICYBOT_ORGANISATION": " Medway Council "})
    assert one.organisation == ("Medway Council",)
    several = Settings.from_env({"POLICYBOT_ORGANISATION": "Decoy Community Primary School, Newton Abbot; MPWEC;"})
    assert several.organisation == ("Decoy Community Primary School, Newton Abbot", "MPWEC")
    assert Settings.from_env({"POLICYBOT_OTHER_ORGANISATIONS": " HIDE"}).other_organisations == "hide"
