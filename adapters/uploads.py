"""Downloading files people send to the bot (a Slack file share, a Teams attachment), with a byte cap.

The chat adapters turn each file into a ``bot.messages.InboundFile`` for the engine:

* ``upload_limit(ctx)``: the largest upload accepted (``KbSettings.max_upload_bytes``), in bytes.
* ``check_url(url, https_only=...)``: refuse anything but an absolute http(s) URL (https only when
  asked) before a request is made.
* ``fetch_capped(url, max_bytes, headers=...)``: GET the file, refusing at once when the declared
  length is over the cap and stopping as soon as more than ``max_bytes`` bytes have arrived.
* ``refused_file`` / ``downloaded_file``: the ``InboundFile`` for a file that was not (or was) downloaded.

Nothing here logs a file's name, contents or URL (a download URL can carry a token); only sizes,
HTTP statuses and error types.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import aiohttp

from bot.messages import InboundFile

log = logging.getLogger("policybot.uploads")

DOWNLOAD_TIMEOUT = 60.0  #: seconds for one whole download
CHUNK = 64 * 1024


class DownloadError(Exception):
    """A file could not be downloaded.

    Attributes:
        code: ``"too_large"`` (declared or received size over the cap), ``"bad_url"`` (not an allowed
            URL; no request was made) or ``"failed"`` (network error, timeout, HTTP error status, or a
            web page where a file was expected).
    """

    def __init__(self, code: str, detail: str = ""):
        self.code = code
        super().__init__(f"{code}{': ' + detail if detail else ''}")


def upload_limit(ctx) -> int:
    """The upload limit in bytes: the server's policybot ``settings.max_upload_bytes``, else the
    default from the environment (``knowledge.loaders.max_upload_bytes``)."""
    limit = getattr(getattr(getattr(ctx, "policybot", None), "settings", None), "max_upload_bytes", None)
    if isinstance(limit, int) and limit > 0:
        return limit
    from knowledge.loaders import max_upload_bytes

    return max_upload_bytes()


def check_url(url: str | None, https_only: bool = True) -> str:
    """``url`` when it is an absolute ``https://`` URL (or ``http://`` unless ``https_only``) with a host.

    Raises:
        DownloadError: ``"bad_url"`` for anything else (``file:``, ``ftp:``, relative, no host, ...).
    """
    text = (url or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:
        raise DownloadError("bad_url", "unparseable") from None
    allowed = ("https",) if https_only else ("https", "http")
    if parts.scheme.lower() not in allowed or not parts.hostname:
        raise DownloadError("bad_url", f"scheme {parts.scheme or '-'}")
    return text


async def fetch_capped(
    url: str,
    max_bytes: int,
    headers: dict | None = None,
    timeout: float = DOWNLOAD_TIMEOUT,
    session: aiohttp.ClientSession | None = None,
    refuse_html: bool = False,
) -> bytes:
    """GET ``url`` and return its body, at most ``max_bytes`` bytes.

    Args:
        url: an already checked URL (``check_url``).
        max_bytes: the cap; a ``Content-Length`` over it is refused before the body is read, and the
            download stops once more than ``max_bytes`` bytes arrived.
        headers: request headers (e.g. ``Authorization``); aiohttp drops ``Authorization`` on a
            redirect to another host.
        timeout: seconds for the whole download.
        session: a session to use (default: a new one for this call).
        refuse_html: treat a ``text/html`` answer as a failure (a sign-in page instead of the file).

    Raises:
        DownloadError: ``"too_large"`` or ``"failed"``.
    """
    own = session is None
    session = session or aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout))
    try:
        async with session.get(
            url, headers=headers or {}, allow_redirects=True, timeout=aiohttp.ClientTimeout(total=timeout)
        ) as resp:
            if resp.status != 200:
                log.info("file download refused: HTTP %s", resp.status)
                raise DownloadError("failed", f"HTTP {resp.status}")
            if refuse_html and resp.content_type == "text/html":
                log.info("file download got a web page instead of the file")
                raise DownloadError("failed", "text/html")
            if resp.content_length is not None and resp.content_length > max_bytes:
                raise DownloadError("too_large", f"{resp.content_length} bytes declared")
            buf = bytearray()
            async for chunk in resp.content.iter_chunked(CHUNK):
                buf += chunk
                if len(buf) > max_bytes:
                    raise DownloadError("too_large", f"over {max_bytes} bytes")
            return bytes(buf)
    except DownloadError:
        raise
    except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
        log.info("file download failed: %s", type(exc).__name__)
        raise DownloadError("failed", type(exc).__name__) from None
    finally:
        if own:
            await session.close()


def refused_file(name: str, problem: str, size: int | None = None, content_type: str | None = None) -> InboundFile:
    """An ``InboundFile`` that was not downloaded, with ``problem`` (``"too_large"``,
    ``"download_failed"``, ``"not_downloaded"``)."""
    return InboundFile(name=name or "upload", data=b"", content_type=content_type, size=size, problem=problem)


async def download_file(
    name: str,
    url: str | None,
    max_bytes: int,
    size: int | None = None,
    content_type: str | None = None,
    headers: dict | None = None,
    https_only: bool = True,
    refuse_html: bool = False,
) -> InboundFile:
    """Download one file into an ``InboundFile``; never raises.

    A declared ``size`` over ``max_bytes`` is refused without a request; a bad URL, a failed download
    or one over the cap gives an ``InboundFile`` with ``problem`` set and no data.
    """
    if size is not None and size > max_bytes:
        return refused_file(name, "too_large", size, content_type)
    try:
        data = await fetch_capped(check_url(url, https_only), max_bytes, headers=headers, refuse_html=refuse_html)
    except DownloadError as exc:
        if exc.code == "too_large":
            return refused_file(name, "too_large", size, content_type)
        if exc.code == "bad_url":
            log.info("file not downloaded: not an allowed URL")
        return refused_file(name, "download_failed", size, content_type)
    return InboundFile(name=name or "upload", data=data, content_type=content_type, size=len(data))
