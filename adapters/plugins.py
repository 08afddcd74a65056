"""Optional modules: features and channels that are present in some builds and absent in others."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Iterator


def optional_modules(names: tuple[str, ...]) -> Iterator[ModuleType]:
    """Import and yield each module of ``names`` in order, skipping those that do not exist.

    Raises:
        ImportError: a module exists but fails to import (a missing dependency inside it is a bug,
            not an absent feature, so it is not hidden).
    """
    for name in names:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        yield module
