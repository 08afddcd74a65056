"""Web chat: a small, accessible page at ``/`` on ``policybot serve``, over the same engine as Slack and Teams.

Routes (all JSON APIs answer ``Cache-Control: no-store``):

* ``GET /``: the page (``adapters/webchat_static/index.html``); ``GET /chat/static/{app.js,style.css}``.
* ``GET /chat/api/me``: who the page is signed in as: ``{"user_id", "name", "anonymous", "mode",
  "can_switch", "people": [{"id", "name"}], "reporting"}``; 401 ``{"login": "secret" | "proxy"}`` when
  the page must sign in first.
* ``POST /chat/api/login`` ``{"secret"}`` (secret mode): a signed session cookie; 401 on a wrong
  secret, 429 after ``MAX_LOGIN_FAILURES`` failures from one address in ``LOGIN_WINDOW`` seconds.
* ``POST /chat/api/logout``: forget the session cookie.
* ``POST /chat/api/identity`` ``{"user_id"}`` (loopback demo only): "Sign in as" a directory person,
  or ``""`` for a new anonymous ``web:<random>`` id.
* ``POST /chat/api/start``: the greeting, queued private messages and an unfinished report's prompt.
* ``POST /chat/api/message`` ``{"text"}`` or ``{"action_id", "value"}``: ``{"messages": [...]}``, each
  ``render_outbound``'s JSON: ``kind``, ``text``, ``quotes`` (``text``, ``lead_in``, ``citation``,
  ``organisation``, ``document``, ``section``, ``also``), ``choices`` (``label``, ``action_id``,
  ``value``, ``style``), ``input_hint``, ``case_id``, ``feedback``.
* ``GET /chat/api/inbox``: private messages for this user that arrived since (the page polls it).
* ``POST /chat/api/feedback`` ``{"helpful", "question", "clause_ids"}``: a Helpful / Not helpful vote.

Who may use it (decided when the server starts, from the server's environment):

1. ``POLICYBOT_WEBCHAT_IDENTITY_HEADER`` (e.g. ``X-Forwarded-User``): a trusted reverse proxy
   authenticates people and sets that header; its value (a directory id or e-mail, else
   ``web:<value>``) is the user id. Requests without it get 401. Only safe when the server is
   reachable through that proxy alone.
2. ``POLICYBOT_WEBCHAT_SECRET`` (at least ``MIN_SECRET_CHARS`` characters): a shared access code;
   signing in gives an anonymous ``web:<random>`` id in an HMAC-signed cookie (HMAC-SHA256 keyed from
   the secret), valid ``SESSION_HOURS`` hours. A shared code says "staff", not who: such users can ask
   questions but the report flow (which needs a directory identity) tells them to contact HR.
3. Neither, and the server listens on a loopback address: open without sign-in, for the person at
   this computer (the ``make run`` demo). Each request must come from a loopback peer, carry no
   proxy forwarding header and name a local ``Host`` (against DNS rebinding). The page offers
   "Sign in as" any directory person, defaulting to an anonymous ``web:<random>`` id in a cookie.
4. Otherwise the web chat is off: ``attach`` returns None and logs why. ``POLICYBOT_WEBCHAT=off`` turns
   it off in every case.

The page is private to one person, so the report flow runs in it. State-changing requests must be
JSON (``Content-Type: application/json``) from the same origin (``Origin`` / ``Sec-Fetch-Site``);
cookies are ``HttpOnly; SameSite=Strict``. Logs carry routes and statuses only, never message text,
user ids or anything about a report.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from aiohttp import web

from adapters.server import ConfigError, ServerContext, is_loopback_host
from bot.messages import Action, Inbound, Outbound

log = logging.getLogger("policybot.webchat")

SECRET_ENV = "POLICYBOT_WEBCHAT_SECRET"
HEADER_ENV = "POLICYBOT_WEBCHAT_IDENTITY_HEADER"
SWITCH_ENV = "POLICYBOT_WEBCHAT"  #: "off" turns the web chat off
STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
STATIC_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css"}

COOKIE = "pb_webchat"
MIN_SECRET_CHARS = 16
SESSION_HOURS = 12  #: lifetime of a signed session cookie (secret mode)
LOOPBACK_SESSION_DAYS = 30  #: lifetime of the demo cookie (loopback mode; void after a restart anyway)
MAX_LOGIN_FAILURES = 10
LOGIN_WINDOW = 600.0  #: seconds over which login failures are counted per address
MAX_BODY = 64 * 1024  #: bytes in one API request body
MAX_ID_CHARS = 200  #: longest identity header value / user id accepted
LIVE_SECONDS = 600.0  #: a user who polled within this many seconds can receive non-outbox pushes
MAX_QUEUED = 100  #: most in-memory messages kept per user for the page to pick up
MAX_USERS_TRACKED = 10_000
FORWARD_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Real-IP")
_META_KEYS = ("case_id",)  #: Outbound.meta keys the page may see

PAGE_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}

GREETING = ("Ask me about the social media policies, for example: can I accept a colleague's friend request? "
            "I answer with quotes from the policies and say where each comes from.")
GREETING_REPORT = " To report a concern in confidence, type `report`."
GREETING_NO_REPORT = (" Confidential reports need your staff sign-in, which this page does not have: "
                      "please contact HR or your line manager directly to report a concern.")


# -- configuration -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebChatSettings:
    """How people sign in to the web chat.

    Attributes:
        mode: ``"header"`` (trusted proxy header), ``"secret"`` (shared access code) or ``"loopback"``.
        secret: the shared access code (secret mode).
        header: the identity header's name (header mode).
    """

    mode: str
    secret: str | None = None
    header: str | None = None


def webchat_settings(env: Mapping[str, str], host: str | None) -> tuple[WebChatSettings | None, str]:
    """Decide how the web chat runs for a server bound to ``host`` with environment ``env``.

    Returns:
        ``(settings, why)``: settings None when the web chat must stay off; ``why`` says what was chosen.

    Raises:
        ConfigError: ``POLICYBOT_WEBCHAT_SECRET`` shorter than ``MIN_SECRET_CHARS``, or an identity
            header name that is not a valid HTTP header name.
    """
    if (env.get(SWITCH_ENV) or "").strip().lower() in ("off", "0", "false", "no", "disabled"):
        return None, f"web chat is off: {SWITCH_ENV}=off"
    secret = (env.get(SECRET_ENV) or "").strip() or None
    header = (env.get(HEADER_ENV) or "").strip() or None
    if secret is not None and len(secret) < MIN_SECRET_CHARS:
        raise ConfigError(f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters "
                          f"(for example: python -c 'import secrets; print(secrets.token_urlsafe(24))')")
    if header is not None:
        if not all(c.isascii() and (c.isalnum() or c in "-_") for c in header) or len(header) > 100:
            raise ConfigError(f"{HEADER_ENV} must be an HTTP header name such as X-Forwarded-User, not {header!r}")
        why = f"web chat: people are identified by the {header} header set by a trusted reverse proxy"
        if secret:
            why += f" ({SECRET_ENV} is ignored while {HEADER_ENV} is set)"
        return WebChatSettings("header", header=header), why
    if secret is not None:
        return WebChatSettings("secret", secret=secret), "web chat: sign-in with the shared access code"
    if is_loopback_host(host):
        return WebChatSettings("loopback"), "web chat: open without sign-in on the loopback address"
    return None, (f"web chat is off: the server listens on {host or 'all addresses'}, not a loopback address, "
                  f"and neither {SECRET_ENV} nor {HEADER_ENV} is set")


def check_config(server_settings) -> None:
    """Validate the web chat's configuration for ``policybot serve``; raises ``ConfigError``."""
    webchat_settings(server_settings.env, server_settings.host)


def check_static() -> None:
    """Raise ``FileNotFoundError`` unless the page's files are installed (used by the image build)."""
    missing = [n for n in STATIC_FILES if not (STATIC_DIR / n).is_file()]
    if missing:
        raise FileNotFoundError(f"web chat files missing from {STATIC_DIR}: {', '.join(missing)}")


# -- signed cookies ----------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_session(key: bytes, user_id: str, expires: float) -> str:
    """A cookie value ``<payload>.<mac>``: base64url JSON ``{"u": user_id, "e": expires}`` and its
    HMAC-SHA256 under ``key``. ``expires`` is Unix seconds."""
    payload = _b64(json.dumps({"u": user_id, "e": int(expires)}, separators=(",", ":")).encode())
    mac = _b64(hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest())
    return f"{payload}.{mac}"


def verify_session(key: bytes, value: str | None, now: float | None = None) -> str | None:
    """The user id in a cookie ``sign_session`` made with ``key``; None when missing, forged or expired."""
    if not value or value.count(".") != 1 or len(value) > 1024:
        return None
    payload, mac = value.split(".")
    want = _b64(hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode("ascii", "replace"), want.encode("ascii")):
        return None
    try:
        data = json.loads(_unb64(payload))
        user, expires = str(data["u"]), float(data["e"])
    except (ValueError, KeyError, TypeError):
        return None
    if expires < (time.time() if now is None else now):
        return None
    return user


def new_anonymous_id() -> str:
    """A fresh anonymous user id, ``web:`` + 16 random base32 characters."""
    return "web:" + base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()


def _is_anonymous(user_id: str) -> bool:
    return user_id.startswith("web:")


# -- rendering -----------------------------------------------------------------------------------------


def render_outbound(msg: Outbound) -> dict:
    """The JSON the page renders for one ``Outbound``.

    Returns:
        ``{"kind", "text", "quotes": [{"text", "lead_in", "citation", "organisation", "document",
        "section", "also": [citation labels]}], "choices": [{"label", "action_id", "value", "style"}],
        "input_hint", "case_id", "feedback": {"question", "clause_ids"} | None}``. Quote text is the
        clause verbatim; ``lead_in`` is shortened as every adapter shows it (``display_lead_in``).
    """
    from bot.answer import display_lead_in

    quotes = [{
        "text": q.text,
        "lead_in": display_lead_in(q.lead_in),
        "citation": q.citation.label(),
        "organisation": q.citation.organisation,
        "document": q.citation.document,
        "section": q.citation.section,
        "clause_id": q.clause_id,
        "also": [c.label() for c in q.also],
    } for q in msg.quotes]
    feedback = None
    if msg.kind in ("answer", "no_answer") and msg.meta.get("question"):
        feedback = {"question": str(msg.meta["question"]), "clause_ids": [q.clause_id for q in msg.quotes]}
    out = {
        "kind": msg.kind,
        "text": msg.text or "",
        "quotes": quotes,
        "choices": [{"label": c.label, "action_id": c.action_id, "value": c.value, "style": c.style}
                    for c in msg.choices],
        "input_hint": msg.input_hint,
        "feedback": feedback,
    }
    for k in _META_KEYS:
        if msg.meta.get(k) is not None:
            out[k] = str(msg.meta[k])
    return out


def _same_origin(request: web.Request) -> bool:
    """Whether a state-changing request comes from the page itself.

    ``Sec-Fetch-Site`` (set by the browser, not by scripts) decides when present: only ``same-origin``
    passes. Otherwise an ``Origin`` header must name this server's ``Host`` (``Origin: null``, sent by
    sandboxed frames and local files, never passes). A request with neither comes from a client that is
    not a browser (curl, a script), which cannot carry a victim's cookies across sites; it passes.
    """
    fetch_site = request.headers.get("Sec-Fetch-Site")
    if fetch_site is not None:
        return fetch_site.strip().lower() == "same-origin"
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    scheme, sep, netloc = origin.strip().partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return False
    return netloc.rstrip("/").lower() == (request.host or "").lower()


# -- the channel ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Who a request is from: ``user_id`` (directory id or ``web:…``), display ``name``, and whether the
    page may switch identity (loopback demo)."""

    user_id: str
    name: str
    anonymous: bool
    can_switch: bool
    new_cookie: str | None = None  #: set this session cookie on the response


class _Refused(Exception):
    def __init__(self, status: int, body: dict):
        super().__init__(body.get("error", ""))
        self.status, self.body = status, body


class WebChatChannel:
    """The web chat attached to one server.

    Args:
        ctx: the server's ``ServerContext``.
        settings: ``WebChatSettings``.
        pages: the static files' bytes by name (default: read from ``STATIC_DIR``).
    """

    name = "webchat"

    def __init__(self, ctx: ServerContext, settings: WebChatSettings, pages: dict[str, bytes] | None = None):
        self.ctx = ctx
        self.settings = settings
        self.pages = pages or {n: (STATIC_DIR / n).read_bytes() for n in STATIC_FILES}
        if settings.mode == "secret":
            self._key = hmac.new(settings.secret.encode(), b"policybot-webchat-session-v1", hashlib.sha256).digest()
        else:
            self._key = secrets.token_bytes(32)  # the demo's cookies last as long as this process
        self._seen: OrderedDict[str, float] = OrderedDict()  # user id -> monotonic time of last request
        self._queues: dict[str, deque] = {}
        self._failures: dict[str, deque] = {}

    # -- Channel protocol ---------------------------------------------------------------------------

    async def deliver(self, user_id: str, outbound: Outbound) -> bool:
        """Queue ``outbound`` for ``user_id``'s page when they used the web chat in the last
        ``LIVE_SECONDS`` seconds and it is not an outbox message; returns whether it was queued.

        Outbox messages are never taken here: the page reads them from the outbox itself
        (``GET /chat/api/inbox``), so they are marked delivered only once shown.
        """
        if outbound.meta.get("outbox_id") is not None:
            return False
        seen = self._seen.get(user_id)
        if seen is None or time.monotonic() - seen > LIVE_SECONDS:
            return False
        self._queues.setdefault(user_id, deque(maxlen=MAX_QUEUED)).append(outbound)
        return True

    # -- identity -----------------------------------------------------------------------------------

    def _directory(self):
        return self.ctx.directory

    def _name(self, user_id: str) -> str:
        d = self._directory()
        p = d.get(user_id) if d is not None else None
        return p.name if p else ("Anonymous" if _is_anonymous(user_id) else user_id)

    def _cookie_secure(self, request: web.Request) -> bool:
        return request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"

    def _from_header(self, value: str) -> str:
        d = self._directory()
        if d is not None:
            if d.get(value) is not None:
                return value
            folded = value.casefold()
            for p in d.people():
                if p.email and p.email.casefold() == folded:
                    return p.user_id
        return "web:" + value

    def _check_loopback(self, request: web.Request) -> None:
        if not is_loopback_host(request.remote):
            raise _Refused(403, {"error": "The web chat is open only to this computer."})
        if any(h in request.headers for h in FORWARD_HEADERS):
            raise _Refused(403, {"error": "The web chat without sign-in does not work through a proxy: set "
                                          f"{SECRET_ENV} or {HEADER_ENV}."})
        host = (request.host or "").strip()
        name = host[1:].split("]")[0] if host.startswith("[") else host.rsplit(":", 1)[0] if ":" in host else host
        if not is_loopback_host(name):
            raise _Refused(403, {"error": "Open the web chat as http://127.0.0.1 or http://localhost."})

    def identify(self, request: web.Request, create: bool = False) -> Identity:
        """Who ``request`` is from.

        Args:
            create: in loopback mode, mint an anonymous id (and its cookie) when there is none.

        Raises:
            _Refused: 401 when sign-in is needed, 403 when the request is not allowed at all.
        """
        mode = self.settings.mode
        if mode == "header":
            raw = (request.headers.get(self.settings.header) or "").strip()
            if not raw or len(raw) > MAX_ID_CHARS or any(c.isspace() or ord(c) < 32 for c in raw):
                raise _Refused(401, {"login": "proxy", "error": "Please sign in through your organisation's portal."})
            user = self._from_header(raw)
            anonymous = _is_anonymous(user)  # signed in by the proxy, but not a directory person
            return Identity(user, raw if anonymous else self._name(user), anonymous, False)
        if mode == "loopback":
            self._check_loopback(request)
        user = verify_session(self._key, request.cookies.get(COOKIE))
        if user is not None and mode == "loopback" and not _is_anonymous(user):
            d = self._directory()
            if d is None or d.get(user) is None:
                user = None  # the directory changed since
        if user is None:
            if mode == "secret":
                raise _Refused(401, {"login": "secret", "error": "Please sign in with the access code."})
            if not create:
                raise _Refused(401, {"login": "loopback", "error": "Please reload the page."})
            user = new_anonymous_id()
            cookie = sign_session(self._key, user, time.time() + LOOPBACK_SESSION_DAYS * 86400)
            return Identity(user, self._name(user), True, True, new_cookie=cookie)
        return Identity(user, self._name(user), _is_anonymous(user), mode == "loopback")

    def _set_cookie(self, request: web.Request, response: web.StreamResponse, value: str, max_age: int) -> None:
        response.set_cookie(COOKIE, value, max_age=max_age, path="/", httponly=True, samesite="Strict",
                            secure=self._cookie_secure(request))

    def _touch(self, user_id: str) -> None:
        self._seen[user_id] = time.monotonic()
        self._seen.move_to_end(user_id)
        while len(self._seen) > MAX_USERS_TRACKED:
            old, _ = self._seen.popitem(last=False)
            self._queues.pop(old, None)

    # -- request plumbing ---------------------------------------------------------------------------

    @staticmethod
    def _json(body: dict, status: int = 200) -> web.Response:
        return web.json_response(body, status=status, headers=API_HEADERS)

    async def _body(self, request: web.Request) -> dict:
        """The JSON object of a state-changing request, after the same-origin checks."""
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if ctype != "application/json":
            raise _Refused(415, {"error": "Send JSON (Content-Type: application/json)."})
        if not _same_origin(request):
            raise _Refused(403, {"error": "Cross-site request refused."})
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise _Refused(413, {"error": "That request is too large."})
        raw = bytearray()
        while len(raw) <= MAX_BODY:  # read() returns what has arrived so far, not the whole body
            chunk = await request.content.read(MAX_BODY + 1 - len(raw))
            if not chunk:
                break
            raw += chunk
        if len(raw) > MAX_BODY:
            raise _Refused(413, {"error": "That request is too large."})
        raw = bytes(raw)
        try:
            data = json.loads(raw.decode("utf-8")) if raw else {}
        except (UnicodeDecodeError, ValueError):
            raise _Refused(400, {"error": "That request is not valid JSON."}) from None
        if not isinstance(data, dict):
            raise _Refused(400, {"error": "Send a JSON object."})
        try:  # JSON may spell lone surrogates (\ud800), which no store or encoder downstream accepts
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise _Refused(400, {"error": "That request contains characters that are not valid text."}) from None
        return data

    def _api(self, func, create: bool = False, needs_identity: bool = True):
        async def handler(request: web.Request) -> web.Response:
            try:
                ident = self.identify(request, create=create) if needs_identity else None
                if ident is not None:
                    self._touch(ident.user_id)
                response = await func(request, ident)
            except _Refused as refused:
                response = self._json(refused.body, refused.status)
                if refused.status == 401 and COOKIE in request.cookies:
                    response.del_cookie(COOKIE, path="/")
                return response
            if ident is not None and ident.new_cookie:
                self._set_cookie(request, response, ident.new_cookie, LOOPBACK_SESSION_DAYS * 86400)
            return response

        return handler

    async def _converse(self, ident: Identity, inbound: Inbound) -> list[dict]:
        outs = await self.ctx.handle(inbound)
        shown: list[dict] = []
        for ob in outs:
            if ob.to_user and ob.to_user != ident.user_id:
                if ob.meta.get("outbox_id") is None:
                    await self.ctx.deliver(ob)  # outbox messages go out through the server's outbox pump
                continue
            if ob.to_user and ob.meta.get("outbox_id") is not None:
                await self.ctx.mark_delivered(ob.meta["outbox_id"])
            shown.append(render_outbound(ob))
        return shown + await self._inbox(ident.user_id)

    async def _inbox(self, user_id: str) -> list[dict]:
        """Messages for ``user_id`` queued in memory or in the outbox (the latter marked delivered)."""
        queued = self._queues.pop(user_id, None) or ()
        out = [render_outbound(m) for m in queued]
        take = getattr(self.ctx.engine, "take_pending", None)
        if callable(take) and self.ctx.reporting is not None and not _is_anonymous(user_id):
            try:  # the outbox is thread-safe: read it off the engine thread so polls never queue behind answers
                pending = await asyncio.to_thread(take, user_id)
            except Exception as exc:
                log.error("web chat could not read the outbox: %s", type(exc).__name__)
                pending = []
            out += [render_outbound(m) for m in pending]
        return out

    # -- routes -------------------------------------------------------------------------------------

    def _static(self, name: str):
        ctype = STATIC_FILES[name]
        headers = dict(PAGE_HEADERS) if name == "index.html" else {"X-Content-Type-Options": "nosniff",
                                                                    "Cache-Control": "no-cache"}

        async def handler(request: web.Request) -> web.Response:
            if self.settings.mode == "loopback":
                try:
                    self._check_loopback(request)
                except _Refused as refused:
                    return web.Response(status=403, text=refused.body["error"] + "\n", headers=PAGE_HEADERS)
            return web.Response(body=self.pages[name], content_type=ctype, charset="utf-8", headers=headers)

        return handler

    async def api_me(self, request: web.Request, ident: Identity) -> web.Response:
        """``GET /chat/api/me``."""
        people = []
        d = self._directory()
        if ident.can_switch and d is not None:
            people = [{"id": p.user_id, "name": p.name} for p in d.people()]
        return self._json({"user_id": ident.user_id, "name": ident.name, "anonymous": ident.anonymous,
                           "mode": self.settings.mode, "can_switch": ident.can_switch, "people": people,
                           "reporting": self.ctx.reporting is not None})

    async def api_login(self, request: web.Request, _ident) -> web.Response:
        """``POST /chat/api/login`` (secret mode)."""
        if self.settings.mode != "secret":
            raise _Refused(404, {"error": "There is no access code to sign in with here."})
        data = await self._body(request)
        # from here to the end no await: concurrent attempts cannot all pass the check before one counts
        addr = request.remote or "?"
        now = time.monotonic()
        fails = self._recent_failures(addr, now)
        if len(fails) >= MAX_LOGIN_FAILURES:
            log.warning("web chat sign-in refused: too many failures from one address",
                        extra={"event": "webchat_login_throttled"})
            raise _Refused(429, {"error": "Too many attempts. Please wait a few minutes and try again."})
        given = str(data.get("secret") or "")
        if not hmac.compare_digest(hashlib.sha256(given.encode()).digest(),
                                   hashlib.sha256(self.settings.secret.encode()).digest()):
            fails.append(now)
            self._failures[addr] = fails
            log.info("web chat sign-in failed", extra={"event": "webchat_login_failed"})
            raise _Refused(401, {"login": "secret", "error": "That access code is not right."})
        self._failures.pop(addr, None)
        user = new_anonymous_id()
        response = self._json({"user_id": user, "name": self._name(user)})
        self._set_cookie(request, response, sign_session(self._key, user, time.time() + SESSION_HOURS * 3600),
                         SESSION_HOURS * 3600)
        log.info("web chat sign-in", extra={"event": "webchat_login"})
        return response

    def _recent_failures(self, addr: str, now: float) -> deque:
        """Failed sign-ins from ``addr`` within ``LOGIN_WINDOW`` (a new deque, not yet stored, when none).

        Addresses whose failures have all aged out are forgotten, so the table stays small."""
        if len(self._failures) > MAX_USERS_TRACKED:
            for a in [a for a, d in self._failures.items() if not d or now - d[-1] > LOGIN_WINDOW]:
                del self._failures[a]
        fails = self._failures.get(addr) or deque()
        while fails and now - fails[0] > LOGIN_WINDOW:
            fails.popleft()
        return fails

    async def api_logout(self, request: web.Request, _ident) -> web.Response:
        """``POST /chat/api/logout``: clears the session cookie."""
        await self._body(request)
        response = self._json({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def api_identity(self, request: web.Request, ident: Identity) -> web.Response:
        """``POST /chat/api/identity`` (loopback demo): sign in as a directory person or a new anonymous id."""
        if not ident.can_switch:
            raise _Refused(403, {"error": "Signing in as someone else is only possible in the local demo."})
        data = await self._body(request)
        wanted = str(data.get("user_id") or "").strip()
        if wanted:
            d = self._directory()
            if d is None or d.get(wanted) is None:
                raise _Refused(400, {"error": "That person is not in the directory."})
            user = wanted
        else:
            user = new_anonymous_id()
        response = self._json({"user_id": user, "name": self._name(user), "anonymous": _is_anonymous(user)})
        self._set_cookie(request, response, sign_session(self._key, user, time.time() + LOOPBACK_SESSION_DAYS * 86400),
                         LOOPBACK_SESSION_DAYS * 86400)
        return response

    async def api_start(self, request: web.Request, ident: Identity) -> web.Response:
        """``POST /chat/api/start``: greeting, queued messages, an unfinished report's prompt."""
        await self._body(request)
        reporting = self.ctx.reporting is not None
        greeting = GREETING
        if reporting and not ident.anonymous:
            greeting += GREETING_REPORT
        elif reporting and ident.can_switch:
            greeting += GREETING_REPORT + " (Reporting needs a directory identity: choose one in \u201cSign in as\u201d.)"
        elif reporting:  # a shared access code or an unknown proxy user: no directory identity to report as
            greeting += GREETING_NO_REPORT
        msgs = [render_outbound(Outbound(kind="text", text=greeting))]
        starter = getattr(self.ctx.engine, "session_start", None)
        if callable(starter) and not ident.anonymous:
            await self.ctx.ready.wait()
            try:
                outs = await self.ctx.run_blocking(starter, ident.user_id)
            except Exception as exc:
                log.error("web chat session start failed: %s", type(exc).__name__)
                outs = []
            msgs += [render_outbound(o) for o in outs if not o.to_user or o.to_user == ident.user_id]
        msgs += await self._inbox(ident.user_id)
        return self._json({"messages": msgs})

    async def api_message(self, request: web.Request, ident: Identity) -> web.Response:
        """``POST /chat/api/message``: ``{"text"}`` or ``{"action_id", "value"}`` -> ``{"messages"}``."""
        data = await self._body(request)
        if data.get("action_id"):
            action_id, value = data.get("action_id"), data.get("value", "")
            if not isinstance(action_id, str) or not isinstance(value, str) or len(action_id) > 255 or len(value) > 2000:
                raise _Refused(400, {"error": "That button is not valid."})
            inbound = Inbound(user_id=ident.user_id, conversation_id="webchat", private=True, source="action",
                              action=Action(action_id, value))
        else:
            text = data.get("text")
            if not isinstance(text, str):
                raise _Refused(400, {"error": "Send {\"text\": ...} or {\"action_id\": ..., \"value\": ...}."})
            inbound = Inbound(user_id=ident.user_id, text=text, conversation_id="webchat", private=True,
                              source="message")
        return self._json({"messages": await self._converse(ident, inbound)})

    async def api_inbox(self, request: web.Request, ident: Identity) -> web.Response:
        """``GET /chat/api/inbox``: private messages that arrived for this user since."""
        return self._json({"messages": await self._inbox(ident.user_id)})

    async def api_feedback(self, request: web.Request, ident: Identity) -> web.Response:
        """``POST /chat/api/feedback``: ``{"helpful": bool, "question": str, "clause_ids": [str]}``."""
        data = await self._body(request)
        question = data.get("question")
        clause_ids = data.get("clause_ids") or []
        if (not isinstance(question, str) or not question.strip() or len(question) > 4000
                or not isinstance(clause_ids, list) or len(clause_ids) > 20
                or not all(isinstance(c, str) and len(c) <= 200 for c in clause_ids)):
            raise _Refused(400, {"error": "That vote is not valid."})
        helpful = data.get("helpful")
        if not isinstance(helpful, bool):
            raise _Refused(400, {"error": "That vote is not valid."})
        await self.ctx.record_feedback(helpful=helpful, question=question, clause_ids=clause_ids,
                                       user_id=None if ident.anonymous else ident.user_id)
        thanks = "Thanks for your feedback." if helpful else "Thanks, noted: HR will see that this didn't help."
        return self._json({"ok": True, "text": thanks})

    def add_routes(self, app: web.Application) -> None:
        """Register the page, its files and the JSON API on ``app``."""
        app.router.add_get("/", self._static("index.html"))
        app.router.add_get("/chat/static/app.js", self._static("app.js"))
        app.router.add_get("/chat/static/style.css", self._static("style.css"))
        app.router.add_get("/chat/api/me", self._api(self.api_me, create=True))
        app.router.add_post("/chat/api/login", self._api(self.api_login, needs_identity=False))
        app.router.add_post("/chat/api/logout", self._api(self.api_logout, needs_identity=False))
        app.router.add_post("/chat/api/identity", self._api(self.api_identity))
        app.router.add_post("/chat/api/start", self._api(self.api_start))
        app.router.add_post("/chat/api/message", self._api(self.api_message))
        app.router.add_get("/chat/api/inbox", self._api(self.api_inbox))
        app.router.add_post("/chat/api/feedback", self._api(self.api_feedback))


def attach(app: web.Application, ctx: ServerContext) -> WebChatChannel | None:
    """Attach the web chat to the server.

    Returns:
        The channel, or None when the web chat must stay off (not loopback and no sign-in configured;
        the reason is logged as a warning).

    Raises:
        ConfigError: a too-short ``POLICYBOT_WEBCHAT_SECRET`` or a malformed identity header name.
        FileNotFoundError: the page's files are not installed.
    """
    settings, why = webchat_settings(ctx.settings.env, ctx.settings.host)
    if settings is None:
        log.warning(why, extra={"event": "webchat_off"})
        return None
    check_static()
    channel = WebChatChannel(ctx, settings)
    channel.add_routes(app)
    log.info(why, extra={"event": "webchat_on", "mode": settings.mode})
    return channel


__all__ = ["WebChatChannel", "WebChatSettings", "attach", "check_config", "render_outbound", "sign_session",
           "verify_session", "webchat_settings", "is_loopback_host", "new_anonymous_id"]
