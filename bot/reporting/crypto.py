"""Encryption at rest for confidential reports: the key, authenticated encryption and blind indexes.

Every report field (drafts included), the reporter's identity, case events and queued messages are
stored as AES-256-GCM ciphertext. Values that must be looked up (a user's draft, a receipt, the
recipient of a queued message) are stored as *blind indexes*: HMAC-SHA-256 of the value under a key
derived from the report key, so equality lookups work but the database alone reveals nothing.

The report key is 32 random bytes, written as URL-safe base64 (44 characters; a Fernet key has the
same shape and is accepted). It comes from, in order:

1. ``POLICYBOT_REPORT_KEY`` (the key itself),
2. ``POLICYBOT_REPORT_KEY_FILE`` (a file holding the key),
3. in dev mode only (``POLICYBOT_DEV=1`` or ``--dev``): ``<data dir>/report.key``, generated with
   permissions 0600 when missing.

Without a key, and outside dev mode, ``load_key`` raises ``ReportingNotConfigured``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

if TYPE_CHECKING:
    from bot.settings import Settings

log = logging.getLogger("policybot.reporting")

KEY_ENV = "POLICYBOT_REPORT_KEY"
KEY_FILE_ENV = "POLICYBOT_REPORT_KEY_FILE"
DEV_ENV = "POLICYBOT_DEV"
DEV_KEY_NAME = "report.key"

_VERSION = b"\x01"  #: ciphertext format: version byte, 12-byte nonce, AES-GCM ciphertext + tag


class ReportingNotConfigured(RuntimeError):
    """Confidential reporting cannot start (no key, bad key, no staff directory); the message says how to fix it."""


class DecryptError(RuntimeError):
    """A stored value could not be decrypted (wrong key or tampered data). Carries no stored content."""


def is_dev_mode(flag: bool | None = None, settings: Settings | None = None) -> bool:
    """True when ``flag`` is True, or ``POLICYBOT_DEV`` is on (``settings.dev``).

    Args:
        flag: ``--dev`` given.
        settings: the settings read at the entry point (None: read the process environment now).

    Raises:
        bot.settings.SettingsError: ``settings`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    if flag:
        return True
    from bot.settings import load_settings

    return (settings or load_settings()).dev


def generate_key() -> str:
    """A new report key: 32 random bytes as URL-safe base64 (44 characters)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")


def decode_key(text: str) -> bytes:
    """The 32 key bytes of a URL-safe base64 key string.

    Raises:
        ReportingNotConfigured: not base64, or not 32 bytes long.
    """
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raw = b""
    if len(raw) != 32:
        raise ReportingNotConfigured(
            "the report key must be 32 bytes as URL-safe base64 (44 characters); "
            "generate one with `policybot cases keygen`"
        )
    return raw


def _write_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, (generate_key() + "\n").encode("ascii"))
    finally:
        os.close(fd)
    os.chmod(path, 0o600)


def load_key(data_dir: str | Path | None, dev: bool | None = None, settings: Settings | None = None) -> bytes:
    """The report key (32 bytes), from the settings (``POLICYBOT_REPORT_KEY``), a key file
    (``POLICYBOT_REPORT_KEY_FILE``) or (dev mode) the data dir.

    Args:
        data_dir: the data dir, where dev mode keeps ``report.key``.
        dev: force dev mode on (None/False: use ``POLICYBOT_DEV``).
        settings: the settings read at the entry point (None: read the process environment now).

    Raises:
        ReportingNotConfigured: no key is configured and dev mode is off; or the key is malformed;
            or the key file cannot be read.
        bot.settings.SettingsError: ``settings`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    from bot.settings import load_settings

    settings = settings or load_settings()
    if settings.report_key is not None:
        return decode_key(settings.report_key.get_secret_value())
    if settings.report_key_file is not None:
        path = settings.report_key_file
        try:
            mode = path.stat().st_mode
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ReportingNotConfigured(f"cannot read the report key file {path}: {exc.__class__.__name__}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("the report key file is readable by other users; chmod 600 it")
        return decode_key(text)
    if is_dev_mode(dev, settings) and data_dir is not None:
        path = Path(data_dir) / DEV_KEY_NAME
        if not path.exists():
            try:
                _write_new_key(path)
                log.warning("dev mode: generated a report key in the data dir (not for production)")
            except FileExistsError:  # another process made it first
                pass
        return decode_key(path.read_text(encoding="ascii"))
    raise ReportingNotConfigured(
        f"confidential reporting needs a key: set {KEY_ENV} (or {KEY_FILE_ENV}); "
        "`policybot cases keygen` prints a new one. For a local demo use dev mode (--dev or POLICYBOT_DEV=1)."
    )


class ReportCipher:
    """AES-256-GCM encryption of JSON values, and HMAC blind indexes, from one 32-byte report key.

    Sub-keys are derived with HKDF-SHA-256 (``info`` = ``policybot/enc`` and ``policybot/index``), so
    the encryption key and the index key are independent. Every ciphertext is bound to a *context*
    string (its table and field, and the row where known) as associated data: a ciphertext copied to
    another field or row does not decrypt.

    Thread-safe (no mutable state).

    Args:
        key: the 32-byte report key.

    Raises:
        ValueError: ``key`` is not 32 bytes.
    """

    def __init__(self, key: bytes):
        if len(key) != 32:
            raise ValueError("the report key must be 32 bytes")
        self._aead = AESGCM(self._derive(key, b"policybot/enc"))
        self._index_key = self._derive(key, b"policybot/index")

    @staticmethod
    def _derive(key: bytes, info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(key)

    def encrypt(self, value: object, context: str) -> bytes:
        """Encrypt a JSON-serialisable ``value`` bound to ``context``: returns ``1 + 12 + len + 16`` bytes."""
        nonce = secrets.token_bytes(12)
        data = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return _VERSION + nonce + self._aead.encrypt(nonce, data, context.encode("utf-8"))

    def decrypt(self, blob: bytes, context: str) -> Any:
        """The value ``encrypt(value, context)`` produced.

        Raises:
            DecryptError: wrong key, wrong context, or the bytes were altered.
        """
        if not blob or blob[:1] != _VERSION or len(blob) < 1 + 12 + 16:
            raise DecryptError("stored value has an unknown format")
        try:
            data = self._aead.decrypt(blob[1:13], blob[13:], context.encode("utf-8"))
        except InvalidTag:
            raise DecryptError("stored value could not be decrypted (wrong key or altered data)") from None
        return json.loads(data.decode("utf-8"))

    def blind(self, kind: str, value: str) -> str:
        """Blind index of ``value`` in namespace ``kind``: 64 hex chars of HMAC-SHA-256 (stable per key)."""
        return hmac.new(self._index_key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
