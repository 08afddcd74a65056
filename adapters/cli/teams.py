"""``policybot teams package``: the Teams app package (manifest and icons) to upload, with the bot's app id."""

from __future__ import annotations

import json
import os
import re
import sys
import zipfile
from pathlib import Path

from adapters import ENV_APP_ID

TEAMS_DIR = Path(__file__).resolve().parents[2] / "teams"
APP_ID_PLACEHOLDER = "00000000-0000-0000-0000-000000000000"
BASE_URL_PLACEHOLDER = "https://policybot.example.org"


def build_app_package(app_id: str, out: str | Path, base_url: str | None = None, source: Path = TEAMS_DIR) -> Path:
    """Write the Teams app package (a zip of ``manifest.json``, ``color.png``, ``outline.png``) for upload.

    ``app_id`` (the bot's Microsoft App ID) replaces the placeholder bot id; ``base_url`` replaces
    ``https://policybot.example.org`` in the developer links. Returns the zip's path.

    Raises:
        ValueError: ``app_id`` is not a GUID (or is the nil GUID), or ``base_url`` is not an https URL.
        OSError: the source files cannot be read or the zip cannot be written.
    """
    import uuid

    try:
        guid = uuid.UUID(app_id.strip())
    except ValueError:
        guid = None
    if guid is None or guid.int == 0:  # the nil GUID is the manifest's placeholder, never a real app id
        raise ValueError(f"the app id must be the bot's Microsoft App ID (a GUID), not {app_id!r}")
    app_id = str(guid)
    text = (source / "manifest.json").read_text(encoding="utf-8").replace(APP_ID_PLACEHOLDER, app_id)
    if base_url:
        if not re.match(r"^https://[^\s/]+", base_url):
            raise ValueError(f"the base URL must start with https://, not {base_url!r}")
        text = text.replace(BASE_URL_PLACEHOLDER, base_url.rstrip("/"))
    json.loads(text)
    out = Path(out)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", text)
        z.write(source / "color.png", "color.png")
        z.write(source / "outline.png", "outline.png")
    return out


def cmd_package(args) -> int:
    """``policybot teams package``: write the app package; exit 0, or 2 (a one-line message on stderr,
    nothing written) for a missing or bad app id or base URL."""
    app_id = args.app_id or os.environ.get(ENV_APP_ID, "")
    if not app_id:
        print(f"error: give --app-id or set {ENV_APP_ID}", file=sys.stderr, flush=True)
        return 2
    try:
        path = build_app_package(app_id, args.out, args.base_url)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    print(f"wrote {path}: upload it in Teams (Apps > Manage your apps > Upload an app) or the Teams admin center")
    return 0


def register(subparsers) -> None:
    """Add ``policybot teams package`` to the ``policybot`` parser."""
    p = subparsers.add_parser("teams", help="Microsoft Teams helpers")
    sub = p.add_subparsers(dest="teams_command", required=True)
    pkg = sub.add_parser("package", help="build the Teams app package (manifest + icons) to upload")
    pkg.add_argument("--app-id", default=None, help=f"the bot's Microsoft App ID (default: ${ENV_APP_ID})")
    pkg.add_argument("--base-url", default=None, help="https address of your organisation for the developer links")
    pkg.add_argument("--out", default="policybot-teams.zip", help="the zip to write (default policybot-teams.zip)")
    pkg.set_defaults(func=cmd_package)
