"""Routing configuration for confidential reports (``config/routing.toml``) and policy look-ups.

Configuration, not code, decides: the categories offered, who handles each (``manager``, ``hr`` or
``safeguarding_lead``), whether the reporter may choose someone else, which policy clauses are quoted,
content rules that re-route (an allegation against staff involving children goes to the safeguarding
lead), and the deadlines. Clauses are found in the knowledge base at run time, never retyped, and shown
with the reporter's own organisation's clauses first where the directory names it (``PolicyQuotes.quotes``).

Where the file is found: ``POLICYBOT_ROUTING``, else ``<data dir>/routing.toml``, else the bundled
``config/routing.toml``.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.directory import CONFIG_DIR
from bot.messages import Citation, Quote
from bot.organisations import matches

if TYPE_CHECKING:
    from bot.settings import Settings
    from index.store import ClauseRecord, KnowledgeStore

log = logging.getLogger("policybot.reporting")

ROUTING_ENV = "POLICYBOT_ROUTING"
BUNDLED_ROUTING = CONFIG_DIR / "routing.toml"
HANDLER_ROLES = frozenset({"manager", "hr", "safeguarding_lead"})


class RoutingError(ValueError):
    """The routing file is missing or invalid; the message names the problem."""


@dataclass(frozen=True)
class QuoteRef:
    """A pointer to a clause: ``doc`` id plus the start of its text (``starts``) and/or its ``clause_id``."""

    doc: str | None = None
    starts: str | None = None
    clause_id: str | None = None


@dataclass(frozen=True)
class Route:
    """Who handles a report and what to show: ``handler`` role, ``choose_other``, a ``note`` and quotes."""

    handler: str
    choose_other: bool
    note: str
    quotes: tuple[QuoteRef, ...]


@dataclass(frozen=True)
class Category:
    """A report category: stable ``key``, the ``label`` shown, and its ``route``."""

    key: str
    label: str
    route: Route


@dataclass(frozen=True)
class Rule:
    """Re-route a report of one of ``categories`` whose text mentions one of ``mentions`` (whole words)."""

    name: str
    categories: tuple[str, ...]
    mentions: tuple[str, ...]
    route: Route

    def matches(self, category: str | None, text: str | None) -> bool:
        """True when the rule applies to a report of ``category`` with "what happened" ``text``."""
        if not text or category not in self.categories or not self.mentions:
            return False
        pattern = r"\b(?:" + "|".join(re.escape(m) for m in self.mentions) + r")\b"
        return re.search(pattern, text, flags=re.IGNORECASE) is not None


@dataclass(frozen=True)
class Deadlines:
    """Deadlines: acknowledge within ``acknowledge_days`` days; reminders ``remind_days_before_due``
    days before; drafts expire after ``draft_idle_hours`` hours idle; ``timezone`` (IANA name)."""

    acknowledge_days: float = 7
    remind_days_before_due: tuple[float, ...] = (2,)
    draft_idle_hours: float = 24
    timezone: str = "Europe/London"


@dataclass(frozen=True)
class RoutingConfig:
    """The whole routing file: categories in display order, rules, evidence guidance and deadlines."""

    categories: tuple[Category, ...]
    rules: tuple[Rule, ...] = ()
    evidence_intro: str = ""
    evidence_quotes: tuple[QuoteRef, ...] = ()
    deadlines: Deadlines = field(default_factory=Deadlines)

    def category(self, key: str | None) -> Category | None:
        """The category with ``key``, or None."""
        return next((c for c in self.categories if c.key == key), None)

    def route_for(self, category: str | None, what: str | None = None) -> Route | None:
        """The route for a report: the first matching rule's, else the category's (None: unknown category)."""
        for rule in self.rules:
            if rule.matches(category, what):
                return rule.route
        cat = self.category(category)
        return cat.route if cat else None

    @classmethod
    def load(cls, path: str | Path) -> RoutingConfig:
        """Read a routing TOML file.

        Raises:
            RoutingError: unreadable, not TOML, no categories, a duplicate key, or an unknown handler role.
        """
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise RoutingError(f"cannot read the routing file {path}: {exc}") from None
        cats = []
        for i, c in enumerate(data.get("category", []), start=1):
            if "key" not in c or "label" not in c:
                raise RoutingError(f"{path}: category #{i} needs a key and a label")
            cats.append(Category(str(c["key"]), str(c["label"]), _route(c, path)))
        if not cats:
            raise RoutingError(f"{path}: no [[category]] entries")
        keys = [c.key for c in cats]
        if len(set(keys)) != len(keys):
            raise RoutingError(f"{path}: duplicate category keys")
        rules = []
        for r in data.get("rule", []):
            unknown = set(r.get("categories", [])) - set(keys)
            if unknown:
                raise RoutingError(f"{path}: rule {r.get('name')!r} names unknown categories {sorted(unknown)}")
            rules.append(
                Rule(
                    str(r.get("name", "rule")),
                    tuple(r.get("categories", [])),
                    tuple(str(m) for m in r.get("mentions", [])),
                    _route(r, path),
                )
            )
        d = data.get("deadlines", {})
        deadlines = Deadlines(
            acknowledge_days=float(d.get("acknowledge_days", 7)),
            remind_days_before_due=tuple(float(x) for x in d.get("remind_days_before_due", [2])),
            draft_idle_hours=float(d.get("draft_idle_hours", 24)),
            timezone=str(d.get("timezone", "Europe/London")),
        )
        if deadlines.acknowledge_days <= 0 or deadlines.draft_idle_hours <= 0:
            raise RoutingError(f"{path}: deadlines must be positive")
        ev = data.get("evidence", {})
        return cls(tuple(cats), tuple(rules), str(ev.get("intro", "")), _quote_refs(ev.get("quote", [])), deadlines)


def _quote_refs(items: Iterable[dict[str, Any]] | None) -> tuple[QuoteRef, ...]:
    return tuple(QuoteRef(q.get("doc"), q.get("starts"), q.get("id")) for q in items or [])


def _route(entry: dict[str, Any], path: Path) -> Route:
    handler = str(entry.get("handler", "manager"))
    if handler not in HANDLER_ROLES:
        raise RoutingError(f"{path}: handler {handler!r} is not one of {sorted(HANDLER_ROLES)}")
    return Route(
        handler, bool(entry.get("choose_other", True)), str(entry.get("note", "")), _quote_refs(entry.get("quote", []))
    )


def routing_path(data_dir: str | Path | None, settings: Settings | None = None) -> Path:
    """``POLICYBOT_ROUTING`` (``settings.routing``), else ``<data dir>/routing.toml`` when present, else the
    bundled default.

    Args:
        data_dir: the data dir (None: not looked in).
        settings: the settings read at the entry point (None: read the process environment now).

    Raises:
        bot.settings.SettingsError: ``settings`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    from bot.settings import load_settings

    configured = (settings or load_settings()).routing
    if configured is not None:
        return configured
    if data_dir is not None and (Path(data_dir) / "routing.toml").exists():
        return Path(data_dir) / "routing.toml"
    return BUNDLED_ROUTING


def _norm(text: str) -> str:
    return " ".join(text.split())


class PolicyQuotes:
    """Finds configured clauses in the live knowledge base and turns them into ``Quote`` objects.

    Args:
        store: an ``index.store.KnowledgeStore`` (only ``live_clauses()`` is used), or None (no quotes).
    """

    def __init__(self, store: KnowledgeStore | None = None) -> None:
        self.store = store

    def quotes(self, refs: Sequence[QuoteRef], organisations: Sequence[str] = ()) -> list[Quote]:
        """Quotes for ``refs`` in order; a reference that matches no live clause is left out (and logged).

        Args:
            refs: the clauses to quote, in the configured order.
            organisations: the reporter's organisations as the directory gives them (``Person.organisations``,
                possibly short forms such as ``"Medway"`` or ``"MPWEC"``). When given and the quotes come
                from several organisations, the clauses of the reporter's organisation come first: quotes
                are ordered (stably, otherwise as configured) by the first of ``organisations`` that
                ``bot.organisations.matches`` the clause's document organisation or id, quotes of no
                organisation of the reporter's last. Without them the configured order is kept.
        """
        if self.store is None or not refs:
            return []
        clauses = list(self.store.live_clauses().values())
        found_all: list[ClauseRecord] = []
        for ref in refs:
            found: ClauseRecord | None = None
            for c in clauses:
                if ref.clause_id and c.clause_id != ref.clause_id:
                    continue
                if ref.doc and c.doc_id != ref.doc:
                    continue
                if ref.starts and not _norm(c.text).startswith(_norm(ref.starts)):
                    continue
                found = c
                break
            if found is None:
                log.warning("routing quote not found in the knowledge base: doc=%s id=%s", ref.doc, ref.clause_id)
                continue
            found_all.append(found)
        names = [n for n in organisations if n.strip()]
        if names and len({c.organisation for c in found_all}) > 1:
            found_all.sort(key=lambda c: _own_rank(c, names))
        out = []
        for c in found_all:
            cite = Citation(c.organisation, c.document, c.section, c.edition, c.clause_id)
            out.append(Quote(c.clause_id, c.text, c.lead_in, cite, 1.0))
        return out


def _own_rank(clause: ClauseRecord, names: Sequence[str]) -> int:
    """The position of the first of ``names`` that names the clause's organisation (``len(names)``: none)."""
    return next(
        (i for i, name in enumerate(names) if matches(name, clause.organisation, clause.doc_id)),
        len(names),
    )
