"""`ballast serve`: runs the HTTP app on uvicorn and shuts down cleanly on SIGTERM or Ctrl-C.

On a signal uvicorn stops accepting, finishes the requests in flight, the worker pool finishes
its current batch, the stores are closed, and the process exits 0.
"""

from __future__ import annotations

import logging
from typing import Any
import signal
import sys

from bot.settings import Settings, for_workload

log = logging.getLogger("ballast.serve")


class ServeError(RuntimeError):
    """The server cannot start; the message says what to fix."""


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def run_server(settings: Settings, host: str, port: int, *, socket_mode: bool = False) -> int:
    """Serve until a signal; the process exit status (0 after a graceful stop).

    `socket_mode` also connects to Slack over Socket Mode (SLACK_APP_TOKEN) in the background.
    """
    import uvicorn

    from bot.app import build_services
    from bot.auth import KeyConfigError
    from bot.http import create_app
    from bot.worker_process import ChildWorkers
    from retrieval.answer import load_prompts
    from retrieval.errors import RetrievalError

    from bot.config import ConfigError
    from bot.scheduler import build_scheduler

    _configure_logging()
    settings = for_workload(settings, long_running=True)
    log.info("embedder: %s", settings.embedder)
    services = build_services(settings)  # lazy: nothing is opened yet
    try:
        load_prompts()  # a broken prompt file stops the start, not the first question
        file_config = services.config  # a bad config file too
    except (RetrievalError, ConfigError) as exc:
        raise ServeError(str(exc)) from exc
    # The embedded Qdrant opens in one process only, so there the workers, Slack and runbook
    # search share this process. With a Qdrant server the workers run in a child process, where
    # deciding signals never competes with acknowledgements for the GIL.
    in_child = settings.qdrant_url is not None
    if not in_child:
        for folder, indexed in services.index_configured_runbooks(lambda line: log.warning("runbooks: %s", line)):
            log.info("runbooks: %d from %s (%d sections)", indexed.indexed, folder, indexed.chunks)
    failures: list[int | None] = []
    server: uvicorn.Server | None = None

    def worker_exited(code: int | None) -> None:
        failures.append(code)
        if server is not None:
            server.should_exit = True

    try:
        try:
            child = (lambda m: ChildWorkers(settings, m, worker_exited)) if in_child else None
            app = create_app(services, processor=child)
        except (KeyConfigError, RetrievalError) as exc:
            raise ServeError(str(exc)) from exc
        config = uvicorn.Config(app, host=host, port=port, log_level="info", access_log=False,
                                timeout_graceful_shutdown=4, lifespan="on", server_header=False)
        server = uvicorn.Server(config)
        # uvicorn re-raises the signal it caught once it has shut down; with these handlers in
        # place that re-raise is a no-op and the process ends with status 0 instead of 143.
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: None)
        log.info("ballast serve on http://%s:%d (docs at /docs)", host, port)
        socket = _connect_socket_mode(services) if socket_mode else None
        # Cards for alerts, escalations (and later jobs): claimed from the database, so every
        # replica runs the same scheduler and each due item is done by one of them.
        scheduler = build_scheduler(services, file_config)
        scheduler.start()
        try:
            server.run()
        finally:
            scheduler.shutdown(wait=True)
            if socket is not None:
                socket.close()
        if failures:
            raise ServeError(f"the worker process exited (status {failures[0]}): see the log above")
        if not server.started:
            raise ServeError(f"could not listen on {host}:{port} (is the port in use?)")
        log.info("ballast serve stopped")
        return 0
    finally:
        services.close()


def _connect_socket_mode(services: Any) -> Any:
    """Slack over Socket Mode beside the HTTP server (listeners share this process's services)."""
    from bot.slack.app import SlackConfigError
    from bot.slack.socket import socket_mode_handler

    try:
        handler = socket_mode_handler(services)
    except SlackConfigError as exc:
        raise ServeError(str(exc)) from exc
    handler.connect()
    log.info("Slack Socket Mode connected")
    return handler
