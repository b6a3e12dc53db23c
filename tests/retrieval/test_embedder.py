"""The embedder: batching, the cache in front of the model, and the real backends agreeing."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import pytest

from retrieval.embedder import (
    BATCH_CHARS,
    BATCH_TEXTS,
    BULK_TEXTS,
    MAX_TOKENS,
    BatchRoutedMiniLM,
    CachedEmbedder,
    OnnxMiniLM,
    SentenceTransformerMiniLM,
    _batches,
    has_native_bf16,
    resolve_backend,
)
from retrieval.errors import ModelUnavailable


class CountingModel:
    name = "counting"
    dim = 384

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.seen.append(list(texts))
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i, len(text) % self.dim] = 1.0
        return rows


def cached(model: CountingModel) -> CachedEmbedder:
    embedder = CachedEmbedder()
    embedder._model = model
    return embedder


def test_batches_keep_every_key_once_within_both_budgets() -> None:
    texts = {bytes([i % 256, i // 256]): "x" * (10 + (i * 37) % 3000) for i in range(500)}
    keys = sorted(texts, key=lambda k: len(texts[k]))
    batches = _batches(keys, texts)
    assert [k for b in batches for k in b] == keys
    assert all(len(b) <= BATCH_TEXTS for b in batches)
    # Text past the model's 256 tokens is cut by the tokenizer, so it counts only up to that.
    counted = {k: min(len(t), MAX_TOKENS * 6) for k, t in texts.items()}
    assert all(len(b) == 1 or sum(counted[k] for k in b) <= BATCH_CHARS for b in batches)


def test_repeats_cost_no_model_call_and_order_is_kept() -> None:
    model = CountingModel()
    embedder = cached(model)
    first = embedder.embed(["a", "bbb", "a"])
    assert sum(len(b) for b in model.seen) == 2  # "a" embedded once
    again = embedder.embed(["bbb", "a"])
    assert sum(len(b) for b in model.seen) == 2  # both from the cache
    assert np.array_equal(again[0], first[1]) and np.array_equal(again[1], first[0])


class GatedModel(CountingModel):
    """Blocks inside `embed` until released, so a test can see a prefetch still in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.entered.set()
        assert self.release.wait(10), "the test never released the model"
        return super().embed(texts)


def test_prefetch_runs_in_the_background_and_embed_waits_for_it_instead_of_recomputing() -> None:
    model = GatedModel()
    embedder = cached(model)
    embedder.prefetch(["alpha", "beta", "alpha"])
    assert model.entered.wait(10)  # the model runs on another thread while this one goes on
    assert model.seen == []
    result: list[np.ndarray] = []
    waiter = threading.Thread(target=lambda: result.append(embedder.embed(["beta", "gamma", "alpha"])))
    waiter.start()
    model.release.set()
    waiter.join(10)
    embedder.close()
    assert not waiter.is_alive()
    # "alpha" and "beta" came from the prefetch, only "gamma" was computed for the embed call.
    assert sorted(t for batch in model.seen for t in batch) == ["alpha", "beta", "gamma"]
    reference = CountingModel().embed(["beta", "gamma", "alpha"])
    assert np.array_equal(result[0], reference)


def test_prefetch_of_cached_or_in_flight_texts_calls_no_model() -> None:
    model = CountingModel()
    embedder = cached(model)
    embedder.embed(["one"])
    embedder.prefetch(["one"])
    embedder.prefetch(["two"])
    embedder.prefetch(["two"])
    embedder.embed(["two"])
    embedder.close()
    assert sorted(t for batch in model.seen for t in batch) == ["one", "two"]


class FailingOnce(CountingModel):
    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not self.failed:
            self.failed = True
            raise ModelUnavailable("model file missing")
        return super().embed(texts)


def test_a_failed_prefetch_is_not_kept_and_the_next_embed_computes_the_text_again() -> None:
    model = FailingOnce()
    embedder = cached(model)
    embedder.prefetch(["x"])
    embedder.close()  # waits for the background work, which failed
    assert model.failed and model.seen == []
    assert np.array_equal(embedder.embed(["x"]), CountingModel().embed(["x"]))
    assert model.seen == [["x"]]


def test_unknown_backend_is_a_clear_error() -> None:
    with pytest.raises(ModelUnavailable, match="BALLAST_EMBEDDER='word2vec' is unknown: use one of auto, onnx"):
        CachedEmbedder("word2vec").embed(["x"])


class Bulk(CountingModel):
    name = "bulk"


def test_small_batches_go_to_onnx_and_big_ones_to_bf16_once_it_has_loaded(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    small, bulk = CountingModel(), Bulk()

    def load() -> Bulk:
        release.wait(10)
        return bulk

    routed = BatchRoutedMiniLM(small, load)
    big = [f"text {i}" for i in range(BULK_TEXTS)]
    routed.embed(big)  # still loading: ONNX takes everything
    assert small.seen == [big] and bulk.seen == []
    release.set()
    assert routed.wait_loaded(10)
    routed.embed(big[:BULK_TEXTS - 1])
    routed.embed(big)
    assert small.seen == [big, big[:BULK_TEXTS - 1]] and bulk.seen == [big]

    def broken() -> Bulk:
        raise ModelUnavailable("model file missing")

    only_small = CountingModel()
    fallback = BatchRoutedMiniLM(only_small, broken)
    assert not fallback.wait_loaded(10)
    fallback.embed(big)
    assert only_small.seen == [big]
    assert "embedding with ONNX only" in caplog.text


CPUINFO = "processor\t: 0\nmodel name\t: Intel(R) Xeon(R)\nflags\t\t: fpu sse2 avx512f avx512_vnni {extra}\n"


def test_native_bf16_is_read_from_the_cpu_flags() -> None:
    assert has_native_bf16(CPUINFO.format(extra="amx_tile amx_bf16 amx_int8"))
    assert not has_native_bf16(CPUINFO.format(extra="avx512_bf16"))  # bf16 dot products, no AMX tiles
    assert not has_native_bf16(CPUINFO.format(extra="amx_bf16x"))  # whole flags only
    assert not has_native_bf16("no flags line at all")


def test_auto_picks_bf16_pytorch_only_for_a_server_on_a_cpu_that_runs_bf16_natively() -> None:
    assert resolve_backend("auto", native_bf16=True, long_running=True) == "onnx+bf16"
    assert resolve_backend("auto", native_bf16=False, long_running=True) == "onnx"
    assert resolve_backend("auto", native_bf16=True) == "onnx"  # a CLI command: the quick start wins
    assert resolve_backend("auto", native_bf16=True, bulk=True) == "sentence-transformers-bf16"  # a big input
    assert resolve_backend("auto", native_bf16=False, bulk=True) == "onnx"
    for named in ("onnx", "sentence-transformers", "sentence-transformers-bf16", "onnx+bf16"):
        for native in (True, False):
            assert resolve_backend(named, native_bf16=native) == named
            assert resolve_backend(named, native_bf16=native, long_running=True) == named


@pytest.mark.model
def test_onnx_backend_gives_unit_vectors_that_rank_paraphrases_first() -> None:
    model = OnnxMiniLM()
    rows = model.embed(["disk almost full on node-3", "node-3 is running out of disk space",
                        "certificate expired for api.example.com"])
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    assert rows[0] @ rows[1] > rows[0] @ rows[2] + 0.2


@pytest.mark.model
def test_bf16_autocast_stays_within_cosine_0_9999_of_the_float32_reference() -> None:
    texts = ["disk almost full on node-3", "node-3 is running out of disk space",
             "certificate expired for api.example.com",
             "Connection refused to postgres primary db-<num> port <num> after <num> retries"] * 20
    reference = SentenceTransformerMiniLM().embed(texts)
    bf16 = SentenceTransformerMiniLM(bf16=True)
    rows = bf16.embed(texts)
    assert bf16.name.endswith("sentence-transformers-bf16")
    assert rows.dtype == np.float32 and rows.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-4)
    assert float(np.min(np.sum(rows * reference, axis=1))) > 0.9999
    assert float(np.max(np.abs(rows - reference))) > 1e-5  # autocast did run in bf16


@pytest.mark.model
def test_the_routed_backend_gives_the_same_vectors_whichever_side_embeds() -> None:
    routed = BatchRoutedMiniLM()
    assert routed.wait_loaded(120)
    texts = [f"disk almost full on node-{i}, {i * 3}% left on /var/lib/postgresql" for i in range(BULK_TEXTS)]
    by_bulk = routed.embed(texts)
    by_small = np.vstack([routed.embed([t]) for t in texts])
    assert float(np.min(np.sum(by_bulk * by_small, axis=1))) > 0.999
    assert float(np.max(np.abs(by_bulk - by_small))) > 0  # two engines did embed
