"""Dedup decision latency, one signal at a time, with 10k and 100k incidents already stored.

What it measures (p50 / p95 / max in milliseconds, per stored-incident count):

  process, new text          `Intake.process([signal])` for a signal never seen before: mask, embed
                             (ONNX MiniLM, one text), exact-key lookups, filtered vector search,
                             candidate checks in SQL, classify, insert, commit, upsert, flush.
                             Goal: p95 < 50 ms.
  process, vector cached     the same on other new signals whose embedding is already in the cache:
                             the decision without the model.
  process, exact repeat      a repeat of a stored incident modulo numbers and ids (exact fingerprint).
  new text / cached,         what-if: the first two rows again with `VectorIndex.flush` made a no-op
    no flush                 (the disk's share of the decision).
  Qdrant Edge flush, idle    `flush()` with nothing written since the last one.
  Edge upsert 1 + flush      one point written (to another tenant) and flushed, as intake does per call.
  embed one text             the model call alone.
  Qdrant Edge search         `VectorIndex.search` alone, tenant filter, intake's `SEARCH_LIMIT`.
  numpy brute force          the same top-k by a dot product over the tenant's rows held in one float32
                             matrix in memory, one BLAS thread: the physical-limit reference.

Only public entry points are timed (`Intake.process`, `VectorIndex`, the embedder), so the script
keeps working while intake's internals change.

How: a fresh data dir is pre-populated quickly, without the model: random unit vectors with the
payloads intake writes are upserted in chunks through the index adapter (Qdrant Edge, no HNSW
optimize step: what a running install has), and the matching incident rows (30% open, 70%
resolved) are bulk-inserted with SQLAlchemy core. All incidents belong to the one tenant that is
queried, so the tenant filter keeps every point (the worst case). Query signals are realistic new
alert and log lines (see bench/ingest.py); against random stored vectors they decide `new`, which
walks the whole path. The 10k store is measured, then grown to 100k and measured again.

    .venv/bin/python bench/latency.py            # 10k and 100k (3 to 6 minutes)
    .venv/bin/python bench/latency.py --quick    # 10k only
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

# One BLAS thread: the brute-force reference stays a steady single-core figure on a busy machine
# (OpenBLAS threads spin-waiting against other processes' threads turn 0.3 ms into 30 ms).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from ingest import ROOT, SignalGenerator, describe, wait_loaded  # noqa: E402  (bench/ingest.py: the shared generator)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
TENANT = "default"
DIM = 384


def search_limit() -> int:
    """What intake asks the index for on a machine signal."""
    from bot import intake

    return int(getattr(intake, "SEARCH_LIMIT", 8))


def percentiles(samples_s: list[float]) -> tuple[float, float, float]:
    ms = sorted(1000 * s for s in samples_s)
    p95 = ms[min(len(ms) - 1, int(round(0.95 * (len(ms) - 1))))]
    return statistics.median(ms), p95, ms[-1]


def timed(fn: Callable[[Any], Any], inputs: list[Any], warmup: int = 3) -> list[float]:
    for x in inputs[:warmup]:
        fn(x)
    out = []
    for x in inputs:
        t0 = time.perf_counter()
        fn(x)
        out.append(time.perf_counter() - t0)
    return out


class Store:
    """A data dir with `n` stored incidents, their index points, and a numpy copy of the vectors."""

    def __init__(self, home: Path, seed: int = 5) -> None:
        from bot.app import build_services
        from bot.settings import Settings, for_workload

        # The decision latency of `ballast serve`, so its embedder (BALLAST_EMBEDDER=auto, as served).
        self.svc = build_services(for_workload(Settings(BALLAST_HOME=home), long_running=True))
        self.rng = np.random.default_rng(seed)
        self.matrix = np.zeros((0, DIM), dtype=np.float32)
        self.extra: list[np.ndarray] = []  # vectors intake itself stored
        from bot.intake import prepare
        from retrieval.signal import signal_from_mapping

        gen = SignalGenerator(seed=seed)  # realistic masked texts for the payloads, reused cyclically
        self.masked = [prepare(signal_from_mapping(gen.novel(), max_text_chars=16_000)).masked for _ in range(500)]
        self.n = 0
        with self.svc.engine.begin() as conn:
            from bot.models import Tenant

            conn.execute(Tenant.__table__.insert(), [{"id": TENANT, "created_at": datetime.now(UTC)}])

    def grow(self, target: int, chunk: int = 5000) -> tuple[float, float]:
        """Add incidents up to `target`; returns (SQL seconds, index seconds)."""
        from bot.models import Incident
        from retrieval.index import IndexPoint, point_id

        sql_s = index_s = 0.0
        base = datetime(2026, 11, 1, tzinfo=UTC)
        table = Incident.__table__
        new_rows: list[np.ndarray] = []
        from sqlalchemy import func, select

        while self.n < target:
            count = min(chunk, target - self.n)
            with self.svc.engine.connect() as conn:  # after the ids intake has handed out so far
                first = (conn.execute(select(func.max(table.c.id))).scalar() or 0) + 1
            ids = range(first, first + count)
            vectors = self.rng.standard_normal((count, DIM)).astype(np.float32)
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            rows = []
            for i in ids:
                fingerprint = hashlib.sha256(f"bench-{i}".encode()).hexdigest()
                is_open = i % 10 < 3
                seen = base + timedelta(seconds=i)
                rows.append({
                    "id": i, "tenant": TENANT, "title": f"stored incident {i}", "text": f"stored incident {i} text",
                    "service": "svc", "severity": "warning", "status": "open" if is_open else "resolved",
                    "kind": "log", "source": "bench", "fingerprint": fingerprint,
                    "open_key": fingerprint if is_open else None, "occurrence_count": 1, "first_seen": seen,
                    "last_seen": seen, "resolved_at": None if is_open else seen,
                })
            t0 = time.perf_counter()
            with self.svc.engine.begin() as conn:
                conn.execute(table.insert(), rows)
            sql_s += time.perf_counter() - t0
            points = [IndexPoint(point_id(TENANT, "log", rows[k]["fingerprint"], "bench"), vectors[k],
                                 {"tenant": TENANT, "incident_id": i, "kind": "log", "identity": "",
                                  "masked": self.masked[i % len(self.masked)]})
                      for k, i in enumerate(ids)]
            t0 = time.perf_counter()
            self.svc.signal_index.upsert(points)
            index_s += time.perf_counter() - t0
            new_rows.append(vectors)
            self.n += count
        t0 = time.perf_counter()
        self.svc.signal_index.flush()
        index_s += time.perf_counter() - t0
        self.matrix = np.concatenate([self.matrix, *new_rows]) if new_rows else self.matrix
        return sql_s, index_s


def measure(store: Store, gen: SignalGenerator, seeded: list[Any], queries: int) -> list[tuple[str, tuple[float, float, float]]]:
    from bot.intake import prepare
    from retrieval.signal import signal_from_mapping

    svc = store.svc
    intake = svc.intake
    index = svc.signal_index
    embedder = intake.embedder

    def signal(line: dict[str, Any]) -> Any:
        return signal_from_mapping(line, max_text_chars=svc.settings.max_text_chars)

    # Query material: new signals, their prepared forms and vectors (embedded once, outside the timing).
    probe = [signal(gen.novel()) for _ in range(queries)]
    probe_prepared = [prepare(s) for s in probe]
    probe_vectors = embedder.model.embed([p.masked for p in probe_prepared])

    results: list[tuple[str, tuple[float, float, float]]] = []

    fresh = [signal(gen.novel()) for _ in range(queries)]
    results.append(("process, new text", percentiles(timed(lambda s: intake.process([s], [0]), fresh))))

    cached = [signal(gen.novel()) for _ in range(queries)]
    embedder.embed([prepare(s).masked for s in cached])
    results.append(("process, vector cached", percentiles(timed(lambda s: intake.process([s], [0]), cached))))

    repeats = [signal(gen._line(seeded[k % len(seeded)])) for k in range(queries)]
    results.append(("process, exact repeat", percentiles(timed(lambda s: intake.process([s], [0]), repeats))))

    # What-if: the same paths with the index flush after each call skipped.
    no_flush = [signal(gen.novel()) for _ in range(queries)]
    no_flush_cached = [signal(gen.novel()) for _ in range(queries)]
    embedder.embed([prepare(s).masked for s in no_flush_cached])
    real_flush = index.flush
    index.flush = lambda: None  # type: ignore[method-assign]
    try:
        results.append(("  new text, no flush", percentiles(timed(lambda s: intake.process([s], [0]), no_flush))))
        results.append(("  cached, no flush", percentiles(timed(lambda s: intake.process([s], [0]),
                                                                  no_flush_cached))))
    finally:
        index.flush = real_flush  # type: ignore[method-assign]
    index.flush()
    results.append(("Qdrant Edge flush, idle", percentiles(timed(lambda _: index.flush(), list(range(queries // 4))))))
    from retrieval.index import IndexPoint

    extra_points = [IndexPoint(f"00000000-0000-4000-8000-{k + store.n:012d}", v,
                               {"tenant": "bench-other", "incident_id": 0, "kind": "log", "identity": ""})
                    for k, v in enumerate(probe_vectors[: queries // 4])]

    def upsert_flush(point: Any) -> None:
        index.upsert([point])
        index.flush()

    results.append(("Edge upsert 1 + flush", percentiles(timed(upsert_flush, extra_points, warmup=0))))
    store.extra.extend(embedder.embed([prepare(s).masked for s in fresh + cached + no_flush + no_flush_cached]))

    texts = [p.masked for p in probe_prepared]
    results.append(("embed one text", percentiles(timed(lambda t: embedder.model.embed([t]), texts))))

    where = {"tenant": TENANT}
    limit = search_limit()
    results.append(("Qdrant Edge search", percentiles(timed(lambda v: index.search(v, limit, where),
                                                             list(probe_vectors)))))
    # One tenant: its rows are the whole matrix (bulk vectors plus the points intake stored above).
    matrix = np.concatenate([store.matrix, np.asarray(store.extra, dtype=np.float32)])

    def brute(v: np.ndarray) -> np.ndarray:
        scores = matrix @ v
        top = np.argpartition(-scores, limit)[:limit]
        return top[np.argsort(-scores[top])]

    results.append(("numpy brute force", percentiles(timed(brute, list(probe_vectors)))))

    # Sanity: Edge's top hit is the brute-force top hit (scores of random stored vectors).
    agree = 0
    checks = probe_vectors[:50]
    for v in checks:
        hits = index.search(v, 1, where)
        agree += bool(hits) and abs(hits[0].score - float((matrix @ v).max())) < 1e-4
    print(f"# {store.n // 1000}k: Edge top-1 score equals brute force on {agree}/{len(checks)} probes")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10k stored incidents only")
    parser.add_argument("--queries", type=int, default=100, help="signals timed per measurement")
    parser.add_argument("--no-optimize", action="store_true", help="skip the HNSW build and the second measurement")
    args = parser.parse_args()
    sizes = [10_000] if args.quick else [10_000, 100_000]
    from bot.settings import Settings, for_workload

    print(f"# ballast bench/latency.py  {describe()}  queries={args.queries}  search limit={search_limit()}  "
          f"embedder={for_workload(Settings(), long_running=True).embedder}")
    gen = SignalGenerator(seed=41)
    gen.stream(50, 0.0)  # incidents the exact-repeat probes can repeat
    table: dict[str, list[tuple[str, tuple[float, float, float]]]] = {}
    with tempfile.TemporaryDirectory(prefix="ballast-latency-") as tmp:
        store = Store(Path(tmp) / "home")
        store.svc.intake.embedder.embed(["warm-up"])
        wait_loaded(store.svc.intake.embedder.model)  # time nothing while PyTorch loads in the background
        # Give the exact-repeat probes their incidents (decided like any signal, then stored).
        from bot.intake import prepare
        from retrieval.signal import signal_from_mapping

        seeded = list(gen._incidents)
        seeds = [signal_from_mapping(gen._line(inc), max_text_chars=16000) for inc in seeded]
        store.svc.intake.process(seeds, list(range(len(seeds))))
        store.extra.extend(store.svc.intake.embedder.embed([prepare(s).masked for s in seeds]))
        for size in sizes:
            t0 = time.perf_counter()
            sql_s, index_s = store.grow(size)
            print(f"# stored {store.n} incidents in {time.perf_counter() - t0:.1f}s "
                  f"(SQL insert {sql_s:.1f}s, Qdrant Edge upsert {index_s:.1f}s)")
            table[f"{size // 1000}k"] = measure(store, gen, seeded, args.queries)
            if not args.no_optimize:
                # `ballast index optimize`: the HNSW build over everything stored so far.
                index = store.svc.signal_index
                before = index.stats()
                t0 = time.perf_counter()
                index.optimize()
                after = index.stats()
                print(f"# {size // 1000}k: index optimize took {time.perf_counter() - t0:.1f}s "
                      f"(indexed vectors {before.indexed} -> {after.indexed} of {after.points})", flush=True)
                table[f"{size // 1000}k opt"] = measure(store, gen, seeded, args.queries)
        store.svc.close()

    names = [name for name, _ in next(iter(table.values()))]
    header = "".join(f"{f'{col} p50':>12}{f'{col} p95':>12}" for col in table)
    print(f"{'ms, one signal at a time':<26}{header}")
    for k, name in enumerate(names):
        cells = "".join(f"{table[c][k][1][0]:>12.2f}{table[c][k][1][1]:>12.2f}" for c in table)
        print(f"{name:<26}{cells}")
    for col, result in table.items():
        rows = dict(result)
        edge, brute = rows["Qdrant Edge search"][0], rows["numpy brute force"][0]
        verdict = "meets" if rows["process, new text"][1] < 50 else "misses"
        print(f"# {col}: process p95 {rows['process, new text'][1]:.1f} ms {verdict} the 50 ms goal; "
              f"Edge search p50 is {edge / brute:.1f}x numpy brute force")


if __name__ == "__main__":
    main()
