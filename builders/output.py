"""Writing templates/ (and the generated docs) atomically, and telling which committed files are stale.

A build writes only after every environment asked for has rendered, passed
lint and stayed within the limits, and each file is replaced in one rename,
so an interrupted or failed build never leaves a half-written template.
README.md's generated sections and docs/<env>.svg follow the same rules.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only for annotations: a rebuild with nothing changed reads files without importing troposphere
    from builders.generated import GeneratedFile
    from builders.pipeline import Artifact

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


# --- generated docs: README.md's marked sections and docs/<env>.svg -------------------------------------------


def docs_root(out_dir: Path) -> Path | None:
    """The folder holding README.md and docs/: the one that holds the output folder, if it has a README.md.

    With the default `--out templates` that is the repository. A copy of
    templates/ elsewhere (as the tests make) has no README.md beside it, and
    its build leaves docs alone rather than inventing a README.
    """
    root = out_dir.resolve().parent
    return root if (root / "README.md").is_file() else None


def read_readme(root: Path) -> str:
    return (root / "README.md").read_text(encoding="utf-8")


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.is_file() else None


def _doc_orphans(root: Path, files: list[GeneratedFile]) -> list[Path]:
    """Diagrams this build made once (they carry its stamp) whose environment is gone."""
    from builders.diagram import DOCS_DIR, is_stamped

    folder = root / DOCS_DIR
    if not folder.is_dir():
        return []
    made = {root / f.relpath for f in files}
    return sorted(p for p in folder.glob("*.svg") if p not in made and is_stamped(p.read_text(encoding="utf-8")))


def doc_changes(root: Path, files: list[GeneratedFile]) -> list[tuple[Path, str | None]]:
    """(path, new text, or None to remove) for each generated file that is not current.

    Stale diagrams are laid out here, before anything is written, so a
    renderer failure leaves every file as it was.
    """
    changes: list[tuple[Path, str | None]] = []
    for item in files:
        path = root / item.relpath
        committed = _read(path)
        if committed is None or not item.is_current(committed):
            changes.append((path, item.render()))
    changes += [(orphan, None) for orphan in _doc_orphans(root, files)]
    return changes


def apply_doc_changes(changes: list[tuple[Path, str | None]]) -> list[str]:
    """Write (atomically) or remove each changed file; returns the paths touched, as a build lists them."""
    touched = []
    for path, text in changes:
        if text is None:
            path.unlink()
            touched.append(f"{shown(path)} (removed)")
        else:
            write_atomic(path, text)
            touched.append(shown(path))
    return touched


def stale_docs(root: Path, files: list[GeneratedFile]) -> list[str]:
    """Each generated doc that differs from a fresh build; diagrams are judged by their stamp, without a layout."""
    problems = []
    for item in files:
        path = root / item.relpath
        committed = _read(path)
        if committed is None:
            problems.append(f"{shown(path)}: missing")
        elif not item.is_current(committed):
            problems.append(f"{shown(path)}: differs from a fresh build")
    problems += [f"{shown(p)}: no longer built" for p in _doc_orphans(root, files)]
    return problems
