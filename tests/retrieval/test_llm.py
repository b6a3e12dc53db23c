"""The litellm adapter against a local OpenAI-compatible stub, replayed from vcrpy cassettes:
valid structured output, retried server errors, a request error that is not retried, malformed
output, and (live, since a timeout cannot be recorded) a model that never answers in time."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest
import vcr

from retrieval.answer import ModelAnswer
from retrieval.llm import LLMBadOutput, LLMClient, LLMConfig, LLMError, LLMTimeout, parse_json_output
from tests.fakes.openai_stub import OpenAIStub, Reply

CASSETTES = Path(__file__).resolve().parents[1] / "cassettes"
# Ports are ephemeral, so requests are matched on method and path only; keys never reach a cassette.
recorder = vcr.VCR(cassette_library_dir=str(CASSETTES), record_mode="once", match_on=["method", "path"],
                   filter_headers=["authorization", "api-key"], decode_compressed_response=True)
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "why 502?"}]
GOOD = json.dumps({"answer": "Roll back the deploy.", "citations": ["C1"], "actions": [], "confidence": 0.8})


def client(base_url: str, retries: int = 2, timeout: float = 5.0) -> LLMClient:
    return LLMClient(LLMConfig("openai/stub-model", base_url, "sk-test-not-a-real-key", timeout, retries))


def test_structured_output_is_validated(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="retrieval.llm")
    with OpenAIStub() as stub, recorder.use_cassette("llm_valid.yaml"):
        stub.replies.append(Reply(GOOD))
        llm = client(stub.base_url)
        out = llm.complete_json(MESSAGES, ModelAnswer)
    assert out.answer == "Roll back the deploy." and out.citations == ["C1"] and out.confidence == 0.8
    assert llm.last_usage is not None and llm.last_usage.prompt_tokens == 120
    assert "prompt_tokens=120 completion_tokens=30" in caplog.text


def test_server_errors_are_retried_then_reported() -> None:
    with OpenAIStub() as stub, recorder.use_cassette("llm_server_error.yaml") as cassette:
        stub.replies.extend([Reply(status=503)] * 3)
        with pytest.raises(LLMError, match="stub-model failed"):
            client(stub.base_url, retries=2).complete_json(MESSAGES, ModelAnswer)
        assert cassette.play_count == 3 or len(stub.requests) == 3


def test_a_transient_error_then_success() -> None:
    with OpenAIStub() as stub, recorder.use_cassette("llm_retry_then_ok.yaml"):
        stub.replies.extend([Reply(status=500), Reply(GOOD)])
        out = client(stub.base_url, retries=2).complete_json(MESSAGES, ModelAnswer)
    assert out.citations == ["C1"]


def test_a_bad_request_is_not_retried() -> None:
    with OpenAIStub() as stub, recorder.use_cassette("llm_bad_request.yaml") as cassette:
        stub.replies.extend([Reply(status=400), Reply(GOOD)])
        with pytest.raises(LLMError):
            client(stub.base_url, retries=2).complete_json(MESSAGES, ModelAnswer)
        assert cassette.play_count == 1 or len(stub.requests) == 1


@pytest.mark.parametrize("content", ["Sure! The answer is to roll back.", '{"citations": ["C1"]}',
                                     '{"answer": "x", "confidence": 7}'])
def test_malformed_output_is_rejected(content: str) -> None:
    with pytest.raises(LLMBadOutput):
        parse_json_output(content, ModelAnswer)


def test_malformed_output_from_the_model() -> None:
    with OpenAIStub() as stub, recorder.use_cassette("llm_malformed.yaml"):
        stub.replies.append(Reply("I think you should restart everything."))
        with pytest.raises(LLMBadOutput, match="not JSON"):
            client(stub.base_url).complete_json(MESSAGES, ModelAnswer)


def test_fenced_json_is_accepted() -> None:
    assert parse_json_output(f"```json\n{GOOD}\n```", ModelAnswer).answer == "Roll back the deploy."


def test_a_model_that_never_answers_times_out() -> None:
    with OpenAIStub() as stub:
        stub.replies.extend([Reply(GOOD, delay=3.0)] * 2)
        started = time.perf_counter()
        with pytest.raises(LLMTimeout, match="did not answer within 0.5s"):
            client(stub.base_url, retries=1, timeout=0.5).complete_json(MESSAGES, ModelAnswer)
        assert time.perf_counter() - started < 2.9


def test_only_the_adapter_imports_litellm() -> None:
    root = Path(__file__).resolve().parents[2]
    importers = sorted(str(p.relative_to(root)) for pkg in ("bot", "retrieval", "scoring", "actions")
                       for p in (root / pkg).rglob("*.py") if "import litellm" in p.read_text(encoding="utf-8"))
    assert importers == ["retrieval/llm.py"]
