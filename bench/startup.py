"""Start-up costs of the `ballast` command: --help, time to the first ingest result, peak memory.

What it measures, each in a fresh subprocess:

  python -c pass             interpreter start: the baseline the others are compared with.
  ballast --help             wall time, median of 5 (target < 0.5 s: heavy imports must stay lazy).
  import bot.ingest_file     what `ballast ingest` imports before it does anything (median).
  first ingest result        spawn `ballast --data-dir D ingest - --json`, write one alert line to its
                             stdin, time until its result line arrives on stdout. "cold" is a fresh
                             data dir (migrations, index creation, model load); "warm" a second run on
                             the same dir. Median of 3.
  ballast demo               wall time and peak RSS of `ballast --data-dir D demo` on a fresh dir.
                             While the command does not exist yet (no `bot.demo` module, or it exits
                             non-zero) the script says so and skips it.
  ingest 1,000 lines         wall time and peak RSS of `ballast --data-dir D ingest FILE --json` on
                             1,000 alert and log lines (90% repeats; see bench/ingest.py).

Peak RSS comes from `/usr/bin/time -v` ("Maximum resident set size") when present, else from
`resource.getrusage(RUSAGE_CHILDREN)` in a small wrapper process (so each figure is one child's).

    .venv/bin/python bench/startup.py            # about a minute
    .venv/bin/python bench/startup.py --quick    # 3 runs of --help, 1 of each ingest
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ingest import ROOT, SignalGenerator, describe  # noqa: E402  (bench/ingest.py: the shared generator)

BALLAST = str(ROOT / ".venv" / "bin" / "ballast")
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None
_RUSAGE_WRAPPER = (
    "import resource, subprocess, sys; rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode; "
    "print('maxrss_kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); sys.exit(rc)"
)


def wall(cmd: list[str], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        out.append(time.perf_counter() - t0)
    return out


def first_result(data_dir: Path, line: str) -> float:
    """Seconds from spawn to the first result line of `ballast ingest -`."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([BALLAST, "--data-dir", str(data_dir), "ingest", "-", "--json"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=data_dir.parent)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(line + "\n")
    proc.stdin.close()
    first = proc.stdout.readline()
    elapsed = time.perf_counter() - t0
    proc.wait()
    if not first.strip():
        raise SystemExit(f"ballast ingest - printed nothing (exit {proc.returncode}): {proc.stderr.read()[-1500:]}")
    json.loads(first)
    return elapsed


def peak(cmd: list[str], cwd: Path) -> tuple[int, float, int, str]:
    """(exit code, wall seconds, peak RSS in KiB, stderr tail) of one run of `cmd`."""
    wrapped = [GNU_TIME, "-v", *cmd] if GNU_TIME else [PYTHON, "-c", _RUSAGE_WRAPPER, *cmd]
    t0 = time.perf_counter()
    proc = subprocess.run(wrapped, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=cwd,
                          check=False)
    elapsed = time.perf_counter() - t0
    m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr) or re.search(
        r"maxrss_kb (\d+)", proc.stderr)
    return proc.returncode, elapsed, int(m.group(1)) if m else -1, proc.stderr[-1500:]


def demo_available() -> bool:
    try:
        return importlib.util.find_spec("bot.demo") is not None
    except ModuleNotFoundError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    help_runs, ingest_runs = (3, 1) if args.quick else (5, 3)
    print(f"# ballast bench/startup.py  {describe()}  RSS via {'/usr/bin/time -v' if GNU_TIME else 'getrusage(RUSAGE_CHILDREN)'}")
    rows: list[tuple[str, str, str, str]] = []

    base = wall([PYTHON, "-c", "pass"], help_runs)
    rows.append(("python -c pass", f"{statistics.median(base):.3f}", "", f"median of {help_runs}, the baseline"))
    helps = wall([BALLAST, "--help"], help_runs)
    h = statistics.median(helps)
    verdict = "meets" if h < 0.5 else "misses"
    rows.append(("ballast --help", f"{h:.3f}", "",
                 f"median of {help_runs} (min {min(helps):.3f}); {h / statistics.median(base):.1f}x python start; "
                 f"{verdict} < 0.5 s"))

    imports = wall([PYTHON, "-c", "import bot.ingest_file"], help_runs)
    rows.append(("import bot.ingest_file", f"{statistics.median(imports):.3f}", "",
                 f"median of {help_runs}: the imports `ballast ingest` pays before any work"))

    gen = SignalGenerator(seed=53)
    line = json.dumps(gen.novel())
    with tempfile.TemporaryDirectory(prefix="ballast-startup-") as tmp:
        tmpdir = Path(tmp)
        cold, warm = [], []
        for k in range(ingest_runs):
            home = tmpdir / f"first-{k}"
            cold.append(first_result(home, line))
            warm.append(first_result(home, json.dumps(gen.novel())))
        rows.append(("first ingest result, cold", f"{statistics.median(cold):.3f}", "",
                     f"fresh data dir; median of {ingest_runs}"))
        rows.append(("first ingest result, warm", f"{statistics.median(warm):.3f}", "",
                     f"existing data dir; median of {ingest_runs}"))

        if demo_available():
            rc, secs, rss, err = peak([BALLAST, "--data-dir", str(tmpdir / "demo"), "demo"], tmpdir)
            if rc == 0:
                rows.append(("ballast demo", f"{secs:.2f}", f"{rss / 1024:.0f}", "fresh data dir; goal < 60 s"))
            else:
                print(f"# ballast demo exited {rc}; not measured. stderr tail:\n{err}")
                rows.append(("ballast demo", "-", "-", f"exited {rc}: see above"))
        else:
            print("# `ballast demo` is not implemented yet (no bot.demo module): measuring ingest of 1,000 lines")
            rows.append(("ballast demo", "-", "-", "not implemented yet"))

        stream = tmpdir / "stream.jsonl"
        stream.write_text("".join(json.dumps(x) + "\n" for x in SignalGenerator(seed=59).stream(1000, 0.9)))
        rc, secs, rss, err = peak([BALLAST, "--data-dir", str(tmpdir / "ingest"), "ingest", str(stream), "--json"],
                                  tmpdir)
        if rc != 0:
            raise SystemExit(f"ballast ingest failed ({rc}):\n{err}")
        rows.append(("ingest 1,000 lines", f"{secs:.2f}", f"{rss / 1024:.0f}", "fresh data dir, wall incl. start-up"))

    print(f"{'measurement':<28}{'seconds':>9}{'peak MiB':>10}  notes")
    for name, secs, rss, note in rows:
        print(f"{name:<28}{secs:>9}{rss:>10}  {note}")


if __name__ == "__main__":
    main()
