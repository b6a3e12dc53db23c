"""The `ballast runbooks index|search|outcome` and `ballast ask` commands.

Imports of the retrieval stack happen inside the commands, so `ballast --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer


if TYPE_CHECKING:
    from bot.app import Services
    from retrieval.runbook_search import RunbookLibrary

runbooks_app = typer.Typer(help="Index and search runbooks.", no_args_is_help=True)
JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]


def _library(svc: Services) -> RunbookLibrary:
    from retrieval.runbook_search import RunbookLibrary

    library = svc.runbook_library
    return library if library is not None else RunbookLibrary(svc.runbook_index, svc.embedder)


def _read_queries(path: Path) -> list[tuple[Any, str]]:
    from bot import cli  # imported late: bot.cli registers these commands

    queries: list[tuple[Any, str]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        cli.fail(f"cannot read {path}: {exc}")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
            typer.echo(f"warning: {path}:{number}: expected {{\"id\", \"text\"}}; line skipped", err=True)
            continue
        queries.append((obj.get("id", number), obj["text"]))
    return queries


@runbooks_app.command("index")
def runbooks_index(
    directory: Annotated[Path, typer.Argument(help="Folder of Markdown runbooks (searched recursively).")],
    as_json: JsonOpt = False,
) -> None:
    """Index a folder of runbooks: changed files re-embedded, unchanged skipped, deleted removed."""
    from bot import cli  # imported late: bot.cli registers these commands

    if not directory.is_dir():
        cli.fail(f"{directory} is not a folder of runbooks")
    svc = cli.services()
    try:
        report = cli.run_guarded(lambda: svc.index_runbooks(directory, lambda line: typer.echo(line, err=True)))
    finally:
        svc.close()
    if as_json:
        cli.emit(report.to_json())
    else:
        typer.echo(f"{report.indexed} runbooks, {report.chunks} chunks ({report.added} new, {report.updated} "
                   f"changed, {report.unchanged} unchanged, {report.removed} removed, {report.skipped} skipped)")


@runbooks_app.command("search")
def runbooks_search(
    text: Annotated[str | None, typer.Argument(help="Alert or question text.")] = None,
    top: Annotated[int, typer.Option("--top", min=1, max=100)] = 5,
    queries: Annotated[Path | None, typer.Option("--queries", help="JSONL file of {\"id\", \"text\"}.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Best runbooks for a text, or for every line of a --queries file (one process for all)."""
    from bot import cli  # imported late: bot.cli registers these commands

    if (text is None) == (queries is None):
        cli.fail("give either TEXT or --queries FILE", 2)
    batch = _read_queries(queries) if queries is not None else [(None, text or "")]
    svc = cli.services()
    try:
        library = cli.run_guarded(lambda: _library(svc))
        results = cli.run_guarded(lambda: library.search_many([t for _, t in batch], top))
    finally:
        svc.close()
    if not len(library):
        typer.echo("warning: no runbooks are indexed: run `ballast runbooks index DIR` first", err=True)
    for (qid, qtext), matches in zip(batch, results, strict=True):
        head = {"query": qtext} if queries is None else {"id": qid}
        if as_json:
            cli.emit({**head, "matches": [m.to_json() for m in matches]})
        else:
            typer.echo(f"{qid if queries is not None else qtext}")
            for m in matches:
                typer.echo(f"  {m.score:.3f}  {m.runbook}  ({m.title})")


@runbooks_app.command("outcome")
def runbooks_outcome(
    runbook: Annotated[str, typer.Argument(help="Runbook id, e.g. kubernetes/KubePodCrashLooping.")],
    succeeded: Annotated[bool, typer.Option("--success/--failure", help="How the intervention went.")],
    as_json: JsonOpt = False,
) -> None:
    """Record how an intervention from a runbook went; successes lift its rank, failures lower it."""
    from bot import cli  # imported late: bot.cli registers these commands

    svc = cli.services()
    try:
        library = _library(svc)
        if runbook not in library.titles:
            cli.fail(f"no indexed runbook is called {runbook!r}")
        wins, losses = svc.record_runbook_outcome(runbook, succeeded)
    finally:
        svc.close()
    row = {"runbook": runbook, "successes": wins, "failures": losses}
    cli.emit(row) if as_json else typer.echo(f"{runbook}: {wins} succeeded, {losses} failed")


def ask(
    question: Annotated[str, typer.Argument(help="A question about an incident or a failure.")],
    as_json: JsonOpt = False,
) -> None:
    """Answer from the runbooks and past incidents, with citations (extractive without an LLM)."""
    from bot import cli  # imported late: bot.cli registers these commands

    from retrieval.answer import answer_question

    svc = cli.services()
    try:
        answer = cli.run_guarded(lambda: answer_question(svc, question))
    finally:
        svc.close()
    if as_json:
        cli.emit(answer.to_json())
        return
    sys.stdout.write(answer.answer.rstrip() + "\n")
    for cite in answer.citations:
        sys.stdout.write(f"  [{cite.runbook} § {cite.section}]\n")


def register(app: typer.Typer) -> None:
    """Add `runbooks ...` and `ask` to the main command line."""
    app.add_typer(runbooks_app, name="runbooks")
    app.command("ask")(ask)
