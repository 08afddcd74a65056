"""The ``POLICYBOT_*`` settings in one typed object, read once at the entry point and passed down.

``Settings.from_env(os.environ)`` (the ``policybot`` command line does this once in ``main``) reads:

==================================  ==========================================================================
``POLICYBOT_DATA_DIR``              the data dir (default ``$XDG_DATA_HOME/policybot``)
``POLICYBOT_DEV``                   dev mode for reporting (a flag)
``POLICYBOT_GAPS_KEEP_USERS``       keep user ids with unanswered questions (a flag)
``POLICYBOT_NOTIFY_CHANGED_CLAUSES`` log who was answered from which clause, for change notices (a flag)
``POLICYBOT_MAX_UPLOAD_MB``         largest policy upload, a positive number of MB (default 10)
``POLICYBOT_MODEL_PATH``            the embedding model's directory (default: the bundled model)
``POLICYBOT_ADAPTER``               a LoRA adapter directory, or ``none``/``off`` (default: the shipped one)
``POLICYBOT_REPORT_KEY``            the report key (a secret)
``POLICYBOT_REPORT_KEY_FILE``       a file holding the report key
``POLICYBOT_DIRECTORY``             the staff directory file
``POLICYBOT_ORGANISATION``          whose policies apply to everyone here: one organisation, or several separated by ``;``
                                    (a person's ``organisation`` in the directory comes first)
``POLICYBOT_OTHER_ORGANISATIONS``   ``show`` (default) or ``hide``: other organisations' clauses under the asker's own
``POLICYBOT_ROUTING``               the routing file for reports
``POLICYBOT_LOG_FORMAT``            ``text`` (default) or ``json``
``POLICYBOT_LOG_LEVEL``             ``DEBUG``, ``INFO``, ``WARNING``, ``ERROR`` (any ``logging`` level name; default: per command)
``POLICYBOT_METRICS_TOKEN``         bearer token for ``/metrics`` (a secret)
``POLICYBOT_FAKE_EMBEDDER``         ``1``: the deterministic fake embedder (a test hook)
==================================  ==========================================================================

A flag is on for ``1``/``true``/``yes``/``on`` and off for ``0``/``false``/``no``/``off`` or empty (any
case, spaces ignored); anything else is refused. An empty value is the same as an unset one. Secrets are
``SecretStr``: they never appear in ``repr`` or ``str``. A bad value raises ``SettingsError`` naming the
variable (the command line prints it and exits with 2).

Channel credentials (``SLACK_*``, ``MicrosoftApp*``, ``POLICYBOT_WEBCHAT*``, ``POLICYBOT_TEAMS``) are not
here: the server hands the channel modules the environment mapping (``adapters.server.ServerSettings.env``).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from bot.app import KbSettings

ENV_PREFIX = "POLICYBOT_"
MB = 1024 * 1024
DEFAULT_MAX_UPLOAD_MB = 10
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"", "0", "false", "no", "off"})


class SettingsError(ValueError):
    """A ``POLICYBOT_*`` variable has a bad value; the message names the variable and what it accepts."""


def env_name(field: str) -> str:
    """The environment variable of a ``Settings`` field, e.g. ``"dev"`` -> ``"POLICYBOT_DEV"``."""
    return ENV_PREFIX + field.upper()


def parse_flag(value: object) -> bool:
    """True for ``1``/``true``/``yes``/``on``, False for ``0``/``false``/``no``/``off``/empty (any case).

    Raises:
        ValueError: any other value.
    """
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"must be 1, true, yes or on (or 0, false, no, off to turn it off), not {value!r}")


class Settings(BaseSettings):
    """Every ``POLICYBOT_*`` setting the core and the command line read, typed (see the module docstring).

    Build it with ``Settings.from_env(mapping)`` (exact variable names, as ``os.environ.get`` read them);
    ``Settings()`` reads ``os.environ`` through pydantic-settings, which also accepts lower-case names.
    Immutable. ``max_upload_bytes`` and ``adapter_dir()`` give the derived values the code uses.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    data_dir: Path | None = None
    dev: bool = False
    gaps_keep_users: bool = False
    notify_changed_clauses: bool = False
    max_upload_mb: float = Field(default=DEFAULT_MAX_UPLOAD_MB)
    model_path: str | None = None
    adapter: str | None = None
    report_key: SecretStr | None = None
    report_key_file: Path | None = None
    directory: Path | None = None
    organisation: tuple[str, ...] = ()
    other_organisations: Literal["show", "hide"] = "show"
    routing: Path | None = None
    log_format: Literal["text", "json"] = "text"
    log_level: str | None = None
    metrics_token: SecretStr | None = None
    fake_embedder: bool = False

    @field_validator(
        "data_dir",
        "model_path",
        "report_key",
        "report_key_file",
        "directory",
        "routing",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if value == "" else value

    @field_validator("dev", "gaps_keep_users", "notify_changed_clauses", mode="before")
    @classmethod
    def _flag(cls, value: Any) -> bool:
        return parse_flag(value)

    @field_validator("fake_embedder", mode="before")
    @classmethod
    def _test_hook(cls, value: Any) -> bool:
        return value is True or value == "1"

    @field_validator("max_upload_mb", mode="before")
    @classmethod
    def _megabytes(cls, value: Any) -> float:
        if value is None or (isinstance(value, str) and not value.strip()):
            return DEFAULT_MAX_UPLOAD_MB
        try:
            mb = float(value)
        except (TypeError, ValueError):
            mb = math.nan
        if not (math.isfinite(mb) and mb > 0):
            raise ValueError(f"must be a positive number of megabytes, not {value!r}")
        return mb

    @field_validator("organisation", mode="before")
    @classmethod
    def _organisations(cls, value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        parts = value.split(";") if isinstance(value, str) else list(value)
        return tuple(p.strip() for p in parts if str(p).strip())

    @field_validator("other_organisations", mode="before")
    @classmethod
    def _show_or_hide(cls, value: Any) -> str:
        word = str(value).strip().lower() or "show"
        if word not in ("show", "hide"):
            raise ValueError(f"must be 'show' or 'hide', not {value!r}")
        return word

    @field_validator("log_format", mode="before")
    @classmethod
    def _log_format(cls, value: Any) -> str:
        word = str(value).strip().lower() or "text"
        if word not in ("text", "json"):
            raise ValueError(f"must be 'json' or 'text', not {value!r}")
        return word

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> str | None:
        if value is None:
            return None
        name = str(value).strip().upper()
        if not name:
            return None
        if not isinstance(logging.getLevelName(name), int):  # the names logging knows, as setup_logging took
            raise ValueError(f"must be DEBUG, INFO, WARNING or ERROR, not {value!r}")
        return name

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """The settings named in ``env`` (``os.environ`` or any mapping); unset names keep their defaults.

        Raises:
            SettingsError: a bad value; the message names the variable, e.g.
                ``POLICYBOT_MAX_UPLOAD_MB must be a positive number of megabytes, not 'ten'``.
        """
        values = {name: env[env_name(name)] for name in cls.model_fields if env_name(name) in env}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise settings_error(exc) from None

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes (``max_upload_mb`` megabytes)."""
        return int(self.max_upload_mb * MB)

    @property
    def log_level_number(self) -> int | None:
        """``log_level`` as a ``logging`` level number, None when unset."""
        return None if self.log_level is None else int(logging.getLevelName(self.log_level))

    def adapter_dir(self) -> Path | None:
        """The LoRA adapter to merge: ``POLICYBOT_ADAPTER`` (None for ``none``/``off``/empty), else the
        shipped adapter when it is installed (``index.embed.shipped_adapter``), else None."""
        if self.adapter is None:
            from index.embed import shipped_adapter

            return shipped_adapter()
        return None if self.adapter.strip().lower() in ("", "none", "off") else Path(self.adapter)

    def kb(self) -> KbSettings:
        """The knowledge-base upkeep settings (``bot.app.KbSettings``) these settings give."""
        from bot.app import KbSettings

        return KbSettings(
            gaps_keep_users=self.gaps_keep_users,
            notify_changed_clauses=self.notify_changed_clauses,
            max_upload_bytes=self.max_upload_bytes,
        )

    def default_data_dir(self, env: Mapping[str, str] | None = None) -> Path:
        """``data_dir`` when set, else ``$XDG_DATA_HOME/policybot``, else ``~/.local/share/policybot``
        (``XDG_DATA_HOME`` from ``env``, default ``os.environ``)."""
        if self.data_dir is not None:
            return self.data_dir
        base = (os.environ if env is None else env).get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        return Path(base) / "policybot"


def settings_error(exc: ValidationError) -> SettingsError:
    """A ``SettingsError`` naming each variable of a pydantic ``ValidationError`` (values are not repeated
    for secrets)."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err.get("loc") else "?"
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        lines.append(f"{env_name(field)} {msg}")
    return SettingsError("; ".join(lines))


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """``Settings.from_env(env)``, with ``env`` defaulting to ``os.environ`` (for entry points).

    Raises:
        SettingsError: a bad value, naming the variable.
    """
    return Settings.from_env(os.environ if env is None else env)


__all__ = ["Settings", "SettingsError", "load_settings", "parse_flag", "env_name", "ENV_PREFIX"]
