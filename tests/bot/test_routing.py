"""Routing: first matching rule wins; service globs, severity lists and tenants combine; else the default."""

from __future__ import annotations

import pytest

from bot.config import parse_config
from bot.routing import route

CONFIG = parse_config({"routes": {
    "default": "C-DEFAULT",
    "rules": [
        {"tenant": "beta", "channel": "C-BETA"},
        {"service": "checkout*", "severity": ["critical"], "channel": "C-CHECKOUT-PAGE"},
        {"service": "checkout*", "channel": "C-CHECKOUT"},
        {"severity": "critical", "channel": "C-CRITICAL"},
        {"service": "db-?", "channel": "C-DB"},
    ],
}})


@pytest.mark.parametrize(("service", "severity", "tenant", "channel"), [
    ("checkout-api", "critical", "acme", "C-CHECKOUT-PAGE"),
    ("checkout-api", "warning", "acme", "C-CHECKOUT"),
    ("Checkout", "CRITICAL", "acme", "C-CHECKOUT-PAGE"),  # case-insensitive
    ("payments", "critical", "acme", "C-CRITICAL"),
    ("db-1", "info", "acme", "C-DB"),
    ("db-10", "info", "acme", "C-DEFAULT"),
    (None, "warning", "acme", "C-DEFAULT"),  # a service rule never matches an incident without one
    (None, "critical", "acme", "C-CRITICAL"),
    ("checkout-api", "critical", "beta", "C-BETA"),  # earlier rules win
])
def test_first_match_wins(service: str | None, severity: str, tenant: str, channel: str) -> None:
    assert route(CONFIG.routes, service, severity, tenant) == channel


def test_no_match_and_no_default_is_none() -> None:
    routes = parse_config({"routes": {"rules": [{"service": "x", "channel": "C1"}]}}).routes
    assert route(routes, "y", "critical", "default") is None
    assert route(routes, "x", "critical", "default") == "C1"
