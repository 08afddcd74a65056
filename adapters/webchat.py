"""Web chat: a small, accessible page at ``/`` on ``policybot serve``, over the same engine as Slack and Teams.

Routes (the JSON APIs answer ``Cache-Control: no-store``; bodies are JSON objects):

* ``GET /`` the page; ``GET /chat/static/{app.js,style.css}``.
* ``GET /chat/api/me``: ``{"user_id", "name", "anonymous", "mode", "can_switch", "people": [{"id", "name"}],
  "reporting"}``; 401 ``{"login": "secret" | "proxy" | "loopback"}`` when the page must sign in first.
* ``POST /chat/api/login`` ``{"secret"}`` (secret mode): a session cookie; 401 a wrong code; 429 with
  ``Retry-After`` while ``bot.login_throttle.LoginThrottle`` locks the client or the code.
* ``POST /chat/api/logout``; ``POST /chat/api/identity`` ``{"user_id"}`` (loopback demo: "Sign in as", ``""``
  for a new anonymous ``web:<random>`` id).
* ``POST /chat/api/start``: the greeting, queued private messages and an unfinished report's prompt.
* ``POST /chat/api/message`` ``{"text"}`` or ``{"action_id", "value"}`` and ``GET /chat/api/inbox`` (polled):
  ``{"messages": [render_outbound(...)]}``.
* ``POST /chat/api/feedback`` ``{"helpful", "question", "clause_ids"}``: a Helpful / Not helpful vote.

Sign-in (``webchat_settings``, from the server's environment; README "Web chat" has the details):
``POLICYBOT_WEBCHAT_IDENTITY_HEADER`` names a header a trusted reverse proxy sets (a directory id or e-mail,
else ``web:<value>``); else ``POLICYBOT_WEBCHAT_SECRET``, a shared access code that gives an anonymous id in a
cookie signed with itsdangerous (such users cannot report); else, on a loopback address, open to this computer
alone (``WebChatChannel._check_loopback``) with "Sign in as" any directory person; else off.
``POLICYBOT_WEBCHAT=off`` turns it off in every case.

State-changing requests must be JSON from the same origin; cookies are ``HttpOnly; SameSite=Strict``. Logs
carry routes and statuses only, never message text, user ids or anything about a report.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from adapters.payloads import BadPayload, parse_json_object
from adapters.server import ConfigError, ServerContext, is_loopback_host
from bot.login_throttle import LoginThrottle
from bot.messages import Action, Inbound, Outbound
from bot.pull_inbox import MAX_USERS_TRACKED, PullInbox
from bot.session_tokens import sign_session, verify_session
from bot.views import FEEDBACK_BUTTONS, comparison_rows, feedback_of, quote_sections, quote_views, route, thanks_text

log = logging.getLogger("policybot.webchat")

SECRET_ENV = "POLICYBOT_WEBCHAT_SECRET"
HEADER_ENV = "POLICYBOT_WEBCHAT_IDENTITY_HEADER"
SWITCH_ENV = "POLICYBOT_WEBCHAT"  #: "off" turns the web chat off
STATIC_DIR = Path(__file__).resolve().parent / "webchat_static"
STATIC_FILES = {"index.html": "text/html", "app.js": "text/javascript", "style.css": "text/css", "base.css": "text/css"}

COOKIE = "pb_webchat"
MIN_SECRET_CHARS = 16
SESSION_HOURS = 12  #: lifetime of a signed session cookie (secret mode)
LOOPBACK_SESSION_DAYS = 30  #: lifetime of the demo cookie (loopback mode; void after a restart anyway)
MAX_BODY = 64 * 1024  #: bytes in one API request body
MAX_ID_CHARS = 200  #: longest identity header value / user id accepted
#: Headers that a reverse proxy, load balancer or CDN adds and a browser talking straight to the server never
#: sends (RFC 7239 Forwarded, RFC 9110 Via, the de facto X-Forwarded-*, and those of nginx, Akamai, Cloudflare,
#: Fastly, Google Cloud, ingress-nginx, IIS, Envoy, Azure, AWS, F5 and WebLogic); open (loopback) mode refuses
#: a request that carries any of them or a name starting with ``PROXY_HEADER_PREFIXES``. A proxy that sends none
#: of these (nginx's defaults send none) cannot be told apart by its headers: see README.
PROXY_HEADERS = frozenset(
    h.lower()
    for h in (  # those not already under PROXY_HEADER_PREFIXES
        "Forwarded",
        "Via",
        "X-Real-IP",
        "True-Client-IP",
        "Fastly-Client-IP",
        "X-ProxyUser-Ip",
        "X-Cloud-Trace-Context",
        "X-Rewrite-URL",
        "X-Cluster-Client-IP",
        "Proxy-Client-IP",
        "WL-Proxy-Client-IP",
        "Client-IP",
        "X-Client-IP",
        "X-Originating-IP",
        "X-Remote-Addr",
        "X-Remote-IP",
        "X-Host",
        "X-ProxyMesh-IP",
    )
)
PROXY_HEADER_PREFIXES = (
    "x-forwarded",
    "x-original-",
    "x-envoy-",
    "x-azure-",
    "x-appengine-",
    "x-amzn-",
    "x-arr-",
    "cf-",
)
LOCAL_HOST_NAMES = ("localhost", "127.0.0.1", "[::1]")  #: names the open mode's ``Host`` may use

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}

GREETING = (
    "Ask me about the social media policies, for example: can I accept a colleague's friend request? "
    "I answer with quotes from the policies and say where each comes from."
)
GREETING_REPORT = " To report a concern in confidence, type `report`."
GREETING_NO_REPORT = (
    " Confidential reports need your staff sign-in, which this page does not have: "
    "please contact HR or your line manager directly to report a concern."
)


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
        raise ConfigError(
            f"{SECRET_ENV} must be at least {MIN_SECRET_CHARS} characters "
            f"(for example: python -c 'import secrets; print(secrets.token_urlsafe(24))')"
        )
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
    return None, (
        f"web chat is off: the server listens on {host or 'all addresses'}, not a loopback address, "
        f"and neither {SECRET_ENV} nor {HEADER_ENV} is set"
    )


def check_config(server_settings) -> None:
    """Validate the web chat's configuration for ``policybot serve``; raises ``ConfigError``."""
    webchat_settings(server_settings.env, server_settings.host)


def check_static() -> None:
    """Raise ``FileNotFoundError`` unless the page's files are installed (used by the image build)."""
    missing = [n for n in STATIC_FILES if not (STATIC_DIR / n).is_file()]
    if missing:
        raise FileNotFoundError(f"web chat files missing from {STATIC_DIR}: {', '.join(missing)}")


def new_anonymous_id() -> str:
    """A fresh anonymous user id, ``web:`` + 16 random base32 characters."""
    return "web:" + base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()


def _is_anonymous(user_id: str) -> bool:
    return user_id.startswith("web:")


# -- rendering -----------------------------------------------------------------------------------------


def render_outbound(msg: Outbound) -> dict:
    """The JSON the page renders for one ``Outbound``.

    Returns:
        ``{"kind", "text", "quotes", "sections", "comparison", "choices": [{"label", "action_id", "value",
        "style"}], "input_hint", "feedback": {"question", "clause_ids"} | None}``, plus ``"feedback_buttons":
        [{"label", "helpful"}]`` when there is feedback (``bot.views.FEEDBACK_BUTTONS``) and ``"case_id"``
        when the message names a case. Each quote is ``bot.views.QuoteView``'s JSON (the clause verbatim,
        the lead-in shortened as every channel shows it, ``own_organisation`` true/false/null).

        * ``"quotes"``: every quote, in order (as before sections existed).
        * ``"sections"``: ``[{"heading": str | null, "quotes": [QuoteView JSON]}]`` (``bot.views.quote_sections``):
          the same quotes, in the same order, under "Your organisation's policy (X)" then "Other
          organisations' guidance"; one section with ``"heading": null`` when the asker's organisation is
          unknown; ``[]`` without quotes.
        * ``"comparison"``: null except for ``kind == "comparison"``: ``{"topic", "summary" (also ``"text"``),
          "differ": bool, "rows": [{"organisation", "stance", "quote": QuoteView JSON | null}]}``, one row an
          organisation (``bot.views.comparison_rows``: the asker's own marked " (your organisation)", a
          ``"quote"`` null when it ``"says nothing"``).
    """
    vote = feedback_of(msg)
    out = {
        "kind": msg.kind,
        "text": msg.text or "",
        "quotes": [v.to_json() for v in quote_views(msg)],
        "sections": [{"heading": s.heading, "quotes": [v.to_json() for v in s.quotes]} for s in quote_sections(msg)],
        "comparison": _comparison_json(msg),
        "choices": [asdict(c) for c in msg.choices],
        "input_hint": msg.input_hint,
        "feedback": {"question": vote.question, "clause_ids": list(vote.clause_ids)} if vote else None,
    }
    if vote:
        out["feedback_buttons"] = [{"label": b.label, "helpful": b.helpful} for b in FEEDBACK_BUTTONS]
    if msg.case_id is not None:  # the only reference the page shows beside the text
        out["case_id"] = msg.case_id
    return out


def _comparison_json(msg: Outbound) -> dict | None:
    """``render_outbound``'s ``"comparison"`` object, None for a message without a comparison."""
    c = msg.comparison
    if c is None:
        return None
    rows = [r.to_json() for r in comparison_rows(msg)]
    return {"topic": c.topic, "summary": c.summary, "differ": c.differ, "rows": rows}


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


def _via_proxy(headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` hold one that a proxy adds (``PROXY_HEADERS``, ``PROXY_HEADER_PREFIXES``)."""
    return any(n.lower() in PROXY_HEADERS or n.lower().startswith(PROXY_HEADER_PREFIXES) for n in headers.keys())


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """A ``Host`` header (``name``, ``name:port``, ``[v6]``, ``[v6]:port``) as ``(lower-cased name, port)``.

    Returns:
        ``(name, port)`` with IPv6 names kept in brackets and ``port`` None when absent; None when the value
        is empty or malformed (an unclosed bracket, several colons outside brackets, a port that is not
        1-5 ASCII digits).
    """
    v = (value or "").strip().lower()
    if v.startswith("["):
        end = v.find("]")
        if end < 0:
            return None
        name, rest = v[: end + 1], v[end + 1 :]
        if not rest:
            return name, None
        if not rest.startswith(":"):
            return None
        port = rest[1:]
    else:
        name, sep, port = v.partition(":")
        if not sep:
            return (name, None) if name else None
    if not name or not (port.isascii() and port.isdigit() and len(port) <= 5):
        return None
    return name, int(port)


def _loopback_url(value: str) -> bool:
    """Whether ``value`` (an ``Origin`` or ``Referer``) is an http(s) URL on a loopback host; False if malformed."""
    try:
        parts = urlsplit(value.strip())
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(host) and is_loopback_host(host)


def _client_key(request: web.Request) -> str:
    """Who is guessing, for ``LoginThrottle``: the peer address, plus the client that the nearest proxy says
    it forwards for (the last ``X-Forwarded-For`` entry, else the last ``Forwarded: for=``), so one guesser
    behind a shared proxy does not lock out everyone behind it. A client that forges the header gets a
    fresh per-client record each time but still counts towards the code's own limit."""
    claimed = ""
    xff = ",".join(request.headers.getall("X-Forwarded-For", []))
    if xff:
        claimed = xff.rsplit(",", 1)[-1]
    else:
        fwd = ",".join(request.headers.getall("Forwarded", []))
        for part in fwd.rsplit(",", 1)[-1].split(";"):
            key, _, val = part.strip().partition("=")
            if key.lower() == "for":
                claimed = val
    claimed = claimed.strip().strip('"')[:100]
    return f"{request.remote or '?'}|{claimed}"


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
    """A request answered with ``status``, JSON ``body`` and extra response ``headers``."""

    def __init__(self, status: int, body: dict, headers: dict | None = None):
        super().__init__(body.get("error", ""))
        self.status, self.body, self.headers = status, body, headers or {}


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
            self._key = settings.secret.encode()  # itsdangerous derives the signing key with SESSION_SALT
            self._session_age = SESSION_HOURS * 3600  # seconds a session cookie is accepted
        else:
            self._key = secrets.token_bytes(32)  # the demo's cookies last as long as this process
            self._session_age = LOOPBACK_SESSION_DAYS * 86400
        self.inbox = PullInbox(max_users=MAX_USERS_TRACKED)  # messages pushed to people whose page polls
        self.throttle = LoginThrottle()
        #: set by the admin console when it is attached: a directory id's role there (``"hr"``, ``"handler"``
        #: or None), so the page can link to it
        self.console_role: Callable[[str], Awaitable[str | None]] | None = None

    # -- Channel protocol ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Nothing to connect: the web chat's routes serve as soon as the server listens."""

    async def stop(self) -> None:
        """Nothing to close: queued messages live only as long as the process."""

    async def deliver(self, user_id: str, outbound: Outbound) -> bool:
        """Queue ``outbound`` for ``user_id``'s page (``PullInbox.offer``: they used the web chat in the last
        ``bot.pull_inbox.LIVE_SECONDS`` seconds and it is not an outbox message, which the page reads from the outbox itself
        so it is marked delivered only once shown); returns whether it was queued."""
        return self.inbox.offer(user_id, outbound)

    # -- identity -----------------------------------------------------------------------------------

    def _name(self, user_id: str) -> str:
        d = self.ctx.directory
        p = d.get(user_id) if d is not None else None
        return p.name if p else ("Anonymous" if _is_anonymous(user_id) else user_id)

    def _from_header(self, value: str) -> str:
        d = self.ctx.directory
        if d is not None:
            if d.get(value) is not None:
                return value
            folded = value.casefold()
            for p in d.people():
                if p.email and p.email.casefold() == folded:
                    return p.user_id
        return "web:" + value

    def people_choices(self) -> list[dict[str, str]]:
        """The loopback demo's "Sign in as" list: ``[{"id", "name"}]`` of every directory person ([] without one)."""
        d = self.ctx.directory
        return [{"id": p.user_id, "name": p.name} for p in d.people()] if d is not None else []

    def _local_names(self, sock_host: str | None) -> set[str]:
        """Host names the open mode accepts: ``LOCAL_HOST_NAMES``, the bound address and the socket's own."""
        names = set(LOCAL_HOST_NAMES)
        for h in (self.ctx.settings.host, sock_host):
            h = (h or "").strip().strip("[]").lower()
            if h and is_loopback_host(h):
                names.add(f"[{h}]" if ":" in h else h)
        return names

    def _check_loopback(self, request: web.Request) -> None:
        """Refuse (403) a request that open loopback mode must not serve.

        Refused: a peer that is not a loopback address; HTTP/1.0 (nginx's default to an upstream); any proxy /
        forwarding header (``PROXY_HEADERS``, ``PROXY_HEADER_PREFIXES``); a ``Host`` that is not
        ``LOCAL_HOST_NAMES`` or the bound address, or names another port than the one the connection arrived
        on (no port is accepted); an ``Origin`` or ``Referer`` that is not an http(s) URL on a loopback host
        (``Origin: null`` included); ``Sec-Fetch-Site: cross-site``.

        Raises:
            _Refused: 403 with a one-line ``error``.
        """
        if not is_loopback_host(request.remote):
            raise _Refused(403, {"error": "The web chat is open only to this computer."})
        if request.version < (1, 1) or _via_proxy(request.headers):
            # HTTP/1.0 is what nginx speaks to an upstream by default (proxy_http_version 1.0); browsers
            # and command-line clients use 1.1 or later
            raise _Refused(
                403,
                {
                    "error": "The web chat without sign-in does not work through a proxy: set "
                    f"{SECRET_ENV} or {HEADER_ENV}."
                },
            )
        transport = request.transport
        sock = transport.get_extra_info("sockname") if transport is not None else None
        if not isinstance(sock, tuple) or len(sock) < 2:
            raise _Refused(403, {"error": "The web chat is open only to this computer."})
        host = split_host(request.headers.get("Host"))
        if host is None or host[0] not in self._local_names(str(sock[0])) or host[1] not in (None, sock[1]):
            raise _Refused(
                403, {"error": f"Open the web chat as http://127.0.0.1:{sock[1]}/ or http://localhost:{sock[1]}/."}
            )
        for name in ("Origin", "Referer"):
            value = request.headers.get(name)
            if value is not None and not _loopback_url(value):
                raise _Refused(
                    403,
                    {
                        "error": "Cross-site request refused: the web chat without sign-in "
                        "opens only from this computer."
                    },
                )
        if (request.headers.get("Sec-Fetch-Site") or "").strip().lower() == "cross-site":
            raise _Refused(
                403,
                {"error": "Cross-site request refused: the web chat without sign-in opens only from this computer."},
            )

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
            if not raw or len(raw) > MAX_ID_CHARS or any(c.isspace() or not c.isprintable() for c in raw):
                raise _Refused(401, {"login": "proxy", "error": "Please sign in through your organisation's portal."})
            user = self._from_header(raw)
            anonymous = _is_anonymous(user)  # signed in by the proxy, but not a directory person
            return Identity(user, raw if anonymous else self._name(user), anonymous, False)
        if mode == "loopback":
            self._check_loopback(request)
        user = verify_session(self._key, request.cookies.get(COOKIE), self._session_age)
        if user is not None and mode == "loopback" and not _is_anonymous(user):
            d = self.ctx.directory
            if d is None or d.get(user) is None:
                user = None  # the directory changed since
        if user is None:
            if mode == "secret":
                raise _Refused(401, {"login": "secret", "error": "Please sign in with the access code."})
            if not create:
                raise _Refused(401, {"login": "loopback", "error": "Please reload the page."})
            user = new_anonymous_id()
            cookie = sign_session(self._key, user)
            return Identity(user, self._name(user), True, True, new_cookie=cookie)
        return Identity(user, self._name(user), _is_anonymous(user), mode == "loopback")

    def _set_cookie(self, request: web.Request, response: web.StreamResponse, value: str) -> None:
        response.set_cookie(
            COOKIE,
            value,
            max_age=self._session_age,
            path="/",
            httponly=True,
            samesite="Strict",
            secure=request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https",
        )

    async def _body(self, request: web.Request) -> dict:
        """The JSON object of a state-changing request, after the same-origin checks (``{}`` for an empty body),
        decoded with its ``Content-Type`` charset and parsed by ``adapters.payloads.parse_json_object``.

        Raises:
            _Refused: 415 not ``application/json`` or an unknown charset; 403 cross-site; 413 more than
                ``MAX_BODY`` bytes; 400 not valid JSON, not an object, or lone surrogates in strings.
        """
        if request.content_type != "application/json":
            raise _Refused(415, {"error": "Send JSON (Content-Type: application/json)."})
        if not _same_origin(request):
            raise _Refused(403, {"error": "Cross-site request refused."})
        try:
            if request.content_length is not None and request.content_length > MAX_BODY:
                raise web.HTTPRequestEntityTooLarge(MAX_BODY, request.content_length)
            raw = await request.clone(client_max_size=MAX_BODY).read()  # aiohttp refuses past MAX_BODY bytes
        except web.HTTPRequestEntityTooLarge:
            raise _Refused(413, {"error": "That request is too large."}) from None
        if not raw:
            return {}
        try:
            return parse_json_object(raw, request.charset or None)
        except BadPayload as bad:
            if bad.status == 415:
                raise _Refused(415, {"error": "Send JSON in UTF-8 (that charset is unknown)."}) from None
            if bad.reason == "expected a JSON object":
                raise _Refused(400, {"error": "Send a JSON object."}) from None
            raise _Refused(400, {"error": f"That request is not valid JSON ({bad.reason})."}) from None

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """An aiohttp middleware for the web chat's paths (others pass through): each response gets
        ``API_HEADERS`` (``/chat/api/``), ``PAGE_HEADERS`` (the page, any refusal of a file) or
        ``STATIC_HEADERS``, and a ``_Refused`` becomes the answer: its JSON body and headers for the API (a 401
        also forgets the session cookie), its error as one line of text for the page and its files."""
        path = request.path
        api = path.startswith("/chat/api/")
        if not api and path != "/" and not path.startswith("/chat/static/"):
            return await handler(request)
        try:
            response = await handler(request)
        except _Refused as refused:
            if not api:
                return web.Response(status=refused.status, text=refused.body["error"] + "\n", headers=PAGE_HEADERS)
            response = web.json_response(refused.body, status=refused.status, headers=refused.headers)
            if refused.status == 401 and COOKIE in request.cookies:
                response.del_cookie(COOKIE, path="/")
        response.headers.update(API_HEADERS if api else PAGE_HEADERS if path == "/" else STATIC_HEADERS)
        return response

    def _user(self, request: web.Request, create: bool = False) -> Identity:
        """``identify`` and note that the user asked now (``PullInbox.touch``)."""
        ident = self.identify(request, create=create)
        self.inbox.touch(ident.user_id)
        return ident

    async def _converse(self, ident: Identity, inbound: Inbound) -> list[dict]:
        routing = route(await self.ctx.handle(inbound), ident.user_id, private=True)  # the page is private
        for ob in routing.others:
            if ob.outbox_id is None:
                await self.ctx.deliver(ob)  # outbox messages go out through the server's outbox pump
        for ob in routing.here:
            if ob.to_user and ob.outbox_id is not None:
                await self.ctx.mark_delivered(ob.outbox_id)
        return [render_outbound(ob) for ob in routing.here] + await self._inbox(ident.user_id)

    async def _inbox(self, user_id: str, poll: bool = False) -> list[dict]:
        """Messages for ``user_id`` queued in memory or in the outbox (the latter marked delivered).

        When the outbox cannot be read, its messages stay there for the next poll and the failure is logged;
        for a ``poll`` (nothing else to answer) it is a 503 rather than an inbox that looks empty, and the
        messages queued in memory wait too.

        Raises:
            _Refused: 503, for a ``poll`` whose outbox read failed.
        """
        pending: list[Outbound] = []
        if self.ctx.reporting is not None and not _is_anonymous(user_id):  # reporting: a ConversationEngine
            try:  # the outbox is thread-safe: read it off the engine thread so polls never queue behind answers
                pending = await asyncio.to_thread(self.ctx.engine.take_pending, user_id)
            except Exception:
                log.error("web chat could not read the outbox", exc_info=True)
                if poll:
                    raise _Refused(
                        503,
                        {"error": "Your messages cannot be read just now; try again shortly."},
                        {"Retry-After": "5"},
                    ) from None
        return [render_outbound(m) for m in [*self.inbox.take(user_id), *pending]]

    # -- routes -------------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        """``GET /`` and ``GET /chat/static/{app.js,style.css,base.css}`` (refused in loopback mode as any request)."""
        if self.settings.mode == "loopback":
            self._check_loopback(request)
        name = request.path.rpartition("/")[2] or "index.html"
        return web.Response(body=self.pages[name], content_type=STATIC_FILES[name], charset="utf-8")

    async def api_me(self, request: web.Request) -> web.Response:
        """``GET /chat/api/me``: who this is, how they sign in, and ``"admin_console"`` (``"/admin/"`` for HR and
        case handlers when the console is on, else null); in loopback mode a first visit gets an anonymous id
        and its cookie."""
        ident = self._user(request, create=True)
        people = self.people_choices() if ident.can_switch else []
        response = web.json_response(
            {
                "user_id": ident.user_id,
                "name": ident.name,
                "anonymous": ident.anonymous,
                "mode": self.settings.mode,
                "can_switch": ident.can_switch,
                "people": people,
                "reporting": self.ctx.reporting is not None,
                "admin_console": await self._console_link(ident),
            }
        )
        if ident.new_cookie:
            self._set_cookie(request, response, ident.new_cookie)
        return response

    async def _console_link(self, ident: Identity) -> str | None:
        """``"/admin/"`` when the admin console is on and ``ident`` may use it (HR or a case handler), else None."""
        if self.console_role is None or ident.anonymous or await self.console_role(ident.user_id) is None:
            return None
        return "/admin/"

    async def api_login(self, request: web.Request) -> web.Response:
        """``POST /chat/api/login`` (secret mode): ``{"secret"}`` -> ``{"user_id", "name"}`` and a session cookie.

        Raises:
            _Refused: 404 outside secret mode; 401 a wrong code; 429 with ``Retry-After`` (whole seconds)
                while ``self.throttle`` locks this client or the code; ``_body``'s 4xx for a bad body.
        """
        if self.settings.mode != "secret":
            raise _Refused(404, {"error": "There is no access code to sign in with here."})
        data = await self._body(request)
        # from here to the end no await: concurrent attempts cannot all pass the check before one counts
        client = _client_key(request)
        wait = self.throttle.retry_after(client)
        if wait > 0:
            log.warning("web chat sign-in refused: too many failures", extra={"event": "webchat_login_throttled"})
            raise _Refused(
                429,
                {"error": "Too many attempts. Please wait a few minutes and try again."},
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )
        if not self.throttle.check(client, str(data.get("secret") or ""), self.settings.secret):
            log.info("web chat sign-in failed", extra={"event": "webchat_login_failed"})
            raise _Refused(401, {"login": "secret", "error": "That access code is not right."})
        user = new_anonymous_id()
        response = web.json_response({"user_id": user, "name": self._name(user)})
        self._set_cookie(request, response, sign_session(self._key, user))
        log.info("web chat sign-in", extra={"event": "webchat_login"})
        return response

    async def api_logout(self, request: web.Request) -> web.Response:
        """``POST /chat/api/logout``: clears the session cookie."""
        await self._body(request)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    async def api_identity(self, request: web.Request) -> web.Response:
        """``POST /chat/api/identity`` (loopback demo): sign in as a directory person or a new anonymous id."""
        ident = self._user(request)
        if not ident.can_switch:
            raise _Refused(403, {"error": "Signing in as someone else is only possible in the local demo."})
        data = await self._body(request)
        wanted = str(data.get("user_id") or "").strip()
        if wanted:
            d = self.ctx.directory
            if d is None or d.get(wanted) is None:
                raise _Refused(400, {"error": "That person is not in the directory."})
            user = wanted
        else:
            user = new_anonymous_id()
        response = web.json_response({"user_id": user, "name": self._name(user), "anonymous": _is_anonymous(user)})
        self._set_cookie(request, response, sign_session(self._key, user))
        return response

    async def api_start(self, request: web.Request) -> web.Response:
        """``POST /chat/api/start``: greeting, queued messages, an unfinished report's prompt."""
        ident = self._user(request)
        await self._body(request)
        reporting = self.ctx.reporting is not None
        greeting = GREETING
        if reporting and not ident.anonymous:
            greeting += GREETING_REPORT
        elif reporting and ident.can_switch:
            greeting += (
                GREETING_REPORT + " (Reporting needs a directory identity: choose one in \u201cSign in as\u201d.)"
            )
        elif reporting:  # a shared access code or an unknown proxy user: no directory identity to report as
            greeting += GREETING_NO_REPORT
        msgs = [render_outbound(Outbound(kind="text", text=greeting))]
        if reporting and not ident.anonymous:  # session_start has nothing to give without reporting
            await self.ctx.ready.wait()
            try:
                outs = await self.ctx.run_blocking(self.ctx.engine.session_start, ident.user_id)
            except Exception:
                log.error("web chat session start failed", exc_info=True)
                outs = []
            msgs += [render_outbound(o) for o in route(outs, ident.user_id, private=True).here]
        msgs += await self._inbox(ident.user_id)
        return web.json_response({"messages": msgs})

    async def api_message(self, request: web.Request) -> web.Response:
        """``POST /chat/api/message``: ``{"text"}`` or ``{"action_id", "value"}`` -> ``{"messages"}``."""
        ident = self._user(request)
        data = await self._body(request)
        if data.get("action_id"):
            action_id, value = data.get("action_id"), data.get("value", "")
            if (
                not isinstance(action_id, str)
                or not isinstance(value, str)
                or len(action_id) > 255
                or len(value) > 2000
            ):
                raise _Refused(400, {"error": "That button is not valid."})
            inbound = Inbound(
                user_id=ident.user_id,
                conversation_id="webchat",
                private=True,
                source="action",
                action=Action(action_id, value),
            )
        else:
            text = data.get("text")
            if not isinstance(text, str):
                raise _Refused(400, {"error": 'Send {"text": ...} or {"action_id": ..., "value": ...}.'})
            inbound = Inbound(
                user_id=ident.user_id, text=text, conversation_id="webchat", private=True, source="message"
            )
        return web.json_response({"messages": await self._converse(ident, inbound)})

    async def api_inbox(self, request: web.Request) -> web.Response:
        """``GET /chat/api/inbox``: private messages that arrived for this user since."""
        ident = self._user(request)
        return web.json_response({"messages": await self._inbox(ident.user_id, poll=True)})

    async def api_feedback(self, request: web.Request) -> web.Response:
        """``POST /chat/api/feedback``: ``{"helpful": bool, "question": str, "clause_ids": [str]}``."""
        ident = self._user(request)
        data = await self._body(request)
        question = data.get("question")
        clause_ids = data.get("clause_ids") or []
        if (
            not isinstance(question, str)
            or not question.strip()
            or len(question) > 4000
            or not isinstance(clause_ids, list)
            or len(clause_ids) > 20
            or not all(isinstance(c, str) and len(c) <= 200 for c in clause_ids)
            or not isinstance(helpful := data.get("helpful"), bool)
        ):
            raise _Refused(400, {"error": "That vote is not valid."})
        await self.ctx.record_feedback(
            helpful=helpful,
            question=question,
            clause_ids=clause_ids,
            user_id=None if ident.anonymous else ident.user_id,
        )
        return web.json_response({"ok": True, "text": thanks_text(helpful)})

    def add_routes(self, app: web.Application) -> None:
        """Register the page, its files, the JSON API and ``middleware`` on ``app``."""
        app.middlewares.append(self.middleware)
        for path in ("/", "/chat/static/app.js", "/chat/static/style.css", "/chat/static/base.css"):
            app.router.add_get(path, self.page)
        app.router.add_get("/chat/api/me", self.api_me)
        app.router.add_post("/chat/api/login", self.api_login)
        app.router.add_post("/chat/api/logout", self.api_logout)
        app.router.add_post("/chat/api/identity", self.api_identity)
        app.router.add_post("/chat/api/start", self.api_start)
        app.router.add_post("/chat/api/message", self.api_message)
        app.router.add_get("/chat/api/inbox", self.api_inbox)
        app.router.add_post("/chat/api/feedback", self.api_feedback)


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


__all__ = [
    "WebChatChannel",
    "WebChatSettings",
    "attach",
    "check_config",
    "render_outbound",
    "sign_session",
    "verify_session",
    "webchat_settings",
    "is_loopback_host",
    "new_anonymous_id",
]
