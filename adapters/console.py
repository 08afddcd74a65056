"""Console adapter: plain-text rendering of outbound messages and an interactive chat loop."""

from __future__ import annotations

import sys
import textwrap

from bot.messages import Inbound, Outbound
from bot.views import QuoteView, comparison_rows, quote_sections, route


def render_quote_lines(view: QuoteView) -> list[str]:
    """A quote (a ``bot.views.QuoteView``) as indented text lines: lead-in (if any), the verbatim clause,
    its "Source:" line and any "Also in:" lines."""
    lines = [f"  {view.lead_in}"] if view.lead_in else []
    lines += textwrap.wrap(f"“{view.text}”", width=96, initial_indent="  > ", subsequent_indent="    ")
    return lines + [f"    {line}" for line in (view.source_line,) + view.also_lines]


def render_answer(answer) -> str:
    """Text for a ``bot.answer.Answer`` (the ``policybot ask`` output)."""
    from bot.engine import answer_message

    return render(answer_message(answer))


def render_comparison_lines(msg: Outbound) -> list[str]:
    """A comparison as aligned text: each organisation and its stance in two columns, then its clause."""
    rows = comparison_rows(msg)
    if not rows:
        return []
    width = min(max(len(r.organisation) for r in rows), 60)
    lines = [f"\n{'Organisation'.ljust(width)}  Stance", f"{'-' * width}  {'-' * 15}"]
    for row in rows:
        lines.append(f"{row.organisation.ljust(width)}  {row.stance}")
        if row.quote is not None:
            lines += render_quote_lines(row.quote)
    return lines


def render(msg: Outbound) -> str:
    """Plain text for one outbound message; choices become numbered options."""
    lines = [msg.text] if msg.text else []
    if msg.comparison is not None:
        lines.insert(0, f"Compare: {msg.comparison.topic}")
        lines += render_comparison_lines(msg)
    for section in quote_sections(msg):
        if section.heading:
            lines.append(f"\n== {section.heading} ==")
        groups: dict[str, list[QuoteView]] = {}
        for view in section.quotes:  # grouped by organisation, in order of each one's best quote
            groups.setdefault(view.organisation, []).append(view)
        for organisation, views in groups.items():
            lines.append(f"\n{organisation}:")
            for view in views:
                lines += render_quote_lines(view)
    if msg.input_hint and msg.choices:  # free text expected: a number would be read as text, so name the words
        lines.append("  (or type: " + " | ".join(c.label.lower() for c in msg.choices) + ")")
        return "\n".join(lines)
    for i, choice in enumerate(msg.choices, start=1):
        lines.append(f"  [{i}] {choice.label}")
    return "\n".join(lines)


def _write_messages(out, msgs, user_id: str, directory=None) -> list:
    """Print messages for ``user_id``; a message for someone else shows only a one-line note.

    Returns the choices of the last message for this user that offers choices without expecting
    free text (those are the ones a typed number picks).
    """
    choices = []
    others = {id(m) for m in route(msgs, user_id, private=True).others}  # the console is private
    for msg in msgs:
        if id(msg) in others:
            name = directory.name_of(msg.to_user) if directory is not None else msg.to_user
            out.write(f"[sent privately to {name}]\n")
            continue
        out.write(render(msg) + "\n")
        if msg.choices and not msg.input_hint:
            choices = msg.choices
        elif msg.choices or msg.kind == "prompt":
            choices = []
    return choices


def run_console(bot, user_id: str = "console", stdin=None, stdout=None, engine=None, dev: bool | None = None) -> int:
    """Chat on the terminal until EOF or ``quit``; a number picks one of the last message's choices.

    Private messages queued for ``user_id`` (a handler's notification, a status update) are shown
    when the session starts and after every turn. Reporting is on when a report key is configured
    or in dev mode (``dev`` or ``POLICYBOT_DEV=1``).
    """
    from bot.engine import ConversationEngine
    from bot.messages import Action

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    engine = engine or ConversationEngine(bot, dev=dev)
    directory = engine.reporting.directory if engine.reporting is not None else None
    if engine.reporting is not None:
        stdout.write(
            "Ask about the social media policies, or type 'report' to report a concern privately "
            "(type 'quit' to leave).\n"
        )
    else:
        stdout.write("Ask about the social media policies (type 'quit' to leave).\n")
    last_choices = []
    start = engine.session_start(user_id)
    if start:
        queued = sum(1 for m in start if m.outbox_id is not None)
        if queued:
            stdout.write(f"You have {queued} new message(s):\n")
        last_choices = _write_messages(stdout, start, user_id, directory)
    while True:
        stdout.write("> ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            break
        text = line.strip()
        if text.lower() in {"quit", "exit"}:
            break
        if text.isdigit() and last_choices and 1 <= int(text) <= len(last_choices):
            c = last_choices[int(text) - 1]
            inbound = Inbound(user_id=user_id, source="action", action=Action(c.action_id, c.value))
        else:
            inbound = Inbound(user_id=user_id, text=text)
        out = engine.handle(inbound) + engine.take_pending(user_id)
        last_choices = _write_messages(stdout, out, user_id, directory)
    return 0
