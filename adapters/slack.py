"""Slack channel: Bolt (async) over ``POST /slack/events`` or Socket Mode, translating to and from the core.

Inbound: DMs (files in a DM downloaded within the upload limit), mentions (replied to in the thread),
``/policy`` (ephemeral reply; ``/policy report`` and the global shortcut start the report flow in the DM),
button presses and modal submissions, each a ``bot.messages.Inbound`` (user ids: ``bot.identities``).
The App Home tab (``app_home_opened``, its buttons, republished when cases change) is ``adapters.slack_home``.
Rendering: ``render_messages`` / ``render_modal`` / ``form_modal`` lay out Block Kit within its limits.
Sending: ``chat.postMessage`` (DMs through ``conversations.open``), ``response_url`` and ``views.*``;
where each reply goes is ``bot.views.route``'s rule. Work happens after the ack; logs carry ids and
request types, never text. ``SlackChannel.handle_http`` lists the checks before Bolt sees a request.

Configuration (environment): ``SLACK_BOT_TOKEN``, ``SLACK_SIGNING_SECRET`` (HTTP), ``SLACK_APP_TOKEN``
(Socket Mode), ``SLACK_API_URL`` (Web API base URL, default ``https://slack.com/api/``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from cachetools import LRUCache
from slack_sdk.errors import SlackApiError, SlackClientError

from adapters.payloads import BadPayload, decode_text, object_or_empty, parse_form, parse_json_object
from adapters.server import ConfigError, EventDeduper, ServerContext
from bot.forms import submit_value
from bot.identities import directory_id, platform_id
from bot.messages import REPORT_ACTION_ID, Action, Inbound, Outbound
from bot.text import pack, split_text, truncate
from bot.views import (
    FEEDBACK_BUTTONS,
    POINTER_TEXT,
    PositionView,
    QuoteView,
    comparison_rows,
    feedback_token,
    is_feedback_action,
    parse_vote,
    quote_sections,
    route,
    thanks_text,
    wants_feedback,
    wants_modal,
)

log = logging.getLogger("policybot.slack")
#: what a Web API / response_url call raises when Slack refuses (``SlackApiError``, a subclass of
#: ``SlackClientError``) or cannot be reached
SLACK_ERRORS = (SlackClientError, aiohttp.ClientError, asyncio.TimeoutError)

DEFAULT_API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
MAX_REQUEST_AGE = 300  #: seconds a request's timestamp may be off the channel's clock (see ``verify_request``)
REPLAY_WINDOW = 2 * MAX_REQUEST_AGE  #: seconds an interactive request's key is remembered (covers ±300 s)
DM_CACHE_SIZE = 10_000  #: DM channel ids kept by ``open_dm`` (least recently used forgotten first)

# Block Kit limits
MAX_BLOCKS = 50  #: blocks in one message
MAX_MODAL_BLOCKS = 100  #: blocks in one modal view
MAX_TEXT = 3000  #: characters in a section / context text
MAX_HEADER = 150  #: characters in a header block's text
MAX_FIELD = 2000  #: characters in a section field's text
MAX_BUTTON_TEXT = 75
MAX_VALUE = 2000  #: characters in a button value
MAX_ACTION_ID = 255
MAX_BUTTONS = 25  #: elements in one actions block
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000  #: characters of the notification ``text`` we send alongside the blocks

# Adapter-owned action ids (never passed to the engine)
OPEN_INPUT = "pb_open_input"
FEEDBACK_BLOCK = "pb_feedback"
CHOICE_SECTION = "pb_choice_"  #: block id prefix of choices shown as sections (labels too long for a button)
INPUT_BLOCK = "pb_input"
INPUT_ACTION = "pb_text"
MODAL_CALLBACK = "pb_modal"
INPUT_CALLBACK = "pb_input_modal"
DONE_CALLBACK = "pb_done"
FORM_CALLBACK = "pb_form"  #: a core form (``bot.forms``) shown as a modal
FORM_BLOCK = "pb_f_"  #: block id prefix of a form field's input (then the field name)
FORM_ACTION = "pb_f"  #: action id of every form field's ``plain_text_input``

_SUFFIX = re.compile(r"\|p[bk]\d+$")
_KEEP_SUFFIX = re.compile(r"\|pk\d+$")  #: a button that leaves its message open (``Outbound.keep_choices``)

HELP_TEXT = (
    "Ask me about the social media policies: `/policy can I accept a colleague's friend request?`\n"
    "Report a concern in confidence: `/policy report` (we'll continue in a private message).\n"
    "You can also message me directly, or mention me in a channel."
)


# -- configuration ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlackSettings:
    """Slack credentials and mode.

    Attributes:
        bot_token: ``xoxb-…`` bot token.
        signing_secret: verifies HTTP requests; None in Socket Mode without HTTP.
        app_token: ``xapp-…`` app-level token (Socket Mode).
        api_url: Web API base URL, ending in ``/``.
        socket_mode: connect over Socket Mode instead of (or besides) serving ``/slack/events``.
    """

    bot_token: str
    signing_secret: str | None
    app_token: str | None
    api_url: str = DEFAULT_API_URL
    socket_mode: bool = False


def slack_settings(env: Mapping[str, str], socket_mode: bool = False) -> SlackSettings | None:
    """Read Slack's configuration from ``env``; None when Slack is not configured at all.

    HTTP mode needs ``SLACK_BOT_TOKEN`` and ``SLACK_SIGNING_SECRET``; Socket Mode (``socket_mode``)
    needs ``SLACK_BOT_TOKEN`` and ``SLACK_APP_TOKEN``. ``SLACK_API_URL`` alone does not enable Slack.

    Raises:
        ConfigError: a half-set configuration (the message names what is missing) or a malformed value.
    """
    got = {
        n: (env.get(n) or "").strip() or None
        for n in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_API_URL")
    }
    bot, secret, app_token = got["SLACK_BOT_TOKEN"], got["SLACK_SIGNING_SECRET"], got["SLACK_APP_TOKEN"]
    api_url = got["SLACK_API_URL"] or DEFAULT_API_URL
    if not (bot or secret or app_token):
        if socket_mode:
            raise ConfigError("--slack-socket-mode needs SLACK_BOT_TOKEN and SLACK_APP_TOKEN; neither is set")
        return None
    missing = [
        n for n in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN" if socket_mode else "SLACK_SIGNING_SECRET") if not got[n]
    ]
    if missing:
        hint = (
            " (or pass --slack-socket-mode to use SLACK_APP_TOKEN without a public URL)"
            if app_token and not socket_mode
            else ""
        )
        mode = " Socket Mode" if socket_mode else ""
        raise ConfigError(f"Slack{mode} is half-configured: set {' and '.join(missing)}{hint}")
    if not bot.startswith("xox"):
        raise ConfigError("SLACK_BOT_TOKEN should be the bot token starting with 'xoxb-'")
    if socket_mode and not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN should be the app-level token starting with 'xapp-'")
    if not re.match(r"^https?://", api_url):
        raise ConfigError(f"SLACK_API_URL must be an http(s) URL, not {api_url!r}")
    if not api_url.endswith("/"):
        api_url += "/"
    return SlackSettings(bot, secret, app_token, api_url, socket_mode)


def check_config(server_settings) -> None:
    """Validate Slack's configuration for ``policybot serve``; raises ``ConfigError`` when half-set."""
    slack_settings(server_settings.env, server_settings.slack_socket_mode)


# -- text ---------------------------------------------------------------------------------------


def escape(text: str) -> str:
    """Escape ``&``, ``<`` and ``>`` for Slack mrkdwn (the only characters Slack requires escaped)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def slack_to_plain(text: str, bot_user_id: str | None = None) -> str:
    """Plain text from a Slack message: the bot's own mention removed, links and mentions shown as text,
    ``&amp;``/``&lt;``/``&gt;`` unescaped."""

    def link(m: re.Match) -> str:
        target, label = m.group(1), m.group(2)
        if target.startswith("@"):
            return "" if bot_user_id and target[1:] == bot_user_id else "@" + (label or target[1:])
        if target.startswith("#"):
            return "#" + (label or target[1:])
        if target.startswith("!"):
            return "@" + (label or target[1:].split("^")[0])
        return label or target

    text = _LINK.sub(link, text or "")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").strip()


def _quote_fmt(piece: str) -> str:
    return "\n".join("> " + line if line else ">" for line in escape(piece).split("\n"))


def _mrkdwn(text: str) -> dict:
    return {"type": "mrkdwn", "text": text, "verbatim": True}


def _plain(text: str, limit: int = MAX_TEXT) -> dict:
    return {"type": "plain_text", "text": truncate(text, limit), "emoji": True}


def _sections(text: str) -> list[dict]:
    return [{"type": "section", "text": _mrkdwn(piece)} for piece in split_text(text, MAX_TEXT, escape)]


# -- action ids ---------------------------------------------------------------------------------


def encode_action_id(action_id: str, n: int, keep: bool = False) -> str:
    """A Block Kit ``action_id`` for the ``n``-th button carrying ``action_id`` (unique within a message);
    ``keep``: pressing it leaves the message's buttons in place (e.g. it opens a form)."""
    return truncate(action_id, MAX_ACTION_ID - 8) + (f"|pk{n}" if keep else f"|pb{n}")


def decode_action_id(slack_action_id: str) -> str:
    """The core's action id back from ``encode_action_id``'s output (other ids pass through)."""
    return _SUFFIX.sub("", slack_action_id or "")


def _button(label: str, action_id: str, value: str = "", style: str | None = None) -> dict:
    b = {"type": "button", "text": _plain(label, MAX_BUTTON_TEXT), "action_id": action_id}
    if value:
        b["value"] = value[:MAX_VALUE]
    if style in ("primary", "danger"):
        b["style"] = style
    return b


def _choice_blocks(choices, prefix: str = "pb_choices", keep=()) -> list[dict]:
    """Buttons for ``choices``: ``actions`` blocks of up to 25 buttons; when a label is too long for a
    button (75 characters), each choice becomes a section with its full label and a "Choose" button.
    Choices whose action id is in ``keep`` leave the message open when pressed."""
    if any(len(c.label) > MAX_BUTTON_TEXT for c in choices):
        return [
            {
                "type": "section",
                "block_id": f"{CHOICE_SECTION}{i}",
                "text": _mrkdwn(truncate(escape(c.label), MAX_TEXT)),
                "accessory": _button("Choose", encode_action_id(c.action_id, i, c.action_id in keep), c.value, c.style),
            }
            for i, c in enumerate(choices)
        ]
    blocks = []
    buttons = [
        _button(c.label, encode_action_id(c.action_id, i, c.action_id in keep), c.value, c.style)
        for i, c in enumerate(choices)
    ]
    for start in range(0, len(buttons), MAX_BUTTONS):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"{prefix}_{start // MAX_BUTTONS}",
                "elements": buttons[start : start + MAX_BUTTONS],
            }
        )
    return blocks


def _feedback_block(msg: Outbound) -> dict:
    value = feedback_token(msg, MAX_VALUE)
    return {
        "type": "actions",
        "block_id": FEEDBACK_BLOCK,
        "elements": [_button(b.label, b.action_id, value) for b in FEEDBACK_BUTTONS],
    }


# -- rendering ----------------------------------------------------------------------------------


def _quote_group(view: QuoteView) -> list[dict]:
    blocks: list[dict] = []
    if view.lead_in:
        pieces = split_text(view.lead_in, MAX_TEXT, escape)[:MAX_CONTEXT_ELEMENTS]
        blocks.append({"type": "context", "elements": [_mrkdwn(p) for p in pieces]})
    for piece in split_text(view.text, MAX_TEXT, _quote_fmt):
        blocks.append({"type": "section", "text": _mrkdwn(piece)})
    lines = (view.source_line,) + view.also_lines[: MAX_CONTEXT_ELEMENTS - 1]
    blocks.append({"type": "context", "elements": [_mrkdwn(truncate(escape(line), MAX_TEXT)) for line in lines]})
    return blocks


def _heading(text: str) -> dict:
    """A ``header`` block, or a bold section when ``text`` is too long for one (never cut)."""
    if len(text) <= MAX_HEADER:
        return {"type": "header", "text": _plain(text, MAX_HEADER)}
    return {"type": "section", "text": _mrkdwn(truncate(f"*{escape(text)}*", MAX_TEXT))}


def _position_group(row: PositionView) -> list[dict]:
    """A comparison row: a section with the organisation and its stance as two fields, then its quote."""
    fields = [
        _mrkdwn(truncate(f"*{label}*\n{escape(value)}", MAX_FIELD))
        for label, value in (("Organisation", row.organisation), ("Stance", row.stance))
    ]
    return [{"type": "section", "fields": fields}] + (_quote_group(row.quote) if row.quote is not None else [])


def content_groups(msg: Outbound) -> list[list[dict]]:
    """The message's content blocks as groups that must stay in one message: the text (a comparison's
    topic as a header before it), a comparison's rows (``_position_group``), then each quote, a section's
    heading (``bot.views.quote_sections``) kept with its first quote."""
    groups: list[list[dict]] = [[b] for b in _sections(msg.text)] if msg.text else []
    if msg.comparison is not None:
        groups[:1] = [[_heading(f"Compare: {msg.comparison.topic}")] + (groups[0] if groups else [])]
    groups += [_position_group(row) for row in comparison_rows(msg)]
    for section in quote_sections(msg):
        quotes = [_quote_group(v) for v in section.quotes]
        if section.heading:
            quotes[0].insert(0, _heading(section.heading))
        groups += quotes
    return groups


def render_messages(msg: Outbound) -> list[dict]:
    """Block Kit for one outbound message: a list of ``{"text": fallback, "blocks": [...]}`` payloads,
    several when the content exceeds 50 blocks; buttons (choices, feedback) go in the last one.

    Every text object holds at most 3,000 characters; each quote is a ``>`` section with its lead-in
    (context, before) and citation (context, after). A comparison is its topic (header), summary, then per
    organisation a section with two fields (organisation, stance) followed by its quote, if any.
    """
    tail = _choice_blocks(msg.choices, keep=msg.keep_choices)
    if msg.choices_note:  # e.g. a warning that belongs beside the Publish button
        tail.insert(0, {"type": "context", "elements": [_mrkdwn(truncate("⚠️ " + escape(msg.choices_note), MAX_TEXT))]})
    opener = msg.form.open if msg.form is not None else None
    if opener is not None:  # shown in a message (no modal could open): a button opens it
        tail.append(
            {
                "type": "actions",
                "block_id": "pb_form_open",
                "elements": [
                    _button(
                        opener.label or "Open the form",
                        encode_action_id(opener.action_id, 0, True),
                        opener.value,
                        "primary",
                    )
                ],
            }
        )
    if msg.input_hint == "long_text":
        tail.append(
            {
                "type": "actions",
                "block_id": "pb_input_open",
                "elements": [_button("Write in a form", OPEN_INPUT, json.dumps({"p": msg.text[:1500]}))],
            }
        )
    if wants_feedback(msg):
        tail.append(_feedback_block(msg))
    packed = pack(content_groups(msg), tail, MAX_BLOCKS)
    fallback = truncate(msg.text or "Policybot", MAX_FALLBACK)
    out = []
    for i, blocks in enumerate(packed):
        out.append(
            {"text": fallback if i == 0 else truncate(f"{fallback} (continued)", MAX_FALLBACK), "blocks": blocks}
        )
    return out


def render_modal(msg: Outbound, private_metadata: dict, callback_id: str = MODAL_CALLBACK) -> dict:
    """A modal view for a prompt: its text and quotes, an input when ``input_hint`` is set, its choices
    as buttons. ``private_metadata`` (JSON-able, small) comes back on submit / close. A core form
    (``Outbound.form``) becomes ``form_modal``."""
    if msg.form is not None:
        return form_modal(msg, private_metadata.get("dm"))
    tail = _choice_blocks(msg.choices)
    if msg.input_hint:
        tail.insert(0, _answer_input(msg.input_hint == "long_text"))
    blocks = [b for g in content_groups(msg) for b in g]
    room = MAX_MODAL_BLOCKS - len(tail)
    if len(blocks) > room:
        note = _mrkdwn("… (shortened to fit)")
        blocks = blocks[: room - 1] + [{"type": "context", "elements": [note]}]
    return _modal(
        callback_id,
        msg.title or "Policybot",
        blocks + tail,
        "Close",
        "Send" if msg.input_hint else None,
        private_metadata,
        notify_on_close=True,
    )


def _modal(
    callback_id: str,
    title: str,
    blocks: list[dict],
    close: str,
    submit: str | None = None,
    meta: dict | None = None,
    **extra,
) -> dict:
    view = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, 24),
        "close": _plain(close, 24),
        "blocks": blocks,
        **extra,
    }
    if submit:
        view["submit"] = _plain(submit, 24)
    if meta is not None:
        view["private_metadata"] = json.dumps(meta)[:3000]
    return view


def _answer_input(multiline: bool) -> dict:
    return {
        "type": "input",
        "block_id": INPUT_BLOCK,
        "label": _plain("Your answer", 2000),
        "element": {"type": "plain_text_input", "action_id": INPUT_ACTION, "multiline": multiline, "max_length": 3000},
    }


def form_modal(msg: Outbound, dm_channel: str | None) -> dict:
    """A core form (``bot.forms``) as a modal: the message text, one ``plain_text_input`` a field
    (block id ``pb_f_<name>``, prefilled, its hint under it) and the form's submit label.

    ``private_metadata`` carries the DM, the form's action id, value and field names, so the submit
    (``SlackChannel._on_view_submission``) can be checked and sent to the core without other state.
    """
    form = msg.form
    if form is None:
        raise ValueError("form_modal needs an Outbound with a form")
    blocks = _sections(msg.text)[:10] if msg.text else []
    for f in form.fields:
        element: dict = {"type": "plain_text_input", "action_id": FORM_ACTION, "multiline": False}
        if f.max_length is not None and len(f.value) <= f.max_length <= 3000:
            element["max_length"] = f.max_length
        if f.value:
            element["initial_value"] = f.value[:3000]
        block = {
            "type": "input",
            "block_id": f"{FORM_BLOCK}{f.name}",
            "label": _plain(f.label or f.name, 2000),
            "element": element,
        }
        if f.hint:
            block["hint"] = _plain(f.hint, 2000)
        blocks.append(block)
    meta = {"dm": dm_channel, "form": form.action_id, "value": form.value, "fields": [f.name for f in form.fields]}
    return _modal(
        FORM_CALLBACK,
        form.title or msg.title or "Policybot",
        blocks[:MAX_MODAL_BLOCKS],
        "Cancel",
        form.submit or "Save",
        meta,
    )


def form_values(view: dict) -> dict[str, str]:
    """The typed values of a ``form_modal`` view on submit: ``{field name: text}`` ("" when left empty)."""
    values = (view.get("state") or {}).get("values") or {}
    out: dict[str, str] = {}
    for block_id, actions in values.items():
        if str(block_id).startswith(FORM_BLOCK) and isinstance(actions, dict):
            entry = actions.get(FORM_ACTION)
            out[str(block_id)[len(FORM_BLOCK) :]] = str((entry.get("value") if isinstance(entry, dict) else "") or "")
    return out


def input_modal(prompt: str, dm_channel: str) -> dict:
    """The "Write in a form" modal: the prompt and one multi-line input; submitted text becomes a DM message."""
    return _modal(
        INPUT_CALLBACK,
        "Policybot",
        _sections(prompt or "Your answer")[:5] + [_answer_input(True)],
        "Cancel",
        "Send",
        {"dm": dm_channel},
    )


def done_view(text: str = "Thank you. I'll carry on in our direct messages.") -> dict:
    """A closing modal view (no buttons) used after an action inside a modal."""
    return _modal(DONE_CALLBACK, "Policybot", _sections(text), "Close")


def mark_chosen(blocks: list[dict], block_id: str, label: str | None = None) -> list[dict]:
    """``blocks`` with the pressed choice's block replaced by a "✓ label" context line (no more presses).

    For buttons in an ``actions`` block, that block is replaced; for choices shown as sections, all of
    them are replaced by one line with the chosen section's text (``label`` is then ignored).
    """
    if block_id.startswith(CHOICE_SECTION):
        hits = [i for i, b in enumerate(blocks) if str(b.get("block_id", "")).startswith(CHOICE_SECTION)]
        line = "✓ " + next((b.get("text", {}).get("text", "") for b in blocks if b.get("block_id") == block_id), "")
    else:
        hits = [i for i, b in enumerate(blocks) if b.get("type") == "actions" and b.get("block_id") == block_id]
        line = "✓ " + escape(label or "Done")
    mark = {"type": "context", "block_id": block_id, "elements": [_mrkdwn(line)]}
    return [mark if hits and i == hits[0] else b for i, b in enumerate(blocks) if i not in hits[1:]]


# -- requests: signature, shape, replays -----------------------------------------------------------------

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
_TIMESTAMP = re.compile(r"[0-9]{1,12}")  #: ASCII digits only (``str.isdigit`` accepts "²", which ``int`` refuses)
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  #: ASCII only: ``hmac.compare_digest`` raises on non-ASCII str
_TYPE_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
#: interactivity payload types a listener takes; others are acknowledged (empty 200) and not processed
LISTENED_PAYLOADS = ("block_actions", "view_submission", "view_closed", "shortcut", "message_action")
#: event fields the listeners read as text
_EVENT_TEXT_FIELDS = ("user", "channel", "text", "ts", "thread_ts", "event_ts", "channel_type", "subtype", "bot_id")


def verify_request(secret: str, raw: bytes, timestamp: str, signature: str, now: float) -> bool:
    """True when ``raw`` (the body's bytes exactly as received) carries Slack's v0 signature with ``secret``.

    ``timestamp`` (``X-Slack-Request-Timestamp``) must be 1-12 ASCII digits within ``MAX_REQUEST_AGE`` of
    ``now`` (seconds; ``abs(floor(now) - ts) < 300``, past and future alike) and ``signature`` ASCII
    ``v0=<64 lowercase hex>``; anything else is False, never an exception. The signature is slack_sdk's
    ``SignatureVerifier.generate_signature``, compared in constant time; bytes that are not UTF-8 (which
    it cannot take) are signed the same way, HMAC-SHA256 over ``b"v0:" + ts + b":" + raw``.
    """
    from slack_sdk.signature import SignatureVerifier

    if not (_TIMESTAMP.fullmatch(timestamp) and _SIGNATURE.fullmatch(signature)):
        return False
    if abs(math.floor(now) - int(timestamp)) >= MAX_REQUEST_AGE:
        return False
    try:
        expected = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=raw.decode("utf-8"))
    except UnicodeDecodeError:
        expected = (
            "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + raw, hashlib.sha256).hexdigest()
        )
    return hmac.compare_digest(expected or "", signature)


@dataclass(frozen=True)
class SlackBody:
    """A signed body that passed ``check_body``.

    Attributes:
        kind: ``"url_verification"``, ``"event_callback"``, ``"slash_command"``, an interactivity payload
            type (``"block_actions"``, ...) or another type Slack sent (then ``ignore`` is True).
        body: what Bolt's listeners get: the JSON object, the ``payload`` object or the command's fields.
        text: the raw body as text (Bolt checks the signature again over it).
        ignore: acknowledge with an empty 200 and do nothing (a type no listener takes).
    """

    kind: str
    body: dict
    text: str
    ignore: bool = False


def _types(obj: dict, where: str, **types) -> None:
    """Raise ``BadPayload`` (400) when a present, non-null ``obj[key]`` is not of ``types[key]``."""
    for key, kind in types.items():
        value = obj.get(key)
        if value is not None and not isinstance(value, kind):
            raise BadPayload(f"{where}.{key} has the wrong type")


def _ids_ok(obj: dict, where: str) -> None:
    """Bolt reads ``user``, ``channel``, ``team`` and ``enterprise`` as an id or an object with an ``id``,
    and ``authorizations`` as a list of objects."""
    _types(
        obj,
        where,
        user=(str, dict),
        channel=(str, dict),
        team=(str, dict),
        enterprise=(str, dict),
        authorizations=list,
        user_id=str,
        channel_id=str,
        team_id=str,
        enterprise_id=str,
    )
    if any(not isinstance(a, dict) for a in obj.get("authorizations") or ()):
        raise BadPayload(f"{where}.authorizations has the wrong type")


def _user_ok(payload: dict, kind: str) -> None:
    user = payload.get("user")
    if not isinstance(user, dict) or not isinstance(user.get("id"), str) or not user["id"]:
        raise BadPayload(f"{kind} without a user")


def _check_event(body: dict) -> None:
    _types(body, "body", event_id=str, api_app_id=str)
    event = body.get("event")
    if not isinstance(event, dict) or not isinstance(event.get("type"), str):
        raise BadPayload("event_callback without an event")
    _ids_ok(event, "event")
    for key in ("message", "previous_message", "item"):
        if isinstance(event.get(key), dict):
            _ids_ok(event[key], f"event.{key}")
    if event["type"] in ("message", "app_mention"):
        _types(event, "event", files=list, **{k: str for k in _EVENT_TEXT_FIELDS})


def _check_view(view, kind: str) -> None:
    if not isinstance(view, dict):
        raise BadPayload(f"{kind} without a view")
    _types(view, "view", id=str, callback_id=str, private_metadata=str, state=dict, blocks=list)
    _types(view.get("state") or {}, "view.state", values=dict)
    if any(not isinstance(b, dict) for b in view.get("blocks") or ()):
        raise BadPayload("view.blocks has the wrong type")


def _check_payload(p: dict, kind: str) -> None:
    """The fields of interactivity payload ``p`` that the listeners read (raises ``BadPayload``)."""
    _ids_ok(p, "payload")
    _types(
        p,
        "payload",
        trigger_id=str,
        response_url=str,
        callback_id=str,
        action_ts=str,
        container=dict,
        message=dict,
        actions=list,
    )
    _user_ok(p, kind)
    if kind == "block_actions":
        actions = p.get("actions")
        if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
            raise BadPayload("block_actions without actions")
        _types(actions[0], "action", value=str, type=str, block_id=str, action_ts=str, text=dict)
        if not isinstance(actions[0].get("action_id"), str):
            raise BadPayload("block_actions without an action_id")
        _types(p, "payload", view=dict)
        _types(p.get("container") or {}, "container", type=str, channel_id=str, message_ts=str, view_id=str)
        message = p.get("message") or {}
        _types(message, "message", text=str, blocks=list, ts=str)
        if any(not isinstance(b, dict) for b in message.get("blocks") or ()):
            raise BadPayload("message.blocks has the wrong type")
        if p.get("view") is not None:
            _check_view(p["view"], kind)
    elif kind in ("view_submission", "view_closed"):
        _check_view(p.get("view"), kind)
        if not isinstance(p["view"].get("callback_id"), str):
            raise BadPayload(f"{kind} without a callback_id")  # Bolt's listeners match on it
    elif not isinstance(p.get("callback_id"), str):  # shortcut, message_action
        raise BadPayload(f"{kind} without a callback_id")


def _check_json(text: str) -> SlackBody:
    body = parse_json_object(text)
    kind = body.get("type")
    if not isinstance(kind, str) or not kind:
        raise BadPayload("body without a type")
    if kind in ("url_verification", "event_callback"):
        _ids_ok(body, "body")  # read by Bolt's context on every request
    if kind == "url_verification":
        if not isinstance(body.get("challenge"), str):
            raise BadPayload("url_verification without a challenge")
        return SlackBody(kind, body, text)
    if kind == "event_callback":
        _check_event(body)
        return SlackBody(kind, body, text)
    return SlackBody(kind, body, text, ignore=True)  # app_rate_limited, and types Slack may add


def _check_form(text: str) -> SlackBody:
    from urllib.parse import parse_qsl

    fields = parse_form(text)
    if "payload" in fields:
        if sum(1 for name, _ in parse_qsl(text, keep_blank_values=True) if name == "payload") != 1:
            raise BadPayload("payload given more than once")  # Bolt would read the last, this check the first
        p = parse_json_object(fields["payload"])
        kind = p.get("type")
        if not isinstance(kind, str) or not kind:
            raise BadPayload("payload without a type")
        if kind not in LISTENED_PAYLOADS:
            return SlackBody(kind, p, text, ignore=True)
        _check_payload(p, kind)
        return SlackBody(kind, p, text)
    if "ssl_check" in fields:
        return SlackBody("ssl_check", fields, text, ignore=True)
    if "command" in fields:
        if not fields["command"].startswith("/") or len(fields["command"]) < 2:
            raise BadPayload("slash command without a command")
        if not fields.get("user_id"):
            raise BadPayload("slash command without a user_id")
        return SlackBody("slash_command", fields, text)
    raise BadPayload("neither a command nor a payload")


def check_body(raw: bytes, content_type: str | None, charset: str | None = None) -> SlackBody:
    """Read a signed ``/slack/events`` body the way Bolt will, so that Bolt cannot fail on it.

    JSON (``application/json``, or any body starting with ``{`` as Bolt reads it) must be an object with a
    string ``type``; ``url_verification`` needs a string ``challenge``, ``event_callback`` an ``event``
    object with a string ``type``. A form body (``application/x-www-form-urlencoded``) is an interactivity
    ``payload`` (one JSON object with a string ``type``; listened types need a ``user`` with an ``id`` and,
    for button presses, an action with an ``action_id``; modal payloads a ``view`` object) or a slash
    command (``command`` starting with ``/`` and a ``user_id``). Fields the listeners read must have the
    types Slack gives them. Bodies are UTF-8 (Slack's charset).

    Returns:
        ``SlackBody``; ``ignore`` is set for types no listener takes (answer an empty 200).

    Raises:
        BadPayload: 400 for a malformed body or shape, 415 for another media type or charset.
    """
    if charset and charset.strip().lower() not in ("utf-8", "utf8"):
        raise BadPayload("Slack bodies are UTF-8", status=415)
    text = decode_text(raw, "utf-8")
    ctype = (content_type or "").strip().lower()
    if ctype == JSON_TYPE or text.startswith("{"):
        return _check_json(text)
    if ctype != FORM_TYPE:
        raise BadPayload("unsupported media type", status=415)
    return _check_form(text)


def replay_key(checked: SlackBody) -> str | None:
    """The key under which a signed interactive request is handled once (None for other requests): its
    ``trigger_id`` (slash commands, shortcuts, button presses and modal submissions carry one), else a digest
    of what identifies the interaction (type, user, action id, ``action_ts``, message or view, value)."""
    body = checked.body
    if checked.ignore or checked.kind not in LISTENED_PAYLOADS + ("slash_command",):
        return None
    trigger = body.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return "trigger:" + trigger
    if checked.kind == "slash_command":
        parts = [body.get(k) for k in ("user_id", "command", "text", "channel_id", "response_url")]
    else:
        actions = body.get("actions") if isinstance(body.get("actions"), list) else []
        action = actions[0] if actions and isinstance(actions[0], dict) else {}
        parts = [
            checked.kind,
            _dig(body, "user", "id"),
            action.get("action_id"),
            action.get("action_ts") or body.get("action_ts"),
            _dig(body, "container", "message_ts"),
            _dig(body, "container", "view_id") or _dig(body, "view", "id"),
            _dig(body, "view", "hash"),
            action.get("value"),
            body.get("callback_id"),
        ]
    return "digest:" + hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def request_type(body) -> str:
    """A content-free name for a Slack request body: its ``type`` when that is a plain lower-case name
    (``event_callback:<event type>`` for events), ``"slash_command"`` for a command, else ``"other"``."""
    if not isinstance(body, dict):
        return "other"
    if body.get("type") is None and isinstance(body.get("command"), str):
        return "slash_command"

    def name(value) -> str:
        return value if isinstance(value, str) and _TYPE_NAME.fullmatch(value) else "other"

    kind, event = name(body.get("type")), body.get("event")
    return f"{kind}:{name(event.get('type'))}" if kind == "event_callback" and isinstance(event, dict) else kind


# -- the channel --------------------------------------------------------------------------------


@dataclass
class Target:
    """Where replies to one inbound go: a channel (and thread), or a ``response_url`` (ephemeral)."""

    channel: str | None = None
    thread_ts: str | None = None
    response_url: str | None = None
    is_dm: bool = False  # the bot's own DM with the user


class SlackChannel:
    """The Slack channel of the server: a Bolt ``AsyncApp`` wired to the conversation engine.

    Args:
        ctx: the server context (engine, directory, delivery, background work).
        settings: ``SlackSettings``.
    """

    name = "slack"

    def __init__(self, ctx: ServerContext, settings: SlackSettings):
        from slack_bolt.async_app import AsyncApp
        from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
        from slack_sdk.web.async_client import AsyncWebClient

        from adapters.slack_home import SlackHome

        self.ctx = ctx
        self.home = SlackHome(self)  #: the App Home tab
        self.settings = settings
        self.dedupe = EventDeduper()
        self.replays = EventDeduper(ttl=REPLAY_WINDOW)  #: keys of interactive requests already handled
        self.clock = time.time  #: seconds since the epoch; request timestamps are checked against it
        self.bot_user_id: str | None = None
        self._dm_cache: LRUCache[str, str] = LRUCache(maxsize=DM_CACHE_SIZE)  # Slack user id -> DM channel id
        self._socket = None
        self._socket_task: asyncio.Task | None = None
        # Bolt's and slack_sdk's INFO/DEBUG lines carry payloads (report text): keep them quiet.
        bolt_logger = self._bolt_log = _quiet_logger("policybot.slack.bolt", logging.WARNING)
        self._http_log = _quiet_logger("policybot.slack.http", logging.INFO)
        if _not_token_warning not in bolt_logger.filters:
            bolt_logger.addFilter(_not_token_warning)
        self.client = AsyncWebClient(
            token=settings.bot_token, base_url=settings.api_url, timeout=15, logger=self._http_log
        )
        self.client.retry_handlers.append(AsyncRateLimitErrorRetryHandler(max_retry_count=2))
        self.bolt = AsyncApp(
            name="policybot",
            client=self.client,
            signing_secret=settings.signing_secret or "",
            process_before_response=False,
            raise_error_for_unhandled_request=True,  # to _on_error, instead of a warning that prints the body
            request_verification_enabled=False,  # handle_http verifies the raw bytes before Bolt sees them
            logger=bolt_logger,
        )
        self._register()

    # -- Bolt wiring --------------------------------------------------------------------------------

    def _register(self) -> None:
        app = self.bolt
        app.use(self._dedupe_middleware)
        app.event("message")(self._on_message)
        app.event("app_mention")(self._on_mention)
        app.event("app_home_opened")(self.home.on_opened)
        app.event(re.compile(".*"))(self._on_other_event)
        app.command(re.compile(".*"))(self._on_command)
        app.action(re.compile(".*"))(self._on_action)
        app.shortcut(re.compile(".*"))(self._on_shortcut)
        app.view_submission(re.compile(".*"))(self._on_view_submission)
        app.view_closed(re.compile(".*"))(self._on_view_closed)
        app.error(self._on_error)

    async def _dedupe_middleware(self, body: dict, request, next):
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if isinstance(event_id, str) and event_id and not self.dedupe.first_time(event_id):
            retry = (request.headers.get("x-slack-retry-num") or ["-"])[0]
            log.info("duplicate event %r (retry %r) ignored", event_id, retry)
            from slack_bolt.response import BoltResponse

            return BoltResponse(status=200, body="")
        return await next()

    async def _on_error(self, error: Exception, body: dict) -> None:
        from slack_bolt.error import BoltUnhandledRequestError

        if isinstance(error, BoltUnhandledRequestError):
            log.warning("Slack unhandled request of type %r", request_type(body))
            return
        event_id = body.get("event_id") if isinstance(body, dict) else None
        ident = event_id if isinstance(event_id, str) and event_id else request_type(body)
        log.error("Slack listener failed (%r): %s", ident, type(error).__name__)

    async def handle_http(self, request: web.Request) -> web.Response:
        """``POST /slack/events``.

        1. 401 unless ``verify_request`` accepts the raw bytes, ``X-Slack-Request-Timestamp`` and
           ``X-Slack-Signature`` against the signing secret and ``self.clock`` (before any parsing).
        2. 400 / 415 when ``check_body`` refuses the body (malformed, wrong shape, charset or media type);
           an empty 200 for a request type no listener takes.
        3. An empty 200 for a replay of an interactive request already handled (``replay_key``).
        4. An event (``event_callback``) is acknowledged with an empty 200 at once and Bolt dispatches it in
           the background, so the ack never waits for Bolt or the engine. Anything else Bolt dispatches
           before answering (its own signature check is off); an exception or a 5xx inside Bolt is answered
           400, logged with the type only.
        """
        raw = await request.read()
        timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
        signature = request.headers.get("X-Slack-Signature", "")
        if not verify_request(self.settings.signing_secret or "", raw, timestamp, signature, self.clock()):
            return web.json_response({"error": "invalid request"}, status=401)
        try:
            return await self._handle_signed(request, raw)
        except Exception as exc:  # a signed request is never answered 500; the exception may quote the body
            log.error("signed Slack request failed: %s", type(exc).__name__)
            return web.json_response({"error": "request not processed"}, status=400)

    async def _handle_signed(self, request: web.Request, raw: bytes) -> web.Response:
        from slack_bolt.adapter.aiohttp import to_aiohttp_response
        from slack_bolt.context.async_context import AsyncBoltContext
        from slack_bolt.request.async_internals import build_async_context
        from slack_bolt.request.async_request import AsyncBoltRequest

        try:
            checked = check_body(raw, request.content_type, request.charset)
        except BadPayload as exc:
            log.info("signed Slack request refused (HTTP %d): %s", exc.status, exc.reason)
            return web.json_response({"error": exc.reason}, status=exc.status)
        kind = request_type(checked.body)
        if checked.ignore:
            log.info("Slack request of type %r acknowledged, not handled", kind)
            return web.Response(status=200)
        key = replay_key(checked)
        if key is not None and not self.replays.first_time(key):
            log.info("replayed Slack request of type %r ignored", kind)
            return web.Response(status=200)
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            headers.setdefault(name.lower(), value)
        try:
            bolt_req = AsyncBoltRequest(body=checked.text, query=request.query_string, headers=headers)
            # Bolt's own reading takes any body containing "payload" for an interactivity body (a slash
            # command's text too): listeners get the body checked above instead.
            bolt_req.body = checked.body
            bolt_req.context = build_async_context(AsyncBoltContext({}), checked.body)
        except (AttributeError, TypeError, KeyError, ValueError) as exc:  # ids Bolt's context cannot read
            log.info(
                "signed Slack request of type %r refused (HTTP 400): Bolt cannot read its ids (%s)",
                kind,
                type(exc).__name__,
            )
            return web.json_response({"error": "ids of the wrong type"}, status=400)
        if checked.kind == "event_callback":  # an event's ack is always an empty 200: send it before Bolt runs
            self.ctx.spawn(self._dispatch_event(bolt_req, kind), "slack event")
            return web.Response(status=200)
        try:
            bolt_resp = await self.bolt.async_dispatch(bolt_req)
        except Exception as exc:  # anything at all: the exception may quote the body, so its type only
            log.error("Slack request of type %r failed in Bolt: %s", kind, type(exc).__name__)
            bolt_resp = None
        if bolt_resp is not None and bolt_resp.status < 500:
            return await to_aiohttp_response(bolt_resp)
        if bolt_resp is not None:
            log.warning("Slack request of type %r not processed (Bolt answered %d)", kind, bolt_resp.status)
        if checked.kind == "event_callback":
            return web.Response(status=200)  # a 5xx would only make Slack send it again
        return web.json_response({"error": "request not processed"}, status=400)

    async def _dispatch_event(self, bolt_req: object, kind: str) -> None:
        """Bolt's dispatch of an event already acknowledged (its answer has no body for Slack to read)."""
        try:
            bolt_resp = await self.bolt.async_dispatch(bolt_req)
        except Exception as exc:  # anything at all: the exception may quote the body, so its type only
            log.error("Slack request of type %r failed in Bolt: %s", kind, type(exc).__name__)
            return
        if bolt_resp.status >= 500:
            log.warning("Slack request of type %r not processed (Bolt answered %d)", kind, bolt_resp.status)

    async def start(self) -> None:
        """Check the token (``auth.test``; a failure is logged, not fatal) and connect Socket Mode if asked."""
        try:
            auth = await self.client.auth_test()
            self.bot_user_id = auth.get("user_id")
            self._prime_bolt_auth(auth)
            log.info("Slack: connected as %s in team %s", auth.get("user_id"), auth.get("team_id"))
        except SLACK_ERRORS as exc:
            log.warning("Slack auth.test failed at startup (%s); will retry on the first request", _err(exc))
        if self.settings.socket_mode:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.bolt, self.settings.app_token, logger=self._bolt_log)
            self._socket_task = asyncio.create_task(self._connect_socket())

    async def _connect_socket(self) -> None:
        delay = 1.0
        while True:
            try:
                await self._socket.connect_async()
                log.info("Slack Socket Mode connected")
                return
            except asyncio.CancelledError:
                raise
            except Exception:  # any failure to connect is retried; the traceback names no message content
                log.error("Slack Socket Mode connection failed; retrying in %.0f s", delay, exc_info=True)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 60.0)

    async def stop(self) -> None:
        """Disconnect Socket Mode (if connected)."""
        if self._socket_task is not None:
            self._socket_task.cancel()
            await asyncio.gather(self._socket_task, return_exceptions=True)
        if self._socket is not None:
            await self._socket.close_async()

    def _prime_bolt_auth(self, auth) -> None:
        # Saves Bolt's single-team authorization its own auth.test on the first request (first-ack latency).
        from slack_bolt.middleware.authorization.async_single_team_authorization import AsyncSingleTeamAuthorization

        for mw in getattr(self.bolt, "_async_middleware_list", []):
            if isinstance(mw, AsyncSingleTeamAuthorization) and mw.auth_test_result is None:
                mw.auth_test_result = auth

    # -- identities ---------------------------------------------------------------------------------

    def user_id_for(self, slack_user: str) -> str:
        """The directory id of Slack user ``slack_user``, else ``"slack:<U…>"``."""
        return directory_id(self.ctx.directory, "slack", slack_user)

    def slack_id_for(self, user_id: str) -> str | None:
        """The Slack user id for directory user ``user_id`` (or ``"slack:<U…>"``); None if not on Slack."""
        return platform_id(self.ctx.directory, "slack", user_id)

    async def open_dm(self, slack_user: str) -> str:
        """The id of the bot's DM channel with ``slack_user`` (``conversations.open``; the ids of the
        ``DM_CACHE_SIZE`` most recently used users are kept).

        Raises:
            slack_sdk.errors.SlackApiError: Slack refused (e.g. ``user_not_found``).
        """
        cached = self._dm_cache.get(slack_user)
        if cached:
            return cached
        resp = await self.client.conversations_open(users=slack_user)
        channel = resp["channel"]["id"]
        self._dm_cache[slack_user] = channel
        return channel

    # -- delivery -----------------------------------------------------------------------------------

    async def deliver(self, user_id: str, outbound: Outbound) -> bool:
        """Send ``outbound`` to directory user ``user_id``'s DM; False when they have no Slack id or Slack refuses."""
        slack_user = self.slack_id_for(user_id)
        if not slack_user:
            return False
        try:
            dm = await self.open_dm(slack_user)
            await self.post(Target(channel=dm, is_dm=True), outbound)
        except SLACK_ERRORS as exc:
            log.warning("Slack delivery of a %s failed: %s", outbound.kind, _err(exc))
            return False
        if outbound.case_id:  # a new case, a reminder, an escalation...: their Home tab's case list
            self.home.touch(user_id)
        return True

    async def cases_changed(self, refs: frozenset[str]) -> None:
        """``adapters.server.CaseWatcher``: refresh the Home tabs that show those cases (``SlackHome.refresh_for``)."""
        await self.home.refresh_for(refs)

    async def post(self, target: Target, outbound: Outbound) -> None:
        """Post ``outbound`` (split as needed) to ``target``: ``chat.postMessage`` to its channel / thread,
        or an ephemeral reply through its ``response_url``.

        Raises:
            slack_sdk.errors.SlackApiError: Slack refused a message (the rest are not sent).
        """
        for payload in render_messages(outbound):
            await self._send(target, payload["text"], payload["blocks"])

    async def _send(self, target: Target, text: str, blocks: list[dict] | None) -> None:
        if target.response_url:
            body = {"response_type": "ephemeral", "replace_original": False, "text": text}
            await self._respond(target.response_url, dict(body, blocks=blocks) if blocks else body)
        else:
            await self.client.chat_postMessage(
                channel=target.channel,
                text=text,
                blocks=blocks,
                thread_ts=target.thread_ts,
                unfurl_links=False,
                unfurl_media=False,
            )

    async def _respond(self, response_url: str | None, body: dict) -> None:
        if not response_url:
            return
        from slack_sdk.webhook.async_client import AsyncWebhookClient

        try:
            resp = await AsyncWebhookClient(response_url, logger=self._http_log).send_dict(body)
        except SLACK_ERRORS as exc:
            log.warning("Slack response_url failed: %s", _err(exc))
            return
        if resp.status_code >= 400:
            log.warning("Slack response_url refused a reply (HTTP %s)", resp.status_code)

    async def run(
        self,
        inbound: Inbound,
        slack_user: str,
        target: Target,
        trigger_id: str | None = None,
        view_id: str | None = None,
    ) -> None:
        """Pass ``inbound`` to the engine and route its outbounds.

        Where each outbound goes is ``bot.views.route``'s rule: outbounds for someone else (and, from a
        channel, private notes for this user) go through ``ctx.deliver``; when a channel, mention or slash
        command produced anything interactive, the whole reply goes to the user's DM with the rule's
        pointer posted ephemerally where they asked. A prompt that wants a modal opens one (``trigger_id``) or replaces the
        current one (``view_id``); after an action inside a modal, the modal is closed with a short note.
        """
        routing = route(await self.ctx.handle(inbound), inbound.user_id, private=target.is_dm)
        posts, elsewhere = routing.here, routing.private + routing.others  # private notes from a channel: ctx.deliver
        if routing.pointer:
            dm = Target(channel=await self.open_dm(slack_user), is_dm=True)
            await self._pointer(target, slack_user, routing.pointer)
            target, posts, elsewhere = dm, routing.private, routing.others
        modal_done = False
        for ob in posts:
            if not modal_done and wants_modal(ob) and (view_id or trigger_id):
                dm = target.channel if target.is_dm else await self.open_dm(slack_user)
                if await self._show_modal(ob, dm, trigger_id, view_id):
                    modal_done = True
                    continue
            await self.post(target, ob)
        for ob in elsewhere:
            await self.ctx.deliver(ob)
        self.home.after_reply(inbound.user_id, posts)  # e.g. a case acknowledged: their Home tab
        if view_id and not modal_done:
            try:
                await self.client.views_update(view_id=view_id, view=done_view())
            except SLACK_ERRORS as exc:
                log.info("could not close the modal: %s", _err(exc))

    async def _pointer(self, target: Target, slack_user: str, text: str = POINTER_TEXT) -> None:
        try:
            if target.response_url:
                await self._respond(target.response_url, {"response_type": "ephemeral", "text": text})
            elif target.channel:
                await self.client.chat_postEphemeral(
                    channel=target.channel, user=slack_user, text=text, thread_ts=target.thread_ts
                )
        except SLACK_ERRORS as exc:
            log.info("could not post the DM pointer: %s", _err(exc))

    async def _show_modal(self, ob: Outbound, dm: str, trigger_id: str | None, view_id: str | None) -> bool:
        view = render_modal(ob, {"dm": dm, "repost": True})
        try:
            if view_id:
                await self.client.views_update(view_id=view_id, view=view)
            else:
                await self.client.views_open(trigger_id=trigger_id, view=view)
            return True
        except SLACK_ERRORS as exc:  # expired trigger (3 s), closed view...: fall back to the DM
            log.info("modal not shown (%s); posting in the DM instead", _err(exc))
            return False

    # -- listeners ----------------------------------------------------------------------------------

    async def _on_message(self, event: dict, body: dict) -> None:
        if (
            event.get("channel_type") == "im"
            and event.get("subtype") in (None, "file_share")
            and not event.get("bot_profile")
        ):
            self._take(event, body, dm=True)

    async def _on_mention(self, event: dict, body: dict) -> None:
        channel = event.get("channel")
        if isinstance(channel, str) and not channel.startswith("D") and event.get("channel_type") != "im":
            self._take(event, body, dm=False)  # in a DM, the message.im event carries it

    def _take(self, event: dict, body: dict, dm: bool) -> None:
        """Handle a person's DM or mention (replied to in its thread) in the background; bots' are ignored
        (our own are dropped by Bolt). Files in a channel are never downloaded: the engine refuses them."""
        user, channel = event.get("user"), event.get("channel")
        if (
            event.get("bot_id")
            or not isinstance(user, str)
            or not user
            or user == self.bot_user_id
            or not isinstance(channel, str)
            or not channel
        ):
            return
        log.info("%s event %r", "DM" if dm else "mention", body.get("event_id"))
        inbound = Inbound(
            user_id=self.user_id_for(user),
            text=slack_to_plain(event.get("text", ""), self.bot_user_id),
            conversation_id=channel,
            private=dm,
            source="message" if dm else "mention",
        )
        thread = event.get("thread_ts") if dm else event.get("thread_ts") or event.get("ts")
        target = Target(channel=channel, thread_ts=thread, is_dm=dm)
        if event.get("files"):
            self.ctx.spawn(self.run_with_files(inbound, event["files"], user, target), "slack file")
        else:
            self.ctx.spawn(self.run(inbound, user, target), "slack message" if dm else "slack mention")

    async def run_with_files(self, inbound: Inbound, files: list, slack_user: str, target: Target) -> None:
        """Download the files of a message (``files`` of a ``file_share`` DM, or of a mention) and ``run``
        the inbound with them.

        Each file is fetched from ``url_private_download`` with the bot token (needs the ``files:read``
        scope), at most the upload limit: a declared ``size`` over it is refused before downloading, a
        longer body is cut off. The token is sent only to Slack's hosts (or the configured API host).
        Files of someone the engine would refuse anyway are not downloaded at all.
        """
        from dataclasses import replace as _replace

        from adapters.uploads import download_file, refused_file, upload_limit

        limit = upload_limit(self.ctx)
        wanted = self.ctx.engine.accepts_files(inbound.user_id, inbound.private)
        got = []
        for f in [f for f in files if isinstance(f, dict)][:10]:
            name = str(f.get("name") or f.get("title") or "upload")
            size = f.get("size") if isinstance(f.get("size"), int) else None
            url = f.get("url_private_download") or f.get("url_private")
            if not wanted:
                got.append(refused_file(name, "not_downloaded", size, f.get("mimetype")))
            elif not url or not self._token_host(url):
                got.append(refused_file(name, "download_failed", size, f.get("mimetype")))
            else:
                got.append(
                    await download_file(
                        name,
                        url,
                        limit,
                        size=size,
                        content_type=f.get("mimetype"),
                        headers={"Authorization": f"Bearer {self.settings.bot_token}"},
                        https_only=False,
                        refuse_html=not name.lower().endswith((".html", ".htm")),
                    )
                )
        log.info("DM with %d file(s), %d downloaded", len(got), sum(1 for g in got if g.problem is None))
        await self.run(_replace(inbound, files=tuple(got)), slack_user, target)

    def _token_host(self, url: str) -> bool:
        """True when the bot token may be sent to ``url``: https on slack.com / slack-gov.com (or a
        subdomain), or the scheme, host and port of ``SLACK_API_URL``."""
        from urllib.parse import urlsplit

        try:
            u, api = urlsplit(url), urlsplit(self.settings.api_url)
            if (u.scheme, u.hostname, u.port) == (api.scheme, api.hostname, api.port):
                return True
        except ValueError:
            return False
        host = (u.hostname or "").lower()
        return u.scheme == "https" and any(host == d or host.endswith("." + d) for d in ("slack.com", "slack-gov.com"))

    async def _on_other_event(self, body: dict) -> None:
        log.debug("ignored event %r of type %r", body.get("event_id"), (body.get("event") or {}).get("type"))

    async def _on_command(self, ack, command: dict) -> None:
        text = (command.get("text") or "").strip()
        word = text.lower().rstrip(".!")
        if word in ("", "help", "?"):
            await ack(response_type="ephemeral", text=HELP_TEXT)
            return
        await ack()
        user = command["user_id"]
        if word in ("report", "report a concern", "report concern"):
            self.ctx.spawn(
                self.start_report(user, command.get("trigger_id"), command.get("response_url")), "slack report"
            )
            return
        private = command.get("channel_name") == "directmessage"
        inbound = Inbound(
            user_id=self.user_id_for(user),
            text=slack_to_plain(text),
            source="command",
            conversation_id=command.get("channel_id") or "slack",
            private=private,
        )
        target = Target(channel=command.get("channel_id"), response_url=command.get("response_url"))
        self.ctx.spawn(self.run(inbound, user, target, trigger_id=command.get("trigger_id")), "slack command")

    async def start_report(
        self, slack_user: str, trigger_id: str | None = None, response_url: str | None = None
    ) -> None:
        """Start the core's report flow for ``slack_user`` in their DM (never in a channel)."""
        dm = await self.open_dm(slack_user)
        if response_url:
            await self._respond(response_url, {"response_type": "ephemeral", "text": POINTER_TEXT})
        await self._run_in_dm(slack_user, dm, trigger_id, source="action", action=report_start_action())

    async def _run_in_dm(
        self, slack_user: str, dm: str | None, trigger_id: str | None, view_id: str | None = None, **fields
    ) -> None:
        """``run`` an ``Inbound(**fields)`` from ``slack_user`` in the bot's DM with them (``dm``, else opened)."""
        dm = dm or await self.open_dm(slack_user)
        inbound = Inbound(user_id=self.user_id_for(slack_user), conversation_id=dm, private=True, **fields)
        await self.run(inbound, slack_user, Target(channel=dm, is_dm=True), trigger_id=trigger_id, view_id=view_id)

    async def _on_shortcut(self, ack, body: dict) -> None:
        await ack()
        log.info("shortcut %r", body.get("callback_id"))
        self.ctx.spawn(self.start_report(body["user"]["id"], body.get("trigger_id")), "slack shortcut")

    async def _on_action(self, ack, body: dict) -> None:
        await ack()
        self.ctx.spawn(self._handle_action(body), "slack action")

    async def _handle_action(self, body: dict) -> None:
        user = body["user"]["id"]
        action = (body.get("actions") or [{}])[0]
        slack_aid = action.get("action_id", "")
        log.info("action %r", slack_aid)
        container = body.get("container") or {}
        message = body.get("message") or {}
        response_url = body.get("response_url")
        if is_feedback_action(slack_aid):
            await self._vote(user, slack_aid, action.get("value", ""), container, message, response_url)
            return
        if _dig(body, "view", "type") == "home":  # the App Home tab's buttons
            await self.home.on_action(body)
            return
        if slack_aid == OPEN_INPUT:
            prompt = str(object_or_empty(action.get("value")).get("p") or "")
            dm = _bot_dm(container) or await self.open_dm(user)
            try:
                await self.client.views_open(trigger_id=body.get("trigger_id"), view=input_modal(prompt, dm))
            except SLACK_ERRORS as exc:
                log.info("input modal not opened: %s", _err(exc))
            return
        if action.get("type") not in (None, "button"):
            return  # selects, date pickers... are read on submit
        view_id = (body.get("view") or {}).get("id") if container.get("type") == "view" else None
        keep = bool(_KEEP_SUFFIX.search(slack_aid))  # e.g. Edit details: Publish / Cancel stay pressable
        if (
            _in_bot_dm(container) and message.get("blocks") and not keep
        ):  # never in a channel: others would see the choice
            label = ((action.get("text") or {}).get("text")) or "Done"
            blocks = mark_chosen(message["blocks"], action.get("block_id", ""), label)
            self.ctx.spawn(
                self._respond(
                    response_url, {"replace_original": True, "text": message.get("text", ""), "blocks": blocks}
                ),
                "slack mark",
            )
        await self._run_in_dm(
            user,
            _bot_dm(container),
            body.get("trigger_id"),
            view_id,
            source="action",
            action=Action(decode_action_id(slack_aid), action.get("value", "")),
        )

    async def _vote(
        self, user: str, slack_aid: str, value: str, container: dict, message: dict, response_url: str | None
    ):
        vote = parse_vote(slack_aid, value)
        if vote.question:
            await self.ctx.record_feedback(
                helpful=vote.helpful,
                question=vote.question,
                clause_ids=list(vote.clause_ids),
                user_id=self.user_id_for(user),
            )
        thanks = thanks_text(vote.helpful)
        if _in_bot_dm(container) and message.get("blocks"):  # in a channel, thank the voter privately
            blocks = [
                {"type": "context", "block_id": FEEDBACK_BLOCK, "elements": [_mrkdwn(thanks)]}
                if b.get("block_id") == FEEDBACK_BLOCK
                else b
                for b in message["blocks"]
            ]
            await self._respond(
                response_url, {"replace_original": True, "text": message.get("text", ""), "blocks": blocks}
            )
        else:
            await self._respond(response_url, {"response_type": "ephemeral", "replace_original": False, "text": thanks})

    async def _on_view_submission(self, ack, body: dict, view: dict) -> None:
        if view.get("callback_id") == FORM_CALLBACK:
            await self._on_form_submission(ack, body, view)
            return
        await ack()
        meta = object_or_empty(view.get("private_metadata"))
        text = _dig(view, "state", "values", INPUT_BLOCK, INPUT_ACTION, "value")
        self.ctx.spawn(
            self._run_in_dm(
                body["user"]["id"],
                _meta_dm(meta),
                body.get("trigger_id"),
                source="message",
                text=text if isinstance(text, str) else "",
            ),
            "slack view",
        )

    async def _on_form_submission(self, ack, body: dict, view: dict) -> None:
        """A core form's modal submitted: refused values come back on their fields at once
        (``response_action: errors``, the modal stays open, nothing changes); otherwise the modal
        closes and the filled form goes to the core, whose reply (e.g. the updated preview) goes to the DM."""
        meta = object_or_empty(view.get("private_metadata"))
        action_id = str(meta.get("form") or "")
        if not action_id:
            await ack()
            return
        values = form_values(view)
        errors = self.ctx.engine.check_form(action_id, values)
        if errors:
            log.info("form %r refused on %d field(s)", action_id, len(errors))
            await ack(
                response_action="errors", errors={f"{FORM_BLOCK}{k}": truncate(str(v), 150) for k, v in errors.items()}
            )
            return
        await ack()
        action = Action(action_id, submit_value(str(meta.get("value") or ""), values))
        self.ctx.spawn(
            self._run_in_dm(body["user"]["id"], _meta_dm(meta), body.get("trigger_id"), source="action", action=action),
            "slack form",
        )

    async def _on_view_closed(self, ack, body: dict, view: dict) -> None:
        await ack()
        meta = object_or_empty(view.get("private_metadata"))
        if view.get("callback_id") != MODAL_CALLBACK or not meta.get("repost") or not isinstance(meta.get("dm"), str):
            return
        # The user closed a prompt's modal: put the prompt in the DM so the flow can go on there.
        blocks = [b for b in view.get("blocks") or [] if isinstance(b, dict) and b.get("type") != "input"][:MAX_BLOCKS]
        self.ctx.spawn(
            self._send(Target(channel=meta["dm"], is_dm=True), "Policybot: please choose below", blocks), "slack repost"
        )


def _dig(obj, *keys):
    """``obj[k1][k2]...`` through dicts only; None where a level is missing or not a dict."""
    for key in keys:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj


def _in_bot_dm(container: dict) -> bool:
    """True when an interaction came from a (non-ephemeral) message the bot posted in a DM."""
    return (
        container.get("type") == "message"
        and not container.get("is_ephemeral")
        and str(container.get("channel_id") or "").startswith("D")
    )


def _bot_dm(container: dict) -> str | None:
    """The bot's DM with the user when the interaction came from a message the bot posted there, else None."""
    return container["channel_id"] if _in_bot_dm(container) else None


def _meta_dm(meta: dict) -> str | None:
    """The DM channel id a modal's ``private_metadata`` carries, or None."""
    dm = meta.get("dm")
    return dm if isinstance(dm, str) and dm else None


def report_start_action() -> Action:
    """The action that opens the core's report flow (what the "Report a concern" button sends)."""
    return Action(REPORT_ACTION_ID, "")


def _not_token_warning(record: logging.LogRecord) -> bool:
    """A log filter dropping Bolt's "`token` will be unused" warning (expected: we pass a client)."""
    return "`token` will be unused" not in record.getMessage()


def _quiet_logger(name: str, floor: int) -> logging.Logger:
    """Logger ``name`` with its level raised to at least ``floor`` unless someone configured it on purpose
    (a level below ``floor`` set explicitly is kept)."""
    logger = logging.getLogger(name)
    if logger.level == logging.NOTSET:
        logger.setLevel(floor)
    return logger


def _err(exc: BaseException) -> str:
    """A short, content-free description of a Slack error (the API's error code when there is one)."""
    code = exc.response.get("error") if isinstance(exc, SlackApiError) else None
    return f"{type(exc).__name__}{f' {code}' if isinstance(code, str) else ''}"


def attach(app: web.Application, ctx: ServerContext) -> SlackChannel | None:
    """Attach Slack to the server: ``POST /slack/events`` (when a signing secret is set) and, with
    ``ctx.settings.slack_socket_mode``, a Socket Mode connection on startup.

    Returns None when Slack is not configured.

    Raises:
        ConfigError: half-set credentials.
    """
    settings = slack_settings(ctx.settings.env, ctx.settings.slack_socket_mode)
    if settings is None:
        return None
    channel = SlackChannel(ctx, settings)
    if settings.signing_secret:
        app.router.add_post(EVENTS_PATH, channel.handle_http)
    return channel
