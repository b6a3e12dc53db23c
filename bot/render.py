"""Terminal rendering with Rich: incident tables and details, ingest summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()

_STATUS_STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}
_FIXED_COLUMNS = 52  # id, status (with a regression mark), sev, ×, seen, and the table's borders and padding


def incident_table(rows: list[dict[str, Any]], title: str = "Incidents", out: Console | None = None) -> None:
    target = out or console
    room = max(target.width - _FIXED_COLUMNS, 24)  # what the id, status, sev, ×, seen columns leave
    title_width, runbook_width = min(44, room * 3 // 5), min(28, room * 2 // 5)
    table = Table(title=title, show_lines=False)
    table.add_column("id", justify="right", no_wrap=True, min_width=3)
    table.add_column("status", no_wrap=True, min_width=8)
    table.add_column("sev", no_wrap=True)
    table.add_column("×", justify="right", no_wrap=True, min_width=2)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=title_width)
    table.add_column("runbook", overflow="ellipsis", no_wrap=True, max_width=runbook_width)
    table.add_column("seen", no_wrap=True, min_width=5)
    for row in rows:
        status = row["status"]
        if row.get("regression_of"):
            status += f" ↺{row['regression_of']}"
        last_seen = (row["last_seen"] or "-")[11:16] or "-"
        table.add_row(
            str(row["id"]), f"[{_STATUS_STYLE.get(row['status'], '')}]{status}",
            f"[{_SEVERITY_STYLE.get(row['severity'], '')}]{row['severity']}", str(row["occurrence_count"]),
            row["title"], row.get("runbook") or "-", last_seen,
        )
    target.print(table if rows else "[dim]no incidents[/dim]")


def incident_detail(row: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    for key, value in row.items():
        table.add_row(key, "-" if value is None else str(value))
    console.print(table)


def ingest_summary(counts: Counter[str], seconds: float) -> None:
    total = sum(counts.values())
    parts = [f"[bold]{counts.get(k, 0)}[/bold] {k}" for k in ("new", "duplicate", "regression", "rejected")]
    console.print(f"{total} signals in {seconds:.1f}s: " + ", ".join(parts))
