"""Console adapter: plain-text rendering of outbound messages and an interactive chat loop."""

from __future__ import annotations

import sys
import textwrap

from bot.messages import Inbound, Outbound


def render_quote_lines(quote) -> list[str]:
    """A quote as indented text lines: lead-in (if any), the verbatim clause, its citation."""
    from bot.answer import display_lead_in

    lines = []
    if quote.lead_in:
        lines.append(f"  {display_lead_in(quote.lead_in)}")
    lines += textwrap.wrap(f"“{quote.text}”", width=96, initial_indent="  > ", subsequent_indent="    ")
    lines.append(f"    — {quote.citation.label()}")
    for other in quote.also:
        lines.append(f"    — also: {other.label()}")
    return lines


def render_answer(answer) -> str:
    """Text for a ``bot.answer.Answer`` (the ``policybot ask`` output)."""
    from bot.engine import answer_message

    return render(answer_message(answer))


def render(msg: Outbound) -> str:
    """Plain text for one outbound message; choices become numbered options."""
    from bot.answer import group_by_organisation

    lines = [msg.text] if msg.text else []
    for organisation, quotes in group_by_organisation(msg.quotes):
        lines.append(f"\n{organisation}:")
        for q in quotes:
            lines += render_quote_lines(q)
    for i, choice in enumerate(msg.choices, start=1):
        lines.append(f"  [{i}] {choice.label}")
    return "\n".join(lines)


def run_console(bot, user_id: str = "console", stdin=None, stdout=None) -> int:
    """Chat on the terminal until EOF or ``quit``; a number picks one of the last message's choices."""
    from bot.engine import ConversationEngine

    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    engine = ConversationEngine(bot)
    stdout.write("Ask about the social media policies (type 'quit' to leave).\n")
    last_choices = []
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
            from bot.messages import Action

            inbound = Inbound(user_id=user_id, source="action", action=Action(c.action_id, c.value))
        else:
            inbound = Inbound(user_id=user_id, text=text)
        out = engine.handle(inbound)
        last_choices = []
        for msg in out:
            prefix = f"[to {msg.to_user}] " if msg.to_user and msg.to_user != user_id else ""
            stdout.write(prefix + render(msg) + "\n")
            if msg.choices and (msg.to_user in (None, user_id)):
                last_choices = msg.choices
    return 0
