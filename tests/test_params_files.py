"""Only params files are params: odd entries in params/ are ignored or refused, quickly and without reading them.

Every case runs build.py as a user would, with a time limit, and measures
the child's peak memory (RUSAGE_CHILDREN is per process here: each test's
build runs in a fresh `python -c` wrapper that reports its own child's peak).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, run_build, scratch_repo, tree_digest

MEASURE = r"""
import json, resource, subprocess, sys, time
started = time.perf_counter()
result = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=60)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the build's own peak
print(json.dumps({"code": result.returncode, "stdout": result.stdout, "stderr": result.stderr,
                  "seconds": time.perf_counter() - started, "peak_mib": peak / 1024}))
"""
MAX_SECONDS = 20  # a build of one environment with cached lint verdicts takes ~1 s; a hang is killed at 60
MAX_MIB = 300  # a build peaks near 140 MiB; the symlink to /dev/zero grew to 21 GB


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return scratch_repo(tmp_path / "repo", docs=False)


def _build(repo: Path, *args: str) -> dict:
    command = [sys.executable, str(REPO / "build.py"), *args, "--params-dir", str(repo / "params")]
    command += ["--out", str(repo / "templates")]
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], cwd=repo, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert outcome["seconds"] < MAX_SECONDS, outcome
    assert outcome["peak_mib"] < MAX_MIB, outcome
    assert "Traceback" not in outcome["stderr"], outcome["stderr"]
    return outcome


ODDITIES = {
    "an editor lock file (a dangling symlink)": lambda p: os.symlink("root@host.1234:1700000000", p / ".#dev.yaml"),
    "a symlink loop": lambda p: (os.symlink("loop-b", p / "loop-a"), os.symlink("loop-a", p / "loop-b")),
    "an unreadable notes file": lambda p: ((p / "notes.txt").write_text("x"), os.chmod(p / "notes.txt", 0)),
    "a FIFO": lambda p: os.mkfifo(p / "pipe.yaml.fifo"),
    "a symlink to /dev/zero": lambda p: os.symlink("/dev/zero", p / "zero"),
    "a name that is not an environment": lambda p: (p / "DEV.yaml").write_text("environment: DEV\n"),
    "a name with a space": lambda p: (p / "my env.yaml").write_text("environment: x\n"),
    "a folder": lambda p: (p / "old").mkdir(),
    "a backup copy": lambda p: shutil.copy(p / "dev.yaml", p / "dev.yaml~"),
}  # fmt: skip


@pytest.mark.parametrize("oddity", sorted(ODDITIES))
@pytest.mark.parametrize("command", [(), ("--check",), ("--no-cache", "dev")])
def test_an_odd_entry_in_params_is_ignored_by_every_command(repo: Path, oddity: str, command: tuple[str, ...]) -> None:
    ODDITIES[oddity](repo / "params")
    outcome = _build(repo, *command)
    assert outcome["code"] == 0, outcome["stderr"]
    assert "unknown environment" not in outcome["stderr"]


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: os.mkfifo(p / "dev.yaml"), "is a named pipe (FIFO), not a params file"),
        (lambda p: (p / "dev.yaml").mkdir(), "is a folder, not a params file"),
        (lambda p: os.symlink("/dev/zero", p / "dev.yaml"), "is a symlink out of the repository"),
        (lambda p: os.symlink("/etc/hostname", p / "dev.yaml"), "is a symlink out of the repository"),
        (lambda p: os.symlink("dev.yaml", p / "dev.yaml"), "is a symlink in a loop"),
        (lambda p: os.symlink("gone.yaml", p / "dev.yaml"), "which does not exist"),
        (lambda p: (p / "dev.yaml").write_bytes(b"# padding\n" * 30_000), "a params file may be at most 262,144 bytes"),
        (lambda p: (p / "dev.yaml").write_bytes(b"environment: d\xe9v\n"), "line 1: not UTF-8"),
    ],
    ids=["fifo", "folder", "dev-zero", "outside", "loop", "dangling", "too-big", "not-utf8"],
)
def test_a_params_file_that_is_not_one_is_refused_without_reading_it(repo: Path, make, says: str) -> None:
    target = repo / "params" / "dev.yaml"
    target.unlink()
    make(repo / "params")
    before = tree_digest(repo / "templates")
    outcome = _build(repo, "dev")
    assert outcome["code"] == 2, outcome
    assert says in outcome["stderr"] and "params/dev.yaml" in outcome["stderr"]
    assert tree_digest(repo / "templates") == before


def test_a_symlink_to_a_params_file_inside_the_repository_is_followed(repo: Path) -> None:
    shared = repo / "shared-dev.yaml"
    (repo / "params" / "dev.yaml").rename(shared)
    os.symlink("../shared-dev.yaml", repo / "params" / "dev.yaml")
    outcome = _build(repo, "--check", "dev")
    assert outcome["code"] == 0, outcome["stderr"]


BILLION_LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)
)


def test_a_billion_laughs_file_is_refused_within_a_second_and_a_few_mb(repo: Path) -> None:
    real = (repo / "params" / "dev.yaml").read_text()
    laughs = BILLION_LAUGHS + real.replace("  bedrock_models:", "  bedrock_models: *i\n  unused:", 1)
    assert len(BILLION_LAUGHS) < 1024
    (repo / "params" / "dev.yaml").write_text(laughs)
    started = time.perf_counter()
    outcome = _build(repo, "dev")
    assert time.perf_counter() - started < 10
    assert outcome["code"] == 2
    assert "YAML aliases (*a) are not allowed" in outcome["stderr"]
    assert outcome["peak_mib"] < 150, outcome["peak_mib"]


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("DEV", "params/DEV.yaml is ignored for that reason"),
        ("my env", "'my env' is not a valid environment name"),
        (".#dev", "'.#dev' is not a valid environment name"),
    ],
)
def test_a_file_whose_name_is_not_an_environment_gets_its_own_message(repo: Path, name: str, says: str) -> None:
    (repo / "params" / f"{name}.yaml").write_text("environment: x\n")
    for command in ((name,), ("--check", name)):
        outcome = _build(repo, *command)
        assert outcome["code"] == 2
        assert says in outcome["stderr"]
        assert "Did you mean '.#dev'" not in outcome["stderr"] and "there is no" not in outcome["stderr"]
    assert "Did you mean 'dev'?" in _build(repo, "DEV")["stderr"]


def test_a_params_edit_during_a_build_is_seen_by_the_next_build(repo: Path, tmp_path: Path) -> None:
    """The record hashes the bytes that were rendered: an edit made after they were read is not mistaken for them."""
    params_file = repo / "params" / "dev.yaml"
    args = ["dev", "--params-dir", str(repo / "params"), "--out", str(repo / "templates")]
    cache = {"NLSQL_CACHE_DIR": str(tmp_path / "cache")}
    edit = (
        "import runpy, sys; from pathlib import Path; from builders import params\n"
        "real = params.load\n"
        "def load(path, data=None):\n"
        "    cfg = real(path, data)\n"
        "    path.write_text(path.read_text().replace('desired_count: 1', 'desired_count: 2', 1))\n"
        "    return cfg\n"
        "params.load = load\n"
        f"sys.argv = ['build.py', *{args!r}]; runpy.run_path({str(REPO / 'build.py')!r}, run_name='__main__')\n"
    )
    assert "desired_count: 1" in params_file.read_text()
    during = subprocess.run(
        [sys.executable, "-c", edit], cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, **cache}
    )
    assert during.returncode == 0, during.stderr
    assert "desired_count: 2" in params_file.read_text()

    after = run_build(*args, env=cache)

    assert after.returncode == 0, after.stderr
    assert "nothing re-rendered" not in after.stdout
    assert "templates/dev/compute.yaml" in after.stdout
