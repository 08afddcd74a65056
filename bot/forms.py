"""Small forms the core asks adapters to show (a Slack modal, an Adaptive Card with inputs), platform-free.

A prompt that wants a form carries it in ``Outbound.meta["form"]`` (build it with ``form_meta``)::

    {"action_id": "kb:save_details",          # the core action the form is submitted as
     "value": "tokA tokB",                    # opaque data sent back unchanged
     "title": "Edit details", "submit": "Save",
     "fields": [{"name": "title", "label": "Title", "value": "prefilled", "max_length": 200,
                 "hint": "shown under the field"}, ...],
     "errors": {"title": "why the last value was refused"},   # may be empty
     "open": {"action_id": "kb:edit", "value": "tokA tokB", "label": "Edit details"}}

``open`` is the action that shows the form again (a button, for an adapter that could not show the
form at once, e.g. a Slack modal without a fresh trigger). The adapter sends the filled form as
``Action(form["action_id"], submit_value(form["value"], {name: text}))``; the core reads it back with
``read_submit``. ``Outbound.text`` still describes the form, so a text-only adapter shows something.
"""

from __future__ import annotations

import json
from typing import Any

FORM_KEY = "form"  #: the ``Outbound.meta`` key holding the form


def form_meta(action_id: str, value: str, fields: list[dict[str, Any]], title: str, submit: str = "Save",
              errors: dict[str, str] | None = None,
              open_action: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``meta["form"]`` dict described in the module docstring (copies its arguments)."""
    return {"action_id": action_id, "value": value, "title": title, "submit": submit,
            "fields": [dict(f) for f in fields], "errors": dict(errors or {}),
            "open": dict(open_action) if open_action else None}


def form_of(outbound: object) -> dict[str, Any] | None:
    """The form an ``Outbound`` asks for (``meta["form"]``), or None."""
    form = (getattr(outbound, "meta", None) or {}).get(FORM_KEY)
    return form if isinstance(form, dict) and form.get("action_id") and form.get("fields") else None


def submit_value(value: str, fields: dict[str, str]) -> str:
    """The ``Action.value`` of a submitted form: JSON ``{"value": value, "fields": {name: text}}``."""
    return json.dumps({"value": value, "fields": {str(k): ("" if v is None else str(v)) for k, v in fields.items()}},
                      ensure_ascii=False)


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
