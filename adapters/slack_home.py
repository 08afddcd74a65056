"""Slack's App Home tab: ``bot.home.HomeView`` as a Block Kit ``home`` view, published per user.

``render_home(view)`` lays the view out (header, how to ask with examples, the "Report a concern"
button, the open cases of a handler or HR, at most ``MAX_CASES`` lines and a pointer to ``cases``);
``SlackHome`` publishes it with ``views.publish``:

* when the user opens the Home tab (``app_home_opened`` with ``tab == "home"``);
* when their cases may have changed: a private message about a case delivered to them on Slack (a new
  case, a reminder, an escalation, a reporter's reply), or a reply about a case to something they did
  (acknowledge, ask, close); and whenever the server says cases changed (``adapters.server.CaseWatcher``: a
  report submitted or a case acted on in any channel or the admin console, reminders and escalations), for
  those who opened the tab since the server started and may see one of those cases (its handler, HR).
  Such refreshes are published only for handlers and HR, and a burst of them for one person becomes at
  most one publish running and one queued.

Publishing runs in the background (never before Slack's ack); the view is computed on the engine thread
(``ServerContext.run_blocking``: reporting is not thread-safe) and its list read is audited as
``"slack_home"``. Failures are logged with the error type or Slack's error code only, never raised.
The Home's buttons send the core's own actions: "Report a concern" starts the report in the DM as the
shortcut does, "Open" posts the case to the DM (``case:show``).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cachetools import LRUCache

from adapters.slack import (
    MAX_MODAL_BLOCKS,
    MAX_TEXT,
    SLACK_ERRORS,
    _button,
    _err,
    _mrkdwn,
    _plain,
    decode_action_id,
    encode_action_id,
    escape,
)
from bot.home import REPORT_ACTION_ID, HomeView, home_view
from bot.messages import Action
from bot.text import truncate

if TYPE_CHECKING:
    from adapters.slack import SlackChannel

log = logging.getLogger("policybot.slack.home")

VIA = "slack_home"  #: how the home's reads are named in the case audit
HOME_CALLBACK = "pb_home"
MAX_VIEWERS = 10_000  #: people whose Home tab is refreshed when cases change (those who opened it most recently)
MAX_CASES = 20  #: case lines shown; the rest are counted with a pointer to ``cases``
SLASH_TIP = "Or type `/policy` and your question in any channel: only you will see the answer."
MORE_CASES = "… and {n} more: type `cases` in our direct messages to list them all."


def case_line(case) -> str:
    """One case as mrkdwn: ``*C-00001* · Category · status · acknowledge by 9 Dec 17:00`` then, when
    they apply, ``:warning: overdue``, ``escalated to HR`` and (for HR) ``handler: Name``."""
    parts = [f"*{escape(case.ref)}*", escape(case.category), escape(case.status)]
    if case.deadline:
        parts.append(escape(case.deadline))
    if case.overdue:
        parts.append(":warning: overdue")
    if case.escalated:
        parts.append("escalated to HR")
    if case.handler:
        parts.append(f"handler: {escape(case.handler)}")
    return truncate(" · ".join(parts), MAX_TEXT)


def render_home(view: HomeView) -> dict:
    """The ``{"type": "home", "callback_id": "pb_home", "blocks": [...]}`` view for ``view``.

    Blocks: a header; the intro; "Ask a question" with the examples and how to ask; "Report a concern"
    with its button (``encode_action_id(REPORT_ACTION_ID, 0)``, decoded to the core's report action)
    when ``view.report`` is set, or only the note; for a handler or HR, "Your open cases" / "Open cases",
    the count line, then one section per case (``case_line``) with an "Open" button, at most
    ``MAX_CASES``, then "… and N more". Never more than Slack's 100 blocks.
    """
    hello = f"Hi {view.name.split()[0]}. " if view.name.strip() else ""
    examples = "\n".join(f"• {escape(q)}" for q in view.examples)
    blocks: list[dict] = [
        {"type": "header", "text": _plain("Policybot", 150)},
        {"type": "section", "text": _mrkdwn(truncate(escape(hello + view.intro), MAX_TEXT))},
        {"type": "divider"},
        {"type": "section", "text": _mrkdwn(truncate(f"*Ask a question*\nFor example:\n{examples}", MAX_TEXT))},
        {"type": "section", "text": _mrkdwn(truncate(escape(view.how_to_ask), MAX_TEXT))},
        {"type": "context", "elements": [_mrkdwn(SLASH_TIP)]},
    ]
    if view.report is not None or view.report_note:
        blocks.append({"type": "divider"})
        text = f"*Report a concern*\n{escape(view.report_note)}"
        blocks.append({"type": "section", "text": _mrkdwn(truncate(text, MAX_TEXT))})
        if view.report is not None:
            r = view.report
            button = _button(r.label, encode_action_id(r.action_id, 0), r.value, r.style)
            blocks.append({"type": "actions", "block_id": "pb_home_report", "elements": [button]})
    if view.role is not None:
        blocks.append({"type": "divider"})
        blocks.append({"type": "header", "text": _plain("Open cases" if view.role == "hr" else "Your open cases")})
        blocks.append({"type": "context", "elements": [_mrkdwn(escape(view.count_line))]})
        room = MAX_MODAL_BLOCKS - len(blocks) - 1  # one for "and N more"
        shown = view.cases[: min(MAX_CASES, room)]
        for i, case in enumerate(shown, start=1):
            choice = view.open_choice(case)
            blocks.append(
                {
                    "type": "section",
                    "block_id": f"pb_home_case_{i}",
                    "text": _mrkdwn(case_line(case)),
                    "accessory": _button(choice.label, encode_action_id(choice.action_id, i), choice.value),
                }
            )
        if len(view.cases) > len(shown):
            more = MORE_CASES.format(n=len(view.cases) - len(shown))
            blocks.append({"type": "context", "elements": [_mrkdwn(more)]})
    return {"type": "home", "callback_id": HOME_CALLBACK, "blocks": blocks[:MAX_MODAL_BLOCKS]}


class SlackHome:
    """Publishes users' Home tabs for a ``SlackChannel`` (its client, context and id mapping).

    Args:
        channel: the ``adapters.slack.SlackChannel``.
    """

    def __init__(self, channel: SlackChannel):
        self.channel = channel
        self._running: set[str] = set()  # directory ids with a publish in progress
        self._again: dict[str, bool] = {}  # directory id -> publish again afterwards (value: even without a role)
        self._viewers: LRUCache[str, bool] = LRUCache(maxsize=MAX_VIEWERS)  # directory ids who opened the tab

    async def on_opened(self, event: dict) -> None:
        """Bolt's ``app_home_opened`` listener: the Home tab's view for that user, published in the background."""
        user = event.get("user")
        if event.get("tab") == "home" and isinstance(user, str) and user:
            user_id = self.channel.user_id_for(user)
            self._viewers[user_id] = True
            self.touch(user_id, always=True)

    def touch(self, user_id: str, always: bool = False) -> None:
        """Publish directory user ``user_id``'s Home tab soon (in the background; returns at once).

        ``always``: publish even when they neither handle cases nor are HR (they opened the tab);
        otherwise such a person's home is left as it is (it shows no cases).
        """
        if user_id in self._running:
            self._again[user_id] = self._again.get(user_id, False) or always
            return
        self._running.add(user_id)
        self.channel.ctx.spawn(self._publish_loop(user_id, always), "slack home")

    async def refresh_for(self, refs: frozenset[str]) -> None:
        """The cases ``refs`` may have changed anywhere (a report submitted, a case acted on in any channel or
        the admin console, a reminder or escalation): ``touch`` those who opened their Home tab since this
        process started (at most ``MAX_VIEWERS``, the least recent forgotten) and may see one of those cases
        in it: its handler and HR (``ReportingService.people_concerned``). Errors are logged by type only."""
        ctx = self.channel.ctx
        if ctx.reporting is None or not self._viewers:
            return
        try:
            concerned = await ctx.run_blocking(ctx.reporting.people_concerned, refs)
        except Exception as exc:  # reporting's database; type only (never content)
            log.error("Slack homes not refreshed: %s", type(exc).__name__)
            return
        for user_id in list(self._viewers):
            if user_id in concerned:
                self.touch(user_id)

    def after_reply(self, user_id: str, outs: list) -> None:
        """After the core answered ``user_id``: when a reply is about a case (an acknowledgement, a
        question sent, a case closed or shown), their cases may have changed: ``touch`` them."""
        if any(getattr(o, "case_id", None) for o in outs):
            self.touch(user_id)

    async def _publish_loop(self, user_id: str, always: bool) -> None:
        try:
            while True:
                await self.publish(user_id, always)
                if user_id not in self._again:
                    return
                always = self._again.pop(user_id)
        finally:
            self._running.discard(user_id)
            self._again.pop(user_id, None)

    async def publish(self, user_id: str, always: bool = True) -> bool:
        """Compute and publish ``user_id``'s Home tab now; True when Slack took it.

        False (logged without content) when they have no Slack id, when ``always`` is False and they have
        no cases role, when the view cannot be computed or when Slack refuses. Never raises.
        """
        slack_user = self.channel.slack_id_for(user_id)
        if not slack_user:
            return False
        ctx = self.channel.ctx
        try:
            view = await ctx.run_blocking(home_view, user_id, ctx.directory, ctx.reporting, VIA)
        except Exception as exc:  # reporting's database; type only (never content)
            log.error("Slack home not computed: %s", type(exc).__name__)
            return False
        if view.role is None and not always:
            return False
        try:
            await self.channel.client.views_publish(user_id=slack_user, view=render_home(view))
        except SLACK_ERRORS as exc:
            log.warning("Slack home not published: %s", _err(exc))
            return False
        log.info("Slack home published (%d case(s))", len(view.cases))
        return True

    async def on_action(self, body: dict) -> None:
        """A button pressed in the Home tab: "Report a concern" starts the report in the DM as the
        shortcut does; any other core action (``case:show``) runs in the DM as if pressed there."""
        user = body["user"]["id"]
        action = (body.get("actions") or [{}])[0]
        action_id = decode_action_id(str(action.get("action_id") or ""))
        trigger_id = body.get("trigger_id")
        if action_id == REPORT_ACTION_ID:
            await self.channel.start_report(user, trigger_id)
            return
        value = str(action.get("value") or "")
        await self.channel._run_in_dm(user, None, trigger_id, source="action", action=Action(action_id, value))
