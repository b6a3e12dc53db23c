"""The product's scheduler (APScheduler, run by `ballast serve`): the Slack outbox and escalation jobs, and later ones.

Jobs are thin: each claims its work from the database (so replicas share it and a restart loses
nothing) and never runs twice at once in one process (`max_instances=1`, missed runs coalesced).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler

from bot.app import Services
from bot.config import BallastConfig

log = logging.getLogger("ballast.scheduler")
OUTBOX_SECONDS = 0.5
ESCALATION_SECONDS = 5.0
RETENTION_SECONDS = 3600.0


class _QuietOverlap(logging.Filter):
    """A job still running when its next run comes is normal here (an outbox pass waiting out 429s): the
    run is skipped, and the next pass picks up the work; APScheduler's warning for it is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "maximum number of running instances reached" not in record.getMessage()


logging.getLogger("apscheduler.scheduler").addFilter(_QuietOverlap())


def job_owner() -> str:
    """This process's name on the rows its jobs claim."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:64]


def _guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except Exception:  # a failed pass is logged and the next one runs as scheduled
            log.exception("scheduled job %s failed", name)

    return run


def add_interval_job(scheduler: BackgroundScheduler, name: str, job: Callable[[], object], seconds: float) -> None:
    """Run `job` every `seconds` (first run right away), one at a time, catching up once after a stall."""
    scheduler.add_job(_guarded(name, job), "interval", seconds=seconds, id=name, name=name, max_instances=1,
                      coalesce=True, next_run_time=datetime.now().astimezone(), misfire_grace_time=None,
                      replace_existing=True)


def build_scheduler(services: Services, config: BallastConfig, *, slack_client: object | None = None,
                    owner: str | None = None) -> BackgroundScheduler:
    """A scheduler (not started) with the jobs `services`' settings call for: retention (hourly, unless
    BALLAST_RETENTION_DAYS is 0); with Slack configured, the outbox job (cards and thread replies for
    alerts) and, when `config` has escalation policies, escalations."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True})
    if services.settings.retention_days > 0:
        from bot.retention import prune

        add_interval_job(scheduler, "retention", lambda: prune(services.engine, services.settings.retention_days),
                         RETENTION_SECONDS)
    if not services.settings.slack_enabled:
        if config.escalation:
            log.warning("escalation policies are configured but Slack is not (SLACK_BOT_TOKEN, "
                        "SLACK_SIGNING_SECRET): nothing will be posted")
        return scheduler
    from bot.escalation_job import run_escalations
    from bot.slack.app import slack_deps
    from bot.slack.notices import deliver_due

    deps = slack_deps(services, config, slack_client)  # type: ignore[arg-type]
    name = owner or job_owner()

    def outbox() -> None:
        while deliver_due(deps, name):  # drain what is due, a batch at a time
            pass

    add_interval_job(scheduler, "slack-outbox", outbox, OUTBOX_SECONDS)
    if config.escalation:
        add_interval_job(scheduler, "escalations", lambda: run_escalations(deps, name), ESCALATION_SECONDS)
    return scheduler
