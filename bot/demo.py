"""`ballast demo`: a realistic morning of alerts and chat reports, folded into incidents on the embedded defaults.

It runs on whatever data dir it is given (a fresh one shows the whole story), indexes the
configured runbook folders (by default the bundled ones), ingests `demo_data/stream.jsonl` through the
same intake as every other entry point, and prints what the incident channel would see.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from rich.console import Console
from rich.panel import Panel
from rich.text import Text
from sqlmodel import Session

from bot import incidents as repo
from bot.app import Services
from bot.intake import IngestResult
from bot.render import incident_table
from retrieval.signal import Signal, signal_from_mapping

STREAM = Path(__file__).parent / "demo_data" / "stream.jsonl"


def load_stream(path: Path = STREAM) -> list[Signal]:
    with path.open(encoding="utf-8") as handle:
        return [signal_from_mapping(json.loads(line), max_text_chars=16_000) for line in handle if line.strip()]


def _snippet(text: str, width: int = 110) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def channel_post(signal: Signal, result: IngestResult, titles: dict[int, str]) -> Text:
    """One line of the incident channel for one signal's outcome."""
    ref = f"INC-{result.incident_id}"
    who = signal.source or "report"
    if result.decision == "new":
        line = Text.assemble(("● new ", "bold red"), (f"{ref} ", "bold"), f"{titles.get(result.incident_id or 0, '')}",
                             (f"  [{who}]", "dim"))
        if result.runbook:
            line.append(f"\n    runbook: {result.runbook}", style="cyan")
        if result.candidate is not None:
            line.append(f"\n    looks like INC-{result.candidate} ({titles.get(result.candidate, '')}): same incident? "
                        f"(similarity {result.similarity:.2f}) [Same incident] [New incident]", style="yellow")
        return line
    if result.decision == "regression":
        return Text.assemble(("▲ regression ", "bold magenta"), (f"{ref} ", "bold"),
                             f"repeats a resolved incident; severity raised  [{who}]")
    style = "green" if signal.status == "resolved" else "dim"
    verb = "resolved by" if signal.status == "resolved" else "↳ in thread of"
    sim = "" if result.similarity is None else f" (similarity {result.similarity:.2f})"
    return Text.assemble((f"  {verb} {ref}{sim}: ", style), _snippet(signal.text), (f"  [{who}]", "dim"))


def run_demo(svc: Services, *, as_json: bool = False, console: Console | None = None) -> list[IngestResult]:
    console = console or Console()
    started = time.monotonic()
    signals = load_stream()
    if not as_json:
        console.print(Panel.fit(f"Ballast demo: {len(signals)} alerts, logs and chat reports from one morning\n"
                                f"data dir: {svc.settings.home}", style="bold"))
    for folder, report in svc.index_configured_runbooks(lambda line: print(f"runbooks: {line}", file=sys.stderr)):
        if not as_json:
            console.print(f"[dim]runbooks: {report.indexed} from {folder} ({report.chunks} sections)[/dim]")
    results: list[IngestResult] = []
    titles: dict[int, str] = {}
    for signal in signals:  # one at a time, as they would arrive
        result = svc.intake.process([signal], [signal.external_id])[0]
        results.append(result)
        if result.incident_id is not None and result.decision != "duplicate":
            with Session(svc.engine) as session:
                titles[result.incident_id] = repo.get_incident(session, result.incident_id).title
        if as_json:
            print(json.dumps(result.to_json(), ensure_ascii=False))
        else:
            console.print(channel_post(signal, result, titles))
    if not as_json:
        with Session(svc.engine) as session:
            rows = [repo.incident_json(i) for i in repo.list_incidents(session)]
        console.print()
        incident_table(rows, title="Incidents after the stream")
        counts = {k: sum(r.decision == k for r in results) for k in ("new", "duplicate", "regression")}
        console.print(f"{len(results)} signals -> {counts['new'] + counts['regression']} incidents "
                      f"({counts['duplicate']} folded as duplicates, {counts['regression']} regressions) "
                      f"in {time.monotonic() - started:.1f}s")
    return results
