"""Per-tenant dedup thresholds for intake: recalibrated from labelled pairs, stored, cached in memory.

Intake asks `thresholds(tenant, human)` for every uncertain-or-better comparison, so it is a dict
lookup; the stored values are re-read every `REFRESH_SECONDS` (another replica, or the CLI, may
have recalibrated), and at once in the process that records a label (`recalibrate`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from bot import labels
from bot.calibration import Calibration, LabelledScore, calibrate
from bot.candidates import DedupPolicy
from retrieval.dedup import Thresholds

REFRESH_SECONDS = 30.0


class TenantCalibration:
    """The `DedupPolicy.tenants` source: thresholds learned per tenant, None where the defaults apply."""

    def __init__(self, engine: Engine, defaults: DedupPolicy, refresh_seconds: float = REFRESH_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.engine = engine
        self.defaults = defaults
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Thresholds]]] = {}
        self._lock = threading.Lock()

    def thresholds(self, session: Session, tenant: str, human: bool) -> Thresholds | None:
        """The tenant's learned thresholds, None for the defaults; read through the caller's session
        (intake's), so a refresh never waits for a second connection from a busy pool."""
        entry = self._cache.get(tenant)
        if entry is None or self._clock() - entry[0] >= self.refresh_seconds:
            entry = (self._clock(), labels.stored_thresholds(session, tenant))
            self._cache[tenant] = entry
        return entry[1].get("human" if human else "machine")

    def default(self, kind: str) -> Thresholds:
        return self.defaults.human if kind == "human" else self.defaults.machine

    def recalibrate(self, tenant: str) -> dict[str, Calibration]:
        """Choose the tenant's thresholds from all its labelled pairs, store them, and use them from now on."""
        with self._lock:  # one recalibration at a time in this process; the database settles replicas
            for attempt in range(2):
                try:
                    return self._recalibrate(tenant)
                except IntegrityError:
                    if attempt:  # another replica stored the same tenant's row at the same moment
                        raise
        raise AssertionError("unreachable")

    def _recalibrate(self, tenant: str) -> dict[str, Calibration]:
        results: dict[str, Calibration] = {}
        with Session(self.engine) as session:
            for kind in labels.KINDS:
                scored = [LabelledScore(float(row.score), row.same) for row in labels.labels_for(session, tenant, kind)
                          if row.score is not None]
                result = calibrate(scored, self.default(kind))
                labels.store_thresholds(session, tenant, kind, result.thresholds if result.moved else None,
                                        result.labels)
                results[kind] = result
            session.commit()
        self._cache[tenant] = (self._clock(), {k: r.thresholds for k, r in results.items() if r.moved})
        return results
