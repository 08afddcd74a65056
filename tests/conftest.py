"""Shared fixtures: a knowledge base on the fake embedder (fast) and one on the real model (session-wide)."""

from __future__ import annotations

import os

import pytest

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
    levels = {name: lg.level for name, lg in logging.root.manager.loggerDict.items()
              if isinstance(lg, logging.Logger)}
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)
    for name, lg in list(logging.root.manager.loggerDict.items()):
        if isinstance(lg, logging.Logger):
            lg.setLevel(levels.get(name, logging.NOTSET))


@pytest.fixture
def fake_bot(tmp_path):
    """A Policybot over the five bundled policies with the deterministic fake embedder, in a fresh data dir."""
    from bot.app import open_policybot
    from index.embed import FakeEmbedder

    return open_policybot(tmp_path / "data", embedder=FakeEmbedder())


@pytest.fixture(scope="session")
def real_bot(tmp_path_factory):
    """A Policybot with the real all-MiniLM-L6-v2 model, index built once per test session."""
    from bot.app import open_policybot

    bot = open_policybot(tmp_path_factory.mktemp("realdata"))
    bot.index.refresh()
    return bot
