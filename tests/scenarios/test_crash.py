"""Kill -9 in the middle of `ballast ingest`: nothing it reported as stored is lost.

The CLI prints a batch's results only after the batch is committed, so every incident_id read
from its stdout before the kill must be in the database with its signal.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlmodel import Session

from bot.db import make_engine
from bot.models import Incident, SignalRecord
from tests.conftest import ballast_exe, cli_env

pytestmark = pytest.mark.model

COMPONENTS = ["auth", "billing", "search", "cart", "ledger", "mailer", "gateway", "scheduler", "images", "feeds"]
FAULTS = ["timed out talking to", "lost its connection to", "got a malformed reply from", "was throttled by",
          "could not resolve", "saw certificate errors from"]
TARGETS = ["postgres", "redis", "kafka", "the object store", "the payments provider", "dns"]


def stream_line(i: int) -> bytes:
    # A mix of exact repeats (numbers differ), vector-stage lines and novel text.
    combo = COMPONENTS[i % len(COMPONENTS)], FAULTS[(i // 3) % len(FAULTS)], TARGETS[(i // 7) % len(TARGETS)]
    body = f"{combo[0]} worker {i % 17} {combo[1]} {combo[2]} after {1000 + i} ms (request {i:08d})"
    return (json.dumps({"id": f"s{i}", "text": body, "service": combo[0]}) + "\n").encode()


def test_kill_9_mid_ingest_loses_nothing_reported(home: Path, tmp_path: Path) -> None:
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen([ballast_exe(), "--data-dir", str(home), "ingest", "-", "--json"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                env=cli_env(home, BALLAST_INGEST_BATCH="8"))
        assert proc.stdin is not None and proc.stdout is not None

        def feed() -> None:
            try:
                for i in itertools.count():
                    proc.stdin.write(stream_line(i))  # type: ignore[union-attr]
                    if i % 64 == 0:
                        proc.stdin.flush()  # type: ignore[union-attr]
                    if i >= 200_000:
                        break
            except (BrokenPipeError, OSError, ValueError):
                return  # the process was killed: the pipe is gone

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
        reported: list[dict[str, Any]] = []
        try:
            while len(reported) < 60:
                line = proc.stdout.readline()
                if not line:
                    pytest.fail(f"ingest ended before the kill (exit {proc.wait()}): {stderr_path.read_text()}")
                reported.append(json.loads(line))
        finally:
            proc.kill()  # SIGKILL: no cleanup, no flush, no atexit
            proc.wait()
            writer.join(30)
    assert proc.returncode == -9

    assert [r["id"] for r in reported] == [f"s{i}" for i in range(len(reported))]
    assert all(r["decision"] in ("new", "duplicate", "regression") for r in reported)
    engine = make_engine(f"sqlite:///{home / 'ballast.db'}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
        with Session(engine) as s:
            for r in reported:
                incident = s.get(Incident, r["incident_id"])
                assert incident is not None, f"reported incident {r['incident_id']} (line {r['id']}) is gone"
                stored = s.exec(select(SignalRecord).where(SignalRecord.external_id == r["id"])).scalars().all()  # type: ignore[call-overload]
                assert len(stored) == 1, f"signal {r['id']} was reported but is stored {len(stored)} times"
                assert stored[0].incident_id == r["incident_id"]
                assert stored[0].decision == r["decision"]
            # Whatever else was committed is consistent: every occurrence has its signal.
            occurrences = s.execute(select(func.sum(Incident.occurrence_count))).scalar_one()
            signals = s.execute(select(func.count()).select_from(SignalRecord)).scalar_one()
            assert occurrences == signals >= len(reported)
    finally:
        engine.dispose()

    # The data dir is usable afterwards: the embedded index recovers and the lock is free.
    again = subprocess.run([ballast_exe(), "--data-dir", str(home), "ingest", "-", "--json"],
                           input=stream_line(0) + stream_line(10**6), env=cli_env(home),
                           capture_output=True, timeout=180, check=False)
    assert again.returncode == 0, again.stderr.decode()
    rows = [json.loads(x) for x in again.stdout.decode().splitlines()]
    assert rows[0]["replayed"] is True and rows[0]["incident_id"] == reported[0]["incident_id"]
    assert rows[1]["decision"] in ("new", "duplicate")
