"""Which channel an incident's card goes to: the first route whose conditions all match, else the default."""

from __future__ import annotations

from fnmatch import fnmatchcase

from bot.config import Route, Routes


def matches(rule: Route, service: str | None, severity: str, tenant: str) -> bool:
    """Every condition the rule states holds; a service glob never matches an incident without a service."""
    if rule.tenant is not None and rule.tenant != tenant:
        return False
    if rule.severity and severity.lower() not in rule.severity:
        return False
    if rule.service is not None:
        return service is not None and fnmatchcase(service.lower(), rule.service.lower())
    return True


def route(routes: Routes, service: str | None, severity: str, tenant: str) -> str | None:
    """The channel for an incident (first match wins); None when no rule matches and there is no default."""
    for rule in routes.rules:
        if matches(rule, service, severity, tenant):
            return rule.channel
    return routes.default
