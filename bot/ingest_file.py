"""`ballast ingest`: reads a JSONL stream in batches, hands signals to intake, prints one result per line.

A batch's results are printed only after it is committed, so every line reported is stored.
Bad lines get a `rejected` result with the reason and never stop the rest of the stream.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any, BinaryIO

from bot.app import Services
from bot.intake import IngestResult
from retrieval.errors import InvalidSignal
from retrieval.signal import Signal, signal_from_mapping

MAX_LINE_BYTES = 8 * 1024 * 1024
# Past this many points outside the HNSW graph, a search is a long full scan: say how to fix it.
UNINDEXED_HINT = 20_000


def _given_id(obj: Any, line_no: int) -> Any:
    if isinstance(obj, dict):
        raw = obj.get("id")
        if isinstance(raw, (str, int)) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
    return line_no


def parse_line(raw: bytes, line_no: int, max_text_chars: int,
               default_tenant: str | None) -> tuple[Any, Signal | str]:
    """(id to echo, Signal) or (id to echo, error text)."""
    if len(raw) > MAX_LINE_BYTES:
        return line_no, f"line is {len(raw)} bytes; the limit is {MAX_LINE_BYTES} (split the text or raise it)"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return line_no, f"line is not valid UTF-8 (byte {exc.start}): re-encode the file as UTF-8"
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        return line_no, f"not valid JSON: {exc.msg} at column {exc.colno}"
    given = _given_id(obj, line_no)
    if isinstance(obj, dict) and default_tenant and not obj.get("tenant"):
        obj = {**obj, "tenant": default_tenant}
    try:
        return given, signal_from_mapping(obj, max_text_chars=max_text_chars)
    except InvalidSignal as exc:
        return given, str(exc)


def _lines(stream: BinaryIO) -> Iterator[tuple[int, bytes]]:
    for line_no, raw in enumerate(stream, start=1):
        stripped = raw.strip()
        if stripped:
            yield line_no, stripped


def ingest_stream(svc: Services, stream: BinaryIO, *, as_json: bool, default_tenant: str | None = None) -> Counter[str]:
    settings = svc.settings
    intake = svc.intake
    counts: Counter[str] = Counter()
    first_line: dict[str, int] = {}
    started = time.monotonic()
    progress_every = 5.0
    next_progress = started + progress_every
    batch: list[tuple[Any, Signal | str]] = []
    # One full batch is read ahead: its new texts are embedded in the background while the batch
    # before it is decided and committed. Batches are still decided and printed in input order.
    pending: list[tuple[Any, Signal | str]] = []

    def flush(batch: list[tuple[Any, Signal | str]]) -> None:
        valid = [(i, item) for i, item in enumerate(batch) if isinstance(item[1], Signal)]
        decided = intake.process([s for _, (_, s) in valid], [g for _, (g, _) in valid]) if valid else []
        by_pos = {pos: res for (pos, _), res in zip(valid, decided, strict=True)}
        for pos, (given, item) in enumerate(batch):
            result = by_pos.get(pos) or IngestResult(given, "rejected", error=str(item))
            counts[result.decision] += 1
            if as_json:
                sys.stdout.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")
        sys.stdout.flush()

    for line_no, raw in _lines(stream):
        given, item = parse_line(raw, line_no, settings.max_text_chars, default_tenant)
        if isinstance(item, Signal) and item.external_id is not None:
            key = f"{item.tenant}\x1f{item.external_id}"
            if key in first_line:
                item = f"repeated id {item.external_id!r}: first used on line {first_line[key]}"
            else:
                first_line[key] = line_no
        batch.append((given, item))
        if len(batch) >= settings.ingest_batch:
            if pending:
                intake.prefetch([item for _, item in batch if isinstance(item, Signal)])
                flush(pending)
            pending, batch = batch, []
            now = time.monotonic()
            if now >= next_progress:
                done = sum(counts.values())
                print(f"ingest: {done} lines, {done / (now - started):.0f}/s", file=sys.stderr, flush=True)
                next_progress = now + progress_every
    if pending:
        if batch:
            intake.prefetch([item for _, item in batch if isinstance(item, Signal)])
        flush(pending)
    if batch:
        flush(batch)
    elapsed = time.monotonic() - started
    total = sum(counts.values())
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
    print(f"ingest: {total} lines in {elapsed:.1f}s ({summary or 'nothing to do'})", file=sys.stderr, flush=True)
    if counts.get("new") or counts.get("regression") or counts.get("duplicate"):
        stats = svc.signal_index.stats()
        if stats.points - stats.indexed >= UNINDEXED_HINT:
            print(f"index: {stats.points - stats.indexed} of {stats.points} vectors are searched by a full scan; "
                  "run `ballast index optimize` (while nothing else uses this data dir) to build the search graph",
                  file=sys.stderr, flush=True)
    if not as_json:
        from bot.render import ingest_summary

        ingest_summary(counts, elapsed)
    return counts
