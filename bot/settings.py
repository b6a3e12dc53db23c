"""The one place that reads the environment: a frozen settings object built once at start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Ballast's configuration (CONTRACT.md's env table); `--data-dir` overrides `BALLAST_HOME`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True, populate_by_name=True
    )

    home: Path = Field(default=Path(".ballast"), alias="BALLAST_HOME")
    database_url: str | None = Field(default=None, alias="BALLAST_DATABASE_URL")
    qdrant_url: str | None = Field(default=None, alias="BALLAST_QDRANT_URL")
    qdrant_api_key: SecretStr | None = Field(default=None, alias="BALLAST_QDRANT_API_KEY")
    llm_model: str | None = Field(default=None, alias="BALLAST_LLM_MODEL")
    llm_api_base: str | None = Field(default=None, alias="BALLAST_LLM_API_BASE")
    llm_api_key: SecretStr | None = Field(default=None, alias="BALLAST_LLM_API_KEY")
    # Seconds one model call may take, and how many times a transient failure is retried.
    llm_timeout: float = Field(default=20.0, gt=0, alias="BALLAST_LLM_TIMEOUT")
    llm_retries: int = Field(default=2, ge=0, le=5, alias="BALLAST_LLM_RETRIES")
    prometheus_url: str | None = Field(default=None, alias="BALLAST_PROMETHEUS_URL")
    config_file: Path | None = Field(default=None, alias="BALLAST_CONFIG")
    slack_bot_token: SecretStr | None = Field(default=None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(default=None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(default=None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field(default="https://slack.com/api/", alias="SLACK_API_URL")
    api_keys: SecretStr | None = Field(default=None, alias="BALLAST_API_KEYS")
    # Slack: channel ids whose top-level messages become signals (comma-separated), the tenant
    # of each workspace ("T0123=acme,T0456=beta"; others get "default"), and the listener threads.
    slack_intake_channels: str = Field(default="", alias="BALLAST_SLACK_INTAKE_CHANNELS")
    slack_tenants: str = Field(default="", alias="BALLAST_SLACK_TENANTS")
    slack_workers: int = Field(default=64, ge=4, le=512, alias="BALLAST_SLACK_WORKERS")
    # Seconds repeats of one incident are gathered before they are posted as one thread reply.
    slack_thread_window: float = Field(default=10.0, ge=0, le=3600, alias="BALLAST_SLACK_THREAD_WINDOW")
    # Days finished work rows (processed inbox entries, shown Slack notices, ended escalation
    # timers) are kept before `ballast serve` deletes them; 0 keeps them forever. Incidents and
    # signals are never deleted. At least 1: a deleted timer must not be armed again.
    retention_days: int = Field(default=14, ge=0, alias="BALLAST_RETENTION_DAYS")

    # Embedding backend (retrieval/embedder.py): "auto" (`ballast serve` on a CPU with AMX-BF16:
    # "onnx+bf16"; everything else: "onnx"), "onnx" (int8 export on onnxruntime: fastest start),
    # "sentence-transformers" (float32 PyTorch, the reference), "sentence-transformers-bf16", or
    # "onnx+bf16" (ONNX for small batches, bf16 for big ones). bench/embedder.py measures them.
    embedder: Literal["auto", "onnx", "sentence-transformers", "sentence-transformers-bf16", "onnx+bf16"] = Field(
        default="auto", alias="BALLAST_EMBEDDER")
    # Dedup thresholds per kind of source, on the pair score of retrieval/dedup.py. Machine: the
    # share of equal template positions (Drain's similarity; alerts score 0 or 1), flat from 0.5
    # to 0.75 on the dev logs, so 0.70. Human: 0.5 cosine + 0.5 IDF term overlap + cues -
    # staleness, a narrow optimum at 0.25 on the dev chat reports. `python -m bench.calibrate`.
    dedup_machine_threshold: float = Field(default=0.70, alias="BALLAST_DEDUP_MACHINE_THRESHOLD")
    dedup_machine_candidate: float = Field(default=0.50, alias="BALLAST_DEDUP_MACHINE_CANDIDATE")
    dedup_human_threshold: float = Field(default=0.25, alias="BALLAST_DEDUP_HUMAN_THRESHOLD")
    dedup_human_candidate: float = Field(default=0.15, alias="BALLAST_DEDUP_HUMAN_CANDIDATE")
    # Longest text kept per signal, in characters; longer text is cut and the output says so.
    max_text_chars: int = Field(default=16_000, alias="BALLAST_MAX_TEXT_CHARS")
    ingest_batch: int = Field(default=256, alias="BALLAST_INGEST_BATCH")
    # Embed the next batch's new texts on a background thread while this batch's SQL runs. Off by
    # default: on 2 cores the one-core model plus SQL measured slower than embedding in line
    # (bench/ingest.py prints both); it pays where cores are otherwise idle.
    embed_ahead: bool = Field(default=False, alias="BALLAST_EMBED_AHEAD")
    # `ballast serve` (docs/http.md): the request body cap in bytes; the inbox backlog (pending
    # signals) past which webhooks answer 503 + Retry-After; worker threads, signals per worker
    # batch, and how long a claimed batch stays leased before another process may take it over.
    http_max_body: int = Field(default=4 * 1024 * 1024, gt=0, alias="BALLAST_HTTP_MAX_BODY")
    queue_max: int = Field(default=50_000, gt=0, alias="BALLAST_QUEUE_MAX")
    workers: int = Field(default=2, ge=1, le=32, alias="BALLAST_WORKERS")
    worker_batch: int = Field(default=16, ge=1, le=1000, alias="BALLAST_WORKER_BATCH")
    inbox_lease_seconds: float = Field(default=60.0, gt=0, alias="BALLAST_INBOX_LEASE_SECONDS")
    # SQLite only: FULL fsyncs the inbox commit behind every 2xx (survives power loss); NORMAL
    # survives a crash of the process but an OS crash may drop the last acknowledged alerts.
    sqlite_ack_synchronous: Literal["FULL", "NORMAL"] = Field(default="FULL", alias="BALLAST_SQLITE_ACK_SYNCHRONOUS")

    # Runbook folders that `ballast demo` and `ballast serve` index at start (os.pathsep-separated);
    # unset: the runbooks bundled with Ballast.
    runbook_dirs: str | None = Field(default=None, alias="BALLAST_RUNBOOK_DIRS")

    @property
    def runbook_folders(self) -> list[Path]:
        if self.runbook_dirs:
            return [Path(p) for p in self.runbook_dirs.split(os.pathsep) if p.strip()]
        from retrieval.assets import bundled_runbooks

        return [bundled_runbooks()]

    @property
    def slack_enabled(self) -> bool:
        """Slack is configured: a bot token and a signing secret."""
        return self.slack_bot_token is not None and self.slack_signing_secret is not None

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.home / 'ballast.db'}"

    @property
    def qdrant_path(self) -> Path:
        return self.home / "qdrant"

    @property
    def resolved_config_file(self) -> Path | None:
        if self.config_file is not None:
            return self.config_file
        default = Path("ballast.yaml")
        return default if default.exists() else None


def for_workload(settings: Settings, *, long_running: bool = False, bulk: bool = False,
                 native_bf16: bool | None = None) -> Settings:
    """`settings` with BALLAST_EMBEDDER=auto made concrete for a server (`long_running`) or a big
    input (`bulk`): both pay PyTorch's slower start back, so the backend with the fastest batches
    wins (retrieval/embedder.py has the measurements). Other settings, and a named backend, stay."""
    if settings.embedder != "auto" or not (long_running or bulk):
        return settings
    from retrieval.embedder import resolve_backend

    backend = resolve_backend("auto", native_bf16, long_running=long_running, bulk=bulk)
    return settings.model_copy(update={"embedder": backend})


def load_settings(data_dir: Path | None = None) -> Settings:
    """Build settings from the environment and `.env`; an explicit data dir wins over BALLAST_HOME."""
    if data_dir is not None:
        return Settings(BALLAST_HOME=data_dir)
    return Settings()
