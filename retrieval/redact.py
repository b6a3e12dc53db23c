"""Redaction of secrets and personal data from text before it leaves for a model.

Tokens, keys, passwords, connection-string credentials, private keys and email addresses are
replaced by `[REDACTED:<kind>]`, so the model still sees that something was there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Order matters: whole blocks and structured forms first, then bare token shapes.
_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("private-key", re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----.*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|\Z)",
                               re.DOTALL)),
    ("jwt", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    ("slack-token", re.compile(r"\bx(?:ox[abposre]|app)-[A-Za-z0-9-]{10,}")),
    ("github-token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("api-key", re.compile(r"\b(?:sk|rk|pk)[-_](?:live_|test_|ant-|proj-)?[A-Za-z0-9_-]{16,}")),
    ("aws-key", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("google-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("bearer", re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{12,}")),
)
# scheme://user:password@host  ->  scheme://user:[REDACTED:password]@host
_URL_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*):([^\s@/]+)@")
# password=..., "api_key": "...", secret: ..., also in query strings and env assignments
_ASSIGNMENT = re.compile(
    r"""(?ix)
    (["']?\b[\w.-]*(?:password|passwd|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key
                     |client[_-]?secret|credentials?|auth)\b["']?\s*[:=]\s*)
    (?!\[REDACTED)(["']?)([^\s"',;&]{3,})\2
    """
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


@dataclass(frozen=True)
class Redacted:
    text: str
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def redact_report(text: str) -> Redacted:
    """The text with every secret replaced, and how many of each kind were found."""
    counts: dict[str, int] = {}

    def tally(kind: str, n: int) -> None:
        if n:
            counts[kind] = counts.get(kind, 0) + n

    out, n = _URL_CREDENTIALS.subn(r"\1:[REDACTED:password]@", text)
    tally("password", n)
    for kind, pattern in _PATTERNS:
        if kind == "bearer":
            out, n = pattern.subn(lambda m: f"{m.group(1)} [REDACTED:token]", out)
        else:
            out, n = pattern.subn(f"[REDACTED:{kind}]", out)
        tally(kind, n)
    out, n = _ASSIGNMENT.subn(lambda m: f"{m.group(1)}{m.group(2)}[REDACTED:secret]{m.group(2)}", out)
    tally("secret", n)
    out, n = _EMAIL.subn("[REDACTED:email]", out)
    tally("email", n)
    return Redacted(out, counts)


def redact(text: str) -> str:
    """`text` with secrets and email addresses replaced by `[REDACTED:<kind>]` markers."""
    return redact_report(text).text
