"""A fake Slack: Web API server on a loopback port, plus helpers that sign requests the way Slack does.

``FakeSlackAPI`` serves ``/api/<method>`` (``auth.test``, ``chat.postMessage``, ``chat.postEphemeral``,
``chat.update``, ``conversations.open``, ``views.open``, ``views.update``, ``views.push``,
``views.publish``, ``apps.connections.open``), ``/response/<name>`` (response URLs), ``/files/<id>/<name>`` (file
downloads, as ``url_private_download``: the bot token is required as ``Authorization: Bearer``, else
Slack's sign-in web page is served) and ``/socket`` (a Socket Mode WebSocket). Every call is recorded as a ``Call(method, params, at)``; ``wait_for`` lets a test wait for
the asynchronous replies.

The payload builders (``message_im_event``, ``slash_command``, ``block_actions``, ...) produce the bodies
Slack sends, and ``signed_headers`` signs them with Slack's v0 scheme.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import time
import urllib.parse
from dataclasses import dataclass, field

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

from fakes.loopback import serve_on_loopback

BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
TEAM = "T0000001"


@dataclass
class Call:
    """One request to the fake: the API method (or ``"response_url"``), its merged parameters and when."""

    method: str
    params: dict
    at: float = field(default_factory=time.perf_counter)
    token: str | None = None
    path: str = ""
    result: dict | None = None  #: what the fake answered


class FakeSlackAPI:
    """Records Web API calls and answers with valid Slack JSON.

    Use ``await fake.start()`` (binds 127.0.0.1 on a free port) and ``await fake.stop()``; then
    ``fake.api_url`` is the ``SLACK_API_URL`` to give the app.
    """

    def __init__(self, token: str = "xoxb-test-token", app_token: str = "xapp-test-token"):
        self.token = token
        self.app_token = app_token
        self.calls: list[Call] = []
        self._changed = asyncio.Condition()
        self._ts = itertools.count(1)
        self._views = itertools.count(1)
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self.fail: dict[str, str] = {}  #: method -> Slack error code to return instead of ok
        self.sockets: list[web.WebSocketResponse] = []
        self.socket_acks: list[dict] = []
        self._socket_ready = asyncio.Event()
        self.files: dict[str, tuple[bytes, str]] = {}  #: file id -> (bytes, mimetype)
        self._file_ids = itertools.count(1)

    # -- lifecycle -----------------------------------------------------------------------------------

    async def start(self) -> FakeSlackAPI:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_get("/files/{fid}/{name}", self._file)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        for ws in list(self.sockets):
            await ws.close()
        if self._runner:
            await self._runner.cleanup()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """The ``SLACK_API_URL`` for the app under test."""
        return f"{self.base}/api/"

    def response_url(self, name: str = "r1") -> str:
        """A response URL that records what is posted to it (as method ``"response_url"``)."""
        return f"{self.base}/response/{name}"

    # -- inspection ----------------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Every recorded call to ``method``, oldest first."""
        return [c for c in self.calls if c.method == method]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 10.0, where=None) -> list[Call]:
        """Wait until ``count`` calls to ``method`` (matching ``where(call)`` if given) are recorded.

        Raises:
            TimeoutError: not enough calls within ``timeout`` seconds (the message lists what was seen).
        """

        def matching():
            return [c for c in self.calls_to(method) if where is None or where(c)]

        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: len(matching()) >= count), timeout)
            except TimeoutError:
                seen = [c.method for c in self.calls]
                raise TimeoutError(f"waited {timeout}s for {count} x {method}; saw {seen}") from None
        return matching()

    async def settle(self, quiet: float = 0.3, timeout: float = 10.0) -> None:
        """Wait until no call has arrived for ``quiet`` seconds (so a test can assert "exactly one")."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            n = len(self.calls)
            await asyncio.sleep(quiet)
            if len(self.calls) == n:
                return

    async def _record(self, call: Call) -> None:
        async with self._changed:
            self.calls.append(call)
            self._changed.notify_all()

    # -- handlers ------------------------------------------------------------------------------------

    @staticmethod
    async def _params(request: web.Request) -> dict:
        params: dict = dict(request.query)
        if request.can_read_body:
            raw = await request.read()
            ctype = request.content_type
            if ctype == "application/json":
                params.update(json.loads(raw or b"{}"))
            elif ctype in ("application/x-www-form-urlencoded", ""):
                params.update(dict(urllib.parse.parse_qsl(raw.decode())))
            elif ctype.startswith("multipart/"):
                pass
        for key in ("blocks", "view"):
            if isinstance(params.get(key), str):
                try:
                    params[key] = json.loads(params[key])
                except ValueError:
                    pass
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else params.get("token")
        expected = self.app_token if method == "apps.connections.open" else self.token
        if token != expected:
            answer = {"ok": False, "error": "invalid_auth"}
        elif method in self.fail:
            answer = {"ok": False, "error": self.fail[method]}
        else:
            answer = self._answer(method, params)
        await self._record(Call(method, params, token=token, path=request.path, result=answer))
        return web.json_response(answer)

    def _answer(self, method: str, p: dict) -> dict:
        if method == "auth.test":
            return {
                "ok": True,
                "url": "https://fake.slack.test/",
                "team": "Fake",
                "user": "policybot",
                "team_id": TEAM,
                "user_id": BOT_USER,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        if method == "chat.postMessage":
            ts = f"{int(time.time())}.{next(self._ts):06d}"
            return {
                "ok": True,
                "channel": p.get("channel"),
                "ts": ts,
                "message": {
                    "type": "message",
                    "user": BOT_USER,
                    "bot_id": BOT_ID,
                    "text": p.get("text", ""),
                    "blocks": p.get("blocks") or [],
                    "ts": ts,
                },
            }
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"}
        if method == "chat.update":
            return {"ok": True, "channel": p.get("channel"), "ts": p.get("ts"), "text": p.get("text", "")}
        if method == "conversations.open":
            users = str(p.get("users", "")).split(",")[0]
            return {"ok": True, "channel": {"id": "D" + users.lstrip("U")[:10].upper()}}
        if method in ("views.open", "views.update", "views.push", "views.publish"):
            view = dict(p.get("view") or {})
            view.setdefault("id", p.get("view_id") or f"V{next(self._views):08d}")
            return {"ok": True, "view": view}
        if method == "apps.connections.open":
            return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}
        return {"ok": False, "error": "unknown_method"}

    def add_file(
        self,
        name: str,
        data: bytes,
        mimetype: str = "application/octet-stream",
        size: int | None = None,
        private_url: bool = False,
    ) -> dict:
        """Serve ``data`` as a file shared in Slack; returns the ``files`` entry of a ``file_share`` event
        (``id``, ``name``, ``title``, ``mimetype``, ``size`` (default ``len(data)``, or as given to
        claim another size), ``url_private``, ``url_private_download``). Downloads are recorded as
        ``"file_download"`` calls with the token they carried."""
        fid = f"F{next(self._file_ids):08d}"
        self.files[fid] = (data, mimetype)
        url = f"{self.base}/files/{fid}/{urllib.parse.quote(name)}"
        return {
            "id": fid,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1],
            "size": len(data) if size is None else size,
            "mode": "hosted",
            "url_private": url,
            "url_private_download": url + "?download=1",
        }

    async def _file(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        token = auth[len("Bearer ") :] if auth.startswith("Bearer ") else None
        fid = request.match_info["fid"]
        ok = token == self.token and fid in self.files
        await self._record(Call("file_download", {"file": fid}, token=token, path=request.path, result={"ok": ok}))
        if token != self.token:  # what Slack does without a valid token: a sign-in page, status 200
            return web.Response(text="<html><body>Sign in to Slack</body></html>", content_type="text/html")
        if fid not in self.files:
            return web.Response(status=404, text="not found")
        data, mimetype = self.files[fid]
        return web.Response(body=data, content_type=mimetype)

    async def _response_url(self, request: web.Request) -> web.Response:
        params = await self._params(request)
        await self._record(Call("response_url", params, path=request.path))
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0000001"}, "debug_info": {}}
        )
        self._socket_ready.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                data = json.loads(msg.data)
                self.socket_acks.append(data)
                await self._record(Call("socket_ack", data))
        if ws in self.sockets:
            self.sockets.remove(ws)
        return ws

    async def socket_send(self, envelope: dict, timeout: float = 10.0) -> None:
        """Send a Socket Mode envelope to the connected app (waits for it to connect)."""
        await asyncio.wait_for(self._socket_ready.wait(), timeout)
        await self.sockets[-1].send_json(envelope)


# -- signing and payloads -------------------------------------------------------------------------


def signed_headers(
    body: str | bytes, secret: str, timestamp: int | None = None, content_type: str = "application/json"
) -> dict:
    """Headers Slack would send with ``body``: ``X-Slack-Request-Timestamp`` and the v0 HMAC-SHA256
    ``X-Slack-Signature`` over ``"v0:{ts}:{body}"`` with ``secret`` (bytes that are not UTF-8 are
    signed as they are, as Slack signs the raw request body)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    if isinstance(body, bytes):
        mac = hmac.new(secret.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256)
        sig = "v0=" + mac.hexdigest()
    else:
        sig = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, "Content-Type": content_type}


_ids = itertools.count(1)


def event_envelope(event: dict, event_id: str | None = None) -> dict:
    """An Events API ``event_callback`` body around ``event``."""
    return {
        "token": "legacy",
        "team_id": TEAM,
        "api_app_id": "A0000001",
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{next(_ids):08d}",
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}],
    }


def message_im_event(
    text: str, user: str = "U0000042", channel: str = "D0000042", event_id: str | None = None, **extra
) -> dict:
    """A ``message.im`` event body (a DM to the bot)."""
    event = {
        "type": "message",
        "channel_type": "im",
        "channel": channel,
        "user": user,
        "text": text,
        "ts": f"{time.time():.6f}",
        "event_ts": f"{time.time():.6f}",
    }
    event.update(extra)
    return event_envelope(event, event_id)


def file_share_event(
    files: list[dict], text: str = "", user: str = "U0000042", channel: str = "D0000042", event_id: str | None = None
) -> dict:
    """A ``message.im`` event of subtype ``file_share``: ``files`` (``FakeSlackAPI.add_file`` entries)
    shared in a DM, with an optional caption."""
    return message_im_event(
        text,
        user=user,
        channel=channel,
        event_id=event_id,
        subtype="file_share",
        files=files,
        upload=True,
        display_as_bot=False,
    )


def app_mention_event(
    text: str, user: str = "U0000042", channel: str = "C0000007", ts: str | None = None, event_id: str | None = None
) -> dict:
    """An ``app_mention`` event body (the bot mentioned in a channel)."""
    ts = ts or f"{time.time():.6f}"
    return event_envelope(
        {
            "type": "app_mention",
            "channel": channel,
            "user": user,
            "text": f"<@{BOT_USER}> {text}",
            "ts": ts,
            "event_ts": ts,
        },
        event_id,
    )


def slash_command(
    text: str,
    response_url: str,
    user: str = "U0000042",
    channel: str = "C0000007",
    channel_name: str = "general",
    command: str = "/policy",
) -> str:
    """A slash command body (form-encoded, as Slack sends it)."""
    return urllib.parse.urlencode(
        {
            "token": "legacy",
            "team_id": TEAM,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": channel_name,
            "user_id": user,
            "user_name": "someone",
            "command": command,
            "text": text,
            "api_app_id": "A0000001",
            "response_url": response_url,
            "trigger_id": f"trig{next(_ids)}",
        }
    )


def interactive(payload: dict) -> str:
    """An interactivity body (form-encoded ``payload=<json>``)."""
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def block_actions(
    action_id: str,
    value: str = "",
    user: str = "U0000042",
    channel: str = "D0000042",
    message: dict | None = None,
    response_url: str | None = None,
    block_id: str = "b1",
    label: str = "Button",
    view: dict | None = None,
    ephemeral: bool = False,
) -> dict:
    """A ``block_actions`` payload for a button press in a message (or in ``view`` when given)."""
    action = {
        "type": "button",
        "action_id": action_id,
        "block_id": block_id,
        "value": value,
        "text": {"type": "plain_text", "text": label},
        "action_ts": f"{time.time():.6f}",
    }
    payload = {
        "type": "block_actions",
        "user": {"id": user, "team_id": TEAM},
        "api_app_id": "A0000001",
        "team": {"id": TEAM},
        "trigger_id": f"trig{next(_ids)}",
        "actions": [action],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view.get("id")}
        payload["view"] = view
    else:
        msg = message or {"ts": "1.000001", "text": "", "blocks": []}
        payload["container"] = {
            "type": "message",
            "message_ts": msg.get("ts"),
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        payload["channel"] = {"id": channel}
        if not ephemeral:
            payload["message"] = msg
    if response_url:
        payload["response_url"] = response_url
    return payload


def buttons_in(blocks: list[dict]) -> list[tuple[str, dict, str]]:
    """``(label, button element, block_id)`` for every button in ``blocks``; a button that is a section's
    accessory is labelled with the section's text."""
    out = []
    for b in blocks or []:
        if b.get("type") == "actions":
            out += [
                (el["text"]["text"], el, b.get("block_id", ""))
                for el in b.get("elements", [])
                if el.get("type") == "button"
            ]
        elif b.get("type") == "section" and (b.get("accessory") or {}).get("type") == "button":
            out.append((b["text"]["text"], b["accessory"], b.get("block_id", "")))
    return out


def press(posted: Call, label: str, response_url: str | None = None, user: str = "U0000042") -> dict:
    """The ``block_actions`` payload for pressing the button labelled ``label`` (exactly, else the first
    whose label starts with it) in a recorded ``chat.postMessage``; raises ``LookupError`` if none."""
    blocks = posted.params.get("blocks") or []
    found = buttons_in(blocks)
    match = [f for f in found if f[0] == label] or [f for f in found if f[0].startswith(label)]
    if not match:
        raise LookupError(f"no button {label!r} among {[f[0] for f in found]}")
    text, el, block_id = match[0]
    message = {"ts": "1.000001", "text": posted.params.get("text", ""), "blocks": blocks}
    return block_actions(
        el["action_id"],
        el.get("value", ""),
        user=user,
        channel=posted.params["channel"],
        message=message,
        response_url=response_url,
        block_id=block_id,
        label=el["text"]["text"],
    )


def view_submission(
    view: dict, text: str, user: str = "U0000042", block_id: str = "pb_input", action_id: str = "pb_text"
) -> dict:
    """A ``view_submission`` payload for ``view`` (as opened) with ``text`` typed in its input."""
    state = {"values": {block_id: {action_id: {"type": "plain_text_input", "value": text}}}}
    v = dict(view, id=view.get("id", "V1"), state=state)
    return {
        "type": "view_submission",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "api_app_id": "A0000001",
        "trigger_id": f"trig{next(_ids)}",
        "view": v,
    }


def form_submission(view: dict, values: dict[str, str], user: str = "U0000042", action_id: str = "pb_f") -> dict:
    """A ``view_submission`` payload for a modal with several inputs: ``values`` maps each input's
    ``block_id`` to the text it holds on submit (inputs not named keep their ``initial_value``)."""
    state: dict = {}
    for b in view.get("blocks", []):
        if b.get("type") == "input":
            el = b.get("element") or {}
            state[b["block_id"]] = {
                el.get("action_id", action_id): {
                    "type": el.get("type", "plain_text_input"),
                    "value": el.get("initial_value"),
                }
            }
    for block_id, text in values.items():
        state[block_id] = {action_id: {"type": "plain_text_input", "value": text}}
    v = dict(view, id=view.get("id", "V1"), state={"values": state})
    return {
        "type": "view_submission",
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "api_app_id": "A0000001",
        "trigger_id": f"trig{next(_ids)}",
        "view": v,
    }


def global_shortcut(callback_id: str = "report_concern", user: str = "U0000042") -> dict:
    """A global shortcut payload."""
    return {
        "type": "shortcut",
        "callback_id": callback_id,
        "user": {"id": user, "team_id": TEAM},
        "team": {"id": TEAM},
        "trigger_id": f"trig{next(_ids)}",
        "action_ts": f"{time.time():.6f}",
    }
