"""The committed templates at a git ref, read with the git command line (no library): what a pull request is
compared with.

The ref's files are read from the repository that holds the output folder,
at the output folder's place in it, so `--out` elsewhere in a checkout (or
a scratch repository) is compared with its own history.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from builders.deploy.diff.environment import Snapshot
from builders.deploy.diff.parse import snapshot
from builders.errors import BuildError

BASES = ("main", "origin/main")  # the branch a pull request goes into, local first


@dataclass(frozen=True)
class Ref:
    """A resolved commit in a repository, and the output folder's path in it."""

    top: Path
    folder: str  # the output folder, relative to top (posix)
    commit: str
    label: str  # how the user should read it: "HEAD (1a2b3c4)", "the merge base with main (1a2b3c4)"


def resolve(out_dir: Path, ref: str | None) -> Ref:
    """The commit to compare with: `ref`, or (None) the merge base of HEAD with main (or origin/main)."""
    top = _top(out_dir)
    folder = out_dir.resolve().relative_to(top).as_posix()
    if ref is None:
        for base in BASES:
            if _git(top, "rev-parse", "--verify", "--quiet", f"{base}^{{commit}}").returncode == 0:
                found = _git(top, "merge-base", "HEAD", base)
                if found.returncode != 0:
                    raise BuildError(
                        f"--diff: HEAD and {base} have no common commit in {top} (git merge-base: "
                        f"{_said(found)}); pass the ref to compare with, e.g. `--diff={base}`"
                    )
                commit = found.stdout.strip()
                return Ref(top, folder, commit, f"the merge base with {base} ({commit[:7]})")
        raise BuildError(
            f"--diff without a REF compares with the merge base of HEAD and main, but {top} has neither a `main` "
            "nor an `origin/main` branch; pass the ref to compare with, e.g. `--diff=HEAD~1` or `--diff=v1.2.0`"
        )
    if not ref or ref.startswith("-"):
        raise BuildError(f"--diff {ref!r}: not a git ref; pass a branch, tag or commit, e.g. `--diff=origin/main`")
    found = _git(top, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise BuildError(
            f"--diff {ref}: no such commit in the git repository {top} (not a branch, tag or commit there"
            f"{'; a branch of a remote needs `git fetch` first' if '/' in ref else ''}); pass one that exists, e.g. "
            "`--diff=HEAD` or `--diff=origin/main`, or `--diff deployed` to compare with the deployed stacks"
        )
    commit = found.stdout.strip()
    return Ref(top, folder, commit, f"{ref} ({commit[:7]})")


def environment(ref: Ref, env: str) -> Snapshot:
    """The environment's committed files at the ref (root None when it had no such environment)."""
    base = f"{ref.folder}/{env}" if ref.folder != "." else env

    def read(name: str) -> str | None:
        path = f"{ref.commit}:{base}/{name}"
        if _git(ref.top, "cat-file", "-e", path).returncode != 0:
            return None
        shown = _git(ref.top, "cat-file", "blob", path)
        if shown.returncode != 0:
            raise BuildError(f"--diff: git could not read {ref.label}:{base}/{name} ({_said(shown)})")
        return shown.stdout

    missing = f"{base}/root.yaml does not exist at {ref.label}: every resource is an Add"
    return snapshot(read, lambda name: f"{ref.label}:{base}/{name}", missing)


def _top(out_dir: Path) -> Path:
    found = _git(out_dir, "rev-parse", "--show-toplevel") if out_dir.is_dir() else None
    if found is None or found.returncode != 0:
        raise BuildError(
            f"--diff REF compares {out_dir} with its committed files, but it is not inside a git repository "
            f"({_said(found) if found else 'no such folder'}); run it in a clone, point --out into one, or use "
            "`--diff deployed` to compare with the deployed stacks"
        )
    return Path(found.stdout.strip()).resolve()


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise BuildError(
            "--diff REF reads the committed templates with git, which is not installed (or not on PATH); install "
            "git, or use `--diff deployed` to compare with the deployed stacks"
        ) from None
    except subprocess.TimeoutExpired:
        raise BuildError(f"--diff: `git {' '.join(args)}` did not answer within 60s in {cwd}") from None


def _said(result: subprocess.CompletedProcess[str]) -> str:
    lines = (result.stderr or result.stdout).strip().splitlines()
    return lines[-1] if lines else f"exit status {result.returncode}"
