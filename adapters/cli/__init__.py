"""The ``policybot`` command line: ``main`` builds the parser from one module per command group.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)`` and adds its sub-commands:
``ask`` and ``chat`` (``adapters.cli.ask``), ``compare`` (``adapters.cli.compare``), ``eval`` (``adapters.cli.eval``), ``index``
(``adapters.cli.index``), ``cases`` (``adapters.cli.cases``), ``kb`` (``adapters.cli.kb``), ``serve``
(``adapters.cli.serve``), ``teams`` (``adapters.cli.teams``), ``backup`` (``adapters.cli.backup``) and ``demo`` (``adapters.cli.demo``).

Exit codes: 0 success, 1 runtime failure, 2 bad usage or bad input.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

log = logging.getLogger("policybot")
PRIVATE_UMASK = 0o077  #: the process umask: what the bot creates (data dir, databases, WAL files, index) is owner-only


def settings_of(args) -> Settings:
    """The ``bot.settings.Settings`` ``main`` read once and put on ``args.settings``; read from the process
    environment now when ``args`` has none (a command function called directly).

    Raises:
        bot.settings.SettingsError: read now, and a ``POLICYBOT_*`` variable has a bad value.
    """
    settings = getattr(args, "settings", None)
    if settings is not None:
        return settings
    from bot.settings import load_settings

    return load_settings()


def open_from_args(args, mode: str = "hybrid"):
    """Open the Policybot for the parsed ``args`` (``--data-dir``, ``args.settings``); honours
    ``POLICYBOT_FAKE_EMBEDDER=1``."""
    from bot.app import open_policybot

    settings = settings_of(args)
    return open_policybot(args.data_dir, embedder=embedder_for(settings), mode=mode, config=settings)


def embedder_for(settings: Settings):
    """None (the bundled model, as ``settings`` configure it), or with ``POLICYBOT_FAKE_EMBEDDER=1`` (a test
    hook, ``settings.fake_embedder``) the deterministic fake."""
    if settings.fake_embedder:
        from index.embed import FakeEmbedder

        return FakeEmbedder()
    return None


def build_parser() -> argparse.ArgumentParser:
    """The ``policybot`` argument parser with every command module's sub-commands."""
    parser = argparse.ArgumentParser(prog="policybot", description="Policy guidance and confidential reporting bot.")
    parser.add_argument(
        "--data-dir", default=None, help="data directory (default: $POLICYBOT_DATA_DIR or ~/.local/share/policybot)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more output")
    sub = parser.add_subparsers(dest="command", required=True)

    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


#: modules that contribute sub-commands, in the order ``policybot --help`` lists them
COMMAND_MODULES = (
    "adapters.cli.ask",
    "adapters.cli.compare",
    "adapters.cli.eval",
    "adapters.cli.index",
    "adapters.cli.cases",
    "adapters.cli.kb",
    "adapters.cli.serve",
    "adapters.cli.teams",
    "adapters.cli.backup",
    "adapters.cli.demo",
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``policybot`` console script; returns the exit code.

    Sets the process umask to ``PRIVATE_UMASK`` first, so every file the bot creates later
    (databases and their WAL files, index snapshots, backups) is readable by its owner only. Reads the
    ``POLICYBOT_*`` settings once (``bot.settings.Settings``, passed down as ``args.settings``); a bad
    value exits with 2 and a line naming the variable.
    """
    from adapters.logs import setup_logging
    from bot.settings import SettingsError, load_settings

    os.umask(PRIVATE_UMASK)
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    args = build_parser().parse_args(argv)
    try:
        args.settings = load_settings()
        setup_logging(fmt=args.settings.log_format, level=args.settings.log_level)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # last resort: a clear line, not a traceback
        log.debug("command failed", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        return 1
