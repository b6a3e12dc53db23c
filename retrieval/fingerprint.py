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
_WORD = re.compile(r"[A-Za-z']+")
_FUNCTION_WORDS = frozenset(
    "i we you he she they it me us my our your the a an is are was were be been being am do does did "
    "this that these those there here to of in on at for with from by and or but so if not no can "
    "could would should will just still also any anyone someone pls please thanks what why how when "
    "who which seems looks like since about again anybody getting keep keeps".split()
)


def digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()


def prose_ratio(text: str) -> float:
    """Share of words that are function words: high for sentences people write, low for log lines."""
    words = [w.lower() for w in _WORD.findall(text)]
    if not words:
        return 0.0
    return sum(w in _FUNCTION_WORDS for w in words) / len(words)


def signal_kind(text: str, labels: Mapping[str, str], source: str | None) -> Kind:
    """Alerts carry an alertname or come from an alerting system; people write prose; the rest are logs."""
    src = (source or "").lower()
    if labels.get("alertname") or src in ALERT_SOURCES:
        return "alert"
    if src in CHAT_SOURCES:
        return "report"
    cleaned = clean_chat(text)
    words = _WORD.findall(cleaned)
    if len(words) >= 12 and prose_ratio(cleaned) >= 0.22:
        return "report"
    return "log"


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
