"""The embedder backends side by side: PyTorch float32 (the reference), PyTorch bf16, int8 ONNX.

What it measures, for each backend of retrieval/embedder.py (`sentence-transformers`,
`sentence-transformers-bf16`, `onnx`):

  spawn to ready    a fresh process from spawn until the model is loaded (interpreter, imports such as
                    torch, SHA-256 check of the weights, model load): what a CLI command pays
                    before its first embedding.
  load in-process   the `load_embedder()` call alone, inside that process.
  one at a time     texts/s embedding one text per call (the webhook path), on the first 250.
  batch 64          texts/s embedding 64 texts per call (the bulk ingest path), on all of them.
and between each backend and the float32 reference: the cosine between each text's two vectors
(min / mean), the overlap of each text's 5 nearest neighbours among the others (mean share, and
share of texts whose top-5 set is identical), and how often the two agree on whether a pair of
texts passes the dedup threshold.

How: 1,000 distinct alert and log lines from bench/ingest.py's generator, masked exactly as intake
masks them before embedding (that is the text Ballast embeds). Each backend runs in its own
subprocess (none inherits another's imports or threads); all stay loaded and take turns on
the same quarter of the texts, four rounds, so the rate ratios compare runs seconds apart on this
shared, noisy machine. Rates are totals over the rounds; ratios are the median of the per-round
ratios.

    .venv/bin/python bench/embedder.py            # 1,000 texts (about 2 minutes)
    .venv/bin/python bench/embedder.py --quick    # 300 texts
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ingest import ROOT, SignalGenerator, describe  # noqa: E402  (bench/ingest.py: the shared generator)

REFERENCE = "sentence-transformers"  # float32 PyTorch: what the others are compared with
BACKENDS = (REFERENCE, "sentence-transformers-bf16", "onnx")
PYTHON = str(ROOT / ".venv" / "bin" / "python")


def alert_texts(n: int) -> list[str]:
    from bot.intake import prepare
    from retrieval.signal import signal_from_mapping

    gen = SignalGenerator(seed=67)
    out: dict[str, None] = {}
    while len(out) < n:
        out[prepare(signal_from_mapping(gen.novel(), max_text_chars=16_000)).masked] = None
    return list(out)


def worker(backend: str, texts_path: Path) -> None:
    """Runs in the subprocess: load, say "ready", then serve timing commands from stdin."""
    from retrieval.embedder import load_embedder

    texts = json.loads(texts_path.read_text())
    t0 = time.perf_counter()
    model = load_embedder(backend)
    load_s = time.perf_counter() - t0
    print(json.dumps({"load_s": load_s}), flush=True)
    model.embed(texts[:64])  # warm-up, before the first timed command is read
    for command in sys.stdin:
        mode, *rest = command.split()
        if mode == "save":
            rows = [model.embed(texts[i:i + 64]) for i in range(0, len(texts), 64)]
            np.save(rest[0], np.concatenate(rows).astype(np.float32))
            print("{}", flush=True)
            continue
        chunk = texts[int(rest[0]):int(rest[1])]
        t0 = time.perf_counter()
        if mode == "one":
            for text in chunk:
                model.embed([text])
        else:
            for i in range(0, len(chunk), 64):
                model.embed(chunk[i:i + 64])
        print(json.dumps({"seconds": time.perf_counter() - t0, "texts": len(chunk)}), flush=True)


class Worker:
    """One backend in its own process, driven line by line so the backends can take turns."""

    def __init__(self, backend: str, texts_path: Path) -> None:
        t0 = time.perf_counter()
        self.proc = subprocess.Popen([PYTHON, __file__, "--worker", backend, str(texts_path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, cwd=ROOT)
        first = self._read(backend)
        self.spawn_ready = time.perf_counter() - t0
        self.load_s = float(first["load_s"])
        self.backend = backend

    def _read(self, backend: str) -> dict[str, float]:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"{backend} worker failed:\n{self.proc.stderr.read()[-2000:]}")
        return json.loads(line)

    def ask(self, command: str) -> dict[str, float]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._read(self.backend)

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def neighbours(vectors: np.ndarray, k: int = 5) -> np.ndarray:
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    top = np.argpartition(-sims, k, axis=1)[:, :k]
    return np.sort(top, axis=1)


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        worker(sys.argv[2], Path(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 texts instead of 1,000")
    parser.add_argument("--threshold", type=float, default=None, help="pair threshold (default: the setting)")
    args = parser.parse_args()
    n = 300 if args.quick else 1000
    if args.threshold is None:
        from bot.settings import Settings

        args.threshold = Settings().dedup_machine_threshold
    texts = alert_texts(n)
    tokens = None
    try:
        from tokenizers import Tokenizer

        from retrieval.embedder import _model_dir

        tok = Tokenizer.from_file(str(_model_dir() / "tokenizer.json"))
        tok.no_padding()
        tokens = float(np.mean([len(e.ids) for e in tok.encode_batch(texts)]))
    except Exception:  # the token count is only context for the table
        pass
    print(f"# ballast bench/embedder.py  {describe()}  "
          f"{n} masked alert/log texts" + (f", {tokens:.1f} tokens on average" if tokens else ""))

    rounds = 4
    n_one = min(n, 100 if args.quick else 250)  # one at a time is slow on the PyTorch side: a subset
    spans = {"batch": [(n * k // rounds, n * (k + 1) // rounds) for k in range(rounds)],
             "one": [(n_one * k // rounds, n_one * (k + 1) // rounds) for k in range(rounds)]}
    vectors: dict[str, np.ndarray] = {}
    totals = {(b, m): [0.0, 0] for b in BACKENDS for m in ("one", "batch")}
    ratios: dict[tuple[str, str], list[float]] = {(b, m): [] for b in BACKENDS for m in ("one", "batch")}
    with tempfile.TemporaryDirectory(prefix="ballast-embedder-") as tmp:
        texts_path = Path(tmp) / "texts.json"
        texts_path.write_text(json.dumps(texts))
        workers = {backend: Worker(backend, texts_path) for backend in BACKENDS}  # loaded one after the other
        try:
            for k in range(rounds):  # the backends take turns on the same texts, rotating who goes first
                order = BACKENDS[k % len(BACKENDS):] + BACKENDS[:k % len(BACKENDS)]
                for mode in ("one", "batch"):
                    lo, hi = spans[mode][k]
                    rate = {}
                    for backend in order:
                        r = workers[backend].ask(f"{mode} {lo} {hi}")
                        totals[(backend, mode)][0] += r["seconds"]
                        totals[(backend, mode)][1] += int(r["texts"])
                        rate[backend] = r["texts"] / r["seconds"]
                    for backend in BACKENDS:
                        ratios[(backend, mode)].append(rate[backend] / rate[REFERENCE])
            for backend in BACKENDS:
                out = Path(tmp) / f"{backend}.npy"
                workers[backend].ask(f"save {out}")
                vectors[backend] = np.load(out)
        finally:
            for w in workers.values():
                w.close()

    def rate(backend: str, mode: str) -> float:
        seconds, count = totals[(backend, mode)]
        return count / seconds

    ref = workers[REFERENCE]
    print(f"{'backend':<28}{'spawn->ready s':>15}{'load s':>8}{'one/s':>8}{'batch64/s':>10}"
          f"{'one x ref':>11}{'batch x ref':>12}")
    for backend in BACKENDS:
        w = workers[backend]
        print(f"{backend:<28}{w.spawn_ready:>15.2f}{w.load_s:>8.2f}{rate(backend, 'one'):>8.0f}"
              f"{rate(backend, 'batch'):>10.0f}{np.median(ratios[(backend, 'one')]):>11.2f}"
              f"{np.median(ratios[(backend, 'batch')]):>12.2f}")
    print(f"# one at a time on the first {n_one} texts, batch 64 on all {n}; 'x ref' = rate / {REFERENCE}'s, "
          f"median over {rounds} rotating rounds; reference spawn->ready {ref.spawn_ready:.2f} s")

    vr = vectors[REFERENCE]
    iu = np.triu_indices(len(texts), 1)
    pr = (vr @ vr.T)[iu] >= args.threshold
    nr = neighbours(vr)
    for backend in BACKENDS:
        if backend == REFERENCE:
            continue
        vb = vectors[backend]
        cos = np.sum(vb * vr, axis=1) / (np.linalg.norm(vb, axis=1) * np.linalg.norm(vr, axis=1))
        overlap = np.array([len(set(x) & set(y)) / 5 for x, y in zip(neighbours(vb), nr, strict=True)])
        pb = (vb @ vb.T)[iu] >= args.threshold
        print(f"agreement {backend} vs {REFERENCE}: cosine min {cos.min():.5f} mean {cos.mean():.5f}; "
              f"top-5 neighbours overlap mean {overlap.mean():.1%}, identical sets {np.mean(overlap == 1):.1%}; "
              f"pairs >= {args.threshold:.2f}: {int(pb.sum())} vs {int(pr.sum())}, same side {np.mean(pb == pr):.4%}")

if __name__ == "__main__":
    main()
