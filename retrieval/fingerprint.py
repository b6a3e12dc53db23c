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

from retrieval.cues import FUNCTION_WORDS
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
# Prose: most tokens are plain words and several of them are grammar. Log lines fail the first
# test (ids, key=value, dotted names), short log messages the second.
_PLAIN_SHARE = 0.6
_GRAMMAR_WORDS = 4
# A person's voice: first or second person, questions, exclamations, chat markup, a lower-case
# start. Alert templates write formal third-person sentences.
_VOICE = re.compile(
    r"\b(?i:i|i'm|i've|we|we're|we've|you|you're|my|our|your|us|me|pls|please|thanks|thx|anyone|someone"
    r"|fyi|hey|hi)\b|[?!]|:[a-z0-9_+-]+:|<[@!#]|^[a-z]", re.M)


_PORT = re.compile(r":\d+$")
_STATEFUL_ORDINAL = re.compile(r"-<num>$")


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def is_prose(text: str) -> bool:
    """Whether text reads like sentences a person wrote rather than a machine-formatted line."""
    tokens = text.split()
    words = [m.group(1).lower() for m in map(_PLAIN.match, tokens) if m]
    if not tokens or len(words) / len(tokens) < _PLAIN_SHARE:
        return False
    return sum(w in FUNCTION_WORDS for w in words) >= _GRAMMAR_WORDS


def signal_kind(text: str, labels: Mapping[str, str], source: str | None) -> Kind:
    """Alerts carry an alertname or come from an alerting system; people write prose.

    One line of machine text from a named stream (a log shipper names its source) is a log event
    whose parameters may be words. Machine text with no source, or a multi-line block, is a
    pasted or forwarded alert: its words name the entities it is about. Without a source, prose
    counts as a report only when written in a person's voice.
    """
    src = (source or "").lower()
    if labels.get("alertname") or src in ALERT_SOURCES:
        return "alert"
    if src in CHAT_SOURCES:
        return "report"
    if is_prose(clean_chat(text)) and (src or _VOICE.search(text)):
        return "report"
    return "log" if src and "\n" not in text.strip() else "alert"


def _identity_value(key: str, value: str) -> str:
    """A label value as identity: names stay verbatim (node-1 and node-2 are two nodes); only the
    parts Kubernetes or the scrape generates are folded: a target's port, a Deployment pod's
    ReplicaSet and pod suffixes, a StatefulSet pod's ordinal."""
    if key == "instance":
        return _PORT.sub("", value)
    if key == "pod":
        return _STATEFUL_ORDINAL.sub("", mask(value))
    return value


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
