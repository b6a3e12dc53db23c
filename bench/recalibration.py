"""Per-tenant recalibration: what an answer costs, and what the per-tenant lookup adds to intake.

What it measures:

  recalibrate, N labels   `TenantCalibration.recalibrate(tenant)` with N labelled pairs stored for the
                          tenant (half human, half machine; scores spread around the thresholds):
                          read the labels, choose both kinds' thresholds, store them, commit. What a
                          Same/New click, a merge or a split adds after its own change.
  baseline: read labels   the `labels_for` queries alone on the same data, in the same run.
  calibrate() alone       the pure choice over the N scores, no database.
  thresholds lookup       `DedupPolicy.for_tenant` with the per-tenant source (cached), per call, next
                          to the same policy without one (the defaults): intake's added cost per
                          uncertain-or-better comparison.

How: a temporary SQLite data dir; incidents and labels are bulk-inserted with SQLAlchemy core.

    .venv/bin/python bench/recalibration.py [--quick]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import insert  # noqa: E402
from sqlmodel import Session  # noqa: E402

from bot import labels  # noqa: E402
from bot.app import dedup_policy  # noqa: E402
from bot.calibration import LabelledScore, calibrate  # noqa: E402
from bot.db import make_engine, migrate  # noqa: E402
from bot.models import Incident, PairLabel, Tenant  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.thresholds import TenantCalibration  # noqa: E402
from ingest import describe  # noqa: E402  (bench/ingest.py: the shared run header)

TENANT = "bench"


def seed(engine, n: int, rng: random.Random) -> None:  # type: ignore[no-untyped-def]
    now = labels.repo.utcnow()
    with Session(engine) as session:
        session.execute(insert(Tenant), [{"id": TENANT, "created_at": now}])
        session.execute(insert(Incident), [
            {"tenant": TENANT, "title": f"i{i}", "text": f"i{i}", "fingerprint": f"f{i}", "kind": "report",
             "first_seen": now, "last_seen": now} for i in range(1, 2 * n + 1)])
        rows = []
        for k in range(n):
            human = k % 2 == 0
            centre = 0.25 if human else 0.70
            same = rng.random() < 0.5
            score = centre + rng.gauss(0.04 if same else -0.04, 0.05)
            rows.append({"tenant": TENANT, "first_id": 2 * k + 1, "second_id": 2 * k + 2,
                         "kind": "human" if human else "machine", "score": score, "same": same, "via": "question",
                         "answered_by": "U1", "answered_at": now})
        session.execute(insert(PairLabel), rows)
        session.commit()


def timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return statistics.median(runs) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    sizes = [100, 1_000] if args.quick else [100, 1_000, 10_000]
    repeat = 3 if args.quick else 7
    print(describe())
    print(f"{'labels':>8}  {'recalibrate ms':>15}  {'read labels ms':>15}  {'calibrate() ms':>15}")
    rng = random.Random(7)
    policy = dedup_policy(Settings())
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            migrate(engine)
            seed(engine, n, rng)
            source = TenantCalibration(engine, policy)

            def read() -> None:
                with Session(engine) as session:
                    for kind in labels.KINDS:
                        labels.labels_for(session, TENANT, kind)

            with Session(engine) as session:
                scored = [LabelledScore(float(r.score), r.same) for r in labels.labels_for(session, TENANT, "human")]
            recal = timed(lambda: source.recalibrate(TENANT), repeat)
            base = timed(read, repeat)
            pure = timed(lambda: calibrate(scored, policy.human), repeat)
            print(f"{n:>8}  {recal:>15.2f}  {base:>15.2f}  {pure:>15.2f}")
            if n == sizes[0]:
                calls = 200_000
                with Session(engine) as session:
                    tenanted = replace(policy, tenants=source)
                    tenanted.for_tenant(session, TENANT, True)  # fill the cache
                    with_source = timed(lambda: [tenanted.for_tenant(session, TENANT, True) for _ in range(calls)], 3)
                    defaults = timed(lambda: [policy.for_tenant(session, TENANT, True) for _ in range(calls)], 3)
                lookup = (with_source, defaults)
            engine.dispose()
    per_call_ns = [ms / calls * 1e6 for ms in lookup]
    print(f"thresholds lookup per call: {per_call_ns[0]:.0f} ns with the per-tenant source, "
          f"{per_call_ns[1]:.0f} ns with the defaults only (baseline, same run)")


if __name__ == "__main__":
    main()
