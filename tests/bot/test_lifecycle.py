"""Resolve and merge, the state changes a person asks for (bot/lifecycle.py)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from bot import incidents as repo
from bot.app import Services
from bot.intake import IngestResult
from bot.lifecycle import IncidentNotFound, LifecycleError, merge_incidents, resolve_incident
from bot.models import Incident, SignalRecord
from retrieval.signal import signal_from_mapping

A = "orders api returns gateway timeout from upstream inventory"
B = "inventory sync job stuck waiting on warehouse feed"
C = "email sender queue backlog growing without bound"


def run(svc: Services, *lines: dict[str, Any] | str) -> list[IngestResult]:
    signals = [signal_from_mapping({"text": x} if isinstance(x, str) else x, max_text_chars=16_000) for x in lines]
    return svc.intake.process(signals, list(range(len(signals))))


def get(svc: Services, incident_id: int | None) -> Incident:
    with Session(svc.engine) as s:
        row = s.get(Incident, incident_id)
        assert row is not None
        return row


def signal_incidents(svc: Services) -> list[int | None]:
    with Session(svc.engine) as s:
        return [r.incident_id for r in s.exec(select(SignalRecord).order_by(SignalRecord.id)).scalars().all()]  # type: ignore[call-overload]


# -- resolve -------------------------------------------------------------------------------------


def test_resolve_marks_resolved_and_frees_the_open_key(services: Services) -> None:
    r, = run(services, A)
    done = resolve_incident(services.engine, r.incident_id)  # type: ignore[arg-type]
    assert done.id == r.incident_id
    row = get(services, r.incident_id)
    assert row.status == "resolved"
    assert row.resolved_at is not None
    assert row.open_key is None
    assert repo.incident_json(row)["status"] == "resolved"


def test_resolving_twice_keeps_the_first_resolution(services: Services) -> None:
    r, = run(services, A)
    first = resolve_incident(services.engine, r.incident_id)  # type: ignore[arg-type]
    second = resolve_incident(services.engine, r.incident_id)  # type: ignore[arg-type]
    assert second.status == "resolved"
    assert repo.as_utc(second.resolved_at) == repo.as_utc(first.resolved_at)  # type: ignore[arg-type]


def test_resolve_unknown_incident(services: Services) -> None:
    run(services, A)
    with pytest.raises(IncidentNotFound, match="999"):
        resolve_incident(services.engine, 999)


def test_resolve_checks_the_tenant(services: Services) -> None:
    r, = run(services, {"text": A, "tenant": "acme"})
    with pytest.raises(IncidentNotFound):
        resolve_incident(services.engine, r.incident_id, tenant="globex")  # type: ignore[arg-type]
    assert get(services, r.incident_id).status == "open"
    resolve_incident(services.engine, r.incident_id, tenant="acme")  # type: ignore[arg-type]
    assert get(services, r.incident_id).status == "resolved"


# -- merge ---------------------------------------------------------------------------------------


def test_merge_moves_counts_and_signals(services: Services) -> None:
    a1, a2, b1, b2, b3 = run(services, {"text": A, "time": "2026-05-01T08:00:00Z"}, A,
                             {"text": B, "time": "2026-05-01T09:00:00Z"}, B, B)
    src, dst = a1.incident_id, b1.incident_id
    assert src != dst
    assert get(services, src).occurrence_count == 2 and get(services, dst).occurrence_count == 3
    target = merge_incidents(services.engine, src, dst)  # type: ignore[arg-type]
    assert target.id == dst
    assert target.occurrence_count == 5
    assert get(services, dst).occurrence_count == 5
    assert repo.as_utc(get(services, dst).first_seen).isoformat().startswith("2026-05-01T08:00:00")
    source = get(services, src)
    assert source.merged_into == dst
    assert source.open_key is None
    assert source.status == "resolved"
    assert signal_incidents(services) == [dst] * 5
    # The merged incident no longer lists; the target does.
    with Session(services.engine) as s:
        listed = [i.id for i in repo.list_incidents(s)]
    assert src not in listed and dst in listed


def test_later_repeats_of_the_merged_incident_go_to_the_target(services: Services) -> None:
    a, b = run(services, A, B)
    merge_incidents(services.engine, a.incident_id, b.incident_id)  # type: ignore[arg-type]
    again, = run(services, A)
    assert again.decision == "duplicate"
    assert again.incident_id == b.incident_id
    assert get(services, b.incident_id).occurrence_count == 3
    assert get(services, a.incident_id).occurrence_count == 1  # the merged one is not counted again
    # And the next one too (the exact stage must not open a new incident for it either).
    third, = run(services, A)
    assert (third.decision, third.incident_id) == ("duplicate", b.incident_id)


def test_merge_into_itself_is_refused(services: Services) -> None:
    a, = run(services, A)
    with pytest.raises(LifecycleError, match="itself"):
        merge_incidents(services.engine, a.incident_id, a.incident_id)  # type: ignore[arg-type]
    assert get(services, a.incident_id).merged_into is None


@pytest.mark.parametrize("which", ["source", "target"])
def test_merge_with_an_unknown_id(services: Services, which: str) -> None:
    a, = run(services, A)
    args = (999, a.incident_id) if which == "source" else (a.incident_id, 999)
    with pytest.raises(IncidentNotFound, match="999"):
        merge_incidents(services.engine, *args)  # type: ignore[arg-type]
    assert get(services, a.incident_id).occurrence_count == 1
    assert get(services, a.incident_id).merged_into is None


def test_merge_twice_or_into_a_merged_incident_is_refused(services: Services) -> None:
    a, b, c = run(services, A, B, C)
    merge_incidents(services.engine, a.incident_id, b.incident_id)  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match="already merged"):
        merge_incidents(services.engine, a.incident_id, c.incident_id)  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match="merged into"):
        merge_incidents(services.engine, c.incident_id, a.incident_id)  # type: ignore[arg-type]
    assert get(services, b.incident_id).occurrence_count == 2
    assert get(services, c.incident_id).occurrence_count == 1


def test_merge_across_tenants_is_refused(services: Services) -> None:
    a, = run(services, {"text": A, "tenant": "acme"})
    b, = run(services, {"text": B, "tenant": "globex"})
    with pytest.raises(LifecycleError, match="tenant"):
        merge_incidents(services.engine, a.incident_id, b.incident_id)  # type: ignore[arg-type]
    with pytest.raises(IncidentNotFound):
        merge_incidents(services.engine, a.incident_id, b.incident_id, tenant="acme")  # type: ignore[arg-type]


def test_resolving_a_merged_incident_points_at_the_target(services: Services) -> None:
    a, b = run(services, A, B)
    merge_incidents(services.engine, a.incident_id, b.incident_id)  # type: ignore[arg-type]
    with pytest.raises(LifecycleError, match=str(b.incident_id)):
        resolve_incident(services.engine, a.incident_id)  # type: ignore[arg-type]


def test_repeat_after_the_target_is_resolved_is_a_regression_of_the_target(services: Services) -> None:
    a, b = run(services, A, B)
    merge_incidents(services.engine, a.incident_id, b.incident_id)  # type: ignore[arg-type]
    resolve_incident(services.engine, b.incident_id)  # type: ignore[arg-type]
    again, = run(services, A)
    assert again.decision == "regression"
    assert get(services, again.incident_id).regression_of == b.incident_id
