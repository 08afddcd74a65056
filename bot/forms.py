"""Small forms the core asks adapters to show (a Slack modal, an Adaptive Card with inputs), platform-free.

A prompt that wants a form carries it in ``Outbound.form`` (a ``Form``, built with ``make_form``): the
core action it is submitted as, opaque data sent back unchanged, a title and submit label, its fields
(``FormField``: name, label, prefilled value, most characters, hint), the refusal message of each field the
last submit got wrong, and ``open``: the button that shows the form again (for an adapter that could not
show it at once, e.g. a Slack modal without a fresh trigger). The adapter sends the filled form as
``Action(form.action_id, submit_value(form.value, {name: text}))``; the core reads it back with
``read_submit``. ``Outbound.text`` still describes the form, so a text-only adapter shows something.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class FormField:
    """One text input of a form.

    Attributes:
        name: the key the submitted text comes back under.
        label: shown above the input.
        value: prefilled text ("" for none).
        max_length: most characters accepted (None: the channel's limit).
        hint: shown under the input, e.g. where the prefilled value came from.
    """

    name: str
    label: str
    value: str = ""
    max_length: int | None = None
    hint: str | None = None


@dataclass(frozen=True)
class FormOpener:
    """The button that shows a form again: ``label``, sent back as ``Action(action_id, value)``."""

    action_id: str
    value: str
    label: str


@dataclass(frozen=True)
class Form:
    """A small form (see the module docstring).

    Attributes:
        action_id: the core action the filled form is submitted as.
        value: opaque data sent back unchanged with the fields.
        title, submit: the form's title and its submit button's label.
        fields: the inputs, in order.
        errors: ``{field name: why the last value was refused}`` (empty when none was).
        open: the button that shows the form again, or None.
    """

    action_id: str
    value: str
    title: str
    fields: tuple[FormField, ...]
    submit: str = "Save"
    errors: Mapping[str, str] = field(default_factory=dict)
    open: FormOpener | None = None


def make_form(
    action_id: str,
    value: str,
    fields: Iterable[Mapping[str, Any]],
    title: str,
    submit: str = "Save",
    errors: Mapping[str, str] | None = None,
    open_action: Mapping[str, str] | None = None,
) -> Form:
    """A ``Form`` from plain values: each of ``fields`` a mapping with ``name`` and ``label`` and optionally
    ``value``, ``max_length`` and ``hint``; ``open_action`` ``{"action_id", "value", "label"}`` or None.

    Raises ``KeyError`` when a field has no ``name`` or ``label``.
    """
    return Form(
        action_id=action_id,
        value=value,
        title=title,
        submit=submit,
        fields=tuple(
            FormField(
                name=str(f["name"]),
                label=str(f["label"]),
                value=str(f.get("value") or ""),
                max_length=f.get("max_length"),
                hint=f.get("hint"),
            )
            for f in fields
        ),
        errors=dict(errors or {}),
        open=FormOpener(open_action["action_id"], open_action["value"], open_action["label"]) if open_action else None,
    )


def submit_value(value: str, fields: dict[str, str]) -> str:
    """The ``Action.value`` of a submitted form: JSON ``{"value": value, "fields": {name: text}}``."""
    return json.dumps(
        {"value": value, "fields": {str(k): ("" if v is None else str(v)) for k, v in fields.items()}},
        ensure_ascii=False,
    )


def read_submit(raw: str) -> tuple[str, dict[str, str]] | None:
    """``(value, {name: text})`` from ``submit_value``'s output; None when ``raw`` is not one."""
    try:
        data = json.loads(raw or "")
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
        return None
    fields = {str(k): v for k, v in data["fields"].items() if isinstance(v, str)}
    return str(data.get("value") or ""), fields
