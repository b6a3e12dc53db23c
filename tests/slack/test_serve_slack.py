"""`ballast serve` as a process, with Slack and a config file: an alert's card and its escalation arrive at
the fake Slack Web API through the server's own worker pool and scheduler; a bad config stops the start."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.conftest import ballast_exe, cli_env
from tests.fakes.slack_api import FakeSlackAPI
from tests.http.conftest import am_payload
from tests.http.test_serve import Server, free_port
from tests.slack.alerting import firing, key_of, text_of, top_level
from tests.slack.conftest import SECRET, wait_for

pytestmark = pytest.mark.model
CONFIG = """
routes:
  rules:
    - service: "checkout*"
      channel: C0CHECKOUT
escalation:
  critical:
    ack_timeout: 1s
    mention: "<!subteam^S0ONCALL>"
    channel: C0ESCALATE
"""


def test_serve_posts_an_alerts_card_and_escalates_it(home: Path, tmp_path: Path, fake_slack: FakeSlackAPI) -> None:
    config = tmp_path / "ballast.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    server = Server(home, tmp_path / "serve.log", BALLAST_CONFIG=str(config), SLACK_BOT_TOKEN="xoxb-test",
                    SLACK_SIGNING_SECRET=SECRET, SLACK_API_URL=fake_slack.url)
    try:
        server.wait()
        response = httpx.post(server.base + "/webhooks/alertmanager", timeout=10,
                              json=am_payload(firing(datetime.now(UTC), service="checkout-api")))
        assert response.status_code == 202
        [card] = wait_for(lambda: top_level(fake_slack, "C0CHECKOUT"), timeout=60, what="the card")
        assert key_of(card).startswith("card:") and "HighLatency" in text_of(card)
        [page] = wait_for(lambda: top_level(fake_slack, "C0ESCALATE"), timeout=60, what="the escalation")
        assert "<!subteam^S0ONCALL>" in text_of(page) and card["ts"].replace(".", "") in text_of(page)
        assert server.stop() == 0
    finally:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.wait(10)


def test_a_bad_config_stops_serve_with_the_key_named(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "ballast.yaml"
    config.write_text("escalation:\n  critical:\n    ack_timeout: soon\n", encoding="utf-8")
    done = subprocess.run([ballast_exe(), "serve", "--port", str(free_port())], capture_output=True, text=True,
                          env=cli_env(home, BALLAST_CONFIG=str(config)), timeout=120)
    assert done.returncode != 0
    assert f"{config}: 'escalation.critical.ack_timeout'" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
