#!/usr/bin/env python3
"""Benchmark: how long a platform engineer waits for `python build.py`.

Runs build.py in child processes, as a user does, and prints min / median
wall time and peak memory (max RSS of the child) for:

  cold       all environments into an empty output folder (render + lint + write)
  unchanged  the same again with nothing changed (the output folder is already current)
  check      `build.py --check` (render and compare, no lint): what pre-commit pays

Usage: python bench/build_bench.py [--runs N]
Machines are noisy: compare only figures from one run on one machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def timed(args: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `python build.py ARGS` child."""
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(REPO / "build.py"), "-q", *args], cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"build.py {' '.join(args)} exited {proc.returncode}")
    return seconds, usage.ru_maxrss / 1024


def row(name: str, samples: list[tuple[float, float]], baseline: float | None) -> str:
    times = [s for s, _ in samples]
    median = statistics.median(times)
    ratio = f"{median / baseline:6.3f}x cold" if baseline else ""
    return (
        f"{name:<10} min {min(times):6.2f}s  median {median:6.2f}s  peak {max(m for _, m in samples):6.0f} MiB  {ratio}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (default 5)")
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="nlsql-bench-") as tmp:
        cold, unchanged = [], []
        for i in range(runs):
            out = Path(tmp) / f"out{i}"
            cold.append(timed(["--out", str(out)]))
            unchanged.append(timed(["--out", str(out)]))
            shutil.rmtree(out)
        check = [timed(["--check"]) for _ in range(runs)]
    base = statistics.median(s for s, _ in cold)
    print(f"nlsql-infra build benchmark: {runs} runs each, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(row("cold", cold, None))
    print(row("unchanged", unchanged, base))
    print(row("check", check, base))


if __name__ == "__main__":
    main()
