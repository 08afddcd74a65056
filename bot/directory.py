"""The staff directory: people, their managers, HR and the safeguarding lead, with platform ids.

Every adapter maps its platform user id to a directory user id with ``by_slack_id`` / ``by_teams_id``;
the reporting flow uses ``manager_of``, ``hr_people`` and ``safeguarding_lead`` to route cases (the last
two preferring people of the reporter's own organisation when given one).

File format (TOML, or YAML with the same shape when the name ends ``.yaml``/``.yml``)::

    [[person]]
    id = "alice"                 # directory user id (required, unique)
    name = "Alice Adams"         # display name (required)
    manager = "bob"              # manager's id (optional; must exist)
    roles = ["hr"]               # optional: "hr", "safeguarding_lead"
    organisation = "Medway Council"  # optional: the employer(s) whose policies apply, a name or a list
    slack_id = "U0ALICE01"       # optional, unique
    teams_id = "29:1alice..."    # optional, unique
    email = "alice@example.org"  # optional

Where the directory is found: ``POLICYBOT_DIRECTORY``, else ``<data dir>/directory.toml`` (or
``.yaml``/``.yml``), else, in dev mode only, the sample ``config/directory.sample.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

CONFIG_DIR = Path(__file__).resolve().parent.parent / "config"
SAMPLE_DIRECTORY = CONFIG_DIR / "directory.sample.toml"
DIRECTORY_ENV = "POLICYBOT_DIRECTORY"

ROLE_HR = "hr"
ROLE_SAFEGUARDING = "safeguarding_lead"
KNOWN_ROLES = frozenset({ROLE_HR, ROLE_SAFEGUARDING})


def organisation_key(name: str) -> str:
    """How two directory organisation names are compared: case-insensitive, whitespace-normalised
    (``"  Medway   council"`` and ``"Medway Council"`` are the same organisation)."""
    return " ".join(name.split()).casefold()


class DirectoryError(ValueError):
    """The directory file is missing, unreadable or inconsistent; the message names the problem."""


@dataclass(frozen=True)
class Person:
    """One person in the directory.

    Attributes:
        user_id: directory id (what ``Inbound.user_id`` carries).
        name: display name.
        manager: the manager's user id, or None.
        roles: e.g. ``("hr",)`` or ``("safeguarding_lead",)``.
        slack_id, teams_id, email: platform ids, when known.
        organisations: the employer(s) whose policies apply to this person, as written in the directory
            (matched against the documents' organisations when answering: ``bot.organisations``); empty
            when the directory does not say.
    """

    user_id: str
    name: str
    manager: str | None = None
    roles: tuple[str, ...] = field(default_factory=tuple)
    slack_id: str | None = None
    teams_id: str | None = None
    email: str | None = None
    organisations: tuple[str, ...] = ()

    @property
    def is_hr(self) -> bool:
        """True when the person has the ``hr`` role."""
        return ROLE_HR in self.roles


class Directory:
    """An in-memory, read-only directory of ``Person`` records (thread-safe to share).

    Args:
        people: the people; ids, Slack ids and Teams ids must be unique and managers must exist.

    Raises:
        DirectoryError: duplicate ids, an unknown manager, or an unknown role.
    """

    def __init__(self, people: list[Person]):
        self._people: dict[str, Person] = {}
        self._slack: dict[str, Person] = {}
        self._teams: dict[str, Person] = {}
        for p in people:
            if not p.user_id or not p.name:
                raise DirectoryError("every person needs an id and a name")
            if p.user_id in self._people:
                raise DirectoryError(f"duplicate person id {p.user_id!r}")
            unknown = set(p.roles) - KNOWN_ROLES
            if unknown:
                raise DirectoryError(f"{p.user_id}: unknown role(s) {sorted(unknown)}; known: {sorted(KNOWN_ROLES)}")
            self._people[p.user_id] = p
            for index, key, label in ((self._slack, p.slack_id, "Slack"), (self._teams, p.teams_id, "Teams")):
                if key:
                    if key in index:
                        raise DirectoryError(
                            f"{label} id {key!r} is given to both {index[key].user_id} and {p.user_id}"
                        )
                    index[key] = p
        for p in self._people.values():
            if p.manager and p.manager not in self._people:
                raise DirectoryError(f"{p.user_id}: manager {p.manager!r} is not in the directory")
            if p.manager == p.user_id:
                raise DirectoryError(f"{p.user_id} cannot be their own manager")

    # ---- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Directory:
        """Read a directory file (``.toml``, ``.yaml`` or ``.yml``).

        Raises:
            DirectoryError: the file is missing, not valid TOML/YAML, or its content is inconsistent.
        """
        path = Path(path)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise DirectoryError(f"cannot read the directory {path}: {exc.strerror or exc}") from None
        import yaml

        try:
            if path.suffix.lower() in {".yaml", ".yml"}:
                data = yaml.safe_load(raw.decode("utf-8")) or {}
            else:
                data = tomllib.loads(raw.decode("utf-8"))
        except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
            raise DirectoryError(f"{path} is not a valid directory file: {exc}") from None
        entries = data.get("person") or data.get("people") or []
        if not isinstance(entries, list):
            raise DirectoryError(f"{path}: expected a list of [[person]] entries")
        people = []
        for i, e in enumerate(entries, start=1):
            if not isinstance(e, dict) or "id" not in e or "name" not in e:
                raise DirectoryError(f"{path}: person #{i} needs at least an id and a name")
            roles = e.get("roles") or []
            if isinstance(roles, str):
                roles = [roles]
            orgs = e.get("organisation", e.get("organisations")) or []
            if isinstance(orgs, str):
                orgs = [orgs]
            if not isinstance(orgs, list) or not all(isinstance(o, str) for o in orgs):
                raise DirectoryError(f"{path}: person #{i}: organisation must be a name or a list of names")
            people.append(
                Person(
                    user_id=str(e["id"]),
                    name=str(e["name"]),
                    manager=e.get("manager") or None,
                    roles=tuple(str(r) for r in roles),
                    slack_id=e.get("slack_id") or None,
                    teams_id=e.get("teams_id") or None,
                    email=e.get("email") or None,
                    organisations=tuple(o.strip() for o in orgs if o.strip()),
                )
            )
        return cls(people)

    # ---- look-ups ------------------------------------------------------------------------
    def get(self, user_id: str) -> Person | None:
        """The person with directory id ``user_id``, or None."""
        return self._people.get(user_id)

    def by_slack_id(self, slack_id: str) -> Person | None:
        """The person with this Slack user id (e.g. ``"U0ALICE01"``), or None."""
        return self._slack.get(slack_id)

    def by_teams_id(self, teams_id: str) -> Person | None:
        """The person with this Teams user id (AAD object id or ``29:`` id), or None."""
        return self._teams.get(teams_id)

    def manager_of(self, user_id: str) -> Person | None:
        """The manager of ``user_id``, or None (no manager, or unknown user)."""
        p = self._people.get(user_id)
        return self._people.get(p.manager) if p and p.manager else None

    def organisations_of(self, user_id: str | None) -> tuple[str, ...]:
        """The organisations the directory gives ``user_id`` (``()`` when it gives none or the id is unknown)."""
        p = self._people.get(user_id) if user_id else None
        return p.organisations if p else ()

    def _with_role(self, role: str, organisations: Iterable[str]) -> list[Person]:
        """People with ``role`` in file order: those sharing one of ``organisations`` when there are any,
        else everyone with the role (see ``hr_people``)."""
        everyone = [p for p in self._people.values() if role in p.roles]
        wanted = {organisation_key(o) for o in organisations} - {""}
        if not wanted:
            return everyone
        same = [p for p in everyone if wanted.intersection(organisation_key(o) for o in p.organisations)]
        return same or everyone

    def hr_people(self, organisations: Iterable[str] = ()) -> list[Person]:
        """Everyone with the ``hr`` role, in file order; with ``organisations``, those of the same organisation.

        With ``organisations`` (e.g. a reporter's ``Person.organisations``), the HR people whose own
        directory organisations share one of them (compared with ``organisation_key``: ignoring case and
        spacing) are returned when there is at least one; when there is none, everyone with the role is,
        as without ``organisations``. So HR people with no organisation in the directory count as serving
        every organisation, but only when the organisation has no HR person of its own.
        """
        return self._with_role(ROLE_HR, organisations)

    def is_hr(self, user_id: str) -> bool:
        """True when ``user_id`` has the ``hr`` role."""
        p = self._people.get(user_id)
        return bool(p and p.is_hr)

    def safeguarding_lead(self, organisations: Iterable[str] = ()) -> Person | None:
        """The (first, in file order) person with the ``safeguarding_lead`` role, or None.

        With ``organisations``, the first lead sharing one of them (same comparison and rule as
        ``hr_people``): a lead of the same organisation when there is one, else the first lead of all, so a
        lead with no organisation in the directory serves an organisation only when it has no lead of its own.
        """
        return next(iter(self._with_role(ROLE_SAFEGUARDING, organisations)), None)

    def people(self) -> list[Person]:
        """Everyone, in file order."""
        return list(self._people.values())

    def find(self, text: str) -> list[Person]:
        """People whose id, full name or first name equals ``text`` (case-insensitive)."""
        t = " ".join(text.split()).casefold()
        if not t:
            return []
        exact = [p for p in self._people.values() if t in (p.user_id.casefold(), p.name.casefold())]
        if exact:
            return exact
        return [p for p in self._people.values() if p.name.split()[0].casefold() == t]

    def name_of(self, user_id: str | None) -> str:
        """Display name of ``user_id`` (the id itself when unknown)."""
        p = self._people.get(user_id) if user_id else None
        return p.name if p else (user_id or "unknown")


def directory_path(data_dir: str | Path | None, dev: bool = False, settings: Settings | None = None) -> Path | None:
    """Where the directory is: ``POLICYBOT_DIRECTORY`` (``settings.directory``),
    ``<data dir>/directory.{toml,yaml,yml}``, or (``dev`` only) the bundled sample. None when there is none.

    Args:
        data_dir: the data dir (None: not looked in).
        dev: dev mode (the sample directory is a last resort).
        settings: the settings read at the entry point (None: read the process environment now).

    Raises:
        bot.settings.SettingsError: ``settings`` is None and a ``POLICYBOT_*`` variable has a bad value.
    """
    from bot.settings import load_settings

    configured = (settings or load_settings()).directory
    if configured is not None:
        return configured
    if data_dir is not None:
        for name in ("directory.toml", "directory.yaml", "directory.yml"):
            candidate = Path(data_dir) / name
            if candidate.exists():
                return candidate
    if dev and SAMPLE_DIRECTORY.exists():
        return SAMPLE_DIRECTORY
    return None
