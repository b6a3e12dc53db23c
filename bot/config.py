"""The config file (BALLAST_CONFIG, `ballast.yaml`): loaded once, validated with pydantic, errors name file and key.

Sections read here: `routes` (incident -> channel), `escalation` (per severity) and `workspaces`
(Slack team id -> tenant). Other top-level sections (`slos`, `openslo`, `policies`, `actions`,
`services`, ...) are kept as they are for the features that read them.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SEVERITIES = ("critical", "warning", "info")
_DURATION = re.compile(r"^\s*(?:(\d+)\s*d)?\s*(?:(\d+)\s*h)?\s*(?:(\d+)\s*m)?\s*(?:(\d+)\s*s)?\s*$")


class ConfigError(ValueError):
    """The config file cannot be used; the message names the file, the key and what to write instead."""


def parse_duration(value: Any) -> timedelta:
    """Seconds as a number, or text such as `90s`, `15m`, `1h30m`, `2d`."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 15m, 1h or 90s")
    if isinstance(value, int | float):
        if value <= 0:
            raise ValueError("must be more than 0 seconds")
        return timedelta(seconds=float(value))
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match and any(match.groups()):
            d, h, m, s = (int(g or 0) for g in match.groups())
            out = timedelta(days=d, hours=h, minutes=m, seconds=s)
            if out > timedelta(0):
                return out
    raise ValueError(f"{value!r} is not a duration: write seconds or e.g. 90s, 15m, 1h30m, 2d")


def _severity_list(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else list(value or [])
    out = []
    for item in items:
        name = str(item).strip().lower()
        if name not in SEVERITIES:
            raise ValueError(f"unknown severity {item!r}: use one of {', '.join(SEVERITIES)}")
        out.append(name)
    return tuple(out)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Route(_Strict):
    """One rule: every condition given must match (service is a glob, e.g. `checkout*`)."""

    channel: str = Field(min_length=1)
    service: str | None = None
    severity: tuple[str, ...] = ()
    tenant: str | None = None

    @field_validator("severity", mode="before")
    @classmethod
    def _severities(cls, value: Any) -> tuple[str, ...]:
        return _severity_list(value)


class Routes(_Strict):
    rules: tuple[Route, ...] = ()
    default: str | None = None  # the channel of an incident no rule matches (none: no card)


class EscalationPolicy(_Strict):
    """How one severity escalates: after `ack_timeout` unacknowledged, then every `repeat_every`,
    `max_repeats` times more; each post mentions `mention` in `channel` (default: the card's channel)."""

    ack_timeout: timedelta
    repeat_every: timedelta | None = None
    max_repeats: int = Field(default=0, ge=0, le=100)
    mention: str | None = None
    channel: str | None = None

    @field_validator("ack_timeout", "repeat_every", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> timedelta | None:
        return None if value is None else parse_duration(value)

    @model_validator(mode="after")
    def _repeat_needs_interval(self) -> EscalationPolicy:
        if self.max_repeats > 0 and self.repeat_every is None:
            raise ValueError("max_repeats needs repeat_every (how long between repeats, e.g. 30m)")
        return self


class BallastConfig(BaseModel):
    """The whole file; sections owned by other features stay available as extra fields."""

    model_config = ConfigDict(extra="allow", frozen=True)

    routes: Routes = Routes()
    escalation: dict[str, EscalationPolicy] = Field(default_factory=dict)
    workspaces: dict[str, str] = Field(default_factory=dict)
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("escalation", mode="before")
    @classmethod
    def _severity_keys(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for key in value:
                _severity_list(str(key))
            return {str(k).lower(): v for k, v in value.items()}
        return value

    @field_validator("workspaces", mode="before")
    @classmethod
    def _workspace_map(cls, value: Any) -> Any:
        if isinstance(value, dict):
            for team, tenant in value.items():
                if not isinstance(tenant, str) or not tenant.strip():
                    raise ValueError(f"workspace {team!r} needs a tenant name (e.g. {team}: acme)")
            return {str(k): v.strip() for k, v in value.items()}
        return value

    def policy(self, severity: str) -> EscalationPolicy | None:
        return self.escalation.get(severity)


EMPTY = BallastConfig()


def _where(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "(top level)"


def parse_config(data: Any, source: Path | None = None) -> BallastConfig:
    """Validate an already-parsed document (a mapping); ConfigError names the bad key."""
    name = str(source) if source else "the config"
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{name}: the top level must be a mapping of sections (routes:, escalation:, ...)")
    try:
        return BallastConfig.model_validate({**data, "source": source})
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise ConfigError(f"{name}: '{_where(tuple(first.get('loc', ())))}': {message}{more}") from exc


def load_config(path: Path | None) -> BallastConfig:
    """The config at `path`; None (no file configured and no ballast.yaml) is the empty config."""
    if path is None:
        return EMPTY
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such file (BALLAST_CONFIG points at it)") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: not valid YAML{where}: {getattr(exc, 'problem', None) or exc}") from exc
    return parse_config(data, path)
