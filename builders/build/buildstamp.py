"""A record of the last successful build, so that a rebuild with nothing changed does no work at all.

A build's output is a function of its inputs: the params files, the code
that renders them (builders/ and build.py, the installed packages, Python),
what lint judges them by (builders.build.lintcache's salt), and what it was asked
(which environments, from where, into where). When a build succeeds it
records a hash of those inputs, its summary, and the hash of every file it
owns on disk (templates, and with all environments README.md and docs/*.svg).
A later build whose inputs hash the same and which finds those files exactly
as recorded would render the same bytes, find them written, hit the lint
cache for every template and change nothing, so it prints the recorded
summary instead of rendering: ~0.1 s instead of ~0.7 s of imports (pydantic,
troposphere) and rendering. Anything else (a params or builder edit, a
package upgrade, a hand-edited template, an edit anywhere in README.md, a
file added to or removed from the output folder) is a miss, and the build
runs in full.

Stamps live in the cache folder (builders.build.lintcache.cache_root) under
`builds/`, one per (params folder, output folder, environments asked for);
a stamp that cannot be read is a miss, and one that cannot be written is
skipped. `--check` never reads them: it always renders and compares.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from builders.build import output, ownership, transaction

FORMAT = 1
SUBDIR = "builds"
CODE_ROOTS = (Path(__file__).resolve().parents[1], Path(__file__).resolve().parents[2] / "build.py")
DIST_SUFFIXES = (".dist-info", ".egg-info", ".egg-link", ".pth")


@dataclass(frozen=True)
class Row:
    """One line of the summary table: a template's figures."""

    path: str
    resources: int
    outputs: int
    size: int


@dataclass(frozen=True)
class Stamp:
    """What a successful build leaves behind: its inputs' hash, the files it owns, and its summary."""

    inputs: str
    files: dict[str, str]  # path relative to the output folder's parent -> sha256
    envs: list[str]
    rows: list[Row]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _tree(root: Path, into: Any) -> None:
    """Feed every file under root (names and bytes, in a fixed order) into a hash; bytecode caches excluded."""
    if root.is_file():
        into.update(f"{root.name}\0".encode())
        into.update(root.read_bytes())
        return
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(names):
            if not name.endswith((".pyc", ".pyo")):
                path = Path(folder, name)
                into.update(f"{path.relative_to(root)}\0{path.stat().st_size}\0".encode())
                into.update(path.read_bytes())


def _packages() -> list[str]:
    """Every installed distribution on sys.path, with the time its metadata last changed: an upgrade is a miss."""
    found = []
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as it:
                found += [f"{e.path}@{e.stat().st_mtime_ns}" for e in it if e.name.endswith(DIST_SUFFIXES)]
        except OSError:  # a zip, or a folder that is gone
            continue
    return sorted(found)


def inputs_digest(params: dict[str, bytes | None], lint_salt: str) -> str:
    """The hash of everything that decides what a build writes and whether lint passes it.

    `params` is each environment's params file as the build read it (None
    where it could not be read: such a build fails, and leaves no stamp).
    Only those bytes count, not the folder: an editor's lock file there is
    not an input, and a params edit made while a build runs is seen by the
    next one, since the bytes hashed are the bytes that were rendered.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([FORMAT, sys.version, sys.executable, lint_salt, _packages()]).encode())
    for root in CODE_ROOTS:
        digest.update(f"\0{root}\0".encode())
        if root.exists():
            _tree(root, digest)
    for env, data in sorted(params.items()):
        digest.update(f"\0params:{env}\0".encode())
        digest.update(b"unreadable" if data is None else hashlib.sha256(data).digest())
    return digest.hexdigest()


def snapshot(out_dir: Path, with_docs: bool) -> dict[str, str]:
    """The hash of each file a build of out_dir owns, found on disk now: the manifest and what it lists.

    The names of the other files there, and temp files an interrupted build
    left, count too: a rebuild then reports the first and removes the second
    instead of saying "nothing changed".
    """
    base = out_dir.resolve().parent
    try:
        listed = ownership.read_manifest(out_dir)
    except ownership.OutDirError:
        listed = None
    paths = [out_dir / ownership.MANIFEST, *(out_dir / f for f in sorted(listed or ()))]
    paths += output.leftovers_of(out_dir)
    if with_docs:
        paths.append(base / "README.md")
        docs = base / "docs"
        paths += [p for p in docs.glob("*.svg")] if docs.is_dir() else []
        paths += transaction.leftovers([base, docs])
    files = {f"present:{name}": "" for name in ownership.present(out_dir)}  # a file added is seen (and reported)
    for path in dict.fromkeys(paths):
        try:
            files[str(path.resolve().relative_to(base))] = _sha(path.read_bytes())
        except (OSError, ValueError):
            files[str(path)] = "unreadable"
    return files


def _slot(cache_root: Path, params_dir: Path, out_dir: Path, envs: list[str]) -> Path:
    request = json.dumps([str(params_dir.resolve()), str(out_dir.resolve()), envs])
    return cache_root / SUBDIR / f"{_sha(request.encode())}.json"


def load(cache_root: Path, params_dir: Path, out_dir: Path, envs: list[str]) -> Stamp | None:
    """The stamp of the last successful build of this request, or None if there is none that can be read."""
    try:
        doc = json.loads(_slot(cache_root, params_dir, out_dir, envs).read_text(encoding="utf-8"))
        if doc["format"] != FORMAT:
            return None
        return Stamp(
            inputs=str(doc["inputs"]),
            files={str(k): str(v) for k, v in doc["files"].items()},
            envs=[str(e) for e in doc["envs"]],
            rows=[Row(str(p), int(r), int(o), int(s)) for p, r, o, s in doc["rows"]],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):  # any damage: a miss
        return None


def save(cache_root: Path, params_dir: Path, out_dir: Path, envs: list[str], stamp: Stamp) -> None:
    """Record a successful build (atomically); a stamp that cannot be written only costs the next build time."""
    path = _slot(cache_root, params_dir, out_dir, envs)
    doc = {
        "format": FORMAT,
        "inputs": stamp.inputs,
        "files": stamp.files,
        "envs": stamp.envs,
        "rows": [[r.path, r.resources, r.outputs, r.size] for r in stamp.rows],
    }
    try:
        transaction.write_atomic(path, json.dumps(doc), sync=False)
    except OSError:
        pass
