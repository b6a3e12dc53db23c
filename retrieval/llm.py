"""The one adapter to language models (litellm): timeouts, bounded retries on transient errors only,
token and cost usage logged, and JSON output validated against a pydantic model.

Vendor exceptions never leave this module: callers get `LLMError` (or its `LLMTimeout` and
`LLMBadOutput` children) and fall back to extractive answers.

Every finished call (and every fallback a caller reports) goes to an `LLMObserver`: by default the
process-wide `OBSERVERS` hub, which the edge subscribes to (bot/metrics.py turns the events into
Prometheus series), so this package never imports the edge.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import weakref
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from retrieval.errors import RetrievalError

log = logging.getLogger(__name__)
Model = TypeVar("Model", bound=BaseModel)
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)


class LLMError(RetrievalError):
    """The model could not give a usable answer (unreachable, refused, or failed)."""


class LLMTimeout(LLMError):
    """The model did not answer within the configured timeout, retries included."""


class LLMBadOutput(LLMError):
    """The model answered, but not with JSON of the required shape."""


@dataclass(frozen=True)
class LLMConfig:
    model: str
    api_base: str | None = None
    api_key: str | None = None
    timeout: float = 20.0
    retries: int = 2


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None


Outcome = Literal["ok", "timeout", "error", "invalid_output"]


@dataclass(frozen=True)
class LLMCall:
    """One finished model call: how it ended, how long it took (retries included), what it used.

    `usage` is known whenever the model answered, even when the answer was not valid output.
    """

    model: str
    outcome: Outcome
    seconds: float
    usage: Usage | None = None


class LLMObserver(Protocol):
    """Receives model calls and fallbacks; must be quick and must not raise (errors are logged, not passed on)."""

    def llm_call(self, call: LLMCall) -> None: ...

    def llm_fallback(self, model: str) -> None: ...


class LLMObservers:
    """Fan-out to subscribed observers, held weakly: an observer that is dropped stops receiving."""

    def __init__(self) -> None:
        self._observers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._lock = threading.Lock()

    def subscribe(self, observer: LLMObserver) -> None:
        with self._lock:
            self._observers.add(observer)

    def unsubscribe(self, observer: LLMObserver) -> None:
        with self._lock:
            self._observers.discard(observer)

    def __contains__(self, observer: object) -> bool:
        with self._lock:
            return observer in self._observers

    def _each(self) -> list[LLMObserver]:
        with self._lock:
            return list(self._observers)

    def llm_call(self, call: LLMCall) -> None:
        for observer in self._each():
            try:
                observer.llm_call(call)
            except Exception:  # metrics must never cost an answer
                log.exception("an LLM observer failed on a call event")

    def llm_fallback(self, model: str) -> None:
        for observer in self._each():
            try:
                observer.llm_fallback(model)
            except Exception:
                log.exception("an LLM observer failed on a fallback event")


OBSERVERS = LLMObservers()  # the process's hub, like logging's handlers: the edge subscribes its metrics here


def _litellm() -> Any:
    # The cost map would otherwise be fetched from the internet at import time.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.suppress_debug_info = True
    litellm.telemetry = False
    return litellm


def _transient(litellm: Any) -> tuple[type[BaseException], ...]:
    names = ("Timeout", "APIConnectionError", "RateLimitError", "ServiceUnavailableError", "InternalServerError")
    return tuple(getattr(litellm.exceptions, n) for n in names if hasattr(litellm.exceptions, n))


def parse_json_output(content: str | None, schema: type[Model]) -> Model:
    """The model's text as `schema`; code fences are tolerated, anything else is LLMBadOutput."""
    if not content or not content.strip():
        raise LLMBadOutput("the model returned an empty answer")
    fenced = _FENCE.match(content)
    raw = fenced.group(1) if fenced else content.strip()
    try:
        return schema.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise LLMBadOutput(f"the model's answer is not JSON ({exc.msg} at {exc.pos})") from exc
    except ValidationError as exc:
        raise LLMBadOutput(f"the model's JSON does not match the answer schema: {exc.error_count()} errors") from exc


class LLMClient:
    """Chat completions through litellm for one configured model."""

    def __init__(self, config: LLMConfig, observer: LLMObserver | None = None) -> None:
        self.config = config
        self.observer: LLMObserver = observer if observer is not None else OBSERVERS
        self.last_usage: Usage | None = None

    def _call(self, messages: list[dict[str, str]]) -> Any:
        from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

        litellm = _litellm()
        c = self.config
        retrying = Retrying(
            stop=stop_after_attempt(c.retries + 1),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception_type(_transient(litellm)),
            reraise=True,
        )
        for attempt in retrying:
            with attempt:
                return litellm.completion(
                    model=c.model, messages=messages, api_base=c.api_base, api_key=c.api_key,
                    timeout=c.timeout, temperature=0, max_retries=0,
                )
        raise LLMError("the model call was never attempted")  # unreachable: Retrying always runs once

    def complete_json(self, messages: list[dict[str, str]], schema: type[Model]) -> Model:
        """Send `messages`, return the reply parsed and validated as `schema`; the observer hears how it went."""
        litellm = _litellm()
        started = time.perf_counter()
        self.last_usage = None
        outcome: Outcome = "error"
        try:
            try:
                response = self._call(messages)
            except litellm.exceptions.Timeout as exc:
                outcome = "timeout"
                raise LLMTimeout(f"{self.config.model} did not answer within {self.config.timeout:g}s") from exc
            except Exception as exc:  # every vendor error becomes ours, with its class name for the log
                raise LLMError(f"{self.config.model} failed: {type(exc).__name__}: {str(exc)[:200]}") from exc
            self.last_usage = self._log_usage(litellm, response)
            outcome = "invalid_output"
            try:
                content = response.choices[0].message.content
            except (AttributeError, IndexError) as exc:
                raise LLMBadOutput("the model's response has no message") from exc
            parsed = parse_json_output(content, schema)
            outcome = "ok"
            return parsed
        finally:
            call = LLMCall(self.config.model, outcome, time.perf_counter() - started, self.last_usage)
            try:
                self.observer.llm_call(call)
            except Exception:  # an observer given directly is guarded like the hub's
                log.exception("the LLM observer failed on a call event")

    def fell_back(self) -> None:
        """The caller answered without the model after this client failed (an extractive answer)."""
        try:
            self.observer.llm_fallback(self.config.model)
        except Exception:
            log.exception("the LLM observer failed on a fallback event")

    def _log_usage(self, litellm: Any, response: Any) -> Usage:
        usage = getattr(response, "usage", None)
        prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
        completion = int(getattr(usage, "completion_tokens", 0) or 0)
        try:
            cost: float | None = float(litellm.completion_cost(completion_response=response))
        except Exception:  # unknown models have no price in the local cost map
            cost = None
        log.info("llm model=%s prompt_tokens=%d completion_tokens=%d cost_usd=%s",
                 self.config.model, prompt, completion, "unknown" if cost is None else f"{cost:.6f}")
        return Usage(prompt, completion, cost)
