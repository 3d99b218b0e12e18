"""Fault injection in the write phase: all of a build's files change, or none do, and the build says which.

A real build.py runs in a child process, in a scratch repository whose 20
templates and README.md's environment table are all stale, so that a build
replaces every template and README.md. A driver wraps os.replace and os.unlink in that child and
injects the fault at the k-th rename into the scratch folder: a real SIGINT,
SIGTERM or SIGKILL sent to itself, or an OSError where the rename would be.
A file-size limit (`ulimit -f`) and a read-only file are injected for real.
After each, the files are compared byte for byte (and by mtime) with what
they were, and `--check` says what it sees.

What this cannot show: a power cut (the page cache is not dropped here), and
a file system without hard links (the copy fallback is not exercised).
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ENVS, REPO, TEMPLATE_COUNT, run_build, scratch_repo, tree_digest

DRIVER = r"""
import errno, os, runpy, signal, sys

mode, at, folder = sys.argv[1], int(sys.argv[2]), os.path.realpath(sys.argv[3])
real_replace, real_unlink = os.replace, os.unlink
count = 0

def _inside(path):
    return os.path.realpath(os.path.dirname(os.fspath(path))).startswith(folder)

def replace(src, dst, *args, **kwargs):
    global count
    src, dst = os.fspath(src), os.fspath(dst)
    if not _inside(dst):
        return real_replace(src, dst, *args, **kwargs)
    if src.endswith(".old.tmp"):  # a rollback putting the earlier bytes back
        if mode == "eio-twice":
            raise OSError(errno.EIO, "Input/output error", dst)
        return real_replace(src, dst, *args, **kwargs)
    count += 1
    if count == at and mode in ("eio", "eio-twice"):
        raise OSError(errno.EIO, "Input/output error", dst)
    real_replace(src, dst, *args, **kwargs)
    if count == at and mode in ("sigint", "sigterm", "sigkill"):
        os.kill(os.getpid(), {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}[mode])

def unlink(path, *args, **kwargs):
    if mode == "sigint-cleanup" and count >= at and os.fspath(path).endswith(".old.tmp") and _inside(path):
        os.kill(os.getpid(), signal.SIGINT)
    return real_unlink(path, *args, **kwargs)

os.replace, os.unlink = replace, unlink
build = sys.argv[4]
sys.argv = [build, *sys.argv[5:]]
runpy.run_path(build, run_name="__main__")
"""
STALE_FILES = (
    TEMPLATE_COUNT + len(ENVS) + 1
)  # every template, parameters.json and README.md (not the manifest, diagrams)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A scratch repository in which every template and the README's environment table are stale."""
    root = scratch_repo(tmp_path / "repo")
    for path in (root / "templates").rglob("*"):
        if path.is_file() and path.name != "manifest.json":
            path.write_text(path.read_text() + "\n# stale\n" if path.suffix == ".yaml" else "[]\n")
    readme = root / "README.md"
    readme.write_text(readme.read_text().replace("| 10.0.0.0/16 |", "| 10.9.0.0/16 |", 1))
    return root


def _drive(repo: Path, mode: str, at: int, *args: str, preexec=None) -> subprocess.CompletedProcess[str]:
    driver = repo.parent / "driver.py"
    driver.write_text(DRIVER)
    command = [sys.executable, str(driver), mode, str(at), str(repo), str(REPO / "build.py")]
    command += ["--params-dir", str(repo / "params"), "--out", str(repo / "templates"), *args]
    return subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=300, preexec_fn=preexec)


def _stale(repo: Path) -> list[str]:
    result = run_build("--check", "--params-dir", repo / "params", "--out", repo / "templates", cwd=repo)
    return [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]


def test_the_scratch_repository_is_stale_in_exactly_the_files_a_build_replaces(repo: Path) -> None:
    """The premise of the tests below: that many replaces, so `at` covers the first, the middle and the last."""
    assert len(_stale(repo)) == STALE_FILES
    result = _drive(repo, "count", 0)
    assert result.returncode == 0, result.stderr
    assert f"{STALE_FILES} file(s) written" in result.stdout
    assert _stale(repo) == []


@pytest.mark.parametrize("at", [1, 5, 10, STALE_FILES])
def test_ctrl_c_at_any_point_of_the_write_leaves_every_file_as_it_was(repo: Path, at: int) -> None:
    before = tree_digest(repo)
    result = _drive(repo, "sigint", at)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip() == "interrupted; nothing was written"
    assert tree_digest(repo) == before  # bytes and mtimes: the earlier files themselves are back
    assert len(_stale(repo)) == STALE_FILES


def test_sigterm_in_the_write_rolls_back_and_exits_143(repo: Path) -> None:
    before = tree_digest(repo)
    result = _drive(repo, "sigterm", 3)
    assert result.returncode == 143, result.stderr
    assert "nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(repo) == before


@pytest.mark.parametrize("at", [1, 11, STALE_FILES])
def test_a_failed_rename_puts_the_earlier_bytes_back(repo: Path, at: int) -> None:
    before = tree_digest(repo)
    result = _drive(repo, "eio", at)
    assert result.returncode == 1, result.stderr
    assert "cannot replace" in result.stderr and "Input/output error" in result.stderr
    assert "nothing was written" in result.stderr and "Traceback" not in result.stderr
    assert tree_digest(repo) == before


def test_when_the_earlier_bytes_cannot_be_put_back_the_changed_files_are_listed(repo: Path) -> None:
    result = _drive(repo, "eio-twice", 6)
    assert result.returncode == 1, result.stderr
    assert "nothing was written" not in result.stderr
    assert "5 file(s) have changed and could not be put back" in result.stderr
    assert "git checkout -- templates/" in result.stderr
    listed = [line.strip() for line in result.stderr.splitlines() if line.startswith("  ")]
    fresh = STALE_FILES - len(_stale(repo))
    assert len(listed) == fresh == 5


def test_ctrl_c_after_the_write_says_it_was_written_in_full(repo: Path) -> None:
    result = _drive(repo, "sigint-cleanup", STALE_FILES)  # at the first backup removed after the last rename
    assert result.returncode == 130, result.stderr
    assert f"interrupted after the build had written all of its {STALE_FILES} changed file(s)" in result.stderr
    assert "nothing was written" not in result.stderr
    assert _stale(repo) == []
    assert not list(repo.rglob("*.tmp"))


def test_a_file_size_limit_fails_the_write_before_any_file_changes(repo: Path) -> None:
    """`ulimit -f 18`: prod/network.yaml (23 KB) cannot be staged; nothing has been replaced yet."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (18 * 1024, 18 * 1024))

    before = tree_digest(repo)
    result = _drive(repo, "count", 0, preexec=limit)
    assert result.returncode == 1, result.stderr
    assert "File too large" in result.stderr and "nothing was written" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert tree_digest(repo) == before
    assert not list(repo.rglob("*.tmp"))


def test_a_killed_build_leaves_temp_files_that_check_names_and_the_next_build_removes(repo: Path) -> None:
    result = _drive(repo, "sigkill", 8)
    assert result.returncode == -signal.SIGKILL
    leftovers = sorted(str(p.relative_to(repo)) for p in repo.rglob("*.tmp"))
    assert leftovers, "a kill in the middle of the write leaves its temp and backup files"

    check = run_build("--check", "--params-dir", repo / "params", "--out", repo / "templates", cwd=repo)
    assert check.returncode == 1
    for name in leftovers:
        assert f"{name}: left over by an interrupted build" in check.stderr

    rebuilt = run_build("--params-dir", repo / "params", "--out", repo / "templates", cwd=repo)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert all(f"{name} (left by an interrupted build: removed)" in rebuilt.stdout for name in leftovers)
    assert not list(repo.rglob("*.tmp"))
    assert _stale(repo) == []


def test_a_leftover_is_not_hidden_by_the_build_record(repo: Path) -> None:
    """After a clean build, a rebuild would print the record; a leftover temp file must make it build instead."""
    args = ("--params-dir", repo / "params", "--out", repo / "templates")
    assert run_build(*args, cwd=repo).returncode == 0
    assert "nothing re-rendered" in run_build(*args, cwd=repo).stdout
    leftover = repo / "templates" / ".github-oidc.yaml.k3j4h5g6.tmp"
    leftover.write_text("half a template")
    result = run_build(*args, cwd=repo)
    assert result.returncode == 0, result.stderr
    assert "nothing re-rendered" not in result.stdout
    assert "templates/.github-oidc.yaml.k3j4h5g6.tmp (left by an interrupted build: removed)" in result.stdout
    assert not leftover.exists()


def test_a_second_build_waits_for_the_first_one_s_write(repo: Path) -> None:
    """A build that reaches its write while another holds the output folder waits, then writes all of its files."""
    import fcntl
    import os

    before = tree_digest(repo)
    holder = os.open(repo / "templates", os.O_RDONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # as a build in its write phase does
    command = [sys.executable, str(REPO / "build.py"), "--params-dir", str(repo / "params")]
    command += ["--out", str(repo / "templates")]
    build = subprocess.Popen(command, cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert build.stderr is not None
        first = build.stderr.readline()  # blocks until the build says it waits (or ends)
        assert first.startswith("waiting for another build writing"), first
        assert tree_digest(repo) == before, "it wrote while the other build held the folder"
    finally:
        os.close(holder)
    stdout, stderr = build.communicate(timeout=300)
    assert build.returncode == 0, stderr
    assert f"{STALE_FILES} file(s) written" in stdout
    assert _stale(repo) == []
