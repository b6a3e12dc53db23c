"""Runbooks meet the rest of Ballast: intake stores the best runbook on new incidents, the
library stays unloaded on a fresh data dir, and the CLI prints CONTRACT.md's shapes."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.app import Services
from retrieval.embedder import CachedEmbedder
from retrieval.runbook_store import index_runbooks
from retrieval.signal import Signal
from tests.conftest import ROOT, ballast_exe, cli_env
from tests.fakes.embedder import HashEmbedder


def index_bundled(svc: Services) -> None:
    assert svc.intake.runbooks is None  # built before indexing: it must see the runbooks afterwards
    svc.index_runbooks(ROOT / "runbooks", lambda line: None)


def test_a_fresh_data_dir_loads_no_runbooks(services: Services) -> None:
    assert services.runbook_library is None
    assert not (services.settings.qdrant_path / "runbooks").exists()


def test_new_incidents_get_their_runbook(make_services: Callable[..., Services]) -> None:
    svc = make_services()
    index_bundled(svc)
    signals = [
        Signal(text="[FIRING:1] KubePodCrashLooping checkout-7d9f restarting", labels={"alertname": "KubePodCrashLooping"}),
        Signal(text="pager: something odd", annotations={"runbook_url": "https://git.example.com/runbooks/network/DNSResolutionFailures.md"}),
        Signal(text="zzqx vvbn"),
    ]
    results = svc.intake.process(signals, [1, 2, 3])
    assert [r.runbook for r in results] == ["kubernetes/KubePodCrashLooping", "network/DNSResolutionFailures", None]


def test_duplicate_titles_are_separate_runbooks(make_services: Callable[..., Services], tmp_path: Path) -> None:
    svc = make_services()
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "Same.md").write_text("---\ntitle: Same title\n---\n## Meaning\n\nText.\n")
    report = index_runbooks(svc.runbook_index, svc.embedder, tmp_path, lambda line: None)
    assert report.indexed == 2


@pytest.mark.model
def test_cli_shapes_with_the_real_model(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "home")

    def run(*args: str) -> list[dict[str, object]]:
        done = subprocess.run([ballast_exe(), *args], env=env, capture_output=True, text=True, timeout=300, check=True)
        return [json.loads(line) for line in done.stdout.splitlines()]

    assert run("runbooks", "index", str(ROOT / "runbooks"), "--json")[0]["indexed"] >= 15
    found = run("runbooks", "search", "the TLS certificate on the ingress expires in 3 days", "--top", "3", "--json")[0]
    assert set(found) == {"query", "matches"} and len(found["matches"]) == 3  # type: ignore[arg-type]
    assert found["matches"][0] == {**found["matches"][0], "runbook": "network/CertificateExpiringSoon"}  # type: ignore[index]
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"id": "a", "text": "replica lag is growing on the orders database"}\n'
                       '{"id": 2, "text": "queue backlog keeps growing, consumers are slow"}\n')
    lines = run("runbooks", "search", "--queries", str(queries), "--top", "2", "--json")
    assert [line["id"] for line in lines] == ["a", 2]
    assert lines[0]["matches"][0]["runbook"] == "database/DatabaseReplicationLag"  # type: ignore[index]
    assert lines[1]["matches"][0]["runbook"] == "messaging/QueueBacklogGrowing"  # type: ignore[index]
    answer = run("ask", "why are pods in CrashLoopBackOff?", "--json")[0]
    assert set(answer) >= {"answer", "citations", "model"} and answer["model"] is None
    assert answer["citations"][0]["runbook"] == "kubernetes/KubePodCrashLooping"  # type: ignore[index]


def test_outcomes_recorded_through_services_reach_the_loaded_library(make_services: Callable[..., Services]) -> None:
    svc = make_services()
    index_bundled(svc)
    library = svc.runbook_library
    assert library is not None
    assert svc.record_runbook_outcome("kubernetes/KubePodCrashLooping", succeeded=True) == (1, 0)
    assert svc.record_runbook_outcome("kubernetes/KubePodCrashLooping", succeeded=False) == (1, 1)
    assert library.feedback["kubernetes/KubePodCrashLooping"] == (1, 1)


def test_one_alert_firing_on_many_hosts_costs_one_runbook_embedding(make_services: Callable[..., Services]) -> None:
    model = HashEmbedder()
    cached = CachedEmbedder()
    cached._model = model  # the real cache in front of a deterministic model
    svc = make_services(cached)
    index_bundled(svc)
    signals = [Signal(text=f"volume /data on 10.0.{i}.7 is {90 + i % 9}% full, {i * 37} MiB left",
                      source="alertmanager", labels={"alertname": "VolumeFillingUp", "instance": f"10.0.{i}.7"})
               for i in range(40)]
    library = svc.runbook_library
    assert library is not None and library.named(signals[0].text, None, signals[0].labels, {}) is None  # ranked, not named
    before = model.texts_embedded
    results = svc.intake.process(signals, list(range(40)))
    assert [r.decision for r in results] == ["new"] * 40  # 40 hosts, 40 incidents, each matched to a runbook
    assert len({r.runbook for r in results}) == 1
    # The masked text for dedup, and one runbook query (the first host's text), not one per host.
    assert model.texts_embedded - before == 2
