"""Thin translators between platforms (Slack, Teams, web, console, CLI) and the core."""
