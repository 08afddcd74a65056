"""Adaptive Cards for Microsoft Teams: how each ``bot.messages.Outbound`` looks, and what card submits mean.

Rendering (``render_cards``): one Adaptive Card (version 1.2, the version every Teams client renders)
per message, several when the content would pass Teams' message size limit (about 28 KB). Text and
quotes are ``RichTextBlock``/``TextRun`` elements, which Teams shows as typed (no Markdown), so quotes
stay verbatim and text a reporter typed is never reinterpreted. Each quote is an emphasised container:
the lead-in it completes, the clause, then a subtle ``TextBlock`` with its citation ("Source: …") and
any "Also in: …" lines; when the asker's organisation is known, the quotes come under their section's
heading (``bot.views.quote_sections``: a bold, medium ``TextBlock``). A comparison (``Outbound.comparison``)
is its topic and summary, then a table (``comparison_elements``; schema 1.2 has no ``Table``, so a
``ColumnSet`` a row) of each organisation, its stance as a word and its clause verbatim. Choices are
``Action.Submit`` buttons whose data is ``{"action_id": …, "value": …}``; a choice whose label is too
long for a button is shown in full with a "Choose" button beside it. A prompt with an ``input_hint``
gets an ``Input.Text`` (multi-line for ``"long_text"``) and a Send button; the user can also just type
in the chat. Answers and abstentions that carry their question get Helpful / Not helpful buttons.

A core form (``bot.forms``, ``Outbound.form``, e.g. HR's "Edit details" of an upload preview) is a
labelled ``Input.Text`` a field (id ``pb_f_<name>``, prefilled), the message the core gave for a refused
value under its field, and one ``Action.Submit`` (the form's submit label, e.g. Save). A note for
beside the buttons (``Outbound.choices_note``, e.g. the default-organisation warning) is a warning-coloured
line just above them.

Card submits (``parse_submit``): Teams posts an ``Action.Submit`` as a message activity whose
``value`` is the button's data merged with the card's input values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.forms import Form, submit_value
from bot.messages import Action, Choice, Outbound
from bot.views import (
    FEEDBACK_BUTTONS,
    QuoteView,
    Vote,
    comparison_rows,
    feedback_token,
    is_feedback_action,
    parse_vote,
    quote_sections,
    wants_feedback,
)

CARD_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.2"

MAX_CARD_BYTES = 24_000  #: serialized card size we stay under (Teams refuses messages over ~28 KB)
MAX_BUTTON_LABEL = 36  #: longer choice labels are shown as text with a "Choose" button
MAX_ROW_BUTTONS = 3  #: up to this many short choices share one row; more are listed one a row
MAX_INPUT_CHARS = 4000  #: ``Input.Text`` maxLength (the core refuses longer answers anyway)
MAX_FALLBACK = 2000  #: characters of ``fallbackText``
#: a comparison table's columns: header and relative width
COMPARE_COLUMNS = (("Organisation", 3), ("Stance", 2), ("What the policy says", 7))

# Adapter-owned action ids (never passed to the engine as actions)
SEND_TEXT = "pb_text"  #: the Send button under an ``Input.Text``
INPUT_ID = "pb_input"  #: the ``Input.Text`` id (its value arrives under this key)
FORM_SUBMIT = "pb_form"  #: a core form's submit button
FORM_INPUT = "pb_f_"  #: id prefix of a form field's ``Input.Text`` (then the field name)


# -- elements -----------------------------------------------------------------------------------


def _run(text: str, **props) -> dict:
    return dict({"type": "TextRun", "text": text}, **props)


def rich_lines(text: str, first_bolder: bool = False) -> list[dict]:
    """``text`` as ``RichTextBlock`` elements, one a line (blank lines become spacing), shown as typed."""
    out: list[dict] = []
    gap = False
    for line in (text or "").split("\n"):
        if not line.strip():
            gap = bool(out)
            continue
        props = {"weight": "Bolder"} if first_bolder and not out else {}
        block = {"type": "RichTextBlock", "inlines": [_run(line, **props)]}
        if out:
            block["spacing"] = "Medium" if gap else "None"
        out.append(block)
        gap = False
    return out


def _subtle(text: str) -> dict:
    return {"type": "TextBlock", "text": text, "isSubtle": True, "size": "Small", "wrap": True, "spacing": "Small"}


def _heading(text: str) -> dict:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "size": "Medium", "wrap": True, "spacing": "Large"}


def _quote_items(view: QuoteView) -> list[dict]:
    items: list[dict] = []
    if view.lead_in:
        items.append({"type": "RichTextBlock", "inlines": [_run(view.lead_in, italic=True, isSubtle=True)]})
    items.append({"type": "RichTextBlock", "inlines": [_run(view.text)], **({"spacing": "Small"} if items else {})})
    return items + [_subtle(line) for line in (view.source_line,) + view.also_lines]


def quote_container(view: QuoteView) -> dict:
    """One quote (a ``bot.views.QuoteView``): lead-in (italic, subtle), the clause verbatim, then its
    citation and "Also in" lines."""
    return {"type": "Container", "style": "emphasis", "spacing": "Medium", "items": _quote_items(view)}


def _row(cells: list[list[dict]], **props) -> dict:
    columns = [{"type": "Column", "width": w, "items": items} for (_, w), items in zip(COMPARE_COLUMNS, cells)]
    return {"type": "ColumnSet", "columns": columns, **props}


def comparison_elements(msg: Outbound) -> list[list[dict]]:
    """A comparison's table (``bot.views.comparison_rows``) as groups of body elements, one a row: a header
    row (Organisation / Stance / What the policy says, kept with the first row), then per organisation a
    ``ColumnSet`` of its name, its stance in bold (always the word: no colour carries meaning) and its
    quote as ``quote_container`` shows it (empty when it says nothing). [] for any other message."""
    rows = comparison_rows(msg)
    if not rows:
        return []
    header = [[{"type": "TextBlock", "text": label, "weight": "Bolder", "wrap": True}] for label, _ in COMPARE_COLUMNS]
    groups = [
        [
            _row(
                [
                    [{"type": "RichTextBlock", "inlines": [_run(row.organisation)]}],
                    [{"type": "RichTextBlock", "inlines": [_run(row.stance, weight="Bolder")]}],
                    _quote_items(row.quote) if row.quote is not None else [],
                ],
                separator=True,
                spacing="Medium",
            )
        ]
        for row in rows
    ]
    groups[0].insert(0, _row(header, spacing="Medium"))
    return groups


def submit_data(action_id: str, value: str = "") -> dict:
    """The ``Action.Submit`` data for a choice: ``{"action_id": action_id, "value": value}``."""
    return {"action_id": action_id, "value": value}


def _submit(title: str, data: dict, style: str | None = None) -> dict:
    action = {"type": "Action.Submit", "title": title, "data": data}
    mapped = {"primary": "positive", "danger": "destructive"}.get(style or "")
    if mapped:
        action["style"] = mapped
    return action


def choice_elements(choices: list[Choice]) -> list[dict]:
    """Body elements offering ``choices`` as ``Action.Submit`` buttons.

    Up to ``MAX_ROW_BUTTONS`` short labels share one row; otherwise one choice a row, and a label over
    ``MAX_BUTTON_LABEL`` characters is shown in full beside a "Choose" button.
    """
    if not choices:
        return []
    short = [len(c.label) <= MAX_BUTTON_LABEL for c in choices]
    if all(short) and len(choices) <= MAX_ROW_BUTTONS:
        return [
            {
                "type": "ActionSet",
                "spacing": "Medium",
                "actions": [_submit(c.label, submit_data(c.action_id, c.value), c.style) for c in choices],
            }
        ]
    out = []
    for i, c in enumerate(choices):
        action = _submit(c.label, submit_data(c.action_id, c.value), c.style)
        spacing = "Medium" if i == 0 else "Small"
        if short[i]:
            out.append({"type": "ActionSet", "spacing": spacing, "actions": [action]})
            continue
        out.append(
            {
                "type": "ColumnSet",
                "spacing": spacing,
                "separator": True,
                "selectAction": action,
                "columns": [
                    {
                        "type": "Column",
                        "width": "stretch",
                        "verticalContentAlignment": "Center",
                        "items": [{"type": "RichTextBlock", "inlines": [_run(c.label)]}],
                    },
                    {
                        "type": "Column",
                        "width": "auto",
                        "verticalContentAlignment": "Center",
                        "items": [{"type": "ActionSet", "actions": [dict(action, title="Choose")]}],
                    },
                ],
            }
        )
    return out


def input_elements(hint: str) -> list[dict]:
    """An ``Input.Text`` (multi-line for ``"long_text"``) and a Send button."""
    return [
        {
            "type": "Input.Text",
            "id": INPUT_ID,
            "isMultiline": hint == "long_text",
            "maxLength": MAX_INPUT_CHARS,
            "placeholder": "Type your answer here, or reply in the chat",
            "spacing": "Medium",
        },
        {"type": "ActionSet", "spacing": "Small", "actions": [_submit("Send", submit_data(SEND_TEXT), "primary")]},
    ]


def form_elements(form: Form) -> list[dict]:
    """A core form (``bot.forms.Form``): per field a label, a prefilled ``Input.Text`` (id ``pb_f_<name>``),
    the refusal message in the attention colour (``form.errors``) or else its hint; then the submit
    button, whose data names the form's action, value and fields (see ``parse_submit``)."""
    out: list[dict] = []
    for f in form.fields:
        out.append(
            {"type": "TextBlock", "text": f.label or f.name, "weight": "Bolder", "wrap": True, "spacing": "Medium"}
        )
        field = {"type": "Input.Text", "id": f"{FORM_INPUT}{f.name}", "value": f.value, "spacing": "Small"}
        if f.max_length is not None and len(f.value) <= f.max_length:
            field["maxLength"] = f.max_length
        out.append(field)
        if form.errors.get(f.name):
            out.append(
                {
                    "type": "TextBlock",
                    "text": form.errors[f.name],
                    "color": "Attention",
                    "wrap": True,
                    "size": "Small",
                    "spacing": "Small",
                }
            )
        elif f.hint:
            out.append(_subtle(f.hint))
    data = {
        "action_id": FORM_SUBMIT,
        "form": form.action_id,
        "value": form.value,
        "fields": [f.name for f in form.fields],
    }
    out.append({"type": "ActionSet", "spacing": "Medium", "actions": [_submit(form.submit or "Save", data, "primary")]})
    return out


def feedback_elements(msg: Outbound) -> list[dict]:
    """The Helpful / Not helpful row (``bot.views.FEEDBACK_BUTTONS``, carrying ``feedback_token(msg)``)."""
    value = feedback_token(msg)
    return [
        {
            "type": "ActionSet",
            "spacing": "Medium",
            "separator": True,
            "actions": [_submit(b.label, submit_data(b.action_id, value)) for b in FEEDBACK_BUTTONS],
        }
    ]


# -- cards --------------------------------------------------------------------------------------


def _card(body: list[dict], fallback: str) -> dict:
    return {
        "type": "AdaptiveCard",
        "$schema": CARD_SCHEMA,
        "version": CARD_VERSION,
        "fallbackText": fallback[:MAX_FALLBACK],
        "msteams": {"width": "Full"},
        "body": body,
    }


def _size(elements: list[dict]) -> int:
    return len(json.dumps(elements, ensure_ascii=False).encode("utf-8"))


def _split_text_block(block: dict, limit: int) -> list[dict]:
    """A ``RichTextBlock`` whose text alone is over ``limit`` bytes, cut into pieces at whitespace."""
    run = block["inlines"][0]
    text, pieces = run["text"], []
    budget = max(200, limit // 2)
    while text:
        cut = len(text)
        while len(text[:cut].encode("utf-8")) > budget:
            cut = text.rfind(" ", 0, cut - 1)
            if cut <= 0:
                cut = max(1, budget // 4)
                break
        pieces.append(dict(block, inlines=[dict(run, text=text[:cut])]))
        text = text[cut:]
    return pieces


def _item_pieces(items: list[dict], limit: int) -> list[dict]:
    """The items of a container or column, each ``RichTextBlock`` over ``limit`` bytes cut by ``_split_text_block``."""
    return [
        piece
        for item in items
        for piece in (
            _split_text_block(item, limit) if item.get("type") == "RichTextBlock" and _size([item]) > limit else [item]
        )
    ]


def _split_row(row: dict, limit: int) -> list[dict]:
    """A table row (``comparison_elements``) over ``limit`` bytes as several rows, each holding one item of
    its last column (its text pieces cut by ``_split_text_block``); the other columns only on the first."""
    *first, last = row["columns"]
    items = _item_pieces(last["items"], limit)
    return [
        dict(row, columns=first + [dict(last, items=[item])])
        if i == 0
        else dict(
            row,
            separator=False,
            spacing="None",
            columns=[dict(c, items=[]) for c in first] + [dict(last, items=[item])],
        )
        for i, item in enumerate(items)
    ]


def _pack(groups: list[list[dict]], tail: list[dict], limit: int) -> list[list[dict]]:
    """Fill cards with ``groups`` (kept together when they fit) then ``tail``, each card under ``limit`` bytes."""
    cards: list[list[dict]] = [[]]

    def add(elements: list[dict]) -> None:
        if cards[-1] and _size(cards[-1] + elements) > limit:
            cards.append([])
        cards[-1].extend(elements)

    for group in groups:
        if _size(group) <= limit:
            add(group)
            continue
        for element in group:  # a huge group (a very long text or quote): element by element
            if _size([element]) <= limit:
                add([element])
            elif element.get("type") == "RichTextBlock":
                for piece in _split_text_block(element, limit):
                    add([piece])
            elif element.get("type") == "ColumnSet":  # a comparison row with a huge clause: over several rows
                for piece in _split_row(element, limit):
                    add([piece])
            elif element.get("type") == "Container":
                for piece in _item_pieces(element["items"], limit):
                    add([dict(element, items=[piece])])
            else:  # pragma: no cover - nothing else grows without bound
                add([element])
    if tail:
        add(tail)
    return [c for c in cards if c] or [[]]


def render_cards(msg: Outbound, limit: int = MAX_CARD_BYTES) -> list[dict]:
    """The Adaptive Card(s) for one outbound message, in order; buttons and inputs are on the last one.

    Returns a list of card ``content`` dicts (each sent as an attachment made by the SDK's
    ``CardFactory.adaptive_card``), usually one; several when the serialized card would exceed ``limit`` bytes
    (UTF-8). The limit covers the whole card: its envelope and ``fallbackText`` as well as its body.
    """
    groups: list[list[dict]] = []
    if msg.modal and msg.title and msg.form is None:  # e.g. the report's review, which Slack shows in a modal
        groups.append([{"type": "TextBlock", "text": msg.title, "weight": "Bolder", "size": "Medium", "wrap": True}])
    text_blocks = rich_lines(msg.text, first_bolder=msg.kind == "notification")
    if msg.comparison is not None:
        topic = _run(f"Compare: {msg.comparison.topic}", weight="Bolder", size="Medium")
        text_blocks.insert(0, {"type": "RichTextBlock", "inlines": [topic]})
    if text_blocks:
        groups.append(text_blocks)
    groups += comparison_elements(msg)
    for section in quote_sections(msg):  # a section's heading is kept with its first quote
        quotes = [[quote_container(v)] for v in section.quotes]
        if section.heading:
            quotes[0].insert(0, _heading(section.heading))
        groups += quotes
    tail = choice_elements(list(msg.choices))
    if msg.choices_note:  # beside the buttons, e.g. a warning before Publish
        tail.insert(
            0,
            {
                "type": "TextBlock",
                "text": "⚠ " + msg.choices_note,
                "color": "Warning",
                "wrap": True,
                "spacing": "Medium",
            },
        )
    if msg.form is not None:
        tail += form_elements(msg.form)
    if msg.input_hint:
        tail += input_elements(msg.input_hint)
    if wants_feedback(msg):
        tail += feedback_elements(msg)
    fallback = msg.text or "Policybot"
    # the most a card adds around its body (the envelope and the longest fallbackText)
    envelope = len(json.dumps(_card([], fallback + " (continued)"), ensure_ascii=False).encode("utf-8"))
    packed = _pack(groups, tail, max(limit - envelope, limit // 2))
    return [_card(body, fallback if i == 0 else fallback + " (continued)") for i, body in enumerate(packed)]


# -- submits ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Submit:
    """What a card submit means.

    Attributes:
        kind: ``"action"`` (a choice: ``action`` set), ``"text"`` (the Send button: ``text`` set) or
            ``"feedback"`` (``vote`` set: a ``bot.views.Vote``).
    """

    kind: str
    action: Action | None = None
    text: str = ""
    vote: Vote | None = None


def parse_submit(value) -> Submit | None:
    """Interpret an ``Action.Submit`` payload (the activity's ``value``); None when it is not one of ours."""
    if not isinstance(value, dict):
        return None
    action_id = value.get("action_id")
    if not isinstance(action_id, str) or not action_id:
        return None
    raw = value.get("value", "")
    raw = raw if isinstance(raw, str) else json.dumps(raw) if raw is not None else ""
    if action_id == FORM_SUBMIT:
        form_action, names = value.get("form"), value.get("fields")
        if not isinstance(form_action, str) or not form_action or not isinstance(names, list):
            return None
        fields = {
            str(n): (value.get(f"{FORM_INPUT}{n}") if isinstance(value.get(f"{FORM_INPUT}{n}"), str) else "")
            for n in names
        }
        return Submit("action", action=Action(form_action, submit_value(str(value.get("value") or ""), fields)))
    if action_id == SEND_TEXT:
        text = value.get(INPUT_ID, "")
        return Submit("text", text=text if isinstance(text, str) else "")
    if is_feedback_action(action_id):
        return Submit("feedback", vote=parse_vote(action_id, raw))
    return Submit("action", action=Action(action_id, raw))
