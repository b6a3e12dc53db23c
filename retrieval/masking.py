"""Masking of volatile tokens (numbers, ids, addresses, hashes) so repeats of one failure look alike.

`mask()` replaces each class of volatile token with a placeholder, the way log template miners
(Drain and its kin) pre-process lines; `template_tokens()` and `template_similarity()` compare two
masked lines position by position. `clean_chat()` turns Slack markup into plain text first.
"""

from __future__ import annotations

import html
import re
from difflib import SequenceMatcher

PLACEHOLDER = re.compile(r"<(?:uuid|email|mac|ip|time|date|pod|hex|token|num)>")
# Kubernetes generates pod and ReplicaSet suffixes from an alphabet without vowels.
_K8S = "[bcdfghjklmnpqrstvwxz2456789]"
_RULES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(p, flags), repl)
    for p, repl, flags in (
        (r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", "<uuid>", re.I),
        (r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b", "<email>", 0),
        (r"\b(?:[0-9a-f]{2}[:-]){5}[0-9a-f]{2}\b", "<mac>", re.I),
        (r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?::\d+)?(?![\w.])", "<ip>", 0),
        (r"(?<![\w:])(?:[0-9a-f]{1,4}:){3,7}[0-9a-f]{1,4}\b", "<ip>", re.I),
        (r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?\b", "<time>", 0),
        (r"\b\d{1,2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?\b", "<time>", 0),
        (r"\b\d{4}-\d{2}-\d{2}\b", "<date>", 0),
        # Deployment pods: <workload>-<replicaset hash>-<pod suffix> -> the workload.
        (rf"\b([a-z0-9][a-z0-9-]*?)-{_K8S}{{6,10}}-{_K8S}{{5}}\b", r"\1-<pod>", 0),
        (r"\b0x[0-9a-f]+\b", "<hex>", re.I),
        # Hashes and tokens: long runs that mix digits with letters. A long word made only of
        # letters (an alert name in CamelCase) is vocabulary, not an id.
        (r"\b(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\b", "<hex>", re.I),
        (r"(?<![\w/+])(?=[a-z0-9+/]*\d)(?=[a-z0-9+/]*[a-z])[a-z0-9+/]{20,}={0,2}(?![\w/])", "<token>", re.I),
        (r"(?<![A-Za-z0-9])-?\d+(?:\.\d+)?|\d+(?:\.\d+)?", "<num>", 0),
    )
)
_SPACES = re.compile(r"\s+")
# A variable-length list of one kind of value ("blk_<num> blk_<num> blk_<num>") is one variable.
_REPEATS = re.compile(r"(?<!\S)(\S*<[a-z]+>\S*)(?:\s+\1)+(?!\S)")
_SLACK_LINK = re.compile(r"<(?:mailto:)?([^<>|]+)\|([^<>]+)>")
_SLACK_USER = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]+)?>")
_SLACK_CHANNEL = re.compile(r"<#C[A-Z0-9]+\|([^>]+)>")
_SLACK_SPECIAL = re.compile(r"<!(here|channel|everyone)(?:\|[^>]*)?>")
_SLACK_BARE = re.compile(r"<((?:https?|mailto):[^<>]+)>")
_EMOJI = re.compile(r"(?<![0-9A-Za-z]):[a-z0-9_+'-]+:(?![0-9])")  # not the middle of 09:02:11
_TOKEN_EDGE = re.compile(r"^[\"'(\[{*_`]+|[\"'.,;:!?)\]}*_`]+$")


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
    """Replace volatile tokens with placeholders, fold lists of them, and fold white space."""
    for pattern, repl in _RULES:
        text = pattern.sub(repl, text)
    text = _SPACES.sub(" ", text).strip()
    return _REPEATS.sub(r"\1", text)


def template_tokens(masked: str) -> list[str]:
    """Lower-cased white-space tokens of a masked line, surrounding quotes and punctuation dropped."""
    out = []
    for raw in masked.lower().split(" "):
        token = _TOKEN_EDGE.sub("", raw)
        out.append(token or raw)
    return out


def is_variable(token: str) -> bool:
    """A token that is nothing but a masked value."""
    return PLACEHOLDER.fullmatch(token) is not None


def template_similarity(a: list[str], b: list[str]) -> float:
    """Drain's sequence similarity: the share of positions holding the same token.

    Lines of different lengths come from different templates (0.0). Positions where both sides
    hold a masked value count as equal, since they are the template's parameters.
    """
    if len(a) != len(b) or not a:
        return 0.0
    same = sum(x == y or (is_variable(x) and is_variable(y)) for x, y in zip(a, b, strict=True))
    return same / len(a)


def differing_tokens(a: list[str], b: list[str]) -> list[tuple[str, str]]:
    """The (left, right) token pairs at positions where two equally long lines differ."""
    return [(x, y) for x, y in zip(a, b, strict=True) if x != y and not (is_variable(x) and is_variable(y))]


def template_alignment(a: list[str], b: list[str]) -> tuple[float, bool]:
    """(share of tokens the two lines have in common, in order; whether any word differs).

    Lines of different length are aligned too (difflib), so an inserted word counts as a
    difference; masked values on both sides of a replaced span are not a difference.
    """
    if not a or not b:
        return 0.0, bool(a or b)
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    differs = False
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            continue
        left, right = a[i1:i2], b[j1:j2]
        if len(left) != len(right) or not all(is_variable(x) and is_variable(y) for x, y in zip(left, right)):
            differs = True
            break
    return matcher.ratio(), differs
