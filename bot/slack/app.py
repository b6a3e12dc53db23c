"""The Bolt app: one sync `App` per process, its Web API client, and the listeners registered on it.

Listeners reach services through the `SlackDeps` closure, never Bolt's context (lazy listeners
run on a copy of it). Slow work (search, answers) runs in lazy listeners after the ack; reports go
to the inbox, and the worker pool and the outbox job (bot/slack/notices.py) do the rest.
"""

from __future__ import annotations

import logging
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.app import Services
from bot.config import EMPTY, BallastConfig, load_config
from bot.settings import Settings
from bot.slack.posting import Poster

log = logging.getLogger(__name__)
RATE_LIMIT_RETRIES = 100  # a message waits out this many 429s (each Retry-After long) before failing


class SlackConfigError(RuntimeError):
    """Slack is not configured enough to start; the message names the missing setting."""


def _pairs(raw: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            if key.strip() and value.strip():
                out[key.strip()] = value.strip()
    return out


@dataclass(frozen=True)
class SlackConfig:
    """The Slack part of the settings and the config file, parsed once."""

    intake_channels: frozenset[str] = frozenset()
    tenants: dict[str, str] = field(default_factory=dict)
    file: BallastConfig = EMPTY

    @classmethod
    def from_settings(cls, settings: Settings, file: BallastConfig | None = None) -> SlackConfig:
        """`file` defaults to the config file of the settings; its `workspaces` add to BALLAST_SLACK_TENANTS
        (the environment wins for a team named in both)."""
        file = file if file is not None else load_config(settings.resolved_config_file)
        channels = frozenset(c.strip() for c in settings.slack_intake_channels.split(",") if c.strip())
        return cls(channels, {**file.workspaces, **_pairs(settings.slack_tenants)}, file)

    def tenant(self, team_id: str | None) -> str:
        return self.tenants.get(team_id or "", "default")


@dataclass
class SlackDeps:
    """What every listener and Slack job closes over: the services, the poster, and the Slack config."""

    services: Services
    poster: Poster
    config: SlackConfig


def slack_deps(services: Services, config: BallastConfig | None = None, client: WebClient | None = None) -> SlackDeps:
    """Deps for work outside a listener (the outbox and escalation jobs): a poster on its own client."""
    return SlackDeps(services, Poster(services.engine, client or web_client(services.settings)),
                     SlackConfig.from_settings(services.settings, config if config is not None else services.config))


def web_client(settings: Settings) -> WebClient:
    """The Web API client: `SLACK_API_URL` as base, 429s waited out per Retry-After.

    No connection-error retry handler: a post whose response was lost may have been delivered,
    so `Poster` checks for it before posting again instead of retrying blindly.
    """
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    return WebClient(token=token, base_url=base, timeout=15,
                     retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=RATE_LIMIT_RETRIES)])


def build_slack_app(services: Services, *, client: WebClient | None = None, token_verification_enabled: bool = True,
                    listener_executor: Executor | None = None, config: BallastConfig | None = None) -> App:
    """The Bolt app for `services`; tests pass `token_verification_enabled=False` (no auth.test call)
    and their own executor, to wait for background work before they stop the fake Slack."""
    from bot.slack import actions, commands, messages

    settings = services.settings
    if settings.slack_signing_secret is None:
        raise SlackConfigError("SLACK_SIGNING_SECRET is not set: copy it from the Slack app's Basic Information page")
    client = client or web_client(settings)
    if client.token is None:
        raise SlackConfigError("SLACK_BOT_TOKEN is not set: install the app and copy its Bot User OAuth Token")
    app = App(
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        client=client,
        process_before_response=False,
        token_verification_enabled=token_verification_enabled,
        listener_executor=listener_executor
        or ThreadPoolExecutor(max_workers=settings.slack_workers, thread_name_prefix="slack"),
        logger=logging.getLogger("bot.slack.bolt"),
    )
    file = config if config is not None else services.config
    deps = SlackDeps(services, Poster(services.engine, client), SlackConfig.from_settings(settings, file))
    commands.register(app, deps)
    actions.register(app, deps)
    messages.register(app, deps)
    return app
