"""A fake Bot Connector (the service a bot POSTs its replies to), plus builders for Teams activities.

``FakeBotConnector`` serves, on a loopback port:

* ``POST /v3/conversations/{id}/activities`` (send to a conversation) and
  ``POST /v3/conversations/{id}/activities/{replyToId}`` (reply to an activity): recorded, answered
  ``{"id": "<new activity id>"}``;
* ``PUT /v3/conversations/{id}/activities/{activityId}`` (update): recorded;
* ``POST /v3/conversations`` (create a conversation): recorded, answered with a new conversation id;
* ``GET /files/{id}/{name}``: a file added with ``add_file`` (what a Teams file's ``downloadUrl``
  points at), each download recorded in ``downloads`` with its ``Authorization`` header.

Every request is recorded as a ``Post``; ``wait_for`` waits for the asynchronous ones. ``service_url``
is what activities carry as ``serviceUrl``. The activity builders (``message``, ``mention``,
``submit``, ``installed``) produce the JSON Teams sends to ``/api/messages``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from dataclasses import dataclass, field

from aiohttp import web

from fakes.loopback import serve_on_loopback

BOT_ID = "28:00000000-0000-0000-0000-0000000b0701"
BOT_NAME = "Policybot"
TENANT = "72f988bf-0000-0000-0000-00000000feed"
CHANNEL_CONV = "19:generalChannel@thread.tacv2"


@dataclass
class Post:
    """One request to the fake.

    Attributes:
        method: ``"POST"`` or ``"PUT"``.
        kind: ``"send"`` (to a conversation), ``"reply"`` (to an activity), ``"update"`` or ``"create"``.
        conversation_id: the conversation in the path ("" for ``"create"``).
        reply_to_id: the activity id in the path, for ``"reply"`` and ``"update"``.
        body: the JSON body.
        authorization: the ``Authorization`` header, if any.
        at: ``time.perf_counter()`` when it arrived.
    """

    method: str
    kind: str
    conversation_id: str
    reply_to_id: str | None
    body: dict
    authorization: str | None = None
    id: str = ""  #: the activity id the fake gave it
    at: float = field(default_factory=time.perf_counter)

    @property
    def cards(self) -> list[dict]:
        """The Adaptive Cards attached to the activity."""
        return [
            a.get("content") or {}
            for a in self.body.get("attachments") or []
            if a.get("contentType") == "application/vnd.microsoft.card.adaptive"
        ]

    @property
    def text(self) -> str:
        """All visible text of the activity: its ``text`` and every text in its cards, one a line."""
        out = [self.body["text"]] if self.body.get("text") else []
        for card in self.cards:
            out += card_texts(card)
        return "\n".join(out)

    @property
    def inputs(self) -> dict[str, str]:
        """``{id: prefilled value}`` of every ``Input.Text`` in the cards, in order."""
        out: dict[str, str] = {}

        def walk(element) -> None:
            if isinstance(element, list):
                for child in element:
                    walk(child)
            elif isinstance(element, dict):
                if element.get("type") == "Input.Text":
                    out[element["id"]] = element.get("value", "")
                for key in ("body", "items", "columns", "actions"):
                    walk(element.get(key) or [])

        walk(self.cards)
        return out

    @property
    def buttons(self) -> list[str]:
        """Labels of the Action.Submit buttons, in order (a "Choose" button counts as its row's label)."""
        return [label for label, _ in card_buttons(self.cards)]

    def data(self, label: str) -> dict:
        """The submit data of the first button labelled ``label`` (or starting with it)."""
        for name, data in card_buttons(self.cards):
            if name == label or name.startswith(label):
                return data
        raise KeyError(f"no button {label!r} in {self.buttons}")


def card_texts(element) -> list[str]:
    """Every ``text`` of TextBlocks and TextRuns in ``element`` (a card or any part of one), in order."""
    out: list[str] = []
    if isinstance(element, dict):
        if element.get("type") in ("TextBlock", "TextRun") and isinstance(element.get("text"), str):
            out.append(element["text"])
        for key in ("body", "items", "inlines", "columns"):
            for child in element.get(key) or []:
                out += card_texts(child)
    elif isinstance(element, list):
        for child in element:
            out += card_texts(child)
    return out


def card_buttons(element) -> list[tuple[str, dict]]:
    """``(label, data)`` of each Action.Submit, in order; a full-width choice row (label + "Choose")
    is listed once, under its label."""
    out: list[tuple[str, dict]] = []
    if isinstance(element, list):
        for child in element:
            out += card_buttons(child)
        return out
    if not isinstance(element, dict):
        return out
    if element.get("type") == "ColumnSet" and isinstance(element.get("selectAction"), dict):
        label = " ".join(card_texts(element["columns"][0]))
        return [(label, element["selectAction"].get("data") or {})]
    if element.get("type") == "Action.Submit":
        return [(element.get("title", ""), element.get("data") or {})]
    for key in ("body", "items", "columns", "actions"):
        out += card_buttons(element.get(key) or [])
    return out


class FakeBotConnector:
    """Records what the bot sends; ``await start()`` binds 127.0.0.1 on a free port.

    Attributes:
        posts: every request, in arrival order.
        fail: conversation id -> HTTP status to answer instead (e.g. 403 for a removed app).
    """

    def __init__(self):
        self.posts: list[Post] = []
        self.fail: dict[str, int] = {}
        self._ids = itertools.count(1)
        self._changed: asyncio.Condition | None = None
        self._runner: web.AppRunner | None = None
        self.port: int | None = None
        self.files: dict[str, tuple[bytes, str]] = {}  #: file id -> (bytes, content type)
        self.downloads: list[dict] = []  #: {"file", "authorization"} per download, in order

    @property
    def service_url(self) -> str:
        """The ``serviceUrl`` to put in activities (ends with ``/``, as Teams' do)."""
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> FakeBotConnector:
        self._changed = asyncio.Condition()
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conv}/activities", self._send)
        app.router.add_post("/v3/conversations/{conv}/activities/{aid}", self._send)
        app.router.add_put("/v3/conversations/{conv}/activities/{aid}", self._send)
        app.router.add_get("/files/{fid}/{name}", self._file)
        self._runner, self.port = await serve_on_loopback(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    async def _record(self, post: Post) -> None:
        async with self._changed:
            self.posts.append(post)
            self._changed.notify_all()

    async def _send(self, request: web.Request) -> web.Response:
        conv, aid = request.match_info["conv"], request.match_info.get("aid")
        body = await request.json()
        kind = "update" if request.method == "PUT" else ("reply" if aid else "send")
        new_id = f"1:bot-{next(self._ids)}"
        await self._record(Post(request.method, kind, conv, aid, body, request.headers.get("Authorization"), new_id))
        if conv in self.fail:
            return web.json_response({"error": {"code": "Forbidden", "message": "refused"}}, status=self.fail[conv])
        return web.json_response({"id": new_id})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self._record(Post("POST", "create", "", None, body, request.headers.get("Authorization")))
        members = body.get("members") or [{}]
        return web.json_response(
            {"id": f"a:personal-{members[0].get('id', 'x')}", "activityId": None, "serviceUrl": self.service_url}
        )

    def add_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        """Serve ``data`` at a URL on this port and return the URL (a file's ``downloadUrl``)."""
        import urllib.parse

        fid = f"f{len(self.files) + 1:04d}"
        self.files[fid] = (data, content_type)
        return f"{self.service_url}files/{fid}/{urllib.parse.quote(name)}"

    async def _file(self, request: web.Request) -> web.Response:
        fid = request.match_info["fid"]
        self.downloads.append({"file": fid, "authorization": request.headers.get("Authorization")})
        if fid not in self.files:
            return web.Response(status=404, text="not found")
        data, ctype = self.files[fid]
        return web.Response(body=data, content_type=ctype)

    # -- reading ------------------------------------------------------------------------------------

    def messages(self, where=None) -> list[Post]:
        """Recorded message sends and replies (not creates or updates), optionally filtered."""
        return [p for p in self.posts if p.kind in ("send", "reply") and (where is None or where(p))]

    async def wait_for(self, where=None, count: int = 1, timeout: float = 10.0) -> list[Post]:
        """Wait until at least ``count`` messages match ``where``; returns the first ``count``.

        Raises:
            TimeoutError: fewer arrived within ``timeout`` seconds (the message lists what did).
        """
        deadline = time.monotonic() + timeout
        async with self._changed:
            while True:
                found = self.messages(where)
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = [(p.kind, p.conversation_id, p.text[:80]) for p in self.posts]
                    raise TimeoutError(f"expected {count} matching messages, got {len(found)}; all: {seen}")
                try:
                    await asyncio.wait_for(self._changed.wait(), left)
                except TimeoutError:
                    pass

    async def settle(self, seconds: float = 0.2) -> None:
        """Give stragglers time to arrive."""
        await asyncio.sleep(seconds)


# -- activities Teams sends -------------------------------------------------------------------------


def _base(service_url: str, user: str, conversation: dict, aad: str | None = None, name: str = "Staff Member") -> dict:
    frm = {"id": user, "name": name}
    if aad:
        frm["aadObjectId"] = aad
    return {
        "id": f"1:{uuid.uuid4().hex[:16]}",
        "channelId": "msteams",
        "serviceUrl": service_url,
        "timestamp": "2025-03-14T09:30:00.000Z",
        "from": frm,
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": conversation,
        "channelData": {"tenant": {"id": TENANT}},
        "locale": "en-GB",
    }


def personal_conversation(user: str) -> dict:
    """The personal (1:1) conversation of ``user`` with the bot."""
    return {"id": f"a:1on1-{user}", "conversationType": "personal", "tenantId": TENANT}


def message(
    service_url: str, text: str, user: str = "29:1staffMember", aad: str | None = None, conversation: dict | None = None
) -> dict:
    """A message in ``user``'s personal chat with the bot (or in ``conversation``)."""
    a = _base(service_url, user, conversation or personal_conversation(user), aad)
    a.update(type="message", text=text, textFormat="plain")
    return a


def file_message(
    service_url: str,
    files: list[tuple[str, str]],
    user: str = "29:1staffMember",
    text: str = "",
    emulator: bool = False,
    conversation: dict | None = None,
) -> dict:
    """A message in ``user``'s personal chat with ``files`` (``(name, url)``) attached, as Teams sends
    them to a bot that supports files (``file.download.info`` with ``content.downloadUrl``, plus the
    message's own ``text/html`` attachment), or as the Emulator does (``emulator``: ``contentUrl``)."""
    a = message(service_url, text, user=user, conversation=conversation)
    attachments = []
    for name, url in files:
        if emulator:
            attachments.append({"contentType": "application/octet-stream", "contentUrl": url, "name": name})
        else:
            ext = name.rsplit(".", 1)[-1] if "." in name else ""
            attachments.append(
                {
                    "contentType": "application/vnd.microsoft.teams.file.download.info",
                    "contentUrl": "https://contoso.sharepoint.example/personal/" + name,
                    "name": name,
                    "content": {"downloadUrl": url, "uniqueId": uuid.uuid4().hex, "fileType": ext},
                }
            )
    if not emulator:
        attachments.append({"contentType": "text/html", "content": f"<p>{text}</p>"})
    a["attachments"] = attachments
    return a


def mention(service_url: str, text: str, user: str = "29:1staffMember", thread: str = "1700000000001") -> dict:
    """A channel message that @mentions the bot: ``<at>Policybot</at> text``, in a thread."""
    conv = {
        "id": f"{CHANNEL_CONV};messageid={thread}",
        "conversationType": "channel",
        "isGroup": True,
        "tenantId": TENANT,
    }
    a = _base(service_url, user, conv)
    a.update(
        type="message",
        text=f"<at>{BOT_NAME}</at> {text}",
        textFormat="plain",
        entities=[{"type": "mention", "text": f"<at>{BOT_NAME}</at>", "mentioned": {"id": BOT_ID, "name": BOT_NAME}}],
    )
    a["channelData"].update(team={"id": "19:team@thread.tacv2"}, channel={"id": CHANNEL_CONV})
    return a


def submit(
    service_url: str,
    data: dict,
    user: str = "29:1staffMember",
    reply_to: str | None = None,
    conversation: dict | None = None,
    inputs: dict | None = None,
) -> dict:
    """An Adaptive Card ``Action.Submit``: a message activity whose ``value`` is the button's data
    merged with the card's inputs, replying to the card's activity."""
    a = _base(service_url, user, conversation or personal_conversation(user))
    a.update(type="message", value=dict(data, **(inputs or {})))
    if reply_to:
        a["replyToId"] = reply_to
    return a


def installed(service_url: str, user: str = "29:1staffMember", aad: str | None = None) -> dict:
    """The ``conversationUpdate`` Teams sends when ``user`` adds the app for themselves."""
    a = _base(service_url, user, personal_conversation(user), aad)
    a.update(type="conversationUpdate", membersAdded=[{"id": BOT_ID}])
    return a
