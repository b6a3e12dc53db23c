"""Socket Mode: the same Bolt app over a WebSocket Slack opens, for hosts Slack cannot reach by HTTP."""

from __future__ import annotations

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import Services
from bot.slack.app import SlackConfigError, build_slack_app


def socket_mode_handler(services: Services) -> SocketModeHandler:
    """A handler ready to `start()` (blocking) or `connect()` (background); needs SLACK_APP_TOKEN."""
    token = services.settings.slack_app_token
    if token is None or not token.get_secret_value().startswith("xapp-"):
        raise SlackConfigError("Socket Mode needs SLACK_APP_TOKEN, an app-level token (xapp-...) with the "
                               "connections:write scope: Slack app settings > Basic Information > App-Level Tokens")
    bolt_app = build_slack_app(services)
    return SocketModeHandler(bolt_app, app_token=token.get_secret_value())


def run_socket_mode(services: Services) -> None:
    """Connect and serve until interrupted (`ballast serve --socket`)."""
    socket_mode_handler(services).start()
