"""Cues a person uses to tell whether two reports are the same incident: tickets, codes, places, days.

Pure functions over raw text. `extract_cues` returns sets per cue kind; `cue_adjustment` turns
the agreement or conflict of two cue sets into a bonus or penalty on their cosine similarity.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

Cues = dict[str, list[str]]

_TICKET = re.compile(r"\b([A-Z][A-Z0-9]{1,9}-\d{2,7})\b")
_HTTP = re.compile(r"\b(?:HTTP|status|code|returns?|returning|got|getting|with)?\s*\b([45]\d\d)s?\b", re.I)
_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z0-9]+(?:Error|Exception|Timeout|Failure|Fault))\b")
_ENV = re.compile(r"\b(prod(?:uction)?|staging|stage|stg|dev|qa|sandbox|preprod|uat)\b", re.I)
_REGION = re.compile(r"\b(eu|us|uk|apac|emea|ap|sa|ca|au|in|jp)(?:[-_ ](?:west|east|north|south|central))?(?:[-_]?\d)?\b")
_DAY = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri|sat|sun)\b", re.I)
_SERVICE = re.compile(r"\b([a-z][a-z0-9]+(?:-[a-z0-9]+)+)\b")
_ENV_CANON = {"production": "prod", "stage": "staging", "stg": "staging"}
_DAY_CANON = {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday",
              "sat": "saturday", "sun": "sunday"}


def extract_cues(text: str) -> Cues:
    """Ticket ids, HTTP status codes, error class names, environment, region, weekday, service names."""
    envs = {_ENV_CANON.get(m.lower(), m.lower()) for m in _ENV.findall(text)}
    days = {_DAY_CANON.get(m.lower(), m.lower()) for m in _DAY.findall(text)}
    return {
        "ticket": sorted(set(_TICKET.findall(text))),
        "code": sorted({m for m in _HTTP.findall(text)}),
        "error": sorted(set(_ERROR_NAME.findall(text))),
        "env": sorted(envs),
        "region": sorted({m.lower() for m in _REGION.findall(text)}),
        "day": sorted(days),
        "service": sorted(set(_SERVICE.findall(text))),
    }


def _overlap(a: Mapping[str, list[str]], b: Mapping[str, list[str]], key: str) -> tuple[bool, bool]:
    """(shared, conflicting): both name something and they share it / share nothing."""
    left, right = set(a.get(key, ())), set(b.get(key, ()))
    if not left or not right:
        return False, False
    shared = bool(left & right)
    return shared, not shared


def cue_adjustment(a: Mapping[str, list[str]], b: Mapping[str, list[str]]) -> float:
    """Bonus for shared specific cues, penalty for conflicting places, environments and days."""
    score = 0.0
    shared, _ = _overlap(a, b, "ticket")
    score += 0.25 if shared else 0.0
    for key, bonus in (("error", 0.10), ("code", 0.05), ("service", 0.08)):
        shared, _ = _overlap(a, b, key)
        score += bonus if shared else 0.0
    for key, penalty in (("env", 0.20), ("region", 0.15), ("day", 0.20)):
        _, conflict = _overlap(a, b, key)
        score -= penalty if conflict else 0.0
    _, code_conflict = _overlap(a, b, "code")
    score -= 0.08 if code_conflict else 0.0
    return score
