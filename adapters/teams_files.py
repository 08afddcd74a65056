"""Files sent to the bot in Teams: attachments of a message turned into ``bot.messages.InboundFile``.

In a personal chat with an app whose manifest says ``"supportsFiles": true``, Teams sends each file
as an attachment of content type ``application/vnd.microsoft.teams.file.download.info`` with
``name`` and ``content.downloadUrl`` (a short-lived, pre-authenticated link: no token is sent). The
Bot Framework Emulator sends files as attachments with a ``contentUrl`` and their own MIME type.
Message formatting (``text/html``) and cards are not files and are skipped, as are attachments
without a name (images pasted into the message).

``inbound_files`` downloads them within the upload limit: URLs must be http(s), and https only
when the channel is authenticated (an app id is set); files from someone the engine would refuse
anyway (not HR, not a personal chat) are not downloaded at all.
"""

from __future__ import annotations

import logging

from adapters.uploads import download_file, refused_file, upload_limit
from bot.messages import InboundFile

log = logging.getLogger("policybot.teams")

FILE_DOWNLOAD_INFO = "application/vnd.microsoft.teams.file.download.info"
MAX_FILES = 10  #: attachments looked at in one message
_NOT_FILES = ("text/html", "application/vnd.microsoft.card.", "application/vnd.microsoft.teams.card.")


def _get(obj, key: str, attr: str | None = None):
    if isinstance(obj, dict):
        return obj.get(key)
    return getattr(obj, attr or key, None)


def file_attachments(activity) -> list[tuple[str, str | None, str | None]]:
    """``(name, url, content_type)`` for each file attached to ``activity`` (at most ``MAX_FILES``).

    ``url`` is ``content.downloadUrl`` for a Teams file, else ``contentUrl``; None when missing.
    """
    out = []
    for a in getattr(activity, "attachments", None) or []:
        ctype = str(_get(a, "contentType", "content_type") or "")
        name = _get(a, "name")
        if ctype.startswith(_NOT_FILES) or not name:
            continue
        if ctype == FILE_DOWNLOAD_INFO:
            content = _get(a, "content") or {}
            url = content.get("downloadUrl") if isinstance(content, dict) else None
            out.append((str(name), url, None))
        else:
            out.append((str(name), _get(a, "contentUrl", "content_url"), ctype or None))
    return out[:MAX_FILES]


async def inbound_files(ctx, activity, user_id: str, private: bool, https_only: bool) -> tuple[InboundFile, ...]:
    """The files of ``activity`` as ``InboundFile``s, downloaded when the engine would preview them.

    Args:
        ctx: the server context (its engine's ``accepts_files`` and the upload limit are used).
        activity: the Bot Framework message activity.
        user_id: the sender's directory id; private: a personal chat.
        https_only: refuse ``http://`` download URLs (True when an app id is set).

    Returns:
        () when the activity has no file attachments; never raises (a failed download becomes an
        ``InboundFile`` with ``problem`` set).
    """
    found = file_attachments(activity)
    if not found:
        return ()
    wanted = ctx.engine.accepts_files(user_id, private)
    limit = upload_limit(ctx)
    files = []
    for name, url, ctype in found:
        if not wanted:
            files.append(refused_file(name, "not_downloaded", content_type=ctype))
        else:
            files.append(await download_file(name, url, limit, content_type=ctype, https_only=https_only))
    log.info("message with %d file(s), %d downloaded", len(files), sum(1 for f in files if f.problem is None))
    return tuple(files)
