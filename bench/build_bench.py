#!/usr/bin/env python3
"""Benchmark: how long a platform engineer waits for `python build.py`, next to one `cdk synth` of the anchor.

Runs build.py in child processes, as a user does, and prints min / median
wall time, peak memory and how many templates cfn-lint had to lint, for:

  cold       all environments, with lint, into an empty output folder with an empty cache
  unchanged  the same again with nothing changed (the build stamp answers: nothing rendered)
  no stamp   the same again without the stamp: render, compare, every lint verdict from the cache
  one layer  after one value of a temp copy of params/prod.yaml that only prod's compute stack shows
  check      `build.py --check` (render and compare, no lint): what pre-commit pays
  cdk synth  the anchor, ../shared/anchors/cdk-prod beside the repository (its run.sh; installed on first use)

Each round runs every figure once, side by side, in its own temp folder (a
copy of params/, README.md and docs/ beside an empty templates/, so a build
also does the README and diagram work it does in the repository) and its
own cache folder (NLSQL_CACHE_DIR); the repository's params/, templates/
and .cache/cfn-lint are never touched.
Peak memory is the largest single process's peak RSS (the build, the lint
fork server or a worker; for the anchor, node or its Python app), from
rusage and from each process's VmHWM sampled every 50 ms, and the process
tree's largest sampled total PSS (workers run at once; the pages forked
workers share with the fork server count once).

The speed targets are judged on the median of each round's own ratio
(figure / that round's cdk synth), printed beside the ratio of the medians.

Usage: python bench/build_bench.py [--runs N] [--anchor-dir DIR | --no-anchor]
Machines are noisy: compare only figures from one run on one machine.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ANCHOR = REPO.parent / "shared" / "anchors" / "cdk-prod"  # beside the repository, as the README names it
LINTED = re.compile(r"\((\d+) linted, (\d+) cached\)")
# One value only prod's compute stack shows (the API service's autoscaling maximum).
ONE_LAYER = ("    max_count: 6\n", "    max_count: 7\n")
TARGETS = {"cold": 0.5, "unchanged": 0.05}  # at most this many cdk synths
MEMORY_TARGET = 0.3  # peak memory at most this share of the anchor's


@dataclass
class Sample:
    seconds: float
    max_rss_mib: float  # the largest single process of the tree
    tree_mib: float  # the largest sampled sum of PSS over the tree (pages shared by processes counted once)
    linted: str = ""


@dataclass
class Figure:
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(s.seconds for s in self.samples)


def _tree(pid: int) -> list[int]:
    """pid and all its descendants, now (the lint fork server and the workers forked from it included)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        try:
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as handle:
                    todo += [int(c) for c in handle.read().split()]
        except (OSError, ValueError):
            continue
        found.append(current)
    return found


def _kib(path: str, key: str) -> int:
    """One "Key:   123 kB" figure of a /proc file; 0 once the process is gone."""
    try:
        with open(path) as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def timed(command: list[str], env: dict[str, str], cwd: Path) -> tuple[Sample, str]:
    """Wall seconds, peak memory and stdout of one child; exits the benchmark if the child fails."""
    peak = [0]  # the largest sampled sum of PSS over the tree
    hwm: dict[int, int] = {}  # each process's peak RSS seen
    done = threading.Event()
    # Output to files, not pipes: os.wait4 (for the child's rusage) must reap the child itself.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=cwd, env=env, stdout=out, stderr=err, text=True)

        def sample() -> None:
            while not done.wait(0.05):
                pids = _tree(proc.pid)
                for pid in pids:
                    hwm[pid] = max(hwm.get(pid, 0), _kib(f"/proc/{pid}/status", "VmHWM:"))
                peak[0] = max(peak[0], sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        sampler.join()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {proc.returncode}:\n{stderr[-2000:]}")
    found = LINTED.search(stdout)
    linted = f"{found.group(1)} linted, {found.group(2)} cached" if found else ""
    largest = max([usage.ru_maxrss, *hwm.values()])  # rusage misses the fork server's workers: not our children
    return Sample(seconds, largest / 1024, max(peak[0], usage.ru_maxrss) / 1024, linted), stdout


def _workspace(root: Path) -> tuple[Path, Path, Path]:
    """A folder like the repository's: params/ (a copy), README.md and docs/ beside an empty templates/."""
    root.mkdir()
    shutil.copytree(REPO / "params", root / "params")
    shutil.copy(REPO / "README.md", root / "README.md")
    shutil.copytree(REPO / "docs", root / "docs")
    (root / "templates").mkdir()
    return root / "params", root / "templates", root / "cache"


def _one_layer(params_dir: Path) -> None:
    path = params_dir / "prod.yaml"
    text = path.read_text(encoding="utf-8")
    if text.count(ONE_LAYER[0]) != 1:
        raise RuntimeError(f"{path}: expected one line {ONE_LAYER[0].strip()!r} to edit; update ONE_LAYER")
    path.write_text(text.replace(*ONE_LAYER), encoding="utf-8")


def _row(figure: Figure, anchor: float | None) -> str:
    times = [s.seconds for s in figure.samples]
    ratio = f"{figure.median / anchor:7.3f}x" if anchor else "      -"
    rss = max(s.max_rss_mib for s in figure.samples)
    tree = max(s.tree_mib for s in figure.samples)
    linted = sorted({s.linted for s in figure.samples if s.linted})
    return (
        f"{figure.name:<11} {min(times):7.2f}s {figure.median:7.2f}s  {ratio}  {rss:6.0f} MiB  {tree:6.0f} MiB  "
        f"{' / '.join(linted)}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds; each figure is run once per round (default 5)")
    parser.add_argument(
        "--anchor-dir",
        type=Path,
        default=REPO / ".cache" / "cdk-anchor",
        help="where the anchor's run.sh installs CDK (default .cache/cdk-anchor, git-ignored)",
    )
    parser.add_argument("--no-anchor", action="store_true", help="do not run cdk synth")
    args = parser.parse_args()

    # As on a developer's machine: bytecode is cached (this sandbox sets PYTHONDONTWRITEBYTECODE, which makes
    # every child compile the builders again). Applies to the anchor's Python app too.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONDONTWRITEBYTECODE", "NLSQL_CACHE_DIR"}}
    build = [sys.executable, str(REPO / "build.py")]
    names = ("cold", "unchanged", "no stamp", "one layer", "check")
    figures = {name: Figure(name) for name in names}
    anchor = Figure("cdk synth")
    anchor_problem = "skipped (--no-anchor)" if args.no_anchor else None
    run_sh = [str(ANCHOR / "run.sh"), str(args.anchor_dir)]

    with tempfile.TemporaryDirectory(prefix="nlsql-bench-") as tmp:
        # Warm-up, untimed: bytecode caches, and the anchor's install (pip + npm) on its first use.
        warm_params, warm_out, warm_cache = _workspace(Path(tmp) / "warm")
        timed(
            [*build, "--params-dir", str(warm_params), "--out", str(warm_out)],
            env | {"NLSQL_CACHE_DIR": str(warm_cache)},
            REPO,
        )
        if anchor_problem is None:
            try:
                timed(run_sh, env, REPO)
            except (RuntimeError, OSError) as exc:
                anchor_problem = f"could not run the anchor ({' '.join(run_sh)}): {exc}"
        for i in range(args.runs):
            params_dir, out, cache = _workspace(Path(tmp) / f"run{i}")
            child_env = env | {"NLSQL_CACHE_DIR": str(cache)}
            where = ["--params-dir", str(params_dir), "--out", str(out)]
            figures["cold"].samples.append(timed([*build, *where], child_env, REPO)[0])
            figures["unchanged"].samples.append(timed([*build, *where], child_env, REPO)[0])
            shutil.rmtree(cache / "builds")
            figures["no stamp"].samples.append(timed([*build, *where], child_env, REPO)[0])
            _one_layer(params_dir)
            sample, stdout = timed([*build, "-v", *where], child_env, REPO)
            figures["one layer"].samples.append(sample)
            linted = re.search(r"^linted: (.*)$", stdout, re.M)
            sample.linted += f" ({linted.group(1) if linted else 'none'})"
            figures["check"].samples.append(timed([*build, "--check", *where], child_env, REPO)[0])
            if anchor_problem is None:
                try:
                    anchor.samples.append(timed(run_sh, env, REPO)[0])
                except (RuntimeError, OSError) as exc:
                    anchor_problem = f"the anchor failed: {exc}"
            print(f"round {i + 1}/{args.runs} done", file=sys.stderr, flush=True)

    synth = anchor.median if anchor.samples else None
    print(
        f"nlsql-infra build benchmark: {args.runs} rounds, {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"cfn-lint workers: {min(len(os.sched_getaffinity(0)), 17)}"
    )
    print(f"{'figure':<11} {'min':>8} {'median':>8}  {'vs cdk':>8}  {'max RSS':>10}  {'tree PSS':>10}  templates")
    for figure in figures.values():
        print(_row(figure, synth))
    if anchor.samples:
        print(_row(anchor, synth))
    if anchor_problem:
        print(f"cdk synth: {anchor_problem}")
        return 0
    assert synth is not None
    anchor_rss = max(s.max_rss_mib for s in anchor.samples)
    for name, share in TARGETS.items():
        # Each round runs the figure and the anchor minutes apart at most; the median of the rounds' own ratios
        # follows the figure through a machine whose speed drifts, where a ratio of two medians can pair a
        # quiet round's build with a busy round's synth.
        paired = statistics.median(
            s.seconds / a.seconds for s, a in zip(figures[name].samples, anchor.samples, strict=False)
        )
        verdict = "met" if paired <= share else "missed"
        print(
            f"target {name} <= {share}x cdk synth: {paired:.3f}x (median of the rounds' ratios; "
            f"{figures[name].median / synth:.3f}x of the medians), {verdict}"
        )
    for name, figure in figures.items():
        peak = max(s.max_rss_mib for s in figure.samples)
        verdict = "met" if peak <= MEMORY_TARGET * anchor_rss else "missed"
        print(
            f"target {name} max RSS <= {MEMORY_TARGET}x the anchor's ({anchor_rss:.0f} MiB): {peak:.0f} MiB, {verdict}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
