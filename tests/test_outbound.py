"""The typed ``Outbound``: what the outbox keeps of it, and rows written before it was typed."""

from __future__ import annotations

import dataclasses

from bot.forms import make_form
from bot.messages import Choice, Outbound
from bot.reporting.outbox import outbound_from_dict, outbound_to_dict


def test_the_outbox_keeps_every_typed_field_a_queued_message_needs():
    msg = Outbound(
        kind="text",
        text="Update on your report",
        to_user="rita",
        choices=[Choice("Ok", "ok")],
        question="q?",
        case_id="C-00007",
        flow="report",
        step="what",
        title="T",
        choices_note="careful",
        keep_choices=("kb:edit",),
        event="escalation",
        receipt="R-ABC",
        document="wbc",
        document_version=3,
        outbox_id=41,
    )
    back = outbound_from_dict(outbound_to_dict(msg))
    assert back == dataclasses.replace(msg, outbox_id=None)  # the row's id is set when it is read, not stored


def test_an_outbox_row_written_before_outbound_was_typed_still_reads():
    old = {
        "kind": "text",
        "text": "Policy update",
        "to_user": "alice",
        "input_hint": None,
        "meta": {
            "kb_notice": "wbc",
            "version": 2,
            "case_id": "C-00001",
            "event": "reminder",
            "flow": "report",
            "surface": "modal",
            "outbox_id": 9,
        },  # the last two: no field holds them now
        "choices": [["Open", "open", "", None]],
        "quotes": [],
    }
    msg = outbound_from_dict(old)
    assert (msg.document, msg.document_version, msg.case_id, msg.event, msg.flow) == (
        "wbc",
        2,
        "C-00001",
        "reminder",
        "report",
    )
    assert msg.outbox_id is None and msg.choices == [Choice("Open", "open", "", None)]


def test_a_form_and_its_modal_flag_never_go_through_the_outbox():
    form = make_form("kb:save", "tok", [{"name": "title", "label": "Title", "value": "Old"}], title="Edit details")
    row = outbound_to_dict(Outbound(kind="prompt", text="Edit", to_user="hana", form=form, modal=True))
    assert "form" not in row["meta"] and "modal" not in row["meta"]
