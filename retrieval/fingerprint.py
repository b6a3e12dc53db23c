"""Exact-dedup keys and source kinds: which signals are machine alerts, machine logs or human reports.

An alert's identity is its labels minus the volatile ones (severity, values, replica and
per-process ids), with generated pod names folded to their workload; anything else is keyed
by its masked text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Literal

from retrieval.masking import clean_chat, mask

Kind = Literal["alert", "log", "report"]
ALERT_SOURCES = frozenset({"alertmanager", "grafana", "prometheus", "pagerduty", "datadog", "cloudwatch"})
CHAT_SOURCES = frozenset({"slack", "teams", "chat", "email", "ticket"})
# Labels that change between firings of one problem and so must not split an incident.
VOLATILE_LABELS = frozenset({
    "severity", "priority", "value", "prometheus", "prometheus_replica", "replica", "receiver",
    "endpoint", "uid", "id", "container_id", "image", "image_id", "pod_ip", "host_ip", "instance_id",
    "device", "mountpoint", "fstype", "le", "quantile", "reason",
})
# A token that is one plain word, maybe quoted or followed by punctuation, as people write them.
_PLAIN = re.compile(r"^[\"'(*_`]*([A-Za-z]+(?:'[a-z]+)?)[\"'.,;:!?)*_`]*$")
# Words that carry grammar rather than content: common in sentences people write, rare in logs.
_FUNCTION_WORDS = frozenset(
    "i i'm i've i'd we we're we've you you're he she they they're it it's me us my our your their "
    "them the a an is isn't are aren't was wasn't were be been being am do don't does doesn't did "
    "didn't this that these those there here to of in on at for with from by and or but so if not "
    "no can can't cannot could couldn't would wouldn't should will won't just still also any anyone "
    "someone everyone nobody pls please thanks thx what why how when who which seems looks like since "
    "about again anybody getting keep keeps same as too either now today yesterday ok okay hey hi "
    "has have haven't hasn't had all some one only very really think know see saw said says".split()
)
# Prose: most tokens are plain words and several of them are grammar. Log lines fail the first
# test (ids, key=value, dotted names), short log messages the second.
_PLAIN_SHARE = 0.6
_GRAMMAR_WORDS = 4


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def is_prose(text: str) -> bool:
    """Whether text reads like sentences a person wrote rather than a machine-formatted line."""
    tokens = text.split()
    words = [m.group(1).lower() for m in map(_PLAIN.match, tokens) if m]
    if not tokens or len(words) / len(tokens) < _PLAIN_SHARE:
        return False
    return sum(w in _FUNCTION_WORDS for w in words) >= _GRAMMAR_WORDS


def signal_kind(text: str, labels: Mapping[str, str], source: str | None) -> Kind:
    """Alerts carry an alertname or come from an alerting system; people write prose.

    One line of machine text from a named stream (a log shipper names its source) is a log event
    whose parameters may be words. Machine text with no source, or a multi-line block, is a
    pasted or forwarded alert: its words name the entities it is about.
    """
    src = (source or "").lower()
    if labels.get("alertname") or src in ALERT_SOURCES:
        return "alert"
    if src in CHAT_SOURCES:
        return "report"
    if is_prose(clean_chat(text)):
        return "report"
    return "log" if src and "\n" not in text.strip() else "alert"


def _identity_value(key: str, value: str) -> str:
    if key == "instance":
        value = re.sub(r":\d+$", "", value)
    return mask(value)


def label_identity(labels: Mapping[str, str]) -> str | None:
    """The identity of an alert from its labels, or None when it has no alertname."""
    if not labels.get("alertname"):
        return None
    items = sorted((k, _identity_value(k, v)) for k, v in labels.items() if k not in VOLATILE_LABELS)
    return digest("labels", *(f"{k}={v}" for k, v in items))


def masked_text(text: str, kind: Kind) -> str:
    """The text that is fingerprinted and embedded: chat markup removed for reports, then masked."""
    return mask(clean_chat(text) if kind == "report" else text)


def text_fingerprint(masked: str, kind: Kind) -> str:
    return digest("text", kind, masked.lower())
