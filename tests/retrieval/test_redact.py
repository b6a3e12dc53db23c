"""Secrets and personal data never leave for a model: each kind is replaced, ordinary words are not."""

from __future__ import annotations

import pytest

from retrieval.redact import redact, redact_report

SECRETS = [
    ("postgresql://orders:Sup3rS3cret@db.internal:5432/orders", "Sup3rS3cret"),
    ("redis://:hunter2hunter2@cache:6379/0", "hunter2hunter2"),
    ("DB_PASSWORD=correct-horse-battery", "correct-horse-battery"),
    ('{"api_key": "a1b2c3d4e5f6g7h8"}', "a1b2c3d4e5f6g7h8"),
    ("client_secret: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
    ("Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3"),
    ("curl -H 'Authorization: Bearer abcdef0123456789xyz'", "abcdef0123456789xyz"),
    ("slack token xoxb-1234567890-0987654321-AbCdEfGhIjKl", "xoxb-1234567890"),
    ("app token xapp-1-A0123456789-0123456789-abcdef", "xapp-1-A0123456789"),
    ("aws AKIAIOSFODNN7EXAMPLE leaked", "AKIAIOSFODNN7EXAMPLE"),
    ("github ghp_0123456789abcdefghijABCDEFGHIJ0123", "ghp_0123456789"),
    ("openai sk-proj-0123456789abcdefABCDEF", "sk-proj-0123456789"),
    ("stripe sk_live_0123456789abcdefABCD", "sk_live_0123456789"),
    ("google AIzaSyA-0123456789abcdefghijklmnopqrstu", "AIzaSyA-0123456789"),
    ("page alice.smith@example.com now", "alice.smith@example.com"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "b3BlbnNzaC1rZXkt"),
]


@pytest.mark.parametrize(("text", "secret"), SECRETS)
def test_each_kind_of_secret_is_redacted(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert "[REDACTED:" in out


def test_surrounding_text_survives() -> None:
    report = redact_report("connect to postgresql://app:pw12345@db:5432/x failed; mail ops@example.org")
    assert report.text == "connect to postgresql://app:[REDACTED:password]@db:5432/x failed; mail [REDACTED:email]"
    assert report.counts == {"password": 1, "email": 1} and report.total == 2


@pytest.mark.parametrize("text", [
    "the password rotation runbook says to rotate the secret monthly",
    "token bucket rate limiting returned 429",
    "kubectl get secret db-creds -n orders",
    "p99 latency 1.2s on checkout-7f9c",
])
def test_ordinary_ops_text_is_untouched(text: str) -> None:
    assert redact(text) == text
