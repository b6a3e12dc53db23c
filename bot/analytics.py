"""Per-tenant incident analytics (`GET /api/v1/analytics`): counts by status and service, folding, MTTA, MTTR.

Merged incidents count as folded, not as incidents of their own. Times are seconds; a mean is
null when no incident has the timestamps it needs.
"""

from __future__ import annotations

from datetime import datetime
from statistics import fmean
from typing import Any

from sqlalchemy import Engine, func, select

from bot.incidents import as_utc
from bot.models import Incident, SignalRecord

_I = Incident.__table__  # type: ignore[attr-defined]
_S = SignalRecord.__table__  # type: ignore[attr-defined]


def _mean_seconds(pairs: list[tuple[datetime, datetime]]) -> float | None:
    spans = [(as_utc(end) - as_utc(start)).total_seconds() for start, end in pairs]
    spans = [s for s in spans if s >= 0]
    return round(fmean(spans), 3) if spans else None


def tenant_analytics(engine: Engine, tenant: str) -> dict[str, Any]:
    live = (_I.c.tenant == tenant, _I.c.merged_into.is_(None))
    with engine.connect() as conn:
        by_status = {row[0]: int(row[1]) for row in conn.execute(
            select(_I.c.status, func.count()).where(*live).group_by(_I.c.status))}
        by_service: dict[str, dict[str, int]] = {}
        for service, status, count in conn.execute(
                select(_I.c.service, _I.c.status, func.count()).where(*live).group_by(_I.c.service, _I.c.status)):
            by_service.setdefault(service or "unknown", {})[status] = int(count)
        regressions = conn.execute(
            select(func.count()).select_from(_I).where(*live, _I.c.regression_of.is_not(None))).scalar_one()
        merged = conn.execute(
            select(func.count()).select_from(_I).where(_I.c.tenant == tenant, _I.c.merged_into.is_not(None))
        ).scalar_one()
        duplicates = conn.execute(
            select(func.count()).select_from(_S).where(_S.c.tenant == tenant, _S.c.decision == "duplicate")
        ).scalar_one()
        signals = conn.execute(select(func.count()).select_from(_S).where(_S.c.tenant == tenant)).scalar_one()
        acked = conn.execute(
            select(_I.c.first_seen, _I.c.acknowledged_at).where(*live, _I.c.acknowledged_at.is_not(None))).all()
        resolved = conn.execute(
            select(_I.c.first_seen, _I.c.resolved_at).where(*live, _I.c.resolved_at.is_not(None))).all()
    incidents = sum(by_status.values())
    return {
        "tenant": tenant,
        "incidents": incidents,
        "by_status": {s: by_status.get(s, 0) for s in ("open", "acknowledged", "resolved")},
        "by_service": dict(sorted(by_service.items())),
        "signals": int(signals),
        "duplicates_folded": int(duplicates),
        "merged": int(merged),
        "regressions": int(regressions),
        "mtta_seconds": _mean_seconds([(a, b) for a, b in acked]),
        "mttr_seconds": _mean_seconds([(a, b) for a, b in resolved]),
        "acknowledged_count": len(acked),
        "resolved_count": len(resolved),
    }
