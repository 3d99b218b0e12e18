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


def resources(doc: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    """The resources of one type, by logical id."""
    return {k: v for k, v in doc["Resources"].items() if v["Type"] == type_}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    return resource.get("Properties", {})


def ref(value: Any) -> str | None:
    """The logical id a Ref or GetAtt points at, or None."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return att[0] if isinstance(att, list) else att.split(".")[0]
    return None


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
