"""Platform user ids and directory ids, one rule for every channel.

A person known to the directory (``bot.directory.Directory``) is addressed by their directory id; anyone
else by ``"<platform>:<platform user id>"`` (e.g. ``"slack:U0ALICE01"``), which maps back without the
directory.
"""

from __future__ import annotations

from typing import Literal

from bot.directory import Directory, Person

Platform = Literal["slack", "teams"]


def _by_platform_id(directory: Directory, platform: Platform, platform_user: str) -> Person | None:
    return directory.by_slack_id(platform_user) if platform == "slack" else directory.by_teams_id(platform_user)


def directory_id(directory: Directory | None, platform: Platform, platform_user: str) -> str:
    """The directory id of ``platform_user`` (a Slack or Teams user id) when the directory knows them,
    else ``"<platform>:<platform_user>"``."""
    person = _by_platform_id(directory, platform, platform_user) if directory is not None else None
    return person.user_id if person is not None and person.user_id else f"{platform}:{platform_user}"


def platform_id(directory: Directory | None, platform: Platform, user_id: str) -> str | None:
    """The ``platform`` user id of ``user_id`` (a directory id or ``"<platform>:<id>"``); None when the
    person has none (not in the directory, or not on that platform)."""
    prefix = f"{platform}:"
    if user_id.startswith(prefix):
        return user_id[len(prefix) :] or None
    person = directory.get(user_id) if directory is not None else None
    if person is None:
        return None
    return (person.slack_id if platform == "slack" else person.teams_id) or None
