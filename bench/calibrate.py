"""Threshold sweep behind the dedup defaults in bot/settings.py and the recency constants in dedup.py.

Replays each eval stream through the same pure pieces the intake uses (`prepare`, `pair_score`,
`classify`, the cue and term functions, the real embedder), with an in-memory stand-in for the
database and the vector index, and prints pairwise F1 per threshold:

* machine: the log systems (`dedup/*.jsonl` but ChatReports) and both alert variants;
* human: ChatReports, over the duplicate threshold and the recency penalty and scale.

    python -m bench.calibrate [DATA_DIR]          (DATA_DIR: ../shared/eval/dev)
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.drain_baseline import pairwise
from bot.candidates import REPORT_SEARCH_LIMIT, SEARCH_LIMIT, Prepared, prepare
from retrieval import dedup
from retrieval.cues import idf, term_overlap
from retrieval.dedup import Candidate, Thresholds, classify, identity_conflict, is_human, pair_score
from retrieval.embedder import CachedEmbedder
from retrieval.signal import signal_from_mapping

MACHINE_SWEEP = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0)
HUMAN_SWEEP = (0.15, 0.2, 0.225, 0.25, 0.275, 0.3, 0.35, 0.4, 0.5)
RECENCY_SWEEP = ((0.0, 20.0), (0.15, 20.0), (0.3, 10.0), (0.3, 20.0), (0.3, 40.0), (0.45, 20.0))


@dataclass(frozen=True)
class Stream:
    name: str
    items: list[Prepared]
    gold: list[str]
    vectors: np.ndarray


def _load(data: Path, embedder: CachedEmbedder) -> list[Stream]:
    streams: list[tuple[str, list[dict[str, Any]], list[str]]] = []
    for path in sorted((data / "dedup").glob("*.jsonl")):
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        streams.append((path.stem, [{"text": r["text"], "source": path.stem} for r in rows],
                        [str(r["cluster"]) for r in rows]))
    alerts = [json.loads(line) for line in (data / "alert_dedup.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    gold = [str(r["cluster"]) for r in alerts]
    streams.append(("alerts-labels", [{"text": r["text"], "labels": r["labels"], "title": r["alertname"]}
                                      for r in alerts], gold))
    streams.append(("alerts-description", [{"text": r["text_description"]} for r in alerts], gold))
    out = []
    for name, objects, labels in streams:
        items = [prepare(signal_from_mapping(o, max_text_chars=16_000)) for o in objects]
        out.append(Stream(name, items, labels, embedder.embed([p.masked for p in items])))
    return out


def replay(stream: Stream, machine: Thresholds, human: Thresholds) -> list[int]:
    """Incident per line, decided in order like `Intake.process` (every incident stays open)."""
    incident_of: list[int] = []
    by_fingerprint: dict[str, int] = {}
    points: list[int] = []                      # line index of each stored vector
    seen_points: set[tuple[str, str]] = set()
    last_report: dict[int, int] = {}            # incident -> report count at its last signal
    terms: Counter[str] = Counter()
    reports = 0
    for i, item in enumerate(stream.items):
        if item.kind == "report":
            reports += 1
            terms.update(set(item.terms))
        if item.fingerprint in by_fingerprint:
            incident = by_fingerprint[item.fingerprint]
        else:
            incident = _vector_stage(stream, i, points, incident_of, machine, human,
                                     lambda t: idf(terms[t], reports), last_report, reports)
            if incident is None:
                incident = len(by_fingerprint) + len(set(incident_of)) + i + 1
                by_fingerprint[item.fingerprint] = incident
            key = (item.fingerprint, item.masked)
            if key not in seen_points:
                seen_points.add(key)
                points.append(i)
        incident_of.append(incident)
        last_report[incident] = reports
    return incident_of


def _vector_stage(stream: Stream, i: int, points: list[int], incident_of: list[int], machine: Thresholds,
                  human: Thresholds, weight: Callable[[str], float], last_report: dict[int, int],
                  reports: int) -> int | None:
    if not points:
        return None
    item = stream.items[i]
    cosines = stream.vectors[points] @ stream.vectors[i]
    limit = REPORT_SEARCH_LIMIT if item.kind == "report" else SEARCH_LIMIT
    new = item.evidence
    best: dict[int, Candidate] = {}
    human_pair = item.kind == "report"
    for k in np.argsort(-cosines)[:limit]:
        j = points[int(k)]
        old = stream.items[j].evidence
        incident = incident_of[j]
        lexical = term_overlap(new.terms, old.terms, weight) if new.terms and old.terms else 0.0
        gap = reports - last_report.get(incident, reports) if item.kind == "report" else 0
        score = pair_score(new, old, float(cosines[k]), lexical, gap)
        human_pair = human_pair or is_human(item.kind, old.kind)
        conflict = identity_conflict(new, old) or (incident in best and best[incident].identity_conflict)
        if incident not in best or score > best[incident].score:
            best[incident] = Candidate(incident, "open", float(cosines[k]), score, conflict)
        elif conflict:
            best[incident] = replace(best[incident], identity_conflict=True)
    decision = classify(list(best.values()), human if human_pair else machine)
    return decision.incident_id if decision.decision == "duplicate" else None


def _f1(stream: Stream, machine: Thresholds, human: Thresholds) -> float:
    return pairwise(stream.gold, replay(stream, machine, human))[2]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/eval/dev", help="the eval data directory")
    parser.add_argument("--backend", default="auto", help="BALLAST_EMBEDDER (default: auto)")
    args = parser.parse_args(argv)
    streams = _load(Path(args.data), CachedEmbedder(args.backend))
    machine_streams = [s for s in streams if s.name != "ChatReports"]
    default_human = Thresholds(0.25, 0.15)
    print("machine duplicate threshold (Drain similarity for logs) -> pairwise F1")
    print(f"{'thr':>5} " + " ".join(f"{s.name[:12]:>12}" for s in machine_streams) + "  logs-macro")
    for threshold in MACHINE_SWEEP:
        row = [_f1(s, Thresholds(threshold, threshold - 0.2), default_human) for s in machine_streams]
        logs = [f for s, f in zip(machine_streams, row, strict=True) if not s.name.startswith("alerts")]
        print(f"{threshold:>5.2f} " + " ".join(f"{f:>12.3f}" for f in row) + f"  {sum(logs) / len(logs):>10.3f}")
    chat = next((s for s in streams if s.name == "ChatReports"), None)
    if chat is None:
        return 0
    print("\nhuman duplicate threshold x recency (penalty, scale in reports) -> ChatReports pairwise F1")
    print(f"{'penalty/scale':>14} " + " ".join(f"{t:>6.3f}" for t in HUMAN_SWEEP))
    saved = (dedup.RECENCY_PENALTY, dedup.RECENCY_SCALE)
    machine = Thresholds(0.7, 0.5)
    try:
        for penalty, scale in RECENCY_SWEEP:
            dedup.RECENCY_PENALTY, dedup.RECENCY_SCALE = penalty, scale
            row = [_f1(chat, machine, Thresholds(t, t - 0.1)) for t in HUMAN_SWEEP]
            print(f"{penalty:>6.2f}/{scale:<7.0f} " + " ".join(f"{f:>6.3f}" for f in row))
    finally:
        dedup.RECENCY_PENALTY, dedup.RECENCY_SCALE = saved
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
