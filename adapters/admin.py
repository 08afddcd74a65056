"""The admin console: a browser page for HR (documents, unanswered questions, cases) and case handlers (their
cases), served by ``policybot serve`` beside the web chat, whose sign-in it reuses.

Routes (the contract with the page in ``admin_static/``; every ``/admin/api/`` answer is JSON with
``Cache-Control: no-store``, errors ``{"error": str, ...}``):

* ``GET /admin/`` the page (``admin_static/index.html``); ``GET /admin/static/{admin.js,admin.css,chart.umd.min.js}``.
  A file missing from ``admin_static/`` is a 404 at request time (start-up does not need them).
* ``GET /admin/api/me``: ``{"user_id", "name", "role": "hr" | "handler", "csrf", "can_switch", "people"
  (when can_switch), "reporting"}``.
* ``GET /admin/api/documents``; ``POST /admin/api/documents`` (multipart ``file``, optional ``replace``: a preview);
  ``POST /admin/api/documents/publish`` (JSON ``{"preview_token", "title"?, "organisation"?, "version"?,
  "date"?}``); ``DELETE /admin/api/documents/{doc_id}``; ``GET /admin/api/documents/{doc_id}/diff[?from=N&to=M]``.
* ``GET /admin/api/gaps[?days=90]``; ``GET /admin/api/gaps/closest?q=...``; ``POST /admin/api/gaps/dismiss``.
* ``GET /admin/api/cases``; ``GET /admin/api/cases/{ref}``; ``POST /admin/api/cases/{ref}/{acknowledge,ask,close}``.

Who: the web chat's ``WebChatChannel.identify`` (its session cookie, or the trusted proxy header); 401 without
a session. The role is ``ReportingService.role_of`` (``"hr"``, ``"handler"``), or, without reporting, HR per
the directory; anyone else (an anonymous or shared-code session, a person with no role) gets 403. Documents
and gaps are for HR only; cases for HR (all) and handlers (their own; another's is a 404, as an unknown one).

State-changing requests (POST, DELETE) must come from the page itself (the web chat's same-origin check) and
carry ``X-CSRF-Token``: an HMAC under a key of this process over the session cookie (over the identity in
proxy-header mode), given by ``/admin/api/me``.

Knowledge-base and reporting calls run on the engine thread (``ServerContext.run_blocking``): neither is made
for concurrent use. Case reads and actions are audited ``via="admin"``; messages they cause for the reporter
go out through the outbox as from chat. Logs carry routes, statuses, document ids and case references only:
never report contents, questions or who reported.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from adapters.server import ServerContext
from adapters.webchat import COOKIE, WebChatChannel, _is_anonymous, _Refused, _same_origin

log = logging.getLogger("policybot.admin")

STATIC_DIR = Path(__file__).resolve().parent / "admin_static"
#: files served from ``STATIC_DIR``: name -> content type
PAGE_FILES = {
    "index.html": "text/html",
    "admin.js": "text/javascript",
    "admin.css": "text/css",
    "chart.umd.min.js": "text/javascript",
}
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache"}
API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}

CSRF_HEADER = "X-CSRF-Token"
_CSRF_CONTEXT = b"policybot-admin-csrf-v1\x00"
NOT_FOR_YOU = "The admin console is for HR and case handlers."
NO_REPORTING = "Reporting is not configured."
GAP_WEEKS = 12  #: weeks in the gaps chart
CASE_WEEKS = 12  #: weeks in the cases chart
DEFAULT_GAP_DAYS = 90.0  #: ``/admin/api/gaps`` without ``days``
MAX_GAP_DAYS = 3650.0
MAX_GAP_GROUPS = 200  #: most question groups listed
MAX_QUESTION_CHARS = 2000  #: longest ``q`` for ``/admin/api/gaps/closest``
MAX_FORM_PARTS = 8  #: parts read from one upload form
MAX_FIELD_BYTES = 1024  #: bytes read from a form field that is not the file
MAX_FILENAME_CHARS = 255
FORM_OVERHEAD = 64 * 1024  #: bytes of an upload form beyond the file (boundaries, headers, fields)
READY_WAIT = 30.0  #: seconds a request that needs the search index waits for it to load
DETAIL_NAMES = ("title", "organisation", "version", "date")


class AdminError(Exception):
    """A request answered with ``status`` and the JSON ``body`` (``{"error": ..., ...}``), plus ``headers``."""

    def __init__(self, status: int, body: dict[str, Any] | str, headers: dict[str, str] | None = None):
        self.body = {"error": body} if isinstance(body, str) else body
        super().__init__(self.body.get("error", ""))
        self.status, self.headers = status, headers or {}


@dataclass(frozen=True)
class Viewer:
    """Who is using the console: directory ``user_id``, display ``name`` and ``role`` (``"hr"`` or ``"handler"``)."""

    user_id: str
    name: str
    role: str


def _int_param(request: web.Request, name: str) -> int | None:
    """The query parameter ``name`` as a positive int (None when absent). Raises ``AdminError`` 400."""
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or int(raw) < 1:
        raise AdminError(400, f"{name} must be a version number (1, 2, ...).")
    return int(raw)


def _events(view_events: list[tuple[str, str, str, str]]) -> list[dict[str, str]]:
    return [{"at": at, "kind": kind, "actor": actor, "text": text} for at, kind, actor, text in view_events]


class AdminConsole:
    """The admin console attached to one server, over the web chat's sign-in.

    Args:
        ctx: the server's ``ServerContext``.
        webchat: the web chat channel (identity, cookie and the same-origin rules come from it).
        static_dir: where the page's files are read from at request time (default ``STATIC_DIR``).
    """

    def __init__(self, ctx: ServerContext, webchat: WebChatChannel, static_dir: Path = STATIC_DIR):
        self.ctx = ctx
        self.webchat = webchat
        self.static_dir = static_dir
        self._csrf_key = secrets.token_bytes(32)  # tokens last as long as this process
        self._own_kb: Any = None

    # -- shared pieces ------------------------------------------------------------------------------

    @property
    def kb(self) -> Any:
        """The engine's ``bot.upkeep.admin.KnowledgeAdmin`` (previews are shared with chat uploads), else one
        over the policybot authorised by the directory."""
        admin = getattr(getattr(self.ctx.engine, "kb", None), "admin", None)
        if admin is None:
            if self._own_kb is None:  # kept, so previews last between requests
                self._own_kb = self.ctx.policybot.kb_admin(is_hr=self.ctx.directory)
            admin = self._own_kb
        return admin

    async def role_of(self, user_id: str) -> str | None:
        """What the console lets directory user ``user_id`` do: ``"hr"``, ``"handler"`` or None (anonymous
        web chat ids included). Failures count as None and are logged with their traceback."""
        if _is_anonymous(user_id):
            return None
        try:
            return await self._role(user_id)
        except Exception:  # reporting's database or the directory: the link is only a convenience
            log.error("could not tell whether someone may use the admin console", exc_info=True)
            return None

    async def _role(self, user_id: str) -> str | None:
        """``"hr"``, ``"handler"`` or None (``ReportingService.role_of``; without reporting, HR per the directory)."""
        rep = self.ctx.reporting
        if rep is not None:
            role = await self.ctx.run_blocking(rep.role_of, user_id)
            return role if role in ("hr", "handler") else None
        return "hr" if self.kb.may_edit(user_id) else None  # a failing check denies, logged there

    def csrf_token(self, request: web.Request, user_id: str) -> str:
        """The CSRF token for this session: HMAC-SHA256 (a per-process key) over the session cookie's value,
        or over the user id in proxy-header mode (no cookie), base64url without padding."""
        if self.webchat.settings.mode == "header":
            basis = "header\x00" + user_id
        else:
            basis = "cookie\x00" + (request.cookies.get(COOKIE) or "")
        mac = hmac.new(self._csrf_key, _CSRF_CONTEXT + basis.encode("utf-8", "backslashreplace"), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()).decode("ascii").rstrip("=")

    async def viewer(self, request: web.Request, hr_only: str | None = None) -> Viewer:
        """Who ``request`` is from, checked for the console; for POST and DELETE also the same-origin rule and
        the CSRF token.

        Args:
            hr_only: the refusal for a handler (``"Only HR can ..."``); None lets handlers through.

        Raises:
            AdminError / the web chat's refusal: 401 no session; 403 cross-site, missing or wrong CSRF token,
                not a console user, a handler on an HR-only route.
        """
        changing = request.method not in ("GET", "HEAD", "OPTIONS")
        if changing and not _same_origin(request):
            raise AdminError(403, "Cross-site request refused.")
        ident = self.webchat.identify(request)
        if changing:
            given = request.headers.get(CSRF_HEADER, "")
            wanted = self.csrf_token(request, ident.user_id)
            if not given or not given.isascii() or not hmac.compare_digest(given, wanted):
                raise AdminError(403, "The page's security token is missing or out of date; please reload the page.")
        role = None if ident.anonymous else await self._role(ident.user_id)
        if role is None:
            raise AdminError(403, NOT_FOR_YOU)
        if hr_only is not None and role != "hr":
            raise AdminError(403, hr_only)
        return Viewer(ident.user_id, ident.name, role)

    async def _json(self, request: web.Request) -> dict[str, Any]:
        """The JSON object of a POST (``{}`` for an empty body), read as the web chat reads one.

        Raises:
            the web chat's refusal: 415 not JSON; 413 over ``MAX_BODY`` bytes; 400 not a JSON object.
        """
        data: dict[str, Any] = await self.webchat._body(request)
        return data

    async def _index_ready(self) -> None:
        """Wait (at most ``READY_WAIT`` seconds) for the search index. Raises ``AdminError`` 503."""
        if self.ctx.is_ready:
            return
        if self.ctx.index_error:
            raise AdminError(503, "The search index failed to load; see the server log.")
        try:
            await asyncio.wait_for(self.ctx.ready.wait(), READY_WAIT)
        except TimeoutError:
            raise AdminError(503, "The server is still starting up; try again shortly.", {"Retry-After": "5"}) from None

    def _reporting(self) -> Any:
        rep = self.ctx.reporting
        if rep is None:
            raise AdminError(503, NO_REPORTING)
        return rep

    # -- middleware ---------------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """An aiohttp middleware for ``/admin`` paths (others pass through): ``API_HEADERS`` on every
        ``/admin/api/`` answer, ``PAGE_HEADERS`` on the page, ``STATIC_HEADERS`` on its files; refusals
        (``AdminError``, the web chat's, aiohttp's 4xx such as an unknown route or method) become JSON for the
        API and one line of text for the page; an unexpected error is logged with its traceback and answered
        500 ``{"error"}`` without details."""
        path = request.path
        if path != "/admin" and not path.startswith("/admin/"):
            return await handler(request)
        api = path.startswith("/admin/api/")
        try:
            response = await handler(request)
        except (AdminError, _Refused) as refused:
            response = self._refusal(api, refused.status, refused.body, refused.headers)
        except web.HTTPException as exc:
            if exc.status < 400:
                raise
            headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
            response = self._refusal(api, exc.status, {"error": exc.reason}, headers)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            from bot.upkeep.admin import NotAuthorised

            if isinstance(exc, NotAuthorised):  # the directory changed between the role check and the call
                response = self._refusal(api, 403, {"error": str(exc)}, {})
            else:
                route = request.match_info.route.resource
                where = route.canonical if route is not None else "?"
                log.error("admin console: unexpected error on %s %s", request.method, where, exc_info=True)
                response = self._refusal(api, 500, {"error": "Something went wrong on the server."}, {})
        response.headers.update(
            API_HEADERS if api else STATIC_HEADERS if path.startswith("/admin/static/") else PAGE_HEADERS
        )
        return response

    @staticmethod
    def _refusal(api: bool, status: int, body: dict[str, Any], headers: dict[str, str]) -> web.Response:
        if api:
            return web.json_response(body, status=status, headers=headers)
        return web.Response(status=status, text=str(body.get("error", "")) + "\n", headers=headers)

    # -- the page -----------------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.Response:
        """``GET /admin/`` and ``GET /admin/static/{name}``: a file of ``PAGE_FILES`` read now (404 when missing;
        in loopback mode refused as the web chat refuses any request from elsewhere)."""
        if self.webchat.settings.mode == "loopback":
            self.webchat._check_loopback(request)
        name = request.match_info.get("name", "index.html")
        if name not in PAGE_FILES or (name == "index.html") != (request.path == "/admin/"):
            raise web.HTTPNotFound()
        try:
            body = await asyncio.to_thread((self.static_dir / name).read_bytes)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            log.warning("admin console file missing: %s", name)
            raise web.HTTPNotFound() from None
        return web.Response(body=body, content_type=PAGE_FILES[name], charset="utf-8")

    async def redirect(self, request: web.Request) -> web.Response:
        """``GET /admin`` -> ``/admin/``."""
        raise web.HTTPPermanentRedirect("/admin/")

    # -- identity -----------------------------------------------------------------------------------

    async def api_me(self, request: web.Request) -> web.Response:
        """``GET /admin/api/me``: who is signed in, their role and the CSRF token.

        In loopback demo mode a first visit also gets the web chat's anonymous session cookie (so the page can
        then "Sign in as" with ``POST /chat/api/identity``), and its 401 / 403 bodies carry ``"can_switch":
        true`` and ``"people": [{"id", "name"}]``.
        """
        loopback = self.webchat.settings.mode == "loopback"
        ident = self.webchat.identify(request, create=loopback)
        demo: dict[str, Any] = {"can_switch": True, "people": self.webchat.people_choices()} if ident.can_switch else {}
        role = None if ident.anonymous else await self._role(ident.user_id)
        if ident.new_cookie:
            status, body = 401, {"error": "Please sign in.", "login": "loopback", **demo}
        elif role is None:
            status, body = 403, {"error": NOT_FOR_YOU, **demo}
        else:
            status, body = (
                200,
                {
                    "user_id": ident.user_id,
                    "name": ident.name,
                    "role": role,
                    "csrf": self.csrf_token(request, ident.user_id),
                    "can_switch": ident.can_switch,
                    "reporting": self.ctx.reporting is not None,
                    **demo,
                },
            )
        response = web.json_response(body, status=status)
        if ident.new_cookie:
            self.webchat._set_cookie(request, response, ident.new_cookie)
        return response

    # -- documents ----------------------------------------------------------------------------------

    async def api_documents(self, request: web.Request) -> web.Response:
        """``GET /admin/api/documents`` (HR): the active documents."""
        await self.viewer(request, hr_only="Only HR can manage the policy documents.")
        from bot.upkeep.chat import edition_of

        rows = await self.ctx.run_blocking(self.kb.documents)
        docs = [
            {
                "doc_id": r["doc_id"],
                "organisation": r["organisation"],
                "title": r["title"],
                "edition": edition_of(r),
                "version_no": r["version_no"],
                "clauses": r["clauses"],
                "updated_at": r["updated_at"],
                "file": r.get("source") or None,
            }
            for r in rows
        ]
        return web.json_response({"documents": docs})

    async def _read_upload(self, request: web.Request, limit: int) -> tuple[bytes, str, str | None]:
        """``(file bytes, file name, replace doc id or None)`` from a multipart/form-data upload.

        Raises:
            AdminError: 415 not multipart/form-data; 413 the file is over ``limit`` bytes; 400 no ``file``
                part, a malformed form or field, an unsupported file type (code ``"unsupported_type"``).
        """
        from knowledge.loaders import BadUpload, file_kind, too_large

        if request.content_type != "multipart/form-data":
            raise AdminError(415, "Send the file as multipart/form-data.")
        if request.content_length is not None and request.content_length > limit + FORM_OVERHEAD:
            raise AdminError(413, str(too_large("That file", None, limit)))
        data: bytes | None = None
        filename = ""
        replace: str | None = None
        try:
            reader = await request.multipart()
            for _ in range(MAX_FORM_PARTS):
                part = await reader.next()
                if part is None:
                    break
                if not isinstance(part, BodyPartReader):
                    raise AdminError(400, "Nested forms are not accepted.")
                if part.name == "file" and data is None:
                    filename = (part.filename or "").strip()
                    if not filename or len(filename) > MAX_FILENAME_CHARS:
                        raise AdminError(400, {"error": "The file has no usable name.", "code": "bad_name"})
                    try:
                        file_kind(filename)
                    except BadUpload as exc:
                        raise AdminError(400, {"error": str(exc), "code": exc.code}) from None
                    buf = bytearray()
                    while chunk := await part.read_chunk(64 * 1024):
                        buf += chunk
                        if len(buf) > limit:
                            raise AdminError(413, str(too_large(Path(filename).name, None, limit)))
                    data = bytes(buf)
                elif part.name == "replace":
                    raw = bytearray()
                    while chunk := await part.read_chunk(MAX_FIELD_BYTES):
                        raw += chunk
                        if len(raw) > MAX_FIELD_BYTES:
                            raise AdminError(400, "The replace field is too long.")
                    replace = raw.decode("utf-8").strip() or None
                else:
                    await part.release()
        except AdminError:
            raise
        except (ValueError, LookupError, AssertionError, RuntimeError, HttpProcessingError, web.HTTPException) as exc:
            log.info("admin console: unreadable upload form (%s)", type(exc).__name__)
            raise AdminError(400, "That upload could not be read as a form.") from None
        if data is None:
            raise AdminError(400, {"error": "Choose a file to upload.", "code": "no_file"})
        return data, filename, replace

    async def api_upload(self, request: web.Request) -> web.Response:
        """``POST /admin/api/documents`` (HR): multipart ``file`` (+ ``replace``) -> the preview, held for publishing.

        Returns ``Preview.to_json()`` plus ``"preview_token"`` and ``"citation"``; 400 ``{"error", "code"}``
        for a file that cannot become a document, 404 an unknown ``replace``, 413 too large, 415 not multipart.
        """
        who = await self.viewer(request, hr_only="Only HR can upload policy documents.")
        from knowledge.loaders import BadUpload

        admin = self.kb
        data, filename, replace = await self._read_upload(request, admin.max_bytes)
        try:
            preview = await self.ctx.run_blocking(
                functools.partial(admin.preview, data, filename, replace=replace, user_id=who.user_id)
            )
        except BadUpload as exc:
            status = 404 if exc.code == "not_found" else 413 if exc.code == "too_large" else 400
            raise AdminError(status, {"error": str(exc), "code": exc.code}) from None
        log.info("admin console: preview of a %s for %s", preview.kind, preview.doc_id)
        body = preview.to_json() | {"preview_token": preview.token, "citation": preview.citation_line()}
        return web.json_response(body)

    async def _notify(self, result: Any, user_id: str) -> int:
        """Queue (or send) the change notices of a replace or removal, as the chat upload does. Returns how many."""
        from bot.upkeep.chat import notify_change

        admin = self.kb

        def build() -> tuple[list[Any], list[Any]]:
            doc = admin.store.document(result.doc_id)
            return notify_change(result, doc, admin.bot.settings.notify_window_days, user_id, self.ctx.outbox)

        notices, direct = await self.ctx.run_blocking(build)
        for ob in direct:
            await self.ctx.deliver(ob)
        if len(direct) < len(notices):
            self.ctx.spawn(self.ctx.pump_outbox(), "outbox")
        return len(notices)

    async def api_publish(self, request: web.Request) -> web.Response:
        """``POST /admin/api/documents/publish`` (HR): publish a held preview, with corrected details.

        Returns ``CommitResult.to_json()`` plus ``"notices"`` (people told of a changed clause); 400
        ``{"error", "fields"}`` for refused details (nothing published), 400 ``{"error", "code"}`` when the
        commit is refused (the same text went live meanwhile, ...), 410 an unknown or expired token.
        """
        who = await self.viewer(request, hr_only="Only HR can publish policy documents.")
        from bot.upkeep.admin import BadDetails
        from knowledge.loaders import BadUpload

        data = await self._json(request)
        token = data.get("preview_token")
        if not isinstance(token, str) or not token.strip() or len(token) > 200:
            raise AdminError(400, 'Send {"preview_token": ...} from the preview.')
        details: dict[str, str] = {}
        wrong: dict[str, str] = {}
        for name in DETAIL_NAMES:
            value = data.get(name)
            if value is None:
                continue
            if not isinstance(value, str):
                wrong[name] = f"{name.capitalize()} must be text."
            else:
                details[name] = value
        if wrong:
            raise AdminError(400, {"error": " ".join(wrong.values()), "fields": wrong})
        admin = self.kb

        def publish() -> Any:
            held = token
            if details:
                held = admin.edit_preview(token, who.user_id, **details).token
            return admin.confirm(held, who.user_id)

        try:
            result = await self.ctx.run_blocking(publish)
        except BadDetails as exc:
            raise AdminError(400, {"error": str(exc), "fields": dict(exc.fields)}) from None
        except BadUpload as exc:
            if exc.code == "expired":
                raise AdminError(410, "That preview has expired; please upload the file again.") from None
            raise AdminError(400, {"error": str(exc), "code": exc.code}) from None
        log.info("admin console: %s %s version %d", result.action, result.doc_id, result.version_no)
        notices = await self._notify(result, who.user_id)
        return web.json_response(result.to_json() | {"notices": notices})

    async def api_remove(self, request: web.Request) -> web.Response:
        """``DELETE /admin/api/documents/{doc_id}`` (HR): withdraw a document -> ``CommitResult.to_json()``; 404 unknown."""
        who = await self.viewer(request, hr_only="Only HR can remove policy documents.")
        from knowledge.loaders import BadUpload

        doc_id = request.match_info["doc_id"]
        admin = self.kb
        try:
            result = await self.ctx.run_blocking(functools.partial(admin.remove, doc_id, user_id=who.user_id))
        except BadUpload as exc:
            raise AdminError(404 if exc.code == "not_found" else 400, {"error": str(exc), "code": exc.code}) from None
        log.info("admin console: removed %s", result.doc_id)
        notices = await self._notify(result, who.user_id)
        return web.json_response(result.to_json() | {"notices": notices})

    async def api_diff(self, request: web.Request) -> web.Response:
        """``GET /admin/api/documents/{doc_id}/diff[?from=N&to=M]`` (HR): ``ClauseDiff.to_json()`` with ``"words"``
        in each changed pair and the document's ``"versions"``; 404 unknown document; 400 a single version
        or a version that does not exist."""
        await self.viewer(request, hr_only="Only HR can compare document versions.")
        from bot.upkeep.chat import edition_of
        from bot.upkeep.console import diff_with_words
        from knowledge.loaders import BadUpload

        doc_id = request.match_info["doc_id"]
        start, end = _int_param(request, "from"), _int_param(request, "to")
        admin = self.kb

        def diff() -> dict[str, Any]:
            d = admin.diff(doc_id, start, end)
            versions = [
                {"version_no": v["version_no"], "edition": edition_of(v), "added_at": v["added_at"]}
                for v in admin.store.versions(doc_id)
            ]
            return diff_with_words(d) | {"versions": versions}

        try:
            body = await self.ctx.run_blocking(diff)
        except BadUpload as exc:
            raise AdminError(404 if exc.code == "not_found" else 400, {"error": str(exc)}) from None
        return web.json_response(body)

    # -- gaps ---------------------------------------------------------------------------------------

    async def api_gaps(self, request: web.Request) -> web.Response:
        """``GET /admin/api/gaps[?days=90]`` (HR): ``{"groups": [GapGroup JSON], "weeks": [{"week", "abstained",
        "not_helpful"}]}`` (groups of the last ``days`` days, most asked first; the last 12 weeks)."""
        who = await self.viewer(request, hr_only="Only HR can see the unanswered questions.")
        from bot.upkeep.console import gap_weeks

        raw = request.query.get("days", "")
        days = DEFAULT_GAP_DAYS
        if raw:
            try:
                days = float(raw)
            except ValueError:
                days = -1.0
            if not 0 < days <= MAX_GAP_DAYS:  # also refuses NaN
                raise AdminError(400, f"days must be a number of days between 1 and {MAX_GAP_DAYS:g}.")
        admin = self.kb

        def gaps() -> dict[str, Any]:
            groups = admin.gaps(since_days=days, limit=MAX_GAP_GROUPS, user_id=who.user_id)
            return {"groups": [g.to_json() for g in groups], "weeks": gap_weeks(admin.store, GAP_WEEKS)}

        return web.json_response(await self.ctx.run_blocking(gaps))

    async def api_closest(self, request: web.Request) -> web.Response:
        """``GET /admin/api/gaps/closest?q=...`` (HR): ``{"question", "closest": null | {"doc_id", "organisation",
        "title", "section", "clause_id", "text", "score"}}`` (``bot.upkeep.console.closest_clause``)."""
        await self.viewer(request, hr_only="Only HR can see the unanswered questions.")
        from bot.upkeep.console import closest_clause

        question = " ".join(request.query.get("q", "").split())
        if not question or len(question) > MAX_QUESTION_CHARS or "\x00" in question:
            raise AdminError(400, f"Give the question as q (1 to {MAX_QUESTION_CHARS} characters).")
        await self._index_ready()
        closest = await self.ctx.run_blocking(closest_clause, self.ctx.policybot.index, question)
        return web.json_response({"question": question, "closest": closest})

    async def api_dismiss_gaps(self, request: web.Request) -> web.Response:
        """``POST /admin/api/gaps/dismiss`` (HR) with ``{"keys": [group key, ...]}`` (``GapGroup.key``, at most
        ``MAX_GAP_GROUPS``): forget those questions, e.g. once a policy covers them. Returns ``{"dismissed":
        rows deleted}``; 400 for a missing or malformed ``keys``."""
        who = await self.viewer(request, hr_only="Only HR can dismiss unanswered questions.")
        keys = (await self._json(request)).get("keys")
        if (
            not isinstance(keys, list)
            or not 0 < len(keys) <= MAX_GAP_GROUPS
            or not all(isinstance(k, str) and 0 < len(k) <= MAX_QUESTION_CHARS for k in keys)
        ):
            raise AdminError(400, 'Send {"keys": [...]}: the keys of the question groups to dismiss.')
        admin = self.kb

        def dismiss() -> int:
            admin.authorise(who.user_id)
            return int(admin.bot.gaps.clear(list(keys)))

        dismissed = await self.ctx.run_blocking(dismiss)
        log.info("HR dismissed %d unanswered question(s)", dismissed)
        return web.json_response({"dismissed": dismissed})

    # -- cases --------------------------------------------------------------------------------------

    async def api_cases(self, request: web.Request) -> web.Response:
        """``GET /admin/api/cases``: the cases the viewer may see (HR all, a handler their own), their counts
        and the weekly chart (``bot.upkeep.console.case_counts`` / ``case_chart``); 503 without reporting."""
        who = await self.viewer(request)
        rep = self._reporting()
        from bot.upkeep.console import case_chart, case_counts

        def cases() -> dict[str, Any]:
            rows = rep.list_cases(who.user_id, via="admin")
            tz = rep.tz
            today = rep.clock().astimezone(tz).date()
            return {
                "cases": [asdict(r) for r in rows],
                "counts": case_counts(rows),
                "chart": case_chart(rows, CASE_WEEKS, today, tz),
            }

        return web.json_response(await self.ctx.run_blocking(cases))

    def _case_json(self, rep: Any, who: Viewer, case_id: int) -> dict[str, Any]:
        """The case as ``who`` may see it (engine thread; audited ``via="admin"``). Raises ``AccessDenied``."""
        view = rep.show_case(who.user_id, case_id, via="admin")
        out = asdict(view)
        out["events"] = _events(view.events)
        out["state"] = view.status
        out["actions"] = list(view.actions)
        if rep.directory.is_hr(who.user_id):
            out["audit"] = [
                {
                    "at": r["at"],
                    "actor": r["actor"],
                    "action": r["action"],
                    "allowed": bool(r["allowed"]),
                    "via": r["via"],
                }
                for r in rep.cases.audit_rows(case_id)
            ]
        return out

    @staticmethod
    def _case_id(request: web.Request) -> int:
        from bot.reporting.cases import parse_case_ref

        cid = parse_case_ref(request.match_info["ref"])
        if cid is None:
            raise AdminError(404, "There is no such case among the cases you can see.")
        return cid

    async def api_case(self, request: web.Request) -> web.Response:
        """``GET /admin/api/cases/{ref}``: ``CaseView`` as a dict (with ``"ack_due_iso"`` and ``"actions"``, what
        the case's state allows), ``"state"`` and, for HR, ``"audit"``; 404 for a case that does not exist or that the viewer may not see (the same answer)."""
        who = await self.viewer(request)
        rep = self._reporting()
        cid = self._case_id(request)
        from bot.reporting.service import AccessDenied

        try:
            body = await self.ctx.run_blocking(self._case_json, rep, who, cid)
        except AccessDenied:
            raise AdminError(404, "There is no such case among the cases you can see.") from None
        return web.json_response(body)

    async def api_case_action(self, request: web.Request) -> web.Response:
        """``POST /admin/api/cases/{ref}/{acknowledge|ask|close}`` with ``{}``, ``{"question"}`` or ``{"outcome"}``.

        Returns ``{"ok": true, "message", "case"}``; the reporter is told through the outbox, as from chat. 400
        ``{"error"}`` for an action the case's state forbids or empty text, 404 a hidden or unknown case.
        """
        who = await self.viewer(request)
        rep = self._reporting()
        action = request.match_info["action"]
        data = await self._json(request)
        cid = self._case_id(request)
        field = {"ask": "question", "close": "outcome"}.get(action)
        text = ""
        if field is not None:
            value = data.get(field)
            if not isinstance(value, str):
                raise AdminError(400, f'Send {{"{field}": "..."}}.')
            text = value
        from bot.reporting.service import AccessDenied, BadReportInput

        def act() -> tuple[list[Any], dict[str, Any]]:
            if action == "acknowledge":
                msgs = rep.acknowledge(who.user_id, cid, via="admin")
            elif action == "ask":
                msgs = rep.request_info(who.user_id, cid, text, via="admin")
            else:
                msgs = rep.close_case(who.user_id, cid, text, via="admin")
            if not any(m.case_id for m in msgs):  # the service said why (e.g. "Case C-00001 is already
                # acknowledged.") and changed nothing: only a change is reported with its case
                mine = [m.text for m in msgs if not m.to_user]
                raise AdminError(400, mine[0] if mine else "The case's state does not allow that.")
            return msgs, self._case_json(rep, who, cid)

        try:
            msgs, case = await self.ctx.run_blocking(act)
        except AccessDenied:
            raise AdminError(404, "There is no such case among the cases you can see.") from None
        except BadReportInput as exc:
            raise AdminError(400, str(exc)) from None
        for ob in msgs:
            if ob.to_user and ob.outbox_id is None:
                await self.ctx.deliver(ob)
        if self.ctx.outbox is not None:  # the reporter's update is in the outbox
            self.ctx.spawn(self.ctx.pump_outbox(), "outbox")
        self.ctx.cases_changed([case["ref"]])  # e.g. the handler's Slack App Home
        message = next((m.text for m in msgs if not m.to_user), "Done.")
        return web.json_response({"ok": True, "message": message, "case": case})

    # -- wiring -------------------------------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        """Register the page, its files, the JSON API and ``middleware`` on ``app``."""
        app.middlewares.append(self.middleware)
        r = app.router
        r.add_get("/admin", self.redirect)
        r.add_get("/admin/", self.page)
        r.add_get("/admin/static/{name}", self.page)
        r.add_get("/admin/api/me", self.api_me)
        r.add_get("/admin/api/documents", self.api_documents)
        r.add_post("/admin/api/documents", self.api_upload)
        r.add_post("/admin/api/documents/publish", self.api_publish)
        r.add_delete("/admin/api/documents/{doc_id}", self.api_remove)
        r.add_get("/admin/api/documents/{doc_id}/diff", self.api_diff)
        r.add_get("/admin/api/gaps", self.api_gaps)
        r.add_get("/admin/api/gaps/closest", self.api_closest)
        r.add_post("/admin/api/gaps/dismiss", self.api_dismiss_gaps)
        r.add_get("/admin/api/cases", self.api_cases)
        r.add_get("/admin/api/cases/{ref}", self.api_case)
        r.add_post("/admin/api/cases/{ref}/{action:acknowledge|ask|close}", self.api_case_action)


ADMIN_KEY = web.AppKey("policybot_admin", AdminConsole)  #: ``app[ADMIN_KEY]``: the attached console


def check_static() -> None:
    """Raise ``FileNotFoundError`` unless the page's files are installed (the image build runs it, as the web
    chat's ``check_static``; a running server answers 404 for a missing one instead)."""
    missing = [n for n in PAGE_FILES if not (STATIC_DIR / n).is_file()]
    if missing:
        raise FileNotFoundError(f"admin console files missing from {STATIC_DIR}: {', '.join(missing)}")


def attach(app: web.Application, ctx: ServerContext) -> AdminConsole | None:
    """Attach the admin console to the server, after the chat channels (it needs the web chat's sign-in).

    It is not a chat channel: it is not added to ``ctx.channels``.

    Returns:
        The console, or None when the web chat is off (then so is the console; logged). Page files missing
        from ``STATIC_DIR`` are logged and answered 404 when asked for; they do not stop the server.
    """
    webchat = next((c for c in ctx.channels if getattr(c, "name", None) == "webchat"), None)
    if not isinstance(webchat, WebChatChannel):
        log.info("admin console is off: it needs the web chat's sign-in", extra={"event": "admin_off"})
        return None
    try:
        check_static()
    except FileNotFoundError as missing:
        log.warning("%s", missing)
    console = AdminConsole(ctx, webchat)
    console.add_routes(app)
    app[ADMIN_KEY] = console
    webchat.console_role = console.role_of  # the web chat links to the console for those who may use it
    log.info("admin console at /admin/", extra={"event": "admin_on"})
    return console


__all__ = ["ADMIN_KEY", "AdminConsole", "AdminError", "Viewer", "attach", "check_static"]
