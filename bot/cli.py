"""The `ballast` command line (Typer). Heavy imports happen inside commands so `--help` stays fast."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

if TYPE_CHECKING:
    from bot.app import Services

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

app = typer.Typer(help="Ballast: incident co-pilot for on-call teams.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
incidents_app = typer.Typer(help="List, show, resolve, merge and split incidents.", no_args_is_help=True)
app.add_typer(incidents_app, name="incidents")

JsonOpt = Annotated[bool, typer.Option("--json", help="One JSON object per line on stdout.")]


class State:
    data_dir: Path | None = None


def fail(message: str, code: int = 1) -> NoReturn:
    """A user error: one line on stderr that says what to fix, then exit 1."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, default=str) + "\n")


def services(bulk: bool = False) -> Services:
    """The command's services; `bulk` (a big input) lets BALLAST_EMBEDDER=auto pick the backend with
    the fastest batches, whose slower start a big job pays back (retrieval/embedder.py)."""
    from bot.app import build_services
    from bot.settings import for_workload, load_settings

    try:
        return build_services(for_workload(load_settings(State.data_dir), bulk=bulk))
    except Exception as exc:  # pydantic validation of the environment
        fail(f"bad configuration: {exc}")


def run_guarded(fn: Any) -> Any:
    """Translate the packages' user-facing errors into one line and exit status 1."""
    from bot.incidents import IncidentNotFound
    from bot.lifecycle import LifecycleError
    from retrieval.errors import RetrievalError

    try:
        return fn()
    except (RetrievalError, IncidentNotFound, LifecycleError) as exc:
        fail(str(exc).strip("'\""))


@app.callback()
def main_options(
    data_dir: Annotated[Path | None, typer.Option("--data-dir", help="Data directory (beats BALLAST_HOME).")] = None,
) -> None:
    State.data_dir = data_dir


@app.command()
def ingest(
    file: Annotated[str, typer.Argument(help="JSONL file of signals, or - for stdin.")],
    as_json: JsonOpt = False,
    tenant: Annotated[str | None, typer.Option(help="Tenant for lines that name none.")] = None,
) -> None:
    """Fold a stream of alerts and reports into incidents (each line deduped against all before it)."""
    from bot.ingest_file import ingest_stream
    from retrieval.embedder import BULK_INPUT_BYTES

    bulk = False
    if file == "-":
        stream = sys.stdin.buffer
    else:
        path = Path(file)
        if not path.is_file():
            fail(f"cannot read {file}: no such file")
        try:
            stream = path.open("rb")
            bulk = path.stat().st_size >= BULK_INPUT_BYTES
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
    svc = services(bulk)
    try:
        run_guarded(lambda: ingest_stream(svc, stream, as_json=as_json, default_tenant=tenant))
    finally:
        svc.close()


@incidents_app.command("list")
def incidents_list(
    as_json: JsonOpt = False,
    status: Annotated[str | None, typer.Option(help="open, acknowledged or resolved.")] = None,
    tenant: Annotated[str | None, typer.Option()] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
) -> None:
    """Incidents, most recently seen first."""
    from sqlmodel import Session

    from bot import incidents as repo
    from bot.render import incident_table

    if status is not None and status not in ("open", "acknowledged", "resolved"):
        fail("--status must be open, acknowledged or resolved", 2)
    svc = services()
    with Session(svc.engine) as session:
        rows = [repo.incident_json(i) for i in repo.list_incidents(session, tenant, status, limit)]
    if as_json:
        for row in rows:
            emit(row)
    else:
        incident_table(rows)


@incidents_app.command("show")
def incidents_show(incident_id: int, as_json: JsonOpt = False) -> None:
    """One incident."""
    from sqlmodel import Session

    from bot import incidents as repo
    from bot.render import incident_detail

    svc = services()
    with Session(svc.engine) as session:
        row = run_guarded(lambda: repo.incident_json(repo.get_incident(session, incident_id)))
    emit(row) if as_json else incident_detail(row)


@incidents_app.command("resolve")
def incidents_resolve(incident_id: int, as_json: JsonOpt = False) -> None:
    """Mark an incident resolved; a later repeat of it is reported as a regression."""
    from bot import incidents as repo
    from bot.lifecycle import resolve_incident
    from bot.render import incident_detail

    svc = services()
    row = repo.incident_json(run_guarded(lambda: resolve_incident(svc.engine, incident_id)))
    emit(row) if as_json else incident_detail(row)


@incidents_app.command("merge")
def incidents_merge(incident_id: int, into_id: int, as_json: JsonOpt = False) -> None:
    """Fold incident ID into INTO_ID (its signals and occurrences move; later repeats go to INTO_ID)."""
    from bot import incidents as repo
    from bot.lifecycle import merge_incidents
    from bot.render import incident_detail

    svc = services()
    merged = run_guarded(lambda: merge_incidents(svc.engine, incident_id, into_id))
    svc.calibration.recalibrate(merged.tenant)  # the merge is a labelled "same" pair
    row = repo.incident_json(merged)
    emit(row) if as_json else incident_detail(row)


@incidents_app.command("split")
def incidents_split(incident_id: int, as_json: JsonOpt = False) -> None:
    """Move the latest report of incident ID into a new incident (the pair is labelled different)."""
    from bot import incidents as repo
    from bot.lifecycle import repoint, split_last_signal
    from bot.render import incident_detail
    from retrieval.errors import RetrievalError

    svc = services()
    try:
        split = run_guarded(lambda: split_last_signal(svc.engine, incident_id))
        svc.calibration.recalibrate(split.new.tenant)
        try:
            repoint(svc.signal_index, split)
        except RetrievalError as exc:
            typer.echo(f"warning: split stored, but the vector index was not updated ({str(exc).strip()}); "
                       "look-alikes of the report may still match the original until it is", err=True)
        row = {**repo.incident_json(split.new), "split_from": split.original.id}
    finally:
        svc.close()
    emit(row) if as_json else incident_detail(row)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8080,
    socket_mode: Annotated[bool, typer.Option("--socket", help="Slack Socket Mode instead of HTTP.")] = False,
) -> None:
    """HTTP server: webhooks, REST API, health and metrics (docs at /docs); SIGTERM stops it cleanly."""
    from bot.serve import ServeError, run_server
    from bot.settings import load_settings

    try:
        settings = load_settings(State.data_dir)
    except Exception as exc:  # pydantic validation of the environment
        fail(f"bad configuration: {exc}")
    try:
        code = run_server(settings, host, port, socket_mode=socket_mode)
    except ServeError as exc:
        fail(str(exc))
    raise typer.Exit(code)


@app.command()
def demo(
    as_json: JsonOpt = False,
) -> None:
    """Seed demo data and run the whole flow on the embedded defaults; prints what a channel would see."""
    from bot.demo import run_demo

    svc = services()
    try:
        run_guarded(lambda: run_demo(svc, as_json=as_json))
    finally:
        svc.close()


from bot.runbook_commands import register  # noqa: E402  (needs the helpers above)

register(app)

from bot.index_commands import register as register_index  # noqa: E402  (needs the helpers above)

register_index(app)


def main() -> None:
    app()
