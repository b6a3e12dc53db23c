"""Runbook search benchmark: plain BM25, plain dense and the hybrid side by side on an evaluation
folder, then search latency over 1,000 synthetic runbooks (5,000 chunks) and the indexing rate.

    .venv/bin/python bench/runbook_search.py [DATA_DIR] [--runbooks 1000] [--skip-speed]

DATA_DIR holds `runbooks/` and `runbook_cases.jsonl` (default ../shared/eval/dev). Uses the
real embedding model; nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from retrieval.answer import extractive_answer  # noqa: E402
from retrieval.embedder import CachedEmbedder  # noqa: E402
from retrieval.index import open_index  # noqa: E402
from retrieval.runbook_search import Ranked, RunbookLibrary  # noqa: E402
from retrieval.runbook_store import index_runbooks  # noqa: E402

Ranker = Callable[[str, Ranked], list[str]]


def _order(scores: dict[str, float]) -> list[str]:
    return [rb for rb, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def _metrics(expected: Sequence[str], ranked: Sequence[list[str]]) -> tuple[float, float, float]:
    ranks = [r.index(e) + 1 if e in r[:5] else 0 for e, r in zip(expected, ranked, strict=True)]
    n = max(len(ranks), 1)
    return (sum(r == 1 for r in ranks) / n, sum(0 < r <= 3 for r in ranks) / n,
            sum(1 / r for r in ranks if r) / n)


def quality(data: Path, home: Path, embedder: CachedEmbedder) -> None:
    index = open_index("runbooks", embedder.dim, home=home)
    index_runbooks(index, embedder, data / "runbooks", lambda line: print(line, file=sys.stderr))
    library = RunbookLibrary(index, embedder)
    cases = [json.loads(line) for line in (data / "runbook_cases.jsonl").read_text().splitlines() if line.strip()]
    expected = [c["expected_runbook"] for c in cases]
    methods: dict[str, Ranker] = {
        "bm25": lambda _t, r: _order(r.lexical),
        "dense": lambda _t, r: _order(r.dense),
        "hybrid": lambda t, r: [m.runbook for m in library._matches(r, library.named(t), 5)],
    }
    print(f"runbook quality on {data} ({len(cases)} cases, {len(library)} runbooks)")
    print(f"{'variant':<14}{'method':<8}{'top-1':>7}{'r@3':>7}{'MRR':>7}")
    for variant in ("query_full", "query_no_name"):
        texts = [c[variant] for c in cases]
        ranked = library.rank(texts)
        for name, method in methods.items():
            top1, r3, mrr = _metrics(expected, [method(t, r) for t, r in zip(texts, ranked, strict=True)])
            print(f"{variant:<14}{name:<8}{top1:>7.3f}{r3:>7.3f}{mrr:>7.3f}")
    index.close()


_WORDS = ("pod node disk memory cpu latency error timeout queue backlog replica shard certificate dns "
          "database connection pool deploy rollout ingress gateway cache eviction throttle kafka consumer "
          "lag partition leader election quota limit storage volume snapshot backup restore cron job "
          "scheduler webhook token secret tls handshake upstream retry circuit breaker saturation").split()


def synthetic_runbooks(root: Path, count: int, sections: int = 5, seed: int = 7) -> None:
    """`count` Markdown runbooks of `sections` headed sections of random ops vocabulary."""
    rng = random.Random(seed)
    for i in range(count):
        name = "".join(w.capitalize() for w in rng.sample(_WORDS, 3)) + str(i)
        lines = ["---", f"title: {name}", f"alerts: [{name}]", "---", f"# {name}"]
        for s in range(sections):
            lines.append(f"\n## Section {s} {rng.choice(_WORDS)}\n")
            lines.append(" ".join(rng.choices(_WORDS, k=rng.randint(25, 60))) + ".")
        folder = root / rng.choice(("kubernetes", "database", "network", "platform"))
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.md").write_text("\n".join(lines) + "\n")


def speed(home: Path, embedder: CachedEmbedder, count: int) -> None:
    root = home / "synthetic"
    synthetic_runbooks(root, count)
    index = open_index("synthetic", embedder.dim, home=home)
    started = time.perf_counter()
    report = index_runbooks(index, embedder, root, lambda line: None)
    took = time.perf_counter() - started
    if report.unchanged == report.indexed:
        print(f"\nincremental reindex of {report.indexed} unchanged runbooks: {took:.1f}s (nothing embedded)")
    else:
        print(f"\nindexing: {report.indexed} runbooks, {report.chunks} chunks in {took:.1f}s "
              f"= {report.chunks / took:.0f} chunks/s (embedding included)")
    started = time.perf_counter()
    library = RunbookLibrary(index, embedder)
    print(f"load (payloads + BM25 rebuild): {(time.perf_counter() - started) * 1000:.0f} ms")
    print(f"(machine load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")
    rng = random.Random(11)
    queries = [" ".join(rng.choices(_WORDS, k=rng.randint(6, 18))) + f" {i}" for i in range(300)]
    totals, embeds, cpu = [], [], []
    for query in queries:
        started, cpu_started = time.perf_counter(), time.process_time()
        embedder.embed([query])  # the model call, timed apart; search then reuses the cached vector
        embedded = time.perf_counter()
        library.search(query, 5)
        totals.append((time.perf_counter() - started) * 1000)
        embeds.append((embedded - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
    p50, p95 = np.percentile(totals, [50, 95])
    rest = np.percentile(np.array(totals) - np.array(embeds), 95)
    print(f"search over {len(library)} runbooks / {len(library.chunks)} chunks, model loaded, uncached queries: "
          f"p50 {p50:.1f} ms, p95 {p95:.1f} ms (p95 of the query embedding {np.percentile(embeds, 95):.1f} ms, "
          f"of the rest {rest:.1f} ms; CPU p95 {np.percentile(cpu, 95):.1f} ms)")
    started = time.perf_counter()
    library.search_many(queries, 5)
    print(f"batched (--queries): {(time.perf_counter() - started) * 1000 / len(queries):.1f} ms/query (cached vectors)")
    timings = []
    for i, query in enumerate(queries[:100]):
        started = time.perf_counter()
        extractive_answer([c for c, _ in library.best_chunks(f"how do I fix {query} {i}?")], [])
        timings.append((time.perf_counter() - started) * 1000)
    p50, p95 = np.percentile(timings, [50, 95])
    print(f"ask without a model (retrieve sections + extractive answer): p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    index.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default=str(Path(__file__).resolve().parents[2] / "shared/eval/dev"))
    parser.add_argument("--runbooks", type=int, default=1000)
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--home", help="keep the indexes here (a rerun then reindexes incrementally)")
    parser.add_argument("--backend", default="auto", help="BALLAST_EMBEDDER (default: auto)")
    args = parser.parse_args()
    embedder = CachedEmbedder(args.backend)
    embedder.embed(["warm up"])
    print(f"# embedder: {embedder.name}")
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(args.home or tmp)
        quality(Path(args.data), home, embedder)
        if not args.skip_speed:
            speed(home, embedder, args.runbooks)


if __name__ == "__main__":
    main()
