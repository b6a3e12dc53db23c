"""Terminal rendering with Rich: incident tables and details, ingest summaries."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()

_STATUS_STYLE = {"open": "bold red", "acknowledged": "yellow", "resolved": "green"}
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


def incident_table(rows: list[dict[str, Any]], title: str = "Incidents") -> None:
    table = Table(title=title, show_lines=False)
    for column in ("id", "status", "severity", "count", "title", "runbook", "last seen"):
        table.add_column(column, overflow="fold")
    for row in rows:
        status = row["status"]
        if row.get("regression_of"):
            status += f" (regression of {row['regression_of']})"
        table.add_row(
            str(row["id"]), f"[{_STATUS_STYLE.get(row['status'], '')}]{status}",
            f"[{_SEVERITY_STYLE.get(row['severity'], '')}]{row['severity']}", str(row["occurrence_count"]),
            row["title"], row.get("runbook") or "-", row["last_seen"] or "-",
        )
    console.print(table if rows else "[dim]no incidents[/dim]")


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
