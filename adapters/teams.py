"""Microsoft Teams channel: the Bot Framework (``botbuilder`` ``CloudAdapter``) at ``POST /api/messages``.

Inbound: personal-chat messages (files: ``adapters.teams_files``), @mentions in channels and group
chats (mention stripped, ``clean_text``) and Adaptive Card presses (``Action.Submit`` message with a
``value``, ``Action.Execute`` invoke) become ``bot.messages.Inbound``s; ``user_id`` is the directory id
(``Directory.by_teams_id`` of the AAD object id or ``29:`` id), else ``"teams:<29:…>"``.

Outbound: every ``Outbound`` is an Adaptive Card (``adapters.teams_cards``). Replies go to the
conversation (a channel's thread); what is for the user alone goes to their personal chat, never a
channel (``bot.views.route``); messages for someone else go proactively through ``ctx.deliver`` ->
``TeamsChannel.deliver``, with conversation references in ``<data dir>/teams.db`` (``ContactStore``,
no message content). A personal chat not known yet is created (``POST /v3/conversations``).

Authentication: with ``MicrosoftAppId`` set, the SDK checks the Bot Framework JWT; tokens that can never
be valid get 401 first without the network, and the signing-key fetch never blocks the event loop
(``adapters.teams_auth``). Without an app id (Bot Framework Emulator) requests are unauthenticated,
allowed only on a loopback address (else ``ConfigError``). ``POLICYBOT_TEAMS=off`` turns Teams off.
Bad input gets a 4xx, never a 5xx (``handle_http``); redelivered activities and replayed card submits
(``SUBMIT_REPLAY_WINDOW``) have no second effect.

Configuration (the SDK's names): ``MicrosoftAppId``, ``MicrosoftAppPassword``, ``MicrosoftAppTenantId``,
``MicrosoftAppType`` (``MultiTenant`` (default), ``SingleTenant``, ``UserAssignedMSI``). Logs carry
activity ids and types, never text.
"""

from __future__ import annotations

import asyncio
import hashlib
import html
import json
import logging
import os
import re
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

from aiohttp import web

from adapters import ENV_APP_ID
from adapters.payloads import BadPayload, parse_json_object
from adapters.server import ConfigError, EventDeduper, ServerContext, is_loopback_host
from adapters.teams_cards import parse_submit, render_cards
from bot.identities import directory_id, platform_id
from bot.messages import Inbound, Outbound
from bot.startup import when_ready
from bot.views import route, thanks_text

log = logging.getLogger("policybot.teams")

MESSAGES_PATH = "/api/messages"
DB_NAME = "teams.db"

ENV_APP_PASSWORD = "MicrosoftAppPassword"
ENV_TENANT_ID = "MicrosoftAppTenantId"
ENV_APP_TYPE = "MicrosoftAppType"
ENV_SWITCH = "POLICYBOT_TEAMS"  #: "off" turns Teams off

APP_TYPES = {"multitenant": "MultiTenant", "singletenant": "SingleTenant", "userassignedmsi": "UserAssignedMSI"}

SUBMIT_REPLAY_WINDOW = 300.0  #: seconds within which a replayed card submit has no second effect
CARD_ACTION_INVOKE = "adaptiveCard/action"  #: the invoke Teams sends for an ``Action.Execute`` press
ERROR_TEXT = "Sorry, something went wrong on my side. Please try again."
NO_PRIVATE_CHAT_TEXT = (
    "I couldn't open a private chat with you. Please open Policybot from the Apps menu "
    "(or message it directly) and try again there."
)
WELCOME_TEXT = (
    "Hello, I'm Policybot. Ask me about the social media policies, for example: can I accept a "
    "colleague's friend request? I answer with the policies' own words and say where each quote comes from.\n"
    "To report a concern in confidence, type report here: it goes privately to the person who handles it."
)
PROACTIVE_SUMMARY = "Policybot sent you a private message"

_BEARER = re.compile(r"^Bearer [A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]*$")
_AT_TAG = re.compile(r"<at\b[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TeamsSettings:
    """The Bot Framework credentials: ``app_id`` ("" in Emulator mode: no authentication), ``app_password``
    (client secret; "" for ``UserAssignedMSI`` and in Emulator mode), ``tenant_id`` (``SingleTenant`` and
    ``UserAssignedMSI``), ``app_type`` (``"MultiTenant"``, ``"SingleTenant"`` or ``"UserAssignedMSI"``)."""

    app_id: str = ""
    app_password: str = ""
    tenant_id: str = ""
    app_type: str = "MultiTenant"

    @property
    def emulator(self) -> bool:
        """True without an app id: inbound requests are not authenticated (loopback only)."""
        return not self.app_id


def teams_settings(env: Mapping[str, str], host: str | None) -> TeamsSettings | None:
    """Read Teams' configuration from ``env`` for a server bound to ``host``.

    Returns None when ``POLICYBOT_TEAMS=off``; ``TeamsSettings`` with an empty ``app_id`` (Emulator
    mode) when no app id is set and ``host`` is a loopback address.

    Raises:
        ConfigError: no app id on a non-loopback address; an app id without its password (or, for
            ``SingleTenant``/``UserAssignedMSI``, its tenant id); a password or tenant id without an
            app id; an unknown ``MicrosoftAppType``.
    """

    def get(name: str) -> str:
        return (env.get(name) or "").strip()

    if get(ENV_SWITCH).lower() in ("off", "0", "false", "no", "disabled"):
        return None
    app_id, password, tenant = get(ENV_APP_ID), get(ENV_APP_PASSWORD), get(ENV_TENANT_ID)
    raw_type = get(ENV_APP_TYPE)
    # Unset type: SingleTenant when a tenant id is given (what Azure creates for new bots), else MultiTenant.
    app_type = APP_TYPES.get(raw_type.lower() or ("singletenant" if tenant and app_id else "multitenant"))
    if app_type is None:
        raise ConfigError(f"{ENV_APP_TYPE} must be MultiTenant, SingleTenant or UserAssignedMSI, not {raw_type!r}")
    if not app_id:
        given = [n for n, v in ((ENV_APP_PASSWORD, password), (ENV_TENANT_ID, tenant)) if v]
        if raw_type and app_type != "MultiTenant":
            given.append(f"{ENV_APP_TYPE}={app_type}")
        if given:
            raise ConfigError(f"Teams is half-configured: {' and '.join(given)} set but {ENV_APP_ID} is not")
        if not is_loopback_host(host):
            raise ConfigError(
                f"Teams: {ENV_APP_ID} is not set, so {MESSAGES_PATH} would accept unauthenticated requests; that "
                f"is allowed only on a loopback address (--host 127.0.0.1), not on {host or 'every interface'}. "
                f"Set {ENV_APP_ID} and {ENV_APP_PASSWORD}, or set {ENV_SWITCH}=off to run without Teams"
            )
        return TeamsSettings(app_type="MultiTenant")
    missing = []
    if app_type != "UserAssignedMSI" and not password:
        missing.append(ENV_APP_PASSWORD)
    if app_type != "MultiTenant" and not tenant:
        missing.append(ENV_TENANT_ID)
    if missing:
        raise ConfigError(f"Teams is half-configured ({app_type}): set {' and '.join(missing)}")
    return TeamsSettings(app_id, password if app_type != "UserAssignedMSI" else "", tenant, app_type)


def check_config(server_settings) -> None:
    """Validate Teams' configuration for ``policybot serve``; raises ``ConfigError`` (see ``teams_settings``)."""
    teams_settings(server_settings.env, server_settings.host)


# -- conversation references --------------------------------------------------------------------


@dataclass
class Contact:
    """How to reach one person on Teams (no message content): ``user_id`` (directory id or ``"teams:<29:…>"``),
    ``teams_user_id`` (``29:…``), ``aad_object_id`` (when sent), where their traffic comes from (``tenant_id``,
    ``service_url``, ``channel_id``), the bot's account there (``bot_id`` ``28:<app id>``, ``bot_name``),
    ``personal`` (their personal chat's serialized ``ConversationReference``, if known), ``authenticated``
    (learnt from an authenticated request; only those are used with an app id), ``updated_at`` (ISO time)."""

    user_id: str
    teams_user_id: str = ""
    aad_object_id: str = ""
    tenant_id: str = ""
    service_url: str = ""
    channel_id: str = "msteams"
    bot_id: str = ""
    bot_name: str = ""
    personal: str = ""
    authenticated: bool = False
    updated_at: str = ""

    def same_as(self, other: Contact | None) -> bool:
        """True when nothing but ``updated_at`` differs."""
        return other is not None and replace(self, updated_at="") == replace(other, updated_at="")


class ContactStore:
    """``Contact``s by directory user id in SQLite at ``path`` (``<data dir>/teams.db``; None: memory only),
    cached in memory. Schema: ``MIGRATIONS`` (``index.migrations.apply_migrations``; ``001_contacts`` creates
    the table only when missing, so a file from before migrations opens as it is).

    Raises:
        sqlite3.DatabaseError: the file is not a database.
    """

    @staticmethod
    def _m001_contacts(db) -> None:
        db["contacts"].create(
            {f: (int if f == "authenticated" else str) for f in Contact.__dataclass_fields__},
            pk="user_id",
            if_not_exists=True,
        )

    MIGRATIONS = (("001_contacts", _m001_contacts),)

    def __init__(self, path: Path | None):
        import sqlite_utils

        from index.migrations import apply_migrations

        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                os.close(os.open(str(path), os.O_WRONLY | os.O_CREAT, 0o600))
        self._conn = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db = sqlite_utils.Database(self._conn)
        self._lock = threading.Lock()
        with self._lock:
            apply_migrations(self._db, self.MIGRATIONS)
            self._cache: dict[str, Contact] = {
                row["user_id"]: Contact(**dict(row, authenticated=bool(row["authenticated"])))
                for row in self._db["contacts"].rows
            }

    def get(self, user_id: str) -> Contact | None:
        """The contact for ``user_id``, or None."""
        return self._cache.get(user_id)

    def latest(self, authenticated_only: bool = False) -> Contact | None:
        """The most recently updated contact (for the service URL, tenant and bot id), or None."""
        pool = [c for c in self._cache.values() if c.service_url and (c.authenticated or not authenticated_only)]
        return max(pool, key=lambda c: c.updated_at) if pool else None

    def put(self, contact: Contact) -> None:
        """Insert or replace ``contact`` (blocking: call it off the event loop)."""
        with self._lock:
            self._db["contacts"].upsert(dict(asdict(contact), authenticated=int(contact.authenticated)), pk="user_id")
            self._cache[contact.user_id] = contact

    def __len__(self) -> int:
        return len(self._cache)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._conn.close()


def _reference_json(activity) -> str:
    """The serialized ``ConversationReference`` of ``activity``'s conversation, without the activity id
    (proactive messages start a new message rather than reply to an old one)."""
    from botbuilder.core import TurnContext

    ref = TurnContext.get_conversation_reference(activity)
    ref.activity_id = None
    return json.dumps(ref.serialize(), sort_keys=True)


def _load_reference(text: str):
    from botbuilder.schema import ConversationReference

    return ConversationReference().deserialize(json.loads(text))


# -- the channel ----------------------------------------------------------------------------------


def _tenant_of(activity) -> str:
    data = activity.channel_data if isinstance(activity.channel_data, dict) else {}
    tenant = (data.get("tenant") or {}).get("id") if isinstance(data.get("tenant"), dict) else None
    conv = activity.conversation
    return tenant or (getattr(conv, "tenant_id", None) if conv else None) or ""


def _is_personal(activity) -> bool:
    """A personal (1:1) chat: Teams' ``conversationType == "personal"``; the Emulator sends none."""
    conv = activity.conversation
    ctype = (getattr(conv, "conversation_type", None) or "") if conv else ""
    return ctype in ("", "personal") and not getattr(conv, "is_group", False)


def clean_text(activity) -> str:
    """The message text with the bot's own @mention removed, other mentions shown as names, and HTML
    entities (``&nbsp;``, ``&amp;``...) decoded.

    Only the mention tag itself is removed (the ``text`` of each ``mention`` entity naming the bot,
    then any ``<at>`` tag carrying the bot's name); the bot's name elsewhere in the question is kept.
    ``activity`` is not modified. Returns ``""`` for an activity without text.
    """
    text = activity.text or ""
    bot_id = getattr(activity.recipient, "id", None)
    for entity in activity.entities or []:
        props = (
            entity
            if isinstance(entity, dict)
            else dict(getattr(entity, "additional_properties", None) or {}, type=getattr(entity, "type", None))
        )
        mentioned = props.get("mentioned")
        tag = props.get("text")
        if (
            str(props.get("type") or "").lower() == "mention"
            and bot_id
            and isinstance(mentioned, dict)
            and mentioned.get("id") == bot_id
            and isinstance(tag, str)
            and tag.strip()
        ):
            text = text.replace(tag, " ")
    bot_name = html.unescape(getattr(activity.recipient, "name", None) or "").strip().lower()

    def mention(m: re.Match) -> str:
        name = m.group(1).strip()
        return "" if not name or html.unescape(name).lower() == bot_name else name

    text = _AT_TAG.sub(mention, text)
    return " ".join(html.unescape(text).replace("\xa0", " ").split())


def service_url_refusal(url, emulator: bool) -> str | None:
    """Why the bot must not POST replies to an activity's ``serviceUrl``, or None when it may.

    Args:
        url: the activity's ``serviceUrl`` as sent (any JSON value; None when absent).
        emulator: Emulator mode (no app id): only ``http``/``https`` URLs to a loopback host
            (``localhost``, ``127.0.0.0/8``, ``::1``) are allowed; otherwise only ``https`` URLs with a host.

    Returns:
        A short fixed reason, safe to log and to answer (never quotes the URL), or None. Pure: no DNS.
    """
    if not isinstance(url, str) or not url:
        return "no serviceUrl"
    if not url.isprintable() or any(ch.isspace() for ch in url):
        return "serviceUrl is not a URL"
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port  # .port raises ValueError for a bad port
    except ValueError:
        return "serviceUrl is not a URL"
    if emulator:
        if parts.scheme not in ("http", "https") or not host or not is_loopback_host(host):
            return "serviceUrl must be an http(s) URL to a loopback host in Emulator mode"
    elif parts.scheme != "https" or not host:
        return "serviceUrl must be an https URL"
    return None


def _submit_key(activity, user: str, value) -> str | None:
    """The replay key of a card submit: SHA-256 of conversation, card activity (``replyToId``), person and
    data; None without a ``replyToId`` (only the activity id guards it then)."""
    if not getattr(activity, "reply_to_id", None):
        return None
    conv = (getattr(activity.conversation, "id", "") if activity.conversation else "") or ""
    data = json.dumps(value, sort_keys=True, ensure_ascii=True, default=str)
    parts = (conv, str(activity.reply_to_id), user, data)
    return "submit:" + hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def _invoke_response(status: int, kind: str, value):
    """An ``InvokeResponse`` with HTTP ``status`` and the Adaptive Card invoke body ``{"statusCode": status,
    "type": kind, "value": value}`` as an msrest model (``CloudAdapter.process`` refuses plain dicts, and
    the SDK's ``AdaptiveCardInvokeResponse`` only takes an object ``value``)."""
    from botbuilder.core import InvokeResponse
    from msrest.serialization import Model

    class CardInvokeResponse(Model):
        _attribute_map = {
            "status_code": {"key": "statusCode", "type": "int"},
            "type": {"key": "type", "type": "str"},
            "value": {"key": "value", "type": "object"},
        }

    body = CardInvokeResponse()
    body.status_code, body.type, body.value = status, kind, value
    return InvokeResponse(status=status, body=body)


def _error(status: int, reason: str) -> web.Response:
    """A JSON error answer ``{"error": reason}`` (``reason``: a fixed text, never request content)."""
    return web.json_response({"error": reason}, status=status)


def _activity(body: dict):
    """``body`` as a ``botbuilder.schema.Activity``, or None when it is not one (no ``type``, or fields
    of a shape the SDK cannot deserialize)."""
    from botbuilder.schema import Activity
    from msrest.exceptions import DeserializationError

    if not isinstance(body.get("type"), str) or not body["type"]:
        return None
    try:
        activity = Activity().deserialize(body)
    except (DeserializationError, ValueError, TypeError, AttributeError, KeyError, OverflowError):
        return None
    return activity if activity.type else None


def _err(exc: BaseException) -> str:
    """A content-free description of a Bot Connector error: type and HTTP status when there is one."""
    resp = getattr(exc, "response", None)
    status = getattr(resp, "status_code", None) or getattr(resp, "status", None)
    return f"{type(exc).__name__}{f' (HTTP {status})' if status else ''}"


class TeamsChannel:
    """The Teams channel of the server: a ``CloudAdapter`` and an ``ActivityHandler`` wired to the engine.

    Args:
        ctx: the server context (engine, directory, delivery, background work).
        settings: ``TeamsSettings``.
        store_path: where to keep conversation references (default ``<data dir>/teams.db``; None when
            the policybot has no data dir: memory only).
    """

    name = "teams"

    def __init__(self, ctx: ServerContext, settings: TeamsSettings, store_path: Path | None = None):
        from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

        self.ctx, self.settings = ctx, settings
        if store_path is None:
            data_dir = getattr(ctx.policybot, "data_dir", None)
            store_path = Path(data_dir) / DB_NAME if data_dir else None
        self.contacts = ContactStore(store_path)
        sdk_config = SimpleNamespace(
            APP_ID=settings.app_id or None,
            APP_PASSWORD=settings.app_password or None,
            APP_TENANTID=settings.tenant_id or None,
            APP_TYPE=settings.app_type,
        )
        self.adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(sdk_config))
        self.adapter.on_turn_error = self._on_turn_error
        self.bot = _bot_class()(self)
        self.dedupe = EventDeduper(ttl=600.0)
        self.submits = EventDeduper(ttl=SUBMIT_REPLAY_WINDOW)  #: card submits already handled
        if not settings.emulator:
            from adapters import teams_auth

            teams_auth.install()  # the SDK's signing-key fetch: off the event loop, with a timeout
        self._creating: dict[str, asyncio.Lock] = {}

    # -- HTTP ---------------------------------------------------------------------------------------

    async def handle_http(self, request: web.Request) -> web.Response:
        """``POST /api/messages``: check the request, then authenticate and run the turn (the SDK's
        ``CloudAdapter.process_activity``); replies are POSTed to the activity's ``serviceUrl``.

        Returns 401 when an app id is set and the JWT is missing, malformed, can never be valid
        (``teams_auth.token_refusal``) or fails the SDK's validation, and in Emulator mode for any
        token; 415 for a body that is not ``application/json`` or an unknown charset; 400 for a body that
        is not a JSON object, not an activity, or whose ``serviceUrl`` is refused
        (``service_url_refusal``); 503 when the token's signing keys cannot be fetched now; 201 (or an
        invoke response) otherwise. Bad input never gives a 5xx.
        """
        auth = request.headers.get("Authorization", "")
        if not self.settings.emulator and not _BEARER.match(auth):
            return _error(401, "unauthorized")
        if request.content_type != "application/json":
            return _error(415, "expected application/json")
        try:
            body = parse_json_object(await request.read(), request.charset)
        except BadPayload as exc:
            return _error(exc.status, exc.reason)
        activity = _activity(body)
        if activity is None:
            return _error(400, "not an activity")
        service_url = body.get("serviceUrl")
        if auth or not self.settings.emulator:
            from adapters.teams_auth import token_refusal

            reason = token_refusal(auth, self.settings.app_id, service_url if isinstance(service_url, str) else None)
            if reason:
                log.info("Teams request refused: %s (activity %r)", reason, activity.id)
                return _error(401, "unauthorized")
        reason = service_url_refusal(service_url, self.settings.emulator)
        if reason:
            log.info("Teams request refused: %s (activity %r)", reason, activity.id)
            return _error(400, reason)
        import requests
        from botbuilder.core import serializer_helper

        try:
            invoke = await self.adapter.process_activity(auth, activity, self.bot.on_turn)
        except PermissionError:  # the SDK's token validation refused
            log.info("Teams request refused: not authenticated (activity %r)", activity.id)
            return _error(401, "unauthorized")
        except (TimeoutError, requests.RequestException, OSError) as exc:  # incl. KeysUnavailable
            log.error("Teams request not authenticated: cannot fetch the token keys (%s)", type(exc).__name__)
            return _error(503, "cannot validate the token now")
        except Exception:  # turn errors go to _on_turn_error: what escapes is an invalid token
            log.info("Teams request refused: invalid token (activity %r)", activity.id, exc_info=True)
            return _error(401, "unauthorized")
        if invoke is None:
            return web.Response(status=201)
        return web.json_response(serializer_helper(invoke.body), status=invoke.status)

    async def start(self) -> None:
        """Log the mode (Emulator or authenticated) and how many people can be reached proactively."""
        mode = "Emulator mode, unauthenticated, loopback only" if self.settings.emulator else self.settings.app_type
        log.info("Teams: %s at %s (%d stored contacts)", mode, MESSAGES_PATH, len(self.contacts))

    async def stop(self) -> None:
        """Close the contact store."""
        await asyncio.to_thread(self.contacts.close)

    async def _on_turn_error(self, turn_context, error: BaseException) -> None:
        log.error(
            "Teams turn failed (activity %r): %s",
            getattr(turn_context.activity, "id", "-"),
            type(error).__name__,
            exc_info=error,
        )
        try:
            await self._send_here(turn_context, [Outbound(kind="error", text=ERROR_TEXT)])
        except Exception:  # the Bot Connector is unreachable or refuses: nothing more to tell anyone
            log.warning("Teams: could not send the error reply", exc_info=True)

    def _in_background(self, turn_context, work, name: str) -> None:
        """Run ``await work()`` for this turn in the background; a failure is handled as a turn error."""

        async def run() -> None:
            try:
                await work()
            except Exception as exc:  # logged with its traceback, the user told (_on_turn_error)
                await self._on_turn_error(turn_context, exc)

        self.ctx.spawn(run(), name)

    # -- identities ---------------------------------------------------------------------------------

    def user_id_for(self, account) -> str:
        """The directory id of a Teams account (by AAD object id, then ``29:`` id), else ``"teams:<id>"``."""
        teams_id = getattr(account, "id", "") or ""
        for key in (getattr(account, "aad_object_id", None), teams_id):
            if key and (found := directory_id(self.ctx.directory, "teams", key)) != f"teams:{key}":
                return found
        return f"teams:{teams_id}"

    def _teams_id_for(self, user_id: str) -> str | None:
        """The Teams id to open a personal chat with ``user_id``: stored, ``teams:`` suffix or directory."""
        contact = self.contacts.get(user_id)
        if contact is not None and contact.teams_user_id:
            return contact.teams_user_id
        return platform_id(self.ctx.directory, "teams", user_id)

    def _usable(self, contact: Contact | None) -> bool:
        """With an app id, only contacts learnt from authenticated requests are used (a contact stored
        in Emulator mode could name any service URL)."""
        return contact is not None and (self.settings.emulator or contact.authenticated)

    # -- remembering people -------------------------------------------------------------------------

    async def remember(self, activity, account=None) -> Contact | None:
        """Store how to reach ``account`` (default: the activity's sender) from this activity; for a
        personal chat, its conversation reference. Returns the stored contact (None for bots)."""
        account = account or activity.from_property
        if account is None or not account.id or getattr(account, "role", None) == "bot":
            return None
        if activity.recipient is not None and account.id == activity.recipient.id:
            return None
        user_id = self.user_id_for(account)
        old = self.contacts.get(user_id)
        personal = _reference_json(activity) if _is_personal(activity) and account is activity.from_property else ""
        new = Contact(
            user_id=user_id,
            teams_user_id=account.id,
            aad_object_id=getattr(account, "aad_object_id", None) or "",
            tenant_id=_tenant_of(activity) or (old.tenant_id if old else ""),
            service_url=activity.service_url or (old.service_url if old else ""),
            channel_id=activity.channel_id or "msteams",
            bot_id=getattr(activity.recipient, "id", "") or "",
            bot_name=getattr(activity.recipient, "name", "") or "",
            personal=personal or (old.personal if old and old.service_url == activity.service_url else ""),
            authenticated=not self.settings.emulator,
        )
        if new.same_as(old):
            return old
        new.updated_at = datetime.now(UTC).isoformat()
        await asyncio.to_thread(self.contacts.put, new)
        log.info("Teams: stored a conversation reference (%s)", "personal" if new.personal else "contact")
        if new.personal and not (old and old.personal) and self.ctx.outbox is not None:
            self.ctx.spawn(self._send_queued(user_id), "teams queued")
        return new

    async def _send_queued(self, user_id: str) -> None:
        """Deliver outbox messages that waited for this person to become reachable."""
        for msg in await self.ctx.run_blocking(self.ctx.outbox.pending, user_id):
            await self.ctx.deliver(msg)

    # -- turns ----------------------------------------------------------------------------------------

    async def on_message_turn(self, turn_context) -> None:
        """Acknowledge a message activity at once and answer it in the background (``on_message``): the
        Bot Framework redelivers what is not answered within 15 seconds, and the engine can queue. The
        turn's connector client stays usable after the response. ``expectReplies`` is answered inline."""
        if (turn_context.activity.delivery_mode or "") == "expectReplies":
            await self.on_message(turn_context)
        else:
            self._in_background(turn_context, lambda: self.on_message(turn_context), "teams turn")

    def _first_delivery(self, activity) -> bool:
        """False for an activity from a bot or one already handled (same conversation and activity id,
        within ten minutes: the Bot Framework redelivers unanswered requests); True otherwise."""
        sender = activity.from_property
        if sender is None or getattr(sender, "role", None) == "bot":
            return False
        if activity.id and not self.dedupe.first_time(f"{getattr(activity.conversation, 'id', '')}|{activity.id}"):
            log.info("duplicate activity %r ignored", activity.id)
            return False
        return True

    async def on_message(self, turn_context) -> None:
        """A message or a card submit: to the engine, replies back (see the module docstring)."""
        from adapters.teams_files import inbound_files

        activity = turn_context.activity
        if not self._first_delivery(activity):
            return
        await self.remember(activity)
        submit = parse_submit(activity.value) if activity.value is not None else None
        if submit is not None:
            return await self.on_submit(turn_context, submit, activity.value)
        user, personal = self.user_id_for(activity.from_property), _is_personal(activity)
        log.info("%s %r", "message" if personal else "mention", activity.id)
        files = await inbound_files(self.ctx, activity, user, personal, https_only=not self.settings.emulator)
        inbound = Inbound(
            user_id=user,
            text=clean_text(activity),
            private=personal,
            files=files,
            conversation_id=getattr(activity.conversation, "id", "") or "teams",
            source="message" if personal else "mention",
        )
        await self.run(turn_context, inbound, here_private=personal, here_ok=True)

    async def on_submit(self, turn_context, submit, value) -> None:
        """A card press (``submit = parse_submit(value)``, ``value`` the submitted dict): a feedback vote is
        recorded, anything else goes to the engine as the person's private input. A replay (same
        conversation, card, person and data, any activity id) within ``SUBMIT_REPLAY_WINDOW`` is ignored."""
        activity = turn_context.activity
        user = self.user_id_for(activity.from_property)
        key = _submit_key(activity, user, value)
        if key is not None and not self.submits.first_time(key):
            log.info("replayed card submit %r ignored", activity.id)
            return
        personal = _is_personal(activity)
        log.info("card submit %r (%r)", activity.id, submit.action.action_id if submit.action else submit.kind)
        if submit.kind == "feedback":
            vote = submit.vote
            if vote.question:
                await self.ctx.record_feedback(
                    helpful=vote.helpful, question=vote.question, clause_ids=list(vote.clause_ids), user_id=user
                )
            if personal:  # in a channel the vote is recorded silently: a reply there would show who voted
                await self._send_here(turn_context, [Outbound(kind="text", text=thanks_text(vote.helpful))])
            return
        # a press or a form sent from a channel continues privately: nobody there sees it
        conv_id = getattr(activity.conversation, "id", "") or "teams"
        if submit.kind == "text":
            inbound = Inbound(user_id=user, text=submit.text, conversation_id=conv_id, private=True, source="message")
        else:
            inbound = Inbound(
                user_id=user, conversation_id=conv_id, private=True, source="action", action=submit.action
            )
        await self.run(turn_context, inbound, here_private=personal, here_ok=personal)

    async def on_card_action(self, turn_context):
        """An ``adaptiveCard/action`` invoke (``Action.Execute``): answered at once, handled in the background
        like the ``Action.Submit`` of the same ``data`` (``on_submit``).

        Returns an ``InvokeResponse``: 200 with an ``application/vnd.microsoft.activity.message`` body (also
        for a redelivery or replay, without a second effect), or 400 with an ``application/vnd.microsoft.error``
        body when the value is not an ``Action.Execute`` whose data one of our cards carries.
        """
        activity = turn_context.activity
        value = activity.value if isinstance(activity.value, dict) else {}
        action = value.get("action") if isinstance(value.get("action"), dict) else {}
        data = action.get("data") if action.get("type") == "Action.Execute" else None
        submit = parse_submit(data)
        if submit is None:
            log.info("card action %r refused: not one of ours", activity.id)
            return _invoke_response(
                400,
                "application/vnd.microsoft.error",
                {"code": "BadRequest", "message": "not an action of this bot's cards"},
            )
        if self._first_delivery(activity):

            async def handle() -> None:
                await self.remember(activity)
                await self.on_submit(turn_context, submit, data)

            self._in_background(turn_context, handle, "teams card action")
        return _invoke_response(200, "application/vnd.microsoft.activity.message", "Received")

    async def run(self, turn_context, inbound: Inbound, here_private: bool, here_ok: bool) -> None:
        """Pass ``inbound`` to the engine (``bot.startup.when_ready``) and route its outbounds.

        Args:
            here_private: the conversation of ``turn_context`` is the user's personal chat.
            here_ok: replies may go to that conversation (False for a card pressed in a channel: the
                whole reply goes to the personal chat and nothing is posted in the channel).

        Outbox messages and messages for someone else go through ``ctx.deliver`` in the background; the
        rest as ``bot.views.route`` says (in a channel, an interactive reply goes to the personal chat
        whole, with its neutral pointer in the thread).
        """
        outs = await when_ready(self.ctx.ready, self.ctx.handle, inbound)
        routing = route(
            [o for o in outs if o.outbox_id is None], inbound.user_id, private=here_private, post_here=here_ok
        )
        for o in [o for o in outs if o.outbox_id is not None] + routing.others:  # the server marks outbox ones
            self.ctx.spawn(self.ctx.deliver(o), "teams deliver")
        public = [Outbound(kind="text", text=routing.pointer)] if routing.pointer else routing.here
        if public:
            await self._send_here(turn_context, public)
        if routing.private and not await self.send_private(inbound.user_id, routing.private, turn_context.activity):
            await self._send_here(turn_context, [Outbound(kind="text", text=NO_PRIVATE_CHAT_TEXT)])

    async def on_members_added(self, members, turn_context) -> None:
        """Installation or people joining: store how to reach each known person; welcome in a personal chat."""
        activity = turn_context.activity
        bot_id = getattr(activity.recipient, "id", None)
        for m in members:
            if m.id != bot_id:
                await self.remember(activity, m)
        if activity.from_property is not None:
            await self.remember(activity)
        if any(m.id == bot_id for m in members) and _is_personal(activity):
            await self._send_here(turn_context, [Outbound(kind="text", text=WELCOME_TEXT)])

    # -- sending --------------------------------------------------------------------------------------

    @staticmethod
    def activities(msg: Outbound, proactive: bool = False) -> list:
        """The Bot Framework message activities for ``msg`` (one Adaptive Card each)."""
        from botbuilder.core import CardFactory
        from botbuilder.schema import Activity, ActivityTypes

        return [
            Activity(
                type=ActivityTypes.message,
                attachments=[CardFactory.adaptive_card(card)],
                summary=PROACTIVE_SUMMARY if proactive else None,
            )
            for card in render_cards(msg)
        ]

    async def _send_here(self, turn_context, msgs: list[Outbound], proactive: bool = False) -> None:
        await turn_context.send_activities([a for msg in msgs for a in self.activities(msg, proactive)])

    async def send_private(self, user_id: str, msgs: list[Outbound], hint=None) -> bool:
        """Send ``msgs`` to ``user_id``'s personal chat (opening one if needed); False if not reachable.

        ``hint``: an activity from that user (its service URL and tenant are used to open the chat).
        """
        ref = await self.personal_reference(user_id, hint)
        if ref is None:
            return False
        failed: list[BaseException] = []

        async def callback(turn_context):
            # The SDK's continuation activity has a made-up id, which would turn each message into a
            # reply to it (POST .../activities/<id>); a proactive message is a new message instead.
            turn_context.activity.id = None
            try:
                await self._send_here(turn_context, msgs, proactive=True)
            except Exception as exc:  # e.g. 403: the person removed the app (the SDK would swallow it)
                failed.append(exc)

        try:
            await self.adapter.continue_conversation(ref, callback, self.settings.app_id or None)
        except Exception as exc:  # the connector's token or network errors, whatever their type
            failed.append(exc)
        if failed:
            log.warning("Teams: proactive message failed: %s", _err(failed[0]), exc_info=failed[0])
            return False
        return True

    async def personal_reference(self, user_id: str, hint=None):
        """The ``ConversationReference`` of ``user_id``'s personal chat with the bot: stored, or created
        (``POST /v3/conversations``) from their Teams id and a known service URL, tenant and bot id.
        None when the person cannot be reached."""
        teams_id = self._teams_id_for(user_id)
        async with self._creating.setdefault(user_id, asyncio.Lock()):
            contact = self.contacts.get(user_id)
            if self._usable(contact) and contact.personal:
                return _load_reference(contact.personal)
            return await self._create_personal(user_id, teams_id, contact, hint) if teams_id else None

    async def _create_personal(self, user_id: str, teams_id: str, contact: Contact | None, hint):
        from botbuilder.core import TurnContext
        from botbuilder.schema import ChannelAccount, ConversationParameters

        if hint is not None and hint.service_url:
            service_url, tenant, channel_id = hint.service_url, _tenant_of(hint), hint.channel_id or "msteams"
            bot = ChannelAccount(id=hint.recipient.id, name=hint.recipient.name) if hint.recipient else None
        else:
            source = (
                contact
                if self._usable(contact) and contact.service_url
                else self.contacts.latest(authenticated_only=not self.settings.emulator)
            )
            if source is None:
                return None
            service_url, tenant, channel_id = source.service_url, source.tenant_id, source.channel_id
            bot = ChannelAccount(id=source.bot_id, name=source.bot_name or None) if source.bot_id else None
        if not service_url or bot is None:
            return None
        params = ConversationParameters(
            is_group=False,
            bot=bot,
            members=[ChannelAccount(id=teams_id)],
            tenant_id=tenant or None,
            channel_data={"tenant": {"id": tenant}} if tenant else None,
        )
        made = []

        async def callback(turn_context):
            made.append(TurnContext.get_conversation_reference(turn_context.activity))

        try:
            await self.adapter.create_conversation(
                self.settings.app_id or None, callback, params, channel_id, service_url
            )
        except Exception as exc:  # the connector's token or network errors, whatever their type
            log.warning("Teams: could not open a personal chat: %s", _err(exc), exc_info=True)
            return None
        ref = made[0]  # the SDK always runs the callback
        ref.activity_id, ref.user = None, ChannelAccount(id=teams_id)
        ref.conversation.conversation_type = "personal"
        stored = Contact(
            user_id=user_id,
            teams_user_id=teams_id,
            aad_object_id=contact.aad_object_id if contact else "",
            tenant_id=tenant or "",
            service_url=service_url,
            channel_id=channel_id,
            bot_id=bot.id or "",
            bot_name=bot.name or "",
            personal=json.dumps(ref.serialize(), sort_keys=True),
            authenticated=not self.settings.emulator,
            updated_at=datetime.now(UTC).isoformat(),
        )
        await asyncio.to_thread(self.contacts.put, stored)
        log.info("Teams: opened a personal chat")
        return ref

    async def deliver(self, user_id: str, outbound: Outbound) -> bool:
        """Send ``outbound`` to directory user ``user_id``'s personal chat (proactively); False when they
        cannot be reached on Teams (never installed the app and no personal chat can be opened) or the
        Bot Connector refuses."""
        return await self.send_private(user_id, [outbound])


def _bot_class():
    from botbuilder.core import ActivityHandler, InvokeResponse

    class PolicyTeamsBot(ActivityHandler):
        """The ``ActivityHandler`` the adapter drives; everything is delegated to the ``TeamsChannel``."""

        def __init__(self, channel: TeamsChannel):
            super().__init__()
            self.channel = channel

        async def on_message_activity(self, turn_context):
            await self.channel.on_message_turn(turn_context)

        async def on_members_added_activity(self, members_added, turn_context):
            await self.channel.on_members_added(members_added, turn_context)

        async def on_installation_update_add(self, turn_context):
            await self.channel.remember(turn_context.activity)

        async def on_invoke_activity(self, turn_context):
            """Card actions go to the channel; the SDK's 501 for any other invoke (none is offered) is a
            400: bad input never gets a 5xx."""
            if turn_context.activity.name == CARD_ACTION_INVOKE:
                return await self.channel.on_card_action(turn_context)
            response = await super().on_invoke_activity(turn_context)
            return InvokeResponse(status=400) if getattr(response, "status", None) == 501 else response

    return PolicyTeamsBot


def attach(app: web.Application, ctx: ServerContext) -> TeamsChannel | None:
    """Attach Teams to the server: ``POST /api/messages``. Returns None when ``POLICYBOT_TEAMS=off``;
    without ``MicrosoftAppId`` (on a loopback address) Teams runs unauthenticated, in Emulator mode.

    Raises:
        ConfigError: half-set credentials, or no app id on a non-loopback address.
    """
    settings = teams_settings(ctx.settings.env, ctx.settings.host)
    if settings is None:
        return None
    channel = TeamsChannel(ctx, settings)
    app.router.add_post(MESSAGES_PATH, channel.handle_http)
    return channel
