"""Bot Framework tokens for the Teams channel: refuse hopeless ones without the network, fetch keys safely.

The Bot Framework SDK (botframework-connector 4.x, ``JwtTokenExtractor``) checks a request's JWT by
first fetching the issuer's OpenID metadata and signing keys (``_OpenIdMetadata._refresh``: two
``requests.get`` calls without a timeout, run on the event loop, and a failed fetch is not remembered).
Any token whose issuer the SDK knows reaches that fetch, whatever its algorithm, audience or expiry, so a
stream of forged tokens while the key endpoint is slow or unreachable froze the whole server.

Two defences, both keeping the SDK's own validation (signature, endorsements, claims) for tokens that
may be genuine:

* ``token_refusal`` decodes the token's header and claims *unverified* (PyJWT) and names what can never
  pass the SDK's checks for this bot: an algorithm other than RS256, no ``kid``, an issuer the SDK does not
  accept, an audience other than the app id, an expired or not-yet-valid token (the SDK's five-minute
  clock skew), a skill token (no claims validator is configured), an Emulator token without the app id
  in ``appid``/``azp``, or a channel token whose ``serviceurl`` claim is not the activity's. The channel
  answers those 401 before the SDK runs: no network at all.
* ``GuardedOpenIdMetadata`` replaces the SDK's metadata objects (``install`` swaps
  ``JwtTokenExtractor.metadataCache`` for ``GuardedMetadataCache``, which creates them): the fetch runs
  in a daemon thread with a timeout (``FETCH_TIMEOUT``), concurrent requests share one fetch, and a
  failed fetch is remembered for ``NEGATIVE_TTL`` seconds, during which requests needing keys fail at
  once with ``KeysUnavailable`` (the channel answers 503) instead of queueing more fetches. The event
  loop never waits on the key endpoint, so other requests (``/healthz``) are never delayed.

The SDK's metadata cache is process-wide (a class attribute keyed by URL), so ``install`` is too; it is
idempotent and ``reset_key_cache`` empties it (tests). This module imports the SDK: import it lazily.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Mapping
from datetime import datetime

import jwt
from botframework.connector.auth import AuthenticationConstants, EmulatorValidation, SkillValidation
from botframework.connector.auth.jwt_token_extractor import JwtTokenExtractor, _OpenIdMetadata

log = logging.getLogger("policybot.teams")

FETCH_TIMEOUT = 5.0  #: seconds a request waits for the signing keys (and each HTTP step of the fetch)
NEGATIVE_TTL = 30.0  #: seconds a failed key fetch is remembered (requests needing keys get 503 at once)
CLOCK_SKEW = 5 * 60  #: seconds of clock skew the SDK allows on ``exp`` and ``nbf``
ALGORITHM = "RS256"  #: the only algorithm the SDK's ``jwt.decode`` accepts


class KeysUnavailable(ConnectionError):
    """The token signing keys cannot be fetched now (timeout, network error, bad answer, or a recent
    failure still remembered). A ``ConnectionError`` (so an ``OSError``): the channel answers 503."""


def accepted_issuers() -> frozenset[str]:
    """The ``iss`` values the SDK's public-cloud validation accepts for a bot without a claims validator:
    the Bot Framework channel's (``https://api.botframework.com``) and the Azure AD issuers of
    ``EmulatorValidation`` (v1 ``https://sts.windows.net/<tenant>/`` and v2
    ``https://login.microsoftonline.com/<tenant>/v2.0`` of the Bot Framework tenants), read from the SDK."""
    issuers = EmulatorValidation.TO_BOT_FROM_EMULATOR_TOKEN_VALIDATION_PARAMETERS.issuer
    return frozenset([AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER, *issuers])


ACCEPTED_ISSUERS = accepted_issuers()


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def token_refusal(
    auth_header: str, app_id: str, service_url: str | None = None, now: float | None = None
) -> str | None:
    """Why the bearer token in ``auth_header`` can never pass the SDK's validation for ``app_id``, or None.

    Nothing is verified here (the signature needs the keys); None only means the SDK must decide. The
    rules are the SDK's, with one addition: ``aud`` must be the app id for Azure AD (Emulator-path)
    tokens too, which the SDK does not check (it reads the app id from ``appid``/``azp`` only, so a token
    the bot obtained for another resource would do).

    Args:
        auth_header: the ``Authorization`` header (``"Bearer <jwt>"``).
        app_id: the bot's Microsoft App ID ("" in Emulator mode: every token is refused).
        service_url: the activity's ``serviceUrl``; a channel token's ``serviceurl`` claim must equal it.
        now: the current Unix time in seconds (default ``time.time()``).

    Returns:
        A short fixed reason, safe to log (never a claim's value), or None.
    """
    scheme, _, token = (auth_header or "").partition(" ")
    if scheme != "Bearer" or not token or " " in token:
        return "not a bearer token"
    try:
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except (jwt.PyJWTError, ValueError, TypeError):
        return "malformed token"
    if not isinstance(header, Mapping) or not isinstance(claims, Mapping):
        return "malformed token"
    if header.get("alg") != ALGORITHM:
        return "signing algorithm not allowed"
    if not isinstance(header.get("kid"), str) or not header["kid"]:
        return "no key id"
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or issuer not in ACCEPTED_ISSUERS:
        return "issuer not accepted"
    if not app_id or claims.get("aud") != app_id:
        return "audience is not this bot"
    now = time.time() if now is None else now
    exp, nbf, iat = claims.get("exp"), claims.get("nbf"), claims.get("iat")
    if not _number(exp) or exp <= now - CLOCK_SKEW:
        return "expired or no expiry"
    if nbf is not None and (not _number(nbf) or nbf > now + CLOCK_SKEW):
        return "not valid yet"
    if iat is not None and (not _number(iat) or iat > now + CLOCK_SKEW):
        return "issued in the future"
    if SkillValidation.is_skill_claim(dict(claims)):
        return "skill tokens are not accepted"
    if issuer == AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER:
        if service_url is not None and claims.get("serviceurl") != service_url:
            return "serviceurl claim does not match the activity"
        return None
    # an Azure AD token (the SDK's Emulator path): the app id is in appid (ver "1.0" or empty) or azp ("2.0")
    version = claims.get("ver")
    if version is None:
        return "no ver claim"
    holder = "appid" if not version or version == "1.0" else "azp" if version == "2.0" else None
    if holder is None or claims.get(holder) != app_id:
        return "app id claim is not this bot"
    return None


# -- signing keys -------------------------------------------------------------------------------


def _download(url: str, timeout: float) -> list[dict]:
    """The signing keys (JWKs) published through the OpenID metadata document at ``url`` (blocking).

    Raises:
        requests.RequestException: network error, timeout (``timeout`` seconds per step) or HTTP error.
        ValueError: the metadata or key set is not what OpenID Connect describes.
    """
    import requests

    meta = requests.get(url, timeout=timeout)
    meta.raise_for_status()
    doc = meta.json()
    jwks_uri = doc.get("jwks_uri") if isinstance(doc, dict) else None
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith("https://"):
        raise ValueError("OpenID metadata without an https jwks_uri")
    resp = requests.get(jwks_uri, timeout=timeout)
    resp.raise_for_status()
    doc = resp.json()
    keys = doc.get("keys") if isinstance(doc, dict) else None
    if not isinstance(keys, list) or not all(isinstance(k, dict) for k in keys):
        raise ValueError("key set without a list of keys")
    return keys


class _Fetch:
    """One key download on a daemon thread (a hung endpoint never holds up shutdown); ``future``
    (a ``concurrent.futures.Future``) gets the keys or the exception."""

    def __init__(self, url: str):
        self.future: concurrent.futures.Future = concurrent.futures.Future()
        self.future.set_running_or_notify_cancel()  # not cancellable: several requests may wait on it
        threading.Thread(target=self._run, args=(url,), name="teams-openid-keys", daemon=True).start()

    def _run(self, url: str) -> None:
        try:
            self.future.set_result(_download(url, FETCH_TIMEOUT))
        except BaseException as exc:  # handed to the waiting requests
            self.future.set_exception(exc)


class GuardedOpenIdMetadata(_OpenIdMetadata):
    """The SDK's ``_OpenIdMetadata`` for one metadata URL (same ``get``, same refresh rules: keys older
    than a day, or an unknown ``kid`` at most once an hour) whose ``_refresh`` never blocks the event loop.

    The download runs on a daemon thread; concurrent callers share it and each waits at most
    ``FETCH_TIMEOUT`` seconds. A failure is remembered for ``NEGATIVE_TTL`` seconds. While keys from an
    earlier fetch are held, a failed refresh keeps them (stale keys beat refusing every request).

    Args:
        url: the OpenID metadata document's URL.
        keys, last_updated: keys already fetched (JWK dicts) and when (naive local ``datetime``).

    Attributes (besides the SDK's ``url``, ``keys``, ``last_updated``):
        failed_at: ``time.monotonic()`` of the last failed fetch, or None.
    """

    def __init__(self, url: str, keys: list | None = None, last_updated: datetime | None = None):
        super().__init__(url)
        self.keys = list(keys or [])
        self.last_updated = last_updated or datetime.min
        self.failed_at: float | None = None
        self._lock = threading.Lock()
        self._fetch: _Fetch | None = None

    async def _refresh(self) -> None:
        """Fetch the keys (see the class docstring).

        Raises:
            KeysUnavailable: no keys are held and the fetch failed, timed out, or failed less than
                ``NEGATIVE_TTL`` seconds ago.
        """
        with self._lock:
            if self.failed_at is not None and time.monotonic() - self.failed_at < NEGATIVE_TTL:
                if self.keys:
                    return
                raise KeysUnavailable("token signing keys unavailable (recent failure)")
            if self._fetch is None or self._fetch.future.done():
                self._fetch = _Fetch(self.url)
            fetch = self._fetch
        try:
            keys = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(fetch.future)), FETCH_TIMEOUT)
        except Exception as exc:  # network, timeout, bad document: logged with its traceback
            with self._lock:
                self.failed_at = time.monotonic()
            log.error("Teams: cannot fetch the token signing keys (%s)", type(exc).__name__, exc_info=True)
            if self.keys:
                return
            raise KeysUnavailable("token signing keys unavailable") from exc
        with self._lock:
            self.keys, self.last_updated, self.failed_at = keys, datetime.now(), None

    def _find(self, key_id: str):
        """The SDK's ``_find``, except that an unknown ``kid`` gives None (the SDK then refuses the
        token) rather than an ``IndexError``."""
        if not any(k.get("kid") == key_id for k in self.keys):
            return None
        return super()._find(key_id)


class GuardedMetadataCache(dict):
    """``JwtTokenExtractor.metadataCache`` (metadata URL -> metadata object) whose ``get`` creates a
    ``GuardedOpenIdMetadata`` for a URL it has not seen, so the SDK never creates its own."""

    def get(self, url, default=None):
        """The ``GuardedOpenIdMetadata`` for ``url`` (created on first use); ``default`` is ignored."""
        with _CACHE_LOCK:
            found = dict.get(self, url)
            if not isinstance(found, GuardedOpenIdMetadata):
                found = GuardedOpenIdMetadata(url, getattr(found, "keys", None), getattr(found, "last_updated", None))
                self[url] = found
            return found


_CACHE_LOCK = threading.RLock()


def install() -> GuardedMetadataCache:
    """Make the SDK use ``GuardedOpenIdMetadata`` for every metadata URL (idempotent, process-wide:
    the SDK's cache is a class attribute). Keys the SDK already fetched are kept. Returns the cache."""
    with _CACHE_LOCK:
        cache = JwtTokenExtractor.metadataCache
        if not isinstance(cache, GuardedMetadataCache):
            new = GuardedMetadataCache()
            for url in list(cache):
                new[url] = cache[url]
                new.get(url)  # replaced by a guarded object holding the same keys
            JwtTokenExtractor.metadataCache = cache = new
        return cache


def reset_key_cache() -> None:
    """Forget every fetched key set and remembered failure (the next token fetches again)."""
    with _CACHE_LOCK:
        JwtTokenExtractor.metadataCache.clear()
