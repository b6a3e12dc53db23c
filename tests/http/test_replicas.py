"""Two `ballast serve` replicas on one PostgreSQL: every acknowledged alert is decided exactly once.

Each replica has its own data dir (its own embedded vector index: no Qdrant server can run
here), so this checks the inbox claim across processes (FOR UPDATE SKIP LOCKED), not shared
vector dedup.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from bot.models import InboxEntry, SignalRecord
from tests.http.conftest import am_alert, am_payload
from tests.http.test_serve import Server

pytestmark = [pytest.mark.postgres, pytest.mark.model]


def test_two_replicas_decide_each_alert_once(pg_url: str, tmp_path: Path) -> None:
    replicas = [Server(tmp_path / f"home{i}", tmp_path / f"serve{i}.log", BALLAST_DATABASE_URL=pg_url,
                       BALLAST_WORKER_BATCH="5") for i in range(2)]
    try:
        for replica in replicas:
            replica.wait()
        acknowledged: list[int] = []
        lock = threading.Lock()

        def send(k: int) -> None:
            base = replicas[k % 2].base
            with httpx.Client(timeout=20) as client:
                for i in range(40):
                    payload = am_payload(am_alert(f"Replica{k}", instance=f"10.2.{k}.{i}", starts_at=f"2026-11-27T20:{i:02d}:00Z"))
                    response = client.post(f"{base}/webhooks/alertmanager", json=payload)
                    assert response.status_code == 202
                    with lock:
                        acknowledged.extend(response.json()["ids"])
                    time.sleep(0.02)  # a steady stream, below the flood rate: both replicas decide live

        threads = [threading.Thread(target=send, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        assert len(acknowledged) == 160 and len(set(acknowledged)) == 160

        engine = create_engine(pg_url)
        inbox, signals = InboxEntry.__table__, SignalRecord.__table__  # type: ignore[attr-defined]
        deadline = time.monotonic() + 120
        try:
            while True:
                with engine.connect() as conn:
                    done = conn.execute(select(func.count()).select_from(inbox).where(inbox.c.status == "done")).scalar_one()
                    by_worker = conn.execute(select(inbox.c.claimed_by, func.count()).group_by(inbox.c.claimed_by)).all()
                    stored = conn.execute(select(func.count()).select_from(signals)).scalar_one()
                    attempts = conn.execute(select(func.max(inbox.c.attempts))).scalar_one()
                if done == 160:
                    break
                assert time.monotonic() < deadline, f"only {done} of 160 decided"
                time.sleep(0.5)
        finally:
            engine.dispose()
        assert stored == 160  # one signal row per alert: none decided twice
        assert attempts == 1  # no row was claimed a second time
        processes = {str(worker).split(":")[1] for worker, _ in by_worker if worker}
        assert len(processes) == 2, by_worker  # both replicas' workers took part
        for replica in replicas:
            assert replica.stop() == 0
    finally:
        for replica in replicas:
            if replica.proc.poll() is None:
                replica.proc.kill()
