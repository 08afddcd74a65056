"""The outbox: every message for a user other than the one being answered, stored until delivered.

``ReportingService`` puts each such ``Outbound`` (a handler notification, a status update for the
reporter, a reminder) here, encrypted, in the same transaction as the change that caused it, and
sets its ``outbox_id``. Push adapters (Slack, Teams) send it and call ``mark_delivered``;
pull adapters (the console, the web chat) call ``take(user_id)`` when the user is next there.

Table ``outbox``: ``id``, ``recipient_key`` (blind index of the recipient's user id),
``created_at``, ``delivered_at`` (NULL until delivered), ``case_id``, ``payload`` (the encrypted message).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from bot.messages import Choice, Citation, Outbound, Quote
from bot.reporting.cases import CaseDB, ts

#: the ``Outbound`` fields a queued message keeps besides kind, text, recipient, choices and quotes (a form,
#: a modal and ``outbox_id`` never travel through the outbox)
_KEPT_FIELDS = (
    "question",
    "case_id",
    "flow",
    "step",
    "title",
    "choices_note",
    "event",
    "receipt",
    "document",
    "document_version",
)
#: older rows' names for the same fields (the outbox of a version before ``Outbound`` was typed)
_OLD_NAMES = {"kb_notice": "document", "version": "document_version"}


def outbound_to_dict(msg: Outbound) -> dict[str, Any]:
    """A JSON-ready dict for an ``Outbound`` (quotes and choices included; ``outbox_id`` left out)."""
    return {
        "kind": msg.kind,
        "text": msg.text,
        "to_user": msg.to_user,
        "input_hint": msg.input_hint,
        "meta": {k: getattr(msg, k) for k in _KEPT_FIELDS if getattr(msg, k) is not None},
        "keep_choices": list(msg.keep_choices),
        "choices": [[c.label, c.action_id, c.value, c.style] for c in msg.choices],
        "quotes": [
            {
                "clause_id": q.clause_id,
                "text": q.text,
                "lead_in": q.lead_in,
                "score": q.score,
                "citation": [
                    q.citation.organisation,
                    q.citation.document,
                    q.citation.section,
                    q.citation.edition,
                    q.citation.clause_id,
                ],
            }
            for q in msg.quotes
        ],
    }


def outbound_from_dict(d: dict[str, Any]) -> Outbound:
    """The ``Outbound`` ``outbound_to_dict`` described; also reads rows written before ``Outbound`` was typed
    (their ``meta`` names in ``_OLD_NAMES``; keys no field holds are dropped)."""
    kept = {_OLD_NAMES.get(k, k): v for k, v in (d.get("meta") or {}).items()}
    return Outbound(
        kind=d["kind"],
        text=d["text"],
        to_user=d.get("to_user"),
        input_hint=d.get("input_hint"),
        keep_choices=tuple(d.get("keep_choices") or kept.get("keep_choices") or ()),
        choices=[Choice(*c) for c in d.get("choices", [])],
        quotes=[
            Quote(q["clause_id"], q["text"], q["lead_in"], Citation(*q["citation"]), q["score"])
            for q in d.get("quotes", [])
        ],
        **{k: kept[k] for k in _KEPT_FIELDS if kept.get(k) is not None},
    )


class Outbox:
    """Queued private messages (encrypted at rest).

    Args:
        cases: the ``CaseDB`` whose ``outbox`` table holds the messages.
    """

    def __init__(self, cases: CaseDB):
        self.cases = cases

    def put(self, msg: Outbound, now: datetime, case_id: int | None = None) -> int:
        """Store ``msg`` (which must have ``to_user``) and set ``msg.outbox_id``; returns the id.

        Joins the caller's transaction when there is one.

        Raises:
            ValueError: ``msg.to_user`` is not set.
        """
        if not msg.to_user:
            raise ValueError("an outbox message needs to_user")
        key = self.cases.user_key(msg.to_user)
        blob = self.cases.cipher.encrypt(outbound_to_dict(msg), f"outbox:{key}")
        with self.cases.tx() as db:
            cur = db.execute(
                "INSERT INTO outbox (recipient_key, created_at, delivered_at, case_id, payload) "
                "VALUES (?, ?, NULL, ?, ?)",
                [key, ts(now), case_id, blob],
            )
        outbox_id = cast(int, cur.lastrowid)  # set by the INSERT
        msg.outbox_id = outbox_id
        return outbox_id

    def _decode(self, row: dict[str, Any]) -> Outbound:
        msg = outbound_from_dict(self.cases.cipher.decrypt(row["payload"], f"outbox:{row['recipient_key']}"))
        msg.outbox_id = row["id"]
        return msg

    def pending(self, user_id: str) -> list[Outbound]:
        """Undelivered messages for ``user_id``, oldest first (each with ``outbox_id``)."""
        rows = self.cases.query(
            "SELECT id, recipient_key, payload FROM outbox WHERE recipient_key = ? "
            "AND delivered_at IS NULL ORDER BY id",
            [self.cases.user_key(user_id)],
        )
        return [self._decode(r) for r in rows]

    def undelivered(self, limit: int = 100) -> list[Outbound]:
        """Undelivered messages for anyone, oldest first (for push adapters), at most ``limit``."""
        rows = self.cases.query(
            "SELECT id, recipient_key, payload FROM outbox WHERE delivered_at IS NULL ORDER BY id LIMIT ?", [limit]
        )
        return [self._decode(r) for r in rows]

    def mark_delivered(self, outbox_id: int, now: datetime) -> None:
        """Mark one message delivered (idempotent)."""
        with self.cases.tx() as db:
            db.execute("UPDATE outbox SET delivered_at = ? WHERE id = ? AND delivered_at IS NULL", [ts(now), outbox_id])

    def take(self, user_id: str, now: datetime) -> list[Outbound]:
        """``pending(user_id)``, marked delivered in the same transaction (for pull adapters)."""
        with self.cases.tx():
            msgs = self.pending(user_id)
            for m in msgs:
                assert m.outbox_id is not None  # set by _decode
                self.mark_delivered(m.outbox_id, now)
        return msgs
