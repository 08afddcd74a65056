"""The Slack app manifest declares what the adapter handles, all at the one events URL."""

from pathlib import Path

import yaml

MANIFEST = Path(__file__).resolve().parent.parent / "adapters" / "slack_manifest.yaml"


def test_manifest_matches_the_adapter():
    m = yaml.safe_load(MANIFEST.read_text())
    scopes = set(m["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "im:history", "im:write", "files:read"} <= scopes
    settings = m["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_home_opened", "app_mention", "message.im"}
    assert settings["interactivity"]["is_enabled"] is True
    urls = [settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]]
    (command,) = m["features"]["slash_commands"]
    assert command["command"] == "/policy"
    urls.append(command["url"])
    assert all(u.startswith("https://") and u.endswith("/slack/events") for u in urls)
    (shortcut,) = m["features"]["shortcuts"]
    assert shortcut["type"] == "global" and shortcut["callback_id"] == "report_concern"
    assert m["features"]["app_home"]["messages_tab_enabled"] is True
    assert m["features"]["app_home"]["home_tab_enabled"] is True  # adapters/slack_home.py publishes it
