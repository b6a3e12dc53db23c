"""Composition root: settings in, services out. Nothing else builds engines, indexes or models."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from bot.db import make_engine, migrate
from bot.intake import DedupPolicy, Intake
from bot.settings import Settings
from bot.thresholds import TenantCalibration
from retrieval.dedup import Thresholds
from retrieval.embedder import DIM, CachedEmbedder, Embedder
from retrieval.index import VectorIndex, open_index

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from bot.config import BallastConfig
    from retrieval.runbook_search import RunbookLibrary
    from retrieval.runbook_store import IndexReport

SIGNALS_COLLECTION = "signals"
RUNBOOKS_COLLECTION = "runbooks"


def dedup_policy(settings: Settings) -> DedupPolicy:
    return DedupPolicy(
        machine=Thresholds(settings.dedup_machine_threshold, settings.dedup_machine_candidate),
        human=Thresholds(settings.dedup_human_threshold, settings.dedup_human_candidate),
    )


@dataclass
class Services:
    """Everything a command or the server needs, built lazily so `incidents list` never loads a model."""

    settings: Settings
    embedder_override: Embedder | None = None
    _opened: list[VectorIndex] = field(default_factory=list)

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.settings.resolved_database_url)
        migrate(engine)
        return engine

    @cached_property
    def embedder(self) -> Embedder:
        return self.embedder_override or CachedEmbedder(self.settings.embedder)

    def open_collection(self, name: str) -> VectorIndex:
        s = self.settings
        key = s.qdrant_api_key.get_secret_value() if s.qdrant_api_key else None
        index = open_index(name, DIM, home=s.home, url=s.qdrant_url, api_key=key)
        self._opened.append(index)
        return index

    @cached_property
    def signal_index(self) -> VectorIndex:
        return self.open_collection(SIGNALS_COLLECTION)

    @cached_property
    def calibration(self) -> TenantCalibration:
        """Per-tenant thresholds learned from labelled pairs; the settings' values are the defaults."""
        return TenantCalibration(self.engine, dedup_policy(self.settings))

    @cached_property
    def intake(self) -> Intake:
        from bot.index_repair import repair_index

        # Points a crash kept out of the index (after their batch was committed) are written first.
        repair_index(self.engine, self.signal_index, self.embedder)
        policy = replace(dedup_policy(self.settings), tenants=self.calibration)
        return Intake(self.engine, self.signal_index, self.embedder, policy, runbooks=self.runbook_library,
                      embed_ahead=self.settings.embed_ahead)

    @cached_property
    def config(self) -> BallastConfig:
        """The config file (routes, escalation, workspaces, ...), read and checked once per process, so
        the workers, the Slack app and the scheduler all act on the same version of it."""
        from bot.config import load_config

        return load_config(self.settings.resolved_config_file)

    @cached_property
    def runbook_index(self) -> VectorIndex:
        return self.open_collection(RUNBOOKS_COLLECTION)

    @cached_property
    def runbook_library(self) -> RunbookLibrary | None:
        """The indexed runbooks, or None when none are (a fresh data dir opens no runbook store)."""
        from retrieval.runbook_search import RunbookLibrary

        if self.settings.qdrant_url is None and not (self.settings.qdrant_path / RUNBOOKS_COLLECTION).is_dir():
            return None
        library = RunbookLibrary(self.runbook_index, self.embedder)
        return library if len(library) else None

    def index_runbooks(self, folder: Path, report: Callable[[str], None]) -> IndexReport:
        """Index a runbook folder (incrementally) and make intake and search see the result."""
        from retrieval.runbook_store import index_runbooks

        result = index_runbooks(self.runbook_index, self.embedder, folder, report)
        self.__dict__.pop("runbook_library", None)
        if "intake" in self.__dict__:
            self.intake.runbooks = self.runbook_library
        return result

    def record_runbook_outcome(self, runbook: str, succeeded: bool) -> tuple[int, int]:
        """Count how an intervention from `runbook` went (it nudges the runbook's rank); returns the totals."""
        from retrieval.runbook_store import record_outcome

        totals = record_outcome(self.runbook_index, runbook, succeeded)
        library = self.__dict__.get("runbook_library")
        if library is not None:
            library.set_feedback(runbook, totals)
        return totals

    def index_configured_runbooks(self, report: Callable[[str], None]) -> list[tuple[Path, IndexReport]]:
        """Index every folder of BALLAST_RUNBOOK_DIRS (by default the bundled runbooks); unchanged files are skipped."""
        return [(folder, self.index_runbooks(folder, report)) for folder in self.settings.runbook_folders]

    def close(self) -> None:
        stop = getattr(self.__dict__.get("embedder"), "close", None)
        if stop is not None:
            stop()  # the embedder's background thread
        for index in self._opened:
            index.close()
        self._opened.clear()
        if "engine" in self.__dict__:
            self.engine.dispose()


def build_services(settings: Settings, embedder: Embedder | None = None) -> Services:
    """Services for `settings`; tests pass a deterministic embedder instead of the model."""
    settings.home.mkdir(parents=True, exist_ok=True)
    return Services(settings, embedder)
