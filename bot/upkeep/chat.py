"""HR's knowledge-base upkeep in chat, platform-free: a file sent in a private chat, a preview, Publish.

The conversation engine (``bot.engine.ConversationEngine``) hands this module three things:

* an ``Inbound`` with ``files`` (``KbChat.handle_files``): only an HR user (per the staff directory)
  in a private conversation gets a preview of each file's clauses, as a prompt with **Publish** /
  **Cancel** (action ids ``kb:publish`` / ``kb:cancel``, the value carrying the preview tokens). When
  the file looks like a new version of a live document (same title and organisation, or the id it
  would get is taken by a live document), the prompt offers **Publish as a new version** (a
  ``replace``, the old version kept for audit), **Add as a separate document** and **Cancel**. A
  caption ``replace <doc id>`` asks for a new version of that document directly. Anyone else, and
  HR in a shared channel, gets a refusal; nothing is stored. A refused upload
  (``knowledge.loaders.BadUpload``) is shown with its own message.
* a ``kb:*`` action (``KbChat.handle_action``): Publish commits the preview and makes it live at once
  (this process's index is refreshed before the reply); Cancel drops it; **Edit details**
  (``kb:edit``) answers with a form (``bot.forms``, ``Outbound.form``) prefilled with the title,
  organisation, version and date, whose submit (``kb:save_details``) corrects the preview
  (``KnowledgeAdmin.edit_preview``) and shows it again, or shows the form again with the refused
  fields' messages (``form["errors"]``). ``KbChat.check_form`` checks a submit without the engine
  thread (a Slack modal must answer field errors within 3 seconds).

Every preview prompt starts with how citations will read and where each detail came from; one whose
organisation is the default ``"Unspecified organisation"`` carries a warning for the adapter to show
beside the buttons (``Outbound.choices_note``; it is in the text too). ``Outbound.keep_choices`` names
the choices that leave the prompt open (Edit details), so an adapter does not mark it as answered.
* the text commands ``gaps``, ``kb list`` and ``kb`` / ``kb help`` (``KbChat.handle_command``), for HR
  in a private conversation only; for anyone else they return None so the text is answered as an
  ordinary question (the commands are never revealed).

Change notices: with ``KbSettings.notify_changed_clauses`` on, a replace or removal lists the people
answered from a changed or removed clause in the last ``notify_window_days`` days
(``CommitResult.notify_users``); ``change_notices`` words a private message for each, which is queued
in the reporting outbox when there is one (the server sends it, and retries) or else returned with
``to_user`` set for the adapter to deliver. Logs carry document ids and counts, never file contents,
message text or who uploaded.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.forms import make_form, read_submit
from bot.messages import Action, Choice, Inbound, InboundFile, Outbound
from bot.upkeep.admin import (
    DEFAULT_ORGANISATION,
    DETAIL_FIELDS,
    DETAIL_LABELS,
    MAX_DETAIL_CHARS,
    SOURCE_WORDS,
    CommitResult,
    HrCheck,
    KnowledgeAdmin,
    NotAuthorised,
    Preview,
    check_details,
    default_doc_id,
)
from knowledge.loaders import BadUpload, too_large
from knowledge.model import Document

if TYPE_CHECKING:
    from bot.app import Policybot
    from bot.reporting.outbox import Outbox

log = logging.getLogger("policybot.kb_chat")

ACTION_PUBLISH = "kb:publish"
ACTION_CANCEL = "kb:cancel"
ACTION_EDIT = "kb:edit"  #: "Edit details": answers with the form
ACTION_SAVE_DETAILS = "kb:save_details"  #: the form's submit
ACTION_PREFIX = "kb:"
PREVIEW_CLAUSES = 25  #: clauses shown in a chat preview (the rest are counted)
PREVIEW_CLAUSE_CHARS = 240  #: characters of each clause shown in a chat preview
MAX_FILES = 5  #: files previewed from one message

NOT_HR_TEXT = (
    "Only HR can add or change the policies I answer from, so I haven't kept that file. "
    "If a policy is missing or out of date, please tell HR."
)
NOT_PRIVATE_TEXT = (
    "Please send policy documents to me in a private chat (a direct message), not in a channel. Nothing was stored."
)
DOWNLOAD_FAILED_TEXT = "I couldn't download {name}, so nothing was changed. Please send it again."
CANCELLED_TEXT = "Cancelled: nothing was changed."
NOT_OPEN_TEXT = "That preview is no longer open (it was published, cancelled or has expired); nothing was changed."
UNSPECIFIED_ORG_WARNING = (
    f"Warning: no organisation was found, so citations would say “{DEFAULT_ORGANISATION}”. "
    "Use Edit details to name the organisation before publishing."
)
EDIT_TEXT = "Correct how citations will name this document, then save. The clauses stay as they are."
HELP_TEXT = (
    "Knowledge base (HR only):\n"
    "• Send me a policy document (.txt, .md, .docx or .pdf) here: I show its clauses, and you publish it or cancel.\n"
    "• Add the caption `replace <document id>` to publish a file as a new version of that document.\n"
    "• `kb list`: the documents I answer from.\n"
    "• `gaps`: questions I could not answer, or that were voted Not helpful, grouped with counts."
)

_REPLACE_CAPTION = re.compile(r"^\s*(?:kb\s+)?replace\s+([a-z0-9][a-z0-9-]{0,63})\s*$", re.IGNORECASE)
_WORDS = re.compile(r"[^\w]+")


def _normal(text: str | None) -> str:
    return " ".join(_WORDS.sub(" ", (text or "").lower()).split())


def details_header(preview: Preview) -> str:
    """The top of a preview prompt: how citations will read, then each detail and where it came from,
    and the warning when the organisation is the default one."""
    lines = [preview.citation_line() + "."] + preview.details_lines()
    if preview.document.organisation == DEFAULT_ORGANISATION:
        lines.append(UNSPECIFIED_ORG_WARNING)
    return "\n".join(lines)


def edition_of(row: dict[str, Any]) -> str | None:
    """The citation edition of a store row (``version_label`` and ``date``), e.g. ``"v 2, added 3 March 2026"``."""
    return Document("", "", "", "", row.get("version_label"), row.get("date")).edition


def documents_text(docs: list[dict[str, Any]]) -> str:
    """The live documents as plain text, one a line: id, version, clause count, organisation — title (edition)."""
    if not docs:
        return "There are no documents in the knowledge base."
    lines = [f"{len(docs)} document(s) I answer from:"]
    for d in docs:
        lines.append(
            f"• {d['doc_id']}  v{d['version_no']}, {d['clauses']} clauses: {d['organisation']} — "
            f"{d['title']} ({edition_of(d) or '-'})"
        )
    return "\n".join(lines)


def change_notices(
    result: CommitResult, document: dict[str, Any] | None, window_days: int, exclude: tuple[str, ...] = ()
) -> list[Outbound]:
    """Private messages for the people in ``result.notify_users`` (minus ``exclude``).

    Args:
        result: a replace or removal (``KnowledgeAdmin.confirm`` / ``commit`` / ``remove``).
        document: the document's store row after the change (``KnowledgeStore.document``), for its
            title, organisation and edition; None words the notice with the id alone.
        window_days: how far back answers were looked at (days), named in the notice.
        exclude: user ids not to tell (e.g. the HR user who made the change).

    Returns:
        One ``Outbound(kind="text", to_user=...)`` a person, with ``document`` (the id) and
        ``document_version`` set; [] when nobody is to be told.
    """
    users = [u for u in result.notify_users if u not in exclude]
    if not users:
        return []
    if document is not None:
        name = f"“{document['title']}” ({document['organisation']})"
    else:
        name = result.doc_id
    if result.action == "removed":
        text = (
            f"Policy update: {name} has been withdrawn and is no longer cited. An answer I gave you in the "
            f"last {window_days} days quoted it. Ask me again, or check with your line manager or HR."
        )
    else:
        edition = edition_of(document) if document is not None else None
        text = (
            f"Policy update: {name} has a new version ({edition or f'version {result.version_no}'}). "
            f"An answer I gave you in the last {window_days} days quoted a clause that has since changed or "
            "been removed. Ask me again to see the current wording."
        )
    return [
        Outbound(kind="text", text=text, to_user=u, document=result.doc_id, document_version=result.version_no)
        for u in users
    ]


def queue_notices(notices: list[Outbound], outbox: Outbox | None) -> list[Outbound]:
    """Put ``notices`` in ``outbox`` (``bot.reporting.outbox.Outbox``; sets ``outbox_id``) and return [];
    without an outbox return ``notices`` unchanged, for the caller to deliver.

    Raises:
        sqlite3.Error: the outbox could not be written (nothing is half-queued per message).
    """
    if outbox is None or not notices:
        return notices
    now = datetime.now(UTC)
    for msg in notices:
        outbox.put(msg, now)
    return []


def notify_change(
    result: CommitResult,
    document: dict[str, Any] | None,
    window_days: int,
    by: str | None,
    outbox: Outbox | None,
) -> tuple[list[Outbound], list[Outbound]]:
    """The change notices of ``result`` (``change_notices`` with ``document`` and ``window_days``: the people
    answered from a changed clause, not ``by``), queued in ``outbox`` (``queue_notices``).

    Returns ``(notices, to deliver now)``: the second is [] when all were queued, and every notice when
    there is no outbox or it could not be written (logged: the change is live, so they go out directly).
    """
    notices = change_notices(result, document, window_days, exclude=(by,) if by else ())
    if not notices:
        return [], []
    try:
        direct = queue_notices(notices, outbox)
    except Exception:  # the change is live; the notices go out directly instead
        log.warning("could not queue change notices", exc_info=True)
        direct = notices
    log.info("%d change notice(s) for %s", len(notices), result.doc_id)
    return notices, direct


class KbChat:
    """The chat side of knowledge-base upkeep for one ``bot.app.Policybot``.

    Args:
        bot: the opened Policybot (its store, index and ``settings``).
        directory: returns the staff directory (``bot.directory.Directory``) or None; without one,
            nobody may change the knowledge base from chat.
        outbox: returns the reporting outbox (``bot.reporting.outbox.Outbox``) or None; change notices go there
            when there is one.
    """

    def __init__(
        self,
        bot: Policybot,
        directory: Callable[[], HrCheck | None],
        outbox: Callable[[], Outbox | None] = lambda: None,
    ) -> None:
        self.bot = bot
        self._directory = directory
        self._outbox = outbox
        self.admin = KnowledgeAdmin(bot, is_hr=self.is_hr)

    # -- who ----------------------------------------------------------------------------------------

    def is_hr(self, user_id: str | None) -> bool:
        """True when ``user_id`` has the HR role in the directory (False without a directory, and when the
        directory cannot answer: that is logged with its traceback)."""
        directory = self._directory()
        if directory is None or not user_id:
            return False
        try:
            return bool(directory.is_hr(user_id))
        except Exception:
            log.error("the HR check failed; treating the user as not HR", exc_info=True)
            return False

    def accepts_files(self, user_id: str, private: bool) -> bool:
        """True when a file from ``user_id`` in this conversation would be previewed (HR, private chat);
        adapters skip downloading otherwise (the engine still sends the refusal)."""
        return bool(private) and self.is_hr(user_id)

    # -- files --------------------------------------------------------------------------------------

    def handle_files(self, inbound: Inbound) -> list[Outbound]:
        """Preview each file of ``inbound`` (at most ``MAX_FILES``) for an HR user in a private chat.

        Returns a refusal (not HR, or a shared channel), or per file a prompt with the preview and
        Publish / Cancel choices, or the ``BadUpload`` message (kind ``"error"``). Writes nothing.
        """
        if not self.is_hr(inbound.user_id):
            log.info("upload refused: not an HR user")
            return [Outbound(kind="text", text=NOT_HR_TEXT)]
        if not inbound.private:
            log.info("upload refused: not a private conversation")
            return [Outbound(kind="text", text=NOT_PRIVATE_TEXT)]
        m = _REPLACE_CAPTION.match(inbound.text or "")
        replace = m.group(1).lower() if m else None
        out: list[Outbound] = []
        for f in inbound.files[:MAX_FILES]:
            out.append(self._preview_one(inbound.user_id, f, replace))
        if len(inbound.files) > MAX_FILES:
            out.append(
                Outbound(
                    kind="text",
                    text=(
                        f"I looked at the first {MAX_FILES} files only; please send the other {len(inbound.files) - MAX_FILES} "
                        "in another message."
                    ),
                )
            )
        return out

    def _preview_one(self, user_id: str, f: InboundFile, replace: str | None) -> Outbound:
        name = f.name or "upload"
        limit = self.admin.max_bytes
        if f.problem == "too_large" or (f.size is not None and f.size > limit):
            log.info("upload refused: too_large")
            return Outbound(
                kind="error", text=str(too_large(name, f.size if f.size and f.size > limit else None, limit))
            )
        if f.problem is not None:
            log.info("upload refused: %s", f.problem)
            return Outbound(kind="error", text=DOWNLOAD_FAILED_TEXT.format(name=name))
        try:
            preview = self.admin.preview(f.data, name, replace=replace, user_id=user_id)
        except NotAuthorised as exc:
            return Outbound(kind="text", text=str(exc))
        except BadUpload as exc:
            log.info("upload refused: %s", exc.code)
            return Outbound(kind="error", text=str(exc))
        other = None
        if replace is None:
            match = self._existing_match(preview)
            if match is not None:
                try:
                    other = self.admin.preview(f.data, name, replace=match["doc_id"], user_id=user_id)
                except BadUpload as exc:  # e.g. removed meanwhile: offer the plain add
                    log.info("no replace offered for %s: %s", match["doc_id"], exc.code)
        log.info("upload previewed: %s %s, %d clause(s)", preview.action, preview.doc_id, len(preview.clauses))
        return self._prompt(preview, other)

    def _existing_match(self, preview: Preview) -> dict[str, Any] | None:
        """The live document this new upload looks like a new version of: the same title (and the same
        organisation, unless none was found in the upload), or the id it would have had is taken."""
        d = preview.document
        base = default_doc_id(d.organisation, d.title)
        title = d.title.casefold()
        for row in self.bot.store.documents():
            if row["doc_id"] == base and preview.doc_id != base:
                return row
            same_org = (
                d.organisation == DEFAULT_ORGANISATION or row["organisation"].casefold() == d.organisation.casefold()
            )
            if row["title"].casefold() == title and same_org:
                return row
        return None

    def _prompt(self, preview: Preview, replace: Preview | None) -> Outbound:
        def body(p: Preview) -> str:
            return p.to_text(max_clauses=PREVIEW_CLAUSES, max_chars=PREVIEW_CLAUSE_CHARS)

        if replace is None:
            head = (
                "Here is what this document would add. Check the clauses, then publish it to make it live, or cancel."
                if preview.action == "add"
                else f"Here is the new version of {preview.doc_id}. Check the changes, then publish it to make it "
                "live (the old version is kept for audit and no longer cited), or cancel."
            )
            choices = [
                Choice("Publish", ACTION_PUBLISH, preview.token, "primary"),
                Choice("Edit details", ACTION_EDIT, preview.token),
                Choice("Cancel", ACTION_CANCEL, preview.token),
            ]
            text = f"{details_header(preview)}\n\n{head}\n\n{body(preview)}"
        else:
            both = f"{replace.token} {preview.token}"
            head = (
                f"This looks like a new version of {replace.doc_id} (“{replace.document.title}”, now version "
                f"{replace.diff.from_version if replace.diff else replace.version_no - 1}). Publish it as version {replace.version_no} (the old version is kept "
                f"for audit and no longer cited), add it as a separate document ({preview.doc_id}), or cancel."
            )
            choices = [
                Choice("Publish as a new version", ACTION_PUBLISH, both, "primary"),
                Choice("Add as a separate document", ACTION_PUBLISH, f"{preview.token} {replace.token}"),
                Choice("Edit details", ACTION_EDIT, both),
                Choice("Cancel", ACTION_CANCEL, both),
            ]
            text = f"{details_header(replace)}\n\n{head}\n\n{body(replace)}"
        unnamed = (replace or preview).document.organisation == DEFAULT_ORGANISATION
        return Outbound(
            kind="prompt",
            text=text,
            choices=choices,
            title="Policy upload",
            keep_choices=(ACTION_EDIT,),
            choices_note=UNSPECIFIED_ORG_WARNING if unnamed else None,
        )

    # -- edit details -------------------------------------------------------------------------------

    def check_form(self, action_id: str, fields: dict[str, str]) -> dict[str, str]:
        """Field errors for a form submit, without touching any preview: ``{field: message}``, empty when
        the values would be accepted (or the form is not ours). Safe to call from any thread."""
        if action_id != ACTION_SAVE_DETAILS:
            return {}
        return check_details(**{k: fields.get(k) for k in DETAIL_FIELDS if k in fields})[1]

    def _edit_form(
        self, preview: Preview, tokens: str, errors: dict[str, str] | None = None, values: dict[str, str] | None = None
    ) -> Outbound:
        """The Edit details form for ``preview`` (``tokens``: every preview of its prompt, first the shown one)."""
        d = preview.document
        current = {"title": d.title, "organisation": d.organisation, "version": d.version or "", "date": d.date or ""}
        fields = []
        for name in DETAIL_FIELDS:
            src = SOURCE_WORDS.get(preview.sources.get(name, ""), "")
            hint = f"Now “{current[name]}”" + (f" ({src})." if src else ".")
            if name == "organisation" and d.organisation == DEFAULT_ORGANISATION:
                hint = "No organisation was found in the file: please name it."
            fields.append(
                {
                    "name": name,
                    "label": DETAIL_LABELS[name],
                    "max_length": MAX_DETAIL_CHARS,
                    "value": (values or {}).get(name, current[name]),
                    "hint": hint,
                }
            )
        lines = [EDIT_TEXT, preview.citation_line() + "."]
        for msg in (errors or {}).values():
            lines.append(f"Not saved: {msg}")
        form = make_form(
            ACTION_SAVE_DETAILS,
            tokens,
            fields,
            title="Edit details",
            submit="Save",
            errors=errors,
            open_action={"action_id": ACTION_EDIT, "value": tokens, "label": "Edit details"},
        )
        return Outbound(kind="prompt", text="\n".join(lines), form=form, modal=True, title="Edit details")

    def _edit(self, inbound: Inbound, tokens: list[str]) -> list[Outbound]:
        preview = self.admin.held(tokens[0], inbound.user_id)
        return [self._edit_form(preview, " ".join(tokens))]

    def _save_details(self, inbound: Inbound, action: Action) -> list[Outbound]:
        submitted = read_submit(action.value)
        if submitted is None or not submitted[0].split():
            return [Outbound(kind="text", text=NOT_OPEN_TEXT)]
        value, fields = submitted
        tokens = value.split()
        given = {k: fields[k] for k in DETAIL_FIELDS if k in fields}
        first = self.admin.held(tokens[0], inbound.user_id)
        errors = check_details(**given)[1]
        if errors:  # nothing changes; the form again, as typed, with the messages
            log.info("edit details refused: %s", ", ".join(sorted(errors)))
            return [self._edit_form(first, value, errors, values=given)]
        for t in tokens[1:]:  # every preview of the prompt must still be open before any is changed
            self.admin.held(t, inbound.user_id)
        edited = [self.admin.edit_preview(t, inbound.user_id, **given) for t in tokens]
        add = next((p for p in edited if p.action == "add"), None)
        replace = next((p for p in edited if p.action == "replace"), None)
        if add is not None and replace is not None:
            return [self._prompt(add, replace)]
        return [self._prompt(edited[0], None)]

    # -- actions ------------------------------------------------------------------------------------

    def handle_action(self, inbound: Inbound) -> list[Outbound] | None:
        """Publish, cancel or edit a preview (``kb:publish`` / ``kb:cancel`` / ``kb:edit`` /
        ``kb:save_details``); None for other actions.

        The action value is the preview token to act on, then (space-separated) sibling tokens of the
        same prompt, which are dropped. Publishing answers with the document id, version, clause count
        and edition; the change notices (if any) are queued or returned with ``to_user``.
        """
        a = inbound.action
        if a is None or not a.action_id.startswith(ACTION_PREFIX):
            return None
        if a.action_id in (ACTION_EDIT, ACTION_SAVE_DETAILS):
            try:
                if a.action_id == ACTION_EDIT:
                    return (
                        self._edit(inbound, (a.value or "").split())
                        if (a.value or "").split()
                        else [Outbound(kind="text", text=NOT_OPEN_TEXT)]
                    )
                return self._save_details(inbound, a)
            except NotAuthorised as exc:
                return [Outbound(kind="text", text=str(exc))]
            except BadUpload as exc:
                log.info("edit details refused: %s", exc.code)
                return [
                    Outbound(
                        kind="text" if exc.code == "expired" else "error",
                        text=NOT_OPEN_TEXT if exc.code == "expired" else str(exc),
                    )
                ]
        tokens = (a.value or "").split()
        if a.action_id == ACTION_CANCEL:
            dropped = [self.admin.cancel(t, inbound.user_id) for t in tokens]
            log.info("upload preview cancelled")
            return [Outbound(kind="text", text=CANCELLED_TEXT if any(dropped) else NOT_OPEN_TEXT)]
        if a.action_id != ACTION_PUBLISH or not tokens:
            return [Outbound(kind="text", text=NOT_OPEN_TEXT)]
        try:
            result = self.admin.confirm(tokens[0], inbound.user_id)
        except NotAuthorised as exc:
            return [Outbound(kind="text", text=str(exc))]
        except BadUpload as exc:
            log.info("publish refused: %s", exc.code)
            text = NOT_OPEN_TEXT if exc.code == "expired" else str(exc)
            return [Outbound(kind="error" if exc.code != "expired" else "text", text=text)]
        for t in tokens[1:]:
            self.admin.cancel(t, inbound.user_id)
        log.info(
            "published %s version %s (%d clause(s)) in %.2f s",
            result.doc_id,
            result.version_no,
            result.clauses,
            result.seconds,
        )
        return self._published(result, inbound.user_id)

    def _published(self, result: CommitResult, user_id: str) -> list[Outbound]:
        doc = self.bot.store.document(result.doc_id)
        edition = edition_of(doc) if doc else None
        verb = "is live" if result.action == "added" else "is live as the new version"
        lines = [
            f"Published: “{doc['title'] if doc else result.doc_id}” {verb}: {result.doc_id}, version "
            f"{result.version_no}, {result.clauses} clause(s), edition {edition or '-'}."
        ]
        if doc:
            lines.append(f"Citations will read: {doc['organisation']} — {doc['title']} ({edition or '-'}).")
        if result.diff is not None:
            d = result.diff
            lines.append(
                f"Changes from version {d.from_version}: {len(d.added)} added, {len(d.removed)} removed, "
                f"{len(d.changed)} changed, {d.unchanged} unchanged."
            )
        if result.index_error:
            lines.append("Note: the search index here was not refreshed yet; it catches up within seconds.")
        window = self.bot.settings.notify_window_days
        notices, returned = notify_change(result, doc, window, user_id, self._outbox())
        if notices:
            lines.append(
                f"{len(notices)} person(s) answered from a changed clause in the last "
                f"{window} days will be told privately."
            )
        return [Outbound(kind="text", text="\n".join(lines), document=result.doc_id)] + returned

    # -- commands -----------------------------------------------------------------------------------

    def handle_command(self, inbound: Inbound) -> list[Outbound] | None:
        """``gaps``, ``kb list`` and ``kb`` / ``kb help`` for HR in a private conversation; None otherwise
        (the text is then an ordinary question)."""
        if inbound.source not in ("message", "command") or not inbound.private:
            return None
        word = _normal(inbound.text)
        if word not in ("gaps", "kb gaps", "kb list", "kb", "kb help"):
            return None
        if not self.is_hr(inbound.user_id):
            return None
        if word in ("gaps", "kb gaps"):
            return [Outbound(kind="text", text=self.admin.gaps_text(user_id=inbound.user_id))]
        if word == "kb list":
            return [Outbound(kind="text", text=documents_text(self.bot.store.documents()))]
        return [Outbound(kind="text", text=HELP_TEXT)]
