"""The Slack route mounted in Ballast's own HTTP app (`create_app`): it passes the edge middleware."""

from __future__ import annotations

import json
from collections.abc import Callable

from pydantic import SecretStr
from starlette.testclient import TestClient

from bot.app import Services
from bot.http import create_app
from bot.slack.app import build_slack_app, slack_deps
from bot.slack.http import mount_slack
from bot.slack.notices import deliver_due
from tests.fakes.slack_api import FakeSlackAPI
from tests.slack.conftest import SECRET, sign, wait_for


def test_slack_events_in_the_http_app(make_services: Callable[..., Services], fake_slack: FakeSlackAPI) -> None:
    services = make_services(None, slack_bot_token=SecretStr("xoxb-test"), slack_signing_secret=SecretStr(SECRET),
                             slack_api_url=fake_slack.url, api_keys=SecretStr("default:test-key-123456"))
    app = create_app(services, start_workers=False)
    mount_slack(app, build_slack_app(services, token_verification_enabled=False))
    body = "team_id=T1&channel_id=C1&user_id=U1&command=%2Fincident&text=checkout+is+down&trigger_id=t1"
    with TestClient(app) as client:
        # Slack sends no API key: the route must not sit behind the API-key check
        response = client.post("/slack/events", content=body,
                               headers={"Content-Type": "application/x-www-form-urlencoded", **sign(body)})
        assert response.status_code == 200 and "Filing" in response.json()["text"]
        # The report is in the inbox: the app's worker pool decides it, the outbox job posts its card.
        wait_for(lambda: client.app.state.pool.run_once(), what="the report in the inbox")  # type: ignore[attr-defined]
        deliver_due(slack_deps(services), "test")
        wait_for(lambda: fake_slack.posts("C1"), what="the card")
        forged = client.post("/slack/events", content=body, headers={
            "Content-Type": "application/x-www-form-urlencoded", **sign(body, secret="wrong")})
        assert forged.status_code == 401
    assert "checkout is down" in json.dumps(fake_slack.posts("C1")[0]["blocks"])
