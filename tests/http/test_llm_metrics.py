"""Model calls in /metrics: each outcome of a call (replayed from cassettes) moves its own series, a failed
call that ends in an extractive answer counts as a fallback, and the served app exposes all of it."""

from __future__ import annotations

import gc
import json
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
import vcr
from fastapi.testclient import TestClient
from pydantic import SecretStr

from bot.app import Services
from bot.metrics import Metrics
from retrieval.answer import ModelAnswer, answer_question
from retrieval.llm import (OBSERVERS, LLMBadOutput, LLMCall, LLMClient, LLMConfig, LLMError, LLMObservers, LLMTimeout,
                           Usage)
from tests.fakes.openai_stub import OpenAIStub, Reply

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
recorder = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="once", match_on=["method", "path"],
                   filter_headers=["authorization", "api-key"], decode_compressed_response=True)
MODEL = "openai/stub-model"
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "why 502?"}]
GOOD = json.dumps({"answer": "Roll back the deploy.", "citations": ["C1"], "actions": [], "confidence": 0.8})
OUTCOMES = ("ok", "timeout", "error", "invalid_output")


def sample(metrics: Metrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def calls(metrics: Metrics) -> dict[str, float]:
    return {o: sample(metrics, "ballast_llm_calls_total", model=MODEL, outcome=o) for o in OUTCOMES}


@pytest.mark.parametrize(("cassette", "replies", "retries", "raised", "outcome", "tokens"), [
    ("llm_valid.yaml", [Reply(GOOD)], 2, None, "ok", (120, 30)),
    ("llm_retry_then_ok.yaml", [Reply(status=500), Reply(GOOD)], 2, None, "ok", (120, 30)),
    ("llm_server_error.yaml", [Reply(status=503)] * 3, 2, LLMError, "error", (0, 0)),
    ("llm_bad_request.yaml", [Reply(status=400)], 2, LLMError, "error", (0, 0)),
    ("llm_malformed.yaml", [Reply("I think you should restart everything.")], 2, LLMBadOutput, "invalid_output",
     (120, 30)),
])
def test_each_outcome_moves_its_own_counter(cassette: str, replies: list[Reply], retries: int,
                                            raised: type[Exception] | None, outcome: str,
                                            tokens: tuple[int, int]) -> None:
    metrics = Metrics(llm_hub=LLMObservers())
    with OpenAIStub() as stub, recorder.use_cassette(cassette):
        stub.replies.extend(replies)
        client = LLMClient(LLMConfig(MODEL, stub.base_url, "sk-test-not-a-real-key", 5.0, retries), metrics.llm)
        if raised is None:
            client.complete_json(MESSAGES, ModelAnswer)
        else:
            with pytest.raises(raised):
                client.complete_json(MESSAGES, ModelAnswer)
    assert calls(metrics) == {o: 1.0 if o == outcome else 0.0 for o in OUTCOMES}
    assert sample(metrics, "ballast_llm_tokens_total", model=MODEL, kind="prompt") == tokens[0]
    assert sample(metrics, "ballast_llm_tokens_total", model=MODEL, kind="completion") == tokens[1]
    assert sample(metrics, "ballast_llm_call_seconds_count", model=MODEL) == 1.0
    assert sample(metrics, "ballast_llm_fallbacks_total", model=MODEL) == 0.0


def test_a_timeout_is_its_own_outcome() -> None:
    """Live against the stub: a timeout cannot be recorded in a cassette."""
    metrics = Metrics(llm_hub=LLMObservers())
    with OpenAIStub() as stub:
        stub.replies.append(Reply(GOOD, delay=3.0))
        client = LLMClient(LLMConfig(MODEL, stub.base_url, "sk-test-not-a-real-key", 0.5, 0), metrics.llm)
        with pytest.raises(LLMTimeout):
            client.complete_json(MESSAGES, ModelAnswer)
    assert calls(metrics) == {o: 1.0 if o == "timeout" else 0.0 for o in OUTCOMES}
    assert sample(metrics, "ballast_llm_tokens_total", model=MODEL, kind="prompt") == 0.0


def test_cost_is_counted_when_litellm_prices_the_model() -> None:
    metrics = Metrics(llm_hub=LLMObservers())
    metrics.llm.llm_call(LLMCall("gpt-4o-mini", "ok", 0.2, usage=None))
    metrics.llm.llm_call(LLMCall("gpt-4o-mini", "ok", 0.3, Usage(1000, 200, 0.0012)))
    metrics.llm.llm_call(LLMCall("local/unpriced", "ok", 0.3, Usage(10, 2, None)))
    assert sample(metrics, "ballast_llm_cost_usd_total", model="gpt-4o-mini") == pytest.approx(0.0012)
    assert sample(metrics, "ballast_llm_cost_usd_total", model="local/unpriced") == 0.0
    assert sample(metrics, "ballast_llm_tokens_total", model="local/unpriced", kind="prompt") == 10.0
    assert sample(metrics, "ballast_llm_call_seconds_sum", model="gpt-4o-mini") == pytest.approx(0.5)


def test_a_failing_observer_never_costs_the_answer() -> None:
    class Broken:
        def llm_call(self, call: LLMCall) -> None:
            raise RuntimeError("metrics backend down")

        def llm_fallback(self, model: str) -> None:
            raise RuntimeError("metrics backend down")

    hub, broken, metrics = LLMObservers(), Broken(), Metrics(llm_hub=LLMObservers())
    hub.subscribe(broken)
    hub.subscribe(metrics.llm)
    with OpenAIStub() as stub, recorder.use_cassette("llm_valid.yaml"):
        stub.replies.append(Reply(GOOD))
        out = LLMClient(LLMConfig(MODEL, stub.base_url, "sk-test", 5.0, 0), hub).complete_json(MESSAGES, ModelAnswer)
    assert out.answer == "Roll back the deploy."
    assert calls(metrics)["ok"] == 1.0  # the observer after the broken one still heard it
    with OpenAIStub() as stub, recorder.use_cassette("llm_valid.yaml"):
        stub.replies.append(Reply(GOOD))
        direct = LLMClient(LLMConfig(MODEL, stub.base_url, "sk-test", 5.0, 0), broken)
        assert direct.complete_json(MESSAGES, ModelAnswer).answer == "Roll back the deploy."
        direct.fell_back()


def test_an_unsubscribed_metrics_object_stops_listening() -> None:
    hub = LLMObservers()
    metrics = Metrics(llm_hub=hub)
    hub.llm_fallback(MODEL)
    assert sample(metrics, "ballast_llm_fallbacks_total", model=MODEL) == 1.0
    hub.unsubscribe(metrics.llm)
    hub.llm_fallback(MODEL)
    assert sample(metrics, "ballast_llm_fallbacks_total", model=MODEL) == 1.0


def test_the_hub_holds_observers_weakly() -> None:
    hub = LLMObservers()
    metrics = Metrics(llm_hub=hub)
    listener = weakref.ref(metrics.llm)
    assert metrics.llm in hub
    del metrics
    gc.collect()
    assert listener() is None  # an app's metrics die with the app, not with the process
    hub.llm_fallback(MODEL)


def runbook_dir(tmp_path: Path) -> Path:
    root = tmp_path / "runbooks"
    root.mkdir()
    (root / "DiskFull.md").write_text("# Disk full\n\n## Mitigation\n\nDelete old logs under /var/log and expand "
                                      "the volume.\n", encoding="utf-8")
    return root


@pytest.mark.parametrize(("cassette", "replies", "mode", "outcome", "fallbacks"), [
    ("llm_valid.yaml", [Reply(GOOD)], "llm", "ok", 0.0),
    ("llm_bad_request.yaml", [Reply(status=400)], "extractive", "error", 1.0),
])
def test_metrics_route_shows_answers_through_the_served_app(
        make_client: Callable[..., TestClient], make_services: Callable[..., Services], tmp_path: Path,
        cassette: str, replies: list[Reply], mode: str, outcome: str, fallbacks: float) -> None:
    with OpenAIStub() as stub, recorder.use_cassette(cassette):
        stub.replies.extend(replies)
        services = make_services(llm_model=MODEL, llm_api_base=stub.base_url, llm_retries=0,
                                 llm_api_key=SecretStr("sk-test-not-a-real-key"),
                                 runbook_dirs=str(runbook_dir(tmp_path)))
        services.index_configured_runbooks(lambda line: None)
        client = make_client(services=services)  # its Metrics subscribe to the process's hub
        assert "ballast_llm_calls_total" in client.get("/metrics").text
        out = answer_question(services, "the disk is full, how do I free space?")  # the Slack bot's call
    assert out.mode == mode
    body = client.get("/metrics").text
    assert f'ballast_llm_calls_total{{model="{MODEL}",outcome="{outcome}"}} 1.0' in body
    assert (f'ballast_llm_fallbacks_total{{model="{MODEL}"}} 1.0' in body) == (fallbacks == 1.0)
    assert f'ballast_llm_call_seconds_count{{model="{MODEL}"}} 1.0' in body
    if outcome == "ok":
        assert f'ballast_llm_tokens_total{{kind="prompt",model="{MODEL}"}} 120.0' in body
        assert f'ballast_llm_tokens_total{{kind="completion",model="{MODEL}"}} 30.0' in body
    assert "sk-test" not in body
    assert client.app.state.metrics.llm in OBSERVERS  # type: ignore[attr-defined]
