"""Masking of volatile tokens (numbers, ids, addresses, hashes) so repeats of one failure look alike.

Two outputs: `mask()` for fingerprints and embeddings, and `clean_chat()` which turns Slack's
markup (mentions, channel links, `<url|label>`, HTML escapes, emoji codes) into plain text first.
"""

from __future__ import annotations

import html
import re

# Kubernetes generates pod and ReplicaSet suffixes from an alphabet without vowels.
_K8S = "[bcdfghjklmnpqrstvwxz2456789]"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, flags), repl)
    for p, repl, flags in (
        (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", re.I),
        (r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", "<email>", 0),
        (r"\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b", "<mac>", re.I),
        (r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?![\w.])", "<ip>", 0),
        (r"\b(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", "<ip>", re.I),
        (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b", "<time>", 0),
        (r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b", "<time>", 0),
        (r"\b\d{4}-\d{2}-\d{2}\b", "<date>", 0),
        # Deployment pods: <workload>-<replicaset hash>-<pod suffix> -> the workload.
        (rf"\b([a-z0-9][a-z0-9-]*?)-{_K8S}{{6,10}}-{_K8S}{{5}}\b", r"\1-<pod>", 0),
        (r"\b0x[0-9a-f]+\b", "<hex>", re.I),
        (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", "<hex>", re.I),
        (r"\b[a-z0-9+/]{24,}={0,2}(?![\w/])", "<token>", re.I),
        (r"(?<![A-Za-z0-9])-?\d+(?:\.\d+)?|\d+(?:\.\d+)?", "<num>", 0),
    )
)
_SPACES = re.compile(r"\s+")
_SLACK_LINK = re.compile(r"<(?:mailto:)?([^<>|]+)\|([^<>]+)>")
_SLACK_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]+)?>")
_SLACK_CHANNEL = re.compile(r"<#C[A-Z0-9]+\|([^>]+)>")
_SLACK_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SLACK_BARE = re.compile(r"<((?:https?|mailto):[^<>]+)>")
_EMOJI = re.compile(r":[a-z0-9_+'-]+:")


def clean_chat(text: str) -> str:
    """Slack message markup to plain text: mentions and emoji go, link labels stay."""
    text = _SLACK_USER.sub(" ", text)
    text = _SLACK_SPECIAL.sub(" ", text)
    text = _SLACK_CHANNEL.sub(r"#\1", text)
    text = _SLACK_LINK.sub(r"\2", text)
    text = _SLACK_BARE.sub(r"\1", text)
    text = _EMOJI.sub(" ", text)
    return html.unescape(text)


def mask(text: str) -> str:
    """Replace volatile tokens with placeholders and fold white space."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    return _SPACES.sub(" ", text).strip()
