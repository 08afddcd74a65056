"""Thin translators between platforms (Slack, Teams, web, console, CLI) and the core.

Constants the command line needs without importing a channel (``policybot --help`` loads no aiohttp or
Bot Framework SDK) live here.
"""

DEFAULT_HOST = "127.0.0.1"  #: where ``policybot serve`` listens by default
DEFAULT_PORT = 3978  #: its default port
ENV_APP_ID = "MicrosoftAppId"  #: the Teams bot's Microsoft App ID variable
