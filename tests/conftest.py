"""Shared fixtures: a knowledge base on the fake embedder (fast) and one on the real model (session-wide);
the fake Slack Web API and Bot Connector on port 0; the sample directory and a reporting service on it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(autouse=True)
def restore_logging():
    """Put the root handlers and every logger's level back after each test.

    Tests that run ``adapters.cli.main`` in-process call ``setup_logging``, which replaces the root
    handlers and sets the application loggers' levels; without this, a later test's ``caplog`` would
    miss records depending on test order.
    """
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items() if isinstance(lg, logging.Logger)}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture(scope="session")
def fake_bot_template(tmp_path_factory):
    """A data dir with the five bundled policies and their index on the fake embedder, built once per
    session (about 0.6 s); ``fake_bot`` copies it (about 0.01 s) instead of parsing and embedding again."""
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    data = tmp_path_factory.mktemp("fake-template") / "data"
    bot = open_policybot(data, embedder=FakeEmbedder())
    bot.index.refresh()
    return data


@pytest.fixture
def unindexed_fake_bot(tmp_path):
    """Like ``fake_bot`` but opened from nothing: the documents are stored, the index not yet built (for
    tests of the first build)."""
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    return open_policybot(tmp_path / "data", embedder=FakeEmbedder())


@pytest.fixture
def fake_bot(tmp_path, fake_bot_template):
    """A Policybot over the five bundled policies with the deterministic fake embedder, in a fresh data dir
    (a copy of ``fake_bot_template``: the index is built, as after ``policybot index build``)."""
    import shutil

    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    shutil.copytree(fake_bot_template, tmp_path / "data")
    return open_policybot(tmp_path / "data", embedder=FakeEmbedder())


@pytest.fixture(scope="session")
def real_bot(tmp_path_factory):
    """A Policybot with the real all-MiniLM-L6-v2 model, index built once per test session."""
    from bot.app import open_policybot

    bot = open_policybot(tmp_path_factory.mktemp("realdata"))
    bot.index.refresh()
    return bot


@pytest.fixture
async def fake_slack():
    """A started ``fakes.slack_api.FakeSlackAPI`` (Slack Web API, Socket Mode, files) on 127.0.0.1:<free port>."""
    from fakes.slack_api import FakeSlackAPI

    fake = await FakeSlackAPI().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def connector():
    """A started ``fakes.bot_connector.FakeBotConnector`` (the activities' ``serviceUrl``) on a free port."""
    from fakes.bot_connector import FakeBotConnector

    fake = await FakeBotConnector().start()
    yield fake
    await fake.stop()


@pytest.fixture
def directory():
    """The sample staff directory (``config/directory.sample.toml``): alice reports to bob, bob to carol;
    hana is HR; sam is the safeguarding lead."""
    from bot.directory import Directory

    return Directory.load(ROOT / "config" / "directory.sample.toml")


@pytest.fixture
def reporting(fake_bot, directory):
    """The real reporting service on the fake bot's data dir: sample directory, bundled routing, fixed key."""
    from bot.reporting.crypto import ReportCipher
    from bot.reporting.routing import RoutingConfig
    from bot.reporting.service import ReportingService

    svc = ReportingService(
        fake_bot.data_dir,
        directory,
        ReportCipher(bytes(range(32))),
        RoutingConfig.load(ROOT / "config" / "routing.toml"),
        policy_store=fake_bot.store,
    )
    yield svc
    svc.close()


@pytest.fixture
def clock():
    """A ``test_report_support.FakeClock`` at its ``START`` (tests advance it by hand)."""
    from test_report_support import FakeClock

    return FakeClock()
