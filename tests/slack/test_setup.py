"""Starting the Slack app: clear errors for missing settings, Socket Mode, and the manifest matching the code."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from bot.app import Services
from bot.slack.app import SlackConfig, SlackConfigError, build_slack_app
from bot.slack.commands import COMMANDS
from bot.slack.socket import socket_mode_handler
from tests.fakes.slack_api import FakeSlackAPI

MANIFEST = Path(__file__).resolve().parents[2] / "slack-manifest.yaml"


def test_missing_secrets_are_named(make_services: Callable[..., Services]) -> None:
    with pytest.raises(SlackConfigError, match="SLACK_SIGNING_SECRET"):
        build_slack_app(make_services(), token_verification_enabled=False)
    with pytest.raises(SlackConfigError, match="SLACK_BOT_TOKEN"):
        build_slack_app(make_services(slack_signing_secret=SecretStr("s")), token_verification_enabled=False)


def test_socket_mode_needs_an_app_token(make_services: Callable[..., Services], fake_slack: FakeSlackAPI) -> None:
    base = dict(slack_signing_secret=SecretStr("s"), slack_bot_token=SecretStr("xoxb-1"), slack_api_url=fake_slack.url)
    with pytest.raises(SlackConfigError, match="SLACK_APP_TOKEN"):
        socket_mode_handler(make_services(**base))
    with pytest.raises(SlackConfigError, match="xapp-"):
        socket_mode_handler(make_services(**base, slack_app_token=SecretStr("xoxb-wrong-kind")))
    handler = socket_mode_handler(make_services(**base, slack_app_token=SecretStr("xapp-1-A1-x")))
    assert handler.app_token == "xapp-1-A1-x"
    assert fake_slack.calls("auth.test")  # building the app checks the bot token at SLACK_API_URL


def test_tenant_mapping_and_intake_channels() -> None:
    from bot.settings import Settings

    config = SlackConfig.from_settings(Settings(BALLAST_SLACK_TENANTS="T1=acme, T2 = beta,broken",
                                                BALLAST_SLACK_INTAKE_CHANNELS="C1, C2,,"))
    assert config.tenant("T1") == "acme" and config.tenant("T2") == "beta" and config.tenant("T9") == "default"
    assert config.intake_channels == {"C1", "C2"}


def test_manifest_matches_the_app() -> None:
    manifest = yaml.safe_load(MANIFEST.read_text())
    assert tuple(c["command"] for c in manifest["features"]["slash_commands"]) == COMMANDS
    settings = manifest["settings"]
    urls = {c["url"] for c in manifest["features"]["slash_commands"]}
    urls |= {settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"]}
    assert all(u.endswith("/slack/events") for u in urls)
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.channels", "message.groups",
                                                                 "message.im"}
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert {"commands", "chat:write", "app_mentions:read", "im:history", "channels:history"} <= scopes
