"""Shared fixtures: the committed templates, parsed, and a way to run build.py as a user would."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode.decode import decode_str

from builders.readback import props, ref, resources  # noqa: F401 - the tests' template readers

REPO = Path(__file__).resolve().parent.parent
PARAMS = REPO / "params"
TEMPLATES = REPO / "templates"
ENVS = sorted(p.stem for p in PARAMS.glob("*.yaml"))


@cache
def template(env: str, stack: str) -> dict[str, Any]:
    """A committed template, parsed the way CloudFormation reads it (short-form tags expanded)."""
    doc, errors = decode_str((TEMPLATES / env / f"{stack}.yaml").read_text(encoding="utf-8"))
    assert not errors, errors
    return doc


def run_build(*args: str | Path, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    """python build.py ARGS in a child process: the exit status and output a user would see."""
    return subprocess.run(
        [sys.executable, str(REPO / "build.py"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under root with its content hash and mtime: any write shows up as a difference."""
    return {
        str(p.relative_to(root)): f"{hashlib.sha256(p.read_bytes()).hexdigest()}:{p.stat().st_mtime_ns}"
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def committed_copy(tmp_path: Path) -> Path:
    """A private copy of templates/, for runs that might write."""
    import shutil

    out = tmp_path / "templates"
    shutil.copytree(TEMPLATES, out)
    return out
