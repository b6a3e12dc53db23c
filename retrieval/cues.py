"""Cues a person uses to tell whether two reports are the same incident: tickets, codes, places, days.

Pure functions over raw text. `extract_cues` returns sets per cue kind and `cue_adjustment` turns
their agreement or conflict into a bonus or penalty. `content_terms` and `term_overlap` give the
lexical side: shared words weighted by how rare they are in the tenant's reports (IDF).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping

Cues = dict[str, list[str]]

# Words that carry grammar rather than content: common in sentences people write, rare in logs.
FUNCTION_WORDS = frozenset(
    "i i'm i've i'd we we're we've you you're he she they they're it it's me us my our your their "
    "them the a an is isn't are aren't was wasn't were be been being am do don't does doesn't did "
    "didn't this that these those there here to of in on at for with from by and or but so if not "
    "no can can't cannot could couldn't would wouldn't should will won't just still also any anyone "
    "someone everyone nobody pls please thanks thx what why how when who which seems looks like since "
    "about again anybody getting keep keeps same as too either now today yesterday ok okay hey hi "
    "has have haven't hasn't had all some one only very really think know see saw said says".split()
)
# Words too common in incident chatter to tell two reports apart.
_FILLER = frozenset("get got gets go going went say day morning afternoon night last ago min hour".split())
STOPWORDS = FUNCTION_WORDS | _FILLER

_TICKET = re.compile(r"\b([A-Z][A-Z0-9]{1,9}-\d{2,7})\b")
# A status code is a 4xx/5xx number standing alone (maybe "502s"), not part of a longer id.
_HTTP = re.compile(r"(?<![\w.:/-])([45]\d\d|[45]xx)s?(?![\w.:/-])", re.I)
_ERROR_NAME = re.compile(r"\b([A-Z][A-Za-z0-9]+(?:Error|Exception|Timeout|Failure|Fault))\b")
_IDENT = re.compile(r"\b[a-z0-9]+(?:[-._][a-z0-9]+)+\b", re.I)
_ENV_WORD = re.compile(r"\b(production|prod|staging|stage|stg|sandbox|preprod|uat|qa)\b", re.I)
_REGION_WORD = re.compile(r"(?<![\w-])(EU|US|UK|APAC|EMEA|LATAM|ANZ)(?![\w-])")
_DAY = re.compile(r"\b(monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri)\b", re.I)
_ENV_CANON = {"production": "prod", "stage": "staging", "stg": "staging"}
_ENVS = frozenset({"prod", "production", "staging", "stage", "stg", "dev", "qa", "uat", "sandbox", "preprod"})
# Region codes as identifier parts; "in" and "me" are left out: sign-in, log-in, notify-me.
_REGIONS = frozenset({"eu", "us", "uk", "ap", "apac", "emea", "latam", "ca", "sa", "af", "au", "jp"})
_DAY_CANON = {"mon": "monday", "tue": "tuesday", "wed": "wednesday", "thu": "thursday", "fri": "friday"}
_TERM = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_.][A-Za-z0-9]+)*|\d+[A-Za-z]*")
_STATUS_CODE = re.compile(r"[45]\d\d")


def _identifier_parts(text: str) -> list[list[str]]:
    """Dash/dot separated identifiers (prod-eu, eu-west-1, stg-us) split into lower-case parts."""
    return [re.split(r"[-._]", m.lower()) for m in _IDENT.findall(text)]


def extract_cues(text: str) -> Cues:
    """Ticket ids, HTTP status codes, error class names, environment, region, weekday, service names.

    Places and environments count only where they are unambiguous: written as a word
    ("staging", "EU") or as a part of an identifier ("prod-eu", "eu-west-1"), never the
    pronoun "us" or the preposition "in".
    """
    parts = _identifier_parts(text)
    envs = {_ENV_CANON.get(m.lower(), m.lower()) for m in _ENV_WORD.findall(text)}
    envs |= {_ENV_CANON.get(p, p) for ps in parts for p in ps if p in _ENVS}
    regions = {m.lower() for m in _REGION_WORD.findall(text)}
    regions |= {p for ps in parts for p in ps if p in _REGIONS}
    days = {_DAY_CANON.get(m.lower(), m.lower()) for m in _DAY.findall(text)}
    services = {m.lower() for m in _IDENT.findall(text) if "-" in m and not any(c.isdigit() for c in m)}
    services = {s for s in services if not set(s.split("-")) <= _ENVS | _REGIONS}
    return {
        "ticket": sorted(set(_TICKET.findall(text))),
        "code": sorted({m.lower() for m in _HTTP.findall(text)}),
        "error": sorted(set(_ERROR_NAME.findall(text))),
        "env": sorted(envs),
        "region": sorted(regions),
        "day": sorted(days),
        "service": sorted(services),
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
    for key, penalty in (("env", 0.20), ("region", 0.20), ("day", 0.20), ("code", 0.10)):
        _, conflict = _overlap(a, b, key)
        score -= penalty if conflict else 0.0
    return score


def content_terms(text: str, stopwords: frozenset[str] = STOPWORDS) -> list[str]:
    """Content words of a report, lower-cased and singular, with identifiers also split in parts.

    Plain numbers are dropped (counts, times) except status codes; ticket and version
    numbers stay inside their identifiers.
    """
    out: list[str] = []
    for raw in _TERM.findall(text):
        word = raw.lower()
        if word in stopwords or len(word) < 2:
            continue
        if word.isdigit() and not _STATUS_CODE.fullmatch(word):
            continue
        if word.endswith("s") and len(word) > 3 and not word.endswith("ss"):
            word = word[:-1]
        out.append(word)
        parts = re.split(r"[-_.]", word)
        out.extend(p for p in parts if len(parts) > 1 and len(p) > 2 and p not in stopwords and not p.isdigit())
    return sorted(set(out))


def idf(document_frequency: int, documents: int) -> float:
    """Inverse document frequency, smoothed so a term seen everywhere still weighs a little."""
    return math.log((documents + 1) / (document_frequency + 0.5))


def term_overlap(a: Iterable[str], b: Iterable[str], weight: Callable[[str], float]) -> float:
    """IDF-weighted overlap of two term sets, normalised like a cosine (0 to 1)."""
    left, right = set(a), set(b)
    if not left or not right:
        return 0.0
    shared = sum(weight(t) for t in left & right)
    norm = math.sqrt(sum(weight(t) for t in left) * sum(weight(t) for t in right))
    return shared / norm if norm > 0 else 0.0
