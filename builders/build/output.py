"""Writing templates/ atomically, and telling which committed files are stale.

A build writes only after every environment asked for has rendered, passed
lint and stayed within the limits, and each file is replaced in one rename,
so an interrupted or failed build never leaves a half-written template.
README.md's generated sections and docs/<env>.svg follow the same rules
(builders.docs.output, through write_atomic here).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: a rebuild with nothing changed reads files without importing troposphere
    from builders.build.pipeline import Artifact

OWNED_SUFFIXES = (".yaml", ".json")  # files in templates/<env>/ that the build owns


def shown(path: Path) -> str:
    """A path relative to the working directory when it is under it: shorter, and what a user typed."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _mode(path: Path) -> int:
    """The permission bits the file has, or what the umask gives a new file."""
    if path.exists():
        return stat.S_IMODE(path.stat().st_mode)
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_atomic(path: Path, text: str, sync: bool = True) -> None:
    """Replace `path` with `text` in one rename; readers see the old file or the new one, never a mix.

    `sync=False` skips the fsync, for caches: after a crash a lost entry is only a miss.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = _mode(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, mode)  # mkstemp makes 0600 files; a rewritten README.md must stay readable
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
            if sync:
                handle.flush()
                os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _owned(env_dir: Path) -> set[str]:
    if not env_dir.is_dir():
        return set()
    return {p.name for p in env_dir.iterdir() if p.is_file() and p.suffix in OWNED_SUFFIXES}


def _orphans(out_dir: Path, envs: set[str]) -> list[Path]:
    """Environment folders under out_dir that no params file builds any more."""
    if not out_dir.is_dir():
        return []
    return sorted(p for p in out_dir.iterdir() if p.is_dir() and p.name not in envs and _owned(p))


def write(out_dir: Path, artifacts: list[Artifact], all_envs: bool) -> list[str]:
    """Write what changed, remove what the build no longer makes; returns the paths it touched.

    With `all_envs`, the artifacts are every environment there is, so an
    environment folder with no params file left is emptied too.
    """
    touched = []
    by_env: dict[str, list[Artifact]] = {}
    for artifact in artifacts:
        by_env.setdefault(artifact.env, []).append(artifact)
    orphans = _orphans(out_dir, set(by_env)) if all_envs else []
    for orphan in orphans:
        by_env[orphan.name] = []
    for env, items in by_env.items():
        env_dir = out_dir / env
        for artifact in items:
            path = env_dir / artifact.filename
            if not path.is_file() or path.read_text(encoding="utf-8") != artifact.text:
                write_atomic(path, artifact.text)
                touched.append(shown(path))
        for leftover in sorted(_owned(env_dir) - {a.filename for a in items}):
            (env_dir / leftover).unlink()
            touched.append(f"{shown(env_dir / leftover)} (removed)")
    return touched


def stale(out_dir: Path, artifacts: list[Artifact], all_envs: bool) -> list[str]:
    """Each committed file that differs from a fresh build: changed, missing, or no longer built."""
    problems = []
    envs = {a.env for a in artifacts}
    if all_envs:
        envs |= {p.name for p in _orphans(out_dir, envs)}
    for env in sorted(envs):
        env_dir = out_dir / env
        made = {a.filename: a for a in artifacts if a.env == env}
        for filename, artifact in made.items():
            path = env_dir / filename
            if not path.is_file():
                problems.append(f"{shown(path)}: missing")
            elif path.read_text(encoding="utf-8") != artifact.text:
                problems.append(f"{shown(path)}: differs from a fresh build")
        problems += [f"{shown(env_dir / name)}: no longer built" for name in sorted(_owned(env_dir) - set(made))]
    return problems
