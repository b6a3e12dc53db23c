"""The `ballast index status|repair|optimize` maintenance commands for the signal vector index.

Imports of the retrieval stack happen inside the commands, so `ballast --help` stays fast. Like
every command, they stop at once with exit 1 when `ballast serve` holds the data dir.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

index_app = typer.Typer(help="Inspect, repair and optimize the signal vector index.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object on stdout.")]


def _report(obj: dict[str, object], as_json: bool) -> None:
    from bot import cli  # imported late: bot.cli registers these commands

    if as_json:
        cli.emit(obj)
    else:
        typer.echo(", ".join(f"{k.replace('_', ' ')} {v}" for k, v in obj.items()))


@index_app.command("status")
def index_status(as_json: JsonOpt = False) -> None:
    """Points stored and how many of them an HNSW graph covers (the rest are searched by a full scan)."""
    from bot import cli

    svc = cli.services()
    try:
        stats = cli.run_guarded(lambda: svc.signal_index.stats())
    finally:
        svc.close()
    _report({"points": stats.points, "indexed": stats.indexed, "segments": stats.segments}, as_json)


@index_app.command("repair")
def index_repair(
    full: Annotated[bool, typer.Option("--all", help="Check every stored signal, not only the newest 2,000.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Write again the vectors of stored signals that the index lacks (after a crash mid-batch)."""
    from bot import cli
    from bot.index_repair import repair_index

    svc = cli.services()
    try:
        report = cli.run_guarded(lambda: repair_index(svc.engine, svc.signal_index, svc.embedder,
                                                      recent=None if full else 2000))
    finally:
        svc.close()
    _report(report.to_json(), as_json)


@index_app.command("optimize")
def index_optimize(as_json: JsonOpt = False) -> None:
    """Repair, then build the HNSW graph over the embedded index (blocks: about a minute per 100k points).

    Searches then scale with the log of the index size instead of a full scan. With
    BALLAST_QDRANT_URL set the server optimizes by itself and this only repairs.
    """
    from bot import cli
    from bot.index_repair import repair_index

    svc = cli.services()

    def run() -> dict[str, object]:
        index = svc.signal_index
        report = repair_index(svc.engine, index, svc.embedder)
        before = index.stats()
        started = time.monotonic()
        changed = index.optimize()
        seconds = time.monotonic() - started
        after = index.stats()
        return {"restored": report.restored, "points": after.points, "indexed_before": before.indexed,
                "indexed": after.indexed, "optimized": changed, "seconds": round(seconds, 1)}

    try:
        result = cli.run_guarded(run)
    finally:
        svc.close()
    _report(result, as_json)


def register(app: typer.Typer) -> None:
    """Add `index ...` to the main command line."""
    app.add_typer(index_app, name="index")
