"""Drain baseline for log dedup: drain3's template miner against Ballast on the same data, same run.

Each system file (`dedup/<System>.jsonl`, lines `{"line_id", "text", "cluster"}`) is clustered
three ways: drain3 with its default configuration, drain3 with the usual masking of numbers,
addresses and hex ids, and Ballast itself through `ballast ingest` in a fresh data dir. Each is
scored with pairwise precision, recall and F1 against `cluster`, and the table is printed.

    python bench/drain_baseline.py [DATA_DIR] [--systems HDFS,Spark]   (DATA_DIR: ../shared/eval/dev)

The data is read where it lies and never copied into the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from drain3 import TemplateMiner
from drain3.masking import MaskingInstruction
from drain3.template_miner_config import TemplateMinerConfig

# drain3's documented masking examples: addresses, hex, and numbers standing alone.
_MASKS = (
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
)


def pairwise(gold: Sequence[str], predicted: Sequence[object]) -> tuple[float, float, float]:
    """Pairwise precision, recall and F1 of a clustering against gold labels."""
    def pairs(counts: Counter[object]) -> int:
        return sum(n * (n - 1) // 2 for n in counts.values())

    together = pairs(Counter(zip(gold, predicted, strict=True)))
    predicted_pairs, gold_pairs = pairs(Counter(predicted)), pairs(Counter(gold))
    precision = together / predicted_pairs if predicted_pairs else 1.0
    recall = together / gold_pairs if gold_pairs else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def drain_clusters(texts: Sequence[str], *, masked: bool) -> list[int]:
    """drain3 cluster ids for a stream of lines (defaults: depth 4, similarity 0.4)."""
    config = TemplateMinerConfig()
    if masked:
        config.masking_instructions = [MaskingInstruction(pattern, name) for pattern, name in _MASKS]
    miner = TemplateMiner(config=config)
    return [int(miner.add_log_message(text)["cluster_id"]) for text in texts]


def _ballast_command() -> list[str]:
    script = Path(sys.executable).with_name("ballast")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from bot.cli import main; main()"]


def ballast_clusters(system: str, rows: Sequence[dict[str, object]]) -> list[object]:
    """Ballast's incident ids for the lines, through `ballast ingest` in a fresh data dir."""
    with tempfile.TemporaryDirectory(prefix="ballast-drain-") as tmp:
        home = Path(tmp) / "home"
        source = Path(tmp) / "in.jsonl"
        source.write_text("".join(json.dumps({"id": r["line_id"], "text": r["text"], "source": system}) + "\n"
                                  for r in rows), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BALLAST_", "SLACK_"))}
        env["BALLAST_HOME"] = str(home)
        run = subprocess.run([*_ballast_command(), "--data-dir", str(home), "ingest", str(source), "--json"],
                             capture_output=True, text=True, env=env, check=False)
        if run.returncode != 0:
            raise SystemExit(f"ballast ingest failed for {system}: {run.stderr.strip()[-500:]}")
        by_id = {str(o["id"]): o.get("incident_id") for o in map(json.loads, run.stdout.splitlines())}
    # A line without an incident stands alone, as the scorer counts it.
    return [by_id.get(str(r["line_id"])) or f"alone-{r['line_id']}" for r in rows]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="../shared/eval/dev", help="the eval data directory")
    parser.add_argument("--systems", default="", help="comma-separated systems (default: every dedup file)")
    args = parser.parse_args(argv)
    folder = Path(args.data) / "dedup"
    wanted = [s for s in args.systems.split(",") if s]
    systems = wanted or sorted(p.stem for p in folder.glob("*.jsonl"))
    print(f"{'system':<12} {'lines':>5}  {'drain3':>7} {'drain3+mask':>11}  {'ballast':>7}   (pairwise F1)")
    scores: list[tuple[float, float, float]] = []
    for system in systems:
        rows = [json.loads(line) for line in (folder / f"{system}.jsonl").read_text(encoding="utf-8").splitlines()
                if line.strip()]
        gold = [str(r["cluster"]) for r in rows]
        texts = [str(r["text"]) for r in rows]
        row = (pairwise(gold, drain_clusters(texts, masked=False))[2],
               pairwise(gold, drain_clusters(texts, masked=True))[2],
               pairwise(gold, ballast_clusters(system, rows))[2])
        scores.append(row)
        print(f"{system:<12} {len(rows):>5}  {row[0]:>7.3f} {row[1]:>11.3f}  {row[2]:>7.3f}", flush=True)
    if scores:
        means = [sum(s[i] for s in scores) / len(scores) for i in range(3)]
        print(f"{'macro':<12} {'':>5}  {means[0]:>7.3f} {means[1]:>11.3f}  {means[2]:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
