"""Wiring: open a data dir into a ready ``Policybot`` (knowledge base, index, engine).

Settings come from ``bot.settings.Settings`` (read once at the entry point and passed as ``config``;
without one, from the environment when the data dir is opened; see ``KbSettings``):

* ``POLICYBOT_GAPS_KEEP_USERS=1``: keep user ids with unanswered questions (off: question text only).
* ``POLICYBOT_NOTIFY_CHANGED_CLAUSES=1``: remember for 30 days who was answered from which clause, so
  that when HR replaces or removes a document the people answered from a changed clause can be told.
* ``POLICYBOT_MAX_UPLOAD_MB``: largest policy file HR may upload (default 10).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from index.embed import Embedder, SentenceEmbedder, bundled_model_path
from index.retrieve import KnowledgeIndex
from index.store import KnowledgeStore
from knowledge.catalog import bundled_documents

if TYPE_CHECKING:
    from bot.answer import Answer
    from bot.settings import Settings
    from bot.upkeep.admin import IsHr, KnowledgeAdmin
    from bot.upkeep.gaps import GapLog
    from index.retrieve import SearchResult
    from index.watch import KnowledgeWatcher

DB_NAME = "policybot.db"
VECTORS_NAME = "clauses.faiss"
NOTIFY_WINDOW_DAYS = 30  #: how far back notify-on-replace looks (and how long the answers log is kept)
DIR_MODE = 0o700
FILE_MODE = 0o600

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KbSettings:
    """Knowledge-base upkeep settings (all off by default, read from the environment by ``from_env``).

    Attributes:
        gaps_keep_users: keep the asker's user id with an unanswered question.
        notify_changed_clauses: log who was answered from which clause (kept ``notify_window_days``),
            so a replace/remove can list the people to tell.
        notify_window_days: days the answers log looks back (and is kept).
        max_upload_bytes: largest upload accepted, in bytes.
    """

    gaps_keep_users: bool = False
    notify_changed_clauses: bool = False
    notify_window_days: int = NOTIFY_WINDOW_DAYS
    max_upload_bytes: int = 10 * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KbSettings:
        """Settings from ``POLICYBOT_GAPS_KEEP_USERS``, ``POLICYBOT_NOTIFY_CHANGED_CLAUSES``,
        ``POLICYBOT_MAX_UPLOAD_MB`` in ``env`` (default ``os.environ``), through ``bot.settings.Settings``.

        Raises:
            bot.settings.SettingsError: a ``POLICYBOT_*`` variable has a bad value (the message names it).
        """
        from bot.settings import load_settings

        return load_settings(env).kb()


def default_data_dir(config: Settings | None = None) -> Path:
    """``POLICYBOT_DATA_DIR`` (``config.data_dir``), else ``$XDG_DATA_HOME/policybot``, else
    ``~/.local/share/policybot``.

    Args:
        config: the settings read at the entry point (None: read the process environment now).

    Raises:
        bot.settings.SettingsError: ``config`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    from bot.settings import load_settings

    return (config or load_settings()).default_data_dir()


@dataclass
class Policybot:
    """Everything a front end needs: the store, the searchable index, the data dir and the settings.

    ``settings`` are the knowledge-base upkeep settings; ``config`` the ``bot.settings.Settings`` the bot
    was opened with (None when opened without), which the engine uses for reporting.
    """

    data_dir: Path
    store: KnowledgeStore
    index: KnowledgeIndex
    settings: KbSettings = field(default_factory=KbSettings.from_env)
    config: Settings | None = None

    @property
    def gaps(self) -> GapLog:
        """The ``bot.upkeep.gaps.GapLog`` of this knowledge base (user ids kept only if the settings say so)."""
        from bot.upkeep.gaps import GapLog

        return GapLog(self.store, keep_users=self.settings.gaps_keep_users)

    def ask(
        self,
        question: str,
        max_quotes: int = 3,
        record_gap: bool = True,
        user_id: str | None = None,
        organisations: Iterable[str] = (),
        strict: bool = False,
        others: str | None = None,
    ) -> Answer:
        """Answer one question: returns ``bot.answer.Answer``.

        Args:
            question: the question as typed.
            max_quotes: most quotes in the answer (with ``organisations``: from each of own and others).
            record_gap: keep the question as a gap when the bot abstains (``bot.upkeep.gaps``).
            user_id: the asker's directory id, if known; kept with a gap only when
                ``settings.gaps_keep_users``, and logged with the quoted clauses only when
                ``settings.notify_changed_clauses``.
            organisations: the asker's organisation(s) as a person names them ("Meadow Pathways",
                ``bot.organisations.matches``); empty: answer from all policies alike. When given, their
                organisation's clauses are all ranked with the rest and its best ones quoted first
                (``bot.answer.split_by_documents``, ``bot.answer.compose_own_first``).
            strict: raise for an organisation name that matches none or several organisations (else skip it).
            others: ``"show"`` or ``"hide"`` other organisations' quotes under the asker's own (default:
                ``POLICYBOT_OTHER_ORGANISATIONS`` from ``config``, else ``"show"``).

        Raises:
            bot.engine.BadInput (a ``ValueError``): empty, too long or unreadable question.
            bot.organisations.UnknownOrganisation (a ``ValueError``): with ``strict``, an unknown organisation.
        """
        from bot.answer import compose
        from bot.engine import validate_question

        question = validate_question(question)
        names = tuple(n for n in organisations if n.strip())
        if names:
            answer, results = self._ask_own_first(question, names, max_quotes, strict, others)
        else:
            result = self.index.search(question, k=10)
            answer, results = compose(result, max_quotes=max_quotes), [result]
        if not answer.answered and record_gap:
            self.gaps.record(question, "abstained", user_id=user_id)
        if answer.answered and user_id and self.settings.notify_changed_clauses:
            self._log_answer(user_id, answer, results)
        return answer

    def organisations(self) -> dict[str, set[str]]:
        """The organisations of the live documents: ``{organisation: {document ids}}`` (``Snapshot.organisations``)."""
        return self.index.snapshot.organisations

    def _ask_own_first(
        self, question: str, names: tuple[str, ...], max_quotes: int, strict: bool, others: str | None
    ) -> tuple[Answer, list[SearchResult]]:
        from bot.answer import compose_own_first, split_by_documents
        from bot.organisations import resolve
        from index.retrieve import params_for

        known = self.organisations()
        mine = resolve(names, known, strict=strict)
        own_docs = {d for org in mine for d in known[org]}
        show = (others or (self.config.other_organisations if self.config else "show")) != "hide"
        params = params_for(self.index.embedder.name)
        feats = self.index.features(question, plain_keywords=not params.expand_keywords, docs=own_docs)
        ranked = self.index.rank(feats, params, k=len(feats.snapshot.clauses))
        own, rest = split_by_documents(ranked, own_docs)
        own.hits, rest.hits = own.hits[:10], rest.hits[:10]
        shown = tuple(sorted(mine)) if mine else names
        answer = compose_own_first(
            question, own if own_docs else None, rest if show else None, shown, max_quotes=max_quotes
        )
        return answer, [own, rest]

    def _log_answer(self, user_id: str, answer: Answer, results: list[SearchResult]) -> None:
        by_id = {h.clause.clause_id: h.clause for result in results for h in result.hits}
        quoted = []
        for q in answer.quotes:
            quoted.append(q.clause_id)
            quoted += [c.clause_id for c in q.also]
        rows = [(by_id[c].doc_id, by_id[c].version_no, c) for c in quoted if c in by_id]
        try:
            self.store.log_answer(user_id, rows, keep_days=self.settings.notify_window_days)
        except sqlite3.Error as exc:
            log.warning("could not log the clauses of an answer: %s", type(exc).__name__)

    def record_feedback(
        self, question: str, helpful: bool, clause_ids: Iterable[str] | None = (), user_id: str | None = None
    ) -> bool:
        """Record a Helpful / Not helpful vote on an answer.

        A Not helpful vote keeps ``question`` as a gap (reason ``"not_helpful"``) with the quoted
        ``clause_ids`` (public ids, e.g. ``"wbc:031"``); a Helpful vote keeps nothing. ``user_id`` is
        kept only when ``settings.gaps_keep_users``. Returns True when something was kept.
        """
        if helpful:
            return False
        return self.gaps.record(question, "not_helpful", user_id=user_id, clause_ids=tuple(clause_ids or ()))

    def prepare_query_encoder(self) -> bool:
        """Make questions encode without torch: export the embedding model to ONNX in the data dir when
        there is no export of it yet (``index.onnx_encoder.export_encoder``, about 4 s once) and use it.

        Only for the sentence-transformers embedder (another embedder, e.g. the tests' fake, encodes
        questions itself). Called by ``policybot index build`` and the server's start. Returns True when
        questions now go through ONNX. An export that fails is logged; questions then keep using
        sentence-transformers.
        """
        from index.onnx_encoder import QueryEncoder, export_encoder, export_name

        embedder = self.index.embedder
        if not isinstance(embedder, SentenceEmbedder):
            return False
        current = self.index.query_encoder
        if isinstance(current, QueryEncoder) and current.load():
            return True
        if export_name(self.data_dir) != embedder.name or isinstance(current, QueryEncoder):
            try:
                export_encoder(embedder, self.data_dir)
            except (ImportError, OSError, RuntimeError) as exc:
                log.warning("questions stay on sentence-transformers: no ONNX export (%s: %s)", type(exc).__name__, exc)
                return False
        encoder = QueryEncoder(self.data_dir, embedder)
        self.index.query_encoder = encoder
        return encoder.load()

    def watcher(self, interval: float = 2.0) -> KnowledgeWatcher:
        """A ``index.watch.KnowledgeWatcher`` for this bot's index (call ``.check()`` or ``.start()``)."""
        from index.watch import KnowledgeWatcher

        return KnowledgeWatcher(self.index, interval=interval)

    def kb_admin(self, is_hr: IsHr = None) -> KnowledgeAdmin:
        """A ``bot.upkeep.admin.KnowledgeAdmin`` over this bot; ``is_hr(user_id) -> bool`` (or a directory) authorises chat users."""
        from bot.upkeep.admin import KnowledgeAdmin

        return KnowledgeAdmin(self, is_hr=is_hr)


def secure_data_dir(path: str | Path) -> Path:
    """Create ``path`` (mode 0700) if needed and tighten what is already there: directories 0700, files 0600.

    The data dir holds unanswered questions, feedback, the answers log, Teams conversation references and
    (dev mode) the report key, so nobody but the service account may read it. Files created later are
    owner-only through the umask the ``policybot`` entry point sets (``adapters.cli.PRIVATE_UMASK``) at start-up; this
    function repairs data dirs made by earlier releases or by other tools. Symbolic links are left alone;
    an entry owned by someone else (which ``chmod`` would refuse) is logged and skipped.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        OSError: the directory cannot be created.
    """
    data = Path(path)
    data.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    for root, dirs, files in os.walk(data):
        for name, mode in [(None, DIR_MODE)] + [(d, DIR_MODE) for d in dirs] + [(f, FILE_MODE) for f in files]:
            entry = Path(root, name) if name else Path(root)
            try:
                st = entry.lstat()
                if not os.path.islink(entry) and st.st_mode & 0o777 != mode:
                    os.chmod(entry, mode)
            except OSError as exc:
                log.warning("cannot make %r owner-only (%s)", str(entry), type(exc).__name__)
    return data


def open_policybot(
    data_dir: str | Path | None = None,
    embedder: Embedder | None = None,
    seed_bundled: bool = True,
    mode: str = "hybrid",
    settings: KbSettings | None = None,
    config: Settings | None = None,
) -> Policybot:
    """Open (creating if needed, owner-only: ``secure_data_dir``) the data dir and its knowledge base.

    On first use the five bundled policies are added (``seed_bundled``); later, a bundled policy whose
    text changed in a new release gets a new version, while one HR removed stays removed. The vector
    index is loaded or built lazily on the first search (``index.refresh()`` to build it now).

    Args:
        data_dir: the data dir (default ``config.data_dir``, ``default_data_dir``).
        embedder: the embedder (default ``SentenceEmbedder`` with ``config``'s model path and adapter).
        seed_bundled: add or update the bundled policies.
        mode: the retrieval mode of ``index.retrieve.KnowledgeIndex``.
        settings: the upkeep settings (default ``config.kb()``).
        config: the ``bot.settings.Settings`` read at the entry point (None: read the process
            environment now).

    Raises:
        OSError: the data dir cannot be created.
        bot.settings.SettingsError: ``config`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    from bot.settings import load_settings

    config = config or load_settings()
    data = secure_data_dir(data_dir if data_dir else config.default_data_dir())
    store = KnowledgeStore(data / DB_NAME)
    if seed_bundled:
        store.sync_bundled(bundled_documents())
    if embedder is None:
        # the model path from the settings alone (an empty mapping: never the process environment)
        embedder = SentenceEmbedder(
            model_path=config.model_path or bundled_model_path({}), adapter=config.adapter_dir()
        )
    query_encoder = None
    if isinstance(embedder, SentenceEmbedder):
        from index.onnx_encoder import QueryEncoder, export_name

        if export_name(data) == embedder.name:  # loaded on the first question
            query_encoder = QueryEncoder(data, embedder)
    index = KnowledgeIndex(store, embedder, data / VECTORS_NAME, mode=mode, query_encoder=query_encoder)
    return Policybot(data, store, index, settings or config.kb(), config)
